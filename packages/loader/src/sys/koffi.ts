/**
 * Loading koffi, once, on first use.
 *
 * `require('koffi')` spent 8–10 ms of every start on the benchmark machine, almost all of it in
 * koffi's JavaScript: resolving the package through its exports map, loading its platform package,
 * detecting the C library and trying candidate paths. What it ends up with is a prebuilt Node-API
 * addon, `@koromix/koffi-<platform>-<arch>/<linux|musl>_<arch>/koffi.node`, whose exports are koffi's
 * API. So tsbpf looks for that file where npm installs it (next to the koffi package Node would
 * resolve from here), picks glibc or musl the way koffi does (the interpreter named in the node
 * binary's `PT_INTERP`), and requires it: about 2 ms. It is used only when the platform package and
 * the addon carry the koffi package's version; anything unexpected (another layout, Yarn Plug'n'Play,
 * `--preserve-symlinks`, a version mismatch, a load error) falls back to `require('koffi')`. Both
 * paths go through `require`, so a program that also imports koffi gets the same addon instance.
 * Bundlers and dependency tracers see koffi only as a runtime `require`: keep it external and
 * installed next to the bundle.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type koffiModule from 'koffi';

/** koffi's API (its default export). */
export type Koffi = typeof koffiModule;

let loaded: Koffi | undefined;

/** koffi, loaded on first call. */
export function koffi(): Koffi {
  return (loaded ??= loadKoffi());
}

/**
 * Load koffi: through its prebuilt addon when `direct` (and found), else through `require('koffi')`.
 * Exported for tests; use {@link koffi}.
 */
export function loadKoffi(direct = nodeResolvesLikeThis()): Koffi {
  const require = createRequire(import.meta.url);
  const prebuilt = direct ? prebuiltFrom(dirname(fileURLToPath(import.meta.url))) : undefined;
  if (prebuilt) {
    try {
      const api = require(prebuilt.addon) as Partial<Koffi>;
      if (api.version === prebuilt.version && typeof api.load === 'function') return api as Koffi;
    } catch {
      // not loadable here (another C library, a missing dependency): koffi's loader decides
    }
  }
  // koffi's CommonJS entry is a wrapper whose `default` is the addon's API.
  const wrapper = require('koffi') as { default?: Koffi } & Koffi;
  return wrapper.default ?? wrapper;
}

/** Where the answers of {@link findPrebuilt} are kept for the whole process. */
const PREBUILT_ANSWERS = Symbol.for('tsbpf.koffi.prebuilt');

/**
 * {@link findPrebuilt}, asked once per directory in this process. The copies of this module in one
 * process share the answers: the bin of a CLI and the bundle it runs sit in one directory, and
 * both load koffi (the bin for its code cache's memory, the bundle for everything else).
 */
function prebuiltFrom(from: string): { addon: string; version: string } | undefined {
  const slots = globalThis as unknown as Record<symbol, Map<string, { addon: string; version: string } | undefined> | undefined>;
  const answers = (slots[PREBUILT_ANSWERS] ??= new Map());
  if (!answers.has(from)) answers.set(from, findPrebuilt(from));
  return answers.get(from);
}

/**
 * Whether Node resolves packages the way {@link findPrebuilt} walks: not under Yarn Plug'n'Play
 * (no node_modules to walk) and not with `--preserve-symlinks` (the addon would load a second time
 * under its link path).
 */
function nodeResolvesLikeThis(): boolean {
  if ((process.versions as Record<string, string | undefined>).pnp !== undefined) return false;
  if (process.env.NODE_PRESERVE_SYMLINKS === '1') return false;
  const flags = `${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`;
  return !flags.includes('--preserve-symlinks');
}

/** The prebuilt addon of the koffi package Node would resolve from `from`, with that package's version. */
export function findPrebuilt(from: string): { addon: string; version: string } | undefined {
  try {
    const modules = nearestNodeModules(from, 'koffi');
    if (modules === undefined) return undefined;
    const version = (JSON.parse(readFileSync(join(modules, 'koffi', 'package.json'), 'utf8')) as { version?: unknown }).version;
    if (typeof version !== 'string') return undefined;
    const platformPackage = `@koromix/koffi-${process.platform}-${process.arch}`;
    // koffi's own dependency resolves from its real directory (pnpm links packages into a store,
    // their dependencies next to them): nested first, then the levels above.
    const owner = nearestNodeModules(realpathSync(join(modules, 'koffi')), platformPackage);
    if (owner === undefined) return undefined;
    // koffi pins its platform packages to its own version: another one is not ours to load.
    const platformVersion = (JSON.parse(readFileSync(join(owner, platformPackage, 'package.json'), 'utf8')) as { version?: unknown }).version;
    if (platformVersion !== version) return undefined;
    const libc = process.platform === 'linux' && isMuslInterpreter(programInterpreter(process.execPath)) ? 'musl' : process.platform;
    const addon = join(owner, platformPackage, `${libc}_${process.arch}`, 'koffi.node');
    return existsSync(addon) ? { addon, version } : undefined;
  } catch {
    return undefined;
  }
}

/** The first `node_modules` directory holding `name`, from `dir` upwards (Node's lookup order). */
function nearestNodeModules(dir: string, name: string): string | undefined {
  for (let d = dir; ; d = dirname(d)) {
    if (!d.endsWith('/node_modules')) {
      const candidate = join(d, 'node_modules');
      if (existsSync(join(candidate, name, 'package.json'))) return candidate;
    }
    if (dirname(d) === d) return undefined;
  }
}

/** Whether an ELF interpreter path is musl's dynamic linker (`/lib/ld-musl-x86_64.so.1`), as koffi decides. */
export function isMuslInterpreter(path: string | undefined): boolean {
  return path !== undefined && basename(path).startsWith('ld-musl-');
}

const PT_INTERP = 3;

/** The `PT_INTERP` path of a 64-bit little-endian ELF executable, or undefined. */
export function programInterpreter(path: string): string | undefined {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(4096);
    const n = readSync(fd, head, 0, head.length, 0);
    // ELF magic, ELFCLASS64, ELFDATA2LSB
    if (n < 64 || head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2 || head[5] !== 1) return undefined;
    const phoff = Number(head.readBigUInt64LE(32));
    const phentsize = head.readUInt16LE(54);
    const phnum = head.readUInt16LE(56);
    for (let i = 0; i < phnum; i++) {
      const at = phoff + i * phentsize;
      if (at + 56 > n) return undefined;
      if (head.readUInt32LE(at) !== PT_INTERP) continue;
      const size = Number(head.readBigUInt64LE(at + 32));
      if (size === 0 || size > 4096) return undefined;
      const text = Buffer.alloc(size);
      readSync(fd, text, 0, size, Number(head.readBigUInt64LE(at + 8)));
      const end = text.indexOf(0);
      return text.toString('latin1', 0, end < 0 ? size : end);
    }
    return undefined;
  } finally {
    closeSync(fd);
  }
}
