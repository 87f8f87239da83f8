/**
 * CO-RE resolution against the running kernel's BTF (/sys/kernel/btf/vmlinux). Expected values
 * are read from the kernel BTF independently of the engine (direct member lookup), never hard-coded.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { asm, assemble } from '../../src/asm/index.js';
import type { Btf } from '../../src/btf/btf.js';
import { applyCoreRelocations, BPF_CORE, CORE_POISON_IMM, resolveCoreRelocation } from '../../src/btf/core/index.js';
import { loadKernelBtf, VMLINUX_BTF_PATH } from '../../src/btf/kernel.js';
import { BtfBuilder } from './builder.js';

const haveKernelBtf = existsSync(VMLINUX_BTF_PATH);
if (!haveKernelBtf) console.warn(`skipping kernel CO-RE tests: ${VMLINUX_BTF_PATH} is missing (kernel built without CONFIG_DEBUG_INFO_BTF)`);

/** Bit offset of a named member of a struct in the kernel BTF, walking no anonymous members. */
function kernelMember(k: Btf, structName: string, member: string): { bitOffset: number; type: number } {
  const id = k.find(structName, 'struct');
  if (id === undefined) throw new Error(`kernel has no struct ${structName}`);
  const t = k.type(id);
  if (t.kind !== 'struct') throw new Error('not a struct');
  const m = t.members.find((x) => x.name === member);
  if (m === undefined) throw new Error(`struct ${structName} has no ${member}`);
  return { bitOffset: m.bitOffset, type: m.type };
}

describe.skipIf(!haveKernelBtf)('CO-RE against the running kernel BTF', () => {
  it('task_struct___x { int pid; } resolves to the kernel offset of task_struct.pid', () => {
    const kernel = loadKernelBtf();
    const l = new BtfBuilder();
    const task = l.struct('task_struct___x', 4, [
      ['pid', l.int('int', 4, true), 0],
      ['tgid', l.int('int', 4, true), 32],
      ['no_such_field_here', l.int('int', 4, true), 64],
    ]);
    const pid = kernelMember(kernel, 'task_struct', 'pid');
    const tgid = kernelMember(kernel, 'task_struct', 'tgid');
    const t0 = performance.now();
    const r = resolveCoreRelocation(l.btf, [kernel], { insnIndex: 0, typeId: task, accessString: '0:0', kind: BPF_CORE.FIELD_BYTE_OFFSET });
    const firstMs = performance.now() - t0;
    expect(r.poisoned).toBe(false);
    expect(r.targetValue).toBe(BigInt(pid.bitOffset / 8));
    expect(r.targetTypeId).toBe(kernel.find('task_struct', 'struct'));
    console.info(`first CO-RE lookup against ${kernel.typeCount} kernel types took ${firstMs.toFixed(1)} ms`);

    const insns = assemble([asm.ldxMem(4, 1, 2, 0), asm.ldxMem(4, 3, 2, 4), asm.ldxMem(4, 4, 2, 8), asm.exit()]);
    const reports = applyCoreRelocations(
      insns,
      [
        { insnIndex: 0, typeId: task, accessString: '0:0', kind: BPF_CORE.FIELD_BYTE_OFFSET },
        { insnIndex: 1, typeId: task, accessString: '0:1', kind: BPF_CORE.FIELD_BYTE_OFFSET },
        { insnIndex: 2, typeId: task, accessString: '0:2', kind: BPF_CORE.FIELD_BYTE_OFFSET },
      ],
      l.btf,
      [kernel],
    );
    expect(insns.offset(0)).toBe(pid.bitOffset / 8);
    expect(insns.offset(1)).toBe(tgid.bitOffset / 8);
    expect(insns.imm(2)).toBe(CORE_POISON_IMM);
    expect(reports.map((x) => x.poisoned)).toEqual([false, false, true]);
  });

  it('resolves a pointer chain task_struct.real_cred → cred.uid.val through the kuid_t typedef', () => {
    const kernel = loadKernelBtf();
    const l = new BtfBuilder();
    const u32 = l.int('unsigned int', 4);
    const kuid = l.typedef('kuid_t', l.struct('', 4, [['val', u32, 0]]));
    const cred = l.struct('cred___mine', 8, [['uid', kuid, 0]]);
    const task = l.struct('task_struct___mine', 8, [['real_cred', l.ptr(l.const(cred)), 0]]);
    const rc = kernelMember(kernel, 'task_struct', 'real_cred');
    const uid = kernelMember(kernel, 'cred', 'uid');
    const r1 = resolveCoreRelocation(l.btf, [kernel], { insnIndex: 0, typeId: task, accessString: '0:0', kind: BPF_CORE.FIELD_BYTE_OFFSET });
    const r2 = resolveCoreRelocation(l.btf, [kernel], { insnIndex: 0, typeId: cred, accessString: '0:0:0', kind: BPF_CORE.FIELD_BYTE_OFFSET });
    expect(r1.targetValue).toBe(BigInt(rc.bitOffset / 8));
    expect(r2.targetValue).toBe(BigInt(uid.bitOffset / 8));
    expect(r2.description).toBe('struct cred___mine.uid.val');
    expect(resolveCoreRelocation(l.btf, [kernel], { insnIndex: 0, typeId: cred, accessString: '0', kind: BPF_CORE.TYPE_MATCHES }).targetValue).toBe(1n);
    expect(resolveCoreRelocation(l.btf, [kernel], { insnIndex: 0, typeId: task, accessString: '0', kind: BPF_CORE.TYPE_SIZE }).targetValue).toBe(
      BigInt(kernel.sizeof(kernel.find('task_struct', 'struct') ?? 0)),
    );
  });

  it('enum bpf_func_id values come from the kernel', () => {
    const kernel = loadKernelBtf();
    const kid = kernel.find('bpf_func_id', 'enum');
    expect(kid).toBeDefined();
    const kt = kernel.type(kid ?? 0);
    if (kt.kind !== 'enum') throw new Error('bpf_func_id is not an enum');
    const want = kt.values.find((v) => v.name === 'BPF_FUNC_ringbuf_reserve');
    expect(want).toBeDefined();
    const l = new BtfBuilder();
    const e = l.enum('bpf_func_id', [
      ['BPF_FUNC_ringbuf_reserve', 1],
      ['BPF_FUNC_surely_not_a_helper', 2],
    ]);
    expect(resolveCoreRelocation(l.btf, [kernel], { insnIndex: 0, typeId: e, accessString: '0', kind: BPF_CORE.ENUMVAL_VALUE }).targetValue).toBe(BigInt(want?.value ?? -1));
    expect(resolveCoreRelocation(l.btf, [kernel], { insnIndex: 0, typeId: e, accessString: '1', kind: BPF_CORE.ENUMVAL_EXISTS }).targetValue).toBe(0n);
    expect(resolveCoreRelocation(l.btf, [kernel], { insnIndex: 0, typeId: e, accessString: '1', kind: BPF_CORE.ENUMVAL_VALUE }).poisoned).toBe(true);
  });
});
