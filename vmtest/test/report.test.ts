import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadKernels, parseKernels, VmtestConfigError } from '../src/config.js';
import { buildMatrixReport } from '../src/matrix.js';
import { parseGuestOutput } from '../src/result.js';
import { runChecks } from '../src/checks/run.js';
import { applyExpectedFailure, fail, pass, type CheckContext } from '../src/checks/types.js';
import type { VmRunResult } from '../src/vm.js';

const run = (label: string, lines: string[], done = true): VmRunResult => ({
  label,
  release: `${label}-amd64`,
  report: parseGuestOutput(lines, { timedOut: !done }),
  resultsDir: '/tmp',
  accel: 'tcg',
  timings: { bootMs: 4000, setupMs: 1000, commandMs: 2000, toResultMs: 7500, totalMs: 8040 },
  qemuStderr: '',
});

describe('--report JSON', () => {
  it('counts checks over kernels and one failure per kernel that failed without a failing check', () => {
    const r = buildMatrixReport({
      runs: [
        run('6.1', ['VMTEST-RESULT {"name":"a","status":"pass","ms":1200}', 'VMTEST-RESULT {"name":"b","status":"skip","detail":"no lsm"}', 'VMTEST-DONE 0']),
        run('7.x', ['VMTEST-RESULT {"name":"a","status":"fail","detail":"EPERM"}', 'VMTEST-DONE 1']),
        run('5.10', ['Kernel panic - not syncing: VFS'], false),
      ],
      setupFailures: [{ label: '9.9', error: 'no ABI' }],
      ok: false,
    });
    expect([r.passed, r.failed, r.skipped, r.ok]).toEqual([1, 3, 1, false]);
    expect(r.kernels.map((k) => [k.kernel, k.verdict, k.seconds])).toEqual([
      ['6.1', 'pass', 8],
      ['7.x', 'fail', 8],
      ['5.10', 'panic', 8],
      ['9.9', 'setup-failed', 0],
    ]);
    expect(r.kernels[0]?.checks).toEqual([
      { name: 'a', status: 'pass', seconds: 1.2, detail: '' },
      { name: 'b', status: 'skip', seconds: null, detail: 'no lsm' },
    ]);
    expect(r.kernels[1]?.checks[0]?.detail).toBe('EPERM');
  });

  it('a passing matrix has failed 0', () => {
    const r = buildMatrixReport({ runs: [run('6.12', ['VMTEST-RESULT {"name":"a","status":"pass"}', 'VMTEST-DONE 0'])], setupFailures: [], ok: true });
    expect([r.passed, r.failed, r.skipped, r.ok]).toEqual([1, 0, 0, true]);
  });

  const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
  it.skipIf(!existsSync(cli))('vmtest run --report writes a failing report when the matrix cannot start', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmtest-report-'));
    const file = join(dir, 'sub', 'm.json');
    // An unknown kernel (or missing prerequisites) fails before any download; no CI, no --install:
    // nothing is installed. The report must still be written, and say failed.
    const env: Record<string, string | undefined> = { ...process.env, CI: '' };
    const r = spawnSync(process.execPath, [cli, 'run', '--kernel', '4.19', '--report', file, '--', 'true'], { encoding: 'utf8', env });
    expect(r.status).toBe(1);
    const rep = JSON.parse(readFileSync(file, 'utf8')) as { passed: number; failed: number; ok: boolean; error: string };
    expect([rep.passed, rep.failed, rep.ok]).toEqual([0, 1, false]);
    expect(rep.error).toMatch(/unknown kernel 4\.19|missing/);
  });

  it.skipIf(!existsSync(cli))('documents --ci and --report', () => {
    const help = spawnSync(process.execPath, [cli, '--help'], { encoding: 'utf8' });
    expect(help.stdout).toContain('--ci');
    expect(help.stdout).toContain('--report FILE');
  });
});

describe('expectFail', () => {
  it('is read from kernels.json: 5.10 ringbuf.bpf.o and 6.1 maps.bpf.o, each with a reason; no entry for the fixed gadget stall (issue 7)', () => {
    const all = loadKernels();
    expect(Object.keys(all.find((k) => k.label === '5.10')?.expectFail ?? {})).toEqual(['load/bpf/testdata/ringbuf.bpf.o']);
    expect(Object.keys(all.find((k) => k.label === '6.1')?.expectFail ?? {})).toEqual(['load/bpf/testdata/maps.bpf.o']);
    expect(all.find((k) => k.label === '7.x')?.expectFail).toEqual({});
    expect(all.every((k) => Object.values(k.expectFail).every((why) => !why.includes('KNOWN BUG')))).toBe(true);
    expect(all.every((k) => k.expect.trampolines === true && k.expect.ringbuf === true)).toBe(true);
    // kprobe_multi needs CONFIG_FPROBE, which Debian's 6.1 lacks.
    expect(Object.fromEntries(all.map((k) => [k.label, k.expect.kprobe_multi]))).toEqual({ '5.10': false, '6.1': false, '6.12': true, '7.x': true });
  });

  it('rejects a reason that is not a non-empty string', () => {
    const base = '{"kernels":[{"label":"a","suite":"s","abi":"1","packages":["p"],"expectFail":';
    expect(() => parseKernels(`${base}{"x":""}}]}`)).toThrow(/kernels\[a\]\.expectFail\.x must be a non-empty reason/);
    expect(() => parseKernels(`${base}["x"]}]}`)).toThrow(VmtestConfigError);
  });

  it('turns a listed failure into a skip naming the reason, and a listed pass into a failure', () => {
    const reasons = { 'load/x': 'needs 5.12' };
    expect(applyExpectedFailure({ name: 'load/x', status: 'fail', detail: 'EINVAL' }, reasons)).toEqual({ name: 'load/x', status: 'skip', detail: 'expected on this kernel: needs 5.12 — got: EINVAL' });
    expect(applyExpectedFailure({ name: 'load/x', status: 'pass' }, reasons).status).toBe('fail');
    expect(applyExpectedFailure({ name: 'load/x', status: 'pass' }, reasons).detail).toMatch(/remove the expectFail entry/);
    expect(applyExpectedFailure({ name: 'load/y', status: 'fail', detail: 'd' }, reasons)).toEqual({ name: 'load/y', status: 'fail', detail: 'd' });
    expect(applyExpectedFailure({ name: 'load/x', status: 'skip' }, reasons).status).toBe('skip');
  });

  it('is applied by the check runner', async () => {
    const ctx: CheckContext = { kernel: '5.10', release: '5.10.0-32-amd64', expect: {}, repoRoot: '/', expectFail: { 'a/bad': 'documented' } };
    const results = await runChecks([{ area: 'a', source: [{ name: 'a/bad', run: () => fail('x') }, { name: 'a/ok', run: () => pass() }] }], ctx);
    expect(results.map((r) => [r.name, r.status])).toEqual([
      ['a/bad', 'skip'],
      ['a/ok', 'pass'],
    ]);
  });
});
