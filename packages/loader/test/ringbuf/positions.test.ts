/**
 * The readers keep 64-bit buffer positions as doubles and, inside their drain loops, as int32
 * offsets from the position at the last re-base. This test pushes more than 2^32 bytes through a
 * real ring buffer (1 MiB records, so it takes four thousand of them), so the position crosses 2^32
 * and the ring wraps a thousand times: a position kept or published wrongly makes the kernel see a
 * full ring (a failed reserve) or the reader a torn record. The perf reader's loop does the same
 * arithmetic; a perf buffer cannot be pushed past 2^32 in a test here (perf_event_output from
 * BPF_PROG_TEST_RUN took ~16 ms a call on the development machine, and a record is at most 64 KiB).
 */
import { describe, expect, it } from 'vitest';
import { asm, assemble } from '../../src/asm/index.js';
import { RingBufReader } from '../../src/ringbuf/reader.js';
import { BPF_FUNC, BPF_MAP_TYPE, BPF_PROG_TYPE, mapCreate, progTestRun } from '../../src/sys/index.js';
import { load } from '../link/progs.js';

const XDP_PASS = 2;
const FAILED = 1;
const MAGIC = 0x7473627066n;
/** Bytes that must flow to cross 2^32 by a margin. */
const TRAFFIC = 2 ** 32 + 64 * 2 ** 20;

describe('ring buffer positions past 2^32 bytes', () => {
  it('every record intact and no reserve failing after more than 4 GiB', () => {
    const record = 2 ** 20 - 8; // with its 8-byte header, exactly 1 MiB of ring
    using ring = mapCreate({ mapType: BPF_MAP_TYPE.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 4 * 2 ** 20 });
    // reserve(record); *(u64 *)rec = MAGIC; submit — returns FAILED when the ring had no room.
    const emit = [asm.movReg(6, 0), ...asm.ldImm64(1, MAGIC), asm.stxMem(8, 6, 1, 0), asm.movReg(1, 6), asm.movImm(2, 0), asm.callHelper(BPF_FUNC.ringbuf_submit), asm.movImm(0, XDP_PASS), asm.exit()];
    using prog = load({
      progType: BPF_PROG_TYPE.XDP,
      insns: assemble([...asm.ldMapFd(1, ring.raw), asm.movImm(2, record), asm.movImm(3, 0), asm.callHelper(BPF_FUNC.ringbuf_reserve), asm.jeqImm(0, 0, emit.length), ...emit, asm.movImm(0, FAILED), asm.exit()]).bytes,
    });
    using reader = new RingBufReader({ fd: ring, maxEntries: 4 * 2 ** 20 });
    const packet = new Uint8Array(64);
    let received = 0;
    let bad = 0;
    const produced = Math.ceil(TRAFFIC / 2 ** 20);
    for (let i = 0; i < produced; i += 2) {
      for (let k = 0; k < 2; k++) expect(progTestRun({ progFd: prog, dataIn: packet }).retval).toBe(XDP_PASS);
      reader.readAvailableRaw((view, offset, length) => {
        received++;
        if (length !== record || view.getBigUint64(offset, true) !== MAGIC) bad++;
      });
    }
    expect(bad).toBe(0);
    expect(received).toBe(produced + (produced % 2));
    expect(reader.pending).toBe(0);
  });
});
