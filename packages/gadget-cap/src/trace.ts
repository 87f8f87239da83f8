/**
 * The library API: `traceCapabilities(options)` loads the best trace_capabilities object for this
 * kernel through the generic gadget runtime and hands out typed events as an async iterable.
 */
import { CollectionSpec, EventDecoder, GadgetRun, PIN, TsbpfError, mountNamespaceOf, nowMs, type LoadTimings } from '@tsbpf/loader';
import { toCapabilityEvent, type CapabilityEvent } from './event.js';
import { checkPrivileges, explainLoadError } from './preflight.js';
import { chooseStrategy, type AttachStrategy, type StrategyProbe } from './strategy.js';

/** How long {@link traceCapabilities} took, by phase, in milliseconds (monotonic clock). */
export interface TraceStartTimings {
  /** Privilege check and choosing the attach strategy (feature probes, kernel BTF lookups). */
  readonly strategyMs: number;
  /** Reading and parsing the chosen object (`CollectionSpec.fromFile`). */
  readonly parseMs: number;
  /** Creating the maps, loading and attaching the programs, opening the buffer (`GadgetRun.start`). */
  readonly loadAttachMs: number;
  /** The collection load inside {@link loadAttachMs}, by phase (`Collection.timings`); the rest is attaching and the reader. */
  readonly load: Readonly<LoadTimings>;
  /** The whole call. */
  readonly totalMs: number;
}

/** Options of {@link traceCapabilities}. */
export interface TraceCapabilitiesOptions {
  /** Only checks the kernel audits (not CAP_OPT_NOAUDIT). No effect with the tracepoint strategy, which cannot see the option. */
  auditOnly?: boolean;
  /** Report each capability once per mount namespace. */
  unique?: boolean;
  /** Collect and symbolize kernel stacks (default true). */
  collectKstack?: boolean;
  /** Collect and symbolize user stacks (default false). */
  collectUstack?: boolean;
  /** Name stack frames (default true); false leaves hexadecimal addresses. */
  symbolize?: boolean;
  /** Only this process (thread group id). */
  pid?: number;
  /** Only this thread. */
  tid?: number;
  /** Only tasks with this real uid. */
  uid?: number;
  /** Only tasks with this real gid. */
  gid?: number;
  /** Only tasks with this exact name (the kernel keeps 15 bytes; longer names are cut to match). */
  comm?: string;
  /** Only tasks in these mount namespaces (inode numbers, as `proc.mntns_id` reports them). */
  mntns?: readonly (bigint | number | string)[];
  /** Only tasks in the mount namespace(s) of these processes (added to `mntns`). */
  mntnsOfPid?: number | readonly number[];
  /** Force an attach strategy; default `auto`: fentry, then kprobe, then tracepoint, whichever the kernel supports. */
  attach?: AttachStrategy | 'auto';
  /** Output path: `auto` (ring buffer when the kernel has one), or force `ringbuf` / `perf`. */
  output?: 'auto' | 'ringbuf' | 'perf';
  /** Perf buffer size per CPU in pages (a power of two; default 64), when the perf buffer is used. */
  perfPagesPerCpu?: number;
  /** Stop after this many events. */
  maxEvents?: number;
  /** Stop after this many milliseconds. */
  timeoutMs?: number;
  /** Stop when this signal aborts (with {@link traceCapabilitiesAsync}, also during the load). */
  signal?: AbortSignal;
  /** Events decoded but not yet consumed are capped at this count; more are dropped and counted in `lost` (default 100000). */
  maxQueued?: number;
  /** Notices: fallbacks chosen, options without effect. Default: ignored. */
  onWarning?: (message: string) => void;
  /**
   * Report the tracing process's own capability checks too. Default false: a tracer's own map reads,
   * allocations and perf setup are noise to whoever watches other processes.
   */
  includeSelf?: boolean;
}

/** A running trace: an async iterable of {@link CapabilityEvent} that must be closed (or iterated to its end). */
export class CapabilityTrace implements AsyncIterable<CapabilityEvent>, AsyncDisposable, Disposable {
  /** The attach strategy in use. */
  readonly strategy: AttachStrategy;
  /** How records leave the kernel. */
  readonly output: 'ringbuf' | 'perf';
  /** The object loaded. */
  readonly objectPath: string;
  /** Better strategies skipped, with the reason (empty when forced or when the best works). */
  readonly skipped: readonly StrategyProbe[];
  /** Resolves once the trace is closed (by {@link close}, `maxEvents`, `timeoutMs`, the signal, or a reader error). */
  readonly done: Promise<void>;
  /** How long starting the trace took, by phase. */
  readonly startTimings: TraceStartTimings;

  private readonly run: GadgetRun;
  private readonly makeDecoder: () => EventDecoder;
  private decoderCache: EventDecoder | undefined;
  private readonly queue: CapabilityEvent[] = [];
  private readonly maxQueued: number;
  private readonly maxEvents: number;
  private waiter: (() => void) | undefined;
  private accepted = 0;
  private dropped = 0n;
  private undecodable = 0;
  private readonly selfPid: number;
  private readonly warn: (message: string) => void;
  private lostAtClose: bigint | undefined;
  private missedAtClose: ReadonlyMap<string, bigint> | undefined;
  private error: unknown;
  private isClosed = false;
  private iterating = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly signal: AbortSignal | undefined;
  private readonly onAbort = (): void => this.close();
  private resolveDone: () => void = () => {};

  /** @internal use {@link traceCapabilities} */
  constructor(init: {
    run: GadgetRun;
    decoder: () => EventDecoder;
    strategy: AttachStrategy;
    objectPath: string;
    skipped: readonly StrategyProbe[];
    options: TraceCapabilitiesOptions;
    startTimings: TraceStartTimings;
  }) {
    this.run = init.run;
    this.startTimings = init.startTimings;
    this.makeDecoder = init.decoder;
    this.strategy = init.strategy;
    this.output = init.run.output;
    this.objectPath = init.objectPath;
    this.skipped = init.skipped;
    this.maxQueued = init.options.maxQueued ?? 100_000;
    this.warn = init.options.onWarning ?? (() => {});
    this.maxEvents = init.options.maxEvents ?? Infinity;
    this.selfPid = init.options.includeSelf ? -1 : process.pid;
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
    this.signal = init.options.signal;
    this.signal?.addEventListener('abort', this.onAbort, { once: true });
    // Aborted while the run was being built (a listener added now would never fire): close soon.
    if (this.signal?.aborted) queueMicrotask(this.onAbort);
    if (init.options.timeoutMs !== undefined) this.timer = setTimeout(() => this.close(), init.options.timeoutMs);
    // Start reading on the next turn: the first records may need kernel symbols (seconds on a
    // cold cache), and the caller should get the trace — and print that it is ready — first.
    setImmediate(() => {
      if (this.isClosed) return;
      try {
        this.decoderCache ??= this.makeDecoder();
      } catch (err) {
        this.error = err;
        this.close();
        return;
      }
      this.run.reader.startRaw((view, offset) => this.onRecord(view, offset)).catch((err: unknown) => {
        if (this.isClosed) return;
        this.error = err;
        this.close();
      });
    });
  }

  /**
   * The event decoder, built on first use: compiling it (a few ms) is output setup, not part of
   * attaching, so it runs after the caller got the trace and printed that it is ready. Records
   * that arrive meanwhile wait in the kernel buffer.
   */
  private get decoder(): EventDecoder {
    this.decoderCache ??= this.makeDecoder();
    return this.decoderCache;
  }

  /** One record: `view` is shared by every record of the reader, this one starts at `offset`. */
  private onRecord(view: DataView, offset: number): void {
    if (this.isClosed || this.accepted >= this.maxEvents) return;
    // Drop our own events before decoding: decoding looks up stack maps with bpf(2), and older
    // kernels make a CAP_BPF check on every bpf(2) call (6.1 always, 5.10 when unprivileged BPF is
    // disabled; gone by 6.12), so decoding a self event would trace a new one — a feedback loop
    // that kept the tracer busy with itself (issue 7, vmtest/repro/gadget-self-feedback.mjs).
    // Before the queue check too: our own events are not the user's losses.
    if (this.selfPid >= 0 && this.decoder.pidOf(view, offset) === this.selfPid) return;
    if (this.queue.length >= this.maxQueued) {
      this.dropped++;
      return;
    }
    // Decode now: the view is only valid during the callback, and user stacks must be read while
    // the process still exists. A record that cannot be decoded is counted, not fatal.
    let event: CapabilityEvent;
    try {
      event = toCapabilityEvent(this.decoder.decode(view, offset));
    } catch (err) {
      this.undecodable++;
      if (this.undecodable === 1) this.warn(`an event could not be decoded (${err instanceof Error ? err.message : String(err)}); such events are counted as lost`);
      return;
    }
    if (event.proc.pid === this.selfPid) return;
    this.queue.push(event);
    this.accepted++;
    this.wake();
    if (this.accepted >= this.maxEvents) setImmediate(() => this.close());
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** Programs attached (one link each, whether or not the kernel made it a bpf_link). */
  get attachedPrograms(): number {
    return this.run.links.length;
  }

  /** Events decoded so far (consumed or queued). */
  get count(): number {
    return this.accepted;
  }

  /** True once closed. */
  get closed(): boolean {
    return this.isClosed;
  }

  /**
   * Events lost so far: records the BPF side could not emit, perf records overwritten before they
   * were read, events dropped because the consumer fell more than `maxQueued` behind, and records
   * that could not be decoded.
   */
  get lost(): bigint {
    const local = this.dropped + BigInt(this.undecodable);
    if (this.lostAtClose !== undefined) return this.lostAtClose + local;
    return this.run.lost() + local;
  }

  /**
   * Runs of the gadget's programs the kernel skipped, by program name in attach order
   * (`ig_trace_cap_e`, …, `ig_cap_sys_enter`, …): a run was already active on that CPU. Where
   * these programs run preemptibly under a preempting kernel (fentry; syscall tracepoints on 7.x),
   * a run preempted on a CPU makes the others there skip. A skipped `ig_trace_cap_e`/`_x` may be a
   * check never reported, a skipped `ig_cap_sys_enter` a check reported without its syscall.
   * Counted by the kernel only for some program kinds and versions (trampolines 5.12+, raw
   * tracepoints 6.1+, kprobes 6.7+), 0 elsewhere. Kept as it was at {@link close}.
   */
  get missedRuns(): ReadonlyMap<string, bigint> {
    if (this.missedAtClose !== undefined) return this.missedAtClose;
    return this.run.missedRuns();
  }

  /** The sum of {@link missedRuns}. */
  get missed(): bigint {
    let n = 0n;
    for (const v of this.missedRuns.values()) n += v;
    return n;
  }

  /**
   * Detach everything and free every kernel object. Events already received stay readable from the
   * iterator, which then ends. Idempotent.
   */
  close(): void {
    if (this.isClosed) return;
    // Take what is already in the buffer before the maps go away.
    if (this.error === undefined) {
      try {
        this.run.reader.readAvailableRaw((view, offset) => this.onRecord(view, offset));
      } catch (err) {
        this.error = err;
      }
    }
    this.isClosed = true;
    if (this.timer) clearTimeout(this.timer);
    this.signal?.removeEventListener('abort', this.onAbort);
    try {
      this.lostAtClose = this.run.lost();
    } catch {
      this.lostAtClose = 0n;
    }
    try {
      this.missedAtClose = this.run.missedRuns();
    } catch {
      this.missedAtClose = new Map();
    }
    this.run.close();
    this.wake();
    this.resolveDone();
  }

  /** Same as {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Same as {@link close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  /**
   * The events, in arrival order. One consumer only. Breaking out of a `for await` loop closes the
   * trace. Rejects with the reader's error if reading failed.
   */
  [Symbol.asyncIterator](): AsyncIterator<CapabilityEvent> {
    if (this.iterating) throw new TsbpfError('GADGET_READER', 'a capability trace can be iterated only once');
    this.iterating = true;
    const next = async (): Promise<IteratorResult<CapabilityEvent>> => {
      for (;;) {
        const e = this.queue.shift();
        if (e) return { value: e, done: false };
        if (this.isClosed) {
          if (this.error !== undefined) {
            const err = this.error;
            this.error = undefined;
            throw err;
          }
          return { value: undefined, done: true };
        }
        await new Promise<void>((resolve) => {
          this.waiter = resolve;
        });
      }
    };
    return {
      next,
      return: async (): Promise<IteratorResult<CapabilityEvent>> => {
        this.close();
        this.queue.length = 0;
        return { value: undefined, done: true };
      },
    };
  }

  /** Collect every event until the trace ends (give it `maxEvents`, `timeoutMs` or a signal). */
  async toArray(): Promise<CapabilityEvent[]> {
    const out: CapabilityEvent[] = [];
    for await (const e of this) out.push(e);
    return out;
  }
}

/** The kernel keeps 15 bytes of a task name (TASK_COMM_LEN 16 with the NUL). */
const COMM_BYTES = 15;

function commFilter(comm: string, warn: (m: string) => void): string {
  const bytes = Buffer.from(comm, 'utf8');
  if (bytes.length <= COMM_BYTES) return comm;
  let cut = COMM_BYTES;
  // Do not split a UTF-8 sequence.
  while (cut > 0 && (bytes[cut] & 0xc0) === 0x80) cut--;
  const short = bytes.subarray(0, cut).toString('utf8');
  warn(`comm filter '${comm}' is longer than the kernel's ${COMM_BYTES}-byte task names: matching '${short}'`);
  return short;
}

function mntnsIds(options: TraceCapabilitiesOptions): bigint[] {
  const ids: bigint[] = [];
  for (const v of options.mntns ?? []) {
    if (typeof v === 'bigint') ids.push(v);
    else if (typeof v === 'number' && Number.isSafeInteger(v) && v > 0) ids.push(BigInt(v));
    else if (typeof v === 'string' && /^\d+$/.test(v.trim())) ids.push(BigInt(v.trim()));
    else throw new TsbpfError('GADGET_PARAM', `mount namespace id ${String(v)} is not a positive integer`);
  }
  const pids = options.mntnsOfPid === undefined ? [] : typeof options.mntnsOfPid === 'number' ? [options.mntnsOfPid] : options.mntnsOfPid;
  for (const pid of pids) ids.push(mountNamespaceOf(pid));
  return [...new Set(ids)];
}

/**
 * Without `unique` the BPF side never touches `seen` (it remembers what was reported per mount
 * namespace): create it with one entry instead of a preallocated 10240 (~1 MB of kernel memory,
 * ~0.4 ms of map creation). A pinned `seen` stays as declared: another run may share it.
 */
function shrinkSeenMap(spec: CollectionSpec): void {
  const seen = spec.maps.get('seen');
  if (seen && seen.pinning === PIN.NONE && seen.replacement === undefined) seen.maxEntries = 1;
}

function checkId(name: string, v: number | undefined, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v < 0 || v > max) throw new TsbpfError('GADGET_PARAM', `${name} ${v} is not an integer between 0 and ${max}`);
  return v;
}

/**
 * Start tracing capability checks. Loads and attaches at once (synchronously); read the events by
 * iterating the result, and close it when done.
 *
 * The event decoder is built on the next turn of the event loop, when reading starts (it is output
 * setup, not needed to be attached): an object whose event type cannot be decoded closes the trace,
 * and iterating it throws that error.
 *
 * @example
 * ```ts
 * await using trace = traceCapabilities({ comm: 'nginx', timeoutMs: 10_000 });
 * for await (const e of trace) console.log(e.proc.comm, e.cap, e.capable);
 * ```
 * @throws InsufficientPrivilegesError without root / CAP_BPF+CAP_PERFMON
 * @throws KernelBtfMissingError without kernel BTF
 * @throws AttachStrategyError when the forced strategy (or every strategy) is unavailable
 * @throws DOMException `AbortError` when `signal` is already aborted
 */
export function traceCapabilities(options: TraceCapabilitiesOptions = {}): CapabilityTrace {
  const start = prepareTrace(options);
  let run: GadgetRun;
  try {
    run = GadgetRun.start(start.spec, start.runOptions);
  } catch (err) {
    throw explainLoadError(err);
  }
  return finishTrace(start, run, options);
}

/**
 * {@link traceCapabilities} with the load off the JavaScript thread (`GadgetRun.startAsync`): the
 * kernel creates the maps while the programs are CO-RE relocated, then verifies them in parallel.
 * Starts sooner; `signal` also stops the load itself (the promise then rejects with its reason and
 * nothing stays loaded). The CLI starts this way.
 *
 * @throws (rejects with) the errors of {@link traceCapabilities}; for a `signal` that has aborted
 * (before or during the load), with the signal's reason
 */
export async function traceCapabilitiesAsync(options: TraceCapabilitiesOptions = {}): Promise<CapabilityTrace> {
  options.signal?.throwIfAborted();
  const start = prepareTrace(options);
  let run: GadgetRun;
  try {
    run = await GadgetRun.startAsync(start.spec, { ...start.runOptions, signal: options.signal });
  } catch (err) {
    throw explainLoadError(err);
  }
  return finishTrace(start, run, options);
}

/** What {@link prepareTrace} hands to the load and to {@link finishTrace}. */
interface TraceStart {
  choice: ReturnType<typeof chooseStrategy>;
  spec: CollectionSpec;
  runOptions: Parameters<typeof GadgetRun.start>[1];
  t0: number;
  t1: number;
  t2: number;
}

/** Privileges, strategy, parameters and the parsed object: everything before the load. */
function prepareTrace(options: TraceCapabilitiesOptions): TraceStart {
  if (options.signal?.aborted) throw new DOMException('the capability trace was aborted before it started', 'AbortError');
  const warn = options.onWarning ?? (() => {});
  const t0 = nowMs();
  checkPrivileges();
  const choice = chooseStrategy(options.attach ?? 'auto');
  for (const s of choice.skipped) warn(`attach strategy ${s.strategy} unavailable (${s.detail ?? 'not supported'}): trying the next one`);
  if (options.auditOnly && choice.strategy === 'tracepoint') {
    warn('--audit-only has no effect with the tracepoint strategy: the cap_capable tracepoint does not expose the audit option, so every check is reported (audit shows as unknown)');
  }
  const mntns = mntnsIds(options);
  const params: Record<string, unknown> = {
    audit_only: options.auditOnly ?? false,
    unique: options.unique ?? false,
    collect_kstack: options.collectKstack ?? true,
    collect_ustack: options.collectUstack ?? false,
    targ_pid: checkId('pid', options.pid, 0x7fffffff),
    targ_tid: checkId('tid', options.tid, 0x7fffffff),
    targ_uid: checkId('uid', options.uid, 0xfffffffe),
    targ_gid: checkId('gid', options.gid, 0xfffffffe),
    targ_comm: options.comm === undefined ? undefined : commFilter(options.comm, warn),
  };
  const t1 = nowMs();
  const spec = CollectionSpec.fromFile(choice.objectPath);
  if (!params.unique) shrinkSeenMap(spec);
  const t2 = nowMs();
  // The entry half must attach before the exit half (tracepoint strategy: programs on one
  // tracepoint run in attach order); the runtime attaches in object order, which is e, then x.
  const runOptions = { params, mntns, output: options.output ?? 'auto', perfPagesPerCpu: options.perfPagesPerCpu, onWarning: warn } as const;
  return { choice, spec, runOptions, t0, t1, t2 };
}

/** The trace over a started run (closed again if building the trace fails). */
function finishTrace(start: TraceStart, run: GadgetRun, options: TraceCapabilitiesOptions): CapabilityTrace {
  const { choice, spec, t0, t1, t2 } = start;
  try {
    const btf = spec.btf;
    if (!btf) throw new TsbpfError('GADGET_METADATA', `${choice.objectPath}: the object has no BTF`);
    const structTypeId = run.tracer.structTypeId;
    const decoder = (): EventDecoder =>
      new EventDecoder(btf, structTypeId, {
        kernelStackMap: run.collection.maps.get('ig_kstack'),
        userStackMap: run.collection.maps.get('ig_ustack'),
        symbolize: options.symbolize ?? true,
        keepRaw: true,
      });
    const t3 = nowMs();
    const startTimings = { strategyMs: t1 - t0, parseMs: t2 - t1, loadAttachMs: t3 - t2, load: { ...run.collection.timings }, totalMs: t3 - t0 };
    return new CapabilityTrace({ run, decoder, strategy: choice.strategy, objectPath: choice.objectPath, skipped: choice.skipped, options, startTimings });
  } catch (err) {
    run.close();
    throw err;
  }
}
