/**
 * Kernel symbol table from `/proc/kallsyms`: addresses sorted once into a `BigUint64Array`, looked up by
 * binary search. Used to name kernel stack frames and to check that a function exists before probing it.
 */
import { closeSync, openSync, readSync } from 'node:fs';
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
  /** Name of entry i: #nameLen[i] bytes at #nameStart[i] of #names (which is in file order). */
  readonly #names: Buffer;
  readonly #nameStart: Uint32Array;
  readonly #nameLen: Uint16Array;
  /** nm-style type letters. */
  readonly #types: Uint8Array;
  /** Index into {@link modules} + 1, 0 for the core kernel. */
  readonly #moduleIndex: Uint16Array;
  readonly #modules: string[];
  /** Open-addressing hash of names: entry index + 1, 0 for an empty slot. */
  #byName: Int32Array | undefined;

  private constructor(hi: Uint32Array, lo: Uint32Array, names: Buffer, nameStart: Uint32Array, nameLen: Uint16Array, types: Uint8Array, moduleIndex: Uint16Array, modules: string[]) {
    this.#hi = hi;
    this.#lo = lo;
    this.#names = names;
    this.#nameStart = nameStart;
    this.#nameLen = nameLen;
    this.#types = types;
    this.#moduleIndex = moduleIndex;
    this.#modules = modules;
  }

  /**
   * The table of the running kernel, read once and cached for the process (`reload` re-reads it, e.g.
   * after a module load). Throws {@link KallsymsError} when addresses are hidden (`kptr_restrict`).
   * The file is parsed as it is read, in 64 KiB pieces: its ~5 MB of text is never held at once.
   */
  static load(options: { reload?: boolean; path?: string } = {}): KernelSymbols {
    const path = options.path ?? DEFAULT_PATH;
    if (path === DEFAULT_PATH && cached && !options.reload) return cached;
    // A distribution kernel lists ~120-200k symbols with ~20 name bytes each.
    const builder = new TableBuilder(1 << 18, 8 << 20);
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (cause) {
      throw new KallsymsError(`cannot read ${path}: ${(cause as Error).message}`, { cause });
    }
    try {
      let chunk = Buffer.allocUnsafe(65536);
      let have = 0;
      for (;;) {
        if (have === chunk.length) {
          // One line longer than the piece: grow it.
          const bigger = Buffer.allocUnsafe(chunk.length * 2);
          chunk.copy(bigger, 0, 0, have);
          chunk = bigger;
        }
        let got: number;
        try {
          got = readSync(fd, chunk, have, chunk.length - have, null);
        } catch (cause) {
          throw new KallsymsError(`cannot read ${path}: ${(cause as Error).message}`, { cause });
        }
        if (got === 0) {
          builder.lines(chunk, 0, have);
          break;
        }
        have += got;
        const last = chunk.lastIndexOf(NL, have - 1);
        if (last < 0) continue;
        builder.lines(chunk, 0, last + 1);
        chunk.copy(chunk, 0, last + 1, have);
        have -= last + 1;
      }
    } finally {
      closeSync(fd);
    }
    const table = builder.build();
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
    let lines = 1;
    for (let p = src.indexOf(NL); p >= 0; p = src.indexOf(NL, p + 1)) lines++;
    const builder = new TableBuilder(lines, src.length);
    builder.lines(src, 0, src.length);
    return builder.build();
  }

  /** @internal Assembles a table from sorted columns (see {@link TableBuilder.build}). */
  static fromColumns(hi: Uint32Array, lo: Uint32Array, names: Buffer, nameStart: Uint32Array, nameLen: Uint16Array, types: Uint8Array, moduleIndex: Uint16Array, modules: string[]): KernelSymbols {
    return new KernelSymbols(hi, lo, names, nameStart, nameLen, types, moduleIndex, modules);
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
    const start = this.#nameStart[i];
    return latin1(this.#names, start, start + this.#nameLen[i]);
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
    const start = this.#nameStart;
    const len = this.#nameLen;
    for (let i = 0; i < n; i++) {
      let h = 0x811c9dc5;
      for (let p = start[i], e = start[i] + len[i]; p < e; p++) h = Math.imul(h ^ names[p], 0x01000193);
      let s = h & mask;
      while (slots[s] !== 0) s = (s + 1) & mask;
      slots[s] = i + 1;
    }
    this.#byName = slots;
    return slots;
  }

  /** True when entry `i` is named `name`. */
  #nameIs(i: number, name: string): boolean {
    const s = this.#nameStart[i];
    if (this.#nameLen[i] !== name.length) return false;
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

/** Collects kallsyms lines into growable columns, then sorts them into a {@link KernelSymbols}. */
class TableBuilder {
  #cap: number;
  #n = 0;
  #hi: Uint32Array;
  #lo: Uint32Array;
  #nameStart: Uint32Array;
  #nameLen: Uint16Array;
  #types: Uint8Array;
  #mods: Uint16Array;
  /** Names in file order. */
  #names: Buffer;
  #namesUsed = 0;

  /**
   * `entries`/`nameBytes`: expected sizes. Generous is cheap: large zeroed or unwritten allocations are
   * mapped lazily, so only the pages actually filled become resident, and nothing is copied on growth.
   */
  constructor(entries: number, nameBytes: number) {
    const cap = Math.max(16, entries);
    this.#cap = cap;
    this.#hi = new Uint32Array(cap);
    this.#lo = new Uint32Array(cap);
    this.#nameStart = new Uint32Array(cap);
    this.#nameLen = new Uint16Array(cap);
    this.#types = new Uint8Array(cap);
    this.#mods = new Uint16Array(cap);
    this.#names = Buffer.allocUnsafeSlow(Math.max(64, nameBytes));
  }
  readonly #modules: string[] = [];
  readonly #moduleIds = new Map<string, number>();

  #grow(): void {
    const cap = this.#cap * 2;
    const g = <T extends Uint32Array | Uint16Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a);
      return b;
    };
    this.#hi = g(this.#hi, (k) => new Uint32Array(k));
    this.#lo = g(this.#lo, (k) => new Uint32Array(k));
    this.#nameStart = g(this.#nameStart, (k) => new Uint32Array(k));
    this.#nameLen = g(this.#nameLen, (k) => new Uint16Array(k));
    this.#types = g(this.#types, (k) => new Uint8Array(k));
    this.#mods = g(this.#mods, (k) => new Uint16Array(k));
    this.#cap = cap;
  }

  #addName(src: Buffer, start: number, end: number): number {
    const len = end - start;
    if (this.#namesUsed + len > this.#names.length) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(this.#names.length * 2, this.#namesUsed + len));
      this.#names.copy(bigger, 0, 0, this.#namesUsed);
      this.#names = bigger;
    }
    src.copy(this.#names, this.#namesUsed, start, end);
    const at = this.#namesUsed;
    this.#namesUsed += len;
    return at;
  }

  /** Parse the lines in `src[start, end)` (a line may lack its final newline only at the very end). */
  lines(src: Buffer, start: number, end: number): void {
    while (start < end) {
      let eol = src.indexOf(NL, start);
      if (eol < 0 || eol > end) eol = end;
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
      if (ne - ns > 0xffff) continue;
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
          let id = this.#moduleIds.get(mod);
          if (id === undefined) {
            this.#modules.push(mod);
            id = this.#modules.length;
            this.#moduleIds.set(mod, id);
          }
          m = id;
        }
      }
      if (this.#n === this.#cap) this.#grow();
      const n = this.#n++;
      this.#hi[n] = h;
      this.#lo[n] = l;
      this.#nameStart[n] = this.#addName(src, ns, ne);
      this.#nameLen[n] = ne - ns;
      this.#types[n] = sp1 + 1 < eol ? src[sp1 + 1] : SPACE;
      this.#mods[n] = m;
    }
  }

  /**
   * Sort (stable: the kernel's order among aliases at one address, e.g. _stext/_text) and assemble.
   * The columns are permuted in place rather than copied: a second set would be another ~2 MB of
   * touched memory at the process's peak, for a table that is built once.
   */
  build(): KernelSymbols {
    const n = this.#n;
    const order = sortedOrder(this.#hi, this.#lo, n);
    const hi = this.#hi;
    const lo = this.#lo;
    const nameStart = this.#nameStart;
    const nameLen = this.#nameLen;
    const types = this.#types;
    const mods = this.#mods;
    // Entry i of the result is entry order[i] of the input: follow each cycle of the permutation,
    // marking visited slots with order[j] = j.
    for (let i = 0; i < n; i++) {
      if (order[i] === i) continue;
      const h = hi[i];
      const l = lo[i];
      const ns = nameStart[i];
      const nl = nameLen[i];
      const ty = types[i];
      const mo = mods[i];
      let j = i;
      for (;;) {
        const k = order[j];
        order[j] = j;
        if (k === i) break;
        hi[j] = hi[k];
        lo[j] = lo[k];
        nameStart[j] = nameStart[k];
        nameLen[j] = nameLen[k];
        types[j] = types[k];
        mods[j] = mods[k];
        j = k;
      }
      hi[j] = h;
      lo[j] = l;
      nameStart[j] = ns;
      nameLen[j] = nl;
      types[j] = ty;
      mods[j] = mo;
    }
    // The unused tails (capacity beyond n, and of the names buffer) were never written: they cost
    // address space, not memory.
    return KernelSymbols.fromColumns(
      hi.subarray(0, n),
      lo.subarray(0, n),
      this.#names.subarray(0, this.#namesUsed),
      nameStart.subarray(0, n),
      nameLen.subarray(0, n),
      types.subarray(0, n),
      mods.subarray(0, n),
      this.#modules,
    );
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
