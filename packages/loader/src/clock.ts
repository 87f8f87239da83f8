/**
 * A monotonic clock in milliseconds for phase timings: the loader's, and gadgets' own start timings.
 * `performance.now()` would do, but the first touch of the `performance` global loads perf_hooks,
 * about 1 ms of every start.
 */

/** Milliseconds on a monotonic clock (arbitrary origin), with sub-millisecond resolution. */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
