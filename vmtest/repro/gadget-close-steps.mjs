// Diagnostic (vmtest): closes a running trace step by step (links, reader, collection) with timings:
//   node vmtest/dist/cli.js run --kernel 6.1 -- node vmtest/repro/gadget-close-steps.mjs kprobe
import { spawnSync } from 'node:child_process';
const G = await import('@tsbpf/gadget-cap');
const t0 = Date.now();
const log = (s) => process.stdout.write(`diag2 +${((Date.now() - t0) / 1000).toFixed(1)}s ${s}\n`);
const attach = process.argv[2] ?? 'kprobe';
const t = G.traceCapabilities({ attach, collectKstack: true });
log(`started ${t.strategy} ${t.output}`);
let n = 0;
const done = (async () => { for await (const e of t) n++; })();
spawnSync('/usr/bin/nice', ['-n', '-5', '/bin/true']);
await new Promise((r) => setTimeout(r, 3000));
log(`events ${n}`);
const run = t.run;
log(`links ${run.links.length}: ${run.links.map((l) => l.kind).join(',')}`);
for (const l of [...run.links].reverse()) { log(`closing link ${l.kind}`); l.close(); log(`closed link ${l.kind}`); }
log('closing reader'); run.reader.close(); log('reader closed');
log('closing collection'); run.collection.close(); log('collection closed');
log('trace.close()'); t.close(); log('trace closed');
log(await Promise.race([done.then(() => 'done'), new Promise((r) => setTimeout(() => r('TIMEOUT'), 10000))]));
process.exit(0);
