// CommonJS island shared by both builds. `.cts` is always compiled to CommonJS
// (`native-require.cjs`), in dist/esm as well as dist/cjs, so `__dirname` and
// `createRequire(__filename)` are available to the ESM build without
// `import.meta` (which the CJS build cannot compile).
import { createRequire } from 'node:module'

/** Directory of this file: src/, dist/esm/ or dist/cjs/. */
export const moduleDir: string = __dirname

/** A CommonJS `require` usable from both builds (loads .node / CJS files). */
export const nativeRequire: NodeJS.Require = createRequire(__filename)
