/**
 * eBPF instruction encoding constants, named as in the kernel's uapi (`BPF_LD`, `BPF_ALU64`, …).
 * An opcode byte is `class | size | mode` for loads/stores and `class | op | source` for ALU/JMP.
 */

/** Instruction classes (low 3 bits). */
export const BPF_CLASS = {
  LD: 0x00,
  LDX: 0x01,
  ST: 0x02,
  STX: 0x03,
  ALU: 0x04,
  JMP: 0x05,
  JMP32: 0x06,
  ALU64: 0x07,
} as const;

/** Load/store access sizes (bits 3-4). */
export const BPF_SIZE = { W: 0x00, H: 0x08, B: 0x10, DW: 0x18 } as const;

/** Load/store modes (bits 5-7). */
export const BPF_MODE = { IMM: 0x00, ABS: 0x20, IND: 0x40, MEM: 0x60, MEMSX: 0x80, ATOMIC: 0xc0 } as const;

/** ALU operations (bits 4-7). */
export const BPF_ALU_OP = {
  ADD: 0x00,
  SUB: 0x10,
  MUL: 0x20,
  DIV: 0x30,
  OR: 0x40,
  AND: 0x50,
  LSH: 0x60,
  RSH: 0x70,
  NEG: 0x80,
  MOD: 0x90,
  XOR: 0xa0,
  MOV: 0xb0,
  ARSH: 0xc0,
  END: 0xd0,
} as const;

/** Jump operations (bits 4-7). */
export const BPF_JMP_OP = {
  JA: 0x00,
  JEQ: 0x10,
  JGT: 0x20,
  JGE: 0x30,
  JSET: 0x40,
  JNE: 0x50,
  JSGT: 0x60,
  JSGE: 0x70,
  CALL: 0x80,
  EXIT: 0x90,
  JLT: 0xa0,
  JLE: 0xb0,
  JSLT: 0xc0,
  JSLE: 0xd0,
} as const;

/** Operand source (bit 3): immediate or source register. */
export const BPF_SRC = { K: 0x00, X: 0x08 } as const;

/** `src_reg` values of ld_imm64 and calls: one table, kept with the other uapi constants. */
export { BPF_PSEUDO } from '../sys/constants.js';

/** `src_reg` values of a call instruction. */
export const BPF_PSEUDO_CALL = 1;
/** `src_reg` of a call to a kernel function (kfunc). */
export const BPF_PSEUDO_KFUNC_CALL = 2;

/** Size of one instruction slot in bytes. */
export const INSN_SIZE = 8;

/** The opcode of ld_imm64, which occupies two slots. */
export const LD_IMM64 = BPF_CLASS.LD | BPF_SIZE.DW | BPF_MODE.IMM;
/** The opcode of a helper/subprogram/kfunc call. */
export const CALL = BPF_CLASS.JMP | BPF_JMP_OP.CALL;
/** The opcode of exit. */
export const EXIT = BPF_CLASS.JMP | BPF_JMP_OP.EXIT;

/** Width in bytes of a BPF_SIZE value. */
export function sizeBytes(sizeBits: number): 1 | 2 | 4 | 8 {
  switch (sizeBits & 0x18) {
    case BPF_SIZE.B:
      return 1;
    case BPF_SIZE.H:
      return 2;
    case BPF_SIZE.W:
      return 4;
    default:
      return 8;
  }
}

/** The BPF_SIZE bits for an access width in bytes, or undefined for widths BPF cannot load. */
export function sizeBits(bytes: number): number | undefined {
  switch (bytes) {
    case 1:
      return BPF_SIZE.B;
    case 2:
      return BPF_SIZE.H;
    case 4:
      return BPF_SIZE.W;
    case 8:
      return BPF_SIZE.DW;
    default:
      return undefined;
  }
}
