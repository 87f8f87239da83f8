/**
 * Transparent huge pages for large scratch memories (src/sys/hugepages.ts): the window starts on a
 * 2 MiB boundary and the kernel backs it with a huge page (AnonHugePages grows), the kernel BTF's
 * framing and a code-cache arena use one, and every way out (off, no room) leaves the caller its
 * usual layout.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checksum, checksumArena } from '../../src/cachedir.js';
import { alignedWindow, hugePageRoom, hugePageWindow, roomFor } from '../../src/sys/hugepages.js';
import { addressOf } from '../../src/sys/index.js';
import { clearKernelBtfCache, loadKernelBtf } from '../../src/btf/index.js';

/** The bracketed THP mode of this kernel, or undefined without THP. */
const mode = ((): string | undefined => {
  try {
    return /\[(\w+)\]/.exec(readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'))?.[1];
  } catch {
    return undefined;
  }
})();
const thp = mode === 'always' || mode === 'madvise';
if (!thp) console.log(`sys/hugepages: transparent huge pages are ${mode ?? 'not built'} here; the huge-page checks are skipped`);

/** The huge page's size here (2 MiB with 4 KiB base pages). */
const HUGE = thp ? Number(readFileSync('/sys/kernel/mm/transparent_hugepage/hpage_pmd_size', 'utf8').trim()) : 2 << 20;

/** Kilobytes of anonymous memory backed by huge pages in this process. */
function anonHugeKb(): number {
  const m = /^AnonHugePages:\s+(\d+) kB/m.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** Kilobytes backed by huge pages in the mapping that holds `address` (/proc/self/smaps). */
function anonHugeKbAt(address: bigint): number {
  let inside = false;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const range = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (range) inside = BigInt(`0x${range[1]}`) <= address && address < BigInt(`0x${range[2]}`);
    else if (inside && line.startsWith('AnonHugePages:')) return Number(/(\d+) kB/.exec(line)?.[1] ?? 0);
  }
  return 0;
}

/** Memories made by these tests, kept alive so that no collection frees their pages in between. */
const kept: ArrayBuffer[] = [];

/** WebAssembly's memory constructor (the project's lib settings do not declare WebAssembly). */
const WasmMemory = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number }) => { buffer: ArrayBuffer } } }).WebAssembly.Memory;

/** A fresh WebAssembly memory of `bytes` (rounded up to 64 KiB pages). */
function wasmBuffer(bytes: number): ArrayBuffer {
  const buffer = new WasmMemory({ initial: Math.ceil(bytes / 65536) }).buffer;
  kept.push(buffer);
  return buffer;
}

/** Write a byte into every 4 KiB page of `bytes` at `at`. */
function touch(buffer: ArrayBuffer, at: number, bytes: number): void {
  const u8 = new Uint8Array(buffer, at, bytes);
  for (let i = 0; i < bytes; i += 4096) u8[i] = 1;
}

describe('huge-page windows', () => {
  it.skipIf(!thp)('start on a huge-page boundary, and the kernel backs them with a huge page', () => {
    const buffer = wasmBuffer(hugePageRoom(1_300_000));
    const at = hugePageWindow(buffer, 1_300_000);
    expect(at).toBeDefined();
    const start = addressOf(new Uint8Array(buffer, at!, 1));
    expect(start % BigInt(HUGE)).toBe(0n);
    touch(buffer, at!, HUGE);
    expect(anonHugeKbAt(start)).toBeGreaterThanOrEqual(HUGE / 1024);
  });

  it.skipIf(!thp)('fit in a memory of hugePageRoom(bytes) wherever its base lies', () => {
    // WebAssembly memories start on 64 KiB boundaries, rarely on a huge page's.
    for (const bytes of [600_000, 1_300_000, 2_100_000]) {
      for (let i = 0; i < 8; i++) {
        const buffer = new WasmMemory({ initial: Math.ceil(hugePageRoom(bytes) / 65536) }).buffer;
        const at = hugePageWindow(buffer, bytes);
        expect(at).toBeDefined();
        expect(at! + bytes).toBeLessThanOrEqual(buffer.byteLength);
      }
    }
  });

  it.skipIf(mode !== 'madvise')('without the advice the same touch stays on small pages (THP in madvise mode)', () => {
    const buffer = wasmBuffer(hugePageRoom(1_300_000, {}));
    const at = hugePageWindow(buffer, 1_300_000, { TSBPF_HUGE_PAGES: 'off' });
    expect(at).toBeUndefined();
    const base = addressOf(new Uint8Array(buffer, 0, 1));
    const aligned = Number((BigInt(HUGE) - (base % BigInt(HUGE))) % BigInt(HUGE));
    touch(buffer, aligned, HUGE);
    expect(anonHugeKbAt(base + BigInt(aligned))).toBe(0);
  });

  it('a memory of the room asked for holds the window at every base a WebAssembly memory can have', () => {
    for (const huge of [2 << 20, 32 << 20]) {
      for (const bytes of [1, 600_000, 1_300_000, huge, huge + 1]) {
        const length = Math.ceil(roomFor(bytes, huge) / 65536) * 65536;
        for (let base = 0x7f0000000000n; base < 0x7f0000000000n + BigInt(huge); base += 65536n) {
          const at = alignedWindow(base, length, bytes, huge);
          expect(at).toBeDefined();
          expect((base + BigInt(at!)) % BigInt(huge)).toBe(0n);
          expect(at! + bytes).toBeLessThanOrEqual(length);
        }
      }
    }
    // Less room: a base just past a boundary has no window.
    expect(alignedWindow(0x7f0000010000n, roomFor(600_000, 2 << 20) - 2 * 65536, 600_000, 2 << 20)).toBeUndefined();
  });

  it('leaves the layout alone when off, asked for nothing, or given no room for an aligned window', () => {
    const buffer = wasmBuffer(2 * 65536);
    expect(hugePageWindow(buffer, 1000, { TSBPF_HUGE_PAGES: 'off' })).toBeUndefined();
    expect(hugePageWindow(buffer, 0)).toBeUndefined();
    // 128 KiB never holds a huge page's window.
    expect(hugePageWindow(buffer, 1000)).toBeUndefined();
    expect(hugePageRoom(1000, { TSBPF_HUGE_PAGES: 'off' })).toBe(1000);
    // Below 512 kB a memory keeps small pages, THP or not.
    expect(hugePageRoom(1000)).toBe(1000);
    expect(hugePageRoom(600_000, { TSBPF_HUGE_PAGES: 'off' })).toBe(600_000);
  });

  it.skipIf(!thp)('the kernel BTF is framed on a huge page', () => {
    clearKernelBtfCache();
    const before = anonHugeKb();
    const btf = loadKernelBtf({ remember: false });
    expect(btf.find('task_struct', 'struct')).toBeGreaterThan(0);
    // Its memory's address is the loader's own: counted process-wide (this file's memories stay alive).
    expect(anonHugeKb() - before).toBeGreaterThanOrEqual(HUGE / 1024);
    clearKernelBtfCache();
  });

  it.skipIf(!thp)('a large code-cache arena starts on a huge page and still sums in place', () => {
    const size = 700_001;
    const arena = checksumArena(size);
    kept.push(arena.buffer as ArrayBuffer);
    expect(arena.byteOffset).toBeGreaterThanOrEqual(8);
    // Its bytes start on the boundary, or 8 bytes past it when the memory itself starts there.
    expect([0, 8]).toContain(Number(addressOf(arena) % BigInt(HUGE)));
    for (let i = 0; i < size; i++) arena[i] = (i * 2654435761) >>> 24;
    expect(anonHugeKbAt(addressOf(arena))).toBeGreaterThanOrEqual(HUGE / 1024);
    expect(checksum(arena)).toEqual(checksum(Buffer.from(arena)));
  });
});
