//! Ethernet ports: setup, bursts, stats.

use std::ffi::{c_char, CStr, CString};
use std::sync::atomic::{AtomicU32, Ordering};

use dpdk_sys as sys;

use super::error::check;
use super::{DpdkError, Mbuf, Mempool};

const EINVAL: i32 = 22;
const ENOTSUP: i32 = 95;
const MAX_PORTS: usize = sys::RTE_MAX_ETHPORTS as usize;
const RETA_GROUP: usize = sys::RTE_ETH_RETA_GROUP_SIZE as usize;

/// The 64-entry groups `rte_eth_dev_rss_reta_{query,update}` take for a table of `size`
/// entries (masks clear).
fn reta_groups(size: u16) -> Result<Vec<sys::rte_eth_rss_reta_entry64>, DpdkError> {
    if size == 0 {
        return Err(DpdkError::new("RSS RETA of 0 entries", EINVAL));
    }
    Ok((0..(size as usize).div_ceil(RETA_GROUP)).map(|_| sys::rte_eth_rss_reta_entry64::default()).collect())
}

/// Per port, `nb_rxq | nb_txq << 16` while the port is started by `Port::configure`,
/// 0 otherwise. DPDK's burst functions do not check the queue id (only debug builds of
/// DPDK do): an id past the configured queues reads past the queue array. The bursts
/// check it here (one relaxed-cost atomic load per burst), and the Release/Acquire pair
/// keeps a burst from seeing a half-started port.
static STARTED_QUEUES: [AtomicU32; MAX_PORTS] = [const { AtomicU32::new(0) }; MAX_PORTS];

/// An Ethernet port (`port_id`), validated at construction.
///
/// `Copy + Send`: DPDK lets distinct threads burst on distinct queues of one port
/// concurrently. What the type does not enforce, and callers must keep to (DPDK's
/// contract, not checked at run time):
/// * one thread at a time per (port, rx queue) and per (port, tx queue);
/// * `configure`, `stop`, `close` and `stats_reset` from one control thread, and
///   `stop`/`close` only after the workers bursting on the port have stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Port {
    id: u16,
}

/// Static facts about a port (`rte_eth_dev_info_get`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortInfo {
    pub driver: String,
    pub max_rx_queues: u16,
    pub max_tx_queues: u16,
    pub max_rx_desc: u16,
    pub max_tx_desc: u16,
    pub max_rx_pktlen: u32,
    pub min_mtu: u16,
    pub max_mtu: u16,
    /// The kernel ifindex for PMDs on a kernel interface (0 otherwise; af_packet leaves it 0).
    pub if_index: u32,
    /// Hash types the device can spread over rx queues (0: no RSS, e.g. af_packet, ring).
    pub rss_offloads: u64,
    /// Rx offloads the device offers (`RTE_ETH_RX_OFFLOAD_*`).
    pub rx_offload_capa: u64,
    /// Entries of the RSS redirection table (0 when the PMD has none or does not say).
    pub reta_size: u16,
    /// Bytes of the RSS hash key (0 when the PMD does not say).
    pub hash_key_size: u8,
}

/// The RSS hash configuration a started port reports (`rte_eth_dev_rss_hash_conf_get`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RssHashConf {
    pub key: Vec<u8>,
    /// The hash types in use (`RTE_ETH_RSS_*`).
    pub rss_hf: u64,
}

impl RssHashConf {
    /// Whether IPv4 TCP and UDP packets are hashed over addresses and ports, i.e. the
    /// Toeplitz 4-tuple a local port choice can aim at.
    pub fn hashes_ipv4_ports(&self) -> bool {
        // SAFETY: returns a constant.
        let want = unsafe { sys::rvs_eth_rss_ipv4_tcp_udp_ports() };
        self.rss_hf & want == want
    }
}

/// Port counters (`rte_eth_stats_get`), totals since start or the last reset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortStats {
    pub ipackets: u64,
    pub opackets: u64,
    pub ibytes: u64,
    pub obytes: u64,
    /// Dropped by the device because rx queues were full.
    pub imissed: u64,
    pub ierrors: u64,
    pub oerrors: u64,
    /// Rx failures for lack of mbufs.
    pub rx_nombuf: u64,
}

impl Port {
    /// The port of a device by its EAL name (e.g. "net_af_packet0").
    pub fn by_name(name: &str) -> Result<Port, DpdkError> {
        let call = || format!("rte_eth_dev_get_port_by_name({name:?})");
        let cname = CString::new(name).map_err(|_| DpdkError::new(call(), EINVAL))?;
        let mut id = 0u16;
        // SAFETY: valid C string and out-pointer.
        check(call, unsafe { sys::rte_eth_dev_get_port_by_name(cname.as_ptr(), &mut id) })?;
        Ok(Port { id })
    }

    /// A port by id, if such a port exists.
    pub fn from_id(id: u16) -> Result<Port, DpdkError> {
        // SAFETY: plain lookup.
        if (id as usize) < MAX_PORTS && unsafe { sys::rte_eth_dev_is_valid_port(id) } == 1 {
            Ok(Port { id })
        } else {
            Err(DpdkError::new(format!("rte_eth_dev_is_valid_port({id})"), 19 /* ENODEV */))
        }
    }

    /// Number of usable ports (`rte_eth_dev_count_avail`).
    pub fn count() -> u16 {
        // SAFETY: plain query.
        unsafe { sys::rte_eth_dev_count_avail() }
    }

    #[inline]
    pub fn id(&self) -> u16 {
        self.id
    }

    /// The device name EAL knows the port by.
    pub fn name(&self) -> Result<String, DpdkError> {
        let mut buf = [0 as c_char; sys::RTE_ETH_NAME_MAX_LEN as usize];
        // SAFETY: the buffer has the size DPDK documents as the maximum.
        check(|| format!("rte_eth_dev_get_name_by_port({})", self.id), unsafe {
            sys::rte_eth_dev_get_name_by_port(self.id, buf.as_mut_ptr())
        })?;
        // SAFETY: DPDK wrote a NUL-terminated string.
        Ok(unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned())
    }

    fn raw_info(&self) -> Result<sys::rte_eth_dev_info, DpdkError> {
        let mut info = sys::rte_eth_dev_info::default();
        // SAFETY: valid out-pointer.
        check(|| format!("rte_eth_dev_info_get(port {})", self.id), unsafe {
            sys::rte_eth_dev_info_get(self.id, &mut info)
        })?;
        Ok(info)
    }

    pub fn info(&self) -> Result<PortInfo, DpdkError> {
        let i = self.raw_info()?;
        let driver = if i.driver_name.is_null() {
            String::new()
        } else {
            // SAFETY: the driver name is a static string.
            unsafe { CStr::from_ptr(i.driver_name) }.to_string_lossy().into_owned()
        };
        Ok(PortInfo {
            driver,
            max_rx_queues: i.max_rx_queues,
            max_tx_queues: i.max_tx_queues,
            max_rx_desc: i.rx_desc_lim.nb_max,
            max_tx_desc: i.tx_desc_lim.nb_max,
            max_rx_pktlen: i.max_rx_pktlen,
            min_mtu: i.min_mtu,
            max_mtu: i.max_mtu,
            if_index: i.if_index,
            rss_offloads: i.flow_type_rss_offloads,
            rx_offload_capa: i.rx_offload_capa,
            reta_size: i.reta_size,
            hash_key_size: i.hash_key_size,
        })
    }

    /// The NUMA socket of the device, `None` when unknown.
    pub fn socket(&self) -> Option<u32> {
        // SAFETY: plain query.
        let s = unsafe { sys::rte_eth_dev_socket_id(self.id) };
        (s >= 0).then_some(s as u32)
    }

    /// Configures and starts a stopped port: `nb_rxq` rx queues fed from `pool` and
    /// `nb_txq` tx queues, with `rx_desc`/`tx_desc` descriptors each (clamped to the
    /// device's limits; af_packet ignores them, its ring size is the `framecnt` devarg),
    /// on the port's NUMA socket. The device configuration is DPDK's zeroed default,
    /// except that with more than one rx queue on a device that has RSS, RSS over
    /// IP/TCP/UDP is turned on (otherwise every packet would land on queue 0; af_packet
    /// has no RSS, it spreads with a kernel fanout group), and the IPv4, TCP and UDP rx
    /// checksum offloads the device offers are asked for (the mbufs' `ol_flags` then carry
    /// the NIC's verdict, see `Mbuf::ip_checksum_ok`). Then promiscuous mode is enabled
    /// where the PMD supports it (failures are logged, not returned).
    pub fn configure(
        &self,
        nb_rxq: u16,
        nb_txq: u16,
        rx_desc: u16,
        tx_desc: u16,
        pool: &Mempool,
    ) -> Result<(), DpdkError> {
        let id = self.id;
        let info = self.raw_info()?;
        if nb_rxq == 0 || nb_txq == 0 || nb_rxq > info.max_rx_queues || nb_txq > info.max_tx_queues {
            return Err(DpdkError::new(
                format!(
                    "configure(port {id}, rxq {nb_rxq}, txq {nb_txq}): device allows 1..={} rx and 1..={} tx queues",
                    info.max_rx_queues, info.max_tx_queues
                ),
                EINVAL,
            ));
        }
        let mut conf = sys::rte_eth_conf::default();
        if nb_rxq > 1 && info.flow_type_rss_offloads != 0 {
            conf.rxmode.mq_mode = sys::RTE_ETH_MQ_RX_RSS;
            // SAFETY: returns a constant.
            conf.rx_adv_conf.rss_conf.rss_hf =
                unsafe { sys::rvs_eth_rss_ip_tcp_udp() } & info.flow_type_rss_offloads;
        }
        // SAFETY: returns a constant.
        let rx_cksum = unsafe { sys::rvs_eth_rx_offload_checksums() } & info.rx_offload_capa;
        conf.rxmode.offloads |= rx_cksum;
        // A started port fails here with EBUSY and keeps running (its bursts stay open).
        // SAFETY: valid port and conf; DPDK copies the conf.
        check(|| format!("rte_eth_dev_configure(port {id}, {nb_rxq}, {nb_txq})"), unsafe {
            sys::rte_eth_dev_configure(id, nb_rxq, nb_txq, &conf)
        })?;
        let (mut nb_rxd, mut nb_txd) = (rx_desc, tx_desc);
        // SAFETY: valid out-pointers.
        check(|| format!("rte_eth_dev_adjust_nb_rx_tx_desc(port {id})"), unsafe {
            sys::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut nb_rxd, &mut nb_txd)
        })?;
        // SOCKET_ID_ANY (-1) becomes u32::MAX, which DPDK reads as SOCKET_ID_ANY again.
        // SAFETY: plain query.
        let socket = unsafe { sys::rte_eth_dev_socket_id(id) } as u32;
        for q in 0..nb_rxq {
            // SAFETY: configured port, valid pool; NULL rxconf = the driver's default.
            check(|| format!("rte_eth_rx_queue_setup(port {id}, queue {q}, {nb_rxd} desc)"), unsafe {
                sys::rte_eth_rx_queue_setup(id, q, nb_rxd, socket, std::ptr::null(), pool.as_ptr())
            })?;
        }
        for q in 0..nb_txq {
            // SAFETY: configured port; NULL txconf = the driver's default.
            check(|| format!("rte_eth_tx_queue_setup(port {id}, queue {q}, {nb_txd} desc)"), unsafe {
                sys::rte_eth_tx_queue_setup(id, q, nb_txd, socket, std::ptr::null())
            })?;
        }
        // SAFETY: all queues set up.
        check(|| format!("rte_eth_dev_start(port {id})"), unsafe { sys::rte_eth_dev_start(id) })?;
        // SAFETY: started port.
        let ret = unsafe { sys::rte_eth_promiscuous_enable(id) };
        if ret == -ENOTSUP {
            tracing::debug!(port = id, "promiscuous mode not supported by the PMD");
        } else if ret < 0 {
            tracing::warn!(port = id, error = %DpdkError::new("rte_eth_promiscuous_enable", ret), "promiscuous mode");
        }
        STARTED_QUEUES[id as usize].store(u32::from(nb_rxq) | u32::from(nb_txq) << 16, Ordering::Release);
        let discarded = self.discard_received(nb_rxq);
        tracing::debug!(
            port = id,
            nb_rxq,
            nb_txq,
            nb_rxd,
            nb_txd,
            rx_cksum_offloads = rx_cksum,
            discarded,
            "port started"
        );
        Ok(())
    }

    /// Frees whatever the rx queues hold before any worker polls them; returns how many.
    /// af_packet maps each queue's ring before it binds the socket to its interface, so
    /// a queue can hold frames of another interface of the namespace (another port's
    /// multicast, say) received in between: a port must not forward those as its own.
    /// On a NIC this only drops what arrived while rvsd was starting.
    fn discard_received(&self, nb_rxq: u16) -> usize {
        let mut burst = Vec::with_capacity(32);
        let mut n = 0;
        for q in 0..nb_rxq {
            // Bounded: a port under load at start keeps receiving while we drain.
            for _ in 0..64 {
                let got = self.rx_burst(q, &mut burst, 32);
                burst.clear();
                n += got;
                if got == 0 {
                    break;
                }
            }
        }
        n
    }

    /// The rx checksum offloads (`RTE_ETH_RX_OFFLOAD_*_CKSUM`) the port has on.
    pub fn rx_checksum_offloads(&self) -> Result<u64, DpdkError> {
        let mut conf = sys::rte_eth_conf::default();
        // SAFETY: valid out-pointer.
        check(|| format!("rte_eth_dev_conf_get(port {})", self.id), unsafe {
            sys::rte_eth_dev_conf_get(self.id, &mut conf)
        })?;
        // SAFETY: returns a constant.
        Ok(conf.rxmode.offloads & unsafe { sys::rvs_eth_rx_offload_checksums() })
    }

    /// The RSS key and hash types of a configured port. `key_size` is the device's
    /// `hash_key_size` (40 is used when it says 0).
    pub fn rss_hash_conf(&self, key_size: u8) -> Result<RssHashConf, DpdkError> {
        let len = if key_size == 0 { 40 } else { key_size };
        let mut key = vec![0u8; len as usize];
        let mut conf = sys::rte_eth_rss_conf { rss_key: key.as_mut_ptr(), rss_key_len: len, rss_hf: 0 };
        // SAFETY: the key buffer holds `rss_key_len` bytes and outlives the call.
        check(|| format!("rte_eth_dev_rss_hash_conf_get(port {})", self.id), unsafe {
            sys::rte_eth_dev_rss_hash_conf_get(self.id, &mut conf)
        })?;
        // Some PMDs report a shorter key than the buffer.
        key.truncate((conf.rss_key_len as usize).clamp(1, len as usize));
        Ok(RssHashConf { key, rss_hf: conf.rss_hf })
    }

    /// The RSS redirection table (`reta_size` entries, the device's): entry i is the rx
    /// queue of hashes with `hash % reta_size == i`.
    pub fn rss_reta(&self, reta_size: u16) -> Result<Vec<u16>, DpdkError> {
        let mut groups = reta_groups(reta_size)?;
        for i in 0..reta_size as usize {
            groups[i / RETA_GROUP].mask |= 1 << (i % RETA_GROUP);
        }
        // SAFETY: `groups` holds ceil(reta_size / 64) entries, as the call expects.
        check(|| format!("rte_eth_dev_rss_reta_query(port {}, {reta_size})", self.id), unsafe {
            sys::rte_eth_dev_rss_reta_query(self.id, groups.as_mut_ptr(), reta_size)
        })?;
        Ok(groups.iter().flat_map(|g| g.reta).take(reta_size as usize).collect())
    }

    /// Sets the redirection table to `reta` (its length is the device's `reta_size`).
    pub fn set_rss_reta(&self, reta: &[u16]) -> Result<(), DpdkError> {
        let size =
            u16::try_from(reta.len()).map_err(|_| DpdkError::new("rte_eth_dev_rss_reta_update", EINVAL))?;
        let mut groups = reta_groups(size)?;
        for (i, &q) in reta.iter().enumerate() {
            let g = &mut groups[i / RETA_GROUP];
            g.mask |= 1 << (i % RETA_GROUP);
            g.reta[i % RETA_GROUP] = q;
        }
        // SAFETY: `groups` holds ceil(size / 64) entries, as the call expects.
        check(|| format!("rte_eth_dev_rss_reta_update(port {}, {size})", self.id), unsafe {
            sys::rte_eth_dev_rss_reta_update(self.id, groups.as_mut_ptr(), size)
        })?;
        Ok(())
    }

    /// Whether DPDK has promiscuous mode on (false when unknown). For af_packet this is
    /// DPDK's own flag: a later `ip link set .. promisc off` is not reflected.
    pub fn promiscuous(&self) -> bool {
        // SAFETY: plain query.
        unsafe { sys::rte_eth_promiscuous_get(self.id) == 1 }
    }

    /// The port's MAC address.
    /// The port's MTU (IP bytes per frame).
    pub fn mtu(&self) -> Result<u16, DpdkError> {
        let mut mtu = 0u16;
        // SAFETY: valid out-pointer.
        check(|| format!("rte_eth_dev_get_mtu(port {})", self.id), unsafe {
            sys::rte_eth_dev_get_mtu(self.id, &mut mtu)
        })?;
        Ok(mtu)
    }

    /// Sets the port's MTU (the PMD refuses what it or the mbufs cannot carry).
    pub fn set_mtu(&self, mtu: u16) -> Result<(), DpdkError> {
        // SAFETY: plain call on a valid port.
        check(|| format!("rte_eth_dev_set_mtu(port {}, {mtu})", self.id), unsafe {
            sys::rte_eth_dev_set_mtu(self.id, mtu)
        })
        .map(drop)
    }

    pub fn mac(&self) -> [u8; 6] {
        let mut a = sys::rte_ether_addr::default();
        // SAFETY: valid out-pointer; only fails for an invalid port, which `self` is not
        // (all zeros then).
        unsafe { sys::rte_eth_macaddr_get(self.id, &mut a) };
        a.addr_bytes
    }

    /// Receives up to `max` packets from rx `queue`, appending them to `out`. Returns the
    /// number received; 0 too when the port is not started or `queue` is not configured.
    /// Reserves room for `max` when `out` lacks it, so a reused Vec allocates only once.
    #[inline]
    pub fn rx_burst(&self, queue: u16, out: &mut Vec<Mbuf>, max: usize) -> usize {
        let queues = STARTED_QUEUES[self.id as usize].load(Ordering::Acquire);
        if queue >= queues as u16 {
            return 0;
        }
        let max = max.min(u16::MAX as usize);
        out.reserve(max);
        let len = out.len();
        // SAFETY: the spare capacity holds `max` slots; Mbuf is repr(transparent) over a
        // mbuf pointer, so the PMD writes `n <= max` owned mbufs straight into the Vec.
        unsafe {
            let dst = out.as_mut_ptr().add(len) as *mut *mut sys::rte_mbuf;
            let n = sys::rte_eth_rx_burst(self.id, queue, dst, max as u16) as usize;
            out.set_len(len + n);
            n
        }
    }

    /// Transmits from the front of `pkts` on tx `queue`. The sent mbufs now belong to the
    /// PMD and are removed from `pkts`; the unsent ones (ring full) stay, in order, for
    /// the caller to retry or drop. Returns the number sent (0 when the port is not
    /// started or `queue` is not configured).
    #[inline]
    pub fn tx_burst(&self, queue: u16, pkts: &mut Vec<Mbuf>) -> usize {
        let queues = STARTED_QUEUES[self.id as usize].load(Ordering::Acquire);
        if queue >= (queues >> 16) as u16 || pkts.is_empty() {
            return 0;
        }
        let len = pkts.len();
        let n = len.min(u16::MAX as usize) as u16;
        // SAFETY: `pkts` holds `len` owned mbuf pointers (repr(transparent)). The PMD takes
        // the first `sent`; those slots are forgotten (not dropped) by moving the rest down
        // and shortening the Vec.
        unsafe {
            let p = pkts.as_mut_ptr();
            let sent = sys::rte_eth_tx_burst(self.id, queue, p as *mut *mut sys::rte_mbuf, n) as usize;
            if sent > 0 {
                std::ptr::copy(p.add(sent), p, len - sent);
                pkts.set_len(len - sent);
            }
            sent
        }
    }

    pub fn stats(&self) -> Result<PortStats, DpdkError> {
        let mut s = sys::rte_eth_stats::default();
        // SAFETY: valid out-pointer.
        check(|| format!("rte_eth_stats_get(port {})", self.id), unsafe {
            sys::rte_eth_stats_get(self.id, &mut s)
        })?;
        Ok(PortStats {
            ipackets: s.ipackets,
            opackets: s.opackets,
            ibytes: s.ibytes,
            obytes: s.obytes,
            imissed: s.imissed,
            ierrors: s.ierrors,
            oerrors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        })
    }

    pub fn stats_reset(&self) -> Result<(), DpdkError> {
        // SAFETY: plain call.
        check(|| format!("rte_eth_stats_reset(port {})", self.id), unsafe {
            sys::rte_eth_stats_reset(self.id)
        })?;
        Ok(())
    }

    /// Stops the port (`rte_eth_dev_stop`); `configure` may start it again on most PMDs.
    /// Not on af_packet (22.11): its stop closes the queue sockets and start does not
    /// reopen them, so a restarted af_packet port silently neither receives nor sends;
    /// treat stop as final there. Bursts return 0 from here on, but a burst already
    /// running on another thread races with the stop: stop the workers first (see the
    /// type's docs).
    pub fn stop(&self) -> Result<(), DpdkError> {
        STARTED_QUEUES[self.id as usize].store(0, Ordering::Release);
        // SAFETY: plain call; stopping a stopped port is a no-op.
        check(|| format!("rte_eth_dev_stop(port {})", self.id), unsafe { sys::rte_eth_dev_stop(self.id) })?;
        Ok(())
    }

    /// Stops and closes the port (`rte_eth_dev_close`), releasing the PMD's resources (for
    /// af_packet: the sockets and rings) and the port id. The port cannot be used again.
    /// There is no `Drop` (`Port` is `Copy`); the owner closes ports before the `Eal` goes
    /// (`rte_eal_cleanup` in 22.11 does not close them; the process exit does).
    pub fn close(self) -> Result<(), DpdkError> {
        self.stop()?;
        // SAFETY: stopped port.
        check(|| format!("rte_eth_dev_close(port {})", self.id), unsafe { sys::rte_eth_dev_close(self.id) })?;
        Ok(())
    }
}
