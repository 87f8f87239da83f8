import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { asm } from '../../src/asm/index.js';
import { assemble } from '../../src/asm/instruction.js';
import {
  BPF_ATTACH_TYPE,
  BPF_FD_TYPE,
  BPF_FUNC,
  BPF_LINK_TYPE,
  BPF_PROG_TYPE,
  Epoll,
  Fd,
  MAP,
  PERF_COUNT_SW,
  PERF_MMAP_PAGE,
  PERF_RECORD,
  PERF_SAMPLE,
  PERF_TYPE,
  PROT,
  type PerfEventAttr,
  encodePerfEventAttr,
  getpid,
  gettid,
  linkCreate,
  linkInfo,
  mapLookupElem,
  mmap,
  mmapWithScratch,
  pageSize,
  perfEventDisable,
  perfEventEnable,
  perfEventOpen,
  perfEventSetBpf,
  progInfo,
  progLoad,
  taskFdQuery,
} from '../../src/sys/index.js';
import { arrayMap, readU64, u32, closeAfterEach } from './helpers.js';

const track = closeAfterEach();

const tracepointIdPath = '/sys/kernel/tracing/events/syscalls/sys_enter_getpid/id';
const getpidTracepointId = existsSync(tracepointIdPath) ? Number(readFileSync(tracepointIdPath, 'utf8')) : 0;
if (!getpidTracepointId) console.warn(`sys/perf.test: ${tracepointIdPath} is missing (tracefs not mounted or no syscall tracepoints); the tracepoint test is skipped`);

const pageFaults: PerfEventAttr = {
  type: PERF_TYPE.SOFTWARE,
  config: PERF_COUNT_SW.PAGE_FAULTS,
  samplePeriod: 1,
  sampleType: PERF_SAMPLE.TID,
  wakeupEvents: 1,
  flags: { disabled: true },
};

/** Touches `pages` fresh anonymous pages (never faulted before) so this thread takes page faults. */
function fault(pages: number): void {
  using region = mmap(null, pages * pageSize(), PROT.READ | PROT.WRITE, MAP.PRIVATE);
  const b = new Uint8Array(region.buffer);
  for (let i = 0; i < b.length; i += pageSize()) b[i] = 1;
}

/** `map[0]++` then `return 0` (counts its runs); a perf_event program unless told otherwise. */
function counterProgram(map: Fd, progType: number = BPF_PROG_TYPE.PERF_EVENT): Fd {
  const insns = assemble([
    asm.stMem(4, 10, -4, 0),
    asm.movReg(2, 10),
    asm.addImm(2, -4),
    ...asm.ldMapFd(1, map.raw),
    asm.callHelper(BPF_FUNC.map_lookup_elem),
    asm.jeqImm(0, 0, 3),
    asm.ldxMem(8, 1, 0, 0),
    asm.addImm(1, 1),
    asm.stxMem(8, 0, 1, 0),
    asm.movImm(0, 0),
    asm.exit(),
  ]);
  return progLoad({ progType, insns: insns.bytes, license: 'GPL', progName: 'counter' });
}

describe('perf_event_attr encoding', () => {
  it('writes fields and flag bits at their uapi offsets', () => {
    const b = encodePerfEventAttr({
      type: PERF_TYPE.SOFTWARE,
      config: PERF_COUNT_SW.BPF_OUTPUT,
      samplePeriod: 1,
      sampleType: PERF_SAMPLE.RAW,
      wakeupEvents: 1,
      flags: { disabled: true, exclude_kernel: true, watermark: true },
      preciseIp: 2,
    });
    const dv = new DataView(b.buffer);
    expect(dv.getUint32(0, true)).toBe(1);
    expect(dv.getUint32(4, true)).toBe(64); // nothing past VER0 was set
    expect(dv.getBigUint64(8, true)).toBe(10n);
    expect(dv.getBigUint64(16, true)).toBe(1n);
    expect(dv.getBigUint64(24, true)).toBe(1024n);
    expect(dv.getBigUint64(40, true)).toBe((1n << 0n) | (1n << 5n) | (1n << 14n) | (2n << 15n));
    expect(dv.getUint32(48, true)).toBe(1);
    const big = new DataView(encodePerfEventAttr({ type: 1, config3: 5n }).buffer);
    expect(big.getUint32(4, true)).toBe(136);
    expect(big.getBigUint64(128, true)).toBe(5n);
    expect(() => encodePerfEventAttr({ type: 1, samplePeriod: 1, sampleFreq: 2 })).toThrow(/share one field/);
  });
});

describe('perf_event_open', () => {
  it('samples page faults of this thread into an mmap()ed ring readable through epoll', () => {
    const fd = track(perfEventOpen(pageFaults, 0, -1));
    const pages = 8;
    using ring = mmap(fd, (1 + pages) * pageSize(), PROT.READ | PROT.WRITE, MAP.SHARED, 0);
    const meta = new DataView(ring.buffer);
    expect(Number(meta.getBigUint64(PERF_MMAP_PAGE.DATA_OFFSET, true))).toBe(pageSize()); // data_offset
    expect(Number(meta.getBigUint64(PERF_MMAP_PAGE.DATA_SIZE, true))).toBe(pages * pageSize()); // data_size
    expect(meta.getBigUint64(PERF_MMAP_PAGE.DATA_HEAD, true)).toBe(0n); // data_head: disabled, nothing yet

    using ep = new Epoll();
    ep.add(fd, 77);
    expect(ep.wait(4, 0)).toEqual([]);

    perfEventEnable(fd);
    fault(16);
    perfEventDisable(fd);

    const head = meta.getBigUint64(PERF_MMAP_PAGE.DATA_HEAD, true);
    expect(head).toBeGreaterThan(0n);
    // First record: perf_event_header then (pid, tid).
    const rec = new DataView(ring.buffer, pageSize());
    expect(rec.getUint32(0, true)).toBe(PERF_RECORD.SAMPLE);
    expect(rec.getUint16(6, true)).toBe(8 + 8);
    expect(rec.getUint32(8, true)).toBe(process.pid);
    expect(rec.getUint32(12, true)).toBe(gettid());
    expect(ep.wait(4, 0)).toEqual([77]);
  });

  /** VmSize of this process in kB. */
  const vmSizeKb = (): number => Number(/VmSize:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);

  it('maps a ring with private copy space right after it, and nothing when refused', () => {
    const fd = track(perfEventOpen(pageFaults, 0, -1));
    const page = pageSize();
    // The ring read-only: the copy space is read-write all the same.
    using ring = mmapWithScratch(fd, (1 + 2) * page, 2 * page, PROT.READ);
    expect(ring.length).toBe(5 * page);
    const meta = new DataView(ring.buffer);
    expect(Number(meta.getBigUint64(PERF_MMAP_PAGE.DATA_SIZE, true))).toBe(2 * page);
    // The copy space is ours: zeroed, writable, and contiguous with the data area.
    const bytes = new Uint8Array(ring.buffer);
    expect(bytes.subarray(3 * page).every((b) => b === 0)).toBe(true);
    bytes.fill(7, 3 * page);
    expect(bytes[5 * page - 1]).toBe(7);
    // A perf ring of 3 data pages is refused (EINVAL). A 1 GiB copy space makes a leaked
    // reservation plain in VmSize, whatever other threads map meanwhile.
    const other = track(perfEventOpen(pageFaults, 0, -1));
    const before = vmSizeKb();
    expect(() => mmapWithScratch(other, (1 + 3) * page, 1 << 30, PROT.READ | PROT.WRITE)).toThrow(/mmap failed: EINVAL/);
    expect(vmSizeKb() - before).toBeLessThan(256 * 1024);
    expect(() => mmapWithScratch(fd, page + 1, page, PROT.READ)).toThrow(expect.objectContaining({ code: 'MMAP_LENGTH' }));
    expect(() => mmapWithScratch(fd, page, 0, PROT.READ)).toThrow(expect.objectContaining({ code: 'MMAP_LENGTH' }));
  });

  it('runs a BPF program on the event, attached by LINK_CREATE (with a cookie) and by ioctl', () => {
    const counts = track(arrayMap(1, 'counts'));
    const prog = track(counterProgram(counts));
    const ev = track(perfEventOpen(pageFaults, 0, -1));
    const link = track(linkCreate({ progFd: prog, targetFd: ev, attachType: BPF_ATTACH_TYPE.PERF_EVENT, perfEventCookie: 0x1234n }));
    const info = linkInfo(link);
    expect(info.type).toBe(BPF_LINK_TYPE.PERF_EVENT);
    expect(info.progId).toBeGreaterThan(0);
    if (info.perfEventType === 0) {
      // Kernels before 6.6 leave the perf_event part of bpf_link_info empty.
      console.warn('sys/perf.test: this kernel does not fill perf_event link info; its checks are skipped');
    } else {
      expect(info.perfEventType).toBe(6); // BPF_PERF_EVENT_EVENT
      expect(info.perfEvent).toEqual({ type: PERF_TYPE.SOFTWARE, config: BigInt(PERF_COUNT_SW.PAGE_FAULTS) });
      expect(info.cookie).toBe(0x1234n);
    }

    perfEventEnable(ev);
    fault(16);
    perfEventDisable(ev);
    const v = new Uint8Array(8);
    expect(mapLookupElem(counts, u32(0), v)).toBe(true);
    const afterLink = readU64(v);
    expect(afterLink).toBeGreaterThanOrEqual(16n);

    // Legacy attach on a second event.
    const ev2 = track(perfEventOpen(pageFaults, 0, -1));
    perfEventSetBpf(ev2, prog);
    perfEventEnable(ev2);
    fault(16);
    perfEventDisable(ev2);
    expect(mapLookupElem(counts, u32(0), v)).toBe(true);
    expect(readU64(v)).toBeGreaterThanOrEqual(afterLink + 16n);
  });

  it.skipIf(!getpidTracepointId)('counts sys_enter_getpid with a tracepoint program and describes the fd with TASK_FD_QUERY', () => {
    const counts = track(arrayMap(1, 'tp_counts'));
    const prog = track(counterProgram(counts, BPF_PROG_TYPE.TRACEPOINT));
    const ev = track(perfEventOpen({ type: PERF_TYPE.TRACEPOINT, config: getpidTracepointId, samplePeriod: 1, wakeupEvents: 1 }, 0, -1));
    perfEventSetBpf(ev, prog);
    perfEventEnable(ev);
    for (let i = 0; i < 10; i++) getpid();
    perfEventDisable(ev);
    const v = new Uint8Array(8);
    expect(mapLookupElem(counts, u32(0), v)).toBe(true);
    expect(readU64(v)).toBeGreaterThanOrEqual(10n);
    const q = taskFdQuery(process.pid, ev.raw);
    expect(q).toMatchObject({ fdType: BPF_FD_TYPE.TRACEPOINT, name: 'sys_enter_getpid', progId: progInfo(prog).id });
  });

  it('names the errno of a refused event', () => {
    expect(() => perfEventOpen({ type: 0x7fffffff, config: 0 }, 0, -1)).toThrow(/perf_event_open failed: (ENOENT|EINVAL)/);
  });
});

describe('mmap', () => {
  it('maps anonymous memory and refuses use after unmap', () => {
    const r = mmap(null, pageSize(), PROT.READ | PROT.WRITE, MAP.PRIVATE);
    const bytes = new Uint8Array(r.buffer);
    bytes[10] = 42;
    expect(bytes[10]).toBe(42);
    expect(r.address % BigInt(pageSize())).toBe(0n);
    r.unmap();
    r.unmap();
    expect(r.unmapped).toBe(true);
    expect(() => r.buffer).toThrow(expect.objectContaining({ code: 'MMAP_UNMAPPED' }));
    expect(() => mmap(null, 0, PROT.READ, MAP.PRIVATE)).toThrow(expect.objectContaining({ code: 'MMAP_LENGTH' }));
  });

  it('aliases part of a mapping at any byte: the same memory, at another alignment', () => {
    using r = mmap(null, pageSize(), PROT.READ | PROT.WRITE, MAP.PRIVATE);
    const alias = r.alias(4, pageSize() - 4);
    expect(alias.byteLength).toBe(pageSize() - 4);
    // Writes through either buffer are seen through the other, 4 bytes apart.
    new DataView(r.buffer).setBigUint64(12, 0x1122334455667788n, true);
    expect(new BigUint64Array(alias, 0, 2)[1]).toBe(0x1122334455667788n);
    new Uint8Array(alias)[0] = 7;
    expect(new Uint8Array(r.buffer)[4]).toBe(7);
    expect(() => r.alias(1, pageSize())).toThrow(expect.objectContaining({ code: 'MMAP_RANGE' }));
    expect(() => r.alias(-1, 8)).toThrow(expect.objectContaining({ code: 'MMAP_RANGE' }));
    expect(() => r.alias(0, 0)).toThrow(expect.objectContaining({ code: 'MMAP_RANGE' }));
    expect(() => r.alias(0.5, 8)).toThrow(expect.objectContaining({ code: 'MMAP_RANGE' }));
    r.unmap();
    expect(() => r.alias(4, 8)).toThrow(expect.objectContaining({ code: 'MMAP_UNMAPPED' }));
  });

  it('maps an mmapable array map and sees updates made through bpf(2)', async () => {
    const { BPF_F_MMAPABLE, BPF_MAP_TYPE, mapCreate, mapUpdateElem } = await import('../../src/sys/index.js');
    const m = track(mapCreate({ mapType: BPF_MAP_TYPE.ARRAY, keySize: 4, valueSize: 8, maxEntries: 16, mapFlags: BPF_F_MMAPABLE }));
    using region = mmap(m, pageSize(), PROT.READ | PROT.WRITE, MAP.SHARED, 0);
    const dv = new DataView(region.buffer);
    const val = new Uint8Array(8);
    new DataView(val.buffer).setBigUint64(0, 0xfeedn, true);
    mapUpdateElem(m, u32(3), val);
    expect(dv.getBigUint64(3 * 8, true)).toBe(0xfeedn);
    dv.setBigUint64(5 * 8, 77n, true);
    const out = new Uint8Array(8);
    expect(mapLookupElem(m, u32(5), out)).toBe(true);
    expect(readU64(out)).toBe(77n);
  });
});
