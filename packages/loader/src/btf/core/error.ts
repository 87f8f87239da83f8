import { TsbpfError } from '../../errors.js';

/** Stable codes of {@link CoreError}. */
export type CoreErrorCode =
  /** The access string or relocation record does not fit the local BTF. */
  | 'CORE_BAD_SPEC'
  /** A type chain in local or target BTF is malformed (cycle, missing size). */
  | 'CORE_BAD_BTF'
  /** Several candidates match but resolve to different values. */
  | 'CORE_AMBIGUOUS'
  /** The relocated instruction does not carry the value the compiler computed from local BTF. */
  | 'CORE_INSN_MISMATCH'
  /** The relocated instruction cannot hold the target value or is of a form CO-RE cannot patch. */
  | 'CORE_BAD_INSN'
  /** The relocation kind is unknown or unsupported for this access (e.g. anonymous root type). */
  | 'CORE_UNSUPPORTED';

/**
 * A CO-RE relocation that cannot be applied safely. Unlike a missing field (which poisons the
 * instruction so the program fails only when the path is taken), these stop the load: the
 * message names the relocation number, instruction index and the C access path.
 */
export class CoreError extends TsbpfError {
  declare readonly code: CoreErrorCode;

  constructor(code: CoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
