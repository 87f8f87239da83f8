// Builders for handmade BTF used by the codec and gadget-format tests.
import { Btf } from '../../src/btf/btf.js';
import type { BtfMember } from '../../src/btf/types.js';

export interface Ints {
  b: Btf;
  u8: number;
  s8: number;
  char: number;
  u16: number;
  s16: number;
  u32: number;
  s32: number;
  u64: number;
  s64: number;
  u128: number;
  s128: number;
  bool: number;
}

/** A fresh BTF with the usual integer types. */
export function baseBtf(): Ints {
  const b = Btf.empty({ source: 'test' });
  const int = (name: string, size: number, signed: boolean, extra: { char?: boolean; bool?: boolean } = {}) =>
    b.add({ kind: 'int', name, size, encoding: { signed, char: extra.char ?? false, bool: extra.bool ?? false }, offset: 0, bits: size * 8 });
  return {
    b,
    u8: int('unsigned char', 1, false),
    s8: int('signed char', 1, true),
    char: int('char', 1, true),
    u16: int('unsigned short', 2, false),
    s16: int('short', 2, true),
    u32: int('unsigned int', 4, false),
    s32: int('int', 4, true),
    u64: int('long long unsigned int', 8, false),
    s64: int('long long int', 8, true),
    u128: int('unsigned __int128', 16, false),
    s128: int('__int128', 16, true),
    bool: int('_Bool', 1, false, { bool: true }),
  };
}

/** A member spec: [name, type] or [name, type, bitfield bits]. */
export type MemberSpec = [string, number] | [string, number, number];

/**
 * Adds a struct (or union) laid out the way a C compiler would: natural alignment, bitfields packed
 * into storage units of their declared type without straddling one.
 */
export function addComposite(b: Btf, kind: 'struct' | 'union', name: string, specs: MemberSpec[]): number {
  const members: BtfMember[] = [];
  let bit = 0;
  let maxAlign = 1;
  let size = 0;
  const hasBitfields = specs.some((s) => s.length === 3);
  for (const [mname, type, bits] of specs) {
    const align = b.alignof(type);
    const msize = b.sizeof(type);
    maxAlign = Math.max(maxAlign, align);
    if (kind === 'union') {
      members.push({ name: mname, type, bitOffset: 0, bitfieldSize: bits ?? 0 });
      size = Math.max(size, msize);
      continue;
    }
    if (bits !== undefined) {
      const unit = msize * 8;
      if (Math.floor(bit / unit) !== Math.floor((bit + bits - 1) / unit)) bit = Math.ceil(bit / unit) * unit;
      members.push({ name: mname, type, bitOffset: bit, bitfieldSize: bits });
      bit += bits;
    } else {
      bit = Math.ceil(bit / (align * 8)) * align * 8;
      members.push({ name: mname, type, bitOffset: bit, bitfieldSize: 0 });
      bit += msize * 8;
    }
  }
  if (kind === 'struct') size = Math.ceil(bit / 8);
  size = Math.ceil(size / maxAlign) * maxAlign;
  return b.add({ kind, name, size, kindFlag: hasBitfields, members });
}

export function addArray(b: Btf, elemType: number, nelems: number, indexType: number): number {
  return b.add({ kind: 'array', name: '', elemType, indexType, nelems });
}

export function addTypedef(b: Btf, name: string, type: number): number {
  return b.add({ kind: 'typedef', name, type });
}
