#!/usr/bin/env node
'use strict';
process.exitCode = require('../dist/cjs/cli.js').main(process.argv.slice(2));
