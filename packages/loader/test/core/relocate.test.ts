import { describe, expect, it } from 'vitest';
import { asm, assemble, BPF_CLASS, BPF_MODE, BPF_SIZE, CALL, Insns, LD_IMM64 } from '../../src/asm/index.js';
import {
  applyCoreRelocations,
  BPF_CORE,
  CORE_POISON_IMM,
  CoreError,
  explainPoison,
  explainVerifierLog,
  resolveCoreRelocation,
  type CoreRelocation,
  type CoreResolution,
} from '../../src/btf/core/index.js';
import { BtfBuilder } from './builder.js';

const rel = (kind: number, typeId: number, accessString: string, insnIndex = 0): CoreRelocation => ({ insnIndex, typeId, accessString, kind });

function thrown(f: () => unknown): CoreError {
  try {
    f();
  } catch (e) {
    if (e instanceof CoreError) return e;
    throw e;
  }
  throw new Error('expected a CoreError');
}

/**
 * Local (what the program was compiled against):
 *   struct task_struct___x { int pid; unsigned int flags; long prio; int gone; u8 a:3, b:5; int arr[4]; }
 * Target (the "kernel"):
 *   struct task_struct { long state; unsigned long flags; int prio; int pid; <pad> u32 :30 a:3 b:5 in u64; long arr[4]; }
 */
function fixture() {
  const l = new BtfBuilder();
  const lInt = l.int('int', 4, true);
  const lUint = l.int('unsigned int', 4);
  const lLong = l.int('long', 8, true);
  const lU8 = l.int('u8', 1);
  const lTask = l.struct('task_struct___x', 40, [
    ['pid', lInt, 0],
    ['flags', lUint, 32],
    ['prio', lLong, 64],
    ['gone', lInt, 128],
    ['a', lU8, 160, 3],
    ['b', lU8, 163, 5],
    ['arr', l.array(lInt, 4), 192],
  ]);

  const t = new BtfBuilder();
  const tInt = t.int('int', 4, true);
  const tUlong = t.int('unsigned long', 8);
  const tLong = t.int('long', 8, true);
  const tU32 = t.int('u32', 4);
  const tTask = t.struct('task_struct', 72, [
    ['state', tLong, 0],
    ['flags', tUlong, 64],
    ['prio', tInt, 128],
    ['pid', tInt, 160],
    ['a', tU32, 222, 3],
    ['b', tU32, 225, 5],
    ['arr', t.array(tLong, 4), 256],
  ]);
  return { local: l.btf, target: t.btf, lTask, tTask, l, t };
}

describe('field relocations', () => {
  it('FIELD_BYTE_OFFSET follows a moved field and patches an ldx offset', () => {
    const { local, target, lTask, tTask } = fixture();
    const res = resolveCoreRelocation(local, [target], rel(BPF_CORE.FIELD_BYTE_OFFSET, lTask, '0:0'));
    expect(res.localValue).toBe(0n);
    expect(res.targetValue).toBe(20n);
    expect(res.poisoned).toBe(false);
    expect(res.targetTypeId).toBe(tTask);
    expect(res.targetBtf).toBe(target);
    expect(res.description).toBe('struct task_struct___x.pid');

    const insns = assemble([asm.ldxMem(4, 1, 2, 0), asm.exit()]);
    const [report] = applyCoreRelocations(insns, [rel(BPF_CORE.FIELD_BYTE_OFFSET, lTask, '0:0')], local, [target]);
    expect(insns.offset(0)).toBe(20);
    expect(insns.opcode(0)).toBe(BPF_CLASS.LDX | BPF_MODE.MEM | BPF_SIZE.W);
    expect(report).toMatchObject({ index: 0, insnIndex: 0, kind: 'FIELD_BYTE_OFFSET', description: 'struct task_struct___x.pid', localValue: 0n, targetValue: 20n, poisoned: false });
  });

  it('shares resolutions across programs through options.resolutions, with the same patches and reports', () => {
    const { local, target, lTask } = fixture();
    const relos = [rel(BPF_CORE.FIELD_BYTE_OFFSET, lTask, '0:0', 0), rel(BPF_CORE.FIELD_BYTE_OFFSET, lTask, '0:1', 1)];
    const fresh = assemble([asm.ldxMem(4, 1, 2, 0), asm.ldxMem(4, 1, 2, 4), asm.exit()]);
    const want = applyCoreRelocations(fresh, relos, local, [target]);
    const resolutions = new Map<string, CoreResolution>();
    const first = assemble([asm.ldxMem(4, 1, 2, 0), asm.ldxMem(4, 1, 2, 4), asm.exit()]);
    expect(applyCoreRelocations(first, relos, local, [target], { resolutions })).toEqual(want);
    expect(resolutions.size).toBe(2);
    // A second program repeating one access and adding another: the shared entry is reused as is.
    const shared = resolutions.get(`${lTask}:${BPF_CORE.FIELD_BYTE_OFFSET}:0:0`);
    const second = assemble([asm.ldxMem(4, 1, 2, 0), asm.movImm(2, 1), asm.exit()]);
    const reports = applyCoreRelocations(second, [relos[0], rel(BPF_CORE.FIELD_EXISTS, lTask, '0:3', 1)], local, [target], { resolutions });
    expect(resolutions.get(`${lTask}:${BPF_CORE.FIELD_BYTE_OFFSET}:0:0`)).toBe(shared);
    expect(resolutions.size).toBe(3);
    expect(second.bytes.subarray(0, 8)).toEqual(fresh.bytes.subarray(0, 8));
    expect(second.imm(1)).toBe(0); // `gone` does not exist in the target
    expect(reports[0]).toEqual(want[0]);
  });

  it('patches ALU immediates (add/mov with K source) and stores', () => {
    const { local, target, lTask } = fixture();
    const insns = assemble([asm.addImm(1, 0), asm.movImm(2, 4), asm.stMem(4, 10, 0, 7), asm.stxMem(4, 1, 3, 0), asm.exit()]);
    applyCoreRelocations(
      insns,
      [
        rel(BPF_CORE.FIELD_BYTE_OFFSET, lTask, '0:0', 0),
        rel(BPF_CORE.FIELD_BYTE_OFFSET, lTask, '0:1', 1),
        rel(BPF_CORE.FIELD_BYTE_OFFSET, lTask, '0:0', 2),
        rel(BPF_CORE.FIELD_BYTE_OFFSET, lTask, '0:0', 3),
      ],
      local,
      [target],
    );
    expect(insns.imm(0)).toBe(20);
    expect(insns.imm(1)).toBe(8);
    expect(insns.offset(2)).toBe(20);
    expect(insns.imm(2)).toBe(7);
    expect(insns.offset(3)).toBe(20);
  });

  it('rejects an ALU relocation with a register source and an unsupported instruction class', () => {
    const { local, target, lTask } = fixture();
    const insns = assemble([asm.movReg(1, 2), asm.ja(0), asm.exit()]);
    expect(thrown(() => applyCoreRelocations(insns, [rel(0, lTask, '0:0', 0)], local, [target])).code).toBe('CORE_BAD_INSN');
    expect(thrown(() => applyCoreRelocations(insns, [rel(0, lTask, '0:0', 1)], local, [target])).code).toBe('CORE_BAD_INSN');
    expect(thrown(() => applyCoreRelocations(insns, [rel(0, lTask, '0:0', 9)], local, [target])).message).toMatch(/outside the program/);
  });

  it('validates that the instruction holds the local value and names the relocation', () => {
    const { local, target, lTask } = fixture();
    const insns = assemble([asm.exit(), asm.ldxMem(4, 1, 2, 8), asm.exit()]);
    const err = thrown(() => applyCoreRelocations(insns, [rel(0, lTask, '0:1', 0), rel(0, lTask, '0:0', 1)], local, [target], { programName: 'p' }));
    // relocation 0 targets an exit: not a patchable class
    expect(err.code).toBe('CORE_BAD_INSN');
    const insns2 = assemble([asm.ldxMem(4, 1, 2, 8), asm.exit()]);
    const err2 = thrown(() => applyCoreRelocations(insns2, [rel(0, lTask, '0:0', 0)], local, [target], { programName: 'p' }));
    expect(err2.code).toBe('CORE_INSN_MISMATCH');
    expect(err2.message).toContain('program p: CO-RE relocation #0 (FIELD_BYTE_OFFSET struct task_struct___x.pid) at insn 0');
    expect(err2.message).toContain('offset 8, expected 0');
    const insns3 = assemble([asm.movImm(1, 3), asm.exit()]);
    expect(thrown(() => applyCoreRelocations(insns3, [rel(0, lTask, '0:0', 0)], local, [target])).code).toBe('CORE_INSN_MISMATCH');
  });

  it('missing field: FIELD_EXISTS is 0 and a load is poisoned with call 0xbad2310', () => {
    const { local, target, lTask } = fixture();
    expect(resolveCoreRelocation(local, [target], rel(BPF_CORE.FIELD_EXISTS, lTask, '0:3')).targetValue).toBe(0n);
    expect(resolveCoreRelocation(local, [target], rel(BPF_CORE.FIELD_EXISTS, lTask, '0:0')).targetValue).toBe(1n);
    const res = resolveCoreRelocation(local, [target], rel(BPF_CORE.FIELD_BYTE_OFFSET, lTask, '0:3'));
    expect(res.poisoned).toBe(true);
    for (const k of [BPF_CORE.FIELD_BYTE_SIZE, BPF_CORE.FIELD_SIGNED, BPF_CORE.FIELD_LSHIFT_U64, BPF_CORE.FIELD_RSHIFT_U64]) {
      expect(resolveCoreRelocation(local, [target], rel(k, lTask, '0:3')).poisoned).toBe(true);
    }

    const insns = assemble([asm.movImm(0, 1), asm.ldxMem(4, 1, 2, 16), asm.exit()]);
    const reports = applyCoreRelocations(insns, [rel(BPF_CORE.FIELD_EXISTS, lTask, '0:3', 0), rel(BPF_CORE.FIELD_BYTE_OFFSET, lTask, '0:3', 1)], local, [target]);
    expect(insns.imm(0)).toBe(0);
    expect(insns.at(1)).toEqual({ opcode: CALL, dst: 0, src: 0, offset: 0, imm: CORE_POISON_IMM });
    expect(CORE_POISON_IMM).toBe(195896080);
    expect(reports[1]).toMatchObject({ poisoned: true, description: 'struct task_struct___x.gone', kind: 'FIELD_BYTE_OFFSET' });
    expect(explainPoison(reports, 1)).toBe('CO-RE relocation 1 (struct task_struct___x.gone) could not be resolved on this kernel');
    expect(explainPoison(reports, 0)).toBeUndefined();
    const log = '0: R1=ctx() R10=fp0\n0: (b7) r0 = 0\n1: (85) call unknown#195896080\ninvalid func unknown#195896080\n';
    expect(explainVerifierLog(reports, log)).toEqual(['CO-RE relocation 1 (struct task_struct___x.gone) could not be resolved on this kernel']);
    expect(explainVerifierLog(reports, '1: (85) call bpf_ktime_get_ns#5\n')).toEqual([]);
  });

  it('a field whose type changed incompatibly (int vs struct) does not match', () => {
    const l = new BtfBuilder();
    const s = l.struct('s', 4, [['x', l.int('int', 4), 0]]);
    const t = new BtfBuilder();
    const inner = t.struct('inner', 4, [['y', t.int('int', 4), 0]]);
    t.struct('s', 4, [['x', inner, 0]]);
    expect(resolveCoreRelocation(l.btf, [t.btf], rel(BPF_CORE.FIELD_EXISTS, s, '0:0')).targetValue).toBe(0n);
  });

  it('size change 4→8 and 8→4 of unsigned ints resizes the load; signed ints poison it', () => {
    const { local, target, lTask } = fixture();
    // flags: unsigned int (4) → unsigned long (8)
    const insns = assemble([asm.ldxMem(4, 1, 2, 4), asm.exit()]);
    const [r] = applyCoreRelocations(insns, [rel(0, lTask, '0:1')], local, [target]);
    expect(insns.offset(0)).toBe(8);
    expect(insns.opcode(0)).toBe(BPF_CLASS.LDX | BPF_MODE.MEM | BPF_SIZE.DW);
    expect(r.accessSize).toEqual({ from: 4, to: 8 });
    expect(resolveCoreRelocation(local, [target], rel(BPF_CORE.FIELD_BYTE_SIZE, lTask, '0:1')).targetValue).toBe(8n);

    // 8 → 4, unsigned both ways (a local u64 where the kernel has u32)
    const l = new BtfBuilder();
    const ls = l.struct('rq', 16, [
      ['nr', l.int('u64', 8), 0],
      ['clock', l.int('s64', 8, true), 64],
    ]);
    const t = new BtfBuilder();
    t.struct('rq', 16, [
      ['pad', t.int('u32', 4), 0],
      ['nr', t.int('u32', 4), 32],
      ['clock', t.int('s32', 4, true), 64],
    ]);
    const i2 = assemble([asm.ldxMem(8, 1, 2, 0), asm.stxMem(8, 1, 3, 0), asm.ldxMem(8, 1, 2, 8), asm.exit()]);
    const rs = applyCoreRelocations(i2, [rel(0, ls, '0:0', 0), rel(0, ls, '0:0', 1), rel(0, ls, '0:1', 2)], l.btf, [t.btf]);
    expect(i2.offset(0)).toBe(4);
    expect(i2.opcode(0)).toBe(BPF_CLASS.LDX | BPF_MODE.MEM | BPF_SIZE.W);
    expect(i2.opcode(1)).toBe(BPF_CLASS.STX | BPF_MODE.MEM | BPF_SIZE.W);
    // signed 8 → 4 would lose the sign: poisoned
    expect(rs[2].poisoned).toBe(true);
    expect(i2.imm(2)).toBe(CORE_POISON_IMM);

    // prio: long (8, signed) → int (4, signed): poisoned as well
    const i3 = assemble([asm.ldxMem(8, 1, 2, 8), asm.exit()]);
    expect(applyCoreRelocations(i3, [rel(0, lTask, '0:2')], local, [target])[0].poisoned).toBe(true);
  });

  it('keeps the MEMSX mode when resizing a sign-extending load of an unsigned field', () => {
    const l = new BtfBuilder();
    const ls = l.struct('x', 4, [['v', l.int('u16', 2), 0]]);
    const t = new BtfBuilder();
    t.struct('x', 4, [['v', t.int('u8', 1), 8]]);
    const insns = new Insns(new Uint8Array(16));
    insns.set(0, { opcode: BPF_CLASS.LDX | BPF_MODE.MEMSX | BPF_SIZE.H, dst: 1, src: 2, offset: 0, imm: 0 });
    insns.set(1, asm.exit());
    applyCoreRelocations(insns, [rel(0, ls, '0:0')], l.btf, [t.btf]);
    expect(insns.opcode(0)).toBe(BPF_CLASS.LDX | BPF_MODE.MEMSX | BPF_SIZE.B);
    expect(insns.offset(0)).toBe(1);
  });

  it('rejects a load whose width does not match the local field size', () => {
    const { local, target, lTask } = fixture();
    const insns = assemble([asm.ldxMem(2, 1, 2, 4), asm.exit()]);
    expect(thrown(() => applyCoreRelocations(insns, [rel(0, lTask, '0:1')], local, [target])).message).toMatch(/accesses 2 bytes, expected 4/);
  });

  it('bitfields: byte offset, size, lshift/rshift and signedness', () => {
    const { local, target, lTask } = fixture();
    const v = (kind: number, acc: string) => {
      const r = resolveCoreRelocation(local, [target], rel(kind, lTask, acc));
      return [r.localValue, r.targetValue];
    };
    // local a: u8 bits 160..162 → byte 20, size 1, lshift 64-(160+3-160)=61, rshift 61
    // target a: u32 bits 222..224 → crosses the 4-byte unit at 224: widen to u64 at byte 24? 222/8/8=3 → byte 24? no: floor(222/64)*8=24
    expect(v(BPF_CORE.FIELD_BYTE_OFFSET, '0:4')).toEqual([20n, 24n]);
    expect(v(BPF_CORE.FIELD_BYTE_SIZE, '0:4')).toEqual([1n, 8n]);
    // local: 64-(3)=61; target: 64-(222+3-192)=31
    expect(v(BPF_CORE.FIELD_LSHIFT_U64, '0:4')).toEqual([61n, 31n]);
    expect(v(BPF_CORE.FIELD_RSHIFT_U64, '0:4')).toEqual([61n, 61n]);
    // b: local u8 bits 163..167 → byte 20 size 1 lshift 64-8=56 rshift 59; target u32 bits 225..229 → byte 28 size 4, lshift 64-(225+5-224)=58
    expect(v(BPF_CORE.FIELD_BYTE_OFFSET, '0:5')).toEqual([20n, 28n]);
    expect(v(BPF_CORE.FIELD_BYTE_SIZE, '0:5')).toEqual([1n, 4n]);
    expect(v(BPF_CORE.FIELD_LSHIFT_U64, '0:5')).toEqual([56n, 58n]);
    expect(v(BPF_CORE.FIELD_RSHIFT_U64, '0:5')).toEqual([59n, 59n]);
    expect(v(BPF_CORE.FIELD_SIGNED, '0:5')).toEqual([0n, 0n]);

    // bitfield offset/size/lshift are not validated against the instruction (the compiler may differ)
    const insns = assemble([asm.movImm(1, 123), asm.movImm(2, 56), asm.movImm(3, 59), asm.exit()]);
    applyCoreRelocations(
      insns,
      [rel(BPF_CORE.FIELD_BYTE_OFFSET, lTask, '0:5', 0), rel(BPF_CORE.FIELD_LSHIFT_U64, lTask, '0:5', 1), rel(BPF_CORE.FIELD_RSHIFT_U64, lTask, '0:5', 2)],
      local,
      [target],
    );
    expect([insns.imm(0), insns.imm(1), insns.imm(2)]).toEqual([28, 58, 59]);
    // ... but the right shift is
    const bad = assemble([asm.movImm(3, 1), asm.exit()]);
    expect(thrown(() => applyCoreRelocations(bad, [rel(BPF_CORE.FIELD_RSHIFT_U64, lTask, '0:5')], local, [target])).code).toBe('CORE_INSN_MISMATCH');
  });

  it('a bitfield that no 64-bit load covers is an error', () => {
    const l = new BtfBuilder();
    const ls = l.struct('bf', 16, [['x', l.int('u64', 8), 60, 8]]);
    expect(thrown(() => resolveCoreRelocation(l.btf, [l.btf], rel(BPF_CORE.FIELD_BYTE_OFFSET, ls, '0:0'))).message).toMatch(/64-bit load/);
  });

  it('FIELD_SIGNED follows int encoding and enum signedness', () => {
    const l = new BtfBuilder();
    const ls = l.struct('sg', 8, [
      ['a', l.int('int', 4, true), 0],
      ['e', l.enum('', [['X', -1]], { signed: true }), 32],
    ]);
    const t = new BtfBuilder();
    t.struct('sg', 8, [
      ['a', t.int('unsigned int', 4), 0],
      ['e', t.enum('', [['X', 1]]), 32],
    ]);
    expect(resolveCoreRelocation(l.btf, [t.btf], rel(BPF_CORE.FIELD_SIGNED, ls, '0:0'))).toMatchObject({ localValue: 1n, targetValue: 0n });
    expect(resolveCoreRelocation(l.btf, [t.btf], rel(BPF_CORE.FIELD_SIGNED, ls, '0:1'))).toMatchObject({ localValue: 1n, targetValue: 0n });
  });

  it('array element access: moved array, element size, bounds and flexible arrays', () => {
    const { local, target, lTask } = fixture();
    // arr[2]: local 24 + 2*4 = 32; target 32 + 2*8 = 48, element int(4) → long(8) signed: memory size change poisons loads
    const r = resolveCoreRelocation(local, [target], rel(BPF_CORE.FIELD_BYTE_OFFSET, lTask, '0:6:2'));
    expect([r.localValue, r.targetValue, r.localSize, r.targetSize]).toEqual([32n, 48n, 4, 8]);
    expect(r.failMemorySizeAdjust).toBe(true);
    const add = assemble([asm.addImm(1, 32), asm.exit()]);
    applyCoreRelocations(add, [rel(0, lTask, '0:6:2')], local, [target]);
    expect(add.imm(0)).toBe(48);
    // BYTE_SIZE of an element and of the whole array
    expect(resolveCoreRelocation(local, [target], rel(BPF_CORE.FIELD_BYTE_SIZE, lTask, '0:6:2')).targetValue).toBe(8n);
    expect(resolveCoreRelocation(local, [target], rel(BPF_CORE.FIELD_BYTE_SIZE, lTask, '0:6')).targetValue).toBe(32n);
    // other kinds cannot apply to an element access
    expect(thrown(() => resolveCoreRelocation(local, [target], rel(BPF_CORE.FIELD_SIGNED, lTask, '0:6:2'))).code).toBe('CORE_UNSUPPORTED');
    // root pointer arithmetic: task[1].pid
    const r1 = resolveCoreRelocation(local, [target], rel(BPF_CORE.FIELD_BYTE_OFFSET, lTask, '1:0'));
    expect([r1.localValue, r1.targetValue]).toEqual([40n, 72n + 20n]);
    expect(r1.description).toBe('struct task_struct___x[1].pid');

    // shorter target array: index 3 out of its bounds → no match
    const l = new BtfBuilder();
    const li = l.int('int', 4);
    const ls = l.struct('buf', 20, [
      ['n', li, 0],
      ['d', l.array(li, 4), 32],
    ]);
    const t = new BtfBuilder();
    const ti = t.int('int', 4);
    t.struct('buf', 12, [
      ['n', ti, 0],
      ['d', t.array(ti, 2), 32],
    ]);
    expect(resolveCoreRelocation(l.btf, [t.btf], rel(BPF_CORE.FIELD_EXISTS, ls, '0:1:3')).targetValue).toBe(0n);
    expect(resolveCoreRelocation(l.btf, [t.btf], rel(BPF_CORE.FIELD_EXISTS, ls, '0:1:1')).targetValue).toBe(1n);
    // flexible target array accepts any index
    const t2 = new BtfBuilder();
    const ti2 = t2.int('int', 4);
    t2.struct('buf', 8, [
      ['pad', ti2, 0],
      ['n', ti2, 32],
      ['d', t2.array(ti2, 0), 64],
    ]);
    expect(resolveCoreRelocation(l.btf, [t2.btf], rel(BPF_CORE.FIELD_BYTE_OFFSET, ls, '0:1:3')).targetValue).toBe(8n + 12n);
    // a field that was an array and is a scalar now does not match an element access
    const t3 = new BtfBuilder();
    t3.struct('buf', 8, [
      ['n', t3.int('int', 4), 0],
      ['d', t3.int('int', 4), 32],
    ]);
    expect(resolveCoreRelocation(l.btf, [t3.btf], rel(BPF_CORE.FIELD_EXISTS, ls, '0:1:1')).targetValue).toBe(0n);
  });

  it('finds members through anonymous unions/structs placed differently in the target', () => {
    const l = new BtfBuilder();
    const li = l.int('int', 4);
    const ll = l.int('long', 8);
    const lu = l.union('', 8, [
      ['a', li, 0],
      ['b', ll, 0],
    ]);
    const ls = l.struct('sock', 16, [
      ['', lu, 0],
      ['c', li, 64],
    ]);
    const t = new BtfBuilder();
    const ti = t.int('int', 4);
    const tl = t.int('long', 8);
    const tu = t.union('', 8, [
      ['a', ti, 0],
      ['b', tl, 0],
    ]);
    const inner = t.struct('', 16, [
      ['x', ti, 0],
      ['', tu, 64],
    ]);
    t.struct('sock', 24, [
      ['c', ti, 0],
      ['', inner, 64],
    ]);
    const r = resolveCoreRelocation(l.btf, [t.btf], rel(BPF_CORE.FIELD_BYTE_OFFSET, ls, '0:0:1'));
    expect(r.description).toBe('struct sock.b');
    expect([r.localValue, r.targetValue]).toEqual([0n, 16n]);
    expect(r.targetSpec?.raw).toEqual([0, 1, 1, 1]);
    expect(resolveCoreRelocation(l.btf, [t.btf], rel(BPF_CORE.FIELD_BYTE_OFFSET, ls, '0:1')).targetValue).toBe(0n);
  });

  it('follows typedef chains on the root and on members, on both sides', () => {
    const l = new BtfBuilder();
    const li = l.int('int', 4);
    const lcred = l.struct('cred', 8, [
      ['gid', li, 0],
      ['uid', l.typedef('kuid_t', l.typedef('__kuid', li)), 32],
    ]);
    const ltask = l.struct('task', 16, [['real_cred', l.const(l.typedef('cred_t', lcred)), 0]]);
    const lroot = l.typedef('task_t', ltask);
    const t = new BtfBuilder();
    const ti = t.int('unsigned int', 4);
    const tcred = t.struct('cred', 16, [
      ['usage', ti, 0],
      ['uid', t.typedef('kuid_t', ti), 64],
      ['gid', ti, 96],
    ]);
    t.struct('task', 32, [
      ['x', ti, 0],
      ['real_cred', t.volatile(tcred), 64],
    ]);
    t.typedef('task_t', t.btf.find('task', 'struct') ?? 0);
    const r = resolveCoreRelocation(l.btf, [t.btf], rel(BPF_CORE.FIELD_BYTE_OFFSET, lroot, '0:0:1'));
    expect(r.description).toBe('typedef task_t.real_cred.uid');
    expect([r.localValue, r.targetValue]).toEqual([4n, 16n]);
    // the typedef root found the typedef candidate only
    expect(r.targetTypeId).toBe(t.btf.find('task_t', 'typedef'));
  });

  it('flavours: a local ___flavour matches the plain target name and vice versa', () => {
    const l = new BtfBuilder();
    const li = l.int('int', 4);
    const lnew = l.struct('foo___new', 4, [['renamed', li, 0]]);
    const lold = l.struct('foo___old', 4, [['original', li, 0]]);
    const t = new BtfBuilder();
    const ti = t.int('int', 4);
    t.struct('foo', 8, [
      ['x', ti, 0],
      ['renamed', ti, 32],
    ]);
    expect(resolveCoreRelocation(l.btf, [t.btf], rel(BPF_CORE.FIELD_BYTE_OFFSET, lnew, '0:0')).targetValue).toBe(4n);
    expect(resolveCoreRelocation(l.btf, [t.btf], rel(BPF_CORE.FIELD_EXISTS, lold, '0:0')).targetValue).toBe(0n);
    // target flavours (as bpftool dedup leftovers) are candidates too
    const t2 = new BtfBuilder();
    t2.struct('foo___2', 4, [['original', t2.int('int', 4), 0]]);
    expect(resolveCoreRelocation(l.btf, [t2.btf], rel(BPF_CORE.FIELD_EXISTS, lold, '0:0')).targetValue).toBe(1n);
    // struct vs union never mix as candidates
    const t3 = new BtfBuilder();
    t3.union('foo', 4, [['renamed', t3.int('int', 4), 0]]);
    expect(resolveCoreRelocation(l.btf, [t3.btf], rel(BPF_CORE.FIELD_EXISTS, lnew, '0:0')).targetValue).toBe(0n);
  });

  it('candidates that agree resolve; candidates that disagree are ambiguous', () => {
    const l = new BtfBuilder();
    const ls = l.struct('dup', 8, [['v', l.int('int', 4), 32]]);
    const agree = new BtfBuilder();
    const ai = agree.int('int', 4);
    agree.struct('dup', 8, [
      ['u', ai, 0],
      ['v', ai, 32],
    ]);
    agree.struct('dup', 8, [
      ['w', agree.ptr(ai), 0],
      ['v', ai, 32],
    ]);
    const r = resolveCoreRelocation(l.btf, [agree.btf], rel(0, ls, '0:0'));
    expect(r.matchedCandidates).toBe(2);
    expect(r.targetValue).toBe(4n);

    const disagree = new BtfBuilder();
    const di = disagree.int('int', 4);
    disagree.struct('dup', 8, [['v', di, 0]]);
    disagree.struct('dup___2', 8, [
      ['u', di, 0],
      ['v', di, 32],
    ]);
    const err = thrown(() => resolveCoreRelocation(l.btf, [disagree.btf], rel(0, ls, '0:0')));
    expect(err.code).toBe('CORE_AMBIGUOUS');
    expect(err.message).toContain('struct dup.v');
    const insns = assemble([asm.ldxMem(4, 1, 2, 4), asm.exit()]);
    const err2 = thrown(() => applyCoreRelocations(insns, [rel(0, ls, '0:0')], l.btf, [disagree.btf]));
    expect(err2.code).toBe('CORE_AMBIGUOUS');
    expect(err2.message).toContain('CO-RE relocation #0 (FIELD_BYTE_OFFSET) at insn 0');

    // FIELD_EXISTS: both answer "1" but at different offsets: libbpf calls this ambiguous too
    expect(thrown(() => resolveCoreRelocation(l.btf, [disagree.btf], rel(BPF_CORE.FIELD_EXISTS, ls, '0:0'))).code).toBe('CORE_AMBIGUOUS');
  });

  it('anonymous local root types cannot be relocated', () => {
    const l = new BtfBuilder();
    const anon = l.struct('', 4, [['x', l.int('int', 4), 0]]);
    const err = thrown(() => resolveCoreRelocation(l.btf, [l.btf], rel(0, anon, '0:0')));
    expect(err.code).toBe('CORE_UNSUPPORTED');
    // ... except TYPE_ID_LOCAL, which needs no candidate
    expect(resolveCoreRelocation(l.btf, [l.btf], rel(BPF_CORE.TYPE_ID_LOCAL, anon, '0')).targetValue).toBe(BigInt(anon));
  });
});

describe('enum value relocations', () => {
  function enums() {
    const l = new BtfBuilder();
    const le = l.enum('bpf_func_id', [
      ['BPF_FUNC_unspec', 0],
      ['BPF_FUNC_ringbuf_reserve', 131],
      ['BPF_FUNC_from_the_future', 9999],
    ]);
    const l64 = l.enum64('big', [
      ['BIG_A', 1n],
      ['BIG_B', 0x1_0000_0000n],
    ]);
    const lsmall = l.enum('big___as32', [['BIG_B', 2]]);
    const t = new BtfBuilder();
    t.enum('bpf_func_id', [
      ['BPF_FUNC_unspec', 0],
      ['BPF_FUNC_map_lookup_elem', 1],
      ['BPF_FUNC_ringbuf_reserve', 202],
    ]);
    t.enum64('big', [
      ['BIG_B', 0xdead_beef_cafen],
      ['BIG_A', 7n],
    ]);
    return { l: l.btf, t: t.btf, le, l64, lsmall };
  }

  it('ENUMVAL_EXISTS and ENUMVAL_VALUE: present, different value, absent', () => {
    const { l, t, le } = enums();
    expect(resolveCoreRelocation(l, [t], rel(BPF_CORE.ENUMVAL_EXISTS, le, '1')).targetValue).toBe(1n);
    expect(resolveCoreRelocation(l, [t], rel(BPF_CORE.ENUMVAL_EXISTS, le, '2')).targetValue).toBe(0n);
    const v = resolveCoreRelocation(l, [t], rel(BPF_CORE.ENUMVAL_VALUE, le, '1'));
    expect([v.localValue, v.targetValue, v.description]).toEqual([131n, 202n, 'enum bpf_func_id::BPF_FUNC_ringbuf_reserve']);
    expect(resolveCoreRelocation(l, [t], rel(BPF_CORE.ENUMVAL_VALUE, le, '2')).poisoned).toBe(true);

    const insns = assemble([asm.movImm(1, 131), ...asm.ldImm64(2, 9999n), asm.movImm(3, 1), asm.exit()]);
    const reports = applyCoreRelocations(
      insns,
      [rel(BPF_CORE.ENUMVAL_VALUE, le, '1', 0), rel(BPF_CORE.ENUMVAL_VALUE, le, '2', 1), rel(BPF_CORE.ENUMVAL_EXISTS, le, '2', 3)],
      l,
      [t],
    );
    expect(insns.imm(0)).toBe(202);
    // poisoned ld_imm64: both slots
    expect(insns.at(1)).toEqual({ opcode: CALL, dst: 0, src: 0, offset: 0, imm: CORE_POISON_IMM });
    expect(insns.at(2)).toEqual({ opcode: CALL, dst: 0, src: 0, offset: 0, imm: CORE_POISON_IMM });
    expect(insns.imm(3)).toBe(0);
    expect(reports.map((r) => r.poisoned)).toEqual([false, true, false]);
    expect(explainPoison(reports, 1)).toBe('CO-RE relocation 1 (enum bpf_func_id::BPF_FUNC_from_the_future) could not be resolved on this kernel');
  });

  it('ENUM64 values are patched through ld_imm64 and refused in a 32-bit immediate', () => {
    const { l, t, l64 } = enums();
    const insns = assemble([...asm.ldImm64(1, 0x1_0000_0000n), asm.exit()]);
    applyCoreRelocations(insns, [rel(BPF_CORE.ENUMVAL_VALUE, l64, '1')], l, [t]);
    expect(insns.imm64(0)).toBe(0xdead_beef_cafen);
    expect(insns.opcode(0)).toBe(LD_IMM64);
    const mov = assemble([asm.movImm(1, 1), asm.exit()]);
    expect(thrown(() => applyCoreRelocations(mov, [rel(BPF_CORE.ENUMVAL_VALUE, l64, '1')], l, [t])).code).toBe('CORE_INSN_MISMATCH');
    const mov2 = assemble([asm.movImm(1, 0), asm.exit()]);
    expect(thrown(() => applyCoreRelocations(mov2, [rel(BPF_CORE.ENUMVAL_VALUE, l64, '1')], l, [t])).code).toBe('CORE_INSN_MISMATCH');
    const small = assemble([asm.movImm(1, 1), asm.exit()]);
    // BIG_A: 1 → 7 fits
    applyCoreRelocations(small, [rel(BPF_CORE.ENUMVAL_VALUE, l64, '0')], l, [t]);
    expect(small.imm(0)).toBe(7);
  });

  it('ENUM and ENUM64 match each other', () => {
    const { l, t, lsmall } = enums();
    const r = resolveCoreRelocation(l, [t], rel(BPF_CORE.ENUMVAL_VALUE, lsmall, '0'));
    expect([r.localValue, r.targetValue]).toEqual([2n, 0xdead_beef_cafen]);
    const mov = assemble([asm.movImm(1, 2), asm.exit()]);
    expect(thrown(() => applyCoreRelocations(mov, [rel(BPF_CORE.ENUMVAL_VALUE, lsmall, '0')], l, [t])).message).toMatch(/does not fit the 32-bit immediate/);
    // and the other way round
    const t32 = new BtfBuilder();
    t32.enum('big', [['BIG_B', 5]]);
    expect(resolveCoreRelocation(l, [t32.btf], rel(BPF_CORE.ENUMVAL_VALUE, enums().l64, '1')).targetValue).toBe(5n);
  });

  it('reads signed and unsigned 32-bit enumerators exactly', () => {
    const l = new BtfBuilder();
    const le = l.enum('sgn', [['NEG', -5]], { signed: true });
    const lu = l.enum('uns', [['HIGH', 0xfffffff0]]);
    const t = new BtfBuilder();
    t.enum('sgn', [['NEG', -7]], { signed: true });
    t.enum('uns', [['HIGH', 0xfffffff1]]);
    expect(resolveCoreRelocation(l.btf, [t.btf], rel(BPF_CORE.ENUMVAL_VALUE, le, '0'))).toMatchObject({ localValue: -5n, targetValue: -7n });
    expect(resolveCoreRelocation(l.btf, [t.btf], rel(BPF_CORE.ENUMVAL_VALUE, lu, '0'))).toMatchObject({ localValue: 0xfffffff0n, targetValue: 0xfffffff1n });
    const insns = assemble([asm.movImm(1, -5), ...asm.ldImm64(2, 0xfffffff0n), asm.exit()]);
    applyCoreRelocations(insns, [rel(BPF_CORE.ENUMVAL_VALUE, le, '0', 0), rel(BPF_CORE.ENUMVAL_VALUE, lu, '0', 1)], l.btf, [t.btf]);
    expect(insns.imm(0)).toBe(-7);
    expect(insns.imm64(1)).toBe(0xfffffff1n);
  });

  it('ENUMVAL relocations need an enum target and a matching enumerator name (flavours ignored)', () => {
    const l = new BtfBuilder();
    const le = l.enum('mode___v2', [['MODE_FAST___new', 3]]);
    const t = new BtfBuilder();
    t.enum('mode', [['MODE_FAST', 4]]);
    expect(resolveCoreRelocation(l.btf, [t.btf], rel(BPF_CORE.ENUMVAL_VALUE, le, '0')).targetValue).toBe(4n);
  });

  it('rejects an ld_imm64 of unexpected form', () => {
    const { l, t, le } = enums();
    const insns = assemble([...asm.ldMapFd(1, 3), asm.exit()]);
    expect(thrown(() => applyCoreRelocations(insns, [rel(BPF_CORE.ENUMVAL_VALUE, le, '1')], l, [t])).message).toMatch(/unexpected form/);
  });
});

describe('type relocations', () => {
  function types() {
    const l = new BtfBuilder();
    const li = l.int('int', 4, true);
    const ls = l.struct('mm_struct___mine', 16, [['count', li, 0]]);
    const lmissing = l.struct('not_in_kernel', 4, [['x', li, 0]]);
    const lt = l.typedef('pid_t', li);
    const t = new BtfBuilder();
    const ti = t.int('int', 4, true);
    const ts = t.struct('mm_struct', 128, [
      ['x', t.ptr(ti), 0],
      ['count', ti, 64],
    ]);
    const tt = t.typedef('pid_t', ti);
    return { l: l.btf, t: t.btf, ls, lmissing, lt, ts, tt };
  }

  it('TYPE_EXISTS, TYPE_SIZE, TYPE_MATCHES, TYPE_ID_TARGET, TYPE_ID_LOCAL', () => {
    const { l, t, ls, lmissing, lt, ts, tt } = types();
    const v = (kind: number, id: number) => resolveCoreRelocation(l, [t], rel(kind, id, '0'));
    expect(v(BPF_CORE.TYPE_EXISTS, ls)).toMatchObject({ localValue: 1n, targetValue: 1n, poisoned: false, description: 'struct mm_struct___mine' });
    expect(v(BPF_CORE.TYPE_EXISTS, lmissing)).toMatchObject({ targetValue: 0n, poisoned: false });
    expect(v(BPF_CORE.TYPE_SIZE, ls)).toMatchObject({ localValue: 16n, targetValue: 128n });
    expect(v(BPF_CORE.TYPE_SIZE, lt)).toMatchObject({ localValue: 4n, targetValue: 4n });
    expect(v(BPF_CORE.TYPE_MATCHES, ls)).toMatchObject({ targetValue: 1n });
    expect(v(BPF_CORE.TYPE_MATCHES, lmissing)).toMatchObject({ targetValue: 0n, poisoned: false });
    expect(v(BPF_CORE.TYPE_ID_TARGET, ls)).toMatchObject({ localValue: BigInt(ls), targetValue: BigInt(ts), targetBtf: t, validate: false });
    expect(v(BPF_CORE.TYPE_ID_TARGET, lt)).toMatchObject({ targetValue: BigInt(tt) });
    expect(v(BPF_CORE.TYPE_ID_LOCAL, ls)).toMatchObject({ localValue: BigInt(ls), targetValue: BigInt(ls), targetBtf: undefined });
    // libbpf semantics: the type kinds default to 0 (not poison) when nothing matches
    expect(v(BPF_CORE.TYPE_SIZE, lmissing)).toMatchObject({ targetValue: 0n, poisoned: false });
    expect(v(BPF_CORE.TYPE_ID_TARGET, lmissing)).toMatchObject({ targetValue: 0n, poisoned: false });

    // type ids are not validated against the instruction (they move when objects are linked)
    const insns = assemble([...asm.ldImm64(1, 12345n), asm.movImm(2, 999), asm.movImm(3, 16), asm.exit()]);
    applyCoreRelocations(insns, [rel(BPF_CORE.TYPE_ID_TARGET, ls, '0', 0), rel(BPF_CORE.TYPE_ID_LOCAL, ls, '0', 2), rel(BPF_CORE.TYPE_SIZE, ls, '0', 3)], l, [t]);
    expect(insns.imm64(0)).toBe(BigInt(ts));
    expect(insns.imm(2)).toBe(ls);
    expect(insns.imm(3)).toBe(128);
  });

  it('TYPE_ID_TARGET in a module BTF reports that BTF (its fd is needed)', () => {
    const { l, t, ls } = types();
    const vmlinux = new BtfBuilder();
    vmlinux.int('int', 4, true);
    const mod = new BtfBuilder(vmlinux.btf);
    const mi = mod.int('int', 4, true);
    const ms = mod.struct('mm_struct', 4, [['count', mi, 0]]);
    const r = resolveCoreRelocation(l, [vmlinux.btf, mod.btf], rel(BPF_CORE.TYPE_ID_TARGET, ls, '0'));
    expect(r.targetBtf).toBe(mod.btf);
    expect(r.targetValue).toBe(BigInt(ms));
    expect(ms).toBeGreaterThanOrEqual(mod.btf.firstTypeId);
    // vmlinux candidates win: modules are not searched when vmlinux has one
    const r2 = resolveCoreRelocation(l, [t, mod.btf], rel(BPF_CORE.TYPE_ID_TARGET, ls, '0'));
    expect(r2.targetBtf).toBe(t);
    // two modules with same-named types: ambiguous ids
    const mod2 = new BtfBuilder(vmlinux.btf);
    mod2.struct('mm_struct', 4, [['count', mod2.int('int', 4, true), 0]]);
    expect(thrown(() => resolveCoreRelocation(l, [vmlinux.btf, mod.btf, mod2.btf], rel(BPF_CORE.TYPE_ID_TARGET, ls, '0'))).code).toBe('CORE_AMBIGUOUS');
    // ... but their field offsets agree
    expect(resolveCoreRelocation(l, [vmlinux.btf, mod.btf, mod2.btf], rel(BPF_CORE.FIELD_BYTE_OFFSET, ls, '0:0')).matchedCandidates).toBe(2);
  });

  it('TYPE_EXISTS needs compatible kinds; TYPE_MATCHES is stricter', () => {
    const l = new BtfBuilder();
    const li = l.int('int', 4, true);
    const a = l.struct('a', 8, [
      ['x', li, 0],
      ['y', l.int('u32', 4), 32],
    ]);
    const t = new BtfBuilder();
    const ti = t.int('int', 4, true);
    t.struct('a', 8, [
      ['y', t.int('u64', 8), 0],
      ['x', ti, 64],
    ]);
    expect(resolveCoreRelocation(l.btf, [t.btf], rel(BPF_CORE.TYPE_EXISTS, a, '0')).targetValue).toBe(1n);
    // y changed from u32 to u64: no longer "matches"
    expect(resolveCoreRelocation(l.btf, [t.btf], rel(BPF_CORE.TYPE_MATCHES, a, '0')).targetValue).toBe(0n);
  });
});

describe('robustness', () => {
  it('random relocations against random-ish BTF fail only with CoreError/BtfError', () => {
    const { local, target, l } = fixture();
    const extra = l.enum('e', [['A', 1]]);
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    let ok = 0;
    for (let i = 0; i < 3000; i++) {
      const parts = Array.from({ length: 1 + rnd(4) }, () => String(rnd(9)));
      const relo = rel(rnd(14), rnd(local.typeCount + 2), rnd(20) === 0 ? 'x:1' : parts.join(':'));
      try {
        resolveCoreRelocation(local, [target], relo);
        ok++;
      } catch (e) {
        expect((e as Error).constructor.name, String(e)).toMatch(/^(CoreError|BtfError)$/);
      }
    }
    expect(ok).toBeGreaterThan(10);
    void extra;
  });

  it('keeps the compiler convention for unsigned 32-bit values in ALU64 immediates', () => {
    const l = new BtfBuilder();
    const lu = l.enum('uns', [['HIGH', 0xfffffff0]]);
    const t = new BtfBuilder();
    t.enum('uns', [['HIGH', 0xfffffff1]]);
    const insns = assemble([asm.movImm(1, 0xfffffff0 | 0), asm.exit()]);
    applyCoreRelocations(insns, [rel(BPF_CORE.ENUMVAL_VALUE, lu, '0')], l.btf, [t.btf]);
    expect(insns.imm(0) >>> 0).toBe(0xfffffff1);
  });
});
