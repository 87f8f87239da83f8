/**
 * Untrusted strings end to end: a process names itself with terminal escapes, a bidi override and
 * a byte that is not UTF-8 (prctl(PR_SET_NAME) through python3 ctypes), then makes a capability
 * check. The event travels kernel → ring buffer → GadgetRun → EventDecoder → gadget/format: the
 * columns output shows the name as visible escapes, the JSON output is valid and round-trips the
 * exact name, and neither carries a raw control character.
 */
import { describe, expect, it } from 'vitest';
import { hasTpBtf } from '../../src/features/probes.js';
import type { GadgetEvent } from '../../src/gadget/decode.js';
import { ColumnsRenderer, columnsFromDescriptors, renderTable } from '../../src/gadget/format/columns.js';
import { formatJson, formatJsonLine } from '../../src/gadget/format/json.js';
import { isTerminalSafe } from '../../src/gadget/format/sanitize.js';
import { GadgetRun } from '../../src/gadget/runtime.js';
import { CollectionSpec } from '../../src/spec/collection.js';
import { existsSync } from 'node:fs';
import { GADGET_CAP_CLI, LineChild, TP_OBJECT, python } from './helpers.js';

const tp = hasTpBtf('cap_capable');
if (!tp) console.warn('skipped: no tp_btf/cap_capable on this kernel (needs 6.14+); vmtest covers the kprobe variant');

/** 15 bytes (TASK_COMM_LEN − 1): clear screen, retitle the window, bell, \xff, U+202E RIGHT-TO-LEFT OVERRIDE. */
const HOSTILE = Buffer.from([0x1b, 0x5b, 0x32, 0x4a, 0x1b, 0x5d, 0x30, 0x3b, 0x70, 0x07, 0xff, 0xe2, 0x80, 0xae, 0x78]);
const HOSTILE_PY = `b'${[...HOSTILE].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('')}'`;
const RENAME_AND_CHECK = [
  'import ctypes, os',
  'libc = ctypes.CDLL(None, use_errno=True)',
  `assert libc.prctl(15, ctypes.c_char_p(${HOSTILE_PY}), 0, 0, 0) == 0`,
  'os.setpriority(os.PRIO_PROCESS, 0, -3)',
].join('; ');

/** Control characters that must never reach a terminal raw. */
const RAW_CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

describe.skipIf(!tp)('a process named with terminal escapes', () => {
  it('is rendered escaped in columns and as valid, exact JSON', async () => {
    using run = GadgetRun.start(CollectionSpec.fromFile(TP_OBJECT));
    const decoder = run.decoder();
    const seen: GadgetEvent[] = [];
    const reading = run.reader.start((view) => {
      seen.push(decoder.decode(view));
    });
    let event: GadgetEvent | undefined;
    try {
      const pid = await python(RENAME_AND_CHECK);
      const deadline = Date.now() + 10_000;
      while (!event && Date.now() < deadline) {
        event = seen.find((e) => (e.proc as { pid?: number } | undefined)?.pid === pid && e.cap === 'CAP_SYS_NICE');
        if (!event) await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      run.reader.close();
      await reading;
    }
    if (!event) throw new Error(`no CAP_SYS_NICE event from the renamed process (${seen.length} other events)`);
    const comm = (event.proc as { comm: string }).comm;
    // The decoded name is exactly the bytes the process chose (the \xff kept as U+DCFF).
    expect(comm.startsWith('\x1b[2J\x1b]0;p\x07')).toBe(true);
    expect(comm).toContain('\u202e');
    expect(isTerminalSafe(comm)).toBe(false);

    // Columns: every hostile character is a visible escape; nothing raw is left.
    const defs = columnsFromDescriptors(decoder.fields);
    const renderer = new ColumnsRenderer(defs, { fields: ['proc.comm', 'proc.pid', 'cap'] });
    const row = renderer.row(event);
    expect(row).not.toMatch(RAW_CONTROL);
    // The streaming renderer keeps its fixed width (an ellipsis may cut the tail), escapes first.
    expect(row.startsWith('\\x1b[2J\\x1b]0;p')).toBe(true);
    const table = renderTable([event], defs, { fields: ['proc.comm', 'proc.pid'] });
    expect(table).not.toMatch(RAW_CONTROL);
    expect(table).toContain('\\x1b[2J\\x1b]0;p\\x07\\xff\\u202ex');

    // JSON: one valid line, terminal-safe, and it round-trips the exact name.
    for (const text of [formatJsonLine(event), formatJson(event, { pretty: true })]) {
      expect(text).not.toMatch(RAW_CONTROL);
      // Well-formed UTF-16 (no lone surrogate): it survives UTF-8 encoding unchanged.
      expect(/\p{Cs}/u.test(text)).toBe(false);
      expect(Buffer.from(text, 'utf8').toString('utf8')).toBe(text);
      const parsed = JSON.parse(text) as { proc: { comm: string; pid: number }; cap: string };
      expect(parsed.proc.comm).toBe(comm);
      expect(parsed.cap).toBe('CAP_SYS_NICE');
    }
    expect(formatJsonLine(event).endsWith('\n')).toBe(true);
    expect(formatJsonLine(event).slice(0, -1)).not.toContain('\n');
  });

  for (const format of ['columns', 'json'] as const) {
    it.skipIf(!existsSync(GADGET_CAP_CLI))(`through the trace-capabilities CLI (${format})`, async () => {
      const child = new LineChild(process.execPath, [GADGET_CAP_CLI, '-o', format, '--fields', 'comm,pid,cap', '--no-collect-kstack']);
      try {
        await child.line('stderr', /tracing capability checks/);
        const pid = await python(RENAME_AND_CHECK);
        const line = await child.line('stdout', format === 'json' ? new RegExp(`"pid":${pid}\\b.*CAP_SYS_NICE`) : new RegExp(`\\b${pid}\\b.*CAP_SYS_NICE`));
        expect(line).not.toMatch(RAW_CONTROL);
        if (format === 'json') {
          const parsed = JSON.parse(line) as { proc: { comm: string }; cap: string };
          expect(parsed.proc.comm.startsWith('\x1b[2J\x1b]0;p\x07'), line).toBe(true);
          expect(parsed.cap).toBe('CAP_SYS_NICE');
        } else {
          expect(line.startsWith('\\x1b[2J\\x1b]0;p')).toBe(true);
        }
      } finally {
        child.kill('SIGTERM');
        await child.exited;
      }
    });
  }
  if (!existsSync(GADGET_CAP_CLI)) console.warn(`skipped: ${GADGET_CAP_CLI} is not built`);
});
