/**
 * Consumer side of a `BPF_MAP_TYPE_RINGBUF` map, reading records in place from the shared mapping.
 *
 * Layout (kernel/bpf/ringbuf.c): page 0 of the map fd holds `consumer_pos` and is the only page user
 * space may map writable; page 1 holds `producer_pos`; the data area of `max_entries` bytes follows and
 * is mapped twice in a row, so a record that wraps the end of the ring is still contiguous in memory and
 * can be handed out as one view without copying. Each record starts with an 8-byte header: `len` (bit 31
 * BUSY while the producer fills it, bit 30 DISCARD when it was thrown away) and a page offset. Records
 * are 8-byte aligned.
 */
import { Epoll, MAP, PROT, mmap, pageSize, type Fd, type MappedRegion } from '../sys/index.js';
import { TsbpfError } from '../errors.js';
import { DEFAULT_BATCH_SIZE, DEFAULT_POLL_TIMEOUT_MS, consumeLoop, iterateRecords, viewPerRecord, type EventReader, type EventReaderOptions, type RawRecordCallback, type RecordCallback, type RecordSource } from './event_reader.js';

const DISCARD_BIT = 0x40000000;
const LEN_MASK = 0x3fffffff;
const HEADER_SIZE = 8;

/** The ring buffer reader was misused or its map is unusable. */
export class RingBufError extends TsbpfError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('RINGBUF', message, options);
  }
}

/**
 * A ring buffer map to read: its fd and `max_entries` (the data size, a power-of-two multiple of the
 * page size, at most 1 GiB: the kernel allows more, the reader's drain loop does not).
 */
export interface RingBufMap {
  readonly fd: Fd;
  readonly maxEntries: number;
}

/** Options of {@link RingBufReader}. */
export type RingBufReaderOptions = EventReaderOptions;

/** Index of the low 32-bit half of a little- or big-endian 64-bit word in an Int32Array. */
const LO = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 0 : 1;
const HI = 1 - LO;
const TWO_32 = 4294967296;
/** The largest ring the drain loop's int32 offsets allow (an offset stays below two ring sizes). */
const MAX_RING_SIZE = 2 ** 30;
/** Record limit standing for "no limit" in the drain loop (an int32 compare). */
const MAX_OFFSET = 0x7fffffff;

/**
 * Whether a plain load already has the acquire ordering a record header needs. On x86 (TSO) loads
 * are never reordered with older loads, so reading the header with a plain typed-array load and then
 * the record is enough: the producer's commit is an xchg made after it wrote the record. V8 keeps
 * typed-array loads in program order, and `Atomics.load` is a builtin call there (about 10 ns a
 * record, more than the rest of the drain loop). Other architectures keep `Atomics.load`.
 */
const PLAIN_LOAD_ACQUIRES = process.arch === 'x64' || process.arch === 'ia32';

/** Reads a BPF ring buffer. See {@link EventReader} for the contract of each method. */
export class RingBufReader implements EventReader {
  readonly kind = 'ringbuf' as const;
  readonly lost = 0;
  readonly #size: number;
  readonly #mask: number;
  /** Publish `consumer_pos` at least this often within one drain, so a running producer gets space back. */
  readonly #publishEvery: number;
  readonly #consumerMap: MappedRegion;
  readonly #producerMap: MappedRegion;
  /** `consumer_pos` as two 32-bit halves; written with Atomics.exchange (a full fence). */
  readonly #consumerWords: Int32Array;
  /** `producer_pos` as two 32-bit halves (no BigInt on the hot path). */
  readonly #producerWords: Int32Array;
  /** Headers, addressed in 4-byte units from the start of the producer mapping. */
  readonly #words: Int32Array;
  readonly #buffer: ArrayBuffer;
  /** One view over the whole producer mapping, shared by every record handed to a raw callback. */
  readonly #view: DataView;
  readonly #dataOffset: number;
  readonly #epoll: Epoll;
  readonly #pollTimeoutMs: number;
  readonly #batch: number;
  /** Mirror of consumer_pos (we are its only writer). Positions fit a double for 2^53 bytes of traffic. */
  #cons: number;
  /** The consumer position last published to the kernel (≤ #cons). */
  #published: number;
  #closed = false;
  /** True while readAvailable()/readAvailableRaw() runs (a callback may not start another drain). */
  #draining = false;
  /** True while an async iterator has yielded a record it has not released yet. */
  #holding = false;
  #busyLoop = false;

  /**
   * Map the ring buffer of `map`. The reader does not own `map.fd` (close the map yourself after the
   * reader); it owns its mappings, epoll set and eventfd.
   */
  constructor(map: RingBufMap, options: RingBufReaderOptions = {}) {
    const page = pageSize();
    const size = map.maxEntries;
    if (!Number.isInteger(size) || size <= 0 || size % page !== 0 || (size & (size - 1)) !== 0) {
      throw new RingBufError(`ring buffer size ${size} is not a power-of-two multiple of the page size (${page})`);
    }
    if (size > MAX_RING_SIZE) throw new RingBufError(`ring buffer size ${size} is above the ${MAX_RING_SIZE} bytes this reader supports`);
    this.#size = size;
    this.#mask = size - 1;
    this.#publishEvery = Math.max(HEADER_SIZE, size >>> 2);
    this.#pollTimeoutMs = options.pollTimeoutMs ?? DEFAULT_POLL_TIMEOUT_MS;
    this.#batch = Math.max(1, options.batchSize ?? DEFAULT_BATCH_SIZE);
    this.#consumerMap = mmap(map.fd, page, PROT.READ | PROT.WRITE, MAP.SHARED, 0);
    try {
      this.#producerMap = mmap(map.fd, page + 2 * size, PROT.READ, MAP.SHARED, page);
    } catch (err) {
      this.#consumerMap.unmap();
      throw err;
    }
    try {
      this.#epoll = new Epoll();
      try {
        this.#epoll.add(map.fd, 0);
      } catch (err) {
        this.#epoll.close();
        throw err;
      }
    } catch (err) {
      this.#producerMap.unmap();
      this.#consumerMap.unmap();
      throw err;
    }
    this.#consumerWords = new Int32Array(this.#consumerMap.buffer, 0, 2);
    this.#producerWords = new Int32Array(this.#producerMap.buffer, 0, 2);
    this.#buffer = this.#producerMap.buffer;
    this.#words = new Int32Array(this.#buffer);
    this.#view = new DataView(this.#buffer);
    this.#dataOffset = page;
    this.#cons = Atomics.load(this.#consumerWords, HI) * TWO_32 + (Atomics.load(this.#consumerWords, LO) >>> 0);
    this.#published = this.#cons;
  }

  /** Size of the data area in bytes. */
  get size(): number {
    return this.#size;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes committed or reserved by producers and not yet consumed. */
  get pending(): number {
    if (this.#closed) return 0;
    return this.#producer() - this.#cons;
  }

  /**
   * `producer_pos`, read as two 32-bit halves (acquire: Atomics.load is sequentially consistent). The
   * position only grows, so an unchanged high half around the low read means the pair is consistent.
   */
  #producer(): number {
    const w = this.#producerWords;
    for (;;) {
      const hi = Atomics.load(w, HI);
      const lo = Atomics.load(w, LO) >>> 0;
      if (Atomics.load(w, HI) === hi) return hi * TWO_32 + lo;
    }
  }

  /** Bytes between `from` and `producer_pos`, as an int32 (at most a ring's worth unless the page is corrupt). */
  #available(from: number): number {
    const bytes = this.#producer() - from;
    return bytes <= 0 ? 0 : bytes > MAX_OFFSET ? MAX_OFFSET : bytes | 0;
  }

  /**
   * Finds the next committed, non-discarded record at or after the consumer position, skipping (and
   * releasing) discarded ones. Returns the position after it (its header is at #cons), or -1 when the
   * next record is still BUSY or the ring is empty.
   */
  #peek(): number {
    for (;;) {
      if (this.#cons >= this.#producer()) return -1;
      const at = this.#dataOffset + (this.#cons & this.#mask);
      // Acquire: the producer publishes the length with an xchg after writing the sample.
      const header = Atomics.load(this.#words, at >>> 2);
      if (header < 0) return -1; // BUSY (bit 31)
      const len = header & LEN_MASK;
      const next = this.#cons + ((len + HEADER_SIZE + 7) & ~7);
      if (header & DISCARD_BIT) {
        this.#cons = next;
        this.#publish();
        continue;
      }
      if (len > this.#size) throw new RingBufError(`corrupt ring buffer record at position ${this.#cons}: length ${len} exceeds the ring size ${this.#size}`);
      return next;
    }
  }

  /**
   * Publishes the consumer position (#cons) to the kernel.
   *
   * Why an exchange and not a store: the kernel producer, when it commits a record, wakes the poller
   * only if `consumer_pos` equals that record's position (it assumes a consumer that is behind will come
   * back anyway). Here the consumer stores `consumer_pos` and then loads `producer_pos`/the next header
   * to decide whether to sleep. x86 may satisfy that load before the store leaves the store buffer; the
   * producer can then read our *old* consumer position (so it skips the wake-up) while we read its *old*
   * producer position or a BUSY header (so we go to sleep): the record sits in the ring and nobody wakes.
   * A full fence between the store and the following load closes the window; `Atomics.exchange` is a
   * sequentially consistent read-modify-write (a `lock xchg` on x86, `swpal`/ldaxr-stlxr on arm64).
   *
   * Publishing once per drain (not per record) is sound for the same reason: records committed while we
   * were behind woke nobody, but every drain ends by publishing and then re-reading `producer_pos` and the
   * next header (the "never stalls" re-check in {@link readAvailableRaw}), and sleeps only when both say
   * empty. The 64-bit position is written as two halves, low first: a kernel read between the two sees
   * a position *behind* the real one (less free space, never space that is still unread).
   */
  #publish(): void {
    // After close() the pages are unmapped: touching them would fault.
    if (this.#closed) return;
    const pos = this.#cons;
    if (pos === this.#published) return;
    const hi = Math.floor(pos / TWO_32);
    const lo = pos - hi * TWO_32;
    if (hi !== Math.floor(this.#published / TWO_32)) {
      Atomics.store(this.#consumerWords, LO, lo | 0);
      Atomics.exchange(this.#consumerWords, HI, hi | 0);
    } else {
      Atomics.exchange(this.#consumerWords, LO, lo | 0);
    }
    this.#published = pos;
  }

  readAvailable(cb: RecordCallback, maxRecords = Infinity): number {
    return this.readAvailableRaw(viewPerRecord(cb), maxRecords);
  }

  readAvailableRaw(cb: RawRecordCallback, maxRecords = Infinity): number {
    if (this.#closed) return 0;
    if (this.#holding) throw new RingBufError('an async iterator holds a record of this reader: finish or break the for-await loop before calling readAvailable()');
    if (this.#draining) throw new RingBufError('readAvailable() called from inside a record callback of the same reader');
    this.#draining = true;
    const words = this.#words;
    const view = this.#view;
    // `| 0` types these as int32 once, and module constants are copied to typed locals: otherwise V8
    // re-checks, untags or converts each of them on every iteration of the loop (seen in its
    // optimized code). With the int32 offsets below: 16 → 11 ns a record, raw 64 B, same machine.
    const mask = this.#mask | 0;
    const base = this.#dataOffset | 0;
    const size = this.#size | 0;
    const every = this.#publishEvery | 0;
    const plainAcquire = PLAIN_LOAD_ACQUIRES === true; // a boolean, not a value to convert on every test
    const lenMask = LEN_MASK | 0;
    const discardBit = DISCARD_BIT | 0;
    const headerSize = HEADER_SIZE | 0;
    const limit = maxRecords >= MAX_OFFSET ? MAX_OFFSET : Math.max(0, Math.ceil(maxRecords));
    let n = 0;
    // Inside the loop positions are int32 offsets from `origin` (the 64-bit position, a double, at
    // the last re-base): integer adds and masks instead of double arithmetic and truncation on every
    // record. Re-based at each publish, so an offset stays below two ring sizes (< 2^31).
    let origin = this.#cons;
    let start = origin & mask; // ToInt32 takes the position modulo 2^32, and mask < 2^32
    let off = 0;
    // Publish consumer_pos when the offset passes this mark (every quarter ring), so a running producer gets space back.
    let publishAt = (this.#published + every - origin) | 0;
    // One producer snapshot per batch: re-read only when the records it covers are used up.
    let avail = this.#available(origin);
    try {
      while (n < limit) {
        if (off >= avail) {
          // Publish, then re-check (after the fence) before reporting "empty": never stalls.
          origin += off;
          start = (start + off) & mask;
          off = 0;
          this.#cons = origin;
          this.#publish();
          publishAt = every;
          avail = this.#available(origin);
          if (avail <= 0) break;
        }
        const at = base + ((start + off) & mask);
        // Acquire: the producer publishes the length with an xchg after writing the sample.
        const header = plainAcquire ? words[at >>> 2] : Atomics.load(words, at >>> 2);
        if (header < 0) {
          // BUSY (bit 31): the producer is still writing this record.
          if (origin + off === this.#published) break;
          // Publish and look once more: the producer may have committed it meanwhile (see #publish).
          origin += off;
          start = (start + off) & mask;
          off = 0;
          this.#cons = origin;
          this.#publish();
          publishAt = every;
          avail = this.#available(origin);
          continue;
        }
        const len = header & lenMask;
        const next = (off + ((len + headerSize + 7) & ~7)) | 0;
        if ((header & discardBit) === 0) {
          if (len > size) throw new RingBufError(`corrupt ring buffer record at position ${origin + off}: length ${len} exceeds the ring size ${size}`);
          n++;
          // Consumed before the call, so a callback that throws still consumes its record.
          off = next;
          cb(view, at + headerSize, len, -1);
          // A callback may call close(): the mapping is gone then. `=== true` is one compare where a
          // plain test is a generic truthiness check (see PerfReader); the cast undoes the narrowing
          // from the check on entry.
          if ((this.#closed as boolean) === true) break;
        } else {
          off = next;
        }
        if (off >= publishAt) {
          origin += off;
          start = (start + off) & mask;
          avail = (avail - off) | 0;
          off = 0;
          this.#cons = origin;
          this.#publish();
          publishAt = every;
        }
      }
    } finally {
      this.#draining = false;
      this.#cons = origin + off;
      this.#publish();
    }
    return n;
  }

  /**
   * Wait (off the JS thread) until the kernel reports data or close() runs. Returns false once closed.
   */
  async #waitForData(): Promise<boolean> {
    if (this.#closed) return false;
    await this.#epoll.waitAsync(1, this.#pollTimeoutMs);
    return !this.#closed;
  }

  /** The shared loops' view of this reader; marks it busy (one start() or iterator at a time). */
  #claim(): RecordSource {
    if (this.#busyLoop) throw new RingBufError('this ring buffer reader is already being consumed (start() or an iterator is running)');
    this.#busyLoop = true;
    let next = -1;
    return {
      isClosed: () => this.#closed,
      batch: this.#batch,
      drain: (cb, max) => this.readAvailableRaw(cb, max),
      take: () => {
        next = this.#peek();
        if (next < 0) return undefined;
        const at = this.#dataOffset + (this.#cons & this.#mask);
        return new DataView(this.#buffer, at + HEADER_SIZE, Atomics.load(this.#words, at >>> 2) & LEN_MASK);
      },
      release: () => {
        this.#cons = next;
        this.#publish();
      },
      hold: (holding) => {
        this.#holding = holding;
      },
      waitForData: () => this.#waitForData(),
      unclaim: () => {
        this.#busyLoop = false;
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

  /** Block the JS thread until data is available or `timeoutMs` passes (-1: forever). For tools and tests. */
  pollSync(timeoutMs: number): boolean {
    if (this.#closed) return false;
    if (this.pending > 0) return true;
    this.#epoll.wait(1, timeoutMs);
    return this.pending > 0;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#epoll.close();
    this.#producerMap.unmap();
    this.#consumerMap.unmap();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
