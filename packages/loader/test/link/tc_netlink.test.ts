/**
 * tc through netlink (clsact qdisc + cls_bpf filter), forced on this tcx-capable kernel so the legacy
 * path runs here: a veth pair whose peer sits in a namespace made by the test, real UDP traffic in
 * both directions (bash's /dev/udp in the namespace, a node dgram socket here), and `tc qdisc/filter show` (iproute2, independent of our own netlink code) to
 * check what close leaves behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { BPF_ATTACH_TYPE, BPF_PROG_TYPE, Fd, NLM_F, NLMSG_HDRLEN, NetlinkError, decodeNetlinkError, ifNameToIndex, nlAttrString, progInfo } from '../../src/sys/index.js';
import { AttachError, AttachNotSupportedError, TcFilterLink, attachProgram, attachTc, attachTcNetlink, listTcFilters, listTcQdiscs, type Link } from '../../src/link/index.js';
import { hasTcx } from '../../src/features/index.js';
import { openFdCount } from '../testdata.js';
import { Counter, counterInsns, load, until } from './progs.js';
import { VethNamespace } from './veth.js';
import { LOADER_DIST, haveDist } from '../hardening/helpers.js';
import { concatBytes } from '../../src/bytes.js';

const ready = spawnSync('ip', ['-V']).status === 0 && spawnSync('tc', ['-V']).status === 0 && spawnSync('bash', ['-c', 'true']).status === 0;
if (!ready) console.warn('skipping tc netlink tests: iproute2 (ip, tc) or bash is not installed');

// 10.150-199.x: disjoint from the veth subnets of net.test.ts (10.200-249.x) run by other processes.
const net = new VethNamespace('tsbtc', `10.${150 + (process.pid % 50)}.${process.pid % 250}`);
const HOST_IF = net.hostIf;

function run(cmd: string, ...args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** `count` UDP datagrams from the namespace to the host side (host ingress), with bash's /dev/udp. */
function udpIntoHost(count: number): void {
  run('ip', 'netns', 'exec', net.ns, 'bash', '-c', `for i in $(seq ${count}); do echo i > /dev/udp/${net.hostAddr}/9; done`);
}

/** `count` UDP datagrams from this process to the namespace side (host egress). */
async function udpOutOfHost(count: number): Promise<void> {
  const s = createSocket('udp4');
  try {
    for (let i = 0; i < count; i++) {
      await new Promise<void>((resolve, reject) => s.send('e', 9, net.peerAddr, (err) => (err ? reject(err) : resolve())));
    }
  } finally {
    s.close();
  }
}

const tcShow = (what: 'filter' | 'qdisc', ...rest: string[]): string => run('tc', what, 'show', 'dev', HOST_IF, ...rest);
const hasClsact = (): boolean => /qdisc clsact ffff:/.test(tcShow('qdisc'));

function schedCls(counter: Counter): Fd {
  return load({ progType: BPF_PROG_TYPE.SCHED_CLS, insns: counterInsns(counter, { ret: 0 /* TC_ACT_OK */ }) });
}

let fds = 0;
let owned = 0;

beforeAll(() => {
  fds = openFdCount();
  owned = Fd.openCount;
  if (ready) net.create();
});

afterAll(() => {
  net.remove();
  expect(Fd.openCount).toBe(owned);
  expect(openFdCount()).toBe(fds);
});

describe.skipIf(!ready)('tc over netlink (forced)', () => {
  it('counts ingress packets; close removes the filter and the clsact qdisc it created', async () => {
    expect(hasClsact()).toBe(false);
    using counter = new Counter();
    using prog = schedCls(counter);
    const link = attachTc(prog, HOST_IF, 'ingress', { mode: 'netlink' });
    expect(link).toBeInstanceOf(TcFilterLink);
    const tc = link as TcFilterLink;
    expect(tc.kind).toBe('tc/ingress');
    expect(tc.fd).toBeUndefined();
    expect(tc.ownsQdisc).toBe(true);
    expect(tc.ifindex).toBe(ifNameToIndex(HOST_IF));
    // iproute2's view: our qdisc, and our filter with the handle/priority the kernel echoed.
    expect(hasClsact()).toBe(true);
    const shown = tcShow('filter', 'ingress');
    const id = progInfo(prog).id;
    expect(shown).toContain(`pref ${tc.priority} bpf`);
    expect(shown).toMatch(new RegExp(`handle 0x${tc.handle.toString(16)} .*direct-action.* id ${id}`));
    expect(listTcFilters(HOST_IF, 'ingress')).toEqual([{ handle: tc.handle, priority: tc.priority, protocol: 3, kind: 'bpf', name: `prog:[${id}]`, programId: id, directAction: true }]);

    udpIntoHost(3);
    await until(() => counter.count >= 3n, 'three ingress packets to be counted');

    link.close();
    link.close(); // idempotent
    expect(tc.closed).toBe(true);
    expect(tcShow('filter', 'ingress').trim()).toBe('');
    expect(hasClsact()).toBe(false);
    expect(listTcFilters(HOST_IF, 'ingress')).toEqual([]);
    const after = counter.count;
    udpIntoHost(3);
    expect(counter.count).toBe(after);
  });

  it('counts egress packets with a given priority and handle, and refuses a duplicate with the kernel message', async () => {
    using counter = new Counter();
    using prog = schedCls(counter);
    const link = attachTcNetlink(prog, HOST_IF, 'egress', { priority: 7, handle: 42 });
    try {
      expect([link.kind, link.priority, link.handle]).toEqual(['tc/egress', 7, 42]);
      expect(tcShow('filter', 'egress')).toMatch(/pref 7 bpf chain 0 handle 0x2a .*direct-action/);
      expect(tcShow('filter', 'ingress').trim()).toBe('');
      await udpOutOfHost(3);
      await until(() => counter.count >= 3n, 'three egress packets to be counted');

      const dup = (() => {
        try {
          attachTcNetlink(prog, HOST_IF, 'egress', { priority: 7, handle: 42 });
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(dup).toBeInstanceOf(AttachError);
      expect((dup as Error).message).toMatch(/priority 7 and handle 42 already exists .*EEXIST/);
      const cause = (dup as Error).cause;
      expect(cause).toBeInstanceOf(NetlinkError);
      expect((cause as NetlinkError).errnoName).toBe('EEXIST');
      expect((cause as NetlinkError).extack).toMatch(/exists/i); // the kernel's extended ack text
    } finally {
      link.close();
    }
    // The failed duplicate gave back its share of the qdisc: the last close removed it.
    expect(tcShow('filter', 'egress').trim()).toBe('');
    expect(hasClsact()).toBe(false);
  });

  it('leaves a clsact qdisc that was already there, and one that got a foreign filter', () => {
    using counter = new Counter();
    using prog = schedCls(counter);
    run('tc', 'qdisc', 'add', 'dev', HOST_IF, 'clsact');
    try {
      const link = attachTcNetlink(prog, HOST_IF, 'ingress');
      expect(link.ownsQdisc).toBe(false);
      link.close();
      expect(tcShow('filter', 'ingress').trim()).toBe('');
      expect(hasClsact()).toBe(true);
    } finally {
      run('tc', 'qdisc', 'del', 'dev', HOST_IF, 'clsact');
    }

    // Our qdisc, but someone adds a (classic BPF) filter to the other hook: only our filter goes.
    const link = attachTcNetlink(prog, HOST_IF, 'ingress');
    expect(link.ownsQdisc).toBe(true);
    try {
      run('tc', 'filter', 'add', 'dev', HOST_IF, 'egress', 'prio', '100', 'protocol', 'all', 'bpf', 'bytecode', '1,6 0 0 0,');
      expect(listTcFilters(HOST_IF, 'egress')).toMatchObject([{ priority: 100, kind: 'bpf', directAction: false }]);
      link.close();
      expect(tcShow('filter', 'ingress').trim()).toBe('');
      expect(tcShow('filter', 'egress')).toContain('pref 100 bpf');
      expect(hasClsact()).toBe(true);
    } finally {
      link.close();
      spawnSync('tc', ['qdisc', 'del', 'dev', HOST_IF, 'clsact'], { stdio: 'ignore' });
    }
  });

  it('shares a qdisc it created between its links; the last close removes it', () => {
    using counter = new Counter();
    using prog = schedCls(counter);
    using ingress = attachTcNetlink(prog, HOST_IF, 'ingress');
    const egress = attachTcNetlink(prog, HOST_IF, 'egress');
    expect([ingress.ownsQdisc, egress.ownsQdisc]).toEqual([true, true]);
    egress.close();
    expect(tcShow('filter', 'egress').trim()).toBe('');
    expect(hasClsact()).toBe(true);
    expect(listTcFilters(HOST_IF, 'ingress')).toHaveLength(1);
    ingress.close();
    expect(hasClsact()).toBe(false);
  });

  it('tolerates a filter or qdisc removed behind its back', () => {
    using counter = new Counter();
    using prog = schedCls(counter);
    const a = attachTcNetlink(prog, HOST_IF, 'ingress');
    run('tc', 'qdisc', 'del', 'dev', HOST_IF, 'clsact');
    a.close();
    const b = attachTcNetlink(prog, HOST_IF, 'ingress');
    run('tc', 'filter', 'del', 'dev', HOST_IF, 'ingress');
    b.close();
    expect(hasClsact()).toBe(false);
  });

  it('explains failures with typed errors', () => {
    using counter = new Counter();
    using prog = schedCls(counter);
    using xdp = load({ progType: BPF_PROG_TYPE.XDP, insns: counterInsns(counter, { ret: 2 }) });
    // An interface index nobody has: the kernel's ENODEV, named.
    const badIndex = (() => {
      try {
        attachTcNetlink(prog, 999_999, 'ingress');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(badIndex).toBeInstanceOf(AttachError);
    expect((badIndex as Error).message).toMatch(/network interface index 999999 does not exist \(ENODEV\)/);
    expect(((badIndex as Error).cause as NetlinkError).errnoName).toBe('ENODEV');
    expect(() => attachTcNetlink(prog, 'tsbnosuch0', 'ingress')).toThrow(/network interface tsbnosuch0 does not exist/);
    // The wrong program type, refused before anything is created.
    expect(() => attachTcNetlink(xdp, HOST_IF, 'egress')).toThrow(AttachError);
    expect(() => attachTcNetlink(xdp, HOST_IF, 'egress')).toThrow(/BPF_PROG_TYPE_XDP; a tc classifier must be BPF_PROG_TYPE_SCHED_CLS/);
    expect(() => attachTc(xdp, HOST_IF, 'egress', { mode: hasTcx() ? 'tcx' : 'netlink' })).toThrow(/BPF_PROG_TYPE_XDP; a tc .* must be BPF_PROG_TYPE_SCHED_CLS/);
    expect(hasClsact()).toBe(false);
    expect(() => attachTcNetlink(prog, HOST_IF, 'ingress', { priority: 0x10000 })).toThrow(/priority 65536 is out of range/);
    expect(() => attachTc(prog, HOST_IF, 'ingress', { mode: 'tcx', priority: 3 })).toThrow(/tcx links are ordered with before\/after/);
    expect(() => attachTc(prog, HOST_IF, 'ingress', { mode: 'netlink', before: prog })).toThrow(AttachNotSupportedError);
    using link: Link = attachTcNetlink(prog, HOST_IF, 'ingress');
    expect(() => link.pin('/sys/fs/bpf/tsbpf-never')).toThrow(AttachNotSupportedError);
  });
});

describe.skipIf(!ready)('tc over netlink in a process that exits', () => {
  it.skipIf(!haveDist())('removes the filters left open when the process exits', () => {
    using counter = new Counter();
    using prog = schedCls(counter);
    const script = `const lib = await import(${JSON.stringify(LOADER_DIST)});
const prog = new lib.Fd(3, 'inherited program');
const link = lib.attachTcNetlink(prog, ${JSON.stringify(HOST_IF)}, 'egress');
console.log(JSON.stringify({ handle: link.handle, filters: lib.listTcFilters(${JSON.stringify(HOST_IF)}, 'egress').length }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe', prog.raw] });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ filters: 1 });
    expect(tcShow('filter', 'egress').trim()).toBe('');
    expect(hasClsact()).toBe(false);
  });
});

const setpriv = spawnSync('setpriv', ['--version']).status === 0;
if (!setpriv) console.warn('skipping the CAP_NET_ADMIN test: setpriv (util-linux) is not installed');

describe.skipIf(!ready || !setpriv || process.getuid?.() !== 0)('tc over netlink without CAP_NET_ADMIN', () => {
  it.skipIf(!haveDist())('names the missing capability', () => {
    using counter = new Counter();
    using prog = schedCls(counter);
    // The child gets the program as fd 3 (loading SCHED_CLS needs CAP_NET_ADMIN itself) and attaches it.
    const script = `const lib = await import(${JSON.stringify(LOADER_DIST)});
const prog = new lib.Fd(3, 'inherited program');
try {
  lib.attachTcNetlink(prog, ${JSON.stringify(HOST_IF)}, 'ingress').close();
  console.log(JSON.stringify({ attached: true }));
} catch (e) {
  console.log(JSON.stringify({ attached: false, typed: e instanceof lib.AttachError, errno: e.cause?.errnoName, message: e.message }));
} finally {
  prog.close();
}`;
    const drop = ['--inh-caps=-net_admin', '--ambient-caps=-net_admin', '--bounding-set=-net_admin', '--'];
    const r = spawnSync('setpriv', [...drop, process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe', prog.raw] });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ attached: false, typed: true, errno: 'EPERM' });
    expect(JSON.parse(r.stdout).message).toMatch(/adding the clsact qdisc: EPERM: needs CAP_NET_ADMIN/);
    expect(hasClsact()).toBe(false);
  });
});

describe.skipIf(!ready)('tc entry point and auto-attach', () => {
  const section = (prog: Fd, sectionName: string, expectedAttachType = 0) => ({ fd: prog, type: BPF_PROG_TYPE.SCHED_CLS, expectedAttachType, sectionName });

  it('picks tcx where the kernel has it and netlink otherwise', () => {
    using counter = new Counter();
    using prog = schedCls(counter);
    using link = attachTc(prog, HOST_IF, 'ingress');
    const tcx = hasTcx();
    if (!tcx) console.warn('this kernel has no tcx: attachTc used netlink');
    expect(link.kind).toBe(tcx ? 'tcx/ingress' : 'tc/ingress');
    expect(link.fd !== undefined).toBe(tcx);
  });

  it.each([
    ['tc/ingress', {}, 'tc/ingress'],
    ['tc/egress', {}, 'tc/egress'],
    ['tcx/egress', {}, 'tc/egress'],
    ['classifier', { tcDirection: 'egress' as const }, 'tc/egress'],
    ['tc', {}, 'tc/ingress'],
  ])('auto-attaches section %s through netlink when told to', (sectionName, extra, kind) => {
    using counter = new Counter();
    using prog = schedCls(counter);
    const link: Link = attachProgram(section(prog, sectionName), { interface: HOST_IF, tcMode: 'netlink', tcPriority: 3, ...extra });
    try {
      expect(link.kind).toBe(kind);
      const hook = kind.endsWith('egress') ? 'egress' : 'ingress';
      expect(tcShow('filter', hook)).toMatch(new RegExp(`pref 3 bpf .*direct-action.* id ${progInfo(prog).id}`, 's'));
      expect(tcShow('filter', hook === 'egress' ? 'ingress' : 'egress').trim()).toBe('');
    } finally {
      link.close();
    }
    expect(hasClsact()).toBe(false);
  });

  it('takes the hook of a bare tc section from the expected attach type and rejects unknown hooks', () => {
    using counter = new Counter();
    using prog = schedCls(counter);
    using link = attachProgram(section(prog, 'tc', BPF_ATTACH_TYPE.TCX_EGRESS), { interface: HOST_IF, tcMode: 'netlink' });
    expect(link.kind).toBe('tc/egress');
    expect(() => attachProgram(section(prog, 'tc/sideways'), { interface: HOST_IF })).toThrow(/unknown tc hook "sideways"/);
    expect(() => attachProgram(section(prog, 'tc/ingress'))).toThrow(/tc needs options.interface/);
  });
});

describe('netlink error decoding', () => {
  /** An NLMSG_ERROR payload as the kernel writes it with NETLINK_CAP_ACK and NETLINK_EXT_ACK. */
  function errorPayload(errno: number, capped: boolean, message?: string): Uint8Array {
    const request = concatBytes([new Uint8Array(NLMSG_HDRLEN), new Uint8Array(20)]);
    new DataView(request.buffer).setUint32(0, request.byteLength, true);
    const head = new Uint8Array(4);
    new DataView(head.buffer).setInt32(0, -errno, true);
    return concatBytes([head, capped ? request.subarray(0, NLMSG_HDRLEN) : request, ...(message ? [nlAttrString(1, message)] : [])]);
  }

  it('reads the errno and the extended ack text after a capped or full echo of the request', () => {
    for (const capped of [true, false]) {
      const err = decodeNetlinkError(errorPayload(17, capped, 'Filter already exists'), (capped ? NLM_F.CAPPED : 0) | NLM_F.ACK_TLVS, 'RTM_NEWTFILTER', true);
      expect(err).toBeInstanceOf(NetlinkError);
      expect([err?.errnoName, err?.extack, err?.message]).toEqual(['EEXIST', 'Filter already exists', 'netlink RTM_NEWTFILTER failed: EEXIST: Filter already exists']);
    }
    expect(decodeNetlinkError(errorPayload(0, true), NLM_F.CAPPED, 'RTM_NEWQDISC', true)).toBeUndefined();
    const plain = decodeNetlinkError(errorPayload(1, true), NLM_F.CAPPED, 'RTM_NEWQDISC', true);
    expect(plain?.message).toMatch(/EPERM: .*CAP_NET_ADMIN/);
    // NLMSG_DONE of a failed dump: the error, then the attributes, no echoed request.
    const done = concatBytes([errorPayload(22, true).subarray(0, 4), nlAttrString(1, 'bad dump')]);
    expect(decodeNetlinkError(done, NLM_F.ACK_TLVS, 'RTM_GETTFILTER', false)?.extack).toBe('bad dump');
  });
});
