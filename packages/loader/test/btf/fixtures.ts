/**
 * Hand-built BTF covering every kind, a seeded PRNG, a clang-19 probe and a minimal ELF section
 * scan shared by the BTF tests.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Btf } from '../../src/btf/btf.js';
import type { BtfType } from '../../src/btf/types.js';
import { ElfFile } from '../../src/elf/index.js';


/** clang used to build test objects; tests needing it skip with a printed reason when absent. */
export const CLANG = '/usr/bin/clang-19';

/** Whether clang-19 can run here. */
export function haveClang(): boolean {
  if (!existsSync(CLANG)) return false;
  try {
    execFileSync(CLANG, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The types of {@link allKindsBtf}, in id order (id = index + 1). */
export function allKindsTypes(): BtfType[] {
  const int: BtfType = { kind: 'int', name: 'int', size: 4, encoding: { signed: true, char: false, bool: false }, offset: 0, bits: 32 };
  return [
    int, // 1
    { kind: 'ptr', name: '', type: 1 }, // 2
    { kind: 'array', name: '', elemType: 1, indexType: 1, nelems: 4 }, // 3
    {
      kind: 'struct',
      name: 's',
      size: 32,
      kindFlag: true,
      members: [
        { name: 'a', type: 1, bitOffset: 0, bitfieldSize: 0 },
        { name: 'b', type: 1, bitOffset: 32, bitfieldSize: 3 },
        { name: 'p', type: 2, bitOffset: 64, bitfieldSize: 0 },
        { name: 'arr', type: 3, bitOffset: 128, bitfieldSize: 0 },
      ],
    }, // 4
    {
      kind: 'union',
      name: 'u',
      size: 8,
      kindFlag: false,
      members: [
        { name: 'x', type: 1, bitOffset: 0, bitfieldSize: 0 },
        { name: 'y', type: 2, bitOffset: 0, bitfieldSize: 0 },
      ],
    }, // 5
    { kind: 'enum', name: 'e', size: 4, signed: true, values: [{ name: 'E_NEG', value: -1 }, { name: 'E_TWO', value: 2 }] }, // 6
    { kind: 'fwd', name: 'f', union: false }, // 7
    { kind: 'typedef', name: 't', type: 4 }, // 8
    { kind: 'volatile', name: '', type: 1 }, // 9
    { kind: 'const', name: '', type: 9 }, // 10
    { kind: 'restrict', name: '', type: 2 }, // 11
    { kind: 'func_proto', name: '', returnType: 1, params: [{ name: 'x', type: 1 }] }, // 12
    { kind: 'func', name: 'fn', type: 12, linkage: 1 }, // 13
    { kind: 'var', name: 'v', type: 1, linkage: 1 }, // 14
    { kind: 'datasec', name: '.data', size: 4, vars: [{ type: 14, offset: 0, size: 4 }] }, // 15
    { kind: 'float', name: 'float', size: 4 }, // 16
    { kind: 'decl_tag', name: 'tag', type: 4, componentIdx: 0 }, // 17
    { kind: 'type_tag', name: 'user', type: 1 }, // 18
    { kind: 'ptr', name: '', type: 18 }, // 19
    { kind: 'enum64', name: 'e64', size: 8, signed: false, values: [{ name: 'BIG', value: 1n << 40n }, { name: 'MAXU', value: (1n << 64n) - 1n }] }, // 20
    { kind: 'enum64', name: 'es64', size: 8, signed: true, values: [{ name: 'MINUS', value: -5n }] }, // 21
    { kind: 'decl_tag', name: 'whole', type: 13, componentIdx: -1 }, // 22
    { kind: 'fwd', name: 'fu', union: true }, // 23
  ];
}

/** A BTF with every kind (kernel-loadable). */
export function allKindsBtf(): Btf {
  const btf = Btf.empty({ source: 'all-kinds' });
  for (const t of allKindsTypes()) btf.add(t);
  return btf;
}

export { prng } from '../support/random.js';

/** The bytes of a named section of an ELF object. */
export function elfSection(bytes: Uint8Array, name: string, source = '<elf>'): Uint8Array | undefined {
  const elf = ElfFile.parse(bytes, source);
  const sec = elf.section(name);
  return sec ? elf.data(sec) : undefined;
}
