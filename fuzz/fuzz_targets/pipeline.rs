//! Arbitrary frames into a worker pipeline with services, SYN proxy, TOA and PROXY protocol,
//! and NAT, DR and TUN real servers configured: every frame is handled (forwarded, answered or dropped and counted), never a
//! panic. The first byte picks the ingress port.
#![no_main]
use std::sync::{Arc, OnceLock, Mutex};

use libfuzzer_sys::fuzz_target;
use rvs_core::frame::VecAlloc;
use rvs_core::pipeline::{Output, Pipeline, PipelineConfig, PortInfo, VlanInfo};
use rvs_core::route::{Prefix, Route, RouteTable};
use rvs_core::service::Registry;
use rvs_core::stats::WorkerCounters;
use rvs_core::time::Time;
use rvs_core::wire::MacAddr;
use rvs_proto::{ForwardMethod, Protocol, RealSpec, ServiceKey, ServiceOptions, ServiceSpec};

fn pipeline() -> Pipeline<Vec<u8>> {
    let mut reg = Registry::new(16, 64);
    for (port, opts, method) in [
        (80, ServiceOptions::default(), ForwardMethod::FullNat),
        (81, ServiceOptions { syn_proxy: true, toa: true, ..Default::default() }, ForwardMethod::FullNat),
        (82, ServiceOptions { proxy_protocol: Some(2), ..Default::default() }, ForwardMethod::FullNat),
        (83, ServiceOptions::default(), ForwardMethod::Nat),
        (84, ServiceOptions::default(), ForwardMethod::DirectRoute),
        (85, ServiceOptions::default(), ForwardMethod::Tunnel),
    ] {
        let key = ServiceKey { protocol: Protocol::Tcp, addr: format!("198.18.0.100:{port}").parse().unwrap() };
        let spec = ServiceSpec {
            key,
            scheduler: "rr".into(),
            local_addrs: vec!["198.19.0.200".parse().unwrap()],
            options: opts,
        };
        reg.add_service(spec).unwrap();
        for i in 11..=12 {
            let real = RealSpec {
                addr: format!("198.19.0.{i}:80").parse().unwrap(),
                weight: 1,
                method,
                thresholds: Default::default(),
                tunnel: None,
            };
            reg.add_real(&key, real).unwrap();
        }
    }
    let mut routes = RouteTable::new();
    let ip = |s: &str| s.parse().unwrap();
    routes.add(Route { prefix: Prefix::new(ip("198.18.0.0"), 24).unwrap(), port: 0, gateway: None });
    routes.add(Route { prefix: Prefix::new(ip("198.19.0.0"), 24).unwrap(), port: 1, gateway: None });
    routes.add(Route { prefix: Prefix::new(ip("198.19.10.0"), 24).unwrap(), port: 2, gateway: None });
    let cfg = PipelineConfig {
        worker: 0,
        workers: 2,
        ports: vec![
            PortInfo { mac: MacAddr([2, 0, 0, 0, 0, 1]), addrs: vec![(ip("198.18.0.1"), 24)], vlans: vec![], mtu: 1500 },
            // Tagged frames with VLAN 10 take the VLAN path (interface 2), others are
            // dropped as unknown.
            PortInfo {
                mac: MacAddr([2, 0, 0, 0, 0, 2]),
                addrs: vec![(ip("198.19.0.1"), 24)],
                vlans: vec![VlanInfo {
                    id: 10,
                    addrs: vec![(ip("198.19.10.1"), 24)],
                    lips: vec![ip("198.19.10.200")],
                }],
                mtu: 1500,
            },
        ],
        routes,
        max_sessions: 4096,
        local_port_range: (1025, 65535),
        timeouts: rvs_proto::Timeouts { tcp: 900, tcp_fin: 120, udp: 300 },
        neigh: Default::default(),
        cookie_secrets: rvs_core::synproxy::CookieSecrets::new(
            rvs_core::synproxy::SecretKey::from_bytes([7; 16]),
        ),
        synproxy: Default::default(),
        expire_nodest_conn: true,
        exception_path: false,
        steering: Default::default(),
        v6: Default::default(),
        mem_advice: None,
    };
    Pipeline::new(cfg, Arc::new(reg.snapshot()), Arc::new(WorkerCounters::new(16, 64).with_vlans(1)), Time::ZERO)
}

static STATE: OnceLock<Mutex<(Pipeline<Vec<u8>>, Output<Vec<u8>>, u64)>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Some((&port, frame)) = data.split_first() else { return };
    let state = STATE.get_or_init(|| Mutex::new((pipeline(), Output::new(2, 2), 0)));
    let mut g = state.lock().unwrap();
    let (p, out, t) = &mut *g;
    *t += 1_000_000;
    p.handle((port & 1) as u16, frame.to_vec(), Time(*t), &mut VecAlloc, out);
    p.poll(Time(*t), &mut VecAlloc, out);
    out.tx.iter_mut().for_each(Vec::clear);
    out.redirect.iter_mut().for_each(Vec::clear);
    out.learned.clear();
});
