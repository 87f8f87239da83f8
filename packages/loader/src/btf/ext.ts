/**
 * `.BTF.ext`: per-instruction metadata clang emits next to `.BTF` — function info, line info and
 * CO-RE relocations, grouped by ELF section — plus the encoders PROG_LOAD wants for the first two.
 *
 * On the wire `insn_off` is a byte offset into the section; here it is an instruction index
 * (bytes / 8), which is also what the kernel expects in `bpf_func_info`/`bpf_line_info`.
 */
import type { Btf } from './btf.js';
import { BtfError } from './error.js';

const EXT_MAGIC = 0xeb9f;
/** Header size up to and including the line-info fields (the original layout). */
const EXT_HEADER_MIN = 24;
/** Header size once CO-RE relocation fields exist. */
const EXT_HEADER_CORE = 32;
const INSN_SIZE = 8;

/** Size of `struct bpf_func_info`. */
export const FUNC_INFO_SIZE = 8;
/** Size of `struct bpf_line_info`. */
export const LINE_INFO_SIZE = 16;
/** Size of `struct bpf_core_relo`. */
export const CORE_RELO_SIZE = 16;

/** One `bpf_func_info`: the BTF FUNC describing the function starting at an instruction. */
export interface BtfFuncInfo {
  /** Instruction index inside the ELF section (or program, after relocation). */
  insnIndex: number;
  /** BTF id of the FUNC type. */
  typeId: number;
}

/** One `bpf_line_info`: source position of an instruction. */
export interface BtfLineInfo {
  /** Instruction index inside the ELF section. */
  insnIndex: number;
  /** BTF string offset of the file name. */
  fileNameOff: number;
  /** BTF string offset of the source line text. */
  lineOff: number;
  /** The file name, resolved. */
  fileName: string;
  /** The source line text, resolved. */
  line: string;
  /** 1-based line number (`line_col >> 10`). */
  lineNumber: number;
  /** Column (`line_col & 0x3ff`). */
  column: number;
}

/** One `bpf_core_relo`. `kind` is a `bpf_core_relo_kind` number. */
export interface BtfCoreRelo {
  /** Instruction index inside the ELF section. */
  insnIndex: number;
  /** Root type id in the object's BTF. */
  typeId: number;
  /** Access string, e.g. `0:1:2`. */
  accessString: string;
  /** `BPF_CORE_*` relocation kind. */
  kind: number;
}

/** Parsed `.BTF.ext`, keyed by ELF section name (e.g. `tracepoint/syscalls/sys_enter_open`, `.text`). */
export interface BtfExt {
  /** Function boundaries and their BTF FUNC types, per section. */
  funcInfo: Map<string, BtfFuncInfo[]>;
  /** Source lines of instructions, per section, in instruction order. */
  lineInfo: Map<string, BtfLineInfo[]>;
  /** CO-RE relocations, per section (empty for objects built without CO-RE). */
  coreRelos: Map<string, BtfCoreRelo[]>;
}

/**
 * Parse a `.BTF.ext` section. Strings (section names, file names, lines, access strings) are
 * resolved through `btf`, the object's `.BTF`. Records larger than known are accepted (trailing
 * fields skipped), smaller ones rejected.
 * @throws BtfError BTF_TRUNCATED, BTF_BAD_MAGIC, BTF_BAD_EXT, BTF_BAD_STRING
 */
export function parseBtfExt(bytes: Uint8Array, btf: Btf, source = '<.BTF.ext>'): BtfExt {
  if (bytes.length < 8) throw new BtfError('BTF_TRUNCATED', `.BTF.ext of ${bytes.length} bytes is shorter than its header`, { source, offset: 0 });
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = dv.getUint16(0, true);
  if (magic !== EXT_MAGIC) throw new BtfError('BTF_BAD_MAGIC', `.BTF.ext magic 0x${magic.toString(16)} is not 0xeb9f`, { source, offset: 0 });
  if (dv.getUint8(2) !== 1) throw new BtfError('BTF_BAD_EXT', `unsupported .BTF.ext version ${dv.getUint8(2)}`, { source, offset: 2 });
  const hdrLen = dv.getUint32(4, true);
  if (hdrLen < EXT_HEADER_MIN) throw new BtfError('BTF_BAD_EXT', `.BTF.ext header length ${hdrLen} is below ${EXT_HEADER_MIN}`, { source, offset: 4 });
  if (hdrLen > bytes.length) throw new BtfError('BTF_TRUNCATED', `.BTF.ext header length ${hdrLen} exceeds the ${bytes.length}-byte section`, { source, offset: 4 });

  const sub = (offField: number, what: string): { start: number; len: number } | undefined => {
    const off = dv.getUint32(offField, true);
    const len = dv.getUint32(offField + 4, true);
    if (len === 0) return undefined;
    if (hdrLen + off + len > bytes.length) {
      throw new BtfError('BTF_TRUNCATED', `${what} [${off}, +${len}) runs past the end of .BTF.ext`, { source, offset: offField });
    }
    return { start: hdrLen + off, len };
  };

  // Line info repeats the same file name (and often the same line) hundreds of times.
  const strings = new Map<number, string>();
  const str = (off: number, at: number): string => {
    const known = strings.get(off);
    if (known !== undefined) return known;
    try {
      const s = btf.string(off);
      strings.set(off, s);
      return s;
    } catch (e) {
      throw new BtfError('BTF_BAD_STRING', `string offset ${off} is outside the BTF string table`, { source, offset: at }, { cause: e });
    }
  };

  /** Walk one info block: rec_size, then (sec_name_off, num_info, records…) groups. */
  const walk = <T>(
    range: { start: number; len: number } | undefined,
    what: string,
    minRec: number,
    decode: (at: number) => T,
  ): Map<string, T[]> => {
    const out = new Map<string, T[]>();
    if (!range) return out;
    const end = range.start + range.len;
    if (range.len < 4) throw new BtfError('BTF_TRUNCATED', `${what} block has no record size`, { source, offset: range.start });
    const recSize = dv.getUint32(range.start, true);
    if (recSize < minRec) throw new BtfError('BTF_BAD_EXT', `${what} record size ${recSize} is below ${minRec}`, { source, offset: range.start });
    let p = range.start + 4;
    while (p < end) {
      if (p + 8 > end) throw new BtfError('BTF_TRUNCATED', `${what} section header cut short`, { source, offset: p });
      const secName = str(dv.getUint32(p, true), p);
      const num = dv.getUint32(p + 4, true);
      p += 8;
      if (num * recSize > end - p) {
        throw new BtfError('BTF_TRUNCATED', `${what} of section ${secName}: ${num} records of ${recSize} bytes run past the block`, { source, offset: p });
      }
      const list = out.get(secName) ?? [];
      for (let i = 0; i < num; i++, p += recSize) list.push(decode(p));
      out.set(secName, list);
    }
    return out;
  };

  const insn = (at: number, what: string): number => {
    const off = dv.getUint32(at, true);
    if (off % INSN_SIZE !== 0) throw new BtfError('BTF_BAD_EXT', `${what} insn_off ${off} is not a multiple of ${INSN_SIZE}`, { source, offset: at });
    return off / INSN_SIZE;
  };

  const funcInfo = walk(sub(8, 'func_info'), 'func_info', FUNC_INFO_SIZE, (at) => ({
    insnIndex: insn(at, 'func_info'),
    typeId: dv.getUint32(at + 4, true),
  }));
  const lineInfo = walk(sub(16, 'line_info'), 'line_info', LINE_INFO_SIZE, (at) => {
    const fileNameOff = dv.getUint32(at + 4, true);
    const lineOff = dv.getUint32(at + 8, true);
    const lineCol = dv.getUint32(at + 12, true);
    return {
      insnIndex: insn(at, 'line_info'),
      fileNameOff,
      lineOff,
      fileName: str(fileNameOff, at + 4),
      line: str(lineOff, at + 8),
      lineNumber: lineCol >>> 10,
      column: lineCol & 0x3ff,
    };
  });
  const coreRelos =
    hdrLen >= EXT_HEADER_CORE
      ? walk(sub(24, 'core_relo'), 'core_relo', CORE_RELO_SIZE, (at) => ({
          insnIndex: insn(at, 'core_relo'),
          typeId: dv.getUint32(at + 4, true),
          accessString: str(dv.getUint32(at + 8, true), at + 8),
          kind: dv.getUint32(at + 12, true),
        }))
      : new Map<string, BtfCoreRelo[]>();
  return { funcInfo, lineInfo, coreRelos };
}

/** Encode `bpf_func_info` records for BPF_PROG_LOAD (`insn_off` in instructions). */
export function encodeFuncInfo(records: readonly Pick<BtfFuncInfo, 'insnIndex' | 'typeId'>[]): Uint8Array {
  const out = new Uint8Array(records.length * FUNC_INFO_SIZE);
  const dv = new DataView(out.buffer);
  records.forEach((r, i) => {
    dv.setUint32(i * FUNC_INFO_SIZE, r.insnIndex, true);
    dv.setUint32(i * FUNC_INFO_SIZE + 4, r.typeId, true);
  });
  return out;
}

/** Encode `bpf_line_info` records for BPF_PROG_LOAD (`insn_off` in instructions). */
export function encodeLineInfo(
  records: readonly Pick<BtfLineInfo, 'insnIndex' | 'fileNameOff' | 'lineOff' | 'lineNumber' | 'column'>[],
): Uint8Array {
  const out = new Uint8Array(records.length * LINE_INFO_SIZE);
  const dv = new DataView(out.buffer);
  records.forEach((r, i) => {
    const o = i * LINE_INFO_SIZE;
    dv.setUint32(o, r.insnIndex, true);
    dv.setUint32(o + 4, r.fileNameOff, true);
    dv.setUint32(o + 8, r.lineOff, true);
    dv.setUint32(o + 12, ((r.lineNumber << 10) | (r.column & 0x3ff)) >>> 0, true);
  });
  return out;
}
