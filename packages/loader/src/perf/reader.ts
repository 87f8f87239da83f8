/**
 * Consumer side of a `BPF_MAP_TYPE_PERF_EVENT_ARRAY`: one `PERF_COUNT_SW_BPF_OUTPUT` perf event per
 * CPU, each with its own mmap'd ring, installed in the map slot of its CPU so that
 * `bpf_perf_event_output(ctx, &map, BPF_F_CURRENT_CPU, …)` lands in the ring of the CPU it ran on.
 *
 * Ring protocol (`struct perf_event_mmap_page`): the kernel publishes `data_head` (we load it with
 * acquire semantics before reading records) and we publish `data_tail` (stored with release semantics
 * after we are done with a record, which hands the space back). Records are `perf_event_header`s
 * ({u32 type; u16 misc; u16 size}) followed by their body; a record can wrap around the end of the
 * ring, in which case it is copied once into a scratch buffer. `PERF_RECORD_SAMPLE` with
 * `PERF_SAMPLE_RAW` carries {u32 size; u8 data[size]} (size includes up to 7 bytes of alignment
 * padding); `PERF_RECORD_LOST` reports {u64 id; u64 lost} when the kernel had to drop samples.
 */
import {
  Epoll,
  MAP,
  PERF_COUNT_SW_BPF_OUTPUT,
  PERF_RECORD_LOST,
  PERF_RECORD_SAMPLE,
  PERF_SAMPLE_RAW,
  PERF_TYPE_SOFTWARE,
  PROT,
  SyscallError,
  mapDeleteElem,
  mapUpdateElem,
  mmap,
  onlineCpus,
  pageSize,
  perfEventEnable,
  perfEventOpen,
  possibleCpus,
  type Fd,
  type MappedRegion,
} from '../sys/index.js';
import { TsbpfError } from '../errors.js';
import { DEFAULT_BATCH_SIZE, yieldToEventLoop, type EventReader, type EventReaderOptions, type RecordCallback } from '../ringbuf/event_reader.js';

/** The perf reader was misused, or its map could not be populated. */
export class PerfReaderError extends TsbpfError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PERF_READER', message, options);
  }
}

/** Options of {@link PerfReader}. */
export interface PerfReaderOptions extends EventReaderOptions {
  /** Data pages per CPU ring (a power of two; default 8). */
  readonly pageCount?: number;
  /**
   * Wake the reader every N samples per CPU (default 1). Exclusive with `watermarkBytes`. With N > 1 the
   * last samples of a burst wait for the next wake-up: combine with `pollTimeoutMs` to bound that.
   */
  readonly wakeupEvents?: number;
  /**
   * Wake the reader once this many bytes are pending. Exclusive with `wakeupEvents`. Fewer pending
   * bytes wake nobody: combine with `pollTimeoutMs` when a trickle must not wait for the next burst.
   */
  readonly watermarkBytes?: number;
  /** Called when the kernel reports dropped samples on a CPU. */
  readonly onLost?: (count: number, cpu: number) => void;
}

/** A PERF_EVENT_ARRAY map to read from. */
export interface PerfEventArrayMap {
  readonly fd: Fd;
}

const DATA_HEAD = 1024 / 8;
const DATA_TAIL = 1032 / 8;
const DATA_OFFSET = 1040 / 8;
const DATA_SIZE = 1048 / 8;

/** One CPU's perf event and ring. */
class CpuRing {
  readonly cpu: number;
  readonly fd: Fd;
  readonly region: MappedRegion;
  readonly meta: BigInt64Array;
  readonly data: DataView;
  readonly bytes: Uint8Array;
  readonly size: number;
  tail: number;

  constructor(cpu: number, fd: Fd, region: MappedRegion, page: number) {
    this.cpu = cpu;
    this.fd = fd;
    this.region = region;
    this.meta = new BigInt64Array(region.buffer, 0, 1048 / 8 + 1);
    // Kernels before 4.1 leave data_offset/data_size 0: the data then starts at the second page.
    const off = Number(this.meta[DATA_OFFSET]) || page;
    this.size = Number(this.meta[DATA_SIZE]) || region.length - page;
    this.data = new DataView(region.buffer, off, this.size);
    this.bytes = new Uint8Array(region.buffer, off, this.size);
    this.tail = Number(Atomics.load(this.meta, DATA_TAIL));
  }

  head(): number {
    // Atomics.load is sequentially consistent: at least the acquire the protocol asks for.
    return Number(Atomics.load(this.meta, DATA_HEAD));
  }

  release(tail: number): void {
    this.tail = tail;
    // Release: our reads of the record happen before the kernel may overwrite it.
    Atomics.store(this.meta, DATA_TAIL, BigInt(tail));
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
  #scratch = new Uint8Array(256);
  #closed = false;
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
    if (options.wakeupEvents !== undefined && options.watermarkBytes !== undefined) throw new PerfReaderError('give wakeupEvents or watermarkBytes, not both');
    this.#map = map.fd;
    this.#pollTimeoutMs = options.pollTimeoutMs ?? -1;
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
    let region: MappedRegion;
    try {
      region = mmap(fd, (pages + 1) * page, PROT.READ | PROT.WRITE, MAP.SHARED, 0);
    } catch (err) {
      fd.close();
      throw err;
    }
    const ring = new CpuRing(cpu, fd, region, page);
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

  /**
   * The next record of `ring`, or undefined when it is empty. LOST records are accounted and skipped.
   * Returns the raw sample view and the tail to publish once the caller is done with it.
   */
  #peek(ring: CpuRing): { view: DataView; next: number } | undefined {
    for (;;) {
      const head = ring.head();
      if (ring.tail >= head) return undefined;
      const off = ring.tail % ring.size;
      // Headers are 8-byte aligned and the ring a multiple of 8: a header never straddles the end.
      const type = ring.data.getUint32(off, true);
      const size = ring.data.getUint16(off + 6, true);
      if (size < 8 || size > ring.size) throw new PerfReaderError(`corrupt perf record on cpu ${ring.cpu}: size ${size} at offset ${off}`);
      const next = ring.tail + size;
      let rec: DataView;
      if (off + size <= ring.size) {
        rec = new DataView(ring.data.buffer, ring.data.byteOffset + off, size);
      } else {
        // Wrapped: copy the two pieces once into the scratch buffer.
        if (this.#scratch.byteLength < size) this.#scratch = new Uint8Array(Math.max(size, this.#scratch.byteLength * 2));
        const first = ring.size - off;
        this.#scratch.set(ring.bytes.subarray(off, ring.size), 0);
        this.#scratch.set(ring.bytes.subarray(0, size - first), first);
        rec = new DataView(this.#scratch.buffer, 0, size);
      }
      if (type === PERF_RECORD_SAMPLE) {
        const rawSize = rec.getUint32(8, true);
        if (12 + rawSize > size) throw new PerfReaderError(`corrupt sample on cpu ${ring.cpu}: raw size ${rawSize} exceeds record size ${size}`);
        return { view: new DataView(rec.buffer, rec.byteOffset + 12, rawSize), next };
      }
      if (type === PERF_RECORD_LOST) {
        const count = Number(rec.getBigUint64(16, true));
        this.#lost += count;
        this.#lostPerCpu[ring.cpu] += count;
        ring.release(next);
        this.#onLost?.(count, ring.cpu);
        continue;
      }
      ring.release(next); // other record types are not produced for BPF output events
    }
  }

  /** Drain one ring (at most `max` samples); returns the number delivered. */
  #drain(ring: CpuRing, cb: RecordCallback, max: number): number {
    let n = 0;
    while (!this.#closed && n < max) {
      const rec = this.#peek(ring);
      if (!rec) break;
      try {
        cb(rec.view, ring.cpu);
      } finally {
        if (!this.#closed) ring.release(rec.next);
      }
      n++;
    }
    return n;
  }

  readAvailable(cb: RecordCallback, maxRecords = Infinity): number {
    if (this.#closed) return 0;
    if (this.#holding) throw new PerfReaderError('an async iterator holds a record of this reader: finish or break the for-await loop before calling readAvailable()');
    let n = 0;
    const count = this.#rings.length;
    const start = this.#next;
    this.#next = (this.#next + 1) % count;
    for (let i = 0; i < count && !this.#closed && n < maxRecords; i++) n += this.#drain(this.#rings[(start + i) % count], cb, maxRecords - n);
    return n;
  }

  async #waitForData(): Promise<boolean> {
    if (this.#closed) return false;
    await this.#epoll.waitAsync(this.#rings.length, this.#pollTimeoutMs);
    return !this.#closed;
  }

  async start(cb: RecordCallback): Promise<void> {
    if (this.#consuming) throw new PerfReaderError('this perf reader is already being consumed (start() or an iterator is running)');
    this.#consuming = true;
    try {
      while (!this.#closed) {
        const n = this.readAvailable(cb, this.#batch);
        if (n >= this.#batch) await yieldToEventLoop();
        else if (n === 0 && !(await this.#waitForData())) break;
      }
    } finally {
      this.#consuming = false;
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<DataView, void, undefined> {
    if (this.#consuming) throw new PerfReaderError('this perf reader is already being consumed (start() or an iterator is running)');
    this.#consuming = true;
    let sinceYield = 0;
    try {
      while (!this.#closed) {
        // Awaiting a yielded value only runs microtasks: give timers and I/O a turn now and then.
        if (++sinceYield > this.#batch) {
          sinceYield = 0;
          await yieldToEventLoop();
          if (this.#closed) break;
        }
        let found = false;
        for (let i = 0; i < this.#rings.length && !this.#closed; i++) {
          const ring = this.#rings[i];
          const rec = this.#peek(ring);
          if (!rec) continue;
          found = true;
          this.#holding = true;
          try {
            yield rec.view;
          } finally {
            this.#holding = false;
            if (!this.#closed) ring.release(rec.next);
          }
          break;
        }
        if (!found && !(await this.#waitForData())) break;
      }
    } finally {
      this.#consuming = false;
    }
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
