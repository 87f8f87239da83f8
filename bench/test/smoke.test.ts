/**
 * Smoke test: every benchmark runs with --quick (tiny sizes, one round) and leaves a well-formed
 * result. Nothing here is timed: figures are only checked to be finite and positive. When cc or
 * libbpf-dev is missing the libbpf side is skipped by the bench itself, which names the reason.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import type { Row, RunResult } from '../src/result.js';

const run = promisify(execFile);
const BENCH = resolve(import.meta.dirname, '..');
const MAIN = join(BENCH, 'dist/main.js');
const out = mkdtempSync(join(tmpdir(), 'tsbpf-bench-'));

afterAll(() => rmSync(out, { recursive: true, force: true }));

async function quick(name: string): Promise<{ result: RunResult; stdout: string }> {
  const dir = join(out, name);
  const { stdout } = await run(process.execPath, [MAIN, '--quick', '--no-fetch', '--only', name, '--out', dir], { maxBuffer: 16 << 20 });
  const file = join(dir, `${new Date().toISOString().slice(0, 10)}.json`);
  // A run that crosses midnight UTC names the file after its start; accept either day.
  const json = existsSync(file) ? file : join(dir, `${new Date(Date.now() - 86_400_000).toISOString().slice(0, 10)}.json`);
  return { result: JSON.parse(readFileSync(json, 'utf8')) as RunResult, stdout };
}

function wellFormed(r: Row): void {
  expect(typeof r.case).toBe('string');
  expect(r.unit.length).toBeGreaterThan(0);
  expect(Number.isFinite(r.tsbpf.median)).toBe(true);
  expect(r.tsbpf.min).toBeLessThanOrEqual(r.tsbpf.median);
  expect(r.tsbpf.median).toBeLessThanOrEqual(r.tsbpf.max);
  expect(r.tsbpf.n).toBeGreaterThan(0);
  if (r.peer) {
    expect(Number.isFinite(r.peer.median)).toBe(true);
    expect(r.peerLabel).toMatch(/libbpf v?\d/);
    // A peer median of 0 (e.g. no event lost) has no ratio.
    if (r.peer.median > 0) expect(Number.isFinite(r.ratio)).toBe(true);
    else expect(r.ratio).toBeUndefined();
  }
  if (r.target) expect(typeof r.target.met).toBe('boolean');
}

const BENCHES: [name: string, expectedRowBench: string, peerExpected: boolean][] = [
  ['btf', 'btf', true],
  ['gadget', 'gadget', true],
  ['ringbuf', 'ringbuf', true],
  ['perfbuf', 'perfbuf', true],
  ['memory', 'memory', true],
  ['maps', 'maps', true],
];

/** The case text of each benchmark's rows measured by the bpf(2) kernel-time tracer. */
const KERNEL_TIME_ROWS: Record<string, string> = {
  maps: 'kernel time per bpf(2) call',
  gadget: 'time in bpf(2), summed over threads',
};

describe('npm run bench -- --quick', () => {
  it.skipIf(!existsSync(MAIN))('is built (dist/main.js)', () => {
    expect(existsSync(join(BENCH, 'dist/worker.js'))).toBe(true);
  });

  for (const [name, rowBench, peerExpected] of BENCHES) {
    it(`${name} runs and prints a well-formed result`, { timeout: 90_000 }, async () => {
      const { result, stdout } = await quick(name);
      for (const s of result.skipped) console.warn(`bench ${s.bench} skipped part: ${s.reason}`);
      // Setup failures (a crashed benchmark) are reported as "failed: …" skips: those are defects.
      expect(result.skipped.filter((s) => s.reason.startsWith('failed:'))).toEqual([]);
      const producerMissing = result.skipped.some((s) => /clang/.test(s.reason));
      const rows = result.rows.filter((r) => r.bench === rowBench);
      if (producerMissing && (name === 'ringbuf' || name === 'perfbuf')) {
        expect(rows).toEqual([]);
        return;
      }
      expect(rows.length).toBeGreaterThan(0);
      for (const r of result.rows) wellFormed(r);
      // The buffers' end-to-end case (a live consumer of a syscall-driven producer) runs unless cc is missing.
      if ((name === 'ringbuf' || name === 'perfbuf') && !result.skipped.some((s) => s.bench.endsWith('end-to-end'))) {
        const e2e = rows.filter((r) => r.case.includes('end-to-end'));
        expect(e2e.map((r) => r.unit)).toEqual(expect.arrayContaining(['k events/s', '% of events', 'ns']));
        expect(e2e.find((r) => r.unit === 'k events/s')?.tsbpf.median).toBeGreaterThan(0);
      }
      // Perf buffers are drained with a wakeup per record and with a watermark, both for every size.
      if (name === 'perfbuf') {
        const drains = rows.filter((r) => r.case.endsWith('consumer CPU per event') && !r.case.includes('end-to-end'));
        expect(drains.filter((r) => r.case.includes(', watermark wakeups:')).length * 2).toBe(drains.length);
      }
      const peerMissing = result.skipped.some((s) => s.reason.startsWith('libbpf peer skipped'));
      if (peerExpected && !peerMissing) expect(rows.some((r) => r.peer !== undefined)).toBe(true);
      // The bpf(2) kernel-time rows (maps per call, gadget per start) are there unless the tracer was
      // skipped with a reason (a tracer that fails to build or load is a "failed:" skip, caught
      // above); when they are, both sides spent measurable time in the kernel.
      const split = KERNEL_TIME_ROWS[name];
      if (split && !peerMissing && !result.skipped.some((s) => s.bench === `${name} kernel time`)) {
        const kernel = rows.filter((r) => r.case.includes(split));
        expect(kernel.length).toBeGreaterThan(0);
        for (const r of kernel) {
          expect(r.tsbpf.min).toBeGreaterThan(0);
          expect(r.peer?.min).toBeGreaterThan(0);
        }
      }
      expect(result.machine.kernel.length).toBeGreaterThan(0);
      expect(result.versions.node).toBe(process.version);
      // The printed table has a header row and one line per row.
      expect(stdout).toContain('| benchmark | case |');
      for (const r of rows) expect(stdout).toContain(`| ${r.bench} | ${r.case} |`);
    });
  }
});
