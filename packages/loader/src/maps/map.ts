/**
 * BpfMap: a loaded map, owned by one {@link Fd}. Raw byte access is always available; when the
 * map's key and value types are known from BTF, `lookup`/`update`/`entries` speak plain JS values
 * (structs as objects, enums by name, char arrays as strings, 64-bit integers as bigint).
 * Per-CPU maps read and write one value per possible CPU.
 */
import type { Btf } from '../btf/btf.js';
import { compileDecoder, compileEncoder } from '../btf/codec.js';
import { TsbpfError } from '../errors.js';
import { MapElemOps, mapFreeze, mapGetNextKey, mapLookupAndDeleteElem, mapLookupBatch, mapLookupElem, mapUpdateBatch, objPin } from '../sys/bpf.js';
import { BPF_ANY, BPF_MAP_TYPE, mapTypeName } from '../sys/constants.js';
import { ERRNO } from '../sys/errno.js';
import { isErrno } from '../sys/errors.js';
import type { Fd } from '../sys/fd.js';
import { numPossibleCpus } from '../sys/ffi.js';
import { concatBytes } from '../bytes.js';

/** Map types whose values are stored once per CPU. */
const PER_CPU = new Set<number>([BPF_MAP_TYPE.PERCPU_HASH, BPF_MAP_TYPE.PERCPU_ARRAY, BPF_MAP_TYPE.LRU_PERCPU_HASH, BPF_MAP_TYPE.PERCPU_CGROUP_STORAGE]);

/** A key or value codec: bytes ↔ JS value. */
interface Codec<T> {
  decode(bytes: Uint8Array): T;
  /** Decode from `view` at `offset` (no view built per call). */
  decodeAt(view: DataView, offset: number): T;
  encode(value: T): Uint8Array;
  /** Encode into `view` at `offset` (the encoder zero-fills its bytes first, padding included). */
  encodeInto(value: T, view: DataView, offset: number): void;
}

/** Raw values up to this size are copied into the map's scratch buffer (whose address is encoded once) rather than passed by their own address. */
const COPY_LIMIT = 256;

const TWO_32 = 4294967296;

/** What {@link BpfMap.lookupBatchBytes} read: `count` entries, their keys and values back to back. */
export interface BatchRead {
  /** `count` keys of the map's key size. */
  keys: Uint8Array;
  /** `count` values of `valueBufferSize` bytes each. */
  values: Uint8Array;
  /** Number of entries read. */
  count: number;
  /** Whether the map's end was reached (false when the caller's buffers filled up first). */
  done: boolean;
}

/** Bytes of batch-update buffers a map keeps for its next batch (see `BpfMap.updateBatch`). */
const BATCH_SCRATCH_BYTES = 1 << 20;

/** Keys and values buffers of a batch update, with their views. */
interface BatchBuffers {
  readonly keys: Uint8Array;
  readonly keyView: DataView;
  readonly values: Uint8Array;
  readonly valueView: DataView;
}

function allocBatchBuffers(keyBytes: number, valueBytes: number): BatchBuffers {
  const keys = new Uint8Array(keyBytes);
  const values = new Uint8Array(valueBytes);
  return { keys, keyView: new DataView(keys.buffer), values, valueView: new DataView(values.buffer) };
}

/** Where a batch read is: the kernel's token between calls (out, and a copy passed back in), entries read, end reached. */
interface BatchCursor {
  readonly token: Uint8Array;
  readonly inToken: Uint8Array;
  inBatch: Uint8Array | null;
  total: number;
  done: boolean;
}

/** Static description of a loaded map. */
export interface MapDescription {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  btf?: Btf;
  keyTypeId?: number;
  valueTypeId?: number;
}

/**
 * A loaded BPF map. `K` and `V` are the JS types of keys and values (from BTF when known; raw
 * `Uint8Array` otherwise). For per-CPU maps `lookup` returns `V[]`, one entry per possible CPU.
 */
export class BpfMap<K = unknown, V = unknown> implements Disposable {
  /** Name from the object (or the kernel). */
  readonly name: string;
  /** `BPF_MAP_TYPE_*`. */
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  /** The owning file descriptor. */
  readonly fd: Fd;
  /** BTF of key and value, when known. */
  readonly btf: Btf | undefined;
  readonly keyTypeId: number;
  readonly valueTypeId: number;
  /** True for per-CPU map types. */
  readonly perCpu: boolean;
  private keyCodecCache: Codec<K> | null | undefined;
  private valueCodecCache: Codec<V> | null | undefined;
  private readonly valueStride: number;
  /**
   * Single-element calls: this map's own attr plus scratch key and value buffers, their addresses
   * encoded once (created on first use). Nothing returned to the caller aliases the scratch buffers:
   * values are decoded or copied out. Like every JS object it is used from one thread at a time.
   */
  #opsCache: MapElemOps | undefined;
  /** The buffers of the last batch update within {@link BATCH_SCRATCH_BYTES}, reused by the next. */
  #batchScratch: BatchBuffers | undefined;
  /** True while a typed key or value is being encoded into the scratch buffers (see enterEncode). */
  private encoding = false;

  constructor(fd: Fd, desc: MapDescription) {
    this.fd = fd;
    this.name = desc.name;
    this.type = desc.type;
    this.keySize = desc.keySize;
    this.valueSize = desc.valueSize;
    this.maxEntries = desc.maxEntries;
    this.flags = desc.flags;
    this.btf = desc.btf;
    this.keyTypeId = desc.keyTypeId ?? 0;
    this.valueTypeId = desc.valueTypeId ?? 0;
    this.perCpu = PER_CPU.has(desc.type);
    this.valueStride = this.perCpu ? Math.ceil(desc.valueSize / 8) * 8 : desc.valueSize;
  }

  // Codecs are compiled on first typed access: loading stays cheap for maps only the kernel uses,
  // and a type the codec cannot handle fails where it is used, naming the map.
  private get keyCodec(): Codec<K> | undefined {
    if (this.keyCodecCache === undefined) this.keyCodecCache = this.compile<K>(this.keyTypeId, this.keySize, 'key');
    return this.keyCodecCache ?? undefined;
  }

  private get valueCodec(): Codec<V> | undefined {
    if (this.valueCodecCache === undefined) this.valueCodecCache = this.compile<V>(this.valueTypeId, this.valueSize, 'value');
    return this.valueCodecCache ?? undefined;
  }

  private compile<T>(typeId: number, size: number, what: string): Codec<T> | null {
    if (!this.btf || !typeId) return null;
    try {
      // A type of another size than the map's (a `key_size` that overrides `__type`) would encode
      // short or past the entry.
      const typeSize = this.btf.sizeof(typeId);
      if (typeSize !== size) throw new Error(`the type is ${typeSize} bytes, the map's ${what} ${size}`);
      return codecFor<T>(this.btf, typeId, size);
    } catch (err) {
      throw new TsbpfError('MAP_BAD_TYPE', `map ${this.name}: cannot decode its ${what} type from BTF: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Human name of the map type. */
  get typeName(): string {
    return mapTypeName(this.type) ?? `type ${this.type}`;
  }

  /** Bytes of one lookup result: the value size, or one 8-byte-aligned slot per possible CPU. */
  get valueBufferSize(): number {
    return this.perCpu ? this.valueStride * numPossibleCpus() : this.valueSize;
  }

  // ---------------------------------------------------------------------------------- raw bytes

  /**
   * Look up raw key bytes; returns the value bytes (per-CPU: all CPUs' slots) or undefined. With `out`
   * the value is written there (reuse one `out` for the fastest path); without, a new array is returned.
   */
  lookupBytes(key: Uint8Array, out?: Uint8Array): Uint8Array | undefined {
    const ops = this.keyBytesArg(key);
    if (out) {
      // The kernel writes the whole value: a shorter `out` would be overrun.
      if (out.byteLength < this.valueBufferSize) throw new TsbpfError('MAP_BAD_VALUE', `map ${this.name}: out is ${out.byteLength} bytes, expected ${this.valueBufferSize}`);
      return ops.lookup(out) ? out : undefined;
    }
    return ops.lookup() ? ops.value.slice(0, this.valueBufferSize) : undefined;
  }

  /**
   * Update with raw bytes (`value` holds at least the value size; per-CPU maps: one 8-byte-aligned slot
   * per possible CPU). `flags`: BPF_ANY, BPF_NOEXIST, BPF_EXIST, BPF_F_LOCK.
   */
  updateBytes(key: Uint8Array, value: Uint8Array, flags = BPF_ANY): void {
    this.keyBytesArg(key).update(flags, this.rawValueArg(value));
  }

  /** Delete by raw key; false when the key was absent. */
  deleteBytes(key: Uint8Array): boolean {
    return this.keyBytesArg(key).delete();
  }

  /** Iterate raw keys in kernel order (snapshot semantics of BPF_MAP_GET_NEXT_KEY). */
  *keyBytes(): IterableIterator<Uint8Array> {
    if (this.keySize === 0) return;
    let prev: Uint8Array | null = null;
    for (;;) {
      const next = new Uint8Array(this.keySize);
      if (!mapGetNextKey(this.fd, prev, next)) return;
      yield next;
      prev = next;
    }
  }

  // ---------------------------------------------------------------------------------- typed values

  /** Look up a key; undefined when absent. Per-CPU maps return one value per possible CPU. */
  lookup(key: K): (V | V[]) | undefined {
    const ops = this.keyArgFor(key);
    // Decoded (or copied) before returning: the result never aliases the scratch buffer.
    return ops.lookup() ? this.decodeScratch(ops) : undefined;
  }

  /** Set a key's value (per-CPU maps: one value for every CPU, or an array of them). */
  update(key: K, value: V | V[], flags = BPF_ANY): void {
    const ops = this.keyArgFor(key);
    ops.update(flags, this.valueArgFor(value));
  }

  /** Delete a key; false when it was absent. */
  delete(key: K): boolean {
    return this.keyArgFor(key).delete();
  }

  /** Look up and delete in one call (queue/stack maps: pass undefined to pop). */
  lookupAndDelete(key?: K): (V | V[]) | undefined {
    this.refuseWhileEncoding();
    if (key === undefined && this.keySize !== 0) {
      // No key for a keyed map: passed as NULL, for the kernel to refuse as it sees fit.
      const out = this.ops.value;
      return mapLookupAndDeleteElem(this.fd, null, out) ? this.decodeValue(out) : undefined;
    }
    const ops = key === undefined ? this.ops : this.keyArgFor(key);
    return ops.lookupAndDelete() ? this.decodeScratch(ops) : undefined;
  }

  /** Iterate keys. */
  *keys(): IterableIterator<K> {
    for (const k of this.keyBytes()) yield this.decodeKey(k);
  }

  /** Iterate `[key, value]` pairs; keys deleted meanwhile are skipped. */
  *entries(): IterableIterator<[K, V | V[]]> {
    const out = new Uint8Array(this.valueBufferSize);
    for (const k of this.keyBytes()) {
      if (mapLookupElem(this.fd, k, out)) yield [this.decodeKey(k), this.decodeValue(out)];
    }
  }

  /**
   * Read up to all entries with BPF_MAP_LOOKUP_BATCH (one syscall per `batchSize` entries).
   * Throws a NotSupported-kind SyscallError (EINVAL/ENOTSUPP) on kernels or map types without it.
   *
   * With `into`, the entries are read into its buffers and the result views them: no memory is
   * allocated, the way to poll a map repeatedly (fresh buffers cost a page fault per 4 KiB on
   * first touch: on the benchmark machine ~190 ns an entry of a 64-byte map, three times the
   * kernel's own work). At most as many entries are read as both buffers hold (a hash map is read
   * bucket by bucket, so the last few places may stay unused); `done` is false when entries may
   * remain (buffers for `maxEntries` entries read them all).
   */
  lookupBatchBytes(batchSize = 256, into?: { keys: Uint8Array; values: Uint8Array }): BatchRead {
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new TsbpfError('MAP_BAD_VALUE', `map ${this.name}: batch size ${batchSize} is not a positive integer`);
    const ksize = this.keySize;
    const vsize = this.valueBufferSize;
    const cursor = this.batchCursor();
    if (into !== undefined) {
      const count = this.readBatchesInto(cursor, batchSize, into.keys, into.values);
      if (count === 0 && !cursor.done) throw new TsbpfError('MAP_BAD_VALUE', `map ${this.name}: lookupBatchBytes into buffers that hold no entry (${into.keys.byteLength} key bytes, ${into.values.byteLength} value bytes; one entry is ${ksize} and ${vsize})`);
      return { keys: into.keys.subarray(0, count * ksize), values: into.values.subarray(0, count * vsize), count, done: cursor.done };
    }
    // Fresh buffers of `batchSize` entries until the end.
    const keys: Uint8Array[] = [];
    const values: Uint8Array[] = [];
    let total = 0;
    while (!cursor.done) {
      const k = new Uint8Array(batchSize * ksize);
      const v = new Uint8Array(batchSize * vsize);
      const count = this.readBatchesInto(cursor, batchSize, k, v);
      keys.push(k.subarray(0, count * ksize));
      values.push(v.subarray(0, count * vsize));
      total += count;
      if (count === 0) break;
    }
    // One buffer (the common case with a large enough batch): no copy.
    if (keys.length === 1) return { keys: keys[0], values: values[0], count: total, done: cursor.done };
    return { keys: concatBytes(keys), values: concatBytes(values), count: total, done: cursor.done };
  }

  /** A batch read's position: the kernel's token between calls, and how far it got. */
  private batchCursor(): BatchCursor {
    const token = new Uint8Array(Math.max(8, this.keySize));
    return { token, inToken: new Uint8Array(token.byteLength), inBatch: null, total: 0, done: false };
  }

  /**
   * Reads on from `cursor` into `keys` and `values`, one BPF_MAP_LOOKUP_BATCH of up to `batchSize`
   * entries at the next free entry after another, until they are full or the map's end; returns
   * how many entries went into them.
   */
  private readBatchesInto(cursor: BatchCursor, batchSize: number, keys: Uint8Array, values: Uint8Array): number {
    const ksize = this.keySize;
    const vsize = this.valueBufferSize;
    const capacity = Math.min(ksize === 0 ? Infinity : Math.floor(keys.byteLength / ksize), Math.floor(values.byteLength / vsize));
    let n = 0;
    while (n < capacity && !cursor.done) {
      const want = Math.min(batchSize, capacity - n);
      let r: { count: number; done: boolean };
      try {
        r = mapLookupBatch(this.fd, {
          inBatch: cursor.inBatch,
          outBatch: cursor.token,
          keys: keys.subarray(n * ksize, (n + want) * ksize),
          values: values.subarray(n * vsize, (n + want) * vsize),
          count: want,
        });
      } catch (err) {
        // A hash map's next bucket holds more entries than the room left: these buffers are full.
        if (want < batchSize && isErrno(err, ERRNO.ENOSPC)) {
          if (n > 0) break;
          throw new TsbpfError('MAP_BAD_VALUE', `map ${this.name}: lookupBatchBytes into buffers for ${capacity} entries, fewer than one hash bucket of the map holds`, { cause: err });
        }
        throw err;
      }
      n += r.count;
      cursor.total += r.count;
      // A map holds at most maxEntries elements: once that many are read, the ENOENT call that
      // would confirm the end (and its buffers) is skipped.
      cursor.done = r.done || (this.maxEntries > 0 && cursor.total >= this.maxEntries);
      if (r.count === 0) break;
      cursor.inToken.set(cursor.token);
      cursor.inBatch = cursor.inToken;
    }
    return n;
  }

  /**
   * Write many entries with one BPF_MAP_UPDATE_BATCH call. A getter or `valueOf` that calls an
   * element operation (typed or raw) or `updateBatch` of this map while the entries are encoded
   * gets MAP_REENTRANT.
   */
  updateBatch(entries: readonly [K, V | V[]][], flags = BPF_ANY): number {
    const n = entries.length;
    const vsize = this.valueBufferSize;
    const keyBytes = n * this.keySize;
    const valueBytes = n * vsize;
    // Encoded straight into one keys buffer and one values buffer, maybe an earlier batch's: every
    // entry is written whole (codecs zero their type's bytes first and match the entry's size, raw
    // bytes are copied whole, per-CPU slot padding is zeroed), so nothing of it survives.
    const b = this.batchBuffers(keyBytes, valueBytes);
    this.enterEncode();
    try {
      for (let i = 0; i < n; i++) {
        // Indexed, not destructured: no iterator per entry.
        const e = entries[i];
        this.encodeKeyInto(e[0], b.keys, b.keyView, i * this.keySize);
        this.encodeValueInto(e[1], b.values, b.valueView, i * vsize);
      }
    } finally {
      this.encoding = false;
    }
    return mapUpdateBatch(this.fd, { keys: b.keys.subarray(0, keyBytes), values: b.values.subarray(0, valueBytes), count: n, elemFlags: flags });
  }

  /**
   * Buffers of at least the given sizes for a batch update. Up to {@link BATCH_SCRATCH_BYTES} in
   * all they are kept and reused by the next batch: fresh memory costs a page fault per 4 KiB on
   * first touch (on the benchmark machine's kernel ~250 ns an element of a 64-byte map, more than
   * the kernel's own batch work); larger batches get buffers of their own.
   */
  private batchBuffers(keyBytes: number, valueBytes: number): BatchBuffers {
    const kept = this.#batchScratch;
    if (kept !== undefined && kept.keys.byteLength >= keyBytes && kept.values.byteLength >= valueBytes) return kept;
    const fresh = allocBatchBuffers(keyBytes, valueBytes);
    if (keyBytes + valueBytes <= BATCH_SCRATCH_BYTES) this.#batchScratch = fresh;
    return fresh;
  }

  /** Make the map read-only for user space (BPF_MAP_FREEZE). */
  freeze(): void {
    mapFreeze(this.fd);
  }

  /** Pin to a bpffs path. */
  pin(path: string): void {
    objPin(this.fd, path);
  }

  /** Close the map's fd (idempotent). */
  close(): void {
    this.fd.close();
    this.#batchScratch = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  // ---------------------------------------------------------------------------------- codecs

  /** Encode a key to bytes (raw bytes pass through). */
  encodeKey(key: K): Uint8Array {
    if (key instanceof Uint8Array) return key;
    const out = new Uint8Array(this.keySize);
    this.encodeKeyInto(key, out, new DataView(out.buffer), 0);
    return out;
  }

  /** Encode a key into `bytes`/`view` (the same memory) at `offset`. */
  private encodeKeyInto(key: K, bytes: Uint8Array, view: DataView, offset: number): void {
    if (key instanceof Uint8Array) {
      if (key.byteLength !== this.keySize) throw new TsbpfError('MAP_BAD_KEY', `map ${this.name}: key is ${key.byteLength} bytes, expected ${this.keySize}`);
      bytes.set(key, offset);
      return;
    }
    if (this.keyCodec) return this.keyCodec.encodeInto(key, view, offset);
    if (this.keySize === 4 && typeof key === 'number') return view.setUint32(offset, key >>> 0, true);
    if (this.keySize === 8 && (typeof key === 'bigint' || typeof key === 'number')) return setU64(view, offset, key);
    throw new TsbpfError('MAP_NO_KEY_TYPE', `map ${this.name}: key type unknown (no BTF); pass the key as a Uint8Array of ${this.keySize} bytes`);
  }

  /** The single-element call state (scratch key and value of valueBufferSize bytes). */
  private get ops(): MapElemOps {
    this.#opsCache ??= new MapElemOps(this.fd, this.keySize, this.valueBufferSize);
    return this.#opsCache;
  }

  /** Single-element calls with `key` encoded into the scratch key buffer (maps without keys pass none). */
  private keyArgFor(key: K): MapElemOps {
    const ops = this.ops;
    if (this.keySize !== 0) {
      this.enterEncode();
      try {
        this.encodeKeyInto(key, ops.key, ops.keyView, 0);
      } finally {
        this.encoding = false;
      }
    }
    return ops;
  }

  /**
   * Encoding a typed key or value can run the caller's code (getters, `valueOf`); a map call made
   * from there would overwrite the scratch buffers the outer call is filling, so it is refused.
   */
  private enterEncode(): void {
    this.refuseWhileEncoding();
    this.encoding = true;
  }

  /** Every use of the scratch buffers checks this first: the raw byte calls as well as the typed ones. */
  private refuseWhileEncoding(): void {
    if (this.encoding) throw new TsbpfError('MAP_REENTRANT', `map ${this.name}: a map operation was called while this map was encoding a key or value (from a getter or valueOf)`);
  }

  /** Single-element calls with raw `key` bytes (checked for length) in the scratch key buffer. */
  private keyBytesArg(key: Uint8Array): MapElemOps {
    this.refuseWhileEncoding();
    const ops = this.ops;
    if (this.keySize === 0) return ops;
    // Read once: in the loop condition V8 left `byteLength` a generic property load per iteration
    // (an inline-cache call), about 40 ns of each single-element call on a 4-byte key.
    const len = key.byteLength;
    if (len !== this.keySize) throw new TsbpfError('MAP_BAD_KEY', `map ${this.name}: key is ${len} bytes, expected ${this.keySize}`);
    const dst = ops.key;
    // Short keys byte by byte: cheaper than a TypedArray#set call.
    if (len <= 16) for (let i = 0; i < len; i++) dst[i] = key[i];
    else dst.set(key);
    return ops;
  }

  /**
   * The value argument of a single-element update: undefined once `value` is in the scratch value
   * buffer (encoded or copied), else a raw value too large to copy, passed by its own address.
   */
  private valueArgFor(value: V | V[]): Uint8Array | undefined {
    if (value instanceof Uint8Array && (!this.perCpu || value.byteLength >= this.valueBufferSize)) return this.rawValueArg(value);
    const ops = this.ops;
    this.enterEncode();
    try {
      this.encodeValueInto(value, ops.value, ops.valueView, 0);
    } finally {
      this.encoding = false;
    }
    return undefined;
  }

  /** Raw value bytes for the kernel, checked for length: small ones copied into the scratch buffer (undefined returned). */
  private rawValueArg(value: Uint8Array): Uint8Array | undefined {
    const need = this.valueBufferSize;
    if (value.byteLength < need) throw new TsbpfError('MAP_BAD_VALUE', `map ${this.name}: value is ${value.byteLength} bytes, expected ${need}`);
    if (need > COPY_LIMIT) return value;
    this.ops.value.set(value.byteLength === need ? value : value.subarray(0, need));
    return undefined;
  }

  /** Decode key bytes (raw bytes when the type is unknown). */
  decodeKey(bytes: Uint8Array): K {
    return this.keyCodec ? this.keyCodec.decode(bytes) : (bytes as unknown as K);
  }

  /** Decode the scratch value: through its DataView, and one copy for untyped values. */
  private decodeScratch(ops: MapElemOps): V | V[] {
    if (this.perCpu) return this.decodeValue(ops.value);
    const codec = this.valueCodec;
    return codec ? codec.decodeAt(ops.valueView, 0) : (ops.value.slice(0, this.valueSize) as unknown as V);
  }

  /** Decode value bytes; per-CPU maps give an array. */
  decodeValue(bytes: Uint8Array): V | V[] {
    const one = (b: Uint8Array): V => (this.valueCodec ? this.valueCodec.decode(b) : (b.slice() as unknown as V));
    if (!this.perCpu) return one(bytes.subarray(0, this.valueSize));
    const n = numPossibleCpus();
    const out: V[] = new Array(n);
    for (let c = 0; c < n; c++) out[c] = one(bytes.subarray(c * this.valueStride, c * this.valueStride + this.valueSize));
    return out;
  }

  /** Encode a value (per-CPU maps: one value repeated, or one per possible CPU). */
  encodeValue(value: V | V[]): Uint8Array {
    if (!this.perCpu && value instanceof Uint8Array) return value;
    const out = new Uint8Array(this.valueBufferSize);
    this.encodeValueInto(value, out, new DataView(out.buffer), 0);
    return out;
  }

  /** Encode a value into `bytes`/`view` (the same memory) at `offset`, valueBufferSize bytes. */
  private encodeValueInto(value: V | V[], bytes: Uint8Array, view: DataView, offset: number): void {
    if (!this.perCpu) return this.encodeOneValue(value as V, bytes, view, offset);
    const n = numPossibleCpus();
    const stride = this.valueStride;
    if (value instanceof Uint8Array && value.byteLength >= stride * n) {
      // Already the per-CPU layout.
      bytes.set(value.subarray(0, stride * n), offset);
      return;
    }
    for (let c = 0; c < n; c++) {
      const at = offset + c * stride;
      this.encodeOneValue(Array.isArray(value) ? (value[c] as V) : (value as V), bytes, view, at);
      // The kernel stores and returns each slot's alignment padding too: zero, whatever the
      // (reused) buffer held there.
      if (stride > this.valueSize) bytes.fill(0, at + this.valueSize, at + stride);
    }
  }

  private encodeOneValue(v: V, bytes: Uint8Array, view: DataView, offset: number): void {
    if (v instanceof Uint8Array) {
      if (v.byteLength < this.valueSize) throw new TsbpfError('MAP_BAD_VALUE', `map ${this.name}: value is ${v.byteLength} bytes, expected ${this.valueSize}`);
      bytes.set(v.byteLength === this.valueSize ? v : v.subarray(0, this.valueSize), offset);
      return;
    }
    if (this.valueCodec) return this.valueCodec.encodeInto(v, view, offset);
    if (this.valueSize === 4 && typeof v === 'number') return view.setUint32(offset, v >>> 0, true);
    if (this.valueSize === 8 && (typeof v === 'bigint' || typeof v === 'number')) return setU64(view, offset, v);
    throw new TsbpfError('MAP_NO_VALUE_TYPE', `map ${this.name}: value type unknown (no BTF); pass the value as a Uint8Array of ${this.valueSize} bytes`);
  }
}

function codecFor<T>(btf: Btf, typeId: number, size: number): Codec<T> {
  const decode = compileDecoder(btf, typeId);
  const encode = compileEncoder(btf, typeId);
  return {
    decode: (b) => decode(new DataView(b.buffer, b.byteOffset, b.byteLength), 0) as T,
    decodeAt: (view, offset) => decode(view, offset) as T,
    encode: (v) => {
      const out = new Uint8Array(size);
      encode(v, new DataView(out.buffer), 0);
      return out;
    },
    encodeInto: (v, view, offset) => encode(v, view, offset),
  };
}

/** A 64-bit little-endian integer: a non-negative safe number as two halves (no BigInt), else via BigInt (two's complement). */
function setU64(view: DataView, offset: number, n: number | bigint): void {
  if (typeof n === 'number' && n >= 0 && n <= Number.MAX_SAFE_INTEGER && Number.isInteger(n)) {
    // setUint32 stores modulo 2^32: no `%` (a C library fmod call in V8 beyond int32).
    view.setUint32(offset, n, true);
    view.setUint32(offset + 4, Math.floor(n / TWO_32), true);
    return;
  }
  view.setBigUint64(offset, BigInt.asUintN(64, BigInt(n)), true);
}

/** True when `err` says the kernel lacks the batch operations for this map. */
export function isBatchUnsupported(err: unknown): boolean {
  return isErrno(err, ERRNO.EINVAL) || isErrno(err, ERRNO.ENOTSUPP) || isErrno(err, ERRNO.EOPNOTSUPP);
}
