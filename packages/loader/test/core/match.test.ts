import { describe, expect, it } from 'vitest';
import {
  BPF_CORE,
  candidatesIn,
  CoreError,
  fieldsAreCompatible,
  findCandidates,
  type LazyCoreTargets,
  matchSpec,
  parseCoreSpec,
  typesAreCompatible,
  typesMatch,
} from '../../src/btf/core/index.js';
import { BtfBuilder } from './builder.js';

describe('fieldsAreCompatible', () => {
  it('follows libbpf: composites mix, ints of any size/sign, pointers, floats', () => {
    const l = new BtfBuilder();
    const t = new BtfBuilder();
    const ls = l.struct('a', 4, []);
    const tu = t.union('b', 4, []);
    expect(fieldsAreCompatible(l.btf, ls, t.btf, tu)).toBe(true);
    expect(fieldsAreCompatible(l.btf, l.int('int', 4, true), t.btf, t.int('unsigned long', 8))).toBe(true);
    expect(fieldsAreCompatible(l.btf, l.ptr(l.int('char', 1)), t.btf, t.ptr(tu))).toBe(true);
    const lf = l.btf.add({ kind: 'float', name: 'double', size: 8 });
    const tf = t.btf.add({ kind: 'float', name: 'float', size: 4 });
    expect(fieldsAreCompatible(l.btf, lf, t.btf, tf)).toBe(true);
    expect(fieldsAreCompatible(l.btf, lf, t.btf, t.int('int', 4))).toBe(false);
    expect(fieldsAreCompatible(l.btf, l.int('int', 4), t.btf, tu)).toBe(false);
    expect(fieldsAreCompatible(l.btf, l.ptr(0), t.btf, t.int('long', 8))).toBe(false);
  });

  it('rejects legacy bitfield-encoded ints (int offset != 0)', () => {
    const l = new BtfBuilder();
    const t = new BtfBuilder();
    const legacy = t.btf.add({ kind: 'int', name: 'int', size: 4, encoding: { signed: true, char: false, bool: false }, offset: 3, bits: 5 });
    expect(fieldsAreCompatible(l.btf, l.int('int', 4), t.btf, legacy)).toBe(false);
  });

  it('enums and forwards need equal essential names unless one is anonymous; ENUM/ENUM64 mix', () => {
    const l = new BtfBuilder();
    const t = new BtfBuilder();
    expect(fieldsAreCompatible(l.btf, l.enum('e___v1', []), t.btf, t.enum64('e', []))).toBe(true);
    expect(fieldsAreCompatible(l.btf, l.enum('e', []), t.btf, t.enum('f', []))).toBe(false);
    expect(fieldsAreCompatible(l.btf, l.enum('', []), t.btf, t.enum('f', []))).toBe(true);
    expect(fieldsAreCompatible(l.btf, l.fwd('x'), t.btf, t.fwd('x'))).toBe(true);
    expect(fieldsAreCompatible(l.btf, l.fwd('x'), t.btf, t.fwd('y'))).toBe(false);
  });

  it('arrays compare element types, not lengths, through typedefs and qualifiers', () => {
    const l = new BtfBuilder();
    const t = new BtfBuilder();
    const la = l.typedef('arr_t', l.array(l.const(l.int('int', 4)), 4));
    expect(fieldsAreCompatible(l.btf, la, t.btf, t.array(t.int('long', 8), 16))).toBe(true);
    expect(fieldsAreCompatible(l.btf, la, t.btf, t.array(t.struct('s', 4, []), 4))).toBe(false);
    expect(fieldsAreCompatible(l.btf, la, t.btf, t.int('int', 4))).toBe(false);
  });
});

describe('typesAreCompatible', () => {
  it('same kind for composites/enums/fwds; pointers and arrays recurse; int offsets rejected', () => {
    const l = new BtfBuilder();
    const t = new BtfBuilder();
    expect(typesAreCompatible(l.btf, l.struct('a', 4, []), t.btf, t.struct('a', 8, []))).toBe(true);
    expect(typesAreCompatible(l.btf, l.struct('a', 4, []), t.btf, t.union('a', 8, []))).toBe(false);
    expect(typesAreCompatible(l.btf, l.enum('e', [], { size: 4 }), t.btf, t.enum64('e', []))).toBe(true);
    expect(typesAreCompatible(l.btf, l.typedef('p', l.ptr(l.int('int', 4))), t.btf, t.typedef('p', t.ptr(t.int('u8', 1))))).toBe(true);
    expect(typesAreCompatible(l.btf, l.typedef('p', l.ptr(l.int('int', 4))), t.btf, t.typedef('p', t.ptr(t.struct('s', 1, []))))).toBe(false);
    // a typedef root is compared as a typedef first: typedef vs struct differ
    expect(typesAreCompatible(l.btf, l.typedef('q', l.int('int', 4)), t.btf, t.struct('q', 4, []))).toBe(false);
  });

  it('function prototypes need equal arity and compatible argument and return types', () => {
    const l = new BtfBuilder();
    const t = new BtfBuilder();
    const li = l.int('int', 4);
    const ti = t.int('int', 4);
    const ts = t.struct('s', 4, []);
    const lp = l.typedef('cb', l.ptr(l.funcProto(li, [li, l.ptr(li)])));
    expect(typesAreCompatible(l.btf, lp, t.btf, t.typedef('cb', t.ptr(t.funcProto(ti, [ti, t.ptr(ti)]))))).toBe(true);
    expect(typesAreCompatible(l.btf, lp, t.btf, t.typedef('cb', t.ptr(t.funcProto(ti, [ti]))))).toBe(false);
    expect(typesAreCompatible(l.btf, lp, t.btf, t.typedef('cb', t.ptr(t.funcProto(ts, [ti, t.ptr(ti)]))))).toBe(false);
    expect(typesAreCompatible(l.btf, lp, t.btf, t.typedef('cb', t.ptr(t.funcProto(ti, [ts, t.ptr(ti)]))))).toBe(false);
  });
});

describe('typesMatch (TYPE_MATCHES)', () => {
  function pair() {
    return { l: new BtfBuilder(), t: new BtfBuilder() };
  }

  it('ints need equal size and signedness', () => {
    const { l, t } = pair();
    const li = l.typedef('x_t', l.int('int', 4, true));
    expect(typesMatch(l.btf, li, t.btf, t.typedef('x_t', t.int('int', 4, true)))).toBe(true);
    expect(typesMatch(l.btf, li, t.btf, t.typedef('x_t', t.int('int', 4, false)))).toBe(false);
    expect(typesMatch(l.btf, li, t.btf, t.typedef('x_t', t.int('int', 8, true)))).toBe(false);
  });

  it('names matter at every level after typedefs, and anonymous matches anonymous only', () => {
    const { l, t } = pair();
    const li = l.int('int', 4, true);
    const ti = t.int('int', 4, true);
    const tl = t.int('long', 4, true);
    const ls = l.struct('s', 8, [['a', li, 0]]);
    expect(typesMatch(l.btf, ls, t.btf, t.struct('s', 8, [['a', tl, 0]]))).toBe(false);
    expect(typesMatch(l.btf, ls, t.btf, t.struct('s', 8, [['b', ti, 0], ['a', ti, 32]]))).toBe(true);
    // member names are compared flavour-less
    const lf = l.struct('s2', 4, [['a___x', li, 0]]);
    expect(typesMatch(l.btf, lf, t.btf, t.struct('s2', 4, [['a', ti, 0]]))).toBe(true);
    // anonymous target member types need anonymous local ones
    const lanon = l.struct('s3', 4, [['u', l.union('', 4, [['a', li, 0]]), 0]]);
    expect(typesMatch(l.btf, lanon, t.btf, t.struct('s3', 4, [['u', t.union('', 4, [['a', ti, 0]]), 0]]))).toBe(true);
    expect(typesMatch(l.btf, lanon, t.btf, t.struct('s3', 4, [['u', t.union('named', 4, [['a', ti, 0]]), 0]]))).toBe(false);
  });

  it('structs: every local member must exist in the target; more locals than targets fail', () => {
    const { l, t } = pair();
    const li = l.int('int', 4, true);
    const ti = t.int('int', 4, true);
    const ls = l.struct('s', 8, [
      ['a', li, 0],
      ['b', li, 32],
    ]);
    expect(typesMatch(l.btf, ls, t.btf, t.struct('s', 4, [['a', ti, 0]]))).toBe(false);
    expect(typesMatch(l.btf, ls, t.btf, t.struct('s', 12, [['c', ti, 0], ['a', ti, 0], ['b', ti, 0]]))).toBe(true);
    expect(typesMatch(l.btf, ls, t.btf, t.union('s', 4, [['a', ti, 0], ['b', ti, 0]]))).toBe(false);
  });

  it('behind a pointer only names and kinds count, and fwd matches the same-kind definition', () => {
    const { l, t } = pair();
    const li = l.int('int', 4, true);
    const ti = t.int('int', 4, true);
    const linner = l.struct('inner', 4, [['x', li, 0]]);
    const ls = l.struct('outer', 8, [['p', l.ptr(linner), 0]]);
    // the target's inner has different members: fine behind a pointer
    const tinner = t.struct('inner', 4, [['y', t.int('long', 8), 0]]);
    expect(typesMatch(l.btf, ls, t.btf, t.struct('outer', 8, [['p', t.ptr(tinner), 0]]))).toBe(true);
    // inner by value is checked deeply
    const lv = l.struct('outer2', 8, [['v', linner, 0]]);
    expect(typesMatch(l.btf, lv, t.btf, t.struct('outer2', 8, [['v', tinner, 0]]))).toBe(false);
    // struct vs fwd behind a pointer
    expect(typesMatch(l.btf, ls, t.btf, t.struct('outer', 8, [['p', t.ptr(t.fwd('inner')), 0]]))).toBe(true);
    expect(typesMatch(l.btf, ls, t.btf, t.struct('outer', 8, [['p', t.ptr(t.fwd('inner', true)), 0]]))).toBe(false);
    const lfwd = l.struct('outer3', 8, [['p', l.ptr(l.fwd('inner')), 0]]);
    expect(typesMatch(l.btf, lfwd, t.btf, t.struct('outer3', 8, [['p', t.ptr(tinner), 0]]))).toBe(true);
    // not behind a pointer: fwd only matches fwd of the same kind
    expect(typesMatch(l.btf, l.fwd('z'), t.btf, t.struct('z', 4, []))).toBe(false);
    expect(typesMatch(l.btf, l.fwd('z'), t.btf, t.fwd('z'))).toBe(true);
    void ti;
  });

  it('enums: same size, every local name present (values free), ENUM matches ENUM64', () => {
    const { l, t } = pair();
    const le = l.enum('e', [
      ['A', 1],
      ['B', 2],
    ]);
    expect(typesMatch(l.btf, le, t.btf, t.enum('e', [['B', 9], ['A', 8], ['C', 7]]))).toBe(true);
    expect(typesMatch(l.btf, le, t.btf, t.enum('e', [['A', 1]]))).toBe(false);
    expect(typesMatch(l.btf, le, t.btf, t.enum('e', [['A', 1], ['B', 2]], { size: 8 }))).toBe(false);
    const l64 = l.enum64('e64', [['A', 1n]]);
    expect(typesMatch(l.btf, l64, t.btf, t.enum('e64', [['A', 1]], { size: 8 }))).toBe(true);
  });

  it('arrays need equal lengths; function prototypes recurse', () => {
    const { l, t } = pair();
    const li = l.int('int', 4, true);
    const ti = t.int('int', 4, true);
    const la = l.typedef('a_t', l.array(li, 4));
    expect(typesMatch(l.btf, la, t.btf, t.typedef('a_t', t.array(ti, 4)))).toBe(true);
    expect(typesMatch(l.btf, la, t.btf, t.typedef('a_t', t.array(ti, 5)))).toBe(false);
    const lf = l.typedef('f_t', l.ptr(l.funcProto(li, [li])));
    expect(typesMatch(l.btf, lf, t.btf, t.typedef('f_t', t.ptr(t.funcProto(ti, [ti]))))).toBe(true);
    expect(typesMatch(l.btf, lf, t.btf, t.typedef('f_t', t.ptr(t.funcProto(ti, [t.int('int', 8, true)]))))).toBe(false);
  });

  it('deep self-reference by value ends in a CoreError, not a hang', () => {
    const { l, t } = pair();
    // struct loop { struct loop x; } (impossible in C, possible in bytes)
    const ll = l.struct('loop', 4, []);
    l.btf.replace(ll, { kind: 'struct', name: 'loop', size: 4, kindFlag: false, members: [{ name: 'x', type: ll, bitOffset: 0, bitfieldSize: 0 }] });
    const tl = t.struct('loop', 4, []);
    t.btf.replace(tl, { kind: 'struct', name: 'loop', size: 4, kindFlag: false, members: [{ name: 'x', type: tl, bitOffset: 0, bitfieldSize: 0 }] });
    expect(() => typesMatch(l.btf, ll, t.btf, tl)).toThrow(CoreError);
  });
});

describe('matchSpec', () => {
  it('fills the target spec with raw indices, accessors and bit offset', () => {
    const l = new BtfBuilder();
    const li = l.int('int', 4);
    const ls = l.struct('s', 8, [
      ['a', li, 0],
      ['arr', l.array(li, 2), 32],
    ]);
    const t = new BtfBuilder();
    const ti = t.int('int', 4);
    const ts = t.struct('s', 16, [
      ['pad', t.int('long', 8), 0],
      ['arr', t.array(ti, 2), 64],
      ['a', ti, 32],
    ]);
    const local = parseCoreSpec(l.btf, ls, '0:1:1', BPF_CORE.FIELD_BYTE_OFFSET);
    const spec = matchSpec(local, t.btf, ts);
    expect(spec?.raw).toEqual([0, 1, 1]);
    expect(spec?.bitOffset).toBe(64 + 32);
    expect(spec?.accessors.map((a) => a.name ?? a.index)).toEqual([0, 'arr', 1]);
  });
});

describe('candidates', () => {
  it('indexes a target once, caches per (kind, name) and sees types added later', () => {
    const t = new BtfBuilder();
    const a = t.struct('thing', 4, []);
    t.union('thing', 4, []);
    const first = candidatesIn(t.btf, 'thing___local', 'struct');
    expect(first).toEqual([a]);
    expect(candidatesIn(t.btf, 'thing', 'struct')).toBe(first);
    const b = t.struct('thing___2', 4, []);
    expect(candidatesIn(t.btf, 'thing', 'struct')).toEqual([a, b]);
    expect(candidatesIn(t.btf, 'thing', 'union')).toHaveLength(1);
    expect(candidatesIn(t.btf, 'thing', 'fwd')).toEqual([]);
  });

  it('ENUM and ENUM64 are candidates for each other', () => {
    const t = new BtfBuilder();
    const e = t.enum64('mode', []);
    expect(candidatesIn(t.btf, 'mode', 'enum')).toEqual([e]);
  });

  it('reads lazy module targets only when vmlinux has no candidate, and finds the same candidates', () => {
    const vm = new BtfBuilder();
    vm.int('int', 4);
    const vs = vm.struct('vmthing', 4, []);
    const m1 = new BtfBuilder(vm.btf);
    const m2 = new BtfBuilder(vm.btf);
    const x1 = m1.struct('modthing', 4, []);
    const x2 = m2.struct('modthing', 4, []);
    let reads = 0;
    const lazy: LazyCoreTargets = {
      vmlinux: vm.btf,
      *modules() {
        for (const m of [m1.btf, m2.btf]) {
          reads++;
          yield m;
        }
      },
    };
    const l = new BtfBuilder();
    const lv = l.struct('vmthing___x', 4, []);
    const lm = l.struct('modthing', 4, []);
    expect(findCandidates(l.btf, lv, lazy)).toEqual([{ btf: vm.btf, typeId: vs }]);
    expect(reads).toBe(0);
    const fromModules = findCandidates(l.btf, lm, lazy);
    expect(reads).toBe(2);
    expect(fromModules).toEqual([
      { btf: m1.btf, typeId: x1 },
      { btf: m2.btf, typeId: x2 },
    ]);
    expect(findCandidates(l.btf, lm, [vm.btf, m1.btf, m2.btf])).toEqual(fromModules);
  });

  it('searches vmlinux first and all modules only when vmlinux has nothing', () => {
    const vm = new BtfBuilder();
    vm.int('int', 4);
    const m1 = new BtfBuilder(vm.btf);
    const m2 = new BtfBuilder(vm.btf);
    const x1 = m1.struct('modthing', 4, []);
    const x2 = m2.struct('modthing', 4, []);
    const l = new BtfBuilder();
    const lx = l.struct('modthing___mine', 4, []);
    expect(findCandidates(l.btf, lx, [vm.btf, m1.btf, m2.btf])).toEqual([
      { btf: m1.btf, typeId: x1 },
      { btf: m2.btf, typeId: x2 },
    ]);
    const vx = vm.struct('modthing', 4, []);
    // vm grew after m1/m2 were created: only look at what the test controls
    expect(findCandidates(l.btf, lx, [vm.btf, m1.btf])).toEqual([{ btf: vm.btf, typeId: vx }]);
    expect(findCandidates(l.btf, lx, [])).toEqual([]);
  });
});
