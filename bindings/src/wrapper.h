/* Everything dpdk-sys binds. rte_config.h also comes in via `-include` from pkg-config's
 * cflags; including it first here keeps the header usable on its own. */
#include <rte_config.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_errno.h>
#include <rte_cycles.h>
#include <rte_version.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ethdev.h>
#include <rte_flow.h>
#include <rte_bus_vdev.h>
#include <rte_dev.h>

#include "helpers.h"
