// The pure-TypeScript engine: a bit-identical port of the Rust core (crates/core/src), used when
// the native binding is unavailable (or DELEVERAGE_FORCE_JS=1).

export { JsEngine } from './engine.js'
export { DeleverageError, ErrorCode } from './errors.js'
