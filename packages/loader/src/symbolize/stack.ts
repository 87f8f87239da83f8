/**
 * Reading `BPF_MAP_TYPE_STACK_TRACE` entries (filled by `bpf_get_stackid()`): each value is an array
 * of u64 instruction pointers, zero-terminated when the stack is shorter than the map's depth.
 */
import { mapInfo, mapLookupElem, type Fd } from '../sys/index.js';
import { KernelSymbols, type KernelSymbolization } from '../kallsyms/index.js';
import { ProcessSymbolizer, type UserSymbolization } from './user.js';

const depthCache = new WeakMap<Fd, number>();

/**
 * The instruction pointers of stack `id` in `stackMap`, innermost first; empty when the id is unknown
 * (a negative `bpf_get_stackid()` result or an evicted entry). `depth` defaults to the map's value size / 8.
 */
export function readStack(stackMap: Fd, id: number | bigint, depth?: number): bigint[] {
  const n = Number(id);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) return [];
  let d = depth ?? depthCache.get(stackMap);
  if (d === undefined) {
    d = Math.floor(mapInfo(stackMap).valueSize / 8);
    depthCache.set(stackMap, d);
  }
  const key = new Uint8Array(4);
  new DataView(key.buffer).setUint32(0, n, true);
  const value = new Uint8Array(d * 8);
  if (!mapLookupElem(stackMap, key, value)) return [];
  const dv = new DataView(value.buffer);
  const out: bigint[] = [];
  for (let i = 0; i < d; i++) {
    const ip = dv.getBigUint64(i * 8, true);
    if (ip === 0n) break;
    out.push(ip);
  }
  return out;
}

/** Kernel frames named through /proc/kallsyms (undefined for addresses below every symbol). */
export function symbolizeKernelStack(ips: readonly bigint[]): (KernelSymbolization | undefined)[] {
  const table = KernelSymbols.load();
  return ips.map((ip) => table.symbolize(ip));
}

/** User frames of process `pid` named through its maps and ELF symbols; read while the process lives. */
export function symbolizeUserStack(pid: number, ips: readonly bigint[]): (UserSymbolization | undefined)[] {
  const s = new ProcessSymbolizer(pid);
  return ips.map((ip) => s.symbolize(ip));
}
