/**
 * kprobes and kretprobes (`SEC("kprobe/<fn>")`, `kretprobe/<fn>`), and kprobe_multi links
 * (`kprobe.multi/<pattern>`). Single probes go through the perf kprobe PMU or, without it, a tracefs
 * `kprobe_events` entry that this library names `tsbpf_<pid>_<n>_<fn>` and removes on close.
 */
import { readFileSync } from 'node:fs';
import { BPF_ATTACH_TYPE, BPF_F_KPROBE_MULTI_RETURN, linkCreate, type Fd } from '../sys/index.js';
import { KernelSymbols } from '../kallsyms/index.js';
import { AttachError, AttachNotSupportedError } from './errors.js';
import { errnoIs, explainAttachError } from './internal.js';
import { BpfLink, type Link } from './link.js';
import { attachPerfEventFd, type PerfAttachOptions } from './perf_event.js';
import { openProbe, probesAvailable } from './probe.js';
import { TracefsError, tracefsRoot } from './tracefs.js';

/** Options of {@link attachKprobe}. */
export interface KprobeOptions extends PerfAttachOptions {
  /** Probe the function's return (kretprobe). */
  readonly retprobe?: boolean;
  /** Byte offset into the function (entry probes only). */
  readonly offset?: number;
  /** kretprobe: maximum concurrently pending instances (forces the tracefs path). */
  readonly maxactive?: number;
  /** Use tracefs `kprobe_events` even when the PMU exists. */
  readonly forceTracefs?: boolean;
}

/** The error every kprobe attach throws on a kernel built without CONFIG_KPROBES. */
export function kprobesDisabledError(): AttachNotSupportedError {
  return new AttachNotSupportedError('kprobes are not enabled in this kernel (CONFIG_KPROBES): there is no kprobe PMU and no kprobe_events in tracefs');
}

function knownSymbol(name: string): boolean | undefined {
  try {
    return KernelSymbols.load().has(name);
  } catch {
    return undefined;
  }
}

/** Attach a kprobe program to kernel function `symbol`. */
export function attachKprobe(prog: Fd, symbol: string, options: KprobeOptions = {}): Link {
  if (!probesAvailable('kprobe')) throw kprobesDisabledError();
  const retprobe = options.retprobe ?? false;
  const kind = retprobe ? 'kretprobe' : 'kprobe';
  if (retprobe && options.offset) throw new AttachError(`kretprobe on ${symbol}: an offset is only valid for entry probes`);
  let opened;
  try {
    opened = openProbe({ kind: 'kprobe', retprobe, target: symbol, offset: options.offset ?? 0, maxactive: options.maxactive, label: symbol, forceTracefs: options.forceTracefs });
  } catch (err) {
    if (err instanceof TracefsError || err instanceof AttachNotSupportedError) throw err;
    if (errnoIs(err, 'ENOENT', 'EINVAL', 'EADDRNOTAVAIL', 'EILSEQ')) {
      const known = knownSymbol(symbol);
      const why = known === false ? 'it is not in /proc/kallsyms' : 'it is inlined, notrace or on the kprobe blacklist';
      throw new AttachError(`function ${symbol} is not traceable: ${why} (${(err as { errnoName: string }).errnoName})`, { cause: err });
    }
    throw explainAttachError(err, `${kind} on ${symbol}`);
  }
  return attachPerfEventFd(kind, prog, opened.fd, options, opened.event ? [() => opened.event?.remove()] : []);
}

/** Options of {@link attachKprobeMulti}. */
export interface KprobeMultiOptions {
  /** Exact function names. */
  readonly symbols?: readonly string[];
  /** A glob (`*`, `?`) matched against tracefs `available_filter_functions`. */
  readonly pattern?: string;
  /** Kernel addresses instead of names. */
  readonly addresses?: readonly bigint[];
  /** One bpf_cookie per target. */
  readonly cookies?: readonly bigint[];
  /** Probe returns. */
  readonly retprobe?: boolean;
}

function globToRegExp(glob: string): RegExp {
  return new RegExp('^' + glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$');
}

/** Functions in `available_filter_functions` matching `pattern`. */
export function matchTraceableFunctions(pattern: string): string[] {
  const re = globToRegExp(pattern);
  const text = readFileSync(`${tracefsRoot()}/available_filter_functions`, 'latin1');
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const name = line.split(/\s/, 1)[0];
    if (name && re.test(name)) out.add(name);
  }
  return [...out];
}

/**
 * Attach a program loaded with expected attach type BPF_TRACE_KPROBE_MULTI to many functions at once
 * (one bpf_link, kernel 5.18+ with CONFIG_FPROBE).
 */
export function attachKprobeMulti(prog: Fd, options: KprobeMultiOptions): BpfLink {
  const given = [options.symbols, options.pattern, options.addresses].filter((x) => x !== undefined).length;
  if (given !== 1) throw new AttachError('kprobe_multi: give exactly one of symbols, pattern or addresses');
  if (!probesAvailable('kprobe')) throw kprobesDisabledError();
  // A pattern without wildcards names one function: pass it through as a symbol. ftrace lists only
  // one name per address, so an alias (`__x64_sys_getppid` sharing `__do_sys_getppid`'s address on
  // 6.12+) would not match the list although the kernel resolves it.
  const literal = options.pattern !== undefined && !/[*?]/.test(options.pattern);
  const syms = literal ? [options.pattern as string] : options.pattern !== undefined ? matchTraceableFunctions(options.pattern) : options.symbols ? [...options.symbols] : undefined;
  if (syms && syms.length === 0) throw new AttachError(`kprobe_multi: no traceable function matches ${options.pattern ?? '(empty list)'}`);
  const what = options.pattern ?? `${syms?.length ?? options.addresses?.length} functions`;
  try {
    const fd = linkCreate({
      progFd: prog,
      attachType: BPF_ATTACH_TYPE.TRACE_KPROBE_MULTI,
      kprobeMulti: { syms, addrs: options.addresses ? [...options.addresses] : undefined, cookies: options.cookies ? [...options.cookies] : undefined, flags: options.retprobe ? BPF_F_KPROBE_MULTI_RETURN : 0 },
    });
    return new BpfLink(options.retprobe ? 'kretprobe_multi' : 'kprobe_multi', fd);
  } catch (err) {
    if (errnoIs(err, 'EOPNOTSUPP', 'ENOTSUPP')) throw new AttachNotSupportedError('kprobe_multi links are not supported by this kernel (needs 5.18+ with CONFIG_FPROBE)', { cause: err });
    if (errnoIs(err, 'ESRCH', 'ENOENT')) throw new AttachError(`kprobe_multi on ${what}: a function is not traceable (${(err as { errnoName: string }).errnoName})`, { cause: err });
    throw explainAttachError(err, `kprobe_multi on ${what}`);
  }
}
