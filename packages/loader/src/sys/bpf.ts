/**
 * Typed bpf(2) commands. Each function encodes its attr (see `attr.ts`), makes the call and throws a
 * {@link SyscallError} naming the command and errno on failure. Element operations reuse one
 * preallocated attr buffer: they are the hot path.
 */
import { statfsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import {
  type BtfLoadAttr,
  type FdLike,
  type LinkCreateAttr,
  type MapBatchAttr,
  type MapCreateAttr,
  type ProgAttachAttr,
  type ProgLoadAttr,
  type ProgTestRunAttr,
  BTF_LOAD_LOG_TRUE_SIZE_OFFSET,
  PROG_LOAD_LOG_TRUE_SIZE_OFFSET,
  AttrWriter,
  cString,
  encodeBtfLoad,
  encodeLinkCreate,
  encodeMapBatch,
  encodeMapCreate,
  encodeObj,
  encodeProgAttach,
  encodeProgLoad,
  encodeProgTestRun,
  fromCString,
  rawFd,
} from './attr.js';
import { TsbpfError } from '../errors.js';
import { BPF_CMD, bpfCmdName } from './constants.js';
import { ERRNO } from './errno.js';
import { SyscallError } from './errors.js';
import { addressNumber, bpfCall, bpfCallAsync, bpfCallAt, withNotifySignalsHeld } from './ffi.js';
import { Fd } from './fd.js';

function cmdLabel(cmd: number): string {
  return `bpf(${bpfCmdName(cmd) ?? `cmd ${cmd}`})`;
}

function labelOf(fd: FdLike): string | undefined {
  return typeof fd === 'number' ? undefined : fd.label;
}

/** Runs `cmd` with the writer's attr; returns the result or throws. */
function call(cmd: number, w: AttrWriter, context?: string): number {
  const r = bpfCall(cmd, w.bytes, w.size);
  if (r < 0) throw new SyscallError(cmdLabel(cmd), -r, { context });
  return r;
}

/** Runs a command that returns a new descriptor and wraps it in an {@link Fd}. */
function callFd(cmd: number, w: AttrWriter, label: string | undefined): Fd {
  return new Fd(call(cmd, w, label), label);
}

// ------------------------------------------------------------------------------------------------ maps

/**
 * Creates a map (`BPF_MAP_CREATE`).
 * @throws SyscallError e.g. EINVAL for a bad size/flag combination, EPERM without CAP_BPF.
 */
export function mapCreate(attrs: MapCreateAttr): Fd {
  const label = attrs.mapName ? `map "${attrs.mapName}"` : 'map';
  return callFd(BPF_CMD.MAP_CREATE, encodeMapCreate(attrs), label);
}

/**
 * Used after an `await` on a kernel call, so the attr and the buffers its pointers name (held by
 * the attrs object) stay reachable while a worker thread reads them.
 */
function keepAlive(...objects: unknown[]): void {
  if (objects.length === 0) throw new TsbpfError('FFI_ASYNC', 'nothing to keep alive');
}

/**
 * {@link mapCreate} on a libuv worker thread, so the kernel's work (allocating a preallocated map)
 * overlaps JavaScript. One attempt; a failure rejects with the same {@link SyscallError}.
 */
export async function mapCreateAsync(attrs: MapCreateAttr): Promise<Fd> {
  const label = attrs.mapName ? `map "${attrs.mapName}"` : 'map';
  const w = encodeMapCreate(attrs);
  const r = await bpfCallAsync(BPF_CMD.MAP_CREATE, w.bytes, w.size);
  keepAlive(w);
  if (r < 0) throw new SyscallError(cmdLabel(BPF_CMD.MAP_CREATE), -r, { context: label });
  return new Fd(r, label);
}

const TWO_32 = 4294967296;

/**
 * A 32-byte attr for the element commands (map_fd, key, value/next_key, flags) whose own native
 * address is computed once, so a call passes plain integers through the FFI (see `bpfCallAt`).
 *
 * Not re-entrant: a call fills the attr, then runs the syscall synchronously. That is safe because
 * JS runs one call at a time on a thread and bpf(2) never calls back into JS; each worker thread has
 * its own module instance and so its own attrs. The attr buffer is owned by this object, which keeps
 * it alive for as long as its address can be used.
 */
class ElemAttr {
  readonly #bytes = new Uint8Array(32);
  readonly #view = new DataView(this.#bytes.buffer);
  readonly #address = addressNumber(this.#bytes);

  /** Fills the attr and runs `cmd`; addresses are numbers (0 for none). Returns the result or `-errno`. */
  call(cmd: number, fd: number, keyAddress: number, valueAddress: number, flags: number | bigint, size: number): number {
    const v = this.#view;
    v.setUint32(0, fd, true);
    // Two 32-bit halves: no BigInt for addresses below 2^53 or for number flags. setUint32 stores
    // its argument modulo 2^32 (ToUint32), so the low half needs no `%`, which V8 compiles to a
    // call of the C library's fmod for values beyond int32.
    v.setUint32(8, keyAddress, true);
    v.setUint32(12, Math.floor(keyAddress / TWO_32), true);
    v.setUint32(16, valueAddress, true);
    v.setUint32(20, Math.floor(valueAddress / TWO_32), true);
    if (typeof flags === 'number') {
      v.setUint32(24, flags, true);
      v.setUint32(28, Math.floor(flags / TWO_32), true);
    } else {
      v.setBigUint64(24, BigInt.asUintN(64, flags), true);
    }
    return bpfCallAt(cmd, this.#address, size);
  }
}

// The attr of the module-level element functions below.
const sharedElemAttr = new ElemAttr();

// Addresses of key/value buffers seen before: a WeakMap hit costs a fraction of an FFI address lookup,
// and a typed array's address never changes (backing stores do not move, byteOffset is fixed). A
// detached buffer's length drops to 0: it is passed as NULL (the kernel answers EFAULT), never by
// its stale address.
const addressCache = new WeakMap<Uint8Array, number>();

function cachedAddress(buf: Uint8Array | null): number {
  if (buf === null || buf.byteLength === 0) return 0;
  let a = addressCache.get(buf);
  if (a === undefined) {
    a = addressNumber(buf);
    addressCache.set(buf, a);
  }
  return a;
}

// The last key and value buffers seen by the module-level functions: callers that reuse their
// buffers (the fast way to use them) skip the WeakMap with one identity check. Holding them keeps
// at most one key and one value buffer alive until the next call.
let lastKey: Uint8Array | null = null;
let lastKeyAddress = 0;
let lastValue: Uint8Array | null = null;
let lastValueAddress = 0;

function elemCall(cmd: number, fd: FdLike, key: Uint8Array | null, value: Uint8Array | null, flags: number | bigint): number {
  // byteLength is rechecked on a hit: a detached buffer must not keep its stale address.
  if (key !== lastKey || key === null || key.byteLength === 0) {
    lastKeyAddress = cachedAddress(key);
    lastKey = key;
  }
  if (value !== lastValue || value === null || value.byteLength === 0) {
    lastValueAddress = cachedAddress(value);
    lastValue = value;
  }
  return sharedElemAttr.call(cmd, rawFd(fd), lastKeyAddress, lastValueAddress, flags, 32);
}

function elemError(cmd: number, errno: number, fd: FdLike): SyscallError {
  return new SyscallError(cmdLabel(cmd), errno, { context: labelOf(fd) });
}

/**
 * Element calls on one map through its own attr and its own scratch key and value buffers, whose
 * addresses are taken once: the per-call work is encoding into {@link key} (and {@link value}) and
 * one integer-only FFI call. `BpfMap` holds one per map. Same single-thread rule as the module-level
 * element functions; a caller must not hold on to the scratch contents across calls.
 */
export class MapElemOps {
  /** Scratch key (the map's key size; empty for maps without keys, which pass a null key). */
  readonly key: Uint8Array;
  /** DataView over {@link key}. */
  readonly keyView: DataView;
  /** Scratch value (`valueSize` bytes: per-CPU maps pass the size of all CPUs' slots). */
  readonly value: Uint8Array;
  /** DataView over {@link value}. */
  readonly valueView: DataView;
  readonly #fd: FdLike;
  readonly #attr = new ElemAttr();
  readonly #keyAddress: number;
  readonly #valueAddress: number;

  /**
   * @param fd the map; read on every call, so a closed {@link Fd} throws instead of reaching a reused
   *   descriptor number.
   */
  constructor(fd: FdLike, keySize: number, valueSize: number) {
    this.#fd = fd;
    this.key = new Uint8Array(keySize);
    this.keyView = new DataView(this.key.buffer);
    this.value = new Uint8Array(Math.max(valueSize, 1));
    this.valueView = new DataView(this.value.buffer);
    this.#keyAddress = keySize === 0 ? 0 : addressNumber(this.key);
    this.#valueAddress = addressNumber(this.value);
  }

  // The caller's last own value buffer (an `out` reused across lookups skips the WeakMap).
  #lastValue: Uint8Array | null = null;
  #lastValueAddress = 0;

  #call(cmd: number, value: Uint8Array | null | undefined, flags: number, size: number): number {
    let valueAddress = this.#valueAddress;
    if (value !== undefined) {
      // byteLength is rechecked on a hit: a detached buffer must not keep its stale address.
      if (value !== this.#lastValue || value === null || value.byteLength === 0) {
        this.#lastValueAddress = cachedAddress(value);
        this.#lastValue = value;
      }
      valueAddress = this.#lastValueAddress;
    }
    return this.#attr.call(cmd, rawFd(this.#fd), this.#keyAddress, valueAddress, flags, size);
  }

  /**
   * `BPF_MAP_LOOKUP_ELEM` of the scratch key into the scratch value, or into `out` (which must hold
   * the value size). Returns false when the key is absent.
   */
  lookup(out?: Uint8Array, flags = 0): boolean {
    const r = this.#call(BPF_CMD.MAP_LOOKUP_ELEM, out, flags, 32);
    if (r >= 0) return true;
    if (r === -ERRNO.ENOENT) return false;
    throw elemError(BPF_CMD.MAP_LOOKUP_ELEM, -r, this.#fd);
  }

  /** `BPF_MAP_UPDATE_ELEM` of the scratch key with the scratch value, or with `value`. */
  update(flags = 0, value?: Uint8Array): void {
    const r = this.#call(BPF_CMD.MAP_UPDATE_ELEM, value, flags, 32);
    if (r < 0) throw elemError(BPF_CMD.MAP_UPDATE_ELEM, -r, this.#fd);
  }

  /** `BPF_MAP_DELETE_ELEM` of the scratch key; false when it was absent. */
  delete(): boolean {
    // The attr ends at `key` for this command: a 16-byte size leaves value and flags to the
    // kernel's zero fill, which it requires.
    const r = this.#call(BPF_CMD.MAP_DELETE_ELEM, null, 0, 16);
    if (r >= 0) return true;
    if (r === -ERRNO.ENOENT) return false;
    throw elemError(BPF_CMD.MAP_DELETE_ELEM, -r, this.#fd);
  }

  /** `BPF_MAP_LOOKUP_AND_DELETE_ELEM` of the scratch key (none for queue/stack maps) into the scratch value. */
  lookupAndDelete(flags = 0): boolean {
    const r = this.#call(BPF_CMD.MAP_LOOKUP_AND_DELETE_ELEM, undefined, flags, 32);
    if (r >= 0) return true;
    if (r === -ERRNO.ENOENT) return false;
    throw elemError(BPF_CMD.MAP_LOOKUP_AND_DELETE_ELEM, -r, this.#fd);
  }
}

/**
 * Looks `key` up (`BPF_MAP_LOOKUP_ELEM`), copying the value into `value`, which must hold the map's
 * value size (per-CPU maps: round_up(value size, 8) × possible CPUs). `key` is null for queue/stack
 * peeks.
 * @returns false when the key is absent (ENOENT).
 */
export function mapLookupElem(fd: FdLike, key: Uint8Array | null, value: Uint8Array, flags: number = 0): boolean {
  const r = elemCall(BPF_CMD.MAP_LOOKUP_ELEM, fd, key, value, flags);
  if (r === -ERRNO.ENOENT) return false;
  if (r < 0) throw new SyscallError(cmdLabel(BPF_CMD.MAP_LOOKUP_ELEM), -r, { context: labelOf(fd) });
  return true;
}

/**
 * Creates or updates an element (`BPF_MAP_UPDATE_ELEM`); `flags` is BPF_ANY/NOEXIST/EXIST (| F_LOCK).
 * `key` is null for queue/stack pushes.
 */
export function mapUpdateElem(fd: FdLike, key: Uint8Array | null, value: Uint8Array, flags: number = 0): void {
  const r = elemCall(BPF_CMD.MAP_UPDATE_ELEM, fd, key, value, flags);
  if (r < 0) throw new SyscallError(cmdLabel(BPF_CMD.MAP_UPDATE_ELEM), -r, { context: labelOf(fd) });
}

/**
 * Deletes `key` (`BPF_MAP_DELETE_ELEM`).
 * @returns false when the key was absent (ENOENT).
 */
export function mapDeleteElem(fd: FdLike, key: Uint8Array | null, flags: number = 0): boolean {
  const r = elemCall(BPF_CMD.MAP_DELETE_ELEM, fd, key, null, flags);
  if (r === -ERRNO.ENOENT) return false;
  if (r < 0) throw new SyscallError(cmdLabel(BPF_CMD.MAP_DELETE_ELEM), -r, { context: labelOf(fd) });
  return true;
}

/**
 * Writes the key after `key` (null: the first key) into `next` (`BPF_MAP_GET_NEXT_KEY`).
 * @returns false at the end of the map (ENOENT).
 */
export function mapGetNextKey(fd: FdLike, key: Uint8Array | null, next: Uint8Array): boolean {
  const r = elemCall(BPF_CMD.MAP_GET_NEXT_KEY, fd, key, next, 0);
  if (r === -ERRNO.ENOENT) return false;
  if (r < 0) throw new SyscallError(cmdLabel(BPF_CMD.MAP_GET_NEXT_KEY), -r, { context: labelOf(fd) });
  return true;
}

/**
 * Looks up and deletes in one step (`BPF_MAP_LOOKUP_AND_DELETE_ELEM`); `key` is null to pop a
 * queue/stack.
 * @returns false when there was no such element (ENOENT).
 */
export function mapLookupAndDeleteElem(fd: FdLike, key: Uint8Array | null, value: Uint8Array, flags: number = 0): boolean {
  const r = elemCall(BPF_CMD.MAP_LOOKUP_AND_DELETE_ELEM, fd, key, value, flags);
  if (r === -ERRNO.ENOENT) return false;
  if (r < 0) throw new SyscallError(cmdLabel(BPF_CMD.MAP_LOOKUP_AND_DELETE_ELEM), -r, { context: labelOf(fd) });
  return true;
}

/** Result of a lookup batch. */
export interface MapBatchResult {
  /** Elements copied into keys/values. */
  count: number;
  /** True when the map has no elements after these (ENOENT). */
  done: boolean;
}

function batchRead(cmd: number, fd: FdLike, a: MapBatchAttr): MapBatchResult {
  const w = encodeMapBatch(fd, a);
  w.size = Math.max(w.size, 40);
  const r = bpfCall(cmd, w.bytes, w.size);
  const count = w.view.getUint32(32, true);
  if (r === -ERRNO.ENOENT) return { count, done: true };
  if (r < 0) throw new SyscallError(cmdLabel(cmd), -r, { context: labelOf(fd) });
  return { count, done: false };
}

/**
 * Copies up to `count` elements (`BPF_MAP_LOOKUP_BATCH`). Pass `outBatch` of the previous call as
 * `inBatch` to continue; `done` says the map is exhausted.
 */
export function mapLookupBatch(fd: FdLike, a: MapBatchAttr): MapBatchResult {
  return batchRead(BPF_CMD.MAP_LOOKUP_BATCH, fd, a);
}

/** Like {@link mapLookupBatch}, deleting what it copied (`BPF_MAP_LOOKUP_AND_DELETE_BATCH`). */
export function mapLookupAndDeleteBatch(fd: FdLike, a: MapBatchAttr): MapBatchResult {
  return batchRead(BPF_CMD.MAP_LOOKUP_AND_DELETE_BATCH, fd, a);
}

function batchWrite(cmd: number, fd: FdLike, a: MapBatchAttr): number {
  const w = encodeMapBatch(fd, a);
  w.size = Math.max(w.size, 40);
  const r = bpfCall(cmd, w.bytes, w.size);
  const count = w.view.getUint32(32, true);
  if (r < 0) throw new SyscallError(cmdLabel(cmd), -r, { context: `${labelOf(fd) ?? 'map'}: ${count} of ${a.count} elements processed` });
  return count;
}

/**
 * Updates `count` elements (`BPF_MAP_UPDATE_BATCH`).
 * @returns the number updated.
 * @throws SyscallError whose context says how many were processed before the failure.
 */
export function mapUpdateBatch(fd: FdLike, a: Omit<MapBatchAttr, 'inBatch' | 'outBatch'>): number {
  return batchWrite(BPF_CMD.MAP_UPDATE_BATCH, fd, a);
}

/** Deletes `count` keys (`BPF_MAP_DELETE_BATCH`); returns the number deleted. */
export function mapDeleteBatch(fd: FdLike, a: Omit<MapBatchAttr, 'inBatch' | 'outBatch' | 'values'>): number {
  return batchWrite(BPF_CMD.MAP_DELETE_BATCH, fd, a);
}

/** Freezes a map: no more writes from user space (`BPF_MAP_FREEZE`). */
export function mapFreeze(fd: FdLike): void {
  const w = new AttrWriter(4).fd(0, fd);
  call(BPF_CMD.MAP_FREEZE, w, labelOf(fd));
}

// -------------------------------------------------------------------------------------------- programs

function logText(buf: Uint8Array | undefined): string | undefined {
  if (!buf) return undefined;
  const s = fromCString(buf);
  return s === '' ? undefined : s;
}

/**
 * Verification interrupted by a signal (a profiler's timer, a child's exit, Ctrl-C) fails with EAGAIN:
 * retried like libbpf does. When every attempt was interrupted, one more runs with the notification
 * signals held pending (a profiler's timer fires faster than a large program verifies).
 */
const PROG_LOAD_ATTEMPTS = 5;

function progLoadCall(w: AttrWriter): number {
  let r = -ERRNO.EAGAIN;
  for (let i = 0; i < PROG_LOAD_ATTEMPTS && r === -ERRNO.EAGAIN; i++) r = bpfCall(BPF_CMD.PROG_LOAD, w.bytes, w.size);
  if (r === -ERRNO.EAGAIN) r = withNotifySignalsHeld(() => bpfCall(BPF_CMD.PROG_LOAD, w.bytes, w.size));
  return r;
}

/**
 * Loads a program (`BPF_PROG_LOAD`). On failure the thrown {@link SyscallError} carries the verifier
 * log written into `logBuf` (if any) as `.log`.
 */
export function progLoad(attrs: ProgLoadAttr): Fd {
  const label = attrs.progName ? `program "${attrs.progName}"` : 'program';
  const w = encodeProgLoad(attrs);
  const r = progLoadCall(w);
  if (r < 0) {
    // An interrupted run's log is a fragment, not a verdict.
    throw new SyscallError(cmdLabel(BPF_CMD.PROG_LOAD), -r, { context: label, log: r === -ERRNO.EAGAIN ? undefined : logText(attrs.logBuf) });
  }
  return new Fd(r, label);
}

/**
 * {@link progLoad} on a libuv worker thread (the verifier runs there, in parallel with other loads
 * and with JavaScript). One attempt, without a log: a failure (EAGAIN included) rejects with the
 * {@link SyscallError}, and a caller that wants the verdict loads again with
 * {@link progLoadWithLog}; attrs with a log buffer or level are refused (`BPF_ATTR_LOG`). Like
 * {@link mapCreateAsync}, it queues on the shared pool whatever holds it (see
 * `Collection.loadAsync`, which checks for room first).
 */
export async function progLoadAsync(attrs: ProgLoadAttr): Promise<Fd> {
  if (attrs.logBuf !== undefined || attrs.logLevel) {
    throw new TsbpfError('BPF_ATTR_LOG', 'progLoadAsync loads without a verifier log: use progLoadWithLog for one');
  }
  const label = attrs.progName ? `program "${attrs.progName}"` : 'program';
  const w = encodeProgLoad(attrs);
  const r = await bpfCallAsync(BPF_CMD.PROG_LOAD, w.bytes, w.size);
  keepAlive(w, attrs);
  if (r < 0) throw new SyscallError(cmdLabel(BPF_CMD.PROG_LOAD), -r, { context: label });
  return new Fd(r, label);
}

/** Log buffer sizes for {@link progLoadWithLog} / {@link btfLoadWithLog}. */
export interface LogOptions {
  /** First log buffer size in bytes (at least 128; default 64 KiB). */
  initialLogSize?: number;
  /**
   * Largest log buffer tried (default 16 MiB); past it the truncated log is reported. On 6.4+ a
   * log longer than this is reported at once from the tail the first buffer kept.
   */
  maxLogSize?: number;
  /** Log level of the retry that fetches the log after a failure without one (default 1; 2 logs every instruction's state). */
  retryLogLevel?: number;
}

/** A load that succeeded, and the log when one was requested. */
export interface LoadResult {
  /** The loaded object. */
  fd: Fd;
  /** The verifier log, when the load ran with logging. */
  log: string | undefined;
}

/** `log_level` flag asking the kernel to keep the log's head rather than rotate (BPF_LOG_FIXED). */
const BPF_LOG_FIXED = 8;

function withLog(
  run: (logBuf: Uint8Array | undefined, logLevel: number | undefined) => { r: number; trueSize: number },
  label: string,
  cmd: number,
  requestedLevel: number | undefined,
  opts: LogOptions,
): LoadResult {
  const initial = Math.max(128, opts.initialLogSize ?? 64 * 1024);
  const max = Math.max(initial, opts.maxLogSize ?? 16 * 1024 * 1024);
  // First attempt without a log, unless one was asked for: logging slows the verifier down.
  let verdict: number | undefined;
  if (!requestedLevel) {
    const { r } = run(undefined, undefined);
    if (r >= 0) return { fd: new Fd(r, label), log: undefined };
    if (r === -ERRNO.EAGAIN) throw new SyscallError(cmdLabel(cmd), ERRNO.EAGAIN, { context: label });
    verdict = -r;
  }
  const level = requestedLevel || opts.retryLogLevel || 1;
  let size = initial;
  for (;;) {
    const buf = new Uint8Array(size);
    const { r, trueSize } = run(buf, level);
    if (r >= 0) return { fd: new Fd(r, label), log: logText(buf) };
    // Interrupted on every attempt: the log is a fragment of an unfinished run, not a verdict.
    if (r === -ERRNO.EAGAIN) throw new SyscallError(cmdLabel(cmd), ERRNO.EAGAIN, { context: label });
    // Kernels 6.4+ report the size they needed and keep the log's tail, where the verdict is, when
    // the buffer is too small. A log that would not fit even in `max` is reported from that tail
    // at once: another attempt means another verification (seconds, for a program the verifier
    // gave up on after a million instructions) for only a longer tail.
    // (BPF_LOG_FIXED in the level asks for the head instead: then grow as on older kernels.)
    const tooLong = r === -ERRNO.ENOSPC && trueSize > max && (level & BPF_LOG_FIXED) === 0;
    if (r === -ERRNO.ENOSPC && size < max && !tooLong) {
      // Older kernels leave trueSize 0: double.
      size = Math.min(max, trueSize > size ? trueSize : size * 2);
      continue;
    }
    let context = label;
    if (tooLong) context = `${label}; the log is ${trueSize} bytes, over the ${max}-byte limit: its last ${size} bytes are kept`;
    else if (r === -ERRNO.ENOSPC) context = `${label}; log truncated at ${size} bytes`;
    // A log that overflows makes the kernel answer ENOSPC instead of its verdict: the attempt
    // without a log, when there was one, said what the verdict was.
    const errno = r === -ERRNO.ENOSPC && verdict !== undefined ? verdict : -r;
    const text = logText(buf);
    // A kept tail starts wherever the kernel's rotation cut it: from its first whole line.
    const log = tooLong && text?.includes('\n') ? text.slice(text.indexOf('\n') + 1) : text;
    throw new SyscallError(cmdLabel(cmd), errno, { context, log });
  }
}

/**
 * Loads a program, fetching the verifier log only when needed: tries without a log first, then with
 * `logLevel` (default 1) and a log buffer that grows on ENOSPC up to `maxLogSize` (to the size the
 * kernel reports on 6.4+, else doubling). A log longer than `maxLogSize` on 6.4+ is reported from
 * its tail, which the kernel keeps, without verifying again.
 * @throws SyscallError with the verifier log in `.log` (complete unless the context says it was
 *   truncated), and the errno of the verdict.
 */
export function progLoadWithLog(attrs: ProgLoadAttr, opts: LogOptions = {}): LoadResult {
  const label = attrs.progName ? `program "${attrs.progName}"` : 'program';
  return withLog(
    (logBuf, logLevel) => {
      const w = encodeProgLoad({ ...attrs, logBuf, logLevel });
      const r = progLoadCall(w);
      return { r, trueSize: w.view.getUint32(PROG_LOAD_LOG_TRUE_SIZE_OFFSET, true) };
    },
    label,
    BPF_CMD.PROG_LOAD,
    attrs.logBuf ? (attrs.logLevel ?? 1) : attrs.logLevel,
    { initialLogSize: attrs.logBuf?.byteLength, ...opts },
  );
}

/** Loads BTF (`BPF_BTF_LOAD`); a failure carries the BTF log (if `logBuf` was given) as `.log`. */
export function btfLoad(attrs: BtfLoadAttr): Fd {
  const w = encodeBtfLoad(attrs);
  const r = bpfCall(BPF_CMD.BTF_LOAD, w.bytes, w.size);
  if (r < 0) throw new SyscallError(cmdLabel(BPF_CMD.BTF_LOAD), -r, { context: 'BTF', log: logText(attrs.logBuf) });
  return new Fd(r, 'BTF');
}

/** Loads BTF with the same log strategy as {@link progLoadWithLog}. */
export function btfLoadWithLog(attrs: BtfLoadAttr, opts: LogOptions = {}): LoadResult {
  return withLog(
    (logBuf, logLevel) => {
      const w = encodeBtfLoad({ ...attrs, logBuf, logLevel });
      const r = bpfCall(BPF_CMD.BTF_LOAD, w.bytes, w.size);
      return { r, trueSize: w.view.getUint32(BTF_LOAD_LOG_TRUE_SIZE_OFFSET, true) };
    },
    'BTF',
    BPF_CMD.BTF_LOAD,
    attrs.logBuf ? (attrs.logLevel ?? 1) : attrs.logLevel,
    opts,
  );
}

/** Result of {@link progTestRun}. */
export interface ProgTestRunResult {
  /** The program's return value (r0, low 32 bits). */
  retval: number;
  /** Average run time in nanoseconds. */
  duration: number;
  /** Bytes the program's output data has (may exceed `dataOut`'s length: then ENOSPC was thrown). */
  dataSizeOut: number;
  /** Bytes of output context. */
  ctxSizeOut: number;
}

/** Runs a program on test input (`BPF_PROG_TEST_RUN`). */
export function progTestRun(attrs: ProgTestRunAttr): ProgTestRunResult {
  const w = encodeProgTestRun(attrs);
  call(BPF_CMD.PROG_TEST_RUN, w, labelOf(attrs.progFd));
  return {
    retval: w.view.getUint32(4, true),
    duration: w.view.getUint32(36, true),
    dataSizeOut: w.view.getUint32(12, true),
    ctxSizeOut: w.view.getUint32(44, true),
  };
}

/** Binds a map to a program so it lives as long as the program (`BPF_PROG_BIND_MAP`). */
export function progBindMap(progFd: FdLike, mapFd: FdLike, flags = 0): void {
  const w = new AttrWriter(8).fd(0, progFd).fd(4, mapFd).u32(8, flags);
  call(BPF_CMD.PROG_BIND_MAP, w, labelOf(progFd));
}

// -------------------------------------------------------------------------------------- pinning (bpffs)

/** `f_type` of a BPF filesystem (`BPF_FS_MAGIC`, linux/magic.h). */
const BPF_FS_MAGIC = 0xcafe4a11;

/**
 * Why `dir` cannot hold pins, when it is not on a BPF filesystem: the kernel answers a pin or a
 * get there with ENOENT or EPERM, which does not say that bpffs is missing (a machine without
 * systemd's mount of /sys/fs/bpf, a container without it). Looks at `dir`, or at its nearest
 * existing ancestor; undefined when that is a bpffs or cannot be examined.
 */
export function bpffsHint(dir: string): string | undefined {
  for (let d = resolve(dir); ; d = dirname(d)) {
    let type: number;
    try {
      type = statfsSync(d).type;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && dirname(d) !== d) continue;
      return undefined;
    }
    return type === BPF_FS_MAGIC ? undefined : `${d} is not on a BPF filesystem (bpffs); mount one there with: mount -t bpf bpf ${d}`;
  }
}

/** `err` with the {@link bpffsHint} of `path`'s directory, if there is one. */
function withBpffsHint(err: unknown, path: string): unknown {
  if (!(err instanceof SyscallError)) return err;
  const hint = bpffsHint(dirname(path));
  return hint === undefined ? err : err.withContext(hint);
}

/** Pins an object at `path` on a bpffs mount (`BPF_OBJ_PIN`). */
export function objPin(fd: FdLike, path: string): void {
  try {
    call(BPF_CMD.OBJ_PIN, encodeObj(path, fd), `pin ${path}`);
  } catch (err) {
    throw withBpffsHint(err, path);
  }
}

/** Opens a pinned object (`BPF_OBJ_GET`); `flags` is BPF_F_RDONLY / BPF_F_WRONLY or 0. */
export function objGet(path: string, flags = 0): Fd {
  try {
    return callFd(BPF_CMD.OBJ_GET, encodeObj(path, undefined, flags), `pinned ${path}`);
  } catch (err) {
    throw withBpffsHint(err, path);
  }
}

// ---------------------------------------------------------------------------------------------- links

/** Creates a link (`BPF_LINK_CREATE`). */
export function linkCreate(attrs: LinkCreateAttr): Fd {
  return callFd(BPF_CMD.LINK_CREATE, encodeLinkCreate(attrs), labelOf(attrs.progFd) ? `link of ${labelOf(attrs.progFd)}` : 'link');
}

/** Options of {@link linkUpdate}. */
export interface LinkUpdateOptions {
  /** Replace only if the link currently runs this program (with BPF_F_REPLACE). */
  oldProgFd?: FdLike;
  /** BPF_F_REPLACE. */
  flags?: number;
}

/** Swaps a link's program (`BPF_LINK_UPDATE`). */
export function linkUpdate(linkFd: FdLike, newProgFd: FdLike, opts: LinkUpdateOptions = {}): void {
  const w = new AttrWriter(8).fd(0, linkFd).fd(4, newProgFd).u32(8, opts.flags).fd(12, opts.oldProgFd);
  call(BPF_CMD.LINK_UPDATE, w, labelOf(linkFd));
}

/** Detaches a link from its hook while keeping the fd open (`BPF_LINK_DETACH`). */
export function linkDetach(linkFd: FdLike): void {
  call(BPF_CMD.LINK_DETACH, new AttrWriter(4).fd(0, linkFd), labelOf(linkFd));
}

/**
 * Attaches a raw tracepoint / tp_btf / fentry-style program (`BPF_RAW_TRACEPOINT_OPEN`); `name` is
 * the tracepoint (null for BTF-typed programs whose target came with the load).
 */
export function rawTracepointOpen(name: string | null, progFd: FdLike, cookie?: bigint): Fd {
  const w = new AttrWriter(12);
  if (name !== null) w.ptr(0, cString(name));
  w.fd(8, progFd).u64(16, cookie);
  return callFd(BPF_CMD.RAW_TRACEPOINT_OPEN, w, name ? `raw_tracepoint ${name}` : 'raw_tracepoint');
}

/** Creates an iterator instance from an iter link; read() it for the output (`BPF_ITER_CREATE`). */
export function iterCreate(linkFd: FdLike, flags = 0): Fd {
  return callFd(BPF_CMD.ITER_CREATE, new AttrWriter(4).fd(0, linkFd).u32(4, flags), 'iterator');
}

/** Turns on run-time statistics while the returned fd stays open (`BPF_ENABLE_STATS`). */
export function enableStats(type = 0): Fd {
  const w = new AttrWriter(4);
  w.view.setUint32(0, type, true);
  return callFd(BPF_CMD.ENABLE_STATS, w, 'stats');
}

/** Legacy attach (`BPF_PROG_ATTACH`) for cgroups, sockmaps, flow dissector, lirc. */
export function progAttach(attrs: ProgAttachAttr): void {
  call(BPF_CMD.PROG_ATTACH, encodeProgAttach(attrs), attrs.attachBpfFd === undefined ? undefined : labelOf(attrs.attachBpfFd));
}

/** Legacy detach (`BPF_PROG_DETACH`). */
export function progDetach(attrs: ProgAttachAttr): void {
  call(BPF_CMD.PROG_DETACH, encodeProgAttach(attrs), attrs.attachBpfFd === undefined ? undefined : labelOf(attrs.attachBpfFd));
}

// ---------------------------------------------------------------------------------------- ids and fds

function nextId(cmd: number, start: number): number | undefined {
  const w = new AttrWriter(8);
  w.view.setUint32(0, start, true);
  const r = bpfCall(cmd, w.bytes, w.size);
  if (r === -ERRNO.ENOENT) return undefined;
  if (r < 0) throw new SyscallError(cmdLabel(cmd), -r);
  return w.view.getUint32(4, true);
}

/** Next loaded program id after `start` (0: the first), or undefined at the end. */
export function progGetNextId(start: number): number | undefined {
  return nextId(BPF_CMD.PROG_GET_NEXT_ID, start);
}
/** Next map id after `start`, or undefined at the end. */
export function mapGetNextId(start: number): number | undefined {
  return nextId(BPF_CMD.MAP_GET_NEXT_ID, start);
}
/** Next link id after `start`, or undefined at the end. */
export function linkGetNextId(start: number): number | undefined {
  return nextId(BPF_CMD.LINK_GET_NEXT_ID, start);
}
/** Next BTF object id after `start`, or undefined at the end. */
export function btfGetNextId(start: number): number | undefined {
  return nextId(BPF_CMD.BTF_GET_NEXT_ID, start);
}

function fdById(cmd: number, id: number, what: string, openFlags: number): Fd {
  const w = new AttrWriter(4);
  w.view.setUint32(0, id, true);
  w.u32(8, openFlags);
  return callFd(cmd, w, `${what} id ${id}`);
}

/** Opens the program with this id (`BPF_PROG_GET_FD_BY_ID`). */
export function progGetFdById(id: number, openFlags = 0): Fd {
  return fdById(BPF_CMD.PROG_GET_FD_BY_ID, id, 'program', openFlags);
}
/** Opens the map with this id (`BPF_MAP_GET_FD_BY_ID`). */
export function mapGetFdById(id: number, openFlags = 0): Fd {
  return fdById(BPF_CMD.MAP_GET_FD_BY_ID, id, 'map', openFlags);
}
/** Opens the link with this id (`BPF_LINK_GET_FD_BY_ID`). */
export function linkGetFdById(id: number, openFlags = 0): Fd {
  return fdById(BPF_CMD.LINK_GET_FD_BY_ID, id, 'link', openFlags);
}
/** Opens the BTF object with this id (`BPF_BTF_GET_FD_BY_ID`). */
export function btfGetFdById(id: number, openFlags = 0): Fd {
  return fdById(BPF_CMD.BTF_GET_FD_BY_ID, id, 'BTF', openFlags);
}

// ------------------------------------------------------------------------------------------------ info

/**
 * Fills `info` with the object's `bpf_*_info` (`BPF_OBJ_GET_INFO_BY_FD`). Pointer fields set in
 * `info` beforehand (map_ids, names) receive arrays; the rest of `info` must be zero.
 * @returns the number of bytes the kernel filled.
 */
export function objGetInfoByFd(fd: FdLike, info: Uint8Array): number {
  const w = new AttrWriter(16).fd(0, fd).u32(4, info.byteLength).ptr(8, info);
  call(BPF_CMD.OBJ_GET_INFO_BY_FD, w, labelOf(fd));
  return w.view.getUint32(4, true);
}

/** Arguments of {@link progQuery}. */
export interface ProgQueryAttr {
  /** Cgroup, netns or sockmap fd. */
  targetFd?: FdLike;
  /** Interface (tcx, netkit) instead of `targetFd`. */
  targetIfindex?: number;
  /** A {@link BPF_ATTACH_TYPE} value. */
  attachType: number;
  /** BPF_F_QUERY_EFFECTIVE. */
  queryFlags?: number;
  /** How many ids to fetch at most (default 64). */
  capacity?: number;
  /** Also fetch link ids (kernels 6.6+; older kernels reject the field with EINVAL). */
  withLinkIds?: boolean;
}

/** Result of {@link progQuery}. */
export interface ProgQueryResult {
  /** Attach flags of the hook (0 with BPF_F_QUERY_EFFECTIVE). */
  attachFlags: number;
  /** Ids of the attached programs, in run order. */
  progIds: number[];
  /** Ids of the links with `withLinkIds` (zeros for plain attachments), else empty. */
  linkIds: number[];
  /** Total attached (may exceed `progIds.length` when capacity was too small). */
  count: number;
  /** Attachment revision (kernels 6.6+, else 0n). */
  revision: bigint;
}

/** Lists the programs attached to a hook (`BPF_PROG_QUERY`). */
export function progQuery(attrs: ProgQueryAttr): ProgQueryResult {
  const cap = attrs.capacity ?? 64;
  const ids = new Uint32Array(cap);
  const linkIds = new Uint32Array(cap);
  const w = new AttrWriter(28);
  if (attrs.targetIfindex !== undefined) w.u32(0, attrs.targetIfindex);
  else w.fd(0, attrs.targetFd);
  w.u32(4, attrs.attachType).u32(8, attrs.queryFlags).ptr(16, new Uint8Array(ids.buffer)).u32(24, cap);
  if (attrs.withLinkIds) w.ptr(40, new Uint8Array(linkIds.buffer));
  // revision is written back by kernels that know it; older ones only see zero bytes there.
  w.size = Math.max(w.size, 64);
  const r = bpfCall(BPF_CMD.PROG_QUERY, w.bytes, w.size);
  if (r < 0 && r !== -ERRNO.ENOSPC) throw new SyscallError(cmdLabel(BPF_CMD.PROG_QUERY), -r, { context: attrs.targetFd === undefined ? undefined : labelOf(attrs.targetFd) });
  const count = w.view.getUint32(24, true);
  const n = Math.min(count, cap);
  return {
    attachFlags: w.view.getUint32(12, true),
    progIds: Array.from(ids.subarray(0, n)),
    linkIds: attrs.withLinkIds ? Array.from(linkIds.subarray(0, n)) : [],
    count,
    revision: w.view.getBigUint64(56, true),
  };
}

/** `bpf_task_fd_type`: what kind of attachment an fd of another task is. */
export const BPF_FD_TYPE = {
  RAW_TRACEPOINT: 0,
  TRACEPOINT: 1,
  KPROBE: 2,
  KRETPROBE: 3,
  UPROBE: 4,
  URETPROBE: 5,
} as const;

/** Result of {@link taskFdQuery}. */
export interface TaskFdQueryResult {
  /** Id of the program attached through the fd. */
  progId: number;
  /** A {@link BPF_FD_TYPE} value. */
  fdType: number;
  /** Tracepoint name, kprobe function or uprobe path. */
  name: string;
  /** kprobe/uprobe offset. */
  probeOffset: bigint;
  /** kprobe address (when attached by address) . */
  probeAddr: bigint;
}

/**
 * Describes the BPF attachment behind descriptor `fd` of process `pid` (a perf event or raw tracepoint
 * fd) (`BPF_TASK_FD_QUERY`).
 */
export function taskFdQuery(pid: number, fd: number): TaskFdQueryResult {
  const buf = new Uint8Array(4096);
  const w = new AttrWriter(48);
  w.view.setUint32(0, pid, true);
  w.view.setUint32(4, fd, true);
  w.u32(12, buf.byteLength).ptr(16, buf);
  call(BPF_CMD.TASK_FD_QUERY, w, `pid ${pid} fd ${fd}`);
  return {
    progId: w.view.getUint32(24, true),
    fdType: w.view.getUint32(28, true),
    name: fromCString(buf),
    probeOffset: w.view.getBigUint64(32, true),
    probeAddr: w.view.getBigUint64(40, true),
  };
}
