// SPDX-License-Identifier: GPL-2.0
//
// Loader testdata: BTF-defined maps of many kinds.
//
//   map            type                 key / value                     notes
//   hash_struct    HASH                 struct map_key / struct map_value enum, char array,
//                                                                       nested struct, u64
//   hash_noprealloc HASH                u32 / u64                       BPF_F_NO_PREALLOC
//   array_u64      ARRAY                u32 / u64                       8 entries
//   percpu_hash    PERCPU_HASH          u32 / u64
//   percpu_array   PERCPU_ARRAY         u32 / struct map_value
//   lru_hash       LRU_HASH             u64 / u32
//   events_rb      RINGBUF              -                               4096 bytes
//   events_perf    PERF_EVENT_ARRAY     u32 / u32 (sizes only)          max_entries 0: the loader
//                                                                       sets the number of CPUs
//   stacks         STACK_TRACE          u32 / u64[16]
//   fifo           QUEUE                - / u32                         8 entries
//   lifo           STACK                - / u32                         8 entries
//   inner_a/b      ARRAY                u32 / u64                       inner maps of outer_array
//   outer_array    ARRAY_OF_MAPS        u32 / inner array               slot 0 = inner_a,
//                                                                       slot 1 = inner_b (static init)
//   outer_hash     HASH_OF_MAPS         u32 / inner HASH u32->u32       inner defined inline, empty
//   pinned_counter ARRAY                u32 / u64                       LIBBPF_PIN_BY_NAME
//
// maps_update (SEC("syscall"), run with BPF_PROG_TEST_RUN) writes:
//   hash_struct[{id 1, COLOR_GREEN, "key-one"}] = {{3, -4}, 0x1122334455667788,
//                                                  "value-one", COLOR_BLUE}
//   hash_noprealloc[7] = 70, array_u64[2] = 0xdeadbeef, percpu_hash[5] = 55 (this CPU),
//   percpu_array[0].counter += 1, lru_hash[99] = 9, fifo <- 11, 12; lifo <- 21, 22,
//   inner_b[1] (through outer_array[1]) = 4242, pinned_counter[0] += 1,
//   one 16-byte record {magic 0x74736270, seq 1, value 0xabcdef} to events_rb,
// and returns the number of successful updates (13) or -(step) on the first failure.
// maps_trace (SEC("raw_tp/sys_enter")) uses events_perf and stacks, which sleepable
// syscall programs may not touch.

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

enum map_color {
	COLOR_RED = 0,
	COLOR_GREEN = 5,
	COLOR_BLUE = 10,
};

struct map_point {
	__s32 x;
	__s32 y;
};

struct map_key {
	__u32 id;
	enum map_color color;
	char name[8];
};

struct map_value {
	struct map_point point;
	__u64 counter;
	char label[16];
	enum map_color color;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, struct map_key);
	__type(value, struct map_value);
} hash_struct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, __u64);
} hash_noprealloc SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} array_u64 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} percpu_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct map_value);
} percpu_array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 64);
	__type(key, __u64);
	__type(value, __u32);
} lru_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events_rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events_perf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 128);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 16 * sizeof(__u64));
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 8);
	__type(value, __u32);
} fifo SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, 8);
	__type(value, __u32);
} lifo SEC(".maps");

struct inner_array {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
};

struct inner_array inner_a SEC(".maps");
struct inner_array inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner_array);
} outer_array SEC(".maps") = {
	.values = { [0] = &inner_a, [1] = &inner_b },
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 8);
	__type(key, __u32);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_HASH);
		__uint(max_entries, 16);
		__type(key, __u32);
		__type(value, __u32);
	});
} outer_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pinned_counter SEC(".maps");

struct rb_record {
	__u32 magic;
	__u32 seq;
	__u64 value;
};

SEC(TEST_SEC)
int maps_update(void *ctx)
{
	struct map_key key = {
		.id = 1,
		.color = COLOR_GREEN,
		.name = "key-one",
	};
	struct map_value val = {
		.point = { .x = 3, .y = -4 },
		.counter = 0x1122334455667788ULL,
		.label = "value-one",
		.color = COLOR_BLUE,
	};
	struct rb_record rec = { .magic = 0x74736270, .seq = 1, .value = 0xabcdef };
	struct map_value *pv;
	__u32 k32, v32;
	__u64 k64, v64, *p64;
	void *inner;
	int ok = 0;

	if (bpf_map_update_elem(&hash_struct, &key, &val, BPF_ANY))
		return -1;
	ok++;

	k32 = 7;
	v64 = 70;
	if (bpf_map_update_elem(&hash_noprealloc, &k32, &v64, BPF_ANY))
		return -2;
	ok++;

	k32 = 2;
	v64 = 0xdeadbeef;
	if (bpf_map_update_elem(&array_u64, &k32, &v64, BPF_ANY))
		return -3;
	ok++;

	k32 = 5;
	v64 = 55;
	if (bpf_map_update_elem(&percpu_hash, &k32, &v64, BPF_ANY))
		return -4;
	ok++;

	k32 = 0;
	pv = bpf_map_lookup_elem(&percpu_array, &k32);
	if (!pv)
		return -5;
	pv->counter += 1;
	ok++;

	k64 = 99;
	v32 = 9;
	if (bpf_map_update_elem(&lru_hash, &k64, &v32, BPF_ANY))
		return -6;
	ok++;

	v32 = 11;
	if (bpf_map_push_elem(&fifo, &v32, 0))
		return -7;
	v32 = 12;
	if (bpf_map_push_elem(&fifo, &v32, 0))
		return -8;
	ok += 2;

	v32 = 21;
	if (bpf_map_push_elem(&lifo, &v32, 0))
		return -9;
	v32 = 22;
	if (bpf_map_push_elem(&lifo, &v32, 0))
		return -10;
	ok += 2;

	k32 = 1;
	inner = bpf_map_lookup_elem(&outer_array, &k32);
	if (!inner)
		return -11;
	v64 = 4242;
	if (bpf_map_update_elem(inner, &k32, &v64, BPF_ANY))
		return -12;
	ok++;

	k32 = 0;
	p64 = bpf_map_lookup_elem(&pinned_counter, &k32);
	if (!p64)
		return -13;
	__sync_fetch_and_add(p64, 1);
	ok++;

	if (bpf_ringbuf_output(&events_rb, &rec, sizeof(rec), 0))
		return -14;
	ok++;

	return ok;
}

// Not run by tests; only loaded, so that the perf event array and the stack
// trace map are referenced by a program that may use them.
SEC("raw_tp/sys_enter")
int maps_trace(void *ctx)
{
	struct rb_record rec = { .magic = 0x74736270, .seq = 2 };
	__u32 k32 = 3;
	void *inner;

	rec.value = bpf_get_stackid(ctx, &stacks, 0);
	bpf_perf_event_output(ctx, &events_perf, BPF_F_CURRENT_CPU, &rec, sizeof(rec));
	inner = bpf_map_lookup_elem(&outer_hash, &k32);
	if (inner)
		bpf_map_delete_elem(inner, &k32);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
