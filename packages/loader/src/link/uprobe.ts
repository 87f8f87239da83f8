/**
 * uprobes and uretprobes (`SEC("uprobe/<path>:<symbol>[+off]")`): the symbol is looked up in the
 * target ELF's `.symtab`/`.dynsym` and converted to a file offset through its PT_LOAD segment.
 */
import { existsSync } from 'node:fs';
import { BPF_ATTACH_TYPE, BPF_F_UPROBE_MULTI_RETURN, linkCreate, type Fd } from '../sys/index.js';
import { NativeSymbolTable } from '../symbolize/elf_symbols.js';
import { AttachError, AttachNotSupportedError } from './errors.js';
import { errnoIs, explainAttachError } from './internal.js';
import { BpfLink, type Link } from './link.js';
import { attachPerfEventFd, type PerfAttachOptions } from './perf_event.js';
import { openProbe, probesAvailable } from './probe.js';
import { TracefsError } from './tracefs.js';

/** Options of {@link attachUprobe}. */
export interface UprobeOptions extends PerfAttachOptions {
  /** Function to probe; its file offset is looked up in the binary. */
  readonly symbol?: string;
  /** File offset (without `symbol`) or bytes past the symbol's start (with it). */
  readonly offset?: number;
  /** Probe the return. */
  readonly retprobe?: boolean;
  /** Only in this process (default: every process mapping the file). */
  readonly pid?: number;
  /** USDT semaphore file offset. */
  readonly refCtrOffset?: number;
  /** Use tracefs `uprobe_events` even when the PMU exists. */
  readonly forceTracefs?: boolean;
}

/** The file offset a uprobe on `path` + `options` should use. */
export function resolveUprobeOffset(path: string, options: Pick<UprobeOptions, 'symbol' | 'offset'>): number {
  if (options.symbol === undefined) {
    if (options.offset === undefined) throw new AttachError(`uprobe on ${path}: give a symbol or a file offset`);
    return options.offset;
  }
  const sym = NativeSymbolTable.forPath(path).get(options.symbol);
  return sym.fileOffset + (options.offset ?? 0);
}

/** Attach a uprobe program to `path` (an executable or shared library). */
export function attachUprobe(prog: Fd, path: string, options: UprobeOptions = {}): Link {
  if (!existsSync(path)) throw new AttachError(`uprobe target ${path} does not exist`);
  if (!probesAvailable('uprobe')) throw new AttachNotSupportedError('uprobes are not enabled in this kernel (CONFIG_UPROBE_EVENTS): no uprobe PMU and no uprobe_events');
  const offset = resolveUprobeOffset(path, options);
  const retprobe = options.retprobe ?? false;
  const kind = retprobe ? 'uretprobe' : 'uprobe';
  const label = options.symbol ?? `0x${offset.toString(16)}`;
  let opened;
  try {
    opened = openProbe({ kind: 'uprobe', retprobe, target: path, offset, pid: options.pid, refCtrOffset: options.refCtrOffset, label, forceTracefs: options.forceTracefs });
  } catch (err) {
    if (err instanceof TracefsError) throw err;
    if (errnoIs(err, 'ESRCH')) throw new AttachError(`${kind} on ${path}:${label}: process ${options.pid} does not exist`, { cause: err });
    if (errnoIs(err, 'EINVAL', 'ENOENT')) throw new AttachError(`${kind} on ${path}:${label} (file offset 0x${offset.toString(16)}) was rejected (${(err as { errnoName: string }).errnoName}): not an instruction boundary in an executable mapping?`, { cause: err });
    throw explainAttachError(err, `${kind} on ${path}:${label}`);
  }
  return attachPerfEventFd(kind, prog, opened.fd, options, opened.event ? [() => opened.event?.remove()] : []);
}

/** Options of {@link attachUprobeMulti}. */
export interface UprobeMultiOptions {
  /** Functions to probe (looked up like {@link UprobeOptions.symbol}). */
  readonly symbols?: readonly string[];
  /** File offsets to probe, instead of symbols. */
  readonly offsets?: readonly number[];
  /** One bpf_cookie per probe. */
  readonly cookies?: readonly bigint[];
  /** Probe returns. */
  readonly retprobe?: boolean;
  /** Only this process (default: all). */
  readonly pid?: number;
}

/**
 * Attach a program loaded with expected attach type BPF_TRACE_UPROBE_MULTI to several places of one
 * binary with a single bpf_link (kernel 6.6+).
 */
export function attachUprobeMulti(prog: Fd, path: string, options: UprobeMultiOptions): BpfLink {
  if (!existsSync(path)) throw new AttachError(`uprobe target ${path} does not exist`);
  if ((options.symbols === undefined) === (options.offsets === undefined)) throw new AttachError('uprobe_multi: give symbols or offsets, not both');
  const offsets = options.symbols ? options.symbols.map((s) => resolveUprobeOffset(path, { symbol: s })) : [...(options.offsets ?? [])];
  if (offsets.length === 0) throw new AttachError(`uprobe_multi on ${path}: no probe locations`);
  const kind = options.retprobe ? 'uretprobe_multi' : 'uprobe_multi';
  try {
    const fd = linkCreate({
      progFd: prog,
      attachType: BPF_ATTACH_TYPE.TRACE_UPROBE_MULTI,
      uprobeMulti: {
        path,
        offsets: offsets.map(BigInt),
        cookies: options.cookies ? [...options.cookies] : undefined,
        flags: options.retprobe ? BPF_F_UPROBE_MULTI_RETURN : 0,
        pid: options.pid,
      },
    });
    return new BpfLink(kind, fd);
  } catch (err) {
    if (errnoIs(err, 'EOPNOTSUPP', 'ENOTSUPP')) {
      throw new AttachNotSupportedError('uprobe_multi links are not supported by this kernel (needs 6.6+)', { cause: err });
    }
    if (errnoIs(err, 'ESRCH')) throw new AttachError(`${kind} on ${path}: process ${options.pid} does not exist`, { cause: err });
    throw explainAttachError(err, `${kind} on ${path}`);
  }
}

