/**
 * Worker thread that loads BPF objects for the `load/*` guest checks. It runs apart from the main
 * thread so a load that never returns (a loader bug) can be cut off with `terminate()`.
 * Protocol: receives `{ id, path, expectFailure }` (one object load), answers `{ id, status, detail }`;
 * or `{ id, task, ctx }` (a named task from `tasks/`), answers `{ id, results }` (one outcome per check).
 *
 * @packageDocumentation
 */
import { parentPort } from 'node:worker_threads';
import { describe as describeTask, TASKS, type TaskContext, type TaskOutcome } from './tasks/index.js';

interface ProgramSpecLike {
  readonly name: string;
  type: number;
  expectedAttachType: number;
  autoload: boolean;
}
interface CollectionSpecLike {
  readonly programs: Map<string, ProgramSpecLike>;
}
interface LoaderLike {
  CollectionSpec?: { fromFile(path: string): CollectionSpecLike };
  Collection?: { load(spec: CollectionSpecLike): { close(): void; programs: Map<string, unknown> } };
  checkProgType?: (t: number) => { supported: boolean; detail?: string };
  checkAttachType?: (t: number, a: number) => { supported: boolean; detail?: string };
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
  const name = '@tsbpf/loader';
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
    const byAttach = byType?.supported !== false ? mod.checkAttachType?.(p.type, p.expectedAttachType) : undefined;
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
      if (culprit === undefined) throw e;
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
