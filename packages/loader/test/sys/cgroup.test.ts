import { existsSync, mkdirSync, openSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { asm } from '../../src/asm/index.js';
import { assemble } from '../../src/asm/instruction.js';
import {
  BPF_ATTACH_TYPE,
  BPF_F_ALLOW_MULTI,
  BPF_LINK_TYPE,
  BPF_PROG_TYPE,
  Fd,
  linkCreate,
  linkDetach,
  linkInfo,
  linkUpdate,
  progAttach,
  progDetach,
  progInfo,
  progLoad,
  progQuery,
} from '../../src/sys/index.js';

// cgroup v2 mount: /sys/fs/cgroup itself on unified hosts, /sys/fs/cgroup/unified on hybrid ones.
const root = ['/sys/fs/cgroup/unified', '/sys/fs/cgroup'].find((p) => existsSync(`${p}/cgroup.procs`) && existsSync(`${p}/cgroup.controllers`));
if (!root) console.warn('sys/cgroup.test: no cgroup v2 mount found; cgroup attach tests skipped');

const open: Fd[] = [];
const track = (fd: Fd): Fd => {
  open.push(fd);
  return fd;
};
afterEach(() => {
  for (const fd of open.splice(0).reverse()) fd.close();
});

function skbProgram(ret: number, name: string): Fd {
  return progLoad({
    progType: BPF_PROG_TYPE.CGROUP_SKB,
    insns: assemble([asm.movImm(0, ret), asm.exit()]).bytes,
    license: 'GPL',
    progName: name,
    expectedAttachType: BPF_ATTACH_TYPE.CGROUP_INET_EGRESS,
  });
}

describe.skipIf(!root)('cgroup attachment', () => {
  const dir = `${root}/tsbpf-sys-test-${process.pid}`;
  let cg: Fd;
  beforeAll(() => {
    mkdirSync(dir, { recursive: true });
    cg = new Fd(openSync(dir, 'r'), `cgroup ${dir}`);
  });
  afterAll(() => {
    cg.close();
    rmdirSync(dir);
  });

  it('attaches, queries and detaches with PROG_ATTACH / PROG_DETACH', () => {
    const a = track(skbProgram(1, 'allow_a'));
    const b = track(skbProgram(1, 'allow_b'));
    const type = BPF_ATTACH_TYPE.CGROUP_INET_EGRESS;
    expect(progQuery({ targetFd: cg, attachType: type }).progIds).toEqual([]);
    progAttach({ targetFd: cg, attachBpfFd: a, attachType: type, attachFlags: BPF_F_ALLOW_MULTI });
    progAttach({ targetFd: cg, attachBpfFd: b, attachType: type, attachFlags: BPF_F_ALLOW_MULTI });
    const q = progQuery({ targetFd: cg, attachType: type });
    expect(q.attachFlags).toBe(BPF_F_ALLOW_MULTI);
    expect(q.progIds).toEqual([progInfo(a).id, progInfo(b).id]);
    expect(q.count).toBe(2);
    const small = progQuery({ targetFd: cg, attachType: type, capacity: 1 });
    expect(small.count).toBe(2);
    expect(small.progIds).toEqual([progInfo(a).id]);
    progDetach({ targetFd: cg, attachBpfFd: a, attachType: type });
    expect(progQuery({ targetFd: cg, attachType: type }).progIds).toEqual([progInfo(b).id]);
    progDetach({ targetFd: cg, attachBpfFd: b, attachType: type });
    expect(progQuery({ targetFd: cg, attachType: type }).progIds).toEqual([]);
    expect(() => progDetach({ targetFd: cg, attachBpfFd: b, attachType: type })).toThrow(expect.objectContaining({ errnoName: 'ENOENT' }));
  });

  it('creates, describes, updates and detaches a cgroup link', () => {
    const a = track(skbProgram(1, 'link_a'));
    const b = track(skbProgram(1, 'link_b'));
    const type = BPF_ATTACH_TYPE.CGROUP_INET_EGRESS;
    const link = track(linkCreate({ progFd: a, targetFd: cg, attachType: type }));
    const info = linkInfo(link);
    expect(info.type).toBe(BPF_LINK_TYPE.CGROUP);
    expect(info.attachType).toBe(type);
    expect(info.attachTypeName).toBe('BPF_CGROUP_INET_EGRESS');
    expect(info.progId).toBe(progInfo(a).id);
    // The cgroup id is the inode number of the cgroup directory.
    expect(info.cgroupId).toBe(statSync(dir, { bigint: true }).ino);
    expect(progQuery({ targetFd: cg, attachType: type }).progIds).toEqual([progInfo(a).id]);

    linkUpdate(link, b);
    expect(linkInfo(link).progId).toBe(progInfo(b).id);
    expect(progQuery({ targetFd: cg, attachType: type }).progIds).toEqual([progInfo(b).id]);

    linkDetach(link);
    expect(progQuery({ targetFd: cg, attachType: type }).progIds).toEqual([]);
    expect(readFileSync(`${dir}/cgroup.procs`, 'utf8')).toBe('');
  });
});
