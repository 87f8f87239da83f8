/**
 * mmap(2) regions (perf rings, BPF ring buffers, mmapable array maps) as ArrayBuffers over native
 * memory, each owned by a {@link MappedRegion} that unmaps deterministically.
 */
import { TsbpfError } from '../errors.js';
import { ERRNO } from './errno.js';
import { SyscallError } from './errors.js';
import { MAP, PROT, mmapRaw, mprotectRaw, munmapRaw, pageSize, viewAt } from './ffi.js';
import type { Fd } from './fd.js';

export { MAP, PROT, pageSize };

let liveRegions = 0;

/** What the safety net needs to unmap a region: its range and how many of its buffers are alive. */
interface Held {
  address: bigint;
  length: number;
  buffers: number;
}

const registry = new FinalizationRegistry<Held>((held) => {
  // Safety net only: the mapping is released once every ArrayBuffer over it is unreachable. The
  // buffers, not the region, are the registered targets: typed-array views keep them alive, and
  // unmapping under a live view would turn the next read into a segfault.
  if (--held.buffers > 0) return;
  liveRegions--;
  munmapRaw(held.address, held.length);
});

/**
 * One mapping. Views over {@link MappedRegion.buffer} must not be used after
 * {@link MappedRegion.unmap}: the memory is gone and the process would crash (an ArrayBuffer over
 * foreign memory cannot be detached). A region nobody unmaps is released when its buffer is collected.
 */
export class MappedRegion implements Disposable {
  /** Start address of the mapping. */
  readonly address: bigint;
  /** Length in bytes. */
  readonly length: number;
  #buffer: ArrayBuffer | undefined;
  readonly #held: Held;

  constructor(address: bigint, length: number) {
    this.address = address;
    this.length = length;
    const buffer = viewAt(address, length);
    this.#buffer = buffer;
    this.#held = { address, length, buffers: 1 };
    liveRegions++;
    registry.register(buffer, this.#held, this.#held);
  }

  /**
   * A second ArrayBuffer over `length` bytes of the mapping from byte `offset`, which need not be
   * aligned: typed arrays over it see those bytes at another alignment (a perf sample's payload
   * starts 4 bytes past an 8-byte boundary; over a buffer that starts 4 bytes in, its 64-bit members
   * are elements of a BigUint64Array). The same rules as {@link MappedRegion.buffer}: not to be used
   * after {@link MappedRegion.unmap}; the safety net unmaps only once every buffer is unreachable.
   * @throws TsbpfError `MMAP_UNMAPPED` after unmap, `MMAP_RANGE` for a range outside the mapping
   */
  alias(offset: number, length: number): ArrayBuffer {
    if (!this.#buffer) throw new TsbpfError('MMAP_UNMAPPED', 'mapped region was already unmapped');
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length <= 0 || offset + length > this.length) {
      throw new TsbpfError('MMAP_RANGE', `alias of ${length} bytes at ${offset} is outside the ${this.length}-byte mapping`);
    }
    const buffer = viewAt(this.address + BigInt(offset), length);
    this.#held.buffers++;
    registry.register(buffer, this.#held, this.#held);
    return buffer;
  }

  /**
   * The mapped bytes.
   * @throws TsbpfError `MMAP_UNMAPPED` after {@link MappedRegion.unmap}: touching it would crash.
   */
  get buffer(): ArrayBuffer {
    if (!this.#buffer) throw new TsbpfError('MMAP_UNMAPPED', 'mapped region was already unmapped');
    return this.#buffer;
  }

  /** True after {@link MappedRegion.unmap}. */
  get unmapped(): boolean {
    return this.#buffer === undefined;
  }

  /** munmap(2); idempotent. Views created from {@link MappedRegion.buffer} must be dropped first. */
  unmap(): void {
    if (!this.#buffer) return;
    this.#buffer = undefined;
    registry.unregister(this.#held);
    liveRegions--;
    const r = munmapRaw(this.address, this.length);
    if (r < 0) throw new SyscallError('munmap', -r);
  }

  /** Same as {@link MappedRegion.unmap}. */
  [Symbol.dispose](): void {
    this.unmap();
  }

  /** Number of regions mapped and not yet unmapped. */
  static get liveCount(): number {
    return liveRegions;
  }
}

/**
 * Maps `length` bytes of `fd` at `offset` (or anonymous memory when `fd` is null, adding MAP_ANONYMOUS).
 * @throws SyscallError when the kernel refuses (EINVAL for a bad size/offset, EPERM for a read-only map
 * mapped writable, ENOMEM).
 */
export function mmap(fd: Fd | null, length: number, prot: number, flags: number, offset = 0): MappedRegion {
  if (!Number.isInteger(length) || length <= 0) throw new TsbpfError('MMAP_LENGTH', `mmap length ${length} must be a positive integer`);
  if (offset % pageSize() !== 0) throw new TsbpfError('MMAP_OFFSET', `mmap offset ${offset} is not a multiple of the page size ${pageSize()}`);
  const raw = fd ? fd.raw : -1;
  const f = fd ? flags : flags | MAP.ANONYMOUS;
  const addr = mmapRaw(length, prot, f, raw, offset);
  if (addr < 0n) throw new SyscallError('mmap', Number(-addr), { context: fd?.label ?? 'anonymous' });
  return new MappedRegion(addr, length);
}

/** Attempts at placing a ring in its reserved range before giving up (another thread mapped there each time). */
const PLACEMENT_ATTEMPTS = 4;

/**
 * Maps `length` bytes of `fd` from offset 0 (shared, with `prot`) followed directly by
 * `scratchLength` bytes of private anonymous read-write memory, as one region: a ring whose wrapped
 * records are made contiguous by copying their wrapped part just past its end (perf rings; see
 * `perf/reader.ts`). A range for both is reserved (no access), the ring's part of it released, and
 * `fd` mapped exactly there with `MAP_FIXED_NOREPLACE`; the copy space is the reservation's tail made
 * read-write. Nothing here maps over a range with `MAP_FIXED`: a failed `MAP_FIXED` mapping of a file
 * leaves a hole where the old mapping was, which another thread could fill before it is cleaned up.
 * Should another thread take the released part first (EEXIST), or a kernel before 4.17 (which reads
 * the flag as a hint) place `fd` elsewhere, it tries again in a new range.
 * @throws SyscallError when the kernel refuses a mapping (nothing stays mapped then); `MMAP_PLACE`
 * when other threads took the range at every attempt
 */
export function mmapWithScratch(fd: Fd, length: number, scratchLength: number, prot: number): MappedRegion {
  const page = pageSize();
  if (!Number.isInteger(length) || length <= 0 || length % page !== 0) throw new TsbpfError('MMAP_LENGTH', `mmap length ${length} must be a positive multiple of the page size ${page}`);
  if (!Number.isInteger(scratchLength) || scratchLength <= 0 || scratchLength % page !== 0) throw new TsbpfError('MMAP_LENGTH', `scratch length ${scratchLength} must be a positive multiple of the page size ${page}`);
  const total = length + scratchLength;
  for (let attempt = 0; attempt < PLACEMENT_ATTEMPTS; attempt++) {
    // PROT_NONE and private: no memory is committed until the tail is made writable.
    const base = mmapRaw(total, PROT.NONE, MAP.PRIVATE | MAP.ANONYMOUS, -1, 0);
    if (base < 0n) throw new SyscallError('mmap', Number(-base), { context: 'anonymous' });
    const tail = base + BigInt(length);
    const released = munmapRaw(base, length);
    if (released < 0) {
      munmapRaw(base, total);
      throw new SyscallError('munmap', -released);
    }
    const addr = mmapRaw(length, prot, MAP.SHARED | MAP.FIXED_NOREPLACE, fd.raw, 0, base);
    if (addr === base) {
      const writable = mprotectRaw(tail, scratchLength, PROT.READ | PROT.WRITE);
      if (writable < 0) {
        munmapRaw(base, total);
        throw new SyscallError('mprotect', -writable, { context: 'anonymous' });
      }
      return new MappedRegion(base, total);
    }
    munmapRaw(tail, scratchLength);
    if (addr >= 0n) munmapRaw(addr, length);
    else if (addr !== -BigInt(ERRNO.EEXIST)) throw new SyscallError('mmap', Number(-addr), { context: fd.label });
  }
  throw new TsbpfError('MMAP_PLACE', `could not map ${fd.label} with ${scratchLength} bytes of copy space after it: other mappings took the range ${PLACEMENT_ATTEMPTS} times`);
}
