import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { hasTpBtf } from '@tsbpf/loader';
import { traceCapabilities, type CapabilityEvent } from '../src/index.js';

/** Trace while this very process reads /proc/kallsyms (a CAP_SYSLOG check), then drain. */
async function ownChecks(includeSelf: boolean): Promise<CapabilityEvent[]> {
  const trace = traceCapabilities({ attach: 'tracepoint', includeSelf });
  readFileSync('/proc/kallsyms', 'latin1').slice(0, 10);
  trace.close();
  const out: CapabilityEvent[] = [];
  for await (const e of trace) if (e.proc.pid === process.pid) out.push(e);
  return out;
}

describe.skipIf(!hasTpBtf('cap_capable'))('the tracing process itself', () => {
  it('is hidden by default and shown with includeSelf', async () => {
    expect(await ownChecks(false)).toEqual([]);
    const mine = await ownChecks(true);
    expect(mine.some((e) => e.cap === 'CAP_SYSLOG')).toBe(true);
  });
});
