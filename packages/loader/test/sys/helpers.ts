/** Shared bits of the sys tests. */
import { afterEach } from 'vitest';
import { asm } from '../../src/asm/index.js';
import { assemble } from '../../src/asm/instruction.js';
import { BPF_MAP_TYPE, BPF_PROG_TYPE, mapCreate, progLoad, type Fd } from '../../src/sys/index.js';

/** little-endian u32 key bytes. */
export function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

/** little-endian u64 value bytes. */
export function u64(n: bigint | number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
}

/** Reads a little-endian u64. */
export function readU64(b: Uint8Array): bigint {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(0, true);
}

/** An array map of `n` u64 values. */
export function arrayMap(n = 4, name = 'arr'): Fd {
  return mapCreate({ mapType: BPF_MAP_TYPE.ARRAY, keySize: 4, valueSize: 8, maxEntries: n, mapName: name });
}

/** A socket filter returning `ret`. */
export function returnProgram(ret: number): Fd {
  return progLoad({
    progType: BPF_PROG_TYPE.SOCKET_FILTER,
    insns: assemble([asm.movImm(0, ret), asm.exit()]).bytes,
    license: 'GPL',
    progName: 'ret_const',
  });
}

/** A packet big enough for socket filter test runs (an Ethernet header and some payload). */
export const packet = new Uint8Array(64).fill(0xab);

/**
 * Close every fd a test registers, after each test: call once at module level and wrap each
 * descriptor the test creates (`const m = track(arrayMap())`).
 */
export function closeAfterEach(): (fd: Fd) => Fd {
  const open: Fd[] = [];
  afterEach(() => {
    for (const fd of open.splice(0)) fd.close();
  });
  return (fd) => {
    open.push(fd);
    return fd;
  };
}
