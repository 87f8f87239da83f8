/**
 * The BTF container: a lazily decoded, appendable, re-encodable set of types and strings.
 *
 * Parsing validates the header and walks the type section once, recording where each record
 * starts, its kind and its name offset in typed arrays. Everything else (type objects, name
 * strings, the name index) is produced on demand, which keeps the 5 MB kernel BTF cheap.
 *
 * Invariants:
 * - the string table is append-only: `encode()` keeps every existing string at its offset;
 * - records that were never replaced are re-emitted from their original bytes, so parse → encode of
 *   an unmodified object reproduces the input (for the usual header/types/strings layout);
 * - split BTF (kernel modules) continues the id and string-offset spaces of its base.
 */
import { plainBytes, utf8Text } from '../bytes.js';
import { BtfError } from './error.js';
import { type Framing, type KindChains, type KindWords, WASM_MIN_BYTES, frameJs, frameWasm } from './frame.js';
import { BTF_KIND, type BtfKindName, type BtfMember, type BtfType, QUALIFIER_KINDS } from './types.js';

/** `BTF_MAGIC` as read little-endian. */
export const BTF_MAGIC = 0xeb9f;
/** Size of `struct btf_header` in version 1. */
export const BTF_HEADER_LEN = 24;
/** Size of `struct btf_type` (name_off, info, size/type). */
const TYPE_LEN = 12;
/** Pointer size of the BPF target. */
const PTR_SIZE = 8;

/** Kind names indexed by `BTF_KIND_*` number; index 0 (UNKN) is only valid as `void`. */
export const KIND_NAMES: readonly BtfKindName[] = [
  'void',
  'int',
  'ptr',
  'array',
  'struct',
  'union',
  'enum',
  'fwd',
  'typedef',
  'volatile',
  'const',
  'restrict',
  'func',
  'func_proto',
  'var',
  'datasec',
  'float',
  'decl_tag',
  'type_tag',
  'enum64',
];

const KIND_NUMBERS: ReadonlyMap<BtfKindName, number> = new Map(KIND_NAMES.map((n, i) => [n, i]));

/** Per kind (index = BTF_KIND_*), 32-bit words after `struct btf_type`, or -1 for invalid kinds. */
const FIXED_WORDS = Int32Array.from({ length: 32 }, (_, k) => (k === 0 || trailingSize(k, 0) < 0 ? -1 : trailingSize(k, 0) / 4));
/** Per kind, 32-bit words per vlen entry. */
const VLEN_WORDS = Int32Array.from({ length: 32 }, (_, k) => (k === 0 || trailingSize(k, 0) < 0 ? 0 : (trailingSize(k, 1) - trailingSize(k, 0)) / 4));
/** Both tables, as the framing walks take them. */
const KIND_WORDS: KindWords = { fixed: FIXED_WORDS, perVlen: VLEN_WORDS };

/** Number of bytes following `struct btf_type` for a record of `kind` with `vlen` entries, or -1. */
function trailingSize(kind: number, vlen: number): number {
  switch (kind) {
    case BTF_KIND.INT:
    case BTF_KIND.VAR:
    case BTF_KIND.DECL_TAG:
      return 4;
    case BTF_KIND.PTR:
    case BTF_KIND.FWD:
    case BTF_KIND.TYPEDEF:
    case BTF_KIND.VOLATILE:
    case BTF_KIND.CONST:
    case BTF_KIND.RESTRICT:
    case BTF_KIND.FUNC:
    case BTF_KIND.FLOAT:
    case BTF_KIND.TYPE_TAG:
      return 0;
    case BTF_KIND.ARRAY:
      return 12;
    case BTF_KIND.STRUCT:
    case BTF_KIND.UNION:
    case BTF_KIND.DATASEC:
    case BTF_KIND.ENUM64:
      return vlen * 12;
    case BTF_KIND.ENUM:
    case BTF_KIND.FUNC_PROTO:
      return vlen * 8;
    default:
      return -1;
  }
}

/** Wire size of a type object (header plus trailing data). */
function recordSize(t: BtfType): number {
  switch (t.kind) {
    case 'struct':
    case 'union':
      return TYPE_LEN + 12 * t.members.length;
    case 'enum':
      return TYPE_LEN + 8 * t.values.length;
    case 'enum64':
      return TYPE_LEN + 12 * t.values.length;
    case 'func_proto':
      return TYPE_LEN + 8 * t.params.length;
    case 'datasec':
      return TYPE_LEN + 12 * t.vars.length;
    default: {
      const k = KIND_NUMBERS.get(t.kind) ?? 0;
      return TYPE_LEN + trailingSize(k, 0);
    }
  }
}

const VOID: BtfType = Object.freeze({ kind: 'void', name: '' }) as BtfType;

const utf8Encoder = new TextEncoder();
/** A lone NUL: the bytes of a name whose offset is out of range (indexed as empty). */
const EMPTY_NAME = new Uint8Array(1);

/**
 * Hash of a name's bytes for the name indexes (h·31 + c in 32 bits). Deliberately simple: the index
 * build runs it over every name byte of a kind, often before the JIT has warmed up, where plain
 * arithmetic is several times cheaper than Math.imul calls. Chains compare bytes anyway.
 */
function nameHash(bytes: Uint8Array): number {
  let h = 0;
  for (let i = 0; i < bytes.length; i++) h = (h * 31 + bytes[i]) | 0;
  return h;
}

/** A growable Uint32Array / Uint8Array pair of per-type columns. */
function grow32(a: Uint32Array, need: number): Uint32Array {
  if (need <= a.length) return a;
  const b = new Uint32Array(Math.max(need, a.length * 2, 16));
  b.set(a);
  return b;
}
function growI32(a: Int32Array, need: number): Int32Array {
  if (need <= a.length) return a;
  const b = new Int32Array(Math.max(need, a.length * 2, 16));
  b.set(a);
  return b;
}
function grow8(a: Uint8Array, need: number): Uint8Array {
  if (need <= a.length) return a;
  const b = new Uint8Array(Math.max(need, a.length * 2, 16));
  b.set(a);
  return b;
}

/** Chained hash table over the raw name bytes of the own types of one kind. */
interface KindNameIndex {
  /** The kind chain's tail when built (-1: empty): types added later follow it on the chain. */
  builtTail: number;
  mask: number;
  /** bucket → first entry, or -1. */
  head: Int32Array;
  /** entry → next entry in the chain, or -1. */
  next: Int32Array;
  /** entry → nameHash of the name bytes. */
  hashes: Int32Array;
  /** entry → local index. */
  locals: Uint32Array;
  /** Locals whose name carries a `___flavour` suffix (rare: one in the whole 6.x kernel). */
  flavoured: number[];
}

/** Highest BTF kind number (ENUM64) plus one. */
const KIND_SLOTS = 20;
/** Underscore, the flavour separator's byte. */
const UNDERSCORE = 0x5f;
/**
 * Buckets of a kind's prefix index, keyed by the first two name bytes. Built as a side effect of the
 * first full walk of a kind (which reads those bytes anyway), it cuts later lookups to a bucket of
 * tens of types for the price of two stores per type.
 */
const PREFIX_BUCKETS = 1024;
/**
 * Lookups of one kind after which its full hash index is built. Hashing every name byte of a kind
 * costs several walks; a CO-RE pass asks for 5-10 names, a vmlinux.h dump for thousands.
 */
const HASH_AFTER_LOOKUPS = 64;

/** Prefix-index bucket of a name starting with bytes b0, b1 (b1 is 0 for one-byte names). */
function prefixKey(b0: number, b1: number): number {
  return (b0 * 37 + b1) & (PREFIX_BUCKETS - 1);
}

/**
 * The essential name: `name` without its last `___flavour` suffix, where the separator sits between
 * two characters other than `_` (libbpf's rule; `core/names.ts` has the same function for CO-RE).
 */
function essentialOf(name: string): string {
  // Most names have no `___` at all: one native search instead of a character loop.
  if (name.indexOf('___') < 0) return name;
  for (let i = name.length - 5; i >= 0; i--) {
    if (name[i] !== '_' && name[i + 1] === '_' && name[i + 2] === '_' && name[i + 3] === '_' && name[i + 4] !== '_') {
      return name.slice(0, i + 1);
    }
  }
  return name;
}

/** Local indices per {@link TypeCache} page. */
const CACHE_PAGE_BITS = 8;

/**
 * Decoded type objects by local index, in pages allocated on first use: a flat `new Array(n)` for the
 * kernel's ~126k types costs about a millisecond up front, and most of them are never decoded.
 */
class TypeCache {
  private pages: ((BtfType | undefined)[] | undefined)[] = [];

  get(local: number): BtfType | undefined {
    const page = this.pages[local >>> CACHE_PAGE_BITS];
    return page === undefined ? undefined : page[local & ((1 << CACHE_PAGE_BITS) - 1)];
  }

  set(local: number, type: BtfType): void {
    const at = local >>> CACHE_PAGE_BITS;
    // Keep the page list dense (a far index would turn it into a dictionary).
    while (this.pages.length <= at) this.pages.push(undefined);
    let page = this.pages[at];
    if (page === undefined) {
      page = new Array<BtfType | undefined>(1 << CACHE_PAGE_BITS);
      this.pages[at] = page;
    }
    page[local & ((1 << CACHE_PAGE_BITS) - 1)] = type;
  }
}

/**
 * Answers to name lookups kept across processes (see `btf/memo.ts`), consulted by {@link Btf.find}
 * and {@link Btf.ownIdsByEssentialName} of a BTF that has not been changed since parse. Every
 * remembered id is checked against the BTF (in range, of the kind, with the name) before it is
 * used; that a list is complete is the memo's promise (its key must tie it to this very BTF).
 */
export interface BtfLookupMemo {
  /** The ids remembered for `key`, or undefined. */
  get(key: string): readonly number[] | undefined;
  /**
   * Remember the ids a lookup found for `key` (replacing an answer that failed its check), with
   * the byte offset of each id's record in the type section (`at`, same order) when known.
   */
  set(key: string, ids: readonly number[], at?: readonly number[]): void;
}

/**
 * The memo key of `find(name, kind)` and the kind's number (see {@link BtfLookupMemo}), or
 * undefined when such a find never asks the memo (no name, unknown kind). Shared with the lookups
 * that answer before the BTF is parsed (`findKernelType`).
 * @internal
 */
export function findMemoKey(name: string, kind: BtfKindName): { key: string; kind: number } | undefined {
  const k = KIND_NUMBERS.get(kind);
  if (k === undefined || k === 0 || name === '') return undefined;
  return { key: findKeyOf(k, name), kind: k };
}

/** The memo key of a find of kind number `k` and name `name`. */
function findKeyOf(k: number, name: string): string {
  return `f${k}:${name}`;
}

/** Options of {@link Btf.parse} and {@link Btf.empty}. */
export interface BtfOptions {
  /** The base BTF this one is split from (vmlinux for a module). */
  base?: Btf;
  /** Where the bytes came from; used in error messages. */
  source?: string;
}

/**
 * A BTF type graph. See the module comment for the invariants. Type objects returned by
 * {@link Btf.type} are cached and shared: treat them as read-only and use {@link Btf.replace} to
 * change a type.
 */
export class Btf {
  /** The base BTF of split BTF, `undefined` for base BTF. */
  readonly base: Btf | undefined;
  /** The origin of the bytes, for error messages. */
  readonly source: string;
  /** The id of the first type owned by this object: 1 for base BTF, `base.typeCount` for split BTF. */
  readonly firstTypeId: number;

  /** Original header bytes past the 24 known ones (kept for faithful re-encoding). */
  private headerTail: Uint8Array;
  /** The original type section (own types only). */
  private typeBytes: Uint8Array;
  private typeView: DataView;
  /** Number of records parsed from `typeBytes`. */
  private parsedCount: number;
  /** Start of every 2^offsetShift-th parsed record in `typeBytes` (see Framing.offsets). */
  private recordOffsets: Uint32Array;
  private offsetShift = 0;
  /** Number of own types (parsed + added). */
  private ownCount: number;
  /** Kind number of each own type. */
  private kinds: Uint8Array;
  /** Name offset of each own type (absolute string offset). */
  private nameOffs: Uint32Array;
  /** Decoded, added or replaced type objects by local index. */
  private cache: TypeCache;
  /** Set for local indices whose object differs from (or has no) original record bytes. */
  private dirty: Uint8Array;

  /** String offset where this object's own strings start (base's string length, or 0). */
  private readonly strStart: number;
  /** Original own string section. */
  private strBytes: Uint8Array;
  /** Strings appended since parse, NUL-terminated, concatenated. */
  private strExtra: Uint8Array;
  private strExtraLen: number;
  /** Interned strings (string → own or base offset), filled as strings are looked up or added. */
  private internMap: Map<string, number> = new Map();
  private internMisses = 0;
  private internFull = false;

  /**
   * Per kind number, the lowest and highest own local of that kind (or -1); `kindNext[local]`
   * continues upwards (-1 at the end). Each kind's chain is built by the first lookup of that kind
   * that needs it, with the native `Uint8Array.indexOf` over the kind bytes (a JS loop over all
   * ~126k kernel types costs several ms before the JIT warms up; a CO-RE pass needs 2-4 kinds), and
   * extended by `add`. A type whose kind changes by `replace` stays on its old chain and is listed
   * in `changed`.
   */
  private kindHead = new Int32Array(KIND_SLOTS).fill(-1);
  private kindTail = new Int32Array(KIND_SLOTS).fill(-1);
  private kindNext: Int32Array;
  /** `idsByName` calls answered by one walk over all types (the first two). */
  private nameScans = 0;
  /** Per kind number, 1 once its chain is built. */
  private chainBuilt = new Uint8Array(KIND_SLOTS);
  /** The framing's one-pass builder of every chain (wasm), until used; valid while `kinds` is `framedKinds`. */
  private allChains: (() => KindChains) | undefined;
  private framedKinds: Uint8Array | undefined;
  /** Own locals renamed or re-kinded by `replace`: every lookup checks them one by one. */
  private changed: number[] = [];
  /** Per kind number, the hash index over the names of that kind, built after HASH_AFTER_LOOKUPS lookups. */
  private kindIndexes: (KindNameIndex | undefined)[] = [];
  /** Per kind number, lookups answered so far (saturates). */
  private kindLookups = new Uint8Array(KIND_SLOTS);
  /** Per kind number, prefix-index bucket heads (see PREFIX_BUCKETS); `prefixNext` continues a bucket. */
  private prefixHeads: (Int32Array | undefined)[] = [];
  private prefixNext: Int32Array = new Int32Array(0);
  /** Lookup answers kept across processes; used only while `mutations` is 0. */
  private memo: BtfLookupMemo | undefined;
  /** Memoized `find` results of own types; cleared by every change. */
  private findCache = new Map<string, number | undefined>();
  /** Bumped by every add/replace. */
  private mutations = 0;
  /** Memoized alignment of composites, to keep deeply nested structs linear. */
  private alignCache: Map<number, number> = new Map();

  private constructor(
    base: Btf | undefined,
    source: string,
    headerTail: Uint8Array,
    typeBytes: Uint8Array,
    strBytes: Uint8Array,
  ) {
    this.base = base;
    this.source = source;
    this.firstTypeId = base ? base.typeCount : 1;
    this.strStart = base ? base.stringsLength : 0;
    this.headerTail = headerTail;
    this.typeBytes = typeBytes;
    this.typeView = new DataView(typeBytes.buffer, typeBytes.byteOffset, typeBytes.byteLength);
    this.strBytes = strBytes;
    this.strExtra = new Uint8Array(0);
    this.strExtraLen = 0;
    this.parsedCount = 0;
    this.ownCount = 0;
    this.recordOffsets = new Uint32Array(1);
    this.kinds = new Uint8Array(0);
    this.nameOffs = new Uint32Array(0);
    this.cache = new TypeCache();
    this.dirty = new Uint8Array(0);
    this.kindNext = new Int32Array(0);
  }

  /**
   * Parse a BTF blob (the `.BTF` section of an object, `/sys/kernel/btf/*`, or a raw BTF file).
   * Validates the header and the framing of every type record; decodes nothing else.
   * The returned object keeps views into `bytes`: do not modify them afterwards.
   * @throws BtfError BTF_TRUNCATED, BTF_BAD_MAGIC, BTF_BAD_HEADER, BTF_BAD_STRING, BTF_BAD_KIND
   */
  static parse(input: Uint8Array, options?: BtfOptions): Btf {
    const bytes = plainBytes(input);
    const source = options?.source ?? '<btf>';
    const base = options?.base;
    if (bytes.length < 2) throw new BtfError('BTF_TRUNCATED', `${bytes.length} bytes is shorter than a BTF header`, { source, offset: 0 });
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const magic = dv.getUint16(0, true);
    if (magic !== BTF_MAGIC) {
      const why = magic === 0x9feb ? 'big-endian BTF is not supported' : `magic 0x${magic.toString(16)} is not 0xeb9f`;
      throw new BtfError('BTF_BAD_MAGIC', why, { source, offset: 0 });
    }
    if (bytes.length < BTF_HEADER_LEN) throw new BtfError('BTF_TRUNCATED', `${bytes.length} bytes is shorter than a BTF header`, { source, offset: 0 });
    const version = dv.getUint8(2);
    if (version !== 1) throw new BtfError('BTF_BAD_HEADER', `unsupported BTF version ${version}`, { source, offset: 2 });
    const hdrLen = dv.getUint32(4, true);
    if (hdrLen < BTF_HEADER_LEN) throw new BtfError('BTF_BAD_HEADER', `header length ${hdrLen} is below ${BTF_HEADER_LEN}`, { source, offset: 4 });
    if (hdrLen > bytes.length) throw new BtfError('BTF_TRUNCATED', `header length ${hdrLen} exceeds the ${bytes.length}-byte blob`, { source, offset: 4 });
    const typeOff = dv.getUint32(8, true);
    const typeLen = dv.getUint32(12, true);
    const strOff = dv.getUint32(16, true);
    const strLen = dv.getUint32(20, true);
    const avail = bytes.length - hdrLen;
    if (typeOff + typeLen > avail) {
      throw new BtfError('BTF_TRUNCATED', `type section [${typeOff}, +${typeLen}) runs past the ${avail} bytes after the header`, { source, offset: 8 });
    }
    if (strOff + strLen > avail) {
      throw new BtfError('BTF_TRUNCATED', `string section [${strOff}, +${strLen}) runs past the ${avail} bytes after the header`, { source, offset: 16 });
    }
    if (typeOff % 4 !== 0 || typeLen % 4 !== 0) {
      throw new BtfError('BTF_BAD_HEADER', `type section offset ${typeOff} / length ${typeLen} is not 4-byte aligned`, { source, offset: 8 });
    }
    if (typeLen > 0 && strLen > 0 && typeOff < strOff + strLen && strOff < typeOff + typeLen) {
      throw new BtfError('BTF_BAD_HEADER', 'type and string sections overlap', { source, offset: 8 });
    }
    const headerTail = bytes.subarray(BTF_HEADER_LEN, hdrLen);
    const typeBytes = bytes.subarray(hdrLen + typeOff, hdrLen + typeOff + typeLen);
    const strBytes = bytes.subarray(hdrLen + strOff, hdrLen + strOff + strLen);
    if (strLen > 0 && strBytes[strLen - 1] !== 0) {
      throw new BtfError('BTF_BAD_STRING', 'string section does not end with NUL', { source, offset: hdrLen + strOff + strLen - 1 });
    }
    if (!base && (strLen === 0 || strBytes[0] !== 0)) {
      throw new BtfError('BTF_BAD_STRING', 'string section of base BTF must start with the empty string', { source, offset: hdrLen + strOff });
    }
    const btf = new Btf(base, source, headerTail, typeBytes, strBytes);
    btf.scan(hdrLen + typeOff);
    return btf;
  }

  /** An empty BTF (optionally split over `base`) to build types into with {@link Btf.add}. */
  static empty(options?: BtfOptions): Btf {
    const base = options?.base;
    // Base BTF needs the empty string at offset 0; split BTF inherits its base's offset 0.
    const strBytes = base ? new Uint8Array(0) : new Uint8Array(1);
    return new Btf(base, options?.source ?? '<new btf>', new Uint8Array(0), new Uint8Array(0), strBytes);
  }

  /**
   * Walk the type section once: record offsets, kinds and name offsets. Large sections (the kernel's)
   * are framed by the WebAssembly walk, small ones by the JavaScript one (see frame.ts); both give
   * up on malformed input, and the checked walk then reports the precise error.
   */
  private scan(fileOffset: number): void {
    const bytes = this.typeBytes;
    const framing =
      (bytes.length >= WASM_MIN_BYTES ? frameWasm(bytes, KIND_WORDS) : undefined) ?? frameJs(bytes, KIND_WORDS) ?? this.scanChecked(fileOffset);
    const n = framing.count;
    this.recordOffsets = framing.offsets;
    this.offsetShift = framing.offsetShift;
    this.kinds = framing.kinds;
    this.nameOffs = framing.names;
    this.allChains = framing.chainKinds;
    this.framedKinds = framing.kinds;
    this.parsedCount = n;
    this.ownCount = n;
    this.dirty = new Uint8Array(n);
    this.cache = new TypeCache();
  }

  /** The portable, fully checked walk of {@link scan}; throws the precise BtfError. */
  private scanChecked(fileOffset: number): Framing {
    const view = this.typeView;
    const end = this.typeBytes.length;
    const max = Math.floor(end / TYPE_LEN) + 1;
    const offsets = new Uint32Array(max + 1);
    const kinds = new Uint8Array(max);
    const names = new Uint32Array(max);
    let off = 0;
    let n = 0;
    while (off < end) {
      if (off + TYPE_LEN > end) {
        throw new BtfError('BTF_TRUNCATED', `type record header cut short by the end of the type section`, {
          source: this.source,
          typeId: this.firstTypeId + n,
          offset: fileOffset + off,
        });
      }
      const info = view.getUint32(off + 4, true);
      const kind = (info >>> 24) & 0x1f;
      const size = kind === 0 ? -1 : trailingSize(kind, info & 0xffff);
      if (size < 0) {
        throw new BtfError('BTF_BAD_KIND', `unknown kind ${kind}`, { source: this.source, typeId: this.firstTypeId + n, offset: fileOffset + off });
      }
      const next = off + TYPE_LEN + size;
      if (next > end) {
        throw new BtfError('BTF_TRUNCATED', `${KIND_NAMES[kind]} record needs ${TYPE_LEN + size} bytes, ${end - off} remain`, {
          source: this.source,
          typeId: this.firstTypeId + n,
          offset: fileOffset + off,
        });
      }
      offsets[n] = off;
      kinds[n] = kind;
      names[n] = view.getUint32(off, true);
      n++;
      off = next;
    }
    offsets[n] = off;
    return { count: n, offsets, kinds, names, offsetShift: 0 };
  }

  /**
   * Where parsed record `local` starts in `typeBytes` (`parsedCount`: the section's end). With
   * sparse offsets, walks the few records from the previous stored one (parse validated them).
   */
  private recordOffset(local: number): number {
    const shift = this.offsetShift;
    if (shift === 0) return this.recordOffsets[local];
    const base = local >>> shift;
    let off = this.recordOffsets[base];
    const view = this.typeView;
    for (let i = base << shift; i < local; i++) {
      const info = view.getUint32(off + 4, true);
      const kind = (info >>> 24) & 0x1f;
      off += TYPE_LEN + 4 * (FIXED_WORDS[kind] + VLEN_WORDS[kind] * (info & 0xffff));
    }
    return off;
  }

  /** One past the highest type id (base ids included). */
  get typeCount(): number {
    return this.firstTypeId + this.ownCount;
  }

  /** Total length of the string space (base strings included): the next string offset. */
  get stringsLength(): number {
    return this.strStart + this.strBytes.length + this.strExtraLen;
  }

  private badId(id: number): BtfError {
    return new BtfError('BTF_BAD_TYPE_ID', `type id ${id} is out of range [0, ${this.typeCount})`, { source: this.source, typeId: id });
  }

  /** Local index of an own type id, or -1 when the id belongs to the base. Throws for a bad id. */
  private local(id: number): number {
    if (!Number.isInteger(id) || id < 0 || id >= this.typeCount) throw this.badId(id);
    return id < this.firstTypeId ? -1 : id - this.firstTypeId;
  }

  /**
   * The type with id `id` (0 is `void`). Base ids are delegated to the base. Cached.
   * @throws BtfError BTF_BAD_TYPE_ID, BTF_BAD_STRING
   */
  type(id: number): BtfType {
    if (id === 0) return VOID;
    const local = this.local(id);
    if (local < 0) {
      if (!this.base) return VOID; // only id 0 is below firstTypeId for base BTF
      return this.base.type(id);
    }
    const cached = this.cache.get(local);
    if (cached !== undefined) return cached;
    const t = this.decode(local);
    this.cache.set(local, t);
    return t;
  }

  /** The kind of type `id`, read without decoding the record. */
  kind(id: number): BtfKindName {
    if (id === 0) return 'void';
    const local = this.local(id);
    if (local < 0) return this.base ? this.base.kind(id) : 'void';
    return KIND_NAMES[this.kinds[local]];
  }

  /** The name of type `id` ('' for anonymous types). */
  name(id: number): string {
    if (id === 0) return '';
    const local = this.local(id);
    if (local < 0) return this.base ? this.base.name(id) : '';
    return this.stringFor(this.nameOffs[local], id);
  }

  /**
   * The string at `offset` in the (base + own) string space.
   * @throws BtfError BTF_BAD_STRING
   */
  string(offset: number): string {
    return this.stringFor(offset, undefined);
  }

  private stringFor(offset: number, typeId: number | undefined): string {
    if (offset < this.strStart) {
      if (this.base) return this.base.stringFor(offset, typeId);
    }
    let rel = offset - this.strStart;
    if (Number.isInteger(rel) && rel >= 0) {
      const raw = this.strBytes;
      if (rel < raw.length) {
        const end = raw.indexOf(0, rel);
        // parse() guarantees a terminating NUL; empty() strings too.
        return utf8Text(raw, rel, end < 0 ? raw.length : end);
      }
      rel -= raw.length;
      if (rel < this.strExtraLen) {
        const end = this.strExtra.indexOf(0, rel);
        return utf8Text(this.strExtra, rel, end);
      }
    }
    throw new BtfError('BTF_BAD_STRING', `string offset ${offset} is outside the ${this.stringsLength}-byte string table`, {
      source: this.source,
      typeId,
    });
  }

  /** The bytes and start of the string at `offset`, or undefined when out of range. */
  private stringBytes(offset: number): { bytes: Uint8Array; start: number } | undefined {
    if (offset < this.strStart) return this.base ? this.base.stringBytes(offset) : undefined;
    let rel = offset - this.strStart;
    if (rel < this.strBytes.length) return { bytes: this.strBytes, start: rel };
    rel -= this.strBytes.length;
    if (rel < this.strExtraLen) return { bytes: this.strExtra, start: rel };
    return undefined;
  }

  /** Decode own record `local` from its original bytes. */
  private decode(local: number): BtfType {
    const id = this.firstTypeId + local;
    const v = this.typeView;
    const off = this.recordOffset(local);
    const info = v.getUint32(off + 4, true);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const kflag = (info & 0x80000000) !== 0;
    const sizeOrType = v.getUint32(off + 8, true);
    const name = this.stringFor(v.getUint32(off, true), id);
    const p = off + TYPE_LEN;
    switch (kind) {
      case BTF_KIND.INT: {
        const e = v.getUint32(p, true);
        const enc = (e >>> 24) & 0x0f;
        return {
          kind: 'int',
          name,
          size: sizeOrType,
          encoding: { signed: (enc & 1) !== 0, char: (enc & 2) !== 0, bool: (enc & 4) !== 0 },
          offset: (e >>> 16) & 0xff,
          bits: e & 0xff,
        };
      }
      case BTF_KIND.PTR:
        return { kind: 'ptr', name, type: sizeOrType };
      case BTF_KIND.TYPEDEF:
        return { kind: 'typedef', name, type: sizeOrType };
      case BTF_KIND.VOLATILE:
        return { kind: 'volatile', name, type: sizeOrType };
      case BTF_KIND.CONST:
        return { kind: 'const', name, type: sizeOrType };
      case BTF_KIND.RESTRICT:
        return { kind: 'restrict', name, type: sizeOrType };
      case BTF_KIND.TYPE_TAG:
        return kflag ? { kind: 'type_tag', name, type: sizeOrType, attribute: true } : { kind: 'type_tag', name, type: sizeOrType };
      case BTF_KIND.ARRAY:
        return { kind: 'array', name: '', elemType: v.getUint32(p, true), indexType: v.getUint32(p + 4, true), nelems: v.getUint32(p + 8, true) };
      case BTF_KIND.STRUCT:
      case BTF_KIND.UNION: {
        const members: BtfMember[] = new Array<BtfMember>(vlen);
        for (let i = 0; i < vlen; i++) {
          const q = p + i * 12;
          const raw = v.getUint32(q + 8, true);
          members[i] = {
            name: this.stringFor(v.getUint32(q, true), id),
            type: v.getUint32(q + 4, true),
            bitOffset: kflag ? raw & 0xffffff : raw,
            bitfieldSize: kflag ? raw >>> 24 : 0,
          };
        }
        return kind === BTF_KIND.STRUCT
          ? { kind: 'struct', name, size: sizeOrType, kindFlag: kflag, members }
          : { kind: 'union', name, size: sizeOrType, kindFlag: kflag, members };
      }
      case BTF_KIND.ENUM: {
        const values = new Array<{ name: string; value: number }>(vlen);
        for (let i = 0; i < vlen; i++) {
          const q = p + i * 8;
          values[i] = { name: this.stringFor(v.getUint32(q, true), id), value: kflag ? v.getInt32(q + 4, true) : v.getUint32(q + 4, true) };
        }
        return { kind: 'enum', name, size: sizeOrType, signed: kflag, values };
      }
      case BTF_KIND.ENUM64: {
        const values = new Array<{ name: string; value: bigint }>(vlen);
        for (let i = 0; i < vlen; i++) {
          const q = p + i * 12;
          const u = (BigInt(v.getUint32(q + 8, true)) << 32n) | BigInt(v.getUint32(q + 4, true));
          values[i] = { name: this.stringFor(v.getUint32(q, true), id), value: kflag ? BigInt.asIntN(64, u) : u };
        }
        return { kind: 'enum64', name, size: sizeOrType, signed: kflag, values };
      }
      case BTF_KIND.FWD:
        return { kind: 'fwd', name, union: kflag };
      case BTF_KIND.FUNC:
        return { kind: 'func', name, type: sizeOrType, linkage: vlen };
      case BTF_KIND.FUNC_PROTO: {
        const params = new Array<{ name: string; type: number }>(vlen);
        for (let i = 0; i < vlen; i++) {
          const q = p + i * 8;
          params[i] = { name: this.stringFor(v.getUint32(q, true), id), type: v.getUint32(q + 4, true) };
        }
        return { kind: 'func_proto', name: '', returnType: sizeOrType, params };
      }
      case BTF_KIND.VAR:
        return { kind: 'var', name, type: sizeOrType, linkage: v.getUint32(p, true) };
      case BTF_KIND.DATASEC: {
        const vars = new Array<{ type: number; offset: number; size: number }>(vlen);
        for (let i = 0; i < vlen; i++) {
          const q = p + i * 12;
          vars[i] = { type: v.getUint32(q, true), offset: v.getUint32(q + 4, true), size: v.getUint32(q + 8, true) };
        }
        return { kind: 'datasec', name, size: sizeOrType, vars };
      }
      case BTF_KIND.FLOAT:
        return { kind: 'float', name, size: sizeOrType };
      case BTF_KIND.DECL_TAG:
        return kflag
          ? { kind: 'decl_tag', name, type: sizeOrType, componentIdx: v.getInt32(p, true), attribute: true }
          : { kind: 'decl_tag', name, type: sizeOrType, componentIdx: v.getInt32(p, true) };
      default:
        // scan() rejected every other kind.
        throw new BtfError('BTF_BAD_KIND', `unknown kind ${kind}`, { source: this.source, typeId: id });
    }
  }

  // ---------------------------------------------------------------- name lookup

  /**
   * A number that changes whenever a type is added or replaced, so callers can cache results
   * derived from this BTF (CO-RE candidate lists) and notice when they go stale.
   */
  get revision(): number {
    return this.mutations;
  }

  /**
   * Every type id (base first, then own, ascending) whose name is `name`. Names are compared as raw
   * bytes, never decoded: the first calls walk all types once; later ones go through the per-kind
   * chains, prefix buckets and (for heavy use) hash indexes that `find` uses.
   */
  idsByName(name: string): readonly number[] {
    const own = this.ownIdsByName(name);
    if (!this.base) return own;
    const baseIds = this.base.idsByName(name);
    if (baseIds.length === 0) return own;
    if (own.length === 0) return baseIds;
    return [...baseIds, ...own];
  }

  private ownIdsByName(name: string): number[] {
    if (name === '') return this.ownAnonymousIds();
    const q = utf8Encoder.encode(name);
    if (this.nameScans < 2) {
      // The first lookups across all kinds: one walk comparing first bytes is cheaper than building
      // the chain and prefix index of every kind.
      this.nameScans++;
      const out: number[] = [];
      const raw = this.strBytes;
      const rawStart = this.strStart;
      const rawLen = raw.length;
      const nameOffs = this.nameOffs;
      const q0 = q[0];
      for (let local = 0; local < this.ownCount; local++) {
        const off = nameOffs[local];
        if (off === 0) continue;
        const rel = off - rawStart;
        if (rel >= 0 && rel < rawLen && raw[rel] !== q0) continue;
        if (this.nameEquals(local, q)) out.push(local);
      }
      return this.toSortedIds(out);
    }
    const h = nameHash(q);
    let locals: number[] = [];
    for (let k = 1; k < KIND_SLOTS; k++) {
      if (this.chainBuilt[k] === 0) this.buildKindChain(k);
      if (this.kindHead[k] < 0) continue;
      const found = this.ownLocals(k, q, h, undefined, false, false);
      if (found.length > 0) locals = locals.length === 0 ? found : locals.concat(found);
    }
    for (const local of this.changed) if (this.nameEquals(local, q)) locals.push(local);
    return this.toSortedIds(locals);
  }

  /** Own ids whose name is empty (anonymous types), by a linear scan: nobody looks these up often. */
  private ownAnonymousIds(): number[] {
    const out: number[] = [];
    for (let local = 0; local < this.ownCount; local++) {
      const off = this.nameOffs[local];
      if (off === 0) {
        out.push(this.firstTypeId + local);
        continue;
      }
      const loc = this.stringBytes(off);
      if (loc === undefined || loc.bytes[loc.start] === 0) out.push(this.firstTypeId + local);
    }
    return out;
  }

  /** Ascending, de-duplicated ids of `locals` (reuses the array). */
  private toSortedIds(locals: number[]): number[] {
    if (locals.length > 1) {
      locals.sort((a, b) => a - b);
      let w = 1;
      for (let r = 1; r < locals.length; r++) if (locals[r] !== locals[w - 1]) locals[w++] = locals[r];
      locals.length = w;
    }
    for (let i = 0; i < locals.length; i++) locals[i] += this.firstTypeId;
    return locals;
  }

  /** Own type ids whose kind is now `kind`, ascending: a native scan of the kind bytes, nothing decoded. */
  ownIdsOfKind(kind: BtfKindName): number[] {
    const k = KIND_NUMBERS.get(kind);
    const out: number[] = [];
    if (k === undefined || k === 0) return out;
    const kinds = this.kinds;
    const n = this.ownCount;
    for (let local = kinds.indexOf(k); local >= 0 && local < n; local = kinds.indexOf(k, local + 1)) out.push(this.firstTypeId + local);
    return out;
  }

  /**
   * Own ids of kind `kind` whose essential name (the name without its last `___flavour` suffix, as
   * CO-RE compares names) equals the essential name of `name`: `task_struct___v2` finds
   * `task_struct` and `task_struct___x`. Ascending. Base types are not searched.
   */
  ownIdsByEssentialName(name: string, kind: BtfKindName): number[] {
    const k = KIND_NUMBERS.get(kind);
    const ess = essentialOf(name);
    if (k === undefined || k === 0 || ess === '') return [];
    const q = utf8Encoder.encode(ess);
    // An essential name that itself contains a separator is only matched by longer, flavoured names.
    const flavouredEss = essentialOf(ess) !== ess;
    return this.rememberedOr(`e${k}:${ess}`, Infinity, (id) => this.isOwnNamed(id, k, q, ess, flavouredEss), () => {
      const locals = this.ownLocals(k, q, nameHash(q), ess, flavouredEss, false);
      for (const local of this.changed) if (this.kinds[local] === k && this.matchName(local, q, ess, flavouredEss)) locals.push(local);
      return this.toSortedIds(locals);
    });
  }

  /**
   * `search()`, or the memo's answer for `key` when it has at most `maxIds` ids and every one passes
   * `check`; the memo learns what a search found. Without a memo, or once this BTF has changed since
   * parse, just `search()`.
   */
  private rememberedOr(key: string, maxIds: number, check: (id: number) => boolean, search: () => number[]): number[] {
    const memo = this.mutations === 0 ? this.memo : undefined;
    if (memo === undefined) return search();
    const remembered = memo.get(key);
    if (remembered !== undefined && remembered.length <= maxIds && remembered.every(check)) return [...remembered];
    const ids = search();
    // A find's record offset lets the next process check its answer before parsing (findKernelType).
    memo.set(
      key,
      ids,
      maxIds === 1 ? ids.map((id) => this.recordOffset(id - this.firstTypeId)) : undefined,
    );
    return ids;
  }

  /**
   * Is `id` an own type of kind number `k` named `q` (or, with `ess`, of that essential name)? The
   * check of a remembered lookup answer: integer, in range, then kind and name bytes.
   */
  private isOwnNamed(id: number, k: number, q: Uint8Array, ess: string | undefined, flavouredEss: boolean): boolean {
    const local = id - this.firstTypeId;
    if (!Number.isInteger(local) || local < 0 || local >= this.ownCount || this.kinds[local] !== k) return false;
    return ess === undefined ? this.nameEquals(local, q) : this.matchName(local, q, ess, flavouredEss);
  }

  /**
   * Keep lookup answers in `memo` (undefined: stop). {@link find} and {@link ownIdsByEssentialName}
   * then ask it first while this BTF is unchanged since parse, check every id it gives, and tell it
   * what they found otherwise. For the kernel's own BTF, {@link loadKernelBtf} sets one up.
   */
  useLookupMemo(memo: BtfLookupMemo | undefined): void {
    this.memo = memo;
  }

  /** The memo set by {@link useLookupMemo}, if any. */
  get lookupMemo(): BtfLookupMemo | undefined {
    return this.memo;
  }

  /**
   * Locals on kind `k`'s chain (so not `changed` ones re-kinded to `k`) named `q` (hash `h`), or,
   * with `ess`, whose essential name is `ess` (`q` its bytes). Unordered, possibly repeated; with
   * `first` (a find), the very first lookup of a kind may stop at its first hit. Tiers: the first
   * lookup walks the kind's chain (building the prefix index unless it stops early), the next ones
   * walk one prefix bucket, and after HASH_AFTER_LOOKUPS a full hash index answers.
   */
  private ownLocals(k: number, q: Uint8Array, h: number, ess: string | undefined, flavouredEss: boolean, first: boolean): number[] {
    const out: number[] = [];
    if (q.length === 0) return out;
    const kinds = this.kinds;
    const nameOffs = this.nameOffs;
    const raw = this.strBytes;
    const rawStart = this.strStart;
    const rawLen = raw.length;
    // A name equal to q (or q___flavour) has q's last byte at qn - 1 and NUL or `___` at qn: checked
    // in place before matchName, which buckets like `trace_event_raw_*` would otherwise call
    // thousands of times, cold.
    const qn = q.length;
    const qLast = q[qn - 1];
    const lookups = this.kindLookups[k] < 255 ? ++this.kindLookups[k] : 255;
    if (this.chainBuilt[k] === 0) {
      if (first && lookups === 1) return this.firstOfKind(k, q, ess, flavouredEss);
      this.buildKindChain(k);
    }
    const next = this.kindNext;
    const built = this.kindIndexes[k];
    if (built === undefined && lookups <= HASH_AFTER_LOOKUPS) {
      const q0 = q[0];
      const heads = this.prefixHeads[k];
      if (heads !== undefined) {
        // Exact names and flavoured ones (`ess___x`) share the first two bytes, except when the
        // essential name has one byte: then `s` and `s___x` differ in the second.
        const pnext = this.prefixNext;
        const key = prefixKey(q0, q.length > 1 ? q[1] : 0);
        for (let local = heads[key]; local >= 0; local = pnext[local]) {
          const rel = nameOffs[local] - rawStart;
          if (rel >= 0 && rel < rawLen) {
            const after = raw[rel + qn];
            if (raw[rel + qn - 1] !== qLast || (after !== 0 && (after !== UNDERSCORE || raw[rel + qn + 1] !== UNDERSCORE || raw[rel + qn + 2] !== UNDERSCORE))) continue;
          }
          if (kinds[local] === k && this.matchName(local, q, ess, flavouredEss)) out.push(local);
        }
        const key2 = prefixKey(q0, UNDERSCORE);
        if (q.length === 1 && ess !== undefined && key2 !== key) {
          for (let local = heads[key2]; local >= 0; local = pnext[local]) {
            if (kinds[local] === k && this.matchName(local, q, ess, flavouredEss)) out.push(local);
          }
        }
        return out;
      }
      if (first && lookups === 1) {
        // A one-off find: stop at the first hit, build nothing. Most names differ in the first byte.
        for (let local = this.kindHead[k]; local >= 0; local = next[local]) {
          const off = nameOffs[local];
          const rel = off - rawStart;
          if (rel >= 0 && rel < rawLen) {
            if (raw[rel] !== q0) continue;
            const after = raw[rel + qn];
            if (raw[rel + qn - 1] !== qLast || (after !== 0 && (after !== UNDERSCORE || raw[rel + qn + 1] !== UNDERSCORE || raw[rel + qn + 2] !== UNDERSCORE))) continue;
          } else if (off === 0) {
            continue;
          }
          if (kinds[local] === k && this.matchName(local, q, ess, flavouredEss)) {
            out.push(local);
            break;
          }
        }
        return out;
      }
      // Walk the whole chain, bucketing every named type by its first two bytes on the way.
      const fresh = new Int32Array(PREFIX_BUCKETS).fill(-1);
      if (this.prefixNext.length < next.length) this.prefixNext = growI32(this.prefixNext, next.length);
      const pnext = this.prefixNext;
      for (let local = this.kindHead[k]; local >= 0; local = next[local]) {
        const off = nameOffs[local];
        if (off === 0) continue;
        const rel = off - rawStart;
        let b0: number;
        let b1: number;
        if (rel >= 0 && rel < rawLen) {
          b0 = raw[rel];
          b1 = b0 === 0 ? 0 : raw[rel + 1];
        } else {
          const loc = this.stringBytes(off);
          if (loc === undefined) continue;
          b0 = loc.bytes[loc.start];
          b1 = b0 === 0 ? 0 : loc.bytes[loc.start + 1];
        }
        const key = (b0 * 37 + b1) & (PREFIX_BUCKETS - 1); // prefixKey(), inlined: this loop runs cold over every type of the kind
        pnext[local] = fresh[key];
        fresh[key] = local;
        if (b0 !== q0) continue;
        if (rel >= 0 && rel < rawLen) {
          const after = raw[rel + qn];
          if (raw[rel + qn - 1] !== qLast || (after !== 0 && (after !== UNDERSCORE || raw[rel + qn + 1] !== UNDERSCORE || raw[rel + qn + 2] !== UNDERSCORE))) continue;
        }
        if (kinds[local] === k && this.matchName(local, q, ess, flavouredEss)) out.push(local);
      }
      this.prefixHeads[k] = fresh;
      return out;
    }
    const index = built ?? this.kindIndex(k);
    if (!flavouredEss) {
      for (let e = index.head[h & index.mask]; e >= 0; e = index.next[e]) {
        if (index.hashes[e] !== h) continue;
        const local = index.locals[e];
        if (kinds[local] === k && this.nameEquals(local, q)) out.push(local);
      }
    }
    if (ess !== undefined) {
      for (const local of index.flavoured) if (kinds[local] === k && this.matchName(local, q, ess, flavouredEss)) out.push(local);
    }
    // Types added since the index was built follow its tail on the chain.
    for (let local = index.builtTail < 0 ? this.kindHead[k] : next[index.builtTail]; local >= 0; local = next[local]) {
      if (kinds[local] === k && this.matchName(local, q, ess, flavouredEss)) out.push(local);
    }
    return out;
  }

  /**
   * A one-off lookup right after parse: visit kind `k`'s types in order (native `indexOf` over the
   * kind bytes), stop at the first whose name matches, build nothing. Kept apart from `ownLocals`
   * so that a first `find` does not compile that large function.
   */
  private firstOfKind(k: number, q: Uint8Array, ess: string | undefined, flavouredEss: boolean): number[] {
    const out: number[] = [];
    const kinds = this.kinds;
    const nameOffs = this.nameOffs;
    const raw = this.strBytes;
    const rawStart = this.strStart;
    const rawLen = raw.length;
    const q0 = q[0];
    const qn = q.length;
    const qLast = q[qn - 1];
    const n = this.ownCount;
    for (let local = kinds.indexOf(k); local >= 0 && local < n; local = kinds.indexOf(k, local + 1)) {
      const rel = nameOffs[local] - rawStart;
      if (rel >= 0 && rel < rawLen) {
        // Same in-place pre-check as ownLocals.
        const after = raw[rel + qn];
        if (raw[rel] !== q0 || raw[rel + qn - 1] !== qLast || (after !== 0 && (after !== UNDERSCORE || raw[rel + qn + 1] !== UNDERSCORE || raw[rel + qn + 2] !== UNDERSCORE))) continue;
      }
      if (this.matchName(local, q, ess, flavouredEss)) {
        out.push(local);
        break;
      }
    }
    return out;
  }

  /** The name index of kind `k`: one walk of its chain hashing the raw name bytes (no decoding). */
  private kindIndex(k: number): KindNameIndex {
    const built = this.kindIndexes[k];
    if (built) return built;
    const chain = this.kindNext;
    const nameOffs = this.nameOffs;
    let n = 0;
    for (let local = this.kindHead[k]; local >= 0; local = chain[local]) if (nameOffs[local] !== 0) n++;
    let buckets = 16;
    while (buckets < n * 2) buckets *= 2;
    const mask = buckets - 1;
    const head = new Int32Array(buckets).fill(-1);
    const next = new Int32Array(n);
    const hashes = new Int32Array(n);
    const locals = new Uint32Array(n);
    const flavoured: number[] = [];
    const raw = this.strBytes;
    const rawStart = this.strStart;
    const rawEnd = rawStart + raw.length;
    let e = -1;
    for (let local = this.kindHead[k]; local >= 0; local = chain[local]) {
      const off = nameOffs[local];
      if (off === 0) continue;
      e++;
      let bytes = raw;
      let i = off - rawStart;
      if (off < rawStart || off >= rawEnd) {
        // A base string or one appended since parse: the slow path.
        const loc = this.stringBytes(off);
        bytes = loc === undefined ? EMPTY_NAME : loc.bytes;
        i = loc === undefined ? 0 : loc.start;
      }
      // Same hash as nameHash(). Flavour separator: a non-'_' right after exactly three '_' that
      // follow a non-'_' (`run` starts very negative so that leading underscores never count).
      let h = 0;
      let run = -1000;
      let flavour = false;
      for (let c = bytes[i]; c !== 0 && c !== undefined; c = bytes[++i]) {
        h = (h * 31 + c) | 0;
        if (c === UNDERSCORE) {
          run++;
        } else {
          if (run === 3) flavour = true;
          run = 0;
        }
      }
      locals[e] = local;
      hashes[e] = h;
      const bucket = h & mask;
      next[e] = head[bucket];
      head[bucket] = e;
      if (flavour) flavoured.push(local);
    }
    const index: KindNameIndex = { builtTail: this.kindTail[k], mask, head, next, hashes, locals, flavoured };
    this.kindIndexes[k] = index;
    return index;
  }

  /** Bookkeeping after own type `local` changed: caches go, a renamed or re-kinded type is listed. */
  private noteChange(local: number, renamed: boolean): void {
    this.mutations++;
    this.findCache.clear();
    this.alignCache.clear();
    if (!renamed) return;
    this.changed.push(local);
    // Many changes (a sanitizer pass): rebuild the chains from the current kinds instead.
    if (this.changed.length > 64 && this.changed.length * 8 > this.ownCount) this.rebuildKindChains();
  }

  /** Puts own type `local` (just added) into its kind's prefix index. */
  private addToPrefixIndex(heads: Int32Array, local: number): void {
    const off = this.nameOffs[local];
    if (off === 0) return;
    const loc = this.stringBytes(off);
    if (loc === undefined) return;
    const b0 = loc.bytes[loc.start];
    const key = prefixKey(b0, b0 === 0 ? 0 : loc.bytes[loc.start + 1]);
    this.prefixNext = growI32(this.prefixNext, local + 1);
    this.prefixNext[local] = heads[key];
    heads[key] = local;
  }

  /** Drops every chain and index: they are rebuilt from the current kinds on the next lookups. */
  private rebuildKindChains(): void {
    this.kindHead.fill(-1);
    this.kindTail.fill(-1);
    this.chainBuilt.fill(0);
    this.kindIndexes = [];
    this.prefixHeads = [];
    this.changed = [];
  }

  /**
   * Builds kind `k`'s chain from the current kind bytes; `indexOf` is native, fast even when cold,
   * but a CO-RE pass over the kernel's BTF chains 20k structs, unions, enums and typedefs that way
   * (~1 µs each before the JIT warms up). So the first chain of a wasm-framed BTF builds every
   * kind's chain at once, in the wasm module.
   */
  private buildKindChain(k: number): void {
    if (this.buildAllChains()) return;
    if (this.kindNext.length < this.ownCount) this.kindNext = growI32(this.kindNext, this.ownCount);
    const next = this.kindNext;
    const kinds = this.kinds;
    const n = this.ownCount;
    let tail = -1;
    for (let local = kinds.indexOf(k); local >= 0 && local < n; local = kinds.indexOf(k, local + 1)) {
      if (tail < 0) this.kindHead[k] = local;
      else next[tail] = local;
      tail = local;
    }
    if (tail >= 0) next[tail] = -1;
    else this.kindHead[k] = -1;
    this.kindTail[k] = tail;
    this.chainBuilt[k] = 1;
  }

  /** Every kind's chain in one wasm pass, while nothing is chained or added yet; false otherwise. */
  private buildAllChains(): boolean {
    const all = this.allChains;
    if (all === undefined) return false;
    this.allChains = undefined;
    if (this.kinds !== this.framedKinds || this.ownCount !== this.parsedCount || this.chainBuilt.includes(1)) return false;
    const chains = all();
    this.kindNext = chains.next;
    for (let k = 0; k < KIND_SLOTS; k++) {
      this.kindHead[k] = chains.head[k];
      this.kindTail[k] = chains.tail[k];
      this.chainBuilt[k] = 1;
    }
    return true;
  }

  /** Whether own type `local`'s name equals the UTF-8 bytes `q`, compared in place. */
  private nameEquals(local: number, q: Uint8Array): boolean {
    return this.matchName(local, q, undefined, false);
  }

  /**
   * Whether own type `local`'s name is `q` (when `ess` is undefined) or has the essential name `ess`
   * whose bytes are `q` (exact matches count unless `flavouredEss`), compared in place.
   */
  private matchName(local: number, q: Uint8Array, ess: string | undefined, flavouredEss: boolean): boolean {
    const off = this.nameOffs[local];
    let b = this.strBytes;
    let s = off - this.strStart;
    if (s < 0 || s >= b.length) {
      const loc = this.stringBytes(off);
      if (!loc) return false;
      b = loc.bytes;
      s = loc.start;
    }
    const len = q.length;
    if (s + len >= b.length) return false;
    for (let i = 0; i < len; i++) if (b[s + i] !== q[i]) return false;
    const after = b[s + len];
    if (after === 0) return !flavouredEss;
    if (ess === undefined || after !== UNDERSCORE || b[s + len + 1] !== UNDERSCORE || b[s + len + 2] !== UNDERSCORE) return false;
    return essentialOf(this.stringFor(off, this.firstTypeId + local)) === ess;
  }

  /**
   * The lowest type id with this name and kind, or undefined. Walks only the records of that kind
   * (its hash index once it is looked up often), comparing name bytes in place; memoized.
   */
  find(name: string, kind: BtfKindName): number | undefined {
    if (this.base) {
      const b = this.base.find(name, kind);
      if (b !== undefined) return b;
    }
    const k = KIND_NUMBERS.get(kind);
    if (k === undefined || k === 0) return undefined;
    const key = `${k}:${name}`;
    if (this.findCache.has(key)) return this.findCache.get(key);
    let found: number | undefined;
    if (name === '') {
      for (const id of this.ownAnonymousIds()) {
        if (this.kinds[id - this.firstTypeId] === k) {
          found = id;
          break;
        }
      }
    } else {
      const q = utf8Encoder.encode(name);
      const ids = this.rememberedOr(findKeyOf(k, name), 1, (id) => this.isOwnNamed(id, k, q, undefined, false), () => {
        const id = this.findOwn(k, q);
        return id === undefined ? [] : [id];
      });
      found = ids.length === 0 ? undefined : ids[0];
    }
    if (this.findCache.size >= 4096) this.findCache.clear();
    this.findCache.set(key, found);
    return found;
  }

  /** The lowest own id of kind number `k` named `q` (not empty), by the kind's lookup tiers. */
  private findOwn(k: number, q: Uint8Array): number | undefined {
    let locals: number[];
    if (this.chainBuilt[k] === 0 && this.kindLookups[k] === 0) {
      // The first lookup of this kind (what ownLocals would do, without compiling it).
      this.kindLookups[k] = 1;
      locals = this.firstOfKind(k, q, undefined, false);
    } else {
      locals = this.ownLocals(k, q, nameHash(q), undefined, false, true);
    }
    for (const local of this.changed) if (this.kinds[local] === k && this.nameEquals(local, q)) locals.push(local);
    let found: number | undefined;
    for (const local of locals) if (found === undefined || local < found) found = local;
    return found === undefined ? undefined : found + this.firstTypeId;
  }

  // ---------------------------------------------------------------- resolution

  /** Follow volatile/const/restrict/type_tag to the first other type. */
  skipQualifiers(id: number): number {
    let cur = id;
    for (let steps = 0; ; steps++) {
      const k = this.kind(cur);
      if (!QUALIFIER_KINDS.has(k)) return cur;
      if (steps > this.typeCount) throw this.cycle(id, 'qualifier chain');
      cur = (this.type(cur) as { type: number }).type;
    }
  }

  /** Follow qualifiers and typedefs to the first other type. */
  underlying(id: number): number {
    let cur = id;
    for (let steps = 0; ; steps++) {
      const k = this.kind(cur);
      if (k !== 'typedef' && !QUALIFIER_KINDS.has(k)) return cur;
      if (steps > this.typeCount) throw this.cycle(id, 'typedef/qualifier chain');
      cur = (this.type(cur) as { type: number }).type;
    }
  }

  private cycle(id: number, what: string): BtfError {
    return new BtfError('BTF_CYCLE', `${what} starting at type ${id} loops`, { source: this.source, typeId: id });
  }

  /**
   * Size in bytes of type `id`: ints, pointers (8), arrays, composites, enums, floats, datasecs,
   * variables and typedef/qualifier chains.
   * @throws BtfError BTF_NO_SIZE for void, functions, prototypes and forward declarations; BTF_CYCLE
   */
  sizeof(id: number): number {
    let cur = id;
    let mult = 1;
    for (let steps = 0; ; steps++) {
      if (steps > this.typeCount) throw this.cycle(id, 'size resolution');
      const t = this.type(cur);
      switch (t.kind) {
        case 'int':
        case 'struct':
        case 'union':
        case 'enum':
        case 'enum64':
        case 'float':
        case 'datasec':
          return mult * t.size;
        case 'ptr':
          return mult * PTR_SIZE;
        case 'array':
          mult *= t.nelems;
          cur = t.elemType;
          break;
        case 'typedef':
        case 'volatile':
        case 'const':
        case 'restrict':
        case 'type_tag':
        case 'var':
          cur = t.type;
          break;
        default:
          throw new BtfError('BTF_NO_SIZE', `${t.kind} ${t.name || '(anon)'} has no size`, { source: this.source, typeId: cur });
      }
    }
  }

  /**
   * Alignment in bytes of type `id`, following the C rules libbpf uses: scalars align to their size
   * capped at 8, arrays to their element, composites to their strictest member, or 1 when their
   * layout proves they are packed.
   * @throws BtfError BTF_NO_SIZE, BTF_CYCLE
   */
  alignof(id: number): number {
    return this.alignofDepth(id, 0);
  }

  private alignofDepth(id: number, depth: number): number {
    let cur = id;
    for (let steps = 0; ; steps++) {
      if (steps > this.typeCount || depth > this.typeCount) throw this.cycle(id, 'alignment resolution');
      const t = this.type(cur);
      switch (t.kind) {
        case 'int':
        case 'enum':
        case 'enum64':
        case 'float':
          return Math.max(1, Math.min(t.size, PTR_SIZE));
        case 'ptr':
          return PTR_SIZE;
        case 'datasec':
          return 1;
        case 'array':
          cur = t.elemType;
          break;
        case 'typedef':
        case 'volatile':
        case 'const':
        case 'restrict':
        case 'type_tag':
        case 'var':
          cur = t.type;
          break;
        case 'struct':
        case 'union': {
          const memo = this.alignCache.get(cur);
          if (memo !== undefined) {
            if (memo < 0) throw this.cycle(cur, 'composite containing itself');
            return memo;
          }
          this.alignCache.set(cur, -1);
          try {
            let maxAlign = 1;
            let packed = false;
            for (const m of t.members) {
              const a = this.alignofDepth(m.type, depth + 1);
              if (a > maxAlign) maxAlign = a;
              if (m.bitfieldSize === 0 && m.bitOffset % (8 * a) !== 0) packed = true;
            }
            if (t.size % maxAlign !== 0) packed = true;
            const result = packed ? 1 : maxAlign;
            this.alignCache.set(cur, result);
            return result;
          } catch (e) {
            this.alignCache.delete(cur);
            throw e;
          }
        }
        default:
          throw new BtfError('BTF_NO_SIZE', `${t.kind} ${t.name || '(anon)'} has no alignment`, { source: this.source, typeId: cur });
      }
    }
  }

  // ---------------------------------------------------------------- building

  /** Append `type` to the own part; returns its id. Names are interned into the string table. */
  add(type: BtfType): number {
    if (type.kind === 'void') throw new BtfError('BTF_BAD_KIND', 'void cannot be added: it is type id 0', { source: this.source });
    const kind = KIND_NUMBERS.get(type.kind);
    if (kind === undefined) throw new BtfError('BTF_BAD_KIND', `unknown kind ${String(type.kind)}`, { source: this.source });
    const local = this.ownCount;
    const need = local + 1;
    this.kinds = grow8(this.kinds, need);
    this.nameOffs = grow32(this.nameOffs, need);
    this.dirty = grow8(this.dirty, need);
    this.kinds[local] = kind;
    this.nameOffs[local] = this.intern(type.name);
    this.dirty[local] = 1;
    this.cache.set(local, type);
    this.ownCount = need;
    // New types go to the end of their kind's chain (once that chain exists).
    if (this.chainBuilt[kind] !== 0) this.appendToChain(local, kind);
    this.noteChange(local, false);
    return this.firstTypeId + local;
  }

  private appendToChain(local: number, kind: number): void {
    this.kindNext = growI32(this.kindNext, local + 1);
    this.kindNext[local] = -1;
    const tail = this.kindTail[kind];
    if (tail < 0) this.kindHead[kind] = local;
    else this.kindNext[tail] = local;
    this.kindTail[kind] = local;
    const heads = this.prefixHeads[kind];
    if (heads !== undefined) this.addToPrefixIndex(heads, local);
  }

  /** Replace own type `id` in place (ids of every other type are unchanged). */
  replace(id: number, type: BtfType): void {
    const local = this.local(id);
    if (local < 0 || id === 0) {
      throw new BtfError('BTF_BAD_TYPE_ID', `type ${id} is not owned by this BTF (own ids start at ${this.firstTypeId})`, { source: this.source, typeId: id });
    }
    const kind = KIND_NUMBERS.get(type.kind);
    if (kind === undefined || kind === 0) throw new BtfError('BTF_BAD_KIND', `cannot replace with kind ${type.kind}`, { source: this.source, typeId: id });
    // Keep the original name offset when the name did not change, so re-encoding stays faithful.
    const oldOff = this.nameOffs[local];
    let sameName = false;
    try {
      sameName = this.stringFor(oldOff, id) === type.name;
    } catch {
      sameName = false;
    }
    this.nameOffs[local] = sameName ? oldOff : this.intern(type.name);
    const oldKind = this.kinds[local];
    this.kinds[local] = kind;
    this.cache.set(local, type);
    this.dirty[local] = 1;
    this.noteChange(local, !sameName || oldKind !== kind);
  }

  /**
   * Offset of `s` in the string space, appending it to the own strings when absent.
   * Existing strings are found by whole-string match (base first), so offsets are reused.
   */
  intern(s: string): number {
    // Offset 0 is the empty string in base BTF, and split BTF inherits it.
    if (s === '') return 0;
    const known = this.internMap.get(s);
    if (known !== undefined) return known;
    const found = this.lookupString(s);
    if (found !== undefined) {
      this.internMap.set(s, found);
      return found;
    }
    return this.appendString(s);
  }

  /** Offset of an existing whole string equal to `s` (base first), or undefined. */
  findString(s: string): number | undefined {
    if (s === '') return 0;
    const known = this.internMap.get(s);
    if (known !== undefined) return known;
    return this.lookupString(s);
  }

  private lookupString(s: string): number | undefined {
    if (this.base) {
      const b = this.base.findString(s);
      if (b !== undefined) return b;
    }
    if (!this.internFull) {
      this.internMisses++;
      // Many lookups (re-encoding a whole BTF): index every own string once instead of scanning.
      if (this.internMisses > 64) {
        this.indexAllStrings();
        return this.internMap.get(s);
      }
      const needle = utf8Encoder.encode(s);
      const own = searchWhole(this.strBytes, needle);
      if (own >= 0) return this.strStart + own;
      const extra = searchWhole(this.strExtra.subarray(0, this.strExtraLen), needle);
      if (extra >= 0) return this.strStart + this.strBytes.length + extra;
      return undefined;
    }
    return this.internMap.get(s);
  }

  private indexAllStrings(): void {
    const add = (bytes: Uint8Array, len: number, base: number): void => {
      let start = 0;
      while (start < len) {
        let end = bytes.indexOf(0, start);
        if (end < 0 || end > len) end = len;
        if (end > start) {
          const str = utf8Text(bytes, start, end);
          if (!this.internMap.has(str)) this.internMap.set(str, base + start);
        }
        start = end + 1;
      }
    };
    add(this.strBytes, this.strBytes.length, this.strStart);
    add(this.strExtra, this.strExtraLen, this.strStart + this.strBytes.length);
    this.internFull = true;
  }

  private appendString(s: string): number {
    const bytes = utf8Encoder.encode(s);
    if (bytes.includes(0)) throw new BtfError('BTF_BAD_STRING', `string ${JSON.stringify(s)} contains NUL`, { source: this.source });
    const need = this.strExtraLen + bytes.length + 1;
    if (need > this.strExtra.length) {
      const b = new Uint8Array(Math.max(need, this.strExtra.length * 2, 256));
      b.set(this.strExtra.subarray(0, this.strExtraLen));
      this.strExtra = b;
    }
    const off = this.strStart + this.strBytes.length + this.strExtraLen;
    this.strExtra.set(bytes, this.strExtraLen);
    this.strExtra[this.strExtraLen + bytes.length] = 0;
    this.strExtraLen = need;
    this.internMap.set(s, off);
    return off;
  }

  // ---------------------------------------------------------------- encoding

  /**
   * Encode header + own types + own strings. Unchanged records are copied from the original bytes;
   * added or replaced ones are encoded from their objects. The result is what BPF_BTF_LOAD takes.
   */
  encode(): Uint8Array {
    // Encode changed records first: that may append strings.
    const chunks: Uint8Array[] = [];
    let typeLen = 0;
    let runStart = -1;
    const flushRun = (endLocal: number): void => {
      if (runStart < 0) return;
      const a = this.recordOffset(runStart);
      const b = this.recordOffset(endLocal);
      chunks.push(this.typeBytes.subarray(a, b));
      typeLen += b - a;
      runStart = -1;
    };
    for (let local = 0; local < this.ownCount; local++) {
      if (local < this.parsedCount && this.dirty[local] === 0) {
        if (runStart < 0) runStart = local;
        continue;
      }
      flushRun(local);
      const t = this.cache.get(local);
      if (t === undefined) throw new BtfError('BTF_BAD_TYPE_ID', 'type object missing', { source: this.source, typeId: this.firstTypeId + local });
      const rec = this.encodeType(t, local);
      chunks.push(rec);
      typeLen += rec.length;
    }
    flushRun(Math.min(this.ownCount, this.parsedCount));

    const hdrLen = BTF_HEADER_LEN + this.headerTail.length;
    const strLen = this.strBytes.length + this.strExtraLen;
    const out = new Uint8Array(hdrLen + typeLen + strLen);
    const dv = new DataView(out.buffer);
    dv.setUint16(0, BTF_MAGIC, true);
    dv.setUint8(2, 1);
    dv.setUint8(3, 0);
    dv.setUint32(4, hdrLen, true);
    dv.setUint32(8, 0, true);
    dv.setUint32(12, typeLen, true);
    dv.setUint32(16, typeLen, true);
    dv.setUint32(20, strLen, true);
    out.set(this.headerTail, BTF_HEADER_LEN);
    let pos = hdrLen;
    for (const c of chunks) {
      out.set(c, pos);
      pos += c.length;
    }
    out.set(this.strBytes, pos);
    pos += this.strBytes.length;
    out.set(this.strExtra.subarray(0, this.strExtraLen), pos);
    return out;
  }

  private encodeType(t: BtfType, local: number): Uint8Array {
    const id = this.firstTypeId + local;
    const out = new Uint8Array(recordSize(t));
    const v = new DataView(out.buffer);
    const kind = KIND_NUMBERS.get(t.kind) ?? 0;
    const header = (vlen: number, kflag: boolean, sizeOrType: number): void => {
      if (vlen > 0xffff) throw new BtfError('BTF_BAD_KIND', `${t.kind} has ${vlen} entries, more than 65535`, { source: this.source, typeId: id });
      v.setUint32(0, this.nameOffs[local], true);
      v.setUint32(4, ((kflag ? 0x80000000 : 0) | (kind << 24) | vlen) >>> 0, true);
      v.setUint32(8, sizeOrType >>> 0, true);
    };
    const p = TYPE_LEN;
    switch (t.kind) {
      case 'void':
        throw new BtfError('BTF_BAD_KIND', 'void is not encodable', { source: this.source, typeId: id });
      case 'int': {
        header(0, false, t.size);
        const enc = (t.encoding.signed ? 1 : 0) | (t.encoding.char ? 2 : 0) | (t.encoding.bool ? 4 : 0);
        v.setUint32(p, ((enc << 24) | ((t.offset & 0xff) << 16) | (t.bits & 0xff)) >>> 0, true);
        break;
      }
      case 'ptr':
      case 'typedef':
      case 'volatile':
      case 'const':
      case 'restrict':
        header(0, false, t.type);
        break;
      case 'type_tag':
        header(0, t.attribute === true, t.type);
        break;
      case 'array':
        header(0, false, 0);
        v.setUint32(p, t.elemType, true);
        v.setUint32(p + 4, t.indexType, true);
        v.setUint32(p + 8, t.nelems >>> 0, true);
        break;
      case 'struct':
      case 'union':
        header(t.members.length, t.kindFlag, t.size);
        t.members.forEach((m, i) => {
          const q = p + i * 12;
          v.setUint32(q, this.intern(m.name), true);
          v.setUint32(q + 4, m.type, true);
          v.setUint32(q + 8, t.kindFlag ? ((m.bitfieldSize << 24) | (m.bitOffset & 0xffffff)) >>> 0 : m.bitOffset >>> 0, true);
        });
        break;
      case 'enum':
        header(t.values.length, t.signed, t.size);
        t.values.forEach((e, i) => {
          const q = p + i * 8;
          v.setUint32(q, this.intern(e.name), true);
          v.setUint32(q + 4, e.value >>> 0, true);
        });
        break;
      case 'enum64':
        header(t.values.length, t.signed, t.size);
        t.values.forEach((e, i) => {
          const q = p + i * 12;
          const u = BigInt.asUintN(64, e.value);
          v.setUint32(q, this.intern(e.name), true);
          v.setUint32(q + 4, Number(u & 0xffffffffn), true);
          v.setUint32(q + 8, Number(u >> 32n), true);
        });
        break;
      case 'fwd':
        header(0, t.union, 0);
        break;
      case 'func':
        header(t.linkage, false, t.type);
        break;
      case 'func_proto':
        header(t.params.length, false, t.returnType);
        t.params.forEach((prm, i) => {
          v.setUint32(p + i * 8, this.intern(prm.name), true);
          v.setUint32(p + i * 8 + 4, prm.type, true);
        });
        break;
      case 'var':
        header(0, false, t.type);
        v.setUint32(p, t.linkage >>> 0, true);
        break;
      case 'datasec':
        header(t.vars.length, false, t.size);
        t.vars.forEach((s, i) => {
          const q = p + i * 12;
          v.setUint32(q, s.type, true);
          v.setUint32(q + 4, s.offset >>> 0, true);
          v.setUint32(q + 8, s.size >>> 0, true);
        });
        break;
      case 'float':
        header(0, false, t.size);
        break;
      case 'decl_tag':
        header(0, t.attribute === true, t.type);
        v.setInt32(p, t.componentIdx, true);
        break;
    }
    return out;
  }
}

/** Position of `needle` as a whole NUL-delimited string inside `hay`, or -1. */
function searchWhole(hay: Uint8Array, needle: Uint8Array): number {
  if (hay.length === 0) return -1;
  const buf = Buffer.from(hay.buffer, hay.byteOffset, hay.byteLength);
  // A string at the very start is not preceded by NUL.
  if (hay.length > needle.length && hay[needle.length] === 0 && buf.compare(needle, 0, needle.length, 0, needle.length) === 0) return 0;
  const pattern = new Uint8Array(needle.length + 2);
  pattern.set(needle, 1);
  const at = buf.indexOf(pattern);
  return at < 0 ? -1 : at + 1;
}

