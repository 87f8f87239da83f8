/**
 * `sys`: the syscall layer. Typed bpf(2), perf_event_open(2), mmap(2) and epoll(7) calls over koffi,
 * the uapi constant tables, errno-naming errors and the {@link Fd} owner type. Everything above this
 * folder speaks these types and never touches koffi.
 */
export * from './constants.js';
export * from './errno.js';
export * from './errors.js';
export * from './fd.js';
export {
  addressOf,
  viewAt,
  lastErrno,
  syscallNumbers,
  getpid,
  gettid,
  getuid,
  capgetEffective,
  clockGettime,
  CLOCK,
  getrlimit,
  setrlimit,
  RLIMIT_MEMLOCK,
  RLIM_INFINITY,
  type Rlimit,
  sysconf,
  SC,
  pageSize,
  parseCpuList,
  possibleCpus,
  numPossibleCpus,
  onlineCpus,
  setCpuAffinity,
  ifNameToIndex,
  readRaw,
  writeRaw,
} from './ffi.js';
export * from './attr.js';
export * from './bpf.js';
export * from './info.js';
export * from './perf_event.js';
export * from './mman.js';
export * from './epoll.js';
export * from './netlink.js';
