/**
 * Runs a CommonJS bundle through `vm.Script` with a V8 code cache, so that a later start skips
 * parsing and compiling the functions the previous run compiled (Node 20 has no
 * `module.enableCompileCache`). The cache is produced after the program has done its start-up work
 * ({@link LoadedBundle.saveCache}), so it holds the lazily compiled functions of that path too,
 * not just the top level.
 *
 * The cache is an optimisation only: a missing, stale, corrupted, foreign or unwritable cache never
 * changes what the program does, it only costs the compile the cache would have saved.
 *
 * - Key: Node version, V8 version, architecture, the node options (V8 rejects a cache made under
 *   other flags) and a checksum of the bundle's bytes (inside the CommonJS wrapper, as compiled). The key is part of the file name, so a
 *   rebuilt bundle or another Node finds no file and compiles. A write replaces the files of the
 *   same runtime for other bundle bytes; those of other runtimes (another Node, other flags) stay
 *   until not rewritten for a week, so programs started with different flags keep theirs.
 * - Integrity: V8 release builds do not checksum code caches, and a corrupted one aborts the
 *   process inside the deserializer (measured on Node 20), so the file carries a checksum of
 *   itself (with the checksum's own field zeroed); a file that fails it is ignored and rewritten.
 *   The checksum is a 64-bit multiply-xor over 32-bit words (a small WebAssembly loop for large
 *   inputs, plain JS otherwise): it guards against corruption, not forgery (the trust rule below
 *   does that), and loading node:crypto instead cost 10–15 ms of every start. The bundle (between
 *   the wrapper's two parts) and then the cache file, in the same pages, are read straight into the
 *   loop's memory ({@link checksumArena}), so neither is copied to be checksummed, and the cache
 *   file, when it fits where the bundle was (it is smaller than the bundle), faults in no new memory
 *   (each fault costs 5–15 µs on the benchmark machine).
 * - Trust: the cache is machine code input for V8, so only a file owned by the effective user and
 *   writable by no one else is used (a root process never runs a cache another user could have
 *   written, e.g. under a HOME kept by `sudo -E`).
 * - Writes go to a private temporary file (a name unique to the writer) renamed into place, so
 *   readers see a whole file or none, and only into a directory of the effective user: root,
 *   started with another user's HOME, does not leave root-owned directories or files in that
 *   user's home.
 * The directory, trust, write and checksum rules are those of every cache file (`../cachedir.ts`).
 */
import { closeSync, constants as fsConstants, fstatSync, lstatSync, openSync, readdirSync, readFileSync, readSync, unlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { Script } from 'node:vm';
import { CHECKSUM_BYTES, cacheDirWritable, checksum, checksumArena, defaultCacheDir, readFull, readPrivateFile, reuseChecksumArena, wasmWords, writePrivateFile } from '../cachedir.js';

// Part of `@tsbpf/loader/codecache`'s exports since before they moved to cachedir.ts.
export { checksum, defaultCacheDir, wasmWords };

/** How the cache served one start. */
export type CodeCacheState =
  /** V8 took the cached code. */
  | 'hit'
  /** No cache file for this key. */
  | 'miss'
  /** The file was unreadable, not ours, or failed its checksum: ignored. */
  | 'invalid'
  /** The file was sound but V8 refused it (another V8 build or flags). */
  | 'rejected'
  /** No cache directory (disabled, or none could be determined). */
  | 'disabled';

/** Options of {@link loadBundle}. */
export interface LoadBundleOptions {
  /** Directory of the cache files; undefined disables the cache. See {@link defaultCacheDir}. */
  cacheDir: string | undefined;
  /** File name prefix of this bundle's cache files (one bundle, one prefix). */
  name: string;
}

/** A bundle that has run its top level. */
export interface LoadedBundle {
  /**
   * How far the program had got when the cache V8 took was written (the `level` given to
   * {@link LoadedBundle.saveCache}); -1 unless {@link state} is `hit`.
   */
  readonly cachedLevel: number;
  /** The bundle's `module.exports`. */
  readonly exports: Record<string, unknown>;
  /** What the cache did for this start. */
  readonly state: CodeCacheState;
  /** The cache file for this key (undefined when disabled). */
  readonly cachePath: string | undefined;
  /**
   * Write the cache now, unless V8 took one written at `level` or higher: call it once the program
   * has compiled what a start needs. `level` says how far it got (the caller's own scale: a cache
   * written by a run that only imported the code can be replaced by one that also loaded a
   * collection). Also no write when this process already tried at `level` or higher (even if that
   * failed), when the directory cannot be written, or when, after a miss or a hit, the file on disk
   * has meanwhile been written at `level` or higher by another process (after an invalid or refused
   * file, it is replaced regardless). Returns whether a file was written; never throws (an
   * unwritable directory only means the next start compiles again).
   */
  saveCache(level?: number): boolean;
}

// Version 3: the digest covers the whole file (version 2: the payload only).
const MAGIC = Buffer.from('tsbpf-v8cache-3\n', 'latin1');
const DIGEST_BYTES = CHECKSUM_BYTES;
/** Then the level (u32 LE) and a reserved u32. */
const LEVEL_AT = MAGIC.length + DIGEST_BYTES;
/** A multiple of 8, so the payload keeps the alignment of the file buffer. */
const HEADER_BYTES = LEVEL_AT + 8;
/** A cache file larger than this is not ours (the bundle's cache is well under 10 MB). */
const MAX_CACHE_BYTES = 64 << 20;


/** The part of the cache key that depends on the running node and its flags, not on the bundle. */
function runtimeKey(): string {
  return [process.version, process.versions.v8, process.arch, nodeFlags(process.execArgv).join(' '), process.env.NODE_OPTIONS ?? ''].join('\0');
}

/** `execArgv` without the code of `-e`/`-p` scripts: flags matter to V8, the script text does not. */
function nodeFlags(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    // Short flags may be clustered (`-pe`): one ending in e or p takes the script as its value.
    if (a === '--eval' || a === '--print' || /^-[A-Za-z]*[ep]$/.test(a)) {
      out.push(a);
      i++;
    } else if (/^--(eval|print)=/.test(a)) out.push(a.slice(0, a.indexOf('=')));
    else out.push(a);
  }
  return out;
}

/**
 * Node's CommonJS wrapper, around the bundle in the source V8 compiles. The bundle's bytes are read
 * between the two parts (`readWrapped`): the source is then one flat string, where a concatenation
 * would make V8 flatten (copy) half a megabyte into fresh memory before compiling.
 */
const WRAPPER_HEAD = Buffer.from('(function (exports, require, module, __filename, __dirname) {', 'latin1');
const WRAPPER_TAIL = Buffer.from('\n})', 'latin1');

/** File name of the cache of a bundle (its bytes) for this runtime. */
export function cacheFileName(name: string, source: Uint8Array): string {
  return cacheFileNameOfWrapped(name, Buffer.concat([WRAPPER_HEAD, source, WRAPPER_TAIL]));
}

/** {@link cacheFileName} from the source as compiled (the bundle inside {@link WRAPPER_HEAD} and {@link WRAPPER_TAIL}). */
function cacheFileNameOfWrapped(name: string, wrapped: Uint8Array): string {
  return `${name}-${checksum(Buffer.from(runtimeKey())).toString('hex')}${checksum(wrapped).toString('hex')}.v8cache`;
}

/**
 * The payload of a cache file; `miss` when there is none, `invalid` when it is unusable: not a
 * regular file of the effective user, writable by others, too large, truncated, or failing its
 * checksum.
 */
export function readCacheFile(path: string, alloc: (size: number) => Buffer = checksumArena): { data: Buffer; level: number } | 'miss' | 'invalid' {
  const buf = readPrivateFile(path, HEADER_BYTES, MAX_CACHE_BYTES, alloc);
  if (typeof buf === 'string') return buf;
  try {
    if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) return 'invalid';
    const stored = Buffer.from(buf.subarray(MAGIC.length, LEVEL_AT));
    buf.fill(0, MAGIC.length, LEVEL_AT);
    if (!checksum(buf).equals(stored)) return 'invalid';
    return { data: buf.subarray(HEADER_BYTES), level: buf.readUInt32LE(LEVEL_AT) };
  } catch {
    return 'invalid';
  }
}

/** The level in the header of the cache file `path`, -1 when there is none (not checked further). */
function levelOnDisk(path: string): number {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO swapped in for the file must not block the open (it fails isFile below).
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch {
    return -1;
  }
  try {
    if (!fstatSync(fd).isFile()) return -1;
    const head = Buffer.alloc(HEADER_BYTES);
    return readSync(fd, head, 0, HEADER_BYTES, 0) === HEADER_BYTES && head.subarray(0, MAGIC.length).equals(MAGIC) ? head.readUInt32LE(LEVEL_AT) : -1;
  } catch {
    return -1;
  } finally {
    closeSync(fd);
  }
}

/** Cache files of other runtimes (another Node, other flags) are removed once not written for this long. */
const OTHER_RUNTIME_TTL_MS = 7 * 24 * 3600 * 1000;
/** Temporary files older than this belong to no running writer. */
const STALE_TMP_MS = 3600 * 1000;

/**
 * Write `data` as the cache file `path` (private directory and file, atomic rename) with its
 * `level` (see {@link LoadedBundle.saveCache}), then remove the same bundle name's stale files in
 * that directory: those of this runtime for other bundle bytes, those of other runtimes (programs
 * with other node flags share the directory) not written for a week, and abandoned temporary
 * files. Returns whether it was written; never throws.
 */
export function writeCacheFile(path: string, name: string, data: Uint8Array, level = 0): boolean {
  return cacheDirWritable(dirname(path)) && writeInCheckedDir(path, name, data, level);
}

/** {@link writeCacheFile} once {@link cacheDirWritable} said yes for the file's directory. */
function writeInCheckedDir(path: string, name: string, data: Uint8Array, level: number): boolean {
  const dir = dirname(path);
  let file: Buffer;
  try {
    const levelBytes = Buffer.alloc(8);
    levelBytes.writeUInt32LE(level >>> 0, 0);
    file = Buffer.concat([MAGIC, Buffer.alloc(DIGEST_BYTES), levelBytes, data]);
    checksum(file).copy(file, MAGIC.length);
  } catch {
    return false; // out of memory for the copy: no cache this time
  }
  if (!writePrivateFile(path, file)) return false;
  try {
    const keep = basename(path);
    // `<name>-<runtime key digest: 16 hex digits>`: the files of this runtime.
    const sameRuntime = keep.slice(0, name.length + 1 + 2 * DIGEST_BYTES);
    const now = Date.now();
    for (const f of readdirSync(dir)) {
      if (f === keep || !f.startsWith(`${name}-`)) continue;
      const file = join(dir, f);
      try {
        if (f.endsWith('.v8cache') && (f.startsWith(sameRuntime) || now - lstatSync(file).mtimeMs > OTHER_RUNTIME_TTL_MS)) unlinkSync(file);
        // A writer killed between write and rename leaves its temporary file.
        else if (f.endsWith('.tmp') && now - lstatSync(file).mtimeMs > STALE_TMP_MS) unlinkSync(file);
      } catch {
        // pruned by another process meanwhile
      }
    }
  } catch {
    // an old file that stays costs only disk space
  }
  return true;
}

/**
 * The bytes of `file`, read into `alloc(size)` when it is a regular file (anything else is read to
 * its end, as readFileSync does); throws as readFileSync does.
 */
function readWholeFile(file: string, alloc: (size: number) => Buffer): Buffer {
  const fd = openSync(file, 'r');
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return readFileSync(fd);
    const buf = alloc(st.size);
    // Shorter than its size said (truncated while read): what was read.
    const got = readFull(fd, buf);
    return got === buf.length ? buf : buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/** The bundle `file` inside Node's CommonJS wrapper, as one buffer from `alloc` (the file read in place). */
function readWrapped(file: string, alloc: (size: number) => Buffer): Buffer {
  let whole: Buffer | undefined;
  const body = readWholeFile(file, (size) => {
    whole = alloc(WRAPPER_HEAD.length + size + WRAPPER_TAIL.length);
    WRAPPER_HEAD.copy(whole, 0);
    return whole.subarray(WRAPPER_HEAD.length, WRAPPER_HEAD.length + size);
  });
  // Not a regular file (read to its end, elsewhere): joined.
  if (whole === undefined) return Buffer.concat([WRAPPER_HEAD, body, WRAPPER_TAIL]);
  const end = WRAPPER_HEAD.length + body.length;
  WRAPPER_TAIL.copy(whole, end);
  return whole.subarray(0, end + WRAPPER_TAIL.length);
}

/**
 * Compile and run the CommonJS bundle `file` (no shebang line) the way Node's loader would, with
 * `require` resolving from the bundle's directory, using and afterwards able to refresh the code
 * cache in `options.cacheDir`.
 */
export function loadBundle(file: string, options: LoadBundleOptions): LoadedBundle {
  // The same wrapper as Node's CommonJS loader, so the bundle sees the usual module scope. Read into
  // the checksum's memory when there is a cache: its key is a checksum of these bytes.
  const wrapped = readWrapped(file, options.cacheDir === undefined ? Buffer.allocUnsafe : checksumArena);
  const source = wrapped.toString('utf8');
  const cachePath = options.cacheDir === undefined ? undefined : join(options.cacheDir, cacheFileNameOfWrapped(options.name, wrapped));
  // The source is a string of its own now: the cache file goes into the memory the bundle was read
  // into, already faulted in.
  const cached = cachePath === undefined ? undefined : readCacheFile(cachePath, (size) => reuseChecksumArena(wrapped, size));
  const cachedData = typeof cached === 'object' ? cached.data : undefined;
  const script = new Script(source, { filename: file, cachedData });
  let state: CodeCacheState;
  if (cachePath === undefined) state = 'disabled';
  else if (cachedData === undefined) state = cached === 'invalid' ? 'invalid' : 'miss';
  else state = script.cachedDataRejected === true ? 'rejected' : 'hit';
  const module = { exports: {} as Record<string, unknown> };
  const wrapper = script.runInThisContext() as (exports: object, require: NodeJS.Require, module: object, filename: string, dirname: string) => void;
  wrapper.call(module.exports, module.exports, createRequire(file), module, file, dirname(file));
  // The level of what is on disk for this key as far as this process knows (-1: nothing usable).
  const cachedLevel = state === 'hit' && typeof cached === 'object' ? cached.level : -1;
  let written = cachedLevel;
  return {
    exports: module.exports,
    state,
    cachePath,
    cachedLevel,
    saveCache(level = 0): boolean {
      if (cachePath === undefined || level <= written) return false;
      written = level;
      // Another process may have written this key meanwhile, from a run that got as far or further
      // (after a miss or a hit: a file found invalid or refused is replaced regardless).
      const sound = state === 'miss' || state === 'hit';
      if ((sound && levelOnDisk(cachePath) >= level) || !cacheDirWritable(dirname(cachePath))) return false;
      let data: Buffer;
      try {
        data = script.createCachedData();
      } catch {
        return false;
      }
      return writeInCheckedDir(cachePath, options.name, data, level);
    },
  };
}
