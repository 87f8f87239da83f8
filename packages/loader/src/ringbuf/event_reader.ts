/**
 * The interface shared by {@link RingBufReader} and `PerfReader`, so a consumer (a gadget) can switch
 * between a BPF ring buffer and a perf buffer without changing how it reads.
 */

/**
 * Receives one record. `data` is a view into the kernel-shared buffer (a perf record that wraps around
 * the end of its ring is made contiguous first, in copy space mapped after the ring): it is valid
 * only until the callback returns, so copy what must outlive it. `cpu` is the CPU whose perf ring
 * held the record, or -1 for a ring buffer.
 */
export type RecordCallback = (data: DataView, cpu: number) => void;

/**
 * Receives one record without a view of its own: the record is `length` bytes at `offset` in `view`, a
 * view shared by every record of the reader (so nothing is allocated per record). Decoders compiled by
 * `compileDecoder` take `(view, offset)` directly. The bytes are valid only until the callback returns.
 * `cpu` is as in {@link RecordCallback}.
 */
export type RawRecordCallback = (view: DataView, offset: number, length: number, cpu: number) => void;

/** Reads records produced by BPF programs. */
export interface EventReader extends Disposable, AsyncIterable<DataView> {
  /** `ringbuf` or `perf`. */
  readonly kind: 'ringbuf' | 'perf';
  /**
   * Drain the records available now (at most `maxRecords`) without blocking; returns how many were
   * delivered. A callback that throws stops the drain after its record is consumed, and the error propagates.
   */
  readAvailable(cb: RecordCallback, maxRecords?: number): number;
  /**
   * Like {@link readAvailable}, but hands each record out as `(view, offset, length)` over a view shared
   * by all records: the allocation-free way to drain.
   */
  readAvailableRaw(cb: RawRecordCallback, maxRecords?: number): number;
  /**
   * Deliver records to `cb` as they arrive, waiting off the JS thread between bursts, until {@link close}.
   * The promise resolves after close, or rejects with the first error (a throwing callback stops the loop).
   */
  start(cb: RecordCallback): Promise<void>;
  /**
   * Like {@link start}, but delivers records the way {@link readAvailableRaw} does (offsets into a
   * shared view, nothing allocated per record).
   */
  startRaw(cb: RawRecordCallback): Promise<void>;
  /**
   * Records as an async iterable. Each yielded view is valid until the next `next()` call (the record is
   * released then). Ends after {@link close}.
   */
  [Symbol.asyncIterator](): AsyncIterator<DataView>;
  /** Records the kernel dropped because the buffer was full and the reader could see (perf only; 0 for a ring buffer, whose producer sees the failure instead). */
  readonly lost: number;
  /** True once closed. */
  readonly closed: boolean;
  /** Stop: wakes a pending wait, unmaps, closes owned fds. Idempotent. */
  close(): void;
}

/** Options common to both readers. */
export interface EventReaderOptions {
  /**
   * Records `start()` and the async iterator deliver before they let the event loop run (timers, I/O)
   * even if more records are waiting; a producer that never pauses then cannot starve the process.
   * Default 4096.
   */
  readonly batchSize?: number;
  /**
   * How long one wait may block before re-checking, in milliseconds (-1: until data or close;
   * default {@link DEFAULT_POLL_TIMEOUT_MS}). A wait occupies one of libuv's worker threads, a pool
   * (4 by default) the process shares with fs, dns and the loader's asynchronous loads: bounded,
   * a reader never holds one longer than this. close() always wakes a waiter at once.
   */
  readonly pollTimeoutMs?: number;
}

/** Default of {@link EventReaderOptions.pollTimeoutMs}: one second. */
export const DEFAULT_POLL_TIMEOUT_MS = 1000;

/** Default of {@link EventReaderOptions.batchSize}. */
export const DEFAULT_BATCH_SIZE = 4096;

/** Resolves after the event loop had a turn (timers and I/O callbacks ran). */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Wraps a per-record-view callback into the raw form: the one place a record gets a DataView of its own. @internal */
export function viewPerRecord(cb: RecordCallback): RawRecordCallback {
  return (view, offset, length, cpu) => cb(new DataView(view.buffer, view.byteOffset + offset, length), cpu);
}

/** What the shared `start()` loop and async iterator need from a reader. @internal */
export interface RecordSource {
  /** True once the reader is closed (the loops stop). */
  isClosed(): boolean;
  /** Records `start()` and the iterator deliver before they let the event loop run. */
  readonly batch: number;
  /** Non-blocking drain (readAvailableRaw). */
  drain(cb: RawRecordCallback, max: number): number;
  /** The next record for the iterator, held (not released) until {@link release}; undefined when none is ready. */
  take(): DataView | undefined;
  /** Hands the record of the last {@link take} back to the kernel. */
  release(): void;
  /** Marks that the iterator holds a record (other drains must refuse meanwhile). */
  hold(holding: boolean): void;
  /** Waits off the JS thread for data; false once closed. */
  waitForData(): Promise<boolean>;
  /** Ends the reader's claim for this loop: another `start()` or iterator may run. Called once, when the loop ends. */
  unclaim(): void;
}

/**
 * The `start()` loop both readers share: drain up to `batch` records, give the event loop a turn
 * after a full batch, and wait off the JS thread when nothing is left, until closed.
 */
export async function consumeLoop(src: RecordSource, cb: RawRecordCallback): Promise<void> {
  const batch = src.batch;
  try {
    while (!src.isClosed()) {
      const n = src.drain(cb, batch);
      if (n >= batch) await yieldToEventLoop();
      else if (n === 0 && !(await src.waitForData())) break;
    }
  } finally {
    src.unclaim();
  }
}

/** The async iterator both readers share: one held record at a time, released on the next `next()`. @internal */
export async function* iterateRecords(src: RecordSource): AsyncGenerator<DataView, void, undefined> {
  let sinceYield = 0;
  try {
    while (!src.isClosed()) {
      // Awaiting a yielded value only runs microtasks: give timers and I/O a turn now and then.
      if (++sinceYield > src.batch) {
        sinceYield = 0;
        await yieldToEventLoop();
        if (src.isClosed()) break;
      }
      const view = src.take();
      if (!view) {
        if (!(await src.waitForData())) break;
        continue;
      }
      src.hold(true);
      try {
        yield view;
      } finally {
        src.hold(false);
        // Released on the next next() call, or when the consumer breaks out of the loop.
        if (!src.isClosed()) src.release();
      }
    }
  } finally {
    src.unclaim();
  }
}
