/**
 * What the kernel's skipped runs of trace-capabilities' programs (`CapabilityTrace.missedRuns`)
 * cost the output, and how the CLI words them. Skipped runs of the other programs (`sys_exit`,
 * `sched_*`) cost nothing on their own: a stale syscall entry also needs a skipped `sys_enter`.
 */

/** The two halves of a capability check: a skipped run may be a check never reported. */
export const CHECK_PROGRAMS: readonly string[] = ['ig_trace_cap_e', 'ig_trace_cap_x'];

/** The program that records the syscall: a skipped run may be a check reported without it. */
export const SYSCALL_PROGRAM = 'ig_cap_sys_enter';

/** What a skipped run may cost the user, after the counts. */
export const MISSED_RUNS_MEANING =
  'a program was still running on that CPU (preempted, on kernels that run tracing programs preemptibly); checks may be missing or lack their syscall';

/** The skipped runs that may cost the output something (check halves and `sys_enter`), in the order given. */
export function consequentialMisses(missed: ReadonlyMap<string, bigint>): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const [name, n] of missed) if (name === SYSCALL_PROGRAM || CHECK_PROGRAMS.includes(name)) out.set(name, n);
  return out;
}

/** Skipped runs of the check halves: each may be a check the trace never reported. */
export function checkProgramMisses(missed: ReadonlyMap<string, bigint>): bigint {
  let n = 0n;
  for (const name of CHECK_PROGRAMS) n += missed.get(name) ?? 0n;
  return n;
}

/**
 * `12 run(s) of its programs (ig_trace_cap_x 1, ig_cap_sys_enter 11)`: the growth of `now` over
 * `before`, per program in `now`'s order, or `''` when nothing grew.
 */
export function describeMissedRuns(now: ReadonlyMap<string, bigint>, before: ReadonlyMap<string, bigint> = new Map()): string {
  let total = 0n;
  const parts: string[] = [];
  for (const [name, n] of now) {
    const d = n - (before.get(name) ?? 0n);
    if (d <= 0n) continue;
    total += d;
    parts.push(`${name} ${d}`);
  }
  return total > 0n ? `${total} run(s) of its programs (${parts.join(', ')})` : '';
}
