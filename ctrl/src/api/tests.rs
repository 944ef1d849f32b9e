//! Routing and rendering tests of [`super::respond`] and [`super::metrics`], without sockets.

use super::*;
use crate::overrides::{apply_op, Overrides};
use std::cell::RefCell;

fn key() -> ServiceKey {
    ServiceKey { protocol: Protocol::Tcp, addr: "198.18.0.100:80".parse().unwrap() }
}

fn status() -> Status {
    let rs = |a: &str, alive| RsStatus {
        addr: a.parse().unwrap(),
        method: rvs_proto::ForwardMethod::FullNat,
        file_weight: Some(1),
        thresholds: Default::default(),
        alive,
        override_: None,
        checks: vec![CheckStatus {
            kind: "TCP_CHECK",
            target: a.parse().unwrap(),
            up: alive,
            last_duration: Some(Duration::from_micros(1500)),
            runs: 3,
            last_error: None,
        }],
    };
    let mut desired = Table::new();
    desired.insert(
        key(),
        crate::check::state::DesiredService {
            scheduler: "rr".into(),
            local_addrs: vec![],
            reals: [("198.19.0.11:80".parse().unwrap(), 1)].into_iter().collect(),
            ..Default::default()
        },
    );
    Status {
        services: vec![VsStatus {
            key: key(),
            group: None,
            scheduler: "rr".into(),
            options: Default::default(),
            quorum: 1,
            hysteresis: 0,
            quorum_up: true,
            sorry_server: Some("198.19.0.13:8080".parse().unwrap()),
            local_addrs: vec!["198.19.0.200".parse().unwrap()],
            reals: vec![rs("198.19.0.11:80", true), rs("198.19.0.12:80", false)],
        }],
        desired,
    }
}

fn rvsd() -> RvsdCounters {
    let t = TrafficStats { conns: 10, in_pkts: 50, out_pkts: 40, in_bytes: 5000, out_bytes: 9000 };
    let services = vec![crate::testutil::one_service_info(t, 2, 1)];
    let workers = vec![WorkerStats {
        worker: 0,
        lcore: 1,
        rx_packets: 90,
        drops: vec![("no_service".into(), 3), ("bad \"quote\"".into(), 1)],
        vlans: vec![rvs_proto::VlanStats {
            port: "server".into(),
            vlan: 10,
            rx_packets: 40,
            rx_bytes: 4000,
            tx_packets: 41,
            tx_bytes: 4100,
            drops: 2,
        }],
        events: vec![("synproxy_syn_answered".into(), 7)],
        sessions_capacity: 1024,
        loops: 5,
        ..Default::default()
    }];
    let ports = vec![rvs_proto::PortStats {
        port: "client".into(),
        device: "net_af_packet0".into(),
        rx_packets: 95,
        rx_missed: 12,
        rx_nombuf: 1,
        ..Default::default()
    }];
    let neighbour = |addr: &str, dev: &str, state: &str, queued, workers: Vec<u16>| rvs_proto::NeighInfo {
        addr: addr.parse().unwrap(),
        dev: dev.into(),
        mac: None,
        state: state.into(),
        queued,
        workers,
    };
    let neighbours = vec![
        neighbour("198.19.0.11", "server", "permanent", 0, vec![0, 1]),
        neighbour("198.19.0.12", "server", "incomplete", 3, vec![0]),
        neighbour("198.19.0.12", "server", "reachable", 0, vec![1]),
        neighbour("198.19.0.13", "server", "incomplete", 2, vec![0, 1]),
    ];
    RvsdCounters { services, workers, ports, neighbours: Some(neighbours) }
}

pub(super) struct Fake {
    status: Status,
    ov: RefCell<Overrides>,
    services: RefCell<crate::overrides::ServiceOverrides>,
    config: crate::keepalived::Config,
}

impl Backend for Fake {
    fn status(&self) -> Arc<Status> {
        Arc::new(self.status.clone())
    }
    fn rvsd(&self) -> Result<RvsdCounters, String> {
        Ok(RvsdCounters { neighbours: None, ..rvsd() })
    }
    fn neighbours(&self) -> Option<Vec<rvs_proto::NeighInfo>> {
        rvsd().neighbours
    }
    fn submit(&self, op: Op) -> Result<(), OpError> {
        match op {
            Op::Service(sop) => {
                crate::overrides::apply_service_op(&self.config, &mut self.services.borrow_mut(), sop)
            }
            op => apply_op(&self.config, &mut self.ov.borrow_mut(), op),
        }
    }
}

pub(super) fn fake() -> Fake {
    let text = "local_address_group g {\n 198.19.0.200\n}\n\
                virtual_server 198.18.0.100 80 {\n lb_algo rr\n lb_kind FNAT\n laddr_group_name g\n real_server 198.19.0.11 80 {\n }\n\
                real_server 198.19.0.12 80 {\n }\n}\n";
    Fake {
        status: status(),
        ov: RefCell::default(),
        services: RefCell::default(),
        config: crate::keepalived::load_str("k.conf", text).unwrap().config,
    }
}

#[test]
fn metrics_have_help_type_and_labels() {
    let m = metrics(&status(), Some(&rvsd()));
    for want in [
        "# HELP rvs_vs_conns_total Connections scheduled, per virtual service\n",
        "# TYPE rvs_vs_conns_total counter\n",
        "rvs_vs_conns_total{vip=\"198.18.0.100\",port=\"80\",proto=\"tcp\"} 10\n",
        "rvs_rs_in_bytes_total{vip=\"198.18.0.100\",port=\"80\",proto=\"tcp\",rip=\"198.19.0.11\",rport=\"80\"} 5000\n",
        "rvs_rs_active_conns{vip=\"198.18.0.100\",port=\"80\",proto=\"tcp\",rip=\"198.19.0.11\",rport=\"80\"} 2\n",
        "rvs_rs_up{vip=\"198.18.0.100\",port=\"80\",proto=\"tcp\",rip=\"198.19.0.12\",rport=\"80\"} 0\n",
        "rvs_rs_info{vip=\"198.18.0.100\",port=\"80\",proto=\"tcp\",rip=\"198.19.0.11\",rport=\"80\",method=\"fullnat\"} 1\n",
        "rvs_worker_rx_packets_total{worker=\"0\",lcore=\"1\"} 90\n",
        "rvs_drops_total{worker=\"0\",reason=\"no_service\"} 3\n",
        "rvs_events_total{worker=\"0\",event=\"synproxy_syn_answered\"} 7\n",
        "rvs_worker_sessions_capacity{worker=\"0\",lcore=\"1\"} 1024\n",
        "rvs_worker_loops_total{worker=\"0\",lcore=\"1\"} 5\n",
        "rvs_drops_total{worker=\"0\",reason=\"bad \\\"quote\\\"\"} 1\n",
        "rvs_vlan_rx_packets_total{worker=\"0\",port=\"server\",vlan=\"10\"} 40\n",
        "rvs_vlan_tx_bytes_total{worker=\"0\",port=\"server\",vlan=\"10\"} 4100\n",
        "rvs_vlan_drops_total{worker=\"0\",port=\"server\",vlan=\"10\"} 2\n",
        "# HELP rvs_port_rx_missed_total Frames a port dropped because the workers' receive queues were full (DPDK imissed), as its NIC counts them\n",
        "rvs_port_rx_packets_total{port=\"client\",device=\"net_af_packet0\"} 95\n",
        "rvs_port_rx_missed_total{port=\"client\",device=\"net_af_packet0\"} 12\n",
        "rvs_port_rx_nombuf_total{port=\"client\",device=\"net_af_packet0\"} 1\n",
        "rvs_port_tx_errors_total{port=\"client\",device=\"net_af_packet0\"} 0\n",
        "rvs_check_duration_seconds{vip=\"198.18.0.100\",port=\"80\",proto=\"tcp\",rip=\"198.19.0.11\",rport=\"80\",check=\"TCP_CHECK\",index=\"0\",target=\"198.19.0.11:80\"} 0.001500\n",
        "rvs_rvsd_up 1\n",
        // A neighbour the workers hold differently counts in each of its states.
        "rvs_neighbours{dev=\"server\",state=\"incomplete\"} 2\n",
        "rvs_neighbours{dev=\"server\",state=\"reachable\"} 1\n",
        "rvs_neighbours{dev=\"server\",state=\"permanent\"} 1\n",
        "rvs_neighbours{dev=\"server\",state=\"stale\"} 0\n",
        "rvs_neighbour_queued_packets{dev=\"server\"} 5\n",
    ] {
        assert!(m.contains(want), "missing {want:?} in\n{m}");
    }
    // Every sample line's family has HELP and TYPE before it.
    let mut typed = std::collections::HashSet::new();
    for line in m.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            typed.insert(rest.split(' ').next().unwrap().to_string());
        } else if !line.starts_with('#') {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(typed.contains(name), "{line}");
        }
    }
    let down = metrics(&status(), None);
    assert!(down.contains("rvs_rvsd_up 0\n"));
    assert!(down.contains("rvs_check_up{"));
    // The route asks for the neighbour listing, which rvsd's counters come without.
    let scraped = respond("GET", "/metrics", "", &fake());
    assert!(scraped.body.contains("rvs_neighbour_queued_packets{dev=\"server\"} 5\n"), "{}", scraped.body);
}

#[test]
fn services_json_merges_health_and_rvsd() {
    let a = respond("GET", "/api/v1/services", "", &fake());
    assert_eq!(a.status, 200);
    let v: Value = serde_json::from_str(&a.body).unwrap();
    let s = &v["services"][0];
    assert_eq!(s["vip"], "198.18.0.100");
    assert_eq!(s["stats"]["conns"], 10);
    assert_eq!(s["reals"][0]["rvsd"]["active_conns"], 2);
    assert_eq!(s["reals"][0]["weight"], 1);
    assert_eq!(s["reals"][0]["method"], "fullnat");
    assert_eq!(s["reals"][0]["rvsd"]["method"], "fullnat");
    assert_eq!(s["reals"][1]["alive"], false);
    assert_eq!(s["reals"][1]["weight"], Value::Null);
    assert_eq!(s["reals"][2]["source"], "sorry_server");
    let one = respond("GET", "/api/v1/services/tcp/198.18.0.100:80", "", &fake());
    assert_eq!(one.status, 200);
    assert_eq!(respond("GET", "/api/v1/services/udp/198.18.0.100:80", "", &fake()).status, 404);
}

#[test]
fn routes_and_errors() {
    let f = fake();
    let base = "/api/v1/services/tcp/198.18.0.100:80";
    let r = |m: &str, u: &str, b: &str| respond(m, u, b, &f);
    assert_eq!(r("POST", &format!("{base}/reals"), r#"{"address":"198.19.0.13:80","weight":2}"#).status, 201);
    assert_eq!(r("POST", &format!("{base}/reals"), r#"{"address":"198.19.0.13:80"}"#).status, 409);
    assert_eq!(r("POST", &format!("{base}/reals"), r#"{"address":"198.19.0.14"}"#).status, 201);
    assert_eq!(r("POST", &format!("{base}/reals"), r#"{"address":"nope"}"#).status, 400);
    let dr = r("POST", &format!("{base}/reals"), r#"{"address":"198.19.0.15:80","method":"DR"}"#);
    assert_eq!(dr.status, 201);
    let key = ServiceKey { protocol: Protocol::Tcp, addr: "198.18.0.100:80".parse().unwrap() };
    assert_eq!(
        f.ov.borrow().get(&(key, "198.19.0.15:80".parse().unwrap())),
        Some(&crate::overrides::Override::Added(1, rvs_proto::ForwardMethod::DirectRoute))
    );
    let bad = r("POST", &format!("{base}/reals"), r#"{"address":"198.19.0.16:80","method":"gre"}"#);
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(r("PUT", &format!("{base}/reals/198.19.0.15:80"), r#"{"method":"nat"}"#).status, 400);
    assert_eq!(r("POST", &format!("{base}/reals"), "{").status, 400);
    assert_eq!(r("PUT", &format!("{base}/reals/198.19.0.13:80"), r#"{"weight":5}"#).status, 200);
    assert_eq!(r("PUT", &format!("{base}/reals/198.19.0.13:80"), r#"{"weight":-1}"#).status, 400);
    assert_eq!(r("PUT", &format!("{base}/reals/198.19.0.13:80"), "{}").status, 400);
    assert_eq!(r("POST", &format!("{base}/reals/198.19.0.11:80/drain"), "").status, 200);
    assert_eq!(r("DELETE", &format!("{base}/reals/198.19.0.13:80"), "").status, 200);
    assert_eq!(r("DELETE", &format!("{base}/reals/198.19.0.13:80"), "").status, 404);
    assert_eq!(r("GET", &format!("{base}/reals/198.19.0.11:80"), "").status, 405);
    assert_eq!(r("POST", "/api/v1/services/sctp/198.18.0.100:80/reals", "{}").status, 404);
    assert_eq!(
        r("POST", "/api/v1/services/tcp/198.18.0.1:80/reals", r#"{"address":"198.19.0.1:80"}"#).status,
        404
    );
    assert_eq!(r("GET", "/nope", "").status, 404);
    assert_eq!(r("POST", "/metrics", "").status, 405);
    let m = r("GET", "/metrics?x=1", "");
    assert_eq!((m.status, m.content_type), (200, METRICS_TYPE));
    let ov = f.ov.borrow();
    assert_eq!(ov.len(), 3, "{ov:?}");
}

#[test]
fn service_routes() {
    let f = fake();
    let r = |m: &str, u: &str, b: &str| respond(m, u, b, &f);
    let add = r#"{"address":"198.18.0.100:8080","local_addresses":["198.19.0.201"],"scheduler":"rr","persistence_timeout":30}"#;
    assert_eq!(r("POST", "/api/v1/services", add).status, 201);
    let again = r("POST", "/api/v1/services", add);
    assert_eq!(again.status, 409, "{}", again.body);
    // NAT64: an IPv6 service with IPv4 local addresses and real servers; not the reverse.
    let v6 =
        r("POST", "/api/v1/services", r#"{"address":"[2001:db8::1]:80","local_addresses":["198.19.0.201"]}"#);
    assert_eq!(v6.status, 201, "{}", v6.body);
    let v4 =
        r("POST", "/api/v1/services", r#"{"address":"198.18.0.100:8081","local_addresses":["2001:db8::2"]}"#);
    assert_eq!(v4.status, 400);
    assert!(v4.body.contains("not of the same address family"), "{}", v4.body);
    assert_eq!(r("POST", "/api/v1/services", "{").status, 400);
    assert_eq!(r("POST", "/api/v1/services", r#"{"address":"198.18.0.100:81","bogus":1}"#).status, 400);
    let base = "/api/v1/services/tcp/198.18.0.100:80";
    assert_eq!(r("PUT", base, r#"{"persistence_timeout":50,"toa":true}"#).status, 200);
    assert_eq!(r("PUT", base, r#"{"scheduler":"nope"}"#).status, 400);
    assert_eq!(r("PUT", "/api/v1/services/tcp/198.18.0.9:80", "{}").status, 404);
    assert_eq!(r("DELETE", base, "").status, 200);
    assert_eq!(r("DELETE", base, "").status, 404);
    let so = f.services.borrow();
    assert_eq!(so.added.len(), 2, "{so:?}");
    let v4 = so.added.values().find(|d| d.key.addr.is_ipv4()).unwrap();
    assert_eq!(v4.options.persistence.unwrap().timeout, 30);
    assert!(so.removed.contains(&key()) && so.edited.is_empty(), "{so:?}");
}

#[test]
fn methods_and_escaped_paths() {
    let f = fake();
    let r = |m: &str, u: &str| respond(m, u, "{}", &f);
    // The service list takes GET and POST, nothing else: 405, not "no route".
    for m in ["DELETE", "PUT", "PATCH"] {
        let a = r(m, "/api/v1/services");
        assert_eq!(a.status, 405, "{m}: {}", a.body);
    }
    // %-escapes are decoded in each segment, as a client's URL library writes them.
    assert_eq!(r("GET", "/api/v1/services/tcp/198.18.0.100%3A80").status, 200);
    assert_eq!(r("GET", "/api/v1/%73ervices/tcp/198.18.0.100:80").status, 200);
    assert_eq!(r("GET", "/api/v1/services/tcp/%5B2001%3Adb8%3A%3A1%5D%3A80").status, 404);
    // ... and refused when malformed or not UTF-8 once decoded.
    for bad in ["/api/v1/services/tcp/%FF%FE:80", "/api/v1/%zz", "/api/v1/%+1", "/metrics%"] {
        let a = r("GET", bad);
        assert_eq!(a.status, 400, "{bad}: {}", a.body);
        assert!(a.body.contains("\"error\""), "{}", a.body);
    }
}

/// [`allowed`] (the `Allow` header of a 405) agrees with the routes: a method is refused
/// with 405 exactly when `allowed` does not name it.
#[test]
fn allow_matches_the_routes() {
    let base = "/api/v1/services/tcp/198.18.0.100:80";
    let paths = [
        "/metrics".to_string(),
        "/api/v1/services".into(),
        "/api/v1/vrrp".into(),
        "/api/v1/ownership".into(),
        base.into(),
        format!("{base}/reals"),
        format!("{base}/reals/198.19.0.11:80"),
        format!("{base}/reals/198.19.0.11:80/drain"),
    ];
    for path in &paths {
        let allow = allowed(path).unwrap_or_else(|| panic!("no Allow for {path}"));
        for m in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            let a = respond(m, path, "{}", &fake());
            assert_eq!(a.status == 405, !allow.split(", ").any(|x| x == m), "{m} {path} ({allow}): {a:?}");
        }
    }
    assert_eq!(allowed("/nope"), None);
    assert_eq!(allowed(&format!("{base}/reals/198.19.0.11:80/x")), None);
}
