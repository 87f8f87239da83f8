// SPDX-License-Identifier: GPL-2.0
//
// vmtest testdata: object BTF with kinds old kernels reject (ENUM64 6.0, DECL_TAG 5.16,
// TYPE_TAG 5.17, FLOAT 5.13), carried by the types of .bss variables, and two raw_tp programs:
//   sanitize_ok      loads everywhere once the loader has sanitized the BTF; one
//                    BPF_PROG_TEST_RUN sets out_ran = 1 and returns 7
//   sanitize_reject  reads past the end of a map value: the verifier rejects it at the line
//                    marked VMTEST-REJECT-LINE, which the loader (line_info) and the kernel's
//                    verifier log (only when line_info was accepted) both name

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

enum vmtest_big {
	VMTEST_BIG_ONE = 1,
	VMTEST_BIG_HUGE = 0x123456789aULL,
};

struct vmtest_kinds {
	enum vmtest_big big;
	float ratio;
	int __attribute__((btf_type_tag("vmtest_tag"))) *tagged;
	int plain __attribute__((btf_decl_tag("vmtest_decl")));
};

struct vmtest_kinds kinds_holder = {};
__u64 out_ran = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} small SEC(".maps");

static __attribute__((noinline)) int __attribute__((btf_decl_tag("vmtest_func"))) helper(int x)
{
	return x + 6;
}

SEC("raw_tp/sys_enter")
int sanitize_ok(struct bpf_raw_tracepoint_args *ctx)
{
	out_ran = 1;
	return helper(1);
}

SEC("raw_tp/sys_enter")
int sanitize_reject(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&small, &key);

	if (!v)
		return 0;
	return *(v + 3); /* VMTEST-REJECT-LINE */
}

char LICENSE[] SEC("license") = "GPL";
