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

  it('explains EPERM with the capability and uid, for bpf and perf calls', () => {
    const uid = process.getuid?.() ?? -1;
    const bpf = new SyscallError('bpf(BPF_PROG_LOAD)', ERRNO.EPERM);
    const perf = new SyscallError('perf_event_open', ERRNO.EPERM);
    if (uid === 0) {
      expect(bpf.message).toMatch(/EPERM: denied even as root \(uid 0\).*CAP_BPF/);
      expect(perf.message).toMatch(/EPERM: denied even as root \(uid 0\).*CAP_PERFMON/);
    } else {
      expect(bpf.message).toContain(`needs CAP_BPF`);
      expect(bpf.message).toContain(`(running as uid ${uid})`);
      expect(perf.message).toContain('needs CAP_PERFMON');
    }
  });

  it('explains E2BIG as a field this kernel does not know', () => {
    expect(new SyscallError('bpf(BPF_LINK_CREATE)', ERRNO.E2BIG).message).toMatch(
      /E2BIG: kernel does not know a field of this command \(too new for this kernel\)/,
    );
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
