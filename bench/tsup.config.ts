import { defineConfig } from 'tsup';

export default defineConfig({
  // main: the orchestrator; worker: the tsbpf side of every benchmark, run in fresh processes.
  entry: ['src/main.ts', 'src/worker.ts'],
  format: ['esm'],
  target: 'node20',
  sourcemap: true,
  clean: true,
  external: ['@tsbpf/loader', '@tsbpf/gadget-cap', 'koffi'],
});
