/**
 * CollectionSpec: everything a clang-built BPF object declares — programs, maps, global variables,
 * BTF — parsed from its ELF bytes and editable before load. Deterministic and kernel-independent:
 * anything that depends on the running kernel happens in `Collection.load`.
 */
import { readFileSync } from 'node:fs';
import { Insns } from '../asm/instruction.js';
import { BPF_PSEUDO_CALL, CALL } from '../asm/opcodes.js';
import { Btf } from '../btf/btf.js';
import { parseBtfExt, type BtfExt } from '../btf/ext.js';
import type { BtfDatasec, BtfType } from '../btf/types.js';
import { SHF, SHN, SHT, STB, STT } from '../elf/constants.js';
import { ElfFile, type ElfSection, type ElfSymbol } from '../elf/reader.js';
import { BPF_MAP_TYPE } from '../sys/constants.js';
import { SpecError } from './error.js';
import { LEGACY_MAP_DEF_SIZE, MapSpec, parseBtfMapDefinition, parseLegacyMapDefinition } from './map.js';
import { ProgramSpec, type CodeSection, type FunctionSymbol } from './program.js';
import type { Reference, SectionRelocation } from './relocation.js';
import { parseSectionName } from './section.js';
import { VariableSpec } from './variable.js';

/** A `__kconfig` or `__ksym` extern declared by the object. */
export interface ExternSpec {
  name: string;
  /** `.kconfig` or `.ksyms`. */
  section: '.kconfig' | '.ksyms';
  /** BTF type of the variable (0 for typeless ksyms), or the FUNC for kfuncs. */
  typeId: number;
  /** Declared `__weak`: may be missing on the running kernel. */
  weak: boolean;
  /** Kernel function (kfunc) rather than a variable. */
  isFunction: boolean;
  /** Offset inside the `.kconfig` map (kconfig only). */
  offset: number;
}

const DATA_SECTION = /^\.(data|bss|rodata)(\..+)?$/;

/** Largest `__kconfig` value we lay out (strings are the longest: CONFIG_* values are short). */
const MAX_KCONFIG_VALUE = 4096;

/**
 * Largest data section (`.data`, `.bss`, `.rodata`…) we lay out as a map value: no kernel takes a
 * larger array value (KMALLOC_MAX_SIZE: 4 MiB with 4 KiB pages, 512 MiB with 64 KiB pages), and a
 * `.bss` has no bytes in the file to bound its size.
 */
const MAX_DATA_SECTION = 512 * 1024 * 1024;

/** The parsed, editable description of a BPF object. */
export class CollectionSpec {
  /** Label of the object (its path) used in error messages. */
  readonly source: string;
  /** Programs by function name. */
  readonly programs: Map<string, ProgramSpec>;
  /** Maps by name (global-data maps by section name, e.g. `.rodata`). */
  readonly maps: Map<string, MapSpec>;
  /** Global variables by name. */
  readonly variables: Map<string, VariableSpec>;
  /** `__kconfig`/`__ksym` externs by name. */
  readonly externs: Map<string, ExternSpec>;
  /** The object's BTF (DATASEC sizes and offsets filled in), if it has any. */
  readonly btf: Btf | undefined;
  /** The object's `.BTF.ext`, if any. */
  readonly btfExt: BtfExt | undefined;
  /** License string (`SEC("license")`). */
  readonly license: string;
  /** `SEC("version")` value, 0 when absent. */
  readonly kernelVersion: number;
  /** Code sections by ELF section index (programs and `.text`). */
  readonly codeSections: Map<number, CodeSection>;
  /** Classified relocations of each code section, by ELF section index then instruction index. */
  readonly relocations: Map<number, Map<number, SectionRelocation>>;
  /** Names of all global symbols (gadget metadata markers are read from here). */
  readonly symbolNames: readonly string[];

  /** @internal Use {@link CollectionSpec.fromFile} or {@link CollectionSpec.fromBuffer}. */
  constructor(init: {
    source: string;
    programs: Map<string, ProgramSpec>;
    maps: Map<string, MapSpec>;
    variables: Map<string, VariableSpec>;
    externs: Map<string, ExternSpec>;
    btf: Btf | undefined;
    btfExt: BtfExt | undefined;
    license: string;
    kernelVersion: number;
    codeSections: Map<number, CodeSection>;
    relocations: Map<number, Map<number, SectionRelocation>>;
    symbolNames: readonly string[];
  }) {
    this.source = init.source;
    this.programs = init.programs;
    this.maps = init.maps;
    this.variables = init.variables;
    this.externs = init.externs;
    this.btf = init.btf;
    this.btfExt = init.btfExt;
    this.license = init.license;
    this.kernelVersion = init.kernelVersion;
    this.codeSections = init.codeSections;
    this.relocations = init.relocations;
    this.symbolNames = init.symbolNames;
  }

  /** Read and parse an object file. */
  static fromFile(path: string): CollectionSpec {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (err) {
      throw new SpecError('OBJECT_UNREADABLE', `cannot read BPF object ${path}: ${(err as Error).message}`, { cause: err });
    }
    return CollectionSpec.fromBuffer(bytes, path);
  }

  /** Parse an object from its bytes. The spec keeps views into `bytes`: do not modify them. */
  static fromBuffer(bytes: Uint8Array, source = '<buffer>'): CollectionSpec {
    return new ObjectParser(ElfFile.parse(bytes, source)).parse();
  }

  /** The program named `name`, or a SpecError listing the available ones. */
  program(name: string): ProgramSpec {
    const p = this.programs.get(name);
    if (!p) throw new SpecError('NO_SUCH_PROGRAM', `${this.source}: no program ${name} (have: ${[...this.programs.keys()].join(', ')})`);
    return p;
  }

  /** The map named `name`, or a SpecError listing the available ones. */
  map(name: string): MapSpec {
    const m = this.maps.get(name);
    if (!m) throw new SpecError('NO_SUCH_MAP', `${this.source}: no map ${name} (have: ${[...this.maps.keys()].join(', ')})`);
    return m;
  }

  /** The variable named `name`, or a SpecError listing the available ones. */
  variable(name: string): VariableSpec {
    const v = this.variables.get(name);
    if (!v) throw new SpecError('NO_SUCH_VARIABLE', `${this.source}: no variable ${name} (have: ${[...this.variables.keys()].join(', ')})`);
    return v;
  }
}

/** One-pass parser from ELF to CollectionSpec. */
class ObjectParser {
  private readonly elf: ElfFile;
  private readonly source: string;
  private readonly symbols: readonly ElfSymbol[];
  private btf: Btf | undefined;
  private btfExt: BtfExt | undefined;

  constructor(elf: ElfFile) {
    this.elf = elf;
    this.source = elf.source;
    this.symbols = elf.symbols();
  }

  parse(): CollectionSpec {
    const license = this.readLicense();
    const kernelVersion = this.readVersion();
    this.readBtf();
    const maps = new Map<string, MapSpec>();
    const variables = new Map<string, VariableSpec>();
    this.readBtfMaps(maps);
    this.readMapSlotInits(maps);
    this.readLegacyMaps(maps);
    this.readDataSections(maps, variables);
    // Most objects declare no externs: skip compiling the extern layout then.
    const externs = this.symbols.some((s) => s.sectionIndex === SHN.UNDEF && s.name !== '' && s.bind !== STB.LOCAL) ? this.readExterns(maps) : new Map<string, ExternSpec>();
    const codeSections = this.readCodeSections();
    const relocations = new Map<number, Map<number, SectionRelocation>>();
    for (const section of codeSections.values()) relocations.set(section.index, this.readRelocations(section, externs));
    const programs = new Map<string, ProgramSpec>();
    for (const section of codeSections.values()) {
      if (section.name === '.text') continue;
      const def = parseSectionName(section.name);
      if (!def) throw new SpecError('UNKNOWN_SECTION', `${this.source}: section ${section.name}: unknown program type (no SEC() prefix matches)`);
      for (const fn of section.functions) {
        if (!fn.global) continue;
        if (programs.has(fn.name)) throw new SpecError('DUPLICATE_PROGRAM', `${this.source}: program ${fn.name} defined twice`);
        programs.set(
          fn.name,
          new ProgramSpec({ name: fn.name, sectionName: section.name, ...def, license, kernelVersion, section, fn }),
        );
      }
    }
    const symbolNames = this.symbols.filter((s) => s.bind !== STB.LOCAL && s.name !== '').map((s) => s.name);
    return new CollectionSpec({
      source: this.source,
      programs,
      maps,
      variables,
      externs,
      btf: this.btf,
      btfExt: this.btfExt,
      license,
      kernelVersion,
      codeSections,
      relocations,
      symbolNames,
    });
  }

  private readLicense(): string {
    const s = this.elf.section('license');
    if (!s) return '';
    const b = this.elf.data(s);
    const end = b.indexOf(0);
    return new TextDecoder().decode(b.subarray(0, end < 0 ? b.length : end));
  }

  private readVersion(): number {
    const s = this.elf.section('version');
    if (!s) return 0;
    const b = this.elf.data(s);
    if (b.byteLength !== 4) throw new SpecError('BAD_VERSION_SECTION', `${this.source}: section version is ${b.byteLength} bytes, expected 4`);
    return new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
  }

  private readBtf(): void {
    const s = this.elf.section('.BTF');
    if (!s) return;
    this.btf = Btf.parse(this.elf.data(s).slice(), { source: `${this.source} (.BTF)` });
    this.fixDatasecs(this.btf);
    const ext = this.elf.section('.BTF.ext');
    if (ext) this.btfExt = parseBtfExt(this.elf.data(ext), this.btf, `${this.source} (.BTF.ext)`);
  }

  /**
   * clang leaves DATASEC sizes and variable offsets for the linker to fill in: take them from the
   * ELF section sizes and symbol values, as every loader does.
   */
  private fixDatasecs(btf: Btf): void {
    // The first symbol of each name per section, as a linear `find` per variable would pick.
    let bySection: Map<number, Map<string, ElfSymbol>> | undefined;
    for (const id of btf.ownIdsOfKind('datasec')) {
      const ds = btf.type(id) as BtfDatasec;
      if (ds.name === '.kconfig' || ds.name === '.ksyms') continue; // laid out by readExterns
      const section = this.elf.section(ds.name);
      if (!section) continue;
      if (!bySection) {
        bySection = new Map();
        for (const sym of this.symbols) {
          let names = bySection.get(sym.sectionIndex);
          if (!names) bySection.set(sym.sectionIndex, (names = new Map()));
          if (!names.has(sym.name)) names.set(sym.name, sym);
        }
      }
      const inSection = bySection.get(section.index);
      const vars = ds.vars.map((v) => {
        const name = btf.name(v.type);
        const sym = inSection?.get(name);
        return sym ? { ...v, offset: sym.value, size: v.size || sym.size } : v;
      });
      this.checkDataSectionSize(section);
      btf.replace(id, { ...ds, size: section.size, vars });
    }
  }

  /** A data section becomes a map value (and its size a DATASEC's): refuse one no kernel would take. */
  private checkDataSectionSize(section: { name: string; size: number }): void {
    if (section.size > MAX_DATA_SECTION) {
      throw new SpecError('BAD_DATASEC', `${this.source}: section ${section.name} is ${section.size} bytes; a map value (which a data section becomes) is at most ${MAX_DATA_SECTION}`);
    }
  }

  private readBtfMaps(maps: Map<string, MapSpec>): void {
    const section = this.elf.section('.maps');
    if (!section) return;
    const btf = this.btf;
    if (!btf) throw new SpecError('MAPS_WITHOUT_BTF', `${this.source}: has a .maps section but no .BTF: compile with -g`);
    const dsId = btf.find('.maps', 'datasec');
    if (dsId === undefined) throw new SpecError('MAPS_WITHOUT_BTF', `${this.source}: no DATASEC .maps in BTF`);
    const ds = btf.type(dsId) as BtfDatasec;
    for (const v of ds.vars) {
      const vt = btf.type(v.type);
      if (vt.kind !== 'var') throw new SpecError('MAP_BAD_DEFINITION', `${this.source}: .maps DATASEC entry ${v.type} is a ${vt.kind}`);
      maps.set(vt.name, parseBtfMapDefinition(btf, vt.name, vt.type, this.source));
    }
  }

  /**
   * `.values = { [i] = &other }` in a BTF map definition leaves 64-bit relocations in `.rel.maps`
   * at the slot's position inside the definition: record which map (or program) goes in each slot.
   */
  private readMapSlotInits(maps: Map<string, MapSpec>): void {
    const section = this.elf.section('.maps');
    const btf = this.btf;
    if (!section || !btf) return;
    const rel = this.elf.relocationSections().find((r) => r.target === section.index);
    if (!rel) return;
    const defs = this.symbols.filter((s) => s.sectionIndex === section.index && s.type !== STT.SECTION && s.name !== '');
    for (const r of this.elf.relocations(rel.section)) {
      const def = defs.find((d) => r.offset >= d.value && r.offset < d.value + d.size);
      const map = def && maps.get(def.name);
      if (!def || !map) throw new SpecError('BAD_RELOCATION', `${this.source}: relocation at byte ${r.offset} of .maps is outside every map definition`);
      const varId = btf.find(def.name, 'var');
      const v = varId === undefined ? undefined : btf.type(varId);
      const defType = v?.kind === 'var' ? btf.type(btf.underlying(v.type)) : undefined;
      const values = defType?.kind === 'struct' ? defType.members.find((m) => m.name === 'values') : undefined;
      if (!values) throw new SpecError('BAD_RELOCATION', `${this.source}: map ${def.name} has a relocation but no values member`);
      const slot = (r.offset - def.value - values.bitOffset / 8) / 8;
      const target = this.symbols[r.symbolIndex];
      if (!Number.isInteger(slot) || slot < 0) throw new SpecError('BAD_RELOCATION', `${this.source}: map ${def.name}: relocation at byte ${r.offset} is not on a values slot`);
      map.slots.set(slot, target.name);
    }
  }

  private readLegacyMaps(maps: Map<string, MapSpec>): void {
    const section = this.elf.section('maps');
    if (!section) return;
    const data = this.elf.data(section);
    const syms = this.symbols.filter((s) => s.sectionIndex === section.index && s.type !== STT.SECTION && s.name !== '');
    for (const sym of syms) {
      const size = sym.size || LEGACY_MAP_DEF_SIZE;
      if (sym.value + size > data.byteLength) {
        throw new SpecError('MAP_BAD_DEFINITION', `${this.source}: legacy map ${sym.name} at offset ${sym.value} extends past section maps`);
      }
      maps.set(sym.name, parseLegacyMapDefinition(sym.name, data.subarray(sym.value, sym.value + size), this.source));
    }
  }

  private readDataSections(maps: Map<string, MapSpec>, variables: Map<string, VariableSpec>): void {
    for (const section of this.elf.sections) {
      if (!DATA_SECTION.test(section.name) || (section.flags & BigInt(SHF.ALLOC)) === 0n) continue;
      if (section.size === 0) continue;
      this.checkDataSectionSize(section);
      const readOnly = section.name.startsWith('.rodata');
      const contents = section.type === SHT.NOBITS ? new Uint8Array(section.size) : this.elf.data(section).slice();
      let valueTypeId = 0;
      const btf = this.btf;
      const dsId = btf?.find(section.name, 'datasec');
      if (dsId !== undefined) valueTypeId = dsId;
      const map = new MapSpec({
        name: section.name,
        type: BPF_MAP_TYPE.ARRAY,
        keySize: 4,
        valueSize: section.size,
        maxEntries: 1,
        btf,
        keyTypeId: 0,
        valueTypeId,
        contents,
        freeze: readOnly,
        origin: 'data',
        sectionName: section.name,
      });
      maps.set(section.name, map);
      if (btf && dsId !== undefined) {
        for (const v of (btf.type(dsId) as BtfDatasec).vars) {
          const vt = btf.type(v.type);
          if (vt.kind !== 'var') continue;
          if (v.offset + v.size > section.size) {
            throw new SpecError('BAD_DATASEC', `${this.source}: variable ${vt.name} (offset ${v.offset}, ${v.size} bytes) lies outside ${section.name}`);
          }
          variables.set(vt.name, new VariableSpec({ name: vt.name, map, offset: v.offset, size: v.size, typeId: vt.type, btf }));
        }
      }
    }
  }

  /** `.kconfig` externs get a frozen array map laid out here; `.ksyms` are resolved at load. */
  private readExterns(maps: Map<string, MapSpec>): Map<string, ExternSpec> {
    const externs = new Map<string, ExternSpec>();
    const btf = this.btf;
    const undefinedSyms = this.symbols.filter((s) => s.sectionIndex === SHN.UNDEF && s.name !== '' && s.bind !== STB.LOCAL);
    if (undefinedSyms.length === 0) return externs;
    if (!btf) throw new SpecError('EXTERN_WITHOUT_BTF', `${this.source}: extern ${undefinedSyms[0].name} needs BTF: compile with -g`);
    const datasecOf = (name: '.kconfig' | '.ksyms'): { id: number; ds: BtfDatasec } | undefined => {
      const id = btf.find(name, 'datasec');
      return id === undefined ? undefined : { id, ds: btf.type(id) as BtfDatasec };
    };
    let kconfigSize = 0;
    const kconfig = datasecOf('.kconfig');
    if (kconfig) {
      const vars = kconfig.ds.vars.map((v) => {
        const vt = btf.type(v.type);
        if (vt.kind !== 'var') return v;
        const size = btf.sizeof(vt.type);
        if (size > MAX_KCONFIG_VALUE) {
          throw new SpecError('BAD_EXTERN', `${this.source}: kconfig ${vt.name} is ${size} bytes; a kconfig value is at most ${MAX_KCONFIG_VALUE}`);
        }
        const align = Math.min(8, btf.alignof(vt.type));
        kconfigSize = Math.ceil(kconfigSize / align) * align;
        const sym = undefinedSyms.find((s) => s.name === vt.name);
        externs.set(vt.name, { name: vt.name, section: '.kconfig', typeId: vt.type, weak: sym?.bind === STB.WEAK, isFunction: false, offset: kconfigSize });
        const placed = { ...v, offset: kconfigSize, size };
        kconfigSize += size;
        return placed;
      });
      kconfigSize = Math.max(8, Math.ceil(kconfigSize / 8) * 8);
      btf.replace(kconfig.id, { ...kconfig.ds, size: kconfigSize, vars });
      maps.set(
        '.kconfig',
        new MapSpec({
          name: '.kconfig',
          type: BPF_MAP_TYPE.ARRAY,
          keySize: 4,
          valueSize: kconfigSize,
          maxEntries: 1,
          btf,
          valueTypeId: kconfig.id,
          contents: new Uint8Array(kconfigSize),
          freeze: true,
          origin: 'kconfig',
          sectionName: '.kconfig',
        }),
      );
    }
    const ksyms = datasecOf('.ksyms');
    if (ksyms) {
      for (const v of ksyms.ds.vars) {
        const vt: BtfType = btf.type(v.type);
        if (vt.kind !== 'var' && vt.kind !== 'func') continue;
        const sym = undefinedSyms.find((s) => s.name === vt.name);
        const isFunction = vt.kind === 'func';
        const typeless = vt.kind === 'var' && btf.kind(btf.skipQualifiers(vt.type)) === 'void';
        externs.set(vt.name, { name: vt.name, section: '.ksyms', typeId: typeless ? 0 : vt.type, weak: sym?.bind === STB.WEAK, isFunction, offset: 0 });
      }
    }
    // kfuncs are FUNCs with extern linkage that may sit outside any DATASEC.
    for (const sym of undefinedSyms) {
      if (externs.has(sym.name)) continue;
      const fn = btf.find(sym.name, 'func');
      if (fn !== undefined) externs.set(sym.name, { name: sym.name, section: '.ksyms', typeId: fn, weak: sym.bind === STB.WEAK, isFunction: true, offset: 0 });
    }
    return externs;
  }

  private readCodeSections(): Map<number, CodeSection> {
    const out = new Map<number, CodeSection>();
    for (const section of this.elf.sections) {
      if (section.type !== SHT.PROGBITS || (section.flags & BigInt(SHF.EXECINSTR)) === 0n || section.size === 0) continue;
      if (section.size % 8 !== 0) throw new SpecError('BAD_CODE_SECTION', `${this.source}: section ${section.name} is ${section.size} bytes, not a whole number of instructions`);
      const insns = new Insns(this.elf.data(section));
      const functions: FunctionSymbol[] = this.symbols
        .filter((s) => s.sectionIndex === section.index && s.type === STT.FUNC)
        .map((s) => {
          if (s.value % 8 !== 0 || s.size % 8 !== 0 || s.value + s.size > section.size) {
            throw new SpecError('BAD_FUNCTION_SYMBOL', `${this.source}: function ${s.name} (offset ${s.value}, ${s.size} bytes) does not fit section ${section.name}`);
          }
          return { name: s.name, start: s.value / 8, end: (s.value + s.size) / 8, global: s.bind !== STB.LOCAL };
        })
        .sort((a, b) => a.start - b.start);
      out.set(section.index, { index: section.index, name: section.name, insns, functions });
    }
    return out;
  }

  private readRelocations(section: CodeSection, externs: Map<string, ExternSpec>): Map<number, SectionRelocation> {
    const out = new Map<number, SectionRelocation>();
    for (const { section: rel, target } of this.elf.relocationSections()) {
      if (target !== section.index) continue;
      for (const r of this.elf.relocations(rel)) {
        if (r.offset % 8 !== 0 || r.offset / 8 >= section.insns.length) {
          throw new SpecError('BAD_RELOCATION', `${this.source}: relocation at byte ${r.offset} of ${section.name} is not on an instruction`);
        }
        const insnIndex = r.offset / 8;
        const sym = this.symbols[r.symbolIndex];
        out.set(insnIndex, { insnIndex, ref: this.classify(section, insnIndex, sym, externs) });
      }
    }
    return out;
  }

  private classify(section: CodeSection, i: number, sym: ElfSymbol, externs: Map<string, ExternSpec>): Reference {
    const insns = section.insns;
    const where = `${this.source}: section ${section.name}, instruction ${i}`;
    const isLd = insns.isLdImm64(i);
    const isCall = insns.isCall(i);
    if (sym.sectionIndex === SHN.UNDEF) {
      const ext = externs.get(sym.name);
      if (!ext) throw new SpecError('UNKNOWN_EXTERN', `${where}: reference to undefined symbol ${sym.name} (not a __kconfig or __ksym extern)`);
      if (ext.section === '.kconfig') {
        if (!isLd) throw new SpecError('BAD_RELOCATION', `${where}: kconfig ${sym.name} used by a non-ld_imm64 instruction`);
        return { kind: 'kconfig', name: sym.name };
      }
      if (ext.isFunction) {
        if (!isCall) throw new SpecError('BAD_RELOCATION', `${where}: kfunc ${sym.name} referenced by a non-call instruction`);
        return { kind: 'kfunc', name: sym.name, weak: ext.weak };
      }
      if (!isLd) throw new SpecError('BAD_RELOCATION', `${where}: ksym ${sym.name} used by a non-ld_imm64 instruction`);
      return { kind: 'ksym', name: sym.name, typed: ext.typeId !== 0, weak: ext.weak };
    }
    const target: ElfSection | undefined = this.elf.sections[sym.sectionIndex];
    if (!target) throw new SpecError('BAD_RELOCATION', `${where}: symbol ${sym.name} is in section ${sym.sectionIndex}, which does not exist`);
    if (target.name === '.maps' || target.name === 'maps') {
      if (!isLd) throw new SpecError('BAD_RELOCATION', `${where}: map ${sym.name} used by a non-ld_imm64 instruction`);
      const name = sym.type === STT.SECTION ? this.mapAtOffset(target, insns.imm(i)) : sym.name;
      return { kind: 'map', map: name };
    }
    if (DATA_SECTION.test(target.name)) {
      if (!isLd) throw new SpecError('BAD_RELOCATION', `${where}: global data ${sym.name || target.name} used by a non-ld_imm64 instruction`);
      return { kind: 'data', map: target.name, offset: sym.value + insns.imm(i) };
    }
    if ((target.flags & BigInt(SHF.EXECINSTR)) !== 0n) {
      if (isCall) {
        if (insns.src(i) !== BPF_PSEUDO_CALL) throw new SpecError('BAD_RELOCATION', `${where}: relocation on a helper call`);
        const t = sym.type === STT.SECTION ? sym.value / 8 + insns.imm(i) + 1 : sym.value / 8;
        return { kind: 'call', section: target.index, target: t, symbol: sym.name || target.name };
      }
      if (isLd) {
        const t = (sym.value + insns.imm(i)) / 8;
        return { kind: 'call', section: target.index, target: t, symbol: sym.name || target.name };
      }
    }
    throw new SpecError('BAD_RELOCATION', `${where}: unsupported relocation against ${sym.name || '(section symbol)'} in section ${target.name}`);
  }

  private mapAtOffset(section: ElfSection, offset: number): string {
    const sym = this.symbols.find((s) => s.sectionIndex === section.index && s.type !== STT.SECTION && s.value === offset);
    if (!sym) throw new SpecError('BAD_RELOCATION', `${this.source}: no map at offset ${offset} of ${section.name}`);
    return sym.name;
  }
}

/** Insert a pseudo-call relocation for calls clang resolved itself (static callee in the same section). */
export function implicitCallTarget(section: CodeSection, i: number): number | undefined {
  const insns = section.insns;
  if (insns.opcode(i) !== CALL || insns.src(i) !== BPF_PSEUDO_CALL) return undefined;
  return i + insns.imm(i) + 1;
}

