/**
 * Vitest global setup: the tests that pin objects need a BPF filesystem at /sys/fs/bpf. systemd
 * mounts one at boot, but a fresh VM or container may come without it; as root this mounts it (as
 * bpftool does before pinning) and says so, otherwise those tests fail (the loader's own pins with
 * its bpffs hint, the tests' own directories with Node's ENOENT).
 */
import { execFileSync } from 'node:child_process';
import { bpffsHint } from '../../src/sys/bpf.js';

const BPFFS = '/sys/fs/bpf';

/** Mounts bpffs at /sys/fs/bpf unless one is there (root only); never throws. */
export default function setup(): void {
  // The loader's own check: no hint means a BPF filesystem is there.
  if (bpffsHint(BPFFS) === undefined) return;
  if (process.geteuid?.() !== 0) {
    console.warn(`test setup: ${BPFFS} is not a BPF filesystem and this is not root: the pinning tests will fail`);
    return;
  }
  try {
    execFileSync('mount', ['-t', 'bpf', 'bpf', BPFFS], { stdio: 'pipe' });
    console.warn(`test setup: mounted a BPF filesystem at ${BPFFS} (none was mounted)`);
  } catch (err) {
    console.warn(`test setup: cannot mount a BPF filesystem at ${BPFFS}: ${(err as Error).message}`);
  }
}
