/**
 * The shape of a guest check. Each file in this folder exports `checks`: a list of {@link Check}s
 * or a function returning one (for checks discovered at run time, e.g. one per BPF object).
 *
 * @packageDocumentation
 */
import type { FeatureExpectations } from '../config.js';
import type { TestResult, TestStatus } from '../result.js';

/** What a check knows about where it runs. */
export interface CheckContext {
  /** Matrix label from `$VMTEST_KERNEL`, or undefined outside vmtest. */
  readonly kernel: string | undefined;
  /** `uname -r`. */
  readonly release: string;
  /** This kernel's expectations from kernels.json (empty outside vmtest). */
  readonly expect: FeatureExpectations;
  /** Repository root. */
  readonly repoRoot: string;
}

/** What one check concluded. */
export interface CheckOutcome {
  readonly status: TestStatus;
  readonly detail?: string;
}

/** One named check. */
export interface Check {
  readonly name: string;
  /** Longest the check may take before it is reported as failed (default 120 s: TCG is slow). */
  readonly timeoutMs?: number;
  run(ctx: CheckContext): CheckOutcome | Promise<CheckOutcome>;
}

/** A folder entry: fixed checks, or checks made from the context. */
export type CheckSource = readonly Check[] | ((ctx: CheckContext) => Promise<readonly Check[]> | readonly Check[]);

/** Shorthands for outcomes. */
export const pass = (detail?: string): CheckOutcome => ({ status: 'pass', ...(detail !== undefined ? { detail } : {}) });
export const fail = (detail: string): CheckOutcome => ({ status: 'fail', detail });
export const skip = (detail: string): CheckOutcome => ({ status: 'skip', detail });

/**
 * Compares a probed feature with the kernel's expectation: a mismatch fails, a match passes; with
 * no expectation, present passes and absent is skipped (reported, not judged).
 */
export function expectFeature(ctx: CheckContext, key: string, present: boolean, what: string): CheckOutcome {
  const expected = ctx.expect[key];
  const state = present ? `${what} present` : `${what} absent`;
  if (expected === undefined) return present ? pass(state) : skip(`${state} (no expectation for this kernel)`);
  return expected === present ? pass(state) : fail(`${state}, kernels.json expects it ${expected ? 'present' : 'absent'}`);
}

/** A check's result line payload. */
export type { TestResult };
