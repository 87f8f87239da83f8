import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TsbpfError } from '../../src/errors.js';
import { ERRNO, SyscallError, isErrno } from '../../src/sys/index.js';

describe('SyscallError', () => {
  it('derives from TsbpfError with a stable code and the errno by number and name', () => {
    const e = new SyscallError('bpf(BPF_MAP_CREATE)', ERRNO.ENOMEM, { context: 'map "events"' });
    expect(e).toBeInstanceOf(TsbpfError);
    expect(e.code).toBe('SYSCALL_ERROR');
    expect(e.errno).toBe(12);
    expect(e.errnoName).toBe('ENOMEM');
    expect(e.syscall).toBe('bpf(BPF_MAP_CREATE)');
    expect(e.message).toBe(
      'bpf(BPF_MAP_CREATE) failed: ENOMEM: the kernel could not allocate memory (map too large, or memlock/memcg limit reached) (map "events")',
    );
    expect(isErrno(e, ERRNO.ENOMEM)).toBe(true);
    expect(isErrno(e, ERRNO.EPERM)).toBe(false);
    expect(isErrno(new Error('x'), ERRNO.ENOMEM)).toBe(false);
  });

  it('explains EPERM from the capabilities this process holds', () => {
    const eff = BigInt('0x' + (/^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'latin1'))?.[1] ?? '0'));
    const has = (bit: number): boolean => ((eff >> BigInt(bit)) & 1n) === 1n;
    const bpf = new SyscallError('bpf(BPF_PROG_LOAD)', ERRNO.EPERM);
    const perf = new SyscallError('perf_event_open', ERRNO.EPERM);
    if (has(39) && has(38) && has(21) && has(12)) {
      // Nothing missing: the message must point at lockdown/LSM instead of a capability.
      expect(bpf.message).toMatch(/EPERM: denied although this process holds CAP_BPF.*lockdown or an LSM/);
    } else {
      expect(bpf.message).toMatch(/needs CAP_BPF.*this process lacks/);
      expect(perf.message).toMatch(/needs CAP_PERFMON.*this process lacks/);
    }
  });

  it('explains E2BIG as a field this kernel does not know', () => {
    expect(new SyscallError('bpf(BPF_LINK_CREATE)', ERRNO.E2BIG).message).toMatch(
      /E2BIG: kernel does not know a field of this command \(too new for this kernel\)/,
    );
    // From a program load, E2BIG is most often the verifier's: over its instruction or complexity limit.
    expect(new SyscallError('bpf(BPF_PROG_LOAD)', ERRNO.E2BIG).message).toMatch(/E2BIG: program too large or too complex for the verifier/);
  });

  it('falls back to the errno description and to E<n> for unknown numbers', () => {
    expect(new SyscallError('ioctl(PERF_EVENT_IOC_ENABLE)', ERRNO.ENOTTY).message).toBe(
      'ioctl(PERF_EVENT_IOC_ENABLE) failed: ENOTTY: inappropriate ioctl for device',
    );
    expect(new SyscallError('bpf(cmd 99)', 4000).errnoName).toBe('E4000');
  });

  it('keeps the full log but puts only its tail in the message; withContext adds context', () => {
    const log = Array.from({ length: 50 }, (_, i) => `line ${i}`).join('\n');
    const e = new SyscallError('bpf(BPF_PROG_LOAD)', ERRNO.EACCES, { log, context: 'program "a"' });
    expect(e.log).toBe(log);
    expect(e.message).toContain('line 49');
    expect(e.message).not.toContain('line 10\n');
    const e2 = e.withContext('object foo.bpf.o');
    expect(e2.context).toBe('program "a"; object foo.bpf.o');
    expect(e2.log).toBe(log);
    expect(e2.errno).toBe(ERRNO.EACCES);
  });
});
