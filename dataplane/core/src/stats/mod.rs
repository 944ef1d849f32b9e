//! Per-worker counters.
//!
//! Each counter is written by exactly one thread (its worker; for the exception path's
//! counters that say so, the exception thread serving that worker's rings; a Relaxed load + store, never a
//! read-modify-write, so no cache line bounces between cores) and read by the control
//! thread, which sums the workers.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A counter written by one thread and read by others.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }
    #[inline]
    pub fn inc(&self) {
        self.add(1)
    }
    #[inline]
    pub fn sub(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_sub(n), Relaxed);
    }
    #[inline]
    pub fn set(&self, v: u64) {
        self.0.store(v, Relaxed);
    }
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

macro_rules! drop_reasons {
    ($($variant:ident => $name:literal, $doc:literal;)*) => {
        /// Why a packet was dropped. The names are what operators see in `rvsadm --workers`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum DropReason {
            $(#[doc = $doc] $variant,)*
        }

        impl DropReason {
            pub const ALL: &'static [DropReason] = &[$(DropReason::$variant,)*];
            pub const COUNT: usize = Self::ALL.len();

            pub fn name(self) -> &'static str {
                match self {
                    $(DropReason::$variant => $name,)*
                }
            }
        }
    };
}

drop_reasons! {
    Truncated => "truncated", "Frame shorter than the headers it claims.";
    NotForUs => "not_for_us", "Destination MAC is neither ours nor broadcast.";
    UnknownEthertype => "unknown_ethertype", "Neither IPv4 nor ARP (nor IPv6 on a port with IPv6 addresses).";
    BadIpHeader => "bad_ip_header", "IPv4 version, header length or total length is wrong.";
    BadIpChecksum => "bad_ip_checksum", "IPv4 header checksum does not verify.";
    BadIpv6Header => "bad_ipv6_header", "IPv6 header truncated, or its payload length beyond the frame.";
    Ipv6ExtChain => "ipv6_ext_chain", "IPv6 extension headers malformed, out of order, or more than eight.";
    Icmpv6Invalid => "icmpv6_invalid", "ICMPv6 with a bad checksum, or Neighbor Discovery that RFC 4861 says to discard.";
    Fragment => "fragment", "IP fragment rvsd does not steer: not TCP/UDP to a VIP or LIP, of a TCP connection without a plain FULLNAT session (NAT/DR/TUN, SYN proxy, TOA, PROXY protocol), or of a datagram whose first fragment found no session.";
    FragmentInvalid => "fragment_invalid", "A first fragment without its whole TCP/UDP header, or a later one overlapping it (RFC 1858, RFC 7112).";
    FragmentTableFull => "fragment_table_full", "Too many fragmented datagrams under way on the worker.";
    FragmentHeldFull => "fragment_held_full", "Too many fragments waiting for their datagram's first fragment.";
    TooBig => "too_big", "Bigger than the egress port's MTU with DF set (answered with ICMP fragmentation needed), or not fragmentable (IP options).";
    FragmentTimeout => "fragment_timeout", "A fragment whose datagram's first fragment did not come in time.";
    TtlExceeded => "ttl_exceeded", "TTL would reach zero when forwarded.";
    BadL4Header => "bad_l4_header", "TCP/UDP header truncated or inconsistent.";
    BadL4Checksum => "bad_l4_checksum", "TCP/UDP checksum does not verify.";
    UnsupportedProtocol => "unsupported_protocol", "IP protocol other than TCP, UDP, ICMP.";
    NotLocal => "not_local", "Destination address is none of ours (we do not route transit traffic).";
    NoService => "no_service", "No virtual service on that protocol/address/port.";
    NoSession => "no_session", "Mid-connection packet with no session.";
    NoRealServer => "no_real_server", "The service has no available real server.";
    NoLocalAddr => "laddr_exhausted", "No free local address/port for a new session.";
    SessionTableFull => "session_table_full", "The worker's session table is full.";
    NoRoute => "no_route", "No route to the destination.";
    NeighQueueFull => "neigh_queue_full", "Too many packets waiting for ARP resolution.";
    NeighTimeout => "neigh_timeout", "ARP resolution failed (or the entry was deleted while packets waited).";
    ArpInvalid => "arp_invalid", "Malformed or unsupported ARP.";
    ArpIgnored => "arp_ignored", "ARP for an address that is not ours.";
    NotOwner => "not_owner", "New connection or ping to a VIP/LIP this director has released (a backup).";
    IcmpIgnored => "icmp_ignored", "ICMP other than echo or an error to one of our addresses.";
    IcmpNoSession => "icmp_no_session", "An ICMP error about a packet of no session of ours.";
    IcmpBadQuote => "icmp_bad_quote", "An ICMP/ICMPv6 error quoting no whole IPv4/IPv6 TCP/UDP header with its ports.";
    ToHost => "to_host", "Traffic for the host stack, and no kernel interface to hand it to.";
    RedirectFull => "redirect_full", "The owning worker's hand-off ring is full.";
    TxFull => "tx_full", "The transmit queue is full.";
    NoMbuf => "no_mbuf", "The packet pool is empty.";
    SynProxyBadAck => "synproxy_bad_ack", "ACK to a SYN-proxy service with no session and a bad cookie.";
    SynProxyHeld => "synproxy_held_full", "Too many client segments waiting for the real server's handshake.";
    SynProxyAckStorm => "synproxy_ack_storm", "Bad-cookie ACKs beyond the RST budget, dropped in silence.";
    SynProxyServerSynAck => "synproxy_dup_synack", "A server's repeated SYN/ACK on a SYN-proxied connection.";
    SynProxyDupAck => "synproxy_dup_ack", "Identical pure ACKs on a proxied connection beyond the storm threshold.";
    KernelRingFull => "kernel_ring_full", "The worker's ring to the exception thread is full (counted by the worker).";
    KernelNoInterface => "kernel_no_interface", "For the kernel, but the port has no kernel interface (counted by the worker).";
    KernelRateLimited => "kernel_rate_limited", "Over the kernel interface's rate limit (counted by the exception thread).";
    KernelWriteError => "kernel_write_error", "The kernel interface refused the frame (counted by the exception thread).";
    KernelTxRingFull => "kernel_tx_ring_full", "A frame the kernel sent found the worker's ring full (counted by the exception thread).";
    KernelNoMbuf => "kernel_no_mbuf", "No mbuf for a frame the kernel sent (counted by the exception thread).";
    UnknownVlan => "unknown_vlan", "802.1Q tagged with a VLAN id the port has no [[port.vlan]] for.";
    VlanQinQ => "vlan_qinq", "Stacked VLAN tags (802.1ad or a second 802.1Q tag): not supported.";
    TunTooBig => "tun_too_big", "Too big for the tunnel MTU once encapsulated, without DF (answered when DF is set).";
    ReplyBypassed => "reply_bypassed", "A DR/TUN real server's reply reached the director (they should go straight to the client).";
    AclDenied => "acl_denied", "New connection from a source in the service's deny list.";
    AclNotAllowed => "acl_not_allowed", "New connection from a source outside the service's allow list.";
    SourceRateLimited => "source_rate_limited", "New connection over the service's per-source connection rate.";
    ServiceRateLimited => "service_rate_limited", "New connection over the service's connection rate.";
    MaxConns => "max_conns", "New connection while the service holds its maximum of connections.";
    Nat64TooBig => "nat64_too_big", "A NAT64 reply too big for the IPv6 port once translated (answered with fragmentation needed when DF is set).";
    Nat64Untranslatable => "nat64_untranslatable", "A NAT64 packet or ICMP error RFC 7915 does not translate (ICMP types it drops, UDP fragments without checksum).";
}

macro_rules! events {
    ($($variant:ident => $name:literal, $doc:literal;)*) => {
        /// Things a worker does that are worth counting but are not drops.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Event {
            $(#[doc = $doc] $variant,)*
        }

        impl Event {
            pub const ALL: &'static [Event] = &[$(Event::$variant,)*];
            pub const COUNT: usize = Self::ALL.len();

            pub fn name(self) -> &'static str {
                match self {
                    $(Event::$variant => $name,)*
                }
            }
        }
    };
}

events! {
    SynProxySynAnswered => "synproxy_syn_answered", "A client SYN answered with a SYN cookie.";
    SynProxyAckAccepted => "synproxy_ack_accepted", "A client ACK whose cookie validated: a session opened.";
    SynProxyAckInvalid => "synproxy_ack_invalid", "A client ACK whose cookie failed: answered with a RST.";
    SynProxyServerReset => "synproxy_server_reset", "The real server refused the proxied connection.";
    ToaInserted => "toa_inserted", "TOA option inserted towards a real server.";
    ToaNoRoom => "toa_no_room", "No room for the TOA option in the segment.";
    ProxyHeaderInserted => "proxy_header_inserted", "PROXY protocol header sent to a real server.";
    ProxyHeaderNoRoom => "proxy_header_no_room", "No room for the PROXY protocol header.";
    ProxyHeaderAlone => "proxy_header_alone", "PROXY protocol header sent as a segment of its own (on connect, or the server spoke first).";
    ProxyHeaderResent => "proxy_header_resent", "A PROXY header sent on its own was sent again (not acknowledged in time).";
    SegmentSplit => "segment_split", "A client segment the session grows (PROXY header, TOA) split in two to fit the egress MTU.";
    SegmentSplitFailed => "segment_split_failed", "A client segment that outgrows the egress MTU could not be split (no mbuf, or no payload to move).";
    NoDestExpired => "nodest_expired", "A session of a removed real server ended at its next packet.";
    ToKernel => "to_kernel", "A frame handed to the kernel interface (exception path).";
    KernelDelivered => "kernel_delivered", "A frame written to the kernel interface (counted by the exception thread).";
    FromKernel => "from_kernel", "A frame the kernel sent, transmitted by the worker.";
    Fragmented => "fragmented", "A packet bigger than its egress port's MTU, DF clear, sent as fragments.";
    FragNeededSent => "frag_needed_sent", "ICMP fragmentation needed sent for a packet bigger than its egress port's MTU with DF set.";
    FragmentSteered => "fragment_steered", "A later IP fragment rewritten like its datagram's first fragment (or handed to its worker).";
    IcmpErrorForwarded => "icmp_error_forwarded", "An ICMP error about a session, translated and sent to the session's other end.";
    TunFragNeeded => "tun_frag_needed", "ICMP fragmentation needed sent to a client: the packet no longer fits once encapsulated.";
    EmbryonicEvicted => "embryonic_evicted", "The table was full: its oldest half-open (SYN_RECV) session was removed to admit a new one.";
    SynProxyAuto => "synproxy_auto", "A SYN to a service without --synproxy answered with a cookie: the table was 7/8 full and [synproxy] auto is on.";
    SynRecvShortened => "syn_recv_shortened", "A new half-open session got the short SYN_RECV timeout: the table was 7/8 full.";
}

/// Traffic counters of one virtual service or real server on one worker.
#[derive(Debug, Default)]
pub struct TrafficCounters {
    pub conns: Counter,
    pub in_pkts: Counter,
    pub out_pkts: Counter,
    pub in_bytes: Counter,
    pub out_bytes: Counter,
}

impl TrafficCounters {
    pub fn read(&self) -> rvs_proto::TrafficStats {
        rvs_proto::TrafficStats {
            conns: self.conns.get(),
            in_pkts: self.in_pkts.get(),
            out_pkts: self.out_pkts.get(),
            in_bytes: self.in_bytes.get(),
            out_bytes: self.out_bytes.get(),
        }
    }
}

/// Counters of one real server on one worker: traffic plus live session gauges.
#[derive(Debug, Default)]
pub struct RealCounters {
    pub traffic: TrafficCounters,
    pub active: Counter,
    pub inactive: Counter,
}

impl RealCounters {
    /// A packet of `bytes` bytes of IP of one of this server's sessions: from the client
    /// when `inbound`. Its service's counters get it from these (`ServiceFold`).
    #[inline(always)]
    pub fn count(&self, inbound: bool, bytes: u64) {
        let t = &self.traffic;
        let (pkts, b) = if inbound { (&t.in_pkts, &t.in_bytes) } else { (&t.out_pkts, &t.out_bytes) };
        pkts.inc();
        b.add(bytes);
    }

    /// A session of this server changed state: moves it between the active and inactive
    /// gauges when it changed class (ipvsadm's ActiveConn / InActConn).
    #[inline]
    pub fn state_moved(&self, was_active: bool, is_active: bool) {
        match (was_active, is_active) {
            (false, true) => {
                self.inactive.sub(1);
                self.active.inc();
            }
            (true, false) => {
                self.active.sub(1);
                self.inactive.inc();
            }
            _ => {}
        }
    }
}

/// Traffic of one VLAN interface (a `[[port.vlan]]`) on one worker.
#[derive(Debug, Default)]
pub struct VlanCounters {
    /// Tagged frames received with this VLAN's id, and their bytes (tag included).
    pub rx_packets: Counter,
    pub rx_bytes: Counter,
    /// Frames the pipeline sent tagged with this VLAN's id (tag included).
    pub tx_packets: Counter,
    pub tx_bytes: Counter,
    /// Frames received on this VLAN that the worker dropped while handling them.
    pub drops: Counter,
}

/// Everything one worker counts. Service and real-server counters are indexed by the
/// stat slots the control plane assigns (see `service::registry`).
#[derive(Debug)]
pub struct WorkerCounters {
    pub rx_packets: Counter,
    pub rx_bytes: Counter,
    pub tx_packets: Counter,
    pub tx_bytes: Counter,
    pub redirected_in: Counter,
    pub redirected_out: Counter,
    pub sessions_created: Counter,
    pub sessions_expired: Counter,
    pub sessions_live: Counter,
    /// Rounds of the poll loop: a heartbeat (moves when idle too).
    pub loops: Counter,
    pub drops: [Counter; DropReason::COUNT],
    /// Every drop, whatever the reason (what a VLAN's `drops` is measured with).
    pub dropped: Counter,
    pub events: [Counter; Event::COUNT],
    pub services: Box<[TrafficCounters]>,
    pub reals: Box<[RealCounters]>,
    /// Per VLAN interface, in the order of `pipeline::interfaces` (VLANs only).
    pub vlans: Box<[VlanCounters]>,
}

impl WorkerCounters {
    pub fn new(max_services: usize, max_reals: usize) -> Self {
        WorkerCounters {
            rx_packets: Counter::default(),
            rx_bytes: Counter::default(),
            tx_packets: Counter::default(),
            tx_bytes: Counter::default(),
            redirected_in: Counter::default(),
            redirected_out: Counter::default(),
            sessions_created: Counter::default(),
            sessions_expired: Counter::default(),
            sessions_live: Counter::default(),
            loops: Counter::default(),
            drops: std::array::from_fn(|_| Counter::default()),
            dropped: Counter::default(),
            events: std::array::from_fn(|_| Counter::default()),
            services: (0..max_services).map(|_| TrafficCounters::default()).collect(),
            reals: (0..max_reals).map(|_| RealCounters::default()).collect(),
            vlans: Box::new([]),
        }
    }

    /// With counters for `n` VLAN interfaces.
    pub fn with_vlans(mut self, n: usize) -> Self {
        self.vlans = (0..n).map(|_| VlanCounters::default()).collect();
        self
    }

    /// The VLANs' counters, named by `labels` (port name, VLAN id) in the same order.
    pub fn vlan_snapshot(&self, labels: &[(String, u16)]) -> Vec<rvs_proto::VlanStats> {
        self.vlans
            .iter()
            .zip(labels)
            .map(|(c, (port, vid))| rvs_proto::VlanStats {
                port: port.clone(),
                vlan: *vid,
                rx_packets: c.rx_packets.get(),
                rx_bytes: c.rx_bytes.get(),
                tx_packets: c.tx_packets.get(),
                tx_bytes: c.tx_bytes.get(),
                drops: c.drops.get(),
            })
            .collect()
    }

    #[inline]
    pub fn count_drop(&self, reason: DropReason) {
        self.drops[reason as usize].inc();
        self.dropped.inc();
    }

    #[inline]
    pub fn event(&self, e: Event) {
        self.events[e as usize].inc();
    }

    pub fn event_count(&self, e: Event) -> u64 {
        self.events[e as usize].get()
    }

    pub fn drop_count(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize].get()
    }

    /// A protocol view of the worker-wide counters.
    pub fn snapshot(&self, worker: u32, lcore: u32) -> rvs_proto::WorkerStats {
        rvs_proto::WorkerStats {
            worker,
            lcore,
            rx_packets: self.rx_packets.get(),
            rx_bytes: self.rx_bytes.get(),
            tx_packets: self.tx_packets.get(),
            tx_bytes: self.tx_bytes.get(),
            redirected_out: self.redirected_out.get(),
            redirected_in: self.redirected_in.get(),
            sessions_created: self.sessions_created.get(),
            sessions_expired: self.sessions_expired.get(),
            sessions_live: self.sessions_live.get(),
            // The table's size is the edge's to say (rvsd fills it in).
            sessions_capacity: 0,
            loops: self.loops.get(),
            drops: DropReason::ALL
                .iter()
                .map(|r| (r.name().to_string(), self.drop_count(*r)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            events: Event::ALL
                .iter()
                .map(|e| (e.name().to_string(), self.event_count(*e)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            steering: None,
            vlans: Vec::new(),
        }
    }
}

mod fold;
#[cfg(test)]
mod guide;

pub use fold::ServiceFold;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_reason_names_are_unique_and_indexable() {
        let mut names: Vec<_> = DropReason::ALL.iter().map(|r| r.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), DropReason::COUNT);
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
    }

    #[test]
    fn snapshot_lists_only_nonzero_drops() {
        let c = WorkerCounters::new(1, 1);
        c.count_drop(DropReason::Fragment);
        c.count_drop(DropReason::Fragment);
        let s = c.snapshot(0, 1);
        assert_eq!(s.drops, vec![("fragment".to_string(), 2)]);
    }
}
