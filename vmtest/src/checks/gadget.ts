/**
 * Checks through `@tsbpf/gadget-cap`: the package imports, then trace-capabilities end to end in
 * every attach variant (the gadget's own self-test), with the perf buffer forced, CAP_SYS_RAWIO
 * from a `/dev/mem` open, and the skipped-run counters under a burst (see `tasks/gadget.ts`). The self-tests run in the worker with the loads.
 *
 * @packageDocumentation
 */
import { packageSpecifier } from '../snapshot.js';
import { taskChecks } from './pool.js';
import { pass, type Check } from './types.js';

/**
 * Give-up limit of one gadget task in the worker. A passing self-test takes 8–17 s under TCG; one
 * whose events never come reports its own failure after its bounded waits (10 + 3 + 10 + 10 s) plus
 * children and load, ≈ 45 s. Where the kernel skipped program runs, each expectation may try more
 * children within twice its wait (self-test: 3 × 20 + 3 s; perf task: 2 × 40 s), ≈ 80 s with
 * children and load. Only a hang (the issue 7 stall was one) runs into this.
 */
const GADGET_TIMEOUT_MS = 120_000;

/** Gadget checks. */
export const checks: readonly Check[] = [
  {
    name: 'gadget-cap/import',
    run: async () => {
      const name = packageSpecifier('@tsbpf/gadget-cap');
      const mod = (await import(name)) as Record<string, unknown>;
      return pass(`${Object.keys(mod).length} exports`);
    },
  },
  ...taskChecks('gadget/fentry', ['gadget-cap/selftest/fentry'], GADGET_TIMEOUT_MS),
  ...taskChecks('gadget/kprobe', ['gadget-cap/selftest/kprobe'], GADGET_TIMEOUT_MS),
  ...taskChecks('gadget/tracepoint', ['gadget-cap/selftest/tracepoint'], GADGET_TIMEOUT_MS),
  ...taskChecks('gadget/perf', ['gadget-cap/perf_output', 'gadget-cap/cap_sys_rawio'], GADGET_TIMEOUT_MS),
  ...taskChecks('gadget/missed', ['gadget-cap/missed_runs'], GADGET_TIMEOUT_MS),
  ...taskChecks('gadget/fexit_leftover', ['gadget-cap/fexit_leftover'], GADGET_TIMEOUT_MS),
];
