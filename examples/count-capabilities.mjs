#!/usr/bin/env node
// Stream capability checks and count them per process, printing a summary at the end.
//
//   sudo node examples/count-capabilities.mjs [--seconds 10] [--comm NAME] [--json]
//
// Uses only the public API of @tsbpf/gadget-cap (build first: npm run build).
// Stops after --seconds, or on Ctrl-C; either way every BPF program and map is released.
import { parseArgs } from 'node:util';
import { traceCapabilities } from '@tsbpf/gadget-cap';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    comm: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});

const trace = traceCapabilities({
  comm: values.comm,
  timeoutMs: Number(values.seconds) * 1000,
  collectKstack: false, // not needed for counting: cheaper
  onWarning: (m) => console.error(`warning: ${m}`),
});
process.on('SIGINT', () => trace.close());
process.on('SIGTERM', () => trace.close());
console.error(`counting capability checks for ${values.seconds}s with the ${trace.strategy} strategy… (Ctrl-C to stop)`);

/** key "comm pid" → { comm, pid, checks, denied, caps: Map<cap, count> } */
const perProcess = new Map();
for await (const e of trace) {
  const key = `${e.proc.comm}\0${e.proc.pid}`;
  let p = perProcess.get(key);
  if (!p) {
    p = { comm: e.proc.comm, pid: e.proc.pid, checks: 0, denied: 0, caps: new Map() };
    perProcess.set(key, p);
  }
  p.checks++;
  if (!e.capable) p.denied++;
  p.caps.set(e.cap, (p.caps.get(e.cap) ?? 0) + 1);
}

const rows = [...perProcess.values()].sort((a, b) => b.checks - a.checks);
if (values.json) {
  const out = rows.map((p) => ({ comm: p.comm, pid: p.pid, checks: p.checks, denied: p.denied, caps: Object.fromEntries(p.caps) }));
  console.log(JSON.stringify({ strategy: trace.strategy, lost: trace.lost.toString(), processes: out }));
} else {
  // Process names come from untrusted processes: show control characters as escapes.
  const safe = (s) => s.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  console.log(`${'COMM'.padEnd(16)} ${'PID'.padStart(7)} ${'CHECKS'.padStart(7)} ${'DENIED'.padStart(7)}  CAPABILITIES`);
  for (const p of rows) {
    const caps = [...p.caps.entries()].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c}×${n}`).join(' ');
    console.log(`${safe(p.comm).padEnd(16)} ${String(p.pid).padStart(7)} ${String(p.checks).padStart(7)} ${String(p.denied).padStart(7)}  ${caps}`);
  }
  if (trace.lost > 0n) console.error(`${trace.lost} event(s) lost`);
}
