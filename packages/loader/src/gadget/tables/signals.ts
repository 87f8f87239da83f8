/**
 * Signal number → name (`SIGKILL`), and errno number → name as gadgets print them. Unknown numbers
 * render the way Inspektor Gadget's formatters do: `signal#<n>` and `error#<n>`.
 */
import { errnoInfo } from '../../sys/errno.js';
import { SIGNAL_NAMES } from './signals.generated.js';

export { SIGNAL_NAMES };

/** `SIGKILL`-style name of signal `n`, or `signal#<n>` (real-time and unknown signals). */
export function signalName(n: number | bigint): string {
  const i = typeof n === 'bigint' ? (n >= 0n && n < 64n ? Number(n) : -1) : n;
  return (Number.isInteger(i) && i > 0 ? SIGNAL_NAMES[i] : undefined) || `signal#${n}`;
}

/** Number of signal `name` (`SIGKILL` or `KILL`, any case), or `undefined`. */
export function signalNumber(name: string): number | undefined {
  const want = name.toUpperCase().replace(/^(SIG)?/, 'SIG');
  const i = SIGNAL_NAMES.indexOf(want);
  return i <= 0 ? undefined : i;
}

/** `EPERM`-style name of a positive errno, `''` for 0, `error#<n>` when unknown. */
export function errnoDisplayName(n: number | bigint): string {
  const i = typeof n === 'bigint' ? Number(BigInt.asIntN(32, n)) : n;
  if (i === 0) return '';
  const { name } = errnoInfo(Math.abs(i));
  return name === `E${Math.abs(i)}` ? `error#${n}` : name;
}
