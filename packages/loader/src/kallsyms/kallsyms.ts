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

const TWO_32 = 4294967296;
const NL = 0x0a;
const SPACE = 0x20;
const TAB = 0x09;

/** Value of an ASCII hex digit, or -1. */
function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

/** True for the bytes String.prototype.trim() removes that can occur in a kallsyms line. */
function isBlank(c: number): boolean {
  return c === SPACE || c === TAB || c === 0x0d || c === 0x0b || c === 0x0c;
}

/**
 * A sorted, searchable kernel symbol table. The ~120k entries of a distribution kernel live in typed
 * arrays (address halves, type letters, module indexes, name offsets) and one latin1 buffer of names;
 * a name becomes a JS string only when a lookup returns it, and name lookups go through an
 * open-addressing hash over the name bytes (built on the first lookup).
 */
export class KernelSymbols {
  /** Start addresses, ascending: high and low 32-bit halves. */
  readonly #hi: Uint32Array;
  readonly #lo: Uint32Array;
  /** Names of entry i: bytes #nameOff[i] .. #nameOff[i + 1] of #names. */
  readonly #names: Buffer;
  readonly #nameOff: Uint32Array;
  /** nm-style type letters. */
  readonly #types: Uint8Array;
  /** Index into {@link modules} + 1, 0 for the core kernel. */
  readonly #moduleIndex: Uint16Array;
  readonly #modules: string[];
  /** Open-addressing hash of names: entry index + 1, 0 for an empty slot. */
  #byName: Int32Array | undefined;

  private constructor(hi: Uint32Array, lo: Uint32Array, names: Buffer, nameOff: Uint32Array, types: Uint8Array, moduleIndex: Uint16Array, modules: string[]) {
    this.#hi = hi;
    this.#lo = lo;
    this.#names = names;
    this.#nameOff = nameOff;
    this.#types = types;
    this.#moduleIndex = moduleIndex;
    this.#modules = modules;
  }

  /**
   * The table of the running kernel, read once and cached for the process (`reload` re-reads it, e.g.
   * after a module load). Throws {@link KallsymsError} when addresses are hidden (`kptr_restrict`).
   */
  static load(options: { reload?: boolean; path?: string } = {}): KernelSymbols {
    const path = options.path ?? DEFAULT_PATH;
    if (path === DEFAULT_PATH && cached && !options.reload) return cached;
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (cause) {
      throw new KallsymsError(`cannot read ${path}: ${(cause as Error).message}`, { cause });
    }
    const table = KernelSymbols.parse(bytes);
    if (table.size === 0) {
      throw new KallsymsError(`${path} lists no non-zero addresses: kernel.kptr_restrict hides them (needs CAP_SYSLOG, or sysctl kernel.kptr_restrict=0)`);
    }
    if (path === DEFAULT_PATH) cached = table;
    return table;
  }

  /**
   * Parse text in `/proc/kallsyms` format (`ffffffff81000000 T _stext [module]`), as a string or as
   * latin1 bytes. Zero addresses and malformed lines are dropped.
   */
  static parse(text: string | Uint8Array): KernelSymbols {
    const src = typeof text === 'string' ? Buffer.from(text, 'latin1') : Buffer.isBuffer(text) ? text : Buffer.from(text.buffer, text.byteOffset, text.byteLength);
    const end = src.length;
    let lines = 1;
    for (let p = src.indexOf(NL); p >= 0; p = src.indexOf(NL, p + 1)) lines++;
    // Parse order (the kernel's); sorted below.
    const hi = new Uint32Array(lines);
    const lo = new Uint32Array(lines);
    const nStart = new Uint32Array(lines);
    const nEnd = new Uint32Array(lines);
    const types = new Uint8Array(lines);
    const mods = new Uint16Array(lines);
    const modules: string[] = [];
    const moduleIds = new Map<string, number>();
    let n = 0;
    let start = 0;
    while (start < end) {
      let eol = src.indexOf(NL, start);
      if (eol < 0) eol = end;
      const line = start;
      start = eol + 1;
      // Address: hex digits up to the first space (at most 16 of them).
      let p = line;
      let h = 0;
      let l = 0;
      let ok = true;
      while (p < eol && src[p] !== SPACE) {
        const d = hexDigit(src[p]);
        if (d < 0 || p - line >= 16) {
          ok = false;
          break;
        }
        h = ((h << 4) | (l >>> 28)) >>> 0;
        l = ((l << 4) | d) >>> 0;
        p++;
      }
      if (!ok || p === line || p >= eol) continue;
      if (h === 0 && l === 0) continue;
      const sp1 = p;
      // The type letter, then a space, then the name.
      let sp2 = sp1 + 1;
      while (sp2 < eol && src[sp2] !== SPACE) sp2++;
      if (sp2 >= eol) continue;
      // The name ends at a tab (module follows) or the end of the line; trimmed like String.trim().
      let tab = sp2 + 1;
      while (tab < eol && src[tab] !== TAB) tab++;
      let ns = sp2 + 1;
      let ne = tab;
      while (ns < ne && isBlank(src[ns])) ns++;
      while (ne > ns && isBlank(src[ne - 1])) ne--;
      let m = 0;
      if (tab < eol) {
        let ms = tab + 1;
        let me = eol;
        while (ms < me && isBlank(src[ms])) ms++;
        while (me > ms && isBlank(src[me - 1])) me--;
        if (ms < me && src[ms] === 0x5b) ms++;
        if (me > ms && src[me - 1] === 0x5d) me--;
        if (ms < me) {
          const mod = latin1(src, ms, me);
          let id = moduleIds.get(mod);
          if (id === undefined) {
            modules.push(mod);
            id = modules.length;
            moduleIds.set(mod, id);
          }
          m = id;
        }
      }
      hi[n] = h;
      lo[n] = l;
      nStart[n] = ns;
      nEnd[n] = ne;
      types[n] = sp1 + 1 < eol ? src[sp1 + 1] : SPACE;
      mods[n] = m;
      n++;
    }
    // Stable sort keeps the kernel's order among aliases at one address (e.g. _stext/_text).
    const order = sortedOrder(hi, lo, n);
    const sHi = new Uint32Array(n);
    const sLo = new Uint32Array(n);
    const sTypes = new Uint8Array(n);
    const sMods = new Uint16Array(n);
    const nameOff = new Uint32Array(n + 1);
    let total = 0;
    for (let i = 0; i < n; i++) total += nEnd[i] - nStart[i];
    const names = Buffer.allocUnsafeSlow(total);
    let o = 0;
    for (let i = 0; i < n; i++) {
      const k = order[i];
      sHi[i] = hi[k];
      sLo[i] = lo[k];
      sTypes[i] = types[k];
      sMods[i] = mods[k];
      nameOff[i] = o;
      names.set(src.subarray(nStart[k], nEnd[k]), o);
      o += nEnd[k] - nStart[k];
    }
    nameOff[n] = o;
    return new KernelSymbols(sHi, sLo, names, nameOff, sTypes, sMods, modules);
  }

  /** Number of symbols. */
  get size(): number {
    return this.#hi.length;
  }

  /** Index of the last symbol starting at or below `hi:lo`, or -1. */
  #floor(hi: number, lo: number): number {
    const H = this.#hi;
    const L = this.#lo;
    let a = 0;
    let b = H.length - 1;
    let found = -1;
    while (a <= b) {
      const mid = (a + b) >>> 1;
      const mh = H[mid];
      if (mh < hi || (mh === hi && L[mid] <= lo)) {
        found = mid;
        a = mid + 1;
      } else b = mid - 1;
    }
    return found;
  }

  #name(i: number): string {
    return latin1(this.#names, this.#nameOff[i], this.#nameOff[i + 1]);
  }

  #address(i: number): bigint {
    return (BigInt(this.#hi[i]) << 32n) | BigInt(this.#lo[i]);
  }

  #module(i: number): string | undefined {
    const m = this.#moduleIndex[i];
    return m === 0 ? undefined : this.#modules[m - 1];
  }

  /**
   * The symbol containing `addr` (the closest one at or below it), or undefined below the first symbol.
   * Among aliases at one address the first listed wins.
   */
  symbolize(addr: bigint): KernelSymbolization | undefined {
    const a = BigInt.asUintN(64, addr);
    const hi = Number(a >> 32n);
    const lo = Number(a & 0xffffffffn);
    let i = this.#floor(hi, lo);
    if (i < 0) return undefined;
    const H = this.#hi;
    const L = this.#lo;
    const sh = H[i];
    const sl = L[i];
    while (i > 0 && H[i - 1] === sh && L[i - 1] === sl) i--;
    return { name: this.#name(i), module: this.#module(i), offset: (hi - sh) * TWO_32 + (lo - sl), address: this.#address(i) };
  }

  /** `name+0xoff [module]` for display, or the hex address when nothing matches. */
  format(addr: bigint): string {
    const s = this.symbolize(addr);
    if (!s) return '0x' + addr.toString(16);
    return `${s.name}+0x${s.offset.toString(16)}${s.module ? ` [${s.module}]` : ''}`;
  }

  /** The entry at index `i` of the sorted table. */
  at(i: number): KernelSymbol | undefined {
    if (!Number.isInteger(i) || i < 0 || i >= this.#hi.length) return undefined;
    return { name: this.#name(i), address: this.#address(i), type: String.fromCharCode(this.#types[i]), module: this.#module(i) };
  }

  /** The name hash, built on first use: linear probing, inserted in table order so the first entry of a name is found first. */
  #nameIndex(): Int32Array {
    if (this.#byName) return this.#byName;
    const n = this.#hi.length;
    let cap = 16;
    while (cap < n * 2) cap *= 2;
    const slots = new Int32Array(cap);
    const mask = cap - 1;
    const names = this.#names;
    const off = this.#nameOff;
    for (let i = 0; i < n; i++) {
      let h = 0x811c9dc5;
      for (let p = off[i], e = off[i + 1]; p < e; p++) h = Math.imul(h ^ names[p], 0x01000193);
      let s = h & mask;
      while (slots[s] !== 0) s = (s + 1) & mask;
      slots[s] = i + 1;
    }
    this.#byName = slots;
    return slots;
  }

  /** True when entry `i` is named `name`. */
  #nameIs(i: number, name: string): boolean {
    const s = this.#nameOff[i];
    if (this.#nameOff[i + 1] - s !== name.length) return false;
    const b = this.#names;
    for (let k = 0; k < name.length; k++) if (b[s + k] !== name.charCodeAt(k)) return false;
    return true;
  }

  /** The first symbol named `name` (optionally only in `module`; `null` for the core kernel). */
  lookup(name: string, module?: string | null): KernelSymbol | undefined {
    const slots = this.#nameIndex();
    const mask = slots.length - 1;
    let h = 0x811c9dc5;
    for (let k = 0; k < name.length; k++) {
      const c = name.charCodeAt(k);
      if (c > 0xff) return undefined; // names are latin1 bytes
      h = Math.imul(h ^ c, 0x01000193);
    }
    for (let s = h & mask; slots[s] !== 0; s = (s + 1) & mask) {
      const i = slots[s] - 1;
      if (!this.#nameIs(i, name)) continue;
      if (module !== undefined && (this.#module(i) ?? null) !== module) continue;
      return this.at(i);
    }
    return undefined;
  }

  /** True when some symbol is named `name`. */
  has(name: string): boolean {
    return this.lookup(name) !== undefined;
  }

  /** The names of the modules that contributed symbols. */
  moduleNames(): readonly string[] {
    return this.#modules;
  }
}

function latin1(b: Buffer, start: number, end: number): string {
  return b.toString('latin1', start, end);
}

/**
 * The permutation that sorts entries 0..n-1 by (hi, lo), stable. Bottom-up merge sort over indexes;
 * a pair of runs already in order is copied without merging, so the mostly sorted kallsyms order (the
 * core kernel is listed by address) costs little more than one pass per level.
 */
function sortedOrder(hi: Uint32Array, lo: Uint32Array, n: number): Uint32Array {
  let a = new Uint32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  let sorted = true;
  for (let i = 1; i < n && sorted; i++) if (hi[i - 1] > hi[i] || (hi[i - 1] === hi[i] && lo[i - 1] > lo[i])) sorted = false;
  if (sorted) return a;
  let b = new Uint32Array(n);
  for (let width = 1; width < n; width *= 2) {
    for (let left = 0; left < n; left += 2 * width) {
      const mid = Math.min(left + width, n);
      const right = Math.min(left + 2 * width, n);
      let i = left;
      let j = mid;
      let k = left;
      if (mid < right) {
        const x = a[mid - 1];
        const y = a[mid];
        if (hi[x] < hi[y] || (hi[x] === hi[y] && lo[x] <= lo[y])) {
          b.set(a.subarray(left, right), left);
          continue;
        }
      }
      while (i < mid && j < right) {
        const x = a[i];
        const y = a[j];
        // Take from the left run on ties: stable.
        if (hi[y] < hi[x] || (hi[y] === hi[x] && lo[y] < lo[x])) {
          b[k++] = y;
          j++;
        } else {
          b[k++] = x;
          i++;
        }
      }
      while (i < mid) b[k++] = a[i++];
      while (j < right) b[k++] = a[j++];
    }
    const t = a;
    a = b;
    b = t;
  }
  return a;
}
