import { describe, expect, it } from 'vitest';
import { runInVm } from '../src/vm.js';

// Boots a real kernel in qemu (downloads it on first use): minutes under TCG, so only on request.
const BOOT = process.env.VMTEST_BOOT === '1';
const KERNEL = process.env.VMTEST_BOOT_KERNEL ?? '6.1';

describe.skipIf(!BOOT)(`real boot of ${KERNEL} (VMTEST_BOOT=1)`, () => {
  it('runs the host node in the guest, sees the guest kernel, and writes back through the results share', async () => {
    const r = await runInVm({
      kernel: KERNEL,
      command: ['sh', '-c', 'node -p "require(\'os\').release()" && echo guest-wrote > "$VMTEST_RESULTS/out.txt"'],
      timeoutMs: 300_000,
      log: (s) => console.log(s),
    });
    expect(r.report.status).toBe('pass');
    expect(r.report.exitCode).toBe(0);
    expect(r.report.release).toBe(r.release);
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(`${r.resultsDir}/out.txt`, 'utf8')).toBe('guest-wrote\n');
  }, 600_000);

  it('reports a failing command as a failure, not a pass', async () => {
    const r = await runInVm({ kernel: KERNEL, command: ['sh', '-c', 'exit 3'], timeoutMs: 300_000 });
    expect(r.report.status).toBe('fail');
    expect(r.report.exitCode).toBe(3);
  }, 600_000);
});

if (!BOOT) console.warn('vmtest: real boot test skipped (set VMTEST_BOOT=1 to boot a kernel in qemu)');
