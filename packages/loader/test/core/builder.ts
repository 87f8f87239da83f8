/**
 * Terse construction of small BTFs for CO-RE unit tests, on top of `Btf.empty().add(...)`.
 */
import { Btf } from '../../src/btf/btf.js';
import type { BtfMember } from '../../src/btf/types.js';

/** A member spec: name, type id, bit offset, optional bitfield width. */
export type M = [name: string, type: number, bitOffset: number, bitfieldSize?: number];

/** Builds one BTF; every method returns the new type id. */
export class BtfBuilder {
  readonly btf: Btf;

  constructor(base?: Btf) {
    this.btf = Btf.empty(base ? { base, source: 'test-split' } : { source: 'test' });
  }

  int(name: string, size: number, signed = false): number {
    return this.btf.add({ kind: 'int', name, size, encoding: { signed, char: false, bool: false }, offset: 0, bits: size * 8 });
  }
  ptr(type: number): number {
    return this.btf.add({ kind: 'ptr', name: '', type });
  }
  typedef(name: string, type: number): number {
    return this.btf.add({ kind: 'typedef', name, type });
  }
  const(type: number): number {
    return this.btf.add({ kind: 'const', name: '', type });
  }
  volatile(type: number): number {
    return this.btf.add({ kind: 'volatile', name: '', type });
  }
  array(elemType: number, nelems: number): number {
    const index = this.btf.find('__ARRAY_SIZE_TYPE__', 'int') ?? this.int('__ARRAY_SIZE_TYPE__', 4);
    return this.btf.add({ kind: 'array', name: '', elemType, indexType: index, nelems });
  }
  private composite(kind: 'struct' | 'union', name: string, size: number, members: M[]): number {
    const kindFlag = members.some((m) => (m[3] ?? 0) > 0);
    const ms: BtfMember[] = members.map(([n, type, bitOffset, bitfieldSize]) => ({ name: n, type, bitOffset, bitfieldSize: bitfieldSize ?? 0 }));
    return this.btf.add({ kind, name, size, kindFlag, members: ms });
  }
  struct(name: string, size: number, members: M[]): number {
    return this.composite('struct', name, size, members);
  }
  union(name: string, size: number, members: M[]): number {
    return this.composite('union', name, size, members);
  }
  enum(name: string, values: [string, number][], { size = 4, signed = false } = {}): number {
    return this.btf.add({ kind: 'enum', name, size, signed, values: values.map(([n, value]) => ({ name: n, value })) });
  }
  enum64(name: string, values: [string, bigint][], { signed = false } = {}): number {
    return this.btf.add({ kind: 'enum64', name, size: 8, signed, values: values.map(([n, value]) => ({ name: n, value })) });
  }
  fwd(name: string, union = false): number {
    return this.btf.add({ kind: 'fwd', name, union });
  }
  funcProto(returnType: number, params: number[]): number {
    return this.btf.add({ kind: 'func_proto', name: '', returnType, params: params.map((type) => ({ name: '', type })) });
  }
}
