/**
 * Every script in examples/ (repository root) runs as documented: spawned with node, bounded by
 * its own --seconds option and stopped with SIGINT once the expected output is there.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ACTIONS, HAVE_PYTHON, startChild, uniqueComm, type Child } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const example = (name: string): string => `${ROOT}examples/${name}`;

interface Script {
  proc: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
  /** Resolves when `pattern` appears on the given stream (rejects if the script exits first). */
  waitFor: (stream: 'stdout' | 'stderr', pattern: RegExp) => Promise<void>;
}

const scripts: Script[] = [];
const children: Child[] = [];
afterEach(() => {
  for (const s of scripts.splice(0)) if (s.proc.exitCode === null) s.proc.kill('SIGKILL');
  for (const c of children.splice(0)) c.kill();
});

function startScript(name: string, args: readonly string[]): Script {
  const proc = spawn(process.execPath, [example(name), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const buf = { stdout: '', stderr: '' };
  const listeners: (() => void)[] = [];
  const notify = (): void => {
    for (const l of [...listeners]) l();
  };
  proc.stdout?.on('data', (d: Buffer) => {
    buf.stdout += d.toString();
    notify();
  });
  proc.stderr?.on('data', (d: Buffer) => {
    buf.stderr += d.toString();
    notify();
  });
  const exit = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const waitFor = (stream: 'stdout' | 'stderr', pattern: RegExp): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (pattern.test(buf[stream])) {
          listeners.splice(listeners.indexOf(check), 1);
          resolve();
        }
      };
      listeners.push(check);
      check();
      void exit.then((code) => reject(new Error(`${name} exited (${code}) before ${pattern} on ${stream}:\n${buf.stderr}`)));
    });
  const s = { proc, stdout: () => buf.stdout, stderr: () => buf.stderr, exit, waitFor };
  scripts.push(s);
  return s;
}

beforeAll(() => {
  for (const f of ['packages/loader/dist/index.js', 'packages/gadget-cap/dist/index.js']) {
    if (!existsSync(ROOT + f)) throw new Error(`${f} is missing: build first (npm run build at the repository root)`);
  }
});

describe('examples/', () => {
  it('has a README naming every example', () => {
    const readme = spawnSync('cat', [example('README.md')], { encoding: 'utf8' }).stdout;
    for (const f of ['count-capabilities.mjs', 'maps.mjs', 'trace-exec.mjs']) {
      expect(existsSync(example(f))).toBe(true);
      expect(readme).toContain(f);
    }
  });

  it.skipIf(!HAVE_PYTHON)('count-capabilities.mjs counts checks per process', async () => {
    const comm = uniqueComm('cnt');
    const c = await startChild(comm, `${ACTIONS.nice}\n${ACTIONS.nice.replace('-5', '-6')}\n${ACTIONS.rawSocket}`);
    children.push(c);
    const s = startScript('count-capabilities.mjs', ['--seconds', '60', '--comm', comm, '--json']);
    await s.waitFor('stderr', /counting capability checks/);
    await c.go();
    s.proc.kill('SIGINT');
    expect(await s.exit, s.stderr()).toBe(0);
    const out = JSON.parse(s.stdout()) as { strategy: string; lost: string; processes: { comm: string; pid: number; checks: number; denied: number; caps: Record<string, number> }[] };
    expect(['fentry', 'kprobe', 'tracepoint']).toContain(out.strategy);
    expect(out.processes.length).toBe(1);
    const p = out.processes[0];
    expect(p).toMatchObject({ comm, pid: c.pid, denied: 0 });
    expect(p.caps.CAP_SYS_NICE).toBe(2);
    expect(p.caps.CAP_NET_RAW).toBe(1);
    expect(p.checks).toBe(Object.values(p.caps).reduce((a, b) => a + b, 0));
  });

  it('maps.mjs sets parameters, runs programs and reads/writes maps and globals', async () => {
    const s = startScript('maps.mjs', ['--json']);
    expect(await s.exit, s.stderr()).toBe(0);
    const out = JSON.parse(s.stdout()) as {
      globals: { firstRun: Record<string, unknown>; secondRun: Record<string, unknown> };
      maps: { programReturned: number; array_u64: Record<string, string>; hash_noprealloc: Record<string, string>; hash_struct: { key: unknown; value: unknown }[]; fifo: number[]; maps: string[] };
    };
    // globals.bpf.c documents: with param_mul 5 and param_add 1, globals_main returns 41 + 43 = 84.
    expect(out.globals.firstRun).toEqual({ retval: 84, data_counter: '8', bss_result: '84', bss_calls: 1 });
    // data_counter written as 41 from user space: (42 * 5 + 1) + 43.
    expect(out.globals.secondRun).toEqual({ retval: 254, data_counter: '42', bss_calls: 2 });
    // maps.bpf.c documents 13 successful updates and what they write.
    expect(out.maps.programReturned).toBe(13);
    expect(out.maps.array_u64).toEqual({ '2': String(0xdeadbeef), '3': String(0x1234) });
    expect(out.maps.hash_noprealloc).toEqual({ '2': '20', '7': '70' });
    expect(out.maps.hash_struct).toEqual([
      { key: { id: 1, color: 'COLOR_GREEN', name: 'key-one' }, value: { point: { x: 3, y: -4 }, counter: String(0x1122334455667788n), label: 'value-one', color: 'COLOR_BLUE' } },
    ]);
    expect(out.maps.fifo).toEqual([11, 12]);
    expect(out.maps.maps).toContain('hash_struct:BPF_MAP_TYPE_HASH');
  });

  it('trace-exec.mjs drives the trace_exec gadget through the generic runtime', async () => {
    const s = startScript('trace-exec.mjs', ['--seconds', '60', '--ppid', String(process.pid), '-o', 'json']);
    await s.waitFor('stderr', /tracing execs \(tracer exec, struct exec_event, (ringbuf|perf)\)/);
    const t = spawnSync('/bin/true');
    expect(t.status).toBe(0);
    const sh = spawnSync('sh', ['-c', 'exec /bin/echo hi'], { encoding: 'utf8' });
    expect(sh.stdout).toBe('hi\n');
    await s.waitFor('stdout', /"filename":"\/bin\/echo"/);
    s.proc.kill('SIGINT');
    expect(await s.exit, s.stderr()).toBe(0);
    const events = s
      .stdout()
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { proc: { comm: string; pid: number; parent: { pid: number } }; filename: string; old_pid: number; timestamp: string });
    // Only our children (the ppid parameter filters in the kernel).
    expect(events.every((e) => e.proc.parent.pid === process.pid)).toBe(true);
    const tru = events.find((e) => e.filename === '/bin/true');
    expect(tru).toMatchObject({ proc: { comm: 'true', pid: t.pid }, old_pid: t.pid });
    // sh execs echo in place: two execs of one pid, the second named echo.
    const shExecs = events.filter((e) => e.proc.pid === sh.pid);
    expect(shExecs.map((e) => e.proc.comm)).toEqual(['sh', 'echo']);
    expect(shExecs[1].filename).toBe('/bin/echo');
    expect(tru?.timestamp).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('trace-exec.mjs columns output comes from the generic field descriptors', async () => {
    const s = startScript('trace-exec.mjs', ['--seconds', '60', '--ppid', String(process.pid)]);
    await s.waitFor('stderr', /tracing execs/);
    const t = spawnSync('/bin/true');
    await s.waitFor('stdout', new RegExp(`\\btrue\\s+${t.pid}\\s+${process.pid}\\s+0\\s+/bin/true`));
    s.proc.kill('SIGINT');
    expect(await s.exit).toBe(0);
    expect(s.stdout().split('\n')[0].split(/\s+/)).toEqual(['TIMESTAMP', 'PROC.COMM', 'PROC.PID', 'PROC.PARENT.PID', 'PROC.CREDS.UID', 'FILENAME']);
  });
});
