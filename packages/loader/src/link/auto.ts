/**
 * `attachProgram`: attach a loaded program where its ELF section name says, as libbpf's auto-attach
 * does (`kprobe/do_sys_open`, `tracepoint/syscalls/sys_enter_openat`, `tp_btf/sched_switch`,
 * `uprobe//usr/lib/libc.so.6:malloc`, …). Hooks that need a runtime target (XDP/tc interface, cgroup,
 * perf event) take it from `options`.
 */
import { BPF_ATTACH_TYPE, BPF_PROG_TYPE, progTypeName, type Fd } from '../sys/index.js';
import { cgroupDefault } from './cgroup_path.js';
import { attachCgroup } from './cgroup.js';
import { attachKprobe, attachKprobeMulti } from './kprobe.js';
import { AttachError } from './errors.js';
import { type Link } from './link.js';
import { attachPerfEvent, type PerfEventOptions } from './perf_event.js';
import { attachRawTracepoint } from './raw_tracepoint.js';
import { attachTc, type TcOptions } from './tc.js';
import { attachTracepoint } from './tracepoint.js';
import { attachTracing } from './tracing.js';
import { attachUprobe, attachUprobeMulti } from './uprobe.js';
import { attachXdp } from './xdp.js';

/** What {@link attachProgram} needs to know about a loaded program. */
export interface AttachableProgram {
  readonly fd: Fd;
  /** `BPF_PROG_TYPE_*`. */
  readonly type: number;
  /** `expected_attach_type` it was loaded with. */
  readonly expectedAttachType: number;
  /** ELF section name, e.g. `tracepoint/syscalls/sys_enter_execve`. */
  readonly sectionName: string;
  /** Overrides the target parsed from the section name (function, tracepoint, binary:symbol). */
  readonly attachTarget?: string;
}

/** Runtime targets and tweaks for {@link attachProgram}. */
export interface AttachProgramOptions {
  /** bpf_cookie (kprobe, uprobe, tracepoint, tracing). */
  readonly cookie?: bigint;
  /** XDP / tc: interface name or index. */
  readonly interface?: string | number;
  /** XDP flags. */
  readonly xdpFlags?: number;
  /**
   * tc: tcx link or netlink cls_bpf filter (default `auto`: tcx where the kernel has it), as
   * {@link TcOptions.mode}.
   */
  readonly tcMode?: TcOptions['mode'];
  /** tc: the hook for sections that do not name one (`tc`, `classifier`); default ingress. */
  readonly tcDirection?: 'ingress' | 'egress';
  /** tc netlink path: filter priority (see {@link TcOptions.priority}). */
  readonly tcPriority?: number;
  /** cgroup programs: the cgroup v2 directory (required: there is no default). */
  readonly cgroup?: string;
  /** uprobe: only this process. */
  readonly pid?: number;
  /** perf_event programs: what to sample. */
  readonly perfEvent?: PerfEventOptions;
}

function safeCgroupRoot(): string {
  try {
    return cgroupDefault();
  } catch {
    return '/sys/fs/cgroup';
  }
}

/** The section's prefix and the rest (`kprobe/do_sys_open` → [`kprobe`, `do_sys_open`]). */
function splitSection(section: string): [string, string] {
  const i = section.indexOf('/');
  return i < 0 ? [section, ''] : [section.slice(0, i), section.slice(i + 1)];
}

/** `fn+0x10` → fn and offset. */
function parseFunctionOffset(s: string): { name: string; offset: number } {
  const m = /^([^+]+)(?:\+(0x[0-9a-fA-F]+|\d+))?$/.exec(s);
  if (!m) throw new AttachError(`cannot parse probe target ${JSON.stringify(s)} (expected name or name+offset)`);
  return { name: m[1], offset: m[2] ? Number(m[2]) : 0 };
}

/** Attach `program` according to its section name. */
export function attachProgram(program: AttachableProgram, options: AttachProgramOptions = {}): Link {
  const [prefix, rest0] = splitSection(program.sectionName);
  const rest = program.attachTarget ?? rest0;
  const need = (what: string): never => {
    throw new AttachError(`cannot auto-attach section ${program.sectionName}: ${what}`);
  };
  const base = prefix.replace(/\.s$/, ''); // sleepable variants attach the same way
  switch (base) {
    case 'kprobe':
    case 'kretprobe': {
      if (!rest) need('no function named after the prefix');
      const { name, offset } = parseFunctionOffset(rest);
      return attachKprobe(program.fd, name, { retprobe: base === 'kretprobe', offset, cookie: options.cookie });
    }
    case 'ksyscall':
    case 'kretsyscall': {
      if (!rest) need('no system call named after the prefix');
      // Syscall entry points carry an architecture prefix since 4.17.
      const prefix = process.arch === 'arm64' ? '__arm64_sys_' : process.arch === 'x64' ? '__x64_sys_' : 'sys_';
      return attachKprobe(program.fd, prefix + rest, { retprobe: base === 'kretsyscall', cookie: options.cookie });
    }
    case 'uprobe.multi':
    case 'uretprobe.multi': {
      const colon = rest.lastIndexOf(':');
      if (colon <= 0) need('expected uprobe.multi/<path>:<symbol>');
      return attachUprobeMulti(program.fd, rest.slice(0, colon), { symbols: rest.slice(colon + 1).split(','), retprobe: base === 'uretprobe.multi', pid: options.pid });
    }
    case 'kprobe.multi':
    case 'kretprobe.multi':
      if (!rest) need('no function pattern');
      return attachKprobeMulti(program.fd, { pattern: rest, retprobe: base === 'kretprobe.multi' });
    case 'uprobe':
    case 'uretprobe': {
      // uprobe/<path>:<symbol>[+off]; the path itself may contain ':' only before the last one.
      const colon = rest.lastIndexOf(':');
      if (colon <= 0) need('expected uprobe/<path>:<symbol>[+offset]');
      const path = rest.slice(0, colon);
      const target = rest.slice(colon + 1);
      const isOffset = /^(0x[0-9a-fA-F]+|\d+)$/.test(target);
      const { name, offset } = isOffset ? { name: undefined, offset: Number(target) } : parseFunctionOffset(target);
      return attachUprobe(program.fd, path, { symbol: name, offset, retprobe: base === 'uretprobe', pid: options.pid, cookie: options.cookie });
    }
    case 'tracepoint':
    case 'tp': {
      const slash = rest.indexOf('/');
      if (slash <= 0) need('expected tracepoint/<category>/<name>');
      return attachTracepoint(program.fd, rest.slice(0, slash), rest.slice(slash + 1), { cookie: options.cookie });
    }
    case 'raw_tracepoint':
    case 'raw_tp':
    case 'raw_tracepoint.w':
    case 'raw_tp.w':
      if (!rest) need('no tracepoint name');
      return attachRawTracepoint(program.fd, rest, { cookie: options.cookie });
    case 'tp_btf':
    case 'fentry':
    case 'fexit':
    case 'fmod_ret':
    case 'lsm':
      return attachTracing(program.fd, program.expectedAttachType, { cookie: options.cookie });
    case 'xdp':
      if (options.interface === undefined) need('XDP needs options.interface');
      return attachXdp(program.fd, options.interface as string | number, { flags: options.xdpFlags });
    case 'tcx':
    case 'tc':
    case 'classifier': {
      if (options.interface === undefined) need('tc needs options.interface');
      if (rest !== '' && rest !== 'ingress' && rest !== 'egress') need(`unknown tc hook "${rest}" (expected ingress or egress)`);
      // tc/ingress, tcx/egress… name the hook; bare tc/classifier take it from options, then from
      // the expected attach type, then default to ingress.
      const named = rest === 'ingress' || rest === 'egress' ? rest : undefined;
      const direction = named ?? options.tcDirection ?? (program.expectedAttachType === BPF_ATTACH_TYPE.TCX_EGRESS ? 'egress' : 'ingress');
      return attachTc(program.fd, options.interface as string | number, direction, { mode: options.tcMode, priority: options.tcPriority });
    }
    case 'cgroup':
    case 'cgroup_skb':
    case 'sockops':
      // Never default to the root cgroup: that would apply the program to the whole machine.
      if (options.cgroup === undefined) need(`cgroup programs need options.cgroup (e.g. ${safeCgroupRoot()}/my.slice)`);
      return attachCgroup(program.fd, options.cgroup as string, program.expectedAttachType);
    case 'perf_event':
      return attachPerfEvent(program.fd, { cookie: options.cookie, ...options.perfEvent });
    default:
      break;
  }
  // Fall back on the program type for sections without a known prefix.
  switch (program.type) {
    case BPF_PROG_TYPE.TRACING:
    case BPF_PROG_TYPE.LSM:
      return attachTracing(program.fd, program.expectedAttachType, { cookie: options.cookie });
    default:
      return need(`no auto-attach rule for prefix "${prefix}" (program type ${progTypeName(program.type) ?? program.type})`);
  }
}
