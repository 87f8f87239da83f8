/**
 * Concurrent instances do not interfere. Two GadgetRuns of the same object in one process, each
 * filtered on a different pid, while a library user loads and runs another object: each run sees
 * only its own pid, the other object works, and each collection holds its own parameter values.
 * Then the same with two trace-capabilities CLI processes. Nothing global is created: no pins
 * under /sys/fs/bpf and no tracefs probe events (the tp_btf strategy needs neither).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Collection } from '../../src/collection.js';
import { hasTpBtf } from '../../src/features/probes.js';
import type { GadgetEvent } from '../../src/gadget/decode.js';
import { GadgetRun } from '../../src/gadget/runtime.js';
import { liveProbeEvents } from '../../src/link/tracefs.js';
import { CollectionSpec } from '../../src/spec/collection.js';
import { testdataPath } from '../testdata.js';
import { GADGET_CAP_CLI, LineChild, TP_OBJECT } from './helpers.js';

const tp = hasTpBtf('cap_capable');
if (!tp) console.warn('skipped: no tp_btf/cap_capable on this kernel (needs 6.14+); vmtest covers the kprobe variant');

/** A python3 process that waits for a line on stdin, then lowers its nice value `n` (≤ 20) times — one CAP_SYS_NICE check each — and exits. */
function checker(n = 20): { proc: ChildProcess; pid: number; go: () => Promise<void> } {
  const proc = spawn('python3', ['-c', `import os, sys; sys.stdin.readline(); [os.setpriority(os.PRIO_PROCESS, 0, -(i + 1)) for i in range(${n})]`], { stdio: ['pipe', 'ignore', 'inherit'] });
  const pid = proc.pid;
  if (pid === undefined) throw new Error('python3 did not start');
  const done = new Promise<void>((res) => proc.on('exit', () => res()));
  return {
    proc,
    pid,
    go: async () => {
      proc.stdin?.end('go\n');
      await done;
    },
  };
}

function bpffsEntries(): string[] {
  try {
    return readdirSync('/sys/fs/bpf').sort();
  } catch {
    return [];
  }
}

const pidOf = (e: GadgetEvent): number | undefined => (e.proc as { pid?: number } | undefined)?.pid;

describe.skipIf(!tp)('concurrent gadget instances', () => {
  it('two filtered runs and a library user in one process see only their own', async () => {
    const pinsBefore = bpffsEntries();
    const x = checker();
    const y = checker();
    using a = GadgetRun.start(CollectionSpec.fromFile(TP_OBJECT), { params: { pid: x.pid } });
    using b = GadgetRun.start(CollectionSpec.fromFile(TP_OBJECT), { params: { pid: y.pid } });
    // Each collection keeps its own filter value.
    const pidVar = a.metadata.params.find((p) => p.name === 'pid')?.variable;
    expect(pidVar).toBeDefined();
    expect(Number(a.collection.readVariable(pidVar ?? ''))).toBe(x.pid);
    expect(Number(b.collection.readVariable(pidVar ?? ''))).toBe(y.pid);

    const seenA: GadgetEvent[] = [];
    const seenB: GadgetEvent[] = [];
    const da = a.decoder();
    const db = b.decoder();
    const ra = a.reader.start((v) => void seenA.push(da.decode(v)));
    const rb = b.reader.start((v) => void seenB.push(db.decode(v)));
    try {
      // A library user loads and runs another object meanwhile.
      const spec = CollectionSpec.fromFile(testdataPath('globals.bpf.o'));
      spec.variable('param_mul').set(5);
      spec.variable('param_add').set(1n);
      {
        using other = Collection.load(spec);
        expect(other.program('globals_main').testRun().retval).toBe(84);
      }
      await Promise.all([x.go(), y.go()]);
      const deadline = Date.now() + 10_000;
      const nice = (e: GadgetEvent): boolean => e.cap === 'CAP_SYS_NICE';
      while ((seenA.filter(nice).length < 20 || seenB.filter(nice).length < 20) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    } finally {
      a.reader.close();
      b.reader.close();
      await Promise.all([ra, rb]);
    }
    expect(seenA.length).toBeGreaterThan(0);
    expect(seenB.length).toBeGreaterThan(0);
    expect(new Set(seenA.map(pidOf))).toEqual(new Set([x.pid]));
    expect(new Set(seenB.map(pidOf))).toEqual(new Set([y.pid]));
    expect(seenA.filter((e) => e.cap === 'CAP_SYS_NICE')).toHaveLength(20);
    expect(seenB.filter((e) => e.cap === 'CAP_SYS_NICE')).toHaveLength(20);
    expect(a.lost()).toBe(0n);
    expect(b.lost()).toBe(0n);
    // Nothing global: no pins (of this object's maps: other processes on the machine may pin
    // their own meanwhile), no tracefs probe events.
    const ours = new Set([...a.collection.maps.keys(), ...b.collection.maps.keys()]);
    expect(bpffsEntries().filter((e) => !pinsBefore.includes(e) && ours.has(e))).toEqual([]);
    expect(liveProbeEvents()).toEqual([]);
  });

  it.skipIf(!existsSync(GADGET_CAP_CLI))('two trace-capabilities CLIs filtered on different pids', async () => {
    const x = checker(10);
    const y = checker(10);
    const cliX = new LineChild(process.execPath, [GADGET_CAP_CLI, '-o', 'json', '--pid', String(x.pid), '--fields', 'pid,cap', '--no-collect-kstack']);
    const cliY = new LineChild(process.execPath, [GADGET_CAP_CLI, '-o', 'json', '--pid', String(y.pid), '--fields', 'pid,cap', '--no-collect-kstack']);
    try {
      await Promise.all([cliX.line('stderr', /tracing capability checks/), cliY.line('stderr', /tracing capability checks/)]);
      await Promise.all([x.go(), y.go()]);
      const tenNice = async (c: LineChild): Promise<void> => {
        const deadline = Date.now() + 10_000;
        while (c.stdout.filter((l) => l.includes('CAP_SYS_NICE')).length < 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      };
      await Promise.all([tenNice(cliX), tenNice(cliY)]);
    } finally {
      cliX.kill('SIGTERM');
      cliY.kill('SIGTERM');
    }
    expect((await cliX.exited).code).toBe(0);
    expect((await cliY.exited).code).toBe(0);
    const pids = (c: LineChild): Set<number> => new Set(c.stdout.filter((l) => l.startsWith('{')).map((l) => (JSON.parse(l) as { proc: { pid: number } }).proc.pid));
    expect(pids(cliX)).toEqual(new Set([x.pid]));
    expect(pids(cliY)).toEqual(new Set([y.pid]));
    expect(cliX.stdout.filter((l) => l.includes('CAP_SYS_NICE'))).toHaveLength(10);
    expect(cliY.stdout.filter((l) => l.includes('CAP_SYS_NICE'))).toHaveLength(10);
  });
  if (!existsSync(GADGET_CAP_CLI)) console.warn(`skipped: ${GADGET_CAP_CLI} is not built`);
});
