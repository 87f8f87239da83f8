/**
 * The typed capability event, built from the generic runtime's decoded `struct cap_event`
 * (bpf/gadgets/trace_capabilities.bpf.c). Field names follow Inspektor Gadget's JSON output of
 * trace_capabilities: nested `proc`, `cap` / `syscall` / `timestamp` without their `_raw` suffix,
 * `cap_effective` as `CAP_A|CAP_B`.
 */
import { capabilityName, capabilitySetNames } from '@tsbpf/loader';

/** The task's identity at the check, as `struct gadget_process` carries it. */
export interface CapabilityEventProcess {
  /** Task name (attacker-controlled text: escape it before printing to a terminal). */
  comm: string;
  /** Thread group id (what user space calls the pid). */
  pid: number;
  /** Thread id. */
  tid: number;
  /** Real uid/gid of the task. */
  creds: { uid: number; gid: number };
  /** Real parent at the time of the check. */
  parent: { comm: string; pid: number };
  /** Mount namespace inode (the id containers are told apart by). */
  mntns_id: bigint;
}

/** One `cap_capable()` check. */
export interface CapabilityEvent {
  /** Wall-clock time of the check, ISO-8601 with nanoseconds (`2026-11-24T07:53:58.700939285Z`). */
  timestamp: string;
  /** Nanoseconds since boot (`bpf_ktime_get_boot_ns`) — monotonic, for ordering and durations. */
  timestampNs: bigint;
  proc: CapabilityEventProcess;
  /** User namespace inode of the task's real credentials. */
  current_userns: bigint;
  /** User namespace inode the capability was checked against. */
  target_userns: bigint;
  /** The task's effective set at the check, as IG prints it: `CAP_CHOWN|CAP_KILL|…` (empty string for none). */
  cap_effective: string;
  /** The capability checked, e.g. `CAP_SYS_NICE`. */
  cap: string;
  /** Whether the check succeeded (the task had the capability). */
  capable: boolean;
  /** Whether the kernel audits the check (false: CAP_OPT_NOAUDIT); null when the attach point cannot tell (tracepoint strategy). */
  audit: boolean | null;
  /** Whether the check was made with CAP_OPT_INSETID; null when unknown (tracepoint strategy). */
  insetid: boolean | null;
  /** The syscall in progress (`SYS_SETPRIORITY`), or `''` when the check happened outside a tracked syscall. */
  syscall: string;
  /** Kernel stack, innermost frame first (`cap_capable+0x83`), when collected. */
  kstack?: string[];
  /** User stack, innermost frame first, when collected. */
  ustack?: string[];
}

/** Names of an effective set as the runtime decoded it (`A|B`), or from a raw mask. */
function capSetNames(value: unknown): string[] {
  if (typeof value === 'string') return value === '' ? [] : value.split('|');
  if (typeof value === 'bigint' || typeof value === 'number') return capabilitySetNames(BigInt(value));
  return Array.isArray(value) ? value.map(String) : [];
}

function bigintOf(v: unknown): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return BigInt(v);
  return 0n;
}

function numberOf(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  return 0;
}

function stringOf(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === undefined || v === null) return '';
  return String(v);
}

function obj(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
}

/** `audit`/`insetid`: 1 → true, 0 → false, anything else (-1 from the tracepoint strategy) → null. */
function triState(v: unknown): boolean | null {
  const n = numberOf(v);
  return n === 1 ? true : n === 0 ? false : null;
}

function capName(v: unknown): string {
  if (typeof v === 'number') return capabilityName(v);
  return stringOf(v);
}

/** A stack as the runtime gives it, or undefined when it was not collected (raw id -1). */
function stackOf(formatted: unknown, rawId: unknown): string[] | undefined {
  if (rawId !== undefined && numberOf(rawId) === -1) return undefined;
  if (Array.isArray(formatted)) return formatted.map(String);
  return undefined;
}

/**
 * Build the typed event from the runtime's decoded record. Accepts the display object of
 * `EventDecoder.decode` (with or without `keepRaw`) and tolerates raw member names, so it does not
 * depend on which formatting the runtime applied.
 */
export function toCapabilityEvent(decoded: Record<string, unknown>): CapabilityEvent {
  const proc = obj(decoded.proc);
  const creds = obj(proc.creds);
  const parent = obj(proc.parent);
  const rawTs = decoded.timestamp_raw;
  const event: CapabilityEvent = {
    timestamp: stringOf(decoded.timestamp),
    timestampNs: bigintOf(rawTs),
    proc: {
      comm: stringOf(proc.comm),
      pid: numberOf(proc.pid),
      tid: numberOf(proc.tid),
      creds: { uid: numberOf(creds.uid), gid: numberOf(creds.gid) },
      parent: { comm: stringOf(parent.comm), pid: numberOf(parent.pid) },
      mntns_id: bigintOf(proc.mntns_id),
    },
    current_userns: bigintOf(decoded.current_userns),
    target_userns: bigintOf(decoded.target_userns),
    // The runtime already joins the set (`A|B`): only other forms need rebuilding.
    cap_effective: typeof decoded.cap_effective === 'string' ? decoded.cap_effective : capSetNames(decoded.cap_effective).join('|'),
    cap: capName(decoded.cap ?? decoded.cap_raw),
    capable: decoded.capable === true || numberOf(decoded.capable) === 1,
    audit: triState(decoded.audit),
    insetid: triState(decoded.insetid),
    syscall: typeof decoded.syscall === 'string' ? decoded.syscall : '',
  };
  const kstack = stackOf(decoded.kstack, decoded.kstack_raw);
  if (kstack) event.kstack = kstack;
  const ustack = stackOf(decoded.ustack, decoded.ustack_raw);
  if (ustack) event.ustack = ustack;
  return event;
}

/** The capabilities of an event's `cap_effective` as a list. */
export function effectiveCapabilities(event: Pick<CapabilityEvent, 'cap_effective'>): string[] {
  return event.cap_effective === '' ? [] : event.cap_effective.split('|');
}
