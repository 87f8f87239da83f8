// SPDX-License-Identifier: GPL-2.0
//
// Loader testdata: a program the verifier rejects, at a known source line.
//
// good_prog loads and returns 0. bad_prog reads 8 bytes at offset 40 of a
// 32-byte map value. The verifier rejects it with EACCES and a log ending in
// a message like
//   invalid access to map value, value_size=32 off=40 size=8
// The BTF line info (.BTF.ext) maps the failing instruction to the only line
// of this file that contains the marker "VERIFIER_FAIL" "_HERE" (written as one
// word in the code below). Tests find that line number by searching for the
// marker and expect the loader's error to name verifier_fail.bpf.c and that
// line (the kernel's own log shows "@ verifier_fail.bpf.c:<line>").

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct small_value {
	__u64 slots[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct small_value);
} small SEC(".maps");

SEC("syscall")
int good_prog(void *ctx)
{
	__u32 key = 0;
	struct small_value *v = bpf_map_lookup_elem(&small, &key);

	if (!v)
		return 0;
	v->slots[3] += 1;
	return 0;
}

SEC("syscall")
int bad_prog(void *ctx)
{
	__u32 key = 0;
	struct small_value *v = bpf_map_lookup_elem(&small, &key);

	if (!v)
		return 0;
	return *(__u64 *)((char *)v + 40); // VERIFIER_FAIL_HERE
}

char LICENSE[] SEC("license") = "GPL";
