// Repro (vmtest finding): on 5.10 and 6.1 a trace with collectKstack: true stops delivering events and
// starves the event loop; with false it delivers and closes at once. Run in a guest:
//   node vmtest/dist/cli.js run --kernel 6.1 -- node vmtest/repro/gadget-kstack-stall.mjs
import { spawnSync } from 'node:child_process';
const G = await import('@tsbpf/gadget-cap');
const log = (s) => process.stdout.write(`diag3 ${s}\n`);
for (const collectKstack of [false, true]) {
  const t = G.traceCapabilities({ attach: 'kprobe', collectKstack });
  let n = 0; let slowest = 0; let last = Date.now(); const gaps = [];
  const done = (async () => { for await (const e of t) { const now = Date.now(); gaps.push(now - last); last = now; n++; } })();
  const t0 = Date.now();
  spawnSync('/usr/bin/nice', ['-n', '-5', '/bin/true']);
  const tick0 = Date.now(); await new Promise((r) => setTimeout(r, 200)); const timerLag = Date.now() - tick0 - 200;
  await new Promise((r) => setTimeout(r, 3000));
  t.close(); await done;
  log(`kstack=${collectKstack}: ${n} events in ${Date.now() - t0} ms, lost ${t.lost}, 200ms timer late by ${timerLag} ms, gaps ${gaps.slice(0, 12).join(',')}`);
}
process.exit(0);
