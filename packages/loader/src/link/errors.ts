/** Errors of the attach functions. */
import { NotSupportedError, TsbpfError } from '../errors.js';

/** Attaching failed for a reason other than a missing kernel feature. */
export class AttachError extends TsbpfError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ATTACH_FAILED', message, options);
  }
}

/** A missing kernel feature with a message that says exactly what is missing (no "is not supported" suffix). */
export class AttachNotSupportedError extends NotSupportedError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.message = message;
  }
}
