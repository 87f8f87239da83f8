import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { defineConfig } from 'tsup';

/**
 * Copies the committed gadget objects (repo bpf/gadgets/*.bpf.o) into this package's bpf/, so a
 * packed/published package carries them ("files" includes bpf). The copy is gitignored; inside the
 * repository the code prefers bpf/gadgets/ itself (see src/strategy.ts).
 */
function copyObjects(): void {
  const from = join(__dirname, '..', '..', 'bpf', 'gadgets');
  const to = join(__dirname, 'bpf');
  if (!existsSync(from)) return;
  mkdirSync(to, { recursive: true });
  for (const f of readdirSync(from)) if (f.endsWith('.bpf.o')) copyFileSync(join(from, f), join(to, f));
}

export default defineConfig({
  entry: ['src/index.ts', 'src/cli.ts'],
  format: ['esm'],
  dts: { entry: 'src/index.ts' },
  target: 'node20',
  sourcemap: true,
  clean: true,
  external: ['@tsbpf/loader', 'koffi'],
  onSuccess: async () => copyObjects(),
});
