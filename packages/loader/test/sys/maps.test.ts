import { describe, expect, it } from 'vitest';
import {
  BPF_ANY,
  BPF_EXIST,
  BPF_F_RDONLY,
  BPF_MAP_TYPE,
  BPF_NOEXIST,
  ERRNO,
  Fd,
  SyscallError,
  mapCreate,
  mapDeleteBatch,
  mapDeleteElem,
  mapFreeze,
  mapGetFdById,
  mapGetNextId,
  mapGetNextKey,
  mapInfo,
  mapLookupAndDeleteBatch,
  mapLookupAndDeleteElem,
  mapLookupBatch,
  mapLookupElem,
  mapUpdateBatch,
  mapUpdateElem,
  numPossibleCpus,
} from '../../src/sys/index.js';
import { arrayMap, readU64, u32, u64, closeAfterEach } from './helpers.js';

const track = closeAfterEach();

function hashMap(n = 16): Fd {
  return track(mapCreate({ mapType: BPF_MAP_TYPE.HASH, keySize: 4, valueSize: 8, maxEntries: n, mapName: 'h' }));
}

describe('map element commands', () => {
  it('updates and looks up an array map', () => {
    const m = track(arrayMap(4));
    const v = new Uint8Array(8);
    expect(mapLookupElem(m, u32(2), v)).toBe(true);
    expect(readU64(v)).toBe(0n);
    mapUpdateElem(m, u32(2), u64(0x1122334455667788n));
    expect(mapLookupElem(m, u32(2), v)).toBe(true);
    expect(readU64(v)).toBe(0x1122334455667788n);
    // Out of range index: absent, not an exception.
    expect(mapLookupElem(m, u32(4), v)).toBe(false);
    // Array elements cannot be deleted.
    expect(() => mapDeleteElem(m, u32(0))).toThrow(SyscallError);
  });

  it('honours NOEXIST / EXIST and deletes from a hash map', () => {
    const m = hashMap();
    const v = new Uint8Array(8);
    expect(mapLookupElem(m, u32(7), v)).toBe(false);
    expect(() => mapUpdateElem(m, u32(7), u64(1), BPF_EXIST)).toThrow(expect.objectContaining({ errnoName: 'ENOENT' }));
    mapUpdateElem(m, u32(7), u64(1), BPF_NOEXIST);
    expect(() => mapUpdateElem(m, u32(7), u64(2), BPF_NOEXIST)).toThrow(expect.objectContaining({ errnoName: 'EEXIST' }));
    mapUpdateElem(m, u32(7), u64(3), BPF_EXIST);
    expect(mapLookupElem(m, u32(7), v)).toBe(true);
    expect(readU64(v)).toBe(3n);
    expect(mapDeleteElem(m, u32(7))).toBe(true);
    expect(mapDeleteElem(m, u32(7))).toBe(false);
  });

  it('reports a full hash map as E2BIG', () => {
    const m = hashMap(2);
    mapUpdateElem(m, u32(1), u64(1));
    mapUpdateElem(m, u32(2), u64(2));
    try {
      mapUpdateElem(m, u32(3), u64(3), BPF_ANY);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(SyscallError);
      expect((e as SyscallError).errno).toBe(ERRNO.E2BIG);
      expect((e as SyscallError).syscall).toBe('bpf(BPF_MAP_UPDATE_ELEM)');
    }
  });

  it('iterates keys with GET_NEXT_KEY', () => {
    const m = hashMap();
    const want = [3, 9, 27, 81];
    for (const k of want) mapUpdateElem(m, u32(k), u64(k * 2));
    const seen: number[] = [];
    const next = new Uint8Array(4);
    let cur: Uint8Array | null = null;
    while (mapGetNextKey(m, cur, next)) {
      seen.push(new DataView(next.buffer).getUint32(0, true));
      cur = next.slice();
    }
    expect(seen.sort((a, b) => a - b)).toEqual(want);
  });

  it('pushes and pops a queue with a null key', () => {
    const q = track(mapCreate({ mapType: BPF_MAP_TYPE.QUEUE, keySize: 0, valueSize: 8, maxEntries: 4 }));
    mapUpdateElem(q, null, u64(10));
    mapUpdateElem(q, null, u64(20));
    const v = new Uint8Array(8);
    expect(mapLookupElem(q, null, v)).toBe(true); // peek
    expect(readU64(v)).toBe(10n);
    expect(mapLookupAndDeleteElem(q, null, v)).toBe(true);
    expect(readU64(v)).toBe(10n);
    expect(mapLookupAndDeleteElem(q, null, v)).toBe(true);
    expect(readU64(v)).toBe(20n);
    expect(mapLookupAndDeleteElem(q, null, v)).toBe(false);
  });

  it('reads per-CPU values for every possible CPU', () => {
    const n = numPossibleCpus();
    expect(n).toBeGreaterThan(0);
    const m = track(mapCreate({ mapType: BPF_MAP_TYPE.PERCPU_ARRAY, keySize: 4, valueSize: 8, maxEntries: 1 }));
    const vals = new Uint8Array(8 * n);
    const dv = new DataView(vals.buffer);
    for (let c = 0; c < n; c++) dv.setBigUint64(c * 8, BigInt(c + 100), true);
    mapUpdateElem(m, u32(0), vals);
    const out = new Uint8Array(8 * n);
    expect(mapLookupElem(m, u32(0), out)).toBe(true);
    expect(out).toEqual(vals);
  });
});

describe('map batch commands', () => {
  it('updates, looks up and deletes in batches', () => {
    const m = hashMap(64);
    const count = 20;
    const keys = new Uint8Array(4 * count);
    const values = new Uint8Array(8 * count);
    const kv = new DataView(keys.buffer);
    const vv = new DataView(values.buffer);
    for (let i = 0; i < count; i++) {
      kv.setUint32(i * 4, i + 1, true);
      vv.setBigUint64(i * 8, BigInt((i + 1) * 1000), true);
    }
    expect(mapUpdateBatch(m, { keys, values, count })).toBe(count);

    // Read back 8 at a time until done.
    const got = new Map<number, bigint>();
    let inBatch: Uint8Array | null = null;
    const outBatch = new Uint8Array(4);
    for (let rounds = 0; rounds < 10; rounds++) {
      const k = new Uint8Array(4 * 8);
      const v = new Uint8Array(8 * 8);
      const r = mapLookupBatch(m, { inBatch, outBatch, keys: k, values: v, count: 8 });
      for (let i = 0; i < r.count; i++) {
        got.set(new DataView(k.buffer).getUint32(i * 4, true), new DataView(v.buffer).getBigUint64(i * 8, true));
      }
      if (r.done) break;
      inBatch = outBatch.slice();
    }
    expect(got.size).toBe(count);
    for (let i = 1; i <= count; i++) expect(got.get(i)).toBe(BigInt(i * 1000));

    // Delete the first five keys, then drain the rest with lookup-and-delete.
    expect(mapDeleteBatch(m, { keys: keys.slice(0, 20), count: 5 })).toBe(5);
    const k = new Uint8Array(4 * 64);
    const v = new Uint8Array(8 * 64);
    const r = mapLookupAndDeleteBatch(m, { outBatch: new Uint8Array(4), keys: k, values: v, count: 64 });
    expect(r.done).toBe(true);
    expect(r.count).toBe(count - 5);
    expect(mapGetNextKey(m, null, new Uint8Array(4))).toBe(false);
  });
});

describe('freeze, info and ids', () => {
  it('freezes a map against user-space writes', () => {
    const m = track(arrayMap(2, 'frozen'));
    mapUpdateElem(m, u32(0), u64(5));
    mapFreeze(m);
    expect(() => mapUpdateElem(m, u32(0), u64(6))).toThrow(expect.objectContaining({ errnoName: 'EPERM' }));
    const v = new Uint8Array(8);
    expect(mapLookupElem(m, u32(0), v)).toBe(true);
    expect(readU64(v)).toBe(5n);
  });

  it('decodes bpf_map_info and reopens the map by id', () => {
    const m = track(mapCreate({ mapType: BPF_MAP_TYPE.HASH, keySize: 4, valueSize: 16, maxEntries: 32, mapName: 'info_test' }));
    const info = mapInfo(m);
    expect(info).toMatchObject({ type: BPF_MAP_TYPE.HASH, typeName: 'BPF_MAP_TYPE_HASH', keySize: 4, valueSize: 16, maxEntries: 32, name: 'info_test' });
    expect(info.id).toBeGreaterThan(0);
    // The id enumeration reaches it.
    let id: number | undefined = 0;
    let found = false;
    while ((id = mapGetNextId(id)) !== undefined) if (id === info.id) found = true;
    expect(found).toBe(true);
    // A second fd sees the same map; a read-only fd cannot write.
    const again = track(mapGetFdById(info.id));
    mapUpdateElem(again, u32(1), new Uint8Array(16).fill(7));
    const v = new Uint8Array(16);
    expect(mapLookupElem(m, u32(1), v)).toBe(true);
    expect(v[0]).toBe(7);
    const ro = track(mapGetFdById(info.id, BPF_F_RDONLY));
    expect(() => mapUpdateElem(ro, u32(2), v)).toThrow(expect.objectContaining({ errnoName: 'EPERM' }));
  });

  it('names the errno of a bad request', () => {
    expect(() => mapCreate({ mapType: 9999, keySize: 4, valueSize: 4, maxEntries: 1 })).toThrow(/bpf\(BPF_MAP_CREATE\) failed: EINVAL/);
    expect(() => mapCreate({ mapType: BPF_MAP_TYPE.ARRAY, keySize: 4, valueSize: 4, maxEntries: 1, mapName: 'bad name!' })).toThrow(
      expect.objectContaining({ code: 'BPF_OBJ_NAME' }),
    );
  });

  it('names EBADF for a descriptor that is not open', () => {
    const m = arrayMap(1);
    const raw = m.raw;
    m.close();
    expect(() => mapLookupElem(m, u32(0), new Uint8Array(8))).toThrow(expect.objectContaining({ code: 'FD_CLOSED' }));
    try {
      // The raw number is closed now: the kernel says EBADF.
      mapLookupElem(raw, u32(0), new Uint8Array(8));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(SyscallError);
      expect((e as SyscallError).errnoName).toBe('EBADF');
      expect((e as SyscallError).message).toMatch(/bpf\(BPF_MAP_LOOKUP_ELEM\) failed: EBADF/);
    }
  });
});
