import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  CLOCK,
  RLIMIT_MEMLOCK,
  addressOf,
  clockGettime,
  effectiveCapabilities,
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

describe('libc bindings', () => {
  it('knows the syscall numbers of this architecture', () => {
    const n = syscallNumbers();
    expect(n.bpf).toBe(process.arch === 'x64' ? 321 : 280);
    expect(n.perfEventOpen).toBe(process.arch === 'x64' ? 298 : 241);
  });

  it('reports process identity like Node does', () => {
    expect(getpid()).toBe(process.pid);
    expect(gettid()).toBe(process.pid); // the JS thread is the main thread
    expect(getuid()).toBe(process.getuid?.());
  });

  it('reads the effective capability set as /proc/self/status shows it (both 32-bit halves)', () => {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'latin1'));
    expect(m).not.toBeNull();
    expect(effectiveCapabilities()).toBe(BigInt(`0x${m?.[1] ?? ''}`));
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
