//! The live dashboard rvs-ctrl serves on its HTTP listener, for operators used to lvs-rrd:
//! per virtual service and real server the traffic (connections/s, packets/s and bytes/s
//! each way), active/inactive connections, health and weights; per worker the load and the
//! drop reasons; per port the NIC's counters (frames missed before any worker saw them);
//! the SYN proxy's counters; graphs over the last hour.
//!
//! A sampler thread ([`run_sampler`]) asks rvsd for its counters every [`SAMPLE_EVERY`],
//! keeps the last two samples (rates are their difference) and every [`HISTORY_EVERY`]
//! samples adds a point to the [`History`] ring, which holds an hour. The page (three
//! static files embedded in the binary, no framework, no network beyond rvs-ctrl) polls
//! `GET /api/v1/dashboard?since=MS` and draws its graphs in SVG. Health and weights come
//! from the main loop's published status at each request, so a server marked down shows
//! at the next poll.
//!
//! The page changes nothing by itself: drain and weight buttons call the JSON API with the
//! bearer token the operator types in (see [`crate::api::auth`]).

use crate::api::{services_json, Answer, Status};
use rvs_proto::{PortStats, ServiceInfo, ServiceKey, WorkerStats};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod history;
pub use history::{History, Point, WIDTH};

/// How often the sampler asks rvsd, and how often the page polls.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(2);
/// One history point per this many samples (12 s)...
pub const HISTORY_EVERY: u32 = 6;
/// ... and an hour of them.
pub const HISTORY_POINTS: usize = 300;

/// What the values of a virtual service's or real server's point are: rates over the
/// interval, then the two connection gauges.
pub const TRAFFIC_FIELDS: [&str; WIDTH] =
    ["conns_per_s", "in_pps", "out_pps", "in_Bps", "out_Bps", "active_conns", "inactive_conns"];
/// A worker's point.
pub const WORKER_FIELDS: [&str; WIDTH] =
    ["rx_pps", "tx_pps", "rx_Bps", "tx_Bps", "drops_per_s", "sessions", "loops_per_s"];
/// The SYN proxy's point (all workers), rates.
pub const SYNPROXY_FIELDS: [&str; WIDTH] = [
    "synproxy_syn_answered",
    "synproxy_ack_accepted",
    "synproxy_ack_invalid",
    "synproxy_server_reset",
    "synproxy_bad_ack",
    "synproxy_ack_storm",
    "synproxy_dup_ack",
];
/// Which of a kind's values are gauges (shown as they are, not as a rate).
const TRAFFIC_GAUGES: [bool; WIDTH] = [false, false, false, false, false, true, true];
const WORKER_GAUGES: [bool; WIDTH] = [false, false, false, false, false, true, false];
const NO_GAUGES: [bool; WIDTH] = [false; WIDTH];

const INDEX_HTML: &str = include_str!("assets/index.html");
const DASHBOARD_JS: &str = include_str!("assets/dashboard.js");
const DASHBOARD_CSS: &str = include_str!("assets/dashboard.css");

/// Samples between two neighbour listings (each has every worker walk its table).
const NEIGHBOURS_EVERY: u32 = 5;

pub fn vs_id(k: &ServiceKey) -> String {
    format!("vs:{}/{}", k.protocol.as_str().to_ascii_lowercase(), k.addr)
}

pub fn rs_id(k: &ServiceKey, rs: SocketAddr) -> String {
    format!("rs:{}/{}/{}", k.protocol.as_str().to_ascii_lowercase(), k.addr, rs)
}

/// One answer of rvsd.
#[derive(Clone)]
struct Sample {
    at: Instant,
    services: Vec<ServiceInfo>,
    workers: Vec<WorkerStats>,
    ports: Vec<PortStats>,
    /// The last neighbour listing, carried over by the samples that did not ask for one.
    neighbours: Vec<rvs_proto::NeighInfo>,
}

/// Raw counters of every series of a sample, and which of them are gauges.
type Counters = HashMap<String, ([u64; WIDTH], &'static [bool; WIDTH])>;

fn named(list: &[(String, u64)], name: &str) -> u64 {
    list.iter().filter(|(n, _)| n == name).map(|(_, v)| v).sum()
}

fn counters(s: &Sample) -> Counters {
    let mut m = Counters::new();
    let traffic = |t: &rvs_proto::TrafficStats, a: u64, i: u64| {
        [t.conns, t.in_pkts, t.out_pkts, t.in_bytes, t.out_bytes, a, i]
    };
    for vs in &s.services {
        let (mut a, mut i) = (0, 0);
        for r in &vs.reals {
            a += r.active_conns;
            i += r.inactive_conns;
            m.insert(
                rs_id(&vs.spec.key, r.spec.addr),
                (traffic(&r.stats, r.active_conns, r.inactive_conns), &TRAFFIC_GAUGES),
            );
        }
        m.insert(vs_id(&vs.spec.key), (traffic(&vs.stats, a, i), &TRAFFIC_GAUGES));
    }
    let mut syn = [0u64; WIDTH];
    for w in &s.workers {
        let drops: u64 = w.drops.iter().map(|(_, n)| n).sum();
        m.insert(
            format!("worker:{}", w.worker),
            (
                [w.rx_packets, w.tx_packets, w.rx_bytes, w.tx_bytes, drops, w.sessions_live, w.loops],
                &WORKER_GAUGES,
            ),
        );
        for (slot, name) in syn.iter_mut().zip(SYNPROXY_FIELDS) {
            *slot += named(&w.events, name) + named(&w.drops, name);
        }
    }
    m.insert("synproxy".into(), (syn, &NO_GAUGES));
    m
}

/// The points between two samples: counters as rates per second (a counter that went
/// down was zeroed: its new value is what it counted since), gauges as they are now.
fn rates(base: Option<&Sample>, cur: &Sample) -> HashMap<String, Point> {
    let dt = base.map_or(0.0, |b| cur.at.duration_since(b.at).as_secs_f64());
    let before = base.map(counters).unwrap_or_default();
    counters(cur)
        .into_iter()
        .map(|(id, (now, gauges))| {
            let mut p = [0f32; WIDTH];
            for i in 0..WIDTH {
                p[i] = if gauges[i] {
                    now[i] as f32
                } else if dt <= 0.0 {
                    0.0
                } else {
                    let old = before.get(&id).map_or(now[i], |(b, _)| b[i]);
                    let delta = if now[i] >= old { now[i] - old } else { now[i] };
                    (delta as f64 / dt) as f32
                };
            }
            (id, p)
        })
        .collect()
}

fn point_json(fields: &[&str; WIDTH], p: Option<&Point>) -> Value {
    match p {
        None => Value::Null,
        Some(p) => {
            let m: serde_json::Map<String, Value> = fields
                .iter()
                .zip(p.iter())
                .map(|(f, v)| (f.to_string(), json!((f64::from(*v) * 1000.0).round() / 1000.0)))
                .collect();
            Value::Object(m)
        }
    }
}

struct Inner {
    prev: Option<Sample>,
    cur: Option<Sample>,
    /// Unix ms of `cur`.
    cur_unix_ms: u64,
    /// Why the last question to rvsd failed; None when it answered.
    error: Option<String>,
    history: History,
    history_base: Option<Sample>,
    samples: u64,
}

/// The dashboard's state: shared by the sampler (writer) and the HTTP thread (reader).
pub struct Dashboard {
    inner: Mutex<Inner>,
}

impl Default for Dashboard {
    fn default() -> Self {
        Self::new()
    }
}

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl Dashboard {
    pub fn new() -> Self {
        Dashboard {
            inner: Mutex::new(Inner {
                prev: None,
                cur: None,
                cur_unix_ms: 0,
                error: None,
                history: History::new(HISTORY_POINTS),
                history_base: None,
                samples: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes one answer of rvsd (or why there was none), taken at `at` / `at_unix_ms`.
    pub fn record(&self, answer: Result<crate::api::RvsdCounters, String>, at: Instant, at_unix_ms: u64) {
        let mut g = self.lock();
        match answer {
            Err(e) => g.error = Some(e),
            Ok(crate::api::RvsdCounters { services, workers, ports, neighbours }) => {
                let neighbours = neighbours
                    .unwrap_or_else(|| g.cur.as_ref().map(|c| c.neighbours.clone()).unwrap_or_default());
                let s = Sample { at, services, workers, ports, neighbours };
                g.error = None;
                g.prev = g.cur.replace(s.clone());
                g.cur_unix_ms = at_unix_ms;
                g.samples += 1;
                if g.history_base.is_none() {
                    g.history_base = Some(s);
                } else if g.samples.is_multiple_of(u64::from(HISTORY_EVERY)) {
                    let points = rates(g.history_base.as_ref(), &s);
                    g.history.push(at_unix_ms, &points);
                    g.history_base = Some(s);
                }
            }
        }
    }

    /// The page's data: live values (rates between the last two samples), health and
    /// weights from `st`, and the history points after `since_ms`.
    pub fn data(&self, st: &Status, since_ms: u64) -> Value {
        let g = self.lock();
        let live = g.cur.as_ref().map(|c| rates(g.prev.as_ref(), c)).unwrap_or_default();
        let mut services = services_json(st, g.cur.as_ref().map(|c| c.services.as_slice()), None);
        for (vs, v) in st.services.iter().zip(services.iter_mut()) {
            let id = vs_id(&vs.key);
            v["rate"] = point_json(&TRAFFIC_FIELDS, live.get(&id));
            v["id"] = json!(id);
            if let Some(reals) = v["reals"].as_array_mut() {
                for r in reals {
                    let Some(addr) = r["address"].as_str().and_then(|a| a.parse::<SocketAddr>().ok()) else {
                        continue;
                    };
                    let id = rs_id(&vs.key, addr);
                    r["rate"] = point_json(&TRAFFIC_FIELDS, live.get(&id));
                    r["id"] = json!(id);
                }
            }
        }
        let mut drops: HashMap<String, u64> = HashMap::new();
        let mut events: HashMap<String, u64> = HashMap::new();
        let workers: Vec<Value> = g
            .cur
            .iter()
            .flat_map(|c| c.workers.iter())
            .map(|w| {
                for (n, v) in &w.drops {
                    *drops.entry(n.clone()).or_default() += v;
                }
                for (n, v) in &w.events {
                    *events.entry(n.clone()).or_default() += v;
                }
                let rate = live.get(&format!("worker:{}", w.worker));
                json!({
                    "id": format!("worker:{}", w.worker),
                    "worker": w.worker,
                    "lcore": w.lcore,
                    "rx_packets": w.rx_packets,
                    "tx_packets": w.tx_packets,
                    "rx_bytes": w.rx_bytes,
                    "tx_bytes": w.tx_bytes,
                    "redirected_in": w.redirected_in,
                    "redirected_out": w.redirected_out,
                    "sessions": w.sessions_live,
                    "sessions_capacity": w.sessions_capacity,
                    "sessions_created": w.sessions_created,
                    "sessions_expired": w.sessions_expired,
                    "drops": w.drops.iter().map(|(n, v)| json!({"reason": n, "count": v})).collect::<Vec<_>>(),
                    "rate": point_json(&WORKER_FIELDS, rate),
                })
            })
            .collect();
        let prev_drops: HashMap<String, u64> =
            g.prev.iter().flat_map(|p| p.workers.iter()).flat_map(|w| w.drops.iter()).fold(
                HashMap::new(),
                |mut m, (n, v)| {
                    *m.entry(n.clone()).or_default() += v;
                    m
                },
            );
        let dt = match (&g.prev, &g.cur) {
            (Some(p), Some(c)) => c.at.duration_since(p.at).as_secs_f64(),
            _ => 0.0,
        };
        let mut drop_list: Vec<Value> = drops
            .iter()
            .map(|(n, v)| {
                let old = prev_drops.get(n).copied().unwrap_or(*v);
                let per_s = if dt > 0.0 { v.saturating_sub(old) as f64 / dt } else { 0.0 };
                json!({"reason": n, "count": v, "per_s": (per_s * 1000.0).round() / 1000.0})
            })
            .collect();
        drop_list.sort_by(|a, b| a["reason"].as_str().cmp(&b["reason"].as_str()));
        // Each port's counters, and their rates against the previous sample's same port.
        let per_s = |now: u64, old: Option<u64>| match old {
            Some(o) if dt > 0.0 => ((now.saturating_sub(o) as f64 / dt) * 1000.0).round() / 1000.0,
            _ => 0.0,
        };
        let ports: Vec<Value> = g
            .cur
            .iter()
            .flat_map(|c| c.ports.iter())
            .map(|p| {
                let old = g.prev.iter().flat_map(|s| s.ports.iter()).find(|o| o.port == p.port);
                json!({
                    "port": p.port,
                    "device": p.device,
                    "rx_packets": p.rx_packets,
                    "tx_packets": p.tx_packets,
                    "rx_bytes": p.rx_bytes,
                    "tx_bytes": p.tx_bytes,
                    "rx_missed": p.rx_missed,
                    "rx_errors": p.rx_errors,
                    "tx_errors": p.tx_errors,
                    "rx_nombuf": p.rx_nombuf,
                    "rx_pps": per_s(p.rx_packets, old.map(|o| o.rx_packets)),
                    "tx_pps": per_s(p.tx_packets, old.map(|o| o.tx_packets)),
                    "rx_missed_per_s": per_s(p.rx_missed, old.map(|o| o.rx_missed)),
                })
            })
            .collect();
        let synproxy: serde_json::Map<String, Value> = SYNPROXY_FIELDS
            .iter()
            .map(|n| (n.to_string(), json!(events.get(*n).or(drops.get(*n)).copied().unwrap_or(0))))
            .collect();
        json!({
            "now_ms": unix_ms(),
            "sampled_ms": g.cur.as_ref().map(|_| g.cur_unix_ms),
            "refresh_ms": SAMPLE_EVERY.as_millis() as u64,
            "history_step_ms": (SAMPLE_EVERY * HISTORY_EVERY).as_millis() as u64,
            "history_points": HISTORY_POINTS,
            "rvsd_up": g.error.is_none() && g.cur.is_some(),
            "rvsd_error": g.error,
            "fields": {"traffic": TRAFFIC_FIELDS, "worker": WORKER_FIELDS, "synproxy": SYNPROXY_FIELDS},
            "services": services,
            "workers": workers,
            "drops": drop_list,
            "ports": ports,
            // The workers' neighbour tables as `rvsadm --neigh` lists them.
            "neighbours": g.cur.as_ref().map_or(&[][..], |c| &c.neighbours[..]),
            "synproxy": synproxy,
            "synproxy_rate": point_json(&SYNPROXY_FIELDS, live.get("synproxy")),
            "history": g.history.to_json(since_ms),
        })
    }

    /// The dashboard's routes; None for any other path.
    pub fn respond(&self, method: &str, url: &str, st: &Status) -> Option<Answer> {
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let page = |content_type, body: &str| Answer { status: 200, content_type, body: body.to_string() };
        let answer = match path {
            "/" | "/index.html" => page("text/html; charset=utf-8", INDEX_HTML),
            "/dashboard.js" => page("text/javascript; charset=utf-8", DASHBOARD_JS),
            "/dashboard.css" => page("text/css; charset=utf-8", DASHBOARD_CSS),
            "/api/v1/dashboard" => {
                let since = query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("since="))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let mut body = serde_json::to_string(&self.data(st, since)).unwrap_or_else(|_| "{}".into());
                body.push('\n');
                Answer { status: 200, content_type: "application/json", body }
            }
            _ => return None,
        };
        if method != "GET" && method != "HEAD" {
            return Some(Answer {
                status: 405,
                content_type: "application/json",
                body: "{\"error\": \"use GET\"}\n".into(),
            });
        }
        Some(answer)
    }
}

/// Asks rvsd every [`SAMPLE_EVERY`] until `stop` is set, `ask(true)` (with the neighbour
/// listing) every [`NEIGHBOURS_EVERY`] samples, the first included.
pub fn run_sampler(
    dash: &Dashboard,
    ask: &dyn Fn(bool) -> Result<crate::api::RvsdCounters, String>,
    stop: &AtomicBool,
) {
    let (mut next, mut n) = (Instant::now(), 0u32);
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= next {
            dash.record(ask(n.is_multiple_of(NEIGHBOURS_EVERY)), Instant::now(), unix_ms());
            n = n.wrapping_add(1);
            // Keep the cadence even if one question was slow.
            next += SAMPLE_EVERY;
            if next < now {
                next = now + SAMPLE_EVERY;
            }
        }
        std::thread::sleep((next - Instant::now().min(next)).min(Duration::from_millis(250)));
    }
}

#[cfg(test)]
mod tests;
