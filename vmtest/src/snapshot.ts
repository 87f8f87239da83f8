/**
 * A private copy of the built packages for one vmtest run (`vmtest run --snapshot`): the guests
 * read the host's tree live over 9p, so a `turbo build` on the host during a matrix (other work on
 * the same checkout) would delete the chunk files a guest is about to import. The copy is a small
 * `node_modules/@tsbpf/{loader,gadget-cap}` tree (package.json, dist/, the gadget's bpf/) whose
 * dependencies (koffi) still resolve through the repository's node_modules further up.
 *
 * @packageDocumentation
 */
import { cpSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The packages guests import, and the folders copied from each. */
const PACKAGES = [
  { name: '@tsbpf/loader', dir: 'packages/loader', parts: ['package.json', 'dist'] },
  { name: '@tsbpf/gadget-cap', dir: 'packages/gadget-cap', parts: ['package.json', 'dist', 'bpf'] },
] as const;

/** Copies the built packages under `dest/node_modules/@tsbpf/`; returns `dest`. */
export function makeSnapshot(repoRoot: string, dest: string): string {
  rmSync(dest, { recursive: true, force: true });
  for (const p of PACKAGES) {
    const to = join(dest, 'node_modules', p.name);
    mkdirSync(to, { recursive: true });
    for (const part of p.parts) {
      const from = join(repoRoot, p.dir, part);
      if (existsSync(from)) cpSync(from, join(to, part), { recursive: true });
    }
  }
  return dest;
}

/**
 * What to pass to `import()` for a package: its entry in the snapshot named by `$VMTEST_SNAPSHOT`
 * when there is one, else the bare name (the repository's workspace link).
 */
export function packageSpecifier(name: '@tsbpf/loader' | '@tsbpf/gadget-cap'): string {
  const snap = process.env.VMTEST_SNAPSHOT;
  if (snap === undefined || snap === '') return name;
  const entry = join(snap, 'node_modules', name, 'dist', 'index.js');
  return existsSync(entry) ? pathToFileURL(entry).href : name;
}
