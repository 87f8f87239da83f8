/**
 * Small constructors for hand-written instruction sequences (tests, feature probes).
 * Each returns one or two {@link RawInstruction} slots; `assemble()` turns a list into bytes.
 */
import type { RawInstruction } from './instruction.js';
import { BPF_ALU_OP, BPF_CLASS, BPF_JMP_OP, BPF_MODE, BPF_PSEUDO, BPF_SRC, CALL, EXIT, LD_IMM64, sizeBits } from './opcodes.js';

const insn = (opcode: number, dst = 0, src = 0, offset = 0, imm = 0): RawInstruction => ({ opcode, dst, src, offset, imm });

/** `dst = imm` (64-bit). */
export const movImm = (dst: number, imm: number): RawInstruction => insn(BPF_CLASS.ALU64 | BPF_ALU_OP.MOV | BPF_SRC.K, dst, 0, 0, imm);
/** `dst = src` (64-bit). */
export const movReg = (dst: number, src: number): RawInstruction => insn(BPF_CLASS.ALU64 | BPF_ALU_OP.MOV | BPF_SRC.X, dst, src);
/** `dst += imm` (64-bit). */
export const addImm = (dst: number, imm: number): RawInstruction => insn(BPF_CLASS.ALU64 | BPF_ALU_OP.ADD | BPF_SRC.K, dst, 0, 0, imm);
/** Call helper number `helper`. */
export const callHelper = (helper: number): RawInstruction => insn(CALL, 0, 0, 0, helper);
/** `exit`. */
export const exit = (): RawInstruction => insn(EXIT);
/** `*(size *)(dst + off) = src`. */
export const stxMem = (bytes: number, dst: number, src: number, off: number): RawInstruction =>
  insn(BPF_CLASS.STX | BPF_MODE.MEM | (sizeBits(bytes) ?? 0), dst, src, off);
/** `*(size *)(dst + off) = imm`. */
export const stMem = (bytes: number, dst: number, off: number, imm: number): RawInstruction =>
  insn(BPF_CLASS.ST | BPF_MODE.MEM | (sizeBits(bytes) ?? 0), dst, 0, off, imm);
/** `dst = *(size *)(src + off)`. */
export const ldxMem = (bytes: number, dst: number, src: number, off: number): RawInstruction =>
  insn(BPF_CLASS.LDX | BPF_MODE.MEM | (sizeBits(bytes) ?? 0), dst, src, off);
/** `if dst == imm goto +off`. */
export const jeqImm = (dst: number, imm: number, off: number): RawInstruction => insn(BPF_CLASS.JMP | BPF_JMP_OP.JEQ | BPF_SRC.K, dst, 0, off, imm);
/** `goto +off`. */
export const ja = (off: number): RawInstruction => insn(BPF_CLASS.JMP | BPF_JMP_OP.JA, 0, 0, off);

/** ld_imm64 of a 64-bit constant (two slots). */
export function ldImm64(dst: number, value: bigint): [RawInstruction, RawInstruction] {
  const v = BigInt.asUintN(64, value);
  return [insn(LD_IMM64, dst, 0, 0, Number(v & 0xffffffffn) | 0), insn(0, 0, 0, 0, Number(v >> 32n) | 0)];
}

/** ld_imm64 of a map file descriptor (`src_reg = BPF_PSEUDO_MAP_FD`). */
export function ldMapFd(dst: number, fd: number): [RawInstruction, RawInstruction] {
  return [insn(LD_IMM64, dst, BPF_PSEUDO.MAP_FD, 0, fd), insn(0)];
}

/** ld_imm64 of the address of `offset` bytes into the value of a single-element map (`BPF_PSEUDO_MAP_VALUE`). */
export function ldMapValue(dst: number, fd: number, offset: number): [RawInstruction, RawInstruction] {
  return [insn(LD_IMM64, dst, BPF_PSEUDO.MAP_VALUE, 0, fd), insn(0, 0, 0, 0, offset)];
}
