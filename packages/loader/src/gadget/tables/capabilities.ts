/**
 * Linux capability number ↔ name (`CAP_CHOWN` … `CAP_CHECKPOINT_RESTORE`), from the uapi header.
 */
import { TsbpfError } from '../../errors.js';
import { CAPABILITY_NAMES } from './capabilities.generated.js';

export { CAPABILITY_NAMES };

/** Highest capability number the table knows (`CAP_LAST_CAP`). */
export const CAP_LAST_CAP = CAPABILITY_NAMES.length - 1;

/** `CAP_SYS_NICE`-style name of capability `n`, or `CAP_<n>` for a number newer than the table. */
export function capabilityName(n: number): string {
  return (Number.isInteger(n) && n >= 0 ? CAPABILITY_NAMES[n] : undefined) ?? `CAP_${n}`;
}

/** Number of capability `name` (`CAP_SYS_NICE` or `SYS_NICE`, any case), or `undefined`. */
export function capabilityNumber(name: string): number | undefined {
  const want = name.toUpperCase().replace(/^(CAP_)?/, 'CAP_');
  const i = CAPABILITY_NAMES.indexOf(want);
  return i < 0 ? undefined : i;
}

/**
 * Names of the capabilities whose bits are set in `mask` (bit n = capability n, as in
 * `kernel_cap_t` and `/proc/<pid>/status` CapEff), lowest first; unknown bits render as `CAP_<n>`.
 */
export function capabilitySetNames(mask: bigint | number): string[] {
  let m = BigInt.asUintN(64, BigInt(mask));
  const out: string[] = [];
  for (let n = 0; m !== 0n; n++, m >>= 1n) {
    if (m & 1n) out.push(capabilityName(n));
  }
  return out;
}

/**
 * The mask with the bits of the named capabilities set (inverse of {@link capabilitySetNames}).
 * @throws TsbpfError UNKNOWN_CAPABILITY for a name that is neither known nor `CAP_<n>`
 */
export function capabilityMask(names: readonly string[]): bigint {
  let m = 0n;
  for (const name of names) {
    const n = capabilityNumber(name) ?? /^CAP_(\d+)$/i.exec(name)?.[1];
    if (n === undefined) throw new TsbpfError('UNKNOWN_CAPABILITY', `unknown capability ${JSON.stringify(name)}`);
    m |= 1n << BigInt(n);
  }
  return m;
}
