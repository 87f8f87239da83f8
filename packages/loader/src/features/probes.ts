/**
 * Kernel feature probes: each asks the running kernel directly (create a map, load a two-instruction
 * program, attach a link) instead of reading version numbers, and caches the answer for the process.
 * Every probe has a `check…` form returning a {@link FeatureResult} with the reason, and a boolean form.
 */
import { existsSync } from 'node:fs';
import { asm, assemble } from '../asm/index.js';
import type { RawInstruction } from '../asm/index.js';
import { Btf, KIND_NAMES } from '../btf/btf.js';
import { findKernelType, loadKernelBtf } from '../btf/kernel.js';
import type { BtfType } from '../btf/types.js';
import { btfLoad, linkCreate, mapCreate, progLoad, progLoadWithLog, rawTracepointOpen } from '../sys/bpf.js';
import type { ProgLoadAttr } from '../sys/attr.js';
import { BPF_ATTACH_TYPE, BPF_F_PROG, BPF_FUNC, BPF_MAP_TYPE, BPF_PROG_TYPE, attachTypeName, helperName, mapTypeName, progTypeName } from '../sys/constants.js';
import { SyscallError } from '../sys/errors.js';
import type { Fd } from '../sys/fd.js';
import { pageSize } from '../sys/ffi.js';
import { hasProbeEventsFile } from '../link/tracefs.js';
import { readPseudoFile } from '../pseudofile.js';

/** The answer of one probe: whether the feature works, and why not (or how it was decided). */
export interface FeatureResult {
  readonly supported: boolean;
  /** Why it is unsupported (errno and what it means), or a note on how support was decided. */
  readonly detail?: string;
  /**
   * The probe could not tell: it was itself refused (e.g. EPERM under lockdown) or interrupted by
   * signals. `supported` is false, but the kernel may well have the feature.
   */
  readonly undecided?: boolean;
}

const cache = new Map<string, FeatureResult>();
/** Results of interrupted probes: answered, but not cached (the next call probes again). */
const interrupted = new WeakSet<FeatureResult>();

function cached(key: string, probe: () => FeatureResult): FeatureResult {
  const hit = cache.get(key);
  if (hit) return hit;
  let r: FeatureResult;
  try {
    r = probe();
  } catch (err) {
    r = failed(err);
  }
  if (!interrupted.has(r)) cache.set(key, r);
  return r;
}

/** An undecided result resting on `from` (not cached either when `from` was interrupted). */
function undecided(from: FeatureResult, detail: string | undefined): FeatureResult {
  const r: FeatureResult = { supported: false, undecided: true, detail };
  if (interrupted.has(from)) interrupted.add(r);
  return r;
}

/**
 * A probe that failed with `err` (`what` says which step). A refused one (EPERM) is undecided; an
 * interrupted one (EAGAIN, EINTR) is undecided and not cached.
 */
function failed(err: unknown, what?: string): FeatureResult {
  const detail = what === undefined ? describeError(err) : `${what}: ${describeError(err)}`;
  if (!(err instanceof SyscallError)) return { supported: false, detail };
  // Refused (lockdown, an LSM, a missing capability): the kernel may have it, this process cannot tell.
  if (err.errnoName === 'EPERM') return { supported: false, undecided: true, detail };
  if (err.errnoName !== 'EAGAIN' && err.errnoName !== 'EINTR') return { supported: false, detail };
  const r: FeatureResult = { supported: false, undecided: true, detail: `${detail} (the probe was interrupted by signals)` };
  interrupted.add(r);
  return r;
}

/** Forget every cached answer (after loading a module, or in tests). */
export function clearFeatureCache(): void {
  cache.clear();
  kprobeCache = undefined;
}

function describeError(err: unknown): string {
  if (err instanceof SyscallError) {
    if (err.errnoName === 'EPERM') {
      return process.getuid?.() === 0 ? 'EPERM as root: kernel lockdown or an LSM forbids it' : 'EPERM: needs CAP_BPF/CAP_PERFMON (or CAP_SYS_ADMIN)';
    }
    return `${err.errnoName}${err.errnoName === 'EINVAL' ? ': the kernel does not know it' : ''}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** Errnos meaning "this kernel does not have it" for creation/load probes. */
function isUnsupportedErrno(err: unknown): boolean {
  return err instanceof SyscallError && ['EINVAL', 'E2BIG', 'EOPNOTSUPP', 'ENOTSUPP', 'ENOENT'].includes(err.errnoName);
}

function withFd<T>(fd: Fd, f: (fd: Fd) => T): T {
  try {
    return f(fd);
  } finally {
    fd.close();
  }
}

const RET0: readonly RawInstruction[] = [asm.movImm(0, 0), asm.exit()];

function insns(parts: readonly RawInstruction[]): Uint8Array {
  return assemble(parts).bytes;
}

// ------------------------------------------------------------------------------------------ tiny BTF

/** Encode a BTF blob holding `types` (ids from 1). */
function encodeBtf(types: readonly BtfType[]): Uint8Array {
  const btf = Btf.empty();
  for (const t of types) btf.add(t);
  return btf.encode();
}

const INT: BtfType = { kind: 'int', name: 'int', size: 4, encoding: { signed: true, char: false, bool: false }, offset: 0, bits: 32 };

/** Load a BTF blob, returning its fd (for maps that need key/value types). */
function loadIntBtf(): Fd {
  return btfLoad({ btf: encodeBtf([INT]) });
}

// ------------------------------------------------------------------------------------------ kernel BTF

/** The kernel type's id, from the memo of earlier processes without a parse when it can (see `findKernelType`). */
function kernelBtfId(name: string, kind: 'func' | 'typedef' | 'struct'): number | undefined {
  try {
    return findKernelType(name, kind);
  } catch {
    return undefined;
  }
}

/** Functions that exist on every kernel with trampolines and are safe to probe. */
const STABLE_FUNCTIONS = ['bpf_fentry_test1', 'bpf_modify_return_test', 'vfs_read', 'do_sys_openat2'];

function stableFunctionId(): { name: string; id: number } | undefined {
  for (const name of STABLE_FUNCTIONS) {
    const id = kernelBtfId(name, 'func');
    if (id !== undefined) return { name, id };
  }
  return undefined;
}

/** True when `BPF_PROG_TYPE_<X>` appears in the kernel's own `enum bpf_prog_type`. */
function kernelEnumHas(enumName: string, enumerator: string): boolean {
  try {
    const btf = loadKernelBtf();
    const id = btf.find(enumName, 'enum');
    if (id === undefined) return false;
    const t = btf.type(id);
    return t.kind === 'enum' && t.values.some((v) => v.name === enumerator);
  } catch {
    return false;
  }
}

// ------------------------------------------------------------------------------------------ maps

/** Key/value/entries/flags that make a valid map of each type. */
function mapProbeAttrs(type: number): { keySize: number; valueSize: number; maxEntries: number; mapFlags?: number; needsBtf?: boolean; needsInner?: boolean; mapExtra?: bigint } {
  const T = BPF_MAP_TYPE;
  switch (type) {
    case T.RINGBUF:
    case T.USER_RINGBUF:
      return { keySize: 0, valueSize: 0, maxEntries: pageSize() };
    case T.QUEUE:
    case T.STACK:
    case T.BLOOM_FILTER:
      return { keySize: 0, valueSize: 4, maxEntries: 1 };
    case T.STACK_TRACE:
      return { keySize: 4, valueSize: 8, maxEntries: 1 };
    case T.LPM_TRIE:
      return { keySize: 8, valueSize: 4, maxEntries: 1, mapFlags: 1 /* BPF_F_NO_PREALLOC */ };
    case T.ARRAY_OF_MAPS:
    case T.HASH_OF_MAPS:
      return { keySize: 4, valueSize: 4, maxEntries: 1, needsInner: true };
    case T.SK_STORAGE:
    case T.INODE_STORAGE:
    case T.TASK_STORAGE:
    case T.CGRP_STORAGE:
      return { keySize: 4, valueSize: 4, maxEntries: 0, mapFlags: 1, needsBtf: true };
    case T.CGROUP_STORAGE:
    case T.PERCPU_CGROUP_STORAGE:
      return { keySize: 16, valueSize: 8, maxEntries: 0 };
    case T.ARENA:
      return { keySize: 0, valueSize: 0, maxEntries: 1, mapFlags: 1 << 10 /* BPF_F_MMAPABLE */ };
    default:
      return { keySize: 4, valueSize: 4, maxEntries: 1 };
  }
}

/** Can maps of `type` (a {@link BPF_MAP_TYPE} value) be created? */
export function checkMapType(type: number): FeatureResult {
  return cached(`map:${type}`, () => {
    if (type === BPF_MAP_TYPE.STRUCT_OPS) {
      // Needs a kernel value type; its presence in BTF is what makes struct_ops maps possible.
      const ok = kernelBtfId('bpf_struct_ops_tcp_congestion_ops', 'struct') !== undefined;
      return { supported: ok, detail: 'decided from kernel BTF (bpf_struct_ops_tcp_congestion_ops)' };
    }
    const a = mapProbeAttrs(type);
    const owned: Fd[] = [];
    try {
      let btfFd: Fd | undefined;
      let innerMapFd: Fd | undefined;
      if (a.needsBtf) owned.push((btfFd = loadIntBtf()));
      if (a.needsInner) owned.push((innerMapFd = mapCreate({ mapType: BPF_MAP_TYPE.ARRAY, keySize: 4, valueSize: 4, maxEntries: 1 })));
      const fd = mapCreate({
        mapType: type,
        keySize: a.keySize,
        valueSize: a.valueSize,
        maxEntries: a.maxEntries,
        mapFlags: a.mapFlags,
        mapExtra: a.mapExtra,
        btfFd,
        btfKeyTypeId: btfFd ? 1 : undefined,
        btfValueTypeId: btfFd ? 1 : undefined,
        innerMapFd,
      });
      fd.close();
      return { supported: true };
    } catch (err) {
      if (isUnsupportedErrno(err) || err instanceof SyscallError) return failed(err);
      throw err;
    } finally {
      for (const fd of owned) fd.close();
    }
  });
}

/** {@link checkMapType} as a boolean. */
export function probeMapType(type: number): boolean {
  return checkMapType(type).supported;
}

// ------------------------------------------------------------------------------------------ programs

/**
 * The extra load attributes a minimal program of `progType` needs to be accepted at all (an expected
 * attach type, an attach BTF id), or a string naming why it cannot be probed by loading.
 */
function progBaseAttrs(progType: number): Partial<ProgLoadAttr> | string {
  const P = BPF_PROG_TYPE;
  const A = BPF_ATTACH_TYPE;
  switch (progType) {
    case P.CGROUP_SOCK_ADDR:
      return { expectedAttachType: A.CGROUP_INET4_CONNECT };
    case P.CGROUP_SOCKOPT:
      return { expectedAttachType: A.CGROUP_GETSOCKOPT };
    case P.SK_LOOKUP:
      return { expectedAttachType: A.SK_LOOKUP };
    case P.NETFILTER:
      return { expectedAttachType: A.NETFILTER };
    case P.SYSCALL:
      // Syscall programs must be sleepable.
      return { progFlags: BPF_F_PROG.SLEEPABLE };
    case P.TRACING: {
      const id = kernelBtfId('btf_trace_sys_enter', 'typedef') ?? kernelBtfId('btf_trace_sched_switch', 'typedef');
      if (id === undefined) return 'no btf_trace_* typedef in kernel BTF';
      return { expectedAttachType: A.TRACE_RAW_TP, attachBtfId: id };
    }
    case P.LSM: {
      const id = kernelBtfId('bpf_lsm_file_open', 'func');
      if (id === undefined) return 'no bpf_lsm_file_open in kernel BTF (CONFIG_BPF_LSM off)';
      return { expectedAttachType: A.LSM_MAC, attachBtfId: id };
    }
    case P.EXT:
    case P.STRUCT_OPS:
      return 'needs a target program or struct_ops type';
    default:
      return {};
  }
}

/** Can programs of `progType` (a {@link BPF_PROG_TYPE} value) be loaded? */
export function checkProgType(progType: number): FeatureResult {
  return cached(`prog:${progType}`, () => {
    const base = progBaseAttrs(progType);
    if (typeof base === 'string') {
      const name = progTypeName(progType);
      const full = name === undefined ? undefined : name.startsWith('BPF_PROG_TYPE_') ? name : `BPF_PROG_TYPE_${name}`;
      const ok = full !== undefined && kernelEnumHas('bpf_prog_type', full);
      return { supported: ok, detail: `not loadable without a target (${base}); decided from the kernel's enum bpf_prog_type` };
    }
    try {
      progLoad({ progType, insns: insns(RET0), license: 'GPL', ...base }).close();
      return { supported: true };
    } catch (err) {
      return failed(err);
    }
  });
}

/** {@link checkProgType} as a boolean. */
export function probeProgType(progType: number): boolean {
  return checkProgType(progType).supported;
}

const HELPER_MISSING = /unknown func|invalid func|cannot use helper|cannot call|not allowed for this prog|helper call is not allowed/;

/** Can programs of `progType` call helper `helperId` (a {@link BPF_FUNC} value)? */
export function checkHelper(progType: number, helperId: number): FeatureResult {
  return cached(`helper:${progType}:${helperId}`, () => {
    const prog = checkProgType(progType);
    if (!prog.supported) {
      const detail = `program type ${progTypeName(progType) ?? progType} is not supported${prog.detail ? ` (${prog.detail})` : ''}`;
      return prog.undecided ? undecided(prog, detail) : { supported: false, detail };
    }
    const base = progBaseAttrs(progType);
    if (typeof base === 'string') return { supported: false, undecided: true, detail: `cannot probe helpers of ${progTypeName(progType)}: ${base}` };
    const body = [asm.movImm(1, 0), asm.movImm(2, 0), asm.movImm(3, 0), asm.movImm(4, 0), asm.movImm(5, 0), asm.callHelper(helperId), asm.movImm(0, 0), asm.exit()];
    try {
      const { fd } = progLoadWithLog({ progType, insns: insns(body), license: 'GPL', ...base, logLevel: 1, logBuf: new Uint8Array(64 * 1024) });
      fd.close();
      return { supported: true };
    } catch (err) {
      if (err instanceof SyscallError) {
        const log = err.log ?? '';
        if (HELPER_MISSING.test(log)) return { supported: false, detail: `verifier: ${(HELPER_MISSING.exec(log) ?? [''])[0]} ${helperName(helperId) ?? helperId}` };
        // Rejected for its (deliberately bogus) arguments: the helper itself is known.
        if (err.errnoName === 'EACCES' || err.errnoName === 'EINVAL') return { supported: true, detail: 'helper accepted by the verifier (arguments rejected as expected)' };
      }
      // Refused for another reason (EPERM, interrupted): this says nothing about the helper.
      const r = failed(err);
      return undecided(r, r.detail);
    }
  });
}

/** {@link checkHelper} as a boolean. */
export function probeHelper(progType: number, helperId: number): boolean {
  return checkHelper(progType, helperId).supported;
}

/** Does the kernel accept programs of `progType` loaded for `attachType` (`expected_attach_type`)? */
export function checkAttachType(progType: number, attachType: number): FeatureResult {
  return cached(`attach:${progType}:${attachType}`, () => {
    const base = progBaseAttrs(progType);
    if (typeof base === 'string') return { supported: false, detail: base };
    // Trampoline attach types need a function as their target, not a tracepoint typedef.
    const target = progType === BPF_PROG_TYPE.TRACING ? tracingFunctionTarget(attachType) : undefined;
    if (typeof target === 'string') return { supported: false, detail: target };
    try {
      progLoad({ progType, insns: insns(RET0), license: 'GPL', ...base, expectedAttachType: attachType, ...target }).close();
      return { supported: true };
    } catch (err) {
      return failed(err, `${attachTypeName(attachType) ?? attachType}`);
    }
  });
}

/**
 * The `attach_btf_id` a TRACING program of `attachType` is probed with: a kernel function for
 * fentry/fexit/fmod_ret (the kernel's own BPF test functions, or a stable LSM hook), nothing for
 * the other attach types (they keep {@link progBaseAttrs}' tracepoint). A string says why none exists.
 */
function tracingFunctionTarget(attachType: number): { attachBtfId: number } | string | undefined {
  const A = BPF_ATTACH_TYPE;
  if (attachType !== A.TRACE_FENTRY && attachType !== A.TRACE_FEXIT && attachType !== A.MODIFY_RETURN) return undefined;
  const names = attachType === A.MODIFY_RETURN ? ['bpf_modify_return_test'] : ['bpf_fentry_test1', 'security_task_setnice'];
  for (const name of names) {
    const id = kernelBtfId(name, 'func');
    if (id !== undefined) return { attachBtfId: id };
  }
  return `no ${names.join(' or ')} in kernel BTF to attach a probe program to`;
}

/** {@link checkAttachType} as a boolean. */
export function probeAttachType(progType: number, attachType: number): boolean {
  return checkAttachType(progType, attachType).supported;
}

// ------------------------------------------------------------------------------------------ BTF kinds

/** A minimal BTF type list exercising each kind, as kind name → types. */
function btfKindSample(kind: string): BtfType[] | undefined {
  const int = INT; // id 1
  switch (kind) {
    case 'int':
      return [int];
    case 'ptr':
      return [int, { kind: 'ptr', name: '', type: 1 }];
    case 'array':
      return [int, { kind: 'array', name: '', elemType: 1, indexType: 1, nelems: 2 }];
    case 'struct':
    case 'union':
      return [int, { kind, name: 's', size: 4, kindFlag: false, members: [{ name: 'a', type: 1, bitOffset: 0, bitfieldSize: 0 }] }];
    case 'enum':
      return [{ kind: 'enum', name: 'e', size: 4, signed: false, values: [{ name: 'A', value: 1 }] }];
    case 'enum64':
      return [{ kind: 'enum64', name: 'e', size: 8, signed: false, values: [{ name: 'A', value: 1n << 40n }] }];
    case 'fwd':
      return [{ kind: 'fwd', name: 'f', union: false }];
    case 'typedef':
      return [int, { kind: 'typedef', name: 't', type: 1 }];
    case 'volatile':
    case 'const':
    case 'restrict':
      return [int, { kind: 'ptr', name: '', type: 1 }, { kind, name: '', type: kind === 'restrict' ? 2 : 1 }];
    case 'type_tag':
      return [int, { kind: 'type_tag', name: 'tag', type: 1 }, { kind: 'ptr', name: '', type: 2 }];
    case 'func_proto':
      return [int, { kind: 'func_proto', name: '', returnType: 1, params: [{ name: 'a', type: 1 }] }];
    case 'func':
      return [int, { kind: 'func_proto', name: '', returnType: 1, params: [{ name: 'a', type: 1 }] }, { kind: 'func', name: 'f', type: 2, linkage: 1 }];
    case 'var':
      return [int, { kind: 'var', name: 'v', type: 1, linkage: 1 }];
    case 'datasec':
      return [int, { kind: 'var', name: 'v', type: 1, linkage: 1 }, { kind: 'datasec', name: '.data', size: 4, vars: [{ type: 2, offset: 0, size: 4 }] }];
    case 'float':
      return [{ kind: 'float', name: 'float', size: 4 }];
    case 'decl_tag':
      return [int, { kind: 'var', name: 'v', type: 1, linkage: 1 }, { kind: 'decl_tag', name: 'tag', type: 2, componentIdx: -1 }];
    default:
      return undefined;
  }
}

/**
 * Does the kernel's BTF loader accept a type of `kind`: a kind name (`'float'`, `'decl_tag'`,
 * `'enum64'`, …) or a `BTF_KIND_*` number?
 */
export function checkBtfKind(kindOrNumber: string | number): FeatureResult {
  const kind = typeof kindOrNumber === 'number' ? (KIND_NAMES[kindOrNumber] ?? `#${kindOrNumber}`) : kindOrNumber;
  return cached(`btf:${kind}`, () => {
    const sample = btfKindSample(kind);
    if (!sample) return { supported: false, detail: `unknown BTF kind ${kind}` };
    try {
      btfLoad({ btf: encodeBtf(sample) }).close();
      return { supported: true };
    } catch (err) {
      return failed(err);
    }
  });
}

/** {@link checkBtfKind} as a boolean. */
export function probeBtfKind(kind: string | number): boolean {
  return checkBtfKind(kind).supported;
}

// ------------------------------------------------------------------------------------------ links and attach

/** Does the kernel have `BPF_LINK_CREATE` (bpf_link)? */
export function checkBpfLink(): FeatureResult {
  return cached('bpf_link', () => {
    try {
      // An fd that cannot be open: a kernel with LINK_CREATE looks it up (EBADF); one without rejects the command (EINVAL).
      linkCreate({ progFd: 0x7ffffff0, targetFd: 0x7ffffff0, attachType: BPF_ATTACH_TYPE.CGROUP_INET_INGRESS }).close();
      return { supported: true };
    } catch (err) {
      if (err instanceof SyscallError && err.errnoName === 'EBADF') return { supported: true };
      return failed(err);
    }
  });
}

/** {@link checkBpfLink} as a boolean. */
export function hasBpfLink(): boolean {
  return checkBpfLink().supported;
}

/** Does `BPF_LINK_CREATE` accept perf events (kprobe/uprobe/tracepoint bpf_links, 5.15+)? */
export function checkPerfLink(): FeatureResult {
  return cached('perf_link', () => {
    try {
      linkCreate({ progFd: 0x7ffffff0, targetFd: 0x7ffffff0, attachType: BPF_ATTACH_TYPE.PERF_EVENT }).close();
      return { supported: true };
    } catch (err) {
      if (err instanceof SyscallError && err.errnoName === 'EBADF') {
        return { supported: checkAttachType(BPF_PROG_TYPE.TRACEPOINT, BPF_ATTACH_TYPE.PERF_EVENT).supported || hasBpfLink(), detail: 'LINK_CREATE present; perf links decided by attach type' };
      }
      return failed(err);
    }
  });
}

/** {@link checkPerfLink} as a boolean. */
export function hasPerfLink(): boolean {
  return checkPerfLink().supported;
}

/** Can BPF_MAP_TYPE_RINGBUF maps be created? */
export function hasRingbuf(): boolean {
  return probeMapType(BPF_MAP_TYPE.RINGBUF);
}

/** Is the `bpf_loop` helper available? */
export function hasBpfLoop(): boolean {
  return probeHelper(BPF_PROG_TYPE.SOCKET_FILTER, BPF_FUNC.loop);
}

/** Ways this kernel can place kprobes. */
export interface KprobeSupport {
  /** perf `kprobe` PMU (`/sys/bus/event_source/devices/kprobe`). */
  readonly pmu: boolean;
  /** Legacy tracefs `kprobe_events`. */
  readonly tracefs: boolean;
  /** `BPF_TRACE_KPROBE_MULTI` links. */
  readonly multi: boolean;
  /** Why kprobes are unavailable, when none of the above works. */
  readonly detail?: string;
}

let kprobeCache: KprobeSupport | undefined;

/**
 * How kprobes can be attached here. `multi` (and `detail` when single probes work) come from a
 * program load and a link attempt, made only when first read: a caller asking for single probes
 * does not pay for them.
 */
export function kprobes(): KprobeSupport {
  if (kprobeCache) return kprobeCache;
  const pmu = existsSync('/sys/bus/event_source/devices/kprobe/type');
  let tracefs = false;
  try {
    tracefs = hasProbeEventsFile('kprobe');
  } catch {
    tracefs = false;
  }
  const none = !pmu && !tracefs ? 'kprobes are not enabled in this kernel (CONFIG_KPROBES): no kprobe PMU and no kprobe_events' : undefined;
  kprobeCache = {
    pmu,
    tracefs,
    get multi(): boolean {
      return checkKprobeMulti().supported;
    },
    get detail(): string | undefined {
      return none ?? checkKprobeMulti().detail;
    },
  };
  return kprobeCache;
}

/** Can a kprobe_multi link be created (attaches a real probe on `vprintk` for a moment)? */
export function checkKprobeMulti(): FeatureResult {
  return cached('kprobe_multi', () => {
    let prog: Fd;
    try {
      prog = progLoad({ progType: BPF_PROG_TYPE.KPROBE, insns: insns(RET0), license: 'GPL', expectedAttachType: BPF_ATTACH_TYPE.TRACE_KPROBE_MULTI });
    } catch (err) {
      return failed(err, 'kprobe_multi program');
    }
    return withFd(prog, (p) => {
      try {
        linkCreate({ progFd: p, attachType: BPF_ATTACH_TYPE.TRACE_KPROBE_MULTI, kprobeMulti: { syms: ['vprintk'] } }).close();
        return { supported: true };
      } catch (err) {
        return failed(err, 'kprobe_multi link');
      }
    });
  });
}

/** Can uprobe_multi links be created (kernel 6.6+)? */
export function checkUprobeMulti(): FeatureResult {
  return cached('uprobe_multi', () => {
    let prog: Fd;
    try {
      prog = progLoad({ progType: BPF_PROG_TYPE.KPROBE, insns: insns(RET0), license: 'GPL', expectedAttachType: BPF_ATTACH_TYPE.TRACE_UPROBE_MULTI });
    } catch (err) {
      return failed(err, 'uprobe_multi program');
    }
    return withFd(prog, (p) => {
      try {
        // "/" is not a regular file: a kernel with uprobe_multi checks that (EBADF); one without rejects the attach type (EINVAL).
        linkCreate({ progFd: p, attachType: BPF_ATTACH_TYPE.TRACE_UPROBE_MULTI, uprobeMulti: { path: '/', offsets: [0n] } }).close();
        return { supported: true };
      } catch (err) {
        if (err instanceof SyscallError && err.errnoName === 'EBADF') return { supported: true };
        return failed(err, 'uprobe_multi link');
      }
    });
  });
}

/** {@link checkUprobeMulti} as a boolean. */
export function hasUprobeMulti(): boolean {
  return checkUprobeMulti().supported;
}

/** Load a tracing program for `attachType` at BTF id `id` and attach it for a moment. */
function loadAndAttachTracing(progType: number, attachType: number, id: number, what: string): FeatureResult {
  let prog: Fd;
  try {
    prog = progLoad({ progType, insns: insns(RET0), license: 'GPL', expectedAttachType: attachType, attachBtfId: id });
  } catch (err) {
    return failed(err, `loading ${what}`);
  }
  return withFd(prog, (p) => {
    try {
      linkCreate({ progFd: p, attachType }).close();
      return { supported: true };
    } catch (err) {
      try {
        rawTracepointOpen(null, p).close();
        return { supported: true, detail: 'attached with RAW_TRACEPOINT_OPEN' };
      } catch {
        return failed(err, `attaching ${what}`);
      }
    }
  });
}

/** Do BPF trampolines work (fentry load and attach on a stable kernel function)? */
export function checkTrampolines(): FeatureResult {
  return cached('trampolines', () => {
    const fn = stableFunctionId();
    if (!fn) return { supported: false, detail: `none of ${STABLE_FUNCTIONS.join(', ')} is in kernel BTF` };
    return loadAndAttachTracing(BPF_PROG_TYPE.TRACING, BPF_ATTACH_TYPE.TRACE_FENTRY, fn.id, `fentry/${fn.name}`);
  });
}

/** {@link checkTrampolines} as a boolean. */
export function hasTrampolines(): boolean {
  return checkTrampolines().supported;
}

/**
 * Can an fentry program attach to kernel function `name` (in kernel BTF as a function, trampolines
 * working, the function traceable)? Attaches a do-nothing program for a moment. One lookup of the
 * function, where {@link checkTrampolines} followed by a lookup of `name` would make two.
 */
export function checkFentry(name: string): FeatureResult {
  return cached(`fentry:${name}`, () => {
    const id = kernelBtfId(name, 'func');
    if (id === undefined) return { supported: false, detail: `${name} is not a function in kernel BTF (inlined, renamed or absent)` };
    return loadAndAttachTracing(BPF_PROG_TYPE.TRACING, BPF_ATTACH_TYPE.TRACE_FENTRY, id, `fentry/${name}`);
  });
}

function activeLsms(): string[] | undefined {
  try {
    return readPseudoFile('/sys/kernel/security/lsm').trim().split(',');
  } catch {
    return undefined;
  }
}

/** Can BPF LSM programs be loaded and attached (CONFIG_BPF_LSM and `bpf` in the active LSM list)? */
export function checkLsm(): FeatureResult {
  return cached('lsm', () => {
    const id = kernelBtfId('bpf_lsm_file_open', 'func');
    if (id === undefined) return { supported: false, detail: 'bpf_lsm_file_open is not in kernel BTF (CONFIG_BPF_LSM is off)' };
    const lsms = activeLsms();
    if (lsms && !lsms.includes('bpf')) return { supported: false, detail: `"bpf" is not in the active LSM list (${lsms.join(',')}); boot with lsm=...,bpf` };
    return loadAndAttachTracing(BPF_PROG_TYPE.LSM, BPF_ATTACH_TYPE.LSM_MAC, id, 'lsm/file_open');
  });
}

/** {@link checkLsm} as a boolean. */
export function hasLsm(): boolean {
  return checkLsm().supported;
}

/** Can a `tp_btf/<name>` program be loaded (the `btf_trace_<name>` typedef exists and the verifier accepts it)? */
export function checkTpBtf(name: string): FeatureResult {
  return cached(`tp_btf:${name}`, () => {
    const id = kernelBtfId(`btf_trace_${name}`, 'typedef');
    if (id === undefined) return { supported: false, detail: `no btf_trace_${name} in kernel BTF: tracepoint ${name} does not exist or has no BTF` };
    try {
      progLoad({ progType: BPF_PROG_TYPE.TRACING, insns: insns(RET0), license: 'GPL', expectedAttachType: BPF_ATTACH_TYPE.TRACE_RAW_TP, attachBtfId: id }).close();
      return { supported: true };
    } catch (err) {
      return failed(err);
    }
  });
}

/** {@link checkTpBtf} as a boolean. */
export function hasTpBtf(name: string): boolean {
  return checkTpBtf(name).supported;
}

/** Does the kernel have tcx (`BPF_TCX_INGRESS` links)? */
export function checkTcx(): FeatureResult {
  return cached('tcx', () => {
    try {
      linkCreate({ progFd: 0x7ffffff0, targetIfindex: 1, attachType: BPF_ATTACH_TYPE.TCX_INGRESS }).close();
      return { supported: true };
    } catch (err) {
      if (err instanceof SyscallError && err.errnoName === 'EBADF') {
        const enumOk = kernelEnumHas('bpf_attach_type', 'BPF_TCX_INGRESS');
        return { supported: enumOk, detail: 'decided from the kernel enum bpf_attach_type' };
      }
      return failed(err);
    }
  });
}

/** {@link checkTcx} as a boolean. */
export function hasTcx(): boolean {
  return checkTcx().supported;
}

/** One row of {@link featureReport}. */
export interface FeatureReportEntry {
  readonly group: string;
  readonly name: string;
  readonly supported: boolean;
  /** The probe could not tell (see {@link FeatureResult.undecided}). */
  readonly undecided?: boolean;
  readonly detail?: string;
}

/** Every probe that matters to tsbpf, for `tsbpf features`. */
export function featureReport(): FeatureReportEntry[] {
  const out: FeatureReportEntry[] = [];
  const add = (group: string, name: string, r: FeatureResult): void => {
    out.push({ group, name, supported: r.supported, ...(r.undecided ? { undecided: true } : {}), ...(r.detail ? { detail: r.detail } : {}) });
  };
  const seenProgs = new Set<number>();
  for (const [name, type] of Object.entries(BPF_PROG_TYPE)) {
    if (type === 0 || seenProgs.has(type)) continue;
    seenProgs.add(type);
    add('program types', name.toLowerCase(), checkProgType(type));
  }
  const seenMaps = new Set<number>();
  for (const [name, type] of Object.entries(BPF_MAP_TYPE)) {
    if (type === 0 || seenMaps.has(type)) continue;
    seenMaps.add(type);
    add('map types', (mapTypeName(type) ?? name).replace(/^BPF_MAP_TYPE_/, '').toLowerCase(), checkMapType(type));
  }
  add('links', 'bpf_link', checkBpfLink());
  add('links', 'perf_event link', checkPerfLink());
  add('links', 'tcx', checkTcx());
  const k = kprobes();
  out.push({ group: 'attach', name: 'kprobe (perf PMU)', supported: k.pmu, ...(k.pmu ? {} : { detail: k.detail }) });
  out.push({ group: 'attach', name: 'kprobe (tracefs)', supported: k.tracefs });
  add('attach', 'kprobe_multi', checkKprobeMulti());
  out.push({ group: 'attach', name: 'uprobe (perf PMU)', supported: existsSync('/sys/bus/event_source/devices/uprobe/type') });
  add('attach', 'uprobe_multi', checkUprobeMulti());
  add('attach', 'fentry/fexit (trampolines)', checkTrampolines());
  add('attach', 'lsm', checkLsm());
  add('attach', 'tp_btf/sys_enter', checkTpBtf('sys_enter'));
  add('attach', 'tp_btf/cap_capable', checkTpBtf('cap_capable'));
  add('helpers', 'bpf_loop', checkHelper(BPF_PROG_TYPE.SOCKET_FILTER, BPF_FUNC.loop));
  add('helpers', 'bpf_ringbuf_output', checkHelper(BPF_PROG_TYPE.TRACEPOINT, BPF_FUNC.ringbuf_output));
  add('helpers', 'bpf_perf_event_output', checkHelper(BPF_PROG_TYPE.TRACEPOINT, BPF_FUNC.perf_event_output));
  add('helpers', 'bpf_get_stackid', checkHelper(BPF_PROG_TYPE.TRACEPOINT, BPF_FUNC.get_stackid));
  for (const kind of ['func', 'func_proto', 'var', 'datasec', 'float', 'decl_tag', 'type_tag', 'enum64']) add('btf kinds', kind, checkBtfKind(kind));
  return out;
}
