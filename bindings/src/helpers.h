/* Small static-inline shims for DPDK macros that bindgen cannot see through. They are
 * exported to Rust by bindgen's wrap_static_fns, like DPDK's own static inline functions. */
#ifndef RVS_DPDK_HELPERS_H
#define RVS_DPDK_HELPERS_H

#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_ethdev.h>

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

#endif
