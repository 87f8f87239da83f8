/**
 * The generic gadget runtime: from a gadget object to a stream of records.
 * spec → parameters and filters applied → output map chosen (ring buffer, or perf buffer on kernels
 * without one) → Collection.load → every program attached → a reader on the tracer's map.
 * Gadgets add only what is theirs (which object variant, how to show events).
 */
import { statSync } from 'node:fs';
import { Collection, type CollectionOptions } from '../collection.js';
import { TsbpfError } from '../errors.js';
import { hasRingbuf } from '../features/probes.js';
import { attachProgram, type Link } from '../link/index.js';
import { PerfReader } from '../perf/index.js';
import type { Program } from '../programs/program.js';
import type { ProgRunStats } from '../sys/info.js';
import { RingBufReader } from '../ringbuf/reader.js';
import type { EventReader } from '../ringbuf/event_reader.js';
import type { CollectionSpec } from '../spec/collection.js';
import { PIN } from '../spec/map.js';
import { BPF_MAP_TYPE } from '../sys/constants.js';
import { numPossibleCpus } from '../sys/ffi.js';
import { readGadgetMetadata, type GadgetMetadata, type TracerMetadata } from './metadata.js';
import { EventDecoder, type EventDecoderOptions, type GadgetEvent } from './decode.js';
import { findParam } from './params.js';
import { LIBRARY_LEVEL, reachedLevel } from '../codecache/level.js';

/**
 * The stack maps of gadget/stack.h and the read-only parameter that switches each on. A
 * STACK_TRACE map preallocates every entry (GADGET_STACK_MAP_ENTRIES × the frames' size: ~10 MiB
 * of kernel memory and ~2 ms of map creation for 10000 × 127 frames), yet with its switch off the
 * program never writes it: gadgets write these maps only through `gadget_get_*_stack`, whose call
 * sits behind the constant (bpf/README.md, "Stacks").
 */
const STACK_MAP_SWITCHES: readonly (readonly [variable: string, map: string])[] = [
  ['collect_kstack', 'ig_kstack'],
  ['collect_ustack', 'ig_ustack'],
];

/**
 * Creates each stack map whose `const volatile` switch is off with one entry instead of its declared
 * size. Pinned maps (a later run may switch it on and must find the declared size) and maps or
 * switches the caller replaced with existing kernel objects are left as they are.
 */
function shrinkUnusedStackMaps(spec: CollectionSpec): void {
  for (const [variable, mapName] of STACK_MAP_SWITCHES) {
    const v = spec.variables.get(variable);
    const m = spec.maps.get(mapName);
    if (!v || !m || m.type !== BPF_MAP_TYPE.STACK_TRACE || !v.readOnly) continue;
    if (m.pinning !== PIN.NONE || m.replacement !== undefined || v.map.replacement !== undefined) continue;
    if (v.bytes().every((b) => b === 0)) m.maxEntries = 1;
  }
}

/** How records leave the kernel. */
export type OutputKind = 'ringbuf' | 'perf';

/** Options of {@link GadgetRun.start}. */
export interface GadgetRunOptions {
  /** Parameter values by variable name (`targ_pid`) or display name (`pid`). */
  params?: Record<string, unknown>;
  /** Only trace tasks in these mount namespaces (ids, see {@link mountNamespaceOf}). */
  mntns?: readonly bigint[];
  /** Output path: `auto` (default) picks the ring buffer when the kernel has one. */
  output?: 'auto' | OutputKind;
  /** Which tracer to read (default: the first). */
  tracer?: string;
  /** Which loaded programs to attach (default: all). */
  attach?: (program: Program) => boolean;
  /** Perf buffer pages per CPU (a power of two; default 64). */
  perfPagesPerCpu?: number;
  /** Options passed to `Collection.load` (or `Collection.loadAsync` by {@link GadgetRun.startAsync}). */
  load?: CollectionOptions;
  /** Notices for the user (fallbacks chosen, …). */
  onWarning?: (message: string) => void;
}

/** Options of {@link GadgetRun.startAsync}. */
export interface GadgetStartOptions extends GadgetRunOptions {
  /** Stops the start: between load phases, and before and after each attach (see {@link GadgetRun.startAsync}). */
  signal?: AbortSignal;
}

/** A running gadget: loaded, attached, with a reader on its tracer's output. */
export class GadgetRun implements Disposable {
  readonly metadata: GadgetMetadata;
  readonly tracer: TracerMetadata;
  readonly collection: Collection;
  readonly links: readonly Link[];
  /** The programs attached (one link each, same order as {@link links}). */
  readonly attached: readonly Program[];
  readonly reader: EventReader;
  readonly output: OutputKind;
  private closed = false;

  private constructor(init: { metadata: GadgetMetadata; tracer: TracerMetadata; collection: Collection; links: Link[]; attached: Program[]; reader: EventReader; output: OutputKind }) {
    this.metadata = init.metadata;
    this.tracer = init.tracer;
    this.collection = init.collection;
    this.links = init.links;
    this.attached = init.attached;
    this.reader = init.reader;
    this.output = init.output;
  }

  /**
   * Apply `options` to `spec` (which is modified: pass a fresh one per run), load it, attach its
   * programs and open the tracer's reader. Everything is released if any step fails.
   */
  static start(spec: CollectionSpec, options: GadgetRunOptions = {}): GadgetRun {
    const prepared = GadgetRun.prepare(spec, options);
    return GadgetRun.finish(prepared, Collection.load(spec, prepared.load), options);
  }

  /**
   * {@link start} with the collection loaded by {@link Collection.loadAsync}: the kernel's map and
   * program work overlaps JavaScript (CO-RE relocation) and runs in parallel, and the event loop
   * (signal handlers, timers) runs meanwhile. `signal` is checked at the load's points (see
   * `loadAsync`), before attaching and after each attach; if it has aborted the promise rejects
   * with its reason and everything created is closed (links, reader, programs, maps). Attaching
   * itself is synchronous: only an abort from code it calls (the `attach` filter) is seen during
   * it; one from a signal handler or timer lands after the run is returned, where the caller's own
   * listener must close it (as `traceCapabilitiesAsync` does).
   */
  static async startAsync(spec: CollectionSpec, options: GadgetStartOptions = {}): Promise<GadgetRun> {
    const prepared = GadgetRun.prepare(spec, options);
    const collection = await Collection.loadAsync(spec, { ...prepared.load, signal: options.signal });
    return GadgetRun.finish(prepared, collection, options, options.signal);
  }

  /** Parameters, filters, stack-map sizes and output kind applied to `spec`, before the load. */
  private static prepare(spec: CollectionSpec, options: GadgetRunOptions): { metadata: GadgetMetadata; tracer: TracerMetadata; output: OutputKind; load: CollectionOptions } {
    const metadata = readGadgetMetadata(spec);
    const tracer = options.tracer ? metadata.tracers.find((t) => t.name === options.tracer) : metadata.tracers[0];
    if (!tracer) {
      throw new TsbpfError('GADGET_NO_TRACER', `${spec.source}: ${options.tracer ? `no tracer ${options.tracer}` : 'the object declares no tracer (GADGET_TRACER)'}`);
    }
    for (const [name, value] of Object.entries(options.params ?? {})) {
      if (value === undefined) continue;
      const p = findParam(metadata.params, name);
      if (!p) throw new TsbpfError('GADGET_PARAM', `${spec.source}: no parameter ${name} (have: ${metadata.params.map((x) => x.name).join(', ')})`);
      p.spec.set(value);
    }
    if (options.mntns && options.mntns.length > 0) {
      if (!metadata.mntnsFilterMap) throw new TsbpfError('GADGET_FILTER', `${spec.source}: this gadget cannot filter by mount namespace`);
      spec.variable('gadget_filter_by_mntns').set(true);
    }
    shrinkUnusedStackMaps(spec);
    const output = chooseOutput(options.output ?? 'auto');
    if (output === 'perf') {
      const map = spec.map(tracer.mapName);
      map.type = BPF_MAP_TYPE.PERF_EVENT_ARRAY;
      map.keySize = 4;
      map.valueSize = 4;
      map.maxEntries = numPossibleCpus();
      // Tell the BPF side (gadget/buffer.h) to take the perf path even where ring buffers exist.
      spec.variables.get('gadget_output_perf')?.set(true);
      if ((options.output ?? 'auto') === 'auto') options.onWarning?.('this kernel has no BPF ring buffer: using a perf buffer');
    }
    return { metadata, tracer, output, load: { onWarning: options.onWarning, ...options.load } };
  }

  /** Fill the filter map, open the reader and attach: the run, or everything closed on failure. */
  private static finish(
    prepared: { metadata: GadgetMetadata; tracer: TracerMetadata; output: OutputKind },
    collection: Collection,
    options: GadgetRunOptions,
    signal?: AbortSignal,
  ): GadgetRun {
    const { metadata, tracer, output } = prepared;
    const links: Link[] = [];
    const attached: Program[] = [];
    let reader: EventReader | undefined;
    try {
      signal?.throwIfAborted();
      if (options.mntns && metadata.mntnsFilterMap) {
        const filter = collection.map(metadata.mntnsFilterMap);
        for (const id of options.mntns) filter.update(id as never, 0 as never);
      }
      const events = collection.map(tracer.mapName);
      reader =
        output === 'ringbuf'
          ? new RingBufReader({ fd: events.fd, maxEntries: events.maxEntries })
          : new PerfReader({ fd: events.fd }, { pageCount: options.perfPagesPerCpu ?? 64 });
      for (const program of collection.programs.values()) {
        if (options.attach && !options.attach(program)) continue;
        links.push(attachProgram(program));
        attached.push(program);
        signal?.throwIfAborted();
      }
      const run = new GadgetRun({ metadata, tracer, collection, links, attached, reader, output });
      reachedLevel(LIBRARY_LEVEL.started);
      return run;
    } catch (err) {
      for (const l of links.reverse()) l.close();
      reader?.close();
      collection.close();
      throw err;
    }
  }

  /**
   * A decoder for the tracer's event struct, wired to the gadget's stack maps
   * (`ig_kstack`/`ig_ustack`) when it has them.
   */
  decoder(options: EventDecoderOptions = {}): EventDecoder {
    const btf = this.collection.spec.btf;
    if (!btf) throw new TsbpfError('GADGET_NO_BTF', `${this.collection.spec.source}: no BTF to decode events with`);
    return new EventDecoder(btf, this.tracer.structTypeId, {
      kernelStackMap: this.collection.maps.get('ig_kstack'),
      userStackMap: this.collection.maps.get('ig_ustack'),
      ...options,
    });
  }

  /** Decoded events as they arrive, until {@link close}. */
  async *events(decoder: EventDecoder = this.decoder()): AsyncIterableIterator<GadgetEvent> {
    for await (const view of this.reader) yield decoder.decode(view);
  }

  /**
   * Records the BPF side failed to emit (the `.bss` drop counter, summed over every output path)
   * plus perf-buffer records the kernel overwrote before we read them.
   */
  lost(): bigint {
    let n = BigInt(this.reader.lost);
    if (this.tracer.dropsVariable) n += this.collection.readVariable(this.tracer.dropsVariable) as bigint;
    return n;
  }

  /**
   * Runs the kernel skipped, per attached program (by name, in attach order), since it was loaded:
   * a run was already active on that CPU (`recursion_misses`, see {@link ProgRunStats} for which
   * kernels count it). A nested hit of the program's own hook does this; so does, where programs
   * run preemptibly (fentry; syscall tracepoints on 7.x) under a preempting kernel, another task
   * hitting the hook while a preempted run holds the CPU. Each skip may be an event or a piece of
   * state (a syscall, an entry half) the gadget never saw. Empty once closed.
   */
  missedRuns(): Map<string, bigint> {
    const out = new Map<string, bigint>();
    if (this.closed) return out;
    for (const p of this.attached) out.set(p.name, p.runStats().recursionMisses);
    return out;
  }

  /** Detach every program, stop the reader, close maps and programs. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const l of [...this.links].reverse()) l.close();
    this.reader.close();
    this.collection.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function chooseOutput(wanted: 'auto' | OutputKind): OutputKind {
  if (wanted !== 'auto') return wanted;
  return hasRingbuf() ? 'ringbuf' : 'perf';
}

/** The mount-namespace id (inode of /proc/<pid>/ns/mnt) of a process, for the mntns filter. */
export function mountNamespaceOf(pid: number | 'self'): bigint {
  try {
    return BigInt(statSync(`/proc/${pid}/ns/mnt`, { bigint: true }).ino);
  } catch (err) {
    throw new TsbpfError('GADGET_FILTER', `cannot read the mount namespace of pid ${pid}: ${(err as Error).message}`, { cause: err });
  }
}
