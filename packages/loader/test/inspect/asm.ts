/**
 * Test helpers: hand-assembled programs with map references marked where they are written.
 */
import { assemble, type RawInstruction } from '../../src/asm/instruction.js';
import { asm, BPF_CLASS, BPF_JMP_OP, BPF_PSEUDO, CALL, LD_IMM64 } from '../../src/asm/index.js';
import type { AnalyzedProgram } from '../../src/inspect/analyze.js';
import { BPF_FUNC } from '../../src/sys/constants.js';

/** ld_imm64 of map `name` into `dst` (a map pointer). */
export interface MapLoad {
  map: string;
  dst: number;
  /** Mark as a pointer into a global-data map value (listed in mapValueReferences). */
  value?: boolean;
}

/** One element of a hand-written program. */
export type Part = RawInstruction | readonly RawInstruction[] | MapLoad;

/** `dst = &map` */
export const ldMap = (dst: number, map: string): MapLoad => ({ map, dst });
/** `dst = &map_value` of a global-data map. */
export const ldValue = (dst: number, map: string): MapLoad => ({ map, dst, value: true });
/** Call helper `name` (BPF_FUNC key). */
export const call = (name: keyof typeof BPF_FUNC): RawInstruction => asm.callHelper(BPF_FUNC[name]);
/** bpf-to-bpf call with relative offset `imm` (target = pc + imm + 1). */
export const callRel = (imm: number): RawInstruction => ({ opcode: CALL, dst: 0, src: 1, offset: 0, imm });
/** ld_imm64 of a subprogram address (target = pc + imm + 1). */
export const ldFunc = (dst: number, imm: number): RawInstruction[] => [
  { opcode: LD_IMM64, dst, src: BPF_PSEUDO.FUNC, offset: 0, imm },
  { opcode: 0, dst: 0, src: 0, offset: 0, imm: 0 },
];
/** `if dst != imm goto +off`. */
export const jneImm = (dst: number, imm: number, off: number): RawInstruction => ({
  opcode: BPF_CLASS.JMP | BPF_JMP_OP.JNE,
  dst,
  src: 0,
  offset: off,
  imm,
});
/** `wdst = wsrc` (32-bit move). */
export const mov32Reg = (dst: number, src: number): RawInstruction => ({ opcode: BPF_CLASS.ALU | 0xb0 | 0x08, dst, src, offset: 0, imm: 0 });

function isMapLoad(p: Part): p is MapLoad {
  return typeof (p as MapLoad).map === 'string';
}

/** Assemble parts into an AnalyzedProgram; map loads become ld_imm64 with their references recorded. */
export function program(name: string, parts: readonly Part[]): AnalyzedProgram {
  const out: RawInstruction[] = [];
  const mapReferences = new Map<number, string>();
  const mapValueReferences = new Map<number, string>();
  for (const p of parts) {
    if (isMapLoad(p)) {
      (p.value ? mapValueReferences : mapReferences).set(out.length, p.map);
      out.push(...(p.value ? asm.ldMapValue(p.dst, 0, 0) : asm.ldMapFd(p.dst, 0)));
    } else if (Array.isArray(p)) out.push(...(p as readonly RawInstruction[]));
    else out.push(p as RawInstruction);
  }
  return { name, sectionName: `test/${name}`, insns: assemble(out), mapReferences, mapValueReferences };
}

/** Compact `map:kind@index` strings of an interaction list, for readable assertions. */
export function brief(list: ReadonlyArray<{ map: string; kind: string; insnIndex: number }>): string[] {
  return list.map((i) => `${i.map}:${i.kind}@${i.insnIndex}`);
}
