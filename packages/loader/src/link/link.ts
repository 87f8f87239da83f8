/**
 * The `Link` type: one attachment of a program to a hook, detached by `close()`. Most links are
 * kernel `bpf_link` objects (an fd that can be pinned and enumerated); older attach paths (a perf event
 * with PERF_EVENT_IOC_SET_BPF, a tracefs probe) are links only on our side and cannot be pinned.
 */
import type { Fd } from '../sys/fd.js';
import { objPin } from '../sys/bpf.js';
import { linkInfo, type LinkInfo } from '../sys/info.js';
import { AttachError, AttachNotSupportedError } from './errors.js';
import { runAll } from './internal.js';

/** One attachment of a program. Dispose (or `close()`) to detach. */
export interface Link extends Disposable {
  /** The attach kind: `kprobe`, `uprobe`, `tracepoint`, `raw_tracepoint`, `tracing`, `perf_event`, `xdp`, `tcx`, `cgroup`, … */
  readonly kind: string;
  /** The kernel `bpf_link` fd, or undefined when the attachment is not a bpf_link (legacy perf attach). */
  readonly fd: Fd | undefined;
  /** Detach; idempotent. */
  close(): void;
  /**
   * Pin the bpf_link in bpffs so it outlives this process.
   * @throws NotSupportedError when the attachment is not a bpf_link.
   */
  pin(path: string): void;
  /** The kernel's view of the link (`BPF_OBJ_GET_INFO_BY_FD`), when it is a bpf_link. */
  info?(): LinkInfo;
}

/**
 * A link backed by a kernel bpf_link fd. `cleanup` runs after the fd is closed (e.g. removing a tracefs
 * probe or closing the perf event the link holds).
 */
export class BpfLink implements Link {
  readonly kind: string;
  #fd: Fd | undefined;
  readonly #cleanup: (() => void)[];

  constructor(kind: string, fd: Fd, cleanup: (() => void)[] = []) {
    this.kind = kind;
    this.#fd = fd;
    this.#cleanup = cleanup;
  }

  get fd(): Fd | undefined {
    return this.#fd;
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#fd === undefined;
  }

  close(): void {
    const fd = this.#fd;
    if (!fd) return;
    this.#fd = undefined;
    runAll([() => fd.close(), ...this.#cleanup]);
  }

  pin(path: string): void {
    if (!this.#fd) throw new AttachError(`cannot pin a closed ${this.kind} link`);
    objPin(this.#fd, path);
  }

  info(): LinkInfo {
    if (!this.#fd) throw new AttachError(`${this.kind} link is closed`);
    return linkInfo(this.#fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * An attachment that is not a bpf_link: the program stays attached as long as `holder` (a perf event fd)
 * is open. Close detaches; pinning is impossible.
 */
export class FdHolderLink implements Link {
  readonly kind: string;
  #holder: Fd | undefined;
  readonly #cleanup: (() => void)[];

  constructor(kind: string, holder: Fd, cleanup: (() => void)[] = []) {
    this.kind = kind;
    this.#holder = holder;
    this.#cleanup = cleanup;
  }

  /** Always undefined: this attachment is not a bpf_link. */
  get fd(): Fd | undefined {
    return undefined;
  }

  /** The fd that keeps the program attached (the perf event). */
  get holder(): Fd | undefined {
    return this.#holder;
  }

  close(): void {
    const fd = this.#holder;
    if (!fd) return;
    this.#holder = undefined;
    runAll([() => fd.close(), ...this.#cleanup]);
  }

  pin(): void {
    throw new AttachNotSupportedError(`pinning a ${this.kind} attachment needs a bpf_link; this kernel attached it with a perf event ioctl (no BPF_LINK_CREATE for perf events)`);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
