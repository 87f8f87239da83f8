import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { KernelSymbols } from '../../src/kallsyms/index.js';

const SAMPLE = [
  'ffffffff81000000 T _stext',
  'ffffffff81000000 T _text',
  'ffffffff81001000 t do_one_initcall',
  'ffffffff81002000 T vfs_read',
  '0000000000000000 A fixed_percpu_data',
  'ffffffffc0001000 t nft_do_chain\t[nf_tables]',
  'ffffffffc0000800 T veth_xmit\t[veth]',
].join('\n');

describe('KernelSymbols.parse', () => {
  const t = KernelSymbols.parse(SAMPLE);
  it('drops zero addresses and sorts', () => {
    expect(t.size).toBe(6);
    expect(t.at(0)?.address).toBe(0xffffffff81000000n);
    expect(t.at(5)?.name).toBe('nft_do_chain');
  });
  it('symbolizes with offsets, aliases and modules', () => {
    expect(t.symbolize(0xffffffff81000010n)).toEqual({ name: '_stext', module: undefined, offset: 0x10, address: 0xffffffff81000000n });
    expect(t.symbolize(0xffffffff81002abcn)?.name).toBe('vfs_read');
    expect(t.symbolize(0xffffffffc0001004n)).toMatchObject({ name: 'nft_do_chain', module: 'nf_tables', offset: 4 });
    expect(t.format(0xffffffffc0000801n)).toBe('veth_xmit+0x1 [veth]');
    expect(t.symbolize(0x1000n)).toBeUndefined();
  });
  it('looks names up, optionally per module', () => {
    expect(t.lookup('vfs_read')?.type).toBe('T');
    expect(t.lookup('veth_xmit', 'veth')?.module).toBe('veth');
    expect(t.lookup('veth_xmit', null)).toBeUndefined();
    expect(t.has('nope')).toBe(false);
    expect(t.moduleNames()).toEqual(['nf_tables', 'veth']);
  });
});

describe('KernelSymbols.load (this kernel)', () => {
  const readable = !readFileSync('/proc/kallsyms', 'latin1').startsWith('0000000000000000');
  it.skipIf(!readable)('loads /proc/kallsyms once and resolves a known function', () => {
    const t = KernelSymbols.load();
    expect(KernelSymbols.load()).toBe(t);
    expect(t.size).toBeGreaterThan(10_000);
    const sym = t.lookup('vfs_read');
    expect(sym).toBeDefined();
    if (!sym) return;
    const s = t.symbolize(sym.address + 5n);
    expect(s?.offset).toBe(5);
    // An alias at the same address may win; it must start at the same place.
    expect(s?.address).toBe(sym.address);
  });
});

/** The straightforward reading of /proc/kallsyms: one object per line, sorted stably by address. */
function naive(text: string): { a: bigint; n: string; t: string; m: string | undefined }[] {
  const out: { a: bigint; n: string; t: string; m: string | undefined }[] = [];
  for (const line of text.split('\n')) {
    const [hex, t, rest] = line.split(' ', 3);
    if (!hex || !t || rest === undefined || !/^[0-9a-f]+$/i.test(hex) || /^0+$/.test(hex)) continue;
    const [n, mod] = rest.split('\t');
    out.push({ a: BigInt('0x' + hex), n: n.trim(), t, m: mod?.trim().replace(/^\[/, '').replace(/\]$/, '') || undefined });
  }
  return out.sort((x, y) => (x.a < y.a ? -1 : x.a > y.a ? 1 : 0));
}

describe('KernelSymbols agrees with a naive parse', () => {
  it('on a shuffled table with aliases, modules and odd lines', () => {
    const lines = [
      'ffffffffc0002000 t mod_b_fn\t[mod_b]',
      'ffffffff81000000 T first_alias',
      'ffffffff81000000 T second_alias',
      'ffffffffc0001000 t mod_a_fn\t[mod_a]',
      'ffffffff81000100 t static_fn',
      'ffffffffc0001000 t mod_a_alias\t[mod_a]',
      'ffffffff81000100 t static_fn\t[mod_a]',
      '0000000000000000 A zero',
      'zzzz T not_hex',
      'ffffffff81000200 W weak_fn',
      'ffffffff81000300 D data_sym',
      '',
    ];
    const text = lines.join('\n');
    const t = KernelSymbols.parse(text);
    const ref = naive(text);
    expect(t.size).toBe(ref.length);
    ref.forEach((e, i) => expect(t.at(i)).toEqual({ name: e.n, address: e.a, type: e.t, module: e.m }));
    expect(t.symbolize(0xffffffff81000005n)).toEqual({ name: 'first_alias', module: undefined, offset: 5, address: 0xffffffff81000000n });
    expect(t.symbolize(0xffffffffc0001010n)).toMatchObject({ name: 'mod_a_fn', module: 'mod_a', offset: 0x10 });
    expect(t.symbolize(0xffffffffffffffffn)?.name).toBe('mod_b_fn');
    expect(t.lookup('static_fn')?.module).toBeUndefined();
    expect(t.lookup('static_fn', 'mod_a')?.module).toBe('mod_a');
    expect(t.lookup('static_fn', null)?.module).toBeUndefined();
    expect(t.lookup('data_sym')?.type).toBe('D');
    expect(t.lookup('static_f')).toBeUndefined();
    expect(t.lookup('naïve')).toBeUndefined();
  });

  const readable = !readFileSync('/proc/kallsyms', 'latin1').startsWith('0000000000000000');
  it.skipIf(!readable)('on this kernel: sampled addresses and names resolve like the naive table', () => {
    const text = readFileSync('/proc/kallsyms', 'latin1');
    const ref = naive(text);
    const t = KernelSymbols.parse(Buffer.from(text, 'latin1'));
    expect(t.size).toBe(ref.length);
    const firstAt = new Map<bigint, number>();
    ref.forEach((e, i) => {
      if (!firstAt.has(e.a)) firstAt.set(e.a, i);
    });
    const firstNamed = new Map<string, number>();
    ref.forEach((e, i) => {
      if (!firstNamed.has(e.n)) firstNamed.set(e.n, i);
    });
    for (let k = 0; k < 2000; k++) {
      const i = Math.floor((k * ref.length) / 2000);
      const e = ref[i];
      expect(t.at(i)).toEqual({ name: e.n, address: e.a, type: e.t, module: e.m });
      const first = ref[firstAt.get(e.a) ?? -1];
      const s = t.symbolize(e.a + 3n);
      // +3 may cross into the next symbol when symbols are tightly packed: check against the naive floor.
      let j = ref.length - 1;
      while (j >= 0 && ref[j].a > e.a + 3n) j--;
      const fl = ref[firstAt.get(ref[j].a) ?? -1];
      expect(s).toEqual({ name: fl.n, module: fl.m, offset: Number(e.a + 3n - fl.a), address: fl.a });
      expect(t.symbolize(e.a)?.name).toBe(first.n);
      expect(t.lookup(e.n)).toEqual(t.at(firstNamed.get(e.n) ?? -1));
    }
  });
});
