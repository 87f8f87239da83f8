/**
 * sanitizeBtf rewrites kinds an old kernel lacks, keeping ids; the running kernel's BPF_BTF_LOAD
 * accepts both the original and every sanitized variant.
 */
import { describe, expect, it } from 'vitest';
import { Btf } from '../../src/btf/btf.js';
import { type BtfSupport, needsSanitizing, sanitizeBtf } from '../../src/btf/sanitize.js';
import { btfLoadWithLog } from '../../src/sys/bpf.js';
import { allKindsBtf, allKindsTypes } from './fixtures.js';

const NOTHING: Required<BtfSupport> = {
  func: false,
  funcLinkage: false,
  datasec: false,
  qmarkDatasec: false,
  float: false,
  declTag: false,
  typeTag: false,
  enum64: false,
  tagAttributes: false,
};

/** Load `bytes` with BPF_BTF_LOAD; returns '' on success, else the error and the kernel's log. */
function kernelAccepts(bytes: Uint8Array): string {
  try {
    const { fd } = btfLoadWithLog({ btf: bytes });
    fd.close();
    return '';
  } catch (e) {
    const err = e as Error & { log?: string };
    return `${err.message}\n${err.log ?? ''}`;
  }
}

const probe = kernelAccepts(allKindsBtf().encode());
const canLoad = probe === '' || !/EPERM|EACCES/.test(probe);
if (!canLoad) console.warn(`skipping BPF_BTF_LOAD checks: ${probe.split('\n')[0]}`);

describe('sanitizeBtf', () => {
  it('changes nothing when every feature is supported', () => {
    const btf = allKindsBtf();
    expect(needsSanitizing({})).toBe(false);
    expect(needsSanitizing({ float: true })).toBe(false);
    expect(needsSanitizing({ float: false })).toBe(true);
    const out = sanitizeBtf(btf, {});
    expect(out).not.toBe(btf);
    expect(out.encode()).toEqual(btf.encode());
  });

  it('rewrites every new kind into an old one, ids unchanged, input untouched', () => {
    const btf = allKindsBtf();
    const before = btf.encode();
    const out = sanitizeBtf(btf, NOTHING);
    expect(btf.encode()).toEqual(before);
    const n = allKindsTypes().length;
    expect(out.typeCount).toBe(n + 2); // + enum64_placeholder
    const placeholder = n + 1;
    expect(out.type(placeholder)).toMatchObject({ kind: 'int', name: 'enum64_placeholder', size: 1, bits: 8 });
    const kinds = new Set<string>();
    for (let id = 1; id < out.typeCount; id++) kinds.add(out.kind(id));
    for (const k of ['func', 'func_proto', 'var', 'datasec', 'float', 'decl_tag', 'type_tag', 'enum64']) expect(kinds.has(k)).toBe(false);
    // Structural facts per rewrite (see fixtures for the ids).
    expect(out.type(12)).toEqual({ kind: 'enum', name: '', size: 4, signed: false, values: [{ name: 'x', value: 1 }] });
    expect(out.type(13)).toEqual({ kind: 'typedef', name: 'fn', type: 12 });
    expect(out.type(14)).toMatchObject({ kind: 'int', name: 'v', size: 1 });
    expect(out.type(15)).toEqual({ kind: 'struct', name: '_data', size: 4, kindFlag: false, members: [{ name: 'v', type: 14, bitOffset: 0, bitfieldSize: 0 }] });
    expect(out.type(16)).toEqual({ kind: 'struct', name: '', size: 4, kindFlag: false, members: [] });
    expect(out.type(17)).toMatchObject({ kind: 'int', size: 1 });
    expect(out.type(18)).toEqual({ kind: 'const', name: '', type: 1 });
    expect(out.type(20)).toMatchObject({ kind: 'union', name: 'e64', size: 8, members: [{ name: 'BIG', type: placeholder, bitOffset: 0 }, { name: 'MAXU', type: placeholder, bitOffset: 0 }] });
    expect(out.type(6)).toMatchObject({ kind: 'enum', signed: false });
    // Untouched kinds are identical.
    for (const id of [1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 19]) expect(out.type(id)).toEqual(btf.type(id));
    // Still a valid blob.
    expect(Btf.parse(out.encode()).typeCount).toBe(out.typeCount);
  });

  it('applies single rewrites independently', () => {
    const btf = allKindsBtf();
    const linkage = sanitizeBtf(btf, { funcLinkage: false });
    expect(linkage.type(13)).toEqual({ kind: 'func', name: 'fn', type: 12, linkage: 0 });
    expect(linkage.typeCount).toBe(btf.typeCount);
    const q = Btf.empty();
    const i = q.add({ kind: 'int', name: 'int', size: 4, encoding: { signed: true, char: false, bool: false }, offset: 0, bits: 32 });
    const v = q.add({ kind: 'var', name: 'ops', type: i, linkage: 1 });
    const ds = q.add({ kind: 'datasec', name: '?.struct_ops', size: 4, vars: [{ type: v, offset: 0, size: 4 }] });
    expect(sanitizeBtf(q, { qmarkDatasec: false }).name(ds)).toBe('_.struct_ops');
    expect(sanitizeBtf(q, { datasec: false }).name(ds)).toBe('__struct_ops');
    const tagged = Btf.empty();
    tagged.add({ kind: 'int', name: 'int', size: 4, encoding: { signed: true, char: false, bool: false }, offset: 0, bits: 32 });
    tagged.add({ kind: 'type_tag', name: 'attr', type: 1, attribute: true });
    tagged.add({ kind: 'type_tag', name: 'plain', type: 1 });
    const t = sanitizeBtf(tagged, { tagAttributes: false });
    expect(t.kind(2)).toBe('const');
    expect(t.kind(3)).toBe('type_tag');
  });

  it.skipIf(!canLoad)('produces BTF the running kernel loads, as does the unsanitized original', () => {
    expect(probe).toBe('');
    expect(kernelAccepts(sanitizeBtf(allKindsBtf(), NOTHING).encode())).toBe('');
    for (const key of Object.keys(NOTHING) as (keyof BtfSupport)[]) {
      expect(kernelAccepts(sanitizeBtf(allKindsBtf(), { [key]: false }).encode())).toBe('');
    }
  });
});
