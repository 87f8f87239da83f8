/**
 * Decoders of `bpf_prog_info`, `bpf_map_info`, `bpf_link_info` and `bpf_btf_info`
 * (`BPF_OBJ_GET_INFO_BY_FD`) into typed objects. Offsets follow the uapi header / kernel BTF.
 */
import { TsbpfError } from '../errors.js';
import { type FdLike, fromCString } from './attr.js';
import { objGetInfoByFd } from './bpf.js';
import { BPF_LINK_TYPE, attachTypeName, linkTypeName, mapTypeName, progTypeName } from './constants.js';
import { addressOf } from './ffi.js';

function ensureLen(got: number, need: number, what: string): void {
  if (got < need) throw new TsbpfError('BPF_INFO_SHORT', `kernel returned ${got} bytes of ${what}, expected at least ${need}`);
}

function name16(b: Uint8Array, off: number): string {
  return fromCString(b.subarray(off, off + 16));
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** What the kernel says about a loaded program. */
export interface ProgInfo {
  /** Program type number. */
  type: number;
  /** `BPF_PROG_TYPE_*` name, if known. */
  typeName: string | undefined;
  /** Kernel-wide program id. */
  id: number;
  /** Hash of the instructions (8 bytes, as hex), as in bpftool. */
  tag: string;
  /** Bytes of JITed code. */
  jitedProgLen: number;
  /** Bytes of translated (post-verifier) instructions. */
  xlatedProgLen: number;
  /** Load time, nanoseconds since boot. */
  loadTime: bigint;
  /** Uid of the loader. */
  createdByUid: number;
  /** Ids of the maps the program uses. */
  mapIds: number[];
  /** Program name (up to 15 characters). */
  name: string;
  /** Offload device. */
  ifindex: number;
  /** True when the license is GPL-compatible. */
  gplCompatible: boolean;
  /** BTF object id of the program's BTF (0: none). */
  btfId: number;
  /** Number of func_info records. */
  nrFuncInfo: number;
  /** Number of line_info records. */
  nrLineInfo: number;
  /** Cumulative run time (with stats enabled). */
  runTimeNs: bigint;
  /** Run count (with stats enabled). */
  runCnt: bigint;
  /** Runs skipped because of recursion. */
  recursionMisses: bigint;
  /** Instructions the verifier processed. */
  verifiedInsns: number;
  /** BTF object id of the attach target. */
  attachBtfObjId: number;
  /** BTF type id of the attach target. */
  attachBtfId: number;
}

const PROG_INFO_SIZE = 232;

/** Reads `bpf_prog_info` of a program, including its map ids. */
export function progInfo(fd: FdLike): ProgInfo {
  let info = new Uint8Array(PROG_INFO_SIZE);
  let len = objGetInfoByFd(fd, info);
  ensureLen(len, 80, 'bpf_prog_info');
  let dv = new DataView(info.buffer);
  const nrMapIds = dv.getUint32(52, true);
  let mapIds: number[] = [];
  if (nrMapIds > 0) {
    // Second call with only the map_ids array requested: other pointer fields must stay zero.
    const ids = new Uint32Array(nrMapIds);
    const idBytes = new Uint8Array(ids.buffer);
    info = new Uint8Array(PROG_INFO_SIZE);
    dv = new DataView(info.buffer);
    dv.setUint32(52, nrMapIds, true);
    dv.setBigUint64(56, addressOf(idBytes), true);
    len = objGetInfoByFd(fd, info);
    mapIds = Array.from(ids.subarray(0, Math.min(nrMapIds, dv.getUint32(52, true))));
  }
  const u32 = (o: number): number => (len >= o + 4 ? dv.getUint32(o, true) : 0);
  const u64 = (o: number): bigint => (len >= o + 8 ? dv.getBigUint64(o, true) : 0n);
  const type = u32(0);
  return {
    type,
    typeName: progTypeName(type),
    id: u32(4),
    tag: hex(info.subarray(8, 16)),
    jitedProgLen: u32(16),
    xlatedProgLen: u32(20),
    loadTime: u64(40),
    createdByUid: u32(48),
    mapIds,
    name: name16(info, 64),
    ifindex: u32(80),
    gplCompatible: (u32(84) & 1) === 1,
    btfId: u32(128),
    nrFuncInfo: u32(144),
    nrLineInfo: u32(148),
    runTimeNs: u64(192),
    runCnt: u64(200),
    recursionMisses: u64(208),
    verifiedInsns: u32(216),
    attachBtfObjId: u32(220),
    attachBtfId: u32(224),
  };
}

/**
 * A program's run counters from `bpf_prog_info`. `recursionMisses` counts runs the kernel skipped
 * because a run was already active on that CPU: a nested hit of the program's own hook, or, where
 * the program runs preemptibly, another task hitting the hook while a preempted run holds the
 * CPU. Kernels count it for trampoline programs since 5.12, raw tracepoints since 6.1, kprobe and
 * classic tracepoint programs since 6.7 (their guard is shared by all such programs); elsewhere it
 * is 0. `runCnt` and `runTimeNs` stay 0 unless run statistics are on (`kernel.bpf_stats_enabled`).
 */
export interface ProgRunStats {
  /** Runs counted (with stats enabled). */
  runCnt: bigint;
  /** Cumulative run time in nanoseconds (with stats enabled). */
  runTimeNs: bigint;
  /** Runs skipped because a run was already active on the CPU (see {@link ProgRunStats}). */
  recursionMisses: bigint;
}

/** Reads only the run counters of a program: one `BPF_OBJ_GET_INFO_BY_FD`, no map ids. */
export function progRunStats(fd: FdLike): ProgRunStats {
  const info = new Uint8Array(PROG_INFO_SIZE);
  const len = objGetInfoByFd(fd, info);
  ensureLen(len, 80, 'bpf_prog_info');
  const dv = new DataView(info.buffer);
  const u64 = (o: number): bigint => (len >= o + 8 ? dv.getBigUint64(o, true) : 0n);
  return { runTimeNs: u64(192), runCnt: u64(200), recursionMisses: u64(208) };
}

/** What the kernel says about a map. */
export interface MapInfo {
  /** Map type number. */
  type: number;
  /** `BPF_MAP_TYPE_*` name, if known. */
  typeName: string | undefined;
  /** Kernel-wide map id. */
  id: number;
  /** Key size in bytes. */
  keySize: number;
  /** Value size in bytes. */
  valueSize: number;
  /** Capacity. */
  maxEntries: number;
  /** `BPF_F_*` flags. */
  mapFlags: number;
  /** Map name (up to 15 characters). */
  name: string;
  /** Offload device. */
  ifindex: number;
  /** vmlinux BTF value type id (struct_ops). */
  btfVmlinuxValueTypeId: number;
  /** BTF object id (0: none). */
  btfId: number;
  /** BTF type id of the key. */
  btfKeyTypeId: number;
  /** BTF type id of the value. */
  btfValueTypeId: number;
  /** Map-type specific extra. */
  mapExtra: bigint;
}

/** Reads `bpf_map_info` of a map. */
export function mapInfo(fd: FdLike): MapInfo {
  const info = new Uint8Array(104);
  const len = objGetInfoByFd(fd, info);
  ensureLen(len, 24, 'bpf_map_info');
  const dv = new DataView(info.buffer);
  const u32 = (o: number): number => (len >= o + 4 ? dv.getUint32(o, true) : 0);
  const type = u32(0);
  return {
    type,
    typeName: mapTypeName(type),
    id: u32(4),
    keySize: u32(8),
    valueSize: u32(12),
    maxEntries: u32(16),
    mapFlags: u32(20),
    name: name16(info, 24),
    ifindex: u32(40),
    btfVmlinuxValueTypeId: u32(44),
    btfId: u32(64),
    btfKeyTypeId: u32(68),
    btfValueTypeId: u32(72),
    mapExtra: len >= 88 ? dv.getBigUint64(80, true) : 0n,
  };
}

/** What the kernel says about a BTF object. */
export interface BtfInfo {
  /** Kernel-wide BTF id. */
  id: number;
  /** Size of the raw BTF in bytes. */
  btfSize: number;
  /** Name (`vmlinux`, a module name, or empty for user BTF). */
  name: string;
  /** True for vmlinux and module BTF. */
  kernelBtf: boolean;
}

/** Reads `bpf_btf_info` of a BTF object (with its name, without the BTF bytes). */
export function btfInfo(fd: FdLike): BtfInfo {
  const nameBuf = new Uint8Array(256);
  const info = new Uint8Array(32);
  const dv = new DataView(info.buffer);
  dv.setBigUint64(16, addressOf(nameBuf), true);
  dv.setUint32(24, nameBuf.byteLength, true);
  const len = objGetInfoByFd(fd, info);
  ensureLen(len, 16, 'bpf_btf_info');
  return {
    id: dv.getUint32(12, true),
    btfSize: dv.getUint32(8, true),
    name: fromCString(nameBuf),
    kernelBtf: len >= 32 && dv.getUint32(28, true) !== 0,
  };
}

/** `bpf_perf_event_type` of perf-event links. */
export const BPF_PERF_EVENT = { UNSPEC: 0, UPROBE: 1, URETPROBE: 2, KPROBE: 3, KRETPROBE: 4, TRACEPOINT: 5, EVENT: 6 } as const;

/** What the kernel says about a link; the optional fields belong to the link type named by `type`. */
export interface LinkInfo {
  /** Link type number. */
  type: number;
  /** `BPF_LINK_TYPE_*` name, if known. */
  typeName: string | undefined;
  /** Kernel-wide link id. */
  id: number;
  /** Id of the attached program. */
  progId: number;
  /** Attach type (tracing, cgroup, netns, tcx, netkit, sockmap links). */
  attachType?: number;
  /** `BPF_*` attach type name. */
  attachTypeName?: string | undefined;
  /** Raw tracepoint name, perf-event tracepoint/kprobe function name, or uprobe file. */
  name?: string;
  /** bpf_cookie (raw tracepoint, tracing, perf-event links). */
  cookie?: bigint;
  /** Tracing: BTF object id and type id of the target. */
  targetObjId?: number;
  /** Tracing: BTF type id of the target. */
  targetBtfId?: number;
  /** Cgroup links: the cgroup id. */
  cgroupId?: bigint;
  /** netns links: inode of the namespace. */
  netnsIno?: number;
  /** XDP / tcx / netkit links: interface index. */
  ifindex?: number;
  /** struct_ops / sockmap links: the map id. */
  mapId?: number;
  /** Perf-event links: `BPF_PERF_EVENT` kind. */
  perfEventType?: number;
  /** kprobe / uprobe perf-event links: offset into the function or file. */
  offset?: number;
  /** kprobe perf-event links: the probed address. */
  addr?: bigint;
  /** Missed runs (kprobe, kprobe_multi). */
  missed?: bigint;
  /** kprobe_multi / uprobe_multi: number of probes. */
  count?: number;
  /** kprobe_multi / uprobe_multi / netfilter flags. */
  flags?: number;
  /** uprobe_multi: process filter. */
  pid?: number;
  /** netfilter: protocol family, hook number and priority. */
  netfilter?: { pf: number; hooknum: number; priority: number };
  /** perf-event generic events: perf type and config. */
  perfEvent?: { type: number; config: bigint };
}

/** Reads `bpf_link_info` of a link, with the names of tracepoint/kprobe/uprobe targets. */
export function linkInfo(fd: FdLike): LinkInfo {
  const nameBuf = new Uint8Array(4096);
  let info = new Uint8Array(64);
  let len = objGetInfoByFd(fd, info);
  ensureLen(len, 12, 'bpf_link_info');
  let dv = new DataView(info.buffer);
  const type = dv.getUint32(0, true);
  // Name-bearing link kinds: ask again with a buffer. Raw tracepoints have (ptr, len) at 16/24;
  // perf-event links have it at 24/32 for all three named kinds (uprobe, kprobe, tracepoint).
  const namePtrAt = type === BPF_LINK_TYPE.RAW_TRACEPOINT ? 16 : type === BPF_LINK_TYPE.PERF_EVENT ? 24 : -1;
  let name: string | undefined;
  if (namePtrAt >= 0) {
    info = new Uint8Array(64);
    dv = new DataView(info.buffer);
    dv.setBigUint64(namePtrAt, addressOf(nameBuf), true);
    dv.setUint32(namePtrAt + 8, nameBuf.byteLength, true);
    len = objGetInfoByFd(fd, info);
    name = fromCString(nameBuf);
  }
  const u32 = (o: number): number => (len >= o + 4 ? dv.getUint32(o, true) : 0);
  const s32 = (o: number): number => (len >= o + 4 ? dv.getInt32(o, true) : 0);
  const u64 = (o: number): bigint => (len >= o + 8 ? dv.getBigUint64(o, true) : 0n);
  const out: LinkInfo = { type, typeName: linkTypeName(type), id: u32(4), progId: u32(8) };
  const withAttach = (at: number): void => {
    out.attachType = at;
    out.attachTypeName = attachTypeName(at);
  };
  switch (type) {
    case BPF_LINK_TYPE.RAW_TRACEPOINT:
      out.name = name;
      out.cookie = u64(32);
      break;
    case BPF_LINK_TYPE.TRACING:
      withAttach(u32(16));
      out.targetObjId = u32(20);
      out.targetBtfId = u32(24);
      out.cookie = u64(32);
      break;
    case BPF_LINK_TYPE.CGROUP:
      out.cgroupId = u64(16);
      withAttach(u32(24));
      break;
    case BPF_LINK_TYPE.NETNS:
      out.netnsIno = u32(16);
      withAttach(u32(20));
      break;
    case BPF_LINK_TYPE.XDP:
      out.ifindex = u32(16);
      break;
    case BPF_LINK_TYPE.STRUCT_OPS:
      out.mapId = u32(16);
      break;
    case BPF_LINK_TYPE.NETFILTER:
      out.netfilter = { pf: u32(16), hooknum: u32(20), priority: s32(24) };
      out.flags = u32(28);
      break;
    case BPF_LINK_TYPE.KPROBE_MULTI:
      out.count = u32(24);
      out.flags = u32(28);
      out.missed = u64(32);
      break;
    case BPF_LINK_TYPE.UPROBE_MULTI:
      out.count = u32(52);
      out.flags = u32(56);
      out.pid = u32(60);
      break;
    case BPF_LINK_TYPE.PERF_EVENT: {
      const kind = u32(16);
      out.perfEventType = kind;
      if (kind === BPF_PERF_EVENT.UPROBE || kind === BPF_PERF_EVENT.URETPROBE) {
        out.name = name;
        out.offset = u32(36);
        out.cookie = u64(40);
      } else if (kind === BPF_PERF_EVENT.KPROBE || kind === BPF_PERF_EVENT.KRETPROBE) {
        out.name = name;
        out.offset = u32(36);
        out.addr = u64(40);
        out.missed = u64(48);
        out.cookie = u64(56);
      } else if (kind === BPF_PERF_EVENT.TRACEPOINT) {
        out.name = name;
        out.cookie = u64(40);
      } else if (kind === BPF_PERF_EVENT.EVENT) {
        out.perfEvent = { config: u64(24), type: u32(32) };
        out.cookie = u64(40);
      }
      break;
    }
    case BPF_LINK_TYPE.TCX:
    case BPF_LINK_TYPE.NETKIT:
      out.ifindex = u32(16);
      withAttach(u32(20));
      break;
    case BPF_LINK_TYPE.SOCKMAP:
      out.mapId = u32(16);
      withAttach(u32(20));
      break;
    default:
      break;
  }
  return out;
}
