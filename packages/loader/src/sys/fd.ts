/**
 * `Fd`: the single owner of one kernel file descriptor. Every fd this library opens lives in an `Fd`
 * and is closed by `close()` / `Symbol.dispose`; a FinalizationRegistry closes forgotten ones as a
 * safety net and counts them, so tests can assert no leaks.
 */
import { TsbpfError } from '../errors.js';
import { closeRaw, dupCloexecRaw, lastErrno } from './ffi.js';
import { SyscallError } from './errors.js';

interface Held {
  raw: number;
  label: string | undefined;
}

let live = 0;
let leaked = 0;

const registry = new FinalizationRegistry<Held>((held) => {
  // The owner was garbage-collected without close(): close the descriptor so it does not leak.
  leaked++;
  live--;
  closeRaw(held.raw);
});

/** One owned file descriptor (a map, program, link, BTF object, perf event, epoll or eventfd). */
export class Fd implements Disposable {
  #raw: number;
  /** A short description used in error messages (`map "events"`, `perf_event cpu 3`). */
  readonly label: string | undefined;
  readonly #held: Held;

  /**
   * Takes ownership of `raw`, which must be an open descriptor nobody else closes.
   * @throws TsbpfError `FD_INVALID` when `raw` is not a non-negative integer.
   */
  constructor(raw: number, label?: string) {
    if (!Number.isInteger(raw) || raw < 0) throw new TsbpfError('FD_INVALID', `invalid file descriptor ${raw}${label ? ` (${label})` : ''}`);
    this.#raw = raw;
    this.label = label;
    this.#held = { raw, label };
    live++;
    registry.register(this, this.#held, this.#held);
  }

  /**
   * The descriptor number, for passing to the kernel.
   * @throws TsbpfError `FD_CLOSED` after {@link Fd.close}.
   */
  get raw(): number {
    if (this.#raw < 0) throw new TsbpfError('FD_CLOSED', `file descriptor${this.label ? ` of ${this.label}` : ''} is already closed`);
    return this.#raw;
  }

  /** True once {@link Fd.close} ran. */
  get closed(): boolean {
    return this.#raw < 0;
  }

  /** Closes the descriptor; calling it again does nothing. */
  close(): void {
    if (this.#raw < 0) return;
    const raw = this.#raw;
    this.#raw = -1;
    registry.unregister(this.#held);
    live--;
    closeRaw(raw);
  }

  /** Same as {@link Fd.close}, for `using fd = ...`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * A new descriptor for the same open file (F_DUPFD_CLOEXEC), owned by the returned `Fd`.
   * @throws SyscallError when the kernel refuses (EMFILE).
   */
  dup(): Fd {
    const n = dupCloexecRaw(this.raw);
    if (n < 0) throw new SyscallError('fcntl(F_DUPFD_CLOEXEC)', lastErrno(), { context: this.label });
    return new Fd(n, this.label);
  }

  /** `Fd(7, map "events")`, for logs. */
  toString(): string {
    return this.closed ? `Fd(closed${this.label ? `, ${this.label}` : ''})` : `Fd(${this.#raw}${this.label ? `, ${this.label}` : ''})`;
  }

  /** Number of `Fd` objects currently open (not closed and not collected). */
  static get openCount(): number {
    return live;
  }

  /** Number of descriptors the safety net closed because their `Fd` was collected without `close()`. */
  static get leakedCount(): number {
    return leaked;
  }
}
