/** What every benchmark gets from the orchestrator. */
import { join } from 'node:path';
import { BENCH_ROOT, type Libbpf } from './build.js';
import type { Row } from './result.js';

/** Shared state of one run. */
export interface BenchContext {
  quick: boolean;
  /** Rounds of alternation (tsbpf, peer) per benchmark. */
  rounds: number;
  /** Every libbpf the peers were built against, oldest first (empty: peers unavailable). */
  libs: Libbpf[];
  /** Libbpf versions every benchmark is compared with (the newest, or all with --libbpf all). */
  compareLibs: Libbpf[];
  /** Why the peers are missing, when they are. */
  peerSkip?: string;
  /** Why the drain producer object is missing, when it is. */
  producerSkip?: string;
  /** Why the bpf(2) kernel-time tracer object is missing, when it is. */
  timerSkip?: string;
  /** Why the end-to-end load generator is missing, when it is. */
  hammerSkip?: string;
  rows: Row[];
  skipped: { bench: string; reason: string }[];
  notes: string[];
  log: (msg: string) => void;
}

/** Path of the compiled worker (the tsbpf side). */
export const WORKER = join(BENCH_ROOT, 'dist/worker.js');

/** The newest libbpf (targets are judged against it). */
export function primaryLib(ctx: BenchContext): Libbpf | undefined {
  return ctx.libs[ctx.libs.length - 1];
}

/** A label for figures of `lib`. */
export function libLabel(lib: Libbpf): string {
  return `libbpf ${lib.reported ?? lib.debVersion}`;
}

/**
 * Run `a` and `b` `rounds` times, alternating which goes first, so slow drifts of a noisy machine
 * hit both sides alike.
 */
export async function alternate<A, B>(rounds: number, a: (round: number) => Promise<A>, b: (round: number) => Promise<B>): Promise<{ a: A[]; b: B[] }> {
  const ra: A[] = [];
  const rb: B[] = [];
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      ra.push(await a(r));
      rb.push(await b(r));
    } else {
      rb.push(await b(r));
      ra.push(await a(r));
    }
  }
  return { a: ra, b: rb };
}
