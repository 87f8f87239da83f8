// SPDX-License-Identifier: GPL-2.0
//
// Loader testdata: __kconfig and __ksym externs.
//
// The loader resolves these before load:
//   __kconfig  from the kernel config (/proc/config.gz or /boot/config-$(uname -r)),
//              plus the loader-computed LINUX_KERNEL_VERSION and
//              LINUX_HAS_SYSCALL_WRAPPER. Values land in a read-only ".kconfig" map.
//   __ksym     typeless (const void): the address from /proc/kallsyms;
//              typed: the kernel BTF VAR id (ld_imm64 BPF_PSEUDO_BTF_ID).
//   __weak     externs that do not exist resolve to 0 / NULL instead of failing.
//
// kconfig_read (SEC("syscall"), one BPF_PROG_TEST_RUN) copies everything into
// .bss, where tests compare it with /proc/config.gz, uname and kallsyms:
//   out_kernel_version   LINUX_KERNEL_VERSION (KERNEL_VERSION(a,b,c) = a<<16|b<<8|min(c,255))
//   out_syscall_wrapper  LINUX_HAS_SYSCALL_WRAPPER: 1 when syscalls enter through
//                        __x64_sys_* wrappers (x86_64 >= 4.17, e.g. __x64_sys_bpf in
//                        kallsyms). libbpf finds out with a kprobe, so it says 0
//                        where kprobes are off; the expected value here is 1.
//   out_bpf_syscall      CONFIG_BPF_SYSCALL as bool (1 for =y)
//   out_tun              CONFIG_TUN as tristate (TRI_NO 0 / TRI_YES 1 / TRI_MODULE 2)
//   out_hz               CONFIG_HZ as int
//   out_hostname         CONFIG_DEFAULT_HOSTNAME as char[16] (without the quotes)
//   out_missing          CONFIG_TSBPF_DOES_NOT_EXIST (weak int): 0
//   out_text_addr        &_text (typeless ksym), equal to _text in /proc/kallsyms
//   out_missing_ksym     &tsbpf_no_such_symbol (weak typeless ksym): 0
//   out_prog_active_ok   1 when bpf_this_cpu_ptr(&bpf_prog_active) (typed per-CPU
//                        ksym) returned a pointer         [kconfig_typed.bpf.o only]
//   out_prog_active      the value read through it        [kconfig_typed.bpf.o only]
// and returns 1.
//
// The typed ksym lives in a variant because the kernel resolves a typed
// variable's address with kallsyms, which only lists data symbols with
// CONFIG_KALLSYMS_ALL=y. Without it (this CI machine) loading
// kconfig_typed.bpf.o fails with ENOENT and the verifier log line
// "ldimm64 failed to find the address for kernel symbol 'bpf_prog_active'";
// probe with: grep -w bpf_prog_active /proc/kallsyms.
//
// tsbpf-variant: typed -DKCONFIG_TYPED_KSYM

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

extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern bool LINUX_HAS_SYSCALL_WRAPPER __kconfig;
extern bool CONFIG_BPF_SYSCALL __kconfig;
extern enum libbpf_tristate CONFIG_TUN __kconfig __weak;
extern int CONFIG_HZ __kconfig;
extern char CONFIG_DEFAULT_HOSTNAME[16] __kconfig;
extern int CONFIG_TSBPF_DOES_NOT_EXIST __kconfig __weak;

extern const void _text __ksym;
extern const void tsbpf_no_such_symbol __ksym __weak;
#ifdef KCONFIG_TYPED_KSYM
extern const int bpf_prog_active __ksym;
#endif

__u32 out_kernel_version;
__u8 out_syscall_wrapper;
__u8 out_bpf_syscall;
__u8 out_tun;
__s32 out_hz;
char out_hostname[16];
__s32 out_missing;
__u64 out_text_addr;
__u64 out_missing_ksym;
__u32 out_prog_active_ok;
__s32 out_prog_active;

SEC(TEST_SEC)
int kconfig_read(void *ctx)
{
	int i;

	out_kernel_version = LINUX_KERNEL_VERSION;
	out_syscall_wrapper = LINUX_HAS_SYSCALL_WRAPPER;
	out_bpf_syscall = CONFIG_BPF_SYSCALL;
	out_tun = CONFIG_TUN;
	out_hz = CONFIG_HZ;
	for (i = 0; i < (int)sizeof(out_hostname); i++)
		out_hostname[i] = CONFIG_DEFAULT_HOSTNAME[i];
	out_missing = CONFIG_TSBPF_DOES_NOT_EXIST;

	out_text_addr = (__u64)&_text;
	out_missing_ksym = (__u64)&tsbpf_no_such_symbol;

#ifdef KCONFIG_TYPED_KSYM
	const int *active = bpf_this_cpu_ptr(&bpf_prog_active);

	if (active) {
		out_prog_active_ok = 1;
		out_prog_active = *active;
	}
#endif
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
