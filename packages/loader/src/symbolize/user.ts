/**
 * User-space stack symbolization: an address of process `pid` is mapped to a file through
 * `/proc/<pid>/maps`, then to a function through that file's ELF symbols (cached per file).
 */
import { readFileSync } from 'node:fs';
import { NativeSymbolTable } from './elf_symbols.js';

/** One file-backed line of `/proc/<pid>/maps`. */
export interface MemoryMapping {
  readonly start: bigint;
  readonly end: bigint;
  readonly perms: string;
  /** File offset of `start`. */
  readonly offset: bigint;
  readonly inode: number;
  readonly path: string;
}

/** A user address resolved to a function. */
export interface UserSymbolization {
  /** The function, or undefined when the file has no symbol for the address. */
  readonly name: string | undefined;
  /** Bytes past the function's start (0 when `name` is undefined). */
  readonly offset: number;
  /** The mapped file (`/usr/lib/x86_64-linux-gnu/libc.so.6`, `[vdso]`, …). */
  readonly path: string;
  /** The address as an offset into that file. */
  readonly fileOffset: number;
}

/** Parse the text of `/proc/<pid>/maps`, keeping lines that name a path or a pseudo-file. */
export function parseProcMaps(text: string): MemoryMapping[] {
  const out: MemoryMapping[] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+)\s+(\S+)\s+([0-9a-f]+)\s+\S+\s+(\d+)\s*(.*)$/.exec(line);
    if (!m || m[6] === '') continue;
    out.push({ start: BigInt('0x' + m[1]), end: BigInt('0x' + m[2]), perms: m[3], offset: BigInt('0x' + m[4]), inode: Number(m[5]), path: m[6].trim() });
  }
  return out;
}

/** Resolves the addresses of one process. Re-reads its maps on {@link refresh} (after dlopen, exec). */
export class ProcessSymbolizer {
  readonly pid: number;
  private mappings: MemoryMapping[] = [];

  constructor(pid: number) {
    this.pid = pid;
    this.refresh();
  }

  /** Re-read `/proc/<pid>/maps`. A process that has exited leaves the previous mappings in place. */
  refresh(): void {
    try {
      this.mappings = parseProcMaps(readFileSync(`/proc/${this.pid}/maps`, 'latin1'));
    } catch {
      // The process is gone; keep what we had so late events can still be named.
    }
  }

  /** The mapping containing `addr`. */
  mappingOf(addr: bigint): MemoryMapping | undefined {
    return this.mappings.find((m) => addr >= m.start && addr < m.end);
  }

  /** Name `addr`; undefined when no file maps it. */
  symbolize(addr: bigint): UserSymbolization | undefined {
    const m = this.mappingOf(addr);
    if (!m) return undefined;
    const fileOffset = Number(addr - m.start + m.offset);
    if (!m.path.startsWith('/') || m.inode === 0) return { name: undefined, offset: 0, path: m.path, fileOffset };
    let table: NativeSymbolTable;
    try {
      // Through /proc/<pid>/root so files of other mount namespaces (containers) resolve.
      table = NativeSymbolTable.forPath(`/proc/${this.pid}/root${m.path}`);
    } catch {
      try {
        table = NativeSymbolTable.forPath(m.path);
      } catch {
        return { name: undefined, offset: 0, path: m.path, fileOffset };
      }
    }
    const vaddr = table.fileOffsetToAddress(fileOffset);
    const hit = vaddr === undefined ? undefined : table.symbolize(vaddr);
    if (!hit || vaddr === undefined) return { name: undefined, offset: 0, path: m.path, fileOffset };
    return { name: hit.symbol.name, offset: hit.offset, path: m.path, fileOffset };
  }

  /** `name+0xoff (path)` or `0xaddr (path)` for display. */
  format(addr: bigint): string {
    const s = this.symbolize(addr);
    if (!s) return '0x' + addr.toString(16);
    return s.name ? `${s.name}+0x${s.offset.toString(16)} (${s.path})` : `0x${addr.toString(16)} (${s.path}+0x${s.fileOffset.toString(16)})`;
  }
}
