/**
 * Test helpers: real child processes that make known capability checks, with a name (comm) of our
 * choosing so a trace can be filtered to them. A child sets its comm with prctl(PR_SET_NAME) and
 * then waits for a line on stdin, so the test can start tracing (knowing its pid and mount
 * namespace) before the child acts. BPF programs run synchronously inside the syscall, so once the
 * child has exited its events are in the buffer: closing the trace then drains them all — no sleeps,
 * no timed assertions.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { linkGetNextId, progGetNextId } from '@tsbpf/loader';

/** A python3 that unprivileged users can run too (not one under /root). */
export const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** True when python3 runs here. */
export const HAVE_PYTHON = spawnSync(PYTHON, ['-c', 'pass']).status === 0;

/** True when `setpriv` can drop to nobody. */
export const HAVE_SETPRIV = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'true']).status === 0;

/** True when `unshare -m` works (root in the initial namespaces). */
export const HAVE_UNSHARE = spawnSync('unshare', ['-m', 'true']).status === 0;

let counter = 0;

/** A fresh task name (at most 15 bytes): `tsbpf<pid%10000>_<n>`. */
export function uniqueComm(tag = 't'): string {
  counter++;
  return `${tag}${process.pid % 10000}_${counter}`.slice(0, 15);
}

/** Python statements for the actions tests need. */
export const ACTIONS = {
  rawSocket: 'import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()',
  nice: 'import os\ntry:\n    os.setpriority(os.PRIO_PROCESS, 0, -5)\nexcept PermissionError:\n    pass',
  kallsyms: 'open("/proc/kallsyms").read(4096)',
} as const;

/** Source of a child: set comm, wait for "go", run `body`, then (with `hold`) say "acted" and wait for end of input, exit. */
function script(comm: string, body: string, hold: boolean): string {
  return [
    'import ctypes, sys',
    `ctypes.CDLL(None).prctl(15, ${JSON.stringify(comm)}.encode(), 0, 0, 0)`,
    'sys.stdout.write("ready\\n"); sys.stdout.flush()',
    'sys.stdin.readline()',
    body,
    ...(hold ? ['sys.stdout.write("acted\\n"); sys.stdout.flush()', 'sys.stdin.read()'] : []),
  ].join('\n');
}

/** A waiting child. */
export interface Child {
  readonly pid: number;
  readonly proc: ChildProcessWithoutNullStreams;
  /** Let it act; resolves with its exit code once it has exited. */
  go(): Promise<number | null>;
  /** For a child started with `hold`: let it act, resolve once it has (it stays alive). */
  act(): Promise<void>;
  /** For a held child: let it exit; resolves with its exit code. */
  release(): Promise<number | null>;
  /** Kill it if still running. */
  kill(): void;
}

/**
 * Start a python child that names itself `comm` and waits. `wrapper` is prepended to the command
 * (e.g. `['setpriv', '--reuid=65534', …]` or `['unshare', '-m']`); it must exec python in place so
 * the pid stays the same. Resolves once the child has named itself.
 */
export async function startChild(comm: string, body: string, wrapper: readonly string[] = [], options: { hold?: boolean } = {}): Promise<Child> {
  const argv = [...wrapper, PYTHON, '-c', script(comm, body, options.hold ?? false)];
  const proc = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  let out = '';
  const seen: { text: string; resolve: () => void }[] = [];
  proc.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    for (const w of seen.splice(0)) {
      if (out.includes(w.text)) w.resolve();
      else seen.push(w);
    }
  });
  const line = (text: string): Promise<void> =>
    new Promise((resolve) => {
      if (out.includes(text)) resolve();
      else seen.push({ text, resolve });
    });
  await new Promise<void>((resolve, reject) => {
    void line('ready\n').then(resolve);
    proc.on('error', reject);
    void exited.then((code) => reject(new Error(`child ${argv.join(' ')} exited (${code}) before it was ready: ${stderr}`)));
  });
  const pid = proc.pid;
  if (pid === undefined) throw new Error('child has no pid');
  return {
    pid,
    proc,
    go: async () => {
      proc.stdin.end('go\n');
      const code = await exited;
      if (code !== 0) throw new Error(`child ${comm} exited with ${code}: ${stderr}`);
      return code;
    },
    act: async () => {
      proc.stdin.write('go\n');
      await Promise.race([line('acted\n'), exited.then((code) => Promise.reject(new Error(`child ${comm} exited (${code}): ${stderr}`)))]);
    },
    release: async () => {
      proc.stdin.end();
      return exited;
    },
    kill: () => {
      if (proc.exitCode === null) proc.kill('SIGKILL');
    },
  };
}

/** Ids enumerated by a `*GetNextId` function. */
export function listIds(next: (start: number) => number | undefined): Set<number> {
  const ids = new Set<number>();
  let id = 0;
  for (;;) {
    const n = next(id);
    if (n === undefined) return ids;
    ids.add(n);
    id = n;
  }
}

/** Every loaded program and link id in the system. */
export function bpfIds(): { progs: Set<number>; links: Set<number> } {
  return { progs: listIds(progGetNextId), links: listIds(linkGetNextId) };
}

/** Program, link and map ids held by the fds of process `pid` (from /proc/<pid>/fdinfo). */
export function bpfIdsOfProcess(pid: number | 'self'): { progs: Set<number>; links: Set<number>; maps: Set<number> } {
  const progs = new Set<number>();
  const links = new Set<number>();
  const maps = new Set<number>();
  const dir = `/proc/${pid}/fdinfo`;
  for (const fd of readdirSync(dir)) {
    let text: string;
    try {
      text = readFileSync(`${dir}/${fd}`, 'latin1');
    } catch {
      continue;
    }
    const p = /^prog_id:\s*(\d+)/m.exec(text);
    if (p) progs.add(Number(p[1]));
    const l = /^link_id:\s*(\d+)/m.exec(text);
    if (l) links.add(Number(l[1]));
    const m = /^map_id:\s*(\d+)/m.exec(text);
    if (m) maps.add(Number(m[1]));
  }
  return { progs, links, maps };
}
