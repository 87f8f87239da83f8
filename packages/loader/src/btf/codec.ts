/**
 * BTF-driven value codecs: turn the bytes of a BTF-described C object into a plain JS value and back.
 *
 * A codec is compiled once per (type id, options) into a tree of small closures that capture every
 * offset, size, enumerator table and string rule up front, so decoding an event does no BTF lookup,
 * no name resolution and no per-field branching on kinds: it only reads the DataView.
 *
 * Value mapping (decode; encode is the inverse and checks every JS value it is handed):
 * - ints of 1, 2 or 4 bytes → `number` (signed per the BTF encoding); 8 bytes → `bigint`, or a
 *   `number` when it is a safe integer under `int64: 'number-if-safe'`; 16 bytes → `bigint`;
 * - `bool` → `boolean`;
 * - arrays of `char` → `string`, cut at the first NUL. UTF-8 by default, where each byte that is not
 *   part of a valid sequence becomes the lone surrogate U+DC80+byte ("surrogate escape"): nothing is
 *   replaced or lost, the sanitizers show it as `\xNN`, and encoding turns it back into the byte.
 *   `charEncoding: 'latin1'` maps each byte to U+0000..U+00FF instead; `charArrays: 'bytes'` yields a
 *   copied `Uint8Array` of the whole array;
 * - other arrays → JS arrays; structs → objects (bitfields decoded, anonymous members flattened the
 *   way C exposes them); unions → an object with every member decoded over the same bytes;
 * - enums → the enumerator name (an unknown value → the number), or the number under
 *   `enums: 'value'`; an enum whose type name ends in `_set` (Inspektor Gadget's convention for bit
 *   sets) → the names of its enumerators whose bits are all set, plus `0x…` for leftover bits;
 * - pointers → `bigint` address; floats → `number`; typedefs, qualifiers and variables are
 *   transparent; a DATASEC → an object of its variables.
 *
 * Compiled codecs are cached per `Btf` object; compile after the BTF is final (a later
 * `Btf.replace` of a type a codec depends on is not seen by an already compiled codec).
 * Multi-byte values are little-endian (the byte order of every BPF target tsbpf supports).
 */
import { TsbpfError } from '../errors.js';
import type { Btf } from './btf.js';
import type { BtfEnum, BtfEnum64, BtfInt, BtfMember, BtfType } from './types.js';

// ---------------------------------------------------------------- errors

/** Stable codes of {@link CodecError}. */
export type CodecErrorCode =
  /** The type (or a type inside it) has no value representation: void, function, forward declaration. */
  | 'CODEC_UNSUPPORTED_TYPE'
  /** A JS value of the wrong type was handed to an encoder. */
  | 'CODEC_WRONG_TYPE'
  /** A JS value does not fit the C type (integer range, string or array length). */
  | 'CODEC_OUT_OF_RANGE'
  /** An object handed to a struct encoder has a key the struct does not have. */
  | 'CODEC_UNKNOWN_FIELD'
  /** The buffer is shorter than the type. */
  | 'CODEC_SHORT_BUFFER';

/**
 * A value that cannot be encoded or decoded as the BTF type says. {@link CodecError.path} names the
 * field (`event.comm`, `args[3].flags`), {@link CodecError.typeId} the BTF type of the whole value.
 */
export class CodecError extends TsbpfError {
  /** The error family. */
  declare readonly code: CodecErrorCode;
  /** Dotted path of the offending field inside the value; the root is the type's name or `value`. */
  readonly path: string;
  /** The BTF type id the codec was compiled for. */
  readonly typeId: number;

  constructor(code: CodecErrorCode, path: string, typeId: number, problem: string) {
    super(code, `${path} (type ${typeId}): ${problem}`);
    this.path = path;
    this.typeId = typeId;
  }

  /** The same error with the last unresolved array index (`[*]`) of its path replaced by `index`. */
  withIndex(index: number): CodecError {
    const at = this.path.lastIndexOf('[*]');
    if (at < 0) return this;
    const path = `${this.path.slice(0, at)}[${index}]${this.path.slice(at + 3)}`;
    const problem = this.message.slice(this.message.indexOf('): ') + 3);
    const e = new CodecError(this.code, path, this.typeId, problem);
    e.stack = this.stack;
    return e;
  }
}

// ---------------------------------------------------------------- options and public types

/** How a codec maps values; every option has a default. */
export interface CodecOptions {
  /** 64-bit integers: always `bigint` (default) or a `number` whenever it is a safe integer. */
  int64?: 'bigint' | 'number-if-safe';
  /** Text encoding of `char` arrays: `'utf8'` with surrogate-escaped invalid bytes (default) or `'latin1'`. */
  charEncoding?: 'utf8' | 'latin1';
  /** `char` arrays as text (default) or as a copied `Uint8Array` of the whole array. */
  charArrays?: 'string' | 'bytes';
  /** Enums as enumerator names (default; bit sets as name lists) or as their raw numeric value. */
  enums?: 'name' | 'value';
  /**
   * Show `_set` enumerators without their prefix: everything up to and including the first `__`
   * (when not at position 0) is dropped, `CAP_SET__CAP_SYS_ADMIN` → `CAP_SYS_ADMIN` — the
   * convention of tsbpf's gadget headers, since C forbids two enums sharing enumerator names.
   * Encoders accept both spellings either way. Default false.
   */
  stripSetPrefix?: boolean;
  /**
   * Generate specialized struct decoders with `new Function` (default true, several times faster).
   * With false, or when the runtime forbids code generation, generic closures are used instead.
   */
  codegen?: boolean;
}

/** A compiled decoder: reads the value at `offset` (default 0) of `view`. */
export type Decoder = (view: DataView, offset?: number) => unknown;

/** A compiled encoder: writes `value` at `offset` (default 0) of `out`, zeroing padding and unset fields. */
export type Encoder = (value: unknown, out: DataView, offset?: number) => void;

/** `c` is the caller's context of a shaped decoder (see {@link compileShapedDecoder}), passed down to member formatters. */
type Dec = (v: DataView, o: number, c?: unknown) => unknown;
type Enc = (value: unknown, v: DataView, o: number) => void;

interface ResolvedOptions {
  int64: 'bigint' | 'number-if-safe';
  charEncoding: 'utf8' | 'latin1';
  charArrays: 'string' | 'bytes';
  enums: 'name' | 'value';
  stripSetPrefix: boolean;
  codegen: boolean;
}

function resolveOptions(o: CodecOptions | undefined): ResolvedOptions {
  return {
    int64: o?.int64 ?? 'bigint',
    charEncoding: o?.charEncoding ?? 'utf8',
    charArrays: o?.charArrays ?? 'string',
    enums: o?.enums ?? 'name',
    stripSetPrefix: o?.stripSetPrefix ?? false,
    codegen: o?.codegen ?? true,
  };
}

function optionsKey(o: ResolvedOptions): string {
  return `${o.int64}|${o.charEncoding}|${o.charArrays}|${o.enums}|${o.stripSetPrefix}|${o.codegen}`;
}

// ---------------------------------------------------------------- type helpers

const QUALIFIERS = new Set(['typedef', 'volatile', 'const', 'restrict', 'type_tag']);

/** Follows typedefs, qualifiers and type tags; bounded so a malformed cycle cannot hang. */
function resolve(btf: Btf, id: number, rootId: number, path: string): { id: number; type: BtfType } {
  let cur = id;
  for (let steps = 0; steps <= btf.typeCount + 1; steps++) {
    const t = btf.type(cur);
    if (!QUALIFIERS.has(t.kind)) return { id: cur, type: t };
    cur = (t as { type: number }).type;
  }
  throw new CodecError('CODEC_UNSUPPORTED_TYPE', path, rootId, `typedef/qualifier chain at type ${id} loops`);
}

/** True when `t` is a C `char` (one byte, named `char` or flagged BTF_INT_CHAR). */
function isCharInt(t: BtfType): boolean {
  return t.kind === 'int' && t.size === 1 && !t.encoding.bool && (t.encoding.char || t.name === 'char');
}

/** True when `id` (through typedefs/qualifiers) is an array of `char`. */
export function isCharArray(btf: Btf, id: number): boolean {
  const t = resolve(btf, id, id, 'value').type;
  return t.kind === 'array' && isCharInt(resolve(btf, t.elemType, id, 'value').type);
}

/** True when `id` (through typedefs/qualifiers) is an enum whose name ends in `_set` (a bit set). */
export function isEnumSet(btf: Btf, id: number): boolean {
  const t = resolve(btf, id, id, 'value').type;
  return (t.kind === 'enum' || t.kind === 'enum64') && t.name.endsWith('_set');
}

/** One named field of a struct/union after flattening anonymous members. */
interface FlatMember {
  name: string;
  type: number;
  /** Bit offset from the start of the outermost composite. */
  bitOffset: number;
  /** Bitfield width, 0 for a plain member. */
  bitfieldSize: number;
}

/** Members of a composite with anonymous struct/union members expanded in place (C semantics). */
function flattenMembers(btf: Btf, members: readonly BtfMember[], baseBits: number, rootId: number, path: string, depth = 0): FlatMember[] {
  if (depth > 64) throw new CodecError('CODEC_UNSUPPORTED_TYPE', path, rootId, 'anonymous members nest too deep');
  const out: FlatMember[] = [];
  for (const m of members) {
    const bitOffset = baseBits + m.bitOffset;
    if (m.name === '') {
      const r = resolve(btf, m.type, rootId, path).type;
      if ((r.kind === 'struct' || r.kind === 'union') && m.bitfieldSize === 0) {
        out.push(...flattenMembers(btf, r.members, bitOffset, rootId, path, depth + 1));
      }
      // An unnamed bitfield is padding: nothing to show, zero on encode.
      continue;
    }
    out.push({ name: m.name, type: m.type, bitOffset, bitfieldSize: m.bitfieldSize });
  }
  return out;
}

/**
 * The members of a struct, union or DATASEC, flattened, after checking that every one lies inside
 * the type's size: then the single bounds check of a compiled codec covers every read and write,
 * and inconsistent BTF is reported at compile time instead of failing on some event.
 */
function layoutMembers(btf: Btf, t: BtfType & { kind: 'struct' | 'union' | 'datasec' }, rootId: number, path: string): FlatMember[] {
  let members: FlatMember[];
  if (t.kind === 'datasec') {
    members = t.vars.map((vs) => {
      const vt = btf.type(vs.type);
      return { name: vt.kind === 'var' ? vt.name : `var_${vs.type}`, type: vs.type, bitOffset: vs.offset * 8, bitfieldSize: 0 };
    });
  } else {
    members = flattenMembers(btf, t.members, 0, rootId, path);
  }
  for (const m of members) {
    let endBits: number;
    const leaf = m.bitfieldSize > 0 ? undefined : resolve(btf, m.type, rootId, `${path}.${m.name}`).type;
    if (m.bitfieldSize > 0) endBits = m.bitOffset + m.bitfieldSize;
    else if (leaf?.kind === 'int' && (leaf.bits !== leaf.size * 8 || leaf.offset !== 0)) {
      // Legacy bitfield (no kind_flag): the int type carries the bit width and offset.
      endBits = m.bitOffset + leaf.offset + leaf.bits;
    } else {
      let size: number;
      try {
        size = btf.sizeof(m.type);
      } catch (e) {
        throw new CodecError('CODEC_UNSUPPORTED_TYPE', `${path}.${m.name}`, rootId, `member has no size (${e instanceof Error ? e.message : String(e)})`);
      }
      endBits = m.bitOffset + size * 8;
    }
    if (Math.ceil(endBits / 8) > t.size) {
      const hint = t.kind === 'datasec' ? ' (DATASEC sizes and offsets are filled in from the ELF symbols at load; this one was not)' : '';
      throw new CodecError(
        'CODEC_UNSUPPORTED_TYPE',
        `${path}.${m.name}`,
        rootId,
        `member at bit ${m.bitOffset} ends at byte ${Math.ceil(endBits / 8)}, past the ${t.size} bytes of ${t.kind} ${t.name || '(anon)'}${hint}`,
      );
    }
  }
  return members;
}

/** The width in bits and signedness of an integer-like leaf used as a bitfield. */
function bitfieldLeaf(t: BtfType): { signed: boolean; bytes: number } | undefined {
  if (t.kind === 'int') return { signed: t.encoding.signed, bytes: t.size };
  if (t.kind === 'enum' || t.kind === 'enum64') return { signed: t.signed, bytes: t.size };
  return undefined;
}

const TWO32 = 4294967296;

/** Describes an enum for codecs: values as (lo, hi) 32-bit halves so bit tests stay in numbers. */
interface EnumInfo {
  names: string[];
  lo: number[];
  hi: number[];
  byValue: Map<number | bigint, string>;
  byName: Map<string, bigint>;
  isSet: boolean;
}

/** `CAP_SET__CAP_KILL` → `CAP_KILL`: drops up to and including the first `__` not at position 0. */
export function stripEnumeratorPrefix(name: string): string {
  const at = name.indexOf('__');
  return at > 0 && at + 2 < name.length ? name.slice(at + 2) : name;
}

/** Per (shared, read-only) enum type object: its info without and with the set prefix stripped. */
const enumInfoCache = new WeakMap<BtfEnum | BtfEnum64, [EnumInfo | undefined, EnumInfo | undefined]>();

function enumInfo(t: BtfEnum | BtfEnum64, stripSetPrefix = false): EnumInfo {
  let memo = enumInfoCache.get(t);
  const slot = stripSetPrefix ? 1 : 0;
  const known = memo?.[slot];
  if (known) return known;
  const names: string[] = [];
  const lo: number[] = [];
  const hi: number[] = [];
  const byValue = new Map<number | bigint, string>();
  const byName = new Map<string, bigint>();
  const isSet = t.name.endsWith('_set');
  for (const e of t.values) {
    let key: number | bigint;
    let big: bigint;
    if (t.kind === 'enum') {
      // 32-bit ENUM values are stored as u32 on the wire; interpret per `signed`. Plain numbers:
      // this runs once per enumerator at compile time, usually before the JIT has warmed up.
      const n = t.signed ? (e.value as number) | 0 : (e.value as number) >>> 0;
      key = n;
      big = BigInt(n);
      lo.push(n >>> 0);
      hi.push(n < 0 ? 0xffffffff : 0);
    } else {
      big = t.signed ? BigInt.asIntN(64, e.value as bigint) : BigInt.asUintN(64, e.value as bigint);
      const u = BigInt.asUintN(64, big);
      lo.push(Number(u & 0xffffffffn));
      hi.push(Number(u >> 32n));
      key = normalizeKey(big);
    }
    const shown = isSet && stripSetPrefix ? stripEnumeratorPrefix(e.name) : e.name;
    names.push(shown);
    if (!byValue.has(key)) byValue.set(key, shown);
    if (!byName.has(e.name)) byName.set(e.name, big);
    if (isSet && !byName.has(stripEnumeratorPrefix(e.name))) byName.set(stripEnumeratorPrefix(e.name), big);
  }
  const info: EnumInfo = { names, lo, hi, byValue, byName, isSet };
  if (!memo) {
    memo = [undefined, undefined];
    enumInfoCache.set(t, memo);
  }
  memo[slot] = info;
  return info;
}

/** Map keys: safe integers as numbers, everything else as bigint, so lookups need one form. */
function normalizeKey(v: number | bigint): number | bigint {
  if (typeof v === 'number') return v;
  return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
}

// ---------------------------------------------------------------- scalar readers

/** Reads an unsigned/signed little-endian integer of 1/2/4/8/16 bytes as number (≤4) or bigint. */
function rawReader(size: number, signed: boolean, rootId: number, path: string): Dec {
  switch (size) {
    case 1:
      return signed ? (v, o) => v.getInt8(o) : (v, o) => v.getUint8(o);
    case 2:
      return signed ? (v, o) => v.getInt16(o, true) : (v, o) => v.getUint16(o, true);
    case 4:
      return signed ? (v, o) => v.getInt32(o, true) : (v, o) => v.getUint32(o, true);
    case 8:
      return signed ? s64b : u64b;
    case 16:
      return signed
        ? (v, o) => (v.getBigInt64(o + 8, true) << 64n) | v.getBigUint64(o, true)
        : (v, o) => (v.getBigUint64(o + 8, true) << 64n) | v.getBigUint64(o, true);
    default:
      throw new CodecError('CODEC_UNSUPPORTED_TYPE', path, rootId, `integer of ${size} bytes`);
  }
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** Scratch for an unaligned 64-bit read: two 32-bit stores, one 64-bit load (host order). */
const scratch32 = new Uint32Array(2);
const scratchU64 = new BigUint64Array(scratch32.buffer);
const scratchS64 = new BigInt64Array(scratch32.buffer);
const SCRATCH_LO = LITTLE_ENDIAN_HOST ? 0 : 1;
/** 64-bit views of the last buffer read (records of one reader share one buffer). */
let big: { buffer: ArrayBufferLike | undefined; u: BigUint64Array; s: BigInt64Array } = { buffer: undefined, u: new BigUint64Array(0), s: new BigInt64Array(0) };
function bigOf(buffer: ArrayBufferLike): typeof big {
  // A resizable buffer may have grown since its views were made: compare the length too.
  if (buffer !== big.buffer || big.u.length !== Math.floor(buffer.byteLength / 8)) {
    const n = Math.floor(buffer.byteLength / 8);
    big = { buffer, u: new BigUint64Array(buffer, 0, n), s: new BigInt64Array(buffer, 0, n) };
  }
  return big;
}

/**
 * `getBigUint64(o, true)`, faster: V8 optimizes an element load of a BigUint64Array (aligned data
 * on a little-endian host) far better than the DataView call, and an unaligned value (a record
 * at another offset of a caller's buffer) goes through two 32-bit reads and a scratch 64-bit load.
 */
function u64b(v: DataView, o: number): bigint {
  const a = v.byteOffset + o;
  if ((a & 7) === 0 && LITTLE_ENDIAN_HOST) return bigOf(v.buffer).u[a >>> 3];
  return u64x(v, o);
}

/** {@link u64b} for signed values. */
function s64b(v: DataView, o: number): bigint {
  const a = v.byteOffset + o;
  if ((a & 7) === 0 && LITTLE_ENDIAN_HOST) return bigOf(v.buffer).s[a >>> 3];
  return s64x(v, o);
}

/** An unsigned 64-bit value at any alignment: two 32-bit reads and one scratch 64-bit load. */
function u64x(v: DataView, o: number): bigint {
  scratch32[SCRATCH_LO] = v.getUint32(o, true);
  scratch32[1 - SCRATCH_LO] = v.getUint32(o + 4, true);
  return scratchU64[0];
}

/** {@link u64x} for signed values. */
function s64x(v: DataView, o: number): bigint {
  scratch32[SCRATCH_LO] = v.getUint32(o, true);
  scratch32[1 - SCRATCH_LO] = v.getUint32(o + 4, true);
  return scratchS64[0];
}

/** An 8-byte reader returning a number whenever the value is a safe integer, else a bigint. */
function int64SafeReader(signed: boolean): Dec {
  if (signed) {
    return (v, o) => {
      const hi = v.getInt32(o + 4, true);
      const lo = v.getUint32(o, true);
      // Safe means |x| ≤ 2^53 - 1: hi in (-2^21, 2^21), or hi = -2^21 with a nonzero low word.
      if (hi < 0x200000 && (hi > -0x200000 || (hi === -0x200000 && lo !== 0))) return hi * TWO32 + lo;
      return v.getBigInt64(o, true);
    };
  }
  return (v, o) => {
    const hi = v.getUint32(o + 4, true);
    if (hi < 0x200000) return hi * TWO32 + v.getUint32(o, true);
    return v.getBigUint64(o, true);
  };
}

/**
 * Reads `bits` bits starting `shift` bits into the byte at `o` (little-endian bit numbering, as
 * clang lays out bitfields on little-endian targets). Returns a number for ≤ 32 bits, else bigint.
 */
function bitReader(shift: number, bits: number, signed: boolean): (v: DataView, o: number) => number | bigint {
  const nbytes = Math.ceil((shift + bits) / 8);
  if (shift + bits <= 32) {
    const div = 2 ** shift;
    const mod = 2 ** bits;
    const half = mod / 2;
    return (v, o) => {
      let raw = 0;
      let mul = 1;
      for (let i = 0; i < nbytes; i++) {
        raw += v.getUint8(o + i) * mul;
        mul *= 256;
      }
      const x = Math.floor(raw / div) % mod;
      return signed && x >= half ? x - mod : x;
    };
  }
  const bShift = BigInt(shift);
  return (v, o) => {
    let raw = 0n;
    for (let i = nbytes - 1; i >= 0; i--) raw = (raw << 8n) | BigInt(v.getUint8(o + i));
    const x = BigInt.asUintN(bits, raw >> bShift);
    return signed ? BigInt.asIntN(bits, x) : x;
  };
}

// ---------------------------------------------------------------- text

/**
 * Decodes bytes [start, end) of `v` as UTF-8, turning every byte that does not belong to a valid,
 * shortest-form sequence into the lone surrogate U+DC00+byte (so U+DC80..U+DCFF), keeping it visible
 * and recoverable.
 */
function utf8Decode(v: DataView, start: number, end: number): string {
  let s = '';
  let i = start;
  while (i < end) {
    const b = v.getUint8(i);
    if (b < 0x80) {
      s += String.fromCharCode(b);
      i++;
      continue;
    }
    let need: number;
    let cp: number;
    let min: number;
    if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
      cp = b & 0x1f;
      min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      cp = b & 0x0f;
      min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      cp = b & 0x07;
      min = 0x10000;
    } else {
      s += String.fromCharCode(0xdc00 + b);
      i++;
      continue;
    }
    let ok = i + need < end;
    for (let k = 1; ok && k <= need; k++) {
      const c = v.getUint8(i + k);
      if ((c & 0xc0) !== 0x80) ok = false;
      else cp = (cp << 6) | (c & 0x3f);
    }
    if (!ok || cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      s += String.fromCharCode(0xdc00 + b);
      i++;
      continue;
    }
    s += String.fromCodePoint(cp);
    i += need + 1;
  }
  return s;
}

function latin1Decode(v: DataView, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(v.getUint8(i));
  return s;
}

/**
 * A Buffer over the memory of the last ArrayBuffer a char array was read from. Records of one reader
 * share one buffer, so this is built once; keeping the last one referenced costs nothing for a
 * mapping and at most one stale heap buffer otherwise.
 */
let lastBuffer: ArrayBufferLike | undefined;
let lastBytes: Buffer = Buffer.alloc(0);
function bytesOf(buffer: ArrayBufferLike): Buffer {
  if (buffer !== lastBuffer || buffer.byteLength !== lastBytes.length) {
    lastBytes = Buffer.from(buffer);
    lastBuffer = buffer;
  }
  return lastBytes;
}

/** Node's native latin1 slice (what `toString('latin1', …)` calls after its argument checks), else that. */
const latin1Slice: (this: Buffer, start: number, end: number) => string =
  (Buffer.prototype as Buffer & { latin1Slice?: (start: number, end: number) => string }).latin1Slice ??
  function (this: Buffer, start: number, end: number): string {
    return this.toString('latin1', start, end);
  };

/**
 * A char array of `n` bytes at `o` of `v` as text, cut at the first NUL. ASCII (the common case)
 * is one native latin1 slice; other bytes go through `decode`.
 */
function charArrayText(v: DataView, o: number, n: number, decode: (v: DataView, start: number, end: number) => string, utf8: boolean): string {
  const b = bytesOf(v.buffer);
  const start = v.byteOffset + o;
  const limit = start + n;
  let end = start;
  let high = 0;
  for (; end < limit; end++) {
    const c = b[end];
    if (c === 0) break;
    high |= c;
  }
  if (end === start) return '';
  if (high >= 0x80 && utf8) return decode(v, o, o + (end - start));
  return latin1Slice.call(b, start, end);
}

/** Char arrays cache texts of up to this many bytes, their NUL included; longer ones are decoded each time. */
const CACHED_TEXT_MAX = 256;
/** Slots of a char-array cache: 256 for arrays of up to 32 bytes (task and syscall names), 64 above (paths, arguments). */
const SHORT_TEXT_SLOTS_LOG2 = 8;
const LONG_TEXT_SLOTS_LOG2 = 6;
/** The high bit of each byte of a 32-bit word. */
const HIGH_BITS = 0x80808080 | 0;
/** The low bit of each byte of a 32-bit word. */
const LOW_BITS = 0x01010101;

/**
 * A char-array decoder for `n` bytes (4 or more) that keeps the text of recently seen contents
 * (task names, paths), keyed by the 32-bit words up to the first one holding a NUL, or by all of
 * them when the words cover the array and hold no NUL. The words are read once, into a scratch
 * key: a hit compares every key word, so it returns exactly what decoding would, and makes no
 * string; a miss knows where the text ends and whether it is ASCII from that one pass, so it costs
 * about what decoding byte by byte did. Bytes after the NUL in its word are part of the key, which
 * only costs a miss. Texts whose NUL is not in the first {@link CACHED_TEXT_MAX} bytes (or in the
 * bytes after the last whole word) are decoded each time. Up to 64 × (1 + 64) key words, 16.6 kB,
 * per char-array type (decoders are memoized per type).
 */
function cachedCharArray(n: number, decode: (v: DataView, start: number, end: number) => string, utf8: boolean): Dec {
  const maxWords = Math.min(n, CACHED_TEXT_MAX) >>> 2;
  // The words cover the whole array: a text without NUL (all n bytes) is cached too.
  const whole = maxWords * 4 === n;
  const slotsLog2 = n <= 32 ? SHORT_TEXT_SLOTS_LOG2 : LONG_TEXT_SLOTS_LOG2;
  const shift = 32 - slotsLog2;
  const stride = maxWords + 1;
  // Per slot: the key's word count, then its words.
  const keys = new Int32Array(stride << slotsLog2);
  const texts = new Array<string | undefined>(1 << slotsLog2).fill(undefined);
  const key = new Int32Array(maxWords);
  return (v, o) => {
    let h = 0;
    let k = 0;
    let high = 0;
    let last = 0;
    let ended = false;
    while (k < maxWords) {
      const w = v.getInt32(o + 4 * k, true);
      key[k++] = w;
      h = Math.imul(h ^ w, 0x9e3779b1);
      // Some byte of w is zero (exact: the classic has-zero-byte test).
      if ((((w - LOW_BITS) | 0) & ~w & HIGH_BITS) !== 0) {
        last = w;
        ended = true;
        break;
      }
      high |= w;
    }
    if (!ended && !whole) return charArrayText(v, o, n, decode, utf8);
    const slot = h >>> shift;
    const base = slot * stride;
    const known = texts[slot];
    if (known !== undefined && keys[base] === k) {
      let i = 0;
      while (i < k && keys[base + 1 + i] === key[i]) i++;
      if (i === k) return known;
    }
    let len = n;
    if (ended) {
      // The NUL is the lowest zero byte of the last word (read little-endian); the bytes below it
      // belong to the text.
      const nul = (last & 0xff) === 0 ? 0 : (last & 0xff00) === 0 ? 1 : (last & 0xff0000) === 0 ? 2 : 3;
      high |= last & ((1 << (8 * nul)) - 1);
      len = 4 * (k - 1) + nul;
    }
    let text: string;
    if (len === 0) text = '';
    else if ((high & HIGH_BITS) !== 0 && utf8) text = decode(v, o, o + len);
    else {
      const start = v.byteOffset + o;
      text = latin1Slice.call(bytesOf(v.buffer), start, start + len);
    }
    keys[base] = k;
    for (let i = 0; i < k; i++) keys[base + 1 + i] = key[i];
    texts[slot] = text;
    return text;
  };
}

/**
 * Decodes a NUL-terminated byte string the way char-array codecs do (see the module notes):
 * stops at the first NUL, keeps invalid UTF-8 bytes as U+DC80..U+DCFF.
 */
export function decodeCString(bytes: Uint8Array, encoding: 'utf8' | 'latin1' = 'utf8'): string {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let end = bytes.indexOf(0);
  if (end < 0) end = bytes.length;
  return encoding === 'utf8' ? utf8Decode(v, 0, end) : latin1Decode(v, 0, end);
}

/**
 * Encodes `s` to bytes, the inverse of {@link decodeCString} (no NUL appended). U+DC80..U+DCFF become
 * the raw bytes 0x80..0xFF; any other lone surrogate (UTF-8) or code point above U+00FF (latin1) has
 * no byte form and makes this return `undefined`.
 */
export function encodeCString(s: string, encoding: 'utf8' | 'latin1' = 'utf8'): Uint8Array | undefined {
  const out: number[] = [];
  if (encoding === 'latin1') {
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 0xff) return undefined;
      out.push(c);
    }
    return Uint8Array.from(out);
  }
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      out.push(c);
    } else if (c < 0x800) {
      out.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f));
    } else if (c >= 0xd800 && c <= 0xdbff) {
      const d = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (d < 0xdc00 || d > 0xdfff) return undefined;
      c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
      i++;
      out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 0x3f), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      if (c < 0xdc80 || c > 0xdcff) return undefined;
      out.push(c - 0xdc00);
    } else {
      out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
    }
  }
  return Uint8Array.from(out);
}

// ---------------------------------------------------------------- decoder compiler

class DecoderCompiler {
  private readonly memo = new Map<number, Dec>();
  private readonly inProgress = new Set<number>();
  /**
   * Source that reads the same value as a generated struct or array decoder, for a parent decoder
   * to embed instead of calling it (see {@link inlineComposite}).
   */
  private readonly inlineSources = new WeakMap<Dec, InlineSource>();

  constructor(
    private readonly btf: Btf,
    private readonly rootId: number,
    private readonly opts: ResolvedOptions,
    /** Shaped decoding: the root's path string, and how each member path is shown. */
    private readonly shaping?: { readonly root: string; readonly shape: ShapeOf<never> },
  ) {}

  compile(id: number, path: string): Dec {
    // A shaped struct may show differently at each path: memoize only unshaped decoders.
    const cached = this.shaping ? undefined : this.memo.get(id);
    if (cached) return cached;
    if (this.inProgress.has(id)) {
      throw new CodecError('CODEC_UNSUPPORTED_TYPE', path, this.rootId, `type ${id} contains itself`);
    }
    this.inProgress.add(id);
    try {
      const d = this.build(id, path);
      this.memo.set(id, d);
      return d;
    } finally {
      this.inProgress.delete(id);
    }
  }

  private unsupported(path: string, what: string): CodecError {
    return new CodecError('CODEC_UNSUPPORTED_TYPE', path, this.rootId, `${what} has no value representation`);
  }

  private build(id: number, path: string): Dec {
    const t = this.btf.type(id);
    switch (t.kind) {
      case 'typedef':
      case 'volatile':
      case 'const':
      case 'restrict':
      case 'type_tag':
      case 'var':
        return this.compile(t.type, path);
      case 'int':
        return this.int(t, path);
      case 'enum':
      case 'enum64':
        return this.enumDec(t, path);
      case 'ptr':
        return u64b;
      case 'float':
        return floatReader(t.size, this.rootId, path);
      case 'array':
        return this.array(t.elemType, t.nelems, path);
      case 'struct':
      case 'union':
      case 'datasec':
        return this.composite(layoutMembers(this.btf, t, this.rootId, path), path);
      default:
        throw this.unsupported(path, t.kind === 'void' ? 'void' : `${t.kind} ${t.name || '(anon)'}`);
    }
  }

  private int(t: BtfInt, path: string): Dec {
    if (t.bits !== t.size * 8 || t.offset !== 0) {
      return this.bitfield(t, t.offset, t.bits, path);
    }
    if (t.encoding.bool) {
      const r = rawReader(t.size, false, this.rootId, path);
      // `!=` on purpose: the raw value is a number or (8 bytes) a bigint, and both zeros compare equal to 0.
      return (v, o) => r(v, o) != 0;
    }
    if (t.size === 8 && this.opts.int64 === 'number-if-safe') return int64SafeReader(t.encoding.signed);
    return rawReader(t.size, t.encoding.signed, this.rootId, path);
  }

  /** Maps a raw numeric enum value to its output form. */
  private enumMapper(t: BtfEnum | BtfEnum64): (raw: number | bigint) => unknown {
    if (this.opts.enums === 'value') return this.int64Mapper(t.size);
    const info = enumInfo(t, this.opts.stripSetPrefix);
    if (info.isSet) return setMapper(info, t.size);
    const byValue = info.byValue;
    const asNumber = this.int64Mapper(t.size);
    return (raw) => {
      const name = byValue.get(typeof raw === 'bigint' ? normalizeKey(raw) : raw);
      return name ?? asNumber(raw);
    };
  }

  /** Applies the int64 option to a raw value read from an integer of `size` bytes. */
  private int64Mapper(size: number): (raw: number | bigint) => unknown {
    if (size < 8) return (raw) => raw;
    if (size === 8 && this.opts.int64 === 'number-if-safe') return (raw) => normalizeKey(raw);
    return (raw) => (typeof raw === 'bigint' ? raw : BigInt(raw));
  }

  private enumDec(t: BtfEnum | BtfEnum64, path: string): Dec {
    if (this.opts.enums === 'name' && t.name.endsWith('_set') && t.size <= 8) {
      // Sets read their two 32-bit halves straight from the view: no bigint on the hot path.
      const test = setTester(enumInfo(t, this.opts.stripSetPrefix));
      switch (t.size) {
        case 1:
          return (v, o) => test(v.getUint8(o), 0);
        case 2:
          return (v, o) => test(v.getUint16(o, true), 0);
        case 4:
          return (v, o) => test(v.getUint32(o, true), 0);
        case 8:
          return (v, o) => test(v.getUint32(o, true), v.getUint32(o + 4, true));
        default:
          break;
      }
    }
    const r = rawReader(t.size, t.signed, this.rootId, path) as (v: DataView, o: number) => number | bigint;
    const map = this.enumMapper(t);
    return (v, o) => map(r(v, o));
  }

  /** A bitfield of `bits` bits at `bitOffset` bits from `o`, of leaf type `t` (int or enum). */
  private bitfield(t: BtfType, bitOffset: number, bits: number, path: string): Dec {
    const leaf = bitfieldLeaf(t);
    if (!leaf || bits <= 0 || bits > 128) {
      throw new CodecError('CODEC_UNSUPPORTED_TYPE', path, this.rootId, `bitfield of ${t.kind} with ${bits} bits`);
    }
    const byte = Math.floor(bitOffset / 8);
    const read = bitReader(bitOffset % 8, bits, leaf.signed);
    let map: (raw: number | bigint) => unknown;
    if (t.kind === 'int' && t.encoding.bool) map = (raw) => raw != 0;
    else if (t.kind === 'enum' || t.kind === 'enum64') map = this.enumMapper(t);
    else map = this.int64Mapper(leaf.bytes);
    return (v, o) => map(read(v, o + byte));
  }

  private array(elemType: number, nelems: number, path: string): Dec {
    const elem = resolve(this.btf, elemType, this.rootId, path).type;
    if (isCharInt(elem)) {
      if (this.opts.charArrays === 'bytes') {
        return (v, o) => new Uint8Array(v.buffer.slice(v.byteOffset + o, v.byteOffset + o + nelems));
      }
      const utf8 = this.opts.charEncoding === 'utf8';
      const decode = utf8 ? utf8Decode : latin1Decode;
      if (nelems >= 4) return cachedCharArray(nelems, decode, utf8);
      return (v, o) => charArrayText(v, o, nelems, decode, utf8);
    }
    const d = this.compile(elemType, `${path}[*]`);
    if (nelems === 0) return () => [];
    const stride = this.btf.sizeof(elemType);
    const expr = this.opts.codegen && nelems <= MAX_INLINE_ELEMS ? this.scalarExpression(elemType) : undefined;
    const generated = expr && generateArrayDecoder(expr, stride, nelems);
    if (generated && expr) {
      this.inlineSources.set(generated, (_oe, rel) => `[${arrayItems(expr, stride, nelems, rel).join(', ')}]`);
      return generated;
    }
    return (v, o) => {
      const a = new Array<unknown>(nelems);
      for (let i = 0; i < nelems; i++) a[i] = d(v, o + i * stride);
      return a;
    };
  }

  private composite(members: readonly FlatMember[], path: string): Dec {
    const slots: Slot[] = [];
    for (const m of members) {
      const mpath = `${path}.${m.name}`;
      const shape = this.shapeOf(mpath);
      // A member shown under no key is not read at all.
      if (shape && shape.keys.length === 0) continue;
      let off: number;
      let dec: Dec;
      let expr: InlineSource | undefined;
      if (m.bitfieldSize > 0 || m.bitOffset % 8 !== 0) {
        const leaf = resolve(this.btf, m.type, this.rootId, mpath).type;
        const bits = m.bitfieldSize > 0 ? m.bitfieldSize : leaf.kind === 'int' ? leaf.bits : 0;
        const inner = leaf.kind === 'int' ? leaf.offset : 0;
        const start = m.bitOffset + inner;
        off = Math.floor(start / 8);
        dec = this.bitfield(leaf, start % 8, bits, mpath);
      } else if (shape?.read) {
        off = m.bitOffset / 8;
        dec = shape.read;
      } else {
        off = m.bitOffset / 8;
        dec = this.compile(m.type, mpath);
        expr = this.scalarExpression(m.type) ?? embedded(this.inlineSources.get(dec), dec);
      }
      slots.push({ keys: shape ? shape.keys : [{ key: m.name }], off, dec, expr });
    }
    const generated = this.opts.codegen && generateObjectDecoder(slots);
    if (generated) {
      const inline = inlineComposite(slots);
      // Bounded: a deep nest of large structs stays a call per level past this size.
      if (inline && inline('o', 0, () => 'b').length <= MAX_INLINE_SOURCE) this.inlineSources.set(generated, inline);
      return generated;
    }
    // Fallback when code generation is disabled (node --disallow-code-generation-from-strings).
    return (v, o, c) => {
      const r: Record<string, unknown> = {};
      for (const slot of slots) {
        const raw = slot.dec(v, o + slot.off, c);
        for (const k of slot.keys) {
          const value = k.format ? k.format(raw, c as never) : raw;
          if (k.key === '__proto__') Object.defineProperty(r, '__proto__', { value, enumerable: true, writable: true, configurable: true });
          else r[k.key] = value;
        }
      }
      return r;
    };
  }

  /** The shape of the member at codec path `mpath` under shaped decoding, else undefined. */
  private shapeOf(mpath: string): MemberShape<never> | undefined {
    const shaping = this.shaping;
    if (!shaping || !mpath.startsWith(`${shaping.root}.`)) return undefined;
    return shaping.shape(mpath.slice(shaping.root.length + 1).split('.'));
  }

  /**
   * A JS expression reading type `id` at the byte offset expression `oe` from DataView `v`, for the
   * scalar kinds whose read is a single DataView call under the current options; else undefined.
   */
  private scalarExpression(id: number): InlineSource | undefined {
    let t: BtfType;
    try {
      t = resolve(this.btf, id, this.rootId, 'value').type;
    } catch {
      return undefined;
    }
    const le = (fn: string): InlineSource => (oe) => `v.${fn}(${oe}, true)`;
    switch (t.kind) {
      case 'int':
        if (t.bits !== t.size * 8 || t.offset !== 0) return undefined;
        if (t.encoding.bool) return t.size === 1 ? (oe) => `(v.getUint8(${oe}) !== 0)` : undefined;
        if (t.size === 1) return t.encoding.signed ? (oe) => `v.getInt8(${oe})` : (oe) => `v.getUint8(${oe})`;
        if (t.size === 2) return le(t.encoding.signed ? 'getInt16' : 'getUint16');
        if (t.size === 4) return le(t.encoding.signed ? 'getInt32' : 'getUint32');
        if (t.size === 8) return this.opts.int64 === 'bigint' ? wideSource(t.encoding.signed) : (oe) => `${t.encoding.signed ? 's64s' : 'u64s'}(v, ${oe})`;
        return undefined;
      case 'ptr':
        return wideSource(false);
      case 'float':
        return t.size === 4 ? le('getFloat32') : t.size === 8 ? le('getFloat64') : undefined;
      case 'enum':
      case 'enum64':
        if (this.opts.enums !== 'value') return undefined;
        if (t.size === 1) return t.signed ? (oe) => `v.getInt8(${oe})` : (oe) => `v.getUint8(${oe})`;
        if (t.size === 2) return le(t.signed ? 'getInt16' : 'getUint16');
        if (t.size === 4) return le(t.signed ? 'getInt32' : 'getUint32');
        if (t.size === 8 && this.opts.int64 === 'bigint') return wideSource(t.signed);
        return undefined;
      default:
        return undefined;
    }
  }
}

/** One member of a composite as the generators see it: the keys it is shown under, and how it is read. */
interface Slot {
  readonly keys: readonly ShapedKey<never>[];
  readonly off: number;
  readonly dec: Dec;
  /** Source that reads the member inside the generated decoder (a scalar, or an embedded struct or array), when there is one. */
  readonly expr: InlineSource | undefined;
}

/**
 * Inline source for a read at the offset expression `oe`, which is `rel` bytes after the decoder's
 * `o`. A 64-bit read is marked for the decoder's 64-bit views (see {@link WIDE_MARK}). An embedded
 * struct calls the decoders of members that have no source of their own through `bind`, which
 * passes a value into the generated function and returns the name it has there.
 */
type InlineSource = (oe: string, rel: number, bind: (value: unknown) => string) => string;

/** The offset expression `rel` bytes after the decoder's `o`. */
function offsetSource(rel: number): string {
  return rel === 0 ? 'o' : `o + ${rel}`;
}

/** The element reads of a scalar array `rel` bytes after the decoder's `o`. */
function arrayItems(expr: InlineSource, stride: number, nelems: number, rel: number): string[] {
  const items: string[] = [];
  for (let i = 0; i < nelems; i++) {
    const at = rel + i * stride;
    // Scalar sources bind nothing.
    items.push(expr(offsetSource(at), at, noBinding));
  }
  return items;
}

function noBinding(): string {
  throw new Error('a scalar source bound a value');
}

/** Opens the embedded form of a nested struct or array in generated source (see {@link embedded}). */
const EMBED_OPEN = '\u0001';
/** Separates it from the call form. */
const EMBED_CALL = '\u0002';
/** Closes the choice. */
const EMBED_CLOSE = '\u0003';

/**
 * A nested struct's or array's source as a choice between its embedded form (`inline`) and a call
 * of its decoder, resolved by {@link wideFactory}: embedded in the body for records read through
 * the 64-bit views, and in a body without 64-bit reads; called in the body that puts 64-bit values
 * together from halves (records not 8-byte aligned), where one function with every member inline
 * measured slower than the calls (~111 against ~106 ns for a 128-byte event, one harness).
 * Undefined without an embedded form.
 */
function embedded(inline: InlineSource | undefined, dec: Dec): InlineSource | undefined {
  if (!inline) return undefined;
  // The call form is only kept in a parent's function for misaligned records: it calls the nested
  // decoder's own function for them, when it has one, rather than its per-record choice.
  const target = (dec as Dec & { split?: Dec }).split ?? dec;
  return (oe, rel, bind) => `${EMBED_OPEN}${inline(oe, rel, bind)}${EMBED_CALL}${bind(target)}(v, ${oe}, c)${EMBED_CLOSE}`;
}

/** `source` with each embedding choice (see {@link embedded}) resolved: the embedded form, or the call. */
function chooseEmbedded(source: string, embed: boolean): string {
  let out = '';
  // Choices nest in embedded forms: `keep` holds, per open choice, whether its text at the current
  // position is kept (the bottom entry stands for text outside any choice).
  const keep: boolean[] = [true];
  for (const ch of source) {
    const here = keep[keep.length - 1];
    if (ch === EMBED_OPEN) keep.push(here && embed);
    else if (ch === EMBED_CALL) keep[keep.length - 1] = keep[keep.length - 2] && !embed;
    else if (ch === EMBED_CLOSE) keep.pop();
    else if (here) out += ch;
  }
  return out;
}

/** At most this many members for a struct to be embedded in its parent; larger ones are called. */
const MAX_INLINE_MEMBERS = 64;
/** Characters of source a struct embedded in its parent may take. */
const MAX_INLINE_SOURCE = 8192;

/**
 * Source that builds a struct's object inside its parent's generated decoder, as the struct's own
 * generated decoder would, when every member is shown under one key with no formatter (a renamed
 * member or one with its own reader qualifies): one function per record instead of a call per
 * nested struct or array, each of which read the record's alignment and 64-bit views again (a
 * 128-byte event with a nested header and a `u64[8]`: ~76 → ~61 ns in one harness). Undefined for
 * structs with a member under several keys or formatted, and for large ones: those keep their call.
 */
function inlineComposite(slots: readonly Slot[]): InlineSource | undefined {
  if (slots.length > MAX_INLINE_MEMBERS) return undefined;
  if (!slots.every((sl) => sl.keys.length === 1 && !sl.keys[0].format && Number.isSafeInteger(sl.off) && sl.off >= 0)) return undefined;
  return (_oe, rel, bind) => {
    const parts = slots.map((sl) => {
      const at = rel + sl.off;
      const read = sl.expr ? sl.expr(offsetSource(at), at, bind) : `${bind(sl.dec)}(v, ${offsetSource(at)}, c)`;
      return `${keySource(sl.keys[0].key)}: ${read}`;
    });
    return `{ ${parts.join(', ')} }`;
  };
}

/**
 * Marks a 64-bit read in generated source: `\0u48\0` is the unsigned 8 bytes 48 bytes after the
 * decoder's `o` (`s` for signed), at a multiple of 8 from it. {@link wideFactory} turns a body with
 * marks into two versions. NUL never occurs in other generated text (keys are JSON-quoted, which
 * escapes it).
 */
const WIDE_MARK = /\0([us])(\d+)\0/g;

/**
 * A bigint read of 8 bytes at a multiple of 8 from the decoder's `o`: marked for
 * {@link wideFactory}. One at another offset uses {@link u64b}/{@link s64b}, which look at the
 * alignment themselves.
 */
function wideSource(signed: boolean): InlineSource {
  const any = signed ? 's64b' : 'u64b';
  const arr = signed ? 's' : 'u';
  return (oe, rel) => (rel % 8 === 0 ? `\0${arr}${rel}\0` : `${any}(v, ${oe})`);
}

/**
 * A generated decoder named `name` from `body`, statements over `(v, o, c)` whose 64-bit reads are
 * marked (see {@link WIDE_MARK}), as the source of a factory that returns it. Without marks, the
 * body as it is. With them, two functions: one where every such read is an element of the buffer's
 * 64-bit views (records that start 8-byte aligned on a little-endian host), one where it is two
 * 32-bit halves and a scratch 64-bit load (records at other offsets; ~35 ns more for a 128 B
 * event, which is why the perf reader hands samples out aligned), and the decoder picks one per
 * record. Straight-line bodies instead of a test per read (a 128-byte ring event with ten
 * 64-bit members: ~87 → ~64 ns in one harness); two functions rather than two branches of one, so
 * that each is optimized, and inlines its calls, for the records it gets.
 */
function wideFactory(name: string, body: string): string {
  const withEmbedded = chooseEmbedded(body, true);
  if (!withEmbedded.includes('\0')) return `return function ${name}(v, o, c) {\n  ${withEmbedded}\n};`;
  const aligned = withEmbedded.replace(WIDE_MARK, (_m, arr: string, rel: string) => `w64.${arr}[a + ${Number(rel) / 8}]`);
  const split = chooseEmbedded(body, false).replace(WIDE_MARK, (_m, arr: string, rel: string) => {
    const oe = offsetSource(Number(rel));
    return `(scratch32[${SCRATCH_LO}] = v.getUint32(${oe}, true), scratch32[${1 - SCRATCH_LO}] = v.getUint32(${oe} + 4, true), ${arr === 's' ? 'scratchS64' : 'scratchU64'}[0])`;
  });
  return `function aligned(v, o, c, w64, a) {
  ${aligned}
}
function split(v, o, c) {
  ${split}
}
const decoder = function ${name}(v, o, c) {
  const at = v.byteOffset + o;
  if ((at & 7) === 0) {
    const w64 = wideViews(v.buffer);
    if (w64 !== undefined) return aligned(v, o, c, w64, at >>> 3);
  }
  return split(v, o, c);
};
decoder.split = split;
return decoder;`;
}

/** {@link bigOf} where element reads give the value (little-endian host), else undefined. */
function wideViews(buffer: ArrayBufferLike): typeof big | undefined {
  return LITTLE_ENDIAN_HOST ? bigOf(buffer) : undefined;
}

const u64s = int64SafeReader(false);
const s64s = int64SafeReader(true);

/** Most array elements read inline as one array literal; longer arrays loop. */
const MAX_INLINE_ELEMS = 64;

/**
 * Instantiates generated source: `body` sees the int64 helpers plus `params` bound to `args`.
 * Returns undefined when the runtime forbids code generation.
 */
function instantiate(params: readonly string[], args: readonly unknown[], body: string): Dec | undefined {
  try {
    const factory = new Function('u64s', 's64s', 'u64b', 's64b', 'scratch32', 'scratchU64', 'scratchS64', 'wideViews', ...params, `'use strict';\n${body}`) as (...a: unknown[]) => Dec;
    return factory(u64s, s64s, u64b, s64b, scratch32, scratchU64, scratchS64, wideViews, ...args);
  } catch {
    return undefined;
  }
}

/** An object key as source: JSON-quoted, and `__proto__` computed so it stays an own property. */
function keySource(key: string): string {
  return key === '__proto__' ? `[${JSON.stringify(key)}]` : JSON.stringify(key);
}

/**
 * Generates `(v, o, c) => ({ a: v.getUint32(o + 0, true), b: d1(v, o + 4, c), … })` for a composite.
 *
 * An object literal with a fixed key list gets its hidden class from a boilerplate instead of
 * growing key by key, and scalar members read inline instead of through a closure call: several
 * times faster than a generic loop. A member shown under several keys (a shaped decoder's raw and
 * formatted forms) is read once into a local first. Nothing from the BTF reaches the source
 * unquoted: keys go through JSON.stringify, offsets are integers, sub-decoders and formatters are
 * passed in as arguments.
 */
function generateObjectDecoder(slots: readonly Slot[]): Dec | undefined {
  // Offsets are whole bytes by construction; anything else stays out of generated source.
  if (!slots.every((sl) => Number.isSafeInteger(sl.off) && sl.off >= 0)) return undefined;
  const params: string[] = [];
  const args: unknown[] = [];
  const locals: string[] = [];
  const parts: string[] = [];
  const bind = (value: unknown): string => {
    params.push(`b${args.length}`);
    args.push(value);
    return `b${args.length - 1}`;
  };
  slots.forEach((sl, i) => {
    const oe = offsetSource(sl.off);
    let read: string;
    if (sl.expr) read = sl.expr(oe, sl.off, bind);
    else {
      params.push(`d${i}`);
      args.push(sl.dec);
      read = `d${i}(v, ${oe}, c)`;
    }
    const plain = sl.keys.length === 1 && !sl.keys[0].format;
    if (plain) {
      parts.push(`${keySource(sl.keys[0].key)}: ${read}`);
      return;
    }
    locals.push(`const t${i} = ${read};`);
    sl.keys.forEach((k, j) => {
      if (!k.format) {
        parts.push(`${keySource(k.key)}: t${i}`);
        return;
      }
      params.push(`f${i}_${j}`);
      args.push(k.format);
      parts.push(`${keySource(k.key)}: f${i}_${j}(t${i}, c)`);
    });
  });
  const body = `${locals.map((l) => `${l}\n  `).join('')}return { ${parts.join(',\n    ')} };`;
  return instantiate(params, args, wideFactory('decodeComposite', body));
}

/** Generates `(v, o) => [e(o), e(o + stride), …]` for a short array of inline-readable scalars. */
function generateArrayDecoder(expr: InlineSource, stride: number, nelems: number): Dec | undefined {
  if (!Number.isSafeInteger(stride) || stride <= 0) return undefined;
  const items = arrayItems(expr, stride, nelems, 0);
  return instantiate([], [], wideFactory('decodeArray', `return [${items.join(', ')}];`));
}

/**
 * Names of set members (all bits of the enumerator present), then `0x…` for bits no name covers,
 * from the low and high 32-bit words of the value.
 */
function setTester(info: EnumInfo): (rl: number, rh: number) => string[] {
  const { lo, hi, names } = info;
  const n = names.length;
  return (rl, rh) => {
    const out: string[] = [];
    let coveredLo = 0;
    let coveredHi = 0;
    for (let i = 0; i < n; i++) {
      const l = lo[i];
      const h = hi[i];
      if ((l | h) === 0) continue;
      if ((rl & l) >>> 0 === l && (rh & h) >>> 0 === h) {
        out.push(names[i]);
        coveredLo |= l;
        coveredHi |= h;
      }
    }
    const leftLo = (rl & ~coveredLo) >>> 0;
    const leftHi = (rh & ~coveredHi) >>> 0;
    if (leftLo !== 0 || leftHi !== 0) {
      out.push(`0x${((BigInt(leftHi) << 32n) | BigInt(leftLo)).toString(16)}`);
    }
    return out;
  };
}

/** {@link setTester} over a raw number/bigint value of an enum of `size` bytes (bitfield path). */
function setMapper(info: EnumInfo, size: number): (raw: number | bigint) => unknown {
  const test = setTester(info);
  return (raw) => {
    if (typeof raw === 'bigint') {
      const u = BigInt.asUintN(64, raw);
      return test(Number(u & 0xffffffffn), Number(u >> 32n));
    }
    return test(raw >>> 0, raw < 0 && size > 4 ? 0xffffffff : 0);
  };
}

function floatReader(size: number, rootId: number, path: string): Dec {
  switch (size) {
    case 2:
      return (v, o) => halfToNumber(v.getUint16(o, true));
    case 4:
      return (v, o) => v.getFloat32(o, true);
    case 8:
      return (v, o) => v.getFloat64(o, true);
    default:
      throw new CodecError('CODEC_UNSUPPORTED_TYPE', path, rootId, `float of ${size} bytes`);
  }
}

function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function numberToHalf(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a === Infinity || a >= 65520) return sign | 0x7c00;
  if (a < 2 ** -24 / 2) return sign;
  if (a < 2 ** -14) return sign | Math.round(a / 2 ** -24);
  let exp = Math.floor(Math.log2(a));
  let frac = Math.round((a / 2 ** exp - 1) * 1024);
  if (frac === 1024) {
    frac = 0;
    exp++;
  }
  return sign | ((exp + 15) << 10) | frac;
}

// ---------------------------------------------------------------- encoder compiler

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (value instanceof Uint8Array) return 'Uint8Array';
  return typeof value;
}

class EncoderCompiler {
  private readonly inProgress = new Set<number>();

  constructor(
    private readonly btf: Btf,
    private readonly rootId: number,
    private readonly opts: ResolvedOptions,
  ) {}

  private wrong(path: string, expected: string, value: unknown): CodecError {
    return new CodecError('CODEC_WRONG_TYPE', path, this.rootId, `expected ${expected}, got ${describe(value)}`);
  }

  private range(path: string, problem: string): CodecError {
    return new CodecError('CODEC_OUT_OF_RANGE', path, this.rootId, problem);
  }

  compile(id: number, path: string): Enc {
    // Paths differ per use site, so encoders are not memoized by id: error messages stay exact.
    if (this.inProgress.has(id)) {
      throw new CodecError('CODEC_UNSUPPORTED_TYPE', path, this.rootId, `type ${id} contains itself`);
    }
    this.inProgress.add(id);
    try {
      return this.build(id, path);
    } finally {
      this.inProgress.delete(id);
    }
  }

  private build(id: number, path: string): Enc {
    const t = this.btf.type(id);
    switch (t.kind) {
      case 'typedef':
      case 'volatile':
      case 'const':
      case 'restrict':
      case 'type_tag':
      case 'var':
        return this.compile(t.type, path);
      case 'int':
        if (t.bits !== t.size * 8 || t.offset !== 0) return this.bitfield(t, t.offset, t.bits, path);
        return this.int(t, path);
      case 'enum':
      case 'enum64':
        return this.enumEnc(t, path);
      case 'ptr':
        return this.bigintLike(64, false, path, (v, o, x) => v.setBigUint64(o, x, true));
      case 'float':
        return this.float(t.size, path);
      case 'array':
        return this.array(t.elemType, t.nelems, path);
      case 'struct':
      case 'union':
      case 'datasec':
        return this.composite(layoutMembers(this.btf, t, this.rootId, path), path);
      default:
        throw new CodecError('CODEC_UNSUPPORTED_TYPE', path, this.rootId, `${t.kind === 'void' ? 'void' : `${t.kind} ${t.name || '(anon)'}`} has no value representation`);
    }
  }

  /** Converts a JS value to a checked bigint in [min, max]. */
  private toBigInt(value: unknown, bits: number, signed: boolean, path: string): bigint {
    let x: bigint;
    if (typeof value === 'bigint') x = value;
    else if (typeof value === 'number') {
      if (!Number.isSafeInteger(value)) throw this.range(path, `${value} is not a safe integer`);
      x = BigInt(value);
    } else throw this.wrong(path, 'bigint or integer number', value);
    const min = signed ? -(1n << BigInt(bits - 1)) : 0n;
    const max = signed ? (1n << BigInt(bits - 1)) - 1n : (1n << BigInt(bits)) - 1n;
    if (x < min || x > max) throw this.range(path, `${x} does not fit ${signed ? 's' : 'u'}${bits}`);
    return x;
  }

  private bigintLike(bits: number, signed: boolean, path: string, write: (v: DataView, o: number, x: bigint) => void): Enc {
    return (value, v, o) => write(v, o, this.toBigInt(value, bits, signed, path));
  }

  private int(t: BtfInt, path: string): Enc {
    const size = t.size;
    if (t.encoding.bool) {
      return (value, v, o) => {
        if (typeof value !== 'boolean') throw this.wrong(path, 'boolean', value);
        v.setUint8(o, value ? 1 : 0); // the rest of a wider bool stays zero
      };
    }
    const signed = t.encoding.signed;
    if (size === 8) {
      return signed
        ? this.bigintLike(64, true, path, (v, o, x) => v.setBigInt64(o, x, true))
        : this.bigintLike(64, false, path, (v, o, x) => v.setBigUint64(o, x, true));
    }
    if (size === 16) {
      return this.bigintLike(128, signed, path, (v, o, x) => {
        const u = BigInt.asUintN(128, x);
        v.setBigUint64(o, BigInt.asUintN(64, u), true);
        v.setBigUint64(o + 8, u >> 64n, true);
      });
    }
    if (size !== 1 && size !== 2 && size !== 4) {
      throw new CodecError('CODEC_UNSUPPORTED_TYPE', path, this.rootId, `integer of ${size} bytes`);
    }
    const bits = size * 8;
    const min = signed ? -(2 ** (bits - 1)) : 0;
    const max = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
    const kind = `${signed ? 's' : 'u'}${bits}`;
    const write =
      size === 1
        ? (v: DataView, o: number, x: number) => v.setUint8(o, x & 0xff)
        : size === 2
          ? (v: DataView, o: number, x: number) => v.setUint16(o, x & 0xffff, true)
          : (v: DataView, o: number, x: number) => v.setUint32(o, x >>> 0, true);
    return (value, v, o) => {
      let x: number;
      if (typeof value === 'number') x = value;
      else if (typeof value === 'bigint') {
        if (value < BigInt(min) || value > BigInt(max)) throw this.range(path, `${value} does not fit ${kind}`);
        x = Number(value);
      } else throw this.wrong(path, 'integer number', value);
      if (!Number.isInteger(x)) throw this.range(path, `${x} is not an integer`);
      if (x < min || x > max) throw this.range(path, `${x} does not fit ${kind}`);
      write(v, o, x);
    };
  }

  /** Converts a JS enum value (name, name list for sets, or raw number) to its bigint value. */
  private enumValue(t: BtfEnum | BtfEnum64, info: EnumInfo, path: string): (value: unknown) => bigint {
    const bits = t.size * 8;
    const names = [...info.byName.keys()];
    const list = names.length > 8 ? `${names.slice(0, 8).join(', ')}, …` : names.join(', ');
    const one = (value: unknown, p: string): bigint => {
      if (typeof value === 'string') {
        const x = info.byName.get(value);
        if (x !== undefined) return x;
        if (info.isSet && /^0x[0-9a-f]+$/i.test(value)) return this.toBigInt(BigInt(value), bits, false, p);
        throw this.range(p, `${JSON.stringify(value)} is not an enumerator of enum ${t.name || '(anon)'} (${list})`);
      }
      return this.toBigInt(value, bits, t.signed && !info.isSet, p);
    };
    return (value) => {
      if (info.isSet && Array.isArray(value)) {
        let acc = 0n;
        for (let i = 0; i < value.length; i++) acc |= BigInt.asUintN(bits, one(value[i], `${path}[${i}]`));
        return acc;
      }
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'bigint') {
        throw this.wrong(path, info.isSet ? 'array of enumerator names, name or number' : 'enumerator name or number', value);
      }
      return one(value, path);
    };
  }

  private enumEnc(t: BtfEnum | BtfEnum64, path: string): Enc {
    const toValue = this.enumValue(t, enumInfo(t), path);
    const bits = t.size * 8;
    return (value, v, o) => writeBigInt(v, o, t.size, BigInt.asUintN(bits, toValue(value)));
  }

  private bitfield(t: BtfType, bitOffset: number, bits: number, path: string): Enc {
    const leaf = bitfieldLeaf(t);
    if (!leaf || bits <= 0 || bits > 128) {
      throw new CodecError('CODEC_UNSUPPORTED_TYPE', path, this.rootId, `bitfield of ${t.kind} with ${bits} bits`);
    }
    let toValue: (value: unknown) => bigint;
    if (t.kind === 'int' && t.encoding.bool) {
      toValue = (value) => {
        if (typeof value !== 'boolean') throw this.wrong(path, 'boolean', value);
        return value ? 1n : 0n;
      };
    } else if (t.kind === 'enum' || t.kind === 'enum64') {
      const full = this.enumValue(t, enumInfo(t), path);
      toValue = (value) => {
        const x = full(value);
        const fits = t.signed ? BigInt.asIntN(bits, x) === x : BigInt.asUintN(bits, x) === x;
        if (!fits) throw this.range(path, `${x} does not fit a ${bits}-bit field`);
        return x;
      };
    } else {
      toValue = (value) => this.toBigInt(value, bits, leaf.signed, path);
    }
    const byte = Math.floor(bitOffset / 8);
    const shift = BigInt(bitOffset % 8);
    const nbytes = Math.ceil(((bitOffset % 8) + bits) / 8);
    const mask = ((1n << BigInt(bits)) - 1n) << shift;
    return (value, v, o) => {
      const x = (BigInt.asUintN(bits, toValue(value)) << shift) & mask;
      const at = o + byte;
      let cur = 0n;
      for (let i = nbytes - 1; i >= 0; i--) cur = (cur << 8n) | BigInt(v.getUint8(at + i));
      cur = (cur & ~mask) | x;
      for (let i = 0; i < nbytes; i++) {
        v.setUint8(at + i, Number(cur & 0xffn));
        cur >>= 8n;
      }
    };
  }

  private float(size: number, path: string): Enc {
    const check = (value: unknown): number => {
      if (typeof value !== 'number') throw this.wrong(path, 'number', value);
      return value;
    };
    switch (size) {
      case 2:
        return (value, v, o) => v.setUint16(o, numberToHalf(check(value)), true);
      case 4:
        return (value, v, o) => v.setFloat32(o, check(value), true);
      case 8:
        return (value, v, o) => v.setFloat64(o, check(value), true);
      default:
        throw new CodecError('CODEC_UNSUPPORTED_TYPE', path, this.rootId, `float of ${size} bytes`);
    }
  }

  private array(elemType: number, nelems: number, path: string): Enc {
    const elem = resolve(this.btf, elemType, this.rootId, path).type;
    if (isCharInt(elem)) {
      const encoding = this.opts.charEncoding;
      return (value, v, o) => {
        let bytes: Uint8Array | undefined;
        if (typeof value === 'string') {
          bytes = encodeCString(value, encoding);
          if (!bytes) {
            throw this.range(path, encoding === 'utf8' ? 'string has a lone surrogate with no byte form' : 'string has characters above U+00FF');
          }
        } else if (value instanceof Uint8Array) bytes = value;
        else throw this.wrong(path, 'string or Uint8Array', value);
        if (bytes.length > nelems) throw this.range(path, `${bytes.length} bytes do not fit char[${nelems}]`);
        for (let i = 0; i < bytes.length; i++) v.setUint8(o + i, bytes[i]);
        if (bytes.length < nelems) v.setUint8(o + bytes.length, 0);
      };
    }
    const e = this.compile(elemType, `${path}[*]`);
    const stride = nelems === 0 ? 0 : this.btf.sizeof(elemType);
    return (value, v, o) => {
      if (!Array.isArray(value) && !ArrayBuffer.isView(value)) throw this.wrong(path, 'array', value);
      const a = value as ArrayLike<unknown>;
      if (a.length > nelems) throw this.range(path, `${a.length} elements do not fit [${nelems}]`);
      for (let i = 0; i < a.length; i++) {
        try {
          e(a[i], v, o + i * stride);
        } catch (err) {
          throw err instanceof CodecError ? err.withIndex(i) : err;
        }
      }
    };
  }

  private composite(members: readonly FlatMember[], path: string): Enc {
    const known = new Set(members.map((m) => m.name));
    const entries = members.map((m) => {
      const mpath = `${path}.${m.name}`;
      if (m.bitfieldSize > 0 || m.bitOffset % 8 !== 0) {
        const leaf = resolve(this.btf, m.type, this.rootId, mpath).type;
        const bits = m.bitfieldSize > 0 ? m.bitfieldSize : leaf.kind === 'int' ? leaf.bits : 0;
        const start = m.bitOffset + (leaf.kind === 'int' ? leaf.offset : 0);
        return { name: m.name, off: Math.floor(start / 8), enc: this.bitfield(leaf, start % 8, bits, mpath) };
      }
      return { name: m.name, off: m.bitOffset / 8, enc: this.compile(m.type, mpath) };
    });
    return (value, v, o) => {
      if (typeof value !== 'object' || value === null || Array.isArray(value) || ArrayBuffer.isView(value)) {
        throw this.wrong(path, 'object', value);
      }
      const rec = value as Record<string, unknown>;
      for (const k in rec) {
        if (!known.has(k) && rec[k] !== undefined) {
          throw new CodecError('CODEC_UNKNOWN_FIELD', `${path}.${k}`, this.rootId, `no such member (members: ${[...known].join(', ')})`);
        }
      }
      for (const m of entries) {
        // Own properties only: a member named like an Object.prototype key must not read the prototype.
        const x = Object.hasOwn(rec, m.name) ? rec[m.name] : undefined;
        if (x !== undefined) m.enc(x, v, o + m.off);
      }
    };
  }
}

function writeBigInt(v: DataView, o: number, size: number, x: bigint): void {
  switch (size) {
    case 1:
      v.setUint8(o, Number(x));
      return;
    case 2:
      v.setUint16(o, Number(x), true);
      return;
    case 4:
      v.setUint32(o, Number(x), true);
      return;
    default:
      v.setBigUint64(o, BigInt.asUintN(64, x), true);
  }
}

// ---------------------------------------------------------------- public API

const decoderCache = new WeakMap<Btf, Map<string, Decoder>>();
const encoderCache = new WeakMap<Btf, Map<string, Encoder>>();

/** The value cached for (`btf`, `key`) in `cache`, built once by `build`. */
function memoized<T>(cache: WeakMap<Btf, Map<string, T>>, btf: Btf, key: string, build: () => T): T {
  let perBtf = cache.get(btf);
  const hit = perBtf?.get(key);
  if (hit !== undefined) return hit;
  const value = build();
  if (!perBtf) {
    perBtf = new Map();
    cache.set(btf, perBtf);
  }
  perBtf.set(key, value);
  return value;
}

/** The root name used in error paths: the type's name, or `value`. */
function rootPath(btf: Btf, id: number): string {
  try {
    let cur = id;
    for (let i = 0; i < 64; i++) {
      const t = btf.type(cur);
      if (t.name) return t.name;
      if (!QUALIFIERS.has(t.kind)) break;
      cur = (t as { type: number }).type;
    }
  } catch {
    // the compile step reports bad ids with a proper error
  }
  return 'value';
}

function shortBuffer(path: string, id: number, need: number, offset: number, have: number): CodecError {
  return new CodecError('CODEC_SHORT_BUFFER', path, id, `needs ${need} bytes at offset ${offset}, buffer has ${have}`);
}

/**
 * Compiles a decoder for BTF type `typeId` (any type with a size: int, enum, pointer, float, array,
 * struct, union, typedef/qualifier/var chains, datasec). The result reads the value at
 * `offset` of a DataView; the buffer is bounds-checked once per call.
 * @throws CodecError CODEC_UNSUPPORTED_TYPE when the type (or a member) has no value form
 */
export function compileDecoder(btf: Btf, typeId: number, options?: CodecOptions): Decoder {
  const opts = resolveOptions(options);
  const key = `${typeId}|${optionsKey(opts)}`;
  return memoized(decoderCache, btf, key, () => {
    const path = rootPath(btf, typeId);
    return guarded(new DecoderCompiler(btf, typeId, opts).compile(typeId, path), btf.sizeof(typeId), path, typeId);
  });
}

/** Bounds-checks once per call, and never leaks a RangeError. */
function guarded(inner: Dec, size: number, path: string, typeId: number): (view: DataView, offset?: number, c?: unknown) => unknown {
  return (view, offset = 0, c) => {
    if (!(offset >= 0) || offset + size > view.byteLength) throw shortBuffer(path, typeId, size, offset, view.byteLength);
    try {
      return inner(view, offset, c);
    } catch (e) {
      // Unreachable for consistent BTF (layouts are checked at compile time).
      if (e instanceof RangeError) throw shortBuffer(path, typeId, size, offset, view.byteLength);
      throw e;
    }
  };
}

/** One key a shaped struct member is shown under, with the transform that derives its value. */
export interface ShapedKey<C> {
  /** The object key. */
  readonly key: string;
  /** Derives the shown value from the member's decoded value; absent: the decoded value itself. */
  readonly format?: (value: unknown, context: C) => unknown;
}

/** How a shaped decoder shows one struct member: under these keys, in this order (none: left out, and not read). */
export interface MemberShape<C> {
  readonly keys: readonly ShapedKey<C>[];
  /**
   * Reads the member's value instead of the codec (given the record's view and the member's byte
   * offset in it), e.g. to reuse the text of a value seen before. Ignored for bitfield members.
   */
  readonly read?: (view: DataView, offset: number) => unknown;
}

/**
 * Chooses the shape of the struct member at `path` (C member names from the root type, nested
 * structs included: `['proc', 'comm']`); undefined keeps the codec's own form.
 */
export type ShapeOf<C> = (path: readonly string[]) => MemberShape<C> | undefined;

/** A decoder compiled by {@link compileShapedDecoder}: `context` reaches every formatter of the record. */
export type ShapedDecoder<C> = (view: DataView, offset: number, context: C) => unknown;

/**
 * Like {@link compileDecoder} for a struct, but each member can be renamed, shown under several
 * keys, transformed or left out, as `shape` decides per member path: the final object is built in
 * one go, with a fixed key order (no second pass, no deleted keys). Not memoized (shapes are
 * functions); compile once per consumer.
 * @throws CodecError CODEC_UNSUPPORTED_TYPE when the type (or a member) has no value form
 */
export function compileShapedDecoder<C>(btf: Btf, typeId: number, options: CodecOptions | undefined, shape: ShapeOf<C>): ShapedDecoder<C> {
  const opts = resolveOptions(options);
  const path = rootPath(btf, typeId);
  const inner = new DecoderCompiler(btf, typeId, opts, { root: path, shape: shape as ShapeOf<never> }).compile(typeId, path);
  const decode = guarded(inner, btf.sizeof(typeId), path, typeId);
  return (view, offset, context) => decode(view, offset, context);
}

/**
 * Compiles an encoder for BTF type `typeId`, the inverse of {@link compileDecoder}. It zeroes the
 * type's bytes at `offset` first, so padding and members left out of an object are zero. Values are
 * checked: a wrong JS type, an integer out of range, a too long string/array or an unknown struct
 * member throws a {@link CodecError} naming the field path.
 * `options` only matter for text: `charEncoding` selects how strings become bytes.
 */
export function compileEncoder(btf: Btf, typeId: number, options?: CodecOptions): Encoder {
  const opts = resolveOptions(options);
  const key = `${typeId}|${optionsKey(opts)}`;
  return memoized(encoderCache, btf, key, () => {
    const path = rootPath(btf, typeId);
    const inner = new EncoderCompiler(btf, typeId, opts).compile(typeId, path);
    const size = btf.sizeof(typeId);
    const encoder: Encoder = (value, out, offset = 0) => {
      if (!(offset >= 0) || offset + size > out.byteLength) throw shortBuffer(path, typeId, size, offset, out.byteLength);
      new Uint8Array(out.buffer, out.byteOffset + offset, size).fill(0);
      try {
        inner(value, out, offset);
      } catch (e) {
        if (e instanceof RangeError) throw shortBuffer(path, typeId, size, offset, out.byteLength);
        throw e;
      }
    };
    return encoder;
  });
}

/** Decodes one value of type `typeId` from `bytes` (a Uint8Array or DataView) at `offset`. */
export function decodeValue(btf: Btf, typeId: number, bytes: Uint8Array | DataView, options?: CodecOptions & { offset?: number }): unknown {
  const view = bytes instanceof DataView ? bytes : new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return compileDecoder(btf, typeId, options)(view, options?.offset ?? 0);
}

/** Encodes `value` as type `typeId` into a fresh, zero-padded byte array of `sizeof(typeId)` bytes. */
export function encodeValue(btf: Btf, typeId: number, value: unknown, options?: CodecOptions): Uint8Array {
  const out = new Uint8Array(btf.sizeof(typeId));
  compileEncoder(btf, typeId, options)(value, new DataView(out.buffer), 0);
  return out;
}

// ---------------------------------------------------------------- TypeScript rendering

/** Options of {@link typeToTs}; the codec options give the mapping the rendered type describes. */
export interface TypeToTsOptions extends CodecOptions {
  /** Indentation unit for object members (default two spaces). */
  indent?: string;
}

function tsString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

const TS_IDENT = /^[A-Za-z_$][\w$]*$/;

/**
 * Renders the TypeScript type of the values {@link compileDecoder} produces for BTF type `id` with
 * the same options, e.g. `{ pid: number; comm: string; flags: Array<'A' | 'B' | `0x${string}`> }`.
 * Types with no value form render as `never`.
 */
export function typeToTs(btf: Btf, id: number, options?: TypeToTsOptions): string {
  const opts = resolveOptions(options);
  const unit = options?.indent ?? '  ';
  const seen = new Set<number>();
  const int64 = opts.int64 === 'bigint' ? 'bigint' : 'number | bigint';

  const render = (tid: number, depth: number): string => {
    if (seen.has(tid)) return 'never';
    seen.add(tid);
    try {
      return renderType(tid, depth);
    } finally {
      seen.delete(tid);
    }
  };

  const members = (list: readonly FlatMember[], depth: number): string => {
    if (list.length === 0) return '{}';
    const pad = unit.repeat(depth + 1);
    const lines = list.map((m) => {
      let t: string;
      if (m.bitfieldSize > 0 || m.bitOffset % 8 !== 0) {
        const leaf = btf.type(btf.underlying(m.type));
        t = leaf.kind === 'int' && leaf.encoding.bool ? 'boolean' : render(m.type, depth + 1);
      } else t = render(m.type, depth + 1);
      return `${pad}${TS_IDENT.test(m.name) ? m.name : tsString(m.name)}: ${t};`;
    });
    return `{\n${lines.join('\n')}\n${unit.repeat(depth)}}`;
  };

  const enumTs = (t: BtfEnum | BtfEnum64): string => {
    const num = t.size === 8 ? int64 : 'number';
    if (opts.enums === 'value') return num;
    const isSet = t.name.endsWith('_set');
    const names = [...new Set(t.values.map((v) => tsString(isSet && opts.stripSetPrefix ? stripEnumeratorPrefix(v.name) : v.name)))];
    if (isSet) return `Array<${[...names, '`0x${string}`'].join(' | ')}>`;
    return [...names, num].join(' | ');
  };

  const renderType = (tid: number, depth: number): string => {
    const t = btf.type(tid);
    switch (t.kind) {
      case 'typedef':
      case 'volatile':
      case 'const':
      case 'restrict':
      case 'type_tag':
      case 'var':
        return render(t.type, depth);
      case 'int':
        if (t.encoding.bool) return 'boolean';
        if (t.size === 16) return 'bigint';
        return t.size === 8 ? int64 : 'number';
      case 'ptr':
        return 'bigint';
      case 'float':
        return 'number';
      case 'enum':
      case 'enum64':
        return enumTs(t);
      case 'array': {
        const elem = btf.type(btf.underlying(t.elemType));
        if (isCharInt(elem)) return opts.charArrays === 'bytes' ? 'Uint8Array' : 'string';
        const inner = render(t.elemType, depth);
        return /^[\w$]+$/.test(inner) ? `${inner}[]` : `Array<${inner}>`;
      }
      case 'struct':
      case 'union':
        return members(flattenMembers(btf, t.members, 0, id, 'value'), depth);
      case 'datasec': {
        const list: FlatMember[] = [];
        for (const vs of t.vars) {
          const vt = btf.type(vs.type);
          list.push({ name: vt.kind === 'var' ? vt.name : `var_${vs.type}`, type: vs.type, bitOffset: vs.offset * 8, bitfieldSize: 0 });
        }
        return members(list, depth);
      }
      default:
        return 'never';
    }
  };

  return render(id, 0);
}
