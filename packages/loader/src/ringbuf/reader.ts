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
import { DEFAULT_BATCH_SIZE, yieldToEventLoop, type EventReader, type EventReaderOptions, type RecordCallback } from './event_reader.js';

const BUSY_BIT = 0x80000000;
const DISCARD_BIT = 0x40000000;
const LEN_MASK = 0x3fffffff;
const HEADER_SIZE = 8;

/** The ring buffer reader was misused or its map is unusable. */
export class RingBufError extends TsbpfError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('RINGBUF', message, options);
  }
}

/** A ring buffer map to read: its fd and `max_entries` (the data size, a power-of-two multiple of the page size). */
export interface RingBufMap {
  readonly fd: Fd;
  readonly maxEntries: number;
}

/** Options of {@link RingBufReader}. */
export type RingBufReaderOptions = EventReaderOptions;

/** Reads a BPF ring buffer. See {@link EventReader} for the contract of each method. */
export class RingBufReader implements EventReader {
  readonly kind = 'ringbuf' as const;
  readonly lost = 0;
  readonly #size: number;
  readonly #mask: number;
  readonly #consumerMap: MappedRegion;
  readonly #producerMap: MappedRegion;
  /** `consumer_pos`, element 0; written with Atomics.exchange (a full fence). */
  readonly #consumerPos: BigInt64Array;
  /** `producer_pos`, element 0. */
  readonly #producerPos: BigInt64Array;
  /** Headers, addressed in 4-byte units from the start of the producer mapping. */
  readonly #words: Int32Array;
  readonly #buffer: ArrayBuffer;
  readonly #dataOffset: number;
  readonly #epoll: Epoll;
  readonly #pollTimeoutMs: number;
  readonly #batch: number;
  /** Mirror of consumer_pos (we are its only writer). Positions fit a double for 2^53 bytes of traffic. */
  #cons: number;
  #closed = false;
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
    this.#size = size;
    this.#mask = size - 1;
    this.#pollTimeoutMs = options.pollTimeoutMs ?? -1;
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
    this.#consumerPos = new BigInt64Array(this.#consumerMap.buffer, 0, 1);
    this.#producerPos = new BigInt64Array(this.#producerMap.buffer, 0, 1);
    this.#buffer = this.#producerMap.buffer;
    this.#words = new Int32Array(this.#buffer);
    this.#dataOffset = page;
    this.#cons = Number(Atomics.load(this.#consumerPos, 0));
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
    return Number(Atomics.load(this.#producerPos, 0)) - this.#cons;
  }

  /**
   * Finds the next committed, non-discarded record at or after the consumer position, skipping (and
   * releasing) discarded ones. Returns its view without releasing it, or undefined when the next record
   * is still BUSY or the ring is empty.
   */
  #peek(): { view: DataView; next: number } | undefined {
    for (;;) {
      const prod = Number(Atomics.load(this.#producerPos, 0));
      if (this.#cons >= prod) return undefined;
      const at = this.#dataOffset + (this.#cons & this.#mask);
      // Acquire: the producer publishes the length with an xchg after writing the sample.
      const header = Atomics.load(this.#words, at >>> 2) >>> 0;
      if (header & BUSY_BIT) return undefined;
      const len = header & LEN_MASK;
      const next = this.#cons + ((len + HEADER_SIZE + 7) & ~7);
      if (header & DISCARD_BIT) {
        this.#release(next);
        continue;
      }
      if (len > this.#size) throw new RingBufError(`corrupt ring buffer record at position ${this.#cons}: length ${len} exceeds the ring size ${this.#size}`);
      return { view: new DataView(this.#buffer, at + HEADER_SIZE, len), next };
    }
  }

  /**
   * Publishes the new consumer position.
   *
   * Why an exchange and not a store: the kernel producer, when it commits a record, wakes the poller
   * only if `consumer_pos` equals that record's position (it assumes a consumer that is behind will come
   * back anyway). Here the consumer stores `consumer_pos` and then loads `producer_pos`/the next header
   * to decide whether to sleep. x86 may satisfy that load before the store leaves the store buffer; the
   * producer can then read our *old* consumer position (so it skips the wake-up) while we read its *old*
   * producer position or a BUSY header (so we go to sleep): the record sits in the ring and nobody wakes.
   * A full fence between the store and the following load closes the window; `Atomics.exchange` is a
   * sequentially consistent read-modify-write (a `lock xchg` on x86, `swpal`/ldaxr-stlxr on arm64).
   */
  #release(next: number): void {
    // After close() the pages are unmapped: touching them would fault.
    if (this.#closed) return;
    this.#cons = next;
    Atomics.exchange(this.#consumerPos, 0, BigInt(next));
  }

  readAvailable(cb: RecordCallback, maxRecords = Infinity): number {
    if (this.#closed) return 0;
    if (this.#holding) throw new RingBufError('an async iterator holds a record of this reader: finish or break the for-await loop before calling readAvailable()');
    let n = 0;
    // A callback may call close(): re-check before touching the mapping again.
    while (!this.#closed && n < maxRecords) {
      const rec = this.#peek();
      if (!rec) return n;
      try {
        cb(rec.view, -1);
      } finally {
        this.#release(rec.next);
      }
      n++;
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

  async start(cb: RecordCallback): Promise<void> {
    if (this.#busyLoop) throw new RingBufError('this ring buffer reader is already being consumed (start() or an iterator is running)');
    this.#busyLoop = true;
    try {
      while (!this.#closed) {
        const n = this.readAvailable(cb, this.#batch);
        if (n >= this.#batch) await yieldToEventLoop();
        else if (n === 0 && !(await this.#waitForData())) break;
      }
    } finally {
      this.#busyLoop = false;
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<DataView, void, undefined> {
    if (this.#busyLoop) throw new RingBufError('this ring buffer reader is already being consumed (start() or an iterator is running)');
    this.#busyLoop = true;
    let sinceYield = 0;
    try {
      while (!this.#closed) {
        // Awaiting a yielded value only runs microtasks: give timers and I/O a turn now and then.
        if (++sinceYield > this.#batch) {
          sinceYield = 0;
          await yieldToEventLoop();
          if (this.#closed) break;
        }
        const rec = this.#peek();
        if (!rec) {
          if (!(await this.#waitForData())) break;
          continue;
        }
        this.#holding = true;
        try {
          yield rec.view;
        } finally {
          this.#holding = false;
          // Released on the next next() call, or when the consumer breaks out of the loop.
          this.#release(rec.next);
        }
      }
    } finally {
      this.#busyLoop = false;
    }
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
