import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { Collection } from '../../src/collection.js';
import { CollectionSpec } from '../../src/spec/collection.js';
import { PIN } from '../../src/spec/map.js';
import { BPF_MAP_TYPE } from '../../src/sys/constants.js';
import { numPossibleCpus } from '../../src/sys/ffi.js';
import { testdataPath } from '../testdata.js';

const MAPS = testdataPath('maps.bpf.o');
const pinDir = mkdtempSync('/sys/fs/bpf/tsbpf-test-');
afterAll(() => rmSync(pinDir, { recursive: true, force: true }));

describe('BTF-defined maps (maps.bpf.o)', () => {
  it('reads every map definition from BTF', () => {
    const spec = CollectionSpec.fromFile(MAPS);
    const m = (n: string) => spec.map(n);
    expect(m('hash_struct').type).toBe(BPF_MAP_TYPE.HASH);
    expect(m('hash_struct').keySize).toBe(16);
    expect(m('hash_struct').valueSize).toBe(40);
    expect(m('events_rb').keySize).toBe(0);
    expect(m('events_rb').maxEntries).toBe(4096);
    expect(m('outer_array').innerMap?.type).toBe(BPF_MAP_TYPE.ARRAY);
    expect([...m('outer_array').slots.entries()]).toEqual([
      [0, 'inner_a'],
      [1, 'inner_b'],
    ]);
    expect(m('pinned_counter').pinning).toBe(PIN.BY_NAME);
    expect(m('fifo').type).toBe(BPF_MAP_TYPE.QUEUE);
  });

  it('creates them all; the program writes through every kind and user space reads typed values back', () => {
    using coll = Collection.load(CollectionSpec.fromFile(MAPS), { pinPath: pinDir });
    expect(coll.program('maps_update').testRun().retval).toBe(13);
    const hash = coll.map('hash_struct');
    const entries = [...hash.entries()];
    expect(entries).toHaveLength(1);
    const [key, value] = entries[0];
    expect(key).toEqual({ id: 1, color: 'COLOR_GREEN', name: 'key-one' });
    expect(value).toEqual({ point: { x: 3, y: -4 }, counter: 0x1122334455667788n, label: 'value-one', color: 'COLOR_BLUE' });
    // Typed writes round-trip through the kernel.
    hash.update({ id: 2, color: 'COLOR_RED', name: 'two' }, { point: { x: -1, y: 1 }, counter: 5n, label: 'l', color: 'COLOR_GREEN' });
    expect(hash.lookup({ id: 2, color: 'COLOR_RED', name: 'two' })).toMatchObject({ counter: 5n, color: 'COLOR_GREEN' });
    expect(hash.delete({ id: 2, color: 'COLOR_RED', name: 'two' })).toBe(true);
    expect(hash.delete({ id: 2, color: 'COLOR_RED', name: 'two' })).toBe(false);
    expect(coll.map('array_u64').lookup(2)).toBe(0xdeadbeefn);
    expect(coll.map('hash_noprealloc').lookup(7)).toBe(70n);
    expect(coll.map('lru_hash').lookup(99n)).toBe(9);
    // Per-CPU: one value per possible CPU, the program's CPU holds 55.
    const percpu = coll.map('percpu_hash').lookup(5) as bigint[];
    expect(percpu).toHaveLength(numPossibleCpus());
    expect(percpu.filter((v) => v === 55n)).toHaveLength(1);
    // Queue and stack pop order.
    expect(coll.map('fifo').lookupAndDelete()).toBe(11);
    expect(coll.map('lifo').lookupAndDelete()).toBe(22);
    // The inner map placed in slot 1 at load is the one the program wrote through.
    expect(coll.map('inner_b').lookup(1)).toBe(4242n);
    expect(coll.map('pinned_counter').lookup(0)).toBe(1n);
  });

  it('batch reads where the kernel has them', () => {
    using coll = Collection.load(CollectionSpec.fromFile(MAPS), { pinPath: pinDir });
    const m = coll.map('hash_noprealloc');
    m.updateBatch([
      [1, 10n],
      [2, 20n],
      [3, 30n],
    ]);
    const r = m.lookupBatchBytes(2);
    expect(r.count).toBe(3);
  });

  it('reuses a compatible pinned map and refuses an incompatible one', () => {
    const first = Collection.load(CollectionSpec.fromFile(MAPS), { pinPath: pinDir });
    first.map('pinned_counter').update(0, 41n);
    first.close();
    expect((statSync(`${pinDir}/pinned_counter`).mode & 0o777).toString(8)).toBe('600');
    using second = Collection.load(CollectionSpec.fromFile(MAPS), { pinPath: pinDir });
    expect(second.map('pinned_counter').lookup(0)).toBe(41n);
    const spec = CollectionSpec.fromFile(MAPS);
    spec.map('pinned_counter').maxEntries = 2;
    expect(() => Collection.load(spec, { pinPath: pinDir })).toThrow(/incompatible.*max entries 1 ≠ 2/);
  });

  it('removes the pins a failed load made, and keeps the ones it reused (sync and async)', async () => {
    const dir = mkdtempSync('/sys/fs/bpf/tsbpf-test-');
    try {
      const failing = (): CollectionSpec => {
        const spec = CollectionSpec.fromFile(MAPS);
        spec.program('maps_update').type = 0xffff; // no such program type: PROG_LOAD fails after the maps exist
        return spec;
      };
      expect(() => Collection.load(failing(), { pinPath: dir })).toThrow(/maps_update/);
      expect(existsSync(`${dir}/pinned_counter`)).toBe(false);
      await expect(Collection.loadAsync(failing(), { pinPath: dir })).rejects.toThrow(/maps_update/);
      expect(existsSync(`${dir}/pinned_counter`)).toBe(false);
      // A pin that was there before the failed load stays.
      Collection.load(CollectionSpec.fromFile(MAPS), { pinPath: dir }).close();
      expect(existsSync(`${dir}/pinned_counter`)).toBe(true);
      expect(() => Collection.load(failing(), { pinPath: dir })).toThrow(/maps_update/);
      expect(existsSync(`${dir}/pinned_counter`)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('resizes and replaces maps before load', () => {
    const spec = CollectionSpec.fromFile(MAPS);
    spec.map('hash_noprealloc').maxEntries = 3;
    using donor = Collection.load(CollectionSpec.fromFile(MAPS), { pinPath: pinDir });
    donor.map('lru_hash').update(1234n, 77);
    spec.map('lru_hash').replacement = donor.map('lru_hash').fd;
    using coll = Collection.load(spec, { pinPath: pinDir });
    expect(coll.map('hash_noprealloc').maxEntries).toBe(3);
    expect(coll.map('lru_hash').lookup(1234n)).toBe(77);
    coll.program('maps_update').testRun();
    expect(donor.map('lru_hash').lookup(99n)).toBe(9);
  });
});

describe('legacy SEC("maps") definitions (legacy_maps.bpf.o)', () => {
  it('creates them from the struct bytes and the program uses them', () => {
    const spec = CollectionSpec.fromFile(testdataPath('legacy_maps.bpf.o'));
    expect(spec.map('legacy_nopre').keySize).toBe(8);
    using coll = Collection.load(spec);
    expect(coll.program('legacy_update').testRun().retval).toBe(3);
    expect(coll.map('legacy_hash').lookupBytes(new Uint8Array([1, 0, 0, 0]))).toEqual(new Uint8Array([100, 0, 0, 0, 0, 0, 0, 0]));
  });
});
