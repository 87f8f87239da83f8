/**
 * Creating a directory and its missing parents without `mkdirSync(path, { recursive: true })`:
 * Node 20's recursive mkdir never returns where the kernel answers mkdir with ENOENT although the
 * parent exists. sysfs mount points do (other sysfs directories answer EPERM), so on a machine
 * without bpffs mounted at /sys/fs/bpf a pin path such as `/sys/fs/bpf/gadget` spun at full CPU
 * forever instead of failing.
 */
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * Create `path` and its missing parents (each with `mode`), top down, one mkdir per level: an error
 * from any level is thrown as Node reports it. An existing directory is fine; a non-directory on
 * the way is the EEXIST of its mkdir.
 */
export function makeDirectories(path: string, mode?: number): void {
  const missing: string[] = [];
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    if (isDirectory(dir)) break;
    missing.push(dir);
    if (dirname(dir) === dir) break;
  }
  for (let i = missing.length - 1; i >= 0; i--) {
    try {
      mkdirSync(missing[i], { mode });
    } catch (err) {
      // Made meanwhile by another process: fine if it is a directory.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !isDirectory(missing[i])) throw err;
    }
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
