import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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

/**
 * `import.meta.url` in CommonJS bundles: the bundle file's URL, made with `pathToFileURL` (tsup's
 * `shims` builds it by string concatenation, which breaks on install paths with `#`, `?` or `%`,
 * and returns another URL when a global `document` exists, as under jsdom). Spread into a build's
 * options: `define` points every `import.meta.url` at the constant the banner declares.
 */
export const cjsImportMetaUrl: Pick<Options, 'banner' | 'define'> = {
  // The directive first: esbuild's own "use strict" comes after the banner, where it is no directive.
  banner: { js: `"use strict";\nvar __tsbpf_import_meta_url = require('node:url').pathToFileURL(__filename).href;` },
  define: { 'import.meta.url': '__tsbpf_import_meta_url' },
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

/** ASCII stand-ins for the characters the sources' comments use (one character each: see {@link asciiBundle}). */
const ASCII_STAND_INS: Readonly<Record<string, string>> = {
  '→': '>', '←': '<', '–': '-', '—': '-', '…': '.', '≤': '<', '≥': '>', '×': 'x', '≈': '~', '’': "'", '‘': "'", '“': '"', '”': '"', 'µ': 'u',
};

/**
 * Makes a CommonJS bundle that is run through the code cache pure ASCII. esbuild escapes
 * non-ASCII characters in strings (`charset: 'ascii'`, set explicitly by the builds that call this:
 * with `utf8` this would rewrite string literals) but keeps some comments as written, and one such character makes V8 hold the whole source as a two-byte string: decoding
 * the CLI bundle took 3.6 ms instead of 2.1, and its source twice the memory. Each UTF-16 code unit
 * outside ASCII becomes one ASCII character, so the source map's columns still hold.
 */
export function asciiBundle(file: string): void {
  const text = readFileSync(file, 'utf8');
  const ascii = text.replace(/[^\x00-\x7f]/g, (c) => ASCII_STAND_INS[c] ?? '?');
  if (ascii !== text) writeFileSync(file, ascii);
}

/**
 * Writes dist/index.js, the library entry: an ES module that runs dist/library.cjs (the whole loader
 * as one CommonJS bundle) through the code cache (src/codecache/library.ts) and re-exports its
 * names. Node 20 has no compile cache for ES modules; through this entry a program compiles the
 * loader's code once per bundle version, not on every start. The names are those esbuild annotates
 * at the end of the CommonJS bundle, so the entry always matches it (dist/index.d.ts, from the same
 * src/index.ts, gives the types).
 */
function writeLibraryEntry(): void {
  const bundle = readFileSync(join(__dirname, 'dist', 'library.cjs'), 'utf8');
  const m = /\n0 && \(module\.exports = \{([^}]*)\}\);\n/.exec(bundle);
  if (!m) throw new Error('dist/library.cjs: no export-names annotation at its end (esbuild changed its output?)');
  const names = m[1].split(',').map((n) => n.trim()).filter((n) => n !== '');
  if (names.length === 0 || names.some((n) => !/^[A-Za-z_$][\w$]*$/.test(n))) throw new Error(`dist/library.cjs: unexpected export names ${m[1].slice(0, 200)}`);
  const taken = names.filter((n) => n.startsWith('__tsbpf') || n === 'default');
  if (taken.length) throw new Error(`dist/library.cjs exports ${taken.join(', ')}: names the generated entry cannot re-export`);
  writeFileSync(
    join(__dirname, 'dist', 'index.js'),
    [
      '// Generated by tsup.config.ts (writeLibraryEntry): the loader, run from dist/library.cjs with a V8 code cache.',
      "import { fileURLToPath as __tsbpfPath } from 'node:url';",
      "import { runLibraryBundle as __tsbpfRun } from './codecache.js';",
      "const __tsbpfLibrary = __tsbpfRun(__tsbpfPath(new URL('./library.cjs', import.meta.url)), 'loader');",
      `export const {\n  ${names.join(',\n  ')},\n} = __tsbpfLibrary;`,
      '',
    ].join('\n'),
  );
}

// The builds write dist/ at the same time, so none cleans it: the build script empties it first.
export default defineConfig([
  {
    // The code cache module (dist/codecache.js, also `@tsbpf/loader/codecache`), and the types of
    // both entries.
    entry: { codecache: 'src/codecache/index.ts' },
    format: ['esm'],
    dts: { entry: { index: 'src/index.ts', codecache: 'src/codecache/index.ts' } },
    target: 'node20',
    sourcemap: true,
    clean: false,
    splitting: false,
  },
  {
    // The library as one CommonJS file, run by dist/index.js (see writeLibraryEntry). One file: split
    // into a dozen shared chunks, the import cost about 10 ms more CPU (module resolution, linking
    // and one compile per chunk), which every program using the loader pays at start.
    entry: { library: 'src/index.ts' },
    format: ['cjs'],
    target: 'node20',
    sourcemap: true,
    clean: false,
    splitting: false,
    ...cjsImportMetaUrl,
    external: ['koffi'],
    // Off, or tsup's own plugin would resolve node: imports before lazyBuiltins sees them.
    removeNodeProtocol: false,
    esbuildPlugins: [lazyBuiltins],
    // Strings escaped to ASCII: asciiBundle then only meets comments.
    esbuildOptions(options) {
      options.charset = 'ascii';
    },
    onSuccess: async () => {
      asciiBundle(join(__dirname, 'dist', 'library.cjs'));
      writeLibraryEntry();
    },
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
