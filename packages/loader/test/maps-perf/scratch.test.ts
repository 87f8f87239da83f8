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
    // Into the caller's buffers, in batches of 64: the same entries, viewed where they were read.
    const into = { keys: new Uint8Array(256 * 8), values: new Uint8Array(256 * 8) };
    const got = m.lookupBatchBytes(64, into);
    expect([got.count, got.done, all.done]).toEqual([200, true, true]);
    expect(got.keys.buffer).toBe(into.keys.buffer);
    expect(got.values.buffer).toBe(into.values.buffer);
    const pairs = (r: { keys: Uint8Array; values: Uint8Array; count: number }): string[] =>
      Array.from({ length: r.count }, (_, i) => `${Buffer.from(r.keys.subarray(i * 8, i * 8 + 8)).toString('hex')}=${Buffer.from(r.values.subarray(i * 8, i * 8 + 8)).toString('hex')}`).sort();
    expect(pairs(got)).toEqual(pairs(all));
    // Fresh buffers of 64 entries, joined: the same entries again.
    const joined = m.lookupBatchBytes(64);
    expect([joined.count, joined.done]).toEqual([200, true]);
    expect(pairs(joined)).toEqual(pairs(all));
    // Buffers for 150 entries: filled batch by batch, each call stopping short of the room by less
    // than a bucket (a few entries here), and more remain; buffers for none are an error.
    const small = m.lookupBatchBytes(64, { keys: new Uint8Array(160 * 8), values: new Uint8Array(150 * 8 + 7) });
    expect(small.count).toBeGreaterThanOrEqual(130);
    expect(small.count).toBeLessThanOrEqual(150);
    expect(small.done).toBe(false);
    expect(new Set(pairs(small)).size).toBe(small.count);
    for (const p of pairs(small)) expect(pairs(all)).toContain(p);
    expect(() => m.lookupBatchBytes(64, { keys: new Uint8Array(8), values: new Uint8Array(7) })).toThrow(expect.objectContaining({ code: 'MAP_BAD_VALUE' }));
    for (const bad of [0, -1, 1.5]) expect(() => m.lookupBatchBytes(bad), `batch size ${bad}`).toThrow(expect.objectContaining({ code: 'MAP_BAD_VALUE' }));
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

  it('per-CPU slot padding is written as zero, whatever an earlier batch left in the reused buffer', () => {
    const n = numPossibleCpus();
    using m = rawMap(BPF_MAP_TYPE.PERCPU_ARRAY, 4, 4, 2);
    // The raw per-CPU layout, padding included, is stored as given (the kernel keeps 8 bytes a slot).
    expect(m.updateBatch([[0, new Uint8Array(8 * n).fill(0xff)]])).toBe(1);
    expect(m.lookupBytes(new Uint8Array(4))).toEqual(new Uint8Array(8 * n).fill(0xff));
    // One value for every CPU, encoded into the same buffer: the padding is zero again.
    expect(m.updateBatch([[0, new Uint8Array([1, 2, 3, 4])]])).toBe(1);
    const slot = [1, 2, 3, 4, 0, 0, 0, 0];
    expect([...m.lookupBytes(new Uint8Array(4))!]).toEqual(Array.from({ length: n }, () => slot).flat());
  });

  it('a BTF type of another size than the map\'s key or value is refused, not encoded short', () => {
    const spec = CollectionSpec.fromFile(testdataPath('maps.bpf.o'));
    const btf = spec.btf!;
    const int = btf.find('int', 'int');
    expect(int).toBeDefined();
    const fd = mapCreate({ mapType: BPF_MAP_TYPE.HASH, keySize: 8, valueSize: 4, maxEntries: 4, mapName: 'sized' });
    using m = new BpfMap<number, number>(fd, { name: 'sized', type: BPF_MAP_TYPE.HASH, keySize: 8, valueSize: 4, maxEntries: 4, flags: 0, btf, keyTypeId: int, valueTypeId: int });
    expect(() => m.update(1, 2)).toThrow(/cannot decode its key type from BTF: the type is 4 bytes, the map's key 8/);
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

  it('batch updates reuse their buffers, and a smaller batch after a larger one carries nothing over', () => {
    using coll = Collection.load(CollectionSpec.fromFile(testdataPath('maps.bpf.o')));
    const hash = coll.map('hash_struct');
    const value = { point: { x: 1, y: 2 }, counter: 3n, label: 'v', color: 'COLOR_GREEN' };
    // Long names and labels first: a reused buffer that kept their bytes would corrupt the short ones.
    const long = Array.from({ length: 6 }, (_, i) => [{ id: i, color: 'COLOR_RED', name: `longnm${i}` }, { ...value, counter: BigInt(i), label: 'longlab' }] as [object, object]);
    expect(hash.updateBatch(long)).toBe(6);
    const short = Array.from({ length: 3 }, (_, i) => [{ id: 10 + i, color: 'COLOR_RED', name: `${i}` }, { ...value, counter: BigInt(10 + i) }] as [object, object]);
    expect(hash.updateBatch(short)).toBe(3);
    for (const [k, v] of short) {
      expect(hash.lookup(k)).toMatchObject({ counter: BigInt((k as { id: number }).id) });
      // Byte for byte what a fresh buffer would have held.
      expect(hash.lookupBytes(hash.encodeKey(k))).toEqual(hash.encodeValue(v));
    }
    expect([...hash.keys()].map((k) => (k as { name: string }).name).sort()).toEqual(['0', '1', '2', ...long.map(([k]) => (k as { name: string }).name)].sort());
    // A getter that calls back into the map while the batch is encoded is refused, a nested batch
    // (which would reuse the same buffers) included.
    const sneaky = { id: 20, color: 'COLOR_RED', get name(): string { hash.update({ id: 21, color: 'COLOR_RED', name: 'x' }, value); return 'y'; } };
    expect(() => hash.updateBatch([[sneaky, value]])).toThrow(expect.objectContaining({ code: 'MAP_REENTRANT' }));
    const nested = { id: 23, color: 'COLOR_RED', get name(): string { hash.updateBatch([[{ id: 24, color: 'COLOR_RED', name: 'w' }, value]]); return 'u'; } };
    expect(() => hash.updateBatch([[nested, value]])).toThrow(expect.objectContaining({ code: 'MAP_REENTRANT' }));
    // So is a raw byte call from a value's getter in a single update: it would have put its own key
    // into the scratch key the outer update had filled, and the value would have gone there.
    const other = hash.encodeKey({ id: 25, color: 'COLOR_RED', name: 'o' });
    const rawFromGetter = { ...value, get label(): string { hash.lookupBytes(other); return 'g'; } };
    expect(() => hash.update({ id: 26, color: 'COLOR_RED', name: 'p' }, rawFromGetter)).toThrow(expect.objectContaining({ code: 'MAP_REENTRANT' }));
    expect(hash.lookupBytes(other)).toBeUndefined();
    expect(hash.updateBatch([[{ id: 22, color: 'COLOR_RED', name: 'z' }, value]])).toBe(1);
  });
});
