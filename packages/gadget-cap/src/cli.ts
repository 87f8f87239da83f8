/**
 * `trace-capabilities`: every capability check the kernel makes, as a table, JSON lines, or a
 * least-privilege profile. Events go to stdout; everything else (strategy, warnings, lost events,
 * the readiness line) goes to stderr, so stdout stays machine-readable.
 *
 * Built as a CommonJS bundle (dist/cli-bundle.cjs) that the bin (src/bin.ts, dist/cli.cjs) runs with
 * a V8 code cache; `node dist/cli-bundle.cjs` also runs it, without the cache.
 */
import { realpathSync, writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ColumnsRenderer, TsbpfError, formatJson, formatJsonLine, kernelBtfMemoStats, kernelBtfParsed, sanitizeForTerminal } from '@tsbpf/loader';
import { CAPABILITY_COLUMNS, columnPath, normalizeFields } from './columns.js';
import type { CapabilityEvent } from './event.js';
import { CapabilityProfile, renderProfileText } from './profile.js';
import { MISSED_RUNS_MEANING, checkProgramMisses, consequentialMisses, describeMissedRuns } from './missed.js';
import { parseAttachStrategy } from './strategy.js';
import { traceCapabilitiesAsync, type CapabilityTrace, type TraceCapabilitiesOptions } from './trace.js';

const HELP = `Usage: trace-capabilities [options]

Trace every capability check the kernel makes (cap_capable): which capability, whether the
task had it, whether it is audited, and the syscall that caused it. Needs root (or CAP_BPF and
CAP_PERFMON) and a kernel with BTF.

Filters:
  --pid <pid>              only this process (thread group id)
  --tid <tid>              only this thread
  --uid <uid>              only tasks with this uid
  --gid <gid>              only tasks with this gid
  --comm <name>            only tasks with this exact name
  --mntns <id|pid:N>       only these mount namespaces (repeatable, or comma-separated);
                           pid:N means the mount namespace of process N
  --audit-only             only checks the kernel audits (kprobe/fentry strategies)
  --unique                 report each capability once per mount namespace
  --include-self           also report this tracer's own checks (hidden by default)

Collection:
  --collect-kstack         collect kernel stacks (default)
  --no-collect-kstack      do not collect kernel stacks
  --collect-ustack         collect user stacks
  --attach <strategy>      fentry, kprobe or tracepoint (default: best available)
  --output <kind>          ringbuf or perf (default: ring buffer when available)

Output:
  -o, --output-format <f>  columns (default), json (one object per line) or json-pretty
  --fields <a,b,c>         columns to show (default: comm,pid,tid,capable,audit,cap,syscall);
                           +x,-y adds to / removes from the default. Also: timestamp, uid, gid,
                           pcomm, ppid, mntns_id, current_userns, target_userns, insetid,
                           cap_effective, kstack, ustack
  --profile                print no events; at exit, print per process and per mount namespace
                           which capabilities were checked, granted and denied, and the
                           least-privilege set (--cap-drop/--cap-add, Kubernetes securityContext)
  --timings                after the readiness line, print how long each start phase took and
                           how the kernel-BTF lookups and CO-RE relocations were served
                           (remembered from an earlier run of this boot, or searched)

Stopping:
  --timeout <seconds>      stop after this long
  --max-events <n>         stop after n events
  Ctrl-C / SIGTERM         stop; every program and map is released

  -h, --help               this help
`;

/** A command-line mistake: exit code 2 with the message and a pointer to --help. */
class UsageError extends TsbpfError {
  constructor(message: string) {
    super('USAGE', message);
  }
}

function intArg(name: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`--${name}: '${text}' is not a non-negative integer`);
  const n = Number(text.trim());
  if (n < min || n > max) throw new UsageError(`--${name}: ${n} is out of range (${min}..${max})`);
  return n;
}

interface CliConfig {
  trace: TraceCapabilitiesOptions;
  format: 'columns' | 'json' | 'json-pretty';
  fields: string[] | undefined;
  profile: boolean;
  timings: boolean;
}

function parse(argv: readonly string[]): CliConfig | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      help: { type: 'boolean', short: 'h' },
      'audit-only': { type: 'boolean' },
      unique: { type: 'boolean' },
      'collect-kstack': { type: 'boolean' },
      'no-collect-kstack': { type: 'boolean' },
      'collect-ustack': { type: 'boolean' },
      'include-self': { type: 'boolean' },
      'no-collect-ustack': { type: 'boolean' },
      pid: { type: 'string' },
      tid: { type: 'string' },
      uid: { type: 'string' },
      gid: { type: 'string' },
      comm: { type: 'string' },
      mntns: { type: 'string', multiple: true },
      timeout: { type: 'string' },
      'max-events': { type: 'string' },
      attach: { type: 'string' },
      output: { type: 'string' },
      'output-format': { type: 'string', short: 'o' },
      fields: { type: 'string' },
      profile: { type: 'boolean' },
      timings: { type: 'boolean' },
    },
  });
  if (values.help) return 'help';
  if (values['collect-kstack'] && values['no-collect-kstack']) throw new UsageError('--collect-kstack and --no-collect-kstack contradict each other');
  const format = values['output-format'] ?? 'columns';
  if (format !== 'columns' && format !== 'json' && format !== 'json-pretty') throw new UsageError(`-o: '${format}' is not one of columns, json, json-pretty`);
  const output = values.output;
  if (output !== undefined && output !== 'ringbuf' && output !== 'perf' && output !== 'auto') throw new UsageError(`--output: '${output}' is not one of ringbuf, perf (for the output format, use -o)`);
  let attach: TraceCapabilitiesOptions['attach'];
  try {
    attach = values.attach === undefined ? 'auto' : parseAttachStrategy(values.attach);
  } catch (err) {
    throw new UsageError(`--attach: ${(err as Error).message}`);
  }
  const mntns: bigint[] = [];
  const mntnsOfPid: number[] = [];
  for (const entry of (values.mntns ?? []).flatMap((m) => m.split(','))) {
    const e = entry.trim();
    if (e === '') continue;
    const m = /^pid:(\d+)$/.exec(e);
    if (m) mntnsOfPid.push(Number(m[1]));
    else if (/^\d+$/.test(e)) mntns.push(BigInt(e));
    else throw new UsageError(`--mntns: '${e}' is neither a mount namespace id nor pid:<pid>`);
  }
  let timeoutMs: number | undefined;
  if (values.timeout !== undefined) {
    const s = Number(values.timeout);
    if (!Number.isFinite(s) || s < 0) throw new UsageError(`--timeout: '${values.timeout}' is not a number of seconds`);
    timeoutMs = Math.round(s * 1000);
  }
  return {
    trace: {
      auditOnly: values['audit-only'] ?? false,
      unique: values.unique ?? false,
      collectKstack: !values['no-collect-kstack'],
      collectUstack: (values['collect-ustack'] ?? false) && !values['no-collect-ustack'],
      includeSelf: values['include-self'] ?? false,
      pid: intArg('pid', values.pid, 1, 0x7fffffff),
      tid: intArg('tid', values.tid, 1, 0x7fffffff),
      uid: intArg('uid', values.uid, 0, 0xfffffffe),
      gid: intArg('gid', values.gid, 0, 0xfffffffe),
      comm: values.comm,
      mntns,
      mntnsOfPid,
      attach,
      output: (output ?? 'auto') as TraceCapabilitiesOptions['output'],
      maxEvents: intArg('max-events', values['max-events'], 1, Number.MAX_SAFE_INTEGER),
      timeoutMs,
    },
    format,
    fields: values.fields === undefined ? undefined : normalizeFields(values.fields),
    profile: values.profile ?? false,
    timings: values.timings ?? false,
  };
}

/**
 * Writes to stderr with writeSync on fd 2. Creating `process.stderr` loads Node's stream and net
 * modules (3–9 ms when stderr is a pipe), on the way to the readiness line that needs none of
 * them. Anything that fd 2 refuses (a non-blocking pipe that is full, a closed fd) goes through
 * `process.stderr`; Node writes stderr synchronously on Linux, so lines keep their order.
 */
function errText(text: string): void {
  let rest = Buffer.from(text);
  try {
    while (rest.length > 0) rest = rest.subarray(writeSync(2, rest));
    return;
  } catch {
    // handed to the stream below
  }
  process.stderr.write(rest);
}

function warn(message: string): void {
  errText(`trace-capabilities: warning: ${sanitizeForTerminal(message)}\n`);
}

function info(message: string): void {
  errText(`trace-capabilities: ${message}\n`);
}

/** What `out` does when stdout goes away (EPIPE: the reader left). */
let onStdoutGone: () => void = () => {};
let stdoutGone = false;
let stdoutWatched = false;
/** Writes to stdout, until stdout is gone. `process.stdout` is created on first use, after the start. */
function out(text: string): void {
  if (stdoutGone) return;
  if (!stdoutWatched) {
    stdoutWatched = true;
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') {
        stdoutGone = true;
        onStdoutGone();
      }
    });
  }
  process.stdout.write(text);
}

/**
 * How events are printed: an optional header (printed once attached), one call per event, and
 * whether any stack reaches the output.
 */
interface EventPrinter {
  header?: string;
  print: (e: CapabilityEvent) => void;
  /**
   * Some output shows stack frames, so they must be named. When none does, symbolizing would only
   * load the kernel symbol table (about 120k entries: time and tens of MB) for nothing.
   */
  showsStacks: boolean;
}

const isStackPath = (path: string): boolean => path === 'kstack' || path === 'ustack' || path.startsWith('kstack.') || path.startsWith('ustack.');

function makeEventPrinter(cfg: CliConfig): EventPrinter {
  // The profile tells no-audit checks apart by kernel stack frame names.
  if (cfg.profile) return { print: () => {}, showsStacks: true };
  if (cfg.format === 'columns') {
    const r = new ColumnsRenderer(CAPABILITY_COLUMNS, { fields: cfg.fields });
    return { header: `${r.header()}\n`, print: (e) => out(`${r.row(e)}\n`), showsStacks: r.columns.some((c) => isStackPath(c.path)) };
  }
  const paths = cfg.fields?.filter((f) => !f.startsWith('+') && !f.startsWith('-')).map(columnPath);
  const fields = paths && paths.length > 0 ? paths : undefined;
  const showsStacks = fields === undefined || fields.some(isStackPath);
  if (cfg.format === 'json') return { print: (e) => out(formatJsonLine(e, { fields })), showsStacks };
  return { print: (e) => out(`${formatJson(e, { pretty: true, fields })}\n`), showsStacks };
}

/** Callbacks of {@link main} for the program that runs it. */
export interface MainHooks {
  /** Called once, right after the readiness line: every program attached, the buffer ready. */
  onReady?: () => void;
}

/** Runs the CLI; resolves to the exit code. */
export async function main(argv: readonly string[] = process.argv.slice(2), hooks: MainHooks = {}): Promise<number> {
  let cfg: CliConfig | 'help';
  try {
    cfg = parse(argv);
  } catch (err) {
    errText(`trace-capabilities: ${(err as Error).message}\nTry 'trace-capabilities --help'.\n`);
    return 2;
  }
  if (cfg === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  let trace: CapabilityTrace | undefined;
  onStdoutGone = () => trace?.close();

  let printer: EventPrinter;
  try {
    // Before loading: an unknown --fields name fails here, not after attaching.
    printer = makeEventPrinter(cfg);
  } catch (err) {
    errText(`trace-capabilities: ${(err as Error).message}\n`);
    return 2;
  }

  // Installed before the load, which runs off the event loop's thread: Ctrl-C or SIGTERM during it
  // stops the load (everything created so far is released) instead of waiting for it; afterwards
  // the same signal closes the trace.
  const ac = new AbortController();
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  const unhook = (): void => {
    for (const s of signals) process.off(s, stop);
  };
  const stop = stopOnSignal(ac, (sig) => {
    unhook();
    process.kill(process.pid, sig);
  });
  for (const s of signals) process.on(s, stop);
  let stoppedAt = 0;
  ac.signal.addEventListener('abort', () => {
    stoppedAt = Date.now();
  });
  try {
    trace = await traceCapabilitiesAsync({ ...cfg.trace, signal: ac.signal, symbolize: printer.showsStacks, onWarning: warn });
  } catch (err) {
    if (ac.signal.aborted && err === ac.signal.reason) {
      info('stopped before tracing started; nothing was left loaded');
      await settleAfterSignal(stoppedAt);
      unhook();
      return 0;
    }
    unhook();
    errText(`trace-capabilities: error: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  const t = trace;
  info(`attached with the ${t.strategy} strategy (${t.objectPath.split('/').pop() ?? t.objectPath}), output through the ${t.output === 'ringbuf' ? 'ring buffer' : 'perf buffer'}`);
  info(`tracing capability checks (${t.strategy}, ${t.output})… press Ctrl-C to stop`);
  hooks.onReady?.();
  if (cfg.timings) {
    const st = t.startTimings;
    const l = st.load;
    const phases = `maps ${l.maps.toFixed(1)}, CO-RE and linking ${l.relocate.toFixed(1)}, program loads ${l.programs.toFixed(1)}, object BTF ${l.objectBtf.toFixed(1)}`;
    info(`start timings (ms): strategy ${st.strategyMs.toFixed(1)}, parse object ${st.parseMs.toFixed(1)}, load+attach ${st.loadAttachMs.toFixed(1)} (${phases}), total ${st.totalMs.toFixed(1)}`);
    const memo = kernelBtfMemoStats();
    info(
      memo === undefined
        ? 'kernel BTF lookups: not remembered across runs (no cache directory, or TSBPF_CACHE_DIR= turned it off)'
        : `kernel BTF lookups: ${memo.hits} remembered from an earlier run of this boot, ${memo.misses} searched; CO-RE relocations: ${memo.outcomeHits} remembered, ${memo.outcomeMisses} resolved; kernel BTF ${kernelBtfParsed() ? 'parsed' : 'not parsed'} (memo file ${memo.state})`,
    );
  }
  // After the readiness line: the first stdout write creates process.stdout.
  if (printer.header) out(printer.header);

  let lastLost = 0n;
  let toldMissed = false;
  const lostTimer = setInterval(() => {
    if (t.closed) return;
    const lost = t.lost;
    if (lost > lastLost) warn(`${lost - lastLost} event(s) lost in the last second (${lost} in total)`);
    lastLost = lost;
    // Once, when it first happens; the total comes at exit.
    if (!toldMissed) {
      const missed = describeMissedRuns(consequentialMisses(t.missedRuns));
      if (missed) warn(`the kernel skipped ${missed} so far: ${MISSED_RUNS_MEANING}`);
      toldMissed = missed !== '';
    }
  }, 1000);

  // The handlers go when main() does, whatever the summary below throws (main() can be embedded).
  try {
    const profile = cfg.profile ? new CapabilityProfile() : undefined;
    let code = 0;
    try {
      for await (const e of t) {
        profile?.add(e);
        printer.print(e);
      }
    } catch (err) {
      errText(`trace-capabilities: error while reading events: ${err instanceof Error ? err.message : String(err)}\n`);
      code = 1;
    } finally {
      clearInterval(lostTimer);
      t.close();
    }
    const lost = t.lost;
    if (lost > 0n) warn(`${lost} event(s) lost in total`);
    const missedTotal = describeMissedRuns(consequentialMisses(t.missedRuns));
    if (missedTotal) warn(`the kernel skipped ${missedTotal} in total: ${MISSED_RUNS_MEANING}`);
    if (profile) {
      const report = profile.report(lost, checkProgramMisses(t.missedRuns));
      if (cfg.format === 'columns') out(renderProfileText(report, sanitizeForTerminal));
      else out(`${formatJson(report, { pretty: cfg.format === 'json-pretty' })}\n`);
    }
    info(`detached after ${t.count} event(s)`);
    return code;
  } finally {
    if (ac.signal.aborted) await settleAfterSignal(stoppedAt);
    unhook();
  }
}

/**
 * After a stop by signal, the handlers stay installed until this long after the first signal: a
 * duplicate of the same Ctrl-C (npx forwards the terminal's SIGINT to a child that already got it)
 * landing while the process winds down is absorbed, instead of taking the default action during
 * the exit and ending the process by SIGINT after it stopped cleanly.
 */
const SIGNAL_SETTLE_MS = 100;

function settleAfterSignal(firstAt: number): Promise<void> {
  const left = SIGNAL_SETTLE_MS - (Date.now() - firstAt);
  return left > 0 ? new Promise((r) => setTimeout(r, left)) : Promise.resolve();
}

/**
 * The CLI's handler of SIGINT/SIGTERM/SIGHUP: the first aborts `ac` (stopping the load, or closing
 * the trace); one that comes a second or more later calls `force` (which lets the default action
 * end the process: a second Ctrl-C does not wait for a load or a close). One arriving sooner is the
 * same Ctrl-C: npx forwards the terminal's SIGINT to a child the terminal has already signalled.
 * @internal exported for tests
 */
export function stopOnSignal(ac: AbortController, force: (sig: NodeJS.Signals) => void, now: () => number = Date.now): (sig: NodeJS.Signals) => void {
  let firstAt = 0;
  return (sig) => {
    if (!ac.signal.aborted) {
      firstAt = now();
      ac.abort();
      return;
    }
    if (now() - firstAt >= 1000) force(sig);
  };
}

/** True when this module is the program node was started with (the bin), not an import. */
function isMain(): boolean {
  const invoked = process.argv[1];
  if (!invoked) return false;
  try {
    return realpathSync(invoked) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

/** Runs {@link main} as the program: its result becomes the exit code, an unexpected error is printed. */
export function runAsProgram(hooks: MainHooks = {}): void {
  main(process.argv.slice(2), hooks).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      errText(`trace-capabilities: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}

if (isMain()) runAsProgram();
