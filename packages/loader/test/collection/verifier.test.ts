import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Collection } from '../../src/collection.js';
import { VerifierError } from '../../src/programs/verifier.js';
import { NotSupportedError } from '../../src/errors.js';
import { BPF_PROG_TYPE } from '../../src/sys/constants.js';
import { CollectionSpec } from '../../src/spec/collection.js';
import { openFdCount, repoRoot, testdataPath } from '../testdata.js';

describe('verifier failures', () => {
  it('throw VerifierError with the full log and the C source line, and release what was created', () => {
    const source = readFileSync(`${repoRoot}/bpf/testdata/verifier_fail.bpf.c`, 'utf8').split('\n');
    const marker = 'VERIFIER_FAIL' + '_HERE';
    const line = source.findIndex((l) => l.includes(marker) && !l.trimStart().startsWith('//')) + 1;
    expect(line).toBeGreaterThan(0);
    const before = openFdCount();
    let caught: unknown;
    try {
      Collection.load(CollectionSpec.fromFile(testdataPath('verifier_fail.bpf.o')));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(VerifierError);
    const err = caught as VerifierError;
    expect(err.program).toBe('bad_prog');
    expect(err.errnoName).toBe('EACCES');
    expect(err.log).toMatch(/invalid access to map value/);
    expect(err.source?.fileName).toMatch(/verifier_fail\.bpf\.c$/);
    expect(err.source?.lineNumber).toBe(line);
    expect(err.message).toContain(`verifier_fail.bpf.c:${line}`);
    expect(openFdCount()).toBe(before);
  });

  it('fetch the log at the level given in the options (2: every instruction\'s register state)', () => {
    const logAt = (logLevel: number | undefined): string => {
      try {
        Collection.load(CollectionSpec.fromFile(testdataPath('verifier_fail.bpf.o')), logLevel === undefined ? {} : { logLevel });
      } catch (err) {
        if (err instanceof VerifierError) return err.log;
        throw err;
      }
      throw new Error('the load did not fail');
    };
    const level1 = logAt(undefined);
    const level2 = logAt(2);
    expect(level1).toMatch(/invalid access to map value/);
    expect(level2).toMatch(/invalid access to map value/);
    // Level 2 prints the verifier state at every instruction ("from 0 to …" lines, "R1=" per
    // step), so it is longer than level 1's path-only log.
    expect(level2.length).toBeGreaterThan(level1.length);
  });

  it('the good program of the same object loads when the bad one is excluded', () => {
    const spec = CollectionSpec.fromFile(testdataPath('verifier_fail.bpf.o'));
    spec.program('bad_prog').autoload = false;
    using coll = Collection.load(spec);
    expect(coll.program('good_prog').testRun().retval).toBe(0);
  });
});

describe('helpers the kernel does not offer', () => {
  it('fail with NotSupportedError naming the helper, not a verifier puzzle', () => {
    // maps.bpf.o's raw_tp program calls bpf_get_stackid, which XDP programs may not use:
    // loading it as one stands in for an older kernel that lacks a helper.
    const spec = CollectionSpec.fromFile(testdataPath('maps.bpf.o'));
    spec.program('maps_update').autoload = false;
    spec.program('maps_trace').type = BPF_PROG_TYPE.XDP;
    expect(() => Collection.load(spec)).toThrow(NotSupportedError);
    expect(() => Collection.load(spec)).toThrow(/helper bpf_get_stackid.*used by program maps_trace/);
  });
});
