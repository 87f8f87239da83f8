/** ELF constants used by BPF objects (see elf(5)). */

/** `e_machine` of eBPF objects. */
export const EM_BPF = 247;

/** Section header types. */
export const SHT = {
  NULL: 0,
  PROGBITS: 1,
  SYMTAB: 2,
  STRTAB: 3,
  RELA: 4,
  NOBITS: 8,
  REL: 9,
  LLVM_ADDRSIG: 0x6fff4c03,
} as const;

/** Section flags. */
export const SHF = { WRITE: 0x1, ALLOC: 0x2, EXECINSTR: 0x4 } as const;

/** Symbol binding (`st_info >> 4`). */
export const STB = { LOCAL: 0, GLOBAL: 1, WEAK: 2 } as const;

/** Symbol type (`st_info & 0xf`). */
export const STT = { NOTYPE: 0, OBJECT: 1, FUNC: 2, SECTION: 3, FILE: 4 } as const;

/** Special section indexes. */
export const SHN = { UNDEF: 0, ABS: 0xfff1, COMMON: 0xfff2 } as const;

/** BPF relocation types (`R_BPF_*`). */
export const R_BPF = {
  NONE: 0,
  /** ld_imm64: 64-bit immediate split over two instruction slots. */
  '64_64': 1,
  /** 64-bit data (e.g. pointers inside .maps for map-in-map, .BTF). */
  '64_ABS64': 2,
  /** 32-bit data (DWARF, .BTF.ext). */
  '64_ABS32': 3,
  '64_NODYLD32': 4,
  /** call/jump to a function: 32-bit immediate in instruction units. */
  '64_32': 10,
} as const;
