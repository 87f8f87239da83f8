import { TsbpfError } from '../errors.js';

/**
 * An object whose contents the loader cannot make sense of: an unknown section, a map definition
 * it cannot read, a relocation against an unknown symbol. The message names the file, the section
 * and, where there is one, the instruction index and symbol.
 */
export class SpecError extends TsbpfError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
