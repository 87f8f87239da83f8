import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { defineConfig } from 'tsup';
import { asciiBundle, cjsImportMetaUrl, lazyBuiltins } from '../loader/tsup.config';

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

export default defineConfig([
  {
    // The library: @tsbpf/loader stays a dependency, shared with the caller.
    entry: ['src/index.ts'],
    format: ['esm'],
    dts: { entry: 'src/index.ts' },
    target: 'node20',
    sourcemap: true,
    // Not clean: both builds write dist/ concurrently; the build script empties it first.
    clean: false,
    external: ['@tsbpf/loader', 'koffi'],
  },
  {
    // The CLI: one CommonJS file with the parts of @tsbpf/loader it uses, bundled from the loader's
    // sources so that unused modules (inspect, fuzz, …) drop out. Resolving and linking a dozen ESM
    // chunks was about a fifth of its start; only koffi (a native addon) stays outside. CommonJS so
    // that the bin can compile it with vm.Script and a code cache (the loader's src/codecache/).
    entry: { 'cli-bundle': 'src/cli.ts' },
    format: ['cjs'],
    target: 'node20',
    sourcemap: true,
    clean: false,
    splitting: false,
    // import.meta.url (object search path) from __filename.
    ...cjsImportMetaUrl,
    noExternal: ['@tsbpf/loader'],
    external: ['koffi'],
    // Off, or tsup's own plugin would resolve node: imports before lazyBuiltins sees them.
    removeNodeProtocol: false,
    esbuildPlugins: [lazyBuiltins],
    esbuildOptions(options) {
      options.alias = { '@tsbpf/loader': join(__dirname, '..', 'loader', 'src', 'index.ts') };
      // Strings escaped to ASCII: asciiBundle then only meets comments.
      options.charset = 'ascii';
    },
    onSuccess: async () => {
      asciiBundle(join(__dirname, 'dist', 'cli-bundle.cjs'));
      copyObjects();
    },
  },
  {
    // The bin (dist/cli.cjs): loads the bundle above through the code cache. CommonJS: starting
    // through Node's ESM loader cost 12–20 ms more before the first line of the bin ran.
    entry: { cli: 'src/bin.ts' },
    format: ['cjs'],
    ...cjsImportMetaUrl,
    target: 'node20',
    sourcemap: true,
    clean: false,
    splitting: false,
    // The code cache module, from the loader's sources (not its library entry).
    noExternal: ['@tsbpf/loader'],
    esbuildOptions(options) {
      options.alias = { '@tsbpf/loader/codecache': join(__dirname, '..', 'loader', 'src', 'codecache', 'index.ts') };
    },
  },
]);
