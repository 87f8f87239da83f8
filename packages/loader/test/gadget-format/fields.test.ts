import { describe, expect, it } from 'vitest';
import { BtfError } from '../../src/btf/error.js';
import {
  cTypeName,
  describeEventType,
  enrichmentOf,
  fieldHeader,
  formatEnumSet,
  GADGET_TYPE_NAMES,
  leafFields,
  stripRawSuffix,
  type FieldDescriptor,
} from '../../src/gadget/fields.js';
import { addArray, addTypedef, baseBtf } from '../codec/helpers.js';
import { capEventBtf } from './helpers.js';

function byPath(fields: readonly FieldDescriptor[], path: string): FieldDescriptor {
  const f = fields.find((x) => x.path === path);
  if (!f) throw new Error(`no field ${path}`);
  return f;
}

describe('naming conventions', () => {
  it('strips _raw and joins sets with |', () => {
    expect(stripRawSuffix('cap_raw')).toBe('cap');
    expect(stripRawSuffix('syscall_raw')).toBe('syscall');
    expect(stripRawSuffix('timestamp_raw')).toBe('timestamp');
    expect(stripRawSuffix('kstack_raw')).toBe('kstack');
    expect(stripRawSuffix('_raw')).toBe('_raw');
    expect(stripRawSuffix('raw')).toBe('raw');
    expect(stripRawSuffix('pid')).toBe('pid');
    expect(formatEnumSet(['CAP_A', 'CAP_B'])).toBe('CAP_A|CAP_B');
    expect(formatEnumSet([])).toBe('');
    expect(fieldHeader('proc.creds.uid')).toBe('PROC.CREDS.UID');
    expect(GADGET_TYPE_NAMES.get('gadget_timestamp')).toBe('timestamp');
    expect(GADGET_TYPE_NAMES.get('gadget_counter__u64')).toBe('counter');
  });
});

describe('describeEventType', () => {
  it('describes the trace_capabilities event the way IG presents it', () => {
    const { b, ev } = capEventBtf();
    const fields = describeEventType(b, ev);

    const ts = byPath(fields, 'timestamp_raw');
    expect(ts).toMatchObject({ displayName: 'timestamp', enrichment: 'timestamp', formatter: 'timestamp', hidden: true, kind: 'int', offset: 0, size: 8, typeName: 'gadget_timestamp' });

    const cap = byPath(fields, 'cap_raw');
    expect(cap).toMatchObject({ displayName: 'cap', displayPath: 'cap', formatter: 'enum', kind: 'enum', typeName: 'enum capability', enrichment: undefined });
    const capEff = byPath(fields, 'cap_effective_raw');
    expect(capEff).toMatchObject({ displayName: 'cap_effective', formatter: 'enum_set', kind: 'enum_set', typeName: 'enum cap_effective_flags_set' });
    expect(byPath(fields, 'syscall_raw')).toMatchObject({ displayName: 'syscall', formatter: 'syscall', enrichment: 'syscall' });
    expect(byPath(fields, 'kstack_raw')).toMatchObject({ displayName: 'kstack', formatter: 'kernel_stack', enrichment: 'kernel_stack' });

    // Members without the suffix are shown as they are.
    expect(byPath(fields, 'mode')).toMatchObject({ displayName: 'mode', formatter: undefined, hidden: false, kind: 'enum' });
    expect(byPath(fields, 'capable')).toMatchObject({ kind: 'bool', hidden: false, typeName: '_Bool' });
    expect(byPath(fields, 'audit')).toMatchObject({ kind: 'int', signed: true });
    expect(byPath(fields, 'task')).toMatchObject({ kind: 'pointer', typeName: 'struct gadget_process *', size: 8 });

    // Nested structs stay nested, with enrichment from typedef names.
    const proc = byPath(fields, 'proc');
    expect(proc).toMatchObject({ kind: 'struct', enrichment: 'process', depth: 0, offset: 8 });
    expect(byPath(fields, 'proc.comm')).toMatchObject({ kind: 'string', enrichment: 'comm', typeName: 'gadget_comm[16]', parentPath: 'proc', depth: 1, offset: 8, size: 16 });
    expect(byPath(fields, 'proc.creds.uid')).toMatchObject({ enrichment: 'uid', displayPath: 'proc.creds.uid', depth: 2, parentPath: 'proc.creds' });
    expect(byPath(fields, 'proc.parent.comm')).toMatchObject({ enrichment: 'pcomm' });
    expect(byPath(fields, 'proc.parent.pid')).toMatchObject({ enrichment: 'ppid' });
    expect(byPath(fields, 'proc.mntns_id')).toMatchObject({ enrichment: 'mntns_id', typeName: 'gadget_mntns_id', size: 8 });

    // Endpoints show as one string; their parts are hidden.
    expect(byPath(fields, 'dst')).toMatchObject({ formatter: 'l4endpoint', enrichment: 'l4endpoint', hidden: false, displayName: 'dst' });
    expect(byPath(fields, 'dst.addr_raw')).toMatchObject({ hidden: true, enrichment: 'ip_addr', kind: 'union' });
    expect(byPath(fields, 'dst.port')).toMatchObject({ hidden: true });

    // Bitfields carry their bit position.
    const flag = byPath(fields, 'flag_a');
    expect(flag.bitfield?.bits).toBe(3);
    expect(flag.offset).toBe(Math.floor((flag.bitfield?.bitOffset ?? 0) / 8));

    // Containers come before their members, in member order.
    const paths = fields.map((f) => f.path);
    expect(paths.indexOf('proc')).toBeLessThan(paths.indexOf('proc.comm'));
    expect(paths.indexOf('proc.creds')).toBeLessThan(paths.indexOf('proc.creds.uid'));
    expect(paths.slice(0, 3)).toEqual(['timestamp_raw', 'proc', 'proc.comm']);

    const leaves = leafFields(fields).map((f) => f.path);
    expect(leaves).toContain('dst');
    expect(leaves).not.toContain('proc');
    expect(leaves).not.toContain('proc.creds');
  });

  it('honours custom target names like IG annotations', () => {
    const { b, ev } = capEventBtf();
    const fields = describeEventType(b, ev, { targets: { mode: 'mode_name' } });
    expect(byPath(fields, 'mode')).toMatchObject({ displayName: 'mode_name', formatter: 'enum', hidden: true });
  });

  it('refuses non-composites', () => {
    const t = baseBtf();
    expect(() => describeEventType(t.b, t.u32)).toThrow(BtfError);
  });

  it('finds enrichment through typedef chains and arrays', () => {
    const { b } = capEventBtf();
    const pid = b.find('gadget_pid', 'typedef');
    expect(pid).toBeDefined();
    if (pid === undefined) return;
    const alias = addTypedef(b, 'my_pid', pid);
    expect(enrichmentOf(b, alias)).toBe('pid');
    const c = b.add({ kind: 'const', name: '', type: pid });
    expect(enrichmentOf(b, c)).toBe('pid');
    expect(enrichmentOf(b, b.find('__u32', 'typedef') ?? 0)).toBeUndefined();
    expect(cTypeName(b, addArray(b, addArray(b, c, 16, pid), 2, pid))).toBe('const gadget_pid[2][16]');
  });
});
