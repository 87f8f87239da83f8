/**
 * Errors of the program–map interaction analysis.
 */
import { TsbpfError } from '../errors.js';

/** Stable codes of {@link InspectError}. */
export type InspectErrorCode =
  /** A jump lands outside the program or inside the second slot of an ld_imm64. */
  | 'INSPECT_JUMP_OUT_OF_RANGE'
  /** An ld_imm64 lacks its second slot, or that slot is not the zero opcode the kernel requires. */
  | 'INSPECT_TRUNCATED_LD_IMM64'
  /** A bpf-to-bpf call targets no instruction of the program. */
  | 'INSPECT_CALL_OUT_OF_RANGE'
  /** Execution can run past the last instruction without an exit. */
  | 'INSPECT_FALLS_OFF_END'
  /** Subprogram calls nest deeper than the kernel allows (recursion, usually). */
  | 'INSPECT_CALL_DEPTH'
  /** A jump opcode the instruction set does not define. */
  | 'INSPECT_BAD_OPCODE'
  /** A map reference points at an instruction that is not an ld_imm64. */
  | 'INSPECT_BAD_REFERENCE'
  /** The fixed-point iteration did not settle within its step budget. */
  | 'INSPECT_BUDGET';

/**
 * The instruction stream handed to the analysis is malformed. The message names the program and the
 * instruction index; both are also available as fields so tools can point at the culprit.
 */
export class InspectError extends TsbpfError {
  /** Name of the program being analysed. */
  readonly program: string;
  /** Index of the offending instruction slot, when one is to blame. */
  readonly insnIndex: number | undefined;

  constructor(code: InspectErrorCode, program: string, insnIndex: number | undefined, detail: string) {
    const where = insnIndex === undefined ? `program ${program}` : `program ${program}, instruction ${insnIndex}`;
    super(code, `${where}: ${detail}`);
    this.program = program;
    this.insnIndex = insnIndex;
  }
}
