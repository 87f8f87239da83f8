/**
 * tsbpf's per-user cache directory, and the rules for files in it: where it is, when a directory or
 * file there may be trusted, and how a file is written so that readers see all of it or none. The
 * V8 code cache (codecache/) and the remembered kernel-BTF lookups (btf/memo.ts) keep their files
 * here. A cache is an optimisation only: every function here reports failure instead of throwing,
 * and a caller that gets nothing does the work the cache would have saved.
 */
import { accessSync, closeSync, constants as fsConstants, fstatSync, lstatSync, mkdirSync, openSync, readSync, renameSync, unlinkSync, writeFileSync, type Stats } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';

/**
 * The default cache directory: `$TSBPF_CACHE_DIR` when set (empty: no cache), else
 * `$XDG_CACHE_HOME/tsbpf`, else `~/.cache/tsbpf`; undefined when there is no home directory.
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const explicit = env.TSBPF_CACHE_DIR;
  // Absolute, so that the trust checks walk every level up to `/`.
  if (explicit !== undefined) return explicit === '' ? undefined : resolve(explicit);
  // The XDG base directory rules: a relative XDG_CACHE_HOME is ignored.
  if (env.XDG_CACHE_HOME && isAbsolute(env.XDG_CACHE_HOME)) return join(env.XDG_CACHE_HOME, 'tsbpf');
  let home: string;
  try {
    home = homedir();
  } catch {
    return undefined;
  }
  return home && isAbsolute(home) ? join(home, '.cache', 'tsbpf') : undefined;
}


const euid = (): number | undefined => (typeof process.geteuid === 'function' ? process.geteuid() : undefined);

/**
 * May a directory of another owner stand above our cache directory? Root's or ours, and writable by
 * no one else unless sticky (`/tmp`: others cannot rename what we create there); a symlink only if
 * root made it (a system's `/home` → `/usr/home`).
 */
function trustedAbove(st: Stats, me: number): boolean {
  if (st.uid !== me && st.uid !== 0) return false;
  if (st.isSymbolicLink()) return st.uid === 0;
  return st.isDirectory() && ((st.mode & 0o022) === 0 || (st.mode & 0o1000) !== 0);
}

/** Are the existing levels from `dir` up to `/` all {@link trustedAbove}? (Missing ones we create.) */
function trustedPath(dir: string, me: number): boolean {
  for (let d = dir; ; d = dirname(d)) {
    let st: Stats | undefined;
    try {
      st = lstatSync(d);
    } catch {
      st = undefined;
    }
    if (st !== undefined && !trustedAbove(st, me)) return false;
    if (dirname(d) === d) return true;
  }
}

/**
 * Is `dir` ours to write in: a real directory (lstat: not a symlink) owned by the effective user and
 * writable by no one else, below levels that only root or this user control? A symlink another user
 * planted (say `~/.cache/tsbpf` → `/etc`, when root runs with that user's HOME) makes the answer no,
 * and so does any level owned by another user.
 */
function ownDirectory(dir: string, me: number): boolean {
  let st: Stats;
  try {
    st = lstatSync(dir);
  } catch {
    return false;
  }
  return st.isDirectory() && st.uid === me && (st.mode & 0o022) === 0 && trustedPath(dirname(dir), me);
}

/**
 * Can this process write cache files in `dir`: no level above it controlled by another user, and
 * `dir` (created here when missing) a writable directory of its own? Never throws. Checked before
 * a cache is serialized, so a run that cannot keep it (`sudo -E`, a read-only home) does not pay
 * for making it.
 */
export function cacheDirWritable(dir: string): boolean {
  const me = euid();
  // Nothing is created below a level another user controls; what we create is checked again.
  if (me !== undefined && !trustedPath(dirname(dir), me)) return false;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (me !== undefined && !ownDirectory(dir, me)) return false;
    accessSync(dir, fsConstants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The bytes of the cache file `path`: `miss` when there is none, `invalid` when it is unusable (not
 * a regular file of the effective user, writable by others, a symlink, or outside
 * `[minBytes, maxBytes]`). Never throws.
 */
export function readPrivateFile(path: string, minBytes: number, maxBytes: number): Buffer | 'miss' | 'invalid' {
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? 'miss' : 'invalid';
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.uid !== (euid() ?? st.uid) || (st.mode & 0o022) !== 0 || st.size < minBytes || st.size > maxBytes) return 'invalid';
    const buf = Buffer.allocUnsafe(st.size);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, got);
      if (n === 0) break;
      got += n;
    }
    return got === buf.length ? buf : 'invalid';
  } catch {
    return 'invalid';
  } finally {
    closeSync(fd);
  }
}

/**
 * Write `data` as `path` in a directory {@link cacheDirWritable} approved: through a temporary file
 * only this writer uses, renamed into place (readers see the old file or the new one, never part
 * of one), mode 0600. Returns whether it was written; never throws.
 */
export function writePrivateFile(path: string, data: Uint8Array): boolean {
  // A name of this writer alone: processes, and threads of one process, may write at once.
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    // 'wx': never through an existing file or symlink of that name.
    writeFileSync(tmp, data, { mode: 0o600, flag: 'wx' });
    renameSync(tmp, path);
    return true;
  } catch (err) {
    // EEXIST: the name was not ours to remove. Otherwise a partial file (disk full) goes.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      try {
        unlinkSync(tmp);
      } catch {
        // never created, or gone already
      }
    }
    return false;
  }
}
