//! Counters: traffic as `ipvsadm --stats` shows it, each worker's (packets, sessions,
//! drops and events by name, steering, VLAN interfaces), and each port's as its NIC
//! counts them.

use serde::{Deserialize, Serialize};

/// Traffic counters as ipvsadm --stats shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficStats {
    pub conns: u64,
    pub in_pkts: u64,
    pub out_pkts: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
}

impl TrafficStats {
    /// `self - base`, field by field, never below zero.
    pub fn since(&self, base: &TrafficStats) -> TrafficStats {
        TrafficStats {
            conns: self.conns.saturating_sub(base.conns),
            in_pkts: self.in_pkts.saturating_sub(base.in_pkts),
            out_pkts: self.out_pkts.saturating_sub(base.out_pkts),
            in_bytes: self.in_bytes.saturating_sub(base.in_bytes),
            out_bytes: self.out_bytes.saturating_sub(base.out_bytes),
        }
    }

    pub fn add(&mut self, o: &TrafficStats) {
        self.conns += o.conns;
        self.in_pkts += o.in_pkts;
        self.out_pkts += o.out_pkts;
        self.in_bytes += o.in_bytes;
        self.out_bytes += o.out_bytes;
    }
}

/// One worker's counters. `drops` is by reason name; reasons with zero count may be omitted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerStats {
    pub worker: u32,
    pub lcore: u32,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Packets handed to another worker because it owns their session.
    pub redirected_out: u64,
    /// Packets received from other workers.
    pub redirected_in: u64,
    pub sessions_created: u64,
    pub sessions_expired: u64,
    pub sessions_live: u64,
    /// Sessions the worker's table holds at most (rvsd's `max_sessions`); 0 from an rvsd
    /// that does not report it.
    #[serde(default)]
    pub sessions_capacity: u64,
    pub drops: Vec<(String, u64)>,
    /// Things that happened that are not drops (SYN-proxy answers, TOA insertions, ...), by
    /// name; zero counts may be omitted.
    #[serde(default)]
    pub events: Vec<(String, u64)>,
    /// Rounds of the worker's poll loop: a heartbeat that moves even when no packet comes
    /// (a worker that stopped looping is hung). 0 from an rvsd that does not report it.
    #[serde(default)]
    pub loops: u64,
    /// How real servers' replies reach the worker that owns their session, the same for
    /// every worker of one rvsd: the reply ports' way ("flow": rte_flow rules, "rss": local
    /// ports chosen by the NIC's hash, "handoff": software hand-off between workers,
    /// "single": one rx queue), then each port's, e.g. `flow; client=handoff server=flow`.
    /// None from a daemon that does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steering: Option<String>,
    /// Per VLAN interface (`[[port.vlan]]`); empty when the ports have none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vlans: Vec<VlanStats>,
}

/// One worker's counters of one VLAN interface (a port's 802.1Q VLAN).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VlanStats {
    /// The port's name in rvsd's configuration.
    pub port: String,
    /// The 802.1Q VLAN id.
    pub vlan: u16,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Frames received on the VLAN that rvsd dropped.
    pub drops: u64,
}

/// One port's counters as the NIC (its DPDK driver) keeps them, since rvsd started: what
/// reached the wire and what never reached a worker. A worker's counters start where
/// these end: a frame the NIC dropped for want of room is in `rx_missed` and in no
/// worker's `rx_packets`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortStats {
    /// The port's name in rvsd's configuration (`[[port]] name`).
    pub port: String,
    /// Its DPDK device (`net_af_packet0`, `0000:03:00.0`).
    pub device: String,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Frames the NIC dropped because the workers' receive queues were full (DPDK's
    /// `imissed`): the workers fell behind.
    pub rx_missed: u64,
    /// Frames received in error (bad CRC, too long, ...) (`ierrors`).
    pub rx_errors: u64,
    /// Frames the NIC failed to send (`oerrors`).
    pub tx_errors: u64,
    /// Receives that failed for want of packet buffers (`rx_nombuf`): the mempool ran dry.
    pub rx_nombuf: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_saturates() {
        let a = TrafficStats { conns: 5, in_pkts: 10, out_pkts: 1, in_bytes: 100, out_bytes: 0 };
        let b = TrafficStats { conns: 2, in_pkts: 11, out_pkts: 1, in_bytes: 40, out_bytes: 0 };
        assert_eq!(
            a.since(&b),
            TrafficStats { conns: 3, in_pkts: 0, out_pkts: 0, in_bytes: 60, out_bytes: 0 }
        );
    }
}
