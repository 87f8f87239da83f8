/**
 * Transparent huge pages for large scratch memories that are written once, start to end (the
 * framing columns of kernel BTF, the bytes of a code-cache bundle). Each fresh 4 KiB page costs a
 * page fault on first touch; on the benchmark machine, a VM, that fault costs 5–13 µs, so a
 * megabyte of fresh memory costs 1.3–3 ms before any work is done in it. One 2 MiB huge page is one
 * fault (~0.1 ms when the kernel has one free). The kernel backs only whole, aligned ranges of the
 * huge page's size (`hpage_pmd_size`: 2 MiB with 4 KiB base pages) with huge pages, so the caller
 * sizes its memory with {@link hugePageRoom} and places its data at the offset returned here.
 *
 * Best effort: where THP is off (`never`), unsupported, or `TSBPF_HUGE_PAGES=off`, nothing is
 * advised and the caller keeps its usual layout. The cost is resident memory: the huge page counts
 * whole, even where the data fills part of it.
 */
import { readPseudoFile } from '../pseudofile.js';
import { addressOf, madviseRaw } from './ffi.js';

/**
 * Below this, a scratch memory is not worth a huge page: the faults it saves (~128 at 512 KiB) cost
 * less than the resident memory the rest of the page adds. {@link hugePageRoom} and
 * {@link hugePageWindow} leave smaller memories on small pages.
 */
export const HUGE_WORTH_BYTES = 512 * 1024;

const MADV_HUGEPAGE = 14;
const THP = '/sys/kernel/mm/transparent_hugepage';

/** What this kernel offers, read once: the mode (`always`, `madvise`), the huge page's size; null: none. */
let offer: { mode: string; bytes: number } | null | undefined;

function transparentHugePages(): { mode: string; bytes: number } | null {
  if (offer === undefined) {
    try {
      // "always [madvise] never": the bracketed word is the mode. The size is 2 MiB with 4 KiB base
      // pages, more with 16 or 64 KiB ones (arm64).
      const mode = /\[(\w+)\]/.exec(readPseudoFile(`${THP}/enabled`))?.[1];
      const bytes = Number(readPseudoFile(`${THP}/hpage_pmd_size`).trim());
      offer = (mode === 'always' || mode === 'madvise') && Number.isSafeInteger(bytes) && bytes > 0 && (bytes & (bytes - 1)) === 0 ? { mode, bytes } : null;
    } catch {
      offer = null;
    }
  }
  return offer;
}

/** The huge pages to be had for a memory of `bytes`, or null (none here, off, or not worth it). */
function offered(bytes: number, env: NodeJS.ProcessEnv): { mode: string; bytes: number } | null {
  return env.TSBPF_HUGE_PAGES === 'off' || bytes < HUGE_WORTH_BYTES ? null : transparentHugePages();
}

/** `bytes` rounded up to whole huge pages of `huge` bytes. */
function wholePages(bytes: number, huge: number): number {
  return Math.ceil(bytes / huge) * huge;
}

/**
 * Bytes to give a memory that should hold `bytes` on huge pages: whole huge pages for the data and
 * one more, since the memory's base is only page-aligned and the window starts at the first
 * boundary after it (virtual address space only: pages never touched cost nothing). `bytes` itself
 * where there are no huge pages to be had, or below {@link HUGE_WORTH_BYTES}.
 */
export function hugePageRoom(bytes: number, env: NodeJS.ProcessEnv = process.env): number {
  const thp = offered(bytes, env);
  return thp === null ? bytes : roomFor(bytes, thp.bytes);
}

/** {@link hugePageRoom} for huge pages of `huge` bytes. @internal exported for tests */
export function roomFor(bytes: number, huge: number): number {
  return wholePages(bytes, huge) + huge;
}

/**
 * Offset of the first `huge`-aligned address at or after `base` in a memory of `length` bytes,
 * when whole huge pages for `bytes` fit from there; else undefined. @internal exported for tests
 */
export function alignedWindow(base: bigint, length: number, bytes: number, huge: number): number | undefined {
  const at = Number((BigInt(huge) - (base % BigInt(huge))) % BigInt(huge));
  return at + wholePages(bytes, huge) <= length ? at : undefined;
}

/** Set when the advice could not be given at all (no FFI here): not asked again. */
let unavailable = false;

/**
 * The offset into `buffer` (private anonymous memory the process owns, such as a WebAssembly
 * memory, not yet touched there) of a huge-page-aligned window of at least `bytes` bytes that the
 * kernel was asked to back with huge pages; undefined when huge pages are not to be had, `bytes` is
 * below {@link HUGE_WORTH_BYTES}, or `buffer` has no such window (give it
 * {@link hugePageRoom}`(bytes)` bytes). Never throws.
 */
export function hugePageWindow(buffer: ArrayBuffer, bytes: number, env: NodeJS.ProcessEnv = process.env): number | undefined {
  const thp = unavailable ? null : offered(bytes, env);
  if (thp === null) return undefined;
  try {
    const at = alignedWindow(addressOf(new Uint8Array(buffer, 0, 1)), buffer.byteLength, bytes, thp.bytes);
    if (at === undefined) return undefined;
    // With `always` the kernel backs the aligned window without being asked.
    if (thp.mode === 'madvise' && madviseRaw(new Uint8Array(buffer, at, wholePages(bytes, thp.bytes)), MADV_HUGEPAGE) !== 0) return undefined;
    return at;
  } catch {
    // No FFI here (koffi could not load): the usual pages, from now on without trying.
    unavailable = true;
    return undefined;
  }
}
