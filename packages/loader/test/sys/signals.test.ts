/**
 * Program loads while signals keep arriving. The verifier gives up with EAGAIN whenever a signal is
 * pending for the loading thread: a profiler's timer (`node --cpu-prof`), a stream of SIGCHLD or
 * SIGWINCH, Ctrl-C. A load must then still succeed where it can, and say what happened where it
 * cannot — not blame helpers the kernel has.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { asm } from '../../src/asm/index.js';
import { assemble } from '../../src/asm/instruction.js';
import { CollectionSpec } from '../../src/spec/index.js';
import { Collection } from '../../src/collection.js';
import { clearFeatureCache } from '../../src/features/index.js';
import { encodeProgLoad } from '../../src/sys/attr.js';
import { BPF_CMD, BPF_PROG_TYPE, ERRNO, Fd, SyscallError, progLoad } from '../../src/sys/index.js';
import { bpfCall, withNotifySignalsHeld } from '../../src/sys/ffi.js';
import { readFileSync } from 'node:fs';
import { TsbpfError } from '../../src/errors.js';
import { testdataPath } from '../testdata.js';

/** A socket filter that counts r1 to `n` in a loop: tiny, but the verifier walks every iteration (~25 ms for 20k). */
function slowToVerify(n = 20_000): Uint8Array {
  return assemble([asm.movImm(1, 0), asm.addImm(1, 1), asm.jeqImm(1, n, 1), asm.ja(-3), asm.movImm(0, 0), asm.exit()]).bytes;
}

let storm: ChildProcess | undefined;
let listener: (() => void) | undefined;
let stormSignal: NodeJS.Signals = 'SIGWINCH';

/**
 * Starts a shell that sends `signal` to this process as fast as it can; resolves once one arrived.
 * SIGUSR1 makes the shell stop sending and say so; it exits when its stdin closes ({@link stopStorm}).
 */
async function startStorm(signal: NodeJS.Signals): Promise<void> {
  stormSignal = signal;
  let seen = 0;
  listener = () => void seen++;
  // A listener makes Node catch the signal (SIGINT would otherwise end the test process).
  process.on(signal, listener);
  const script = `trap 'stop=1' USR1; while [ -z "$stop" ] && kill -s ${signal.slice(3)} "$0" 2>/dev/null; do :; done; echo stopped; read _`;
  storm = spawn('sh', ['-c', script, String(process.pid)], { stdio: ['pipe', 'pipe', 'ignore'] });
  while (seen === 0) await new Promise((r) => setTimeout(r, 5));
}

/**
 * Stops the storm in two steps. A flood of signals fills the pipe through which libuv hands signals
 * to the event loop, and a SIGCHLD that finds it full is lost (the shell would never be reaped): so
 * the shell first stops sending and says so, which the loop reads only once it has drained the
 * signal pipe, and only then does the shell exit.
 */
async function stopStorm(): Promise<void> {
  const s = storm;
  storm = undefined;
  if (s && s.exitCode === null && s.signalCode === null) {
    const exited = once(s, 'exit');
    let said = '';
    const stopped = new Promise<void>((resolve) => {
      s.stdout?.on('data', (d: Buffer) => {
        said += d.toString();
        if (said.includes('stopped')) resolve();
      });
      s.on('exit', () => resolve());
    });
    s.kill('SIGUSR1');
    await stopped;
    s.stdin?.end();
    await exited;
  }
  if (listener) process.off(stormSignal, listener);
  listener = undefined;
}

/** Runs `attempt` up to `tries` times until it throws; returns what it threw (undefined if it never did). */
function firstThrow(tries: number, attempt: () => void): unknown {
  for (let i = 0; i < tries; i++) {
    try {
      attempt();
    } catch (e) {
      return e;
    }
  }
  return undefined;
}

afterEach(async () => {
  await stopStorm();
  clearFeatureCache();
});

describe('program loads under a stream of signals', () => {
  it('a notification signal stream (SIGWINCH) interrupts a bare attempt, yet progLoad completes', async () => {
    await startStorm('SIGWINCH');
    const insns = slowToVerify();
    // The storm is effective: bare PROG_LOAD attempts are interrupted (one may slip between two signals).
    const w = encodeProgLoad({ progType: BPF_PROG_TYPE.SOCKET_FILTER, insns, license: 'GPL' });
    let interrupted = 0;
    for (let i = 0; i < 10; i++) {
      const r = bpfCall(BPF_CMD.PROG_LOAD, w.bytes, w.size);
      if (r >= 0) new Fd(r, 'slipped through').close();
      if (r === -ERRNO.EAGAIN) interrupted++;
    }
    expect(interrupted).toBeGreaterThan(0);
    // Five interrupted attempts, then one with the notification signals held.
    const fd = progLoad({ progType: BPF_PROG_TYPE.SOCKET_FILTER, insns, license: 'GPL', progName: 'slow' });
    expect(fd.raw).toBeGreaterThan(0);
    fd.close();
  });

  it('SIGINT is never held: the load fails with EAGAIN and a message saying it was interrupted', async () => {
    await startStorm('SIGINT');
    // All six attempts must be hit; on a busy machine the shell may pause long enough for one to finish.
    const err = firstThrow(10, () => progLoad({ progType: BPF_PROG_TYPE.SOCKET_FILTER, insns: slowToVerify(), license: 'GPL', progName: 'slow' }).close());
    expect(err).toBeInstanceOf(SyscallError);
    expect((err as SyscallError).errnoName).toBe('EAGAIN');
    expect((err as SyscallError).message).toMatch(/interrupted by signals on every attempt/);
  });

  it('a collection load interrupted by SIGINT names the interruption, not helpers the kernel has', async () => {
    await startStorm('SIGINT');
    // A small program can slip through between two signals: try a few times.
    const err = firstThrow(50, () => Collection.load(CollectionSpec.fromFile(testdataPath('maps_rawtp.bpf.o'))).close());
    expect(err, 'no load was interrupted in 50 tries').toBeInstanceOf(TsbpfError);
    const message = (err as Error).message;
    expect(message).not.toMatch(/is not supported by this kernel/);
    expect(message).not.toMatch(/verifier log/);
    expect(message).toMatch(/EAGAIN/);
    expect(message).toMatch(/interrupted by signals/);
  });

  it('the held signals are released afterwards, also when the call throws', () => {
    const blocked = (): string => /^SigBlk:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/thread-self/status', 'latin1'))?.[1] ?? '?';
    const before = blocked();
    let inside = '';
    expect(() =>
      withNotifySignalsHeld(() => {
        inside = blocked();
        throw new Error('boom');
      }),
    ).toThrow('boom');
    // SIGPROF (27) and SIGCHLD (17) are held inside, and the mask is what it was after.
    const mask = BigInt(`0x${inside}`);
    expect(mask & (1n << 26n)).not.toBe(0n);
    expect(mask & (1n << 16n)).not.toBe(0n);
    expect(mask & (1n << 1n)).toBe(0n); // SIGINT (2) is never held
    expect(blocked()).toBe(before);
  });
});
