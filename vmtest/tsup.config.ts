import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts', 'src/cli.ts', 'src/guest.ts', 'src/load-worker.ts'],
  format: ['esm'],
  dts: { entry: 'src/index.ts' },
  target: 'node20',
  sourcemap: true,
  clean: true,
  external: ['@tsbpf/loader', '@tsbpf/gadget-cap', 'koffi'],
});
