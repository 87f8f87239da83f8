/**
 * runGadgetSelfTest — what the vmtest guest calls for each strategy — on this kernel's strategies.
 * Strategies this kernel lacks are reported as failed-to-start with the reason, not run.
 */
import { describe, expect, it } from 'vitest';
import { ATTACH_STRATEGIES, runGadgetSelfTest } from '../src/index.js';
import { probeStrategy } from '../src/strategy.js';

describe('runGadgetSelfTest', () => {
  for (const s of ATTACH_STRATEGIES) {
    const probe = probeStrategy(s);
    if (!probe.supported) console.warn(`self-test of the ${s} strategy not run here: ${probe.detail ?? 'unsupported'} (runs in vmtest)`);
    it.skipIf(!probe.supported)(`passes with the ${s} strategy`, async () => {
      const lines: string[] = [];
      const r = await runGadgetSelfTest(s, { log: (l) => lines.push(l) });
      expect(r.ok, lines.join('\n')).toBe(true);
      expect(r.variant).toBe(s);
      expect(r.checks.length).toBeGreaterThanOrEqual(8);
      expect(r.events).toBeGreaterThan(0);
    });
  }

  it('reports an unavailable strategy as a failed result, without throwing', async () => {
    const missing = ATTACH_STRATEGIES.find((s) => !probeStrategy(s).supported);
    if (!missing) {
      console.warn('every strategy works on this kernel: the unavailable-strategy result is not exercised');
      return;
    }
    const r = await runGadgetSelfTest(missing);
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/What to do/);
    expect(r.checks).toEqual([]);
  });
});
