import { describe, expect, it } from 'vitest';
import { checkProgramMisses, consequentialMisses, describeMissedRuns } from '../src/missed.js';

// Counters as CapabilityTrace.missedRuns gives them: every attached program, in attach order.
const counters = (e: bigint, x: bigint, enter: bigint, exit: bigint): Map<string, bigint> =>
  new Map([
    ['ig_trace_cap_e', e],
    ['ig_trace_cap_x', x],
    ['ig_cap_sys_enter', enter],
    ['ig_cap_sys_exit', exit],
    ['ig_cap_sched_exec', 0n],
    ['ig_cap_sched_exit', 3n],
  ]);

describe('skipped runs, as the CLI reports them', () => {
  it('keeps the check halves and sys_enter, whose skips can cost a check or its syscall', () => {
    expect([...consequentialMisses(counters(1n, 2n, 3n, 4n))]).toEqual([
      ['ig_trace_cap_e', 1n],
      ['ig_trace_cap_x', 2n],
      ['ig_cap_sys_enter', 3n],
    ]);
    expect(checkProgramMisses(counters(1n, 2n, 30n, 40n))).toBe(3n);
    expect(checkProgramMisses(new Map())).toBe(0n);
  });

  it('describes the growth per program in attach order, or nothing when none grew', () => {
    expect(describeMissedRuns(consequentialMisses(counters(0n, 1n, 11n, 9n)))).toBe('12 run(s) of its programs (ig_trace_cap_x 1, ig_cap_sys_enter 11)');
    expect(describeMissedRuns(counters(2n, 1n, 11n, 0n), counters(2n, 0n, 5n, 0n))).toBe('7 run(s) of its programs (ig_trace_cap_x 1, ig_cap_sys_enter 6)');
    expect(describeMissedRuns(consequentialMisses(counters(0n, 0n, 0n, 9n)))).toBe('');
    expect(describeMissedRuns(new Map())).toBe('');
  });
});
