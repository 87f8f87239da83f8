/**
 * koffi bindings to the few libc entry points tsbpf needs. `sys/` is the only place that uses koffi
 * (loaded by ./koffi.ts). Every binding returns the raw C result; callers read {@link lastErrno}
 * right after a -1. koffi and libc are loaded on first use, so that importing the package on a
 * machine without them (unit tests of the parsers) fails nothing. Where transparent huge pages are
 * on, that first use comes early: the code cache's arena asks for a huge page (./hugepages.ts).
 *
 * Non-variadic prototypes are declared for variadic functions (`syscall`, `ioctl`, `fcntl`): the
 * calling conventions of x86_64 and aarch64 Linux pass such arguments identically.
 */
import { koffi } from './koffi.js';
import { readPseudoFile } from '../pseudofile.js';
import { TsbpfError } from '../errors.js';

/** Syscall numbers of the running architecture. */
interface SyscallNumbers {
  readonly bpf: number;
  readonly perfEventOpen: number;
}

const SYSCALL_NUMBERS: Record<string, SyscallNumbers> = {
  x64: { bpf: 321, perfEventOpen: 298 },
  arm64: { bpf: 280, perfEventOpen: 241 },
};

/** Syscall numbers for `process.arch`; throws NOT_SUPPORTED elsewhere. */
export function syscallNumbers(): SyscallNumbers {
  const n = SYSCALL_NUMBERS[process.arch];
  if (!n || process.platform !== 'linux') {
    throw new TsbpfError('NOT_SUPPORTED', `tsbpf syscalls need Linux on x86_64 or arm64 (this is ${process.platform}/${process.arch})`);
  }
  return n;
}

type Fn<A extends unknown[], R> = (...args: A) => R;
interface AsyncFn<A extends unknown[], R> {
  (...args: A): R;
  async(...args: [...A, (err: unknown, result: R) => void]): void;
}

interface Native {
  bpf: Fn<[number, Uint8Array, number], number>;
  /** The raw `syscall(SYS_bpf, …)` binding, for its `.async` form. */
  bpfSyscall: AsyncFn<[number, number, Uint8Array, number], number>;
  perfEventOpen: Fn<[Uint8Array, number, number, number, number], number>;
  ioctlInt: Fn<[number, number, number], number>;
  ioctlPtr: Fn<[number, number, Uint8Array], number>;
  close: Fn<[number], number>;
  fcntl: Fn<[number, number, number], number>;
  mmap: Fn<[bigint, number, number, number, number, number], number | bigint>;
  munmap: Fn<[bigint, number], number>;
  mprotect: Fn<[bigint, number, number], number>;
  epollCreate1: Fn<[number], number>;
  epollCtl: Fn<[number, number, number, Uint8Array | null], number>;
  epollWait: AsyncFn<[number, Uint8Array, number, number], number>;
  eventfd: Fn<[number, number], number>;
  read: Fn<[number, Uint8Array, number], number>;
  write: Fn<[number, Uint8Array, number], number>;
  getpid: Fn<[], number>;
  gettid: Fn<[], number>;
  getuid: Fn<[], number>;
  capget: Fn<[Uint8Array, Uint8Array], number>;
  clockGettime: Fn<[number, Uint8Array], number>;
  getrlimit: Fn<[number, Uint8Array], number>;
  schedSetaffinity: Fn<[number, number, Uint8Array], number>;
  setrlimit: Fn<[number, Uint8Array], number>;
  sysconf: Fn<[number], number>;
  ifNametoindex: Fn<[string], number>;
}

let native: Native | undefined;

function lib(): Native {
  if (native) return native;
  const nr = syscallNumbers();
  const libc = koffi().load('libc.so.6');
  // koffi returns `any`; each binding is given its C signature's TypeScript shape here, once.
  const f = <A extends unknown[], R>(decl: string): Fn<A, R> => libc.func(decl) as Fn<A, R>;
  const bpf = libc.func('syscall', 'long', ['long', 'int', 'void *', 'unsigned int']) as AsyncFn<[number, number, Uint8Array, number], number>;
  const perf = libc.func('syscall', 'long', ['long', 'void *', 'int', 'int', 'int', 'unsigned long']) as Fn<
    [number, Uint8Array, number, number, number, number],
    number
  >;
  native = {
    bpf: (cmd, attr, size) => bpf(nr.bpf, cmd, attr, size),
    bpfSyscall: bpf,
    perfEventOpen: (attr, pid, cpu, group, flags) => perf(nr.perfEventOpen, attr, pid, cpu, group, flags),
    ioctlInt: libc.func('ioctl', 'int', ['int', 'unsigned long', 'unsigned long']) as Fn<[number, number, number], number>,
    ioctlPtr: libc.func('ioctl', 'int', ['int', 'unsigned long', 'void *']) as Fn<[number, number, Uint8Array], number>,
    close: f('int close(int fd)'),
    fcntl: libc.func('fcntl', 'int', ['int', 'int', 'int']) as Fn<[number, number, number], number>,
    mmap: libc.func('mmap', 'uint64_t', ['uint64_t', 'size_t', 'int', 'int', 'int', 'int64_t']) as Fn<
      [bigint, number, number, number, number, number],
      number | bigint
    >,
    munmap: libc.func('munmap', 'int', ['uint64_t', 'size_t']) as Fn<[bigint, number], number>,
    mprotect: libc.func('mprotect', 'int', ['uint64_t', 'size_t', 'int']) as Fn<[bigint, number, number], number>,
    epollCreate1: f('int epoll_create1(int flags)'),
    epollCtl: f('int epoll_ctl(int epfd, int op, int fd, void *event)'),
    epollWait: libc.func('int epoll_wait(int epfd, void *events, int maxevents, int timeout)') as AsyncFn<[number, Uint8Array, number, number], number>,
    eventfd: f('int eventfd(unsigned int initval, int flags)'),
    read: libc.func('read', 'long', ['int', 'void *', 'size_t']) as Fn<[number, Uint8Array, number], number>,
    write: libc.func('write', 'long', ['int', 'void *', 'size_t']) as Fn<[number, Uint8Array, number], number>,
    getpid: f('int getpid()'),
    gettid: f('int gettid()'),
    getuid: f('unsigned int getuid()'),
    capget: f('int capget(void *hdrp, void *datap)'),
    clockGettime: f('int clock_gettime(int clk, void *ts)'),
    getrlimit: f('int getrlimit(int resource, void *rlim)'),
    schedSetaffinity: f('int sched_setaffinity(int pid, size_t cpusetsize, void *mask)'),
    setrlimit: f('int setrlimit(int resource, void *rlim)'),
    sysconf: f('long sysconf(int name)'),
    ifNametoindex: f('unsigned int if_nametoindex(const char *name)'),
  };
  return native;
}

/** errno left by the most recent binding call (meaningful only right after it returned -1). */
export function lastErrno(): number {
  return koffi().errno();
}

/**
 * Address of the first byte of `buf` (its byteOffset included), for the u64 pointer fields of
 * `bpf_attr` and friends. The address is stable: Node never moves typed array backing stores.
 */
export function addressOf(buf: Uint8Array): bigint {
  return koffi().address(buf);
}

/** An ArrayBuffer over `length` bytes of native memory at `address` (an mmap()ed region). */
export function viewAt(address: bigint, length: number): ArrayBuffer {
  return koffi().view(address, length);
}

/** bpf(2): returns the result (>= 0) or `-errno`. */
export function bpfCall(cmd: number, attr: Uint8Array, size: number): number {
  const r = lib().bpf(cmd, attr, size);
  return r < 0 ? -lastErrno() : r;
}

/**
 * bpf(2) on one of libuv's worker threads: resolves with the result (>= 0) or `-errno` (koffi
 * restores the worker's errno for the callback, since koffi 3.2). Rejects with a `TsbpfError`
 * `FFI_ASYNC` when koffi cannot queue or run the call. For kernel work that can overlap JavaScript
 * (map creation, program loads); `attr` and every buffer it points to must stay referenced until
 * it settles.
 */
export function bpfCallAsync(cmd: number, attr: Uint8Array, size: number): Promise<number> {
  return new Promise((resolve, reject) => {
    try {
      lib().bpfSyscall.async(syscallNumbers().bpf, cmd, attr, size, (err, result) => {
        if (err) reject(err instanceof Error ? new TsbpfError('FFI_ASYNC', err.message, { cause: err }) : new TsbpfError('FFI_ASYNC', String(err)));
        else resolve(result < 0 ? -(lastErrno() || EIO) : result);
      });
    } catch (err) {
      // koffi refuses to queue more (too many asynchronous calls pending).
      reject(new TsbpfError('FFI_ASYNC', `cannot queue bpf(${cmd}) on a worker thread: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
    }
  });
}

/** errno reported for a failed call that left errno at 0 (never a valid result). */
const EIO = 5;

/**
 * Signals that only notify (user signals, timers incl. a profiler's SIGPROF, child status, window
 * size, urgent data, I/O readiness). The numbers are the same on x86_64 and arm64.
 */
const NOTIFY_SIGNALS = [10, 12, 14, 17, 23, 26, 27, 28, 29];
const SIG_BLOCK = 0;
const SIG_SETMASK = 2;
/** glibc's and musl's `sigset_t`: 1024 bits. */
const SIGSET_BYTES = 128;

type SigMask = Fn<[number, Uint8Array | null, Uint8Array | null], number>;
let sigmask: SigMask | undefined;

/**
 * Runs `run` on this thread with the notification signals ({@link NOTIFY_SIGNALS}) held pending,
 * and delivers them afterwards. The verifier gives up with EAGAIN whenever a signal is pending, so
 * a program load under a profiler's timer (or a stream of SIGCHLD/SIGWINCH) can fail on every
 * attempt; holding these lets one attempt finish. Every other signal (SIGINT, SIGTERM, SIGHUP,
 * SIGQUIT, SIGPIPE, SIGCONT, real-time signals) still interrupts it. If the mask cannot be changed,
 * `run` runs unmasked.
 */
export function withNotifySignalsHeld<T>(run: () => T): T {
  if (sigmask === undefined) {
    try {
      sigmask = koffi().load('libc.so.6').func('int pthread_sigmask(int how, void *set, void *oldset)') as SigMask;
    } catch {
      return run();
    }
  }
  const set = new Uint8Array(SIGSET_BYTES);
  for (const s of NOTIFY_SIGNALS) set[(s - 1) >> 3] |= 1 << ((s - 1) & 7);
  const old = new Uint8Array(SIGSET_BYTES);
  if (sigmask(SIG_BLOCK, set, old) !== 0) return run();
  try {
    return run();
  } finally {
    sigmask(SIG_SETMASK, old, null);
  }
}

/**
 * Native address of `buf` as a plain number, for attrs filled on hot paths without BigInt. User-space
 * addresses on x86_64 and arm64 fit in 48 bits, so the number is exact; the same stability rule as
 * {@link addressOf} holds, and `buf` must stay referenced for as long as the address is used.
 * @throws TsbpfError `FFI_ADDRESS` for a detached (zero-length) buffer or an address beyond 2^53.
 */
export function addressNumber(buf: Uint8Array): number {
  if (buf.byteLength === 0) throw new TsbpfError('FFI_ADDRESS', 'cannot take the address of an empty or detached buffer');
  const a = koffi().address(buf);
  if (a > BigInt(Number.MAX_SAFE_INTEGER)) throw new TsbpfError('FFI_ADDRESS', `address 0x${a.toString(16)} does not fit a JS number`);
  return Number(a);
}

type BpfAt = (nr: number, cmd: number, attr: number, size: number) => number;
let bpfAt: BpfAt | undefined;
let bpfNr = 0;

function bindBpfAt(): BpfAt {
  bpfNr = syscallNumbers().bpf;
  // Every parameter an integer: koffi then takes its fast call path (no pointer marshaling, no
  // post-call finalization), and the attr is passed as the address the caller computed once.
  bpfAt = koffi().load('libc.so.6').func('syscall', 'long', ['long', 'long', 'uintptr_t', 'unsigned long']) as BpfAt;
  return bpfAt;
}

/**
 * bpf(2) with the attr given by its native address (see {@link addressNumber}): the element-call hot
 * path. The caller keeps the attr's buffer alive. Returns the result (>= 0) or `-errno`; errno is read
 * only on failure.
 */
export function bpfCallAt(cmd: number, attrAddress: number, size: number): number {
  const r = (bpfAt ?? bindBpfAt())(bpfNr, cmd, attrAddress, size);
  return r < 0 ? -lastErrno() : r;
}

/** perf_event_open(2) with an encoded `perf_event_attr`: returns the fd or `-errno`. */
export function perfEventOpenRaw(attr: Uint8Array, pid: number, cpu: number, groupFd: number, flags: number): number {
  const r = lib().perfEventOpen(attr, pid, cpu, groupFd, flags);
  return r < 0 ? -lastErrno() : r;
}

/** ioctl(2) with an integer argument: returns the result or `-errno`. */
export function ioctlRaw(fd: number, request: number, arg: number): number {
  const r = lib().ioctlInt(fd, request, arg);
  return r < 0 ? -lastErrno() : r;
}

/** ioctl(2) with a pointer argument: returns the result or `-errno`. */
export function ioctlPtrRaw(fd: number, request: number, arg: Uint8Array): number {
  const r = lib().ioctlPtr(fd, request, arg);
  return r < 0 ? -lastErrno() : r;
}

/** close(2) of a raw descriptor; only `Fd` should call it. Returns 0 or `-errno`. */
export function closeRaw(fd: number): number {
  const r = lib().close(fd);
  return r < 0 ? -lastErrno() : r;
}

const F_DUPFD_CLOEXEC = 1030;

/** fcntl(fd, F_DUPFD_CLOEXEC, 0): the new descriptor, or -1 with errno set. */
export function dupCloexecRaw(fd: number): number {
  return lib().fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

/** `PROT_*` values of mmap(2). */
export const PROT = { NONE: 0, READ: 1, WRITE: 2, EXEC: 4 } as const;
/** `MAP_*` flags of mmap(2). */
export const MAP = { SHARED: 0x01, PRIVATE: 0x02, FIXED: 0x10, ANONYMOUS: 0x20, FIXED_NOREPLACE: 0x100000 } as const;

const MAP_FAILED = 0xffffffffffffffffn;

/** mmap(2) (at `address` when not 0, a hint unless `MAP_FIXED`): the address, or `-errno` as a negative bigint. */
export function mmapRaw(length: number, prot: number, flags: number, fd: number, offset: number, address = 0n): bigint {
  const r = BigInt(lib().mmap(address, length, prot, flags, fd, offset));
  return r === MAP_FAILED ? -BigInt(lastErrno()) : r;
}

/** mprotect(2): 0 or `-errno`. */
export function mprotectRaw(address: bigint, length: number, prot: number): number {
  const r = lib().mprotect(address, length, prot);
  return r < 0 ? -lastErrno() : r;
}

/** munmap(2): 0 or `-errno`. */
export function munmapRaw(address: bigint, length: number): number {
  const r = lib().munmap(address, length);
  return r < 0 ? -lastErrno() : r;
}

/** epoll_create1(EPOLL_CLOEXEC): fd or `-errno`. */
export function epollCreateRaw(): number {
  const r = lib().epollCreate1(0x80000);
  return r < 0 ? -lastErrno() : r;
}

/** `EPOLL*` event bits and `EPOLL_CTL_*` ops. */
export const EPOLL = { IN: 0x001, PRI: 0x002, OUT: 0x004, ERR: 0x008, HUP: 0x010, RDHUP: 0x2000, CTL_ADD: 1, CTL_DEL: 2, CTL_MOD: 3 } as const;

/**
 * Size and data offset of `struct epoll_event`: packed (12 bytes) on x86_64, naturally aligned
 * (16 bytes) on arm64.
 */
export const EPOLL_EVENT = process.arch === 'x64' ? { size: 12, dataOffset: 4 } : { size: 16, dataOffset: 8 };

/** epoll_ctl(2) with an encoded epoll_event (or null for DEL): 0 or `-errno`. */
export function epollCtlRaw(epfd: number, op: number, fd: number, event: Uint8Array | null): number {
  const r = lib().epollCtl(epfd, op, fd, event);
  return r < 0 ? -lastErrno() : r;
}

/** epoll_wait(2) on the JS thread: number of events or `-errno`. */
export function epollWaitRaw(epfd: number, events: Uint8Array, max: number, timeoutMs: number): number {
  const r = lib().epollWait(epfd, events, max, timeoutMs);
  return r < 0 ? -lastErrno() : r;
}

/**
 * epoll_wait(2) on a koffi worker thread, so the event loop keeps running. Resolves to the number of
 * events or `-errno` (the errno is the worker's, read inside koffi; EINTR shows as -4).
 * `events` must stay untouched until the promise settles.
 */
export function epollWaitAsyncRaw(epfd: number, events: Uint8Array, max: number, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    blockingWaits++;
    try {
      lib().epollWait.async(epfd, events, max, timeoutMs, (err, result) => {
        blockingWaits--;
        if (err) reject(err instanceof Error ? err : new TsbpfError('FFI_ASYNC', String(err)));
        else resolve(result < 0 ? -lastErrno() : result);
      });
    } catch (err) {
      blockingWaits--;
      throw err;
    }
  });
}

/** epoll waits of this process's readers now occupying one of libuv's worker threads each. */
let blockingWaits = 0;

/**
 * True when libuv's worker pool has at least two threads not held by event-reader waits of this
 * JavaScript thread (each can block a thread up to its poll timeout, one second by default). Work
 * queued behind them would wait that long too, so the asynchronous loads take the synchronous
 * path when this is false. The pool has `UV_THREADPOOL_SIZE` threads (default 4), shared by every
 * thread of the process: waits of worker threads are not counted here.
 */
export function workerPoolHasRoom(): boolean {
  const size = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  return size - blockingWaits >= 2;
}

/** `EFD_*` flags of eventfd(2). */
export const EFD = { CLOEXEC: 0x80000, NONBLOCK: 0x800, SEMAPHORE: 1 } as const;

/** eventfd(2): fd or `-errno`. */
export function eventfdRaw(initval: number, flags: number): number {
  const r = lib().eventfd(initval, flags);
  return r < 0 ? -lastErrno() : r;
}

/** read(2) into `buf` (up to `length` bytes): count or `-errno`. */
export function readRaw(fd: number, buf: Uint8Array, length = buf.byteLength): number {
  const r = lib().read(fd, buf, Math.min(length, buf.byteLength));
  return r < 0 ? -lastErrno() : r;
}

/** write(2) of `buf` (up to `length` bytes): count or `-errno`. */
export function writeRaw(fd: number, buf: Uint8Array, length = buf.byteLength): number {
  const r = lib().write(fd, buf, Math.min(length, buf.byteLength));
  return r < 0 ? -lastErrno() : r;
}

/** getpid(2). */
export function getpid(): number {
  return lib().getpid();
}

/** gettid(2): the calling thread's id (the main thread's equals the pid). */
export function gettid(): number {
  return lib().gettid();
}

/** getuid(2). */
export function getuid(): number {
  return lib().getuid();
}

/** `_LINUX_CAPABILITY_VERSION_3`: the capget(2) ABI with two 32-bit words per set. */
const CAPABILITY_VERSION_3 = 0x20080522;

/**
 * This thread's effective capability set from capget(2), as a mask (bit n: capability n, e.g.
 * CAP_BPF is 39), or undefined when it cannot be read (the call fails, or libc cannot be loaded).
 * One syscall, where reading `CapEff` from `/proc/self/status` costs a file read and a parse.
 */
export function capgetEffective(): bigint | undefined {
  let capget: Native['capget'];
  try {
    capget = lib().capget;
  } catch {
    return undefined;
  }
  const header = new Uint8Array(8);
  new DataView(header.buffer).setUint32(0, CAPABILITY_VERSION_3, true); // pid 0: this thread
  // Two __user_cap_data_struct { effective, permitted, inheritable }: low words, then high words.
  const data = new Uint8Array(24);
  if (capget(header, data) !== 0) return undefined;
  const dv = new DataView(data.buffer);
  return BigInt(dv.getUint32(0, true)) | (BigInt(dv.getUint32(12, true)) << 32n);
}

/** getrusage(2)'s `who` for the calling thread. */
const RUSAGE_THREAD = 1;
/** struct rusage on 64-bit Linux: two timevals, then fourteen longs. */
const rusage = new Uint8Array(144);
let getrusage: Fn<[number, Uint8Array], number> | undefined;

/**
 * CPU time the calling thread has used so far, in nanoseconds, split into user and kernel time
 * (getrusage(2) with RUSAGE_THREAD; Linux samples the split at the scheduler tick, so it is
 * meaningful over milliseconds, not microseconds). Undefined when the call is unavailable.
 */
export function threadCpuTimes(): { userNs: number; systemNs: number } | undefined {
  try {
    // Bound on first use, not with the others: only diagnostics (the fuzzer) need it.
    getrusage ??= koffi().load('libc.so.6').func('int getrusage(int who, void *usage)') as Fn<[number, Uint8Array], number>;
  } catch {
    return undefined;
  }
  if (getrusage(RUSAGE_THREAD, rusage) !== 0) return undefined;
  const dv = new DataView(rusage.buffer);
  const timeval = (at: number): number => Number(dv.getBigInt64(at, true)) * 1e9 + Number(dv.getBigInt64(at + 8, true)) * 1e3;
  return { userNs: timeval(0), systemNs: timeval(16) };
}

let madvise: Fn<[Uint8Array, number, number], number> | undefined;

/** madvise(2) over the pages of `region` (page-aligned start): 0 or `-errno`. */
export function madviseRaw(region: Uint8Array, advice: number): number {
  // Bound on first use: only large scratch memories ask for advice.
  madvise ??= koffi().load('libc.so.6').func('int madvise(void *addr, size_t length, int advice)') as Fn<[Uint8Array, number, number], number>;
  const r = madvise(region, region.byteLength, advice);
  return r < 0 ? -lastErrno() : r;
}

/** Clock ids for {@link clockGettime}. */
export const CLOCK = { REALTIME: 0, MONOTONIC: 1, BOOTTIME: 7 } as const;

const timespec = new Uint8Array(16);
const timespecView = new DataView(timespec.buffer);

/**
 * clock_gettime(2) in nanoseconds. CLOCK_MONOTONIC matches bpf_ktime_get_ns(), CLOCK_BOOTTIME
 * bpf_ktime_get_boot_ns().
 */
export function clockGettime(clock: number): bigint {
  if (lib().clockGettime(clock, timespec) < 0) throw new TsbpfError('CLOCK_GETTIME', `clock_gettime(${clock}) failed: errno ${lastErrno()}`);
  return timespecView.getBigInt64(0, true) * 1_000_000_000n + timespecView.getBigInt64(8, true);
}

/** RLIMIT_MEMLOCK (the same number on x86_64 and arm64). */
export const RLIMIT_MEMLOCK = 8;
/** RLIM_INFINITY. */
export const RLIM_INFINITY = 0xffffffffffffffffn;

/** A resource limit pair. */
export interface Rlimit {
  /** Soft limit (`RLIM_INFINITY` for none). */
  readonly cur: bigint;
  /** Hard limit. */
  readonly max: bigint;
}

/** getrlimit(2); returns the limit or `-errno` as a number. */
export function getrlimit(resource: number): Rlimit | number {
  const b = new Uint8Array(16);
  const r = lib().getrlimit(resource, b);
  if (r < 0) return -lastErrno();
  const dv = new DataView(b.buffer);
  return { cur: dv.getBigUint64(0, true), max: dv.getBigUint64(8, true) };
}

/** setrlimit(2): 0 or `-errno`. */
export function setrlimit(resource: number, limit: Rlimit): number {
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  dv.setBigUint64(0, limit.cur, true);
  dv.setBigUint64(8, limit.max, true);
  const r = lib().setrlimit(resource, b);
  return r < 0 ? -lastErrno() : r;
}

/** `_SC_*` names of sysconf(3) (glibc numbering). */
export const SC = { PAGESIZE: 30, NPROCESSORS_CONF: 83, NPROCESSORS_ONLN: 84 } as const;

/** sysconf(3). */
export function sysconf(name: number): number {
  return lib().sysconf(name);
}

let pageSizeCache: number | undefined;

/** The page size (mmap granularity). */
export function pageSize(): number {
  pageSizeCache ??= sysconf(SC.PAGESIZE);
  return pageSizeCache;
}

/** Parses a kernel CPU list such as `0-3,8,10-11` into the CPU numbers it names. */
export function parseCpuList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.trim().split(',')) {
    if (part === '') continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new TsbpfError('CPU_LIST', `cannot parse CPU list "${text.trim()}"`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    for (let c = a; c <= b; c++) out.push(c);
  }
  return out;
}

let possibleCache: number[] | undefined;

/** CPUs in /sys/devices/system/cpu/possible (per-CPU maps hold one value per possible CPU). */
export function possibleCpus(): readonly number[] {
  possibleCache ??= parseCpuList(readPseudoFile('/sys/devices/system/cpu/possible'));
  return possibleCache;
}

/** Number of possible CPUs: the value count of per-CPU map lookups. */
export function numPossibleCpus(): number {
  return possibleCpus().length;
}

/** CPUs currently online (/sys/devices/system/cpu/online). */
export function onlineCpus(): number[] {
  return parseCpuList(readPseudoFile('/sys/devices/system/cpu/online'));
}

/** if_nametoindex(3): the interface index, or 0 when there is no such interface. */
export function ifNameToIndex(name: string): number {
  return lib().ifNametoindex(name);
}

/**
 * Restrict the calling thread to `cpus` (sched_setaffinity on tid 0). Returns 0 or -errno. Tests use
 * it to keep per-CPU producers (perf rings) on one CPU.
 */
export function setCpuAffinity(cpus: readonly number[]): number {
  const mask = new Uint8Array(128);
  for (const c of cpus) mask[c >> 3] |= 1 << (c & 7);
  const r = lib().schedSetaffinity(0, mask.byteLength, mask);
  return r < 0 ? -lastErrno() : r;
}
