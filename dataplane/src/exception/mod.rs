//! The exception path: a kernel interface per rvsd interface (each port, and each of its
//! 802.1Q VLANs: `<port's>.<vid>`), carrying the port's MAC, and the thread that moves
//! frames between them and the workers. The kernel sees untagged frames on a VLAN's
//! interface: the pipeline strips the tag on the way in, and this thread tags what the
//! kernel sends on it before a worker transmits it.
//!
//! ```text
//!  worker w ──Output::kernel──▶ [SPSC ring w→x] ──▶ exception thread ──rate limit──▶ tap / virtio_user ──▶ kernel
//!  worker w ◀──── tx on its own queue ◀── [SPSC ring x→w] ◀── exception thread ◀── tap / virtio_user ◀── kernel
//! ```
//!
//! Workers never block and never make a system call for it: a frame the pipeline hands to
//! the kernel is pushed into the worker's bounded single-producer ring (dropped and
//! counted, `kernel_ring_full`, when the ring is full). The exception thread — a sibling of
//! the control thread on the main lcore, not a worker — drains every ring through a token
//! bucket per kernel interface (`kernel_rate_limited`), writes the frames to the kernel
//! (`kernel_delivered`, `kernel_write_error`), reads what the kernel sends and hands each
//! frame to the worker that transmits for that port (port `p` → worker `p % workers`, so
//! the kernel's frames keep their order), which sends it on its own tx queue
//! (`from_kernel`). Every counter is a worker's: those the exception thread writes are
//! written by it alone (see `rvs_core::stats`), so `rvsadm --workers` shows them per
//! worker.

mod bucket;
mod tap;

pub use bucket::TokenBucket;
pub use tap::{configure_link, Tap};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{Config, ExceptionParams, KernelIfKind};
use crate::dpdk::{Mbuf, Mempool, Port};
use crate::route::{IfIndex, PortIndex};
use crate::stats::{DropReason, Event, WorkerCounters};

/// A frame and where it belongs: towards the kernel, the interface (port, VLAN) it came
/// in on (`IfIndex`); from the kernel, the port it leaves by (`PortIndex`, tagged already).
pub type PortFrame = (u16, Mbuf);

/// Frames moved per ring and per kernel interface in one round of the exception thread.
const BATCH: usize = 64;
/// How long the exception thread sleeps in poll(2) when a round found nothing: 1 ms while
/// traffic is recent, 5 ms after `LONG_IDLE_ROUNDS` empty rounds (about 0.2 s). Frames from
/// the kernel wake it at once (the taps are polled); a frame from a worker after a long
/// quiet waits at most the longer sleep.
const IDLE_POLL_MS: i32 = 1;
const LONG_IDLE_POLL_MS: i32 = 5;
const LONG_IDLE_ROUNDS: u32 = 200;
/// The MTU given to kernel interfaces (the ports' too: rvsd does not change it).
pub const KERNEL_MTU: u32 = 1500;

/// Where the kernel's virtio_user backend lives.
pub const VHOST_NET: &str = "/dev/vhost-net";
pub const NET_TUN: &str = "/dev/net/tun";

/// The EAL name of port `i`'s virtio_user device.
pub fn virtio_name(i: usize) -> String {
    format!("virtio_user{i}")
}

/// Refuses a configuration this host cannot run, before DPDK starts: `virtio_user` needs
/// `/dev/vhost-net`, `tap` needs `/dev/net/tun`. Errors name the config line.
pub fn precheck(cfg: &Config) -> Result<(), String> {
    for p in &cfg.ports {
        let need = match p.kernel.kind {
            KernelIfKind::None => continue,
            KernelIfKind::Tap => NET_TUN,
            KernelIfKind::VirtioUser => VHOST_NET,
        };
        if !std::path::Path::new(need).exists() {
            let hint = match p.kernel.kind {
                KernelIfKind::VirtioUser => "load the vhost_net module, or use kernel_if = \"tap\"",
                _ => "load the tun module",
            };
            return Err(format!(
                "{}:{}: port `{}`: kernel_if = \"{}\" needs {need}, which this host does not have ({hint})",
                cfg.path.display(),
                p.kernel.line,
                p.name,
                p.kernel.kind.name()
            ));
        }
    }
    Ok(())
}

/// The `--vdev` arguments of the virtio_user kernel interfaces.
pub fn eal_vdevs(cfg: &Config) -> Vec<String> {
    let mut args = Vec::new();
    for k in kernel_ifaces(cfg) {
        if k.kind == KernelIfKind::VirtioUser {
            args.push("--vdev".into());
            args.push(format!(
                "{},path={VHOST_NET},queues=1,queue_size=1024,iface={}",
                virtio_name(k.iface as usize),
                k.name
            ));
        }
    }
    args
}

/// One kernel interface to make: for a port with `kernel_if`, one for its untagged
/// frames and one per VLAN.
struct KernelIfSpec {
    iface: IfIndex,
    port: PortIndex,
    /// 0: the port's untagged frames.
    vlan: u16,
    name: String,
    kind: KernelIfKind,
    line: usize,
}

fn kernel_ifaces(cfg: &Config) -> Vec<KernelIfSpec> {
    cfg.interfaces()
        .iter()
        .enumerate()
        .filter_map(|(i, ifc)| {
            let k = &cfg.ports[ifc.port].kernel;
            (k.kind != KernelIfKind::None).then(|| KernelIfSpec {
                iface: i as IfIndex,
                port: ifc.port as PortIndex,
                vlan: ifc.vlan.unwrap_or(0),
                name: match ifc.vlan {
                    None => k.name.clone(),
                    Some(v) => crate::config::vlan_kernel_name(&k.name, v),
                },
                kind: k.kind,
                line: k.line,
            })
        })
        .collect()
}

/// A port's kernel interface.
enum Device {
    Tap(Tap),
    /// A virtio_user port (one rx and one tx queue, used by the exception thread only).
    Virtio(Port),
}

struct KernelPort {
    /// The interface whose frames it carries.
    iface: IfIndex,
    /// The port that interface is on.
    port: PortIndex,
    /// Its 802.1Q VLAN id (0: untagged): what the kernel sends gets this tag.
    vlan: u16,
    name: String,
    dev: Device,
    bucket: TokenBucket,
    /// The worker that transmits what the kernel sends out of this port.
    lane: usize,
    /// Whether a write error was logged already (the rest are only counted).
    write_error_logged: bool,
}

/// A worker's end of the exception path.
pub struct WorkerLink {
    to_kernel: rtrb::Producer<PortFrame>,
    from_kernel: rtrb::Consumer<PortFrame>,
    /// Interfaces (port, VLAN) that have a kernel interface.
    has_kernel: Vec<bool>,
}

impl WorkerLink {
    /// Moves the pipeline's kernel frames into the ring; what does not fit is dropped
    /// (freed) and counted.
    #[inline]
    pub fn send_to_kernel(&mut self, frames: &mut Vec<PortFrame>, counters: &WorkerCounters) {
        for (port, m) in frames.drain(..) {
            if !self.has_kernel.get(port as usize).copied().unwrap_or(false) {
                counters.count_drop(DropReason::KernelNoInterface);
                drop(m);
            } else if self.to_kernel.push((port, m)).is_err() {
                counters.count_drop(DropReason::KernelRingFull);
            }
        }
    }

    /// Queues up to `max` frames the kernel sent for transmission on their ports; returns
    /// how many.
    #[inline]
    pub fn take_from_kernel(&mut self, tx: &mut [Vec<Mbuf>], counters: &WorkerCounters, max: usize) -> usize {
        let mut n = 0;
        while n < max {
            let Ok((port, m)) = self.from_kernel.pop() else { break };
            n += 1;
            if let Some(q) = tx.get_mut(port as usize) {
                counters.event(Event::FromKernel);
                q.push(m);
            }
        }
        n
    }
}

/// The exception thread's end of one worker's rings.
struct Lane {
    from_worker: rtrb::Consumer<PortFrame>,
    to_worker: rtrb::Producer<PortFrame>,
    counters: Arc<WorkerCounters>,
}

/// The exception thread: built by [`setup`], run on its own thread with [`ExceptionThread::run`].
pub struct ExceptionThread {
    lanes: Vec<Lane>,
    ports: Vec<KernelPort>,
    pool: Mempool,
    stop: Arc<AtomicBool>,
}

/// What [`setup`] made: one link per worker, the thread, and the interfaces (for the log).
pub struct Exception {
    pub links: Vec<WorkerLink>,
    pub thread: ExceptionThread,
    pub interfaces: Vec<KernelIfInfo>,
}

/// A kernel interface that exists, for the log.
pub struct KernelIfInfo {
    pub port: String,
    pub name: String,
    pub kind: &'static str,
}

/// Opens every port's kernel interface and builds the rings: one [`WorkerLink`] per
/// worker (in `counters` order) and the thread that serves them. `ports[i]` is the DPDK
/// port of `cfg.ports[i]`. Returns `Ok(None)` when no port has a kernel interface.
pub fn setup(
    cfg: &Config,
    ports: &[Port],
    counters: &[Arc<WorkerCounters>],
    pool: Mempool,
    stop: Arc<AtomicBool>,
) -> Result<Option<Exception>, String> {
    let specs = kernel_ifaces(cfg);
    if specs.is_empty() {
        return Ok(None);
    }
    let ExceptionParams { ring_size, rate_pps, burst } = cfg.exception;
    let at = |line: usize| format!("{}:{line}", cfg.path.display());
    let mut kports = Vec::new();
    let mut info = Vec::new();
    for k in &specs {
        let (pc, port) = (&cfg.ports[k.port as usize], &ports[k.port as usize]);
        let i = k.iface as usize;
        let mac = port.mac();
        let dev = match k.kind {
            KernelIfKind::None => continue,
            KernelIfKind::Tap => Device::Tap(Tap::open(&k.name, mac, KERNEL_MTU).map_err(|e| {
                format!("{}: port `{}`: kernel interface `{}`: {e}", at(k.line), pc.name, k.name)
            })?),
            KernelIfKind::VirtioUser => {
                let vname = virtio_name(i);
                let vp = Port::by_name(&vname).map_err(|e| {
                    format!(
                        "{}: port `{}`: virtio_user device `{vname}` not found ({e})",
                        at(k.line),
                        pc.name
                    )
                })?;
                vp.configure(1, 1, 1024, 1024, &pool)
                    .map_err(|e| format!("{}: port `{}`: virtio_user `{vname}`: {e}", at(k.line), pc.name))?;
                // vhost-kernel made the tap; give it the port's MAC like a plain tap.
                configure_link(&k.name, mac, KERNEL_MTU).map_err(|e| {
                    format!("{}: port `{}`: kernel interface `{}`: {e}", at(k.line), pc.name, k.name)
                })?;
                Device::Virtio(vp)
            }
        };
        let port_name = match k.vlan {
            0 => pc.name.clone(),
            v => format!("{} vlan {v}", pc.name),
        };
        info.push(KernelIfInfo { port: port_name, name: k.name.clone(), kind: k.kind.name() });
        kports.push(KernelPort {
            iface: k.iface,
            port: k.port,
            vlan: k.vlan,
            name: k.name.clone(),
            dev,
            bucket: TokenBucket::new(rate_pps, burst, 0),
            // The port's transmitting worker, for the untagged and every VLAN interface,
            // so the kernel's frames on one port stay in order.
            lane: k.port as usize % counters.len().max(1),
            write_error_logged: false,
        });
    }
    let mut has_kernel = vec![false; cfg.interfaces().len()];
    for k in &specs {
        has_kernel[k.iface as usize] = true;
    }
    let mut links = Vec::new();
    let mut lanes = Vec::new();
    for c in counters {
        let (to_kernel, from_worker) = rtrb::RingBuffer::new(ring_size);
        let (to_worker, from_kernel) = rtrb::RingBuffer::new(ring_size);
        links.push(WorkerLink { to_kernel, from_kernel, has_kernel: has_kernel.clone() });
        lanes.push(Lane { from_worker, to_worker, counters: c.clone() });
    }
    Ok(Some(Exception {
        links,
        thread: ExceptionThread { lanes, ports: kports, pool, stop },
        interfaces: info,
    }))
}

impl ExceptionThread {
    /// Runs until `stop` is set; then closes the virtio_user ports.
    pub fn run(mut self) {
        tracing::info!(interfaces = self.ports.len(), workers = self.lanes.len(), "exception thread running");
        let t0 = Instant::now();
        // Frames are at most MTU + 14 bytes; a bigger buffer only guards against a
        // kernel-side MTU change (the excess is refused when copied into an mbuf).
        let mut buf = vec![0u8; 65536];
        let mut burst: Vec<Mbuf> = Vec::with_capacity(BATCH);
        let mut pollfds: Vec<libc::pollfd> = self
            .ports
            .iter()
            .filter_map(|k| match &k.dev {
                Device::Tap(t) => Some(libc::pollfd { fd: t.fd(), events: libc::POLLIN, revents: 0 }),
                Device::Virtio(_) => None,
            })
            .collect();
        let has_virtio = self.ports.iter().any(|k| matches!(k.dev, Device::Virtio(_)));
        let mut idle_rounds = 0u32;
        while !self.stop.load(Ordering::Relaxed) {
            let now = t0.elapsed().as_nanos() as u64;
            let mut work = self.drain_workers(now, &mut burst);
            work += self.drain_kernel(&mut buf, &mut burst);
            if work > 0 {
                idle_rounds = 0;
            } else {
                idle_rounds = idle_rounds.saturating_add(1);
                let ms = if idle_rounds > LONG_IDLE_ROUNDS { LONG_IDLE_POLL_MS } else { IDLE_POLL_MS };
                if pollfds.is_empty() || has_virtio {
                    std::thread::sleep(Duration::from_millis(IDLE_POLL_MS as u64));
                } else {
                    // SAFETY: a valid array of pollfds of its length.
                    unsafe { libc::poll(pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t, ms) };
                }
            }
        }
        for k in self.ports.drain(..) {
            if let Device::Virtio(p) = k.dev {
                let _ = p.close();
            }
        }
        tracing::info!("exception thread stopped");
    }

    /// Drains the workers' rings into the kernel interfaces. Returns the frames handled.
    fn drain_workers(&mut self, now: u64, burst: &mut Vec<Mbuf>) -> usize {
        let mut work = 0;
        for lane in &mut self.lanes {
            for _ in 0..BATCH {
                let Ok((iface, m)) = lane.from_worker.pop() else { break };
                work += 1;
                // Workers only queue frames of interfaces with a kernel interface.
                let Some(k) = self.ports.iter_mut().find(|k| k.iface == iface) else {
                    lane.counters.count_drop(DropReason::KernelWriteError);
                    continue;
                };
                if !k.bucket.take(now) {
                    lane.counters.count_drop(DropReason::KernelRateLimited);
                    continue;
                }
                let ok = match &k.dev {
                    Device::Tap(t) => match t.send(m.data()) {
                        Ok(()) => true,
                        Err(e) => {
                            if !k.write_error_logged {
                                tracing::warn!(interface = %k.name, error = %e, "write to the kernel interface failed (further failures are only counted)");
                                k.write_error_logged = true;
                            }
                            false
                        }
                    },
                    Device::Virtio(p) => {
                        burst.push(m);
                        let sent = p.tx_burst(0, burst);
                        burst.clear();
                        sent == 1
                    }
                };
                if ok {
                    lane.counters.event(Event::KernelDelivered);
                } else {
                    lane.counters.count_drop(DropReason::KernelWriteError);
                }
            }
        }
        work
    }

    /// Reads what the kernel sent and queues it for the transmitting worker.
    fn drain_kernel(&mut self, buf: &mut [u8], burst: &mut Vec<Mbuf>) -> usize {
        let mut work = 0;
        for k in &mut self.ports {
            let lane = &mut self.lanes[k.lane];
            match &k.dev {
                Device::Tap(t) => {
                    for _ in 0..BATCH {
                        let n = match t.recv(buf) {
                            Ok(Some(n)) => n,
                            Ok(None) => break,
                            Err(e) => {
                                tracing::warn!(interface = %k.name, error = %e, "read from the kernel interface failed");
                                break;
                            }
                        };
                        work += 1;
                        let Some(mut m) = self.pool.alloc() else {
                            lane.counters.count_drop(DropReason::KernelNoMbuf);
                            continue;
                        };
                        let tag = if k.vlan == 0 { 0 } else { crate::wire::vlan::TAG_LEN };
                        if n < 14 || !m.set_len(n + tag) {
                            lane.counters.count_drop(DropReason::KernelNoMbuf);
                            continue;
                        }
                        if tag == 0 {
                            m.data_mut().copy_from_slice(&buf[..n]);
                        } else {
                            // Copied 4 bytes in, then tagged in place (the MACs move up).
                            m.data_mut()[tag..].copy_from_slice(&buf[..n]);
                            crate::wire::vlan::insert(m.data_mut(), k.vlan, 0);
                        }
                        if lane.to_worker.push((k.port, m)).is_err() {
                            lane.counters.count_drop(DropReason::KernelTxRingFull);
                        }
                    }
                }
                Device::Virtio(p) => {
                    let n = p.rx_burst(0, burst, BATCH);
                    work += n;
                    for mut m in burst.drain(..) {
                        if k.vlan != 0 && !crate::frame::push_vlan(&mut m, k.vlan) {
                            lane.counters.count_drop(DropReason::KernelNoMbuf);
                            continue;
                        }
                        if lane.to_worker.push((k.port, m)).is_err() {
                            lane.counters.count_drop(DropReason::KernelTxRingFull);
                        }
                    }
                }
            }
        }
        work
    }
}
