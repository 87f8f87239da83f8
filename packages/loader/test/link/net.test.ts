/**
 * XDP, tcx and cgroup attach on real interfaces: a veth pair whose peer sits in a network namespace
 * created by the test, and a cgroup v2 directory created by the test. Traffic comes from `ping` and a
 * Python child inside the namespace / cgroup.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { BPF_ATTACH_TYPE, BPF_PROG_TYPE, Fd, ifNameToIndex, linkInfo } from '../../src/sys/index.js';
import { attachCgroup, attachProgram, attachTcx, attachXdp, cgroupDefault, type Link } from '../../src/link/index.js';
import { hasBpfLink, hasTcx } from '../../src/features/index.js';
import { openFdCount } from '../testdata.js';
import { Child, Counter, PYTHON, allLinkIds, counterInsns, havePython, load, until } from './progs.js';
import { VethNamespace } from './veth.js';

const haveIp = spawnSync('ip', ['-V']).status === 0;
if (!haveIp) console.warn('skipping XDP/tcx tests: iproute2 (ip) is not installed');
else if (!havePython) console.warn('skipping XDP/tcx tests: python3 is not installed');
const havePing = havePython;

const net = new VethNamespace('tsbpf', `10.${200 + (process.pid % 50)}.${process.pid % 250}`);
const NS = net.ns;
const HOST_IF = net.hostIf;

/** Sends `count` UDP datagrams from the namespace to the host side; returns when they are sent. */
function pingFromNamespace(count: number): void {
  const code = `import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nfor i in range(${count}): s.sendto(b'x', ('${net.hostAddr}', 9))`;
  const r = spawnSync('ip', ['netns', 'exec', NS, PYTHON, '-c', code], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`sending from namespace ${NS} failed: ${r.stderr.toString()}`);
}

let fds = 0;
let owned = 0;

beforeAll(() => {
  fds = openFdCount();
  owned = Fd.openCount;
  if (haveIp && havePing) net.create();
});

afterAll(() => {
  net.remove();
  expect(Fd.openCount).toBe(owned);
  expect(openFdCount()).toBe(fds);
});

async function closeAndCheckGone(link: Link): Promise<void> {
  const id = link.fd ? linkInfo(link.fd).id : undefined;
  link.close();
  if (id !== undefined) await until(() => !allLinkIds().includes(id), `link ${id} to disappear`);
}

if (!hasBpfLink()) console.warn('skipping XDP link tests: no BPF_LINK_CREATE');
describe.skipIf(!haveIp || !havePing || !hasBpfLink())('XDP', () => {
  it('counts packets arriving on the host side of a veth pair', async () => {
    using counter = new Counter();
    using prog = load({ progType: BPF_PROG_TYPE.XDP, insns: counterInsns(counter, { ret: 2 /* XDP_PASS */ }) });
    const link = attachXdp(prog, HOST_IF);
    expect(link.kind).toBe('xdp');
    expect(link.info().ifindex).toBe(ifNameToIndex(HOST_IF));
    pingFromNamespace(3);
    expect(counter.count).toBeGreaterThanOrEqual(3n);
    // A second XDP link on the same interface is refused with a clear message.
    expect(() => attachXdp(prog, HOST_IF)).toThrow(/XDP on .*: another XDP program is already attached|EBUSY|EEXIST/);
    await closeAndCheckGone(link);
    const after = counter.count;
    pingFromNamespace(2);
    expect(counter.count).toBe(after);
  });

  it('auto-attaches an xdp section to options.interface and names a missing interface', () => {
    using counter = new Counter();
    using prog = load({ progType: BPF_PROG_TYPE.XDP, insns: counterInsns(counter, { ret: 2 }) });
    using link = attachProgram({ fd: prog, type: BPF_PROG_TYPE.XDP, expectedAttachType: BPF_ATTACH_TYPE.XDP, sectionName: 'xdp' }, { interface: HOST_IF });
    expect(link.kind).toBe('xdp');
    expect(() => attachXdp(prog, 'nosuchif0')).toThrow(/network interface nosuchif0 does not exist/);
    expect(() => attachProgram({ fd: prog, type: BPF_PROG_TYPE.XDP, expectedAttachType: BPF_ATTACH_TYPE.XDP, sectionName: 'xdp' })).toThrow(/XDP needs options.interface/);
  });
});

describe.skipIf(!haveIp || !havePing)('tcx', () => {
  const tcx = hasTcx();
  if (!tcx) console.warn('skipping tcx attach: the kernel has no tcx links (6.6+)');
  it.runIf(tcx)('counts ingress packets with a tcx link', async () => {
    using counter = new Counter();
    using prog = load({ progType: BPF_PROG_TYPE.SCHED_CLS, expectedAttachType: BPF_ATTACH_TYPE.TCX_INGRESS, insns: counterInsns(counter, { ret: -1 /* TCX_NEXT */ }) });
    const link = attachTcx(prog, HOST_IF, 'ingress');
    expect(link.kind).toBe('tcx/ingress');
    pingFromNamespace(3);
    expect(counter.count).toBeGreaterThanOrEqual(3n);
    await closeAndCheckGone(link);
    const after = counter.count;
    pingFromNamespace(2);
    expect(counter.count).toBe(after);
  });
});

describe('cgroup', () => {
  let root: string | undefined;
  try {
    root = cgroupDefault();
  } catch {
    root = undefined;
  }
  if (!root) console.warn('skipping cgroup tests: no cgroup2 mount');
  it.runIf(root !== undefined && havePython).each(hasBpfLink() ? (['link', 'attach'] as const) : (['attach'] as const))('counts egress packets of a process moved into a test cgroup (%s)', async (mode) => {
    const dir = `${root}/tsbpf-test-${process.pid}-${mode}`;
    mkdirSync(dir, { recursive: true });
    const N = 10;
    const child = new Child(`import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nfor i in range(${N}): s.sendto(b'x', ('127.0.0.1', 9))`);
    try {
      using counter = new Counter();
      using prog = load({ progType: BPF_PROG_TYPE.CGROUP_SKB, expectedAttachType: BPF_ATTACH_TYPE.CGROUP_INET_EGRESS, insns: counterInsns(counter, { ret: 1 }) });
      const link = attachCgroup(prog, dir, BPF_ATTACH_TYPE.CGROUP_INET_EGRESS, { mode });
      expect(link.kind).toBe('cgroup/inet_egress');
      if (mode === 'link') expect(link.fd ? linkInfo(link.fd).typeName : '').toMatch(/CGROUP/);
      else expect(link.fd).toBeUndefined();
      writeFileSync(`${dir}/cgroup.procs`, String(await child.pid));
      expect(await child.run()).toBe(0);
      expect(counter.count).toBeGreaterThanOrEqual(BigInt(N));
      await closeAndCheckGone(link);
      // Detached: the same traffic is no longer counted.
      const after = counter.count;
      const again = new Child(`import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nfor i in range(${N}): s.sendto(b'x', ('127.0.0.1', 9))`);
      writeFileSync(`${dir}/cgroup.procs`, String(await again.pid));
      expect(await again.run()).toBe(0);
      expect(counter.count).toBe(after);
    } finally {
      child.kill();
      await until(() => !existsSync(dir) || readFileSync(`${dir}/cgroup.procs`, 'latin1').trim() === '', 'the test cgroup to empty');
      rmdirSync(dir);
    }
  });

  it('names a cgroup that cannot be opened', () => {
    using counter = new Counter();
    using prog = load({ progType: BPF_PROG_TYPE.CGROUP_SKB, expectedAttachType: BPF_ATTACH_TYPE.CGROUP_INET_EGRESS, insns: counterInsns(counter, { ret: 1 }) });
    expect(() => attachCgroup(prog, '/no/such/cgroup', BPF_ATTACH_TYPE.CGROUP_INET_EGRESS)).toThrow(/cannot open cgroup \/no\/such\/cgroup/);
  });
});
