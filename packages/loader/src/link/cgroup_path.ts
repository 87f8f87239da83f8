/** Where the cgroup v2 hierarchy is mounted. */
import { readFileSync } from 'node:fs';
import { AttachError } from './errors.js';

let cached: string | undefined;

/** The cgroup2 mount point from /proc/self/mounts (`/sys/fs/cgroup` or `/sys/fs/cgroup/unified`). */
export function cgroupDefault(): string {
  if (cached) return cached;
  const mounts = readFileSync('/proc/self/mounts', 'latin1');
  for (const line of mounts.split('\n')) {
    const f = line.split(' ');
    if (f[2] === 'cgroup2' && f[1]) return (cached = f[1]);
  }
  throw new AttachError('no cgroup2 filesystem is mounted (mount -t cgroup2 none /sys/fs/cgroup)');
}
