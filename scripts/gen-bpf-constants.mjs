#!/usr/bin/env node
// Regenerates the GENERATED region of packages/loader/src/sys/constants.ts from the uapi headers
// (/usr/include/linux/bpf.h, perf_event.h) and, when readable, the running kernel's BTF
// (/sys/kernel/btf/vmlinux): the installed headers can be older than the kernel, and the kernel's own
// enums name every command, map/program/attach/link type and helper it knows. Header values win on a
// clash (they never differ in practice: these enums are ABI).
//
// Usage: node scripts/gen-bpf-constants.mjs [--no-kernel] [--check]
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const target = resolve(root, 'packages/loader/src/sys/constants.ts');
const args = new Set(process.argv.slice(2));
const useKernel = !args.has('--no-kernel') && existsSync('/sys/kernel/btf/vmlinux');

// ---------------------------------------------------------------- header enum parsing

/** Evaluates the tiny constant expressions uapi enums use: literals, names, (), <<, |, unary -. */
function evaluate(expr, known) {
  const tokens = expr.match(/0x[0-9a-fA-F]+[uUlL]*|\d+[uUlL]*|[A-Za-z_]\w*|<<|[|()\-~]/g) ?? [];
  let i = 0;
  const primary = () => {
    const t = tokens[i++];
    if (t === undefined) throw new Error(`bad expression ${expr}`);
    if (t === '(') {
      const v = orExpr();
      if (tokens[i++] !== ')') throw new Error(`unbalanced ${expr}`);
      return v;
    }
    if (t === '-') return -primary();
    if (t === '~') return ~primary();
    if (/^\d|^0x/.test(t)) return BigInt(t.replace(/[uUlL]+$/, ''));
    if (known.has(t)) return known.get(t);
    throw new Error(`unknown name ${t} in ${expr}`);
  };
  const shift = () => {
    let v = primary();
    while (tokens[i] === '<<') {
      i++;
      v <<= primary();
    }
    return v;
  };
  const orExpr = () => {
    let v = shift();
    while (tokens[i] === '|') {
      i++;
      v |= shift();
    }
    return v;
  };
  const v = orExpr();
  if (i !== tokens.length) throw new Error(`trailing tokens in ${expr}`);
  return v;
}

/** Returns the enumerators of `enum <name> { ... }` in `text` in order, as [name, bigint]. */
function headerEnum(raw, name) {
  // Comments first: doc comments inside enums describe structs whose `};` would end the body early.
  const text = raw.replace(/\/\*[\s\S]*?\*\//g, '');
  const start = text.indexOf(`enum ${name} {`);
  if (start < 0) return [];
  const body = text.slice(text.indexOf('{', start) + 1, text.indexOf('};', start));
  const clean = body.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*#.*$/gm, '');
  const out = [];
  const known = new Map();
  let next = 0n;
  for (const part of clean.split(',')) {
    const m = part.trim().match(/^([A-Za-z_]\w*)\s*(?:=\s*([\s\S]+))?$/);
    if (!m) continue;
    const value = m[2] !== undefined ? evaluate(m[2].trim(), known) : next;
    known.set(m[1], value);
    out.push([m[1], value]);
    next = value + 1n;
  }
  return out;
}

/** Helper names in `___BPF_FUNC_MAPPER` (new headers: FN(name, id, ...)) or `__BPF_FUNC_MAPPER` (old: FN(name)). */
function headerHelpers(text) {
  const start = text.search(/#define\s+_{2,3}BPF_FUNC_MAPPER\(/);
  if (start < 0) return [];
  const lines = [];
  for (const line of text.slice(start).split('\n').slice(1)) {
    lines.push(line);
    if (!line.trimEnd().endsWith('\\')) break;
  }
  const out = [];
  let next = 0n;
  for (const m of lines.join('\n').matchAll(/FN\(\s*(\w+)\s*(?:,\s*(\d+))?/g)) {
    const id = m[2] !== undefined ? BigInt(m[2]) : next;
    out.push([`BPF_FUNC_${m[1]}`, id]);
    next = id + 1n;
  }
  return out;
}

// ---------------------------------------------------------------- kernel BTF enum reading

/** Every ENUM/ENUM64 of a raw BTF blob, keyed by enum name → [[enumerator, bigint]]. */
function btfEnums(buf) {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (dv.getUint16(0, true) !== 0xeb9f) throw new Error('not little-endian BTF');
  const hdrLen = dv.getUint32(4, true);
  const typeOff = hdrLen + dv.getUint32(8, true);
  const typeLen = dv.getUint32(12, true);
  const strOff = hdrLen + dv.getUint32(16, true);
  const str = (off) => {
    let end = strOff + off;
    while (buf[end] !== 0) end++;
    return buf.toString('latin1', strOff + off, end);
  };
  const enums = new Map();
  let p = typeOff;
  const end = typeOff + typeLen;
  while (p < end) {
    const nameOff = dv.getUint32(p, true);
    const info = dv.getUint32(p + 4, true);
    const vlen = info & 0xffff;
    const kind = (info >>> 24) & 0x1f;
    const signed = (info >>> 31) === 1;
    p += 12;
    switch (kind) {
      case 1: case 14: case 17: p += 4; break; // INT, VAR, DECL_TAG
      case 3: p += 12; break; // ARRAY
      case 4: case 5: case 15: p += 12 * vlen; break; // STRUCT, UNION, DATASEC
      case 13: p += 8 * vlen; break; // FUNC_PROTO
      case 6: { // ENUM
        const list = [];
        for (let k = 0; k < vlen; k++, p += 8) {
          const raw = signed ? dv.getInt32(p + 4, true) : dv.getUint32(p + 4, true);
          list.push([str(dv.getUint32(p, true)), BigInt(raw)]);
        }
        if (nameOff) enums.set(str(nameOff), list);
        break;
      }
      case 19: { // ENUM64
        const list = [];
        for (let k = 0; k < vlen; k++, p += 12) {
          const v = (BigInt(dv.getUint32(p + 8, true)) << 32n) | BigInt(dv.getUint32(p + 4, true));
          list.push([str(dv.getUint32(p, true)), signed ? BigInt.asIntN(64, v) : v]);
        }
        if (nameOff) enums.set(str(nameOff), list);
        break;
      }
      default: break; // PTR, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, FLOAT, TYPE_TAG: no trailer
    }
  }
  return enums;
}

// ---------------------------------------------------------------- assembly

const bpfH = readFileSync('/usr/include/linux/bpf.h', 'utf8');
const perfH = readFileSync('/usr/include/linux/perf_event.h', 'utf8');
const kernel = useKernel ? btfEnums(readFileSync('/sys/kernel/btf/vmlinux')) : new Map();

/**
 * One table: enumerators of `enumName` from `header` (plus the kernel's), keeping those starting with
 * `prefix`, keyed by the name without it. Non-ABI markers (`__MAX_…`, `…_MAX`) are dropped.
 */
function table(header, enumName, prefix, { fromHeader, lowerKeys = false, dropMax = true } = {}) {
  const entries = new Map();
  const add = (name, value, source) => {
    if (!name.startsWith(prefix) || name.startsWith('__')) return;
    if (dropMax && (/_MAX$/.test(name) || /^MAX_/.test(name))) return;
    let key = name.slice(prefix.length);
    if (lowerKeys) key = key.toLowerCase();
    if (entries.has(key)) return;
    entries.set(key, { value, source });
  };
  for (const [n, v] of fromHeader ?? headerEnum(header, enumName)) add(n, v, 'header');
  for (const [n, v] of kernel.get(enumName) ?? []) add(n, v, 'kernel');
  return entries;
}

const fmtKey = (k) => (/^[A-Za-z_]\w*$/.test(k) ? k : `'${k}'`);
const fmtVal = (v) => (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER) ? `${v}n` : `${v}`);

function emit(name, doc, entries) {
  const lines = [`/** ${doc} */`, `export const ${name} = {`];
  for (const [k, { value, source }] of entries) {
    lines.push(`  ${fmtKey(k)}: ${fmtVal(value)},${source === 'kernel' ? ' // from kernel BTF' : ''}`);
  }
  lines.push('} as const;', '');
  return lines.join('\n');
}

const sections = [
  emit('BPF_CMD', 'bpf(2) commands (`enum bpf_cmd`), keyed without the `BPF_` prefix.', table(bpfH, 'bpf_cmd', 'BPF_')),
  emit('BPF_MAP_TYPE', 'Map types (`enum bpf_map_type`), keyed without `BPF_MAP_TYPE_`.', table(bpfH, 'bpf_map_type', 'BPF_MAP_TYPE_')),
  emit('BPF_PROG_TYPE', 'Program types (`enum bpf_prog_type`), keyed without `BPF_PROG_TYPE_`.', table(bpfH, 'bpf_prog_type', 'BPF_PROG_TYPE_')),
  emit('BPF_ATTACH_TYPE', 'Attach types (`enum bpf_attach_type`), keyed without `BPF_`.', table(bpfH, 'bpf_attach_type', 'BPF_')),
  emit('BPF_LINK_TYPE', 'Link types (`enum bpf_link_type`), keyed without `BPF_LINK_TYPE_`.', table(bpfH, 'bpf_link_type', 'BPF_LINK_TYPE_')),
  emit(
    'BPF_FUNC',
    'Helper function ids (`enum bpf_func_id`, the `___BPF_FUNC_MAPPER` list), keyed by helper name without `bpf_`.',
    table(bpfH, 'bpf_func_id', 'BPF_FUNC_', { fromHeader: headerHelpers(bpfH) }),
  ),
  emit('PERF_TYPE', 'perf_event_attr.type values (`enum perf_type_id`), keyed without `PERF_TYPE_`.', table(perfH, 'perf_type_id', 'PERF_TYPE_')),
  emit('PERF_COUNT_SW', 'Software event ids (`enum perf_sw_ids`), keyed without `PERF_COUNT_SW_`.', table(perfH, 'perf_sw_ids', 'PERF_COUNT_SW_')),
  emit('PERF_COUNT_HW', 'Hardware event ids (`enum perf_hw_id`), keyed without `PERF_COUNT_HW_`.', table(perfH, 'perf_hw_id', 'PERF_COUNT_HW_')),
  emit('PERF_SAMPLE', 'perf_event_attr.sample_type bits (`enum perf_event_sample_format`), keyed without `PERF_SAMPLE_`.', table(perfH, 'perf_event_sample_format', 'PERF_SAMPLE_')),
  emit('PERF_RECORD', 'Ring record types (`enum perf_event_type`), keyed without `PERF_RECORD_`.', table(perfH, 'perf_event_type', 'PERF_RECORD_')),
];

const begin = '// BEGIN GENERATED by scripts/gen-bpf-constants.mjs — do not edit by hand';
const finish = '// END GENERATED';
const generated = `${begin}\n// Sources: /usr/include/linux/bpf.h, perf_event.h${useKernel ? ', /sys/kernel/btf/vmlinux' : ''}.\n\n${sections.join('\n')}${finish}`;

const current = readFileSync(target, 'utf8');
const a = current.indexOf(begin);
const b = current.indexOf(finish);
if (a < 0 || b < 0) throw new Error(`${target} lacks the GENERATED markers`);
const next = current.slice(0, a) + generated + current.slice(b + finish.length);
if (args.has('--check')) {
  if (next !== current) {
    console.error('constants.ts is out of date: run node scripts/gen-bpf-constants.mjs');
    process.exit(1);
  }
} else {
  writeFileSync(target, next);
  console.log(`wrote ${target}`);
}
