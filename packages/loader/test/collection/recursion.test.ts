import { describe, expect, it } from 'vitest';
import { Collection } from '../../src/collection.js';
import { probeProgType } from '../../src/features/probes.js';
import { BPF_PROG_TYPE } from '../../src/sys/constants.js';
import { GadgetRun } from '../../src/gadget/runtime.js';
import { attachProgram } from '../../src/link/index.js';
import { CollectionSpec } from '../../src/spec/collection.js';
import { testdataPath } from '../testdata.js';

// `nested` (raw_tp/bpf_trace_printk) calls bpf_printk from inside its own hook: the kernel skips
// the nested run, one recursion miss per outer run, which `kick` (a syscall program) starts. Side
// effect of any bpf_printk: the kernel enables the bpf_trace_printk trace event (and logs its
// trace_printk notice once per boot).
const RECURSION = testdataPath('recursion.bpf.o');

const haveSyscallProgs = probeProgType(BPF_PROG_TYPE.SYSCALL);
if (!haveSyscallProgs) console.warn('skipped: the recursion tests start their runs from a SEC("syscall") program, which this kernel lacks (5.14+)');

function specForThisProcess(): CollectionSpec {
  const spec = CollectionSpec.fromFile(RECURSION);
  spec.variable('target_tgid').set(process.pid);
  return spec;
}

/**
 * Whether the kernel skips a raw tracepoint program's nested run (the guard came in 6.1): kicks
 * once and looks whether the nested run executed. Without the guard the tests have nothing to
 * count; the object is built to stay harmless there.
 */
function rawTracepointGuard(): boolean {
  using coll = Collection.load(specForThisProcess());
  using link = attachProgram(coll.program('nested'));
  void link;
  coll.program('kick').testRun();
  return coll.readVariable('nested_runs') === 0n && coll.readVariable('outer_runs') === 1n;
}

const guarded = haveSyscallProgs && rawTracepointGuard();
if (haveSyscallProgs && !guarded) console.warn('skipped: this kernel runs a raw tracepoint program nested in itself (no recursion guard before 6.1): no skipped runs to count');

describe.skipIf(!guarded)('runs the kernel skips (recursion.bpf.o)', () => {
  it('Program.runStats reads recursion_misses: one per re-entered run', () => {
    using coll = Collection.load(specForThisProcess());
    const nested = coll.program('nested');
    using link = attachProgram(nested);
    expect(link).toBeDefined();
    expect(nested.runStats().recursionMisses).toBe(0n);
    const kicks = 5;
    for (let i = 0; i < kicks; i++) coll.program('kick').testRun();
    const outer = coll.readVariable('outer_runs') as bigint;
    expect(outer).toBe(BigInt(kicks));
    expect(coll.readVariable('nested_runs')).toBe(0n);
    // Exactly one skipped nested run per outer run (more only if another task's run of `nested`
    // were preempted on the same CPU, which needs a preemptible hook: not this one).
    expect(nested.runStats().recursionMisses).toBe(outer);
  });

  it('GadgetRun.missedRuns names each attached program with its skipped runs', () => {
    using run = GadgetRun.start(specForThisProcess(), { attach: (p) => p.name === 'nested' });
    expect([...run.missedRuns()]).toEqual([['nested', 0n]]);
    for (let i = 0; i < 3; i++) run.collection.program('kick').testRun();
    expect(run.missedRuns().get('nested')).toBe(3n);
    expect(run.missedRuns().has('kick')).toBe(false);
    run.close();
    expect(run.missedRuns().size).toBe(0);
  });
});
