/**
 * Checks through `@tsbpf/loader`: the package imports, and (when it exposes `CollectionSpec` and
 * `Collection`) every committed `bpf/**\/*.bpf.o` loads, with programs of a type or attach type the
 * kernel lacks left out and named. Loads run in a worker thread (`dist/load-worker.js`) that is
 * terminated and replaced when one load outlives its time limit.
 *
 * @packageDocumentation
 */
import { packageSpecifier } from '../snapshot.js';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { workerPool } from './pool.js';
import { pass, type Check, type CheckContext } from './types.js';

/** Objects under `bpf/` built to be rejected: loading them must fail. */
export const EXPECTED_TO_FAIL = /(^|\/)verifier_fail\.bpf\.o$/;
/** Programs built to be rejected (CO-RE poison tests, vmtest_sanitize's `sanitize_reject`); left out of the other objects' loads. */
export const REJECT_PROGRAMS = 'poison|_reject$';
/** Longest one object may take to load under TCG. */
const LOAD_TIMEOUT_MS = 90_000;

function findObjects(dir: string): string[] {
  const out: string[] = [];
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...findObjects(p));
    else if (e.name.endsWith('.bpf.o')) out.push(p);
  }
  return out.sort();
}

/** The import check, then one load check per object. */
export async function checks(ctx: CheckContext): Promise<readonly Check[]> {
  const name = packageSpecifier('@tsbpf/loader');
  const list: Check[] = [
    {
      name: 'loader/import',
      run: async () => pass(`${Object.keys((await import(name)) as object).length} exports`),
    },
  ];
  let mod: Record<string, unknown>;
  try {
    mod = (await import(name)) as Record<string, unknown>;
  } catch {
    return list; // loader/import reports the error
  }
  if (mod.CollectionSpec === undefined || mod.Collection === undefined) return list;
  const pool = workerPool();
  if (pool === undefined) return list;
  for (const path of findObjects(join(ctx.repoRoot, 'bpf'))) {
    const rel = relative(ctx.repoRoot, path);
    list.push({ name: `load/${rel}`, timeoutMs: LOAD_TIMEOUT_MS + 10_000, run: () => pool.load(path, EXPECTED_TO_FAIL.test(rel), REJECT_PROGRAMS, LOAD_TIMEOUT_MS) });
  }
  return list;
}
