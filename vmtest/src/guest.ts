/**
 * The guest test entry: `node vmtest/dist/guest.js [FILTER...]`, one node process per kernel.
 * Prints one `VMTEST-RESULT <json>` line per check and exits 1 when any check failed. Runs on the
 * host too (no expectations then: absent features are reported as skipped). FILTER substrings (or
 * `$VMTEST_CHECKS`, comma-separated) select checks by name.
 *
 * @packageDocumentation
 */
import { release } from 'node:os';
import { CHECK_AREAS } from './checks/index.js';
import { runChecks } from './checks/run.js';
import { loadKernels, repoRoot } from './config.js';
import { formatResultLine } from './result.js';

async function main(): Promise<number> {
  const kernel = process.env.VMTEST_KERNEL;
  let expect = {};
  let expectFail = {};
  if (kernel !== undefined && kernel !== '') {
    const entry = loadKernels().find((k) => k.label === kernel);
    expect = entry?.expect ?? {};
    expectFail = entry?.expectFail ?? {};
  }
  const filters = [...process.argv.slice(2), ...(process.env.VMTEST_CHECKS ?? '').split(',')].filter((s) => s !== '');
  const results = await runChecks(
    CHECK_AREAS,
    { kernel: kernel === '' ? undefined : kernel, release: release(), expect, expectFail, repoRoot: repoRoot() },
    {
      ...(filters.length > 0 ? { filter: (name: string) => filters.some((f) => name.includes(f)) } : {}),
      onResult: (r) => process.stdout.write(`${formatResultLine(r)}\n`),
    },
  );
  const failed = results.filter((r) => r.status === 'fail').length;
  const passed = results.filter((r) => r.status === 'pass').length;
  const skipped = results.length - failed - passed;
  process.stdout.write(`guest: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  // The worker thread is unref'd; a gadget reader or a child must not keep the guest alive.
  setTimeout(() => process.exit(failed > 0 ? 1 : 0), 500).unref();
  return failed > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stdout.write(`${formatResultLine({ name: 'guest/main', status: 'fail', detail: e instanceof Error ? e.message : String(e) })}\n`);
    process.exitCode = 1;
  },
);
