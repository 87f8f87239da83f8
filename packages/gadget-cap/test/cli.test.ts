/**
 * The built `trace-capabilities` CLI (dist/cli.cjs) as users run it: a separate process, stopped
 * with SIGINT, with real children making capability checks.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ACTIONS, HAVE_PYTHON, HAVE_SETPRIV, HAVE_UNSHARE, bpfIds, bpfIdsOfProcess, startChild, uniqueComm, type Child } from './helpers.js';

const CLI = fileURLToPath(new URL('../dist/cli.cjs', import.meta.url));

interface Cli {
  proc: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves once the readiness line is on stderr (rejects if the CLI exits first). */
  ready: Promise<void>;
  exit: Promise<number | null>;
}

const running: Cli[] = [];
const children: Child[] = [];
afterEach(() => {
  for (const c of running.splice(0)) if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
  for (const c of children.splice(0)) c.kill();
});

function startCli(args: readonly string[]): Cli {
  const proc = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString('latin1')));
  const exit = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const ready = new Promise<void>((resolve, reject) => {
    proc.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('press Ctrl-C to stop')) resolve();
    });
    void exit.then((code) => reject(new Error(`CLI exited (${code}) before it was ready:\n${err}`)));
  });
  ready.catch(() => {});
  const cli = { proc, stdout: () => out, stderr: () => err, ready, exit };
  running.push(cli);
  return cli;
}

/** Runs the CLI to completion (for commands that exit by themselves). */
function runCli(args: readonly string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function child(comm: string, body: string, wrapper: readonly string[] = []): Promise<Child> {
  const c = await startChild(comm, body, wrapper);
  children.push(c);
  return c;
}

/** Start the CLI, let the children act, stop it with SIGINT; returns its output. */
async function traceChildren(args: readonly string[], ...cs: Child[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cli = startCli(args);
  await cli.ready;
  for (const c of cs) await c.go();
  cli.proc.kill('SIGINT');
  const code = await cli.exit;
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}

async function waitUntil(cond: () => boolean): Promise<boolean> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}

// The bin's code cache goes to a directory of this test file, not to the user's ~/.cache.
const CACHE_DIR = mkdtempSync(join(tmpdir(), 'tsbpf-cli-cache-'));
const savedCacheDir = process.env.TSBPF_CACHE_DIR;
beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npm run build at the repository root)`);
  process.env.TSBPF_CACHE_DIR = CACHE_DIR;
});
afterAll(() => {
  if (savedCacheDir === undefined) delete process.env.TSBPF_CACHE_DIR;
  else process.env.TSBPF_CACHE_DIR = savedCacheDir;
  rmSync(CACHE_DIR, { recursive: true, force: true });
});

const run = it.skipIf(!HAVE_PYTHON);

describe('trace-capabilities CLI', () => {
  it('--help prints usage and exits 0', () => {
    const r = runCli(['--help']);
    expect(r.code).toBe(0);
    for (const opt of ['--audit-only', '--unique', '--no-collect-kstack', '--collect-ustack', '--mntns', '--fields', '--profile', '--attach', '--output', '--timeout', '--max-events']) {
      expect(r.stdout).toContain(opt);
    }
  });

  it('usage mistakes exit 2 with a message', () => {
    for (const [args, msg] of [
      [['--pid', 'abc'], /--pid: 'abc' is not a non-negative integer/],
      [['-o', 'xml'], /-o: 'xml' is not one of/],
      [['--output', 'json'], /--output: 'json' is not one of ringbuf, perf/],
      [['--attach', 'uprobe'], /unknown attach strategy 'uprobe'/],
      [['--mntns', 'pid:'], /--mntns: 'pid:' is neither/],
      [['--fields', 'comm,nope'], /unknown field "nope"/],
      [['--bogus'], /Unknown option '--bogus'/],
    ] as const) {
      const r = runCli(args);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(msg);
    }
  });

  it.skipIf(spawnSync('true').status !== 0)('an unavailable forced strategy exits 1 and says what to do', () => {
    const r = runCli(['--attach', 'kprobe', '--timeout', '0']);
    if (r.code === 0) {
      console.warn('kprobes work on this kernel: the unavailable-strategy message is not exercised');
      return;
    }
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot attach with 'kprobe'[\s\S]*What to do: use --attach/);
  });

  it.skipIf(!HAVE_SETPRIV)('without root it exits 1 and says how to run it', () => {
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/not running as root: missing CAP_BPF and CAP_PERFMON[\s\S]*run it as root \(sudo\), or grant CAP_BPF and CAP_PERFMON/);
    expect(r.stdout).toBe('');
  });

  it('writes its code cache once ready, and a corrupted cache changes nothing but the compile', async () => {
    rmSync(CACHE_DIR, { recursive: true, force: true });
    const first = startCli(['--comm', uniqueComm('cache')]);
    await first.ready;
    // Written on the turn after the readiness line: wait for it, then stop.
    expect(await waitUntil(() => existsSync(CACHE_DIR) && readdirSync(CACHE_DIR).some((f) => f.endsWith('.v8cache')))).toBe(true);
    first.proc.kill('SIGINT');
    expect(await first.exit).toBe(0);
    const [file] = readdirSync(CACHE_DIR).filter((f) => f.endsWith('.v8cache'));
    const path = join(CACHE_DIR, file);
    const good = readFileSync(path);
    const bad = Buffer.from(good);
    bad[bad.length >> 1] ^= 0xff;
    writeFileSync(path, bad);
    const second = startCli(['--comm', uniqueComm('cache')]);
    await second.ready;
    // Rewritten whole (checksummed) once ready again.
    expect(await waitUntil(() => !readFileSync(path).equals(bad))).toBe(true);
    second.proc.kill('SIGINT');
    expect(await second.exit).toBe(0);
    expect(second.stderr()).not.toMatch(/error|warning: (?!attach strategy)/);
  });

  run('stops by itself, exit 0, when the reader of its stdout goes away (EPIPE)', async () => {
    const comm = uniqueComm('epipe');
    const c = await child(comm, ACTIONS.rawSocket);
    const cli = startCli(['--comm', comm]);
    await cli.ready;
    cli.proc.stdout?.destroy();
    await c.go();
    // No signal: the event's write fails with EPIPE, which closes the trace and ends main.
    expect(await cli.exit).toBe(0);
    expect(cli.stderr()).toMatch(/detached after \d+ event\(s\)/);
  });

  run('JSON output: one object per line with the nested IG field names', async () => {
    const comm = uniqueComm('json');
    const c = await child(comm, `${ACTIONS.rawSocket}\n${ACTIONS.nice}`);
    const r = await traceChildren(['--comm', comm, '-o', 'json'], c);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n').filter((l) => l !== '');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    const events = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const required = ['timestamp', 'timestampNs', 'proc', 'current_userns', 'target_userns', 'cap_effective', 'cap', 'capable', 'audit', 'insetid', 'syscall'];
    for (const e of events) {
      for (const k of required) expect(e, k).toHaveProperty(k);
      for (const k of Object.keys(e)) expect([...required, 'kstack', 'ustack']).toContain(k);
      expect(e.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
      expect(e.timestampNs).toMatch(/^\d+$/);
      const proc = e.proc as Record<string, unknown>;
      expect(proc).toMatchObject({ comm, pid: c.pid, tid: c.pid, creds: { uid: 0, gid: 0 }, parent: { pid: expect.any(Number) } });
      expect(proc.mntns_id).toMatch(/^\d+$/);
      expect(e.current_userns).toMatch(/^\d+$/);
      expect(e.target_userns).toMatch(/^\d+$/);
      expect(e.cap).toMatch(/^CAP_[A-Z_]+$/);
      expect(typeof e.capable).toBe('boolean');
      expect(e.audit === null || typeof e.audit === 'boolean').toBe(true);
      expect(typeof e.syscall).toBe('string');
      expect(typeof e.cap_effective).toBe('string');
      if (e.kstack !== undefined) expect(Array.isArray(e.kstack)).toBe(true);
    }
    expect(events.some((e) => e.cap === 'CAP_NET_RAW' && e.syscall === 'SYS_SOCKET')).toBe(true);
    expect(events.some((e) => e.cap === 'CAP_SYS_NICE' && e.syscall === 'SYS_SETPRIORITY')).toBe(true);
    // stdout holds only events; the readiness line and strategy went to stderr.
    expect(r.stderr).toMatch(/tracing capability checks \((fentry|kprobe|tracepoint), (ringbuf|perf)\)… press Ctrl-C to stop/);
  });

  run('columns: default fields, and a hostile process name is escaped', async () => {
    const hostile = '\x1b[2J\x07evil\x1b]0;';
    const c = await child(hostile, ACTIONS.nice);
    const r = await traceChildren(['--pid', String(c.pid), '--timings'], c);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n').filter((l) => l !== '');
    expect(lines[0].split(/\s+/)).toEqual(['COMM', 'PID', 'TID', 'CAPABLE', 'AUDIT', 'CAP', 'SYSCALL']);
    // --timings: one stderr line after the readiness line, the phases adding up to the total.
    const t = /start timings \(ms\): strategy ([\d.]+), parse object ([\d.]+), load\+attach ([\d.]+) \(maps ([\d.]+), CO-RE and linking ([\d.]+), program loads ([\d.]+), object BTF ([\d.]+)\), total ([\d.]+)/.exec(r.stderr);
    expect(t, r.stderr).not.toBeNull();
    const [strategy, parse, loadAttach, maps, relocate, programs, objectBtf, total] = (t ?? []).slice(1).map(Number);
    expect(loadAttach).toBeGreaterThan(0);
    expect(Math.abs(strategy + parse + loadAttach - total)).toBeLessThan(0.5);
    // The load's phases are part of load+attach (each printed rounded: allow their rounding).
    expect(maps).toBeGreaterThan(0);
    expect(programs).toBeGreaterThan(0);
    expect(maps + relocate + programs + objectBtf).toBeLessThanOrEqual(loadAttach + 0.2);
    expect(r.stderr.indexOf('start timings')).toBeGreaterThan(r.stderr.indexOf('press Ctrl-C to stop'));
    // And how the kernel-BTF lookups were served (the strategy and CO-RE ask several).
    const m = /kernel BTF lookups: (\d+) remembered from an earlier run of this boot, (\d+) searched; CO-RE relocations: (\d+) remembered, (\d+) resolved; kernel BTF (parsed|not parsed) \(memo file (loaded|missing|stale|invalid)\)/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    const [lookups, outcomes] = [Number(m?.[1]) + Number(m?.[2]), Number(m?.[3]) + Number(m?.[4])];
    expect(lookups).toBeGreaterThan(0);
    expect(outcomes).toBeGreaterThan(3);
    // Everything remembered (earlier runs of this file share its cache directory): no parse of the kernel's BTF.
    if (Number(m?.[2]) === 0 && Number(m?.[4]) === 0) expect(m?.[5]).toBe('not parsed');
    const row = lines.find((l) => l.includes('CAP_SYS_NICE'));
    expect(row).toBeDefined();
    expect(row).toContain('SYS_SETPRIORITY');
    expect(row).toContain(String(c.pid));
    expect(row).toContain('\\x1b[2J');
    // No raw control character reaches the terminal.
    expect(r.stdout).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f]/);
  });

  run('--fields selects and orders columns (event paths accepted)', async () => {
    const comm = uniqueComm('fld');
    const c = await child(comm, ACTIONS.nice);
    const r = await traceChildren(['--comm', comm, '--fields', 'cap,proc.comm,uid,mntns_id'], c);
    const lines = r.stdout.split('\n').filter((l) => l !== '');
    expect(lines[0].split(/\s+/)).toEqual(['CAP', 'COMM', 'UID', 'MNTNS']);
    expect(lines.some((l) => /^CAP_SYS_NICE\s+\S+\s+0\s+\d+$/.test(l))).toBe(true);
  });

  run('kernel stacks are named when a column shows them, and left alone when none does', async () => {
    const comm = uniqueComm('kst');
    const c = await child(comm, ACTIONS.nice);
    const r = await traceChildren(['--comm', comm, '--fields', 'cap,kstack'], c);
    expect(r.code, r.stderr).toBe(0);
    const row = r.stdout.split('\n').find((l) => l.startsWith('CAP_SYS_NICE'));
    expect(row, r.stdout).toBeDefined();
    // A symbolized frame is name+0xoffset; an unsymbolized one is a bare address.
    expect(row).toMatch(/CAP_SYS_NICE\s+[A-Za-z_][\w.]*\+0x[0-9a-f]+/);
  });

  it.skipIf(!HAVE_PYTHON || !HAVE_UNSHARE)('--mntns pid:N and --unique', async () => {
    const comm = uniqueComm('cmnt');
    const twice = `${ACTIONS.nice}\n${ACTIONS.nice.replace('-5', '-6')}`;
    const inside = await child(comm, twice, ['unshare', '-m']);
    const outside = await child(comm, twice);
    const r = await traceChildren(['--mntns', `pid:${inside.pid}`, '--unique', '-o', 'json', '--no-collect-kstack'], inside, outside);
    expect(r.code, r.stderr).toBe(0);
    const events = r.stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { cap: string; proc: { pid: number }; kstack?: unknown });
    const nice = events.filter((e) => e.cap === 'CAP_SYS_NICE');
    expect(nice.map((e) => e.proc.pid)).toEqual([inside.pid]);
    expect(events.filter((e) => e.proc.pid === outside.pid)).toEqual([]);
    expect(events.every((e) => e.kstack === undefined)).toBe(true);
  });

  run('SIGINT detaches every link, unloads every program and exits 0', async () => {
    const cli = startCli(['--comm', uniqueComm('sig')]);
    await cli.ready;
    const pid = cli.proc.pid ?? -1;
    const held = bpfIdsOfProcess(pid);
    expect(held.links.size).toBe(6);
    expect(held.progs.size).toBeGreaterThanOrEqual(6);
    const present = bpfIds();
    for (const id of held.links) expect(present.links.has(id)).toBe(true);
    cli.proc.kill('SIGINT');
    expect(await cli.exit).toBe(0);
    expect(cli.stderr()).toContain('detached after 0 event(s)');
    const after = bpfIds();
    for (const id of held.links) expect(after.links.has(id)).toBe(false);
    expect(await waitUntil(() => [...held.progs].every((id) => !bpfIds().progs.has(id)))).toBe(true);
  });

  run('SIGTERM also exits 0', async () => {
    const cli = startCli(['--comm', uniqueComm('term'), '-o', 'json']);
    await cli.ready;
    cli.proc.kill('SIGTERM');
    expect(await cli.exit).toBe(0);
    expect(cli.stdout()).toBe('');
  });

  run('--max-events and --timeout stop by themselves; --output perf is honoured', async () => {
    const comm = uniqueComm('max');
    const c = await child(comm, `${ACTIONS.nice}\n${ACTIONS.nice.replace('-5', '-6')}`);
    const cli = startCli(['--comm', comm, '--max-events', '1', '-o', 'json', '--output', 'perf']);
    await cli.ready;
    expect(cli.stderr()).toMatch(/\(\w+, perf\)/);
    await c.go();
    expect(await cli.exit).toBe(0);
    expect(cli.stdout().trim().split('\n').length).toBe(1);

    const t = runCli(['--comm', uniqueComm('tmo'), '--timeout', '0.2']);
    expect(t.code).toBe(0);
    expect(t.stderr).toContain('detached after 0 event(s)');
  });

  it.skipIf(!HAVE_PYTHON || !HAVE_SETPRIV)('--profile: per process and namespace counts and the least-privilege set', async () => {
    const comm = uniqueComm('prof');
    const a = await child(comm, `${ACTIONS.rawSocket}\n${ACTIONS.nice}\n${ACTIONS.nice.replace('-5', '-6')}`);
    const b = await child(comm, ACTIONS.nice, ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']);
    const r = await traceChildren(['--comm', comm, '--profile', '-o', 'json'], a, b);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as {
      events: number;
      auditUnknown: boolean;
      byProcess: { key: string; pids: number[]; capabilities: { cap: string; checked: number; granted: number; denied: number }[]; keep: string[] }[];
      byMountNamespace: { key: string; related: string[] }[];
      leastPrivilege: { keep: string[]; denied: string[]; containerRuntimeArgs: string; kubernetesYaml: string };
    };
    expect(report.events).toBeGreaterThanOrEqual(4);
    expect(report.byProcess.map((g) => g.key)).toEqual([comm]);
    const g = report.byProcess[0];
    expect(g.pids).toEqual([a.pid, b.pid].sort((x, y) => x - y));
    const nice = g.capabilities.find((x) => x.cap === 'CAP_SYS_NICE');
    expect(nice).toMatchObject({ checked: 3, granted: 2, denied: 1 });
    expect(g.capabilities.find((x) => x.cap === 'CAP_NET_RAW')).toMatchObject({ granted: 1, denied: 0 });
    expect(report.byMountNamespace.length).toBe(1);
    expect(report.byMountNamespace[0].related).toEqual([comm]);
    // Memory-accounting CAP_SYS_ADMIN checks are no-audit probes (recognised from the kernel stack): not kept.
    expect(report.leastPrivilege.keep).toEqual(['CAP_NET_RAW', 'CAP_SYS_NICE']);
    expect(report.leastPrivilege.containerRuntimeArgs).toBe('--cap-drop=ALL --cap-add=NET_RAW --cap-add=SYS_NICE');
    expect(report.leastPrivilege.kubernetesYaml).toBe('securityContext:\n  capabilities:\n    drop: ["ALL"]\n    add: ["NET_RAW", "SYS_NICE"]');

    const comm2 = uniqueComm('prof');
    const c = await child(comm2, ACTIONS.rawSocket);
    const text = await traceChildren(['--comm', comm2, '--profile'], c);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`process ${comm2}`);
    expect(text.stdout).toMatch(/CAP_NET_RAW\s+1\s+1\s+0/);
    expect(text.stdout).toContain('--cap-drop=ALL --cap-add=NET_RAW');
    expect(text.stdout).toContain('securityContext:\n  capabilities:\n    drop: ["ALL"]\n    add: ["NET_RAW"]');
  });
});
