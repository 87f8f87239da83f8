#!/usr/bin/env -S node --min-semi-space-size=3 --max-semi-space-size=3
/**
 * The `trace-capabilities` bin (dist/cli.cjs): runs the CLI bundle (dist/cli-bundle.cjs, built from src/cli.ts)
 * with a V8 code cache (@tsbpf/loader's src/codecache/), written once the first run is ready. With the cache, a
 * start skips compiling the CLI's code: on the benchmark machine its load+attach (object read →
 * ready) fell from ~41 ms (the same work in the library worker of the benchmarks, then uncached) to ~23 ms, and start → ready was
 * 138 ms with the cache against 145 ms without (bench gadget, 2026-12-03).
 * The cache lives in `$TSBPF_CACHE_DIR`, else `$XDG_CACHE_HOME/tsbpf`, else `~/.cache/tsbpf`;
 * `TSBPF_CACHE_DIR=` (empty) turns it off.
 *
 * The shebang starts V8's young generation at 3 MB per semi-space (V8 rounds the maximum up to a
 * power of two: it may grow to 4 MB). A start allocates ~2 MB of young objects before its readiness
 * line, about half of which live on (module state, the collection): from the default 1 MB
 * semi-space, two scavenges copied them during the start, 9–16 ms on the benchmark machine, where
 * every fresh page the copies land on costs a fault of 5–15 µs; from 3 MB none runs before the
 * first events. The cap keeps the peak RSS while tracing low: every event is a short-lived object,
 * and with the default the young generation grows to 16 MB per semi-space to hold bursts of them
 * (peak RSS while tracing 10 s in the benchmarks: 63.5 MB capped at 2 MB, 67.1 MB with these flags,
 * 73 MB uncapped in session 8). Any V8 flag costs the start ~2–3 ms (built-in modules loaded after
 * Node's bootstrap no longer match their embedded code cache's flag hash); the scavenges saved are
 * worth more.
 * `node dist/cli.cjs` (without the shebang) runs with the defaults.
 */
import { fileURLToPath } from 'node:url';
import type { runAsProgram } from './cli.js';
import { defaultCacheDir, loadBundle } from '@tsbpf/loader/codecache';

let bundle: ReturnType<typeof loadBundle>;
try {
  bundle = loadBundle(fileURLToPath(new URL('./cli-bundle.cjs', import.meta.url)), { cacheDir: defaultCacheDir(), name: 'trace-capabilities' });
} catch (err) {
  process.stderr.write(`trace-capabilities: internal error: cannot load the CLI bundle: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}
const run = bundle.exports.runAsProgram as typeof runAsProgram;
// After the readiness line, and after the reader started (queued before it): the cache then holds
// everything a start compiles.
run({ onReady: () => setImmediate(() => bundle.saveCache()) });
