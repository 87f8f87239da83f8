import { describe, expect, it } from 'vitest';
import { loadKernels, parseKernels, selectKernels, VmtestConfigError } from '../src/config.js';
import { formatMatrixSummary } from '../src/matrix.js';
import { qemuArgs } from '../src/qemu.js';
import { parseGuestOutput } from '../src/result.js';
import type { VmRunResult } from '../src/vm.js';

describe('kernels.json', () => {
  const all = loadKernels();

  it('has the four matrix kernels with suites and 5.10 booting with the bpf LSM', () => {
    expect(all.map((k) => [k.label, k.suite])).toEqual([
      ['5.10', 'bullseye'],
      ['6.1', 'bookworm'],
      ['6.12', 'trixie'],
      ['7.x', 'sid'],
    ]);
    const k510 = all[0];
    expect(k510?.cmdline).toMatch(/console=ttyS0 .*lsm=[a-z,]*bpf/);
    expect(all.every((k) => k.modules.includes('9p') && k.modules.includes('9pnet_virtio'))).toBe(true);
    expect(all.find((k) => k.label === '7.x')?.packages).toHaveLength(3);
    expect(all.find((k) => k.label === '7.x')?.expect.tracepoint_cap_capable).toBe(true);
  });

  it('selects by label, accepts 7 for 7.x, and names the known labels otherwise', () => {
    expect(selectKernels(all, ['6.12', '7']).map((k) => k.label)).toEqual(['6.12', '7.x']);
    expect(selectKernels(all, [])).toHaveLength(4);
    expect(() => selectKernels(all, ['4.19'])).toThrow(/unknown kernel 4\.19; known: 5\.10, 6\.1, 6\.12, 7\.x/);
  });

  it('rejects malformed entries with the field named', () => {
    expect(() => parseKernels('{"kernels":[{"label":"a"}]}')).toThrow(/kernels\[a\]\.suite must be a string/);
    expect(() => parseKernels('{"kernels":[{"label":"a","suite":"s","abi":"1","packages":["p"],"expect":{"x":1}}]}')).toThrow(VmtestConfigError);
    expect(() => parseKernels('{')).toThrow(VmtestConfigError);
  });
});

describe('qemu command line', () => {
  it('uses TCG, the serial console, and shares the host root read-only', () => {
    const args = qemuArgs({ kernel: '/k', initrd: '/i', cmdline: 'console=ttyS0', memory: '512M', accel: 'tcg', hostRoot: '/', resultsDir: '/r,x' });
    expect(args).toContain('pc,accel=tcg');
    expect(args).toContain('-no-reboot');
    expect(args.join(' ')).toContain('-serial stdio');
    expect(args).toContain('local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap');
    expect(args).toContain('local,path=/r,,x,mount_tag=results,security_model=none,multidevs=remap');
  });
});

describe('matrix summary', () => {
  const run = (label: string, lines: string[], timedOut = false): VmRunResult => ({
    label,
    release: `${label}-amd64`,
    report: parseGuestOutput(lines, { timedOut }),
    resultsDir: '/r',
    accel: 'tcg',
    timings: { bootMs: 4000, setupMs: 1000, commandMs: 2000, toResultMs: 7500, totalMs: 8000 },
    qemuStderr: '',
  });

  it('shows kernel × check cells, verdicts and failure details', () => {
    const text = formatMatrixSummary({
      runs: [
        run('6.1', ['VMTEST-RESULT {"name":"a","status":"pass","ms":1200}', 'VMTEST-RESULT {"name":"b","status":"skip"}', 'VMTEST-DONE 0']),
        run('7.x', ['VMTEST-RESULT {"name":"a","status":"fail","detail":"EPERM"}', 'VMTEST-DONE 1']),
        run('5.10', ['Kernel panic - not syncing: VFS'], false),
        run('6.12', ['VMTEST-START 3'], true),
      ],
      setupFailures: [{ label: '9.9', error: 'no ABI' }],
      ok: false,
    });
    expect(text).toMatch(/6\.1\s+6\.1-amd64\s+PASS\s+0\s+1\s+0\s+1\s+4\.0s\s+1\.0s\s+2\.0s\s+7\.5s\s+cached/);
    expect(text).toMatch(/7\.x\s+7\.x-amd64\s+FAIL/);
    expect(text).toMatch(/5\.10\s+5\.10-amd64\s+PANIC/);
    expect(text).toMatch(/6\.12\s+6\.12-amd64\s+TIMEOUT/);
    expect(text).toMatch(/9\.9\s+-\s+SETUP-FAILED/);
    expect(text).toMatch(/^a\s+pass 1\.20s\s+FAIL\s+-\s+-$/m);
    expect(text).toMatch(/^b\s+skip\s+-\s+-\s+-$/m);
    expect(text).toContain('[7.x] FAIL a: EPERM');
    expect(text).toContain('[5.10] Kernel panic - not syncing: VFS');
    expect(text).toContain('[6.12] timed out after 8.0s');
    expect(text).toContain('[9.9] setup failed: no ABI');
    expect(text.trimEnd().split('\n').at(-1)).toBe('vmtest: 1 passed, 4 failed');
  });
});
