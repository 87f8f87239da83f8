/**
 * Transparent huge pages for large scratch memories (src/sys/hugepages.ts): the window starts on a
 * 2 MiB boundary and the kernel backs it with a huge page (AnonHugePages grows), the kernel BTF's
 * framing and a code-cache arena use one, and every way out (off, no room) leaves the caller its
 * usual layout.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checksum, checksumArena } from '../../src/cachedir.js';
import { HUGE_PAGE_BYTES, hugePageWindow } from '../../src/sys/hugepages.js';
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

/** Kilobytes of anonymous memory backed by huge pages in this process. */
function anonHugeKb(): number {
  const m = /^AnonHugePages:\s+(\d+) kB/m.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** WebAssembly's memory constructor (the project's lib settings do not declare WebAssembly). */
const WasmMemory = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number }) => { buffer: ArrayBuffer } } }).WebAssembly.Memory;

/** A fresh WebAssembly memory of `bytes` (rounded up to 64 KiB pages). */
function wasmBuffer(bytes: number): ArrayBuffer {
  return new WasmMemory({ initial: Math.ceil(bytes / 65536) }).buffer;
}

/** Write a byte into every 4 KiB page of `bytes` at `at`. */
function touch(buffer: ArrayBuffer, at: number, bytes: number): void {
  const u8 = new Uint8Array(buffer, at, bytes);
  for (let i = 0; i < bytes; i += 4096) u8[i] = 1;
}

describe('huge-page windows', () => {
  it.skipIf(!thp)('start on a 2 MiB boundary, and the kernel backs them with a huge page', () => {
    const buffer = wasmBuffer(3 * HUGE_PAGE_BYTES);
    const at = hugePageWindow(buffer, 1_300_000);
    expect(at).toBeDefined();
    const start = addressOf(new Uint8Array(buffer, at!, 1));
    expect(start % BigInt(HUGE_PAGE_BYTES)).toBe(0n);
    const before = anonHugeKb();
    touch(buffer, at!, HUGE_PAGE_BYTES);
    expect(anonHugeKb() - before).toBeGreaterThanOrEqual(2048);
  });

  it.skipIf(mode !== 'madvise')('without the advice the same touch stays on 4 KiB pages (THP in madvise mode)', () => {
    const buffer = wasmBuffer(3 * HUGE_PAGE_BYTES);
    const at = hugePageWindow(buffer, 1_300_000, { TSBPF_HUGE_PAGES: 'off' });
    expect(at).toBeUndefined();
    const start = Number(addressOf(new Uint8Array(buffer, 0, 1)) % BigInt(HUGE_PAGE_BYTES));
    const aligned = (HUGE_PAGE_BYTES - start) % HUGE_PAGE_BYTES;
    const before = anonHugeKb();
    touch(buffer, aligned, HUGE_PAGE_BYTES);
    expect(anonHugeKb() - before).toBe(0);
  });

  it('leaves the layout alone when off, asked for nothing, or given no room for an aligned window', () => {
    const buffer = wasmBuffer(HUGE_PAGE_BYTES + 65536);
    expect(hugePageWindow(buffer, 1000, { TSBPF_HUGE_PAGES: 'off' })).toBeUndefined();
    expect(hugePageWindow(buffer, 0)).toBeUndefined();
    // 2 MiB + 64 KiB holds an aligned 2 MiB window only if its base happens to be aligned: a
    // request for two huge pages never fits.
    expect(hugePageWindow(buffer, HUGE_PAGE_BYTES + 1)).toBeUndefined();
  });

  it.skipIf(!thp)('the kernel BTF is framed on a huge page', () => {
    clearKernelBtfCache();
    const before = anonHugeKb();
    const btf = loadKernelBtf({ remember: false });
    expect(btf.find('task_struct', 'struct')).toBeGreaterThan(0);
    expect(anonHugeKb() - before).toBeGreaterThanOrEqual(2048);
    clearKernelBtfCache();
  });

  it.skipIf(!thp)('a large code-cache arena starts on a huge page and still sums in place', () => {
    const size = 700_001;
    const before = anonHugeKb();
    const arena = checksumArena(size);
    expect(arena.byteOffset).toBeGreaterThanOrEqual(8);
    // Its bytes start on the boundary, or 8 bytes past it when the memory itself starts there.
    expect([0, 8]).toContain(Number(addressOf(arena) % BigInt(HUGE_PAGE_BYTES)));
    for (let i = 0; i < size; i++) arena[i] = (i * 2654435761) >>> 24;
    expect(anonHugeKb() - before).toBeGreaterThanOrEqual(2048);
    expect(checksum(arena)).toEqual(checksum(Buffer.from(arena)));
  });
});
