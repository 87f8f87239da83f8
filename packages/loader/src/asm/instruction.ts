/**
 * Zero-copy access to eBPF instruction streams. A program's instructions are kept as raw bytes
 * (`Uint8Array`, little-endian `struct bpf_insn` records, 8 bytes each) so that relocation and
 * CO-RE patching write in place and loading passes the same buffer to the kernel untouched.
 * {@link Insns} is a thin typed window over such a buffer, addressed by instruction index.
 */
import { BPF_CLASS, CALL, EXIT, INSN_SIZE, LD_IMM64 } from './opcodes.js';

/** One decoded instruction slot (`struct bpf_insn`). */
export interface RawInstruction {
  /** Opcode byte. */
  opcode: number;
  /** Destination register (0-10). */
  dst: number;
  /** Source register, or a pseudo value for ld_imm64 and calls. */
  src: number;
  /** Signed 16-bit offset. */
  offset: number;
  /** Signed 32-bit immediate. */
  imm: number;
}

/** A typed, mutable window over raw instruction bytes. */
export class Insns {
  /** The underlying bytes; a multiple of 8 long. */
  readonly bytes: Uint8Array;
  private readonly view: DataView;

  constructor(bytes: Uint8Array) {
    if (bytes.byteLength % INSN_SIZE !== 0) {
      throw new RangeError(`instruction stream of ${bytes.byteLength} bytes is not a multiple of ${INSN_SIZE}`);
    }
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Number of 8-byte slots. */
  get length(): number {
    return this.bytes.byteLength / INSN_SIZE;
  }

  private check(i: number): number {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) {
      throw new RangeError(`instruction index ${i} out of range [0, ${this.length})`);
    }
    return i * INSN_SIZE;
  }

  opcode(i: number): number {
    return this.view.getUint8(this.check(i));
  }
  dst(i: number): number {
    return this.view.getUint8(this.check(i) + 1) & 0x0f;
  }
  src(i: number): number {
    return this.view.getUint8(this.check(i) + 1) >> 4;
  }
  offset(i: number): number {
    return this.view.getInt16(this.check(i) + 2, true);
  }
  imm(i: number): number {
    return this.view.getInt32(this.check(i) + 4, true);
  }

  setOpcode(i: number, opcode: number): void {
    this.view.setUint8(this.check(i), opcode);
  }
  setRegs(i: number, dst: number, src: number): void {
    this.view.setUint8(this.check(i) + 1, (dst & 0x0f) | ((src & 0x0f) << 4));
  }
  setSrc(i: number, src: number): void {
    this.setRegs(i, this.dst(i), src);
  }
  setOffset(i: number, offset: number): void {
    this.view.setInt16(this.check(i) + 2, offset, true);
  }
  setImm(i: number, imm: number): void {
    this.view.setInt32(this.check(i) + 4, imm | 0, true);
  }

  /** Decode slot `i` into a plain object. */
  at(i: number): RawInstruction {
    return { opcode: this.opcode(i), dst: this.dst(i), src: this.src(i), offset: this.offset(i), imm: this.imm(i) };
  }

  /** Overwrite slot `i`. */
  set(i: number, insn: RawInstruction): void {
    this.setOpcode(i, insn.opcode);
    this.setRegs(i, insn.dst, insn.src);
    this.setOffset(i, insn.offset);
    this.setImm(i, insn.imm);
  }

  /** True when slot `i` is the first half of an ld_imm64. */
  isLdImm64(i: number): boolean {
    return this.opcode(i) === LD_IMM64;
  }
  /** True when slot `i` is a call (helper, bpf-to-bpf or kfunc). */
  isCall(i: number): boolean {
    return this.opcode(i) === CALL;
  }
  /** True when slot `i` is an exit. */
  isExit(i: number): boolean {
    return this.opcode(i) === EXIT;
  }
  /** The 3-bit instruction class of slot `i`. */
  class(i: number): number {
    return this.opcode(i) & 0x07;
  }

  /** The 64-bit immediate of the ld_imm64 starting at slot `i`. */
  imm64(i: number): bigint {
    if (i + 1 >= this.length) throw new RangeError(`ld_imm64 at ${i} is missing its second slot`);
    const lo = BigInt(this.imm(i) >>> 0);
    const hi = BigInt(this.imm(i + 1) >>> 0);
    return (hi << 32n) | lo;
  }
  /** Set the 64-bit immediate of the ld_imm64 starting at slot `i`. */
  setImm64(i: number, value: bigint): void {
    if (i + 1 >= this.length) throw new RangeError(`ld_imm64 at ${i} is missing its second slot`);
    const v = BigInt.asUintN(64, value);
    this.setImm(i, Number(v & 0xffffffffn) | 0);
    this.setImm(i + 1, Number(v >> 32n) | 0);
  }

  /** Copy of slots [start, end). */
  slice(start: number, end: number): Insns {
    return new Insns(this.bytes.slice(start * INSN_SIZE, end * INSN_SIZE));
  }
}

/** Encode one instruction into 8 bytes. */
export function encodeInstruction(insn: RawInstruction): Uint8Array {
  const out = new Insns(new Uint8Array(INSN_SIZE));
  out.set(0, insn);
  return out.bytes;
}

/** Concatenate instructions built with the helpers in `builders.ts` into one stream. */
export function assemble(parts: readonly RawInstruction[]): Insns {
  const out = new Insns(new Uint8Array(parts.length * INSN_SIZE));
  parts.forEach((p, i) => out.set(i, p));
  return out;
}

export { BPF_CLASS };
