/**
 * A small zero-copy ELF64 little-endian reader: just what a BPF loader needs (section headers,
 * symbols, string tables and REL relocations). Every accessor bounds-checks against the file and
 * throws {@link ElfError} naming the file and the offending section or index.
 */
import { EM_BPF, SHN, SHT } from './constants.js';
import { ElfError } from './error.js';
import { plainBytes, utf8Text } from '../bytes.js';

/** One section header, with its bytes available as a view into the file. */
export interface ElfSection {
  /** Index in the section header table. */
  readonly index: number;
  readonly name: string;
  readonly type: number;
  readonly flags: bigint;
  readonly offset: number;
  readonly size: number;
  readonly link: number;
  readonly info: number;
  readonly addralign: number;
  readonly entsize: number;
}

/** One symbol table entry. */
export interface ElfSymbol {
  /** Index in the symbol table. */
  readonly index: number;
  readonly name: string;
  /** `st_info >> 4`: STB_LOCAL/GLOBAL/WEAK. */
  readonly bind: number;
  /** `st_info & 0xf`: STT_*. */
  readonly type: number;
  /** `st_other & 3`: visibility. */
  readonly visibility: number;
  /** Section index, or SHN_UNDEF / SHN_ABS / SHN_COMMON. */
  readonly sectionIndex: number;
  readonly value: number;
  readonly size: number;
}

/** One REL relocation entry. */
export interface ElfRelocation {
  /** Byte offset inside the section the relocation applies to. */
  readonly offset: number;
  /** Index of the referenced symbol. */
  readonly symbolIndex: number;
  /** `R_BPF_*` type. */
  readonly type: number;
}

const ELF_HEADER_SIZE = 64;
const SECTION_HEADER_SIZE = 64;
const SYMBOL_SIZE = 24;
const REL_SIZE = 16;
const RELA_SIZE = 24;

/** Zero-copy reader over the bytes of an ELF64 LE file. */
export class ElfFile {
  /** The file's bytes. Section data views alias them. */
  readonly bytes: Uint8Array;
  /** Label used in error messages (usually the path). */
  readonly source: string;
  /** `e_machine`. */
  readonly machine: number;
  /** All section headers, index 0 included. */
  readonly sections: readonly ElfSection[];
  private readonly view: DataView;
  private symbolCache: readonly ElfSymbol[] | undefined;

  private constructor(bytes: Uint8Array, source: string) {
    this.bytes = plainBytes(bytes);
    bytes = this.bytes;
    this.source = source;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.byteLength < ELF_HEADER_SIZE) this.fail('ELF_TRUNCATED', `file is ${bytes.byteLength} bytes, shorter than an ELF header`);
    if (bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) this.fail('ELF_BAD_MAGIC', 'not an ELF file (bad magic)');
    if (bytes[4] !== 2) this.fail('ELF_UNSUPPORTED', `ELF class ${bytes[4]} is not ELF64`);
    if (bytes[5] !== 1) this.fail('ELF_UNSUPPORTED', 'big-endian ELF objects are not supported');
    this.machine = this.view.getUint16(18, true);
    const shoff = this.u64(40, 'e_shoff');
    const shentsize = this.view.getUint16(58, true);
    let shnum = this.view.getUint16(60, true);
    let shstrndx = this.view.getUint16(62, true);
    if (shoff === 0) this.fail('ELF_NO_SECTIONS', 'no section header table');
    if (shentsize !== SECTION_HEADER_SIZE) this.fail('ELF_BAD_HEADER', `section header size ${shentsize}, expected ${SECTION_HEADER_SIZE}`);
    // Extended numbering: counts that overflow 16 bits live in section 0.
    if (shnum === 0) {
      this.checkedRange(shoff, SECTION_HEADER_SIZE, 'section header 0');
      shnum = this.u64(shoff + 32, 'extended section count');
    }
    if (shstrndx === 0xffff) {
      this.checkedRange(shoff, SECTION_HEADER_SIZE, 'section header 0');
      shstrndx = this.view.getUint32(shoff + 40, true);
    }
    this.checkedRange(shoff, shnum * SECTION_HEADER_SIZE, 'section header table');
    if (shstrndx >= shnum) this.fail('ELF_BAD_HEADER', `section name table index ${shstrndx} out of range (${shnum} sections)`);

    const headers: { nameOff: number; s: Omit<ElfSection, 'name'> }[] = [];
    for (let i = 0; i < shnum; i++) {
      const o = shoff + i * SECTION_HEADER_SIZE;
      const type = this.view.getUint32(o + 4, true);
      const offset = this.u64(o + 24, `section ${i} offset`);
      const size = this.u64(o + 32, `section ${i} size`);
      if (type !== SHT.NOBITS && type !== SHT.NULL) this.checkedRange(offset, size, `section ${i}`);
      headers.push({
        nameOff: this.view.getUint32(o, true),
        s: {
          index: i,
          type,
          flags: this.view.getBigUint64(o + 8, true),
          offset,
          size,
          link: this.view.getUint32(o + 40, true),
          info: this.view.getUint32(o + 44, true),
          addralign: this.u64(o + 48, `section ${i} alignment`),
          entsize: this.u64(o + 56, `section ${i} entsize`),
        },
      });
    }
    const shstr = headers[shstrndx].s;
    this.sections = headers.map(({ nameOff, s }) => ({ ...s, name: s.index === 0 ? '' : this.stringAt(shstr, nameOff, `name of section ${s.index}`) }));
  }

  /** Parse `bytes`; `source` names the file in errors. */
  static parse(bytes: Uint8Array, source = '<buffer>'): ElfFile {
    const f = new ElfFile(bytes, source);
    if (f.machine !== EM_BPF) throw new ElfError('ELF_WRONG_MACHINE', source, `e_machine is ${f.machine}, not EM_BPF (${EM_BPF}): not a BPF object`);
    return f;
  }

  /** Parse any ELF64 LE file (e.g. a shared library for uprobe symbol lookup), whatever its machine. */
  static parseAnyMachine(bytes: Uint8Array, source = '<buffer>'): ElfFile {
    return new ElfFile(bytes, source);
  }

  /** The section named `name`, if any. */
  section(name: string): ElfSection | undefined {
    return this.sections.find((s) => s.name === name);
  }

  /** The bytes of a section (empty for SHT_NOBITS): a view, not a copy. */
  data(section: ElfSection): Uint8Array {
    if (section.type === SHT.NOBITS || section.type === SHT.NULL) return new Uint8Array(0);
    return this.bytes.subarray(section.offset, section.offset + section.size);
  }

  /** The symbol table (index 0, the null symbol, included). Empty if the file has none. */
  symbols(): readonly ElfSymbol[] {
    if (this.symbolCache) return this.symbolCache;
    const symtab = this.sections.find((s) => s.type === SHT.SYMTAB);
    this.symbolCache = symtab ? this.readSymbols(symtab) : [];
    return this.symbolCache;
  }

  /** Symbols of a given SHT_SYMTAB or SHT_DYNSYM section. */
  readSymbols(symtab: ElfSection): readonly ElfSymbol[] {
    if (symtab.entsize !== SYMBOL_SIZE) this.fail('ELF_BAD_SYMTAB', `symbol table ${symtab.name} has entry size ${symtab.entsize}`);
    const strtab = this.sections[symtab.link];
    if (!strtab || strtab.type !== SHT.STRTAB) this.fail('ELF_BAD_SYMTAB', `symbol table ${symtab.name} links to section ${symtab.link}, not a string table`);
    const count = Math.floor(symtab.size / SYMBOL_SIZE);
    const out: ElfSymbol[] = new Array(count);
    for (let i = 0; i < count; i++) {
      const o = symtab.offset + i * SYMBOL_SIZE;
      const info = this.view.getUint8(o + 4);
      out[i] = {
        index: i,
        name: this.stringAt(strtab, this.view.getUint32(o, true), `name of symbol ${i}`),
        bind: info >> 4,
        type: info & 0xf,
        visibility: this.view.getUint8(o + 5) & 3,
        sectionIndex: this.view.getUint16(o + 6, true),
        value: this.u64(o + 8, `value of symbol ${i}`),
        size: this.u64(o + 16, `size of symbol ${i}`),
      };
    }
    return out;
  }

  /** The REL/RELA sections, with the index of the section each applies to. */
  relocationSections(): readonly { section: ElfSection; target: number }[] {
    return this.sections.filter((s) => s.type === SHT.REL || s.type === SHT.RELA).map((s) => ({ section: s, target: s.info }));
  }

  /** Entries of a REL (or RELA: the addend is ignored, BPF uses REL) section. */
  relocations(section: ElfSection): readonly ElfRelocation[] {
    const size = section.type === SHT.RELA ? RELA_SIZE : REL_SIZE;
    if (section.entsize !== 0 && section.entsize !== size) this.fail('ELF_BAD_RELOCATION', `relocation section ${section.name} has entry size ${section.entsize}`);
    const count = Math.floor(section.size / size);
    const nsyms = this.symbols().length;
    const out: ElfRelocation[] = new Array(count);
    for (let i = 0; i < count; i++) {
      const o = section.offset + i * size;
      const info = this.view.getBigUint64(o + 8, true);
      const symbolIndex = Number(info >> 32n);
      if (symbolIndex >= nsyms) this.fail('ELF_BAD_RELOCATION', `relocation ${i} in ${section.name} references symbol ${symbolIndex}, but the symbol table has ${nsyms}`);
      out[i] = { offset: this.u64(o, `offset of relocation ${i} in ${section.name}`), symbolIndex, type: Number(info & 0xffffffffn) };
    }
    return out;
  }

  /** True when a symbol's section index refers to a real section. */
  isDefined(sym: ElfSymbol): boolean {
    return sym.sectionIndex !== SHN.UNDEF && sym.sectionIndex < this.sections.length;
  }

  private stringAt(strtab: Pick<ElfSection, "offset" | "size"> & { name?: string }, offset: number, what: string): string {
    if (offset >= strtab.size) this.fail('ELF_BAD_STRING', `${what}: string offset ${offset} outside ${strtab.name || 'string table'} (${strtab.size} bytes)`);
    const start = strtab.offset + offset;
    const end = this.bytes.indexOf(0, start);
    if (end < 0 || end >= strtab.offset + strtab.size) this.fail('ELF_BAD_STRING', `${what}: unterminated string at offset ${offset}`);
    return utf8Text(this.bytes, start, end);
  }

  private u64(offset: number, what: string): number {
    const v = this.view.getBigUint64(offset, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail('ELF_BAD_HEADER', `${what} (${v}) is out of range`);
    return Number(v);
  }

  private checkedRange(offset: number, size: number, what: string): true {
    if (offset < 0 || size < 0 || offset + size > this.bytes.byteLength) {
      this.fail('ELF_TRUNCATED', `${what} (offset ${offset}, ${size} bytes) extends past the end of the file (${this.bytes.byteLength} bytes)`);
    }
    return true;
  }

  private fail(code: string, message: string): never {
    throw new ElfError(code, this.source, message);
  }
}

