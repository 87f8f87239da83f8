// SPDX-License-Identifier: GPL-2.0
//
// Loader testdata: global variables and subprograms.
//
// Exercises, for the loader's tests:
//   .data          data_counter (initialised, writable)
//   .bss           bss_result, bss_calls, bss_str (zeroed, writable)
//   .rodata        param_mul, param_add: `const volatile`, rewritable before load
//   .data.custom   custom_value: a custom data section, its own map
//   .rodata.str1.1 the string literal "tsbpf!" read through a pointer
//   .text          scale(): static subprogram; add_custom(): global (non-static)
//                  subprogram, verified on its own; both called from two programs.
//
// Expected results with the default parameters (mul 3, add 100), one
// BPF_PROG_TEST_RUN of each program on a fresh load, globals_main first:
//   globals_main:   data_counter 7 -> 8; bss_result = scale(8) + add_custom(1)
//                   = (8*3+100) + (1+42) = 167; bss_calls = 1;
//                   bss_str = "tsbpf!"; returns 167.
//   globals_second: returns scale(2) + add_custom(0) = 106 + 42 = 148 and
//                   sets bss_calls += 1.
// With param_mul = 5 and param_add = 1 set before load: 41 + 43 = 84 and 11 + 42 = 53.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

// Kernels before 5.14 have no BPF_PROG_TYPE_SYSCALL; the "_rawtp" variant
// builds the same programs as raw tracepoint programs, which BPF_PROG_TEST_RUN
// can also run (kernel >= 5.10), for the older kernels of the vmtest matrix.
// tsbpf-variant: rawtp -DTESTDATA_RAW_TP
#ifdef TESTDATA_RAW_TP
#define TEST_SEC "raw_tp/sys_enter"
#else
#define TEST_SEC "syscall"
#endif

const volatile __u32 param_mul = 3;
const volatile __u64 param_add = 100;

__u64 data_counter = 7;

__u64 bss_result;
__u32 bss_calls;
char bss_str[8];

__u64 custom_value SEC(".data.custom") = 42;

// Static subprogram: one copy in .text, called with BPF_PSEUDO_CALL.
static __noinline __u64 scale(__u64 x)
{
	return x * param_mul + param_add;
}

// Static subprogram copying a NUL-terminated string; `src` points into
// .rodata.str1.1.
static __noinline int copy_str(char *dst, const char *src)
{
	int i;

	for (i = 0; i < (int)sizeof(bss_str) - 1; i++) {
		dst[i] = src[i];
		if (src[i] == '\0')
			break;
	}
	dst[sizeof(bss_str) - 1] = '\0';
	return i;
}

// Global subprogram: its BTF FUNC has global linkage, so the verifier checks
// it once, independently of its callers.
__noinline int add_custom(int x)
{
	return x + (int)custom_value;
}

SEC(TEST_SEC)
int globals_main(void *ctx)
{
	data_counter += 1;
	bss_calls += 1;
	bss_result = scale(data_counter) + add_custom(1);
	copy_str(bss_str, "tsbpf!");
	return (int)bss_result;
}

SEC(TEST_SEC)
int globals_second(void *ctx)
{
	bss_calls += 1;
	return (int)(scale(2) + add_custom(0));
}

char LICENSE[] SEC("license") = "GPL";
