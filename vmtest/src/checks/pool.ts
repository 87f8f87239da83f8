/**
 * The guest's one worker thread (`dist/load-worker.js`), shared by every area that loads BPF: a
 * request that outlives its time limit terminates the worker (a load that never returns cannot hang
 * the guest) and the next request starts a fresh one. One worker for everything also means the
 * loader's kernel BTF, parsed once (seconds under TCG), serves every load.
 *
 * @packageDocumentation
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { LoadReply, LoadRequest, TaskReply, TaskRequest } from '../load-worker.js';
import type { TaskContext, TaskOutcome } from '../tasks/types.js';
import type { CheckContext, CheckOutcome } from './types.js';

/** Default time limit of one request under TCG. */
export const WORKER_TIMEOUT_MS = 90_000;

/** One worker at a time; replaced after a timeout or a crash. */
export class WorkerPool {
  private worker: Worker | undefined;
  private nextId = 1;
  constructor(private readonly script: string) {}

  private request<R extends { id: number }>(body: Omit<LoadRequest, 'id'> | Omit<TaskRequest, 'id'>, timeoutMs: number): Promise<R | Error> {
    const worker = (this.worker ??= new Worker(this.script));
    worker.unref();
    const id = this.nextId++;
    return new Promise((resolve) => {
      const done = (r: R | Error): void => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('error', onError);
        resolve(r);
      };
      const onMessage = (r: R): void => {
        if (r.id === id) done(r);
      };
      const onError = (e: Error): void => {
        this.worker = undefined;
        done(new Error(`worker died: ${e.message}`));
      };
      const timer = setTimeout(() => {
        this.worker = undefined;
        void worker.terminate();
        done(new Error(`did not finish within ${timeoutMs / 1000} s (worker terminated)`));
      }, timeoutMs);
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.postMessage({ id, ...body });
    });
  }

  /** Loads one object (the `load/*` checks). */
  async load(path: string, expectFailure: boolean, rejectPrograms: string, timeoutMs = WORKER_TIMEOUT_MS): Promise<CheckOutcome> {
    const r = await this.request<LoadReply>({ path, expectFailure, rejectPrograms }, timeoutMs);
    return r instanceof Error ? { status: 'fail', detail: `load ${r.message}` } : { status: r.status, detail: r.detail };
  }

  /** Runs a task of `tasks/`; a failure of the request itself becomes the outcome of every check in `names`. */
  async task(task: string, ctx: CheckContext, names: readonly string[], timeoutMs = WORKER_TIMEOUT_MS): Promise<Record<string, TaskOutcome>> {
    const tctx: TaskContext = { repoRoot: ctx.repoRoot, kernel: ctx.kernel, expect: ctx.expect };
    const r = await this.request<TaskReply>({ task, ctx: tctx }, timeoutMs);
    if (!(r instanceof Error)) {
      // A task that failed as a whole answers under its own name: that is every check's outcome.
      const whole = r.results[task];
      if (whole !== undefined && !names.includes(task)) return Object.fromEntries(names.map((n) => [n, whole]));
      return r.results;
    }
    return Object.fromEntries(names.map((n) => [n, { status: 'fail' as const, detail: `task ${task} ${r.message}` }]));
  }
}

let shared: WorkerPool | undefined | null;

/** The shared pool, or undefined when the worker script is not built. */
export function workerPool(): WorkerPool | undefined {
  if (shared === undefined) {
    const script = fileURLToPath(new URL('./load-worker.js', import.meta.url));
    shared = existsSync(script) ? new WorkerPool(script) : null;
  }
  return shared ?? undefined;
}

/**
 * Checks answered by one task: the task runs once, when the first of them runs, and each check
 * picks its own outcome (a task that gives none for a check fails that check).
 */
export function taskChecks(task: string, names: readonly string[], timeoutMs = WORKER_TIMEOUT_MS): { name: string; timeoutMs: number; run: (ctx: CheckContext) => Promise<CheckOutcome> }[] {
  let pending: Promise<Record<string, TaskOutcome>> | undefined;
  return names.map((name) => ({
    name,
    timeoutMs: timeoutMs + 10_000,
    run: async (ctx: CheckContext): Promise<CheckOutcome> => {
      const pool = workerPool();
      if (pool === undefined) return { status: 'skip', detail: 'dist/load-worker.js is not built' };
      pending ??= pool.task(task, ctx, names, timeoutMs);
      const out = (await pending)[name];
      return out ?? { status: 'fail', detail: `task ${task} gave no outcome for ${name}` };
    },
  }));
}
