//! The `/metrics` page: Prometheus text format.

use super::*;
use std::fmt::Write as _;

/// A label value, escaped as the text format wants (backslash, double quote, newline).
fn esc(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

pub(super) fn labels(pairs: &[(&str, String)]) -> String {
    let inner: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}=\"{}\"", esc(v))).collect();
    format!("{{{}}}", inner.join(","))
}

/// One metric family: HELP, TYPE and its samples.
pub(super) struct Family {
    name: String,
    help: String,
    kind: &'static str,
    samples: Vec<(String, String)>,
}

impl Family {
    pub(super) fn new(name: impl Into<String>, kind: &'static str, help: impl Into<String>) -> Self {
        Family { name: name.into(), help: help.into(), kind, samples: Vec::new() }
    }
    pub(super) fn add(&mut self, labels: String, value: impl ToString) {
        self.samples.push((labels, value.to_string()));
    }
    pub(super) fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} {}", self.name, self.kind);
        for (l, v) in &self.samples {
            let _ = writeln!(out, "{}{l} {v}", self.name);
        }
    }
}

fn vs_labels(k: &ServiceKey) -> Vec<(&'static str, String)> {
    vec![
        ("vip", k.addr.ip().to_string()),
        ("port", k.addr.port().to_string()),
        ("proto", proto_name(k.protocol).to_string()),
    ]
}

fn rs_labels(k: &ServiceKey, rs: SocketAddr) -> Vec<(&'static str, String)> {
    let mut l = vs_labels(k);
    l.push(("rip", rs.ip().to_string()));
    l.push(("rport", rs.port().to_string()));
    l
}

/// A traffic counter family: name suffix, help, and the field it shows.
type TrafficField = (&'static str, &'static str, fn(&TrafficStats) -> u64);
/// A VLAN counter family: name suffix, help, and the field it shows.
type VlanField = (&'static str, &'static str, fn(&rvs_proto::VlanStats) -> u64);
/// A port counter family: name, help, and the field it shows.
type PortField = (&'static str, &'static str, fn(&rvs_proto::PortStats) -> u64);
/// A worker family and the field it shows.
type WorkerField = (Family, fn(&WorkerStats) -> u64);

/// The `/metrics` page. `rvsd` is None when rvsd could not be asked.
pub fn metrics(st: &Status, rvsd: Option<&super::RvsdCounters>) -> String {
    let traffic: [TrafficField; 5] = [
        ("conns_total", "Connections scheduled", |t| t.conns),
        ("in_packets_total", "Packets from clients", |t| t.in_pkts),
        ("out_packets_total", "Packets to clients", |t| t.out_pkts),
        ("in_bytes_total", "Bytes from clients", |t| t.in_bytes),
        ("out_bytes_total", "Bytes to clients", |t| t.out_bytes),
    ];
    let mut fams: Vec<Family> = Vec::new();
    let mut up = Family::new("rvs_rvsd_up", "gauge", "Whether rvsd answered this scrape");
    up.add(String::new(), u8::from(rvsd.is_some()));
    fams.push(up);

    let mut vs_fams: Vec<Family> = traffic
        .iter()
        .map(|(n, h, _)| Family::new(format!("rvs_vs_{n}"), "counter", format!("{h}, per virtual service")))
        .collect();
    let mut rs_fams: Vec<Family> = traffic
        .iter()
        .map(|(n, h, _)| Family::new(format!("rvs_rs_{n}"), "counter", format!("{h}, per real server")))
        .collect();
    let mut active = Family::new("rvs_rs_active_conns", "gauge", "Established connections of a real server");
    let mut inactive = Family::new("rvs_rs_inactive_conns", "gauge", "Other connections of a real server");
    let mut weight = Family::new("rvs_rs_weight", "gauge", "Weight of a real server in rvsd");
    let mut rs_up =
        Family::new("rvs_rs_up", "gauge", "Whether rvs-ctrl's health checks find a real server alive");
    let mut vs_quorum =
        Family::new("rvs_vs_quorum_up", "gauge", "Whether a virtual service has quorum (0: sorry server)");
    let mut vs_opts = Family::new(
        "rvs_vs_options_info",
        "gauge",
        "Scheduler and options rvs-ctrl gives a virtual service (always 1; the labels carry them)",
    );
    let mut rs_info = Family::new(
        "rvs_rs_info",
        "gauge",
        "How rvsd forwards to a real server (always 1; label method: fullnat, nat, dr, tun)",
    );
    let mut uth = Family::new(
        "rvs_rs_uthreshold",
        "gauge",
        "Upper connection threshold of a real server in rvsd (0: none)",
    );
    let mut lth = Family::new(
        "rvs_rs_lthreshold",
        "gauge",
        "Lower connection threshold of a real server in rvsd (0: none)",
    );
    let mut wk: Vec<WorkerField> = vec![
        (Family::new("rvs_worker_rx_packets_total", "counter", "Packets received by a worker"), |w| {
            w.rx_packets
        }),
        (Family::new("rvs_worker_rx_bytes_total", "counter", "Bytes received by a worker"), |w| w.rx_bytes),
        (Family::new("rvs_worker_tx_packets_total", "counter", "Packets sent by a worker"), |w| w.tx_packets),
        (Family::new("rvs_worker_tx_bytes_total", "counter", "Bytes sent by a worker"), |w| w.tx_bytes),
        (
            Family::new(
                "rvs_worker_redirect_out_total",
                "counter",
                "Packets handed to the worker owning their session",
            ),
            |w| w.redirected_out,
        ),
        (
            Family::new("rvs_worker_redirect_in_total", "counter", "Packets received from other workers"),
            |w| w.redirected_in,
        ),
        (Family::new("rvs_worker_sessions", "gauge", "Live sessions of a worker"), |w| w.sessions_live),
        (
            Family::new(
                "rvs_worker_sessions_capacity",
                "gauge",
                "Sessions a worker's table holds at most (0: rvsd did not say)",
            ),
            |w| w.sessions_capacity,
        ),
        (
            Family::new(
                "rvs_worker_loops_total",
                "counter",
                "Rounds of a worker's poll loop (a heartbeat: it stands still when the worker hangs)",
            ),
            |w| w.loops,
        ),
        (Family::new("rvs_worker_sessions_created_total", "counter", "Sessions created by a worker"), |w| {
            w.sessions_created
        }),
        (Family::new("rvs_worker_sessions_expired_total", "counter", "Sessions expired by a worker"), |w| {
            w.sessions_expired
        }),
    ];
    let mut drops = Family::new("rvs_drops_total", "counter", "Packets dropped, by worker and reason");
    let vlan_fields: [VlanField; 5] = [
        ("rx_packets_total", "Tagged frames received on a VLAN", |v| v.rx_packets),
        ("rx_bytes_total", "Bytes of tagged frames received on a VLAN", |v| v.rx_bytes),
        ("tx_packets_total", "Frames sent tagged on a VLAN", |v| v.tx_packets),
        ("tx_bytes_total", "Bytes of frames sent tagged on a VLAN", |v| v.tx_bytes),
        ("drops_total", "Frames received on a VLAN and dropped", |v| v.drops),
    ];
    let mut vlan_fams: Vec<Family> = vlan_fields
        .iter()
        .map(|(n, h, _)| Family::new(format!("rvs_vlan_{n}"), "counter", format!("{h}, per worker")))
        .collect();
    // The NIC's own counts: what reached the wire, and what never reached a worker.
    let port_fields: [PortField; 8] = [
        ("rvs_port_rx_packets_total", "Frames a port received", |p| p.rx_packets),
        ("rvs_port_rx_bytes_total", "Bytes a port received", |p| p.rx_bytes),
        ("rvs_port_tx_packets_total", "Frames a port sent", |p| p.tx_packets),
        ("rvs_port_tx_bytes_total", "Bytes a port sent", |p| p.tx_bytes),
        (
            "rvs_port_rx_missed_total",
            "Frames a port dropped because the workers' receive queues were full (DPDK imissed)",
            |p| p.rx_missed,
        ),
        ("rvs_port_rx_errors_total", "Frames a port received in error (DPDK ierrors)", |p| p.rx_errors),
        ("rvs_port_tx_errors_total", "Frames a port failed to send (DPDK oerrors)", |p| p.tx_errors),
        (
            "rvs_port_rx_nombuf_total",
            "Receives on a port that failed for want of packet buffers (DPDK rx_nombuf)",
            |p| p.rx_nombuf,
        ),
    ];
    let mut port_fams: Vec<Family> = port_fields
        .iter()
        .map(|(n, h, _)| Family::new(*n, "counter", format!("{h}, as its NIC counts them")))
        .collect();
    let mut events = Family::new(
        "rvs_events_total",
        "counter",
        "Things that happened that are not drops (SYN-proxy answers, TOA and PROXY headers, ...), by worker",
    );
    let mut check_up = Family::new("rvs_check_up", "gauge", "Whether a health checker finds its target up");
    let mut check_dur =
        Family::new("rvs_check_duration_seconds", "gauge", "How long the last run of a health checker took");
    let mut check_runs =
        Family::new("rvs_checks_total", "counter", "Completed runs of a health checker, retries included");

    let mut neigh = Family::new(
        "rvs_neighbours",
        "gauge",
        "Entries of the workers' neighbour tables (rvsadm --neigh) by interface and state; one that workers hold differently counts in each state it is in",
    );
    let mut neigh_queued = Family::new(
        "rvs_neighbour_queued_packets",
        "gauge",
        "Packets waiting for a next hop's ARP/NDP answer, by interface",
    );
    if let Some(super::RvsdCounters { services, workers, ports, neighbours }) = rvsd {
        for s in services {
            let l = labels(&vs_labels(&s.spec.key));
            for (f, (_, _, get)) in vs_fams.iter_mut().zip(traffic.iter()) {
                f.add(l.clone(), get(&s.stats));
            }
            for r in &s.reals {
                let l = labels(&rs_labels(&s.spec.key, r.spec.addr));
                for (f, (_, _, get)) in rs_fams.iter_mut().zip(traffic.iter()) {
                    f.add(l.clone(), get(&r.stats));
                }
                active.add(l.clone(), r.active_conns);
                inactive.add(l.clone(), r.inactive_conns);
                uth.add(l.clone(), r.spec.thresholds.upper);
                lth.add(l.clone(), r.spec.thresholds.lower);
                weight.add(l, r.spec.weight);
                let mut info = rs_labels(&s.spec.key, r.spec.addr);
                info.push(("method", r.spec.method.name().to_string()));
                rs_info.add(labels(&info), 1);
            }
        }
        for w in workers {
            let l = labels(&[("worker", w.worker.to_string()), ("lcore", w.lcore.to_string())]);
            for (f, get) in wk.iter_mut() {
                f.add(l.clone(), get(w));
            }
            for (reason, n) in &w.drops {
                drops.add(labels(&[("worker", w.worker.to_string()), ("reason", reason.clone())]), n);
            }
            for v in &w.vlans {
                let l = labels(&[
                    ("worker", w.worker.to_string()),
                    ("port", v.port.clone()),
                    ("vlan", v.vlan.to_string()),
                ]);
                for (f, (_, _, get)) in vlan_fams.iter_mut().zip(vlan_fields.iter()) {
                    f.add(l.clone(), get(v));
                }
            }
            for (event, n) in &w.events {
                events.add(labels(&[("worker", w.worker.to_string()), ("event", event.clone())]), n);
            }
        }
        for p in ports {
            let l = labels(&[("port", p.port.clone()), ("device", p.device.clone())]);
            for (f, (_, _, get)) in port_fams.iter_mut().zip(port_fields.iter()) {
                f.add(l.clone(), get(p));
            }
        }
        neighbour_gauges(neighbours.as_deref().unwrap_or_default(), &mut neigh, &mut neigh_queued);
    }
    for vs in &st.services {
        vs_quorum.add(labels(&vs_labels(&vs.key)), u8::from(vs.quorum_up));
        let o = &vs.options;
        let mut l = vs_labels(&vs.key);
        l.extend([
            ("scheduler", vs.scheduler.clone()),
            ("sched_flags", o.sched_flags.join(",")),
            ("persistence_timeout", o.persistence.map(|p| p.timeout.to_string()).unwrap_or_default()),
            ("persistence_prefix_len", o.persistence.map(|p| p.prefix_len.to_string()).unwrap_or_default()),
            ("syn_proxy", o.syn_proxy.to_string()),
            ("toa", o.toa.to_string()),
            ("proxy_protocol", o.proxy_protocol.map(|v| format!("v{v}")).unwrap_or_default()),
        ]);
        vs_opts.add(labels(&l), 1);
        for r in &vs.reals {
            let base = rs_labels(&vs.key, r.addr);
            rs_up.add(labels(&base), u8::from(r.alive));
            for (i, c) in r.checks.iter().enumerate() {
                let mut l = base.clone();
                l.push(("check", c.kind.to_string()));
                l.push(("index", i.to_string()));
                l.push(("target", c.target.to_string()));
                let l = labels(&l);
                check_up.add(l.clone(), u8::from(c.up));
                check_runs.add(l.clone(), c.runs);
                if let Some(d) = c.last_duration {
                    check_dur.add(l, format!("{:.6}", d.as_secs_f64()));
                }
            }
        }
    }
    fams.extend(vs_fams);
    fams.push(vs_quorum);
    fams.push(vs_opts);
    fams.extend(rs_fams);
    fams.extend([active, inactive, weight, rs_info, uth, lth, rs_up]);
    fams.extend(wk.into_iter().map(|(f, _)| f));
    fams.extend([drops, events]);
    fams.extend(vlan_fams);
    fams.extend(port_fams);
    fams.extend([neigh, neigh_queued]);
    fams.extend([check_up, check_dur, check_runs]);
    let mut out = String::new();
    for f in &fams {
        f.render(&mut out);
    }
    out
}

/// `rvs_neighbours` and `rvs_neighbour_queued_packets`: every state of every interface that
/// has an entry, zeros included, so that a rule over the incomplete ones sees 0, not nothing.
fn neighbour_gauges(rows: &[rvs_proto::NeighInfo], count: &mut Family, queued: &mut Family) {
    const STATES: [&str; 4] = ["reachable", "stale", "incomplete", "permanent"];
    let mut by_dev: std::collections::BTreeMap<&str, ([u64; 4], u64)> = Default::default();
    for r in rows {
        let (counts, waiting) = by_dev.entry(r.dev.as_str()).or_default();
        if let Some(i) = STATES.iter().position(|s| *s == r.state) {
            counts[i] += 1;
        }
        *waiting += r.queued;
    }
    for (dev, (counts, waiting)) in by_dev {
        for (state, n) in STATES.iter().zip(counts) {
            count.add(labels(&[("dev", dev.to_string()), ("state", state.to_string())]), n);
        }
        queued.add(labels(&[("dev", dev.to_string())]), waiting);
    }
}
