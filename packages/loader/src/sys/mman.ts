/**
 * mmap(2) regions (perf rings, BPF ring buffers, mmapable array maps) as ArrayBuffers over native
 * memory, each owned by a {@link MappedRegion} that unmaps deterministically.
 */
import { TsbpfError } from '../errors.js';
import { SyscallError } from './errors.js';
import { MAP, PROT, mmapRaw, munmapRaw, pageSize, viewAt } from './ffi.js';
import type { Fd } from './fd.js';

export { MAP, PROT, pageSize };

let liveRegions = 0;

const registry = new FinalizationRegistry<{ address: bigint; length: number }>((held) => {
  // Safety net only: the mapping is released once its ArrayBuffer is unreachable. The buffer, not the
  // region, is the registered target: typed-array views keep it alive, and unmapping under a live view
  // would turn the next read into a segfault.
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
  readonly #held: { address: bigint; length: number };

  constructor(address: bigint, length: number) {
    this.address = address;
    this.length = length;
    const buffer = viewAt(address, length);
    this.#buffer = buffer;
    this.#held = { address, length };
    liveRegions++;
    registry.register(buffer, this.#held, this.#held);
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
