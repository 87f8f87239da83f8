/**
 * Text forms of enriched values, matching what Inspektor Gadget prints: timestamps in RFC 3339
 * with nanoseconds and the local offset (`2024-08-01T15:57:47.208570604+02:00`), durations
 * (`850ns`, `12.50µs`, `3.20ms`, then Go's `1m2.5s` style), and byte counts in SI units
 * (`83 MB`, as go-humanize prints them).
 */

const NS_PER_SEC = 1_000_000_000n;

function pad(n: number | bigint, width: number): string {
  return n.toString().padStart(width, '0');
}

/**
 * RFC 3339 with nanoseconds of wall-clock time `epochNs` (ns since the Unix epoch). The offset is
 * the local zone's at that instant, or `Z` with `utc`.
 */
export function formatTimestamp(epochNs: bigint | number, options: { utc?: boolean } = {}): string {
  const ns = BigInt(epochNs);
  let secs = ns / NS_PER_SEC;
  let frac = ns % NS_PER_SEC;
  if (frac < 0n) {
    frac += NS_PER_SEC;
    secs -= 1n;
  }
  const ms = Number(secs) * 1000;
  const offsetMin = options.utc ? 0 : -new Date(ms).getTimezoneOffset();
  const d = new Date(ms + offsetMin * 60_000);
  const date = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}`;
  const time = `${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}.${pad(frac, 9)}`;
  if (offsetMin === 0) return `${date}T${time}${options.utc ? 'Z' : '+00:00'}`;
  const sign = offsetMin < 0 ? '-' : '+';
  const abs = Math.abs(offsetMin);
  return `${date}T${time}${sign}${pad(Math.floor(abs / 60), 2)}:${pad(abs % 60, 2)}`;
}

/** Go's `time.Duration.String()` for a duration of at least one second. */
function goDuration(ns: bigint): string {
  const neg = ns < 0n;
  let u = neg ? -ns : ns;
  const h = u / 3_600_000_000_000n;
  u -= h * 3_600_000_000_000n;
  const m = u / 60_000_000_000n;
  u -= m * 60_000_000_000n;
  const s = u / NS_PER_SEC;
  const frac = (u % NS_PER_SEC).toString().padStart(9, '0').replace(/0+$/, '');
  let out = `${s}${frac ? `.${frac}` : ''}s`;
  if (h > 0n) out = `${h}h${m}m${out}`;
  else if (m > 0n) out = `${m}m${out}`;
  return neg ? `-${out}` : out;
}

/** A duration in ns as IG prints it: `ns` below 1µs, 2 decimals of µs/ms below 1s, then Go style. */
export function formatDuration(ns: bigint | number): string {
  // Same thresholds as IG, including its quirk that every negative duration prints in ns.
  const n = BigInt(ns);
  if (n < 1_000n) return `${n}ns`;
  if (n < 1_000_000n) return `${(Number(n) / 1e3).toFixed(2)}µs`;
  if (n < NS_PER_SEC) return `${(Number(n) / 1e6).toFixed(2)}ms`;
  return goDuration(n);
}

const SI = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];

/** A byte count in SI units as go-humanize's `Bytes` prints it: `9 B`, `1.5 kB`, `83 MB`. */
export function formatBytes(bytes: bigint | number): string {
  const s = Number(bytes);
  if (s < 10) return `${s} B`;
  const e = Math.min(Math.floor(Math.log(s) / Math.log(1000)), SI.length - 1);
  const val = Math.floor((s / 1000 ** e) * 10 + 0.5) / 10;
  return `${val < 10 ? val.toFixed(1) : val.toFixed(0)} ${SI[e]}`;
}
