/**
 * VerifierError: the kernel rejected a program. Carries the complete verifier log and, using the
 * program's line_info, the C source line of the instruction the verifier stopped at; CO-RE
 * relocations that could not be resolved on this kernel are named instead of a bare
 * "invalid func unknown#195896080".
 */
import { explainVerifierLog, type CoreRelocationReport } from '../btf/core/relocate.js';
import { TsbpfError } from '../errors.js';
import type { LinkedLineInfo } from '../spec/linker.js';
import type { SyscallError } from '../sys/errors.js';

/** Where in the C source the failing instruction came from. */
export interface SourceLocation {
  fileName: string;
  lineNumber: number;
  column: number;
  /** The source text of the line. */
  line: string;
}

/** The verifier rejected a program. */
export class VerifierError extends TsbpfError {
  /** Program name. */
  readonly program: string;
  /** The complete verifier log. */
  readonly log: string;
  /** errno name of the failed PROG_LOAD (`EACCES`, `EINVAL`, `EPERM`…). */
  readonly errnoName: string;
  /** Index of the last instruction the verifier reported, if any. */
  readonly insnIndex: number | undefined;
  /** C source location of that instruction, from line_info. */
  readonly source: SourceLocation | undefined;
  /** Explanations of CO-RE relocations that were poisoned and reached. */
  readonly coreFailures: readonly string[];

  constructor(init: { program: string; cause: SyscallError; log: string; lineInfo: readonly LinkedLineInfo[]; coreReports: readonly CoreRelocationReport[] }) {
    const log = init.log;
    const insnIndex = lastInstruction(log);
    const source = insnIndex === undefined ? undefined : sourceFor(init.lineInfo, insnIndex);
    const coreFailures = explainVerifierLog(init.coreReports, log);
    const lastLines = log.trimEnd().split('\n').slice(-3).join('\n');
    let message = `program ${init.program}: the verifier rejected it (${init.cause.errnoName})`;
    if (coreFailures.length) message += `: ${coreFailures.join('; ')}`;
    if (source) message += `\n  at ${source.fileName}:${source.lineNumber}: ${source.line.trim()}`;
    if (lastLines) message += `\n${indent(lastLines)}`;
    super('VERIFIER', message, { cause: init.cause });
    this.program = init.program;
    this.log = log;
    this.errnoName = init.cause.errnoName;
    this.insnIndex = insnIndex;
    this.source = source;
    this.coreFailures = coreFailures;
  }
}

/** The last `N: (op) …` instruction line of a verifier log. */
function lastInstruction(log: string): number | undefined {
  let last: number | undefined;
  for (const m of log.matchAll(/^(\d+): \([0-9a-f]{2}\)/gm)) last = Number(m[1]);
  return last;
}

function sourceFor(lineInfo: readonly LinkedLineInfo[], insnIndex: number): SourceLocation | undefined {
  let best: LinkedLineInfo | undefined;
  for (const l of lineInfo) if (l.insnIndex <= insnIndex && (!best || l.insnIndex >= best.insnIndex)) best = l;
  return best ? { fileName: best.fileName, lineNumber: best.lineNumber, column: best.column, line: best.line } : undefined;
}

function indent(s: string): string {
  return s
    .split('\n')
    .map((l) => `  | ${l}`)
    .join('\n');
}
