/**
 * Locations of the committed BPF objects the tests load, and shared test helpers.
 */
import { readdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** Repository root. */
export const repoRoot = resolve(here, '../../..');

/** Absolute path of `bpf/testdata/<name>` (e.g. `globals.bpf.o`). */
export function testdataPath(name: string): string {
  return resolve(repoRoot, 'bpf/testdata', name);
}

/** Absolute path of `bpf/gadgets/<name>`. */
export function gadgetObjectPath(name: string): string {
  return resolve(repoRoot, 'bpf/gadgets', name);
}

/** Every committed `.bpf.o` under bpf/. */
export function allObjects(): string[] {
  const out: string[] = [];
  for (const dir of ['testdata', 'gadgets']) {
    for (const f of readdirSync(resolve(repoRoot, 'bpf', dir))) if (f.endsWith('.bpf.o')) out.push(resolve(repoRoot, 'bpf', dir, f));
  }
  return out.sort();
}

/** Number of open file descriptors of this process. */
export function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}
