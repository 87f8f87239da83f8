/**
 * Kernels before 5.11 charge BPF maps and programs against RLIMIT_MEMLOCK (64 KiB by default), so
 * even a small collection fails with EPERM there. Newer kernels charge the memory cgroup instead.
 * Like other loaders, raise the limit once per process, and only where the kernel still uses it:
 * `bpf_ktime_get_coarse_ns` arrived in the same release as memcg accounting and serves as the probe.
 */
import { assemble } from '../asm/instruction.js';
import { callHelper, exit, movImm } from '../asm/builders.js';
import { progLoad } from '../sys/bpf.js';
import { BPF_FUNC, BPF_PROG_TYPE } from '../sys/constants.js';
import { getrlimit, RLIM_INFINITY, RLIMIT_MEMLOCK, setrlimit } from '../sys/ffi.js';

/** True when a program calling `bpf_ktime_get_coarse_ns` loads: one PROG_LOAD, no verifier log. */
function kernelAccountsToMemcg(): boolean {
  const insns = assemble([callHelper(BPF_FUNC.ktime_get_coarse_ns), movImm(0, 0), exit()]).bytes;
  try {
    progLoad({ progType: BPF_PROG_TYPE.SOCKET_FILTER, insns, license: 'GPL' }).close();
    return true;
  } catch {
    return false;
  }
}

let done = false;

/** Result of {@link ensureMemlockLimit}. */
export type MemlockOutcome = 'memcg' | 'raised' | 'unlimited' | 'failed';

/** Lift RLIMIT_MEMLOCK when the running kernel accounts BPF memory against it. Idempotent. */
export function ensureMemlockLimit(): MemlockOutcome {
  if (done) return 'unlimited';
  done = true;
  if (kernelAccountsToMemcg()) return 'memcg';
  const current = getrlimit(RLIMIT_MEMLOCK);
  if (typeof current !== 'number' && current.cur === RLIM_INFINITY) return 'unlimited';
  return setrlimit(RLIMIT_MEMLOCK, { cur: RLIM_INFINITY, max: RLIM_INFINITY }) === 0 ? 'raised' : 'failed';
}
