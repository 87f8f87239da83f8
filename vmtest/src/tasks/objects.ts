/**
 * Result assertions on committed objects that define them, on the guest kernel:
 * - `objects/globals`: globals.bpf.o (SEC("syscall"), 5.14+) or globals_rawtp.bpf.o returns 167 and
 *   148 from one PROG_TEST_RUN each and leaves the documented .data/.bss values.
 * - `objects/kconfig`: kconfig(_rawtp).bpf.o's __kconfig values equal the guest's own
 *   `/boot/config-$(uname -r)` (parsed here, not by the loader), `_text` equals /proc/kallsyms.
 * - `objects/core`: core.bpf.o's relocated values equal what the guest's kernel BTF says (read with
 *   the loader's BTF parser, member by member, independently of the CO-RE engine).
 * - `objects/btf_memo`: the per-boot memo of kernel-BTF answers (`btf/memo.ts`) on this kernel's BTF,
 *   in a cache directory of its own: an id remembered by one load is answered by the next without
 *   parsing the BTF (checked on its record in /sys/kernel/btf/vmlinux), CO-RE outcomes remembered
 *   for many.bpf.o make its next load parse no kernel BTF, and core.bpf.o (outcomes matched in
 *   vmlinux and some matched nowhere) loads the same instructions (program tags) and reports either way.
 * - `objects/btf_sanitize` + `objects/verifier_source_line`: vmtest_sanitize.bpf.o carries ENUM64,
 *   DECL_TAG, TYPE_TAG and FLOAT; where the kernel lacks one of them (feature probe) the loader must
 *   warn "object BTF loaded sanitized…" and still attach func/line info (the kernel's prog info
 *   counts them, and a rejected program's verifier log shows the C source line, which the kernel
 *   only prints when it accepted line_info).
 *
 * @packageDocumentation
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Asserts, bad, big, describe, ok, skipped, type Task, type TaskContext, type TaskOutcome } from './types.js';
import { importLoader, testdata, threadId, type Loader } from './loader.js';

/** The object variant this kernel can run: the SEC("syscall") one, or the raw_tp one before 5.14. */
function variant(L: Loader, ctx: TaskContext, base: string): { path: string; name: string; syscall: boolean } {
  const syscall = L.checkProgType(L.BPF_PROG_TYPE.SYSCALL).supported;
  const name = syscall ? `${base}.bpf.o` : `${base}_rawtp.bpf.o`;
  return { path: testdata(ctx.repoRoot, name), name, syscall };
}

async function globals(ctx: TaskContext): Promise<TaskOutcome> {
  const L = await importLoader();
  const v = variant(L, ctx, 'globals');
  const a = new Asserts();
  using coll = L.Collection.load(L.CollectionSpec.fromFile(v.path));
  a.eq('globals_main retval', coll.program('globals_main').testRun().retval, 167);
  a.eq('data_counter', big(coll.readVariable('data_counter')), 8n);
  a.eq('bss_result', big(coll.readVariable('bss_result')), 167n);
  a.eq('bss_str', coll.readVariable('bss_str'), 'tsbpf!');
  a.eq('globals_second retval', coll.program('globals_second').testRun().retval, 148);
  a.eq('bss_calls', big(coll.readVariable('bss_calls')), 2n);
  return a.outcome(`${v.name}: 167 and 148, .data/.bss/.rodata.str as documented`);
}

/** The kernel's own config: /boot/config-$(uname -r) (vmtest puts the guest's there), else /proc/config.gz. */
function configText(): { text: string; from: string } | undefined {
  const boot = `/boot/config-${release()}`;
  if (existsSync(boot)) return { text: readFileSync(boot, 'utf8'), from: boot };
  if (existsSync('/proc/config.gz')) return { text: gunzipSync(readFileSync('/proc/config.gz')).toString('utf8'), from: '/proc/config.gz' };
  return undefined;
}

/** `CONFIG_*` values of a config file. */
function parseConfig(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (m) out.set(m[1] ?? '', m[2] ?? '');
  }
  return out;
}

function kallsymsAddress(name: string): bigint | undefined {
  for (const line of readFileSync('/proc/kallsyms', 'latin1').split('\n')) {
    const [addr, , sym] = line.split(' ');
    if (sym === name && addr !== undefined) return BigInt(`0x${addr}`);
  }
  return undefined;
}

async function kconfig(ctx: TaskContext): Promise<TaskOutcome> {
  const L = await importLoader();
  const v = variant(L, ctx, 'kconfig');
  const file = configText();
  if (file === undefined) return skipped(`no /boot/config-${release()} and no /proc/config.gz to compare with`);
  const cfg = parseConfig(file.text);
  const a = new Asserts();
  using coll = L.Collection.load(L.CollectionSpec.fromFile(v.path));
  const ctxIn = v.syscall ? undefined : new Uint8Array(16);
  a.eq('retval', coll.program('kconfig_read').testRun(ctxIn ? { ctxIn } : {}).retval, 1);
  const val = (n: string): bigint => big(coll.readVariable(n));
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(release());
  const code = m ? (Number(m[1]) << 16) + (Number(m[2]) << 8) + Math.min(255, Number(m[3] ?? 0)) : -1;
  a.eq('LINUX_KERNEL_VERSION', val('out_kernel_version'), BigInt(code));
  a.eq('CONFIG_BPF_SYSCALL', val('out_bpf_syscall'), cfg.get('CONFIG_BPF_SYSCALL') === 'y' ? 1n : 0n);
  const tun = cfg.get('CONFIG_TUN');
  a.eq('CONFIG_TUN', val('out_tun'), tun === 'y' ? 1n : tun === 'm' ? 2n : 0n);
  a.eq('CONFIG_HZ', val('out_hz'), BigInt(cfg.get('CONFIG_HZ') ?? '-1'));
  a.eq('CONFIG_DEFAULT_HOSTNAME', coll.readVariable('out_hostname'), (cfg.get('CONFIG_DEFAULT_HOSTNAME') ?? '').replace(/^"|"$/g, ''));
  a.eq('CONFIG_TSBPF_DOES_NOT_EXIST (weak)', val('out_missing'), 0n);
  a.eq('LINUX_HAS_SYSCALL_WRAPPER', val('out_syscall_wrapper'), kallsymsAddress('__x64_sys_bpf') !== undefined ? 1n : 0n);
  const text = kallsymsAddress('_text');
  if (text !== undefined && text !== 0n) a.eq('&_text', val('out_text_addr'), text);
  a.eq('&tsbpf_no_such_symbol (weak)', val('out_missing_ksym'), 0n);
  return a.outcome(`${v.name} vs ${file.from}: ${a.notes.join(', ')}`);
}

async function core(ctx: TaskContext): Promise<TaskOutcome> {
  const L = await importLoader();
  const k = L.loadKernelBtf();
  const member = (struct: string, name: string): { bitOffset: number; type: number; bitfieldSize: number } | undefined => {
    const id = k.find(struct, 'struct');
    if (id === undefined) return undefined;
    const t = k.type(id);
    return t.kind === 'struct' ? t.members.find((x) => x.name === name) : undefined;
  };
  const need = <T>(x: T | undefined, what: string): T => {
    if (x === undefined) throw new Error(`kernel BTF lacks ${what}`);
    return x;
  };
  const intInfo = (typeId: number): { size: number; signed: boolean } => {
    const t = k.type(k.underlying(typeId));
    if (t.kind !== 'int') throw new Error(`type ${typeId} is not an integer`);
    return { size: t.size, signed: t.encoding.signed };
  };
  const bitfield = (bytes: Uint8Array, off: number, bits: number): bigint => {
    let x = 0n;
    for (let i = bytes.length - 1; i >= 0; i--) x = (x << 8n) | BigInt(bytes[i] ?? 0);
    return (x >> BigInt(off)) & ((1n << BigInt(bits)) - 1n);
  };
  const spec = L.CollectionSpec.fromFile(testdata(ctx.repoRoot, 'core.bpf.o'));
  spec.program('core_poison_reached').autoload = false;
  using coll = L.Collection.load(spec, { kernelBtf: k });
  const ctxIn = new Uint8Array(32);
  for (let i = 0; i < ctxIn.length; i++) ctxIn[i] = (i * 37 + 11) & 0xff;
  const a = new Asserts();
  a.eq('retval', coll.program('core_probe').testRun({ ctxIn }).retval, 0);
  const v = (n: string): bigint => big(coll.readVariable(n));
  a.eq('out_ran', v('out_ran'), 1n);
  a.eq('tgid (moved field)', v('out_tgid'), BigInt(process.pid));
  a.eq('pid (moved field)', v('out_pid'), BigInt(threadId()));
  a.eq('missing field exists', v('out_missing_exists'), 0n);
  a.eq('guarded poisoned read not reached', v('out_missing'), -1n);
  a.eq('task_struct.state exists', v('out_state_old_exists'), member('task_struct', 'state') ? 1n : 0n);
  a.eq('task_struct.__state exists', v('out_state_new_exists'), member('task_struct', '__state') ? 1n : 0n);
  const doff = need(member('tcphdr', 'doff'), 'tcphdr.doff');
  const syn = need(member('tcphdr', 'syn'), 'tcphdr.syn');
  a.eq('doff probed', v('out_doff_probed'), bitfield(ctxIn, doff.bitOffset, doff.bitfieldSize));
  a.eq('doff direct', v('out_doff_direct'), bitfield(ctxIn, doff.bitOffset, doff.bitfieldSize));
  a.eq('syn probed', v('out_syn_probed'), bitfield(ctxIn, syn.bitOffset, syn.bitfieldSize));
  a.eq('syn direct', v('out_syn_direct'), bitfield(ctxIn, syn.bitOffset, syn.bitfieldSize));
  const task = need(k.find('task_struct', 'struct'), 'struct task_struct');
  a.eq('task exists', v('out_task_exists'), 1n);
  a.eq('fake type exists', v('out_fake_exists'), 0n);
  a.eq('sizeof(task_struct)', v('out_task_size'), BigInt(k.sizeof(task)));
  a.eq('task_struct type id', v('out_task_type_id'), BigInt(task));
  const pid = need(member('task_struct', 'pid'), 'task_struct.pid');
  const tgid = need(member('task_struct', 'tgid'), 'task_struct.tgid');
  const pi = intInfo(pid.type);
  const ti = intInfo(tgid.type);
  a.eq('type matches', v('out_matches'), pi.size === 4 && pi.signed && ti.size === 4 && ti.signed ? 1n : 0n);
  a.eq('type nomatch', v('out_nomatch'), pi.size === 8 && pi.signed ? 1n : 0n);
  a.eq('offsetof(pid)', v('out_pid_offset'), BigInt(pid.bitOffset / 8));
  a.eq('sizeof(pid)', v('out_pid_size'), BigInt(pi.size));
  a.eq('pid signed', v('out_pid_signed'), pi.signed ? 1n : 0n);
  const funcId = k.type(need(k.find('bpf_func_id', 'enum'), 'enum bpf_func_id'));
  const rb = funcId.kind === 'enum' ? funcId.values.find((x) => x.name === 'BPF_FUNC_ringbuf_reserve') : undefined;
  a.eq('BPF_FUNC_ringbuf_reserve exists', v('out_rb_exists'), rb ? 1n : 0n);
  a.eq('BPF_FUNC_ringbuf_reserve', v('out_rb_value'), BigInt(need(rb, 'BPF_FUNC_ringbuf_reserve').value));
  a.eq('BPF_FUNC_ringbuf_reserve (local flavour)', v('out_rb_value_mine'), BigInt(need(rb, 'BPF_FUNC_ringbuf_reserve').value));
  a.eq('fake helper exists', v('out_fake_helper_exists'), 0n);
  const poisoned = (coll.coreReports.get('core_probe') ?? []).filter((r) => r.poisoned).map((r) => r.description);
  a.eq('poisoned relocations', poisoned.join(','), 'struct task_struct___mine.tsbpf_no_such_field');
  return a.outcome(`every relocated value agrees with this kernel's BTF (pid offset ${pid.bitOffset / 8}, sizeof(task_struct) ${k.sizeof(task)}, doff at bit ${doff.bitOffset})`);
}

const NEW_KINDS = ['enum64', 'decl_tag', 'type_tag', 'float'] as const;

async function sanitize(ctx: TaskContext): Promise<Record<string, TaskOutcome>> {
  const L = await importLoader();
  const path = testdata(ctx.repoRoot, 'vmtest_sanitize.bpf.o');
  const lacking = NEW_KINDS.filter((kind) => !L.checkBtfKind(kind).supported);
  const out: Record<string, TaskOutcome> = {};

  // The good program alone: the warning, and the kernel's own count of func/line info.
  {
    const warnings: string[] = [];
    const spec = L.CollectionSpec.fromFile(path);
    spec.program('sanitize_reject').autoload = false;
    const a = new Asserts();
    try {
      using coll = L.Collection.load(spec, { onWarning: (m) => warnings.push(m) });
      const prog = coll.program('sanitize_ok');
      a.eq('retval', prog.testRun({ ctxIn: new Uint8Array(16) }).retval, 7);
      a.eq('out_ran', big(coll.readVariable('out_ran')), 1n);
      const info = L.progInfo(prog.fd);
      a.that('kernel has func_info', info.nrFuncInfo > 0, `nr_func_info ${info.nrFuncInfo}`);
      a.that('kernel has line_info', info.nrLineInfo > 0, `nr_line_info ${info.nrLineInfo}`);
      a.that('program has BTF', info.btfId > 0, `btf_id ${info.btfId}`);
      const sanitized = warnings.some((w) => w.startsWith('object BTF loaded sanitized'));
      const dropped = warnings.find((w) => w.includes('loading without BTF'));
      a.that('object BTF not dropped', dropped === undefined, dropped);
      if (lacking.length > 0) a.that(`"object BTF loaded sanitized" warned (kernel lacks ${lacking.join(', ')})`, sanitized, warnings.join(' | ') || 'no warning');
      else a.that('no sanitization on a kernel with every kind', !sanitized, warnings.join(' | '));
      out['objects/btf_sanitize'] = a.outcome(
        `${lacking.length > 0 ? `kernel lacks ${lacking.join(', ')}: BTF sanitized (warned)` : 'kernel has every kind: BTF loaded as is'}; func_info ${info.nrFuncInfo}, line_info ${info.nrLineInfo}`,
      );
    } catch (e) {
      out['objects/btf_sanitize'] = bad(describe(e, true));
    }
  }

  // The rejected program: VerifierError names the C line, and the kernel's log carries that source
  // line too (the verifier prints "; <source>" only from line_info it accepted).
  {
    const spec = L.CollectionSpec.fromFile(path);
    spec.program('sanitize_ok').autoload = false;
    const src = readFileSync(testdata(ctx.repoRoot, 'vmtest_sanitize.bpf.c'), 'utf8').split('\n');
    const lineNo = src.findIndex((l) => l.includes('/* VMTEST-REJECT-LINE */')) + 1;
    try {
      L.Collection.load(spec).close();
      out['objects/verifier_source_line'] = bad('sanitize_reject loaded, but it reads past its map value');
    } catch (e) {
      if (!(e instanceof L.VerifierError)) {
        out['objects/verifier_source_line'] = bad(`not a VerifierError: ${describe(e)}`);
      } else {
        const a = new Asserts();
        a.that('VerifierError.source names vmtest_sanitize.bpf.c', e.source?.fileName.endsWith('vmtest_sanitize.bpf.c') === true, e.source?.fileName ?? 'no source');
        a.eq('VerifierError.source line', e.source?.lineNumber, lineNo);
        a.that('the kernel log shows the C line (line_info accepted)', e.log.includes('VMTEST-REJECT-LINE'), e.log.split('\n').slice(-4).join(' / '));
        out['objects/verifier_source_line'] = a.outcome(`${e.source?.fileName ?? '?'}:${e.source?.lineNumber ?? '?'} in the message and in the kernel's verifier log${lacking.length > 0 ? ' (sanitized BTF)' : ''}`);
      }
    }
  }
  return out;
}

/**
 * The loader's attach-type probe for fentry/fexit must agree with its trampoline probe (which really
 * loads and attaches an fentry program): a disagreement makes callers leave out programs the kernel
 * runs.
 */
async function attachTypeProbes(): Promise<TaskOutcome> {
  const L = await importLoader();
  const tramp = L.checkTrampolines();
  const rows = [
    ['TRACE_FENTRY', L.BPF_ATTACH_TYPE.TRACE_FENTRY],
    ['TRACE_FEXIT', L.BPF_ATTACH_TYPE.TRACE_FEXIT],
  ] as const;
  const wrong: string[] = [];
  for (const [name, type] of rows) {
    const r = L.checkAttachType(L.BPF_PROG_TYPE.TRACING, type);
    if (r.supported !== tramp.supported) wrong.push(`checkAttachType(TRACING, ${name}) = ${String(r.supported)} (${r.detail ?? ''})`);
  }
  if (wrong.length > 0) {
    return bad(`LOADER BUG: ${wrong.join('; ')}, but checkTrampolines() = ${String(tramp.supported)}${tramp.detail !== undefined ? ` (${tramp.detail})` : ''}: features/probes.ts progBaseAttrs(TRACING) gives a btf_trace_* typedef as attach_btf_id, which the kernel refuses for fentry/fexit ("attach_btf_id is not a function")`);
  }
  return ok(`checkAttachType(TRACING, fentry/fexit) agrees with checkTrampolines() = ${String(tramp.supported)}`);
}

/** One load against the running kernel: program tags, and CO-RE reports as plain values (`remembered` apart). */
function loadForMemo(L: Loader, path: string, skip: readonly string[]): { tags: string; reports: string; remembered: number; relocations: number } {
  const spec = L.CollectionSpec.fromFile(path);
  for (const name of skip) spec.program(name).autoload = false;
  using coll = L.Collection.load(spec);
  L.runningKernelMemo()?.flush();
  const tags = [...coll.programs].map(([name, prog]) => `${name}:${L.progInfo(prog.fd).tag}`).join(' ');
  const all = [...coll.coreReports.values()].flat();
  const reports = JSON.stringify(all.map((r) => [r.index, r.insnIndex, r.kind, r.description, String(r.targetValue), r.poisoned, r.targetTypeId ?? null]));
  return { tags, reports, remembered: all.filter((r) => r.remembered).length, relocations: all.length };
}

async function btfMemo(ctx: TaskContext): Promise<TaskOutcome> {
  const L = await importLoader();
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-memo-'));
  const saved = process.env.TSBPF_CACHE_DIR;
  process.env.TSBPF_CACHE_DIR = dir;
  const a = new Asserts();
  try {
    // An id: searched once, then answered from the file without the parse.
    L.clearKernelBtfCache();
    const task = L.loadKernelBtf().find('task_struct', 'struct');
    L.runningKernelMemo()?.flush();
    L.clearKernelBtfCache();
    a.eq('task_struct id without the parse', L.findKernelType('task_struct', 'struct'), task);
    a.eq('kernel BTF parsed for it', L.kernelBtfParsed(), false);
    // CO-RE outcomes: a load that finds everything remembered parses no kernel BTF.
    const many = testdata(ctx.repoRoot, 'many.bpf.o');
    L.clearKernelBtfCache();
    const first = loadForMemo(L, many, []);
    L.clearKernelBtfCache();
    const second = loadForMemo(L, many, []);
    a.that('many.bpf.o has CO-RE relocations', first.relocations > 0);
    a.eq('many.bpf.o outcomes remembered', second.remembered, second.relocations);
    a.eq('many.bpf.o second load parsed the kernel BTF', L.kernelBtfParsed(), false);
    a.eq('many.bpf.o program tags', second.tags, first.tags);
    a.eq('many.bpf.o reports', second.reports, first.reports);
    // Mixed: matched in vmlinux (remembered) and matched nowhere (searched every time).
    const core = testdata(ctx.repoRoot, 'core.bpf.o');
    L.clearKernelBtfCache();
    const searched = loadForMemo(L, core, ['core_poison_reached']);
    L.clearKernelBtfCache();
    const again = loadForMemo(L, core, ['core_poison_reached']);
    a.that('core.bpf.o outcomes remembered', again.remembered > 0 && again.remembered < again.relocations, `${again.remembered} of ${again.relocations}`);
    a.eq('core.bpf.o program tags', again.tags, searched.tags);
    a.eq('core.bpf.o reports', again.reports, searched.reports);
    return a.outcome(`task_struct ${String(task)} from its record; many.bpf.o ${second.remembered}/${second.relocations} outcomes remembered, no parse; core.bpf.o ${again.remembered}/${again.relocations}, same tags and reports`);
  } finally {
    // A write the memo queued for after this task (a load that threw before its flush) goes first.
    await new Promise((r) => setImmediate(r));
    if (saved === undefined) delete process.env.TSBPF_CACHE_DIR;
    else process.env.TSBPF_CACHE_DIR = saved;
    L.clearKernelBtfCache();
    rmSync(dir, { recursive: true, force: true });
  }
}

const single = (name: string, f: (ctx: TaskContext) => Promise<TaskOutcome>): Task => async (ctx) => {
  try {
    return { [name]: await f(ctx) };
  } catch (e) {
    return { [name]: bad(describe(e, true)) };
  }
};

/** Object tasks by name. */
export const objectTasks: Record<string, Task> = {
  'objects/globals': single('objects/globals', globals),
  'objects/kconfig': single('objects/kconfig', kconfig),
  'objects/core': single('objects/core', core),
  'objects/btf_memo': single('objects/btf_memo', btfMemo),
  'objects/sanitize': sanitize,
  'features/attach_type_fentry': single('features/attach_type_fentry', attachTypeProbes),
};

export { ok, skipped };
