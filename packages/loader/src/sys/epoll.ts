/**
 * epoll(7) and eventfd(2): waiting for ring/perf buffer fds either on the JS thread (`wait`) or on a
 * koffi worker thread (`waitAsync`) so the event loop keeps running. An internal eventfd lets
 * `close()` (or `wake()`) interrupt a waiter instead of leaving it blocked until its timeout.
 */
import { TsbpfError } from '../errors.js';
import { ERRNO } from './errno.js';
import { SyscallError } from './errors.js';
import { EFD, EPOLL, EPOLL_EVENT, epollCreateRaw, epollCtlRaw, epollWaitAsyncRaw, epollWaitRaw, eventfdRaw, lastErrno, readRaw, writeRaw } from './ffi.js';
import { Fd } from './fd.js';

export { EPOLL, EFD };

/** An eventfd: a counter another party can bump to wake an epoll waiter. */
export class EventFd implements Disposable {
  /** The owned descriptor. */
  readonly fd: Fd;
  readonly #buf = new Uint8Array(8);
  readonly #view = new DataView(this.#buf.buffer);

  /** Creates an eventfd (close-on-exec and non-blocking by default). */
  constructor(initval = 0, flags: number = EFD.CLOEXEC | EFD.NONBLOCK) {
    const r = eventfdRaw(initval, flags);
    if (r < 0) throw new SyscallError('eventfd', -r);
    this.fd = new Fd(r, 'eventfd');
  }

  /** Adds `n` to the counter, making the fd readable. */
  signal(n: bigint | number = 1n): void {
    this.#view.setBigUint64(0, BigInt(n), true);
    const r = writeRaw(this.fd.raw, this.#buf, 8);
    if (r < 0 && r !== -ERRNO.EAGAIN) throw new SyscallError('write(eventfd)', -r);
  }

  /** Reads and resets the counter; 0 when it was already zero (non-blocking mode). */
  drain(): bigint {
    const r = readRaw(this.fd.raw, this.#buf, 8);
    if (r === -ERRNO.EAGAIN) return 0n;
    if (r < 0) throw new SyscallError('read(eventfd)', -r);
    return this.#view.getBigUint64(0, true);
  }

  /** Closes the eventfd. */
  close(): void {
    this.fd.close();
  }

  /** Same as {@link EventFd.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** The epoll data value of the internal wake-up eventfd, outside the u32 range user data uses. */
const WAKE_TOKEN = 0x1_0000_0000n;

/** An epoll instance whose registrations carry a u32 `data` value returned by the waits. */
export class Epoll implements Disposable {
  readonly #fd: Fd;
  readonly #wake: EventFd;
  #events = new Uint8Array(0);
  #pending = 0;
  #closing = false;
  readonly #ctl = new Uint8Array(EPOLL_EVENT.size);
  readonly #ctlView = new DataView(this.#ctl.buffer);

  constructor() {
    const r = epollCreateRaw();
    if (r < 0) throw new SyscallError('epoll_create1', -r);
    this.#fd = new Fd(r, 'epoll');
    try {
      this.#wake = new EventFd();
      this.#add(this.#wake.fd.raw, WAKE_TOKEN, EPOLL.IN);
    } catch (e) {
      this.#fd.close();
      throw e;
    }
  }

  #add(raw: number, data: bigint, events: number): void {
    this.#ctlView.setUint32(0, events, true);
    this.#ctlView.setBigUint64(EPOLL_EVENT.dataOffset, data, true);
    const r = epollCtlRaw(this.#fd.raw, EPOLL.CTL_ADD, raw, this.#ctl);
    if (r < 0) throw new SyscallError('epoll_ctl(EPOLL_CTL_ADD)', -r);
  }

  /** True once {@link Epoll.close} was called. */
  get closed(): boolean {
    return this.#closing;
  }

  /**
   * Watches `fd`; waits report `data` (a u32) when it becomes ready for `events` (default EPOLLIN).
   * @throws SyscallError EEXIST when `fd` is already registered.
   */
  add(fd: Fd, data: number, events: number = EPOLL.IN): void {
    if (!Number.isInteger(data) || data < 0 || data > 0xffffffff) throw new TsbpfError('EPOLL_DATA', `epoll data ${data} must be a u32`);
    this.#ensureOpen();
    this.#add(fd.raw, BigInt(data), events);
  }

  /** Stops watching `fd`. */
  remove(fd: Fd): void {
    this.#ensureOpen();
    const r = epollCtlRaw(this.#fd.raw, EPOLL.CTL_DEL, fd.raw, this.#ctl);
    if (r < 0) throw new SyscallError('epoll_ctl(EPOLL_CTL_DEL)', -r);
  }

  #ensureOpen(): void {
    if (this.#closing) throw new TsbpfError('FD_CLOSED', 'epoll instance is closed');
  }

  #decode(events: Uint8Array, n: number): number[] {
    const dv = new DataView(events.buffer, events.byteOffset, events.byteLength);
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const data = dv.getBigUint64(i * EPOLL_EVENT.size + EPOLL_EVENT.dataOffset, true);
      if (data === WAKE_TOKEN) {
        if (!this.#closing) this.#wake.drain();
        continue;
      }
      out.push(Number(data));
    }
    return out;
  }

  /**
   * Waits on the JS thread up to `timeoutMs` (-1: forever, 0: poll) for at most `max` ready fds.
   * @returns the `data` values of the ready fds (empty on timeout, wake-up or EINTR).
   */
  wait(max: number, timeoutMs: number): number[] {
    this.#ensureOpen();
    const n = Math.max(1, max) + 1; // one slot for the wake-up eventfd
    if (this.#events.byteLength < n * EPOLL_EVENT.size) this.#events = new Uint8Array(n * EPOLL_EVENT.size);
    const r = epollWaitRaw(this.#fd.raw, this.#events, n, timeoutMs);
    if (r === -ERRNO.EINTR) return [];
    if (r < 0) throw new SyscallError('epoll_wait', -r);
    return this.#decode(this.#events, r);
  }

  /**
   * Waits on a koffi worker thread; the event loop keeps running. {@link Epoll.close} or
   * {@link Epoll.wake} end the wait early with an empty result.
   */
  async waitAsync(max: number, timeoutMs: number): Promise<number[]> {
    this.#ensureOpen();
    const n = Math.max(1, max) + 1;
    // Each pending wait owns its buffer: the worker writes into it while JS runs.
    const events = new Uint8Array(n * EPOLL_EVENT.size);
    this.#pending++;
    let r: number;
    try {
      r = await epollWaitAsyncRaw(this.#fd.raw, events, n, timeoutMs);
    } finally {
      this.#pending--;
      if (this.#closing && this.#pending === 0) this.#release();
    }
    if (r < 0) {
      if (this.#closing) return [];
      const errno = -r;
      // koffi restores the worker's errno for the callback; a -1 with errno 0 says nothing: no events.
      if (errno === ERRNO.EINTR || errno === 0) return [];
      throw new SyscallError('epoll_wait', errno || lastErrno());
    }
    const out = this.#decode(events, r);
    return this.#closing ? [] : out;
  }

  /** Interrupts current waits (they return what is ready, possibly nothing). */
  wake(): void {
    this.#ensureOpen();
    this.#wake.signal();
  }

  #release(): void {
    this.#wake.close();
    this.#fd.close();
  }

  /**
   * Closes the epoll instance. A pending {@link Epoll.waitAsync} is woken and resolves to `[]`; the
   * descriptors are released once it has returned (closing under a blocked waiter would not wake it).
   */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    if (this.#pending > 0) this.#wake.signal();
    else this.#release();
  }

  /** Same as {@link Epoll.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
