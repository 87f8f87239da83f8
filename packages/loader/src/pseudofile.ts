/**
 * Reading the kernel's small pseudo-files (procfs, sysfs, tracefs: a tracepoint id, the boot id, a
 * CPU list) with one open, reads into a small buffer, and a close. `readFileSync` takes a generic
 * path (stat, sizing a buffer from a size these files do not report, a second read) that costs
 * 0.2–0.4 ms the first time in a process, and a start reads several of them.
 */
import { closeSync, openSync, readSync } from 'node:fs';

/** First buffer size: every file read this way fits, larger ones take more reads. */
const CHUNK = 4096;

/**
 * The content of the file `path`, decoded as latin1 (these files are ASCII).
 * @throws the `openSync`/`readSync` error (`code` ENOENT, EACCES…), as `readFileSync` would
 */
export function readPseudoFile(path: string): string {
  const fd = openSync(path, 'r');
  try {
    let buf = Buffer.allocUnsafe(CHUNK);
    let got = 0;
    for (;;) {
      const n = readSync(fd, buf, got, buf.length - got, null);
      if (n === 0) break;
      got += n;
      if (got === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, got);
        buf = bigger;
      }
    }
    return buf.toString('latin1', 0, got);
  } finally {
    closeSync(fd);
  }
}
