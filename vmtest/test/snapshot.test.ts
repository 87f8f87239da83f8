import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { taskChecks } from '../src/checks/pool.js';
import { makeSnapshot, packageSpecifier } from '../src/snapshot.js';
import { Asserts, big, missing } from '../src/tasks/types.js';

function fakeRepo(): string {
  const root = mkdtempSync(join(tmpdir(), 'vmtest-snap-'));
  for (const [dir, parts] of [
    ['packages/loader', ['dist/index.js', 'dist/chunk-A.js']],
    ['packages/gadget-cap', ['dist/index.js', 'bpf/trace_capabilities.bpf.o']],
  ] as const) {
    writeFileSync(join(mkdirp(join(root, dir)), 'package.json'), '{}');
    for (const f of parts) writeFileSync(join(mkdirp(join(root, dir, f, '..')), f.split('/').at(-1) ?? ''), f);
  }
  return root;
}
function mkdirp(d: string): string {
  mkdirSync(d, { recursive: true });
  return d;
}

describe('build snapshot', () => {
  const saved = process.env.VMTEST_SNAPSHOT;
  afterEach(() => {
    if (saved === undefined) delete process.env.VMTEST_SNAPSHOT;
    else process.env.VMTEST_SNAPSHOT = saved;
  });

  it('copies package.json, dist and the gadget objects under node_modules/@tsbpf, replacing an old copy', () => {
    const repo = fakeRepo();
    const dest = join(repo, 'snap');
    mkdirp(join(dest, 'stale'));
    makeSnapshot(repo, dest);
    expect(existsSync(join(dest, 'stale'))).toBe(false);
    expect(readFileSync(join(dest, 'node_modules/@tsbpf/loader/dist/chunk-A.js'), 'utf8')).toBe('dist/chunk-A.js');
    expect(existsSync(join(dest, 'node_modules/@tsbpf/loader/package.json'))).toBe(true);
    expect(existsSync(join(dest, 'node_modules/@tsbpf/gadget-cap/bpf/trace_capabilities.bpf.o'))).toBe(true);
  });

  it('imports come from the snapshot only when $VMTEST_SNAPSHOT names one that has the entry', () => {
    const repo = fakeRepo();
    const dest = makeSnapshot(repo, join(repo, 'snap'));
    delete process.env.VMTEST_SNAPSHOT;
    expect(packageSpecifier('@tsbpf/loader')).toBe('@tsbpf/loader');
    process.env.VMTEST_SNAPSHOT = dest;
    expect(fileURLToPath(packageSpecifier('@tsbpf/gadget-cap'))).toBe(join(dest, 'node_modules/@tsbpf/gadget-cap/dist/index.js'));
    process.env.VMTEST_SNAPSHOT = join(repo, 'nowhere');
    expect(packageSpecifier('@tsbpf/loader')).toBe('@tsbpf/loader');
  });
});

describe('task helpers', () => {
  const ctx = { repoRoot: '/', kernel: '5.10', expect: { lsm_bpf: true } };

  it('a missing feature is a skip, or a failure when kernels.json expects it', () => {
    expect(missing(ctx, 'lsm_bpf', 'no bpf LSM')).toEqual({ status: 'fail', detail: 'no bpf LSM; kernels.json expects lsm_bpf on this kernel' });
    expect(missing(ctx, 'ringbuf', 'no ring buffer')).toEqual({ status: 'skip', detail: 'no ring buffer' });
  });

  it('Asserts lists every failure, and passes with the values it compared', () => {
    const a = new Asserts();
    a.eq('retval', 167, 167);
    a.eq('calls', 1n, 2n);
    a.that('line info', false, 'nr 0');
    expect(a.outcome()).toEqual({ status: 'fail', detail: 'calls: got 1, want 2; line info (nr 0)' });
    const b = new Asserts();
    b.eq('retval', 148, 148);
    expect(b.outcome()).toEqual({ status: 'pass', detail: 'retval=148' });
    expect(big(3)).toBe(3n);
    expect(big(true)).toBe(1n);
    expect(() => big('x')).toThrow(TypeError);
  });

  it('checks sharing a task report a skip naming the missing worker script (not built: running from src)', async () => {
    const checks = taskChecks('attach', ['attach/kprobe', 'attach/uprobe']);
    expect(checks.map((c) => c.name)).toEqual(['attach/kprobe', 'attach/uprobe']);
    const out = await checks[0]?.run({ kernel: undefined, release: 'x', expect: {}, repoRoot: '/' });
    expect(out).toEqual({ status: 'skip', detail: 'dist/load-worker.js is not built' });
  });
});
