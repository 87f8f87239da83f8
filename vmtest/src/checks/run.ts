/**
 * Runs check areas and turns each check into one {@link TestResult}; a check that throws or runs
 * past its time limit becomes a failure naming the error, so one broken area never hides the rest.
 *
 * @packageDocumentation
 */
import type { TestResult } from '../result.js';
import { applyExpectedFailure, type CheckContext, type CheckSource } from './types.js';

const describe = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Runs every check of `areas` in order, calling `onResult` as each finishes. */
export async function runChecks(
  areas: readonly { readonly area: string; readonly source: CheckSource }[],
  ctx: CheckContext,
  opts: { filter?: (name: string) => boolean; onResult?: (r: TestResult) => void } = {},
): Promise<TestResult[]> {
  const results: TestResult[] = [];
  const emit = (raw: TestResult): void => {
    const r = applyExpectedFailure(raw, ctx.expectFail);
    results.push(r);
    opts.onResult?.(r);
  };
  for (const { area, source } of areas) {
    let list;
    try {
      list = typeof source === 'function' ? await source(ctx) : source;
    } catch (e) {
      emit({ name: `${area}/setup`, status: 'fail', detail: describe(e) });
      continue;
    }
    for (const check of list) {
      if (opts.filter !== undefined && !opts.filter(check.name)) continue;
      const t0 = performance.now();
      try {
        const out = await withTimeout(Promise.resolve().then(() => check.run(ctx)), check.timeoutMs ?? 120_000, check.name);
        emit({ name: check.name, status: out.status, ms: Math.round(performance.now() - t0), ...(out.detail !== undefined ? { detail: out.detail } : {}) });
      } catch (e) {
        emit({ name: check.name, status: 'fail', ms: Math.round(performance.now() - t0), detail: describe(e) });
      }
    }
  }
  return results;
}
