import { describe, expect, it } from 'vitest';
import {
  formatResultLine,
  parseGuestOutput,
  parseResultJson,
  SerialLineSplitter,
  stripSerialNoise,
  testsFromVitestJson,
  withExtraTests,
} from '../src/result.js';

const ok = [
  'SeaBIOS (version 1.16.2-debian-1.16.2-1)',
  'VMTEST-INIT 4.49 6.1.0-50-amd64',
  'VMTEST-START 8.57',
  'VMTEST-RESULT {"name":"kernel/btf_vmlinux","status":"pass","ms":1,"detail":"present"}',
  'VMTEST-RESULT {"name":"kernel/tracepoint_cap_capable","status":"skip","detail":"absent"}',
  'VMTEST-END 12.07',
  'VMTEST-DONE 0',
  '[   12.1] reboot: Power down',
];

describe('guest result protocol', () => {
  it('a clean run passes with its checks and timings', () => {
    const r = parseGuestOutput(ok);
    expect(r.status).toBe('pass');
    expect(r.exitCode).toBe(0);
    expect(r.tests).toEqual([
      { name: 'kernel/btf_vmlinux', status: 'pass', ms: 1, detail: 'present' },
      { name: 'kernel/tracepoint_cap_capable', status: 'skip', detail: 'absent' },
    ]);
    expect(r.release).toBe('6.1.0-50-amd64');
    expect([r.initUptime, r.startUptime, r.endUptime]).toEqual([4.49, 8.57, 12.07]);
  });

  it('a failing check fails the run even with exit code 0', () => {
    const lines = [...ok];
    lines[3] = formatResultLine({ name: 'load/x.bpf.o', status: 'fail', detail: 'EPERM' });
    expect(parseGuestOutput(lines).status).toBe('fail');
  });

  it('a non-zero exit code fails the run', () => {
    expect(parseGuestOutput(['VMTEST-DONE 1']).status).toBe('fail');
    expect(parseGuestOutput(['VMTEST-DONE 1']).exitCode).toBe(1);
  });

  it('a kernel panic is reported as panic, even though qemu exited 0 and DONE is missing', () => {
    const r = parseGuestOutput([
      'VMTEST-INIT 4.0 5.10.0-32-amd64',
      'VMTEST-START 6.0',
      '[    7.5] BUG: kernel NULL pointer dereference, address: 0000000000000000',
      '[    7.6] Kernel panic - not syncing: Fatal exception',
      '[    7.6] Kernel Offset: disabled',
    ]);
    expect(r.status).toBe('panic');
    expect(r.panic).toBe('Kernel panic - not syncing: Fatal exception');
    expect(r.exitCode).toBeNull();
  });

  it('a panic at init (modules failed) wins over a later DONE', () => {
    expect(parseGuestOutput(['Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100', 'VMTEST-DONE 0']).status).toBe('panic');
  });

  it('a timeout without DONE is timeout; without the flag it is no-result', () => {
    const lines = ['VMTEST-INIT 4.0 6.1.0-50-amd64', 'VMTEST-START 6.0', 'VMTEST-RESULT {"name":"a","status":"pass"}'];
    expect(parseGuestOutput(lines, { timedOut: true }).status).toBe('timeout');
    expect(parseGuestOutput(lines).status).toBe('no-result');
    expect(parseGuestOutput([]).status).toBe('no-result');
  });

  it('DONE after a host-side timeout still counts (the guest finished as it was killed)', () => {
    expect(parseGuestOutput(['VMTEST-DONE 0'], { timedOut: true }).status).toBe('pass');
  });

  it('init errors and malformed lines are kept as problems, not results', () => {
    const r = parseGuestOutput([
      'VMTEST-INIT-ERROR mount hostroot over 9p',
      'VMTEST-RESULT {"name":"x","status":"maybe"}',
      'VMTEST-RESULT not json',
      'VMTEST-DONE abc',
      'VMTEST-DONE 125',
    ]);
    expect(r.tests).toEqual([]);
    expect(r.exitCode).toBe(125);
    expect(r.status).toBe('fail');
    expect(r.problems).toHaveLength(4);
    expect(r.problems[0]).toBe('init: mount hostroot over 9p');
  });

  it('finds a marker behind kernel noise on the same line', () => {
    const r = parseGuestOutput(['[    9.1] random: crng init doneVMTEST-DONE 0']);
    expect(r.exitCode).toBe(0);
  });

  it('parseResultJson rejects wrong shapes', () => {
    expect(parseResultJson('{"name":1,"status":"pass"}')).toBeUndefined();
    expect(parseResultJson('[]')).toBeUndefined();
    expect(parseResultJson('{"name":"a","status":"skip","ms":"x"}')).toEqual({ name: 'a', status: 'skip' });
  });
});

describe('serial noise', () => {
  it('strips SeaBIOS escape codes, CR and other controls but keeps text and tabs', () => {
    expect(stripSerialNoise('\x1bc\x1b[?7l\x1b[2J\x1b[0mSeaBIOS (version 1.16)\r')).toBe('SeaBIOS (version 1.16)');
    expect(stripSerialNoise('a\tb\x07\x00c')).toBe('a\tbc');
    expect(stripSerialNoise('\x1b]0;title\x07after')).toBe('after');
    expect(stripSerialNoise('\x1b(Bplain \x1b[1;31mred\x1b[0m')).toBe('plain red');
  });

  it('splits a stream into clean lines across chunk boundaries, escapes included', () => {
    const s = new SerialLineSplitter();
    const enc = new TextEncoder();
    const out = [
      ...s.push(enc.encode('Booting from ROM..\x1b')),
      ...s.push(enc.encode('c\x1b[?7l\x1b[2JVMTEST-IN')),
      ...s.push('IT 4.2 6.1\r\nVMTEST-DO'),
      ...s.push(new Uint8Array([...enc.encode('NE 0\r\n'), 0xe2])),
      ...s.push(new Uint8Array([0x82, 0xac])),
      ...s.flush(),
    ];
    expect(out).toEqual(['Booting from ROM..VMTEST-INIT 4.2 6.1', 'VMTEST-DONE 0', '€']);
  });
});

describe('vitest reports from the results share', () => {
  const report = JSON.stringify({
    testResults: [
      {
        name: '/work/main/packages/loader/test/ringbuf.test.ts',
        status: 'failed',
        assertionResults: [
          { fullName: 'ringbuf reads events', status: 'passed', duration: 12.4, failureMessages: [] },
          { fullName: 'ringbuf wraps', status: 'failed', failureMessages: ['AssertionError: expected 1 to be 2\n at x'] },
          { fullName: 'ringbuf needs 5.8', status: 'skipped', failureMessages: [] },
        ],
      },
      { name: '/work/main/packages/loader/test/broken.test.ts', status: 'failed', message: 'SyntaxError: nope\nmore', assertionResults: [] },
    ],
  });

  it('turns each case into a result named by file and full name', () => {
    const tests = testsFromVitestJson(report, '/work/main');
    expect(tests).toEqual([
      { name: 'packages/loader/test/ringbuf.test.ts > ringbuf reads events', status: 'pass', ms: 12 },
      { name: 'packages/loader/test/ringbuf.test.ts > ringbuf wraps', status: 'fail', detail: 'AssertionError: expected 1 to be 2' },
      { name: 'packages/loader/test/ringbuf.test.ts > ringbuf needs 5.8', status: 'skip' },
      { name: 'packages/loader/test/broken.test.ts', status: 'fail', detail: 'SyntaxError: nope' },
    ]);
    expect(testsFromVitestJson('not json')).toEqual([]);
  });

  it('a failing case fails an otherwise passing run', () => {
    const merged = withExtraTests(parseGuestOutput(['VMTEST-DONE 0']), testsFromVitestJson(report));
    expect(merged.status).toBe('fail');
    expect(merged.tests).toHaveLength(4);
  });
});
