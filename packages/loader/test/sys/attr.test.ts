import { describe, expect, it } from 'vitest';
import {
  AttrWriter,
  BPF_ATTACH_TYPE,
  BPF_MAP_TYPE,
  BPF_PROG_TYPE,
  addressOf,
  encodeLinkCreate,
  encodeMapBatch,
  encodeMapCreate,
  encodeProgLoad,
  encodeProgTestRun,
} from '../../src/sys/index.js';

const u32At = (w: AttrWriter, off: number): number => w.view.getUint32(off, true);
const u64At = (w: AttrWriter, off: number): bigint => w.view.getBigUint64(off, true);

describe('bpf_attr encoders', () => {
  it('MAP_CREATE: base fields, name at 28, map_extra at 64; size ends at the last field set', () => {
    const base = encodeMapCreate({ mapType: BPF_MAP_TYPE.ARRAY, keySize: 4, valueSize: 8, maxEntries: 3 });
    expect([u32At(base, 0), u32At(base, 4), u32At(base, 8), u32At(base, 12)]).toEqual([2, 4, 8, 3]);
    expect(base.size).toBe(16);
    const named = encodeMapCreate({ mapType: 1, keySize: 4, valueSize: 8, maxEntries: 3, mapName: 'abcdefghijklmnopqrst', btfFd: 9, btfValueTypeId: 5 });
    expect(new TextDecoder().decode(named.bytes.subarray(28, 43))).toBe('abcdefghijklmno');
    expect(named.bytes[43]).toBe(0); // 15 characters + NUL
    expect(u32At(named, 48)).toBe(9);
    expect(u32At(named, 56)).toBe(5);
    expect(named.size).toBe(60);
    const extra = encodeMapCreate({ mapType: BPF_MAP_TYPE.BLOOM_FILTER, keySize: 0, valueSize: 4, maxEntries: 8, mapExtra: 3n });
    expect(u64At(extra, 64)).toBe(3n);
    expect(extra.size).toBe(72);
  });

  it('PROG_LOAD: pointers, counts and a size covering log_true_size when a log is requested', () => {
    const insns = new Uint8Array(16);
    const logBuf = new Uint8Array(1024);
    const w = encodeProgLoad({
      progType: BPF_PROG_TYPE.KPROBE,
      insns,
      license: 'GPL',
      logBuf,
      progName: 'p',
      expectedAttachType: 7,
      attachBtfId: 123,
      funcInfo: new Uint8Array(24),
    });
    expect(u32At(w, 0)).toBe(BPF_PROG_TYPE.KPROBE);
    expect(u32At(w, 4)).toBe(2);
    expect(u64At(w, 8)).toBe(addressOf(insns));
    expect(u64At(w, 16)).not.toBe(0n); // license string
    expect(u32At(w, 24)).toBe(1); // default log level
    expect(u32At(w, 28)).toBe(1024);
    expect(u64At(w, 32)).toBe(addressOf(logBuf));
    expect(w.bytes[48]).toBe('p'.charCodeAt(0));
    expect(u32At(w, 68)).toBe(7);
    expect([u32At(w, 76), u32At(w, 88)]).toEqual([8, 3]); // func_info rec size and count
    expect(u32At(w, 108)).toBe(123);
    expect(w.size).toBe(144);
    const plain = encodeProgLoad({ progType: 1, insns, license: 'MIT' });
    expect(plain.size).toBe(24);
    expect(() => encodeProgLoad({ progType: 1, insns: new Uint8Array(0), license: 'GPL' })).toThrow(/not a non-empty multiple of 8/);
  });

  it('batch and test-run layouts', () => {
    const keys = new Uint8Array(8);
    const b = encodeMapBatch(5, { keys, count: 2, elemFlags: 4 });
    expect(u64At(b, 16)).toBe(addressOf(keys));
    expect([u32At(b, 32), u32At(b, 36)]).toEqual([2, 5]);
    expect(u64At(b, 40)).toBe(4n);
    const data = new Uint8Array(14);
    const t = encodeProgTestRun({ progFd: 3, dataIn: data, repeat: 10, cpu: 1, flags: 1 });
    expect([u32At(t, 0), u32At(t, 8), u32At(t, 32), u32At(t, 64), u32At(t, 68)]).toEqual([3, 14, 10, 1, 1]);
    expect(u64At(t, 16)).toBe(addressOf(data));
    expect(t.size).toBe(72);
  });

  it('LINK_CREATE: only the union member asked for, at offset 16', () => {
    const perf = encodeLinkCreate({ progFd: 3, targetFd: 4, attachType: BPF_ATTACH_TYPE.PERF_EVENT, perfEventCookie: 0xabcn });
    expect([u32At(perf, 0), u32At(perf, 4), u32At(perf, 8)]).toEqual([3, 4, BPF_ATTACH_TYPE.PERF_EVENT]);
    expect(u64At(perf, 16)).toBe(0xabcn);
    expect(perf.size).toBe(24);

    const km = encodeLinkCreate({
      progFd: 3,
      attachType: BPF_ATTACH_TYPE.TRACE_KPROBE_MULTI,
      kprobeMulti: { syms: ['do_sys_open', 'vfs_read'], cookies: [1n, 2n], flags: 1 },
    });
    expect([u32At(km, 16), u32At(km, 20)]).toEqual([1, 2]);
    expect(u64At(km, 24)).not.toBe(0n); // syms array
    expect(u64At(km, 32)).toBe(0n); // no addrs
    expect(u64At(km, 40)).not.toBe(0n);
    expect(km.size).toBe(48);
    expect(() => encodeLinkCreate({ progFd: 3, attachType: 0, kprobeMulti: { syms: ['a'], cookies: [] } })).toThrow(/1 targets but 0 cookies/);

    const tracing = encodeLinkCreate({ progFd: 3, attachType: BPF_ATTACH_TYPE.TRACE_FENTRY, targetBtfId: 77, tracingCookie: 9n });
    expect(u32At(tracing, 16)).toBe(77);
    expect(u64At(tracing, 24)).toBe(9n);

    const tcx = encodeLinkCreate({ progFd: 3, targetIfindex: 2, attachType: BPF_ATTACH_TYPE.TCX_INGRESS, flags: 1 << 5, tcxRelative: { id: 42, expectedRevision: 3n } });
    expect([u32At(tcx, 4), u32At(tcx, 12), u32At(tcx, 16)]).toEqual([2, 1 << 5, 42]);
    expect(u64At(tcx, 24)).toBe(3n);
  });

  it('rejects values that do not fit their field', () => {
    expect(() => new AttrWriter(4).u32(0, -1)).toThrow(/is not a u32/);
    expect(() => new AttrWriter(4).u32(0, 2 ** 32)).toThrow(/is not a u32/);
    expect(() => new AttrWriter(4).objName(0, 'has space')).toThrow(/characters the kernel rejects/);
  });
});
