/**
 * Kernel symbol table from `/proc/kallsyms`: addresses sorted once into a `BigUint64Array`, looked up by
 * binary search. Used to name kernel stack frames and to check that a function exists before probing it.
 */
import { readFileSync } from 'node:fs';
import { TsbpfError } from '../errors.js';

/** A kernel address resolved to the symbol that contains it. */
export interface KernelSymbolization {
  /** The symbol's name, e.g. `do_sys_openat2`. */
  readonly name: string;
  /** The module that defines it (`[nf_tables]` without brackets); undefined for the core kernel. */
  readonly module?: string;
  /** Bytes from the symbol's start to the address. */
  readonly offset: number;
  /** The symbol's start address. */
  readonly address: bigint;
}

/** One `/proc/kallsyms` entry. */
export interface KernelSymbol {
  readonly name: string;
  readonly address: bigint;
  /** The nm-style type letter (`T`, `t`, `W`, `D`, …). */
  readonly type: string;
  readonly module?: string;
}

/** `/proc/kallsyms` could not be read or shows only zero addresses (kptr_restrict). */
export class KallsymsError extends TsbpfError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('KALLSYMS', message, options);
  }
}

const DEFAULT_PATH = '/proc/kallsyms';
let cached: KernelSymbols | undefined;

/** A sorted, searchable kernel symbol table. */
export class KernelSymbols {
  /** Start addresses, ascending. */
  private readonly addresses: BigUint64Array;
  private readonly names: string[];
  private readonly types: string;
  /** Index into {@link modules} + 1, 0 for the core kernel. */
  private readonly moduleIndex: Uint16Array;
  private readonly modules: string[];
  private byName: Map<string, number> | undefined;

  private constructor(addresses: BigUint64Array, names: string[], types: string, moduleIndex: Uint16Array, modules: string[]) {
    this.addresses = addresses;
    this.names = names;
    this.types = types;
    this.moduleIndex = moduleIndex;
    this.modules = modules;
  }

  /**
   * The table of the running kernel, read once and cached for the process (`reload` re-reads it, e.g.
   * after a module load). Throws {@link KallsymsError} when addresses are hidden (`kptr_restrict`).
   */
  static load(options: { reload?: boolean; path?: string } = {}): KernelSymbols {
    const path = options.path ?? DEFAULT_PATH;
    if (path === DEFAULT_PATH && cached && !options.reload) return cached;
    let text: string;
    try {
      text = readFileSync(path, 'latin1');
    } catch (cause) {
      throw new KallsymsError(`cannot read ${path}: ${(cause as Error).message}`, { cause });
    }
    const table = KernelSymbols.parse(text);
    if (table.size === 0) {
      throw new KallsymsError(`${path} lists no non-zero addresses: kernel.kptr_restrict hides them (needs CAP_SYSLOG, or sysctl kernel.kptr_restrict=0)`);
    }
    if (path === DEFAULT_PATH) cached = table;
    return table;
  }

  /** Parse text in `/proc/kallsyms` format (`ffffffff81000000 T _stext [module]`). Zero addresses are dropped. */
  static parse(text: string): KernelSymbols {
    const entries: { a: bigint; n: string; t: string; m: number }[] = [];
    const modules: string[] = [];
    const moduleIds = new Map<string, number>();
    let start = 0;
    while (start < text.length) {
      let end = text.indexOf('\n', start);
      if (end < 0) end = text.length;
      const line = text.slice(start, end);
      start = end + 1;
      const sp1 = line.indexOf(' ');
      const sp2 = sp1 < 0 ? -1 : line.indexOf(' ', sp1 + 1);
      if (sp1 <= 0 || sp2 < 0) continue;
      const hex = line.slice(0, sp1);
      if (/^0+$/.test(hex)) continue;
      let a: bigint;
      try {
        a = BigInt('0x' + hex);
      } catch {
        continue;
      }
      const rest = line.slice(sp2 + 1);
      // The name ends at a tab (module follows) or the end of the line.
      const tab = rest.indexOf('\t');
      const name = (tab < 0 ? rest : rest.slice(0, tab)).trim();
      let m = 0;
      if (tab >= 0) {
        const mod = rest.slice(tab + 1).trim().replace(/^\[/, '').replace(/\]$/, '');
        if (mod) {
          let id = moduleIds.get(mod);
          if (id === undefined) {
            modules.push(mod);
            id = modules.length;
            moduleIds.set(mod, id);
          }
          m = id;
        }
      }
      entries.push({ a, n: name, t: line.charAt(sp1 + 1), m });
    }
    // Stable sort keeps the kernel's order among aliases at one address (e.g. _stext/_text).
    entries.sort((x, y) => (x.a < y.a ? -1 : x.a > y.a ? 1 : 0));
    const addresses = new BigUint64Array(entries.length);
    const names = new Array<string>(entries.length);
    const moduleIndex = new Uint16Array(entries.length);
    let types = '';
    entries.forEach((e, i) => {
      addresses[i] = e.a;
      names[i] = e.n;
      moduleIndex[i] = e.m;
      types += e.t;
    });
    return new KernelSymbols(addresses, names, types, moduleIndex, modules);
  }

  /** Number of symbols. */
  get size(): number {
    return this.addresses.length;
  }

  /** Index of the last symbol starting at or below `addr`, or -1. */
  private floor(addr: bigint): number {
    let lo = 0;
    let hi = this.addresses.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.addresses[mid] <= addr) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /**
   * The symbol containing `addr` (the closest one at or below it), or undefined below the first symbol.
   * Among aliases at one address the first listed wins.
   */
  symbolize(addr: bigint): KernelSymbolization | undefined {
    let i = this.floor(BigInt.asUintN(64, addr));
    if (i < 0) return undefined;
    const start = this.addresses[i];
    while (i > 0 && this.addresses[i - 1] === start) i--;
    const m = this.moduleIndex[i];
    return { name: this.names[i], module: m === 0 ? undefined : this.modules[m - 1], offset: Number(addr - start), address: start };
  }

  /** `name+0xoff [module]` for display, or the hex address when nothing matches. */
  format(addr: bigint): string {
    const s = this.symbolize(addr);
    if (!s) return '0x' + addr.toString(16);
    return `${s.name}+0x${s.offset.toString(16)}${s.module ? ` [${s.module}]` : ''}`;
  }

  /** The entry at index `i` of the sorted table. */
  at(i: number): KernelSymbol | undefined {
    if (i < 0 || i >= this.addresses.length) return undefined;
    const m = this.moduleIndex[i];
    return { name: this.names[i], address: this.addresses[i], type: this.types.charAt(i), module: m === 0 ? undefined : this.modules[m - 1] };
  }

  /** The first symbol named `name` (optionally only in `module`; `null` for the core kernel). */
  lookup(name: string, module?: string | null): KernelSymbol | undefined {
    if (module === undefined) {
      if (!this.byName) {
        this.byName = new Map();
        for (let i = 0; i < this.names.length; i++) if (!this.byName.has(this.names[i])) this.byName.set(this.names[i], i);
      }
      const i = this.byName.get(name);
      return i === undefined ? undefined : this.at(i);
    }
    for (let i = 0; i < this.names.length; i++) {
      if (this.names[i] !== name) continue;
      const m = this.moduleIndex[i];
      const mod = m === 0 ? null : this.modules[m - 1];
      if (mod === module) return this.at(i);
    }
    return undefined;
  }

  /** True when some symbol is named `name`. */
  has(name: string): boolean {
    return this.lookup(name) !== undefined;
  }

  /** The names of the modules that contributed symbols. */
  moduleNames(): readonly string[] {
    return this.modules;
  }
}
