/**
 * Typed access to `@tsbpf/loader` and `@tsbpf/gadget-cap` from tasks, imported at run time (vmtest
 * has no build dependency on them: only their types are used here).
 *
 * @packageDocumentation
 */
import { packageSpecifier } from '../snapshot.js';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

/** The loader module. */
export type Loader = typeof import('@tsbpf/loader');
/** The gadget module. */
export type Gadget = typeof import('@tsbpf/gadget-cap');

let loader: Promise<Loader> | undefined;
let gadget: Promise<Gadget> | undefined;

/** `@tsbpf/loader`, imported once. */
export function importLoader(): Promise<Loader> {
  const name = packageSpecifier('@tsbpf/loader');
  return (loader ??= import(name) as Promise<Loader>);
}

/** `@tsbpf/gadget-cap`, imported once. */
export function importGadget(): Promise<Gadget> {
  const name = packageSpecifier('@tsbpf/gadget-cap');
  return (gadget ??= import(name) as Promise<Gadget>);
}

/** Absolute path of `bpf/testdata/<name>`. */
export function testdata(repoRoot: string, name: string): string {
  return join(repoRoot, 'bpf', 'testdata', name);
}

/** Tracefs root in the guest (vmtest mounts it at /sys/kernel/tracing). */
export function tracefsDir(): string | undefined {
  return ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'].find((d) => existsSync(`${d}/events`));
}

/** Lines of tracefs `kprobe_events` and `uprobe_events` that name a tsbpf probe. */
export function leftoverTracefsProbes(): string[] {
  const dir = tracefsDir();
  if (dir === undefined) return [];
  const out: string[] = [];
  for (const f of ['kprobe_events', 'uprobe_events']) {
    try {
      out.push(...readFileSync(join(dir, f), 'utf8').split('\n').filter((l) => l.includes('tsbpf_')));
    } catch {
      // absent file: no probes of that kind
    }
  }
  return out;
}

/** Every id a `*GetNextId` function enumerates (system-wide). */
export function listIds(next: (start: number) => number | undefined): Set<number> {
  const ids = new Set<number>();
  let id = 0;
  for (let i = 0; i < 1_000_000; i++) {
    const n = next(id);
    if (n === undefined) break;
    ids.add(n);
    id = n;
  }
  return ids;
}

/** The thread id of the calling thread (the worker's own, in a worker): /proc/thread-self → <pid>/task/<tid>. */
export function threadId(): number {
  const m = /\/task\/(\d+)$/.exec(readlinkSync('/proc/thread-self'));
  return m ? Number(m[1]) : process.pid;
}
