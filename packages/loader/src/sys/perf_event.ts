/**
 * perf_event_open(2): a typed `struct perf_event_attr`, its encoder, and the ioctls tsbpf uses
 * (enable, disable, attach a BPF program).
 */
import { TsbpfError } from '../errors.js';
import { type FdLike, rawFd } from './attr.js';
import { PERF_EVENT_IOC, PERF_FLAG } from './constants.js';
import { SyscallError } from './errors.js';
import { ioctlRaw, perfEventOpenRaw } from './ffi.js';
import { Fd } from './fd.js';

/** Single-bit flags of `perf_event_attr` (the bitfield word at offset 40), by their uapi names. */
export const PERF_ATTR_FLAG_BITS = {
  disabled: 0,
  inherit: 1,
  pinned: 2,
  exclusive: 3,
  exclude_user: 4,
  exclude_kernel: 5,
  exclude_hv: 6,
  exclude_idle: 7,
  mmap: 8,
  comm: 9,
  freq: 10,
  inherit_stat: 11,
  enable_on_exec: 12,
  task: 13,
  watermark: 14,
  mmap_data: 17,
  sample_id_all: 18,
  exclude_host: 19,
  exclude_guest: 20,
  exclude_callchain_kernel: 21,
  exclude_callchain_user: 22,
  mmap2: 23,
  comm_exec: 24,
  use_clockid: 25,
  context_switch: 26,
  write_backward: 27,
  namespaces: 28,
  ksymbol: 29,
  bpf_event: 30,
  aux_output: 31,
  cgroup: 32,
  text_poke: 33,
  build_id: 34,
  inherit_thread: 35,
  remove_on_exec: 36,
  sigtrap: 37,
} as const;

/** Names of the single-bit flags. */
export type PerfAttrFlag = keyof typeof PERF_ATTR_FLAG_BITS;

/** A `struct perf_event_attr`. Unset fields are zero. */
export interface PerfEventAttr {
  /** `PERF_TYPE_*` or a dynamic PMU type (kprobe/uprobe PMUs read from sysfs). */
  type: number;
  /** Event id within the type (`PERF_COUNT_SW_*`, tracepoint id, …). */
  config?: bigint | number;
  /** Sample every N events (or, with the `freq` flag, N samples per second). */
  samplePeriod?: bigint | number;
  /** Alias of `samplePeriod` for the `freq` flag. */
  sampleFreq?: bigint | number;
  /** `PERF_SAMPLE_*` bits. */
  sampleType?: bigint | number;
  /** `PERF_FORMAT_*` bits. */
  readFormat?: bigint | number;
  /** Single-bit flags set to 1. */
  flags?: Partial<Record<PerfAttrFlag, boolean>>;
  /** Skid constraint 0-3. */
  preciseIp?: number;
  /** Wake up every N events (or, with `watermark`, after N bytes: see `wakeupWatermark`). */
  wakeupEvents?: number;
  /** Bytes before wakeup (with the `watermark` flag). */
  wakeupWatermark?: number;
  /** Breakpoint type. */
  bpType?: number;
  /** `config1` (kprobe_func / uprobe_path address, bp_addr). */
  config1?: bigint | number;
  /** `config2` (kprobe_addr, probe_offset, bp_len). */
  config2?: bigint | number;
  /** `config3`. */
  config3?: bigint | number;
  /** `PERF_SAMPLE_BRANCH_*` bits. */
  branchSampleType?: bigint | number;
  /** Registers sampled in user space. */
  sampleRegsUser?: bigint | number;
  /** Bytes of user stack sampled. */
  sampleStackUser?: number;
  /** Clock of time fields (with `use_clockid`). */
  clockid?: number;
  /** Registers sampled at interrupt. */
  sampleRegsIntr?: bigint | number;
  /** AUX area wakeup watermark. */
  auxWatermark?: number;
  /** Callchain depth limit. */
  sampleMaxStack?: number;
  /** AUX sample size. */
  auxSampleSize?: number;
  /** `sig_data` for sigtrap. */
  sigData?: bigint | number;
  /** Overrides the `size` field (default: the smallest PERF_ATTR_SIZE_VER* covering the fields set). */
  size?: number;
}

/** Offsets in `struct perf_event_mmap_page` (the first page of a perf ring) that readers use. */
export const PERF_MMAP_PAGE = {
  /** u64 producer position (read with acquire semantics). */
  DATA_HEAD: 1024,
  /** u64 consumer position (written by the reader). */
  DATA_TAIL: 1032,
  /** u64 offset of the data area from the start of the mapping. */
  DATA_OFFSET: 1040,
  /** u64 size of the data area. */
  DATA_SIZE: 1048,
} as const;

/** Size of the encoded attr buffer (PERF_ATTR_SIZE_VER8). */
export const PERF_EVENT_ATTR_BUFFER = 136;

/** Encodes `attr` into a `struct perf_event_attr` (its `size` is set too). */
export function encodePerfEventAttr(attr: PerfEventAttr): Uint8Array {
  const b = new Uint8Array(PERF_EVENT_ATTR_BUFFER);
  const dv = new DataView(b.buffer);
  let end = 64; // PERF_ATTR_SIZE_VER0
  const u64 = (off: number, v: bigint | number | undefined): void => {
    if (v === undefined) return;
    const x = BigInt.asUintN(64, BigInt(v));
    if (x === 0n) return;
    dv.setBigUint64(off, x, true);
    end = Math.max(end, off + 8);
  };
  const u32 = (off: number, v: number | undefined, width = 4): void => {
    if (!v) return;
    if (width === 2) dv.setUint16(off, v, true);
    else dv.setUint32(off, v >>> 0, true);
    end = Math.max(end, off + width);
  };
  dv.setUint32(0, attr.type, true);
  u64(8, attr.config);
  if (attr.samplePeriod !== undefined && attr.sampleFreq !== undefined) {
    throw new TsbpfError('PERF_ATTR', 'sample_period and sample_freq share one field: set only one');
  }
  u64(16, attr.samplePeriod ?? attr.sampleFreq);
  u64(24, attr.sampleType);
  u64(32, attr.readFormat);
  let bits = 0n;
  for (const [k, on] of Object.entries(attr.flags ?? {})) {
    if (!on) continue;
    const bit = (PERF_ATTR_FLAG_BITS as Record<string, number>)[k];
    if (bit === undefined) throw new TsbpfError('PERF_ATTR', `unknown perf_event_attr flag "${k}"`);
    bits |= 1n << BigInt(bit);
  }
  if (attr.preciseIp) bits |= BigInt(attr.preciseIp & 3) << 15n;
  u64(40, bits);
  if (attr.wakeupEvents !== undefined && attr.wakeupWatermark !== undefined) {
    throw new TsbpfError('PERF_ATTR', 'wakeup_events and wakeup_watermark share one field: set only one');
  }
  u32(48, attr.wakeupEvents ?? attr.wakeupWatermark);
  u32(52, attr.bpType);
  u64(56, attr.config1);
  u64(64, attr.config2);
  u64(72, attr.branchSampleType);
  u64(80, attr.sampleRegsUser);
  u32(88, attr.sampleStackUser);
  if (attr.clockid !== undefined) {
    dv.setInt32(92, attr.clockid, true);
    end = Math.max(end, 96);
  }
  u64(96, attr.sampleRegsIntr);
  u32(104, attr.auxWatermark);
  u32(108, attr.sampleMaxStack, 2);
  u32(112, attr.auxSampleSize);
  u64(120, attr.sigData);
  u64(128, attr.config3);
  // Round up to a published size: VER1 72, VER2 80, VER3 96, VER4 104, VER5 112, VER6 120, VER7 128, VER8 136.
  const versions = [64, 72, 80, 96, 104, 112, 120, 128, 136];
  const size = attr.size ?? versions.find((v) => v >= end) ?? PERF_EVENT_ATTR_BUFFER;
  dv.setUint32(4, size, true);
  return b;
}

/**
 * Opens a perf event (`perf_event_open(2)`, always with PERF_FLAG_FD_CLOEXEC). `pid` -1 with a `cpu`
 * watches every task on that CPU; `groupFd` -1 makes a new group.
 */
export function perfEventOpen(attr: PerfEventAttr, pid: number, cpu: number, groupFd: FdLike = -1, flags = 0): Fd {
  const bytes = encodePerfEventAttr(attr);
  const r = perfEventOpenRaw(bytes, pid, cpu, typeof groupFd === 'number' ? groupFd : rawFd(groupFd), flags | PERF_FLAG.FD_CLOEXEC);
  const label = `perf_event type ${attr.type} config ${attr.config ?? 0} cpu ${cpu} pid ${pid}`;
  if (r < 0) throw new SyscallError('perf_event_open', -r, { context: label });
  return new Fd(r, label);
}

function ioctl(fd: FdLike, request: number, name: string, arg = 0): void {
  const r = ioctlRaw(rawFd(fd), request, arg);
  if (r < 0) throw new SyscallError(`ioctl(PERF_EVENT_IOC_${name})`, -r, { context: typeof fd === 'number' ? undefined : fd.label });
}

/** Starts counting/sampling (`PERF_EVENT_IOC_ENABLE`). */
export function perfEventEnable(fd: FdLike): void {
  ioctl(fd, PERF_EVENT_IOC.ENABLE, 'ENABLE');
}

/** Stops counting/sampling (`PERF_EVENT_IOC_DISABLE`). */
export function perfEventDisable(fd: FdLike): void {
  ioctl(fd, PERF_EVENT_IOC.DISABLE, 'DISABLE');
}

/** Resets the counter (`PERF_EVENT_IOC_RESET`). */
export function perfEventReset(fd: FdLike): void {
  ioctl(fd, PERF_EVENT_IOC.RESET, 'RESET');
}

/** Attaches a BPF program to a tracepoint/kprobe/uprobe/perf event (`PERF_EVENT_IOC_SET_BPF`). */
export function perfEventSetBpf(fd: FdLike, progFd: FdLike): void {
  ioctl(fd, PERF_EVENT_IOC.SET_BPF, 'SET_BPF', rawFd(progFd));
}

/** Redirects this event's records into `targetFd`'s ring (`PERF_EVENT_IOC_SET_OUTPUT`). */
export function perfEventSetOutput(fd: FdLike, targetFd: FdLike): void {
  ioctl(fd, PERF_EVENT_IOC.SET_OUTPUT, 'SET_OUTPUT', rawFd(targetFd));
}

/** Pauses (true) or resumes (false) writing to the ring (`PERF_EVENT_IOC_PAUSE_OUTPUT`). */
export function perfEventPauseOutput(fd: FdLike, pause: boolean): void {
  ioctl(fd, PERF_EVENT_IOC.PAUSE_OUTPUT, 'PAUSE_OUTPUT', pause ? 1 : 0);
}
