/** Summary statistics of benchmark samples. */

/** Median, range and count of a set of samples. */
export interface Stat {
  median: number;
  min: number;
  max: number;
  n: number;
  values: number[];
}

/** Summarise samples (at least one). */
export function stat(values: readonly number[]): Stat {
  if (values.length === 0) throw new Error('no samples');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1], n: sorted.length, values: [...values] };
}

/** Median of samples. */
export function median(values: readonly number[]): number {
  return stat(values).median;
}

/** A number with about three significant digits, for tables. */
export function fmt(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  if (a >= 1000) return x.toFixed(0);
  if (a >= 100) return x.toFixed(1);
  if (a >= 10) return x.toFixed(2);
  return x.toFixed(3);
}
