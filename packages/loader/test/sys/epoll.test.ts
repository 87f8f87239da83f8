import { describe, expect, it } from 'vitest';
import { Epoll, EventFd, Fd } from '../../src/sys/index.js';

describe('eventfd and epoll', () => {
  it('reports a signalled eventfd from a synchronous wait', () => {
    using ev = new EventFd();
    using ep = new Epoll();
    ep.add(ev.fd, 5);
    expect(ep.wait(8, 0)).toEqual([]);
    ev.signal();
    ev.signal(2);
    expect(ep.wait(8, 0)).toEqual([5]);
    expect(ev.drain()).toBe(3n);
    expect(ev.drain()).toBe(0n);
    expect(ep.wait(8, 0)).toEqual([]);
    ep.remove(ev.fd);
    ev.signal();
    expect(ep.wait(8, 0)).toEqual([]);
  });

  it('reports several ready descriptors by their data values', () => {
    using a = new EventFd();
    using b = new EventFd();
    using ep = new Epoll();
    ep.add(a.fd, 1);
    ep.add(b.fd, 0xffffffff);
    a.signal();
    b.signal();
    expect(ep.wait(8, 0).sort((x, y) => x - y)).toEqual([1, 0xffffffff]);
    expect(() => ep.add(a.fd, 2)).toThrow(expect.objectContaining({ errnoName: 'EEXIST' }));
    expect(() => ep.add(a.fd, -1)).toThrow(expect.objectContaining({ code: 'EPOLL_DATA' }));
  });

  it('waits off the JS thread: the event loop signals while the wait is pending', async () => {
    using ev = new EventFd();
    using ep = new Epoll();
    ep.add(ev.fd, 9);
    const waiting = ep.waitAsync(4, 10_000);
    // If the wait blocked the JS thread, this timer could not run and the wait would time out empty.
    setTimeout(() => ev.signal(), 0);
    expect(await waiting).toEqual([9]);
  });

  it('close() wakes a pending async wait and releases the descriptors afterwards', async () => {
    const before = Fd.openCount;
    const ep = new Epoll();
    using ev = new EventFd();
    ep.add(ev.fd, 1);
    const waiting = ep.waitAsync(4, -1);
    ep.close();
    expect(ep.closed).toBe(true);
    expect(await waiting).toEqual([]);
    expect(Fd.openCount).toBe(before + 1); // only `ev` remains
    expect(() => ep.wait(1, 0)).toThrow(expect.objectContaining({ code: 'FD_CLOSED' }));
    ep.close();
  });

  it('wake() interrupts a waiter without closing', async () => {
    using ep = new Epoll();
    const waiting = ep.waitAsync(4, -1);
    ep.wake();
    expect(await waiting).toEqual([]);
    expect(ep.wait(1, 0)).toEqual([]);
  });
});
