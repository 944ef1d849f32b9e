//! From a received record to a session of the receiving director: the service and real
//! server are found again by address in the receiver's own snapshot (stat slots are local
//! to each director and never travel), and expiry continues from the time left.
//!
//! The worker that owns the session ([`ConnRecord::owner_worker`]) calls [`rebind`] and
//! inserts the result into its table (or refreshes the session it has under the same
//! client flow). The extension state (translation, PROXY header, SYN-proxy origin) is the
//! pipeline's to attach: when [`Rebound::needs_ext`] holds, it creates the extension entry
//! from the record and sets `FLAG_EXT`.

use std::net::{IpAddr, SocketAddr, SocketAddrV4};

use super::conn::{
    ConnRecord, CONN_F_DR, CONN_F_METHOD, CONN_F_NAT, CONN_F_SYNPROXY, CONN_F_TOA, CONN_F_TOA_PENDING,
    CONN_F_TUN,
};
use crate::service::{Snapshot, VsKey};
use crate::session::v6::{Session6, FLAG6_DR, FLAG6_NAT, FLAG6_TOA, FLAG6_TOA_PENDING, FLAG6_TUN};
use crate::session::{Session, FLAG_DR, FLAG_NAT, FLAG_TOA, FLAG_TOA_PENDING, FLAG_TUN};
use crate::synproxy::Translation;
use crate::time::Time;
use rvs_proto::ForwardMethod;

/// Why a record cannot become a session here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RebindError {
    /// The record holds what no session table here can: an IPv4 client with an IPv6
    /// server side, or SYN-proxy sequence translation on an IPv6 session.
    #[error("the record's families or state cannot be held by a session here")]
    Unsupported,
    #[error("no service {0:?} here")]
    NoService(VsKey),
    /// The IPv6 service (protocol, VIP, vport) is not configured here.
    #[error("no IPv6 service {0} here")]
    NoService6(SocketAddr),
    #[error("real server {0} is not in the service here")]
    NoReal(SocketAddr),
    /// Replies to this LIP would not reach us: it is not a local address of the service.
    #[error("local address {0} is not one of the service's here")]
    NoLocal(SocketAddr),
    /// The record's method (FULLNAT, NAT, DR or TUN) is not the real server's here.
    #[error("real server {0} is reached by another forwarding method here")]
    Method(SocketAddr),
}

/// A session rebuilt from a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rebound {
    pub session: Session,
    /// Index of the service in the snapshot's `services`.
    pub service: usize,
    /// The record carries extension state (translation, PROXY, SYN proxy) to attach.
    pub needs_ext: bool,
}

/// The forwarding method a record's flags name (validated: at most one method flag).
fn method_of(rec: &ConnRecord) -> ForwardMethod {
    match rec.flags & CONN_F_METHOD {
        CONN_F_NAT => ForwardMethod::Nat,
        CONN_F_DR => ForwardMethod::DirectRoute,
        CONN_F_TUN => ForwardMethod::Tunnel,
        _ => ForwardMethod::FullNat,
    }
}

fn v4(a: SocketAddr) -> Option<SocketAddrV4> {
    match a {
        SocketAddr::V4(a) => Some(a),
        SocketAddr::V6(_) => None,
    }
}

/// The session for `rec` in `snap`, expiring `rec.timeout_ms` after `now`.
pub fn rebind(rec: &ConnRecord, snap: &Snapshot, now: Time) -> Result<Rebound, RebindError> {
    let (client, reply) = rec.flow_keys().ok_or(RebindError::Unsupported)?;
    let key = rec.service_key().ok_or(RebindError::Unsupported)?;
    let idx = snap.find(&key).ok_or(RebindError::NoService(key))? as usize;
    let svc = snap.services.get(idx).ok_or(RebindError::NoService(key))?;
    let real_addr = v4(rec.real).ok_or(RebindError::Unsupported)?;
    // Else a port-0 real server (IPVS's "the client's port"), which serves any port.
    let real = (svc.reals.iter().find(|r| r.addr == real_addr))
        .or_else(|| svc.reals.iter().find(|r| *r.addr.ip() == *real_addr.ip() && r.addr.port() == 0))
        .ok_or(RebindError::NoReal(rec.real))?;
    let method = method_of(rec);
    if real.method != method {
        return Err(RebindError::Method(rec.real));
    }
    let local = v4(rec.local).ok_or(RebindError::Unsupported)?;
    // A NAT, DR or TUN session's replies go to the client: no local address.
    let direct = method != ForwardMethod::FullNat;
    if !direct && !svc.local_addrs.contains(local.ip()) {
        return Err(RebindError::NoLocal(rec.local));
    }
    let mut flags = match method {
        ForwardMethod::Nat => FLAG_NAT,
        ForwardMethod::DirectRoute => FLAG_DR,
        ForwardMethod::Tunnel => FLAG_TUN,
        ForwardMethod::FullNat => 0,
    };
    if rec.flags & CONN_F_TOA != 0 {
        flags |= FLAG_TOA;
    }
    if rec.flags & CONN_F_TOA_PENDING != 0 {
        flags |= FLAG_TOA_PENDING;
    }
    let persist_client = match rec.persist {
        Some(IpAddr::V4(a)) => Some(a),
        _ => None,
    };
    let session = Session {
        client,
        reply,
        state: rec.state,
        service_slot: svc.slot as u16,
        real_slot: real.slot,
        expires: rec.expires(now),
        persist_client: persist_client.into(),
        flags,
    };
    let needs_ext = rec.translation.is_some() || rec.proxy.is_some() || rec.flags & CONN_F_SYNPROXY != 0;
    Ok(Rebound { session, service: idx, needs_ext })
}

/// The IPv6 session for `rec` (FULLNAT v6 → v6, NAT64 with an IPv4 server side, or NAT
/// to an IPv6 real server, whose server flow is RIP:rport → CIP:cport) in
/// `snap`'s IPv6 services, expiring `rec.timeout_ms` after `now`. Its PROXY protocol
/// state comes along: the version, the client's ISN and, once sent, the header's length
/// (the record's translation shifts the client's stream by exactly that, nothing else).
pub fn rebind6(rec: &ConnRecord, snap: &Snapshot, now: Time) -> Result<Session6, RebindError> {
    let (client, server) = rec.flow_keys6().ok_or(RebindError::Unsupported)?;
    if rec.flags & CONN_F_SYNPROXY != 0 {
        return Err(RebindError::Unsupported);
    }
    let method_rec = method_of(rec);
    let snap6 = &snap.v6;
    let idx = snap6.find(&(rec.proto, client.dst, client.dport)).ok_or(RebindError::NoService6(rec.virt))?;
    let svc = snap6.services.get(idx as usize).ok_or(RebindError::NoService6(rec.virt))?;
    // NAT64 real servers are kept as mapped addresses, as the session's server flow.
    let real = (svc.reals.iter().find(|r| *r.addr.ip() == server.src && r.addr.port() == server.sport))
        .or_else(|| svc.reals.iter().find(|r| *r.addr.ip() == server.src && r.addr.port() == 0))
        .ok_or(RebindError::NoReal(rec.real))?;
    // A NAT64 real server is FULLNAT whatever its method says.
    let method = if real.ipv4().is_some() { ForwardMethod::FullNat } else { real.method };
    if method != method_rec {
        return Err(RebindError::Method(rec.real));
    }
    // A NAT, DR or TUN session's replies go to the client: no local address.
    let local_ok = method != ForwardMethod::FullNat
        || match rec.local.ip() {
            IpAddr::V4(l) => svc.local_addrs4.contains(&l),
            IpAddr::V6(l) => svc.local_addrs.contains(&l),
        };
    if !local_ok {
        return Err(RebindError::NoLocal(rec.local));
    }
    let (proxy, proxy_len) = match rec.proxy {
        None if rec.translation.is_some() => return Err(RebindError::Unsupported),
        None => (0, 0),
        Some(p) => {
            let len = match (p.sent, rec.translation) {
                (false, None) => 0,
                (true, Some(t)) if t == Translation::default().with_client_insert(t.client_seq.0) => {
                    u8::try_from(t.client_seq.0).map_err(|_| RebindError::Unsupported)?
                }
                _ => return Err(RebindError::Unsupported),
            };
            (if p.version == crate::proxyproto::Version::V1 { 1 } else { 2 }, len)
        }
    };
    let mut flags = match method {
        ForwardMethod::Nat => FLAG6_NAT,
        ForwardMethod::DirectRoute => FLAG6_DR,
        ForwardMethod::Tunnel => FLAG6_TUN,
        ForwardMethod::FullNat => 0,
    };
    if rec.flags & CONN_F_TOA != 0 {
        flags |= FLAG6_TOA;
    }
    if rec.flags & CONN_F_TOA_PENDING != 0 {
        flags |= FLAG6_TOA_PENDING;
    }
    Ok(Session6 {
        client,
        server,
        state: rec.state,
        expires: rec.expires(now),
        real_slot: real.slot,
        svc_slot: svc.slot,
        flags,
        proxy,
        client_isn: rec.proxy.map_or(0, |p| p.client_isn),
        proxy_len,
        // Persistence templates are not synced: the session holds none here.
        persist: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::{SchedFlags, Thresholds};
    use crate::service::{Real, Service};
    use crate::session::{SessionState, PROTO_TCP};
    use crate::sync::ProxyState;
    use std::time::Duration;

    fn snapshot() -> Snapshot {
        let real = |last: u8, slot: u32| Real {
            addr: SocketAddrV4::new([172, 16, 0, last].into(), 8080),
            weight: 1,
            slot,
            thresholds: Thresholds::default(),
            method: Default::default(),
            gue_port: 0,
        };
        Snapshot::new(
            1,
            vec![Service {
                proto: PROTO_TCP,
                vip: [192, 0, 2, 1].into(),
                vport: 80,
                scheduler: "rr".into(),
                reals: vec![real(1, 10), real(2, 11)],
                local_addrs: vec![[198, 51, 100, 7].into()],
                slot: 5,
                id: 1,
                sched_flags: SchedFlags::default(),
                persistence: None,
                syn_proxy: true,
                toa: true,
                proxy_protocol: None,
                proxy_on_connect: false,
                maglev: None,
                limits: None,
                alloc_addrs: Vec::new(),
            }],
        )
    }

    fn rec() -> ConnRecord {
        ConnRecord {
            proto: PROTO_TCP,
            state: SessionState::Established,
            client: SocketAddr::from(([10, 0, 0, 9], 5555)),
            virt: SocketAddr::from(([192, 0, 2, 1], 80)),
            local: SocketAddr::from(([198, 51, 100, 7], 41003)),
            real: SocketAddr::from(([172, 16, 0, 2], 8080)),
            timeout_ms: 60_000,
            flags: CONN_F_TOA | CONN_F_TOA_PENDING,
            translation: None,
            proxy: None,
            persist: Some(IpAddr::V4([10, 0, 0, 0].into())),
        }
    }

    #[test]
    fn a_record_becomes_a_session_with_local_slots() {
        let r = rebind(&rec(), &snapshot(), Time::from_secs(100)).unwrap();
        let (client, reply) = rec().flow_keys().unwrap();
        assert_eq!(
            r.session,
            Session {
                client,
                reply,
                state: SessionState::Established,
                service_slot: 5,
                real_slot: 11,
                expires: Time::from_secs(160),
                persist_client: Some(std::net::Ipv4Addr::new(10, 0, 0, 0)).into(),
                flags: FLAG_TOA | FLAG_TOA_PENDING,
            }
        );
        assert_eq!((r.service, r.needs_ext), (0, false));
        // The round trip with from_session gives the record back.
        let back = ConnRecord::from_session(&r.session, Duration::from_secs(60));
        assert_eq!(back, rec());
        let mut x = rec();
        x.proxy = Some(ProxyState { version: crate::proxyproto::Version::V1, sent: true, client_isn: 1 });
        assert!(rebind(&x, &snapshot(), Time::ZERO).unwrap().needs_ext);
        x.proxy = None;
        x.flags |= CONN_F_SYNPROXY;
        assert!(rebind(&x, &snapshot(), Time::ZERO).unwrap().needs_ext);
    }

    #[test]
    fn what_this_director_does_not_have_is_refused() {
        let snap = snapshot();
        let mut r = rec();
        r.virt = SocketAddr::from(([192, 0, 2, 1], 443));
        assert_eq!(
            rebind(&r, &snap, Time::ZERO),
            Err(RebindError::NoService((PROTO_TCP, [192, 0, 2, 1].into(), 443)))
        );
        let mut r = rec();
        r.real = SocketAddr::from(([172, 16, 0, 3], 8080));
        assert_eq!(
            rebind(&r, &snap, Time::ZERO),
            Err(RebindError::NoReal(SocketAddr::from(([172, 16, 0, 3], 8080))))
        );
        let mut r = rec();
        r.local = SocketAddr::from(([198, 51, 100, 8], 41003));
        assert_eq!(
            rebind(&r, &snap, Time::ZERO),
            Err(RebindError::NoLocal(SocketAddr::from(([198, 51, 100, 8], 41003))))
        );
        let mut r = rec();
        r.client = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 1));
        r.virt = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 80));
        assert_eq!(rebind(&r, &snap, Time::ZERO), Err(RebindError::Unsupported));
    }

    /// A session of a port-0 service (LVS's catch-all) on port 443 finds that service and
    /// its port-0 real server, which serves the port the client asked for.
    #[test]
    fn a_catch_all_services_session_finds_its_service_and_server() {
        let mut svc = snapshot().services[0].clone();
        svc.vport = 0;
        for r in &mut svc.reals {
            r.addr.set_port(0);
        }
        let snap = Snapshot::new(1, vec![svc]);
        let mut r = rec();
        r.virt.set_port(443);
        r.real.set_port(443);
        let s = rebind(&r, &snap, Time::from_secs(100)).unwrap();
        assert_eq!((s.service, s.session.real_slot, s.session.reply.sport), (0, 11, 443));
        r.real = SocketAddr::from(([172, 16, 0, 3], 443));
        assert_eq!(rebind(&r, &snap, Time::ZERO), Err(RebindError::NoReal(r.real)));
    }

    /// An IPv6 session with its PROXY header sent goes through the wire and comes back
    /// equal; what an IPv6 session cannot hold is refused.
    #[test]
    fn an_ipv6_session_round_trips_with_its_proxy_state() {
        use crate::service::{Real6, Service6, Snapshot6};
        use crate::session::v6::FlowKey6;
        use crate::synproxy::SeqDelta;
        use std::net::{Ipv6Addr, SocketAddrV6};
        let a = |s: &str| s.parse::<Ipv6Addr>().unwrap();
        let svc = Service6 {
            proto: PROTO_TCP,
            vip: a("2001:db8::100"),
            vport: 443,
            scheduler: "rr".into(),
            sched_flags: SchedFlags::default(),
            reals: vec![Real6 {
                addr: SocketAddrV6::new(a("2001:db8:2::11"), 8443, 0, 0),
                weight: 1,
                slot: 3,
                method: Default::default(),
            }],
            local_addrs: vec![a("2001:db8:2::200")],
            local_addrs4: vec![],
            toa: false,
            proxy_protocol: Some(crate::proxyproto::Version::V2),
            slot: 9,
            id: 1,
            persistence: None,
        };
        let snap = snapshot().with_v6(Snapshot6::new(vec![svc]));
        let s = Session6 {
            client: FlowKey6 {
                src: a("2001:db8:1::10"),
                dst: a("2001:db8::100"),
                sport: 5555,
                dport: 443,
                proto: 6,
            },
            server: FlowKey6 {
                src: a("2001:db8:2::11"),
                dst: a("2001:db8:2::200"),
                sport: 8443,
                dport: 41003,
                proto: 6,
            },
            state: SessionState::Established,
            expires: Time::from_secs(130),
            real_slot: 3,
            svc_slot: 9,
            flags: FLAG6_TOA,
            proxy: 2,
            client_isn: 77,
            proxy_len: 52,
            persist: None,
        };
        let r = ConnRecord::from_session6(&s, Duration::from_secs(30));
        assert_eq!(r.translation.map(|t| t.client_seq), Some(SeqDelta(52)));
        let mut buf = [0u8; crate::sync::conn::CONN_MAX_LEN];
        let n = r.emit(&mut buf).unwrap();
        let (back, m) = ConnRecord::parse(&buf[..n]).unwrap();
        assert_eq!((back, m), (r, n));
        assert_eq!(rebind6(&back, &snap, Time::from_secs(100)), Ok(s));
        // Not yet sent: no translation, and none comes back.
        let pending = Session6 { proxy_len: 0, ..s };
        let r = ConnRecord::from_session6(&pending, Duration::from_secs(30));
        assert_eq!(r.translation, None);
        assert_eq!(rebind6(&r, &snap, Time::from_secs(100)), Ok(pending));
        // A SYN-proxy translation or a header longer than a session holds: refused.
        let mut x = ConnRecord::from_session6(&s, Duration::from_secs(30));
        x.translation = x.translation.map(|t| Translation { server_seq: SeqDelta(1), ..t });
        assert_eq!(rebind6(&x, &snap, Time::ZERO), Err(RebindError::Unsupported));
        x.translation = Some(Translation::default().with_client_insert(300));
        assert_eq!(rebind6(&x, &snap, Time::ZERO), Err(RebindError::Unsupported));
        // An IPv4 client side is not the IPv6 table's.
        assert_eq!(rebind6(&rec(), &snap, Time::ZERO), Err(RebindError::Unsupported));
    }

    /// Director A syncs its sessions as packets arrive; director B (two workers) receives,
    /// rebinds and installs each in the worker owning its local port; expiry then runs on B.
    #[test]
    fn sessions_move_from_one_director_to_the_owning_workers_of_another() {
        use crate::session::SessionTable;
        use crate::sync::{
            should_sync, Body, ClusterKey, Packer, Receiver, ReceiverConfig, Sender, SenderConfig, SyncInput,
            SyncMark, SyncParams,
        };
        let key = ClusterKey::from_config("a long test cluster passphrase").unwrap();
        let snap = snapshot();
        let t0 = Time::from_secs(1000);
        // A's sessions: 200 clients, each sends 5 packets; IPVS defaults sync packet 3.
        let mut packer = Packer::new(Sender::new(SenderConfig::new(51, 1, 1), &key).unwrap());
        let mut wire: Vec<Vec<u8>> = Vec::new();
        let params = SyncParams::default();
        for c in 0..200u16 {
            let mut r = rec();
            r.client = SocketAddr::from(([10, 0, 1, (c % 250) as u8], 20000 + c));
            r.local = SocketAddr::from(([198, 51, 100, 7], 30000 + c));
            let mut mark = SyncMark::new(t0);
            for pkts in 1..=5 {
                let input = SyncInput {
                    proto: PROTO_TCP,
                    state: SessionState::Established,
                    template: false,
                    in_persistence: false,
                    pkts,
                    timeout: Duration::from_secs(60),
                    now: t0,
                };
                if should_sync(&params, &input, &mut mark) {
                    packer.push(&r, |d| wire.push(d.to_vec())).unwrap();
                }
            }
        }
        packer.flush(|d| wire.push(d.to_vec())).unwrap();
        assert_eq!(packer.sent().1, 200, "one record per session");

        let mut rx = Receiver::new(ReceiverConfig::new(51, 2), &key);
        let mut workers = [SessionTable::new(1000, t0), SessionTable::new(1000, t0)];
        let t1 = t0 + Duration::from_secs(5);
        for d in &wire {
            let m = rx.receive(d, t1).unwrap();
            let Body::Conns(recs) = m.body else { panic!("conns expected") };
            for r in recs {
                let w = r.owner_worker(workers.len());
                let b = rebind(&r, &snap, t1).unwrap();
                let table = &mut workers[w];
                if table.find_client(&b.session.client).is_none() {
                    table.insert(b.session).unwrap();
                }
            }
        }
        assert_eq!(workers[0].len() + workers[1].len(), 200);
        for (w, table) in workers.iter().enumerate() {
            assert_eq!(table.len(), 100);
            for s in table.iter() {
                assert_eq!(s.reply.dport as usize % 2, w, "installed on the worker owning its port");
                assert_eq!(table.find_reply(&s.reply), table.find_client(&s.client));
                assert_eq!((s.service_slot, s.real_slot), (5, 11));
            }
        }
        // Expiry continues on B: 60 s after the records arrived.
        let mut expired = Vec::new();
        for table in &mut workers {
            table.expire(t1 + Duration::from_secs(59), 0, &mut expired);
        }
        assert!(expired.is_empty());
        for table in &mut workers {
            table.expire(t1 + Duration::from_secs(61), 0, &mut expired);
        }
        assert_eq!(expired.len(), 200);
    }
}
