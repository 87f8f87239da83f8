/**
 * What each ELF relocation of a code section refers to, classified once at parse time so that
 * linking at load only looks the answers up. The kernel-dependent parts (map fds, kconfig values,
 * ksym addresses) are filled in by `collection.ts`.
 */

/** A reference from one instruction of a code section. */
export type Reference =
  /** ld_imm64 of a map (`&events`): becomes BPF_PSEUDO_MAP_FD. */
  | { kind: 'map'; map: string }
  /** ld_imm64 of global data (`&counter`): becomes BPF_PSEUDO_MAP_VALUE + offset. */
  | { kind: 'data'; map: string; offset: number }
  /** ld_imm64 of a `__kconfig` extern: a value in the `.kconfig` map. */
  | { kind: 'kconfig'; name: string }
  /** ld_imm64 of a `__ksym` variable: its address (typeless) or BTF id (typed). */
  | { kind: 'ksym'; name: string; typed: boolean; weak: boolean }
  /** call of a kernel function (kfunc) declared `extern … __ksym`. */
  | { kind: 'kfunc'; name: string; weak: boolean }
  /** bpf-to-bpf call, or ld_imm64 of a function address (callbacks), into a code section. */
  | { kind: 'call'; section: number; target: number; symbol: string };

/** A classified relocation: the instruction index inside its section and what it refers to. */
export interface SectionRelocation {
  insnIndex: number;
  ref: Reference;
}
