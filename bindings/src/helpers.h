/* Small static-inline shims for DPDK macros that bindgen cannot see through. They are
 * exported to Rust by bindgen's wrap_static_fns, like DPDK's own static inline functions. */
#ifndef RVS_DPDK_HELPERS_H
#define RVS_DPDK_HELPERS_H

#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_ethdev.h>
#include <rte_flow.h>
#include <rte_byteorder.h>

/* rte_errno is a macro over a per-lcore (thread-local) variable. */
static inline int rvs_rte_errno(void)
{
	return rte_errno;
}

static inline void rvs_rte_errno_set(int e)
{
	rte_errno = e;
}

/* rte_pktmbuf_mtod(m, void *): start of the data in the first segment. */
static inline void *rvs_pktmbuf_mtod(struct rte_mbuf *m)
{
	return rte_pktmbuf_mtod(m, void *);
}

static inline uint16_t rvs_pktmbuf_data_len(const struct rte_mbuf *m)
{
	return rte_pktmbuf_data_len(m);
}

static inline uint32_t rvs_pktmbuf_pkt_len(const struct rte_mbuf *m)
{
	return rte_pktmbuf_pkt_len(m);
}

/* The RTE_ETH_RSS_* flags are RTE_BIT64() macros, which bindgen cannot evaluate. */
static inline uint64_t rvs_eth_rss_ip_tcp_udp(void)
{
	return RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;
}

/* The IPv4 TCP and UDP hash types that hash over the 4-tuple (addresses and ports). */
static inline uint64_t rvs_eth_rss_ipv4_tcp_udp_ports(void)
{
	return RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_NONFRAG_IPV4_UDP;
}

/* RTE_ETH_RX_OFFLOAD_{IPV4,TCP,UDP}_CKSUM, RTE_BIT64() macros as well. */
static inline uint64_t rvs_eth_rx_offload_checksums(void)
{
	return RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
}

/* One ingress flow rule: ETH / IPV4 dst == dst_be / TCP or UDP (proto 6 or 17)
 * dst port & dport_mask == dport / -> QUEUE queue. `dst_be` is in network byte order,
 * the ports in host order. With `flow` NULL the rule is only validated
 * (rte_flow_validate), otherwise created and *flow set (rte_flow_create). Returns 0 or
 * a negative errno; `error` says what the PMD objected to. The pattern lives on this
 * stack frame: rte_flow copies what it keeps. */
static inline int rvs_flow_dst_port_queue(uint16_t port_id, uint32_t dst_be, uint8_t proto,
					  uint16_t dport, uint16_t dport_mask, uint16_t queue,
					  struct rte_flow **flow, struct rte_flow_error *error)
{
	struct rte_flow_attr attr = { .ingress = 1 };
	struct rte_flow_item_ipv4 ip_spec = { .hdr = { .dst_addr = dst_be } };
	struct rte_flow_item_ipv4 ip_mask = { .hdr = { .dst_addr = RTE_BE32(0xffffffff) } };
	struct rte_flow_item_tcp tcp_spec = { .hdr = { .dst_port = rte_cpu_to_be_16(dport) } };
	struct rte_flow_item_tcp tcp_mask = { .hdr = { .dst_port = rte_cpu_to_be_16(dport_mask) } };
	struct rte_flow_item_udp udp_spec = { .hdr = { .dst_port = rte_cpu_to_be_16(dport) } };
	struct rte_flow_item_udp udp_mask = { .hdr = { .dst_port = rte_cpu_to_be_16(dport_mask) } };
	struct rte_flow_item pattern[4] = {
		{ .type = RTE_FLOW_ITEM_TYPE_ETH },
		{ .type = RTE_FLOW_ITEM_TYPE_IPV4, .spec = &ip_spec, .mask = &ip_mask },
		{ .type = RTE_FLOW_ITEM_TYPE_END },
		{ .type = RTE_FLOW_ITEM_TYPE_END },
	};
	struct rte_flow_action_queue q = { .index = queue };
	struct rte_flow_action actions[2] = {
		{ .type = RTE_FLOW_ACTION_TYPE_QUEUE, .conf = &q },
		{ .type = RTE_FLOW_ACTION_TYPE_END },
	};
	struct rte_flow *f;

	if (proto == IPPROTO_TCP) {
		pattern[2].type = RTE_FLOW_ITEM_TYPE_TCP;
		pattern[2].spec = &tcp_spec;
		pattern[2].mask = &tcp_mask;
	} else if (proto == IPPROTO_UDP) {
		pattern[2].type = RTE_FLOW_ITEM_TYPE_UDP;
		pattern[2].spec = &udp_spec;
		pattern[2].mask = &udp_mask;
	} else {
		return -EINVAL;
	}
	if (flow == NULL)
		return rte_flow_validate(port_id, &attr, pattern, actions, error);
	f = rte_flow_create(port_id, &attr, pattern, actions, error);
	if (f == NULL)
		return rte_errno > 0 ? -rte_errno : -EIO;
	*flow = f;
	return 0;
}

#endif
