import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration, formatTimestamp } from '../../src/gadget/format/index.js';
import { errnoDisplayName, signalName, signalNumber, SIGNAL_NAMES } from '../../src/gadget/tables/index.js';

describe('signals and errnos', () => {
  it('names signals like unix.SignalName, unknown as signal#n', () => {
    expect(signalName(9)).toBe('SIGKILL');
    expect(signalName(6)).toBe('SIGABRT');
    expect(signalName(29)).toBe('SIGIO');
    expect(signalName(31n)).toBe('SIGSYS');
    expect(signalName(0)).toBe('signal#0');
    expect(signalName(34)).toBe('signal#34');
    expect(signalName(-1)).toBe('signal#-1');
    expect(SIGNAL_NAMES).toHaveLength(32);
    expect(signalNumber('kill')).toBe(9);
    expect(signalNumber('SIGTERM')).toBe(15);
    expect(signalNumber('NOPE')).toBeUndefined();
  });

  it('names errnos, empty for 0 and error#n when unknown', () => {
    expect(errnoDisplayName(1)).toBe('EPERM');
    expect(errnoDisplayName(2n)).toBe('ENOENT');
    expect(errnoDisplayName(0)).toBe('');
    expect(errnoDisplayName(-13)).toBe('EACCES');
    expect(errnoDisplayName(4000)).toBe('error#4000');
  });
});

describe('value formatters', () => {
  it('formats timestamps as RFC 3339 with nanoseconds', () => {
    const ns = 1722520667208570604n; // 2024-08-01T13:57:47.208570604Z
    expect(formatTimestamp(ns, { utc: true })).toBe('2024-08-01T13:57:47.208570604Z');
    expect(formatTimestamp(0n, { utc: true })).toBe('1970-01-01T00:00:00.000000000Z');
    expect(formatTimestamp(-1n, { utc: true })).toBe('1969-12-31T23:59:59.999999999Z');
    const local = formatTimestamp(ns);
    expect(local).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.208570604(Z|[+-]\d\d:\d\d|\+00:00)$/);
    // The local form denotes the same instant.
    expect(Date.parse(local.replace(/\.\d+/, ''))).toBe(1722520667000);
  });

  it('formats durations the way IG does', () => {
    expect(formatDuration(850)).toBe('850ns');
    expect(formatDuration(12_500n)).toBe('12.50µs');
    expect(formatDuration(3_200_000)).toBe('3.20ms');
    expect(formatDuration(1_500_000_000n)).toBe('1.5s');
    expect(formatDuration(90_000_000_000n)).toBe('1m30s');
    expect(formatDuration(3_600_000_000_000n)).toBe('1h0m0s');
    expect(formatDuration(3_723_000_000_001n)).toBe('1h2m3.000000001s');
    expect(formatDuration(-5000)).toBe('-5000ns');
  });

  it('formats byte counts in SI units like go-humanize', () => {
    expect(formatBytes(9)).toBe('9 B');
    expect(formatBytes(10)).toBe('10 B');
    expect(formatBytes(1500)).toBe('1.5 kB');
    expect(formatBytes(82854982n)).toBe('83 MB');
    expect(formatBytes(1_000_000_000)).toBe('1.0 GB');
  });
});
