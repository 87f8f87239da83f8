/**
 * Tasks run in the guest's worker thread (`dist/load-worker.js`): anything that loads BPF objects,
 * so a load that never returns can be cut off with `terminate()` without hanging the guest. A task
 * answers one {@link TaskOutcome} per check name it covers (a task may cover several checks that
 * share one load, e.g. every attach kind of `vmtest_attach.bpf.o`).
 *
 * @packageDocumentation
 */
import type { FeatureExpectations } from '../config.js';

/** What a task concluded for one check. */
export interface TaskOutcome {
  readonly status: 'pass' | 'fail' | 'skip';
  readonly detail: string;
}

/** What every task receives: where the repository is and what this kernel is expected to have. */
export interface TaskContext {
  readonly repoRoot: string;
  /** Matrix label, or undefined outside vmtest. */
  readonly kernel: string | undefined;
  readonly expect: FeatureExpectations;
}

/** A task: the outcomes of the checks it covers, by check name. */
export type Task = (ctx: TaskContext) => Promise<Record<string, TaskOutcome>>;

export const ok = (detail: string): TaskOutcome => ({ status: 'pass', detail });
export const bad = (detail: string): TaskOutcome => ({ status: 'fail', detail });
export const skipped = (detail: string): TaskOutcome => ({ status: 'skip', detail });

/** The message of anything thrown, first line only unless `full`. */
export function describe(e: unknown, full = false): string {
  const s = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return full ? s : (s.split('\n')[0] ?? s);
}

/**
 * A feature the kernel lacks: skipped when kernels.json has no expectation or expects it absent,
 * failed when it expects it present (the matrix then says *which* kernel lost what).
 */
export function missing(ctx: TaskContext, key: string, why: string): TaskOutcome {
  if (ctx.expect[key] === true) return bad(`${why}; kernels.json expects ${key} on this kernel`);
  return skipped(why);
}

/** `value` when it is a bigint or number, as a bigint. */
export function big(value: unknown): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') return BigInt(value);
  if (typeof value === 'boolean') return value ? 1n : 0n;
  throw new TypeError(`expected an integer, got ${typeof value}`);
}

/** Collects assertion failures so one outcome can list all of them. */
export class Asserts {
  readonly failures: string[] = [];
  readonly notes: string[] = [];
  eq(what: string, got: unknown, want: unknown): void {
    if (got !== want) this.failures.push(`${what}: got ${String(got)}, want ${String(want)}`);
    else this.notes.push(`${what}=${String(got)}`);
  }
  that(what: string, cond: boolean, detail = ''): void {
    if (!cond) this.failures.push(`${what}${detail !== '' ? ` (${detail})` : ''}`);
  }
  outcome(passDetail?: string): TaskOutcome {
    if (this.failures.length > 0) return bad(this.failures.join('; '));
    return ok(passDetail ?? this.notes.join(', '));
  }
}
