//! node_exporter's IPVS families (`node_ipvs_*`), from rvsd's counters, so that the
//! dashboards and alerts an operator wrote against LVS (node_exporter's `ipvs` collector,
//! which reads `/proc/net/ip_vs_stats` and `/proc/net/ip_vs`) keep working when pointed at
//! rvs-ctrl: the same names, types, label names, and label values written the same way
//! (`proto` as `TCP`/`UDP`, `local_mark` empty: rvs has no firewall-mark services).
//!
//! The totals are the sums over rvsd's services, where the kernel keeps one global count:
//! they drop when a service is removed (Prometheus' `rate()` takes that for a reset).

use super::metrics::{labels, Family};
use rvs_proto::{Protocol, ServiceInfo, TrafficStats};

/// The `node_ipvs_*` families (nothing when rvsd did not answer, as node_exporter exports
/// nothing when it cannot read IPVS).
pub(super) fn metrics(services: Option<&[ServiceInfo]>) -> String {
    let mut out = String::new();
    let Some(services) = services else { return out };
    type Total = (&'static str, &'static str, fn(&TrafficStats) -> u64);
    let totals: [Total; 5] = [
        ("node_ipvs_connections_total", "The total number of connections made.", |t| t.conns),
        ("node_ipvs_incoming_packets_total", "The total number of incoming packets.", |t| t.in_pkts),
        ("node_ipvs_outgoing_packets_total", "The total number of outgoing packets.", |t| t.out_pkts),
        ("node_ipvs_incoming_bytes_total", "The total amount of incoming data.", |t| t.in_bytes),
        ("node_ipvs_outgoing_bytes_total", "The total amount of outgoing data.", |t| t.out_bytes),
    ];
    for (name, help, get) in totals {
        let mut f = Family::new(name, "counter", help);
        f.add(String::new(), services.iter().map(|s| get(&s.stats)).fold(0u64, u64::wrapping_add));
        f.render(&mut out);
    }
    let mut active = Family::new(
        "node_ipvs_backend_connections_active",
        "gauge",
        "The current active connections by local and remote address.",
    );
    let mut inactive = Family::new(
        "node_ipvs_backend_connections_inactive",
        "gauge",
        "The current inactive connections by local and remote address.",
    );
    let mut weight = Family::new(
        "node_ipvs_backend_weight",
        "gauge",
        "The current backend weight by local and remote address.",
    );
    for s in services {
        let proto = match s.spec.key.protocol {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        };
        for r in &s.reals {
            let l = labels(&[
                ("local_address", s.spec.key.addr.ip().to_string()),
                ("local_port", s.spec.key.addr.port().to_string()),
                ("remote_address", r.spec.addr.ip().to_string()),
                ("remote_port", r.spec.addr.port().to_string()),
                ("proto", proto.to_string()),
                ("local_mark", String::new()),
            ]);
            active.add(l.clone(), r.active_conns);
            inactive.add(l.clone(), r.inactive_conns);
            weight.add(l, r.spec.weight);
        }
    }
    for f in [active, inactive, weight] {
        f.render(&mut out);
    }
    out
}
