// EventDecoder's display object: key order and renames (Inspektor Gadget's conventions), built in
// one go by the shaped decoder, and records read at an offset of a shared view (the raw reader path).
import { describe, expect, it } from 'vitest';
import { Btf } from '../../src/btf/btf.js';
import { compileDecoder } from '../../src/btf/codec.js';
import { EventDecoder, wallClock } from '../../src/gadget/decode.js';
import { CollectionSpec } from '../../src/spec/collection.js';
import { gadgetObjectPath } from '../testdata.js';

/** A record of `size` bytes with both stack ids at -1 (not collected: no map lookups). */
function record(decoder: EventDecoder, size: number, fill: (v: DataView) => void = () => {}): Uint8Array {
  const b = new Uint8Array(size);
  const v = new DataView(b.buffer);
  fill(v);
  for (const f of decoder.fields) if (f.formatter === 'kernel_stack' || f.formatter === 'user_stack') v.setInt32(f.offset, -1, true);
  return b;
}

describe.each(['trace_capabilities.bpf.o', 'trace_capabilities_tp.bpf.o'])('EventDecoder on %s', (object) => {
  const btf = CollectionSpec.fromFile(gadgetObjectPath(object)).btf;
  if (!btf) throw new Error(`${object} has no BTF`);
  const id = btf.find('cap_event', 'struct');
  if (id === undefined) throw new Error('no struct cap_event');
  const size = btf.sizeof(id);

  it('keeps C member order, with display keys in place of raw ones (after them with keepRaw)', () => {
    const plain = new EventDecoder(btf, id, { symbolize: false });
    const e = plain.decode(new DataView(record(plain, size).buffer));
    expect(Object.keys(e)).toEqual(['timestamp', 'proc', 'current_userns', 'target_userns', 'cap_effective', 'cap', 'capable', 'audit', 'insetid', 'syscall', 'kstack', 'ustack']);
    expect(Object.keys(e.proc as object)).toEqual(['comm', 'pid', 'tid', 'mntns_id', 'creds', 'parent']);
    const withRaw = new EventDecoder(btf, id, { symbolize: false, keepRaw: true });
    const r = withRaw.decode(new DataView(record(withRaw, size).buffer));
    expect(Object.keys(r)).toEqual([
      'timestamp_raw', 'timestamp', 'proc', 'current_userns', 'target_userns', 'cap_effective', 'cap_raw', 'cap',
      'capable', 'audit', 'insetid', 'syscall_raw', 'syscall', 'kstack_raw', 'kstack', 'ustack_raw', 'ustack',
    ]);
    expect(r).toMatchObject({ kstack_raw: -1, kstack: [], ustack_raw: -1, ustack: [] });
  });

  it('names the effective set from its bits every time, whether or not the value was seen before', () => {
    const d = new EventDecoder(btf, id, { symbolize: false });
    const set = d.fields.find((f) => f.path === 'cap_effective');
    if (!set) throw new Error('no cap_effective');
    const names = compileDecoder(btf, set.typeId, { stripSetPrefix: true });
    const shown = (mask: bigint): unknown => {
      const rec = record(d, size, (v) => v.setBigUint64(set.offset, mask, true));
      const view = new DataView(rec.buffer);
      expect(d.decode(view).cap_effective).toBe((names(view, set.offset) as string[]).join('|'));
      return d.decode(view).cap_effective;
    };
    expect(shown(0b101n)).toBe('CAP_CHOWN|CAP_DAC_READ_SEARCH');
    expect(shown(0n)).toBe('');
    expect(shown(0b101n)).toBe('CAP_CHOWN|CAP_DAC_READ_SEARCH');
    expect(shown(1n << 39n)).toBe('CAP_BPF');
    expect(shown((1n << 63n) | 1n)).toBe('CAP_CHOWN|0x8000000000000000');
    expect(shown(0b100n)).toBe('CAP_DAC_READ_SEARCH');
  });

  it('decodes a record at an offset of a shared view the same as on its own, and reads its pid first', () => {
    const d = new EventDecoder(btf, id, { symbolize: false, keepRaw: true });
    const pidField = d.fields.find((f) => f.enrichment === 'pid');
    if (!pidField) throw new Error('no pid field');
    const rec = record(d, size, (v) => {
      for (let i = 0; i < size; i++) v.setUint8(i, (i * 37 + 11) & 0x7f);
      v.setUint32(pidField.offset, 4242, true);
    });
    const shared = new Uint8Array(size + 12 + 64);
    shared.set(rec, 12); // a perf sample starts 12 bytes into its record, 4 bytes off 8-byte alignment
    const view = new DataView(shared.buffer);
    const alone = d.decode(new DataView(rec.buffer));
    expect(d.decode(view, 12)).toEqual(alone);
    expect(d.pidOf(view, 12)).toBe(4242);
    expect((alone.proc as { pid: number }).pid).toBe(4242);
    expect(d.pidOf(view, shared.length - 4)).toBeUndefined();
    expect(() => d.decode(view, shared.length - size + 1)).toThrow(/bytes/);
  });
});

describe('EventDecoder renames', () => {
  it('gives way only to display keys of the same struct', () => {
    const b = Btf.empty({ source: 'test' });
    const u32 = b.add({ kind: 'int', name: 'unsigned int', size: 4, encoding: { signed: false, char: false, bool: false }, offset: 0, bits: 32 });
    const color = b.add({ kind: 'enum', name: 'color', size: 4, signed: false, values: [{ name: 'RED', value: 1 }, { name: 'BLUE', value: 2 }] });
    const m = (name: string, type: number, byte: number) => ({ name, type, bitOffset: byte * 8, bitfieldSize: 0 });
    const inner = b.add({ kind: 'struct', name: 'inner', size: 8, kindFlag: false, members: [m('foo', u32, 0), m('bar_raw', color, 4)] });
    const ev = b.add({ kind: 'struct', name: 'ev', size: 24, kindFlag: false, members: [m('a', u32, 0), m('foo_raw', color, 4), m('foo', u32, 8), m('in', inner, 12), m('z', u32, 20)] });
    const v = new DataView(new ArrayBuffer(24));
    [7, 2, 99, 5, 1, 3].forEach((x, i) => v.setUint32(i * 4, x, true));
    // `foo` is shadowed by foo_raw's display key at the top; `in.foo` is another struct's member and stays.
    const plain = new EventDecoder(b, ev, { symbolize: false }).decode(v);
    expect(JSON.stringify(plain)).toBe('{"a":7,"foo":"BLUE","in":{"foo":5,"bar":"RED"},"z":3}');
    const withRaw = new EventDecoder(b, ev, { symbolize: false, keepRaw: true }).decode(v);
    expect(JSON.stringify(withRaw)).toBe('{"a":7,"foo_raw":"BLUE","foo":"BLUE","in":{"foo":5,"bar_raw":"RED","bar":"RED"},"z":3}');
  });
});

describe('wallClock', () => {
  /** The plain formula: milliseconds through Date, nanoseconds appended. */
  const reference = (ns: bigint): string => `${new Date(Number(ns / 1_000_000n)).toISOString().slice(0, 19)}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}Z`;

  it('formats nanoseconds since the epoch, reusing the second only while it is the same second', () => {
    const base = 1_764_000_000_000_000_000n; // late 2025
    const samples = [base, base + 1n, base + 999_999_999n, base + 1_000_000_000n, base + 5n, base + 86_400_000_000_007n, 0n, 1n, 999_999_999_999n, base];
    for (const ns of samples) expect(wallClock(ns)).toBe(reference(ns));
    expect(wallClock(base + 42n)).toBe('2025-11-24T16:00:00.000000042Z');
  });
});
