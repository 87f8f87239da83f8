import { describe, expect, it } from 'vitest';
import { stopOnSignal } from '../src/cli.js';

describe('the CLI signal handler', () => {
  it('stops on the first signal, takes one within a second as the same Ctrl-C, forces on a later one', () => {
    let t = 1_000;
    const forced: string[] = [];
    const ac = new AbortController();
    const stop = stopOnSignal(ac, (sig) => forced.push(sig), () => t);
    stop('SIGINT');
    expect(ac.signal.aborted).toBe(true);
    expect(forced).toEqual([]);
    t += 5; // npx forwarding the same Ctrl-C
    stop('SIGINT');
    t += 990;
    stop('SIGTERM');
    expect(forced).toEqual([]);
    t += 5; // 1000 ms after the first
    stop('SIGTERM');
    expect(forced).toEqual(['SIGTERM']);
  });
});
