/**
 * Shared pieces of the hardening tests: kernel object inventories by id, child processes whose
 * output lines can be awaited, and the built entry points the children import.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { SyscallError } from '../../src/sys/errors.js';
import { linkGetFdById, linkGetNextId, mapGetFdById, mapGetNextId, progGetFdById, progGetNextId } from '../../src/sys/bpf.js';
import { progInfo, mapInfo } from '../../src/sys/info.js';
import { repoRoot } from '../testdata.js';

/** The loader's built entry (children import it; `npm test` builds first). */
export const LOADER_DIST = resolve(repoRoot, 'packages/loader/dist/index.js');
/** The trace-capabilities CLI. */
export const GADGET_CAP_CLI = resolve(repoRoot, 'packages/gadget-cap/dist/cli.cjs');
/** The child script running a gadget through GadgetRun. */
export const GADGET_CHILD = resolve(repoRoot, 'packages/loader/test/hardening/fixtures/gadget-child.mjs');
/** The tp_btf variant of the trace-capabilities object (the one this kernel can run). */
export const TP_OBJECT = resolve(repoRoot, 'bpf/gadgets/trace_capabilities_tp.bpf.o');

/** Whether the built loader exists; warns with the reason when not. */
export function haveDist(): boolean {
  if (existsSync(LOADER_DIST)) return true;
  console.warn(`skipped: ${LOADER_DIST} is missing (run npm run build); child processes import the built loader`);
  return false;
}

export type ObjectKind = 'prog' | 'map' | 'link';

const NEXT = { prog: progGetNextId, map: mapGetNextId, link: linkGetNextId };
const BY_ID = { prog: progGetFdById, map: mapGetFdById, link: linkGetFdById };

/** Every id of `kind` the kernel holds now. */
export function listIds(kind: ObjectKind): Set<number> {
  const out = new Set<number>();
  let id = 0;
  for (;;) {
    const next = NEXT[kind](id);
    if (next === undefined) return out;
    out.add(next);
    id = next;
  }
}

/** Whether the object with this id still exists. */
export function alive(kind: ObjectKind, id: number): boolean {
  try {
    BY_ID[kind](id).close();
    return true;
  } catch (e) {
    if (e instanceof SyscallError && e.errnoName === 'ENOENT') return false;
    throw e;
  }
}

/** Name of a live program or map (undefined when gone). */
export function objectName(kind: 'prog' | 'map', id: number): string | undefined {
  try {
    const fd = BY_ID[kind](id);
    try {
      return kind === 'prog' ? progInfo(fd).name : mapInfo(fd).name;
    } finally {
      fd.close();
    }
  } catch (e) {
    if (e instanceof SyscallError && e.errnoName === 'ENOENT') return undefined;
    throw e;
  }
}

/** Ids a child reported owning. */
export interface OwnedIds {
  progs: number[];
  maps: number[];
  links: number[];
}

/** Which of `ids` are still alive. */
export function survivors(ids: OwnedIds): string[] {
  return [
    ...ids.progs.filter((id) => alive('prog', id)).map((id) => `prog ${id} (${objectName('prog', id) ?? '?'})`),
    ...ids.maps.filter((id) => alive('map', id)).map((id) => `map ${id} (${objectName('map', id) ?? '?'})`),
    ...ids.links.filter((id) => alive('link', id)).map((id) => `link ${id}`),
  ];
}

/**
 * Poll `check` until it returns an empty list or `limitMs` passes; returns the last list.
 * The kernel frees maps and programs from a workqueue after the last reference goes, so "gone"
 * is eventually true, not instantly.
 */
export async function settle(check: () => string[], limitMs = 10_000): Promise<string[]> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const left = check();
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A child process whose stdout/stderr lines can be awaited. */
export class LineChild {
  readonly proc: ChildProcess;
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: (() => void)[] = [];

  constructor(cmd: string, args: readonly string[], options: SpawnOptions = {}) {
    this.proc = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], ...options });
    const feed = (stream: NodeJS.ReadableStream | null, into: string[]): void => {
      let buf = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          into.push(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
        }
        this.wake();
      });
      stream?.on('end', () => {
        if (buf) into.push(buf);
        buf = '';
        this.wake();
      });
    };
    feed(this.proc.stdout, this.stdout);
    feed(this.proc.stderr, this.stderr);
    this.exited = new Promise((res) => {
      this.proc.on('exit', (code, signal) => {
        this.wake();
        res({ code, signal });
      });
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** The first line of `stream` matching `re`, waiting up to `limitMs` (rejects with what was seen). */
  async line(stream: 'stdout' | 'stderr', re: RegExp, limitMs = 20_000): Promise<string> {
    const deadline = Date.now() + limitMs;
    for (;;) {
      const found = this[stream].find((l) => re.test(l));
      if (found !== undefined) return found;
      if (this.proc.exitCode !== null || this.proc.signalCode !== null || Date.now() > deadline) {
        throw new Error(`no ${stream} line matching ${re} (exit ${this.proc.exitCode ?? this.proc.signalCode}); stdout: ${this.stdout.slice(-5).join(' | ')}; stderr: ${this.stderr.slice(-10).join(' | ')}`);
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, 100);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Parsed JSON lines of stdout with `type === kind`. */
  messages<T = Record<string, unknown>>(kind: string): T[] {
    const out: T[] = [];
    for (const l of this.stdout) {
      if (!l.startsWith('{')) continue;
      try {
        const m = JSON.parse(l) as { type?: unknown };
        if (m.type === kind) out.push(m as T);
      } catch {
        // not one of ours
      }
    }
    return out;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
  }
}

/** Start the GadgetRun child (see fixtures/gadget-child.mjs) with a JSON config. */
export function gadgetChild(config: Record<string, unknown>, options: SpawnOptions = {}): LineChild {
  return new LineChild(process.execPath, [GADGET_CHILD, JSON.stringify({ dist: LOADER_DIST, object: TP_OBJECT, ...config })], options);
}

/** Run `python3 -c code`, resolve with its pid once it exited. */
export function python(code: string): Promise<number> {
  return new Promise((res, rej) => {
    const child = spawn('python3', ['-c', code], { stdio: 'ignore' });
    child.on('error', rej);
    child.on('exit', () => res(child.pid ?? -1));
  });
}

/**
 * The BPF objects a process holds, read from /proc/<pid>/fdinfo (`prog_id:`, `map_id:`, `link_id:`):
 * exactly what that process owns, whatever else runs on the machine.
 */
export function heldIds(pid: number): OwnedIds {
  const out: OwnedIds = { progs: [], maps: [], links: [] };
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fdinfo`);
  } catch {
    return out;
  }
  for (const fd of fds) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'latin1');
    } catch {
      continue;
    }
    const field = (name: string): number | undefined => {
      const m = new RegExp(`^${name}:\\s*(\\d+)$`, 'm').exec(text);
      return m ? Number(m[1]) : undefined;
    };
    const link = field('link_id');
    const prog = field('prog_id');
    const map = field('map_id');
    if (link !== undefined) out.links.push(link);
    else if (prog !== undefined) out.progs.push(prog);
    else if (map !== undefined) out.maps.push(map);
  }
  for (const k of ['progs', 'maps', 'links'] as const) out[k] = [...new Set(out[k])].sort((a, b) => a - b);
  return out;
}
