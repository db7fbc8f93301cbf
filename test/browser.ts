// The headless Chromium of the browser tests (test/report*.test.ts): the one scripts/chromium.mjs
// finds (the system's, else @sparticuz/chromium's), in a fresh profile each run.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { type BrowserContext, chromium } from 'playwright-core'
import { expect } from 'vitest'

const root = fileURLToPath(new URL('..', import.meta.url))

interface FoundChromium {
  executablePath: string | null
  env?: Record<string, string>
  source?: string
  reason?: string
}
// Plain JS (also run by scripts/test.sh before vitest): imported by URL, typed here.
const { findChromium, CHROMIUM_ARGS } = (await import(
  pathToFileURL(join(root, 'scripts/chromium.mjs')).href
)) as {
  findChromium: () => FoundChromium
  CHROMIUM_ARGS: string[]
}

/** Where the browser comes from, failing the test (not skipping it) when there is none. */
export function requireChromium(): FoundChromium {
  const found = findChromium()
  expect(found.executablePath, `no Chromium for the browser test: ${found.reason}`).not.toBeNull()
  return found
}

/** A headless browser in a fresh profile (playwright passes it as --user-data-dir). */
export function launchChromium(
  found: FoundChromium,
  viewport?: { width: number; height: number },
): Promise<BrowserContext> {
  return chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'deleverage-chromium-')), {
    executablePath: found.executablePath!,
    env: { ...process.env, ...found.env } as Record<string, string>,
    headless: true,
    args: CHROMIUM_ARGS,
    ...(viewport ? { viewport } : {}),
  })
}
