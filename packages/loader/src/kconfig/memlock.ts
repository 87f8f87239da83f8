/**
 * Kernels before 5.11 charge BPF maps and programs against RLIMIT_MEMLOCK (64 KiB by default), so
 * even a small collection fails with EPERM there. Newer kernels charge the memory cgroup instead.
 * Like other loaders, raise the limit once per process, and only where the kernel still uses it:
 * `bpf_ktime_get_coarse_ns` arrived in the same release as memcg accounting and serves as the probe.
 */
import { probeHelper } from '../features/probes.js';
import { BPF_FUNC, BPF_PROG_TYPE } from '../sys/constants.js';
import { getrlimit, RLIM_INFINITY, RLIMIT_MEMLOCK, setrlimit } from '../sys/ffi.js';

let done = false;

/** Result of {@link ensureMemlockLimit}. */
export type MemlockOutcome = 'memcg' | 'raised' | 'unlimited' | 'failed';

/** Lift RLIMIT_MEMLOCK when the running kernel accounts BPF memory against it. Idempotent. */
export function ensureMemlockLimit(): MemlockOutcome {
  if (done) return 'unlimited';
  done = true;
  if (probeHelper(BPF_PROG_TYPE.SOCKET_FILTER, BPF_FUNC.ktime_get_coarse_ns)) return 'memcg';
  const current = getrlimit(RLIMIT_MEMLOCK);
  if (typeof current !== 'number' && current.cur === RLIM_INFINITY) return 'unlimited';
  return setrlimit(RLIMIT_MEMLOCK, { cur: RLIM_INFINITY, max: RLIM_INFINITY }) === 0 ? 'raised' : 'failed';
}
