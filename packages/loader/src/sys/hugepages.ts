/**
 * Transparent huge pages for large scratch memories that are written once, start to end (the
 * framing columns of kernel BTF, the bytes of a code-cache bundle). Each fresh 4 KiB page costs a
 * page fault on first touch; on the benchmark machine, a VM, that fault costs 5–13 µs, so a
 * megabyte of fresh memory costs 1.3–3 ms before any work is done in it. One 2 MiB huge page is one
 * fault (~0.1 ms when the kernel has one free). The kernel backs only whole, aligned 2 MiB ranges
 * with huge pages, so the caller leaves room and places its data at the offset returned here.
 *
 * Best effort: where THP is off (`never`), unsupported, or `TSBPF_HUGE_PAGES=off`, nothing is
 * advised and the caller keeps its usual layout. The cost is resident memory: the huge page counts
 * whole, even where the data fills part of it.
 */
import { readPseudoFile } from '../pseudofile.js';
import { addressOf, madviseRaw } from './ffi.js';

/** Size of a transparent huge page with 4 KiB base pages (x86_64, arm64). */
export const HUGE_PAGE_BYTES = 2 << 20;

/**
 * Below this, a scratch memory is not worth a huge page: the faults it saves (~128 at 512 KiB) cost
 * less than the resident memory the rest of the 2 MiB page adds.
 */
export const HUGE_WORTH_BYTES = 512 * 1024;

const MADV_HUGEPAGE = 14;

/** `always`, `madvise`, `never`, or undefined (no THP in this kernel), read once. */
let thpMode: string | null | undefined;

function transparentHugePages(): string | undefined {
  if (thpMode === undefined) {
    try {
      // "always [madvise] never": the bracketed word is the mode.
      thpMode = /\[(\w+)\]/.exec(readPseudoFile('/sys/kernel/mm/transparent_hugepage/enabled'))?.[1] ?? null;
    } catch {
      thpMode = null;
    }
  }
  return thpMode ?? undefined;
}

/**
 * The offset into `buffer` (private anonymous memory the process owns, such as a WebAssembly
 * memory, not yet touched there) of a 2 MiB-aligned window of at least `bytes` bytes that the kernel
 * was asked to back with huge pages; undefined when huge pages are not to be had, or `buffer` has
 * no such window (size it `bytes` + {@link HUGE_PAGE_BYTES}: its base is only page-aligned). Never
 * throws.
 */
export function hugePageWindow(buffer: ArrayBuffer, bytes: number, env: NodeJS.ProcessEnv = process.env): number | undefined {
  if (env.TSBPF_HUGE_PAGES === 'off' || bytes <= 0) return undefined;
  const mode = transparentHugePages();
  if (mode !== 'always' && mode !== 'madvise') return undefined;
  try {
    const base = addressOf(new Uint8Array(buffer, 0, 1));
    const huge = BigInt(HUGE_PAGE_BYTES);
    const at = Number((huge - (base % huge)) % huge);
    const length = Math.ceil(bytes / HUGE_PAGE_BYTES) * HUGE_PAGE_BYTES;
    if (at + length > buffer.byteLength) return undefined;
    // With `always` the kernel backs the aligned window without being asked.
    if (mode === 'madvise' && madviseRaw(new Uint8Array(buffer, at, length), MADV_HUGEPAGE) !== 0) return undefined;
    return at;
  } catch {
    // No FFI here (koffi could not load): the usual pages.
    return undefined;
  }
}
