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
