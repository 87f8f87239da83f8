import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // Library tests run against the loader's source, so they never race a concurrent rebuild of its
    // dist/. The CLI tests spawn the built CLI (dist/cli.cjs) as users run it.
    alias: { '@tsbpf/loader': fileURLToPath(new URL('../loader/src/index.ts', import.meta.url)) },
  },
  test: {
    include: ['test/**/*.test.ts'],
    // Tests share one kernel: run files one at a time so fd counts and event streams stay deterministic.
    fileParallelism: false,
    // No cache directory unless a test sets its own: kernel-BTF lookups are searched, not answered
    // from the developer's memo file, and no test writes into the user's cache.
    env: { TSBPF_CACHE_DIR: '' },
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: process.env.TSBPF_REPORT ? ['default', ['json', { outputFile: process.env.TSBPF_REPORT + '/gadget-cap.json' }]] : ['default'],
  },
});
