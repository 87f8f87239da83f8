// The committed trace_capabilities objects: real clang BTF (typedef chains, ENUM64 sets, nested
// gadget_process) through describeEventType, the codec and the column renderer.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Btf } from '../../src/btf/btf.js';
import { CodecError, compileDecoder, decodeValue, encodeValue, typeToTs } from '../../src/btf/codec.js';
import { ElfFile } from '../../src/elf/index.js';
import { CollectionSpec } from '../../src/spec/collection.js';
import { describeEventType, stripEnumeratorPrefix } from '../../src/gadget/fields.js';
import { ColumnsRenderer, columnsFromDescriptors, formatJson } from '../../src/gadget/format/index.js';
import { capabilityMask, syscallNumber } from '../../src/gadget/tables/index.js';
import { gadgetObjectPath } from '../testdata.js';

function objectBtf(name: string): Btf {
  const path = gadgetObjectPath(name);
  const elf = ElfFile.parse(readFileSync(path), path);
  const section = elf.section('.BTF');
  if (!section) throw new Error(`${name} has no .BTF`);
  return Btf.parse(elf.data(section), { source: path });
}

describe.each(['trace_capabilities.bpf.o', 'trace_capabilities_tp.bpf.o', 'trace_capabilities_fentry.bpf.o'])('%s', (object) => {
  it('describes, decodes and renders struct cap_event', () => {
    const btf = objectBtf(object);
    const ev = btf.find('cap_event', 'struct');
    expect(ev).toBeDefined();
    if (ev === undefined) return;
    const fields = describeEventType(btf, ev);
    const f = (p: string) => fields.find((x) => x.path === p);
    expect(f('timestamp_raw')).toMatchObject({ displayName: 'timestamp', enrichment: 'timestamp', formatter: 'timestamp', offset: 0, size: 8 });
    expect(f('proc')).toMatchObject({ kind: 'struct', enrichment: 'process', size: 64 });
    expect(f('proc.comm')).toMatchObject({ kind: 'string', enrichment: 'comm', typeName: 'gadget_comm[16]' });
    expect(f('proc.creds.uid')).toMatchObject({ enrichment: 'uid' });
    expect(f('cap_raw')).toMatchObject({ displayName: 'cap', kind: 'enum', formatter: 'enum', typeName: 'enum capability' });
    expect(f('cap_effective')).toMatchObject({ kind: 'enum_set', typeName: 'enum cap_set', size: 8 });
    expect(f('syscall_raw')).toMatchObject({ displayName: 'syscall', enrichment: 'syscall' });
    expect(f('kstack_raw')).toMatchObject({ displayName: 'kstack', formatter: 'kernel_stack', signed: true });
    expect(f('ustack_raw')).toMatchObject({ displayName: 'ustack', formatter: 'user_stack' });

    const sysSetpriority = syscallNumber('setpriority', 'x64') ?? 0;
    const value = {
      timestamp_raw: 99n,
      proc: { comm: 'nice', pid: 10, tid: 11, mntns_id: 4026531840n, creds: { uid: 1000, gid: 1000 }, parent: { comm: 'bash', pid: 9 } },
      current_userns: 4026531837n,
      target_userns: 4026531837n,
      cap_effective: ['CAP_SET__CAP_CHOWN', 'CAP_SET__CAP_SYS_NICE'],
      cap_raw: 'CAP_SYS_NICE',
      capable: false,
      audit: 1,
      insetid: 0,
      syscall_raw: BigInt(sysSetpriority),
      kstack_raw: -1,
      ustack_raw: -1,
    };
    const bytes = encodeValue(btf, ev, value);
    expect(bytes.length).toBe(btf.sizeof(ev));
    // The set is bit n = capability n: the same mask the capability table computes.
    const dv = new DataView(bytes.buffer);
    const capEff = f('cap_effective');
    expect(dv.getBigUint64(capEff?.offset ?? -1, true)).toBe(capabilityMask(['CAP_CHOWN', 'CAP_SYS_NICE']));
    expect(decodeValue(btf, ev, bytes)).toEqual(value);

    const shown = decodeValue(btf, ev, bytes, { stripSetPrefix: true }) as Record<string, unknown>;
    expect(shown.cap_effective).toEqual(['CAP_CHOWN', 'CAP_SYS_NICE']);
    // Stripped names encode too.
    expect(encodeValue(btf, ev, { ...value, cap_effective: ['CAP_CHOWN', 'CAP_SYS_NICE'] })).toEqual(bytes);

    const defs = columnsFromDescriptors(fields);
    const r = new ColumnsRenderer(defs, { fields: 'proc.comm,proc.pid,cap,cap_effective,syscall,capable' });
    const row = r.row(shown);
    expect(row).toContain('CAP_SYS_NICE');
    expect(row).toContain('CAP_CHOWN|CAP_SYS_NICE');
    if (process.arch === 'x64') expect(row).toContain('SYS_SETPRIORITY');
    expect(JSON.parse(formatJson(shown))).toMatchObject({ proc: { comm: 'nice' }, cap_raw: 'CAP_SYS_NICE', timestamp_raw: '99' });

    const ts = typeToTs(btf, ev, { stripSetPrefix: true });
    expect(ts).toContain("cap_raw: 'CAP_CHOWN' |");
    expect(ts).toContain("cap_effective: Array<'CAP_CHOWN' |");
    expect(ts).toContain('comm: string;');
    expect(ts).toContain('timestamp_raw: bigint;');
    expect(compileDecoder(btf, ev, { stripSetPrefix: true })).toBe(compileDecoder(btf, ev, { stripSetPrefix: true }));
  });

  it('refuses the raw .rodata DATASEC clang leaves unsized, with a hint', () => {
    const btf = objectBtf(object);
    const rodata = btf.find('.rodata', 'datasec');
    expect(rodata).toBeDefined();
    if (rodata === undefined) return;
    expect(() => compileDecoder(btf, rodata)).toThrow(CodecError);
    expect(() => compileDecoder(btf, rodata)).toThrow(/filled in from the ELF symbols/);
  });

  it('decodes the fixed-up .rodata parameters as an object', () => {
    const btf = CollectionSpec.fromFile(gadgetObjectPath(object)).btf;
    expect(btf).toBeDefined();
    if (btf === undefined) return;
    const rodata = btf.find('.rodata', 'datasec');
    expect(rodata).toBeDefined();
    if (rodata === undefined) return;
    const zero = new Uint8Array(btf.sizeof(rodata));
    const params = decodeValue(btf, rodata, zero) as Record<string, unknown>;
    expect(params).toMatchObject({ audit_only: false, unique: false });
    const set = encodeValue(btf, rodata, { ...params, audit_only: true });
    expect((decodeValue(btf, rodata, set) as Record<string, unknown>).audit_only).toBe(true);
  });
});

describe('stripEnumeratorPrefix', () => {
  it('drops up to and including the first __ when not at position 0', () => {
    expect(stripEnumeratorPrefix('CAP_SET__CAP_SYS_ADMIN')).toBe('CAP_SYS_ADMIN');
    expect(stripEnumeratorPrefix('A__B__C')).toBe('B__C');
    expect(stripEnumeratorPrefix('__X')).toBe('__X');
    expect(stripEnumeratorPrefix('PLAIN')).toBe('PLAIN');
    expect(stripEnumeratorPrefix('TRAIL__')).toBe('TRAIL__');
  });
});
