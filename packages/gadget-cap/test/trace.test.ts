/**
 * traceCapabilities on the running kernel, with real child processes making known capability
 * checks. Here (kernel 6.18, no kprobes, fentry blocked by lockdown) that exercises the tracepoint
 * strategy; kprobe/fentry and audit-only run in vmtest (runGadgetSelfTest).
 */
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { mapGetFdById, mapInfo, mountNamespaceOf } from '@tsbpf/loader';
import { traceCapabilities, traceCapabilitiesAsync, type CapabilityEvent, type CapabilityTrace, type TraceCapabilitiesOptions } from '../src/index.js';
import { probeStrategy } from '../src/strategy.js';
import { ACTIONS, HAVE_PYTHON, PYTHON, HAVE_SETPRIV, HAVE_UNSHARE, bpfIds, bpfIdsOfProcess, startChild, uniqueComm, type Child } from './helpers.js';

const TP = probeStrategy('tracepoint').supported;
const FENTRY = probeStrategy('fentry');
const KPROBE = probeStrategy('kprobe');
if (!HAVE_PYTHON) console.warn('gadget-cap tests: python3 is missing; child-driven tests are skipped');

const children: Child[] = [];
const traces: CapabilityTrace[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill();
  for (const t of traces.splice(0)) t.close();
});

function trace(options: TraceCapabilitiesOptions): CapabilityTrace {
  const t = traceCapabilities(options);
  traces.push(t);
  return t;
}

async function child(comm: string, body: string, wrapper: readonly string[] = []): Promise<Child> {
  const c = await startChild(comm, body, wrapper);
  children.push(c);
  return c;
}

/** Run the child to its end, then close the trace and return every event it delivered. */
async function eventsOf(t: CapabilityTrace, ...cs: Child[]): Promise<CapabilityEvent[]> {
  for (const c of cs) await c.go();
  t.close();
  return t.toArray();
}

const run = it.skipIf(!HAVE_PYTHON);

/** Polls `cond` every 20 ms, giving up after 10 s (a bound, not a timing assertion). */
async function waitUntil(cond: () => boolean): Promise<boolean> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}

describe('traceCapabilities (tracepoint strategy on this kernel)', () => {
  run('reports a raw ICMP socket as CAP_NET_RAW in SYS_SOCKET, with the child’s pid, comm and parent', async () => {
    const comm = uniqueComm('raw');
    const c = await child(comm, ACTIONS.rawSocket);
    const t = trace({ comm });
    const events = await eventsOf(t, c);
    const e = events.find((x) => x.cap === 'CAP_NET_RAW');
    expect(e, JSON.stringify(events.map((x) => [x.cap, x.syscall]))).toBeDefined();
    if (!e) return;
    expect(e.syscall).toBe('SYS_SOCKET');
    expect(e.capable).toBe(true);
    expect(e.proc).toMatchObject({ comm, pid: c.pid, tid: c.pid, creds: { uid: 0, gid: 0 }, parent: { pid: process.pid } });
    expect(e.proc.mntns_id).toBe(mountNamespaceOf('self'));
    expect(e.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    expect(typeof e.timestampNs).toBe('bigint');
    expect(e.cap_effective.split('|')).toContain('CAP_NET_RAW');
    expect(e.current_userns).toBeGreaterThan(0n);
    expect(e.target_userns).toBe(e.current_userns);
    // The tracepoint cannot see cap_capable()'s options.
    expect(e.audit).toBeNull();
    expect(e.insetid).toBeNull();
    // Every event is the child's: the comm filter works in the kernel.
    expect(events.every((x) => x.proc.comm === comm && x.proc.pid === c.pid)).toBe(true);
  });

  run('reports setpriority to a lower nice value as CAP_SYS_NICE in SYS_SETPRIORITY, with a kernel stack', async () => {
    const comm = uniqueComm('nice');
    const c = await child(comm, ACTIONS.nice);
    const t = trace({ comm });
    const events = await eventsOf(t, c);
    const e = events.find((x) => x.cap === 'CAP_SYS_NICE');
    expect(e).toBeDefined();
    expect(e?.syscall).toBe('SYS_SETPRIORITY');
    expect(e?.capable).toBe(true);
    expect(e?.proc.pid).toBe(c.pid);
    expect(e?.kstack?.some((f) => f.startsWith('cap_capable+'))).toBe(true);
    expect(e?.kstack?.some((f) => /setpriority/.test(f))).toBe(true);
    expect(e?.ustack).toBeUndefined();
  });

  run('traceCapabilitiesAsync starts the same trace; a signal aborted meanwhile stops the start and leaves nothing', async () => {
    const comm = uniqueComm('async');
    const c = await child(comm, ACTIONS.nice);
    const t = await traceCapabilitiesAsync({ comm });
    traces.push(t);
    expect(t.strategy).toBe(probeStrategy('fentry').supported ? 'fentry' : KPROBE.supported ? 'kprobe' : 'tracepoint');
    const events = await eventsOf(t, c);
    expect(events.find((x) => x.cap === 'CAP_SYS_NICE')?.syscall).toBe('SYS_SETPRIORITY');

    const before = bpfIdsOfProcess('self');
    const ac = new AbortController();
    const pending = traceCapabilitiesAsync({ comm, signal: ac.signal });
    ac.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(bpfIdsOfProcess('self')).toEqual(before);
  });

  run('collects and symbolizes the user stack while the process is alive', async () => {
    const comm = uniqueComm('ustk');
    const c = await startChild(comm, ACTIONS.nice, [], { hold: true });
    children.push(c);
    const t = trace({ comm, collectUstack: true });
    await c.act();
    let found: CapabilityEvent | undefined;
    for await (const e of t) {
      if (e.cap === 'CAP_SYS_NICE') {
        found = e;
        break; // closes the trace
      }
    }
    await c.release();
    expect(found?.ustack?.length).toBeGreaterThan(0);
    // The innermost frame is libc's setpriority wrapper, named from the process's own mappings.
    expect(found?.ustack?.[0]).toMatch(/setpriority\+0x[0-9a-f]+ \(.*libc[^)]*\)/);
  });

  run('reports reading /proc/kallsyms as CAP_SYSLOG', async () => {
    const comm = uniqueComm('ksym');
    const c = await child(comm, ACTIONS.kallsyms);
    const t = trace({ comm, collectKstack: false });
    const events = await eventsOf(t, c);
    const e = events.find((x) => x.cap === 'CAP_SYSLOG');
    expect(e, JSON.stringify(events.map((x) => [x.cap, x.syscall]))).toBeDefined();
    expect(e?.syscall).toMatch(/^SYS_OPEN(AT)?$/);
    expect(e?.proc.pid).toBe(c.pid);
    expect(e?.kstack).toBeUndefined();
  });

  it.skipIf(!HAVE_PYTHON || !HAVE_SETPRIV)('reports an unprivileged process (nobody) as not capable', async () => {
    const comm = uniqueComm('nobody');
    const c = await child(comm, ACTIONS.nice, ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']);
    const t = trace({ comm });
    const events = await eventsOf(t, c);
    const e = events.find((x) => x.cap === 'CAP_SYS_NICE');
    expect(e).toBeDefined();
    expect(e?.capable).toBe(false);
    expect(e?.syscall).toBe('SYS_SETPRIORITY');
    expect(e?.proc.creds).toEqual({ uid: 65534, gid: 65534 });
    expect(e?.cap_effective).toBe('');
  });

  run('filters by pid: another process doing the same is not reported', async () => {
    const comm = uniqueComm('pid');
    const a = await child(comm, ACTIONS.nice);
    const b = await child(comm, ACTIONS.nice);
    const t = trace({ pid: a.pid });
    const events = await eventsOf(t, a, b);
    expect(events.some((x) => x.cap === 'CAP_SYS_NICE')).toBe(true);
    expect(events.every((x) => x.proc.pid === a.pid)).toBe(true);
  });

  run('filters by comm: a process with another name is not reported', async () => {
    const comm = uniqueComm('cA');
    const a = await child(comm, ACTIONS.nice);
    const b = await child(uniqueComm('cB'), ACTIONS.nice);
    const t = trace({ comm });
    const events = await eventsOf(t, a, b);
    expect(events.some((x) => x.proc.pid === a.pid && x.cap === 'CAP_SYS_NICE')).toBe(true);
    expect(events.filter((x) => x.proc.pid === b.pid)).toEqual([]);
  });

  run('unique reports a capability once per mount namespace', async () => {
    const body = `${ACTIONS.nice}\n${ACTIONS.nice.replace('-5', '-6')}\n${ACTIONS.nice.replace('-5', '-7')}`;
    const comm = uniqueComm('uniq');
    const all = await child(comm, body);
    const tAll = trace({ comm, collectKstack: false });
    const allEvents = await eventsOf(tAll, all);
    expect(allEvents.filter((x) => x.cap === 'CAP_SYS_NICE').length).toBe(3);

    const comm2 = uniqueComm('uniq');
    const once = await child(comm2, body);
    const tOnce = trace({ comm: comm2, unique: true, collectKstack: false });
    const onceEvents = await eventsOf(tOnce, once);
    expect(onceEvents.filter((x) => x.cap === 'CAP_SYS_NICE').length).toBe(1);
    const caps = onceEvents.map((x) => x.cap);
    expect(new Set(caps).size).toBe(caps.length);
  });

  it.skipIf(!HAVE_PYTHON || !HAVE_UNSHARE)('filters by mount namespace: only the selected namespace is seen', async () => {
    for (const by of ['id', 'pid'] as const) {
      const comm = uniqueComm('mnt');
      const inside = await child(comm, ACTIONS.nice, ['unshare', '-m']);
      const outside = await child(comm, ACTIONS.nice);
      const ns = mountNamespaceOf(inside.pid);
      expect(ns).not.toBe(mountNamespaceOf('self'));
      const t = trace(by === 'id' ? { mntns: [ns], collectKstack: false } : { mntnsOfPid: inside.pid, collectKstack: false });
      const events = await eventsOf(t, inside, outside);
      expect(events.some((x) => x.proc.pid === inside.pid && x.cap === 'CAP_SYS_NICE' && x.syscall === 'SYS_SETPRIORITY')).toBe(true);
      // Nothing from any other namespace leaks through (the host is busy with other processes too).
      expect(events.filter((x) => x.proc.mntns_id !== ns)).toEqual([]);
      expect(events.filter((x) => x.proc.pid === outside.pid)).toEqual([]);
    }
  });

  run('forced perf-buffer output delivers the same events', async () => {
    const comm = uniqueComm('perf');
    const c = await child(comm, ACTIONS.nice);
    const t = trace({ comm, output: 'perf' });
    expect(t.output).toBe('perf');
    const events = await eventsOf(t, c);
    const e = events.find((x) => x.cap === 'CAP_SYS_NICE');
    expect(e?.syscall).toBe('SYS_SETPRIORITY');
    expect(e?.proc.pid).toBe(c.pid);
    expect(t.lost).toBe(0n);
  });

  for (const output of ['ringbuf', 'perf'] as const) {
    run(`counts events the ${output} could not take as lost`, async () => {
      const comm = uniqueComm('lost');
      // One CAP_SYS_NICE check per iteration (lowering the nice value checks, raising it does not).
      const flood = 'import os\nfor i in range(5000):\n    os.setpriority(os.PRIO_PROCESS, 0, 0)\n    os.setpriority(os.PRIO_PROCESS, 0, -5)';
      const t = trace({ comm, output, perfPagesPerCpu: 1, collectKstack: false });
      // spawnSync blocks this thread, so nothing is read while the child floods the buffer.
      const r = spawnSync(PYTHON, ['-c', `import ctypes\nctypes.CDLL(None).prctl(15, ${JSON.stringify(comm)}.encode(), 0, 0, 0)\n${flood}`]);
      expect(r.status).toBe(0);
      t.close();
      const events = await t.toArray();
      const nice = events.filter((e) => e.cap === 'CAP_SYS_NICE').length;
      expect(t.lost).toBeGreaterThan(0n);
      expect(nice).toBeGreaterThan(0);
      expect(nice).toBeLessThan(5000);
      // Every check is either delivered or counted as lost.
      expect(BigInt(events.length) + t.lost).toBeGreaterThanOrEqual(5000n);
    });
  }

  run('a consumer that falls maxQueued behind loses the excess, counted in lost', async () => {
    const comm = uniqueComm('q');
    const body = Array.from({ length: 5 }, () => 'os.setpriority(os.PRIO_PROCESS, 0, 0); os.setpriority(os.PRIO_PROCESS, 0, -5)').join('\n');
    const t = trace({ comm, maxQueued: 2, collectKstack: false });
    const r = spawnSync(PYTHON, ['-c', `import ctypes, os\nctypes.CDLL(None).prctl(15, ${JSON.stringify(comm)}.encode(), 0, 0, 0)\n${body}`]);
    expect(r.status).toBe(0);
    t.close(); // drains the buffer into a queue of at most 2
    const events = await t.toArray();
    expect(events.length).toBe(2);
    expect(t.lost).toBeGreaterThanOrEqual(3n);
  });

  it('creates the maps its options leave unused (seen without unique, uncollected stacks) with one entry', () => {
    /** Max entries of seen, ig_kstack and ig_ustack among the maps this process holds during a trace. */
    const sizes = (options: TraceCapabilitiesOptions): Record<string, number> => {
      const t = trace({ comm: uniqueComm('sizes'), ...options });
      try {
        const out: Record<string, number> = {};
        for (const id of bpfIdsOfProcess('self').maps) {
          using fd = mapGetFdById(id);
          const info = mapInfo(fd);
          if (['seen', 'ig_kstack', 'ig_ustack'].includes(info.name)) out[info.name] = info.maxEntries;
        }
        return out;
      } finally {
        t.close();
      }
    };
    expect(sizes({})).toEqual({ seen: 1, ig_kstack: 10000, ig_ustack: 1 });
    expect(sizes({ unique: true, collectKstack: false, collectUstack: true })).toEqual({ seen: 10240, ig_kstack: 1, ig_ustack: 10000 });
  });

  run('close() detaches every link and unloads every program', async () => {
    const before = bpfIdsOfProcess('self');
    const t = trace({ comm: uniqueComm('close') });
    const during = bpfIdsOfProcess('self');
    const ours = {
      progs: [...during.progs].filter((id) => !before.progs.has(id)),
      links: [...during.links].filter((id) => !before.links.has(id)),
    };
    // Six programs: the two cap_capable halves, sys_enter/exit, sched exec/exit; one link each.
    expect(ours.progs.length).toBe(6);
    expect(ours.links.length).toBe(6);
    const all = bpfIds();
    for (const id of ours.progs) expect(all.progs.has(id)).toBe(true);
    // The kernel's skipped-run counters, one per attached program, readable after close too.
    const names = ['ig_cap_sched_exec', 'ig_cap_sched_exit', 'ig_cap_sys_enter', 'ig_cap_sys_exit', 'ig_trace_cap_e', 'ig_trace_cap_x'];
    expect([...t.missedRuns.keys()].sort()).toEqual(names);
    t.close();
    await t.done;
    expect([...t.missedRuns.keys()].sort()).toEqual(names);
    // Link ids go away when the fd is closed.
    const after = bpfIds();
    for (const id of ours.links) expect(after.links.has(id)).toBe(false);
    // A program is freed after an RCU grace period once its last link is gone: wait (bounded) for it.
    const gone = await waitUntil(() => {
      const progs = bpfIds().progs;
      return ours.progs.every((id) => !progs.has(id));
    });
    expect(gone).toBe(true);
    expect(bpfIdsOfProcess('self')).toEqual(before);
  });

  run('stops at maxEvents, on abort, and with await using', async () => {
    const comm = uniqueComm('stop');
    const c = await child(comm, `${ACTIONS.nice}\n${ACTIONS.rawSocket}\n${ACTIONS.nice}`);
    const t = trace({ comm, maxEvents: 1 });
    await c.go();
    const got = await t.toArray();
    expect(got.length).toBe(1);
    expect(t.closed).toBe(true);

    const ac = new AbortController();
    const t2 = trace({ comm: uniqueComm('abort'), signal: ac.signal });
    ac.abort();
    expect(await t2.toArray()).toEqual([]);
    expect(t2.closed).toBe(true);
    expect(() => traceCapabilities({ signal: ac.signal })).toThrow(/aborted/);

    let t3: CapabilityTrace | undefined;
    {
      await using t = traceCapabilities({ comm: uniqueComm('dispose') });
      t3 = t;
      expect(t.closed).toBe(false);
    }
    expect(t3.closed).toBe(true);
  });

  run('breaking out of for-await closes the trace', async () => {
    const comm = uniqueComm('brk');
    const c = await child(comm, `${ACTIONS.nice}\n${ACTIONS.nice.replace('-5', '-6')}`);
    const t = trace({ comm });
    await c.go();
    let n = 0;
    for await (const e of t) {
      expect(e.proc.comm).toBe(comm);
      n++;
      break;
    }
    expect(n).toBe(1);
    expect(t.closed).toBe(true);
  });

  run('a comm longer than the kernel keeps is cut to 15 bytes, with a warning', async () => {
    const warnings: string[] = [];
    const comm = uniqueComm('l');
    const c = await child(comm, ACTIONS.nice);
    const long = comm.padEnd(15, 'x');
    // A name of 15 bytes or more matches on its first 15.
    expect(long.length).toBe(15);
    const t = trace({ comm: `${comm}`.padEnd(15, 'x') + 'TAIL', onWarning: (m) => warnings.push(m) });
    const events = await eventsOf(t, c);
    expect(warnings.some((w) => w.includes('15-byte'))).toBe(true);
    // The child's own comm differs from the cut name (unless it happens to be 15 bytes), so nothing
    // of it is reported: the filter compares whole names.
    if (comm.length < 15) expect(events.filter((e) => e.proc.pid === c.pid)).toEqual([]);
  });

  it('rejects bad filter values before loading', () => {
    expect(() => traceCapabilities({ uid: -1 })).toThrow(/uid -1/);
    expect(() => traceCapabilities({ pid: 1.5 })).toThrow(/pid 1.5/);
    expect(() => traceCapabilities({ mntns: ['abc'] })).toThrow(/not a positive integer/);
  });
});

describe('strategies not available on this kernel', () => {
  it.skipIf(!TP)('auto picks the tracepoint here and says why the better ones were skipped', () => {
    const warnings: string[] = [];
    const before = performance.now();
    const t = trace({ comm: uniqueComm('auto'), onWarning: (m) => warnings.push(m) });
    const wall = performance.now() - before;
    // Every phase of the start is timed, within the call: loading and attaching take real time.
    const st = t.startTimings;
    expect(st.strategyMs).toBeGreaterThan(0);
    expect(st.parseMs).toBeGreaterThan(0);
    expect(st.loadAttachMs).toBeGreaterThan(st.parseMs);
    // The collection's phases happen inside load+attach.
    const l = st.load;
    expect(l.maps).toBeGreaterThan(0);
    expect(l.programs).toBeGreaterThan(0);
    expect(l.maps + l.relocate + l.programs + l.objectBtf).toBeLessThanOrEqual(st.loadAttachMs);
    expect(st.totalMs).toBeLessThanOrEqual(wall);
    expect(st.totalMs).toBeGreaterThan(wall / 2);
    if (FENTRY.supported) expect(t.strategy).toBe('fentry');
    else if (KPROBE.supported) expect(t.strategy).toBe('kprobe');
    else {
      expect(t.strategy).toBe('tracepoint');
      expect(t.skipped.map((s) => s.strategy)).toEqual(['fentry', 'kprobe']);
      expect(warnings.join('\n')).toMatch(/fentry unavailable[\s\S]*kprobe unavailable/);
    }
  });

  it.skipIf(KPROBE.supported)('forcing kprobe fails with what to do', () => {
    console.warn(`kprobe strategy not exercised here: ${KPROBE.detail ?? 'unsupported'} (runs in vmtest)`);
    expect(() => traceCapabilities({ attach: 'kprobe' })).toThrow(/cannot attach with 'kprobe'[\s\S]*CONFIG_KPROBES[\s\S]*What to do: use --attach/);
    try {
      traceCapabilities({ attach: 'kprobe' });
    } catch (err) {
      expect((err as { code?: string }).code).toBe('NOT_SUPPORTED');
      expect((err as Error).name).toBe('AttachStrategyError');
    }
  });

  it.skipIf(FENTRY.supported)('forcing fentry fails with what to do', () => {
    console.warn(`fentry strategy not exercised here: ${FENTRY.detail ?? 'unsupported'} (runs in vmtest)`);
    expect(() => traceCapabilities({ attach: 'fentry' })).toThrow(/cannot attach with 'fentry'[\s\S]*trampolines[\s\S]*What to do/);
  });

  it.skipIf(!KPROBE.supported || !HAVE_PYTHON)('kprobe strategy reports audit and insetid', async () => {
    const comm = uniqueComm('kp');
    const c = await child(comm, ACTIONS.nice);
    const t = trace({ comm, attach: 'kprobe' });
    const e = (await eventsOf(t, c)).find((x) => x.cap === 'CAP_SYS_NICE');
    expect(e?.audit).toBe(true);
    expect(e?.insetid).toBe(false);
  });

  it.skipIf(!FENTRY.supported || !HAVE_PYTHON)('fentry strategy reports audit and insetid', async () => {
    const comm = uniqueComm('fe');
    const c = await child(comm, ACTIONS.nice);
    const t = trace({ comm, attach: 'fentry' });
    const e = (await eventsOf(t, c)).find((x) => x.cap === 'CAP_SYS_NICE');
    expect(e?.audit).toBe(true);
    expect(e?.insetid).toBe(false);
  });

  const auditVisible = FENTRY.supported || KPROBE.supported;
  if (!auditVisible) console.warn('audit-only not exercised here: only the tracepoint strategy runs, which cannot see the audit option (runs in vmtest)');
  it.skipIf(!auditVisible || !HAVE_PYTHON)('auditOnly drops no-audit checks', async () => {
    const comm = uniqueComm('aud');
    const c = await child(comm, ACTIONS.nice);
    const t = trace({ comm, auditOnly: true });
    const events = await eventsOf(t, c);
    expect(events.some((e) => e.cap === 'CAP_SYS_NICE' && e.audit === true)).toBe(true);
    expect(events.filter((e) => e.audit === false)).toEqual([]);
  });

  it.skipIf(auditVisible || !TP)('auditOnly with the tracepoint warns that it has no effect', () => {
    const warnings: string[] = [];
    trace({ comm: uniqueComm('aw'), auditOnly: true, attach: 'tracepoint', onWarning: (m) => warnings.push(m) });
    expect(warnings.some((w) => /audit-only has no effect/.test(w))).toBe(true);
  });
});
