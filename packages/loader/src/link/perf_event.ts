/**
 * Attaching a program to a perf event: the common last step of kprobes, uprobes and tracepoints, and
 * the whole of `perf_event` programs (software/hardware sampling).
 *
 * Preferred: `BPF_LINK_CREATE` with `BPF_PERF_EVENT` (a real bpf_link that can be pinned, carries a
 * bpf_cookie, and holds the perf event itself). Older kernels: `PERF_EVENT_IOC_SET_BPF` then
 * `PERF_EVENT_IOC_ENABLE`; the attachment then lives exactly as long as the perf event fd.
 */
import { BPF_ATTACH_TYPE, PERF_TYPE, linkCreate, onlineCpus, perfEventEnable, perfEventOpen, perfEventSetBpf, type Fd, type PerfEventAttr } from '../sys/index.js';
import { AttachError } from './errors.js';
import { errnoIs, explainAttachError, runAll } from './internal.js';
import { BpfLink, FdHolderLink, type Link } from './link.js';

/** Options common to perf-event based attachments. */
export interface PerfAttachOptions {
  /** bpf_cookie readable with bpf_get_attach_cookie() (needs bpf_link support). */
  readonly cookie?: bigint;
  /**
   * `link` (BPF_LINK_CREATE only), `ioctl` (PERF_EVENT_IOC_SET_BPF only: no bpf_link, no pinning, as on
   * kernels before 5.15), or `auto` (default: a link when the kernel has perf links).
   */
  readonly mode?: 'auto' | 'link' | 'ioctl';
}

let perfLinkUnsupported = false;

/**
 * Attach `prog` to the already opened (disabled) perf event `perf`, taking ownership of `perf`.
 * `cleanup` runs after detaching (e.g. removing the tracefs probe that backs the event).
 */
export function attachPerfEventFd(kind: string, prog: Fd, perf: Fd, options: PerfAttachOptions = {}, cleanup: (() => void)[] = []): Link {
  const release = (): void => runAll([() => perf.close(), ...cleanup]);
  const mode = options.mode ?? 'auto';
  if (mode === 'link' || (mode === 'auto' && !perfLinkUnsupported)) {
    let link: Fd | undefined;
    try {
      link = linkCreate({ progFd: prog, targetFd: perf, attachType: BPF_ATTACH_TYPE.PERF_EVENT, perfEventCookie: options.cookie });
    } catch (err) {
      // EINVAL: no perf links (< 5.15), or a program this event cannot take; the ioctl path below
      // tells the two apart. Anything else is a real failure of this attach.
      if (!errnoIs(err, 'EINVAL') || options.cookie !== undefined || mode === 'link') {
        release();
        throw explainAttachError(err, `attaching ${kind} program`);
      }
    }
    if (link) {
      try {
        perfEventEnable(perf);
      } catch (err) {
        runAll([() => link?.close(), release]);
        throw explainAttachError(err, `enabling ${kind} perf event`);
      }
      // The link holds its own reference to the perf event; ours is closed with the link.
      return new BpfLink(kind, link, [release]);
    }
  }
  if (options.cookie !== undefined) {
    release();
    throw new AttachError(`${kind}: a bpf_cookie needs BPF_LINK_CREATE for perf events (kernel 5.15+); this kernel only has PERF_EVENT_IOC_SET_BPF`);
  }
  try {
    perfEventSetBpf(perf, prog);
    perfEventEnable(perf);
  } catch (err) {
    release();
    throw explainAttachError(err, `attaching ${kind} program with PERF_EVENT_IOC_SET_BPF`);
  }
  // LINK_CREATE refused what the ioctl accepts: this kernel has no perf links; stop trying them.
  if (mode === 'auto') perfLinkUnsupported = true;
  return new FdHolderLink(kind, perf, cleanup);
}

/** Several links closed together (one perf event per CPU). Not a bpf_link itself. */
export class MultiLink implements Link {
  readonly kind: string;
  #links: Link[];

  constructor(kind: string, links: Link[]) {
    this.kind = kind;
    this.#links = links;
  }

  /** The member links (one per CPU). */
  get links(): readonly Link[] {
    return this.#links;
  }

  get fd(): Fd | undefined {
    return undefined;
  }

  close(): void {
    const links = this.#links;
    this.#links = [];
    runAll(links.map((l) => () => l.close()));
  }

  pin(): void {
    throw new AttachError(`a ${this.kind} attachment spans ${this.#links.length} perf events; pin the member links one by one`);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** What a `perf_event` program samples. */
export interface PerfEventOptions extends PerfAttachOptions {
  /** `PERF_TYPE_*` (default PERF_TYPE_SOFTWARE). */
  readonly type?: number;
  /** Event within the type (default PERF_COUNT_SW_CPU_CLOCK = 0). */
  readonly config?: number | bigint;
  /** Run the program every N events. Exclusive with `frequency`. */
  readonly samplePeriod?: number | bigint;
  /** Run the program N times per second. Exclusive with `samplePeriod`. */
  readonly frequency?: number;
  /** Only this process (default: all). */
  readonly pid?: number;
  /** Only these CPUs (default: every online CPU when `pid` is unset, any CPU otherwise). */
  readonly cpus?: readonly number[];
}

/**
 * Attach a `BPF_PROG_TYPE_PERF_EVENT` program to a sampling event on every CPU (or `options.cpus`).
 * Returns a {@link MultiLink} of per-CPU links.
 */
export function attachPerfEvent(prog: Fd, options: PerfEventOptions = {}): MultiLink {
  if (options.samplePeriod !== undefined && options.frequency !== undefined) {
    throw new AttachError('perf_event: give samplePeriod or frequency, not both');
  }
  const attr: PerfEventAttr = {
    type: options.type ?? PERF_TYPE.SOFTWARE,
    config: options.config ?? 0,
    ...(options.frequency !== undefined ? { sampleFreq: options.frequency, flags: { disabled: true, freq: true } } : { samplePeriod: options.samplePeriod ?? 1_000_000, flags: { disabled: true } }),
  };
  const pid = options.pid ?? -1;
  const cpus = options.cpus ?? (pid >= 0 ? [-1] : onlineCpus());
  const links: Link[] = [];
  try {
    for (const cpu of cpus) {
      let fd: Fd;
      try {
        fd = perfEventOpen(attr, pid, cpu, -1, 0);
      } catch (err) {
        throw explainAttachError(err, `perf_event_open(type ${attr.type}, config ${attr.config}) on cpu ${cpu}`);
      }
      links.push(attachPerfEventFd('perf_event', prog, fd, options));
    }
  } catch (err) {
    runAll(links.map((l) => () => l.close()));
    throw err;
  }
  return new MultiLink('perf_event', links);
}
