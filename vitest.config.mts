import { defineConfig } from 'vitest/config'

export default defineConfig({
  // Vite only strips types from .ts/.mts/.tsx by default; src/native-require.cts
  // (the CommonJS island of the native loader) needs it too.
  oxc: { include: /\.([mc]?ts|[jt]sx)$/ },
  test: {
    include: ['test/**/*.test.ts'],
    // Keep the default process-isolated pool: native addons and
    // process-level state (env, warnings) must not leak between files.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
