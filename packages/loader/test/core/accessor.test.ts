import { describe, expect, it } from 'vitest';
import {
  BPF_CORE,
  CoreError,
  coreRelocationKindName,
  describeSpec,
  essentialName,
  formatSpecPath,
  isCoreRelocationKind,
  parseAccessString,
  parseCoreSpec,
  resolveSize,
} from '../../src/btf/core/index.js';
import { BtfBuilder } from './builder.js';

describe('kinds', () => {
  it('numbers kinds as enum bpf_core_relo_kind and names them', () => {
    expect(BPF_CORE.FIELD_BYTE_OFFSET).toBe(0);
    expect(BPF_CORE.ENUMVAL_VALUE).toBe(11);
    expect(BPF_CORE.TYPE_MATCHES).toBe(12);
    expect(coreRelocationKindName(4)).toBe('FIELD_LSHIFT_U64');
    expect(coreRelocationKindName(12)).toBe('TYPE_MATCHES');
    expect(coreRelocationKindName(13)).toBe('UNKNOWN(13)');
    expect(isCoreRelocationKind(12)).toBe(true);
    expect(isCoreRelocationKind(13)).toBe(false);
  });
});

describe('essentialName', () => {
  it('strips the last ___flavour suffix only between non-underscores', () => {
    expect(essentialName('task_struct___x')).toBe('task_struct');
    expect(essentialName('task_struct___x___y')).toBe('task_struct___x');
    expect(essentialName('task_struct')).toBe('task_struct');
    expect(essentialName('__u32')).toBe('__u32');
    expect(essentialName('a____b')).toBe('a____b');
    expect(essentialName('a___')).toBe('a___');
    expect(essentialName('___b')).toBe('___b');
    expect(essentialName('')).toBe('');
  });
});

describe('access strings', () => {
  it('parses colon-separated indices and rejects junk', () => {
    expect(parseAccessString('0:1:2')).toEqual([0, 1, 2]);
    for (const bad of ['', ':1', '1:', '1::2', '-1', 'a', '1:x', ' 1']) {
      expect(() => parseAccessString(bad), bad).toThrow(CoreError);
    }
    expect(() => parseAccessString(Array(65).fill('0').join(':'))).toThrow(/deeper/);
  });
});

function sample() {
  const b = new BtfBuilder();
  const int = b.int('int', 4, true);
  const long = b.int('long', 8, true);
  const arr = b.array(int, 7);
  // struct sample { int u; struct { int x; int y; int a[7]; }; union { long l; int i; } named; };
  const anon = b.struct('', 36, [
    ['x', int, 0],
    ['y', int, 32],
    ['a', arr, 64],
  ]);
  const named = b.union('', 8, [
    ['l', long, 0],
    ['i', int, 0],
  ]);
  const td = b.typedef('named_t', b.const(named));
  const s = b.struct('sample', 48, [
    ['u', int, 0],
    ['', anon, 32],
    ['named', td, 320],
  ]);
  const ptd = b.typedef('sample_t', b.typedef('sample_t2', s));
  return { b, s, int, long, ptd, anon };
}

describe('parseCoreSpec', () => {
  it('walks anonymous structs, arrays and keeps only named steps as accessors', () => {
    const { b, s } = sample();
    const spec = parseCoreSpec(b.btf, s, '0:1:2:3', BPF_CORE.FIELD_BYTE_OFFSET);
    expect(spec.raw).toEqual([0, 1, 2, 3]);
    expect(spec.accessors.map((a) => a.name ?? a.index)).toEqual([0, 'a', 3]);
    expect(spec.bitOffset).toBe(32 + 64 + 3 * 32);
    expect(formatSpecPath(spec)).toBe('sample.a[3]');
    expect(describeSpec(spec)).toBe('struct sample.a[3]');
  });

  it('follows typedef/const chains on members and the root, and indexes the root pointer', () => {
    const { b, s, ptd } = sample();
    const spec = parseCoreSpec(b.btf, ptd, '2:2:1', BPF_CORE.FIELD_BYTE_OFFSET);
    expect(spec.accessors[0].typeId).toBe(s);
    expect(spec.bitOffset).toBe(2 * 48 * 8 + 320);
    expect(formatSpecPath(spec)).toBe('sample_t[2].named.i');
    expect(describeSpec(spec)).toBe('typedef sample_t[2].named.i');
  });

  it('rejects out-of-range members and array indices, and walking into scalars', () => {
    const { b, s } = sample();
    expect(() => parseCoreSpec(b.btf, s, '0:3', 0)).toThrow(/3 members, index 3/);
    expect(() => parseCoreSpec(b.btf, s, '0:1:2:7', 0)).toThrow(/past the end of a 7-element array/);
    expect(() => parseCoreSpec(b.btf, s, '0:0:1', 0)).toThrow(/reaches a int/);
    expect(() => parseCoreSpec(b.btf, s, '0:1', BPF_CORE.TYPE_SIZE)).toThrow(/access string "0"/);
    expect(() => parseCoreSpec(b.btf, s, '0', 42)).toThrow(CoreError);
    const err = (() => {
      try {
        parseCoreSpec(b.btf, s, '0:9', 0);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(CoreError);
    expect((err as CoreError).code).toBe('CORE_BAD_SPEC');
    expect((err as CoreError).message).toContain('struct sample');
  });

  it('allows any index into a flexible array member', () => {
    const b = new BtfBuilder();
    const ch = b.int('char', 1);
    const s = b.struct('msg', 4, [
      ['len', b.int('u32', 4), 0],
      ['data', b.array(ch, 0), 32],
    ]);
    const spec = parseCoreSpec(b.btf, s, '0:1:100', 0);
    expect(spec.bitOffset).toBe(32 + 800);
    // A zero-length array that is not last is not flexible.
    const t = b.struct('msg2', 8, [
      ['data', b.array(ch, 0), 0],
      ['len', b.int('u32', 4), 0],
    ]);
    expect(() => parseCoreSpec(b.btf, t, '0:0:1', 0)).toThrow(/past the end/);
  });

  it('parses enumerator accesses', () => {
    const b = new BtfBuilder();
    const e = b.enum('color', [
      ['RED', 0],
      ['GREEN', 1],
    ]);
    const spec = parseCoreSpec(b.btf, e, '1', BPF_CORE.ENUMVAL_VALUE);
    expect(spec.accessors[0].name).toBe('GREEN');
    expect(describeSpec(spec)).toBe('enum color::GREEN');
    expect(() => parseCoreSpec(b.btf, e, '2', BPF_CORE.ENUMVAL_VALUE)).toThrow(/out of range/);
    expect(() => parseCoreSpec(b.btf, e, '0:1', BPF_CORE.ENUMVAL_VALUE)).toThrow(/single index/);
    const s = b.struct('s', 4, [['x', b.int('int', 4), 0]]);
    expect(() => parseCoreSpec(b.btf, s, '0', BPF_CORE.ENUMVAL_EXISTS)).toThrow(/not an enum/);
  });

  it('reports a bad root id and a typedef cycle as CoreError', () => {
    const b = new BtfBuilder();
    expect(() => parseCoreSpec(b.btf, 99, '0', 0)).toThrow(CoreError);
    const t1 = b.typedef('loop', 0);
    b.btf.replace(t1, { kind: 'typedef', name: 'loop', type: t1 });
    expect(() => parseCoreSpec(b.btf, t1, '0', 0)).toThrow(CoreError);
  });
});

describe('resolveSize', () => {
  it('multiplies arrays and follows modifiers; pointers are 8 bytes', () => {
    const b = new BtfBuilder();
    const i = b.int('int', 4);
    expect(resolveSize(b.btf, b.array(b.array(b.const(i), 3), 2))).toBe(24);
    expect(resolveSize(b.btf, b.ptr(i))).toBe(8);
    expect(() => resolveSize(b.btf, b.fwd('x'))).toThrow(/no size/);
  });
});
