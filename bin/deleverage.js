#!/usr/bin/env node
'use strict'
// main() returns the exit code, or a promise of it (demo runs worker threads).
Promise.resolve(require('../dist/cjs/cli.js').main(process.argv.slice(2))).then((code) => {
  process.exitCode = code
})
