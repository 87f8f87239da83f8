/**
 * tracefs: where tracepoint ids live and where legacy kprobe/uprobe events are created when the kernel
 * has no kprobe/uprobe PMU. Probe events we create are named `tsbpf_<pid>_<n>_<symbol>` so that a later
 * run can recognise and remove the ones a crashed process left behind, and they are removed on close
 * and, as a last resort, when this process exits.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, existsSync, readFileSync, statSync, writeFileSync, constants as fsConstants } from 'node:fs';
import { TsbpfError, NotSupportedError } from '../errors.js';
import { readPseudoFile } from '../pseudofile.js';

/** tracefs is missing, cannot be mounted, or rejected a write. */
export class TracefsError extends TsbpfError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TRACEFS', message, options);
  }
}

const CANDIDATES = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];
let root: string | undefined;

function isTracefs(dir: string): boolean {
  try {
    return statSync(`${dir}/events`).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The tracefs mount point. When none is mounted, mounts tracefs at `/sys/kernel/tracing` (what the
 * kernel documents and what root normally may do), and throws {@link TracefsError} if that fails.
 */
export function tracefsRoot(): string {
  if (root && isTracefs(root)) return root;
  for (const c of CANDIDATES) {
    if (isTracefs(c)) return (root = c);
  }
  if (existsSync(CANDIDATES[0])) {
    try {
      execFileSync('mount', ['-t', 'tracefs', 'nodev', CANDIDATES[0]], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (cause) {
      const stderr = (cause as { stderr?: Buffer }).stderr?.toString().trim();
      throw new TracefsError(`tracefs is not mounted and mounting it at ${CANDIDATES[0]} failed${stderr ? `: ${stderr}` : ''} (needs CAP_SYS_ADMIN)`, { cause });
    }
    if (isTracefs(CANDIDATES[0])) return (root = CANDIDATES[0]);
  }
  throw new TracefsError('tracefs is not available: neither /sys/kernel/tracing nor /sys/kernel/debug/tracing has an events/ directory (CONFIG_FTRACE?)');
}

/** A tracepoint category or name must not contain path separators or dots that would escape events/. */
function checkComponent(what: string, s: string): void {
  if (!/^[A-Za-z0-9_\-.:]+$/.test(s) || s === '.' || s === '..') throw new TracefsError(`invalid tracepoint ${what} ${JSON.stringify(s)}`);
}

/** The perf id of tracepoint `category:name`, from `events/<category>/<name>/id`. */
export function tracepointId(category: string, name: string): number {
  checkComponent('category', category);
  checkComponent('name', name);
  const path = `${tracefsRoot()}/events/${category}/${name}/id`;
  let text: string;
  try {
    text = readPseudoFile(path);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new TracefsError(`tracepoint ${category}/${name} does not exist in this kernel (no ${path})`, { cause });
    }
    throw new TracefsError(`cannot read ${path}: ${(cause as Error).message}`, { cause });
  }
  const id = Number.parseInt(text.trim(), 10);
  if (!Number.isInteger(id) || id < 0) throw new TracefsError(`${path} holds ${JSON.stringify(text.trim())}, not a tracepoint id`);
  return id;
}

/** Which legacy probe file an event lives in. */
export type ProbeEventKind = 'kprobe' | 'uprobe';

/** A `kprobe_events`/`uprobe_events` entry created by this process. Remove it with {@link ProbeEvent.remove}. */
export interface ProbeEvent {
  readonly kind: ProbeEventKind;
  /** Event group (`kprobes` / `uprobes`). */
  readonly group: string;
  /** Event name, `tsbpf_<pid>_<n>_<symbol>`. */
  readonly name: string;
  /** Its tracepoint id, for perf_event_open(PERF_TYPE_TRACEPOINT). */
  readonly id: number;
  /** Deletes the event; idempotent. */
  remove(): void;
}

const PREFIX = 'tsbpf_';
let counter = 0;
const live = new Set<ProbeEvent>();
let exitHookInstalled = false;
const cleanedKinds = new Set<ProbeEventKind>();

function eventsFile(kind: ProbeEventKind): string {
  return `${tracefsRoot()}/${kind}_events`;
}

/** True when tracefs offers `kprobe_events` / `uprobe_events` (legacy probe creation). */
export function hasProbeEventsFile(kind: ProbeEventKind): boolean {
  try {
    accessSync(eventsFile(kind), fsConstants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function sanitize(symbol: string): string {
  return symbol.replace(/[^A-Za-z0-9_]/g, '_');
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

function pidAlive(pid: number): boolean {
  return existsSync(`/proc/${pid}`);
}

function writeEvents(kind: ProbeEventKind, line: string): void {
  // O_APPEND: writing without it would clear every other probe in the file.
  writeFileSync(eventsFile(kind), line + '\n', { flag: 'a' });
}

/**
 * Removes `tsbpf_<pid>_*` probe events whose process no longer exists (a previous run that crashed).
 * Returns how many were removed. Runs automatically before the first legacy probe of each kind.
 */
export function removeStaleProbeEvents(kind: ProbeEventKind): number {
  let text: string;
  try {
    text = readFileSync(eventsFile(kind), 'latin1');
  } catch {
    return 0;
  }
  let removed = 0;
  for (const line of text.split('\n')) {
    // "p:kprobes/tsbpf_123_0_do_sys_open do_sys_open" or "r10:uprobes/tsbpf_… /bin/sh:0x…"
    const m = /^[a-z0-9]+:([^/\s]+)\/(tsbpf_(\d+)_\d+_\S*)/.exec(line);
    if (!m) continue;
    const pid = Number(m[3]);
    if (pid === process.pid || pidAlive(pid)) continue;
    try {
      writeEvents(kind, `-:${m[1]}/${m[2]}`);
      removed++;
    } catch {
      // Still in use by someone (a leaked perf event of a live process in another pid namespace): leave it.
    }
  }
  return removed;
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const e of [...live]) {
      try {
        e.remove();
      } catch {
        // The process is exiting; nothing more can be done.
      }
    }
  });
}

/** What to probe with a legacy event. */
export interface ProbeEventSpec {
  readonly kind: ProbeEventKind;
  /** Return probe (`r`) instead of entry (`p`). */
  readonly retprobe: boolean;
  /** kprobe: kernel symbol; uprobe: the binary's path. */
  readonly target: string;
  /** kprobe: offset into the symbol; uprobe: file offset of the probed instruction. */
  readonly offset: number;
  /** kretprobe only: how many instances may be pending at once (`r<N>:`). */
  readonly maxactive?: number;
  /** uprobe only: offset of a USDT semaphore (reference counter) in the file. */
  readonly refCtrOffset?: number;
  /** Used to make the event name readable: the symbol name. */
  readonly label: string;
}

/** Create a legacy probe event through `kprobe_events`/`uprobe_events`. */
export function createProbeEvent(spec: ProbeEventSpec): ProbeEvent {
  const file = eventsFile(spec.kind);
  if (!hasProbeEventsFile(spec.kind)) {
    throw new NotSupportedError(`${spec.kind}s (no perf ${spec.kind} PMU and no ${file})`);
  }
  if (!cleanedKinds.has(spec.kind)) {
    cleanedKinds.add(spec.kind);
    removeStaleProbeEvents(spec.kind);
  }
  const group = spec.kind === 'kprobe' ? 'kprobes' : 'uprobes';
  // Event names are limited to 64 bytes (MAX_EVENT_NAME_LEN) including the terminator.
  const name = `${PREFIX}${process.pid}_${counter++}_${sanitize(spec.label)}`.slice(0, 63);
  let type: string = spec.retprobe ? 'r' : 'p';
  if (spec.retprobe && spec.maxactive !== undefined && spec.maxactive > 0) type += String(spec.maxactive);
  let where: string;
  if (spec.kind === 'kprobe') {
    where = spec.offset ? `${spec.target}+${spec.offset}` : spec.target;
  } else {
    if (/\s/.test(spec.target)) throw new TracefsError(`uprobe path ${JSON.stringify(spec.target)} contains whitespace, which uprobe_events cannot express`);
    where = `${spec.target}:0x${spec.offset.toString(16)}`;
    if (spec.refCtrOffset) where += `(0x${spec.refCtrOffset.toString(16)})`;
  }
  try {
    writeEvents(spec.kind, `${type}:${group}/${name} ${where}`);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (spec.kind === 'kprobe' && (code === 'ENOENT' || code === 'EINVAL')) {
      throw new TracefsError(`function ${spec.target} is not traceable (${file} rejected it with ${code}; see ${tracefsRoot()}/available_filter_functions)`, { cause });
    }
    throw new TracefsError(`creating ${spec.kind} event for ${spec.label} in ${file} failed: ${(cause as Error).message}`, { cause });
  }
  let removed = false;
  let event: ProbeEvent | undefined;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    if (event) live.delete(event);
    // The perf event using it is released asynchronously after close(); EBUSY means "not yet".
    for (let attempt = 0; ; attempt++) {
      try {
        writeEvents(spec.kind, `-:${group}/${name}`);
        return;
      } catch (cause) {
        if ((cause as NodeJS.ErrnoException).code === 'EBUSY' && attempt < 50) {
          sleepSync(2);
          continue;
        }
        throw new TracefsError(`removing ${spec.kind} event ${group}/${name} failed: ${(cause as Error).message}`, { cause });
      }
    }
  };
  let id: number;
  try {
    id = tracepointId(group, name);
  } catch (err) {
    remove();
    throw err;
  }
  event = { kind: spec.kind, group, name, id, remove };
  live.add(event);
  installExitHook();
  return event;
}

/** Names of the legacy probe events this process currently owns (for tests and diagnostics). */
export function liveProbeEvents(): readonly string[] {
  return [...live].map((e) => `${e.group}/${e.name}`);
}
