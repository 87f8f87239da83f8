import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asm } from '../../src/asm/index.js';
import { assemble } from '../../src/asm/instruction.js';
import {
  BPF_FD_TYPE,
  BPF_FUNC,
  BPF_LINK_TYPE,
  BPF_PROG_TYPE,
  Fd,
  SyscallError,
  btfGetFdById,
  btfGetNextId,
  btfInfo,
  btfLoad,
  btfLoadWithLog,
  linkGetFdById,
  linkGetNextId,
  linkInfo,
  mapInfo,
  mapLookupElem,
  mapUpdateElem,
  objGet,
  objPin,
  progGetFdById,
  progGetNextId,
  progInfo,
  progLoad,
  progLoadWithLog,
  progTestRun,
  rawTracepointOpen,
  taskFdQuery,
} from '../../src/sys/index.js';
import { arrayMap, packet, readU64, returnProgram, u32, u64, closeAfterEach } from './helpers.js';
import { kernelVersionCode } from '../../src/kconfig/kconfig.js';

const track = closeAfterEach();

/** `r0 = map[0]` (0 when missing) as a socket filter, exercising ld_imm64 map fds and a helper call. */
function mapReader(mapFd: Fd): Fd {
  const insns = assemble([
    asm.stMem(4, 10, -4, 0),
    asm.movReg(2, 10),
    asm.addImm(2, -4),
    ...asm.ldMapFd(1, mapFd.raw),
    asm.callHelper(BPF_FUNC.map_lookup_elem),
    asm.jeqImm(0, 0, 2),
    asm.ldxMem(8, 0, 0, 0),
    asm.exit(),
    asm.movImm(0, 0),
    asm.exit(),
  ]);
  return progLoad({ progType: BPF_PROG_TYPE.SOCKET_FILTER, insns: insns.bytes, license: 'GPL', progName: 'map_reader' });
}

/** A tiny BTF blob: one `int` (signed, 32 bits). */
function tinyBtf(bits = 32): Uint8Array {
  const strings = new TextEncoder().encode('\0int\0');
  const types = new Uint8Array(16);
  const t = new DataView(types.buffer);
  t.setUint32(0, 1, true); // name_off -> "int"
  t.setUint32(4, 1 << 24, true); // kind INT, vlen 0
  t.setUint32(8, 4, true); // size
  t.setUint32(12, (1 << 24) | bits, true); // BTF_INT_SIGNED, offset 0, bits
  const out = new Uint8Array(24 + types.length + strings.length);
  const h = new DataView(out.buffer);
  h.setUint16(0, 0xeb9f, true);
  h.setUint8(2, 1);
  h.setUint32(4, 24, true);
  h.setUint32(8, 0, true);
  h.setUint32(12, types.length, true);
  h.setUint32(16, types.length, true);
  h.setUint32(20, strings.length, true);
  out.set(types, 24);
  out.set(strings, 24 + types.length);
  return out;
}

/** KERNEL_VERSION(6, 4, 0). */
const KERNEL_6_4 = (6 << 16) | (4 << 8);

describe('PROG_LOAD and PROG_TEST_RUN', () => {
  it('runs a constant program and returns its r0', () => {
    const p = track(returnProgram(42));
    const r = progTestRun({ progFd: p, dataIn: packet, repeat: 3 });
    expect(r.retval).toBe(42);
    const p2 = track(returnProgram(7));
    expect(progTestRun({ progFd: p2, dataIn: packet }).retval).toBe(7);
  });

  it('runs a program that reads a map through a helper', () => {
    const m = track(arrayMap(1, 'prog_map'));
    const p = track(mapReader(m));
    expect(progTestRun({ progFd: p, dataIn: packet }).retval).toBe(0);
    mapUpdateElem(m, u32(0), u64(1234));
    expect(progTestRun({ progFd: p, dataIn: packet }).retval).toBe(1234);
    // The program's info lists the map.
    const info = progInfo(p);
    expect(info.mapIds).toEqual([mapInfo(m).id]);
    expect(info).toMatchObject({ type: BPF_PROG_TYPE.SOCKET_FILTER, typeName: 'BPF_PROG_TYPE_SOCKET_FILTER', name: 'map_reader', gplCompatible: true });
    expect(info.tag).toMatch(/^[0-9a-f]{16}$/);
    expect(info.xlatedProgLen).toBeGreaterThan(0);
  });

  it('keeps the verifier log of a rejected program', () => {
    // `exit` with r0 never written.
    const insns = assemble([asm.exit()]).bytes;
    const logBuf = new Uint8Array(4096);
    try {
      progLoad({ progType: BPF_PROG_TYPE.SOCKET_FILTER, insns, license: 'GPL', logBuf, logLevel: 1 });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(SyscallError);
      const err = e as SyscallError;
      expect(err.errnoName).toBe('EACCES');
      expect(err.log).toMatch(/R0 !read_ok/);
      expect(err.message).toMatch(/R0 !read_ok/);
    }
  });

  it('progLoadWithLog retries with a log, growing the buffer, and throws the complete log', () => {
    // A long straight-line program so the log at level 2 overflows the smallest buffer.
    const body = Array.from({ length: 200 }, (_, i) => asm.movImm(1, i));
    const insns = assemble([...body, asm.exit()]).bytes;
    try {
      progLoadWithLog({ progType: BPF_PROG_TYPE.SOCKET_FILTER, insns, license: 'GPL', logLevel: 2 }, { initialLogSize: 256, maxLogSize: 1 << 20 });
      expect.unreachable();
    } catch (e) {
      const err = e as SyscallError;
      expect(err.errnoName).toBe('EACCES');
      expect(err.log?.length ?? 0).toBeGreaterThan(256);
      expect(err.log).toMatch(/R0 !read_ok/);
      expect(err.context).not.toMatch(/truncated/);
    }
    // Without a log level the first attempt runs without a log; the retry at level 1 fetches it.
    try {
      progLoadWithLog({ progType: BPF_PROG_TYPE.SOCKET_FILTER, insns: assemble([asm.exit()]).bytes, license: 'GPL' });
      expect.unreachable();
    } catch (e) {
      expect((e as SyscallError).log).toMatch(/R0 !read_ok/);
    }
    // Without a log request the first attempt succeeds and no log is kept.
    const ok = progLoadWithLog({ progType: BPF_PROG_TYPE.SOCKET_FILTER, insns: assemble([asm.movImm(0, 1), asm.exit()]).bytes, license: 'GPL' });
    track(ok.fd);
    expect(ok.log).toBeUndefined();
  });

  it('reports a truncated log when the maximum is too small: its tail, with the verdict, without another verification', () => {
    const body = Array.from({ length: 300 }, (_, i) => asm.movImm(1, i));
    const insns = assemble([...body, asm.exit()]).bytes;
    let err: SyscallError | undefined;
    try {
      progLoadWithLog({ progType: BPF_PROG_TYPE.SOCKET_FILTER, insns, license: 'GPL', logLevel: 2 }, { initialLogSize: 128, maxLogSize: 512 });
    } catch (e) {
      err = e as SyscallError;
    }
    expect(err).toBeInstanceOf(SyscallError);
    // log_true_size and the rotating log arrived together in 6.4 (no probe tells them apart).
    const rotating = kernelVersionCode() >= KERNEL_6_4;
    if (rotating) {
      // The kernel says how long the whole log is and keeps its end in the first, 128-byte
      // buffer: the log is reported from there, not from a second verification into 512 bytes.
      expect(err?.context).toMatch(/the log is \d+ bytes, over the 512-byte limit: its last 128 bytes are kept/);
      expect(err?.log).toMatch(/R0 !read_ok/);
      expect(err?.log?.length ?? 0).toBeLessThan(128);
    } else {
      expect(err?.context).toMatch(/log truncated at 512 bytes/);
    }
    // Asked for no log, the load first runs without one: its errno is the verdict, not the ENOSPC
    // of the logged retry whose log overflowed.
    let verdict: SyscallError | undefined;
    try {
      progLoadWithLog({ progType: BPF_PROG_TYPE.SOCKET_FILTER, insns, license: 'GPL' }, { initialLogSize: 128, maxLogSize: 512, retryLogLevel: 2 });
    } catch (e) {
      verdict = e as SyscallError;
    }
    expect(verdict?.errnoName).toBe('EACCES');
    if (rotating) {
      expect(verdict?.context).toMatch(/over the 512-byte limit/);
      expect(verdict?.log).toMatch(/R0 !read_ok/);
    }
  });

  it('refuses malformed instruction buffers before calling the kernel', () => {
    expect(() => progLoad({ progType: BPF_PROG_TYPE.SOCKET_FILTER, insns: new Uint8Array(12), license: 'GPL' })).toThrow(
      expect.objectContaining({ code: 'BPF_ATTR_INSNS' }),
    );
  });

  it('reopens a program by id', () => {
    const p = track(returnProgram(3));
    const id = progInfo(p).id;
    let cur: number | undefined = 0;
    let seen = false;
    while ((cur = progGetNextId(cur)) !== undefined) if (cur === id) seen = true;
    expect(seen).toBe(true);
    const again = track(progGetFdById(id));
    expect(progTestRun({ progFd: again, dataIn: packet }).retval).toBe(3);
  });
});

describe('BTF_LOAD', () => {
  it('loads a one-type BTF blob and reads its info', () => {
    const btf = track(btfLoad({ btf: tinyBtf() }));
    const info = btfInfo(btf);
    expect(info.id).toBeGreaterThan(0);
    expect(info.btfSize).toBe(tinyBtf().byteLength);
    expect(info.kernelBtf).toBe(false);
    let cur: number | undefined = 0;
    let seen = false;
    while ((cur = btfGetNextId(cur)) !== undefined) if (cur === info.id) seen = true;
    expect(seen).toBe(true);
    const again = track(btfGetFdById(info.id));
    expect(btfInfo(again).id).toBe(info.id);
  });

  it('reads vmlinux BTF info by id 1', () => {
    const vmlinux = track(btfGetFdById(1));
    const info = btfInfo(vmlinux);
    expect(info.name).toBe('vmlinux');
    expect(info.kernelBtf).toBe(true);
  });

  it('explains a rejected blob with the BTF log', () => {
    // An int of 64 bits in 4 bytes is invalid.
    try {
      btfLoadWithLog({ btf: tinyBtf(64) });
      expect.unreachable();
    } catch (e) {
      const err = e as SyscallError;
      expect(err).toBeInstanceOf(SyscallError);
      expect(err.errnoName).toBe('EINVAL');
      expect(err.syscall).toBe('bpf(BPF_BTF_LOAD)');
      expect(err.log).toMatch(/nr_bits/);
    }
  });
});

describe('pinning', () => {
  const dir = `/sys/fs/bpf/tsbpf-sys-test-${process.pid}`;
  // Not recursive: Node's recursive mkdir never returns on sysfs (an unmounted /sys/fs/bpf).
  beforeAll(() => mkdirSync(dir));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('pins a map and gets it back', () => {
    const m = track(arrayMap(2, 'pinned'));
    mapUpdateElem(m, u32(1), u64(99));
    objPin(m, `${dir}/map`);
    const again = track(objGet(`${dir}/map`));
    const v = new Uint8Array(8);
    expect(mapLookupElem(again, u32(1), v)).toBe(true);
    expect(readU64(v)).toBe(99n);
    expect(mapInfo(again).id).toBe(mapInfo(m).id);
    expect(() => objPin(m, `${dir}/map`)).toThrow(expect.objectContaining({ errnoName: 'EEXIST' }));
    expect(() => objGet(`${dir}/missing`)).toThrow(expect.objectContaining({ errnoName: 'ENOENT' }));
  });

  it('outside a bpffs, the error says so and how to mount one', () => {
    const m = track(arrayMap(2, 'nofs'));
    const plain = mkdtempSync(join(tmpdir(), 'tsbpf-not-bpffs-'));
    try {
      const hint = `${plain} is not on a BPF filesystem (bpffs); mount one there with: mount -t bpf bpf ${plain}`;
      expect(() => objPin(m, `${plain}/map`)).toThrow(hint);
      writeFileSync(`${plain}/file`, '');
      expect(() => objGet(`${plain}/file`)).toThrow(hint);
      // On a bpffs the kernel's own answer stands alone.
      expect(() => objGet(`${dir}/missing`)).toThrow(expect.not.objectContaining({ message: expect.stringContaining('not on a BPF filesystem') }));
    } finally {
      rmSync(plain, { recursive: true, force: true });
    }
  });

  it('pins a program and gets it back', () => {
    const p = track(returnProgram(11));
    objPin(p, `${dir}/prog`);
    const again = track(objGet(`${dir}/prog`));
    expect(progTestRun({ progFd: again, dataIn: packet }).retval).toBe(11);
  });
});

describe('links', () => {
  function rawTpProgram(): Fd {
    return progLoad({
      progType: BPF_PROG_TYPE.RAW_TRACEPOINT,
      insns: assemble([asm.movImm(0, 0), asm.exit()]).bytes,
      license: 'GPL',
      progName: 'raw_tp',
    });
  }

  it('opens a raw tracepoint and describes the link', () => {
    const p = track(rawTpProgram());
    const link = track(rawTracepointOpen('sys_enter', p));
    const info = linkInfo(link);
    expect(info.type).toBe(BPF_LINK_TYPE.RAW_TRACEPOINT);
    expect(info.typeName).toBe('BPF_LINK_TYPE_RAW_TRACEPOINT');
    expect(info.name).toBe('sys_enter');
    expect(info.progId).toBe(progInfo(p).id);
    let cur: number | undefined = 0;
    let seen = false;
    while ((cur = linkGetNextId(cur)) !== undefined) if (cur === info.id) seen = true;
    expect(seen).toBe(true);
    const again = track(linkGetFdById(info.id));
    expect(linkInfo(again).id).toBe(info.id);
    expect(taskFdQuery(process.pid, link.raw)).toMatchObject({ fdType: BPF_FD_TYPE.RAW_TRACEPOINT, name: 'sys_enter', progId: info.progId });
    expect(() => rawTracepointOpen('no_such_tracepoint_tsbpf', p)).toThrow(expect.objectContaining({ errnoName: 'ENOENT' }));
  });
});
