/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tsbpf gadget conventions: metadata markers.
 *
 * A gadget object describes itself to the TypeScript runtime through marker
 * symbols: zero-cost global pointers whose *names* carry the metadata and
 * whose BTF (type of a companion pointer) ties a name to a struct. The
 * runtime finds them in the ELF symbol table and in the BTF DATASEC of
 * .bss; their values are never read by anyone. See bpf/README.md.
 *
 * Separator between the parts of a marker name: three underscores ("___"),
 * because single and double underscores occur in C identifiers.
 */
#ifndef __TSBPF_GADGET_MACROS_H
#define __TSBPF_GADGET_MACROS_H

#include <bpf/bpf_helpers.h>

/* Keeps a marker in the object even though no program references it. */
#define __gadget_marker __attribute__((unused))

/*
 * GADGET_TRACER(name, map, type)
 *
 * Declares a tracer called <name> that sends `struct <type>` records through
 * the output map <map> (declared with GADGET_TRACER_MAP). Emits
 *   gadget_tracer_<name>___<map>___<type>     (the marker)
 *   gadget_tracer_type_<name>                 (a `const struct <type> *`, so the
 *                                              struct reaches BTF even when only
 *                                              written through a void pointer)
 */
#define GADGET_TRACER(name, map, type)                                       \
	const void *gadget_tracer_##name##___##map##___##type __gadget_marker; \
	const struct type *gadget_tracer_type_##name __gadget_marker

/*
 * GADGET_PARAM(var)
 *
 * Marks the `const volatile` global <var> (in .rodata) as a user-settable
 * parameter: the runtime rewrites its initial value before load. The default
 * is the C initializer. Emits gadget_param_<var>. The static assertion makes
 * a typo in <var> a compile error instead of a silently missing parameter.
 */
#define GADGET_PARAM(var)                                                   \
	_Static_assert(sizeof(var) > 0, "GADGET_PARAM: unknown variable " #var); \
	const void *gadget_param_##var __gadget_marker

/*
 * GADGET_TRACER_MAP(name, size)
 *
 * Declares the output map <name>: a BPF_MAP_TYPE_RINGBUF of <size> bytes
 * (a power of two, multiple of the page size), plus
 *   gadget_tracer_map_<name>   marker naming the map as a tracer output
 *   gadget_drops_<name>        __u64 in .bss counting records that could not
 *                              be reserved or sent (see buffer.h)
 * On kernels without ring buffers (< 5.8) the loader turns this map into a
 * BPF_MAP_TYPE_PERF_EVENT_ARRAY (key/value 4 bytes, one entry per CPU)
 * before creating it; buffer.h already picks the matching helpers through
 * CO-RE, so the program needs no change.
 */
#define GADGET_TRACER_MAP(name, size)                        \
	struct {                                             \
		__uint(type, BPF_MAP_TYPE_RINGBUF);          \
		__uint(max_entries, size);                   \
	} name SEC(".maps");                                 \
	const void *gadget_tracer_map_##name __gadget_marker; \
	__u64 gadget_drops_##name

#endif /* __TSBPF_GADGET_MACROS_H */
