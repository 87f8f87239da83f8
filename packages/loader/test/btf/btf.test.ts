/**
 * The Btf container on hand-built BTF: every kind round-trips, strings keep their offsets,
 * lookups, sizes/alignments and cycle detection.
 */
import { describe, expect, it } from 'vitest';
import { Btf } from '../../src/btf/btf.js';
import { BtfError } from '../../src/btf/error.js';
import type { BtfType } from '../../src/btf/types.js';
import { allKindsBtf, allKindsTypes } from './fixtures.js';

function expectBtfError(fn: () => unknown, code: string): BtfError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(BtfError);
    expect((e as BtfError).code).toBe(code);
    return e as BtfError;
  }
  throw new Error(`expected BtfError ${code}`);
}

const int32: BtfType = { kind: 'int', name: 'int', size: 4, encoding: { signed: true, char: false, bool: false }, offset: 0, bits: 32 };

describe('Btf built by hand', () => {
  it('round-trips every kind through encode → parse', () => {
    const types = allKindsTypes();
    const built = allKindsBtf();
    expect(built.typeCount).toBe(types.length + 1);
    const bytes = built.encode();
    const parsed = Btf.parse(bytes, { source: 'rt' });
    expect(parsed.typeCount).toBe(types.length + 1);
    const kinds = new Set<string>();
    types.forEach((t, i) => {
      expect(parsed.type(i + 1)).toEqual(t);
      expect(parsed.kind(i + 1)).toBe(t.kind);
      expect(parsed.name(i + 1)).toBe(t.name);
      kinds.add(t.kind);
    });
    // All 19 wire kinds are covered.
    expect(kinds.size).toBe(19);
    // Encoding the parsed object again is byte-identical.
    expect(parsed.encode()).toEqual(bytes);
  });

  it('frames records identically on the word fast path and the checked path', () => {
    const bytes = allKindsBtf().encode();
    // An odd byte offset forces the portable DataView walk.
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const a = Btf.parse(bytes);
    const b = Btf.parse(shifted.subarray(1));
    expect(b.typeCount).toBe(a.typeCount);
    for (let id = 1; id < a.typeCount; id++) expect(b.type(id)).toEqual(a.type(id));
    expect(b.encode()).toEqual(a.encode());
    // Both paths report a bad kind the same way (kind 20 in the last record).
    const bad = bytes.slice();
    const lastInfo = 24 + new DataView(bad.buffer).getUint32(12, true) - 12 + 7; // fwd 'fu' is the last record
    bad[lastInfo] = (bad[lastInfo] & 0x80) | 20;
    const shiftedBad = new Uint8Array(bad.length + 1);
    shiftedBad.set(bad, 1);
    for (const blob of [bad, shiftedBad.subarray(1)]) {
      const e = expectBtfError(() => Btf.parse(blob), 'BTF_BAD_KIND');
      expect(e.typeId).toBe(23);
    }
  });

  it('returns void for id 0 and rejects ids out of range', () => {
    const btf = allKindsBtf();
    expect(btf.type(0)).toEqual({ kind: 'void', name: '' });
    expect(btf.kind(0)).toBe('void');
    const e = expectBtfError(() => btf.type(btf.typeCount), 'BTF_BAD_TYPE_ID');
    expect(e.message).toContain(`type ${btf.typeCount}`);
    expectBtfError(() => btf.type(-1), 'BTF_BAD_TYPE_ID');
    expectBtfError(() => btf.type(1.5), 'BTF_BAD_TYPE_ID');
    expectBtfError(() => btf.name(999), 'BTF_BAD_TYPE_ID');
  });

  it('computes sizes and alignments', () => {
    const btf = allKindsBtf();
    expect(btf.sizeof(1)).toBe(4);
    expect(btf.sizeof(2)).toBe(8);
    expect(btf.sizeof(3)).toBe(16);
    expect(btf.sizeof(4)).toBe(32);
    expect(btf.sizeof(5)).toBe(8);
    expect(btf.sizeof(6)).toBe(4);
    expect(btf.sizeof(8)).toBe(32); // typedef → struct
    expect(btf.sizeof(10)).toBe(4); // const → volatile → int
    expect(btf.sizeof(14)).toBe(4); // var
    expect(btf.sizeof(15)).toBe(4); // datasec
    expect(btf.sizeof(16)).toBe(4);
    expect(btf.sizeof(20)).toBe(8);
    expect(btf.alignof(4)).toBe(8);
    expect(btf.alignof(3)).toBe(4);
    expect(btf.alignof(5)).toBe(8);
    expect(btf.alignof(8)).toBe(8);
    for (const id of [0, 7, 12, 13]) expectBtfError(() => btf.sizeof(id), 'BTF_NO_SIZE');
    expectBtfError(() => btf.alignof(7), 'BTF_NO_SIZE');
  });

  it('detects packed layouts in alignof', () => {
    const btf = Btf.empty();
    const i = btf.add(int32);
    const c = btf.add({ kind: 'int', name: 'char', size: 1, encoding: { signed: true, char: true, bool: false }, offset: 0, bits: 8 });
    const packed = btf.add({
      kind: 'struct',
      name: 'p',
      size: 5,
      kindFlag: false,
      members: [
        { name: 'c', type: c, bitOffset: 0, bitfieldSize: 0 },
        { name: 'i', type: i, bitOffset: 8, bitfieldSize: 0 },
      ],
    });
    expect(btf.alignof(packed)).toBe(1);
    expect(btf.alignof(c)).toBe(1);
  });

  it('resolves qualifiers and typedefs', () => {
    const btf = allKindsBtf();
    expect(btf.skipQualifiers(10)).toBe(1);
    expect(btf.skipQualifiers(8)).toBe(8);
    expect(btf.underlying(8)).toBe(4);
    expect(btf.skipQualifiers(18)).toBe(1); // type_tag
    expect(btf.underlying(0)).toBe(0);
  });

  it('reports typedef and qualifier loops as BTF_CYCLE instead of recursing', () => {
    const btf = Btf.empty({ source: 'loops' });
    // 1 → 2 → 1: typedef loop; 3 → 3 const loop; 4 struct containing itself by value.
    btf.add({ kind: 'typedef', name: 'a', type: 2 });
    btf.add({ kind: 'typedef', name: 'b', type: 1 });
    btf.add({ kind: 'const', name: '', type: 3 });
    btf.add({ kind: 'struct', name: 'self', size: 4, kindFlag: false, members: [{ name: 'x', type: 4, bitOffset: 0, bitfieldSize: 0 }] });
    btf.add({ kind: 'array', name: '', elemType: 5, indexType: 0, nelems: 2 });
    const e = expectBtfError(() => btf.sizeof(1), 'BTF_CYCLE');
    expect(e.message).toMatch(/^loops, type 1: /); // source and type id named
    expectBtfError(() => btf.underlying(2), 'BTF_CYCLE');
    expectBtfError(() => btf.skipQualifiers(3), 'BTF_CYCLE');
    expectBtfError(() => btf.sizeof(3), 'BTF_CYCLE');
    expectBtfError(() => btf.alignof(4), 'BTF_CYCLE');
    expectBtfError(() => btf.sizeof(5), 'BTF_CYCLE');
    expect(btf.sizeof(4)).toBe(4); // a struct's size is its own field
  });

  it('finds types by name and kind, including after add and replace', () => {
    const btf = allKindsBtf();
    expect(btf.find('s', 'struct')).toBe(4);
    expect(btf.find('s', 'union')).toBeUndefined();
    expect(btf.find('nope', 'struct')).toBeUndefined();
    expect(btf.idsByName('int')).toEqual([1]);
    expect(btf.idsByName('')).toContain(2);
    const dup = btf.add({ kind: 'struct', name: 's', size: 0, kindFlag: false, members: [] });
    expect(btf.idsByName('s')).toEqual([4, dup]);
    btf.replace(5, { kind: 'union', name: 'renamed', size: 8, kindFlag: false, members: [] });
    expect(btf.idsByName('u')).toEqual([]);
    expect(btf.idsByName('renamed')).toEqual([5]);
    expect(btf.find('renamed', 'union')).toBe(5);
    expect(btf.kind(5)).toBe('union');
    // Lookups on a freshly parsed copy (no index yet) agree.
    const parsed = Btf.parse(btf.encode());
    expect(parsed.find('renamed', 'union')).toBe(5);
    expect(parsed.idsByName('s')).toEqual([4, dup]);
  });

  it('keeps every string at its offset when types are replaced and added', () => {
    const original = allKindsBtf().encode();
    const btf = Btf.parse(original);
    const nameOff = new DataView(original.buffer).getUint32(24 + 0, true); // name_off of type 1
    expect(btf.string(nameOff)).toBe('int');
    btf.replace(4, { kind: 'struct', name: 'brand_new', size: 4, kindFlag: false, members: [{ name: 'z', type: 1, bitOffset: 0, bitfieldSize: 0 }] });
    const added = btf.add({ kind: 'typedef', name: 'another', type: 1 });
    const encoded = btf.encode();
    const dv = new DataView(encoded.buffer);
    const strOff = 24 + dv.getUint32(16, true);
    const oldStrLen = new DataView(original.buffer).getUint32(20, true);
    const oldStrOff = 24 + new DataView(original.buffer).getUint32(16, true);
    // The old string table is a prefix of the new one.
    expect(encoded.subarray(strOff, strOff + oldStrLen)).toEqual(original.subarray(oldStrOff, oldStrOff + oldStrLen));
    const re = Btf.parse(encoded);
    expect(re.name(4)).toBe('brand_new');
    expect(re.name(added)).toBe('another');
    expect(re.string(nameOff)).toBe('int');
    expect(re.type(6)).toEqual(btf.type(6));
  });

  it('refuses to replace base types, void, or unknown ids', () => {
    const base = allKindsBtf();
    const split = Btf.empty({ base });
    expectBtfError(() => split.replace(1, int32), 'BTF_BAD_TYPE_ID');
    expectBtfError(() => base.replace(0, int32), 'BTF_BAD_TYPE_ID');
    expectBtfError(() => base.replace(500, int32), 'BTF_BAD_TYPE_ID');
    expectBtfError(() => base.add({ kind: 'void', name: '' }), 'BTF_BAD_KIND');
  });

  it('builds split BTF that continues the id and string spaces of its base', () => {
    const base = Btf.parse(allKindsBtf().encode(), { source: 'base' });
    const split = Btf.empty({ base, source: 'mod' });
    expect(split.firstTypeId).toBe(base.typeCount);
    const ptr = split.add({ kind: 'ptr', name: '', type: 4 });
    const st = split.add({ kind: 'struct', name: 'mod_only', size: 8, kindFlag: false, members: [{ name: 'a', type: ptr, bitOffset: 0, bitfieldSize: 0 }] });
    const td = split.add({ kind: 'typedef', name: 'int', type: 1 }); // reuses the base's "int" string
    expect(ptr).toBe(base.typeCount);
    const bytes = split.encode();
    const dv = new DataView(bytes.buffer);
    // Own strings only ("int" and "a" are reused from the base), offsets past the base's.
    const strLen = dv.getUint32(20, true);
    expect(new TextDecoder().decode(bytes.subarray(bytes.length - strLen))).toBe('mod_only\0');
    expect(new DataView(bytes.buffer).getUint32(24 + 12, true)).toBe(base.stringsLength);
    const parsed = Btf.parse(bytes, { base, source: 'mod' });
    expect(parsed.typeCount).toBe(base.typeCount + 3);
    expect(parsed.type(st)).toEqual(split.type(st));
    expect(parsed.type(4)).toBe(base.type(4));
    expect(parsed.name(td)).toBe('int');
    expect(parsed.idsByName('int')).toEqual([1, td]);
    expect(parsed.find('s', 'struct')).toBe(4);
    expect(parsed.find('mod_only', 'struct')).toBe(st);
    expect(parsed.sizeof(st)).toBe(8);
    expect(parsed.encode()).toEqual(bytes);
  });

  it('rejects malformed headers with named errors', () => {
    const good = allKindsBtf().encode();
    expectBtfError(() => Btf.parse(new Uint8Array(0)), 'BTF_TRUNCATED');
    const badMagic = good.slice();
    badMagic[0] = 0;
    expect(expectBtfError(() => Btf.parse(badMagic, { source: 'x.o' }), 'BTF_BAD_MAGIC').message).toMatch(/^x\.o, offset 0: /);
    const be = good.slice();
    be[0] = 0xeb;
    be[1] = 0x9f;
    expect(expectBtfError(() => Btf.parse(be), 'BTF_BAD_MAGIC').message).toContain('big-endian');
    const ver = good.slice();
    ver[2] = 2;
    expectBtfError(() => Btf.parse(ver), 'BTF_BAD_HEADER');
    expectBtfError(() => Btf.parse(good.subarray(0, 20)), 'BTF_TRUNCATED');
    expectBtfError(() => Btf.parse(good.subarray(0, good.length - 1)), 'BTF_TRUNCATED');
    const kind = good.slice();
    kind[24 + 7] = 25; // kind 25 in the first record's info
    const e = expectBtfError(() => Btf.parse(kind), 'BTF_BAD_KIND');
    expect(e.typeId).toBe(1);
    expect(e.offset).toBe(24);
    const noNul = good.slice();
    noNul[noNul.length - 1] = 0x41;
    expectBtfError(() => Btf.parse(noNul), 'BTF_BAD_STRING');
    const badName = good.slice();
    new DataView(badName.buffer).setUint32(24, 0xfffff, true);
    const p = Btf.parse(badName);
    expectBtfError(() => p.type(1), 'BTF_BAD_STRING');
    expectBtfError(() => p.string(1 << 30), 'BTF_BAD_STRING');
  });
});
