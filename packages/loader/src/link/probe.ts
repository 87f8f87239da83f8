/**
 * Opening kprobe/uprobe perf events, shared by kprobe.ts and uprobe.ts: through the dynamic perf PMU
 * (`/sys/bus/event_source/devices/{kprobe,uprobe}`, 4.17+) when the kernel has it, otherwise through a
 * tracefs probe event that we create, open as a tracepoint, and remove on close.
 */
import { readPseudoFile } from '../pseudofile.js';
import { PERF_TYPE, addressOf, cString, perfEventOpen, type Fd } from '../sys/index.js';
import { createProbeEvent, hasProbeEventsFile, type ProbeEvent, type ProbeEventKind } from './tracefs.js';

/** A dynamic PMU: its perf type and the config bit of `retprobe`. */
export interface ProbePmu {
  readonly type: number;
  readonly retprobeBit: number;
  /** First config bit of `ref_ctr_offset` (uprobe only), if the PMU has it. */
  readonly refCtrShift?: number;
}

const pmuCache = new Map<ProbeEventKind, ProbePmu | null>();

/** Reads `config:N` or `config:N-M` from a PMU format file; returns N. */
function formatBit(path: string): number | undefined {
  try {
    const m = /^config:(\d+)(?:-\d+)?\s*$/.exec(readPseudoFile(path).trim());
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The kprobe or uprobe PMU, or null when the kernel has none. */
export function probePmu(kind: ProbeEventKind): ProbePmu | null {
  const hit = pmuCache.get(kind);
  if (hit !== undefined) return hit;
  const dir = `/sys/bus/event_source/devices/${kind}`;
  let pmu: ProbePmu | null = null;
  try {
    const type = Number.parseInt(readPseudoFile(`${dir}/type`).trim(), 10);
    if (Number.isInteger(type)) {
      pmu = { type, retprobeBit: formatBit(`${dir}/format/retprobe`) ?? 0, refCtrShift: formatBit(`${dir}/format/ref_ctr_offset`) };
    }
  } catch {
    pmu = null;
  }
  pmuCache.set(kind, pmu);
  return pmu;
}

/** What to probe. */
export interface ProbeTarget {
  readonly kind: ProbeEventKind;
  readonly retprobe: boolean;
  /** kprobe: kernel symbol; uprobe: binary path. */
  readonly target: string;
  /** kprobe: offset into the symbol; uprobe: file offset. */
  readonly offset: number;
  /** uprobe: the process to probe (-1 or undefined: all). */
  readonly pid?: number;
  /** kretprobe instances (only the tracefs path can honour it). */
  readonly maxactive?: number;
  /** uprobe: USDT semaphore file offset. */
  readonly refCtrOffset?: number;
  /** Readable name for events/errors (the symbol). */
  readonly label: string;
  /** Skip the PMU and use tracefs (tests, or maxactive). */
  readonly forceTracefs?: boolean;
}

/** An opened probe perf event (disabled) and how to undo it. */
export interface OpenedProbe {
  readonly fd: Fd;
  /** The tracefs event behind it, when the legacy path was used. */
  readonly event?: ProbeEvent;
  /** `pmu` or `tracefs`. */
  readonly via: 'pmu' | 'tracefs';
}

/**
 * Open a perf event for `t`. Throws the raw SyscallError/TracefsError; callers turn it into a message
 * about their kind of probe.
 */
export function openProbe(t: ProbeTarget): OpenedProbe {
  const pid = t.pid !== undefined && t.pid >= 0 ? t.pid : -1;
  // Trace events fire on every CPU; a per-task event must use cpu -1.
  const cpu = pid >= 0 ? -1 : 0;
  const pmu = t.forceTracefs || (t.maxactive !== undefined && t.maxactive > 0) ? null : probePmu(t.kind);
  if (pmu) {
    const name = cString(t.target);
    let config = t.retprobe ? 1n << BigInt(pmu.retprobeBit) : 0n;
    if (t.refCtrOffset && pmu.refCtrShift !== undefined) config |= BigInt(t.refCtrOffset) << BigInt(pmu.refCtrShift);
    const fd = perfEventOpen(
      // config1 points at the symbol/path string; `name` stays referenced until the call returns.
      { type: pmu.type, config, config1: addressOf(name), config2: t.offset, samplePeriod: 1, wakeupEvents: 1, flags: { disabled: true } },
      pid,
      cpu,
      -1,
      0,
    );
    void name.byteLength; // keep-alive: the kernel reads the string during perf_event_open above
    return { fd, via: 'pmu' };
  }
  const event = createProbeEvent({ kind: t.kind, retprobe: t.retprobe, target: t.target, offset: t.offset, maxactive: t.maxactive, refCtrOffset: t.refCtrOffset, label: t.label });
  try {
    const fd = perfEventOpen({ type: PERF_TYPE.TRACEPOINT, config: event.id, samplePeriod: 1, wakeupEvents: 1, flags: { disabled: true } }, pid, cpu, -1, 0);
    return { fd, event, via: 'tracefs' };
  } catch (err) {
    event.remove();
    throw err;
  }
}

/** True when `kind` probes can be created at all (PMU or tracefs). */
export function probesAvailable(kind: ProbeEventKind): boolean {
  if (probePmu(kind)) return true;
  try {
    return hasProbeEventsFile(kind);
  } catch {
    return false;
  }
}
