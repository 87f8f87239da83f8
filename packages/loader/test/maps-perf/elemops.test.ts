import { describe, expect, it } from 'vitest';
import { TsbpfError } from '../../src/errors.js';
import { BpfMap } from '../../src/maps/map.js';
import { MapElemOps, mapCreate, mapLookupElem, mapUpdateElem } from '../../src/sys/bpf.js';
import { BPF_MAP_TYPE } from '../../src/sys/constants.js';
import { SyscallError } from '../../src/sys/errors.js';
import { addressNumber, addressOf } from '../../src/sys/ffi.js';
import { Collection } from '../../src/collection.js';
import { CollectionSpec } from '../../src/spec/collection.js';
import { testdataPath } from '../testdata.js';

function rawMap(type: number, keySize: number, valueSize: number, maxEntries = 16): BpfMap<number, Uint8Array> {
  const fd = mapCreate({ mapType: type, keySize, valueSize, maxEntries, mapName: 'elemops' });
  return new BpfMap<number, Uint8Array>(fd, { name: 'elemops', type, keySize, valueSize, maxEntries, flags: 0 });
}

function errOf(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('element calls through a precomputed attr address', () => {
  it('addressNumber is the exact address addressOf gives, byteOffset included', () => {
    const buf = new Uint8Array(64);
    const sub = buf.subarray(24);
    expect(addressNumber(buf)).toBe(Number(addressOf(buf)));
    expect(addressNumber(sub)).toBe(addressNumber(buf) + 24);
    expect(() => addressNumber(new Uint8Array(0))).toThrow(TsbpfError);
  });

  it('MapElemOps looks up, updates and deletes through its scratch key and value', () => {
    using m = rawMap(BPF_MAP_TYPE.HASH, 4, 8);
    const ops = new MapElemOps(m.fd, 4, 8);
    ops.keyView.setUint32(0, 7, true);
    ops.valueView.setUint32(0, 0xabcd, true);
    ops.update();
    // Written where the kernel reads: the ordinary path sees it.
    const v = new Uint8Array(8);
    expect(mapLookupElem(m.fd, new Uint8Array([7, 0, 0, 0]), v)).toBe(true);
    expect(new DataView(v.buffer).getUint32(0, true)).toBe(0xabcd);
    ops.value.fill(0);
    expect(ops.lookup()).toBe(true);
    expect(ops.valueView.getUint32(0, true)).toBe(0xabcd);
    // Into a caller's buffer instead of the scratch value.
    const out = new Uint8Array(8);
    expect(ops.lookup(out)).toBe(true);
    expect(out).toEqual(v);
    // BPF_NOEXIST on a present key: EEXIST, named.
    const err = errOf(() => ops.update(1));
    expect(err).toBeInstanceOf(SyscallError);
    expect((err as SyscallError).errnoName).toBe('EEXIST');
    expect(ops.delete()).toBe(true);
    expect(ops.delete()).toBe(false);
    expect(ops.lookup()).toBe(false);
  });

  it('a closed map fd throws instead of reaching whatever reuses the number', () => {
    const m = rawMap(BPF_MAP_TYPE.ARRAY, 4, 4);
    m.update(0, new Uint8Array(4));
    m.close();
    const err = errOf(() => m.lookup(0));
    expect(err).toBeInstanceOf(TsbpfError);
    expect((err as TsbpfError).code).toBe('FD_CLOSED');
  });

  it('a detached buffer is passed as NULL (EFAULT), never by its stale address', () => {
    using m = rawMap(BPF_MAP_TYPE.ARRAY, 4, 64);
    const key = new Uint8Array(4);
    const value = new Uint8Array(64);
    expect(mapLookupElem(m.fd, key, value)).toBe(true);
    // The address is cached now; transferring the buffer frees it from this view.
    structuredClone(value.buffer, { transfer: [value.buffer] });
    expect(value.byteLength).toBe(0);
    const err = errOf(() => mapLookupElem(m.fd, key, value));
    expect((err as SyscallError).errnoName).toBe('EFAULT');
  });

  it('lookupBytes refuses an out buffer shorter than the value', () => {
    using m = rawMap(BPF_MAP_TYPE.ARRAY, 4, 64);
    const err = errOf(() => m.lookupBytes(new Uint8Array(4), new Uint8Array(32)));
    expect((err as TsbpfError).code).toBe('MAP_BAD_VALUE');
  });

  it('values larger than the copy limit go by their own address, both ways', () => {
    using m = rawMap(BPF_MAP_TYPE.HASH, 4, 1024);
    const big = new Uint8Array(1024).map((_, i) => i & 0xff);
    m.update(3, big);
    m.updateBytes(new Uint8Array([4, 0, 0, 0]), big.slice().reverse());
    expect(m.lookup(3)).toEqual(big);
    const out = new Uint8Array(1024);
    expect(m.lookupBytes(new Uint8Array([4, 0, 0, 0]), out)).toBe(out);
    expect(out).toEqual(big.slice().reverse());
    expect(m.deleteBytes(new Uint8Array([3, 0, 0, 0]))).toBe(true);
    expect(m.lookup(3)).toBeUndefined();
  });

  it('queue maps: push with no key, pop with lookupAndDelete()', () => {
    using q = rawMap(BPF_MAP_TYPE.QUEUE, 0, 4);
    for (let i = 1; i <= 3; i++) mapUpdateElem(q.fd, null, new Uint8Array([i, 0, 0, 0]));
    expect(q.lookupAndDelete()).toEqual(new Uint8Array([1, 0, 0, 0]));
    expect(q.lookupAndDelete()).toEqual(new Uint8Array([2, 0, 0, 0]));
    q.updateBytes(new Uint8Array(0), new Uint8Array([9, 0, 0, 0]));
    expect(q.lookupAndDelete()).toEqual(new Uint8Array([3, 0, 0, 0]));
    expect(q.lookupAndDelete()).toEqual(new Uint8Array([9, 0, 0, 0]));
    expect(q.lookupAndDelete()).toBeUndefined();
  });

  it('per-CPU hash: every CPU slot written and read through the scratch buffers', () => {
    using m = rawMap(BPF_MAP_TYPE.PERCPU_HASH, 4, 4);
    m.update(1, new Uint8Array([5, 0, 0, 0]));
    const all = m.lookup(1) as Uint8Array[];
    expect(all.length).toBeGreaterThan(0);
    for (const v of all) expect(v).toEqual(new Uint8Array([5, 0, 0, 0]));
    expect(m.delete(1)).toBe(true);
    expect(m.lookup(1)).toBeUndefined();
  });

  it('lookupBatchBytes reads a full map whole, in one batch or several', () => {
    using a = rawMap(BPF_MAP_TYPE.ARRAY, 4, 8, 4);
    for (let i = 0; i < 4; i++) a.update(i, new Uint8Array(8).fill(i + 1));
    for (const size of [4, 3, 64]) {
      const r = a.lookupBatchBytes(size);
      expect(r.count).toBe(4);
      expect(r.values).toEqual(Uint8Array.from([1, 2, 3, 4].flatMap((x) => new Array<number>(8).fill(x))));
    }
    // 64 buckets for 5 keys: a bucket holding more than a batch (ENOSPC) is vanishingly unlikely.
    using h = rawMap(BPF_MAP_TYPE.HASH, 4, 8, 64);
    for (let i = 0; i < 5; i++) h.update(i * 10, new Uint8Array(8).fill(i));
    const r = h.lookupBatchBytes(3);
    expect(r.count).toBe(5);
    const keys = Array.from({ length: 5 }, (_, i) => new DataView(r.keys.buffer, r.keys.byteOffset).getUint32(i * 4, true)).sort((x, y) => x - y);
    expect(keys).toEqual([0, 10, 20, 30, 40]);
  });

  it('alternating caller buffers each get their own element (the last-buffer address cache)', () => {
    using m = rawMap(BPF_MAP_TYPE.ARRAY, 4, 4, 4);
    for (let i = 0; i < 4; i++) m.update(i, new Uint8Array([i + 10, 0, 0, 0]));
    const k = [new Uint8Array([1, 0, 0, 0]), new Uint8Array([2, 0, 0, 0])];
    const out = [new Uint8Array(4), new Uint8Array(4)];
    for (let round = 0; round < 3; round++) {
      for (const j of [0, 1, 1, 0]) {
        out[j].fill(0);
        expect(mapLookupElem(m.fd, k[j], out[j])).toBe(true);
        expect(out[j][0]).toBe(j + 11);
        out[j].fill(0);
        expect(m.lookupBytes(k[1 - j], out[j])).toBe(out[j]);
        expect(out[j][0]).toBe(12 - j);
      }
    }
  });
});


describe('typed calls made while the same map is encoding', () => {
  it('are refused with MAP_REENTRANT instead of overwriting the scratch key', () => {
    using coll = Collection.load(CollectionSpec.fromFile(testdataPath('maps.bpf.o')));
    const m = coll.map('hash_struct');
    const key = { id: 5, color: 'COLOR_RED', name: 'k' };
    const value = { point: { x: 1, y: 2 }, counter: 3n, label: 'v', color: 'COLOR_GREEN' };
    m.update(key, value);
    let inner: unknown;
    // The getter runs while the outer lookup encodes its key into the scratch buffer.
    const sneaky = {
      id: 6,
      color: 'COLOR_RED',
      get name(): string {
        inner = errOf(() => m.lookup(key));
        return 'x';
      },
    };
    expect(m.lookup(sneaky)).toBeUndefined();
    expect(inner).toBeInstanceOf(TsbpfError);
    expect((inner as TsbpfError).code).toBe('MAP_REENTRANT');
    // The guard is released afterwards.
    expect(m.lookup(key)).toMatchObject({ counter: 3n });
  });
});
