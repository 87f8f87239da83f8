import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { hasTpBtf } from '../../src/features/probes.js';
import { compareIdentifiers, readGadgetMetadata } from '../../src/gadget/metadata.js';
import { GadgetRun, mountNamespaceOf } from '../../src/gadget/runtime.js';
import type { GadgetEvent } from '../../src/gadget/decode.js';
import { CollectionSpec } from '../../src/spec/collection.js';
import { mapInfo } from '../../src/sys/info.js';
import { PIN } from '../../src/spec/map.js';
import { linkGetNextId } from '../../src/sys/bpf.js';
import { heldIds } from '../hardening/helpers.js';
import { gadgetObjectPath, openFdCount } from '../testdata.js';

const TP_OBJECT = gadgetObjectPath('trace_capabilities_tp.bpf.o');
const tpAvailable = hasTpBtf('cap_capable');
if (!tpAvailable) console.warn('skipped: this kernel has no tp_btf/cap_capable (needs 6.14+); the runtime is covered in vmtest with the kprobe variant');

/** Every id `next` enumerates (system-wide). */
function listIds(next: (start: number) => number | undefined): Set<number> {
  const ids = new Set<number>();
  for (let id = next(0); id !== undefined; id = next(id)) ids.add(id);
  return ids;
}

/**
 * A python child that lowers its nice value (a CAP_SYS_NICE check) only after `prepare(pid)` ran:
 * it says when it runs, because its exec (whose sched_process_exec program drops the exec'ing
 * thread's syscall entry) must be over before state for it is written. Resolves with the pid once
 * it exited.
 */
async function niceAfter(prepare: (pid: number) => void): Promise<number> {
  const child = spawn('python3', ['-c', 'import os, sys; print("ready", flush=True); sys.stdin.readline(); os.setpriority(os.PRIO_PROCESS, 0, -5)'], { stdio: ['pipe', 'pipe', 'ignore'] });
  const exited = new Promise<void>((resolve, reject) => child.on('exit', () => resolve()).on('error', reject));
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  child.stdout.resume();
  const pid = child.pid ?? -1;
  prepare(pid);
  child.stdin.end('go\n');
  await exited;
  return pid;
}

/** Run `python3 -c code` and resolve with its pid once it exited. */
function runChild(code: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', code], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', () => resolve(child.pid ?? -1));
  });
}

/**
 * Decode events while `trigger` runs; resolve with the first event `match` accepts once the trigger
 * has finished (its result is passed to `match`), or fail after `limitMs`.
 */
async function waitFor<T>(run: GadgetRun, trigger: () => Promise<T>, match: (e: GadgetEvent, t: T) => boolean, limitMs = 10_000): Promise<GadgetEvent> {
  const decoder = run.decoder();
  const seen: GadgetEvent[] = [];
  const reading = run.reader.start((view) => {
    const pid = decoder.pidOf(view);
    const event = decoder.decode(view);
    // The pre-decode pid read (what filters use) must agree with the full decode.
    if (pid !== (event.proc as { pid: number }).pid) throw new Error(`pidOf read ${pid}, decode read ${String((event.proc as { pid: number }).pid)}`);
    seen.push(event);
  });
  try {
    const t = await trigger();
    const deadline = Date.now() + limitMs;
    for (;;) {
      const found = seen.find((e) => match(e, t));
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no matching event within ${limitMs} ms (${seen.length} others seen)`);
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    run.reader.close();
    await reading;
  }
}

describe('parameter order', () => {
  it('sorts C identifiers as localeCompare does, without ICU', () => {
    const ids = ['targ_pid', 'Targ_pid', 'targ_Pid', 'collect_kstack', 'collect_ustack', 'a1', 'a_1', 'A', 'a', '_x', 'x9', 'x10', 'unique', 'audit_only', 'ab', 'aB', 'Ab', 'a_', 'a'];
    // Every ordered pair, so a wrong sign anywhere fails.
    for (const x of ids) for (const y of ids) expect(Math.sign(compareIdentifiers(x, y)), `${x} vs ${y}`).toBe(Math.sign(x.localeCompare(y)));
  });
});

describe.skipIf(!tpAvailable)('gadget runtime on the trace-capabilities object (tp_btf variant)', () => {
  it('reads tracer and parameter metadata from symbols and BTF', () => {
    const md = readGadgetMetadata(CollectionSpec.fromFile(TP_OBJECT));
    expect(md.tracers).toEqual([expect.objectContaining({ name: 'capabilities', mapName: 'events', structName: 'cap_event', dropsVariable: 'gadget_drops_events' })]);
    const names = md.params.map((p) => p.name);
    for (const n of ['audit-only', 'unique', 'collect-kstack', 'collect-ustack', 'pid', 'comm']) expect(names).toContain(n);
    expect(md.mntnsFilterMap).toBe('gadget_mntns_filter_map');
  });

  it('creates a stack map whose switch is off with one entry, and at its declared size when on', () => {
    const declared = CollectionSpec.fromFile(TP_OBJECT).map('ig_ustack').maxEntries;
    expect(declared).toBeGreaterThan(1);
    const sizes = (params: Record<string, unknown>): [number, number] => {
      using run = GadgetRun.start(CollectionSpec.fromFile(TP_OBJECT), { params: { comm: 'no-such-comm', ...params } });
      // As the kernel created them.
      return [mapInfo(run.collection.map('ig_kstack').fd).maxEntries, mapInfo(run.collection.map('ig_ustack').fd).maxEntries];
    };
    expect(sizes({})).toEqual([declared, 1]); // defaults: kernel stacks on, user stacks off
    expect(sizes({ 'collect-kstack': false, 'collect-ustack': true })).toEqual([1, declared]);
    expect(sizes({ 'collect-kstack': false })).toEqual([1, 1]);
  });

  it('leaves a pinned stack map at its declared size (a later run may switch it on)', () => {
    const pinDir = mkdtempSync('/sys/fs/bpf/tsbpf-test-');
    try {
      const spec = CollectionSpec.fromFile(TP_OBJECT);
      const declared = spec.map('ig_ustack').maxEntries;
      spec.map('ig_ustack').pinning = PIN.BY_NAME;
      using run = GadgetRun.start(spec, { params: { comm: 'no-such-comm' }, load: { pinPath: pinDir } });
      expect(mapInfo(run.collection.map('ig_ustack').fd).maxEntries).toBe(declared);
      expect(mapInfo(run.collection.map('ig_kstack').fd).maxEntries).toBe(declared);
    } finally {
      rmSync(pinDir, { recursive: true, force: true });
    }
  });

  it('startAsync gives the same run: programs attached in object order, events decoded', async () => {
    const run = await GadgetRun.startAsync(CollectionSpec.fromFile(TP_OBJECT), { params: { comm: 'python3' } });
    try {
      // Object order: the tp_btf entry half must be attached before the exit half.
      expect(run.attached.map((p) => p.name)).toEqual([...run.collection.spec.programs.keys()]);
      expect(run.attached.map((p) => p.name).indexOf('ig_trace_cap_e')).toBeLessThan(run.attached.map((p) => p.name).indexOf('ig_trace_cap_x'));
      const trigger = () => runChild('import os; os.setpriority(os.PRIO_PROCESS, 0, -5)');
      const event = await waitFor(run, trigger, (e, pid) => (e.proc as { pid: number }).pid === pid && e.cap === 'CAP_SYS_NICE');
      expect(event).toMatchObject({ cap: 'CAP_SYS_NICE', capable: true, syscall: 'SYS_SETPRIORITY' });
    } finally {
      run.close();
    }
    const ac = new AbortController();
    ac.abort();
    await expect(GadgetRun.startAsync(CollectionSpec.fromFile(TP_OBJECT), { signal: ac.signal })).rejects.toThrow(/abort/i);
  });

  it('startAsync aborted while attaching releases every link, program and map', async () => {
    const fdsBefore = openFdCount();
    const ac = new AbortController();
    let attachedWhenAborted = 0;
    let ours: number[] = [];
    const started = GadgetRun.startAsync(CollectionSpec.fromFile(TP_OBJECT), {
      signal: ac.signal,
      // Called before each program's attach: abort once three are attached (an exact point).
      attach: () => {
        if (attachedWhenAborted === 3) {
          ours = heldIds(process.pid).links;
          ac.abort(new Error('stopped while attaching'));
        }
        attachedWhenAborted++;
        return true;
      },
    });
    await expect(started).rejects.toThrow('stopped while attaching');
    expect(attachedWhenAborted).toBe(4);
    expect(ours.length).toBe(3);
    expect(openFdCount()).toBe(fdsBefore);
    // The links this process held are gone from the kernel.
    const all = listIds(linkGetNextId);
    expect(ours.filter((id) => all.has(id))).toEqual([]);
  });

  it('names the syscall from current_syscall only while the entry matches the task registers', async () => {
    // sys_enter/sys_exit stay unattached: the test writes the entry sys_enter would have left, as a
    // kernel that skipped their runs leaves it (the previous syscall's), then the child checks.
    const syscallSeenWith = async (entry: bigint | undefined): Promise<unknown> => {
      // One run per case: waitFor ends with the reader closed.
      using run = GadgetRun.start(CollectionSpec.fromFile(TP_OBJECT), { params: { comm: 'python3' }, attach: (p) => !p.name.startsWith('ig_cap_sys_') });
      expect(run.attached.map((p) => p.name).sort()).toEqual(['ig_cap_sched_exec', 'ig_cap_sched_exit', 'ig_trace_cap_e', 'ig_trace_cap_x']);
      const entries = run.collection.map<number, { nr: bigint }>('current_syscall');
      const trigger = () =>
        niceAfter((pid) => {
          if (entry !== undefined) entries.update(pid, { nr: entry });
        });
      const event = await waitFor(run, trigger, (e, pid) => (e.proc as { pid: number }).pid === pid && e.cap === 'CAP_SYS_NICE');
      return event.syscall;
    };
    const SETPRIORITY = 141n;
    const STATX = 332n;
    expect(await syscallSeenWith(SETPRIORITY)).toBe('SYS_SETPRIORITY');
    // A stale entry (statx's, its sys_exit and setpriority's sys_enter skipped) names no syscall, not statx.
    expect(await syscallSeenWith(STATX)).toBe('');
    expect(await syscallSeenWith(undefined)).toBe('');
  });

  it('drops a leftover entry half for another capability instead of reporting it with this check', async () => {
    // Only the exit half is attached: the test writes the entry half's record, as a skipped
    // entry run leaves the previous check's behind. Child A finds one for CAP_CHOWN when it checks
    // CAP_SYS_NICE (dropped); child B, after it, one for CAP_SYS_NICE (reported: the control).
    using run = GadgetRun.start(CollectionSpec.fromFile(TP_OBJECT), { params: { comm: 'python3' }, attach: (p) => p.name === 'ig_trace_cap_x' });
    const start = run.collection.map<bigint, { current_userns: bigint; target_userns: bigint; cap_effective: bigint; cap: number; cap_opt: number }>('start');
    const decoder = run.decoder();
    const seen: GadgetEvent[] = [];
    const reading = run.reader.start((view) => void seen.push(decoder.decode(view)));
    const CAP_CHOWN = 0;
    const CAP_SYS_NICE = 23;
    const childWithEntry = (cap: number): Promise<number> =>
      niceAfter((pid) => start.update((BigInt(pid) << 32n) | BigInt(pid), { current_userns: 1n, target_userns: 1n, cap_effective: 0n, cap, cap_opt: -1 }));
    try {
      const a = await childWithEntry(CAP_CHOWN);
      const b = await childWithEntry(CAP_SYS_NICE);
      const pidOf = (e: GadgetEvent): number => (e.proc as { pid: number }).pid;
      for (let i = 0; i < 500 && !seen.some((e) => pidOf(e) === b); i++) await new Promise((r) => setTimeout(r, 20));
      // Nothing for A (reported, it would carry CAP_CHOWN with setpriority's result), one for B.
      expect(seen.filter((e) => pidOf(e) === a)).toEqual([]);
      expect(seen.filter((e) => pidOf(e) === b).map((e) => [e.cap, e.syscall])).toEqual([['CAP_SYS_NICE', '']]);
    } finally {
      run.reader.close();
      await reading;
    }
  });

  for (const output of ['ringbuf', 'perf'] as const) {
    it(`decodes a real capability check of a child process (${output})`, async () => {
      using run = GadgetRun.start(CollectionSpec.fromFile(TP_OBJECT), { output, params: { comm: 'python3' } });
      expect(run.output).toBe(output);
      const pidOf = (e: GadgetEvent): number => (e.proc as { pid: number }).pid;
      const trigger = () => runChild('import os; os.setpriority(os.PRIO_PROCESS, 0, -5)');
      const event = await waitFor(run, trigger, (e, pid) => pidOf(e) === pid && e.cap === 'CAP_SYS_NICE');
      const pid = pidOf(event);
      expect(event).toMatchObject({
        proc: { comm: 'python3', pid, tid: pid, creds: { uid: 0, gid: 0 }, mntns_id: mountNamespaceOf('self') },
        cap: 'CAP_SYS_NICE',
        capable: true,
        syscall: 'SYS_SETPRIORITY',
        audit: -1,
      });
      expect(event.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
      expect(Math.abs(Date.parse(event.timestamp as string) - Date.now())).toBeLessThan(60_000);
      expect(event.cap_effective).toMatch(/(^|\|)CAP_SYS_NICE(\||$)/);
      // Root holds capabilities above bit 31 too: the 64-bit set enum must name them.
      expect(event.cap_effective).toMatch(/(^|\|)CAP_BPF(\||$)/);
      expect(event.cap_effective).not.toMatch(/0x/);
      expect(Object.keys(event).slice(0, 3)).toEqual(['timestamp', 'proc', 'current_userns']);
      expect(Array.isArray(event.kstack) && (event.kstack as string[]).length > 0).toBe(true);
      expect(event).not.toHaveProperty('cap_raw');
      expect(run.lost()).toBe(0n);
    });
  }
});
