import { describe, expect, it } from 'vitest';
import { probeHelper } from '../../src/features/probes.js';
import { ensureMemlockLimit } from '../../src/kconfig/memlock.js';
import { BPF_FUNC, BPF_PROG_TYPE } from '../../src/sys/constants.js';
import { getrlimit, RLIM_INFINITY, RLIMIT_MEMLOCK } from '../../src/sys/ffi.js';

describe('RLIMIT_MEMLOCK', () => {
  it('is left alone where the kernel charges the memory cgroup, and lifted where it does not', () => {
    const memcg = probeHelper(BPF_PROG_TYPE.SOCKET_FILTER, BPF_FUNC.ktime_get_coarse_ns);
    const outcome = ensureMemlockLimit();
    if (memcg) {
      expect(['memcg', 'unlimited']).toContain(outcome);
    } else {
      const limit = getrlimit(RLIMIT_MEMLOCK);
      expect(typeof limit === 'number' ? limit : limit.cur).toBe(RLIM_INFINITY);
    }
  });
});
