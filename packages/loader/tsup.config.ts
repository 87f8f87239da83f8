import { defineConfig, type Options } from 'tsup';

type Plugin = NonNullable<Options['esbuildPlugins']>[number];

/**
 * Node built-ins that the loader imports for rare paths only, with the names it imports: kernel
 * config from /proc/config.gz (zlib) and mounting tracefs (child_process). Loading them costs 5 ms
 * at every start (zlib pulls in streams, child_process net and dgram), so bundles get stand-ins
 * that load the module on first call. A name missing here fails the build ("No matching export").
 */
const LAZY_BUILTINS: Readonly<Record<string, readonly string[]>> = {
  zlib: ['gunzipSync'],
  child_process: ['execFileSync'],
};

/** esbuild plugin: imports of {@link LAZY_BUILTINS} resolve to stand-ins that require the module on first call. */
export const lazyBuiltins: Plugin = {
  name: 'tsbpf-lazy-builtins',
  setup(build) {
    const filter = new RegExp(`^(node:)?(${Object.keys(LAZY_BUILTINS).join('|')})$`);
    build.onResolve({ filter }, (args) => {
      const name = args.path.replace(/^node:/, '');
      // The stand-in's own import is the real module.
      if (args.namespace === 'tsbpf-lazy') return { path: `node:${name}`, external: true };
      return { path: name, namespace: 'tsbpf-lazy' };
    });
    build.onLoad({ filter: /.*/, namespace: 'tsbpf-lazy' }, (args) => ({
      loader: 'js',
      // createRequire works in ESM and CommonJS output alike (CommonJS bundles shim import.meta.url).
      contents: [
        `import { createRequire } from 'node:module';`,
        `let mod;`,
        `const load = () => (mod ??= createRequire(import.meta.url)('node:${args.path}'));`,
        ...(LAZY_BUILTINS[args.path] ?? []).map((n) => `export function ${n}(...args) { return load().${n}(...args); }`),
      ].join('\n'),
    }));
  },
};

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
    // Off, or tsup's own plugin would resolve node: imports before lazyBuiltins sees them.
    removeNodeProtocol: false,
    esbuildPlugins: [lazyBuiltins],
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
