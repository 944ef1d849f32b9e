//! node_exporter's IPVS families (`node_ipvs_*`), from rvsd's counters, so that the
//! dashboards and alerts an operator wrote against LVS (node_exporter's `ipvs` collector,
//! which reads `/proc/net/ip_vs_stats` and `/proc/net/ip_vs`) keep working when pointed at
//! rvs-ctrl: the same names, types, label names, and label values written the same way
//! (`proto` as `TCP`/`UDP`, `local_mark` empty: rvs has no firewall-mark services).
//!
//! The totals: the kernel keeps one global count, which never goes down; rvsd counts by
//! service. Summed as they stand, they would drop when a service is removed, which
//! Prometheus' `rate()` takes for a counter reset (a spike of the whole remaining sum).
//! [`Totals`] adds what each service had counted at the last scrape once it is gone (or
//! its counters went back: removed and added again, or `rvsadm -Z -t` of it alone), so they
//! only grow; what a removed service counted after the last scrape before its removal is
//! not seen. When every service's counters went back at once (`rvsadm -Z`, which zeroes
//! the kernel's totals too with `ipvsadm -Z`, or rvsd restarted), the totals start again.

use super::metrics::{labels, Family};
use rvs_proto::{Protocol, ServiceInfo, ServiceKey, TrafficStats};
use std::collections::HashMap;
use std::sync::Mutex;

/// What the `node_ipvs_*_total` counters carry over from one scrape to the next.
#[derive(Debug, Default)]
pub struct Totals(Mutex<Seen>);

#[derive(Debug, Default)]
struct Seen {
    /// Each service's counters at the last scrape.
    last: HashMap<ServiceKey, TrafficStats>,
    /// What services counted before they were removed or reset.
    gone: TrafficStats,
}

/// Whether any of `now`'s counters is below `before`'s: the series started again.
fn went_back(now: &TrafficStats, before: &TrafficStats) -> bool {
    let f = |t: &TrafficStats| [t.conns, t.in_pkts, t.out_pkts, t.in_bytes, t.out_bytes];
    f(now).iter().zip(f(before)).any(|(n, b)| *n < b)
}

impl Totals {
    /// The totals to export for `services` as rvsd listed them now.
    pub fn observe(&self, services: &[ServiceInfo]) -> TrafficStats {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let Seen { last, gone } = &mut *seen;
        let mut now = HashMap::with_capacity(services.len());
        let mut sum = TrafficStats::default();
        let (mut back, mut kept) = (TrafficStats::default(), 0);
        for s in services {
            if let Some(before) = last.remove(&s.spec.key) {
                if went_back(&s.stats, &before) {
                    back.add(&before);
                } else {
                    kept += 1;
                }
            }
            now.insert(s.spec.key, s.stats);
            sum.add(&s.stats);
        }
        if kept == 0 && back != TrafficStats::default() {
            // All zeroed together: what the kernel's `ipvsadm -Z` does to its totals.
            *gone = TrafficStats::default();
        } else {
            gone.add(&back);
            for before in last.values() {
                gone.add(before);
            }
        }
        *last = now;
        sum.add(gone);
        sum
    }
}

/// The `node_ipvs_*` families (nothing when rvsd did not answer, as node_exporter exports
/// nothing when it cannot read IPVS). `totals`: the running daemon's, which keeps the
/// totals from going down; without, they are the sums of the services listed.
pub(super) fn metrics(services: Option<&[ServiceInfo]>, totals: Option<&Totals>) -> String {
    let mut out = String::new();
    let Some(services) = services else { return out };
    let total = match totals {
        Some(t) => t.observe(services),
        None => services.iter().fold(TrafficStats::default(), |mut a, s| {
            a.add(&s.stats);
            a
        }),
    };
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
        f.add(String::new(), get(&total));
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

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_proto::ServiceSpec;

    fn svc(port: u16, n: u64) -> ServiceInfo {
        let key = ServiceKey { protocol: Protocol::Tcp, addr: ([198, 18, 0, 100], port).into() };
        let stats = TrafficStats {
            conns: n,
            in_pkts: 10 * n,
            out_pkts: 9 * n,
            in_bytes: 1000 * n,
            out_bytes: 900 * n,
        };
        let spec =
            ServiceSpec { key, scheduler: "rr".into(), local_addrs: vec![], options: Default::default() };
        ServiceInfo { spec, stats, reals: vec![] }
    }

    /// A removed service's count stays in the totals; one that starts again (removed and
    /// added between two scrapes, or rvsd restarted) adds to what it had: the totals never
    /// go down, as the kernel's do not.
    #[test]
    fn totals_never_go_down() {
        let t = Totals::default();
        assert_eq!(t.observe(&[svc(80, 5), svc(443, 7)]).conns, 12);
        assert_eq!(t.observe(&[svc(80, 6), svc(443, 7)]).conns, 13);
        // 443 removed: its 7 stay.
        let after = t.observe(&[svc(80, 8)]);
        assert_eq!((after.conns, after.in_pkts, after.out_bytes), (15, 150, 13_500));
        // 443 added again, from zero: 7 + its new 2.
        assert_eq!(t.observe(&[svc(80, 8), svc(443, 2)]).conns, 17);
        // 80 zeroed alone (`-Z -t`): the kernel's totals keep what it had; so do these.
        assert_eq!(t.observe(&[svc(80, 1), svc(443, 3)]).conns, 8 + 7 + 1 + 3);
        // Removed, both: what they had stays.
        assert_eq!(t.observe(&[]).conns, 19);
        assert_eq!(t.observe(&[svc(80, 2)]).conns, 21);
        // Without the daemon's memory: the sums as listed.
        let text = metrics(Some(&[svc(80, 3)]), None);
        assert!(text.contains("node_ipvs_connections_total 3\n"), "{text}");
        let text = metrics(Some(&[svc(80, 3)]), Some(&t));
        assert!(text.contains("node_ipvs_connections_total 22\n"), "{text}");
    }

    /// `rvsadm -Z` (every service zeroed at once) zeroes the totals, as `ipvsadm -Z` zeroes
    /// the kernel's; so does rvsd's restart (a reboot's, to node_exporter).
    #[test]
    fn zeroing_every_service_zeroes_the_totals() {
        let t = Totals::default();
        assert_eq!(t.observe(&[svc(80, 5), svc(443, 7)]).conns, 12);
        assert_eq!(t.observe(&[svc(443, 9)]).conns, 14, "80 removed: its 5 stay");
        assert_eq!(t.observe(&[svc(443, 0), svc(53, 0)]).conns, 0, "-Z: from zero");
        assert_eq!(t.observe(&[svc(443, 4), svc(53, 1)]).conns, 5);
    }
}
