/**
 * Loading koffi, once, on first use.
 *
 * `require('koffi')` spent 8–10 ms of every start on the benchmark machine, almost all of it in
 * koffi's JavaScript: resolving the package through its exports map, loading its platform package,
 * detecting the C library and trying candidate paths. What it ends up with is a prebuilt Node-API
 * addon, `@koromix/koffi-<platform>-<arch>/<linux|musl>_<arch>/koffi.node`, whose exports are koffi's
 * API. So tsbpf looks for that file where npm installs it (next to the koffi package Node would
 * resolve from here), picks glibc or musl the way koffi does (the interpreter named in the node
 * binary's `PT_INTERP`), and requires it: about 2 ms. It is used only when its version is the koffi
 * package's; anything unexpected (another layout, a bundler, a version mismatch, a load error) falls
 * back to `require('koffi')`. Both paths go through `require`, so a program that also imports koffi
 * gets the same addon instance.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type koffiModule from 'koffi';

/** koffi's API (its default export). */
export type Koffi = typeof koffiModule;

let loaded: Koffi | undefined;

/** koffi, loaded on first call. */
export function koffi(): Koffi {
  return (loaded ??= loadKoffi());
}

function loadKoffi(): Koffi {
  const require = createRequire(import.meta.url);
  const direct = findPrebuilt(dirname(fileURLToPath(import.meta.url)));
  if (direct) {
    try {
      const api = require(direct.addon) as Partial<Koffi>;
      if (api.version === direct.version && typeof api.load === 'function') return api as Koffi;
    } catch {
      // not loadable here (another C library, a missing dependency): koffi's loader decides
    }
  }
  return require('koffi') as Koffi;
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
    const libc = process.platform === 'linux' && (programInterpreter(process.execPath) ?? '').includes('ld-musl') ? 'musl' : process.platform;
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
