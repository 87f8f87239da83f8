/**
 * cgroup programs (`cgroup_skb/ingress`, `cgroup/sock_create`, `cgroup/connect4`, …) attached to a
 * cgroup v2 directory with a bpf_link; kernels without cgroup links fall back to BPF_PROG_ATTACH with
 * BPF_F_ALLOW_MULTI (detached by close()).
 */
import { closeSync, openSync } from 'node:fs';
import { BPF_F_ATTACH, Fd, attachTypeName, linkCreate, progAttach, progDetach } from '../sys/index.js';
import { AttachError, AttachNotSupportedError } from './errors.js';
import { errnoIs, explainAttachError } from './internal.js';
import { BpfLink, type Link } from './link.js';

/** Opens a cgroup directory as an owned fd. */
function openCgroup(path: string): Fd {
  let raw: number;
  try {
    raw = openSync(path, 'r');
  } catch (cause) {
    throw new AttachError(`cannot open cgroup ${path}: ${(cause as Error).message}`, { cause });
  }
  try {
    return new Fd(raw, `cgroup ${path}`);
  } catch (err) {
    closeSync(raw);
    throw err;
  }
}

/** A cgroup attachment made with BPF_PROG_ATTACH (no bpf_link): close() detaches it. */
class ProgAttachLink implements Link {
  readonly kind: string;
  #cgroup: Fd | undefined;
  readonly #prog: Fd;
  readonly #attachType: number;

  constructor(kind: string, cgroup: Fd, prog: Fd, attachType: number) {
    this.kind = kind;
    this.#cgroup = cgroup;
    // Our own reference, so detaching works even after the caller closed the program.
    this.#prog = prog.dup();
    this.#attachType = attachType;
  }

  get fd(): Fd | undefined {
    return undefined;
  }

  close(): void {
    const cg = this.#cgroup;
    if (!cg) return;
    this.#cgroup = undefined;
    try {
      progDetach({ targetFd: cg, attachBpfFd: this.#prog, attachType: this.#attachType });
    } finally {
      cg.close();
      this.#prog.close();
    }
  }

  pin(): void {
    throw new AttachNotSupportedError(`pinning a ${this.kind} attachment needs a bpf_link; this kernel attached it with BPF_PROG_ATTACH`);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Options of {@link attachCgroup}. */
export interface CgroupOptions {
  /** Extra link flags (BPF_F_BEFORE/AFTER with an anchor are not exposed here). */
  readonly flags?: number;
  /**
   * `link` (BPF_LINK_CREATE only), `attach` (BPF_PROG_ATTACH with BPF_F_ALLOW_MULTI, as kernels before
   * 5.7 need), or `auto` (default: a link, falling back to attach when the kernel has no cgroup links).
   */
  readonly mode?: 'auto' | 'link' | 'attach';
}

/**
 * Attach a cgroup program to the cgroup v2 directory `cgroupPath` for `attachType`
 * (e.g. BPF_CGROUP_INET_EGRESS).
 */
export function attachCgroup(prog: Fd, cgroupPath: string, attachType: number, options: CgroupOptions = {}): Link {
  const kind = `cgroup/${(attachTypeName(attachType) ?? String(attachType)).replace(/^BPF_CGROUP_/, '').toLowerCase()}`;
  const cg = openCgroup(cgroupPath);
  const mode = options.mode ?? 'auto';
  if (mode !== 'attach') {
    try {
      // The link holds its own reference to the cgroup.
      const link = new BpfLink(kind, linkCreate({ progFd: prog, targetFd: cg, attachType, flags: options.flags }));
      cg.close();
      return link;
    } catch (err) {
      if (!errnoIs(err, 'EINVAL') || mode === 'link') {
        cg.close();
        throw explainAttachError(err, `attaching ${kind} to ${cgroupPath}`);
      }
    }
  }
  try {
    progAttach({ targetFd: cg, attachBpfFd: prog, attachType, attachFlags: BPF_F_ATTACH.ALLOW_MULTI });
  } catch (err) {
    cg.close();
    throw explainAttachError(err, `attaching ${kind} to ${cgroupPath} with BPF_PROG_ATTACH`);
  }
  return new ProgAttachLink(kind, cg, prog, attachType);
}
