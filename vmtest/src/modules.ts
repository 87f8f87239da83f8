/**
 * Kernel modules without `modules.dep`: the dependencies are read from each `.ko`'s `.modinfo`
 * section (`depends=a,b`), and the modules a guest needs are put in load order.
 *
 * @packageDocumentation
 */
import { execFileSync } from 'node:child_process';
import { gunzipSync } from 'node:zlib';

/** A module could not be parsed or ordered (cycle, missing dependency, bad ELF). */
export class ModuleError extends Error {
  /** Stable code for callers that branch on the kind of failure. */
  readonly code: 'VMTEST_MODULE_CYCLE' | 'VMTEST_MODULE_MISSING' | 'VMTEST_MODULE_ELF';
  constructor(code: ModuleError['code'], message: string) {
    super(message);
    this.name = 'ModuleError';
    this.code = code;
  }
}

/** Module names compare with `-` and `_` equal, as the kernel does; `_` is the canonical form. */
export function canonicalModuleName(name: string): string {
  return name.replaceAll('-', '_');
}

/** The module name a file carries: its base name without `.ko[.xz|.zst|.gz]`. */
export function moduleNameFromPath(path: string): string {
  const base = path.split('/').at(-1) ?? path;
  return canonicalModuleName(base.replace(/\.ko(\.(xz|zst|gz))?$/, ''));
}

/** The raw bytes of a named section of an ELF64 little-endian file, or undefined. */
export function elfSection(elf: Uint8Array, wanted: string): Uint8Array | undefined {
  const view = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  if (elf.byteLength < 64 || view.getUint32(0, false) !== 0x7f454c46) {
    throw new ModuleError('VMTEST_MODULE_ELF', 'not an ELF file');
  }
  if (elf[4] !== 2 || elf[5] !== 1) throw new ModuleError('VMTEST_MODULE_ELF', 'not ELF64 little-endian');
  const shoff = Number(view.getBigUint64(0x28, true));
  const shentsize = view.getUint16(0x3a, true);
  const shnum = view.getUint16(0x3c, true);
  const shstrndx = view.getUint16(0x3e, true);
  if (shentsize < 64 || shoff + shnum * shentsize > elf.byteLength || shstrndx >= shnum) {
    throw new ModuleError('VMTEST_MODULE_ELF', 'section header table out of bounds');
  }
  const header = (i: number): { name: number; offset: number; size: number } => {
    const at = shoff + i * shentsize;
    return {
      name: view.getUint32(at, true),
      offset: Number(view.getBigUint64(at + 0x18, true)),
      size: Number(view.getBigUint64(at + 0x20, true)),
    };
  };
  const strtab = header(shstrndx);
  const decoder = new TextDecoder();
  for (let i = 0; i < shnum; i++) {
    const h = header(i);
    const start = strtab.offset + h.name;
    let end = start;
    while (end < elf.byteLength && elf[end] !== 0) end++;
    if (decoder.decode(elf.subarray(start, end)) !== wanted) continue;
    if (h.offset + h.size > elf.byteLength) throw new ModuleError('VMTEST_MODULE_ELF', `${wanted} out of bounds`);
    return elf.subarray(h.offset, h.offset + h.size);
  }
  return undefined;
}

/** `.modinfo` as key → values (keys such as `alias` repeat). */
export function parseModinfo(section: Uint8Array): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const entry of new TextDecoder().decode(section).split('\0')) {
    const eq = entry.indexOf('=');
    if (eq <= 0) continue;
    const key = entry.slice(0, eq);
    const list = out.get(key) ?? [];
    list.push(entry.slice(eq + 1));
    out.set(key, list);
  }
  return out;
}

/** What one module needs loaded before it. */
export interface ModuleInfo {
  readonly name: string;
  /** Hard dependencies from `depends=`. */
  readonly depends: readonly string[];
  /** `softdep=pre: ...` modules, loaded first when available. */
  readonly softPre: readonly string[];
}

/** Reads name, `depends=` and `softdep pre:` from an uncompressed `.ko`. */
export function moduleInfoFromElf(elf: Uint8Array, fallbackName: string): ModuleInfo {
  const section = elfSection(elf, '.modinfo');
  const info = section === undefined ? new Map<string, string[]>() : parseModinfo(section);
  const split = (s: string): string[] => s.split(/[\s,]+/).filter(Boolean).map(canonicalModuleName);
  const depends = (info.get('depends') ?? []).flatMap(split);
  const softPre: string[] = [];
  for (const soft of info.get('softdep') ?? []) {
    const m = /pre:\s*([^:]*?)(\s+post:.*)?$/.exec(soft);
    if (m?.[1] !== undefined) softPre.push(...split(m[1]));
  }
  return { name: canonicalModuleName(info.get('name')?.[0] ?? fallbackName), depends, softPre };
}

/** The plain `.ko` bytes of a possibly compressed module file (xz and zstd through their CLIs). */
export function decompressModule(path: string, data: Uint8Array): Uint8Array {
  if (path.endsWith('.ko')) return data;
  if (path.endsWith('.gz')) return gunzipSync(data);
  const tool = path.endsWith('.xz') ? 'xz' : path.endsWith('.zst') ? 'zstd' : undefined;
  if (tool === undefined) throw new ModuleError('VMTEST_MODULE_ELF', `${path}: unknown module compression`);
  return execFileSync(tool, ['-dc'], { input: data, maxBuffer: 512 << 20 });
}

/** How a name resolves: a module file, built into the kernel, or absent. */
export type ModuleLookup = ModuleInfo | 'builtin' | undefined;

/** Modules in load order, plus what was built in and what could not be found. */
export interface LoadPlan {
  /** Dependencies before dependents; every listed module exists as a file. */
  readonly order: readonly string[];
  readonly builtin: readonly string[];
  /** Optional roots and soft dependencies that were absent (hard ones throw). */
  readonly skipped: readonly string[];
}

/**
 * Orders `roots` (and, if present, `optional`) with their dependencies, dependencies first.
 * A missing hard dependency or required root throws `VMTEST_MODULE_MISSING` naming who needs it;
 * a dependency cycle throws `VMTEST_MODULE_CYCLE` naming the cycle.
 */
export function planModuleLoad(
  roots: readonly string[],
  lookup: (name: string) => ModuleLookup,
  optional: readonly string[] = [],
): LoadPlan {
  const order: string[] = [];
  const builtin = new Set<string>();
  const skipped = new Set<string>();
  const done = new Set<string>();
  const stack: string[] = [];
  const cache = new Map<string, ModuleLookup>();
  const find = (name: string): ModuleLookup => {
    if (!cache.has(name)) cache.set(name, lookup(name));
    return cache.get(name);
  };

  const visit = (raw: string, neededBy: string | undefined, hard: boolean): void => {
    const name = canonicalModuleName(raw);
    if (done.has(name) || builtin.has(name)) return;
    const at = stack.indexOf(name);
    if (at >= 0) {
      // A soft dependency that loops back is just an ordering preference: drop it.
      if (!hard) return;
      throw new ModuleError('VMTEST_MODULE_CYCLE', `module dependency cycle: ${[...stack.slice(at), name].join(' -> ')}`);
    }
    const info = find(name);
    if (info === 'builtin') {
      builtin.add(name);
      return;
    }
    if (info === undefined) {
      if (!hard) {
        skipped.add(name);
        return;
      }
      throw new ModuleError(
        'VMTEST_MODULE_MISSING',
        neededBy === undefined ? `module ${name} not found` : `module ${name} (needed by ${neededBy}) not found`,
      );
    }
    stack.push(name);
    for (const dep of info.softPre) visit(dep, name, false);
    for (const dep of info.depends) visit(dep, name, true);
    stack.pop();
    done.add(name);
    order.push(name);
  };

  for (const r of roots) visit(r, undefined, true);
  for (const r of optional) visit(r, undefined, false);
  return { order, builtin: [...builtin].sort(), skipped: [...skipped].sort() };
}

/** Names listed in a `modules.builtin` file (`kernel/fs/foo.ko` per line). */
export function parseModulesBuiltin(text: string): Set<string> {
  return new Set(
    text
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .map(moduleNameFromPath),
  );
}
