/**
 * Kernel-BTF lookups remembered across the processes of one boot.
 *
 * Every program that loads against the running kernel asks its BTF the same questions (where is
 * `task_struct`, which id has `cap_capable`), and the first answer of each kind costs a walk over
 * that kind's ~10-60k records: a few milliseconds of every start, in code that runs once and so
 * never gets past V8's interpreter. The kernel's BTF cannot change while it runs, so the answers
 * are kept in a small file of the per-user cache directory (`cachedir.ts`) keyed by the boot and
 * the BTF's shape; the next process of the same boot reads the file instead of walking.
 *
 * What protects the answers:
 * - The key: the boot id (`/proc/sys/kernel/random/boot_id`, new on every boot), the BTF's byte,
 *   type and string counts, the loader's version and this file's format. A file with another key is
 *   discarded whole, so answers never outlive the BTF that produced them. A change to what lookups
 *   answer must bump {@link FORMAT}: between releases, the version alone does not change.
 * - A checksum over the payload: a corrupted file is ignored.
 * - The BTF itself: every remembered id is checked (in range, of the kind, with the name: see
 *   {@link BtfLookupMemo}) before it is used, and lists must be strictly ascending.
 * - The cache directory's rules: only a regular file of the effective user that no one else can
 *   write is read.
 * What the checks cannot see is an answer that leaves something out: an empty answer, a list
 * without one of the matches, or for a `find` (the lowest id of a name and kind) a higher id of the
 * same name and kind. Only a writer able to write this user's files could make one (a
 * process of the same user, which could equally change the program), so the key is trusted there.
 */
import { lstatSync, readdirSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CHECKSUM_BYTES, cacheDirWritable, checksum, readPrivateFile, writePrivateFile } from '../cachedir.js';
import { readPseudoFile } from '../pseudofile.js';
import { LOADER_VERSION } from '../version.js';
import type { BtfLookupMemo } from './btf.js';

/** File name of the memo in the cache directory. */
export const LOOKUP_MEMO_FILE = 'kernel-btf-lookups.json';
/** Bumped whenever what a key means or how its answer is computed changes (the version is keyed too). */
const FORMAT = 1;
/** First line of the file, before the payload's checksum in hex and a newline. */
const MAGIC = 'tsbpf-btf-lookups\n';
const HEADER_BYTES = MAGIC.length + 2 * CHECKSUM_BYTES + 1;
/** A larger file is not ours: answers are a few bytes each and capped by {@link MAX_ENTRIES}. */
const MAX_FILE_BYTES = 1 << 20;
/**
 * Answers kept per file. The file's answers are written before new ones, so a burst of one-off
 * lookups can fill the file's free room once per boot but never push out answers already kept.
 */
export const MAX_MEMO_ENTRIES = 4096;
/** Where the kernel publishes the id of the current boot. */
const BOOT_ID_PATH = '/proc/sys/kernel/random/boot_id';
/** Temporary files older than this belong to no running writer. */
const STALE_TMP_MS = 3600 * 1000;

/** What pins a memo file to one BTF: a file with another identity is discarded whole. */
export interface LookupMemoIdentity {
  /** The id of the boot (a random UUID the kernel draws at boot). */
  boot: string;
  /** Size of the BTF in bytes. */
  bytes: number;
  /** Number of types, as `Btf.typeCount`. */
  types: number;
  /** Length of the string section, as `Btf.stringsLength`. */
  strings: number;
  /** The loader's version: another version's search may answer differently. */
  loader: string;
}

/** How the memo file served this process. */
export type LookupMemoState =
  /** Not read yet (no lookup asked). */
  | 'unread'
  /** Read, of this boot, BTF and loader: its answers are used. */
  | 'loaded'
  /** No file yet. */
  | 'missing'
  /** A file of another boot, BTF, loader version or format: discarded (and replaced when written). */
  | 'stale'
  /** Unreadable, not the user's, writable by others, corrupted, or not a memo: ignored. */
  | 'invalid'
  /** No boot id could be read: nothing is remembered. */
  | 'disabled';

/** Counters of a {@link KernelBtfLookupMemo}, for start-up timings and tests. */
export interface LookupMemoStats {
  state: LookupMemoState;
  /** Lookups answered from the file (each id checked against the BTF). */
  hits: number;
  /** Lookups searched: the file had no answer for them, or one the BTF refused. */
  misses: number;
  /** Answers from the file the BTF refused (wrong kind or name, out of range). */
  refused: number;
  /** Whether the last write succeeded; undefined before any. */
  written: boolean | undefined;
}

/** Options of {@link KernelBtfLookupMemo}. */
export interface KernelBtfLookupMemoOptions {
  /** The boot id to key by (default: read from `/proc/sys/kernel/random/boot_id` on first use). */
  bootId?: string;
  /** Write new answers after the current task and at exit (default true); tests call {@link KernelBtfLookupMemo.flush}. */
  autoFlush?: boolean;
}

interface MemoFile {
  format: number;
  identity: LookupMemoIdentity;
  lookups: Record<string, number[]>;
}

/** Reads the boot id, or undefined when this system has none to offer. */
function readBootId(): string | undefined {
  try {
    const id = readPseudoFile(BOOT_ID_PATH).trim();
    return id === '' ? undefined : id;
  } catch {
    return undefined;
  }
}

function sameIdentity(a: Partial<LookupMemoIdentity>, b: LookupMemoIdentity): boolean {
  return a.boot === b.boot && a.bytes === b.bytes && a.types === b.types && a.strings === b.strings && a.loader === b.loader;
}

/** Is `v` a list of type ids as this format writes them: positive integers, strictly ascending? */
function isIdList(v: unknown): v is number[] {
  if (!Array.isArray(v) || v.length > 65536) return false;
  let last = 0;
  for (const id of v as unknown[]) {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= last) return false;
    last = id;
  }
  return true;
}

/**
 * The answers of a memo file's bytes: `stale` for a sound file of another key, undefined when the
 * bytes are not a sound memo file (no header, wrong checksum, not this shape).
 */
function parseFile(buf: Buffer, identity: LookupMemoIdentity): Map<string, readonly number[]> | 'stale' | undefined {
  if (buf.toString('latin1', 0, MAGIC.length) !== MAGIC || buf[HEADER_BYTES - 1] !== 0x0a) return undefined;
  const payload = buf.subarray(HEADER_BYTES);
  if (checksum(payload).toString('hex') !== buf.toString('latin1', MAGIC.length, HEADER_BYTES - 1)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const file = raw as Partial<MemoFile>;
  const id = file.identity;
  if (typeof id !== 'object' || id === null) return undefined;
  if (file.format !== FORMAT || !sameIdentity(id, identity)) return 'stale';
  if (typeof file.lookups !== 'object' || file.lookups === null || Array.isArray(file.lookups)) return undefined;
  const out = new Map<string, readonly number[]>();
  for (const [key, ids] of Object.entries(file.lookups)) {
    if (!isIdList(ids)) return undefined;
    out.set(key, ids);
  }
  return out;
}

/**
 * The memo file `path` for the BTF of `shape` (boot id and loader version filled in on first use):
 * a {@link BtfLookupMemo} to give `Btf.useLookupMemo`. The file is read on the first lookup, and new
 * answers are written once per task (an immediate) and at exit, never on a lookup's path. A file
 * that cannot be read or written costs nothing but the walks.
 */
export class KernelBtfLookupMemo implements BtfLookupMemo {
  /** The memo file. */
  readonly path: string;
  private readonly shape: Pick<LookupMemoIdentity, 'bytes' | 'types' | 'strings'>;
  private readonly options: KernelBtfLookupMemoOptions;
  private identity: LookupMemoIdentity | undefined;
  /** Answers read from the file (until refused). */
  private fromFile = new Map<string, readonly number[]>();
  /**
   * Answers this process used or found. A key in both maps is a file answer {@link get} handed out
   * (a {@link set} of it then is a refusal); {@link set} takes a key out of `fromFile`.
   */
  private used = new Map<string, readonly number[]>();
  private dirty = false;
  private flushQueued = false;
  private readonly counters: LookupMemoStats = { state: 'unread', hits: 0, misses: 0, refused: 0, written: undefined };

  /**
   * @param path the memo file (normally {@link LOOKUP_MEMO_FILE} in `defaultCacheDir()`)
   * @param shape the BTF's byte, type and string counts
   * @param options the boot id to key by and whether to write by itself (tests)
   */
  constructor(path: string, shape: Pick<LookupMemoIdentity, 'bytes' | 'types' | 'strings'>, options: KernelBtfLookupMemoOptions = {}) {
    this.path = path;
    this.shape = { bytes: shape.bytes, types: shape.types, strings: shape.strings };
    this.options = options;
  }

  /** Counters so far (a copy). */
  get stats(): LookupMemoStats {
    return { ...this.counters };
  }

  /** {@inheritDoc BtfLookupMemo.get} */
  get(key: string): readonly number[] | undefined {
    if (this.counters.state === 'unread') this.read();
    const found = this.used.get(key);
    if (found !== undefined) return found; // answered before in this process: not a file hit
    const ids = this.fromFile.get(key);
    if (ids === undefined) {
      this.counters.misses++;
      return undefined;
    }
    this.counters.hits++;
    this.used.set(key, ids);
    return ids;
  }

  /** {@inheritDoc BtfLookupMemo.set} */
  set(key: string, ids: readonly number[]): void {
    if (this.counters.state === 'unread') this.read();
    const handedOut = this.used.has(key) && this.fromFile.has(key);
    this.fromFile.delete(key);
    if (handedOut) {
      // The file's answer was handed out and the BTF refused it (a lookup sets only after a miss or a refusal).
      this.counters.hits--;
      this.counters.misses++;
      this.counters.refused++;
    }
    this.used.set(key, [...ids]);
    if (this.identity === undefined) return;
    this.dirty = true;
    if (this.options.autoFlush !== false) this.queueFlush();
  }

  /**
   * Write the answers now if any are new: the file's first, then this process's new ones, up to
   * {@link MAX_MEMO_ENTRIES} (and fewer if they would not fit the file size limit). Returns whether
   * the file now holds them (false when nothing was new, no boot id is known, or the directory or
   * file could not be written). Never throws.
   */
  flush(): boolean {
    unwritten.delete(this);
    if (!this.dirty || this.identity === undefined) return false;
    this.dirty = false;
    let ok = false;
    try {
      const entries: [string, readonly number[]][] = [...this.fromFile];
      for (const [key, ids] of this.used) if (!this.fromFile.has(key)) entries.push([key, ids]);
      let n = Math.min(entries.length, MAX_MEMO_ENTRIES);
      let file = this.encode(entries, n);
      // Long names can make the entries outgrow the size limit: keep the first half until they fit.
      while (file.length > MAX_FILE_BYTES && n > 0) file = this.encode(entries, (n >>>= 1));
      ok = cacheDirWritable(dirname(this.path)) && writePrivateFile(this.path, file);
    } catch {
      ok = false;
    }
    if (ok) this.removeStaleTemporaries();
    this.counters.written = ok;
    return ok;
  }

  /** The file holding the first `n` of `entries`: header line, checksum line, JSON payload. */
  private encode(entries: readonly [string, readonly number[]][], n: number): Buffer {
    const lookups: Record<string, readonly number[]> = {};
    for (let i = 0; i < n; i++) lookups[entries[i][0]] = entries[i][1];
    const payload = Buffer.from(JSON.stringify({ format: FORMAT, identity: this.identity, lookups }), 'utf8');
    return Buffer.concat([Buffer.from(`${MAGIC}${checksum(payload).toString('hex')}\n`, 'latin1'), payload]);
  }

  private read(): void {
    const boot = this.options.bootId ?? readBootId();
    if (boot === undefined) {
      this.counters.state = 'disabled';
      return;
    }
    this.identity = { boot, ...this.shape, loader: LOADER_VERSION };
    const buf = readPrivateFile(this.path, HEADER_BYTES, MAX_FILE_BYTES);
    if (buf === 'miss') {
      this.counters.state = 'missing';
      return;
    }
    let answers: Map<string, readonly number[]> | 'stale' | undefined;
    try {
      answers = buf === 'invalid' ? undefined : parseFile(buf, this.identity);
    } catch {
      answers = undefined;
    }
    if (answers === undefined) this.counters.state = 'invalid';
    else if (answers === 'stale') this.counters.state = 'stale';
    else {
      this.fromFile = answers;
      this.counters.state = 'loaded';
    }
  }

  /** Temporary files of writers killed between write and rename (writes are rare: once per boot or so). */
  private removeStaleTemporaries(): void {
    const dir = dirname(this.path);
    const prefix = `${basename(this.path)}.`;
    const now = Date.now();
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return; // a leftover costs only disk space
    }
    for (const f of names) {
      if (!f.startsWith(prefix) || !f.endsWith('.tmp')) continue;
      try {
        if (now - lstatSync(join(dir, f)).mtimeMs > STALE_TMP_MS) unlinkSync(join(dir, f));
      } catch {
        // removed by another process meanwhile
      }
    }
  }

  private queueFlush(): void {
    unwritten.add(this);
    if (!exitHooked) {
      exitHooked = true;
      // For answers found by a program that exits before the immediate runs.
      process.once('exit', () => {
        for (const memo of unwritten) memo.flush();
      });
    }
    if (this.flushQueued) return;
    this.flushQueued = true;
    // One write for all the lookups of this task (a load asks for several), off the lookup's path.
    setImmediate(() => {
      this.flushQueued = false;
      this.flush();
    }).unref();
  }
}

/** Memos with answers queued for writing, flushed at exit; one exit listener for all of them. */
const unwritten = new Set<KernelBtfLookupMemo>();
let exitHooked = false;
