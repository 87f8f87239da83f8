/**
 * Base class of every error tsbpf throws on purpose. Callers can branch on `instanceof TsbpfError`
 * (or a subclass) and on {@link TsbpfError.code}; anything else escaping the library is a bug.
 */
export class TsbpfError extends Error {
  /** A stable, machine-readable identifier of the error family, e.g. `ELF_TRUNCATED`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * The running kernel lacks something the caller asked for (a map type, a helper, an attach point).
 * Gadgets catch this kind to fall back to another strategy.
 */
export class NotSupportedError extends TsbpfError {
  constructor(what: string, options?: { cause?: unknown }) {
    super('NOT_SUPPORTED', `${what} is not supported by this kernel`, options);
  }
}
