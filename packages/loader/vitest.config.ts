import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Pinning tests need bpffs at /sys/fs/bpf: mounted here when missing (as root).
    globalSetup: ['test/support/bpffs.ts'],
    // Tests share one kernel: run files one at a time so fd counts and event streams stay deterministic.
    fileParallelism: false,
    passWithNoTests: false,
    // No cache directory unless a test sets its own: kernel-BTF lookups are searched, not answered
    // from the developer's memo file, and no test writes into the user's cache.
    env: { TSBPF_CACHE_DIR: '' },
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: process.env.TSBPF_REPORT ? ['default', ['json', { outputFile: process.env.TSBPF_REPORT + '/loader.json' }]] : ['default'],
  },
});
