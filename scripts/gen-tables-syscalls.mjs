#!/usr/bin/env node
// Regenerates packages/loader/src/gadget/tables/syscalls.generated.ts: syscall number → name for
// x86_64 (asm/unistd_64.h) and arm64 (asm-generic/unistd.h, which arm64 uses as its table).
//
// The generic header is full of preprocessor conditionals; a tiny evaluator resolves them with the
// macros arm64's uapi asm/unistd.h defines before including it (64-bit, not compat).
//
// Usage: node scripts/gen-tables-syscalls.mjs [--check]
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const target = resolve(root, 'packages/loader/src/gadget/tables/syscalls.generated.ts');
const X86_HEADER = '/usr/include/x86_64-linux-gnu/asm/unistd_64.h';
const GENERIC_HEADER = '/usr/include/asm-generic/unistd.h';
const check = process.argv.includes('--check');

// Macros arch/arm64/include/uapi/asm/unistd.h defines before including asm-generic/unistd.h.
const ARM64_DEFINES = [
  '__ARCH_WANT_RENAMEAT',
  '__ARCH_WANT_NEW_STAT',
  '__ARCH_WANT_SET_GET_RLIMIT',
  '__ARCH_WANT_TIME32_SYSCALLS',
  '__ARCH_WANT_SYS_CLONE3',
  '__ARCH_WANT_MEMFD_SECRET',
];
// Markers that are numbers in the header but not system calls.
const NOT_SYSCALLS = new Set(['syscalls', 'arch_specific_syscall']);

/** Evaluates a preprocessor condition: defined(X), !, &&, ||, ==, !=, integers, parentheses. */
function evalCondition(expr, defined, values) {
  const tokens = expr.match(/defined\s*\(\s*\w+\s*\)|defined\s+\w+|\w+|&&|\|\||==|!=|!|\(|\)/g) ?? [];
  let i = 0;
  const atom = () => {
    const t = tokens[i++];
    if (t === undefined) throw new Error(`bad condition: ${expr}`);
    if (t === '(') {
      const v = or();
      if (tokens[i++] !== ')') throw new Error(`unbalanced: ${expr}`);
      return v;
    }
    if (t === '!') return atom() ? 0 : 1;
    const d = /^defined\s*\(?\s*(\w+)/.exec(t);
    if (d) return defined.has(d[1]) ? 1 : 0;
    if (/^\d+$/.test(t)) return Number(t);
    if (values.has(t)) return values.get(t);
    return 0; // an undefined macro evaluates to 0, as in cpp
  };
  const cmp = () => {
    let v = atom();
    while (tokens[i] === '==' || tokens[i] === '!=') {
      const op = tokens[i++];
      const r = atom();
      v = (op === '==') === (v === r) ? 1 : 0;
    }
    return v;
  };
  const and = () => {
    let v = cmp();
    while (tokens[i] === '&&') {
      i++;
      const r = cmp();
      v = v && r ? 1 : 0;
    }
    return v;
  };
  const or = () => {
    let v = and();
    while (tokens[i] === '||') {
      i++;
      const r = and();
      v = v || r ? 1 : 0;
    }
    return v;
  };
  const v = or();
  if (i !== tokens.length) throw new Error(`trailing tokens in condition: ${expr}`);
  return v;
}

/** Returns [name, number] for every `__NR_<name>` the header defines under the given configuration. */
function parseUnistd(path, defines, values) {
  const defined = new Set(defines);
  const numbers = new Map(); // every macro with a numeric value (for __NR3264_x aliases)
  const stack = []; // { active, taken }
  const active = () => stack.every((f) => f.active);
  const out = new Map();
  for (const rawLine of readFileSync(path, 'utf8').split('\n')) {
    const line = rawLine.replace(/\/\*.*?\*\//g, '').trim();
    let m;
    if ((m = /^#\s*ifdef\s+(\w+)/.exec(line))) {
      const v = defined.has(m[1]);
      stack.push({ active: v, taken: v });
    } else if ((m = /^#\s*ifndef\s+(\w+)/.exec(line))) {
      const v = !defined.has(m[1]);
      stack.push({ active: v, taken: v });
    } else if ((m = /^#\s*if\s+(.*)$/.exec(line))) {
      const v = active() && evalCondition(m[1], defined, values) !== 0;
      stack.push({ active: v, taken: v });
    } else if ((m = /^#\s*elif\s+(.*)$/.exec(line))) {
      const top = stack[stack.length - 1];
      const v = !top.taken && evalCondition(m[1], defined, values) !== 0;
      top.active = v;
      top.taken ||= v;
    } else if (/^#\s*else\b/.test(line)) {
      const top = stack[stack.length - 1];
      top.active = !top.taken;
      top.taken = true;
    } else if (/^#\s*endif\b/.test(line)) {
      stack.pop();
    } else if (!active()) {
      continue;
    } else if ((m = /^#\s*undef\s+(\w+)/.exec(line))) {
      defined.delete(m[1]);
      numbers.delete(m[1]);
    } else if ((m = /^#\s*define\s+(\w+)(?:\s+(\S+))?/.exec(line))) {
      const [, macro, value] = m;
      defined.add(macro);
      let n;
      if (value !== undefined && /^\d+$/.test(value)) n = Number(value);
      else if (value !== undefined && numbers.has(value)) n = numbers.get(value);
      if (n === undefined) continue;
      numbers.set(macro, n);
      const nr = /^__NR_(\w+)$/.exec(macro);
      if (nr && !NOT_SYSCALLS.has(nr[1])) out.set(nr[1], n);
    }
  }
  if (stack.length !== 0) throw new Error(`${path}: unbalanced conditionals`);
  return out;
}

/** Builds a dense array indexed by number ('' for holes), refusing two names for one number. */
function toTable(path, entries) {
  const table = [];
  for (const [name, nr] of entries) {
    if (table[nr] !== undefined && table[nr] !== '') throw new Error(`${path}: ${nr} is both ${table[nr]} and ${name}`);
    while (table.length < nr) table.push('');
    table[nr] = name;
  }
  return table.map((s) => s ?? '');
}

function render(name, doc, table) {
  const lines = [];
  for (let i = 0; i < table.length; i += 6) {
    lines.push('  ' + table.slice(i, i + 6).map((s) => `'${s}',`).join(' ') + ` // ${i}`);
  }
  return `/** ${doc} Index = syscall number; '' marks an unassigned number. */\nexport const ${name}: readonly string[] = [\n${lines.join('\n')}\n];\n`;
}

for (const h of [X86_HEADER, GENERIC_HEADER]) {
  if (!existsSync(h)) throw new Error(`${h} is missing (install linux-libc-dev)`);
}
const x86 = toTable(X86_HEADER, parseUnistd(X86_HEADER, [], new Map()));
const arm64 = toTable(GENERIC_HEADER, parseUnistd(GENERIC_HEADER, ARM64_DEFINES, new Map([['__BITS_PER_LONG', 64]])));

const text = `// GENERATED by scripts/gen-tables-syscalls.mjs from ${X86_HEADER} and ${GENERIC_HEADER}.
// Do not edit by hand; rerun the script.

${render('X86_64_SYSCALLS', 'x86_64 system call names (asm/unistd_64.h).', x86)}
${render('ARM64_SYSCALLS', 'arm64 system call names (asm-generic/unistd.h as configured by arm64).', arm64)}`;

if (check) {
  const current = existsSync(target) ? readFileSync(target, 'utf8') : '';
  if (current !== text) {
    console.error(`${target} is out of date; run node scripts/gen-tables-syscalls.mjs`);
    process.exit(1);
  }
} else {
  writeFileSync(target, text);
  console.log(`wrote ${target}: x86_64 ${x86.filter(Boolean).length} names, arm64 ${arm64.filter(Boolean).length} names`);
}
