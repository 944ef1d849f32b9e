//! VRRP and VIP ownership over HTTP:
//! * `GET /api/v1/vrrp`: each instance's state, priority, addresses, keepalived's process;
//! * `GET /api/v1/ownership`: what rvsd owns, and which instance moves each address;
//! * `POST /api/v1/ownership` `{"take": [...]}` or `{"release": [...]}`: rvsd takes over
//!   (with gratuitous ARPs) or releases those VIPs/LIPs, as `rvsadm --takeover/--release`
//!   does, for cluster managers other than VRRP. An address a `vrrp_instance` moves is
//!   refused (409): VRRP would undo the change within a second.
//! * `/metrics`: `rvs_vrrp_state{instance}` and friends, `rvs_address_owned{addr,kind}`.

use super::metrics::{labels, Family};
use super::{error, json_answer, Answer, Backend};
use crate::vrrp::VrrpStatus;
use rvs_proto::OwnershipInfo;
use serde_json::{json, Value};
use std::net::IpAddr;
use std::time::SystemTime;

fn ips(v: &[IpAddr]) -> Vec<String> {
    v.iter().map(ToString::to_string).collect()
}

fn unix(t: Option<SystemTime>) -> Value {
    t.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(Value::Null, |d| json!(d.as_secs_f64()))
}

pub(super) fn vrrp_json(st: Option<&VrrpStatus>) -> Value {
    let Some(st) = st else {
        return json!({ "enabled": false, "instances": [] });
    };
    json!({
        "enabled": true,
        "keepalived": { "pid": st.keepalived_pid, "restarts": st.keepalived_restarts },
        "instances": st.instances.iter().map(|i| json!({
            "name": i.name,
            "state": i.state.as_str(),
            "priority": i.priority,
            "base_priority": i.base_priority,
            "virtual_router_id": i.vrid,
            "interface": i.interface,
            "kernel_interface": i.kernel_if,
            "vips": ips(&i.vips),
            "lips": ips(&i.lips),
            "sync_group": i.group,
            "transitions": i.transitions,
            "since": unix(i.since),
        })).collect::<Vec<_>>(),
        "sync_groups": st.groups.iter().map(|(n, s)| json!({ "name": n, "state": s.as_str() })).collect::<Vec<_>>(),
        "owned": st.owned.as_deref().map(ips),
        "error": st.last_error,
        "sync_hold": st.sync_hold,
        "sync_hold_reason": st.sync_hold_reason,
    })
}

fn ownership_json(o: &OwnershipInfo, vrrp: Option<&VrrpStatus>) -> Value {
    json!({
        "owns_by_default": o.owns_by_default,
        "addresses": o.addresses.iter().map(|a| json!({
            "address": a.addr.to_string(),
            "kind": a.kind,
            "owned": a.owned,
            "vrrp_instance": vrrp.and_then(|v| v.owner_of(a.addr)).map(|i| i.name.clone()),
        })).collect::<Vec<_>>(),
    })
}

pub(super) fn route(method: &str, rest: &[&str], body: &str, b: &dyn Backend) -> Answer {
    let vrrp = b.vrrp();
    match (method, rest) {
        ("GET", ["vrrp"]) => json_answer(200, &vrrp_json(vrrp.as_deref())),
        ("GET", ["ownership"]) => match b.ownership() {
            Ok(o) => json_answer(200, &ownership_json(&o, vrrp.as_deref())),
            Err(e) => error(503, e),
        },
        ("POST", ["ownership"]) => {
            let v: Value = match serde_json::from_str(body) {
                Ok(v) => v,
                Err(e) => return error(400, format!("body is not JSON: {e}")),
            };
            let (take, list) = match (v.get("take"), v.get("release")) {
                (Some(l), None) => (true, l),
                (None, Some(l)) => (false, l),
                _ => return error(400, "give exactly one of \"take\" and \"release\" (a list of addresses)"),
            };
            let Some(list) = list.as_array() else {
                return error(400, "\"take\"/\"release\" must be a list of addresses");
            };
            let mut addrs = Vec::new();
            for a in list {
                match a.as_str().map(str::parse::<IpAddr>) {
                    Some(Ok(ip)) => addrs.push(ip),
                    _ => return error(400, format!("bad address {a}")),
                }
            }
            if addrs.is_empty() {
                return error(
                    400,
                    "no address given (rvsadm --takeover/--release without addresses acts on all)",
                );
            }
            if let Some(v) = vrrp.as_deref() {
                if let Some((a, i)) = addrs.iter().find_map(|a| v.owner_of(*a).map(|i| (a, i))) {
                    return error(
                        409,
                        format!("{a} is moved by vrrp_instance {} (now {})", i.name, i.state.as_str()),
                    );
                }
            }
            match b.own(take, &addrs) {
                Ok(o) => json_answer(200, &ownership_json(&o, vrrp.as_deref())),
                Err(e) => error(503, e),
            }
        }
        (_, ["vrrp"] | ["ownership"]) => error(405, format!("{method} is not allowed here")),
        _ => error(404, "no such route"),
    }
}

/// The VRRP and ownership families of `/metrics`.
pub(super) fn metrics(vrrp: Option<&VrrpStatus>, owned: Option<&OwnershipInfo>) -> String {
    let mut out = String::new();
    if let Some(v) = vrrp {
        let mut state = Family::new(
            "rvs_vrrp_state",
            "gauge",
            "VRRP state per instance: 0 init, 1 backup, 2 master, 3 fault, 4 stop (keepalived's numbering)",
        );
        let mut prio =
            Family::new("rvs_vrrp_priority", "gauge", "VRRP priority keepalived last reported per instance");
        let mut trans =
            Family::new("rvs_vrrp_transitions_total", "counter", "VRRP state changes per instance");
        for i in &v.instances {
            let l = labels(&[("instance", i.name.clone())]);
            state.add(l.clone(), i.state.metric());
            prio.add(l.clone(), i.priority);
            trans.add(l, i.transitions);
        }
        let mut up =
            Family::new("rvs_vrrp_keepalived_up", "gauge", "Whether the keepalived rvs-ctrl runs is up");
        up.add(String::new(), u8::from(v.keepalived_pid.is_some()));
        let mut restarts = Family::new(
            "rvs_vrrp_keepalived_restarts_total",
            "counter",
            "Times keepalived exited and was restarted",
        );
        restarts.add(String::new(), v.keepalived_restarts);
        let mut hold = Family::new(
            "rvs_vrrp_sync_hold",
            "gauge",
            "Whether rvs-ctrl holds the VRRP instances back (priority 1) until rvsd's start-up bulk sync is over",
        );
        hold.add(String::new(), u8::from(v.sync_hold));
        for f in [state, prio, trans, up, restarts, hold] {
            f.render(&mut out);
        }
    }
    if let Some(o) = owned {
        let mut f =
            Family::new("rvs_address_owned", "gauge", "Whether rvsd owns (answers for) this VIP or LIP");
        for a in &o.addresses {
            f.add(labels(&[("addr", a.addr.to_string()), ("kind", a.kind.clone())]), u8::from(a.owned));
        }
        f.render(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vrrp::fifo::VrrpState;
    use crate::vrrp::InstanceStatus;
    use rvs_proto::AddrOwnership;

    pub(crate) fn status() -> VrrpStatus {
        VrrpStatus {
            keepalived_pid: Some(42),
            keepalived_restarts: 1,
            instances: vec![InstanceStatus {
                name: "VI_1".into(),
                state: VrrpState::Master,
                priority: 100,
                base_priority: 100,
                vrid: 51,
                interface: "eth0".into(),
                kernel_if: "rvs-client".into(),
                vips: vec!["198.18.0.100".parse().unwrap()],
                lips: vec!["198.19.0.200".parse().unwrap()],
                group: None,
                transitions: 2,
                since: None,
            }],
            groups: vec![],
            owned: Some(vec!["198.18.0.100".parse().unwrap()]),
            last_error: None,
            sync_hold: false,
            sync_hold_reason: String::new(),
        }
    }

    pub(crate) fn ownership() -> OwnershipInfo {
        OwnershipInfo {
            owns_by_default: false,
            addresses: vec![
                AddrOwnership { addr: "198.18.0.100".parse().unwrap(), kind: "vip".into(), owned: true },
                AddrOwnership { addr: "198.18.0.150".parse().unwrap(), kind: "vip".into(), owned: false },
            ],
        }
    }

    #[test]
    fn vrrp_metrics_families() {
        let m = metrics(Some(&status()), Some(&ownership()));
        for want in [
            "# TYPE rvs_vrrp_state gauge\n",
            "rvs_vrrp_state{instance=\"VI_1\"} 2\n",
            "rvs_vrrp_priority{instance=\"VI_1\"} 100\n",
            "rvs_vrrp_transitions_total{instance=\"VI_1\"} 2\n",
            "rvs_vrrp_keepalived_up 1\n",
            "rvs_address_owned{addr=\"198.18.0.150\",kind=\"vip\"} 0\n",
        ] {
            assert!(m.contains(want), "missing {want:?} in\n{m}");
        }
        assert!(metrics(None, None).is_empty());
    }

    struct Fake {
        vrrp: Option<VrrpStatus>,
        owned: std::cell::RefCell<OwnershipInfo>,
    }

    impl Backend for Fake {
        fn status(&self) -> std::sync::Arc<crate::api::Status> {
            Default::default()
        }
        fn rvsd(&self) -> Result<crate::api::RvsdCounters, String> {
            Err("none".into())
        }
        fn submit(&self, _: crate::overrides::Op) -> Result<(), crate::overrides::OpError> {
            unreachable!()
        }
        fn vrrp(&self) -> Option<std::sync::Arc<VrrpStatus>> {
            self.vrrp.clone().map(std::sync::Arc::new)
        }
        fn ownership(&self) -> Result<OwnershipInfo, String> {
            Ok(self.owned.borrow().clone())
        }
        fn own(&self, take: bool, addrs: &[IpAddr]) -> Result<OwnershipInfo, String> {
            let mut o = self.owned.borrow_mut();
            for a in addrs {
                match o.addresses.iter_mut().find(|x| x.addr == *a) {
                    Some(x) => x.owned = take,
                    None => o.addresses.push(AddrOwnership { addr: *a, kind: "none".into(), owned: take }),
                }
            }
            Ok(o.clone())
        }
    }

    #[test]
    fn ownership_routes() {
        let f = Fake { vrrp: Some(status()), owned: ownership().into() };
        let r = |m: &str, u: &str, b: &str| crate::api::respond(m, u, b, &f);
        let a = r("GET", "/api/v1/ownership", "");
        assert_eq!(a.status, 200);
        let v: Value = serde_json::from_str(&a.body).unwrap();
        assert_eq!(v["addresses"][0]["vrrp_instance"], "VI_1");
        // An address VRRP moves is refused; another one is taken and released.
        let a = r("POST", "/api/v1/ownership", r#"{"release": ["198.18.0.100"]}"#);
        assert_eq!(a.status, 409, "{}", a.body);
        assert!(a.body.contains("vrrp_instance VI_1 (now MASTER)"), "{}", a.body);
        let a = r("POST", "/api/v1/ownership", r#"{"take": ["198.18.0.150"]}"#);
        assert_eq!(a.status, 200, "{}", a.body);
        assert!(f.owned.borrow().addresses[1].owned);
        assert_eq!(r("POST", "/api/v1/ownership", r#"{"release": ["198.18.0.150"]}"#).status, 200);
        assert!(!f.owned.borrow().addresses[1].owned);
        for bad in [
            "{",
            r#"{"take": []}"#,
            r#"{"take": ["x"]}"#,
            r#"{"take": "198.18.0.1"}"#,
            r#"{"take": [], "release": []}"#,
            "{}",
        ] {
            assert_eq!(r("POST", "/api/v1/ownership", bad).status, 400, "{bad}");
        }
        assert_eq!(r("DELETE", "/api/v1/ownership", "").status, 405);
        assert_eq!(r("GET", "/api/v1/vrrp", "").status, 200);
        // Without VRRP every address may be moved.
        let f = Fake { vrrp: None, owned: ownership().into() };
        assert_eq!(
            crate::api::respond("POST", "/api/v1/ownership", r#"{"release": ["198.18.0.100"]}"#, &f).status,
            200
        );
        let m = crate::api::respond("GET", "/metrics", "", &f).body;
        assert!(m.contains("rvs_address_owned{addr=\"198.18.0.100\",kind=\"vip\"} 0"), "{m}");
    }

    #[test]
    fn vrrp_json_shape() {
        let v = vrrp_json(Some(&status()));
        assert_eq!(v["instances"][0]["state"], "MASTER");
        assert_eq!(v["instances"][0]["kernel_interface"], "rvs-client");
        assert_eq!(v["instances"][0]["lips"][0], "198.19.0.200");
        assert_eq!(vrrp_json(None)["enabled"], false);
        let o = ownership_json(&ownership(), Some(&status()));
        assert_eq!(o["addresses"][0]["vrrp_instance"], "VI_1");
        assert_eq!(o["addresses"][1]["vrrp_instance"], Value::Null);
    }
}
