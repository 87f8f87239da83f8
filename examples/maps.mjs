#!/usr/bin/env node
// Load a BPF object, set its parameters, run its programs and read/write its maps and global
// variables from JavaScript — no attach needed (BPF_PROG_TEST_RUN).
//
//   sudo node examples/maps.mjs [--json]
//
// Objects: bpf/testdata/globals.bpf.o (globals, .rodata parameters) and bpf/testdata/maps.bpf.o
// (hash, array, per-CPU, queue maps with BTF-typed keys and values). Public API of @tsbpf/loader only.
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Collection, CollectionSpec } from '@tsbpf/loader';

const { values } = parseArgs({ options: { json: { type: 'boolean', default: false } } });
const testdata = (name) => fileURLToPath(new URL(`../bpf/testdata/${name}`, import.meta.url));
const bigints = (_k, v) => (typeof v === 'bigint' ? v.toString() : v);
const result = {};

// 1. globals.bpf.o: parameters are `const volatile` globals, rewritten in the spec before load.
{
  const spec = CollectionSpec.fromFile(testdata('globals.bpf.o'));
  spec.variable('param_mul').set(5);
  spec.variable('param_add').set(1n);
  const coll = Collection.load(spec);
  try {
    const first = coll.program('globals_main').testRun();
    const afterFirst = { data_counter: coll.readVariable('data_counter'), bss_result: coll.readVariable('bss_result'), bss_calls: coll.readVariable('bss_calls') };
    // Globals in .data/.bss are maps: write one from user space and run again.
    coll.writeVariable('data_counter', 41n);
    const second = coll.program('globals_main').testRun();
    result.globals = {
      params: { param_mul: 5, param_add: 1 },
      firstRun: { retval: first.retval, ...afterFirst },
      secondRun: { retval: second.retval, data_counter: coll.readVariable('data_counter'), bss_calls: coll.readVariable('bss_calls') },
    };
  } finally {
    coll.close(); // closes every program and map fd of the collection
  }
}

// 2. maps.bpf.o: typed map access. Its pinned map would be pinned under /sys/fs/bpf: turn pinning
// off in the spec so the example leaves nothing behind.
{
  const spec = CollectionSpec.fromFile(testdata('maps.bpf.o'));
  for (const m of spec.maps.values()) m.pinning = 0;
  const coll = Collection.load(spec);
  try {
    const array = coll.map('array_u64');
    array.update(3, 0x1234n); // user space → map
    const hash = coll.map('hash_noprealloc');
    hash.update(1, 10n);
    hash.update(2, 20n);
    hash.delete(1);
    const run = coll.program('maps_update').testRun(); // the program writes several maps
    const fifo = coll.map('fifo');
    const popped = [];
    for (let v = fifo.lookupAndDelete(); v !== undefined; v = fifo.lookupAndDelete()) popped.push(v);
    result.maps = {
      programReturned: run.retval,
      array_u64: Object.fromEntries([...array.entries()].filter(([, v]) => v !== 0n)),
      hash_noprealloc: Object.fromEntries(hash.entries()),
      hash_struct: [...coll.map('hash_struct').entries()].map(([key, value]) => ({ key, value })),
      fifo: popped,
      maps: [...coll.maps.entries()].map(([name, m]) => `${name}:${m.typeName}`),
    };
  } finally {
    coll.close();
  }
}

if (values.json) console.log(JSON.stringify(result, bigints));
else console.log(JSON.stringify(result, bigints, 2));
