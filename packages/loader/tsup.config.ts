import { defineConfig } from 'tsup';

// Both builds write dist/ at the same time, so neither cleans it: the build script empties it first.
export default defineConfig([
  {
    // The library entry as one file. Split into a dozen shared chunks, it cost about 10 ms more CPU
    // to import (module resolution, linking and one compile per chunk), which every program using
    // the loader pays at start.
    entry: ['src/index.ts'],
    format: ['esm'],
    dts: { entry: 'src/index.ts' },
    target: 'node20',
    sourcemap: true,
    clean: false,
    splitting: false,
    external: ['koffi'],
  },
  {
    // The tools: chunks shared between them, and each subcommand loaded only when it runs.
    entry: ['src/cli/main.ts', 'src/fuzz/main.ts'],
    format: ['esm'],
    target: 'node20',
    sourcemap: true,
    clean: false,
    splitting: true,
    external: ['koffi'],
  },
]);
