/**
 * Name lookups (`idsByName`, `find`, `ownIdsByEssentialName`) against a linear scan over every type:
 * the per-kind chains, the first linear walks and the hash indexes built after them must all give
 * exactly the ids a scan gives, for plain, flavoured (`x___y`), anonymous and missing names, and
 * keep doing so while types are added, renamed and re-kinded.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Btf } from '../../src/btf/btf.js';
import { VMLINUX_BTF_PATH } from '../../src/btf/kernel.js';
import type { BtfKindName, BtfType } from '../../src/btf/types.js';
import { candidatesIn } from '../../src/btf/core/candidates.js';
import { essentialName } from '../../src/btf/core/names.js';
import { xorshift32 } from '../support/random.js';

const haveKernelBtf = existsSync(VMLINUX_BTF_PATH);
if (!haveKernelBtf) console.warn(`skipping kernel BTF name-lookup tests: ${VMLINUX_BTF_PATH} is missing (kernel without CONFIG_DEBUG_INFO_BTF)`);

/** Ground truth by scanning every own type: name → ids, and `kind:essential` → ids. */
function scan(btf: Btf): { byName: Map<string, number[]>; byEssential: Map<string, number[]> } {
  const byName = new Map<string, number[]>();
  const byEssential = new Map<string, number[]>();
  for (let id = btf.firstTypeId; id < btf.typeCount; id++) {
    const name = btf.name(id);
    const list = byName.get(name);
    if (list) list.push(id);
    else byName.set(name, [id]);
    if (name === '') continue;
    const key = `${btf.kind(id)}:${essentialName(name)}`;
    const e = byEssential.get(key);
    if (e) e.push(id);
    else byEssential.set(key, [id]);
  }
  return { byName, byEssential };
}

/** Every lookup of `names` (by name, by name and kind, by essential name and kind) against `truth`. */
function checkAll(btf: Btf, names: readonly string[], kinds: readonly BtfKindName[]): void {
  const { byName, byEssential } = scan(btf);
  for (const kind of kinds) {
    const want: number[] = [];
    for (let id = btf.firstTypeId; id < btf.typeCount; id++) if (btf.kind(id) === kind) want.push(id);
    expect(btf.ownIdsOfKind(kind), `ownIdsOfKind(${kind})`).toEqual(want);
  }
  for (const name of names) {
    const ids = byName.get(name) ?? [];
    expect(btf.idsByName(name), `idsByName(${JSON.stringify(name)})`).toEqual(ids);
    for (const kind of kinds) {
      const ofKind = ids.filter((id) => btf.kind(id) === kind);
      expect(btf.find(name, kind), `find(${JSON.stringify(name)}, ${kind})`).toBe(ofKind[0]);
      if (name === '') continue;
      const want = byEssential.get(`${kind}:${essentialName(name)}`) ?? [];
      expect(btf.ownIdsByEssentialName(name, kind), `essential ${name} ${kind}`).toEqual(want);
      expect(btf.ownIdsByEssentialName(`${name}___probe`, kind), `essential ${name}___probe ${kind}`).toEqual(
        byEssential.get(`${kind}:${essentialName(`${name}___probe`)}`) ?? [],
      );
    }
  }
}

describe.skipIf(!haveKernelBtf)('name lookups against the kernel BTF', () => {
  // A private copy: the shared kernel BTF may already have built its indexes in this process.
  const fresh = (): Btf => Btf.parse(new Uint8Array(readFileSync(VMLINUX_BTF_PATH)), { source: 'copy' });

  it('find, idsByName and essential-name lookups agree with a linear scan, before and after the indexes exist', () => {
    const btf = fresh();
    const { byName, byEssential } = scan(btf);
    // A spread of real names of every kind (every 211th type), plus hand-picked ones.
    const sample = new Set<string>(['task_struct', 'cred', 'int', 'pid_t', 'list_head', 'bpf_func_id', 'cap_capable', 'no_such_type_xyz', 'task_struct___v2']);
    for (let id = 1; id < btf.typeCount; id += 211) sample.add(btf.name(id));
    const flavoured = [...byName.keys()].filter((n) => n !== '' && essentialName(n) !== n);
    for (const n of flavoured) {
      sample.add(n);
      sample.add(essentialName(n));
    }
    const kinds: BtfKindName[] = ['struct', 'union', 'enum', 'enum64', 'typedef', 'func', 'int', 'var', 'fwd'];
    const names = [...sample];
    // Two rounds: the first walks chains until each kind has been looked up often enough to get a
    // hash index, the second runs entirely on the indexes. Both must match the scan.
    for (let round = 0; round < 2; round++) {
      for (const name of names) {
        const ids = byName.get(name) ?? [];
        expect(btf.idsByName(name)).toEqual(ids);
        for (const kind of kinds) {
          expect(btf.find(name, kind)).toBe(ids.find((id) => btf.kind(id) === kind));
          if (name === '') continue;
          expect(btf.ownIdsByEssentialName(name, kind)).toEqual(byEssential.get(`${kind}:${essentialName(name)}`) ?? []);
        }
      }
    }
    // Anonymous types: every id with an empty name, of every kind.
    expect(btf.idsByName('')).toEqual(byName.get('') ?? []);
    expect(btf.find('', 'ptr')).toBe((byName.get('') ?? []).find((id) => btf.kind(id) === 'ptr'));
  }, 120_000);

  it('the parse walk records every kind and name offset as decoding the record itself does', () => {
    const btf = fresh();
    const bad: string[] = [];
    for (let id = 1; id < btf.typeCount && bad.length < 5; id++) {
      const t = btf.type(id);
      if (btf.kind(id) !== t.kind || btf.name(id) !== t.name) bad.push(`${id}: ${btf.kind(id)} ${btf.name(id)} vs ${t.kind} ${t.name}`);
    }
    expect(bad).toEqual([]);
  }, 120_000);

  it('finds flavoured kernel types by their essential name, and CO-RE candidates include them', () => {
    const btf = fresh();
    const flavoured: number[] = [];
    for (let id = 1; id < btf.typeCount; id++) {
      const n = btf.name(id);
      if (n !== '' && essentialName(n) !== n) flavoured.push(id);
    }
    if (flavoured.length === 0) {
      console.warn('this kernel BTF has no flavoured type names (x___y): only the synthetic checks run');
      return;
    }
    for (const id of flavoured) {
      const n = btf.name(id);
      const kind = btf.kind(id);
      const ids = btf.ownIdsByEssentialName(`${essentialName(n)}___local`, kind);
      expect(ids).toContain(id);
      for (const other of ids) expect(essentialName(btf.name(other))).toBe(essentialName(n));
      if (kind !== 'enum64') expect(candidatesIn(btf, `${essentialName(n)}___mine`, kind)).toContain(id);
      // An exact lookup of the flavoured name still finds only the flavoured type.
      expect(btf.idsByName(n)).toContain(id);
    }
  }, 60_000);

  it('split BTF: own lookups see only own types, idsByName sees base then own', () => {
    const base = fresh();
    const split = Btf.empty({ base, source: 'split' });
    const own = split.add({ kind: 'struct', name: 'task_struct___mod', size: 4, kindFlag: false, members: [] });
    const own2 = split.add({ kind: 'struct', name: 'task_struct', size: 8, kindFlag: false, members: [] });
    const baseIds = base.idsByName('task_struct');
    expect(split.idsByName('task_struct')).toEqual([...baseIds, own2]);
    expect(split.ownIdsByEssentialName('task_struct', 'struct')).toEqual([own, own2]);
    expect(split.find('task_struct', 'struct')).toBe(base.find('task_struct', 'struct'));
  }, 60_000);
});

describe('name lookups while types change', () => {
  const rng = (seed: number): (() => number) => {
    const next = xorshift32(seed);
    return () => next() / 0x100000000;
  };
  const pool = ['a', 'b', 'thing', 'thing___v1', 'thing___v2', 'x___y___z', 'x___y', 'x', '__u32', 'a____b', 'a___', '___a', 'é___ü', ''];
  const kinds: BtfKindName[] = ['struct', 'union', 'enum', 'enum64', 'typedef', 'fwd'];
  function make(kind: BtfKindName, name: string): BtfType {
    switch (kind) {
      case 'struct':
      case 'union':
        return { kind, name, size: 4, kindFlag: false, members: [] };
      case 'enum':
        return { kind, name, size: 4, signed: false, values: [] };
      case 'enum64':
        return { kind, name, size: 8, signed: false, values: [] };
      case 'typedef':
        return { kind, name, type: 1 };
      default:
        return { kind: 'fwd', name, union: false };
    }
  }

  it('agree with a linear scan through adds, renames and kind changes (seeded)', () => {
    const next = rng(0x5eed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)];
    const btf = Btf.empty({ source: 'mutating' });
    btf.add({ kind: 'int', name: 'int', size: 4, encoding: { signed: true, char: false, bool: false }, offset: 0, bits: 32 });
    for (let step = 0; step < 400; step++) {
      const r = next();
      if (r < 0.5 || btf.typeCount < 4) btf.add(make(pick(kinds), pick(pool)));
      else btf.replace(2 + Math.floor(next() * (btf.typeCount - 2)), make(pick(kinds), pick(pool)));
      // Lookups between changes drive the walk → index switch and the changed-type bookkeeping.
      if (step % 7 === 0) {
        const name = pick(pool);
        for (const kind of kinds) btf.find(name, kind);
        btf.ownIdsByEssentialName(name || 'thing', pick(kinds));
      }
      if (step % 50 === 49) checkAll(btf, pool, kinds);
    }
    checkAll(btf, pool, kinds);
    // A parse of the encoded result starts from fresh chains and must agree too.
    checkAll(Btf.parse(btf.encode(), { source: 'reparsed' }), pool, kinds);
  });

  it('essential names follow the libbpf rule (separator between two non-underscore characters)', () => {
    const btf = Btf.empty({ source: 'flavours' });
    const ids = Object.fromEntries(
      ['s', 's___a', 's___a___b', 's____x', '__s', 's___', 's__x'].map((n) => [n, btf.add({ kind: 'struct', name: n, size: 0, kindFlag: false, members: [] })]),
    );
    expect(btf.ownIdsByEssentialName('s', 'struct')).toEqual([ids.s, ids.s___a]);
    expect(btf.ownIdsByEssentialName('s___zz', 'struct')).toEqual([ids.s, ids.s___a]);
    expect(btf.ownIdsByEssentialName('s___a___q', 'struct')).toEqual([ids.s___a___b]);
    expect(btf.ownIdsByEssentialName('s____x', 'struct')).toEqual([ids.s____x]);
    expect(btf.ownIdsByEssentialName('s___', 'struct')).toEqual([ids.s___]);
    expect(btf.ownIdsByEssentialName('s', 'union')).toEqual([]);
  });
});
