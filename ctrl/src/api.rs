//! rvs-ctrl's HTTP side: `/metrics` in Prometheus' text format and a JSON API for virtual
//! services and real servers, answered one at a time on a thread of its own, each
//! connection read by a thread of its own with bounded time and size ([`http`]).
//!
//! The main loop publishes a [`Status`] (configuration, health, effective table) after
//! every change; the HTTP thread reads it, asks rvsd for its counters at each request that
//! shows them (one short connection: `ListServices` + `Stats`) and hands changes to the
//! main loop as [`Op`]s, whose answer it waits for. Routing and rendering are pure
//! functions of those inputs ([`respond`]), tested without sockets; the server and the
//! daemon's backend are in `server.rs`.
//!
//! Routes:
//! * `GET /metrics` (rvs's families, and node_exporter's `node_ipvs_*`: `api/ipvs_compat.rs`)
//! * `GET /api/v1/services`, `GET /api/v1/services/{proto}/{vip}:{port}`
//! * `POST /api/v1/services/{proto}/{vip}:{port}/reals` body `{"address": "ip:port", "weight": n}`,
//!   optionally `"method": "fullnat"|"nat"|"dr"|"tun"` (default: the service's `lb_kind`)
//! * `PUT .../reals/{ip}:{port}` body `{"weight": n}`
//! * `DELETE .../reals/{ip}:{port}`
//! * `POST .../reals/{ip}:{port}/drain` (weight 0)
//! * `GET /api/v1/vrrp`, `GET|POST /api/v1/ownership` (see [`vrrp`])
//!
//! Changes are overrides on top of the file config; see [`crate::overrides`]. They need
//! the bearer token of `--api-token-file` ([`auth`]); without one the API is read-only.
//! `/`, `/dashboard.*` and `/api/v1/dashboard` are the live dashboard ([`crate::dashboard`]).

use crate::check::state::Table;
use crate::overrides::{Op, OpError};
use rvs_proto::{
    Client, Command, Protocol, Reply, ServiceInfo, ServiceKey, ServiceOptions, Thresholds, TrafficStats,
    WorkerStats,
};
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

pub mod auth;
pub mod http;
mod ipvs_compat;
pub use ipvs_compat::Totals as IpvsTotals;
mod metrics;
mod server;
mod services;
mod sync_metrics;
mod vrrp;
pub use metrics::metrics;
pub use server::{bind, serve, Ended, ListenError, Live, Server};

/// Where rvs-ctrl listens unless told otherwise.
/// What rvsd answered to one scrape: its services with their counters, each worker's
/// counters and each port's.
#[derive(Debug, Clone, Default)]
pub struct RvsdCounters {
    pub services: Vec<ServiceInfo>,
    pub workers: Vec<WorkerStats>,
    pub ports: Vec<rvs_proto::PortStats>,
    /// The workers' neighbour tables (`rvsadm --neigh`), for those that show them
    /// (`Backend::neighbours`): None when not asked for, or from an rvsd that has none to
    /// list. Each listing has every worker walk its table between bursts, so it is not
    /// asked for with every answer.
    pub neighbours: Option<Vec<rvs_proto::NeighInfo>>,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9595";

/// What the main loop knows, as the HTTP thread shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status {
    pub services: Vec<VsStatus>,
    /// The table rvs-ctrl wants rvsd to have (health and overrides applied).
    pub desired: Table,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VsStatus {
    pub key: ServiceKey,
    /// The virtual_server_group this service is a member of.
    pub group: Option<String>,
    pub scheduler: String,
    /// The options rvs-ctrl gives rvsd for this service.
    pub options: ServiceOptions,
    pub quorum: u32,
    /// As in effect (keepalived caps it below the quorum).
    pub hysteresis: u32,
    pub quorum_up: bool,
    pub sorry_server: Option<SocketAddr>,
    pub local_addrs: Vec<IpAddr>,
    pub reals: Vec<RsStatus>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RsStatus {
    pub addr: SocketAddr,
    /// Its forwarding method (`lb_kind`, `lvs_method`, or the API's `method`).
    pub method: rvs_proto::ForwardMethod,
    /// The file's weight (None: added through the API).
    pub file_weight: Option<u32>,
    /// uthreshold/lthreshold (0: none).
    pub thresholds: Thresholds,
    /// All checkers up (always for a server without checkers).
    pub alive: bool,
    pub override_: Option<String>,
    pub checks: Vec<CheckStatus>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CheckStatus {
    /// keepalived's name: TCP_CHECK, HTTP_GET, MISC_CHECK, UDP_CHECK.
    pub kind: &'static str,
    pub target: SocketAddr,
    pub up: bool,
    /// How long the last completed run took.
    pub last_duration: Option<Duration>,
    /// Completed runs (retries included).
    pub runs: u64,
    /// Why the last run failed, while the checker's last run failed.
    pub last_error: Option<String>,
}

/// The latest status, shared between the main loop (writer) and the HTTP thread.
#[derive(Default)]
pub struct Shared(Mutex<Arc<Status>>);

impl Shared {
    pub fn publish(&self, s: Status) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(s);
    }
    pub fn get(&self) -> Arc<Status> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A change for the main loop, with where to send its verdict.
pub struct OpRequest {
    pub op: Op,
    pub reply: mpsc::Sender<Result<(), OpError>>,
}

/// What [`respond`] needs from the running daemon.
pub trait Backend {
    fn status(&self) -> Arc<Status>;
    /// rvsd's services and its workers' and ports' counters.
    fn rvsd(&self) -> Result<RvsdCounters, String>;
    /// rvsd's neighbour listing, if it answers one.
    fn neighbours(&self) -> Option<Vec<rvs_proto::NeighInfo>> {
        None
    }
    fn submit(&self, op: Op) -> Result<(), OpError>;
    /// The live dashboard, when this daemon keeps one.
    fn dashboard(&self) -> Option<&crate::dashboard::Dashboard> {
        None
    }
    /// The VRRP thread's view (None: no VRRP instance, or `--no-vrrp`).
    fn vrrp(&self) -> Option<Arc<crate::vrrp::VrrpStatus>> {
        None
    }
    /// What rvsd owns.
    fn ownership(&self) -> Result<rvs_proto::OwnershipInfo, String> {
        Err("no rvsd".into())
    }
    /// rvsd takes over (`take`) or releases `addrs`.
    fn own(&self, _take: bool, _addrs: &[IpAddr]) -> Result<rvs_proto::OwnershipInfo, String> {
        Err("no rvsd".into())
    }
    /// rvsd's session sync (`rvsadm --sync`).
    fn sync(&self) -> Result<rvs_proto::SyncInfo, String> {
        Err("no rvsd".into())
    }
    /// What keeps `node_ipvs_*_total` from going down between scrapes (None: the sums).
    fn ipvs_totals(&self) -> Option<&IpvsTotals> {
        None
    }
}

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

const JSON: &str = "application/json";
/// Prometheus' text exposition format.
pub const METRICS_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn json_answer(status: u16, v: &Value) -> Answer {
    let mut body = serde_json::to_string_pretty(v).unwrap_or_else(|_| "{}".into());
    body.push('\n');
    Answer { status, content_type: JSON, body }
}

fn error(status: u16, msg: impl Into<String>) -> Answer {
    json_answer(status, &json!({ "error": msg.into() }))
}

pub(crate) fn proto_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    }
}

/// `ip:port` or `[v6]:port`.
fn parse_addr(s: &str) -> Option<SocketAddr> {
    s.parse().ok()
}

/// A path segment with its %-escapes decoded (a client may write `[2001:db8::1]:80` as
/// `%5B2001%3Adb8%3A%3A1%5D%3A80`); None when an escape is malformed or the result is not
/// UTF-8.
fn percent_decode(seg: &str) -> Option<String> {
    let b = seg.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The methods a path takes, for the `Allow` header of a 405 (None: no such route). The
/// routes of [`respond`], [`service_route`], `vrrp::route` and the dashboard's, by shape:
/// a test checks that each 405 of theirs and this agree.
pub fn allowed(url: &str) -> Option<&'static str> {
    let path = url.split('?').next().unwrap_or("");
    let decoded =
        path.split('/').filter(|p| !p.is_empty()).map(percent_decode).collect::<Option<Vec<_>>>()?;
    let parts: Vec<&str> = decoded.iter().map(String::as_str).collect();
    Some(match parts.as_slice() {
        [] | ["index.html" | "dashboard.js" | "dashboard.css" | "metrics"] => "GET, HEAD",
        ["api", "v1", "dashboard" | "vrrp"] => "GET, HEAD",
        ["api", "v1", "services"] | ["api", "v1", "ownership"] => "GET, HEAD, POST",
        ["api", "v1", "services", _, _] => "GET, HEAD, PUT, DELETE",
        ["api", "v1", "services", _, _, "reals"] => "POST",
        ["api", "v1", "services", _, _, "reals", _] => "PUT, DELETE",
        ["api", "v1", "services", _, _, "reals", _, "drain"] => "POST",
        _ => return None,
    })
}

/// Handles one request.
pub fn respond(method: &str, url: &str, body: &str, b: &dyn Backend) -> Answer {
    let path = url.split('?').next().unwrap_or("");
    let Some(decoded) =
        path.split('/').filter(|p| !p.is_empty()).map(percent_decode).collect::<Option<Vec<_>>>()
    else {
        return error(400, format!("bad path {path:?}: a %-escape that is malformed or not UTF-8"));
    };
    let parts: Vec<&str> = decoded.iter().map(String::as_str).collect();
    if let Some(a) = b.dashboard().and_then(|d| d.respond(method, url, &b.status())) {
        return a;
    }
    match (method, parts.as_slice()) {
        ("GET", ["metrics"]) => {
            let rvsd = b.rvsd().map(|mut r| {
                r.neighbours = b.neighbours();
                r
            });
            let mut body = metrics(&b.status(), rvsd.as_ref().ok());
            body.push_str(&vrrp::metrics(b.vrrp().as_deref(), b.ownership().ok().as_ref()));
            body.push_str(&sync_metrics::metrics(b.sync().ok().as_ref()));
            body.push_str(&ipvs_compat::metrics(
                rvsd.as_ref().ok().map(|r| r.services.as_slice()),
                b.ipvs_totals(),
            ));
            Answer { status: 200, content_type: METRICS_TYPE, body }
        }
        (_, ["metrics"]) => error(405, "use GET"),
        ("GET", ["api", "v1", "services"]) => {
            let rvsd = b.rvsd();
            let list = services_json(&b.status(), rvsd.as_ref().ok().map(|r| r.services.as_slice()), None);
            let mut v = json!({ "services": list });
            if let Err(e) = rvsd {
                v["rvsd_error"] = json!(e);
            }
            json_answer(200, &v)
        }
        ("POST", ["api", "v1", "services"]) => {
            let v = match serde_json::from_str::<Value>(body) {
                Ok(v) => v,
                Err(e) => return error(400, format!("body is not JSON: {e}")),
            };
            match services::add(&v) {
                Ok(op) => match b.submit(Op::Service(op)) {
                    Ok(()) => json_answer(201, &json!({ "result": "ok" })),
                    Err(e) => error(e.http_status(), e.to_string()),
                },
                Err(e) => error(400, e),
            }
        }
        (_, ["api", "v1", "services"]) => error(405, format!("{method} is not allowed here (GET or POST)")),
        (_, ["api", "v1", rest @ ("vrrp" | "ownership")]) => vrrp::route(method, &[rest], body, b),
        (_, ["api", "v1", "services", proto, vs, rest @ ..]) => {
            let protocol = match *proto {
                "tcp" | "TCP" => Protocol::Tcp,
                "udp" | "UDP" => Protocol::Udp,
                other => return error(404, format!("unknown protocol {other:?} (tcp or udp)")),
            };
            let Some(addr) = parse_addr(vs) else {
                return error(404, format!("bad virtual server address {vs:?} (ip:port)"));
            };
            service_route(method, ServiceKey { protocol, addr }, rest, body, b)
        }
        _ => error(404, format!("no route for {method} {path}")),
    }
}

fn service_route(method: &str, key: ServiceKey, rest: &[&str], body: &str, b: &dyn Backend) -> Answer {
    let submit = |op: Op, ok_status: u16| match b.submit(op) {
        Ok(()) => json_answer(ok_status, &json!({ "result": "ok" })),
        Err(e) => error(e.http_status(), e.to_string()),
    };
    let body_json = || -> Result<Value, Answer> {
        serde_json::from_str::<Value>(if body.trim().is_empty() { "{}" } else { body })
            .map_err(|e| error(400, format!("body is not JSON: {e}")))
    };
    let weight_of = |v: &Value, default: Option<u32>| -> Result<u32, Answer> {
        match v.get("weight") {
            None => default.ok_or_else(|| error(400, "missing \"weight\"")),
            Some(w) => w
                .as_u64()
                .and_then(|w| u32::try_from(w).ok())
                .ok_or_else(|| error(400, format!("bad weight {w}"))),
        }
    };
    match (method, rest) {
        ("PUT", []) => {
            let v = match body_json() {
                Ok(v) => v,
                Err(a) => return a,
            };
            let st = b.status();
            let Some(cur) = st.services.iter().find(|s| s.key == key) else {
                return error(404, format!("no virtual server {} {}", key.protocol.as_str(), key.addr));
            };
            match services::edit(key, &v, &cur.options) {
                Ok(op) => submit(Op::Service(op), 200),
                Err(e) => error(400, e),
            }
        }
        ("DELETE", []) => submit(Op::Service(crate::overrides::ServiceOp::Delete(key)), 200),
        ("GET", []) => {
            let rvsd = b.rvsd();
            let list =
                services_json(&b.status(), rvsd.as_ref().ok().map(|r| r.services.as_slice()), Some(key));
            match list.into_iter().next() {
                Some(v) => json_answer(200, &v),
                None => error(404, format!("no virtual server {} {}", key.protocol.as_str(), key.addr)),
            }
        }
        ("POST", ["reals"]) => {
            let v = match body_json() {
                Ok(v) => v,
                Err(a) => return a,
            };
            let Some(text) = v.get("address").and_then(Value::as_str) else {
                return error(400, "missing \"address\" (\"ip:port\", or \"ip\" for the service's port)");
            };
            let addr = match parse_addr(text) {
                Some(a) => a,
                None => match text.parse::<IpAddr>() {
                    Ok(ip) => SocketAddr::new(ip, key.addr.port()),
                    Err(_) => return error(400, format!("bad real server address {text:?}")),
                },
            };
            let weight = match weight_of(&v, Some(1)) {
                Ok(w) => w,
                Err(a) => return a,
            };
            let method = match v.get("method") {
                None | Some(Value::Null) => None,
                Some(m) => match m.as_str().and_then(rvs_proto::ForwardMethod::from_name) {
                    Some(m) => Some(m),
                    None => {
                        return error(
                            400,
                            format!("bad method {m} (\"fullnat\", \"nat\", \"dr\" or \"tun\")"),
                        )
                    }
                },
            };
            submit(Op::Add { service: key, addr, weight, method }, 201)
        }
        (m, ["reals", rs, tail @ ..]) => {
            let Some(addr) = parse_addr(rs) else {
                return error(404, format!("bad real server address {rs:?} (ip:port)"));
            };
            match (m, tail) {
                ("PUT", []) => {
                    let v = match body_json() {
                        Ok(v) => v,
                        Err(a) => return a,
                    };
                    if v.get("method").is_some() {
                        return error(
                            400,
                            "a real server's method is set when it is added (DELETE, then POST)",
                        );
                    }
                    match weight_of(&v, None) {
                        Ok(weight) => submit(Op::Edit { service: key, addr, weight }, 200),
                        Err(a) => a,
                    }
                }
                ("DELETE", []) => submit(Op::Delete { service: key, addr }, 200),
                ("POST", ["drain"]) => submit(Op::Drain { service: key, addr }, 200),
                (_, []) | (_, ["drain"]) => error(405, format!("{m} is not allowed here")),
                _ => error(404, "no such route"),
            }
        }
        (_, []) | (_, ["reals"]) => error(405, format!("{method} is not allowed here")),
        _ => error(404, "no such route"),
    }
}

fn stats_json(s: &TrafficStats) -> Value {
    json!({
        "conns": s.conns,
        "in_packets": s.in_pkts,
        "out_packets": s.out_pkts,
        "in_bytes": s.in_bytes,
        "out_bytes": s.out_bytes,
    })
}

/// Service options as the API shows them: keepalived's words, values as in effect.
pub fn options_json(o: &ServiceOptions) -> Value {
    json!({
        "persistence_timeout": o.persistence.map(|p| p.timeout),
        "persistence_prefix_len": o.persistence.map(|p| p.prefix_len),
        "sched_flags": o.sched_flags,
        "syn_proxy": o.syn_proxy,
        "toa": o.toa,
        "proxy_protocol": o.proxy_protocol.map(|v| format!("v{v}")),
        "proxy_protocol_send": if o.proxy_on_connect { "on-connect" } else { "first-data" },
        "expire_quiescent_template": o.expire_quiescent_template,
        "mh_table_size": o.mh_table_size,
        "allow": o.allow.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        "deny": o.deny.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        "source_conn_rate": o.source_conn_rate.map(|r| r.to_string()),
        "conn_rate": o.conn_rate.map(|r| r.to_string()),
        "max_conns": o.max_conns,
    })
}

/// The services as the API shows them: configuration, health, what rvs-ctrl wants and
/// (when rvsd answered) what rvsd has with its counters.
pub fn services_json(st: &Status, rvsd: Option<&[ServiceInfo]>, only: Option<ServiceKey>) -> Vec<Value> {
    let mut out = Vec::new();
    for vs in st.services.iter().filter(|v| only.is_none_or(|k| k == v.key)) {
        let live = rvsd.and_then(|l| l.iter().find(|s| s.spec.key == vs.key));
        let wanted = st.desired.get(&vs.key);
        let real_json = |addr: SocketAddr| -> Value {
            let r = live.and_then(|s| s.reals.iter().find(|r| r.spec.addr == addr));
            match r {
                Some(r) => json!({
                    "method": r.spec.method.name(),
                    "weight": r.spec.weight,
                    "uthreshold": r.spec.thresholds.upper,
                    "lthreshold": r.spec.thresholds.lower,
                    "active_conns": r.active_conns,
                    "inactive_conns": r.inactive_conns,
                    "stats": stats_json(&r.stats),
                }),
                None => Value::Null,
            }
        };
        let mut reals: Vec<Value> = vs
            .reals
            .iter()
            .map(|r| {
                json!({
                    "address": r.addr.to_string(),
                    "method": r.method.name(),
                    "source": if r.file_weight.is_some() { "config" } else { "api" },
                    "config_weight": r.file_weight,
                    "uthreshold": r.thresholds.upper,
                    "lthreshold": r.thresholds.lower,
                    "alive": r.alive,
                    "override": r.override_,
                    "weight": wanted.and_then(|w| w.reals.get(&r.addr)),
                    "checks": r.checks.iter().map(|c| json!({
                        "type": c.kind,
                        "target": c.target.to_string(),
                        "up": c.up,
                        "last_duration_seconds": c.last_duration.map(|d| d.as_secs_f64()),
                        "runs": c.runs,
                        "last_error": c.last_error,
                    })).collect::<Vec<_>>(),
                    "rvsd": real_json(r.addr),
                })
            })
            .collect();
        if let Some(sorry) = vs.sorry_server {
            if !vs.reals.iter().any(|r| r.addr == sorry) {
                reals.push(json!({
                    "address": sorry.to_string(),
                    "source": "sorry_server",
                    "weight": wanted.and_then(|w| w.reals.get(&sorry)),
                    "rvsd": real_json(sorry),
                }));
            }
        }
        out.push(json!({
            "protocol": proto_name(vs.key.protocol),
            "vip": vs.key.addr.ip().to_string(),
            "port": vs.key.addr.port(),
            "group": vs.group,
            "scheduler": vs.scheduler,
            "options": options_json(&vs.options),
            "rvsd_options": live.map(|s| options_json(&s.spec.options)),
            "local_addresses": vs.local_addrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "quorum": vs.quorum,
            "hysteresis": vs.hysteresis,
            "quorum_up": vs.quorum_up,
            "sorry_server": vs.sorry_server.map(|s| s.to_string()),
            "sorry_server_active": vs.sorry_server.is_some() && !vs.quorum_up,
            "in_rvsd": live.is_some(),
            "stats": live.map(|s| stats_json(&s.stats)),
            "reals": reals,
        }));
    }
    out
}

#[cfg(test)]
mod http_tests;
#[cfg(test)]
mod scrape_tests;
#[cfg(test)]
mod tests;
