import { describe, expect, it } from 'vitest';
import { Collection } from '../../src/collection.js';
import { CollectionSpec } from '../../src/spec/collection.js';
import { openFdCount, testdataPath } from '../testdata.js';

const GLOBALS = testdataPath('globals.bpf.o');

describe('global data and subprograms (globals.bpf.o)', () => {
  it('parses programs, data sections and variables', () => {
    const spec = CollectionSpec.fromFile(GLOBALS);
    expect([...spec.programs.keys()].sort()).toEqual(['globals_main', 'globals_second']);
    expect(spec.program('globals_main').typeName).toBe('BPF_PROG_TYPE_SYSCALL');
    for (const m of ['.data', '.bss', '.rodata', '.data.custom']) expect(spec.maps.has(m), m).toBe(true);
    expect(spec.variable('param_mul').get()).toBe(3);
    expect(spec.variable('param_add').get()).toBe(100n);
    expect(spec.variable('data_counter').get()).toBe(7n);
    expect(spec.variable('custom_value').get()).toBe(42n);
    expect(spec.variable('param_mul').readOnly).toBe(true);
    expect(spec.variable('bss_calls').readOnly).toBe(false);
    expect(spec.license).toBe('GPL');
  });

  it('runs a program whose subprograms read .rodata and .data.custom and write .data/.bss', () => {
    using coll = Collection.load(CollectionSpec.fromFile(GLOBALS));
    const main = coll.program('globals_main');
    expect(main.testRun().retval).toBe(167);
    expect(coll.readVariable('data_counter')).toBe(8n);
    expect(coll.readVariable('bss_result')).toBe(167n);
    expect(coll.readVariable('bss_calls')).toBe(1);
    expect(coll.readVariable('bss_str')).toBe('tsbpf!');
    expect(coll.program('globals_second').testRun().retval).toBe(148);
    expect(coll.readVariable('bss_calls')).toBe(2);
  });

  it('applies parameters set on the spec before load, and freezes .rodata', () => {
    const spec = CollectionSpec.fromFile(GLOBALS);
    spec.variable('param_mul').set(5);
    spec.variable('param_add').set(1n);
    using coll = Collection.load(spec);
    expect(coll.program('globals_main').testRun().retval).toBe(84);
    expect(coll.program('globals_second').testRun().retval).toBe(53);
    // A frozen map refuses user-space writes.
    expect(() => coll.writeVariable('param_mul', 9)).toThrow(/EPERM/);
    // Writable data can be changed on the live map and the program sees it.
    coll.writeVariable('data_counter', 0n);
    expect(coll.program('globals_main').testRun().retval).toBe(5 * 1 + 1 + 43);
  });

  it('rejects a wrongly typed variable value with an error naming the variable', () => {
    const spec = CollectionSpec.fromFile(GLOBALS);
    expect(() => spec.variable('param_mul').set('three')).toThrow(/param_mul/);
    expect(() => spec.variable('nope')).toThrow(/no variable nope/);
  });

  it('excludes programs with autoload = false', () => {
    const spec = CollectionSpec.fromFile(GLOBALS);
    spec.program('globals_second').autoload = false;
    using coll = Collection.load(spec);
    expect([...coll.programs.keys()]).toEqual(['globals_main']);
  });

  it('leaks no file descriptor over 200 load/close cycles', () => {
    const spec = CollectionSpec.fromFile(GLOBALS);
    // Warm up caches (kernel BTF, koffi) before counting.
    Collection.load(spec).close();
    const before = openFdCount();
    for (let i = 0; i < 200; i++) {
      const c = Collection.load(spec);
      c.close();
    }
    expect(openFdCount()).toBe(before);
  });
});
