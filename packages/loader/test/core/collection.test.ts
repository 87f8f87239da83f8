/**
 * The real thing: bpf/testdata/core.bpf.o is loaded by Collection (which runs the CO-RE engine
 * against /sys/kernel/btf/vmlinux), run once with BPF_PROG_TEST_RUN, and its .bss results are
 * compared with values computed here from the kernel BTF.
 */
import { existsSync, readlinkSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Btf } from '../../src/btf/btf.js';
import { explainPoison } from '../../src/btf/core/index.js';
import { loadKernelBtf, VMLINUX_BTF_PATH } from '../../src/btf/kernel.js';
import type { BtfMember } from '../../src/btf/types.js';
import { Collection } from '../../src/collection.js';
import { VerifierError } from '../../src/programs/verifier.js';
import { CollectionSpec } from '../../src/spec/collection.js';
import { testdataPath } from '../testdata.js';

const CORE = testdataPath('core.bpf.o');
const haveKernelBtf = existsSync(VMLINUX_BTF_PATH);
if (!haveKernelBtf) console.warn(`skipping CO-RE load test: ${VMLINUX_BTF_PATH} is missing (no kernel BTF)`);

function member(k: Btf, struct: string, name: string): BtfMember | undefined {
  const id = k.find(struct, 'struct');
  if (id === undefined) return undefined;
  const t = k.type(id);
  return t.kind === 'struct' ? t.members.find((m) => m.name === name) : undefined;
}

function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`kernel BTF lacks ${what}`);
  return v;
}

/** Value of an integer member type after typedefs/qualifiers: size and signedness. */
function intInfo(k: Btf, typeId: number): { size: number; signed: boolean } | undefined {
  const t = k.type(k.underlying(typeId));
  return t.kind === 'int' ? { size: t.size, signed: t.encoding.signed } : undefined;
}

/** Extract a little-endian bitfield from bytes. */
function bitfield(bytes: Uint8Array, bitOffset: number, bits: number): bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
  return (v >> BigInt(bitOffset)) & ((1n << BigInt(bits)) - 1n);
}

describe.skipIf(!haveKernelBtf)('CO-RE in the kernel (core.bpf.o)', () => {
  it('loads, runs, and every relocated value agrees with the kernel BTF', () => {
    const k = loadKernelBtf();
    const spec = CollectionSpec.fromFile(CORE);
    spec.program('core_poison_reached').autoload = false;
    using coll = Collection.load(spec, { kernelBtf: k });
    const prog = coll.program('core_probe');

    // ctx: 4 u64 args carrying the bytes of a struct tcphdr.
    const ctx = new Uint8Array(32);
    for (let i = 0; i < ctx.length; i++) ctx[i] = (i * 37 + 11) & 0xff;
    expect(prog.testRun({ ctxIn: ctx }).retval).toBe(0);
    const v = (name: string): bigint => BigInt(coll.readVariable(name) as bigint | number);
    expect(v('out_ran')).toBe(1n);

    // Moved fields: the task running the test is this thread.
    const [, tid] = /^(\d+)\/task\/(\d+)$/.exec(readlinkSync('/proc/thread-self')) ?? [];
    expect(v('out_tgid')).toBe(BigInt(process.pid));
    expect(v('out_pid')).toBe(BigInt(tid));

    // Missing field: reported absent, and its guarded (poisoned) read was dead code.
    expect(v('out_missing_exists')).toBe(0n);
    expect(v('out_missing')).toBe(-1n);
    const reports = coll.coreReports.get('core_probe') ?? [];
    const poisoned = reports.filter((r) => r.poisoned);
    expect(poisoned.map((r) => r.description)).toEqual(['struct task_struct___mine.tsbpf_no_such_field']);
    expect(explainPoison(reports, poisoned[0].insnIndex)).toMatch(/^CO-RE relocation \d+ \(struct task_struct___mine\.tsbpf_no_such_field\) could not be resolved on this kernel$/);

    // Renamed field.
    expect(v('out_state_old_exists')).toBe(member(k, 'task_struct', 'state') ? 1n : 0n);
    expect(v('out_state_new_exists')).toBe(member(k, 'task_struct', '__state') ? 1n : 0n);

    // Bitfields read at the kernel's positions, not the local struct's.
    const doff = need(member(k, 'tcphdr', 'doff'), 'tcphdr.doff');
    const syn = need(member(k, 'tcphdr', 'syn'), 'tcphdr.syn');
    const wantDoff = bitfield(ctx, doff.bitOffset, doff.bitfieldSize);
    const wantSyn = bitfield(ctx, syn.bitOffset, syn.bitfieldSize);
    // (the local layout, doff at bit 32 and syn at bit 36, would read other values)
    expect([bitfield(ctx, 32, 4), bitfield(ctx, 36, 1)]).not.toEqual([wantDoff, wantSyn]);
    expect(v('out_doff_probed')).toBe(wantDoff);
    expect(v('out_doff_direct')).toBe(wantDoff);
    expect(v('out_syn_probed')).toBe(wantSyn);
    expect(v('out_syn_direct')).toBe(wantSyn);

    // Types.
    const task = need(k.find('task_struct', 'struct'), 'struct task_struct');
    expect(v('out_task_exists')).toBe(1n);
    expect(v('out_fake_exists')).toBe(k.find('tsbpf_not_in_kernel', 'struct') === undefined ? 0n : 1n);
    expect(v('out_task_size')).toBe(BigInt(k.sizeof(task)));
    expect(v('out_task_type_id')).toBe(BigInt(task));
    const pid = need(member(k, 'task_struct', 'pid'), 'task_struct.pid');
    const tgid = need(member(k, 'task_struct', 'tgid'), 'task_struct.tgid');
    const pidInt = need(intInfo(k, pid.type), 'an integer task_struct.pid');
    const tgidInt = need(intInfo(k, tgid.type), 'an integer task_struct.tgid');
    const matches = pidInt.size === 4 && pidInt.signed && tgidInt.size === 4 && tgidInt.signed;
    expect(v('out_matches')).toBe(matches ? 1n : 0n);
    expect(v('out_nomatch')).toBe(pidInt.size === 8 && pidInt.signed ? 1n : 0n);

    // Field information.
    expect(v('out_pid_offset')).toBe(BigInt(pid.bitOffset / 8));
    expect(v('out_pid_size')).toBe(BigInt(pidInt.size));
    expect(v('out_pid_signed')).toBe(pidInt.signed ? 1n : 0n);

    // Enumerators.
    const funcId = k.type(need(k.find('bpf_func_id', 'enum'), 'enum bpf_func_id'));
    if (funcId.kind !== 'enum') throw new Error('bpf_func_id is not an enum');
    const rb = funcId.values.find((x) => x.name === 'BPF_FUNC_ringbuf_reserve');
    expect(v('out_rb_exists')).toBe(rb ? 1n : 0n);
    expect(v('out_rb_value')).toBe(BigInt(need(rb, 'BPF_FUNC_ringbuf_reserve').value));
    expect(v('out_rb_value_mine')).toBe(BigInt(need(rb, 'BPF_FUNC_ringbuf_reserve').value));
    expect(v('out_fake_helper_exists')).toBe(0n);
  });

  it('a reachable poisoned relocation fails verification with an explanation naming the field', () => {
    const spec = CollectionSpec.fromFile(CORE);
    spec.program('core_probe').autoload = false;
    let err: unknown;
    try {
      Collection.load(spec, { kernelBtf: loadKernelBtf() }).close();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VerifierError);
    const v = err as VerifierError;
    expect(v.log).toMatch(/invalid func unknown#195896080/);
    expect(v.coreFailures).toHaveLength(1);
    expect(v.coreFailures[0]).toMatch(/^CO-RE relocation \d+ \(struct task_struct___mine\.tsbpf_no_such_field\) could not be resolved on this kernel$/);
    expect(v.message).toContain('tsbpf_no_such_field) could not be resolved on this kernel');
  });
});
