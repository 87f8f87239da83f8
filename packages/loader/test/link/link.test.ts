/**
 * Attach tests against the running kernel: each attaches a hand-assembled counter, drives the hook from
 * a child process, and checks the exact count; after close the link is gone and no fd leaked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { NativeSymbolTable } from '../../src/symbolize/index.js';
import { BPF_ATTACH_TYPE, BPF_PROG_TYPE, Fd, linkInfo } from '../../src/sys/index.js';
import { loadKernelBtf } from '../../src/btf/kernel.js';
import { NotSupportedError } from '../../src/errors.js';
import {
  AttachError,
  AttachNotSupportedError,
  attachKprobe,
  attachPerfEvent,
  attachProgram,
  attachRawTracepoint,
  attachTracepoint,
  attachTracing,
  attachTpBtf,
  attachUprobe,
  attachUprobeMulti,
  kprobesDisabledError,
  removeStaleProbeEvents,
  liveProbeEvents,
  tracefsRoot,
  type Link,
} from '../../src/link/index.js';
import { checkLsm, checkTpBtf, checkTrampolines, checkUprobeMulti, hasBpfLink, hasTpBtf, hasTrampolines, kprobes } from '../../src/features/index.js';
import { openFdCount } from '../testdata.js';
import { Child, Counter, allLinkIds, counterInsns, havePython, load, until } from './progs.js';

const itChild = it.runIf(havePython);

const N = 25;
const SYS_getppid = 110; // x86_64
const LIBC = '/usr/lib/x86_64-linux-gnu/libc.so.6';
const isX64 = process.arch === 'x64';

/** Python that calls getppid() N times (os.getppid → libc getppid → syscall). */
const GETPPID_LOOP = `for _ in range(${N}): os.getppid()`;

let fdsBefore = 0;
let ownedBefore = 0;
beforeAll(async () => {
  // libuv opens its SIGCHLD plumbing with the first child: start one before counting fds.
  if (havePython) {
    const warm = new Child('pass');
    await warm.pid;
    await warm.run();
  }
  fdsBefore = openFdCount();
  ownedBefore = Fd.openCount;
});
afterAll(() => {
  expect(Fd.openCount).toBe(ownedBefore);
  expect(openFdCount()).toBe(fdsBefore);
});

/** Closes the link and checks that its kernel id disappeared. */
async function closeAndCheckGone(link: Link): Promise<void> {
  const id = link.fd ? linkInfo(link.fd).id : undefined;
  link.close();
  link.close(); // idempotent
  if (id !== undefined) await until(() => !allLinkIds().includes(id), `link ${id} to disappear`);
}

/** Starts a child, sets the counter's pid filter to it, runs it, returns the count. */
async function driveChild(counter: Counter, code = GETPPID_LOOP): Promise<bigint> {
  const child = new Child(code);
  try {
    counter.setPid(await child.pid);
    expect(await child.run()).toBe(0);
  } finally {
    child.kill();
  }
  return counter.count;
}

describe('tracepoint', () => {
  itChild('counts syscalls/sys_enter_getppid of one process exactly', async () => {
    using counter = new Counter();
    using prog = load({ progType: BPF_PROG_TYPE.TRACEPOINT, insns: counterInsns(counter, { filterPid: true }) });
    const link = attachTracepoint(prog, 'syscalls', 'sys_enter_getppid');
    expect(link.kind).toBe('tracepoint');
    expect(link.fd).toBeInstanceOf(Fd);
    const info = link.fd ? linkInfo(link.fd) : undefined;
    expect(info?.typeName).toMatch(/PERF_EVENT/);
    expect(await driveChild(counter)).toBe(BigInt(N));
    await closeAndCheckGone(link);
    // Detached: a second run (driveChild resets the count with the new pid) does not count.
    expect(await driveChild(counter)).toBe(0n);
  });

  itChild('attaches with PERF_EVENT_IOC_SET_BPF when asked (no bpf_link: fd undefined, pin refused)', async () => {
    using counter = new Counter();
    using prog = load({ progType: BPF_PROG_TYPE.TRACEPOINT, insns: counterInsns(counter, { filterPid: true }) });
    const link = attachTracepoint(prog, 'syscalls', 'sys_enter_getppid', { mode: 'ioctl' });
    expect(link.fd).toBeUndefined();
    expect(() => link.pin('/sys/fs/bpf/never')).toThrow(NotSupportedError);
    expect(await driveChild(counter)).toBe(BigInt(N));
    link.close();
    expect(await driveChild(counter)).toBe(0n);
  });

  it('explains a tracepoint that does not exist', () => {
    using counter = new Counter();
    using prog = load({ progType: BPF_PROG_TYPE.TRACEPOINT, insns: counterInsns(counter) });
    expect(() => attachTracepoint(prog, 'syscalls', 'sys_enter_no_such_call')).toThrow(/tracepoint syscalls\/sys_enter_no_such_call does not exist/);
    expect(() => attachTracepoint(prog, '..', 'x')).toThrow(/invalid tracepoint category/);
  });

  itChild('auto-attaches from the section name', async () => {
    using counter = new Counter();
    using prog = load({ progType: BPF_PROG_TYPE.TRACEPOINT, insns: counterInsns(counter, { filterPid: true }) });
    using link = attachProgram({ fd: prog, type: BPF_PROG_TYPE.TRACEPOINT, expectedAttachType: 0, sectionName: 'tracepoint/syscalls/sys_enter_getppid' });
    expect(await driveChild(counter)).toBe(BigInt(N));
  });
});

describe.skipIf(!isX64)('raw_tracepoint', () => {
  itChild('counts sys_enter for getppid of one process exactly', async () => {
    using counter = new Counter();
    using prog = load({ progType: BPF_PROG_TYPE.RAW_TRACEPOINT, insns: counterInsns(counter, { filterPid: true, ctxArg1Equals: SYS_getppid }) });
    const link = attachRawTracepoint(prog, 'sys_enter');
    expect(link.kind).toBe('raw_tracepoint');
    expect(link.info().name).toBe('sys_enter');
    expect(await driveChild(counter)).toBe(BigInt(N));
    await closeAndCheckGone(link);
  });

  it.runIf(hasBpfLink())('pins a link to bpffs so it outlives close(), and unpinning removes it', async () => {
    using counter = new Counter();
    using prog = load({ progType: BPF_PROG_TYPE.RAW_TRACEPOINT, insns: counterInsns(counter) });
    const link = attachRawTracepoint(prog, 'sys_enter');
    const id = link.info().id;
    const path = `/sys/fs/bpf/tsbpf-link-test-${process.pid}`;
    link.pin(path);
    try {
      link.close();
      expect(allLinkIds()).toContain(id);
    } finally {
      unlinkSync(path);
    }
    await until(() => !allLinkIds().includes(id), `pinned link ${id} to disappear after unpinning`);
    expect(() => link.pin(path)).toThrow(/closed/);
  });

  it('names a raw tracepoint that does not exist', () => {
    using counter = new Counter();
    using prog = load({ progType: BPF_PROG_TYPE.RAW_TRACEPOINT, insns: counterInsns(counter) });
    expect(() => attachRawTracepoint(prog, 'no_such_tracepoint_xyz')).toThrow(/raw tracepoint no_such_tracepoint_xyz does not exist/);
  });
});

describe.skipIf(!isX64)('tp_btf', () => {
  const btf = loadKernelBtf();
  if (!hasTpBtf('sys_enter')) console.warn(`skipping tp_btf/sys_enter: ${checkTpBtf('sys_enter').detail}`);
  if (!hasTpBtf('cap_capable')) console.warn(`skipping tp_btf/cap_capable: ${checkTpBtf('cap_capable').detail}`);
  it.runIf(havePython && hasTpBtf('sys_enter'))('counts tp_btf/sys_enter for getppid exactly', async () => {
    const id = btf.find('btf_trace_sys_enter', 'typedef');
    expect(id).toBeDefined();
    using counter = new Counter();
    using prog = load({
      progType: BPF_PROG_TYPE.TRACING,
      expectedAttachType: BPF_ATTACH_TYPE.TRACE_RAW_TP,
      attachBtfId: id,
      insns: counterInsns(counter, { filterPid: true, ctxArg1Equals: SYS_getppid }),
    });
    const link = attachProgram({ fd: prog, type: BPF_PROG_TYPE.TRACING, expectedAttachType: BPF_ATTACH_TYPE.TRACE_RAW_TP, sectionName: 'tp_btf/sys_enter' });
    expect(link.kind).toBe('tp_btf');
    expect(await driveChild(counter)).toBe(BigInt(N));
    await closeAndCheckGone(link);
  });

  it.runIf(havePython && hasTpBtf('cap_capable'))('counts tp_btf/cap_capable for a process that checks a capability', async () => {
    const id = btf.find('btf_trace_cap_capable', 'typedef');
    expect(id).toBeDefined();
    using counter = new Counter();
    using prog = load({ progType: BPF_PROG_TYPE.TRACING, expectedAttachType: BPF_ATTACH_TYPE.TRACE_RAW_TP, attachBtfId: id, insns: counterInsns(counter, { filterPid: true }) });
    using link = attachTpBtf(prog);
    // setuid(0) as root checks CAP_SETUID.
    expect(await driveChild(counter, 'os.setuid(0)')).toBeGreaterThanOrEqual(1n);
  });
});

describe('fentry / lsm', () => {
  const tramp = checkTrampolines();
  it.skipIf(!tramp.supported)('attaches fentry (runs in vmtest guests)', () => {
    const fn = loadKernelBtf().find('bpf_fentry_test1', 'func');
    using counter = new Counter();
    using prog = load({ progType: BPF_PROG_TYPE.TRACING, expectedAttachType: BPF_ATTACH_TYPE.TRACE_FENTRY, attachBtfId: fn, insns: counterInsns(counter) });
    using link = attachTracing(prog, BPF_ATTACH_TYPE.TRACE_FENTRY);
    expect(link.kind).toBe('fentry');
  });
  if (!tramp.supported) console.warn(`skipping fentry attach: ${tramp.detail}`);
  it.skipIf(!tramp.supported || !havePython || !isX64).each(['fentry', 'fexit'] as const)('counts %s on __x64_sys_getppid (vmtest guests)', async (kind) => {
    const fn = loadKernelBtf().find('__x64_sys_getppid', 'func');
    expect(fn, '__x64_sys_getppid in kernel BTF').toBeDefined();
    const attachType = kind === 'fentry' ? BPF_ATTACH_TYPE.TRACE_FENTRY : BPF_ATTACH_TYPE.TRACE_FEXIT;
    using counter = new Counter();
    using prog = load({ progType: BPF_PROG_TYPE.TRACING, expectedAttachType: attachType, attachBtfId: fn, insns: counterInsns(counter, { filterPid: true }) });
    const link = attachProgram({ fd: prog, type: BPF_PROG_TYPE.TRACING, expectedAttachType: attachType, sectionName: `${kind}/__x64_sys_getppid` });
    expect(link.kind).toBe(kind);
    expect(await driveChild(counter)).toBe(BigInt(N));
    await closeAndCheckGone(link);
  });
  const lsm = checkLsm();
  if (!lsm.supported) console.warn(`skipping lsm attach: ${lsm.detail}`);
  it.skipIf(!lsm.supported)('attaches lsm/file_open (runs in vmtest guests)', () => {
    const fn = loadKernelBtf().find('bpf_lsm_file_open', 'func');
    using counter = new Counter();
    using prog = load({ progType: BPF_PROG_TYPE.LSM, expectedAttachType: BPF_ATTACH_TYPE.LSM_MAC, attachBtfId: fn, insns: counterInsns(counter) });
    const link = attachProgram({ fd: prog, type: BPF_PROG_TYPE.LSM, expectedAttachType: BPF_ATTACH_TYPE.LSM_MAC, sectionName: 'lsm/file_open' });
    expect(link.kind).toBe('lsm');
    // Opening a file runs the hook.
    readFileSync('/proc/self/stat');
    expect(counter.count).toBeGreaterThan(0n);
    link.close();
  });
  it('reports why trampolines are unavailable when they are', () => {
    expect(hasTrampolines()).toBe(tramp.supported);
    if (!tramp.supported) expect(tramp.detail).toMatch(/EPERM|lockdown|not in kernel BTF|EOPNOTSUPP|ENOTSUPP/);
  });
});

describe('kprobe', () => {
  const k = kprobes();
  const available = k.pmu || k.tracefs;
  if (!available) console.warn(`skipping kprobe attach: ${k.detail}`);
  it.runIf(!available)('says CONFIG_KPROBES is off when there is no way to create kprobes', () => {
    using counter = new Counter();
    using prog = load({ progType: BPF_PROG_TYPE.KPROBE, insns: counterInsns(counter) });
    expect(() => attachKprobe(prog, 'vfs_read')).toThrow(AttachNotSupportedError);
    expect(() => attachKprobe(prog, 'vfs_read')).toThrow(/kprobes are not enabled in this kernel \(CONFIG_KPROBES\)/);
    expect(kprobesDisabledError().code).toBe('NOT_SUPPORTED');
  });
  it.runIf(available && havePython && isX64)('counts a kprobe on a syscall handler (vmtest guests)', async () => {
    using counter = new Counter();
    using prog = load({ progType: BPF_PROG_TYPE.KPROBE, insns: counterInsns(counter, { filterPid: true }) });
    const link = attachKprobe(prog, '__x64_sys_getppid');
    expect(await driveChild(counter)).toBe(BigInt(N));
    await closeAndCheckGone(link);
    expect(() => attachKprobe(prog, 'no_such_function_xyz')).toThrow(/function no_such_function_xyz is not traceable/);
  });
  it.runIf(k.tracefs && havePython && isX64)('counts a kretprobe made through kprobe_events (maxactive) and removes the event on close (vmtest guests)', async () => {
    using counter = new Counter();
    using prog = load({ progType: BPF_PROG_TYPE.KPROBE, insns: counterInsns(counter, { filterPid: true }) });
    const link = attachKprobe(prog, '__x64_sys_getppid', { retprobe: true, maxactive: 8 });
    expect(link.kind).toBe('kretprobe');
    const names = liveProbeEvents();
    expect(names).toHaveLength(1);
    expect(names[0]).toMatch(new RegExp(`^kprobes/tsbpf_${process.pid}_\\d+___x64_sys_getppid$`));
    expect(await driveChild(counter)).toBe(BigInt(N));
    await closeAndCheckGone(link);
    expect(liveProbeEvents()).toEqual([]);
    expect(readFileSync(`${tracefsRoot()}/kprobe_events`, 'latin1')).not.toContain(names[0].split('/')[1]);
  });
  if (available && !k.multi) console.warn(`skipping kprobe_multi attach: ${k.detail ?? 'not supported'}`);
  it.runIf(k.multi && havePython && isX64)('counts with a kprobe_multi link from a glob pattern (vmtest guests)', async () => {
    using counter = new Counter();
    using prog = load({ progType: BPF_PROG_TYPE.KPROBE, expectedAttachType: BPF_ATTACH_TYPE.TRACE_KPROBE_MULTI, insns: counterInsns(counter, { filterPid: true }) });
    const link = attachProgram({ fd: prog, type: BPF_PROG_TYPE.KPROBE, expectedAttachType: BPF_ATTACH_TYPE.TRACE_KPROBE_MULTI, sectionName: 'kprobe.multi/__x64_sys_getppi?' });
    expect(link.kind).toBe('kprobe_multi');
    expect(await driveChild(counter)).toBe(BigInt(N));
    await closeAndCheckGone(link);
  });
});

if (!existsSync(LIBC)) console.warn(`skipping uprobe tests: ${LIBC} does not exist`);
describe.skipIf(!existsSync(LIBC))('uprobe', () => {
  itChild('counts libc getppid calls of one process (pid option)', async () => {
    using counter = new Counter();
    using prog = load({ progType: BPF_PROG_TYPE.KPROBE, insns: counterInsns(counter) });
    const child = new Child(GETPPID_LOOP);
    try {
      const pid = await child.pid;
      const link = attachUprobe(prog, LIBC, { symbol: 'getppid', pid });
      expect(link.kind).toBe('uprobe');
      expect(await child.run()).toBe(0);
      expect(counter.count).toBe(BigInt(N));
      await closeAndCheckGone(link);
    } finally {
      child.kill();
    }
  });

  itChild('counts with a program-side pid filter and auto-attach from uprobe/<path>:<symbol>', async () => {
    using counter = new Counter();
    using prog = load({ progType: BPF_PROG_TYPE.KPROBE, insns: counterInsns(counter, { filterPid: true }) });
    using link = attachProgram({ fd: prog, type: BPF_PROG_TYPE.KPROBE, expectedAttachType: 0, sectionName: `uprobe/${LIBC}:getppid` });
    expect(await driveChild(counter)).toBe(BigInt(N));
  });

  itChild('counts uretprobes through a tracefs uprobe_events probe and removes the probe on close', async () => {
    using counter = new Counter();
    using prog = load({ progType: BPF_PROG_TYPE.KPROBE, insns: counterInsns(counter, { filterPid: true }) });
    const link = attachUprobe(prog, LIBC, { symbol: 'getppid', retprobe: true, forceTracefs: true });
    expect(link.kind).toBe('uretprobe');
    const names = liveProbeEvents();
    expect(names.length).toBe(1);
    const name = names[0];
    expect(name).toMatch(new RegExp(`^uprobes/tsbpf_${process.pid}_\\d+_getppid$`));
    expect(readFileSync(`${tracefsRoot()}/uprobe_events`, 'latin1')).toContain(name.split('/')[1]);
    expect(await driveChild(counter)).toBe(BigInt(N));
    await closeAndCheckGone(link);
    expect(liveProbeEvents()).toEqual([]);
    expect(readFileSync(`${tracefsRoot()}/uprobe_events`, 'latin1')).not.toContain(name.split('/')[1]);
  });

  const uprobeMulti = checkUprobeMulti();
  if (!uprobeMulti.supported) console.warn(`skipping uprobe_multi attach: ${uprobeMulti.detail}`);
  it.runIf(havePython && uprobeMulti.supported)('counts with one uprobe_multi link on two libc functions', async () => {
    using counter = new Counter();
    using prog = load({ progType: BPF_PROG_TYPE.KPROBE, expectedAttachType: BPF_ATTACH_TYPE.TRACE_UPROBE_MULTI, insns: counterInsns(counter) });
    const child = new Child(`${GETPPID_LOOP}\nfor _ in range(${N}): os.getpgid(0)`);
    try {
      const pid = await child.pid;
      const link = attachUprobeMulti(prog, LIBC, { symbols: ['getppid', 'getpgid'], pid });
      expect(link.kind).toBe('uprobe_multi');
      expect(link.info().count).toBe(2);
      expect(await child.run()).toBe(0);
      expect(counter.count).toBe(BigInt(2 * N));
      await closeAndCheckGone(link);
    } finally {
      child.kill();
    }
  });

  it('removes stale tsbpf probe events left by dead processes, and only those', () => {
    const root = tracefsRoot();
    let dead = 4_000_000;
    while (existsSync(`/proc/${dead}`)) dead++;
    const stale = `tsbpf_${dead}_0_getppid`;
    const offset = NativeSymbolTable.forPath(LIBC).get('getppid').fileOffset;
    writeFileSync(`${root}/uprobe_events`, `p:uprobes/${stale} ${LIBC}:0x${offset.toString(16)}\n`, { flag: 'a' });
    expect(readFileSync(`${root}/uprobe_events`, 'latin1')).toContain(stale);
    expect(removeStaleProbeEvents('uprobe')).toBeGreaterThanOrEqual(1);
    expect(readFileSync(`${root}/uprobe_events`, 'latin1')).not.toContain(stale);
  });

  it('rejects unknown symbols and missing files with their names', () => {
    using counter = new Counter();
    using prog = load({ progType: BPF_PROG_TYPE.KPROBE, insns: counterInsns(counter) });
    expect(() => attachUprobe(prog, LIBC, { symbol: 'no_such_symbol_xyz' })).toThrow(/symbol no_such_symbol_xyz not found in .*libc\.so\.6/);
    expect(() => attachUprobe(prog, '/no/such/binary', { symbol: 'main' })).toThrow(/\/no\/such\/binary does not exist/);
  });
});

describe('perf_event', () => {
  it('runs a program on software cpu-clock samples on every CPU', async () => {
    using counter = new Counter();
    using prog = load({ progType: BPF_PROG_TYPE.PERF_EVENT, insns: counterInsns(counter) });
    const link = attachPerfEvent(prog, { frequency: 1000 });
    expect(link.links.length).toBeGreaterThan(0);
    // Keep a CPU busy until samples arrive (bounded).
    await until(() => {
      const end = Date.now() + 5;
      while (Date.now() < end);
      return counter.count > 0n;
    }, 'cpu-clock samples');
    const ids = link.links.map((l) => (l.fd ? linkInfo(l.fd).id : -1));
    link.close();
    await until(() => ids.every((id) => !allLinkIds().includes(id)), 'perf links to disappear');
    const after = counter.count;
    const end = Date.now() + 50;
    while (Date.now() < end);
    expect(counter.count).toBe(after);
  });
});

describe('attachProgram section parsing', () => {
  it('explains sections it cannot attach', () => {
    using counter = new Counter();
    using prog = load({ progType: BPF_PROG_TYPE.TRACEPOINT, insns: counterInsns(counter) });
    const p = (sectionName: string, type: number = BPF_PROG_TYPE.TRACEPOINT) => ({ fd: prog, type, expectedAttachType: 0, sectionName });
    expect(() => attachProgram(p('tracepoint/nosubsystem'))).toThrow(/expected tracepoint\/<category>\/<name>/);
    expect(() => attachProgram(p('kprobe'), {})).toThrow(/no function named/);
    expect(() => attachProgram(p('uprobe/nocolon'))).toThrow(/expected uprobe\/<path>:<symbol>/);
    expect(() => attachProgram(p('cgroup_skb/egress', BPF_PROG_TYPE.CGROUP_SKB))).toThrow(/cgroup programs need options.cgroup/);
    expect(() => attachProgram(p('weird/thing', BPF_PROG_TYPE.SOCKET_FILTER))).toThrow(/no auto-attach rule for prefix "weird"/);
    expect(() => attachProgram(p('tc', BPF_PROG_TYPE.SCHED_CLS))).toThrow(/tc needs options.interface/);
  });
});

describe('errors', () => {
  it('AttachError and NotSupportedError derive from TsbpfError', async () => {
    const { TsbpfError, NotSupportedError } = await import('../../src/errors.js');
    expect(new AttachError('x')).toBeInstanceOf(TsbpfError);
    expect(kprobesDisabledError()).toBeInstanceOf(NotSupportedError);
  });
});
