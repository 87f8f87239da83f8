/**
 * Function symbols of a native ELF file (an executable or shared library), used to place uprobes by name
 * and to name user stack frames. Symbols come from `.symtab` and `.dynsym`; file offsets are computed
 * from the PT_LOAD segment that contains the symbol's virtual address, as the kernel's uprobe API wants
 * an offset into the file, not an address.
 */
import { readFileSync, statSync } from 'node:fs';
import { ElfFile, SHT, STT } from '../elf/index.js';
import { TsbpfError } from '../errors.js';

/** A function symbol of a native ELF file. */
export interface NativeSymbol {
  readonly name: string;
  /** `st_value`: the symbol's virtual address in the file's own address space. */
  readonly address: number;
  readonly size: number;
  /** Where the symbol's code lies in the file (what a uprobe is placed at). */
  readonly fileOffset: number;
  /** True for STT_GNU_IFUNC symbols: the address is a resolver, not the implementation. */
  readonly ifunc: boolean;
}

/** One PT_LOAD program header. */
export interface LoadSegment {
  readonly vaddr: number;
  readonly offset: number;
  readonly filesz: number;
  readonly memsz: number;
  /** PF_X | PF_W | PF_R bits. */
  readonly flags: number;
}

/** A symbol could not be found in, or the file could not be read as, a native ELF object. */
export class SymbolLookupError extends TsbpfError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SYMBOL_NOT_FOUND', message, options);
  }
}

const PT_LOAD = 1;
const SHT_DYNSYM = 11;
const SHT_NOTE = 7;
const STT_GNU_IFUNC = 10;

/** Program headers of type PT_LOAD. */
function loadSegments(bytes: Uint8Array, source: string): LoadSegment[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const phoff = Number(view.getBigUint64(32, true));
  const phentsize = view.getUint16(54, true);
  const phnum = view.getUint16(56, true);
  if (phnum === 0) return [];
  if (phentsize < 56 || phoff + phnum * phentsize > bytes.byteLength) {
    throw new SymbolLookupError(`${source}: program header table (offset ${phoff}, ${phnum}×${phentsize}) is out of bounds`);
  }
  const out: LoadSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    if (view.getUint32(o, true) !== PT_LOAD) continue;
    out.push({
      flags: view.getUint32(o + 4, true),
      offset: Number(view.getBigUint64(o + 8, true)),
      vaddr: Number(view.getBigUint64(o + 16, true)),
      filesz: Number(view.getBigUint64(o + 32, true)),
      memsz: Number(view.getBigUint64(o + 40, true)),
    });
  }
  return out;
}

const SYMBOL_SIZE = 24;
const utf8 = new TextDecoder('utf-8');

/**
 * Function symbols of one native ELF file, sorted by address. Large binaries (node: ~200k symbols)
 * are indexed without decoding names: entries live in typed arrays and a name is decoded only when
 * a lookup returns it, so parsing costs one pass over the symbol tables.
 */
export class NativeSymbolTable {
  /** The file this table was read from. */
  readonly path: string;
  readonly segments: readonly LoadSegment[];
  readonly #bytes: Uint8Array;
  /** Entry data, in address order. */
  readonly #addr: Float64Array;
  readonly #size: Float64Array;
  /** Absolute file offset of each name (NUL-terminated). */
  readonly #name: Uint32Array;
  readonly #ifunc: Uint8Array;
  readonly #found = new Map<string, NativeSymbol | null>();
  #buildId: string | undefined | null = null;

  private constructor(path: string, bytes: Uint8Array, segments: LoadSegment[], addr: number[], size: number[], name: number[], ifunc: number[]) {
    this.path = path;
    this.#bytes = bytes;
    this.segments = segments;
    const order = Array.from(addr.keys()).sort((x, y) => addr[x] - addr[y] || x - y);
    this.#addr = Float64Array.from(order, (i) => addr[i]);
    this.#size = Float64Array.from(order, (i) => size[i]);
    this.#name = Uint32Array.from(order, (i) => name[i]);
    this.#ifunc = Uint8Array.from(order, (i) => ifunc[i]);
  }

  /** Parse an ELF image already in memory (kept referenced for name lookups). */
  static fromBytes(bytes: Uint8Array, path = '<buffer>'): NativeSymbolTable {
    const elf = ElfFile.parseAnyMachine(bytes, path);
    const segments = loadSegments(bytes, path);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const addr: number[] = [];
    const size: number[] = [];
    const name: number[] = [];
    const ifunc: number[] = [];
    for (const section of elf.sections) {
      if (section.type !== SHT.SYMTAB && section.type !== SHT_DYNSYM) continue;
      const strtab = elf.sections[section.link];
      if (!strtab || strtab.type !== SHT.STRTAB || section.entsize !== SYMBOL_SIZE) {
        throw new SymbolLookupError(`${path}: symbol table ${section.name} is malformed (entsize ${section.entsize}, string table ${section.link})`);
      }
      const count = Math.floor(section.size / SYMBOL_SIZE);
      for (let i = 1; i < count; i++) {
        const o = section.offset + i * SYMBOL_SIZE;
        const type = view.getUint8(o + 4) & 0xf;
        if (type !== STT.FUNC && type !== STT_GNU_IFUNC) continue;
        const shndx = view.getUint16(o + 6, true);
        if (shndx === 0) continue;
        const value = Number(view.getBigUint64(o + 8, true));
        if (value === 0) continue;
        const nameOff = view.getUint32(o, true);
        if (nameOff === 0 || nameOff >= strtab.size) continue;
        addr.push(value);
        size.push(Number(view.getBigUint64(o + 16, true)));
        name.push(strtab.offset + nameOff);
        ifunc.push(type === STT_GNU_IFUNC ? 1 : 0);
      }
    }
    return new NativeSymbolTable(path, bytes, segments, addr, size, name, ifunc);
  }

  /** Read and parse `path`, cached per device, inode and modification time. */
  static forPath(path: string): NativeSymbolTable {
    let key: string;
    try {
      const st = statSync(path);
      key = `${path}\0${st.dev}:${st.ino}:${st.mtimeMs}`;
    } catch (cause) {
      throw new SymbolLookupError(`cannot stat ${path}: ${(cause as Error).message}`, { cause });
    }
    const hit = tableCache.get(key);
    if (hit) {
      // Least recently used first: move a hit to the end.
      tableCache.delete(key);
      tableCache.set(key, hit);
      return hit;
    }
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (cause) {
      throw new SymbolLookupError(`cannot read ${path}: ${(cause as Error).message}`, { cause });
    }
    const table = NativeSymbolTable.fromBytes(bytes, path);
    tableCache.set(key, table);
    cachedBytes += bytes.byteLength;
    // Each table keeps its file's bytes for name lookups: bound the count and the bytes (the newest always stays).
    while (tableCache.size > 1 && (tableCache.size > TABLE_CACHE_ENTRIES || cachedBytes > TABLE_CACHE_BYTES)) {
      const [oldKey, old] = tableCache.entries().next().value as [string, NativeSymbolTable];
      tableCache.delete(oldKey);
      cachedBytes -= old.#bytes.byteLength;
    }
    return table;
  }

  /** The GNU build id (`.note.gnu.build-id`) as lower-case hex, when the file has one. */
  get buildId(): string | undefined {
    if (this.#buildId === null) this.#buildId = readBuildId(this.#bytes);
    return this.#buildId;
  }

  /** Number of function symbols (a function in both .symtab and .dynsym counts twice). */
  get size(): number {
    return this.#addr.length;
  }

  #nameAt(i: number): string {
    const start = this.#name[i];
    const end = this.#bytes.indexOf(0, start);
    return utf8.decode(this.#bytes.subarray(start, end < 0 ? this.#bytes.byteLength : end));
  }

  #entry(i: number): NativeSymbol {
    const address = this.#addr[i];
    const seg = this.segments.find((s) => address >= s.vaddr && address < s.vaddr + s.filesz);
    // Without program headers (a relocatable object) the address already is a file-relative value.
    const fileOffset = seg ? address - seg.vaddr + seg.offset : address;
    return { name: this.#nameAt(i), address, size: this.#size[i], fileOffset, ifunc: this.#ifunc[i] === 1 };
  }

  /** True when the NUL-terminated name at entry `i` equals `q`. */
  #nameIs(i: number, q: Uint8Array): boolean {
    const start = this.#name[i];
    const b = this.#bytes;
    if (start + q.length >= b.byteLength || b[start + q.length] !== 0) return false;
    for (let k = 0; k < q.length; k++) if (b[start + k] !== q[k]) return false;
    return true;
  }

  /** The function named `name` (a trailing `@VERSION` or `@@VERSION` is ignored), or undefined. */
  find(name: string): NativeSymbol | undefined {
    const at = name.indexOf('@');
    const plain = at > 0 ? name.slice(0, at) : name;
    const hit = this.#found.get(plain);
    if (hit !== undefined) return hit ?? undefined;
    const q = new TextEncoder().encode(plain);
    let result: NativeSymbol | null = null;
    for (let i = 0; i < this.#addr.length; i++) {
      if (this.#nameIs(i, q)) {
        result = this.#entry(i);
        break;
      }
    }
    // Bounded: a caller probing many names must not grow the table's memory without limit.
    if (this.#found.size >= FOUND_CACHE_ENTRIES) this.#found.clear();
    this.#found.set(plain, result);
    return result ?? undefined;
  }

  /** Like {@link find}, throwing a {@link SymbolLookupError} that names the file. */
  get(name: string): NativeSymbol {
    const s = this.find(name);
    if (!s) throw new SymbolLookupError(`symbol ${name} not found in ${this.path} (.symtab/.dynsym, functions only)`);
    return s;
  }

  /** Virtual address (file's own space) of a file offset, via the containing PT_LOAD segment. */
  fileOffsetToAddress(offset: number): number | undefined {
    const seg = this.segments.find((s) => offset >= s.offset && offset < s.offset + s.filesz);
    if (!seg) return this.segments.length === 0 ? offset : undefined;
    return offset - seg.offset + seg.vaddr;
  }

  /** The function containing `address` (the closest one at or below it), or undefined below the first. */
  symbolize(address: number): { symbol: NativeSymbol; offset: number } | undefined {
    let lo = 0;
    let hi = this.#addr.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#addr[mid] <= address) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0) return undefined;
    // Among symbols at the same address, the first in table order wins (stable sort above).
    while (found > 0 && this.#addr[found - 1] === this.#addr[found]) found--;
    return { symbol: this.#entry(found), offset: address - this.#addr[found] };
  }
}

const NT_GNU_BUILD_ID = 3;

/** The GNU build id from the ELF notes (section `.note.gnu.build-id`, or any SHT_NOTE), as hex. */
function readBuildId(bytes: Uint8Array): string | undefined {
  let elf: ElfFile;
  try {
    elf = ElfFile.parseAnyMachine(bytes);
  } catch {
    return undefined;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const notes = elf.sections.filter((s) => s.type === SHT_NOTE).sort((a, b) => Number(b.name === '.note.gnu.build-id') - Number(a.name === '.note.gnu.build-id'));
  for (const sec of notes) {
    let o = sec.offset;
    const end = sec.offset + sec.size;
    while (o + 12 <= end) {
      const namesz = view.getUint32(o, true);
      const descsz = view.getUint32(o + 4, true);
      const type = view.getUint32(o + 8, true);
      const nameStart = o + 12;
      const descStart = nameStart + ((namesz + 3) & ~3);
      const next = descStart + ((descsz + 3) & ~3);
      if (next > end) break;
      const isGnu = namesz === 4 && bytes[nameStart] === 0x47 && bytes[nameStart + 1] === 0x4e && bytes[nameStart + 2] === 0x55;
      if (isGnu && type === NT_GNU_BUILD_ID) {
        return Array.from(bytes.subarray(descStart, descStart + descsz), (b) => b.toString(16).padStart(2, '0')).join('');
      }
      o = next;
    }
  }
  return undefined;
}

/** Parsed tables by path, device, inode and mtime, least recently used first. */
const tableCache = new Map<string, NativeSymbolTable>();
let cachedBytes = 0;
const TABLE_CACHE_ENTRIES = 16;
const TABLE_CACHE_BYTES = 64 * 1024 * 1024;
const FOUND_CACHE_ENTRIES = 1024;
