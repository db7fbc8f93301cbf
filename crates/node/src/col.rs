//! Typed-array arguments copied out of JS memory before anything reads them.
//!
//! A typed array may view a SharedArrayBuffer that a worker writes while the call runs. Holding a
//! `&[T]` over it would be a data race (undefined behaviour), and checking the values and then
//! reading them again would let a concurrent write slip past the checks (a mark of 0 after the
//! mark was validated). So every column is read exactly once, element by element with relaxed
//! atomic loads (sound on shared memory, a plain load on x86-64 and arm64), into a `Vec` that
//! the core validates and uses. The copy costs one pass over the input.

use std::marker::PhantomData;
use std::ptr;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU8, Ordering};

use napi::bindgen_prelude::*;
use napi::sys;

/// An element type with its typed-array kind and a racy-memory-safe load.
pub trait Elem: Copy {
    const KIND: TypedArrayType;
    const NAME: &'static str;
    /// # Safety
    /// `p` is valid and aligned for `Self` (typed-array storage always is).
    unsafe fn load(p: *const Self) -> Self;
}

impl Elem for u32 {
    const KIND: TypedArrayType = TypedArrayType::Uint32;
    const NAME: &'static str = "Uint32Array";
    unsafe fn load(p: *const u32) -> u32 {
        unsafe { AtomicU32::from_ptr(p as *mut u32) }.load(Ordering::Relaxed)
    }
}

impl Elem for i64 {
    const KIND: TypedArrayType = TypedArrayType::BigInt64;
    const NAME: &'static str = "BigInt64Array";
    unsafe fn load(p: *const i64) -> i64 {
        unsafe { AtomicI64::from_ptr(p as *mut i64) }.load(Ordering::Relaxed)
    }
}

impl Elem for u8 {
    const KIND: TypedArrayType = TypedArrayType::Uint8;
    const NAME: &'static str = "Uint8Array";
    unsafe fn load(p: *const u8) -> u8 {
        unsafe { AtomicU8::from_ptr(p as *mut u8) }.load(Ordering::Relaxed)
    }
}

/// A private copy of a typed array's elements (see the module comment).
pub struct Col<T: Elem>(pub Vec<T>, PhantomData<T>);

impl<T: Elem> std::ops::Deref for Col<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T: Elem> TypeName for Col<T> {
    fn type_name() -> &'static str {
        T::NAME
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl<T: Elem> FromNapiValue for Col<T> {
    unsafe fn from_napi_value(env: sys::napi_env, v: sys::napi_value) -> Result<Self> {
        let mut is_typed = false;
        check_status!(unsafe { sys::napi_is_typedarray(env, v, &mut is_typed) })?;
        let wrong = || Error::new(Status::InvalidArg, format!("expected a {}", T::NAME));
        if !is_typed {
            return Err(wrong());
        }
        let (mut kind, mut len, mut data, mut buf, mut off) =
            (0, 0usize, ptr::null_mut(), ptr::null_mut(), 0usize);
        check_status!(unsafe {
            sys::napi_get_typedarray_info(
                env, v, &mut kind, &mut len, &mut data, &mut buf, &mut off,
            )
        })?;
        if kind != T::KIND as i32 {
            return Err(wrong());
        }
        let p = data as *const T;
        let mut out = Vec::with_capacity(len);
        if len > 0 && !p.is_null() {
            for i in 0..len {
                // SAFETY: the typed array spans `len` aligned elements from `p`; the JS thread is
                // in this call, so the buffer cannot be detached or resized meanwhile.
                out.push(unsafe { T::load(p.add(i)) });
            }
        }
        Ok(Col(out, PhantomData))
    }
}
