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
  /** Checks known to fail on this kernel, with the reason (kernels.json `expectFail`). */
  readonly expectFail?: Readonly<Record<string, string>>;
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

/**
 * Applies kernels.json `expectFail`: a listed check that failed becomes a skip naming the documented
 * reason and the actual failure; a listed check that passed fails (the entry is stale); others are
 * unchanged.
 */
export function applyExpectedFailure(r: TestResult, expectFail: Readonly<Record<string, string>> | undefined): TestResult {
  const reason = expectFail?.[r.name];
  if (reason === undefined) return r;
  if (r.status === 'fail') return { ...r, status: 'skip', detail: `expected on this kernel: ${reason} — got: ${r.detail ?? ''}` };
  if (r.status === 'pass') return { ...r, status: 'fail', detail: `kernels.json expects this to fail here (${reason}) but it passed: remove the expectFail entry (${r.detail ?? ''})` };
  return r;
}

/** A check's result line payload. */
export type { TestResult };
