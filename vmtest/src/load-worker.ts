/**
 * Worker thread that loads BPF objects for the `load/*` guest checks. It runs apart from the main
 * thread so a load that never returns (a loader bug) can be cut off with `terminate()`.
 * Protocol: receives `{ id, path, expectFailure }` (one object load), answers `{ id, status, detail }`;
 * or `{ id, task, ctx }` (a named task from `tasks/`), answers `{ id, results }` (one outcome per check).
 *
 * @packageDocumentation
 */
import { packageSpecifier } from './snapshot.js';
import { parentPort } from 'node:worker_threads';
import { describe as describeTask, TASKS, type TaskContext, type TaskOutcome } from './tasks/index.js';

interface ProgramSpecLike {
  readonly name: string;
  type: number;
  expectedAttachType: number;
  autoload: boolean;
  readonly section?: { readonly insns?: { readonly bytes: Uint8Array } };
}
interface CollectionSpecLike {
  readonly programs: Map<string, ProgramSpecLike>;
}
interface LoaderLike {
  CollectionSpec?: { fromFile(path: string): CollectionSpecLike };
  Collection?: { load(spec: CollectionSpecLike): { close(): void; programs: Map<string, unknown> } };
  checkProgType?: (t: number) => { supported: boolean; detail?: string };
  checkAttachType?: (t: number, a: number) => { supported: boolean; detail?: string };
  checkHelper?: (t: number, helper: number) => { supported: boolean; detail?: string };
  helperName?: (id: number) => string | undefined;
  BPF_PROG_TYPE?: Record<string, number>;
  BPF_ATTACH_TYPE?: Record<string, number>;
  checkTrampolines?: () => { supported: boolean; detail?: string };
}

/** Helper ids called by a program's section (`call imm` with src_reg 0). */
function helperCalls(p: ProgramSpecLike): number[] {
  const bytes = p.section?.insns?.bytes;
  if (bytes === undefined) return [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ids = new Set<number>();
  for (let off = 0; off + 8 <= bytes.byteLength; off += 8) {
    if (view.getUint8(off) === 0x85 && (view.getUint8(off + 1) >> 4) === 0) ids.add(view.getInt32(off + 4, true));
  }
  return [...ids];
}

/**
 * When a load failed for a reason other than NOT_SUPPORTED: the helpers the failing program calls
 * that this kernel lacks (feature probe). Non-empty means the loader reported a kernel limitation
 * as some other error (a loader bug the check names instead of hiding).
 */
function missingHelpers(mod: LoaderLike, spec: CollectionSpecLike, message: string): string | undefined {
  if (mod.checkHelper === undefined) return undefined;
  for (const p of spec.programs.values()) {
    if (!p.autoload || !message.includes(`program ${p.name}`)) continue;
    const lacking = helperCalls(p).filter((id) => mod.checkHelper?.(p.type, id).supported === false);
    if (lacking.length > 0) return `${p.name} calls ${lacking.map((id) => mod.helperName?.(id) ?? `helper #${id}`).join(', ')}, which this kernel lacks (feature probe)`;
  }
  return undefined;
}

/** A request from the guest's loader checks. */
export interface LoadRequest {
  readonly id: number;
  readonly path: string;
  readonly expectFailure: boolean;
  /** Program names that are built to be rejected; they are left out of the load. */
  readonly rejectPrograms: string;
}

/** A request to run one named task of `tasks/`. */
export interface TaskRequest {
  readonly id: number;
  readonly task: string;
  readonly ctx: TaskContext;
}

/** The answer to a {@link TaskRequest}: outcomes by check name. */
export interface TaskReply {
  readonly id: number;
  readonly results: Record<string, TaskOutcome>;
}

/** The worker's answer. */
export interface LoadReply {
  readonly id: number;
  readonly status: 'pass' | 'fail' | 'skip';
  readonly detail: string;
}

const describe = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

async function load(req: LoadRequest): Promise<Omit<LoadReply, 'id'>> {
  const name = packageSpecifier('@tsbpf/loader');
  const mod = (await import(name)) as LoaderLike;
  if (mod.CollectionSpec === undefined || mod.Collection === undefined) {
    return { status: 'skip', detail: 'loader lacks CollectionSpec/Collection' };
  }
  const spec = mod.CollectionSpec.fromFile(req.path);
  const reject = new RegExp(req.rejectPrograms);
  const left: string[] = [];
  for (const p of spec.programs.values()) {
    if (!req.expectFailure && reject.test(p.name)) {
      p.autoload = false;
      left.push(`${p.name} (built to be rejected)`);
      continue;
    }
    const byType = mod.checkProgType?.(p.type);
    // TRACING fentry/fexit/fmod_ret: checkAttachType probes them with a raw_tp typedef target, which
    // every kernel refuses (a loader bug the features/attach_type_fentry check reports); ask the
    // trampoline probe instead, which loads and attaches a real fentry program.
    const A = mod.BPF_ATTACH_TYPE;
    const trampoline = p.type === mod.BPF_PROG_TYPE?.TRACING && [A?.TRACE_FENTRY, A?.TRACE_FEXIT, A?.MODIFY_RETURN].includes(p.expectedAttachType);
    const byAttach = byType?.supported !== false ? (trampoline ? mod.checkTrampolines?.() : mod.checkAttachType?.(p.type, p.expectedAttachType)) : undefined;
    const why = byType?.supported === false ? byType : byAttach?.supported === false ? byAttach : undefined;
    if (why !== undefined) {
      p.autoload = false;
      left.push(`${p.name} (${why.detail ?? 'unsupported'})`);
    }
  }
  if (req.expectFailure) {
    if (spec.programs.size > 0 && [...spec.programs.values()].every((p) => !p.autoload)) {
      return { status: 'skip', detail: `no program this kernel supports: ${left.join('; ')}` };
    }
    try {
      mod.Collection.load(spec).close();
    } catch (e) {
      return { status: 'pass', detail: `rejected as intended: ${describe(e).split('\n')[0] ?? ''}` };
    }
    return { status: 'fail', detail: 'loaded, but this object is built to be rejected' };
  }
  // A program whose attach target or helper the kernel lacks fails the load with NOT_SUPPORTED and
  // its name: leave it out, say why, and load the rest.
  for (;;) {
    const wanted = [...spec.programs.values()].filter((p) => p.autoload);
    if (wanted.length === 0 && spec.programs.size > 0) {
      return { status: 'skip', detail: `no program this kernel supports: ${left.join('; ')}` };
    }
    try {
      const coll = mod.Collection.load(spec);
      const n = coll.programs.size;
      coll.close();
      return { status: 'pass', detail: `${n} program(s) loaded${left.length > 0 ? `; left out: ${left.join('; ')}` : ''}` };
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      const culprit = code === 'NOT_SUPPORTED' ? wanted.find((p) => describe(e).includes(`program ${p.name}`)) : undefined;
      if (culprit === undefined) {
        const lacking = missingHelpers(mod, spec, describe(e));
        if (lacking !== undefined) {
          return { status: 'fail', detail: `LOADER BUG: ${lacking}, but Collection.load threw ${describe(e).split('\n')[0] ?? ''} instead of a NotSupportedError naming the helper` };
        }
        throw e;
      }
      culprit.autoload = false;
      left.push(`${culprit.name} (${describe(e).split('\n')[0] ?? ''})`);
    }
  }
}

async function runTask(req: TaskRequest): Promise<Record<string, TaskOutcome>> {
  const task = TASKS[req.task];
  if (task === undefined) return { [req.task]: { status: 'fail', detail: `no task ${req.task}` } };
  return task(req.ctx);
}

parentPort?.on('message', (req: LoadRequest | TaskRequest) => {
  if ('task' in req) {
    runTask(req).then(
      (results) => parentPort?.postMessage({ id: req.id, results }),
      (e: unknown) => parentPort?.postMessage({ id: req.id, results: { [req.task]: { status: 'fail', detail: describeTask(e, true) } } }),
    );
    return;
  }
  load(req).then(
    (r) => parentPort?.postMessage({ id: req.id, ...r }),
    (e: unknown) => parentPort?.postMessage({ id: req.id, status: 'fail', detail: describe(e) }),
  );
});
