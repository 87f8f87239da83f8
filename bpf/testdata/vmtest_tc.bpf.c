// SPDX-License-Identifier: GPL-2.0
//
// vmtest testdata: a traffic-control classifier for the tc attach checks. Kernels before 6.6 have no
// tcx, so there the loader attaches it through a clsact qdisc and a cls_bpf filter over netlink.
//
//   on_tc   counts IPv4 UDP packets to port `target_port` (const volatile, set before load) and lets
//           every packet through (TC_ACT_OK): the check sends a known number of datagrams over `lo`.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define IPPROTO_UDP_NR 17
#define TC_ACT_OK 0

const volatile __u16 target_port = 0;

__u64 tc_hits = 0;

SEC("tc")
int on_tc(struct __sk_buff *skb)
{
	__u8 ip[20];
	__u16 dport;
	__u32 ihl;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, ip, sizeof(ip)) < 0)
		return TC_ACT_OK;
	if (ip[9] != IPPROTO_UDP_NR)
		return TC_ACT_OK;
	ihl = (ip[0] & 0x0f) * 4;
	if (bpf_skb_load_bytes(skb, ETH_HLEN + ihl + 2, &dport, sizeof(dport)) < 0)
		return TC_ACT_OK;
	if (dport == bpf_htons(target_port))
		tc_hits++;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
