/**
 * Encoders from typed objects into `union bpf_attr` bytes, one per bpf(2) command. Offsets follow
 * /usr/include/linux/bpf.h and the running kernel's BTF (checked against `union bpf_attr` of 6.18).
 * The attr size passed to the kernel is the end of the last field written with a non-zero value (at
 * least the command's base fields), so a field the caller leaves unset never trips E2BIG on an older
 * kernel.
 */
import { TsbpfError } from '../errors.js';
import { addressOf } from './ffi.js';
import { Fd } from './fd.js';

/** A file descriptor argument: an owned {@link Fd} or a raw number the caller keeps alive. */
export type FdLike = Fd | number;

/** The raw number of an {@link FdLike}. */
export function rawFd(fd: FdLike): number {
  return typeof fd === 'number' ? fd : fd.raw;
}

const textEncoder = new TextEncoder();

/** `s` as UTF-8 bytes followed by a NUL, for `char *` fields. */
export function cString(s: string): Uint8Array {
  const b = textEncoder.encode(s);
  const out = new Uint8Array(b.length + 1);
  out.set(b);
  return out;
}

/** Text of a NUL-terminated (or full) byte buffer. */
export function fromCString(b: Uint8Array): string {
  const end = b.indexOf(0);
  return new TextDecoder().decode(end < 0 ? b : b.subarray(0, end));
}

/** Largest `union bpf_attr` this library writes (6.18: 168 bytes); a little headroom is kept. */
export const BPF_ATTR_CAPACITY = 192;

/** Builds one `bpf_attr` in a zeroed buffer, tracking the end of the last non-zero field written. */
export class AttrWriter {
  /** The attr bytes (zero-filled). */
  readonly bytes: Uint8Array;
  /** A DataView over {@link AttrWriter.bytes}. */
  readonly view: DataView;
  /** The size to pass to bpf(2). */
  size: number;
  /**
   * Buffers whose addresses were written into the attr; kept referenced so they outlive the call that
   * consumes the attr.
   */
  readonly keepAlive: Uint8Array[] = [];

  constructor(baseSize: number, capacity = BPF_ATTR_CAPACITY) {
    this.bytes = new Uint8Array(capacity);
    this.view = new DataView(this.bytes.buffer);
    this.size = baseSize;
  }

  #extend(end: number): void {
    if (end > this.size) this.size = end;
  }

  /** Writes a u32 (unsigned; negative numbers are rejected). */
  u32(off: number, v: number | undefined): this {
    if (v === undefined || v === 0) return this;
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new TsbpfError('BPF_ATTR_RANGE', `bpf_attr field at offset ${off}: ${v} is not a u32`);
    this.view.setUint32(off, v, true);
    this.#extend(off + 4);
    return this;
  }

  /** Writes an s32. */
  s32(off: number, v: number | undefined): this {
    if (v === undefined || v === 0) return this;
    if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) throw new TsbpfError('BPF_ATTR_RANGE', `bpf_attr field at offset ${off}: ${v} is not an s32`);
    this.view.setInt32(off, v, true);
    this.#extend(off + 4);
    return this;
  }

  /** Writes a file descriptor field (u32 on the wire). */
  fd(off: number, fd: FdLike | undefined): this {
    return fd === undefined ? this : this.u32(off, rawFd(fd));
  }

  /** Writes a u64. */
  u64(off: number, v: bigint | number | undefined): this {
    if (v === undefined) return this;
    const b = BigInt.asUintN(64, BigInt(v));
    if (b === 0n) return this;
    this.view.setBigUint64(off, b, true);
    this.#extend(off + 8);
    return this;
  }

  /** Writes the address of `buf` (nothing for null/undefined) and keeps `buf` alive with the writer. */
  ptr(off: number, buf: Uint8Array | null | undefined): this {
    if (!buf) return this;
    this.keepAlive.push(buf);
    return this.u64(off, addressOf(buf));
  }

  /**
   * Writes an object name (`map_name`, `prog_name`): at most 15 bytes of `[A-Za-z0-9_.]`, NUL-padded
   * to 16.
   * @throws TsbpfError `BPF_OBJ_NAME` for characters the kernel rejects.
   */
  objName(off: number, name: string | undefined): this {
    if (!name) return this;
    if (!/^[A-Za-z0-9_.]*$/.test(name)) {
      throw new TsbpfError('BPF_OBJ_NAME', `object name "${name}" has characters the kernel rejects (only A-Z a-z 0-9 _ . are allowed)`);
    }
    const b = textEncoder.encode(name.slice(0, 15));
    this.bytes.set(b, off);
    this.#extend(off + 16);
    return this;
  }
}

// ------------------------------------------------------------------------------------------ MAP_CREATE

/** Attributes of `BPF_MAP_CREATE`. */
export interface MapCreateAttr {
  /** A {@link BPF_MAP_TYPE} value. */
  mapType: number;
  /** Key size in bytes (0 for queue/stack/ringbuf). */
  keySize: number;
  /** Value size in bytes. */
  valueSize: number;
  /** Capacity (for ring buffers, the size in bytes: a power-of-2 multiple of the page size). */
  maxEntries: number;
  /** `BPF_F_*` map flags. */
  mapFlags?: number;
  /** Template inner map of a map-of-maps. */
  innerMapFd?: FdLike;
  /** NUMA node (with BPF_F_NUMA_NODE). */
  numaNode?: number;
  /** Up to 15 characters of `[A-Za-z0-9_.]`. */
  mapName?: string;
  /** Device for offloaded maps. */
  mapIfindex?: number;
  /** BTF object describing key and value. */
  btfFd?: FdLike;
  /** BTF type id of the key. */
  btfKeyTypeId?: number;
  /** BTF type id of the value. */
  btfValueTypeId?: number;
  /** vmlinux BTF type id of a struct_ops value. */
  btfVmlinuxValueTypeId?: number;
  /** Map-type specific extra (bloom filter hash count, arena address). */
  mapExtra?: bigint;
  /** BTF object (module) of `btfVmlinuxValueTypeId`, with BPF_F_VTYPE_BTF_OBJ_FD. */
  valueTypeBtfObjFd?: FdLike;
  /** BPF token, with BPF_F_TOKEN_FD. */
  mapTokenFd?: FdLike;
}

/** Encodes `BPF_MAP_CREATE`. */
export function encodeMapCreate(a: MapCreateAttr): AttrWriter {
  const w = new AttrWriter(16);
  w.u32(0, a.mapType).u32(4, a.keySize).u32(8, a.valueSize).u32(12, a.maxEntries).u32(16, a.mapFlags);
  w.fd(20, a.innerMapFd).u32(24, a.numaNode).objName(28, a.mapName).u32(44, a.mapIfindex);
  w.fd(48, a.btfFd).u32(52, a.btfKeyTypeId).u32(56, a.btfValueTypeId).u32(60, a.btfVmlinuxValueTypeId);
  w.u64(64, a.mapExtra).fd(72, a.valueTypeBtfObjFd).fd(76, a.mapTokenFd);
  return w;
}

// -------------------------------------------------------------------------------------------- batches

/** Arguments of the `BPF_MAP_*_BATCH` commands. */
export interface MapBatchAttr {
  /** Opaque position to continue from (null: from the start). At least key-size bytes. */
  inBatch?: Uint8Array | null;
  /** Receives the position to continue from. At least key-size bytes. */
  outBatch?: Uint8Array | null;
  /** `count` keys, packed. */
  keys?: Uint8Array | null;
  /** `count` values, packed (per-CPU maps: value size rounded to 8 × possible CPUs each). */
  values?: Uint8Array | null;
  /** Number of elements: the capacity of `keys`/`values` in, the number processed out. */
  count: number;
  /** BPF_ANY/NOEXIST/EXIST/F_LOCK for each element. */
  elemFlags?: number;
  /** Command flags (none defined yet). */
  flags?: number;
}

/** Encodes a batch command (`in_batch` … `flags`, 56 bytes). */
export function encodeMapBatch(mapFd: FdLike, a: MapBatchAttr): AttrWriter {
  const w = new AttrWriter(40);
  w.ptr(0, a.inBatch).ptr(8, a.outBatch).ptr(16, a.keys).ptr(24, a.values).u32(32, a.count).fd(36, mapFd);
  w.u64(40, a.elemFlags).u64(48, a.flags);
  return w;
}

// ------------------------------------------------------------------------------------------ PROG_LOAD

/** Attributes of `BPF_PROG_LOAD`. */
export interface ProgLoadAttr {
  /** A {@link BPF_PROG_TYPE} value. */
  progType: number;
  /** Encoded instructions (8 bytes each). */
  insns: Uint8Array;
  /** License string, e.g. `GPL` (gates GPL-only helpers). */
  license: string;
  /** Verifier log level (1, 2, |4 for stats); defaults to 1 when `logBuf` is given. */
  logLevel?: number;
  /** Receives the verifier log (at least 128 bytes when given). */
  logBuf?: Uint8Array;
  /** Kernel version (only old kprobe programs need it). */
  kernVersion?: number;
  /** `BPF_F_*` program flags (sleepable, xdp frags, …). */
  progFlags?: number;
  /** Up to 15 characters of `[A-Za-z0-9_.]`. */
  progName?: string;
  /** Device for offload/dev-bound XDP. */
  progIfindex?: number;
  /** A {@link BPF_ATTACH_TYPE} the program will be attached with. */
  expectedAttachType?: number;
  /** BTF object with the program's func/line info. */
  progBtfFd?: FdLike;
  /** `bpf_func_info` records. */
  funcInfo?: Uint8Array;
  /** Size of one func_info record (8). */
  funcInfoRecSize?: number;
  /** Number of func_info records (defaults to byteLength / rec size). */
  funcInfoCount?: number;
  /** `bpf_line_info` records. */
  lineInfo?: Uint8Array;
  /** Size of one line_info record (16). */
  lineInfoRecSize?: number;
  /** Number of line_info records (defaults to byteLength / rec size). */
  lineInfoCount?: number;
  /** BTF id of the attach target (tracing, lsm, struct_ops, ext). */
  attachBtfId?: number;
  /** BTF object of the attach target when it lives in a module. */
  attachBtfObjFd?: FdLike;
  /** Target program of freplace/fentry on BPF programs (same field as `attachBtfObjFd`). */
  attachProgFd?: FdLike;
  /** Array of s32 map/BTF fds referenced by index from the instructions. */
  fdArray?: Uint8Array;
  /** Number of fds in `fdArray` (6.15+ binds all of them to the program; leave unset otherwise). */
  fdArrayCnt?: number;
  /** BPF token, with BPF_F_TOKEN_FD. */
  progTokenFd?: FdLike;
}

/** Offset of `log_true_size`, which the kernel (6.4+) fills with the log size it needed. */
export const PROG_LOAD_LOG_TRUE_SIZE_OFFSET = 140;

/** Encodes `BPF_PROG_LOAD`. The license is written into a buffer the writer keeps alive. */
export function encodeProgLoad(a: ProgLoadAttr): AttrWriter {
  if (a.insns.byteLength === 0 || a.insns.byteLength % 8 !== 0) {
    throw new TsbpfError('BPF_ATTR_INSNS', `program instructions are ${a.insns.byteLength} bytes, not a non-empty multiple of 8`);
  }
  const w = new AttrWriter(24);
  w.u32(0, a.progType).u32(4, a.insns.byteLength / 8).ptr(8, a.insns).ptr(16, cString(a.license));
  if (a.logBuf && a.logBuf.byteLength > 0) {
    w.u32(24, a.logLevel ?? 1).u32(28, a.logBuf.byteLength).ptr(32, a.logBuf);
    // Cover log_true_size so kernels that know it report the size the log needed.
    w.size = Math.max(w.size, PROG_LOAD_LOG_TRUE_SIZE_OFFSET + 4);
  } else {
    w.u32(24, a.logLevel);
  }
  w.u32(40, a.kernVersion).u32(44, a.progFlags).objName(48, a.progName).u32(64, a.progIfindex).u32(68, a.expectedAttachType);
  w.fd(72, a.progBtfFd);
  if (a.funcInfo && a.funcInfo.byteLength > 0) {
    const rec = a.funcInfoRecSize ?? 8;
    w.u32(76, rec).ptr(80, a.funcInfo).u32(88, a.funcInfoCount ?? Math.floor(a.funcInfo.byteLength / rec));
  }
  if (a.lineInfo && a.lineInfo.byteLength > 0) {
    const rec = a.lineInfoRecSize ?? 16;
    w.u32(92, rec).ptr(96, a.lineInfo).u32(104, a.lineInfoCount ?? Math.floor(a.lineInfo.byteLength / rec));
  }
  w.u32(108, a.attachBtfId);
  if (a.attachProgFd !== undefined) w.fd(112, a.attachProgFd);
  else w.fd(112, a.attachBtfObjFd);
  w.ptr(120, a.fdArray).fd(144, a.progTokenFd).u32(148, a.fdArrayCnt);
  return w;
}

// ------------------------------------------------------------------------------------------- BTF_LOAD

/** Attributes of `BPF_BTF_LOAD`. */
export interface BtfLoadAttr {
  /** The raw BTF blob (header, types, strings). */
  btf: Uint8Array;
  /** Receives the BTF verifier log. */
  logBuf?: Uint8Array;
  /** Log level (defaults to 1 with `logBuf`). */
  logLevel?: number;
  /** BPF token, with BPF_F_TOKEN_FD in btf_flags. */
  btfTokenFd?: FdLike;
  /** `btf_flags`. */
  btfFlags?: number;
}

/** Offset of `btf_log_true_size`. */
export const BTF_LOAD_LOG_TRUE_SIZE_OFFSET = 28;

/** Encodes `BPF_BTF_LOAD`. */
export function encodeBtfLoad(a: BtfLoadAttr): AttrWriter {
  const w = new AttrWriter(20);
  w.ptr(0, a.btf).u32(16, a.btf.byteLength);
  if (a.logBuf && a.logBuf.byteLength > 0) {
    w.ptr(8, a.logBuf).u32(20, a.logBuf.byteLength).u32(24, a.logLevel ?? 1);
    w.size = Math.max(w.size, BTF_LOAD_LOG_TRUE_SIZE_OFFSET + 4);
  }
  w.u32(32, a.btfFlags).fd(36, a.btfTokenFd);
  return w;
}

// ----------------------------------------------------------------------------------- OBJ_PIN / OBJ_GET

/** Encodes `BPF_OBJ_PIN` / `BPF_OBJ_GET` (`pathname`, `bpf_fd`, `file_flags`, `path_fd`). */
export function encodeObj(path: string, bpfFd: FdLike | undefined, fileFlags?: number, pathFd?: FdLike): AttrWriter {
  const w = new AttrWriter(16);
  w.ptr(0, cString(path)).fd(8, bpfFd).u32(12, fileFlags).fd(16, pathFd);
  return w;
}

// ------------------------------------------------------------------------------- PROG_ATTACH / DETACH

/** Attributes of the legacy `BPF_PROG_ATTACH` / `BPF_PROG_DETACH` (cgroups, sockmap, flow dissector, tcx). */
export interface ProgAttachAttr {
  /** Target: cgroup fd, sockmap fd, or netns fd. */
  targetFd?: FdLike;
  /** Target interface (tcx) instead of `targetFd`. */
  targetIfindex?: number;
  /** Program to attach (or detach; optional for single-program detach). */
  attachBpfFd?: FdLike;
  /** A {@link BPF_ATTACH_TYPE} value. */
  attachType: number;
  /** BPF_F_ALLOW_OVERRIDE / ALLOW_MULTI / REPLACE / BEFORE / AFTER / ID / LINK. */
  attachFlags?: number;
  /** Program replaced under BPF_F_REPLACE. */
  replaceBpfFd?: FdLike;
  /** Anchor of BPF_F_BEFORE/AFTER: an fd, or an id with BPF_F_ID. */
  relativeFd?: FdLike;
  /** Anchor id (with BPF_F_ID). */
  relativeId?: number;
  /** Fails with ESTALE unless the attachment revision matches. */
  expectedRevision?: bigint;
}

/** Encodes `BPF_PROG_ATTACH` / `BPF_PROG_DETACH`. */
export function encodeProgAttach(a: ProgAttachAttr): AttrWriter {
  const w = new AttrWriter(12);
  if (a.targetIfindex !== undefined) w.u32(0, a.targetIfindex);
  else w.fd(0, a.targetFd);
  w.fd(4, a.attachBpfFd).u32(8, a.attachType).u32(12, a.attachFlags).fd(16, a.replaceBpfFd);
  if (a.relativeId !== undefined) w.u32(20, a.relativeId);
  else w.fd(20, a.relativeFd);
  w.u64(24, a.expectedRevision);
  return w;
}

// --------------------------------------------------------------------------------------- PROG_TEST_RUN

/** Attributes of `BPF_PROG_TEST_RUN`. */
export interface ProgTestRunAttr {
  /** Program to run. */
  progFd: FdLike;
  /** Packet or input data. */
  dataIn?: Uint8Array;
  /** Receives output data (its length is the limit). */
  dataOut?: Uint8Array;
  /** Input context (`__sk_buff`, `xdp_md`, syscall program arguments, …). */
  ctxIn?: Uint8Array;
  /** Receives the output context. */
  ctxOut?: Uint8Array;
  /** Number of runs (duration is averaged). */
  repeat?: number;
  /** BPF_F_TEST_* flags. */
  flags?: number;
  /** CPU to run on (with BPF_F_TEST_RUN_ON_CPU). */
  cpu?: number;
  /** XDP live-frames batch size. */
  batchSize?: number;
}

/** Encodes `BPF_PROG_TEST_RUN` (the `test` member, 80 bytes). */
export function encodeProgTestRun(a: ProgTestRunAttr): AttrWriter {
  const w = new AttrWriter(16);
  w.fd(0, a.progFd);
  if (a.dataIn) w.u32(8, a.dataIn.byteLength).ptr(16, a.dataIn);
  if (a.dataOut) w.u32(12, a.dataOut.byteLength).ptr(24, a.dataOut);
  w.u32(32, a.repeat);
  if (a.ctxIn) w.u32(40, a.ctxIn.byteLength).ptr(48, a.ctxIn);
  if (a.ctxOut) w.u32(44, a.ctxOut.byteLength).ptr(56, a.ctxOut);
  w.u32(64, a.flags).u32(68, a.cpu).u32(72, a.batchSize);
  // The kernel writes retval, data_size_out, duration and ctx_size_out back: cover them.
  w.size = Math.max(w.size, 48);
  return w;
}

// ----------------------------------------------------------------------------------------- LINK_CREATE

/** Anchor of tcx/netkit/cgroup multi-attach links (`BPF_F_BEFORE`/`BPF_F_AFTER`). */
export interface RelativeAttach {
  /** Anchor program or link fd. */
  fd?: FdLike;
  /** Anchor id (with BPF_F_ID). */
  id?: number;
  /** Fails with ESTALE unless the attachment revision matches. */
  expectedRevision?: bigint;
}

/** `kprobe_multi` part of `BPF_LINK_CREATE`. */
export interface KprobeMultiAttr {
  /** Kernel symbol names (either these or `addrs`). */
  syms?: string[];
  /** Kernel addresses. */
  addrs?: bigint[];
  /** One bpf_cookie per symbol/address. */
  cookies?: bigint[];
  /** BPF_F_KPROBE_MULTI_RETURN. */
  flags?: number;
}

/** `uprobe_multi` part of `BPF_LINK_CREATE`. */
export interface UprobeMultiAttr {
  /** Path of the binary. */
  path: string;
  /** File offsets of the probes. */
  offsets: bigint[];
  /** Reference counter (semaphore) offsets, one per probe. */
  refCtrOffsets?: bigint[];
  /** One bpf_cookie per probe. */
  cookies?: bigint[];
  /** BPF_F_UPROBE_MULTI_RETURN. */
  flags?: number;
  /** Only this process (0: all). */
  pid?: number;
}

/** Attributes of `BPF_LINK_CREATE`. */
export interface LinkCreateAttr {
  /** Program to attach (or struct_ops map fd). */
  progFd: FdLike;
  /** Target fd (cgroup, perf event, netns, program, …). */
  targetFd?: FdLike;
  /** Target interface (XDP, tcx, netkit). */
  targetIfindex?: number;
  /** A {@link BPF_ATTACH_TYPE} value. */
  attachType: number;
  /** Link flags. */
  flags?: number;
  /** BTF id of the target (freplace, tracing on programs). */
  targetBtfId?: number;
  /** `bpf_iter_link_info` for iterators. */
  iterInfo?: Uint8Array;
  /** bpf_cookie of a perf-event link (kprobe, uprobe, tracepoint). */
  perfEventCookie?: bigint;
  /** kprobe.multi targets. */
  kprobeMulti?: KprobeMultiAttr;
  /** uprobe.multi targets. */
  uprobeMulti?: UprobeMultiAttr;
  /** bpf_cookie of a tracing link (fentry/fexit/lsm); `targetBtfId` shares its slot. */
  tracingCookie?: bigint;
  /** netfilter hook. */
  netfilter?: { pf: number; hooknum: number; priority: number; flags?: number };
  /** Anchor for tcx / netkit / cgroup multi-attach links (the three share one layout). */
  tcxRelative?: RelativeAttach;
}

function u64Array(values: readonly bigint[]): Uint8Array {
  const b = new Uint8Array(values.length * 8);
  const dv = new DataView(b.buffer);
  values.forEach((v, i) => dv.setBigUint64(i * 8, BigInt.asUintN(64, v), true));
  return b;
}

/** Encodes `BPF_LINK_CREATE`. */
export function encodeLinkCreate(a: LinkCreateAttr): AttrWriter {
  const w = new AttrWriter(16);
  w.fd(0, a.progFd);
  if (a.targetIfindex !== undefined) w.u32(4, a.targetIfindex);
  else w.fd(4, a.targetFd);
  w.u32(8, a.attachType).u32(12, a.flags);
  // The rest is a union at offset 16: write only the member the caller filled in.
  if (a.kprobeMulti) {
    const k = a.kprobeMulti;
    const cnt = k.syms?.length ?? k.addrs?.length ?? 0;
    if (cnt === 0) throw new TsbpfError('BPF_ATTR_KPROBE_MULTI', 'kprobe_multi needs at least one symbol or address');
    if (k.cookies && k.cookies.length !== cnt) throw new TsbpfError('BPF_ATTR_KPROBE_MULTI', `kprobe_multi has ${cnt} targets but ${k.cookies.length} cookies`);
    w.u32(16, k.flags).u32(20, cnt);
    if (k.syms) {
      const strings = k.syms.map(cString);
      for (const s of strings) w.keepAlive.push(s);
      w.ptr(24, u64Array(strings.map(addressOf)));
    }
    if (k.addrs) w.ptr(32, u64Array(k.addrs));
    if (k.cookies) w.ptr(40, u64Array(k.cookies));
  } else if (a.uprobeMulti) {
    const u = a.uprobeMulti;
    const cnt = u.offsets.length;
    w.ptr(16, cString(u.path)).ptr(24, u64Array(u.offsets));
    if (u.refCtrOffsets) w.ptr(32, u64Array(u.refCtrOffsets));
    if (u.cookies) w.ptr(40, u64Array(u.cookies));
    w.u32(48, cnt).u32(52, u.flags).u32(56, u.pid);
  } else if (a.iterInfo) {
    w.ptr(16, a.iterInfo).u32(24, a.iterInfo.byteLength);
  } else if (a.perfEventCookie !== undefined) {
    w.u64(16, a.perfEventCookie);
  } else if (a.netfilter) {
    w.u32(16, a.netfilter.pf).u32(20, a.netfilter.hooknum).s32(24, a.netfilter.priority).u32(28, a.netfilter.flags);
  } else if (a.tcxRelative) {
    const r = a.tcxRelative;
    if (r.id !== undefined) w.u32(16, r.id);
    else w.fd(16, r.fd);
    w.u64(24, r.expectedRevision);
  } else {
    w.u32(16, a.targetBtfId).u64(24, a.tracingCookie);
  }
  return w;
}
