import { describe, expect, it } from 'vitest';
import { BpfMap } from '../../src/maps/map.js';
import { mapCreate, mapLookupElem } from '../../src/sys/bpf.js';
import { BPF_MAP_TYPE } from '../../src/sys/constants.js';
import { numPossibleCpus } from '../../src/sys/ffi.js';
import { Collection } from '../../src/collection.js';
import { CollectionSpec } from '../../src/spec/collection.js';
import { testdataPath } from '../testdata.js';

function rawMap(type: number, keySize: number, valueSize: number, maxEntries = 64): BpfMap<number, Uint8Array> {
  const fd = mapCreate({ mapType: type, keySize, valueSize, maxEntries, mapName: 'scratch' });
  return new BpfMap<number, Uint8Array>(fd, { name: 'scratch', type, keySize, valueSize, maxEntries, flags: 0 });
}

describe('BpfMap scratch buffers (one key and one value buffer per map)', () => {
  it('returned values never alias each other or the scratch buffers', () => {
    using m = rawMap(BPF_MAP_TYPE.HASH, 4, 16);
    for (let i = 0; i < 8; i++) m.update(i, new Uint8Array(16).fill(i + 1));
    const a = m.lookup(1) as Uint8Array;
    const b = m.lookup(2) as Uint8Array;
    expect(a).toEqual(new Uint8Array(16).fill(2));
    expect(b).toEqual(new Uint8Array(16).fill(3));
    const c = m.lookupBytes(new Uint8Array([3, 0, 0, 0]));
    m.update(1, new Uint8Array(16).fill(99));
    m.lookup(1);
    // Earlier results are unchanged by later calls.
    expect(a).toEqual(new Uint8Array(16).fill(2));
    expect(b).toEqual(new Uint8Array(16).fill(3));
    expect(c).toEqual(new Uint8Array(16).fill(4));
    // A caller's out buffer is filled in place and returned as is.
    const out = new Uint8Array(16);
    expect(m.lookupBytes(new Uint8Array([1, 0, 0, 0]), out)).toBe(out);
    expect(out).toEqual(new Uint8Array(16).fill(99));
    expect(m.lookup(100)).toBeUndefined();
    expect(m.delete(3)).toBe(true);
    expect(m.delete(3)).toBe(false);
    // The raw view agrees with the kernel.
    const k = new Uint8Array([2, 0, 0, 0]);
    const v = new Uint8Array(16);
    expect(mapLookupElem(m.fd, k, v)).toBe(true);
    expect(v).toEqual(new Uint8Array(16).fill(3));
  });

  it('updateBatch encodes every entry in place, and 8-byte number keys need no BigInt', () => {
    using m = rawMap(BPF_MAP_TYPE.HASH, 8, 8, 256);
    const entries: [number, Uint8Array][] = [];
    for (let i = 0; i < 200; i++) entries.push([i * 4294967296 + i, new Uint8Array(8).fill(i & 0xff)]);
    expect(m.updateBatch(entries)).toBe(200);
    for (const [k, v] of entries) expect(m.lookup(k)).toEqual(v);
    // The same key written as a bigint and as a number is one key.
    expect(m.lookup(5n as unknown as number)).toBeUndefined();
    expect(m.lookup(Number(5n * 4294967296n + 5n))).toEqual(new Uint8Array(8).fill(5));
    const all = m.lookupBatchBytes(512);
    expect(all.count).toBe(200);
    expect(all.keys.byteLength).toBe(200 * 8);
  });

  it('rejects values shorter than the map value (the kernel would read past them)', () => {
    using m = rawMap(BPF_MAP_TYPE.ARRAY, 4, 16, 4);
    expect(() => m.update(0, new Uint8Array(8))).toThrow(/value is 8 bytes, expected 16/);
    expect(() => m.updateBytes(new Uint8Array(4), new Uint8Array(8))).toThrow(/value is 8 bytes, expected 16/);
    expect(() => m.lookup(new Uint8Array(2) as unknown as number)).toThrow(/key is 2 bytes, expected 4/);
    // A longer value writes its first value-size bytes.
    m.update(1, new Uint8Array(32).fill(7));
    expect(m.lookup(1)).toEqual(new Uint8Array(16).fill(7));
  });

  it('per-CPU values: one value repeated, one per CPU, or the raw per-CPU layout', () => {
    const n = numPossibleCpus();
    using m = rawMap(BPF_MAP_TYPE.PERCPU_ARRAY, 4, 4, 2);
    m.update(0, new Uint8Array([1, 2, 3, 4]));
    expect(m.lookup(0)).toEqual(Array.from({ length: n }, () => new Uint8Array([1, 2, 3, 4])));
    m.update(1, Array.from({ length: n }, (_, c) => new Uint8Array([c, 0, 0, 0])));
    const got = m.lookup(1) as unknown as Uint8Array[];
    expect(got.map((b) => b[0])).toEqual(Array.from({ length: n }, (_, c) => c));
    expect(got[0]).not.toBe(got[1]);
  });

  it('typed keys with padding: stale scratch bytes never leak into the next key', () => {
    using coll = Collection.load(CollectionSpec.fromFile(testdataPath('maps.bpf.o')));
    const hash = coll.map('hash_struct');
    const long = { id: 5, color: 'COLOR_RED', name: 'longnam' };
    const short = { id: 6, color: 'COLOR_RED', name: 'b' };
    const value = { point: { x: 1, y: 2 }, counter: 3n, label: 'v', color: 'COLOR_GREEN' };
    hash.update(long, value);
    hash.update(short, { ...value, counter: 4n });
    // If the long name's bytes stayed in the scratch key, these lookups would miss.
    expect(hash.lookup(short)).toMatchObject({ counter: 4n });
    expect(hash.lookup(long)).toMatchObject({ counter: 3n });
    const keys = [...hash.keys()].map((k) => (k as { name: string }).name).sort();
    expect(keys).toContain('b');
    expect(hash.delete(short)).toBe(true);
    expect(hash.lookup(short)).toBeUndefined();
  });
});
