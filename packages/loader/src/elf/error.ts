import { TsbpfError } from '../errors.js';

/** A malformed, truncated or unsupported ELF file. The message names the file and what is wrong. */
export class ElfError extends TsbpfError {
  /** The file (or buffer label) being read. */
  readonly source: string;

  constructor(code: string, source: string, message: string) {
    super(code, `${source}: ${message}`);
    this.source = source;
  }
}
