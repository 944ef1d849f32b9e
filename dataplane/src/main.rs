//! rvsd: the RVS dataplane daemon.
//!
//! Start-up is all or nothing: the config is validated, DPDK initialised, every port
//! probed and started, and only then does the control socket appear. Any failure exits
//! non-zero with a message naming the config line when there is one.

use clap::Parser;
use crossbeam::channel::bounded;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use rvs_dataplane::config::{self, Config};
use rvs_dataplane::control::{self, Control, SocketGuard, WorkerHandle};
use rvs_dataplane::dpdk::flow::{self, PortProbe, PortSteering};
use rvs_dataplane::dpdk::{Eal, FlowRules, Mempool, Port, DEFAULT_DATA_ROOM, HEADROOM, SOCKET_ANY};
use rvs_dataplane::neigh::NeighParams;
use rvs_dataplane::pipeline::{Pipeline, PipelineConfig, PortInfo, VlanInfo};
use rvs_dataplane::route::RouteTable;
use rvs_dataplane::service::{Registry, WorkerConfig};
use rvs_dataplane::stats::WorkerCounters;
use rvs_dataplane::synproxy::{CookieSecrets, SecretKey};
use rvs_dataplane::time::Clock;
use rvs_dataplane::wire::MacAddr;
use rvs_dataplane::worker::{handoff_rings, IdlePolicy, Worker};

use rvs_dataplane::cli::Args;

/// A start-up failure: printed as `rvsd: <message>`.
struct Fatal(String);

impl<E: std::fmt::Display> From<E> for Fatal {
    fn from(e: E) -> Self {
        Fatal(e.to_string())
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fatal(msg)) => {
            eprintln!("rvsd: {msg}");
            ExitCode::from(2)
        }
    }
}

/// Applies the config's services to a fresh registry; errors name the line.
fn registry_from(cfg: &Config) -> Result<Registry, Fatal> {
    let mut reg = Registry::new(cfg.dataplane.max_services, cfg.dataplane.max_reals);
    let at = |line: usize| format!("{}:{line}", cfg.path.display());
    for s in &cfg.services {
        reg.add_service(s.spec.clone()).map_err(|e| Fatal(format!("{}: {e}", at(s.line))))?;
        for (r, line) in &s.reals {
            reg.add_real(&s.spec.key, r.clone()).map_err(|e| Fatal(format!("{}: {e}", at(*line))))?;
        }
    }
    Ok(reg)
}

fn eal_args(cfg: &Config) -> Vec<String> {
    let d = &cfg.dataplane;
    let mut args = d.eal_args.clone();
    if !args.iter().any(|a| a == "-l" || a == "--lcores" || a.starts_with("-l") || a == "-c") {
        args.push("-l".into());
        args.push(d.main_cpu.to_string());
    }
    let workers = d.workers.len();
    for p in &cfg.ports {
        if p.is_pci() {
            args.push("-a".into());
            args.push(match &p.devargs {
                Some(a) => format!("{},{a}", p.device),
                None => p.device.clone(),
            });
        } else {
            let mut spec = p.device.clone();
            if let Some(a) = &p.devargs {
                spec.push(',');
                spec.push_str(a);
            }
            // af_packet spreads over queue pairs with a kernel fanout group: one per worker.
            if p.device.starts_with("net_af_packet") && !spec.contains("qpairs=") {
                spec.push_str(&format!(",qpairs={workers}"));
            }
            args.push("--vdev".into());
            args.push(spec);
        }
    }
    // Kernel interfaces of the exception path that DPDK makes (virtio_user).
    args.extend(rvs_dataplane::exception::eal_vdevs(cfg));
    args
}

/// The packet buffers' data room: DPDK's default, or more when an af_packet port's ring
/// frames are bigger (`framesz` devarg). The af_packet PMD copies a whole ring frame into one
/// mbuf, and a bigger frame is how a datagram the kernel reassembled (the PMD's fanout group
/// defragments IPv4) reaches rvsd whole, to be fragmented again to the egress MTU.
fn data_room(cfg: &Config) -> u16 {
    let framesz = cfg
        .ports
        .iter()
        .filter(|p| p.device.starts_with("net_af_packet"))
        .filter_map(|p| p.devargs.as_deref())
        .flat_map(|a| a.split(','))
        .filter_map(|kv| kv.strip_prefix("framesz=")?.parse::<u32>().ok())
        .max()
        .unwrap_or(0);
    framesz.saturating_add(u32::from(HEADROOM)).clamp(u32::from(DEFAULT_DATA_ROOM), u32::from(u16::MAX))
        as u16
}

/// The ports replies arrive on: those the real servers of the configured services are
/// routed through (sorted, each once). Empty when no service has a real server at start.
fn reply_ports(cfg: &Config, routes: &RouteTable) -> Vec<usize> {
    // Routes leave by interfaces (port, VLAN); steering is per port.
    let ifaces = cfg.interfaces();
    let mut ports: Vec<usize> = cfg
        .services
        .iter()
        .flat_map(|s| s.reals.iter())
        .filter_map(|(r, _)| match r.addr.ip() {
            IpAddr::V4(ip) => routes.lookup(ip).and_then(|h| ifaces.get(h.port as usize)).map(|i| i.port),
            IpAddr::V6(_) => None,
        })
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// The IPv4 LIPs of the configured services.
fn lips_of(cfg: &Config) -> BTreeSet<Ipv4Addr> {
    cfg.services
        .iter()
        .flat_map(|s| s.spec.local_addrs.iter())
        .filter_map(|a| match a {
            IpAddr::V4(v4) => Some(*v4),
            IpAddr::V6(_) => None,
        })
        .collect()
}

/// Chooses how replies reach their owner (see `dpdk::flow`), logs each port's way and
/// installs the flow rules of the LIPs known at start. Returns the decision, the text
/// `rvsadm --workers` shows, and the rules for the control thread to keep in step.
fn setup_steering(
    cfg: &Config,
    ports: &[Port],
    routes: &RouteTable,
    workers: u16,
) -> Result<(flow::Decision, String, FlowRules), Fatal> {
    let lips = lips_of(cfg);
    let mut probed = Vec::new();
    for (port, pc) in ports.iter().zip(&cfg.ports) {
        let info = port.info()?;
        let probe_addr = lips
            .iter()
            .next()
            .copied()
            .or_else(|| pc.addresses.first().map(|&(a, _)| a))
            .unwrap_or(Ipv4Addr::UNSPECIFIED);
        // rvsd gives every port one rx queue per worker.
        let p = flow::probe(workers, workers, &mut PortProbe { port: *port, info: &info, probe_addr });
        tracing::debug!(port = %pc.name, mode = p.mode.name(), refused = ?p.refused, "steering probed");
        probed.push(p);
    }
    let reply = reply_ports(cfg, routes);
    let decision = flow::decide(probed.iter().map(|p| p.mode.clone()).collect(), &reply);
    let mut text = decision.mode.to_string();
    text.push(';');
    for (i, ((pc, mode), p)) in cfg.ports.iter().zip(&decision.ports).zip(&probed).enumerate() {
        text.push_str(&format!(" {}={}", pc.name, mode.name()));
        let refused = if *mode == p.mode {
            p.refused.clone()
        } else {
            vec![format!("ports agree on {}", decision.mode)]
        };
        tracing::info!(
            port = %pc.name,
            steering = mode.name(),
            reply_port = reply.is_empty() || reply.contains(&i),
            not_better = ?refused,
            "reply steering"
        );
    }
    let flow_ports: Vec<Port> = ports
        .iter()
        .zip(&decision.ports)
        .filter(|(_, m)| **m == PortSteering::Flow)
        .map(|(p, _)| *p)
        .collect();
    let mut rules = FlowRules::new(workers, &flow_ports);
    if !flow_ports.is_empty() {
        let r = rules.sync(&lips);
        for e in &r.failed {
            tracing::warn!(error = %e, "flow rule refused: replies to this LIP are handed over in software");
        }
        tracing::info!(lips = r.added, rules = rules.rule_count(), "flow rules installed");
    }
    tracing::info!(steering = %text, workers, "reply steering for every worker");
    Ok((decision, text, rules))
}

/// One line for the session tables' huge pages (every worker's table is alike).
fn log_hugepages(results: &[std::io::Result<rvs_dataplane::hugepage::Advised>]) {
    let thp = rvs_dataplane::hugepage::thp_mode().unwrap_or_else(|| "unavailable".into());
    let failed: Vec<String> =
        results.iter().filter_map(|r| r.as_ref().err().map(|e| e.to_string())).collect();
    let (bytes, huge) = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .fold((0usize, 0usize), |(b, h), a| (b + a.bytes, h + a.huge_pages));
    if failed.is_empty() {
        tracing::info!(regions = results.len(), bytes, huge_pages = huge, thp = %thp, "session tables advised MADV_HUGEPAGE");
    } else {
        tracing::warn!(errors = ?failed, thp = %thp, "madvise(MADV_HUGEPAGE) of the session tables failed: 4 KiB pages");
    }
}

fn run(args: Args) -> Result<(), Fatal> {
    let cfg = config::load(&args.config)?;
    let mut registry = registry_from(&cfg)?;
    if let Some(c) = &cfg.cluster {
        registry.set_cluster(Some(rvs_core::service::ClusterPlacement {
            maglev: c.placement == rvs_core::config::Placement::Maglev,
            own_lips: c.local_addresses.clone(),
        }));
    }
    if !cfg.ha.initial_master {
        // A backup: no ARP, ping or new connection for any VIP/LIP until a takeover.
        registry.set_ownership(&[], false);
    }
    if args.check {
        println!("{}: configuration OK", cfg.path.display());
        return Ok(());
    }
    let d = &cfg.dataplane;
    let nworkers = d.workers.len();

    // Refuse early if another rvsd serves the socket (before touching DPDK).
    if std::os::unix::net::UnixStream::connect(&d.control_socket).is_ok() {
        return Err(Fatal(format!("another rvsd is already serving {}", d.control_socket.display())));
    }

    // A kernel interface this host cannot make fails here, naming the config line.
    rvs_dataplane::exception::precheck(&cfg).map_err(Fatal)?;

    let eal_argv = eal_args(&cfg);
    tracing::info!(args = ?eal_argv, "initialising DPDK");
    let eal = Eal::init(&eal_argv).map_err(|e| Fatal(format!("DPDK EAL init failed: {e}")))?;
    tracing::info!(version = %Eal::version(), "DPDK ready");

    let n_mbufs = d.mbufs_per_worker.saturating_mul(nworkers as u32).max(2047);
    let pool = Mempool::new("rvs_pkt", n_mbufs, 256, data_room(&cfg), SOCKET_ANY)?;

    let mut ports = Vec::new();
    let mut port_infos = Vec::new();
    for pc in &cfg.ports {
        let name = pc.device.split(',').next().unwrap_or(&pc.device);
        let port = Port::by_name(name).map_err(|e| {
            Fatal(format!(
                "{}:{}: port `{}`: device `{name}` not found ({e})",
                cfg.path.display(),
                pc.line,
                pc.name
            ))
        })?;
        port.configure(nworkers as u16, nworkers as u16, d.rx_desc, d.tx_desc, &pool).map_err(|e| {
            Fatal(format!("{}:{}: port `{}` ({name}): {e}", cfg.path.display(), pc.line, pc.name))
        })?;
        // The port's `mtu`: what the pipeline splits grown segments to fit, so the NIC must
        // carry it too (set only when it differs: af_packet takes it to the interface).
        if port.mtu().ok() != Some(pc.mtu) {
            port.set_mtu(pc.mtu).map_err(|e| {
                Fatal(format!(
                    "{}:{}: port `{}` ({name}): mtu {}: {e}",
                    cfg.path.display(),
                    pc.line,
                    pc.name,
                    pc.mtu
                ))
            })?;
        }
        let mac = MacAddr(port.mac());
        let rx_cksum = port.rx_checksum_offloads().unwrap_or(0);
        tracing::info!(
            port = %pc.name,
            device = name,
            %mac,
            addresses = ?pc.addresses,
            addresses6 = ?pc.addresses6,
            mtu = pc.mtu,
            rx_checksum_offload = format!("{rx_cksum:#x}"),
            "port up"
        );
        let vlans = pc
            .vlans
            .iter()
            .map(|v| VlanInfo { id: v.id, addrs: v.addresses.clone(), lips: v.local_addresses.clone() })
            .collect();
        port_infos.push(PortInfo { mac, addrs: pc.addresses.clone(), vlans, mtu: pc.mtu });
        ports.push(port);
    }

    let named_ports = cfg
        .ports
        .iter()
        .zip(&ports)
        .map(|(pc, &port)| rvs_dataplane::control::NamedPort {
            name: pc.name.clone(),
            device: pc.device.split(',').next().unwrap_or(&pc.device).to_string(),
            port,
            kernel_drops: af_packet_drops(pc, port),
        })
        .collect();
    let routes = cfg.route_table();
    for n in &cfg.neighbours {
        tracing::info!(
            address = %n.address,
            mac = %MacAddr(n.mac),
            port = %cfg.ports[n.port].name,
            vlan = ?n.vlan,
            "static neighbour"
        );
    }
    let (decision, steering_text, flow_rules) = setup_steering(&cfg, &ports, &routes, nworkers as u16)?;
    let clock = Arc::new(Clock::default());
    let stop = Arc::new(AtomicBool::new(false));
    // A cluster member leaves gracefully on SIGTERM (withdraw, drain, stop).
    let term = if cfg.cluster.is_some() { Arc::new(AtomicBool::new(false)) } else { stop.clone() };
    signal_hook::flag::register(signal_hook::consts::SIGINT, stop.clone())?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, term.clone())?;
    let snapshot = Arc::new(registry.snapshot());
    // One set of SYN-cookie secrets for every worker, so any worker validates any cookie;
    // the control thread rotates them.
    let mut cookie_secrets = CookieSecrets::new(SecretKey::generate()?);
    let mut handoff = handoff_rings(nworkers, 4096).into_iter();
    let channels: Vec<_> = (0..nworkers).map(|_| bounded(1024)).collect();
    let peers: Vec<_> = channels.iter().map(|(tx, _)| tx.clone()).collect();

    let vlan_labels = cfg.vlan_labels();
    let counters: Vec<Arc<WorkerCounters>> = (0..nworkers)
        .map(|_| Arc::new(WorkerCounters::new(d.max_services, d.max_reals).with_vlans(vlan_labels.len())))
        .collect();
    // The exception path: kernel interfaces and the rings between them and the workers.
    let exception =
        rvs_dataplane::exception::setup(&cfg, &ports, &counters, pool, stop.clone()).map_err(Fatal)?;
    let (mut links, exception_thread) = match exception {
        Some(rvs_dataplane::exception::Exception { links, thread, interfaces }) => {
            for k in &interfaces {
                tracing::info!(port = %k.port, interface = %k.name, kind = k.kind, "kernel interface up");
            }
            (links.into_iter().map(Some).collect(), Some(thread))
        }
        None => ((0..nworkers).map(|_| None).collect::<Vec<_>>(), None),
    };
    let exception_path = exception_thread.is_some();

    // Session sync: the thread, each worker's rings, and cookie secrets shared by the group.
    let sync =
        rvs_dataplane::sync::setup(&cfg, &counters, clock.clone(), stop.clone(), decision.steering.clone())
            .map_err(Fatal)?;
    let mut sync_links: Vec<Option<rvs_dataplane::sync::WorkerSyncLink>> =
        (0..nworkers).map(|_| None).collect();
    let mut shared_cookies = None;
    let mut sync_parts = None;
    let cookie_offset = rvs_dataplane::sync::wall_clock_offset(&clock);
    if let Some(s) = sync {
        let shared = rvs_dataplane::control::shared_cookie_secrets(&s.key);
        cookie_secrets = shared.secrets;
        shared_cookies = Some((s.key.clone(), (shared.current, shared.other)));
        for (slot, link) in sync_links.iter_mut().zip(s.links) {
            *slot = Some(link);
        }
        sync_parts = Some((s.thread, s.shared, s.params));
    }

    let mut handles = Vec::new();
    let mut threads = Vec::new();
    let mut hugepages = Vec::new();
    for (i, &cpu) in d.workers.iter().enumerate() {
        let counters = counters[i].clone();
        let lcore = Arc::new(AtomicU32::new(u32::MAX));
        let pcfg = PipelineConfig {
            worker: i as u16,
            workers: nworkers as u16,
            ports: port_infos.clone(),
            routes: routes.clone(),
            max_sessions: d.max_sessions,
            local_port_range: d.local_port_range,
            timeouts: cfg.timeouts,
            neigh: NeighParams::default(),
            cookie_secrets,
            synproxy: cfg.synproxy,
            expire_nodest_conn: d.expire_nodest_conn,
            exception_path,
            steering: decision.steering.clone(),
            v6: rvs_core::config::v6_pipeline_config(&cfg.ports, &cfg.routes6),
            // Huge pages for the session table and the sync marks, asked for before their
            // first write.
            mem_advice: Some(|addr, len| {
                let _ = rvs_dataplane::hugepage::advise(addr, len);
            }),
        };
        let mut pipeline = Pipeline::new(pcfg, snapshot.clone(), counters.clone(), clock.now());
        for n in &cfg.neighbours {
            let iface = cfg.interface_of(n.port, n.vlan).expect("validated: the port has that VLAN");
            if !pipeline.add_static_neighbour(n.address, n.mac, iface as u16) {
                return Err(Fatal(format!(
                    "{}:{}: neighbour {}: {}",
                    cfg.path.display(),
                    n.line,
                    n.address,
                    if n.address.is_ipv6() {
                        "the ports have no IPv6 address"
                    } else {
                        "the neighbour table is full"
                    }
                )));
            }
        }
        if let Some(c) = &cfg.cluster {
            pipeline.set_member_slice(c.member_id as u16 - 1, c.members.into());
        }
        if let Some((_, _, params)) = &sync_parts {
            pipeline.enable_sync(*params, clock.now());
            pipeline.set_cookie_clock_offset(cookie_offset);
            if let Some((key, _)) = &shared_cookies {
                pipeline.set_sync_digest_key(key);
            }
        }
        // What a lookup reads: the client flows' tags or the index buckets, and the slots
        // they point at (advised before their first write above; again here for the log's
        // account).
        let t = pipeline.sessions();
        for (addr, len) in [t.slot_region(), t.tag_region(), t.index_region()] {
            hugepages.push(rvs_dataplane::hugepage::advise(addr, len));
        }
        let worker = Worker {
            id: i as u16,
            cpu,
            ports: ports.clone(),
            pipeline,
            pool,
            inbox: channels[i].1.clone(),
            peers: peers.clone(),
            handoff: handoff.next().expect("one set of rings per worker"),
            idle: IdlePolicy { spin: d.idle_spin, max_sleep_us: d.idle_sleep_us },
            stop: stop.clone(),
            lcore: lcore.clone(),
            clock: clock.clone(),
            exception: links[i].take(),
            sync: sync_links[i].take(),
        };
        handles.push(WorkerHandle {
            id: i as u16,
            lcore,
            counters,
            inbox: channels[i].0.clone(),
            session_capacity: d.max_sessions as u64,
        });
        let t = std::thread::Builder::new().name(format!("rvs-worker-{i}")).spawn(move || worker.run())?;
        threads.push(t);
    }
    if let Some(x) = exception_thread {
        threads.push(std::thread::Builder::new().name("rvs-exception".into()).spawn(move || x.run())?);
    }
    let mut sync_shared = None;
    if let Some((thread, shared, _)) = sync_parts {
        threads.push(std::thread::Builder::new().name("rvs-sync".into()).spawn(move || thread.run())?);
        sync_shared = Some(shared);
    }

    log_hugepages(&hugepages);

    let listener = match control::bind_socket(&d.control_socket, d.control_group.as_deref()) {
        Ok(l) => l,
        Err(e) => {
            stop.store(true, Ordering::Relaxed);
            for t in threads {
                let _ = t.join();
            }
            return Err(Fatal(e));
        }
    };
    let _guard = SocketGuard(d.control_socket.clone());
    tracing::info!(socket = %d.control_socket.display(), workers = nworkers, services = cfg.services.len(), "rvsd ready");

    let start_config = WorkerConfig::new(snapshot.clone(), cfg.timeouts, cookie_secrets);
    let mut ctl = Control::new(registry, handles, start_config)
        .with_steering(steering_text, Some(flow_rules))
        .with_vlans(vlan_labels)
        .with_ports(named_ports)
        .with_port_config(cfg.ports.clone());
    ctl = match shared_cookies {
        Some((key, slots)) => ctl.with_shared_cookies(key, slots),
        None => ctl.with_cookie_rotation(),
    };
    if let Some(shared) = sync_shared {
        if let (Some(c), Some(_)) = (&cfg.cluster, &shared.cluster) {
            let (s1, s2) = (shared.clone(), shared.clone());
            ctl = ctl.with_cluster(rvs_dataplane::control::ClusterHooks {
                status: Box::new(move || s1.cluster_status()),
                leave: Box::new(move || s2.leave.store(true, Ordering::Relaxed)),
            });
            let (shared, stop, drain) = (shared.clone(), stop.clone(), c.drain);
            threads.push(
                std::thread::Builder::new()
                    .name("rvs-leave".into())
                    .spawn(move || rvs_dataplane::sync::leave_on_request(&shared, &term, &stop, drain))?,
            );
        }
        ctl = ctl.with_sync_status(Box::new(move || shared.status()));
    }
    ctl.serve(&listener, &stop);

    tracing::info!("stopping");
    for t in threads {
        let _ = t.join();
    }
    if let Some(mut rules) = ctl.take_flow_rules() {
        rules.clear();
    }
    // The same figures as `rvsadm --workers`' port table (af_packet ring drops included).
    for s in ctl.port_stats() {
        tracing::info!(
            port = %s.port,
            rx_packets = s.rx_packets,
            tx_packets = s.tx_packets,
            rx_missed = s.rx_missed,
            rx_errors = s.rx_errors,
            tx_errors = s.tx_errors,
            rx_nombuf = s.rx_nombuf,
            "final port stats"
        );
    }
    for p in &ports {
        let _ = p.close();
    }
    drop(eal);
    Ok(())
}

/// The ring drops of an af_packet port's sockets, which its driver does not count
/// (`dpdk::af_packet`); None for any other driver.
fn af_packet_drops(
    pc: &config::PortConfig,
    port: Port,
) -> Option<rvs_dataplane::dpdk::af_packet::KernelDrops> {
    use rvs_dataplane::dpdk::af_packet::{iface_of, KernelDrops};
    if port.info().ok()?.driver != "net_af_packet" {
        return None;
    }
    let args = [pc.devargs.as_deref().unwrap_or(""), pc.device.split_once(',').map_or("", |(_, a)| a)];
    let iface = args.iter().find_map(|a| iface_of(a))?;
    match KernelDrops::find(iface) {
        Ok(Some(k)) => {
            tracing::info!(port = %pc.name, iface, sockets = k.sockets(), "af_packet ring drops counted in rx_missed");
            Some(k)
        }
        Ok(None) => {
            tracing::warn!(port = %pc.name, iface, "no af_packet socket found: ring drops go uncounted");
            None
        }
        Err(e) => {
            tracing::warn!(port = %pc.name, iface, error = %e, "af_packet sockets unreadable: ring drops go uncounted");
            None
        }
    }
}
