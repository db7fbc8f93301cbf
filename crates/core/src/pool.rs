//! A persistent thread pool for the parallel sweep: worker threads are started once (the first
//! time a run asks for them) and then park on a condition variable between runs, so a sweep
//! never pays a thread start. The calling thread works too, so a run finishes even when every
//! worker is busy with another engine's sweep.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

/// One run: tasks 0..n of `f`, claimed one at a time by whoever is free.
struct Job {
    /// Lifetime erased: `run` does not return before every task has finished, and no thread
    /// calls `f` without first claiming an index below `n` (see `work`).
    f: *const (dyn Fn(usize) + Sync + 'static),
    n: usize,
    next: AtomicUsize,
    done: Mutex<usize>,
    all_done: Condvar,
    panicked: AtomicBool,
}

impl Job {
    /// Claim and run tasks until none is left.
    fn work(&self) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.n {
                return;
            }
            // SAFETY: i < n, so `run` is still waiting and `f` is alive (see the field).
            let f = unsafe { &*self.f };
            if catch_unwind(AssertUnwindSafe(|| f(i))).is_err() {
                self.panicked.store(true, Ordering::Relaxed);
            }
            let mut d = self.done.lock().unwrap_or_else(|p| p.into_inner());
            *d += 1;
            if *d == self.n {
                self.all_done.notify_all();
            }
        }
    }
}

// SAFETY: `f` points at a `Sync` closure, only called while `run` keeps it alive.
unsafe impl Send for Job {}
unsafe impl Sync for Job {}

#[derive(Default)]
struct Pool {
    queue: Mutex<Vec<Arc<Job>>>,
    wake: Condvar,
    workers: Mutex<usize>,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(Pool::default)
}

fn worker_loop(p: &'static Pool) {
    loop {
        let job = {
            let mut q = p.queue.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if let Some(j) = q.last() {
                    break j.clone();
                }
                q = p.wake.wait(q).unwrap_or_else(|e| e.into_inner());
            }
        };
        job.work();
        // Nothing left to claim: take the job off the queue (the caller may already have).
        let mut q = p.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.retain(|j| !Arc::ptr_eq(j, &job));
    }
}

/// Make sure at least `n` workers exist (they are never stopped; at most 63 are started).
fn ensure_workers(n: usize) {
    let p = pool();
    let mut w = p.workers.lock().unwrap_or_else(|e| e.into_inner());
    while *w < n.min(63) {
        let started = std::thread::Builder::new()
            .name("deleverage-sweep".into())
            .spawn(move || worker_loop(pool()));
        if started.is_err() {
            break; // the caller still runs every task itself
        }
        *w += 1;
    }
}

/// Run `f(0) … f(n−1)` on the calling thread and up to `threads − 1` pool workers; returns
/// when all have finished. Err(()) when a task panicked (the others still ran).
pub(crate) fn run(n: usize, threads: usize, f: &(dyn Fn(usize) + Sync)) -> Result<(), ()> {
    if n <= 1 || threads <= 1 {
        let ok = (0..n).all(|i| catch_unwind(AssertUnwindSafe(|| f(i))).is_ok());
        return if ok { Ok(()) } else { Err(()) };
    }
    ensure_workers(threads - 1);
    // SAFETY: the reference outlives every use — this function waits below until all n tasks
    // have run, and a worker only calls `f` after claiming an index below n.
    let f: *const (dyn Fn(usize) + Sync + 'static) =
        unsafe { std::mem::transmute(f as *const (dyn Fn(usize) + Sync + '_)) };
    let job = Arc::new(Job {
        f,
        n,
        next: AtomicUsize::new(0),
        done: Mutex::new(0),
        all_done: Condvar::new(),
        panicked: AtomicBool::new(false),
    });
    let p = pool();
    p.queue.lock().unwrap_or_else(|e| e.into_inner()).push(job.clone());
    p.wake.notify_all();
    job.work();
    let mut d = job.done.lock().unwrap_or_else(|e| e.into_inner());
    while *d < n {
        d = job.all_done.wait(d).unwrap_or_else(|e| e.into_inner());
    }
    drop(d);
    p.queue.lock().unwrap_or_else(|e| e.into_inner()).retain(|j| !Arc::ptr_eq(j, &job));
    if job.panicked.load(Ordering::Relaxed) {
        Err(())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_runs_once_and_panics_are_reported() {
        for threads in [1, 2, 4] {
            let hits: Vec<AtomicUsize> = (0..37).map(|_| AtomicUsize::new(0)).collect();
            run(37, threads, &|i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
            })
            .unwrap();
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1), "{threads} threads");
            assert!(run(5, threads, &|i| assert_ne!(i, 3)).is_err());
        }
    }
}
