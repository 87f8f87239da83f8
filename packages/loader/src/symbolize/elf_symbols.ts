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

/** Function symbols of one native ELF file, sorted by address. */
export class NativeSymbolTable {
  /** The file this table was read from. */
  readonly path: string;
  readonly segments: readonly LoadSegment[];
  private readonly sorted: NativeSymbol[];
  private readonly byName: Map<string, NativeSymbol>;

  private constructor(path: string, segments: LoadSegment[], symbols: NativeSymbol[]) {
    this.path = path;
    this.segments = segments;
    this.sorted = symbols.sort((a, b) => a.address - b.address);
    this.byName = new Map();
    // Prefer global definitions over local ones of the same name; .symtab and .dynsym overlap.
    for (const s of this.sorted) if (!this.byName.has(s.name)) this.byName.set(s.name, s);
  }

  /** Parse an ELF image already in memory. */
  static fromBytes(bytes: Uint8Array, path = '<buffer>'): NativeSymbolTable {
    const elf = ElfFile.parseAnyMachine(bytes, path);
    const segments = loadSegments(bytes, path);
    const symbols: NativeSymbol[] = [];
    const seen = new Set<string>();
    for (const section of elf.sections) {
      if (section.type !== SHT.SYMTAB && section.type !== SHT_DYNSYM) continue;
      for (const sym of elf.readSymbols(section)) {
        if ((sym.type !== STT.FUNC && sym.type !== STT_GNU_IFUNC) || sym.value === 0 || !elf.isDefined(sym)) continue;
        // glibc versions names in .dynsym only through .gnu.version; plain names are what users pass.
        const key = `${sym.name}@${sym.value}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const seg = segments.find((s) => sym.value >= s.vaddr && sym.value < s.vaddr + s.filesz);
        // Without program headers (a relocatable object) the address already is a file-relative value.
        const fileOffset = seg ? sym.value - seg.vaddr + seg.offset : sym.value;
        symbols.push({ name: sym.name, address: sym.value, size: sym.size, fileOffset, ifunc: sym.type === STT_GNU_IFUNC });
      }
    }
    return new NativeSymbolTable(path, segments, symbols);
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
    if (hit) return hit;
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (cause) {
      throw new SymbolLookupError(`cannot read ${path}: ${(cause as Error).message}`, { cause });
    }
    const table = NativeSymbolTable.fromBytes(bytes, path);
    if (tableCache.size >= 64) tableCache.delete(tableCache.keys().next().value as string);
    tableCache.set(key, table);
    return table;
  }

  /** Number of function symbols. */
  get size(): number {
    return this.sorted.length;
  }

  /** The function named `name` (a trailing `@VERSION` or `@@VERSION` is ignored), or undefined. */
  find(name: string): NativeSymbol | undefined {
    const at = name.indexOf('@');
    return this.byName.get(at > 0 ? name.slice(0, at) : name);
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

  /** The function containing `address` (or the closest one below it when sizes are zero). */
  symbolize(address: number): { symbol: NativeSymbol; offset: number } | undefined {
    let lo = 0;
    let hi = this.sorted.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.sorted[mid].address <= address) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0) return undefined;
    const s = this.sorted[found];
    return { symbol: s, offset: address - s.address };
  }
}

const tableCache = new Map<string, NativeSymbolTable>();
