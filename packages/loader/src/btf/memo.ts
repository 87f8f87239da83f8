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
 * Trust: the file is data, not code. Its key is the boot id (`/proc/sys/kernel/random/boot_id`,
 * new on every boot) with the BTF's byte, type and string counts and this file's format; any
 * difference discards the whole file. Before a remembered id is used, the BTF itself confirms it
 * (in range, of the kind, with the name: {@link BtfLookupMemo}), so a stale or tampered file can
 * only cost the walk it was meant to save, except that it could hide a second match of a name,
 * which the key (one boot: one BTF) rules out. Only files the cache directory rules accept are
 * read (owned by the effective user, writable by no one else).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { dirname } from 'node:path';
import { cacheDirWritable, readPrivateFile, writePrivateFile } from '../cachedir.js';
import type { BtfLookupMemo } from './btf.js';

/** File name of the memo in the cache directory. */
export const LOOKUP_MEMO_FILE = 'kernel-btf-lookups.json';
/** Bumped whenever what a key means or how its answer is computed changes. */
const FORMAT = 1;
/** A larger file is not ours: answers are a few bytes each and capped by {@link MAX_ENTRIES}. */
const MAX_FILE_BYTES = 1 << 20;
/** Answers kept per file; beyond this, new answers are used but not remembered. */
const MAX_ENTRIES = 4096;
/** Where the kernel publishes the id of the current boot. */
const BOOT_ID_PATH = '/proc/sys/kernel/random/boot_id';

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
}

/** How the memo file served this process. */
export type LookupMemoState =
  /** Not read yet (no lookup asked). */
  | 'unread'
  /** Read, of this boot and BTF: its answers are used. */
  | 'loaded'
  /** No file yet. */
  | 'missing'
  /** A file of another boot or BTF, or of another format: discarded (and replaced when written). */
  | 'stale'
  /** Unreadable, not the user's, writable by others, or not a memo: ignored. */
  | 'invalid'
  /** No boot id could be read: nothing is remembered. */
  | 'disabled';

/** Counters of a {@link KernelBtfLookupMemo}, for start-up timings and tests. */
export interface LookupMemoStats {
  state: LookupMemoState;
  /** Lookups answered from the file (each id checked against the BTF). */
  hits: number;
  /** Lookups the file did not answer (or answered wrongly): walked, then remembered. */
  misses: number;
  /** Remembered answers the BTF refused (wrong kind or name, out of range). */
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
  // open/read/close rather than readFileSync: a start pays for every cold code path it takes, and
  // the memo file is read with these calls anyway.
  let fd: number;
  try {
    fd = openSync(BOOT_ID_PATH, 'r');
  } catch {
    return undefined;
  }
  try {
    const buf = Buffer.alloc(64);
    const id = buf.toString('latin1', 0, readSync(fd, buf, 0, buf.length, 0)).trim();
    return id === '' ? undefined : id;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

function sameIdentity(a: LookupMemoIdentity, b: LookupMemoIdentity): boolean {
  return a.boot === b.boot && a.bytes === b.bytes && a.types === b.types && a.strings === b.strings;
}

/** Is `v` a list of type ids as this format writes them? */
function isIdList(v: unknown): v is number[] {
  return Array.isArray(v) && v.length <= 65536 && v.every((id) => Number.isSafeInteger(id) && (id as number) > 0);
}

/** The `lookups` of a parsed file, or undefined when the file is not a memo of this format. */
function parseLookups(text: string, identity: LookupMemoIdentity): Map<string, readonly number[]> | 'stale' | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null) return undefined;
  const file = raw as Partial<MemoFile>;
  const id = file.identity;
  if (file.format !== FORMAT || typeof id !== 'object' || id === null) return 'stale';
  if (!sameIdentity(id, identity)) return 'stale';
  if (typeof file.lookups !== 'object' || file.lookups === null) return undefined;
  const out = new Map<string, readonly number[]>();
  for (const [key, ids] of Object.entries(file.lookups)) {
    if (!isIdList(ids)) return undefined;
    out.set(key, ids);
  }
  return out;
}

/**
 * The memo file `path` for the BTF of `identity` (boot id filled in on first use): a
 * {@link BtfLookupMemo} to give `Btf.useLookupMemo`. The file is read on the first lookup, and new
 * answers are written once per task (an immediate) and at exit, never on a lookup's path. A file
 * that cannot be read or written costs nothing but the walks.
 */
export class KernelBtfLookupMemo implements BtfLookupMemo {
  /** The memo file. */
  readonly path: string;
  private readonly shape: Omit<LookupMemoIdentity, 'boot'>;
  private readonly options: KernelBtfLookupMemoOptions;
  private identity: LookupMemoIdentity | undefined;
  private answers = new Map<string, readonly number[]>();
  private dirty = false;
  private flushQueued = false;
  private readonly counters: LookupMemoStats = { state: 'unread', hits: 0, misses: 0, refused: 0, written: undefined };

  /**
   * @param path the memo file (normally {@link LOOKUP_MEMO_FILE} in `defaultCacheDir()`)
   * @param shape the BTF's byte, type and string counts
   */
  constructor(path: string, shape: Omit<LookupMemoIdentity, 'boot'>, options: KernelBtfLookupMemoOptions = {}) {
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
    const ids = this.answers.get(key);
    if (ids === undefined) this.counters.misses++;
    else this.counters.hits++;
    return ids;
  }

  /** {@inheritDoc BtfLookupMemo.set} */
  set(key: string, ids: readonly number[]): void {
    if (this.counters.state === 'unread') this.read();
    if (this.identity === undefined) return;
    const known = this.answers.get(key);
    if (known !== undefined) {
      // The file's answer was refused by the BTF (the caller only sets after a miss or a refusal).
      this.counters.hits--;
      this.counters.misses++;
      this.counters.refused++;
    } else if (this.answers.size >= MAX_ENTRIES) {
      return;
    }
    this.answers.set(key, [...ids]);
    this.dirty = true;
    if (this.options.autoFlush !== false) this.queueFlush();
  }

  /**
   * Write the answers now if any are new. Returns whether the file now holds them (false when
   * nothing was new, no boot id is known, or the directory or file could not be written).
   */
  flush(): boolean {
    unwritten.delete(this);
    if (!this.dirty || this.identity === undefined) return false;
    this.dirty = false;
    const file: MemoFile = { format: FORMAT, identity: this.identity, lookups: Object.fromEntries(this.answers) as Record<string, number[]> };
    const ok = cacheDirWritable(dirname(this.path)) && writePrivateFile(this.path, Buffer.from(JSON.stringify(file), 'utf8'));
    this.counters.written = ok;
    return ok;
  }

  private read(): void {
    const boot = this.options.bootId ?? readBootId();
    if (boot === undefined) {
      this.counters.state = 'disabled';
      return;
    }
    this.identity = { boot, ...this.shape };
    const buf = readPrivateFile(this.path, 2, MAX_FILE_BYTES);
    if (buf === 'miss') {
      this.counters.state = 'missing';
      return;
    }
    const lookups = buf === 'invalid' ? undefined : parseLookups(buf.toString('utf8'), this.identity);
    if (lookups === undefined) this.counters.state = 'invalid';
    else if (lookups === 'stale') this.counters.state = 'stale';
    else {
      this.answers = lookups;
      this.counters.state = 'loaded';
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
