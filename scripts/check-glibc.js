#!/usr/bin/env node
// The glibc floor of a Linux gnu native module: the newest GLIBC_x.y symbol
// version it needs (the dynamic loader refuses to load it on an older glibc,
// "version `GLIBC_2.34' not found").
//
//   node scripts/check-glibc.js FILE.node [--max 2.17]
//
// Reads the ELF version-needs section itself, so it works for any 64-bit
// little-endian target (x86_64, aarch64) without binutils; versions only
// referenced by weak symbols are listed but not counted. With --max, exits 1
// when the module needs a newer glibc than that. The release workflow builds linux-gnu modules with
// `napi build --use-napi-cross` (a glibc 2.17 sysroot) and checks them here; a
// plain build on the host links against the host's glibc (2.34+ on Debian 12,
// because of dlopen/pthread_key_create moving into libc).
'use strict'

const fs = require('node:fs')

function parse(v) {
  return v.split('.').map(Number)
}

function compare(a, b) {
  const x = parse(a)
  const y = parse(b)
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0)
    if (d !== 0) return d
  }
  return 0
}

const SHT_GNU_VERNEED = 0x6ffffffe
const VER_FLG_WEAK = 0x2

/**
 * GLIBC versions the module requires, from the ELF version-needs section
 * (.gnu.version_r): { required, weak }, each sorted oldest first. A version
 * flagged weak (every reference to it is a weak symbol, e.g. Rust std's
 * optional statx) does not stop the loader, so it is not part of the floor.
 * Falls back to scanning .dynstr strings for files it cannot parse.
 */
function glibcVersions(file) {
  const buf = fs.readFileSync(file)
  const required = new Set()
  const weak = new Set()
  const parsed =
    buf.length > 64 && buf.readUInt32BE(0) === 0x7f454c46 && buf[4] === 2 && buf[5] === 1 // ELF64 LE
  if (parsed) {
    const shoff = Number(buf.readBigUInt64LE(0x28))
    const shentsize = buf.readUInt16LE(0x3a)
    const shnum = buf.readUInt16LE(0x3c)
    const section = (i) => {
      const o = shoff + i * shentsize
      return {
        type: buf.readUInt32LE(o + 4),
        offset: Number(buf.readBigUInt64LE(o + 0x18)),
        link: buf.readUInt32LE(o + 0x28),
        info: buf.readUInt32LE(o + 0x2c),
      }
    }
    const cstr = (at) => buf.toString('latin1', at, buf.indexOf(0, at))
    for (let i = 0; i < shnum; i++) {
      const sec = section(i)
      if (sec.type !== SHT_GNU_VERNEED) continue
      const strtab = section(sec.link).offset
      let vn = sec.offset
      for (let n = 0; n < sec.info; n++) {
        const cnt = buf.readUInt16LE(vn + 2)
        const libname = cstr(strtab + buf.readUInt32LE(vn + 4))
        let aux = vn + buf.readUInt32LE(vn + 8)
        for (let k = 0; k < cnt; k++) {
          const flags = buf.readUInt16LE(aux + 4)
          const m = /^GLIBC_(\d+\.\d+(?:\.\d+)?)$/.exec(cstr(strtab + buf.readUInt32LE(aux + 8)))
          if (m && /^(libc|libm|libpthread|libdl|librt|ld-linux)/.test(libname))
            (flags & VER_FLG_WEAK ? weak : required).add(m[1])
          aux += buf.readUInt32LE(aux + 12)
        }
        const next = buf.readUInt32LE(vn + 12)
        if (next === 0) break
        vn += next
      }
    }
  } else {
    for (const m of buf.toString('latin1').matchAll(/GLIBC_(\d+\.\d+(?:\.\d+)?)\0/g))
      required.add(m[1])
  }
  for (const v of required) weak.delete(v)
  return { required: [...required].sort(compare), weak: [...weak].sort(compare) }
}

module.exports = { glibcVersions, compare }

if (require.main === module) {
  const args = process.argv.slice(2)
  const i = args.indexOf('--max')
  const max = i >= 0 ? args[i + 1] : undefined
  const files = args.filter((a, j) => a !== '--max' && (i < 0 || j !== i + 1))
  if (files.length === 0) {
    console.error('usage: node scripts/check-glibc.js FILE.node... [--max 2.17]')
    process.exit(2)
  }
  let failed = false
  for (const file of files) {
    const { required, weak } = glibcVersions(file)
    const newest = required[required.length - 1]
    if (!newest) {
      console.log(`${file}: requires no GLIBC symbol versions (not a glibc build?)`)
      failed = failed || max !== undefined
      continue
    }
    const ok = max === undefined || compare(newest, max) <= 0
    console.log(
      `${file}: needs glibc ${newest}${max ? ` (floor ${max}: ${ok ? 'ok' : 'TOO NEW'})` : ''}; requires ${required.join(', ')}` +
        (weak.length ? `; weak (optional) ${weak.join(', ')}` : ''),
    )
    failed = failed || !ok
  }
  process.exit(failed ? 1 : 0)
}
