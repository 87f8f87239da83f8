// SPDX-License-Identifier: GPL-2.0
//
// Loader testdata: legacy map definitions in SEC("maps").
//
// Before BTF-defined maps, a map was a struct of plain integers in the "maps"
// section; the loader learns the map's shape from the bytes, not from BTF.
// libbpf 1.0 dropped them, our loader still reads them. The struct layout is
// the one old loaders used: five u32 fields, 20 bytes per map, maps packed
// back to back (the symbol's offset and size locate each one).
//
//   legacy_hash   HASH   key 4, value 8, 16 entries
//   legacy_array  ARRAY  key 4, value 8, 4 entries
//   legacy_nopre  HASH   key 8, value 4, 8 entries, BPF_F_NO_PREALLOC
//
// legacy_update (SEC("syscall")) sets legacy_hash[1] = 100, legacy_array[3] = 300,
// legacy_nopre[5] = 50 and returns 3 (or -step on failure).

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

struct bpf_map_def_legacy {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct bpf_map_def_legacy legacy_hash SEC("maps") = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 16,
};

struct bpf_map_def_legacy legacy_array SEC("maps") = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 4,
};

struct bpf_map_def_legacy legacy_nopre SEC("maps") = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u64),
	.value_size = sizeof(__u32),
	.max_entries = 8,
	.map_flags = BPF_F_NO_PREALLOC,
};

SEC(TEST_SEC)
int legacy_update(void *ctx)
{
	__u32 k32 = 1, v32 = 50;
	__u64 k64 = 5, v64 = 100;

	if (bpf_map_update_elem(&legacy_hash, &k32, &v64, BPF_ANY))
		return -1;
	k32 = 3;
	v64 = 300;
	if (bpf_map_update_elem(&legacy_array, &k32, &v64, BPF_ANY))
		return -2;
	if (bpf_map_update_elem(&legacy_nopre, &k64, &v32, BPF_ANY))
		return -3;
	return 3;
}

char LICENSE[] SEC("license") = "GPL";
