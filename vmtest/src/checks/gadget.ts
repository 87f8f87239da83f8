/**
 * Checks through `@tsbpf/gadget-cap`: the package imports, then trace-capabilities end to end in
 * every attach variant (the gadget's own self-test), with the perf buffer forced, and CAP_SYS_RAWIO
 * from a `/dev/mem` open (see `tasks/gadget.ts`). The self-tests run in the worker with the loads.
 *
 * @packageDocumentation
 */
import { packageSpecifier } from '../snapshot.js';
import { taskChecks } from './pool.js';
import { pass, type Check } from './types.js';

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
  ...taskChecks('gadget/fentry', ['gadget-cap/selftest/fentry'], 100_000),
  ...taskChecks('gadget/kprobe', ['gadget-cap/selftest/kprobe'], 100_000),
  ...taskChecks('gadget/tracepoint', ['gadget-cap/selftest/tracepoint'], 100_000),
  ...taskChecks('gadget/perf', ['gadget-cap/perf_output', 'gadget-cap/cap_sys_rawio'], 100_000),
];
