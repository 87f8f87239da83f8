// SPDX-License-Identifier: Apache-2.0
// Kernel BTF peer: btf__load_vmlinux_btf + btf__find_by_name_kind("task_struct", STRUCT).
//   btf first           one call in this fresh process
//   btf repeat <n>      n calls (each loads and frees), one sample per call
// Prints one JSON line: {"libbpf": ..., "firstMs"|"samplesMs": ..., "typeId": ..., "vmhwmKb": ...}
#include "common.h"
#include <bpf/btf.h>
#include <errno.h>

int main(int argc, char **argv)
{
	int repeat = argc > 2 && strcmp(argv[1], "repeat") == 0 ? atoi(argv[2]) : 0;
	peer_init();
	if (repeat <= 0) {
		double t0 = now_ms();
		struct btf *b = btf__load_vmlinux_btf();
		if (!b) {
			fprintf(stderr, "btf__load_vmlinux_btf: %s\n", strerror(errno));
			return 1;
		}
		int id = btf__find_by_name_kind(b, "task_struct", BTF_KIND_STRUCT);
		double t1 = now_ms();
		printf("{\"libbpf\":\"%s\",\"firstMs\":%.4f,\"typeId\":%d,\"vmhwmKb\":%ld}\n", peer_libbpf_version(), t1 - t0, id,
		       status_kb("VmHWM"));
		btf__free(b);
		return id > 0 ? 0 : 1;
	}
	printf("{\"libbpf\":\"%s\",\"samplesMs\":[", peer_libbpf_version());
	int id = 0;
	for (int i = 0; i < repeat; i++) {
		double t0 = now_ms();
		struct btf *b = btf__load_vmlinux_btf();
		if (!b)
			return 1;
		id = btf__find_by_name_kind(b, "task_struct", BTF_KIND_STRUCT);
		double t1 = now_ms();
		btf__free(b);
		printf("%s%.4f", i ? "," : "", t1 - t0);
	}
	printf("],\"typeId\":%d,\"vmhwmKb\":%ld}\n", id, status_kb("VmHWM"));
	return id > 0 ? 0 : 1;
}
