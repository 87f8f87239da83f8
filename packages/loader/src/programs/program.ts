/**
 * Program: a loaded program, owned by one {@link Fd}, with what attaching needs (type, expected
 * attach type, section, target) and a `testRun` wrapper around BPF_PROG_TEST_RUN.
 */
import type { LinkedProgram } from '../spec/linker.js';
import type { ProgramSpec } from '../spec/program.js';
import type { AttachKind } from '../spec/section.js';
import type { ProgTestRunAttr } from '../sys/attr.js';
import { objPin, progTestRun, type ProgTestRunResult } from '../sys/bpf.js';
import { progRunStats, type ProgRunStats } from '../sys/info.js';
import { progTypeName } from '../sys/constants.js';
import type { Fd } from '../sys/fd.js';

/** Options of {@link Program.testRun}: everything BPF_PROG_TEST_RUN takes but the program. */
export type TestRunOptions = Omit<ProgTestRunAttr, 'progFd'>;

/** A loaded program. */
export class Program implements Disposable {
  /** Name from the object. */
  readonly name: string;
  /** The owning file descriptor. */
  readonly fd: Fd;
  /** `BPF_PROG_TYPE_*` it was loaded as. */
  readonly type: number;
  /** Expected attach type it was loaded with. */
  readonly expectedAttachType: number;
  /** ELF section (`tracepoint/syscalls/sys_enter_openat`). */
  readonly sectionName: string;
  /** Attach target from the section or the spec. */
  readonly attachTarget: string | undefined;
  /** How auto-attach treats it. */
  readonly attachKind: AttachKind;
  /** The spec it was loaded from. */
  readonly spec: ProgramSpec;
  /** The final instructions and references it was loaded with (for inspection). */
  readonly linked: LinkedProgram;

  constructor(fd: Fd, spec: ProgramSpec, linked: LinkedProgram) {
    this.fd = fd;
    this.name = spec.name;
    this.type = spec.type;
    this.expectedAttachType = spec.expectedAttachType;
    this.sectionName = spec.sectionName;
    this.attachTarget = spec.attachTarget;
    this.attachKind = spec.attachKind;
    this.spec = spec;
    this.linked = linked;
  }

  /** Human name of the program type. */
  get typeName(): string {
    return progTypeName(this.type) ?? `type ${this.type}`;
  }

  /** Run the program once (or `repeat` times) in the kernel with BPF_PROG_TEST_RUN. */
  testRun(options: TestRunOptions = {}): ProgTestRunResult {
    return progTestRun({ progFd: this.fd, ...options });
  }

  /** The kernel's run counters for this program (runs skipped for recursion among them). */
  runStats(): ProgRunStats {
    return progRunStats(this.fd);
  }

  /** Pin to a bpffs path. */
  pin(path: string): void {
    objPin(this.fd, path);
  }

  /** Close the program's fd (idempotent). Links keep their own reference. */
  close(): void {
    this.fd.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
