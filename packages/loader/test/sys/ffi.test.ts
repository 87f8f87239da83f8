import { spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, mkdtempSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CLOCK,
  RLIMIT_MEMLOCK,
  addressOf,
  clockGettime,
  capgetEffective,
  getpid,
  getrlimit,
  gettid,
  getuid,
  ifNameToIndex,
  numPossibleCpus,
  onlineCpus,
  pageSize,
  possibleCpus,
  setrlimit,
  syscallNumbers,
} from '../../src/sys/index.js';
import { threadCpuTimes } from '../../src/sys/ffi.js';
import { repoRoot } from '../testdata.js';

describe('libc bindings', () => {
  it('knows the syscall numbers of this architecture', () => {
    const n = syscallNumbers();
    expect(n.bpf).toBe(process.arch === 'x64' ? 321 : 280);
    expect(n.perfEventOpen).toBe(process.arch === 'x64' ? 298 : 241);
  });

  it('splits this thread\'s CPU time into user and kernel time (getrusage RUSAGE_THREAD)', () => {
    // Each phase runs until this thread has used `ms` of CPU (a busy machine may give it less than
    // a whole CPU), long enough for the tick-sampled split (250 Hz here) to see it.
    const spend = (ms: number, work: () => void): { user: number; system: number } => {
      const before = threadCpuTimes();
      if (!before) throw new Error('getrusage unavailable');
      const t0 = performance.now();
      let now = before;
      while ((now.userNs + now.systemNs - before.userNs - before.systemNs) / 1e6 < ms && performance.now() - t0 < 5000) {
        work();
        now = threadCpuTimes() ?? now;
      }
      return { user: (now.userNs - before.userNs) / 1e6, system: (now.systemNs - before.systemNs) / 1e6 };
    };
    let sink = 0;
    const js = spend(120, () => {
      for (let i = 0; i < 10_000; i++) sink = (sink + i * i) % 1_000_003;
    });
    const fd = openSync('/dev/zero', 'r');
    const buf = Buffer.alloc(4 << 20);
    let kernel: { user: number; system: number };
    try {
      // Each read has the kernel clear 4 MiB: system time.
      kernel = spend(120, () => void readSync(fd, buf, 0, buf.length, null));
    } finally {
      closeSync(fd);
    }
    expect(sink).toBeGreaterThanOrEqual(0);
    expect(js.user).toBeGreaterThan(js.system);
    expect(js.user).toBeGreaterThan(40);
    expect(kernel.system).toBeGreaterThan(kernel.user);
    expect(kernel.system).toBeGreaterThan(40);
  });

  it('reports process identity like Node does', () => {
    expect(getpid()).toBe(process.pid);
    expect(gettid()).toBe(process.pid); // the JS thread is the main thread
    expect(getuid()).toBe(process.getuid?.());
  });

  it('reads the effective capability set as /proc/self/status shows it (both 32-bit halves)', () => {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'latin1'));
    expect(m).not.toBeNull();
    expect(capgetEffective()).toBe(BigInt(`0x${m?.[1] ?? ''}`));
  });

  // A copy of node with file capabilities CAP_BPF and CAP_NET_RAW permitted but not effective, run
  // as root without root's automatic capabilities (SECBIT_NOROOT) and with CAP_NET_RAW inheritable:
  // effective 0, permitted and inheritable not, so reading either of those instead would show.
  const haveCapTools = ['setcap', 'setpriv'].every((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0);
  it.skipIf(!haveCapTools || process.getuid?.() !== 0)('reads the effective set, not the permitted or inheritable one', (ctx) => {
    const dir = mkdtempSync(join(tmpdir(), 'tsbpf-caps-'));
    try {
      const node = join(dir, 'node');
      copyFileSync(process.execPath, node);
      const setcap = spawnSync('setcap', ['cap_bpf,cap_net_raw+p', node], { encoding: 'utf8' });
      if (setcap.status !== 0) return ctx.skip(`setcap failed here (${setcap.stderr.trim()}): no file capabilities on ${tmpdir()}`);
      const entry = resolve(repoRoot, 'packages/loader/dist/index.js');
      const script = [
        `const L = await import(${JSON.stringify(entry)});`,
        `const status = (await import('node:fs')).readFileSync('/proc/self/status', 'latin1');`,
        `console.log(JSON.stringify({ eff: String(L.capgetEffective()), status, eperm: new L.SyscallError('bpf(BPF_PROG_LOAD)', L.ERRNO.EPERM).message }));`,
      ].join('\n');
      const r = spawnSync('setpriv', ['--securebits', '+noroot', '--inh-caps', '+net_raw', node, '--input-type=module', '-'], { input: script, encoding: 'utf8', env: { ...process.env, TSBPF_CACHE_DIR: '' }, timeout: 30_000 });
      if (r.status !== 0 && /Permission denied/.test(r.stderr)) return ctx.skip(`${tmpdir()} does not let programs run (noexec)`);
      expect(r.stderr).toBe('');
      const got = JSON.parse(r.stdout) as { eff: string; status: string; eperm: string };
      const field = (name: string): bigint => BigInt(`0x${new RegExp(`^Cap${name}:\\s*(\\w+)$`, 'm').exec(got.status)?.[1] ?? ''}`);
      const want = (1n << 39n) | (1n << 13n);
      // A nosuid mount, a kernel without CAP_BPF or a bounding set without it: not the set-up this needs.
      if (field('Prm') !== want) return ctx.skip(`file capabilities not granted as set (CapPrm ${field('Prm').toString(16)}): nosuid ${tmpdir()} or CAP_BPF not available`);
      expect(field('Inh')).toBe(1n << 13n);
      expect(got.eff).toBe('0');
      expect(got.eperm).toMatch(/this process lacks CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN, CAP_NET_ADMIN/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads clocks in nanoseconds', () => {
    const a = clockGettime(CLOCK.MONOTONIC);
    const b = clockGettime(CLOCK.MONOTONIC);
    expect(b).toBeGreaterThanOrEqual(a);
    expect(clockGettime(CLOCK.BOOTTIME)).toBeGreaterThanOrEqual(a);
    // REALTIME and Date.now() read the same clock at millisecond resolution.
    const real = Number(clockGettime(CLOCK.REALTIME) / 1_000_000n);
    expect(Math.abs(real - Date.now())).toBeLessThan(60_000);
  });

  it('gets and sets RLIMIT_MEMLOCK', () => {
    const lim = getrlimit(RLIMIT_MEMLOCK);
    expect(typeof lim).toBe('object');
    if (typeof lim === 'number') return;
    expect(lim.cur).toBeLessThanOrEqual(lim.max);
    expect(setrlimit(RLIMIT_MEMLOCK, lim)).toBe(0);
    expect(setrlimit(RLIMIT_MEMLOCK, { cur: lim.max + (lim.max === 0xffffffffffffffffn ? 0n : 1n), max: lim.max })).toBeLessThanOrEqual(0);
  });

  it('counts CPUs and pages like sysfs', () => {
    const possible = readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim();
    expect(possibleCpus().length).toBe(numPossibleCpus());
    expect(possibleCpus()[0]).toBe(Number(possible.split(/[-,]/)[0]));
    expect(onlineCpus().length).toBeGreaterThan(0);
    expect(onlineCpus().length).toBeLessThanOrEqual(numPossibleCpus());
    expect([4096, 16384, 65536]).toContain(pageSize());
  });

  it('resolves interface names', () => {
    const lo = Number(readFileSync('/sys/class/net/lo/ifindex', 'utf8'));
    expect(ifNameToIndex('lo')).toBe(lo);
    expect(ifNameToIndex('no-such-if0')).toBe(0);
  });

  it('returns buffer addresses including the byte offset', () => {
    const b = new Uint8Array(64);
    expect(addressOf(b.subarray(16)) - addressOf(b)).toBe(16n);
  });
});
