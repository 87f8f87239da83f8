/**
 * Stack traces end to end: a tracepoint program records the kernel and the user stack of a child's
 * getppid() with bpf_get_stackid(); readStack() reads them back, kallsyms and the child's ELF files name them.
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { asm, assemble } from '../../src/asm/index.js';
import { BPF_FUNC, BPF_MAP_TYPE, BPF_PROG_TYPE, mapCreate } from '../../src/sys/index.js';
import { attachTracepoint } from '../../src/link/index.js';
import { readStack, symbolizeKernelStack, symbolizeUserStack } from '../../src/symbolize/index.js';
import { Child, Counter, havePython, jneReg, load, rshImm, until } from '../link/progs.js';

const BPF_F_USER_STACK = 1 << 8;
const LIBC = '/usr/lib/x86_64-linux-gnu/libc.so.6';

/** Program: for the process in the counter's pid slot, store get_stackid(flags) + 1 at value offset 8. */
function stackProgram(counter: Counter, stackMapFd: number, flags: number): Uint8Array {
  const rest = [
    asm.movReg(1, 6),
    ...asm.ldMapFd(2, stackMapFd),
    asm.movImm(3, flags),
    asm.callHelper(BPF_FUNC.get_stackid),
    asm.addImm(0, 1), // store id + 1 so 0 means "not yet"
    ...asm.ldMapValue(1, counter.map.raw, 0),
    asm.stxMem(8, 1, 0, 8),
  ];
  return assemble([
    asm.movReg(6, 1),
    asm.callHelper(BPF_FUNC.get_current_pid_tgid),
    rshImm(0, 32),
    ...asm.ldMapValue(1, counter.map.raw, 0),
    asm.ldxMem(4, 2, 1, 0),
    jneReg(0, 2, rest.length),
    ...rest,
    asm.movImm(0, 0),
    asm.exit(),
  ]).bytes;
}

describe.skipIf(process.arch !== 'x64' || !existsSync(LIBC) || !havePython)('stack traces', () => {
  it('reads and names the kernel and user stacks of a getppid() call', async () => {
    // One map per kind: two different stacks hashing to the same bucket of a shared map would make
    // the second get_stackid() fail with EEXIST (a one-in-64 chance with 64 buckets).
    using stacks = mapCreate({ mapType: BPF_MAP_TYPE.STACK_TRACE, keySize: 4, valueSize: 32 * 8, maxEntries: 64, mapName: 'kstacks' });
    using ustacks = mapCreate({ mapType: BPF_MAP_TYPE.STACK_TRACE, keySize: 4, valueSize: 32 * 8, maxEntries: 64, mapName: 'ustacks' });
    using kernelCounter = new Counter();
    using userCounter = new Counter();
    using kprog = load({ progType: BPF_PROG_TYPE.TRACEPOINT, insns: stackProgram(kernelCounter, stacks.raw, 0) });
    using uprog = load({ progType: BPF_PROG_TYPE.TRACEPOINT, insns: stackProgram(userCounter, ustacks.raw, BPF_F_USER_STACK) });
    using l1 = attachTracepoint(kprog, 'syscalls', 'sys_enter_getppid');
    using l2 = attachTracepoint(uprog, 'syscalls', 'sys_enter_getppid');
    const child = new Child('os.getppid()\nimport time\ntime.sleep(3)');
    try {
      const pid = await child.pid;
      kernelCounter.setPid(pid);
      userCounter.setPid(pid);
      child.start();
      await until(() => kernelCounter.count > 0n && userCounter.count > 0n, 'both stacks');
      const kid = kernelCounter.count - 1n;
      const uid = userCounter.count - 1n;
      expect(kid).toBeGreaterThanOrEqual(0n);
      expect(uid).toBeGreaterThanOrEqual(0n);

      const kstack = readStack(stacks, kid);
      expect(kstack.length).toBeGreaterThan(1);
      const knames = symbolizeKernelStack(kstack).map((s) => s?.name);
      expect(knames).toContain('do_syscall_64');

      const ustack = readStack(ustacks, uid, 32);
      expect(ustack.length).toBeGreaterThan(0);
      const top = symbolizeUserStack(pid, ustack)[0];
      expect(top?.path).toMatch(/libc\.so\.6$/);
      // The syscall instruction lies inside libc's getppid (or an alias at the same address).
      expect(top?.name).toMatch(/getppid/);
      expect(readStack(stacks, -1)).toEqual([]);
      expect(readStack(stacks, 63)).toEqual([]);
    } finally {
      child.kill();
    }
  });
});
