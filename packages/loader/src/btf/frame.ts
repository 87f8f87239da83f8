/**
 * Framing of a BTF type section: one walk that records, per type record, where it starts, its kind
 * and its name offset. The kernel's section holds ~126k records, and in a fresh process this walk
 * dominated the first `loadKernelBtf()`: JavaScript runs it in the interpreter and baseline tiers
 * before optimizing code exists. WebAssembly is compiled ahead of its first call (Liftoff), so the
 * same loop runs at near-native speed at once; the bytes must be copied into the module's memory,
 * a window at a time, which costs far less than the walk saves. The module is emitted by the code
 * below (no toolchain); the JavaScript walk stays as the reference and the fallback.
 *
 * Both walks only frame: on anything unusual (unknown kind, a record cut short) they return
 * `undefined`, and the caller's checked walk reports the precise error.
 */
import { hugePageRoom, hugePageWindow } from '../sys/hugepages.js';

/** The three per-record columns of a framed type section. */
export interface Framing {
  /** Number of records. */
  count: number;
  /**
   * Start of every `2^offsetShift`-th record in the section: `offsets[i]` is where record
   * `i << offsetShift` starts, and the entry for record `count` (when it has one) is the section's
   * end. Records in between are reached by walking from the previous entry.
   */
  offsets: Uint32Array;
  /** log2 of the stride of `offsets`: 0 (every record) for the JS walks, 3 for the wasm one. */
  offsetShift: number;
  /** Kind number of each record (length ≥ count). */
  kinds: Uint8Array;
  /** Name offset of each record (length ≥ count). */
  names: Uint32Array;
  /**
   * Links every record to the next one of its kind in one pass (see {@link KindChains}), from the
   * current contents of `kinds`. Present when the walk ran as WebAssembly: the pass then runs there
   * too. Call it at most once: it reuses its area of the memory.
   */
  chainKinds?: () => KindChains;
}

/**
 * Per-kind chains over the records: `head[k]`/`tail[k]` are the first and last record of kind `k`
 * (-1: none); `next[i]` is the next record of record i's kind (-1 at a tail).
 */
export interface KindChains {
  /** Per kind number (32 entries): the first record of that kind, or -1. */
  head: Int32Array;
  /** Per kind number (32 entries): the last record of that kind, or -1. */
  tail: Int32Array;
  /** Per record: the next record of the same kind, or -1. */
  next: Int32Array;
}

/** {@link Framing.chainKinds} in JavaScript: one pass over `kinds[0, count)`. */
export function chainKindsJs(kinds: Uint8Array, count: number): KindChains {
  const head = new Int32Array(32).fill(-1);
  const tail = new Int32Array(32).fill(-1);
  const next = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const k = kinds[i] & 31;
    const t = tail[k];
    if (t < 0) head[k] = i;
    else next[t] = i;
    tail[k] = i;
  }
  for (let k = 0; k < 32; k++) if (tail[k] >= 0) next[tail[k]] = -1;
  return { head, tail, next };
}

/**
 * Per-kind sizes the walks need: `fixed[k]` 32-bit words after `struct btf_type` (-1 for an invalid
 * kind) and `perVlen[k]` words per vlen entry. 32 entries each (the kind field has 5 bits).
 */
export interface KindWords {
  /** Per kind number: 32-bit words after `struct btf_type`, -1 for an invalid kind. */
  fixed: Int32Array;
  /** Per kind number: 32-bit words per vlen entry. */
  perVlen: Int32Array;
}

/** Whether typed arrays read little-endian here (the BTF byte order); both walks need it. */
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Type sections below this size are framed in JavaScript: for an object file's or most modules'
 * records the walk costs well under a millisecond, and each wasm memory holds a large reserved
 * (guarded) address range for as long as the Btf lives.
 */
export const WASM_MIN_BYTES = 256 * 1024;

/** The reference walk over 32-bit words (little-endian host, 4-aligned section), or undefined. */
export function frameJs(section: Uint8Array, words: KindWords): Framing | undefined {
  if (!LITTLE_ENDIAN_HOST || section.byteOffset % 4 !== 0 || section.length % 4 !== 0) return undefined;
  const max = Math.floor(section.length / 12) + 1;
  const offsets = new Uint32Array(max + 1);
  const kinds = new Uint8Array(max);
  const names = new Uint32Array(max);
  const w32 = new Uint32Array(section.buffer, section.byteOffset, section.length >>> 2);
  const { fixed: fixedWords, perVlen } = words;
  const endWord = w32.length;
  let w = 0;
  let n = 0;
  while (w < endWord) {
    if (w + 3 > endWord) return undefined;
    const info = w32[w + 1];
    const kind = (info >>> 24) & 0x1f;
    const fixed = fixedWords[kind];
    if (fixed < 0) return undefined;
    const next = w + 3 + fixed + perVlen[kind] * (info & 0xffff);
    if (next > endWord) return undefined;
    offsets[n] = w << 2;
    kinds[n] = kind;
    names[n] = w32[w];
    n++;
    w = next;
  }
  offsets[n] = w << 2;
  return { count: n, offsets, kinds, names, offsetShift: 0 };
}

// ------------------------------------------------------------------------------ the wasm module

/** Unsigned LEB128. */
function uleb(v: number): number[] {
  const out: number[] = [];
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}

/** Signed LEB128 of a 32-bit value. */
function sleb(v: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

/** A section: id, byte length, contents. */
function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

/** A length-prefixed name. */
function wasmName(s: string): number[] {
  return [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
}

// Opcodes used by the walk.
const I32 = 0x7f;
const OP = {
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  ret: 0x0f,
  get: 0x20,
  set: 0x21,
  tee: 0x22,
  load: 0x28,
  load8u: 0x2d,
  store: 0x36,
  store8: 0x3a,
  const: 0x41,
  eqz: 0x45,
  ltS: 0x48,
  gtU: 0x4b,
  geS: 0x4e,
  geU: 0x4f,
  add: 0x6a,
  sub: 0x6b,
  mul: 0x6c,
  and: 0x71,
  shl: 0x74,
  shrU: 0x76,
} as const;
const VOID_BLOCK = 0x40;

// Locals of `walk(in, end, offs, kinds, names, tab, n, base, final) -> count | -1`. The first six
// are byte addresses in the memory: the window [in, end) holds section bytes from offset `base`;
// `tab` holds, per kind, the record's fixed size in bytes (-1: invalid kind) and then, at +128, the
// bytes per vlen entry; `walk` leaves the section offset where it stopped at tab + STOP_OFFSET.
// `n` is the count so far. A record that runs past the window ends the call (count returned, the
// stop offset is where that record starts) unless `final` is set: then the input is malformed (-1). The memory must stay readable for 12 bytes past `end`: the header of a record cut
// short is read before its size is checked.
const IN = 0;
const END = 1;
const OFFS = 2;
const KINDS = 3;
const NAMES = 4;
const TAB = 5;
const N = 6;
const BASE = 7;
const FINAL = 8;
const PARAMS = 9;
// The loop keeps pointers into the name and kind columns instead of indexing them (fewer ops under
// Liftoff); offsets are stored for every 8th record only (OFFSET_SHIFT), which saves a quarter of
// the memory the columns fault in.
const P = 9;
const INFO = 10;
const K4 = 11;
const NEXT = 12;
const I = 13;
const NM = 14;
const KP = 15;
const DELTA = 16;
const LOCALS = 8;
/** log2 of the stride of the offsets the wasm walk stores. */
export const WASM_OFFSET_SHIFT = 3;
/** Where, past the table, `walk` leaves the section offset it stopped at. */
const STOP_OFFSET = 256;

const get = (l: number): number[] => [OP.get, l];
const set = (l: number): number[] => [OP.set, l];
const i32c = (v: number): number[] => [OP.const, ...sleb(v)];
/** i32.load / i32.store with 4-byte alignment and a constant offset. */
const load = (offset: number): number[] => [OP.load, 2, ...uleb(offset)];
const store = (): number[] => [OP.store, 2, 0];
/** `l += by`. */
const bump = (l: number, by: number): number[] => [...get(l), ...i32c(by), OP.add, ...set(l)];

/** The body of `walk`: the loop of {@link frameJs}, over byte addresses and one window. */
function walkBody(): number[] {
  const code = [
    ...get(IN), ...set(P),
    ...get(NAMES), ...get(N), ...i32c(2), OP.shl, OP.add, ...set(NM),
    ...get(KINDS), ...get(N), OP.add, ...set(KP),
    ...get(BASE), ...get(IN), OP.sub, ...set(DELTA),
    OP.block, VOID_BLOCK, // fail
    OP.block, VOID_BLOCK, // done
    OP.loop, VOID_BLOCK,
    // p >= end: done
    ...get(P), ...get(END), OP.geU, OP.brIf, 1,
    // info = p[1]; k4 = kind * 4
    ...get(P), ...load(4), ...set(INFO),
    ...get(INFO), ...i32c(22), OP.shrU, ...i32c(0x7c), OP.and, ...set(K4),
    // next = fixed bytes of the kind. An invalid kind (-1) fails, unless the header itself runs
    // past a window that is not the last: then the "kind" was read from beyond it.
    ...get(TAB), ...get(K4), OP.add, ...load(0), OP.tee, NEXT, ...i32c(0), OP.ltS,
    OP.if, VOID_BLOCK, ...get(P), ...i32c(12), OP.add, ...get(END), OP.gtU, ...get(FINAL), OP.eqz, OP.and, OP.brIf, 2, OP.br, 3, OP.end,
    // next = p + fixed + perVlen * vlen
    ...get(P), ...get(NEXT), OP.add,
    ...get(TAB), ...get(K4), OP.add, ...load(128), ...get(INFO), ...i32c(0xffff), OP.and, OP.mul, OP.add, ...set(NEXT),
    // next > end: the record runs past the window; malformed in the final one
    ...get(NEXT), ...get(END), OP.gtU,
    OP.if, VOID_BLOCK, ...get(FINAL), OP.brIf, 3, OP.br, 2, OP.end,
    // i = record number; every 8th: offs[i >> 3] = base + p - in. Then *nm = p[0]; *kp = kind
    ...get(KP), ...get(KINDS), OP.sub, OP.tee, I, ...i32c((1 << WASM_OFFSET_SHIFT) - 1), OP.and, OP.eqz,
    OP.if, VOID_BLOCK,
    ...get(OFFS), ...get(I), ...i32c(WASM_OFFSET_SHIFT - 2), OP.shrU, ...i32c(-4), OP.and, OP.add,
    ...get(P), ...get(DELTA), OP.add, ...store(),
    OP.end,
    ...get(NM), ...get(P), ...load(0), ...store(),
    ...get(KP), ...get(K4), ...i32c(2), OP.shrU, OP.store8, 0, 0,
    ...bump(NM, 4), ...bump(KP, 1),
    ...get(NEXT), ...set(P),
    OP.br, 0,
    OP.end, // loop
    OP.end, // done
    ...get(TAB), ...get(P), ...get(DELTA), OP.add, OP.store, 2, ...uleb(STOP_OFFSET),
    ...get(KP), ...get(KINDS), OP.sub, OP.ret,
    OP.end, // fail
    ...i32c(-1),
    OP.end, // function
  ];
  const locals = [1, LOCALS, I32]; // one group of i32 locals
  return [...uleb(locals.length + code.length), ...locals, ...code];
}

// `chain(kinds, n, next, heads, tails)`: the loop of chainKindsJs (heads and tails hold 32 i32 each,
// preset to -1; the caller ends each chain at its tail).
const C_KINDS = 0;
const C_N = 1;
const C_NEXT = 2;
const C_HEADS = 3;
const C_TAILS = 4;
const C_I = 5;
const C_K4 = 6;
const C_T = 7;

/** The body of `chain`. */
function chainBody(): number[] {
  const code = [
    OP.block, VOID_BLOCK,
    OP.loop, VOID_BLOCK,
    ...get(C_I), ...get(C_N), OP.geS, OP.brIf, 1,
    // k4 = (kinds[i] & 31) * 4; t = tails[k]
    ...get(C_KINDS), ...get(C_I), OP.add, OP.load8u, 0, 0, ...i32c(31), OP.and, ...i32c(2), OP.shl, ...set(C_K4),
    ...get(C_TAILS), ...get(C_K4), OP.add, ...load(0), OP.tee, C_T, ...i32c(0), OP.ltS,
    // first of its kind: heads[k] = i; else next[t] = i
    OP.if, VOID_BLOCK,
    ...get(C_HEADS), ...get(C_K4), OP.add, ...get(C_I), ...store(),
    OP.else,
    ...get(C_NEXT), ...get(C_T), ...i32c(2), OP.shl, OP.add, ...get(C_I), ...store(),
    OP.end,
    ...get(C_TAILS), ...get(C_K4), OP.add, ...get(C_I), ...store(),
    ...bump(C_I, 1),
    OP.br, 0,
    OP.end, // loop
    OP.end, // block
    OP.end, // function
  ];
  const locals = [1, 3, I32];
  return [...uleb(locals.length + code.length), ...locals, ...code];
}

/** The module bytes: imports memory `m.mem`, exports `walk` and `chain`. */
export function frameModuleBytes(): Uint8Array {
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    // types: walk (9 × i32) -> i32; chain (5 × i32) -> ()
    ...section(1, [2, 0x60, PARAMS, ...new Array<number>(PARAMS).fill(I32), 1, I32, 0x60, 5, I32, I32, I32, I32, I32, 0]),
    ...section(2, [1, ...wasmName('m'), ...wasmName('mem'), 0x02, 0x00, 0x00]),
    ...section(3, [2, 0, 1]),
    ...section(7, [2, ...wasmName('walk'), 0x00, 0, ...wasmName('chain'), 0x00, 1]),
    ...section(10, [2, ...walkBody(), ...chainBody()]),
  ];
  return Uint8Array.from(bytes);
}

/** A compiled module (opaque here). */
interface WasmModule {
  readonly __wasmModule?: never;
}
/** The slice of the WebAssembly JS API used here (the project's lib settings do not declare it). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Memory: new (descriptor: { initial: number }) => { readonly buffer: ArrayBuffer };
  Instance: new (module: WasmModule, imports: object) => { readonly exports: Record<string, unknown> };
}
const wasmApi = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

let compiled: WasmModule | null | undefined;

/** The compiled module, or null where WebAssembly is unavailable (then the JS walk runs). */
function frameModule(): WasmModule | null {
  if (compiled === undefined) {
    try {
      // The emitted bytes, as a constant: building them runs cold JS on the first parse (~0.5 ms).
      // The tests check that this is what frameModuleBytes() emits.
      compiled = wasmApi === undefined ? null : new wasmApi.Module(Buffer.from(FRAME_MODULE_HEX, 'hex'));
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

/** {@link frameModuleBytes} in hex. */
export const FRAME_MODULE_HEX = '0061736d0100000001160260097f7f7f7f7f7f7f7f7f017f60057f7f7f7f7f00020a01016d036d656d02000003030200010710020477616c6b000005636861696e00010ac50202e50101087f20002109200420064102746a210e200320066a210f200720006b2110024002400340200920014f0d012009280204210a200a41167641fc0071210b2005200b6a280200220c41004804402009410c6a20014b200845710d020c030b2009200c6a2005200b6a28028001200a41ffff03716c6a210c200c20014b044020080d030c020b200f20036b220d4107714504402002200d410176417c716a200920106a3602000b200e2009280200360200200f200b4102763a0000200e41046a210e200f41016a210f200c21090c000b0b2005200920106a36028002200f20036b0f0b417f0b5c01037f02400340200520014e0d01200020056a2d0000411f714102742106200420066a28020022074100480440200320066a200536020005200220074102746a20053602000b200420066a2005360200200541016a21050c000b0b0b';

const WASM_PAGE = 65536;
/**
 * Bytes of the section copied into the memory at a time. Walking a window that is refilled keeps
 * the copy's page faults (~2 µs each on this VM) to this size instead of the whole 3 MB section. A
 * record larger than the window (a struct with over 10k members) makes the wasm walk give up, and
 * the JavaScript walk frames that section.
 */
const WINDOW = 128 * 1024;

/**
 * The walk of {@link frameJs} run as WebAssembly, a window of the section at a time. The columns are
 * views into the instance's memory (which never grows, so they stay valid). Undefined where
 * WebAssembly is unavailable or the walk stops on malformed input.
 */
export function frameWasm(section: Uint8Array, words: KindWords): Framing | undefined {
  if (!LITTLE_ENDIAN_HOST || section.length % 4 !== 0) return undefined;
  const mod = frameModule();
  if (mod === null || wasmApi === undefined) return undefined;
  const max = Math.floor(section.length / 12) + 1;
  const window = Math.min(WINDOW, section.length);
  // Layout: [table 256 B][stop 16 B][chain heads, tails 256 B][window][offsets (max/8+2)*4]
  // [names max*4][kinds max, padded][chain next max*4], from `at` in the memory. The offsets follow
  // the window, so reading past its end stays in bounds; the chain area is only touched (faulted
  // in) when chains are built.
  const sparse = (max >>> WASM_OFFSET_SHIFT) + 2;
  const used = STOP_OFFSET + 16 + 256 + window + sparse * 4 + max * 4 + ((max + 3) & ~3) + max * 4;
  // Room to start the layout on a huge page (kernel BTF: ~1.3 MB, ~330 fresh pages otherwise).
  const total = hugePageRoom(used);
  if (total > 0x7fff0000) return undefined;
  let memory: { readonly buffer: ArrayBuffer };
  let instance: { readonly exports: Record<string, unknown> };
  try {
    // Each memory reserves a large guarded address range; when V8 runs out of them, frame in JS.
    memory = new wasmApi.Memory({ initial: Math.ceil(total / WASM_PAGE) });
    instance = new wasmApi.Instance(mod, { m: { mem: memory } });
  } catch {
    return undefined;
  }
  const at = hugePageWindow(memory.buffer, used) ?? 0;
  const tab = at;
  const heads = at + STOP_OFFSET + 16;
  const tails = heads + 128;
  const input = tails + 128;
  const offs = input + window;
  const names = offs + sparse * 4;
  const kinds = names + max * 4;
  const next = kinds + ((max + 3) & ~3);
  const buf = memory.buffer;
  const table = new Int32Array(buf, tab, 64);
  for (let k = 0; k < 32; k++) {
    table[k] = words.fixed[k] < 0 ? -1 : 12 + 4 * words.fixed[k];
    table[32 + k] = 4 * words.perVlen[k];
  }
  const offsets = new Uint32Array(buf, offs, sparse);
  const stop = new Uint32Array(buf, tab + STOP_OFFSET, 1);
  const target = new Uint8Array(buf, input, window);
  const exports = instance.exports;
  const walk = exports.walk as (...args: number[]) => number;
  const chain = exports.chain as (...args: number[]) => void;
  let count = 0;
  let pos = 0;
  for (;;) {
    const len = Math.min(window, section.length - pos);
    target.set(section.subarray(pos, pos + len));
    const final = pos + len === section.length ? 1 : 0;
    const got = walk(input, input + len, offs, kinds, names, tab, count, pos, final);
    if (got < 0) return undefined;
    count = got;
    if (final === 1) break;
    // The first record not yet framed starts the next window; no progress means a record larger
    // than the window.
    const next = stop[0];
    if (next <= pos) return undefined;
    pos = next;
  }
  // The end of the section, as the entry of record `count` when the stride has one there.
  if ((count & ((1 << WASM_OFFSET_SHIFT) - 1)) === 0) offsets[count >>> WASM_OFFSET_SHIFT] = section.length;
  const chainKinds = (): KindChains => {
    const head = new Int32Array(buf, heads, 32).fill(-1);
    const tail = new Int32Array(buf, tails, 32).fill(-1);
    const nextView = new Int32Array(buf, next, count);
    chain(kinds, count, next, heads, tails);
    for (let k = 0; k < 32; k++) if (tail[k] >= 0) nextView[tail[k]] = -1;
    // Copies of the two small tables: a second call reuses the area.
    return { head: head.slice(), tail: tail.slice(), next: nextView };
  };
  return {
    count,
    offsets: new Uint32Array(buf, offs, (count >>> WASM_OFFSET_SHIFT) + 1),
    offsetShift: WASM_OFFSET_SHIFT,
    kinds: new Uint8Array(buf, kinds, count),
    names: new Uint32Array(buf, names, count),
    chainKinds,
  };
}
