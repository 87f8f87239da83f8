import { describe, expect, it } from 'vitest';
import { checkAttachType, checkTrampolines } from '../../src/features/probes.js';
import { BPF_ATTACH_TYPE, BPF_PROG_TYPE } from '../../src/sys/constants.js';

describe('attach-type probes of tracing programs', () => {
  it('probe fentry/fexit against a function, agreeing with the trampoline probe (vmtest finding)', () => {
    const trampolines = checkTrampolines().supported;
    expect(checkAttachType(BPF_PROG_TYPE.TRACING, BPF_ATTACH_TYPE.TRACE_FENTRY).supported).toBe(trampolines);
    expect(checkAttachType(BPF_PROG_TYPE.TRACING, BPF_ATTACH_TYPE.TRACE_FEXIT).supported).toBe(trampolines);
  });

  it('probe tp_btf against a tracepoint, which needs no trampoline', () => {
    expect(checkAttachType(BPF_PROG_TYPE.TRACING, BPF_ATTACH_TYPE.TRACE_RAW_TP).supported).toBe(true);
  });
});
