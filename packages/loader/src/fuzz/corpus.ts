/**
 * The inputs the fuzzer starts from: every committed BPF object (bpf/**\/*.bpf.o) and the running
 * kernel's BTF, each with a map of where its structures live (section headers, symbols,
 * relocations, BTF type records, .BTF.ext sub-sections) so mutations can aim at fields that mean
 * something instead of only flipping random bytes.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** A byte range inside an input. */
export interface Range {
  start: number;
  size: number;
}

/** One section header as the fuzzer sees it. */
export interface SectionInfo extends Range {
  index: number;
  name: string;
  type: number;
  /** File offset of the section header itself. */
  headerOffset: number;
  entsize: number;
}

/** A BTF blob with its type records framed. */
export interface BtfInfo {
  /** Offset of the BTF header inside the containing bytes. */
  base: number;
  hdrLen: number;
  typeStart: number;
  typeLen: number;
  strStart: number;
  strLen: number;
  /** Offsets (relative to the containing bytes) of each type record; index = type id − 1. */
  records: number[];
}

/** A committed object file. */
export interface ObjectInput {
  name: string;
  bytes: Uint8Array;
  sections: SectionInfo[];
  /** Code sections (SHT_PROGBITS with SHF_EXECINSTR). */
  code: SectionInfo[];
  symtab: SectionInfo | undefined;
  rels: SectionInfo[];
  btf: BtfInfo | undefined;
  btfSection: SectionInfo | undefined;
  btfExt: SectionInfo | undefined;
}

/** Everything the fuzzer mutates. */
export interface Corpus {
  objects: ObjectInput[];
  /** Raw kernel BTF (`/sys/kernel/btf/vmlinux`), when readable. */
  kernelBtf: { bytes: Uint8Array; info: BtfInfo } | undefined;
}

const SHT_PROGBITS = 1;
const SHT_SYMTAB = 2;
const SHT_REL = 9;
const SHF_EXECINSTR = 4n;

/** The repository root: the nearest ancestor of `from` (or of the cwd) holding `bpf/gadgets`. */
export function findRepoRoot(...from: string[]): string | undefined {
  for (const start of [...from, process.cwd()]) {
    let dir = resolve(start);
    for (;;) {
      if (existsSync(join(dir, 'bpf', 'gadgets'))) return dir;
      const up = dirname(dir);
      if (up === dir) break;
      dir = up;
    }
  }
  return undefined;
}

/** Every `*.bpf.o` under `dir`, recursively, sorted. */
export function findObjects(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const entry of readdirSync(d)) {
      if (entry === 'node_modules' || entry.startsWith('.')) continue;
      const p = join(d, entry);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (entry.endsWith('.bpf.o')) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

/** Per-kind size of the data that follows a 12-byte BTF type header. */
export function btfRecordTail(kind: number, vlen: number): number | undefined {
  switch (kind) {
    case 1: // INT
      return 4;
    case 2: // PTR
    case 7: // FWD
    case 8: // TYPEDEF
    case 9: // VOLATILE
    case 10: // CONST
    case 11: // RESTRICT
    case 12: // FUNC
    case 16: // FLOAT
    case 18: // TYPE_TAG
      return 0;
    case 3: // ARRAY
      return 12;
    case 4: // STRUCT
    case 5: // UNION
      return 12 * vlen;
    case 6: // ENUM
      return 8 * vlen;
    case 13: // FUNC_PROTO
      return 8 * vlen;
    case 14: // VAR
      return 4;
    case 15: // DATASEC
      return 12 * vlen;
    case 17: // DECL_TAG
      return 4;
    case 19: // ENUM64
      return 12 * vlen;
    default:
      return undefined;
  }
}

/** Frame a BTF blob found at `base` inside `bytes`; undefined when it does not look like BTF. */
export function frameBtf(bytes: Uint8Array, base: number): BtfInfo | undefined {
  if (base + 24 > bytes.length) return undefined;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint16(base, true) !== 0xeb9f) return undefined;
  const hdrLen = dv.getUint32(base + 4, true);
  const typeStart = base + hdrLen + dv.getUint32(base + 8, true);
  const typeLen = dv.getUint32(base + 12, true);
  const strStart = base + hdrLen + dv.getUint32(base + 16, true);
  const strLen = dv.getUint32(base + 20, true);
  const records: number[] = [];
  let off = typeStart;
  while (off + 12 <= typeStart + typeLen && off + 12 <= bytes.length) {
    records.push(off);
    const info = dv.getUint32(off + 4, true);
    const tail = btfRecordTail((info >>> 24) & 0x1f, info & 0xffff);
    if (tail === undefined) break;
    off += 12 + tail;
  }
  return { base, hdrLen, typeStart, typeLen, strStart, strLen, records };
}

function readSections(bytes: Uint8Array): SectionInfo[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shoff = Number(dv.getBigUint64(0x28, true));
  const shentsize = dv.getUint16(0x3a, true);
  const shnum = dv.getUint16(0x3c, true);
  const shstrndx = dv.getUint16(0x3e, true);
  const raw = [];
  for (let i = 0; i < shnum; i++) {
    const h = shoff + i * shentsize;
    raw.push({
      index: i,
      headerOffset: h,
      nameOff: dv.getUint32(h, true),
      type: dv.getUint32(h + 4, true),
      flags: dv.getBigUint64(h + 8, true),
      start: Number(dv.getBigUint64(h + 0x18, true)),
      size: Number(dv.getBigUint64(h + 0x20, true)),
      entsize: Number(dv.getBigUint64(h + 0x38, true)),
    });
  }
  const strtab = raw[shstrndx];
  const nameOf = (off: number): string => {
    if (!strtab) return '';
    let end = strtab.start + off;
    while (end < bytes.length && bytes[end] !== 0) end++;
    return Buffer.from(bytes.subarray(strtab.start + off, end)).toString('latin1');
  };
  return raw.map((s) => ({ index: s.index, headerOffset: s.headerOffset, name: nameOf(s.nameOff), type: s.type, start: s.start, size: s.size, entsize: s.entsize, flags: s.flags }));
}

/** Read one object and map its structures. */
export function loadObject(path: string, name = path): ObjectInput {
  const bytes = new Uint8Array(readFileSync(path));
  const all = readSections(bytes) as (SectionInfo & { flags: bigint })[];
  const sections: SectionInfo[] = all.map(({ flags: _flags, ...s }) => s);
  const code = all.filter((s) => s.type === SHT_PROGBITS && (s.flags & SHF_EXECINSTR) !== 0n && s.size > 0).map(({ flags: _f, ...s }) => s);
  const btfSection = sections.find((s) => s.name === '.BTF');
  return {
    name,
    bytes,
    sections,
    code,
    symtab: sections.find((s) => s.type === SHT_SYMTAB),
    rels: sections.filter((s) => s.type === SHT_REL && s.size > 0),
    btf: btfSection ? frameBtf(bytes, btfSection.start) : undefined,
    btfSection,
    btfExt: sections.find((s) => s.name === '.BTF.ext'),
  };
}

/** Load the corpus: objects under `<root>/bpf` and, when readable, the kernel's BTF. */
export function loadCorpus(options: { root?: string; kernelBtfPath?: string | null } = {}): Corpus {
  const root = options.root ?? findRepoRoot();
  if (!root) throw new Error('cannot find the repository root (a directory with bpf/gadgets); pass --root');
  const objects = findObjects(join(root, 'bpf')).map((p) => loadObject(p, p.slice(root.length + 1)));
  let kernelBtf: Corpus['kernelBtf'];
  const kpath = options.kernelBtfPath === undefined ? '/sys/kernel/btf/vmlinux' : options.kernelBtfPath;
  if (kpath !== null && existsSync(kpath)) {
    const bytes = new Uint8Array(readFileSync(kpath));
    const info = frameBtf(bytes, 0);
    if (info) kernelBtf = { bytes, info };
  }
  return { objects, kernelBtf };
}
