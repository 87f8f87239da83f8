/**
 * Addresses of kernel symbols by name, for typeless `__ksym` externs. Scans /proc/kallsyms once
 * for just the names asked (the file is large; we do not keep it).
 */
import { readFileSync } from 'node:fs';

/** Look up the addresses of `names`; missing names are absent from the result. Zero addresses (kptr_restrict) count as missing. */
export function kernelSymbolAddresses(names: Iterable<string>): Map<string, bigint> {
  const wanted = new Set(names);
  const out = new Map<string, bigint>();
  if (wanted.size === 0) return out;
  const text = readFileSync('/proc/kallsyms', 'latin1');
  let pos = 0;
  while (pos < text.length && out.size < wanted.size) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = text.length;
    // "ffffffff81000000 T _text" or "ffffffffc0000000 t sym\t[module]"
    const line = text.slice(pos, nl);
    pos = nl + 1;
    const nameStart = line.indexOf(' ', 17) + 1;
    const tab = line.indexOf('\t', nameStart);
    const name = line.slice(nameStart, tab < 0 ? line.length : tab);
    if (wanted.has(name) && !out.has(name)) {
      const addr = BigInt('0x' + line.slice(0, 16));
      if (addr !== 0n) out.set(name, addr);
    }
  }
  return out;
}
