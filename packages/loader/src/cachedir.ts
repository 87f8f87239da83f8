/**
 * tsbpf's per-user cache directory, and the rules for files in it: where it is, when a directory or
 * file there may be trusted, and how a file is written so that readers see all of it or none. The
 * V8 code cache (codecache/) and the remembered kernel-BTF lookups (btf/memo.ts) keep their files
 * here. A cache is an optimisation only: every function here reports failure instead of throwing,
 * and a caller that gets nothing does the work the cache would have saved.
 */
import { accessSync, closeSync, constants as fsConstants, fstatSync, lstatSync, openSync, readSync, renameSync, unlinkSync, writeFileSync, type Stats } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { makeDirectories } from './mkdirs.js';
import { hugePageRoom, hugePageWindow } from './sys/hugepages.js';

/**
 * The default cache directory: `$TSBPF_CACHE_DIR` when set (empty: no cache), else
 * `$XDG_CACHE_HOME/tsbpf`, else `~/.cache/tsbpf`; undefined when there is no home directory.
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const explicit = env.TSBPF_CACHE_DIR;
  // Absolute, so that the trust checks walk every level up to `/` (a relative one resolves against
  // the working directory, which may be gone: then there is no cache).
  if (explicit !== undefined) {
    if (explicit === '') return undefined;
    try {
      return resolve(explicit);
    } catch {
      return undefined;
    }
  }
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
    makeDirectories(dir, 0o700);
    if (me !== undefined && !ownDirectory(dir, me)) return false;
    accessSync(dir, fsConstants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The bytes of the cache file `path`: `miss` when there is none, `invalid` when it is unusable (a
 * symlink, not a regular file, not the effective user's, writable by group or others, or outside
 * `[minBytes, maxBytes]`). The directory is not checked on reads: a file of this user that no one
 * else can write is trusted wherever it is. `alloc` gives the memory the file is read into (say
 * {@link checksumArena}). Never throws.
 */
export function readPrivateFile(path: string, minBytes: number, maxBytes: number, alloc: (size: number) => Buffer = Buffer.allocUnsafe): Buffer | 'miss' | 'invalid' {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO planted in the directory must not block the open (it fails isFile below).
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? 'miss' : 'invalid';
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.uid !== (euid() ?? st.uid) || (st.mode & 0o022) !== 0 || st.size < minBytes || st.size > maxBytes) return 'invalid';
    const buf = alloc(st.size);
    return readFull(fd, buf) === buf.length ? buf : 'invalid';
  } catch {
    return 'invalid';
  } finally {
    closeSync(fd);
  }
}

/** Reads `fd` from its start into all of `buf` (fewer bytes at end of file); returns how many were read. */
export function readFull(fd: number, buf: Uint8Array): number {
  let got = 0;
  while (got < buf.length) {
    const n = readSync(fd, buf, got, buf.length - got, got);
    if (n === 0) break;
    got += n;
  }
  return got;
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

/** Bytes of a {@link checksum} digest. */
export const CHECKSUM_BYTES = 8;

/**
 * 64-bit checksum of `bytes`: two 32-bit lanes, FNV-style multiply-xor over little-endian words and
 * a running sum of it. Inputs of 64 kB and more go through {@link wasmWords}; the digest is the same.
 */
export function checksum(bytes: Uint8Array): Buffer {
  let a = 0x811c9dc5 | 0;
  let b = bytes.byteLength | 0;
  const nWords = bytes.byteLength >>> 2;
  const lanes = nWords * 4 >= WASM_MIN_BYTES ? wasmWords(bytes, nWords, a, b) : undefined;
  if (lanes !== undefined) {
    [a, b] = lanes;
  } else {
    // Int32Array needs an aligned offset: copy when not (a fresh Uint8Array starts at 0).
    const data = bytes.byteOffset % 4 === 0 ? bytes : new Uint8Array(bytes);
    const words = new Int32Array(data.buffer, data.byteOffset, nWords);
    for (let i = 0; i < words.length; i++) {
      a = Math.imul(a ^ words[i], 0x01000193);
      b = (b + a) | 0;
    }
  }
  for (let i = nWords * 4; i < bytes.length; i++) {
    a = Math.imul(a ^ bytes[i], 0x01000193);
    b = (b + a) | 0;
  }
  const out = Buffer.alloc(CHECKSUM_BYTES);
  out.writeInt32LE(a, 0);
  out.writeInt32LE(b, 4);
  return out;
}

/** Below this, the JavaScript loop is as fast as setting up the module. */
const WASM_MIN_BYTES = 64 * 1024;

/**
 * The word loop of {@link checksum} as WebAssembly, compiled before its first call: in JavaScript
 * the ~135 000 iterations over the 540 kB bundle run interpreted until V8 optimizes the loop, 3.2–4.5
 * ms of every cold start; here ~1 ms. `ck(at, n)` reads the `n` words at byte `at` of its memory
 * and keeps its two lanes in bytes 0–7; bytes read into a {@link checksumArena} are already there,
 * others are copied in first (to byte 8). The module, as text:
 *
 *     (module (import "m" "mem" (memory 0))
 *       (func (export "ck") (param $at i32) (param $n i32) (local $a i32) (local $b i32) (local $p i32) (local $end i32)
 *         ;; a = mem[0], b = mem[4]; for each word w at [at, at + 4n): a = (a ^ w) * 0x01000193, b += a
 *         ;; then mem[0] = a, mem[4] = b))
 */
const CHECKSUM_MODULE_HEX =
  '0061736d0100000001060160027f7f00020a01016d036d656d0200000302010007060102636b00000a5b015901047f410028020021024100280204210320002104200141027420006a210502400340200420054f0d01200220042802007341938380086c220220036a2103200441046a21040c000b0b41002002360200410020033602040b';

/** Where words copied into a memory of their own start (the lanes come first). */
const WASM_DATA_AT = 8;

/** A constructor taking `A`. */
type New<A extends unknown[], T> = new (...args: A) => T;
/** A WebAssembly memory (the project's lib settings do not declare WebAssembly's types). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
/** WebAssembly's constructors used here. */
type Wasm = Record<'Module', New<[Uint8Array], object>> &
  Record<'Memory', New<[{ initial: number }], WasmMemory>> &
  Record<'Instance', New<[object, { m: { mem: WasmMemory } }], { readonly exports: Record<string, unknown> }>>;
const wasm = (globalThis as { WebAssembly?: Wasm }).WebAssembly;
let checksumModule: object | null | undefined;
/** The memory behind each {@link checksumArena} buffer, and where in it an arena's bytes start. */
interface Arena {
  memory: WasmMemory;
  at: number;
}
/** The arenas, by their ArrayBuffer. */
const arenas = new WeakMap<ArrayBuffer, Arena>();

/** A WebAssembly memory of at least `bytes` bytes; undefined when there is none to be had. */
function wasmMemory(bytes: number): WasmMemory | undefined {
  if (wasm === undefined) return undefined;
  try {
    return new wasm.Memory({ initial: Math.ceil(bytes / 65536) });
  } catch {
    return undefined;
  }
}

/**
 * `size` bytes of memory that {@link checksum} reads in place (a view of WebAssembly memory where
 * its loop finds its words), for a large file that is read to be checksummed: the file's bytes are
 * then neither allocated nor copied twice. From 512 kB the bytes start on a transparent huge page
 * where the kernel has them (`sys/hugepages.ts`): one page fault instead of one per 4 kB. A plain
 * buffer below 64 kB (checksummed in JavaScript) and where WebAssembly is unavailable.
 */
export function checksumArena(size: number): Buffer {
  const memory = size >= WASM_MIN_BYTES ? wasmMemory(hugePageRoom(WASM_DATA_AT + size)) : undefined;
  if (memory === undefined) return Buffer.allocUnsafe(size);
  // The lanes sit at bytes 0–7: a window at 0 holds the bytes from 8 on, still on its huge page.
  const window = hugePageWindow(memory.buffer, WASM_DATA_AT + size);
  const at = Math.max(window ?? WASM_DATA_AT, WASM_DATA_AT);
  arenas.set(memory.buffer, { memory, at });
  return Buffer.from(memory.buffer, at, size);
}

/**
 * `size` bytes where the bytes of `arena` (a {@link checksumArena} buffer whose bytes are no longer
 * needed) start, when they fit in its memory, else a new {@link checksumArena}: a second file read
 * into memory the first one already faulted in costs neither page faults nor a new memory.
 */
export function reuseChecksumArena(arena: Uint8Array, size: number): Buffer {
  const found = arenas.get(arena.buffer as ArrayBuffer);
  if (found === undefined || arena.byteOffset !== found.at || found.at + size > found.memory.buffer.byteLength) return checksumArena(size);
  return Buffer.from(found.memory.buffer, found.at, size);
}

/**
 * Lanes `[a, b]` after the first `nWords` words of `bytes`, starting from `a` and `b`; undefined
 * where WebAssembly is unavailable or its memory cannot be had (the caller's loop runs then).
 * @internal exported for tests
 */
export function wasmWords(bytes: Uint8Array, nWords: number, a: number, b: number): [number, number] | undefined {
  if (wasm === undefined || checksumModule === null) return undefined;
  try {
    checksumModule ??= new wasm.Module(Buffer.from(CHECKSUM_MODULE_HEX, 'hex'));
    // An arena's bytes are where the loop reads; anything else is copied into a memory of its own.
    const found = arenas.get(bytes.buffer as ArrayBuffer);
    const arena = found !== undefined && bytes.byteOffset === found.at ? found : undefined;
    const memory = arena?.memory ?? wasmMemory(WASM_DATA_AT + nWords * 4);
    if (memory === undefined) return undefined;
    const at = arena?.at ?? WASM_DATA_AT;
    const ck = new wasm.Instance(checksumModule, { m: { mem: memory } }).exports.ck as (at: number, n: number) => void;
    const lanes = new Int32Array(memory.buffer, 0, 2);
    lanes[0] = a;
    lanes[1] = b;
    if (arena === undefined) new Uint8Array(memory.buffer, WASM_DATA_AT, nWords * 4).set(bytes.subarray(0, nWords * 4));
    ck(at, nWords);
    return [lanes[0], lanes[1]];
  } catch {
    // No module (a runtime without WebAssembly's compiler) stays no module; a memory may fail once.
    if (checksumModule === undefined) checksumModule = null;
    return undefined;
  }
}
