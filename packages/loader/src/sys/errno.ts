/**
 * Linux errno numbers (asm-generic numbering, shared by x86_64 and arm64) with their names and a short
 * description, plus the kernel-internal codes bpf(2) is known to leak (ENOTSUPP 524).
 */

/** One errno: its symbolic name and a few words of what it means. */
export interface ErrnoInfo {
  /** Symbolic name, e.g. `ENOENT`. */
  readonly name: string;
  /** Short description, e.g. `no such file or directory`. */
  readonly description: string;
}

const table: Record<number, readonly [string, string]> = {
  1: ['EPERM', 'operation not permitted'],
  2: ['ENOENT', 'no such file or directory'],
  3: ['ESRCH', 'no such process'],
  4: ['EINTR', 'interrupted system call'],
  5: ['EIO', 'input/output error'],
  6: ['ENXIO', 'no such device or address'],
  7: ['E2BIG', 'argument list too long'],
  8: ['ENOEXEC', 'exec format error'],
  9: ['EBADF', 'bad file descriptor'],
  10: ['ECHILD', 'no child processes'],
  11: ['EAGAIN', 'resource temporarily unavailable'],
  12: ['ENOMEM', 'cannot allocate memory'],
  13: ['EACCES', 'permission denied'],
  14: ['EFAULT', 'bad address'],
  15: ['ENOTBLK', 'block device required'],
  16: ['EBUSY', 'device or resource busy'],
  17: ['EEXIST', 'file exists'],
  18: ['EXDEV', 'invalid cross-device link'],
  19: ['ENODEV', 'no such device'],
  20: ['ENOTDIR', 'not a directory'],
  21: ['EISDIR', 'is a directory'],
  22: ['EINVAL', 'invalid argument'],
  23: ['ENFILE', 'too many open files in system'],
  24: ['EMFILE', 'too many open files'],
  25: ['ENOTTY', 'inappropriate ioctl for device'],
  26: ['ETXTBSY', 'text file busy'],
  27: ['EFBIG', 'file too large'],
  28: ['ENOSPC', 'no space left on device'],
  29: ['ESPIPE', 'illegal seek'],
  30: ['EROFS', 'read-only file system'],
  31: ['EMLINK', 'too many links'],
  32: ['EPIPE', 'broken pipe'],
  33: ['EDOM', 'numerical argument out of domain'],
  34: ['ERANGE', 'numerical result out of range'],
  35: ['EDEADLK', 'resource deadlock avoided'],
  36: ['ENAMETOOLONG', 'file name too long'],
  37: ['ENOLCK', 'no locks available'],
  38: ['ENOSYS', 'function not implemented'],
  39: ['ENOTEMPTY', 'directory not empty'],
  40: ['ELOOP', 'too many levels of symbolic links'],
  42: ['ENOMSG', 'no message of desired type'],
  43: ['EIDRM', 'identifier removed'],
  61: ['ENODATA', 'no data available'],
  62: ['ETIME', 'timer expired'],
  71: ['EPROTO', 'protocol error'],
  74: ['EBADMSG', 'bad message'],
  75: ['EOVERFLOW', 'value too large for defined data type'],
  84: ['EILSEQ', 'invalid or incomplete multibyte or wide character'],
  88: ['ENOTSOCK', 'socket operation on non-socket'],
  90: ['EMSGSIZE', 'message too long'],
  92: ['ENOPROTOOPT', 'protocol not available'],
  93: ['EPROTONOSUPPORT', 'protocol not supported'],
  95: ['EOPNOTSUPP', 'operation not supported'],
  97: ['EAFNOSUPPORT', 'address family not supported by protocol'],
  98: ['EADDRINUSE', 'address already in use'],
  99: ['EADDRNOTAVAIL', 'cannot assign requested address'],
  100: ['ENETDOWN', 'network is down'],
  103: ['ECONNABORTED', 'software caused connection abort'],
  104: ['ECONNRESET', 'connection reset by peer'],
  105: ['ENOBUFS', 'no buffer space available'],
  110: ['ETIMEDOUT', 'connection timed out'],
  111: ['ECONNREFUSED', 'connection refused'],
  114: ['EALREADY', 'operation already in progress'],
  115: ['EINPROGRESS', 'operation now in progress'],
  116: ['ESTALE', 'stale file handle'],
  122: ['EDQUOT', 'disk quota exceeded'],
  125: ['ECANCELED', 'operation canceled'],
  130: ['EOWNERDEAD', 'owner died'],
  512: ['ERESTARTSYS', 'interrupted, restartable (kernel-internal)'],
  524: ['ENOTSUPP', 'operation not supported (kernel-internal ENOTSUPP)'],
};

/** Errno numbers by name, for comparisons that read well (`err.errno === ERRNO.ENOENT`). */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  ENOTDIR: 20,
  EINVAL: 22,
  EMFILE: 24,
  ENOTTY: 25,
  EFBIG: 27,
  ENOSPC: 28,
  ERANGE: 34,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ELOOP: 40,
  ENODATA: 61,
  EOVERFLOW: 75,
  EOPNOTSUPP: 95,
  ETIMEDOUT: 110,
  ENOTSUPP: 524,
} as const;

/** Name and description of `errno`; unknown numbers get `E<n>` and `unknown error <n>`. */
export function errnoInfo(errno: number): ErrnoInfo {
  const e = table[errno];
  return e ? { name: e[0], description: e[1] } : { name: `E${errno}`, description: `unknown error ${errno}` };
}

/** Symbolic name of `errno` (`2` → `ENOENT`); unknown numbers give `E<n>`. */
export function errnoName(errno: number): string {
  return errnoInfo(errno).name;
}
