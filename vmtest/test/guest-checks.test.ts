import { describe, expect, it } from 'vitest';
import { runChecks } from '../src/checks/run.js';
import { expectFeature, fail, pass, type CheckContext } from '../src/checks/types.js';

const ctx = (expect: Record<string, boolean> = {}): CheckContext => ({ kernel: '6.1', release: '6.1.0-50-amd64', expect, repoRoot: '/' });

describe('guest check runner', () => {
  it('turns throws, rejections and time-outs into named failures and keeps going', async () => {
    const results = await runChecks(
      [
        {
          area: 'a',
          source: [
            { name: 'a/ok', run: () => pass('fine') },
            { name: 'a/throws', run: () => { throw new TypeError('boom'); } },
            { name: 'a/slow', timeoutMs: 20, run: () => new Promise(() => undefined) },
            { name: 'a/bad', run: () => fail('nope') },
          ],
        },
        { area: 'b', source: () => { throw new Error('cannot list'); } },
        { area: 'c', source: async () => [{ name: 'c/later', run: () => pass() }] },
      ],
      ctx(),
    );
    expect(results.map((r) => [r.name, r.status])).toEqual([
      ['a/ok', 'pass'],
      ['a/throws', 'fail'],
      ['a/slow', 'fail'],
      ['a/bad', 'fail'],
      ['b/setup', 'fail'],
      ['c/later', 'pass'],
    ]);
    expect(results[1]?.detail).toBe('TypeError: boom');
    expect(results[2]?.detail).toMatch(/a\/slow timed out after 20 ms/);
    expect(results[4]?.detail).toBe('Error: cannot list');
  });

  it('filters by name', async () => {
    const results = await runChecks([{ area: 'a', source: [{ name: 'x/1', run: () => pass() }, { name: 'y/2', run: () => pass() }] }], ctx(), {
      filter: (n) => n.startsWith('y'),
    });
    expect(results.map((r) => r.name)).toEqual(['y/2']);
  });

  it('judges features against expectations, and only reports them without one', () => {
    expect(expectFeature(ctx({ f: true }), 'f', true, 'F').status).toBe('pass');
    expect(expectFeature(ctx({ f: true }), 'f', false, 'F')).toEqual({ status: 'fail', detail: 'F absent, kernels.json expects it present' });
    expect(expectFeature(ctx({ f: false }), 'f', true, 'F').status).toBe('fail');
    expect(expectFeature(ctx(), 'f', false, 'F').status).toBe('skip');
    expect(expectFeature(ctx(), 'f', true, 'F').status).toBe('pass');
  });
});
