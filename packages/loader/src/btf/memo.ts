/**
 * Kernel-BTF lookups and CO-RE outcomes remembered across the processes of one boot.
 *
 * Every program that loads against the running kernel asks its BTF the same questions (where is
 * `task_struct`, which id has `cap_capable`, at which offset is `task_struct.nsproxy`), and the
 * first answer of each kind costs a walk over that kind's ~10-60k records, and before any, the
 * BTF's parse: a few milliseconds of every start each, in code that runs once and so never gets
 * past V8's interpreter. The kernel's BTF cannot change while it runs, so the answers are kept in
 * a small file of the per-user cache directory (`cachedir.ts`) keyed by the boot and the BTF's
 * shape; the next process of the same boot reads the file instead of walking. A load whose CO-RE
 * relocations and attach targets are all remembered never parses the kernel's BTF.
 *
 * What protects the answers:
 * - The key: the boot id (`/proc/sys/kernel/random/boot_id`, new on every boot), the BTF's file,
 *   type-section and string-section sizes (all three in its header), the loader's version and this
 *   file's format. A file with another key is discarded whole, so answers never outlive the BTF that
 *   produced them. A change to what lookups answer must bump {@link FORMAT}: between releases, the
 *   version alone does not change.
 * - A checksum over the payload: a corrupted file is ignored.
 * - The BTF itself: every remembered id is checked (in range, of the kind, with the name: see
 *   {@link BtfLookupMemo}) before it is used, and lists must be strictly ascending. Before the BTF is
 *   parsed (`findKernelType` in `kernel.ts`), a `find` answer is checked through the byte offset of
 *   its record, remembered with it: the record there must be of the kind and name asked for.
 * - The cache directory's rules: only a regular file of the effective user that no one else can
 *   write is read.
 * A CO-RE outcome (the values patched into an instruction, see `CoreOutcome`) is only remembered
 * when it matched in vmlinux, never in a module's BTF (modules come and go within a boot); it is
 * keyed by a checksum of the object's BTF and the relocation. Its local side (kind, access, the
 * value the compiler assumed) is computed again from the object's BTF and must match; its target
 * side cannot be checked without the parsed kernel BTF.
 * What the checks cannot see is an answer that leaves something out: an empty answer, a list
 * without one of the matches, or for a `find` (the lowest id of a name and kind) a higher id of the
 * same name and kind; nor, before the parse, an id paired with the offset of another record of the
 * same kind and name. Only a writer able to write this user's files could make one (a process of the
 * same user, which could equally change the program), so the key is trusted there.
 */
import { lstatSync, readdirSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CHECKSUM_BYTES, cacheDirWritable, checksum, readPrivateFile, writePrivateFile } from '../cachedir.js';
import { readPseudoFile } from '../pseudofile.js';
import { LOADER_VERSION } from '../version.js';
import type { BtfLookupMemo } from './btf.js';
import type { CoreOutcome } from './core/relocate.js';

/** File name of the memo in the cache directory. */
export const LOOKUP_MEMO_FILE = 'kernel-btf-lookups.json';
/** Bumped whenever what a key means or how its answer is computed changes (the version is keyed too). 2: record offsets, CO-RE outcomes. */
const FORMAT = 2;
/** First line of the file, before the payload's checksum in hex and a newline. */
const MAGIC = 'tsbpf-btf-lookups\n';
const HEADER_BYTES = MAGIC.length + 2 * CHECKSUM_BYTES + 1;
/** A larger file is not ours: answers take tens of bytes (outcomes ~200) and are capped in number. */
const MAX_FILE_BYTES = 1 << 20;
/**
 * Answers kept per file, of lookups and of CO-RE outcomes each. The file's answers are written
 * before new ones, so a burst of one-off lookups can fill the file's free room once per boot but
 * never push out answers already kept.
 */
export const MAX_MEMO_ENTRIES = 4096;
/** CO-RE outcomes kept per file (a few dozen an object; every rebuild of an object is another). */
export const MAX_MEMO_OUTCOMES = 1024;
/** Where the kernel publishes the id of the current boot. */
const BOOT_ID_PATH = '/proc/sys/kernel/random/boot_id';
/** Temporary files older than this belong to no running writer. */
const STALE_TMP_MS = 3600 * 1000;

/** What pins a memo file to one BTF: a file with another identity is discarded whole. */
export interface LookupMemoIdentity {
  /** The id of the boot (a random UUID the kernel draws at boot). */
  boot: string;
  /** Size of the BTF file in bytes. */
  bytes: number;
  /** Length of the type section (the header's `type_len`). */
  typeBytes: number;
  /** Length of the string section (the header's `str_len`). */
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
  /** Lookups answered from the file (each id checked against the BTF, or its record before the parse). */
  hits: number;
  /** Lookups searched: the file had no answer for them, or one the BTF refused. */
  misses: number;
  /** Answers from the file refused by their check (wrong kind or name, out of range; a CO-RE outcome that does not fit its relocation). */
  refused: number;
  /** CO-RE relocations whose outcome came from the file. */
  outcomeHits: number;
  /** CO-RE relocations the file had no outcome for (resolved against the BTF). */
  outcomeMisses: number;
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
  /** Per key of `lookups` (when known): the byte offset of each id's record in the type section. */
  at?: Record<string, number[]>;
  /** CO-RE outcomes by key (see {@link KernelBtfLookupMemo.outcome}). */
  core?: Record<string, StoredOutcome>;
}

/** A {@link CoreOutcome} as the file keeps it (bigints as decimal strings, short names). */
interface StoredOutcome {
  k: number;
  n: string;
  d: string;
  l: string;
  t: string;
  p: boolean;
  v: boolean;
  ls: number;
  ts: number;
  f: boolean;
  id: number | null;
  m: number;
}

function storeOutcome(o: CoreOutcome): StoredOutcome {
  return {
    k: o.kind,
    n: o.kindName,
    d: o.description,
    l: o.localValue.toString(),
    t: o.targetValue.toString(),
    p: o.poisoned,
    v: o.validate,
    ls: o.localSize,
    ts: o.targetSize,
    f: o.failMemorySizeAdjust,
    id: o.targetTypeId ?? null,
    m: o.matchedCandidates,
  };
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isDecimal = (v: unknown): v is string => typeof v === 'string' && /^-?\d{1,20}$/.test(v);

/** The outcome a stored one stands for, or undefined when it is not one this format writes. */
function loadOutcome(v: unknown): CoreOutcome | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const o = v as Partial<Record<keyof StoredOutcome, unknown>>;
  if (!isCount(o.k) || typeof o.n !== 'string' || typeof o.d !== 'string' || !isDecimal(o.l) || !isDecimal(o.t)) return undefined;
  if (typeof o.p !== 'boolean' || typeof o.v !== 'boolean' || typeof o.f !== 'boolean' || !isCount(o.ls) || !isCount(o.ts) || !isCount(o.m)) return undefined;
  if (o.id !== null && !(isCount(o.id) && o.id > 0)) return undefined;
  return {
    kind: o.k,
    kindName: o.n,
    description: o.d,
    localValue: BigInt(o.l),
    targetValue: BigInt(o.t),
    poisoned: o.p,
    validate: o.v,
    localSize: o.ls,
    targetSize: o.ts,
    failMemorySizeAdjust: o.f,
    targetTypeId: o.id ?? undefined,
    matchedCandidates: o.m,
  };
}

/** A remembered answer with the offsets of its records (see {@link KernelBtfLookupMemo.rememberedAt}). */
export interface RememberedLookup {
  /** The ids, ascending. */
  ids: readonly number[];
  /** Byte offset of each id's record in the type section, in the same order. */
  at: readonly number[];
}

/** The answers of a file: ids per key, and record offsets per key where the file has them. */
interface FileAnswers {
  ids: Map<string, readonly number[]>;
  at: Map<string, readonly number[]>;
  outcomes: Map<string, CoreOutcome>;
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
  return a.boot === b.boot && a.bytes === b.bytes && a.typeBytes === b.typeBytes && a.strings === b.strings && a.loader === b.loader;
}

/** Is `v` a list of record offsets: 4-byte aligned non-negative integers within the type section? */
function isOffsetList(v: unknown, typeBytes: number): v is number[] {
  if (!Array.isArray(v)) return false;
  for (const off of v as unknown[]) {
    if (typeof off !== 'number' || !Number.isSafeInteger(off) || off < 0 || off % 4 !== 0 || off >= typeBytes) return false;
  }
  return true;
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
function parseFile(buf: Buffer, identity: LookupMemoIdentity): FileAnswers | 'stale' | undefined {
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
  const out: FileAnswers = { ids: new Map(), at: new Map(), outcomes: new Map() };
  for (const [key, ids] of Object.entries(file.lookups)) {
    if (!isIdList(ids)) return undefined;
    out.ids.set(key, ids);
  }
  if (file.at !== undefined) {
    if (typeof file.at !== 'object' || file.at === null || Array.isArray(file.at)) return undefined;
    for (const [key, at] of Object.entries(file.at)) {
      if (!isOffsetList(at, identity.typeBytes)) return undefined;
      // Offsets of another key, or not one per id, are of no use: that answer is only checked after the parse.
      if (out.ids.get(key)?.length === at.length) out.at.set(key, at);
    }
  }
  if (file.core !== undefined) {
    if (typeof file.core !== 'object' || file.core === null || Array.isArray(file.core)) return undefined;
    for (const [key, stored] of Object.entries(file.core)) {
      const outcome = loadOutcome(stored);
      if (outcome === undefined) return undefined;
      out.outcomes.set(key, outcome);
    }
  }
  return out;
}

/**
 * One kind of answer of a memo file (lookups, CO-RE outcomes): those read from it and those this
 * process used or learnt, bounded by `cap` keys in all. A key in both maps is a file answer handed
 * out; {@link put} takes a key out of the file's (its answer is replaced), {@link drop} out of both.
 */
class Section<T> {
  /** Answers read from the file (until replaced or dropped). */
  fromFile = new Map<string, T>();
  /** Answers this process used or learnt. */
  private readonly used = new Map<string, T>();
  /** Keys in `used` that `fromFile` does not hold: what a write adds to the file's. */
  private added = 0;

  constructor(private readonly cap: number) {}

  /** The answer for `key`: `hit` when it is the file's, handed out for the first time; undefined when there is none. */
  take(key: string): { value: T; hit: boolean } | undefined {
    const used = this.used.get(key);
    if (used !== undefined) return { value: used, hit: false }; // answered before in this process
    const stored = this.fromFile.get(key);
    if (stored === undefined) return undefined;
    this.used.set(key, stored);
    return { value: stored, hit: true };
  }

  /** The answer for `key` without handing it out. */
  peek(key: string): T | undefined {
    return this.used.get(key) ?? this.fromFile.get(key);
  }

  /** Whether the file's answer for `key` was handed out (a replacement of it is a refusal). */
  handedOut(key: string): boolean {
    return this.used.has(key) && this.fromFile.has(key);
  }

  /**
   * Keep `value` for `key` (it serves this process either way). Returns false when the file is
   * full for a new key: nothing to write then. A key dropped before left the file, which made room.
   */
  put(key: string, value: T): boolean {
    const inFile = this.fromFile.has(key);
    const isNew = !(this.used.has(key) && !inFile);
    const full = !inFile && isNew && this.fromFile.size + this.added >= this.cap;
    if (isNew) this.added++;
    this.fromFile.delete(key);
    this.used.set(key, value);
    return !full;
  }

  /** Forget the file's answer for `key` if it was handed out; returns whether it was. */
  drop(key: string): boolean {
    if (!this.handedOut(key)) return false;
    this.fromFile.delete(key);
    this.used.delete(key);
    return true;
  }

  /** What a write holds, up to `cap`: the file's answers first, then this process's new ones. */
  entries(): [string, T][] {
    const out = [...this.fromFile];
    for (const [key, value] of this.used) if (!this.fromFile.has(key)) out.push([key, value]);
    return out.slice(0, this.cap);
  }
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
  private readonly shape: Pick<LookupMemoIdentity, 'bytes' | 'typeBytes' | 'strings'>;
  private readonly options: KernelBtfLookupMemoOptions;
  private identity: LookupMemoIdentity | undefined;
  /** Lookup answers (ids by key). */
  private readonly lookups = new Section<readonly number[]>(MAX_MEMO_ENTRIES);
  /** Record offsets of the lookup answers, where known (from the file, or given to {@link set}). */
  private offsets = new Map<string, readonly number[]>();
  /** CO-RE outcomes by key. */
  private readonly outcomes = new Section<CoreOutcome>(MAX_MEMO_OUTCOMES);
  private dirty = false;
  private flushQueued = false;
  private readonly counters: LookupMemoStats = { state: 'unread', hits: 0, misses: 0, refused: 0, outcomeHits: 0, outcomeMisses: 0, written: undefined };

  /**
   * @param path the memo file (normally {@link LOOKUP_MEMO_FILE} in `defaultCacheDir()`)
   * @param shape the BTF's file, type-section and string-section sizes (see `btfFileLayout`)
   * @param options the boot id to key by and whether to write by itself (tests)
   */
  constructor(path: string, shape: Pick<LookupMemoIdentity, 'bytes' | 'typeBytes' | 'strings'>, options: KernelBtfLookupMemoOptions = {}) {
    this.path = path;
    this.shape = { bytes: shape.bytes, typeBytes: shape.typeBytes, strings: shape.strings };
    this.options = options;
  }

  /** Counters so far (a copy). */
  get stats(): LookupMemoStats {
    return { ...this.counters };
  }

  /** {@inheritDoc BtfLookupMemo.get} */
  get(key: string): readonly number[] | undefined {
    if (this.counters.state === 'unread') this.read();
    const found = this.lookups.take(key);
    if (found === undefined) this.counters.misses++;
    else if (found.hit) this.counters.hits++;
    return found?.value;
  }

  /**
   * {@link get}, with the byte offset of each id's record in the type section: for a caller that
   * checks the answer before the BTF is parsed. Undefined when there is no answer or its offsets are
   * unknown. A caller whose check fails lets the parsed BTF look again, which refuses the answer.
   */
  rememberedAt(key: string): RememberedLookup | undefined {
    if (this.counters.state === 'unread') this.read();
    const known = this.lookups.peek(key);
    if (known === undefined) return undefined;
    const at = known.length === 0 ? [] : this.offsets.get(key);
    if (at === undefined) return undefined;
    const ids = this.get(key);
    return ids === undefined ? undefined : { ids, at };
  }

  /**
   * The CO-RE outcome remembered for `key` (the caller's: a checksum of the object's BTF and the
   * relocation), or undefined. An outcome cannot be checked here: see the module comment.
   */
  outcome(key: string): CoreOutcome | undefined {
    if (this.counters.state === 'unread') this.read();
    const found = this.outcomes.take(key);
    if (found === undefined) this.counters.outcomeMisses++;
    else if (found.hit) this.counters.outcomeHits++;
    return found?.value;
  }

  /**
   * Take back the file's outcome for `key`, handed out by {@link outcome} and refused by the caller
   * (it does not fit the relocation): it is dropped from the file at the next write.
   */
  refuseOutcome(key: string): void {
    if (!this.outcomes.drop(key)) return;
    this.counters.outcomeHits--;
    this.counters.outcomeMisses++;
    this.counters.refused++;
    this.markDirty(); // dropped from the file even if no outcome replaces it
  }

  /** Remember the CO-RE outcome of `key`, resolved against vmlinux (never a module's BTF). */
  rememberOutcome(key: string, outcome: CoreOutcome): void {
    if (this.counters.state === 'unread') this.read();
    // A full file takes no new outcome (and is not rewritten for one).
    if (this.outcomes.put(key, outcome)) this.markDirty();
  }

  /**
   * Take back the file's answer for `key`, handed out by {@link rememberedAt} and refused by the
   * caller's check: the next lookup searches, and its answer replaces the file's.
   */
  refuse(key: string): void {
    if (!this.lookups.drop(key)) return;
    this.offsets.delete(key);
    this.counters.hits--;
    this.counters.refused++;
    this.markDirty(); // dropped from the file even if no answer replaces it
  }

  /** {@inheritDoc BtfLookupMemo.set} */
  set(key: string, ids: readonly number[], at?: readonly number[]): void {
    if (this.counters.state === 'unread') this.read();
    if (this.lookups.handedOut(key)) {
      // The file's answer was handed out and the BTF refused it (a lookup sets only after a miss or a refusal).
      this.counters.hits--;
      this.counters.misses++;
      this.counters.refused++;
    }
    // A full file takes no new key (and is not rewritten for one); it still serves this process.
    const room = this.lookups.put(key, [...ids]);
    if (at !== undefined && at.length === ids.length) this.offsets.set(key, [...at]);
    else this.offsets.delete(key);
    if (room) this.markDirty();
  }

  /** New answers to write: after the current task (see {@link queueFlush}), unless tests flush. */
  private markDirty(): void {
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
      const entries = this.lookups.entries();
      const outcomes = this.outcomes.entries();
      let n = entries.length;
      let m = outcomes.length;
      let file = this.encode(entries, n, outcomes, m);
      // Long names can make the entries outgrow the size limit: keep the first half until they fit.
      while (file.length > MAX_FILE_BYTES && (n > 0 || m > 0)) file = this.encode(entries, (n >>>= 1), outcomes, (m >>>= 1));
      ok = cacheDirWritable(dirname(this.path)) && writePrivateFile(this.path, file);
    } catch {
      ok = false;
    }
    if (ok) this.removeStaleTemporaries();
    this.counters.written = ok;
    return ok;
  }

  /** The file holding the first `n` of `entries` and `m` of `outcomes`: header line, checksum line, JSON payload. */
  private encode(entries: readonly [string, readonly number[]][], n: number, outcomes: readonly [string, CoreOutcome][], m: number): Buffer {
    const lookups: Record<string, readonly number[]> = {};
    const at: Record<string, readonly number[]> = {};
    for (let i = 0; i < n; i++) {
      const [key, ids] = entries[i];
      lookups[key] = ids;
      const offsets = this.offsets.get(key);
      if (offsets !== undefined && offsets.length > 0) at[key] = offsets;
    }
    const core: Record<string, StoredOutcome> = {};
    for (let i = 0; i < m; i++) core[outcomes[i][0]] = storeOutcome(outcomes[i][1]);
    const payload = Buffer.from(JSON.stringify({ format: FORMAT, identity: this.identity, lookups, at, core }), 'utf8');
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
    let answers: FileAnswers | 'stale' | undefined;
    try {
      answers = buf === 'invalid' ? undefined : parseFile(buf, this.identity);
    } catch {
      answers = undefined;
    }
    if (answers === undefined) this.counters.state = 'invalid';
    else if (answers === 'stale') this.counters.state = 'stale';
    else {
      this.lookups.fromFile = answers.ids;
      this.outcomes.fromFile = answers.outcomes;
      for (const [key, at] of answers.at) if (!this.offsets.has(key)) this.offsets.set(key, at);
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
