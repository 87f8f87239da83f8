// Shared BTF fixtures of the gadget-format tests.
import type { Btf } from '../../src/btf/btf.js';
import { addArray, addComposite, addTypedef, baseBtf } from '../codec/helpers.js';

/** The trace_capabilities event, plus a nested gadget_process and an endpoint, built the way clang emits it. */
export function capEventBtf(): { b: Btf; ev: number } {
  const t = baseBtf();
  const { b } = t;
  const u32 = addTypedef(b, '__u32', t.u32);
  const u64 = addTypedef(b, '__u64', t.u64);
  const u16 = addTypedef(b, '__u16', t.u16);
  const u8 = addTypedef(b, '__u8', t.u8);
  const ts = addTypedef(b, 'gadget_timestamp', u64);
  const mntns = addTypedef(b, 'gadget_mntns_id', u64);
  const comm = addTypedef(b, 'gadget_comm', t.char);
  const pcomm = addTypedef(b, 'gadget_pcomm', t.char);
  const pid = addTypedef(b, 'gadget_pid', u32);
  const ppid = addTypedef(b, 'gadget_ppid', u32);
  const tid = addTypedef(b, 'gadget_tid', u32);
  const uid = addTypedef(b, 'gadget_uid', u32);
  const gid = addTypedef(b, 'gadget_gid', u32);
  const syscall = addTypedef(b, 'gadget_syscall', u64);
  const kstack = addTypedef(b, 'gadget_kernel_stack', u32);
  const capSet = b.add({
    kind: 'enum64',
    name: 'cap_effective_flags_set',
    size: 8,
    signed: false,
    values: [
      { name: 'FLAG_CAP_CHOWN', value: 1n },
      { name: 'FLAG_CAP_KILL', value: 1n << 5n },
    ],
  });
  const cap = b.add({ kind: 'enum', name: 'capability', size: 4, signed: false, values: [{ name: 'CAP_CHOWN', value: 0 }, { name: 'CAP_SYS_NICE', value: 23 }] });
  const mode = b.add({ kind: 'enum', name: 'mode', size: 4, signed: false, values: [{ name: 'M_A', value: 0 }] });
  const creds = addComposite(b, 'struct', 'gadget_creds', [
    ['uid', uid],
    ['gid', gid],
  ]);
  const parent = addComposite(b, 'struct', 'gadget_parent', [
    ['comm', addArray(b, pcomm, 16, t.u32)],
    ['pid', ppid],
  ]);
  const proc = addComposite(b, 'struct', 'gadget_process', [
    ['comm', addArray(b, comm, 16, t.u32)],
    ['pid', pid],
    ['tid', tid],
    ['mntns_id', mntns],
    ['creds', creds],
    ['parent', parent],
  ]);
  const ipAddr = addComposite(b, 'union', 'gadget_ip_addr_t', [
    ['v6', addArray(b, u8, 16, t.u32)],
    ['v4', u32],
  ]);
  const l4 = addComposite(b, 'struct', 'gadget_l4endpoint_t', [
    ['addr_raw', ipAddr],
    ['port', u16],
    ['proto_raw', u16],
    ['version', u8],
  ]);
  const ev = addComposite(b, 'struct', 'cap_event', [
    ['timestamp_raw', ts],
    ['proc', proc],
    ['current_userns', u64],
    ['cap_effective_raw', capSet],
    ['cap_raw', cap],
    ['capable', t.bool],
    ['audit', t.s32],
    ['syscall_raw', syscall],
    ['kstack_raw', kstack],
    ['mode', mode],
    ['dst', l4],
    ['flag_a', u32, 3],
    ['task', b.add({ kind: 'ptr', name: '', type: proc })],
  ]);
  return { b, ev };
}

