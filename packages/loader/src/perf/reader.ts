/**
 * Consumer side of a `BPF_MAP_TYPE_PERF_EVENT_ARRAY`: one `PERF_COUNT_SW_BPF_OUTPUT` perf event per
 * CPU, each with its own mmap'd ring, installed in the map slot of its CPU so that
 * `bpf_perf_event_output(ctx, &map, BPF_F_CURRENT_CPU, …)` lands in the ring of the CPU it ran on.
 *
 * Ring protocol (`struct perf_event_mmap_page`): the kernel publishes `data_head` (we load it with
 * acquire semantics before reading records) and we publish `data_tail` (stored with release semantics
 * after we are done with a record, which hands the space back). Records are `perf_event_header`s
 * ({u32 type; u16 misc; u16 size}) followed by their body; a record can wrap around the end of the
 * ring: its wrapped part is then copied to just after the end (each ring is mapped with copy space
 * there), which makes it contiguous. Samples are delivered in a view that starts 4 bytes into the
 * data area, where their payloads are 8-byte aligned (see {@link CpuRing.samples}).
 * `PERF_RECORD_SAMPLE` with `PERF_SAMPLE_RAW` carries {u32 size; u8 data[size]} (size includes up to 7 bytes of alignment
 * padding); `PERF_RECORD_LOST` reports {u64 id; u64 lost} when the kernel had to drop samples.
 */
import {
  Epoll,
  PERF_COUNT_SW_BPF_OUTPUT,
  PERF_RECORD_LOST,
  PERF_RECORD_SAMPLE,
  PERF_SAMPLE_RAW,
  PERF_TYPE_SOFTWARE,
  PROT,
  SyscallError,
  mapDeleteElem,
  mapUpdateElem,
  mmapWithScratch,
  onlineCpus,
  pageSize,
  perfEventEnable,
  perfEventOpen,
  possibleCpus,
  type Fd,
  type MappedRegion,
} from '../sys/index.js';
import { TsbpfError } from '../errors.js';
import { DEFAULT_BATCH_SIZE, DEFAULT_POLL_TIMEOUT_MS, consumeLoop, iterateRecords, viewPerRecord, type EventReader, type EventReaderOptions, type RawRecordCallback, type RecordCallback, type RecordSource } from '../ringbuf/event_reader.js';

/** The perf reader was misused, or its map could not be populated. */
export class PerfReaderError extends TsbpfError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PERF_READER', message, options);
  }
}

/** Options of {@link PerfReader}. */
export interface PerfReaderOptions extends EventReaderOptions {
  /** Data pages per CPU ring (a power of two; default 8; at most 1 GiB of data per CPU). */
  readonly pageCount?: number;
  /**
   * Wake the reader every N samples per CPU (default 1). Exclusive with `watermarkBytes`. With N > 1 the
   * last samples of a burst wait for the next wake-up, or the poll timeout (`pollTimeoutMs`, 1 s by default).
   */
  readonly wakeupEvents?: number;
  /**
   * Wake the reader once this many bytes are pending. Exclusive with `wakeupEvents`. Fewer pending
   * bytes wake nobody until the poll timeout (`pollTimeoutMs`, 1 s by default): lower it when a trickle must not wait.
   */
  readonly watermarkBytes?: number;
  /** Called when the kernel reports dropped samples on a CPU. */
  readonly onLost?: (count: number, cpu: number) => void;
}

/** A PERF_EVENT_ARRAY map to read from. */
export interface PerfEventArrayMap {
  readonly fd: Fd;
}

/** Offsets of `struct perf_event_mmap_page` fields, in 4-byte words. */
const DATA_HEAD = 1024 / 4;
const DATA_TAIL = 1032 / 4;
const DATA_OFFSET = 1040 / 4;
const DATA_SIZE = 1048 / 4;
/** Index of the low 32-bit half of a 64-bit field within its two words. */
const LO = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 0 : 1;
const HI = 1 - LO;
const TWO_32 = 4294967296;

/** The largest data area the drain loop's int32 offsets allow (an offset stays below two ring sizes). */
const MAX_RING_SIZE = 2 ** 30;
/**
 * How far {@link CpuRing.samples} starts into the data area: a sample's payload, 12 bytes into its
 * 8-byte-aligned record, is 8-byte aligned there.
 */
const SAMPLE_SHIFT = 4;
/** The largest perf record (its size is 16 bits): the copy space after each ring holds a wrapped one. */
const MAX_RECORD = 0xffff;
/** Record limit standing for "no limit" in the drain loop (an int32 compare). */
const MAX_OFFSET = 0x7fffffff;

/** Bytes between `from` and the ring's `data_head`, as an int32 (at most a ring's worth unless the page is corrupt). */
function available(ring: CpuRing, from: number): number {
  const bytes = ring.head() - from;
  return bytes <= 0 ? 0 : bytes > MAX_OFFSET ? MAX_OFFSET : bytes | 0;
}

/** Why {@link PerfReader}'s hot loop stopped: the ring is empty, the limit was reached or the reader closed. */
const STOP_DONE = 0;
/** … at a record it leaves to the slow path (wrapped, LOST, another type). */
const STOP_RECORD = 1;
/** … after a quarter ring, to publish the tail (the loop is called again). */
const STOP_PUBLISH = 2;

/** The error for a corrupt sample: too short for its raw size word (`rawSize` undefined), or a raw size past its record. */
function corruptSample(cpu: number, rawSize: number | undefined, recSize: number): PerfReaderError {
  if (rawSize === undefined) return new PerfReaderError(`corrupt sample on cpu ${cpu}: record size ${recSize} leaves no room for its raw size`);
  return new PerfReaderError(`corrupt sample on cpu ${cpu}: raw size ${rawSize} exceeds record size ${recSize}`);
}

/**
 * The raw size of the sample record of `recSize` bytes at `at` of `view`, checked against the
 * record. (The drain's hot loop makes the same checks inline.)
 * @throws PerfReaderError for a corrupt sample
 */
function sampleRawSize(view: DataView, at: number, recSize: number, cpu: number): number {
  if (recSize < 12) throw corruptSample(cpu, undefined, recSize);
  const rawSize = view.getUint32(at + 8, true);
  if (12 + rawSize > recSize) throw corruptSample(cpu, rawSize, recSize);
  return rawSize;
}

/**
 * The count of the PERF_RECORD_LOST record of `recSize` bytes at `at` of `view` ({u64 id; u64 lost}
 * after its header).
 * @throws PerfReaderError for a record too short to hold them
 */
function lostCount(view: DataView, at: number, recSize: number, cpu: number): number {
  if (recSize < 24) throw new PerfReaderError(`corrupt lost-samples record on cpu ${cpu}: size ${recSize}, too short for its count`);
  return view.getUint32(at + 16, true) + view.getUint32(at + 20, true) * TWO_32;
}

/** One CPU's perf event and ring. */
class CpuRing {
  readonly cpu: number;
  readonly fd: Fd;
  readonly region: MappedRegion;
  /** The metadata page as 32-bit words: 64-bit fields are read and written as two halves (no BigInt). */
  readonly meta: Int32Array;
  /** The data area and the copy space after it (see {@link CpuRing.joinWrapped}). */
  readonly data: DataView;
  /**
   * The data area from its fifth byte, and the copy space: the view samples are delivered in. A
   * sample's payload starts 12 bytes into its 8-byte-aligned record, so at `pos + 12` of
   * {@link data} it is 4 bytes off an 8-byte boundary, and at `pos + 8` here (the same bytes) it is
   * on one, where decoders read 64-bit members as elements of a BigUint64Array rather than as two
   * halves (see `btf/codec.ts`; perf decoded 128 B: ~113 -> ~83 ns a record). Those loads are 4
   * bytes off an 8-byte boundary in memory, which x86-64 and arm64 read as any other load of
   * ordinary memory.
   */
  readonly samples: DataView;
  readonly bytes: Uint8Array;
  readonly size: number;
  readonly mask: number;
  /** Publish `data_tail` at least this often within one drain, so the kernel gets space back. */
  readonly publishEvery: number;
  /** Our position (we are the only writer of data_tail). */
  tail: number;
  /** The tail last published to the kernel (≤ tail). */
  published: number;

  /**
   * @param region the ring's mapping (`ringLength` bytes: the metadata page and the data area)
   * followed by at least {@link MAX_RECORD} bytes of copy space
   */
  constructor(cpu: number, fd: Fd, region: MappedRegion, page: number, ringLength: number) {
    this.cpu = cpu;
    this.fd = fd;
    this.region = region;
    this.meta = new Int32Array(region.buffer, 0, 1056 / 4);
    // Kernels before 4.1 leave data_offset/data_size 0: the data then starts at the second page.
    const off = this.#field(DATA_OFFSET) || page;
    this.size = this.#field(DATA_SIZE) || ringLength - page;
    if ((this.size & (this.size - 1)) !== 0) throw new PerfReaderError(`perf ring of cpu ${cpu} has a data size ${this.size} that is not a power of two`);
    if (this.size > MAX_RING_SIZE) throw new PerfReaderError(`perf ring of cpu ${cpu} has a data size ${this.size} above the ${MAX_RING_SIZE} bytes this reader supports`);
    if (off + this.size !== ringLength) throw new PerfReaderError(`perf ring of cpu ${cpu} has its data at ${off}+${this.size}, not ending at the mapping's ${ringLength} bytes`);
    this.mask = this.size - 1;
    this.publishEvery = Math.max(8, this.size >>> 2);
    const span = region.length - off;
    this.data = new DataView(region.buffer, off, span);
    this.samples = new DataView(region.alias(off + SAMPLE_SHIFT, span - SAMPLE_SHIFT));
    this.bytes = new Uint8Array(region.buffer, off, span);
    this.tail = this.#field(DATA_TAIL);
    this.published = this.tail;
  }

  /** A 64-bit field that only grows, read as two halves: an unchanged high half around the low read means a consistent pair. */
  #field(at: number): number {
    const m = this.meta;
    for (;;) {
      const hi = Atomics.load(m, at + HI);
      const lo = Atomics.load(m, at + LO) >>> 0;
      if (Atomics.load(m, at + HI) === hi) return hi * TWO_32 + lo;
    }
  }

  head(): number {
    // Atomics.load is sequentially consistent: at least the acquire the protocol asks for.
    return this.#field(DATA_HEAD);
  }

  /**
   * Makes the record of `size` bytes at `pos`, which wraps past the data area's end, contiguous:
   * its part at the start of the area is copied to just after the end (into the copy space), so the
   * record reads from `pos` in {@link data} and {@link samples} as any other. Records then stay in
   * one buffer, at one alignment: a decoder never sees another.
   */
  joinWrapped(pos: number, size: number): void {
    this.bytes.copyWithin(this.size, 0, pos + size - this.size);
  }

  /** Moves the tail to `tail` and publishes it. */
  release(tail: number): void {
    this.tail = tail;
    this.publish();
  }

  /**
   * Publishes `tail` to `data_tail`. Release: our reads of the records happen before the kernel may
   * overwrite them (Atomics.store is sequentially consistent). Low half first: a kernel read between
   * the two stores sees a tail behind the real one (less free space, never unread space).
   */
  publish(): void {
    const pos = this.tail;
    if (pos === this.published) return;
    const hi = Math.floor(pos / TWO_32);
    const lo = pos - hi * TWO_32;
    Atomics.store(this.meta, DATA_TAIL + LO, lo | 0);
    if (hi !== Math.floor(this.published / TWO_32)) Atomics.store(this.meta, DATA_TAIL + HI, hi | 0);
    this.published = pos;
  }
}

/** Reads a perf event array. See {@link EventReader}. */
export class PerfReader implements EventReader {
  readonly kind = 'perf' as const;
  readonly #rings: CpuRing[] = [];
  readonly #map: Fd;
  readonly #epoll: Epoll;
  readonly #pollTimeoutMs: number;
  readonly #batch: number;
  readonly #onLost: ((count: number, cpu: number) => void) | undefined;
  readonly #lostPerCpu: number[];
  #lost = 0;
  #closed = false;
  /** Why the last pass of the hot loop stopped (STOP_*): written on every pass, so the store has type feedback. */
  #stop = STOP_DONE;
  /** True while readAvailable()/readAvailableRaw() runs (a callback may not start another drain). */
  #draining = false;
  /** True while an async iterator has yielded a record it has not released yet. */
  #holding = false;
  #consuming = false;
  /** Round-robin start, so one busy CPU does not starve the others. */
  #next = 0;

  /**
   * Open one BPF-output perf event per online CPU, map its ring, and store it in `map` at the CPU's
   * index. The reader does not own `map.fd`.
   */
  constructor(map: PerfEventArrayMap, options: PerfReaderOptions = {}) {
    const page = pageSize();
    const pages = options.pageCount ?? 8;
    if (!Number.isInteger(pages) || pages <= 0 || (pages & (pages - 1)) !== 0) throw new PerfReaderError(`pageCount ${pages} is not a power of two`);
    if (pages * page > MAX_RING_SIZE) throw new PerfReaderError(`pageCount ${pages} makes ${pages * page}-byte rings, above the ${MAX_RING_SIZE} bytes this reader supports`);
    if (options.wakeupEvents !== undefined && options.watermarkBytes !== undefined) throw new PerfReaderError('give wakeupEvents or watermarkBytes, not both');
    this.#map = map.fd;
    this.#pollTimeoutMs = options.pollTimeoutMs ?? DEFAULT_POLL_TIMEOUT_MS;
    this.#batch = Math.max(1, options.batchSize ?? DEFAULT_BATCH_SIZE);
    this.#onLost = options.onLost;
    const possible = possibleCpus();
    this.#lostPerCpu = new Array<number>(Math.max(...possible, 0) + 1).fill(0);
    const online = new Set(onlineCpus());
    this.#epoll = new Epoll();
    try {
      for (const cpu of possible) {
        if (!online.has(cpu)) continue; // an offline CPU runs no programs; libbpf skips it too
        this.#openCpu(cpu, pages, page, options);
      }
      if (this.#rings.length === 0) throw new PerfReaderError('no online CPU to open perf events on');
    } catch (err) {
      this.#release();
      throw err;
    }
  }

  #openCpu(cpu: number, pages: number, page: number, options: PerfReaderOptions): void {
    const watermark = options.watermarkBytes !== undefined;
    const fd = perfEventOpen(
      {
        type: PERF_TYPE_SOFTWARE,
        config: PERF_COUNT_SW_BPF_OUTPUT,
        sampleType: PERF_SAMPLE_RAW,
        samplePeriod: 1,
        ...(watermark ? { wakeupWatermark: options.watermarkBytes, flags: { watermark: true, disabled: true } } : { wakeupEvents: options.wakeupEvents ?? 1, flags: { disabled: true } }),
      },
      -1,
      cpu,
      -1,
      0,
    );
    const ringLength = (pages + 1) * page;
    let region: MappedRegion;
    try {
      region = mmapWithScratch(fd, ringLength, Math.ceil(MAX_RECORD / page) * page, PROT.READ | PROT.WRITE);
    } catch (err) {
      fd.close();
      throw err;
    }
    let ring: CpuRing;
    try {
      ring = new CpuRing(cpu, fd, region, page, ringLength);
    } catch (err) {
      region.unmap();
      fd.close();
      throw err;
    }
    this.#rings.push(ring);
    perfEventEnable(fd);
    const key = new Uint8Array(4);
    const value = new Uint8Array(4);
    new DataView(key.buffer).setUint32(0, cpu, true);
    new DataView(value.buffer).setUint32(0, fd.raw, true);
    try {
      mapUpdateElem(this.#map, key, value);
    } catch (err) {
      if (err instanceof SyscallError && err.errnoName === 'E2BIG') {
        throw new PerfReaderError(`perf event array has fewer entries than CPU ${cpu} needs (set max_entries to the number of possible CPUs, or 0 to let the loader do it)`, { cause: err });
      }
      throw err;
    }
    this.#epoll.add(fd, this.#rings.length - 1);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Samples the kernel dropped, over all CPUs (as reported by PERF_RECORD_LOST so far). */
  get lost(): number {
    return this.#lost;
  }

  /** Dropped samples per CPU number. */
  get lostPerCpu(): readonly number[] {
    return this.#lostPerCpu;
  }

  /** The CPUs with a ring. */
  get cpus(): readonly number[] {
    return this.#rings.map((r) => r.cpu);
  }

  /** Accounts `count` samples lost on `ring` (the count of a PERF_RECORD_LOST; see {@link lostCount}). */
  #accountLost(ring: CpuRing, count: number): void {
    this.#lost += count;
    this.#lostPerCpu[ring.cpu] += count;
    this.#onLost?.(count, ring.cpu);
  }

  /**
   * Drain one ring (at most `max` samples); returns the number delivered. LOST records are accounted
   * and skipped. The hot loop ({@link #drainSamples}) reads whole samples; a record it leaves (one
   * that wraps past the ring's end, a LOST record, any other type) is handled by
   * {@link #slowRecord}, and the loop goes on after it.
   */
  #drain(ring: CpuRing, cb: RawRecordCallback, max: number): number {
    let n = 0;
    for (;;) {
      n += this.#drainSamples(ring, cb, max - n);
      const stop = this.#stop;
      // A callback may have closed the reader: the rings are unmapped then.
      if (stop === STOP_DONE || this.#closed || n >= max) return n;
      if (stop === STOP_RECORD) {
        n += this.#slowRecord(ring, cb);
        if (this.#closed || n >= max) return n;
      }
    }
  }

  /**
   * The hot loop: delivers whole samples from the tail until the ring is empty, `max` samples were
   * delivered, the reader closed, a quarter ring was read (the tail is then published and the caller
   * calls again) or a record it does not read is next; says which in {@link #stop}. One `data_head`
   * snapshot at a time: when its records are read, `data_tail` is published, then `data_head` is read
   * again before the ring counts as empty.
   *
   * V8 optimizes this loop for the paths it has run. A branch first taken later (a record wrapping
   * past the end, a LOST record, the quarter-ring publish) deoptimized it when it held a call or a
   * property access, and it then ran unoptimized for dozens of drains (perf 64 B records: ~70 ns
   * each instead of ~6, from the ring's first wrap on). So those branches only set a local and
   * break: neither needs type feedback.
   */
  #drainSamples(ring: CpuRing, cb: RawRecordCallback, max: number): number {
    // Typed locals for everything the loop reads: V8 otherwise re-checks, untags or converts module
    // constants and object fields on every iteration (see RingBufReader.readAvailableRaw).
    const data = ring.data;
    const samples = ring.samples;
    const mask = ring.mask | 0;
    const size = ring.size | 0;
    const every = ring.publishEvery | 0;
    const cpu = ring.cpu;
    const sampleType = PERF_RECORD_SAMPLE | 0;
    const limit = max >= MAX_OFFSET ? MAX_OFFSET : Math.max(0, Math.ceil(max));
    let n = 0;
    let stop = STOP_DONE;
    // Positions in the loop are int32 offsets from `origin` (the 64-bit tail, a double, at the last
    // re-base), which stay below a quarter ring plus one record: the caller calls again past that.
    let origin = ring.tail;
    let start = origin & mask; // ToInt32 takes the position modulo 2^32, and mask < 2^32
    let off = 0;
    let avail = available(ring, origin);
    let publishAt = (ring.published + every - origin) | 0;
    try {
      while (n < limit) {
        if (off >= avail) {
          // The snapshot's records are read: give their space back, then look at data_head again.
          // (Calls are fine here: most drains end through this branch, so it has type feedback early.)
          origin += off;
          start = (start + off) & mask;
          off = 0;
          ring.tail = origin;
          ring.publish();
          publishAt = every;
          avail = available(ring, origin);
          if (avail <= 0) break;
        }
        const pos = (start + off) & mask;
        // Headers are 8-byte aligned and the ring a multiple of 8: a header never straddles the end.
        const type = data.getUint32(pos, true);
        const recSize = data.getUint16(pos + 6, true);
        if (recSize < 8 || recSize > size) throw new PerfReaderError(`corrupt perf record on cpu ${cpu}: size ${recSize} at offset ${pos}`);
        if (type !== sampleType || pos + recSize > size) {
          stop = STOP_RECORD;
          break;
        }
        // Consumed before the size checks and the callback: a corrupt sample or a callback that
        // throws still consumes its record.
        off = (off + recSize) | 0;
        // A sample too short for its raw size word is corrupt (and that word could lie past the ring).
        if (recSize < 12) throw corruptSample(cpu, undefined, recSize);
        const rawSize = data.getUint32(pos + 8, true);
        if (12 + rawSize > recSize) throw corruptSample(cpu, rawSize, recSize);
        n++;
        cb(samples, pos + 8, rawSize, cpu);
        // A callback may call close(): the mapping is gone then. `=== true` is one compare; a plain
        // test of the field is V8's generic truthiness check on every record.
        if (this.#closed === true) break;
        if (off >= publishAt) {
          stop = STOP_PUBLISH;
          break;
        }
      }
    } finally {
      ring.tail = origin + off;
      if (!this.#closed) ring.publish();
    }
    this.#stop = stop;
    return n;
  }

  /**
   * The record at the tail that {@link #drainSamples} left: a sample wrapping past the ring's end
   * (made contiguous first), a LOST record (accounted) or another type (skipped). Consumed even
   * when the callback throws. Returns the samples delivered (0 or 1).
   */
  #slowRecord(ring: CpuRing, cb: RawRecordCallback): number {
    const pos = ring.tail & ring.mask;
    const type = ring.data.getUint32(pos, true);
    const recSize = ring.data.getUint16(pos + 6, true);
    const next = ring.tail + recSize;
    try {
      if (pos + recSize > ring.size) ring.joinWrapped(pos, recSize);
      if (type === PERF_RECORD_SAMPLE) {
        const rawSize = sampleRawSize(ring.data, pos, recSize, ring.cpu);
        cb(ring.samples, pos + 8, rawSize, ring.cpu);
        return 1;
      }
      if (type === PERF_RECORD_LOST) this.#accountLost(ring, lostCount(ring.data, pos, recSize, ring.cpu));
      return 0;
    } finally {
      ring.tail = next;
      if (!this.#closed) ring.publish();
    }
  }

  /** The ring and tail of the record the async iterator holds. */
  #heldRing: CpuRing | undefined;
  #heldNext = 0;

  /**
   * The next sample of `ring` for the async iterator, or undefined when it is empty. LOST records are
   * accounted and skipped. Returns its view (wrapped records made contiguous first); the tail to
   * publish once the caller is done with it goes to #heldNext.
   */
  #peek(ring: CpuRing): DataView | undefined {
    for (;;) {
      const head = ring.head();
      if (ring.tail >= head) return undefined;
      const off = ring.tail & ring.mask;
      const type = ring.data.getUint32(off, true);
      const size = ring.data.getUint16(off + 6, true);
      if (size < 8 || size > ring.size) throw new PerfReaderError(`corrupt perf record on cpu ${ring.cpu}: size ${size} at offset ${off}`);
      const next = ring.tail + size;
      if (off + size > ring.size) ring.joinWrapped(off, size);
      if (type === PERF_RECORD_SAMPLE) {
        let rawSize: number;
        try {
          rawSize = sampleRawSize(ring.data, off, size, ring.cpu);
        } catch (err) {
          // Consumed, as the drains do, so the next read goes on after it.
          ring.release(next);
          throw err;
        }
        this.#heldNext = next;
        return new DataView(ring.samples.buffer, ring.samples.byteOffset + off + 8, rawSize);
      }
      // Read before the space goes back to the kernel, which may then write over it; consumed
      // even when corrupt, as the drains do.
      let lost = 0;
      try {
        if (type === PERF_RECORD_LOST) lost = lostCount(ring.data, off, size, ring.cpu);
      } finally {
        ring.release(next);
      }
      if (type === PERF_RECORD_LOST) this.#accountLost(ring, lost);
      // `onLost` may have closed the reader: the rings are unmapped, reading on would fault.
      if (this.#closed) return undefined;
    }
  }

  readAvailable(cb: RecordCallback, maxRecords = Infinity): number {
    return this.readAvailableRaw(viewPerRecord(cb), maxRecords);
  }

  readAvailableRaw(cb: RawRecordCallback, maxRecords = Infinity): number {
    if (this.#closed) return 0;
    if (this.#holding) throw new PerfReaderError('an async iterator holds a record of this reader: finish or break the for-await loop before calling readAvailable()');
    if (this.#draining) throw new PerfReaderError('readAvailable() called from inside a record callback of the same reader');
    this.#draining = true;
    try {
      let n = 0;
      const count = this.#rings.length;
      const start = this.#next;
      this.#next = (this.#next + 1) % count;
      for (let i = 0; i < count && !this.#closed && n < maxRecords; i++) n += this.#drain(this.#rings[(start + i) % count], cb, maxRecords - n);
      return n;
    } finally {
      this.#draining = false;
    }
  }

  async #waitForData(): Promise<boolean> {
    if (this.#closed) return false;
    await this.#epoll.waitAsync(this.#rings.length, this.#pollTimeoutMs);
    return !this.#closed;
  }

  /** The shared loops' view of this reader; marks it busy (one start() or iterator at a time). */
  #claim(): RecordSource {
    if (this.#consuming) throw new PerfReaderError('this perf reader is already being consumed (start() or an iterator is running)');
    this.#consuming = true;
    return {
      isClosed: () => this.#closed,
      batch: this.#batch,
      drain: (cb, max) => this.readAvailableRaw(cb, max),
      take: () => {
        for (let i = 0; i < this.#rings.length && !this.#closed; i++) {
          const view = this.#peek(this.#rings[i]);
          if (view) {
            this.#heldRing = this.#rings[i];
            return view;
          }
        }
        return undefined;
      },
      release: () => {
        this.#heldRing?.release(this.#heldNext);
        this.#heldRing = undefined;
      },
      hold: (holding) => {
        this.#holding = holding;
      },
      waitForData: () => this.#waitForData(),
      unclaim: () => {
        this.#consuming = false;
      },
    };
  }

  start(cb: RecordCallback): Promise<void> {
    return this.startRaw(viewPerRecord(cb));
  }

  // async: a reader already being consumed rejects the promise rather than throwing.
  async startRaw(cb: RawRecordCallback): Promise<void> {
    return consumeLoop(this.#claim(), cb);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<DataView, void, undefined> {
    yield* iterateRecords(this.#claim());
  }

  /** Block the JS thread until a ring has data or `timeoutMs` passes. For tools and tests. */
  pollSync(timeoutMs: number): boolean {
    if (this.#closed) return false;
    if (this.#rings.some((r) => r.head() > r.tail)) return true;
    this.#epoll.wait(this.#rings.length, timeoutMs);
    return this.#rings.some((r) => r.head() > r.tail);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#release();
  }

  #release(): void {
    this.#epoll.close();
    const key = new Uint8Array(4);
    for (const ring of this.#rings) {
      // The map slot holds a reference to the perf event: clear it so the event really goes away.
      new DataView(key.buffer).setUint32(0, ring.cpu, true);
      try {
        if (!this.#map.closed) mapDeleteElem(this.#map, key);
      } catch {
        // The map may already be gone; the event is then released with it.
      }
      ring.region.unmap();
      ring.fd.close();
    }
    this.#rings.length = 0;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
