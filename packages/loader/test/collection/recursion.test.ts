import { describe, expect, it } from 'vitest';
import { Collection } from '../../src/collection.js';
import { GadgetRun } from '../../src/gadget/runtime.js';
import { attachProgram } from '../../src/link/index.js';
import { CollectionSpec } from '../../src/spec/collection.js';
import { testdataPath } from '../testdata.js';

// `nested` (raw_tp/bpf_trace_printk) calls bpf_printk from inside its own hook: the kernel skips
// the nested run, one recursion miss per outer run, which `kick` (a syscall program) starts. Side
// effect of any bpf_printk: the kernel enables the bpf_trace_printk trace event (and logs its
// trace_printk notice once per boot).
const RECURSION = testdataPath('recursion.bpf.o');

function specForThisProcess(): CollectionSpec {
  const spec = CollectionSpec.fromFile(RECURSION);
  spec.variable('target_tgid').set(process.pid);
  return spec;
}

describe('runs the kernel skips (recursion.bpf.o)', () => {
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
    // Exactly one skipped nested run per outer run (more only if another task's run of `nested`
    // were preempted on the same CPU, which needs a preemptible hook: not this one).
    expect(nested.runStats().recursionMisses).toBe(outer);
    // The trigger program itself is never skipped.
    expect(coll.program('kick').runStats().recursionMisses).toBe(0n);
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
