use super::*;
use crate::api::{RsStatus, VsStatus};
use rvs_proto::{Protocol, TrafficStats};

fn key() -> ServiceKey {
    ServiceKey { protocol: Protocol::Tcp, addr: "198.18.0.100:80".parse().unwrap() }
}

fn answer(conns: u64, bytes: u64, drops: u64) -> crate::api::RvsdCounters {
    let t = TrafficStats {
        conns,
        in_pkts: conns * 5,
        out_pkts: conns * 4,
        in_bytes: bytes,
        out_bytes: bytes * 2,
    };
    let services = vec![crate::testutil::one_service_info(t, 3, 1)];
    let workers = vec![WorkerStats {
        worker: 0,
        lcore: 1,
        rx_packets: conns * 9,
        drops: vec![("no_service".into(), drops)],
        events: vec![("synproxy_syn_answered".into(), 7)],
        ..Default::default()
    }];
    let ports = vec![rvs_proto::PortStats {
        port: "client".into(),
        device: "0000:03:00.0".into(),
        rx_packets: conns * 9,
        tx_packets: conns * 8,
        rx_missed: drops * 100,
        ..Default::default()
    }];
    let neighbours = vec![rvs_proto::NeighInfo {
        addr: "198.19.0.11".parse().unwrap(),
        dev: "server".into(),
        mac: None,
        state: "incomplete".into(),
        queued: drops,
        workers: vec![0],
    }];
    crate::api::RvsdCounters { services, workers, ports, neighbours: Some(neighbours) }
}

fn status(alive: bool) -> Status {
    Status {
        services: vec![VsStatus {
            key: key(),
            group: None,
            scheduler: "rr".into(),
            options: Default::default(),
            quorum: 1,
            hysteresis: 0,
            quorum_up: alive,
            sorry_server: None,
            local_addrs: vec![],
            reals: vec![RsStatus {
                addr: "198.19.0.11:80".parse().unwrap(),
                method: rvs_proto::ForwardMethod::FullNat,
                file_weight: Some(1),
                thresholds: Default::default(),
                alive,
                override_: None,
                checks: vec![],
            }],
        }],
        desired: Default::default(),
    }
}

#[test]
fn rates_between_samples_and_history_points() {
    let d = Dashboard::new();
    let t0 = Instant::now();
    d.record(Ok(answer(100, 10_000, 4)), t0, 1_000);
    d.record(Ok(answer(120, 14_000, 10)), t0 + Duration::from_secs(2), 3_000);
    let v = d.data(&status(true), 0);
    let vs = &v["services"][0];
    assert_eq!(vs["rate"]["conns_per_s"], json!(10.0));
    assert_eq!(vs["rate"]["in_Bps"], json!(2000.0));
    assert_eq!(vs["rate"]["active_conns"], json!(3.0));
    let rs = &vs["reals"][0];
    assert_eq!(rs["id"], "rs:tcp/198.18.0.100:80/198.19.0.11:80");
    assert_eq!(rs["rvsd"]["stats"]["conns"], 120);
    assert_eq!(rs["rate"]["out_Bps"], json!(4000.0));
    assert_eq!(v["drops"][0], json!({"reason": "no_service", "count": 10, "per_s": 3.0}));
    assert_eq!(v["synproxy"]["synproxy_syn_answered"], 7);
    assert_eq!(v["workers"][0]["rate"]["rx_pps"], json!(90.0));
    let port = &v["ports"][0];
    assert_eq!((port["port"].as_str(), port["device"].as_str()), (Some("client"), Some("0000:03:00.0")));
    assert_eq!((port["rx_packets"].as_u64(), port["rx_missed"].as_u64()), (Some(1080), Some(1000)));
    assert_eq!((port["rx_pps"].as_f64(), port["rx_missed_per_s"].as_f64()), (Some(90.0), Some(300.0)));
    let n = &v["neighbours"][0];
    assert_eq!((n["addr"].as_str(), n["dev"].as_str()), (Some("198.19.0.11"), Some("server")));
    assert_eq!(
        (n["state"].as_str(), n["queued"].as_u64(), &n["mac"]),
        (Some("incomplete"), Some(10), &Value::Null)
    );
    assert_eq!(v["rvsd_up"], true);
    assert_eq!(v["history"]["t"], json!([]));
    // A sample that did not ask for the neighbours keeps the last listing.
    let mut a = answer(130, 15_000, 0);
    a.neighbours = None;
    d.record(Ok(a), t0 + Duration::from_secs(3), 4_000);
    assert_eq!(d.data(&status(true), 0)["neighbours"][0]["queued"], 10);

    // A zeroed counter (rvsadm -Z) counts from zero, never negative.
    for i in 2..u64::from(HISTORY_EVERY) + 1 {
        d.record(Ok(answer(10, 1_000, 0)), t0 + Duration::from_secs(2 * i), 1_000 + 2_000 * i);
    }
    let v = d.data(&status(false), 0);
    assert_eq!(v["history"]["t"].as_array().unwrap().len(), 1);
    let p = &v["history"]["series"]["vs:tcp/198.18.0.100:80"][0];
    assert!(p[0].as_f64().unwrap() >= 0.0, "{p}");
    assert_eq!(v["services"][0]["reals"][0]["alive"], false);
    // Only newer points after `since`.
    let last = v["history"]["t"][0].as_u64().unwrap();
    assert_eq!(d.data(&status(true), last)["history"]["t"], json!([]));

    d.record(Err("connection refused".into()), t0 + Duration::from_secs(40), 41_000);
    let v = d.data(&status(true), 0);
    assert_eq!(v["rvsd_up"], false);
    assert_eq!(v["rvsd_error"], "connection refused");
    assert_eq!(v["services"][0]["rvsd"], Value::Null);
}

#[test]
fn routes() {
    let d = Dashboard::new();
    let st = status(true);
    let page = d.respond("GET", "/", &st).unwrap();
    assert!(page.content_type.starts_with("text/html") && page.body.contains("/dashboard.js"));
    assert!(d.respond("GET", "/dashboard.js", &st).unwrap().body.contains("/api/v1/dashboard"));
    assert!(d.respond("GET", "/dashboard.css", &st).is_some());
    let data = d.respond("GET", "/api/v1/dashboard?since=5", &st).unwrap();
    assert_eq!(data.content_type, "application/json");
    let v: Value = serde_json::from_str(&data.body).unwrap();
    assert_eq!(v["rvsd_up"], false);
    assert_eq!(d.respond("POST", "/", &st).unwrap().status, 405);
    assert!(d.respond("GET", "/api/v1/services", &st).is_none());
}

/// The page loads nothing from elsewhere: no CDN, no font, no remote script.
#[test]
fn assets_are_self_contained() {
    for a in [INDEX_HTML, DASHBOARD_JS, DASHBOARD_CSS] {
        for bad in ["http://", "https://", "//cdn", "@import"] {
            assert!(!a.contains(bad), "an asset refers to {bad}");
        }
    }
}
