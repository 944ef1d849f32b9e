//! The JSON bodies of service requests: `POST /api/v1/services` (add) and
//! `PUT /api/v1/services/{proto}/{vip}:{port}` (edit).
//!
//! Fields, all optional on an edit (absent: unchanged): `scheduler`, `local_addresses`
//! (add only), `persistence_timeout` (seconds, 0 or null: none), `persistence_granularity`
//! (a netmask or a prefix length), `sched_flags` (list), `syn_proxy`, `toa`, `proxy_protocol`
//! (`"v1"`, `"v2"` or null), `proxy_protocol_send` (`"first-data"` or `"on-connect"`),
//! `expire_quiescent_template` (bool), `mh_table_size` (a prime, null: the default),
//! `allow`/`deny` (lists of prefixes, `["198.18.0.0/24"]`), `source_conn_rate`/`conn_rate`
//! (new connections per second: a number, `"RATE:BURST"`, or null: none) and `max_conns`
//! (0 or null: none). An add also takes `protocol` (`tcp`, the default, or `udp`) and
//! `address` (`"vip:port"`).

use crate::overrides::{ServiceDef, ServiceOp};
use rvs_proto::{Persistence, Protocol, ServiceKey, ServiceOptions};
use serde_json::Value;
use std::net::{IpAddr, SocketAddr};

const KNOWN: &[&str] = &[
    "protocol",
    "address",
    "scheduler",
    "local_addresses",
    "persistence_timeout",
    "persistence_granularity",
    "sched_flags",
    "syn_proxy",
    "toa",
    "proxy_protocol",
    "proxy_protocol_send",
    "expire_quiescent_template",
    "mh_table_size",
    "allow",
    "deny",
    "source_conn_rate",
    "conn_rate",
    "max_conns",
];

fn cidrs(v: &Value, k: &str, cur: &[rvs_proto::Cidr]) -> Result<Vec<rvs_proto::Cidr>, String> {
    let bad = || format!("\"{k}\" must be a list of addresses or prefixes (\"198.18.0.0/24\")");
    match v.get(k) {
        None => Ok(cur.to_vec()),
        Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(list)) => list
            .iter()
            .map(|x| x.as_str().ok_or_else(bad)?.parse().map_err(|e| format!("{k}: {e}")))
            .collect(),
        Some(_) => Err(bad()),
    }
}

fn rate(
    v: &Value,
    k: &str,
    cur: Option<rvs_proto::RateLimit>,
) -> Result<Option<rvs_proto::RateLimit>, String> {
    match v.get(k) {
        None => Ok(cur),
        Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(0) => Ok(None),
            Some(r) => {
                let r = rvs_proto::RateLimit::per_sec(r);
                r.check().map_err(|e| format!("{k}: {e}"))?;
                Ok(Some(r))
            }
            None => Err(format!("bad {k} {n}")),
        },
        Some(Value::String(s)) => s.parse().map(Some).map_err(|e| format!("{k}: {e}")),
        Some(other) => Err(format!("{k} {other}: a number, \"RATE:BURST\" or null")),
    }
}

fn flag(v: &Value, k: &str, cur: bool) -> Result<bool, String> {
    match v.get(k) {
        None => Ok(cur),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(format!("\"{k}\" must be true or false, not {other}")),
    }
}

fn prefix(v: &Value, v4: bool) -> Result<Option<u8>, String> {
    let max = if v4 { 32 } else { 128 };
    match v.get("persistence_granularity") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(l) if (1..=max).contains(&l) => Ok(Some(l as u8)),
            _ => Err(format!("persistence_granularity {n}: a prefix length must be 1..{max}")),
        },
        Some(Value::String(m)) => match m.parse::<std::net::Ipv4Addr>() {
            Ok(mask) => {
                let bits = u32::from(mask);
                if bits == 0 || bits.leading_ones() + bits.trailing_zeros() != 32 {
                    Err(format!("persistence_granularity {m:?} is not a contiguous netmask"))
                } else {
                    Ok(Some(bits.leading_ones() as u8))
                }
            }
            Err(_) => Err(format!("persistence_granularity {m:?} is not a netmask")),
        },
        Some(other) => Err(format!("bad persistence_granularity {other}")),
    }
}

/// `base` with the option fields of `v` applied.
pub fn options(v: &Value, base: &ServiceOptions, v4: bool) -> Result<ServiceOptions, String> {
    if let Some(obj) = v.as_object() {
        if let Some(k) = obj.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(format!("unknown field \"{k}\" (known: {})", KNOWN.join(", ")));
        }
    } else {
        return Err("the body must be a JSON object".into());
    }
    let mut o = base.clone();
    let host = if v4 { 32 } else { 128 };
    let prefix_len = prefix(v, v4)?;
    match v.get("persistence_timeout") {
        None => {
            if let (Some(l), Some(p)) = (prefix_len, o.persistence.as_mut()) {
                p.prefix_len = l;
            }
        }
        Some(Value::Null) => o.persistence = None,
        Some(t) => match t.as_u64().and_then(|t| u32::try_from(t).ok()) {
            Some(0) => o.persistence = None,
            Some(timeout) => {
                let keep = o.persistence.map_or(host, |p| p.prefix_len);
                o.persistence = Some(Persistence { timeout, prefix_len: prefix_len.unwrap_or(keep) });
            }
            None => return Err(format!("bad persistence_timeout {t}")),
        },
    }
    if let Some(f) = v.get("sched_flags") {
        let list = f.as_array().ok_or("\"sched_flags\" must be a list of strings")?;
        o.sched_flags = list
            .iter()
            .map(|x| x.as_str().map(str::to_string).ok_or("\"sched_flags\" must be a list of strings"))
            .collect::<Result<_, _>>()?;
    }
    o.syn_proxy = flag(v, "syn_proxy", o.syn_proxy)?;
    o.toa = flag(v, "toa", o.toa)?;
    match v.get("proxy_protocol") {
        None => {}
        Some(Value::Null) => o.proxy_protocol = None,
        Some(Value::String(s)) if s == "v1" => o.proxy_protocol = Some(1),
        Some(Value::String(s)) if s == "v2" => o.proxy_protocol = Some(2),
        Some(other) => return Err(format!("proxy_protocol {other}: use \"v1\", \"v2\" or null")),
    }
    match v.get("proxy_protocol_send") {
        None => {}
        Some(Value::String(s)) if s == "first-data" => o.proxy_on_connect = false,
        Some(Value::String(s)) if s == "on-connect" => o.proxy_on_connect = true,
        Some(other) => {
            return Err(format!("proxy_protocol_send {other}: use \"first-data\" or \"on-connect\""))
        }
    }
    o.expire_quiescent_template = flag(v, "expire_quiescent_template", o.expire_quiescent_template)?;
    match v.get("mh_table_size") {
        None => {}
        Some(Value::Null) => o.mh_table_size = None,
        Some(n) => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(m) if (3..=rvs_proto::check::MH_TABLE_MAX).contains(&m) && rvs_proto::check::is_prime(m) => {
                o.mh_table_size = Some(m)
            }
            _ => {
                return Err(format!(
                    "mh_table_size {n}: a prime between 3 and {} (e.g. 65537)",
                    rvs_proto::check::MH_TABLE_MAX
                ))
            }
        },
    }
    o.allow = cidrs(v, "allow", &o.allow)?;
    o.deny = cidrs(v, "deny", &o.deny)?;
    o.source_conn_rate = rate(v, "source_conn_rate", o.source_conn_rate)?;
    o.conn_rate = rate(v, "conn_rate", o.conn_rate)?;
    match v.get("max_conns") {
        None => {}
        Some(Value::Null) => o.max_conns = 0,
        Some(n) => {
            o.max_conns =
                n.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or(format!("bad max_conns {n}"))?
        }
    }
    rvs_proto::check::check_limits(&o)?;
    Ok(o)
}

fn scheduler(v: &Value) -> Result<Option<String>, String> {
    match v.get("scheduler") {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("bad scheduler {other}")),
    }
}

/// `POST /api/v1/services`.
pub fn add(v: &Value) -> Result<ServiceOp, String> {
    let protocol = match v.get("protocol").map(|p| p.as_str().map(str::to_ascii_lowercase)) {
        None => Protocol::Tcp,
        Some(Some(p)) if p == "tcp" => Protocol::Tcp,
        Some(Some(p)) if p == "udp" => Protocol::Udp,
        Some(_) => return Err("\"protocol\" must be \"tcp\" or \"udp\"".into()),
    };
    let addr: SocketAddr = v
        .get("address")
        .and_then(Value::as_str)
        .ok_or("missing \"address\" (\"vip:port\")")?
        .parse()
        .map_err(|_| "bad \"address\" (\"vip:port\")".to_string())?;
    let local_addrs = match v.get("local_addresses") {
        None => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str().and_then(|s| s.parse::<IpAddr>().ok()).ok_or(format!("bad local address {x}"))
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("\"local_addresses\" must be a list, not {other}")),
    };
    let options = options(v, &ServiceOptions::default(), addr.is_ipv4())?;
    Ok(ServiceOp::Add(ServiceDef {
        key: ServiceKey { protocol, addr },
        scheduler: scheduler(v)?.unwrap_or_else(|| crate::keepalived::model::DEFAULT_SCHEDULER.into()),
        local_addrs,
        options,
    }))
}

/// `PUT /api/v1/services/...`: `current` is the service's options now.
pub fn edit(key: ServiceKey, v: &Value, current: &ServiceOptions) -> Result<ServiceOp, String> {
    if v.get("protocol").is_some() || v.get("address").is_some() || v.get("local_addresses").is_some() {
        return Err("protocol, address and local_addresses of a service cannot be edited".into());
    }
    let new = options(v, current, key.addr.is_ipv4())?;
    Ok(ServiceOp::Edit { key, scheduler: scheduler(v)?, options: (new != *current).then_some(new) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn add_body() {
        let op = add(&json!({
            "address": "198.18.0.100:8080", "local_addresses": ["198.19.0.200"], "scheduler": "sh",
            "sched_flags": ["sh-port"], "persistence_timeout": 60, "persistence_granularity": "255.255.255.0",
            "toa": true, "proxy_protocol": "v2"
        }))
        .unwrap();
        let ServiceOp::Add(d) = op else { panic!() };
        assert_eq!(d.scheduler, "sh");
        assert_eq!(d.options.persistence, Some(Persistence { timeout: 60, prefix_len: 24 }));
        assert_eq!((d.options.toa, d.options.proxy_protocol), (true, Some(2)));
        assert_eq!(d.options.sched_flags, ["sh-port"]);
        let ServiceOp::Add(d) = add(&json!({"address": "198.18.0.100:53", "protocol": "udp"})).unwrap()
        else {
            panic!()
        };
        assert_eq!((d.key.protocol, d.scheduler.as_str()), (Protocol::Udp, "wlc"));
        assert!(add(&json!({"address": "nope"})).is_err());
        assert!(add(&json!({"address": "198.18.0.100:80", "toa": "yes"})).is_err());
        assert!(add(&json!({"address": "198.18.0.100:80", "persistance_timeout": 5}))
            .unwrap_err()
            .contains("unknown field"));
    }

    #[test]
    fn edit_keeps_what_is_not_named() {
        let key = ServiceKey { protocol: Protocol::Tcp, addr: "198.18.0.100:80".parse().unwrap() };
        let cur = ServiceOptions {
            persistence: Some(Persistence { timeout: 50, prefix_len: 24 }),
            toa: true,
            ..Default::default()
        };
        let ServiceOp::Edit { options, scheduler, .. } =
            edit(key, &json!({"persistence_timeout": 120}), &cur).unwrap()
        else {
            panic!()
        };
        assert_eq!(scheduler, None);
        let o = options.unwrap();
        assert_eq!(o.persistence, Some(Persistence { timeout: 120, prefix_len: 24 }));
        assert!(o.toa);
        let ServiceOp::Edit { options, scheduler, .. } =
            edit(key, &json!({"scheduler": "rr"}), &cur).unwrap()
        else {
            panic!()
        };
        assert_eq!((scheduler.as_deref(), options), (Some("rr"), None));
        let ServiceOp::Edit { options, .. } = edit(key, &json!({"persistence_timeout": null}), &cur).unwrap()
        else {
            panic!()
        };
        assert_eq!(options.unwrap().persistence, None);
        assert!(edit(key, &json!({"address": "198.18.0.100:81"}), &cur).is_err());
    }

    #[test]
    fn lists_and_limits_are_set_kept_and_cleared() {
        let key = ServiceKey { protocol: Protocol::Udp, addr: "198.18.0.100:53".parse().unwrap() };
        let body = json!({
            "allow": ["198.18.0.0/24"], "deny": ["198.18.0.66"],
            "source_conn_rate": 50, "conn_rate": "1000:5000", "max_conns": 300
        });
        let ServiceOp::Edit { options, .. } = edit(key, &body, &ServiceOptions::default()).unwrap() else {
            panic!()
        };
        let o = options.unwrap();
        assert_eq!(o.allow[0].to_string(), "198.18.0.0/24");
        assert_eq!(o.deny[0].to_string(), "198.18.0.66/32");
        assert_eq!(o.source_conn_rate, Some(rvs_proto::RateLimit { rate: 50, burst: 50 }));
        assert_eq!(o.conn_rate, Some(rvs_proto::RateLimit { rate: 1000, burst: 5000 }));
        assert_eq!(o.max_conns, 300);
        // Unnamed: kept; null: cleared.
        let ServiceOp::Edit { options, .. } =
            edit(key, &json!({"deny": null, "source_conn_rate": null, "max_conns": 0}), &o).unwrap()
        else {
            panic!()
        };
        let o2 = options.unwrap();
        assert!(o2.deny.is_empty() && o2.source_conn_rate.is_none() && o2.max_conns == 0);
        assert_eq!(o2.allow, o.allow);
        for bad in [
            json!({"allow": ["198.18.0.1/24"]}),
            json!({"deny": "198.18.0.1"}),
            json!({"deny": ["2001:db8::1"]}),
            json!({"conn_rate": "fast"}),
            json!({"max_conns": -1}),
        ] {
            assert!(edit(key, &bad, &o).is_err(), "{bad}");
        }
    }
}
