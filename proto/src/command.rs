//! Requests: the commands a client sends rvsd, each in a `Request` that carries the
//! protocol version.

use crate::{RealSpec, ServiceKey, ServiceSpec, Timeouts, PROTO_VERSION};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    /// Liveness and version check.
    Ping,
    AddService {
        spec: ServiceSpec,
    },
    EditService {
        spec: ServiceSpec,
    },
    DelService {
        key: ServiceKey,
    },
    AddReal {
        service: ServiceKey,
        real: RealSpec,
    },
    EditReal {
        service: ServiceKey,
        real: RealSpec,
    },
    DelReal {
        service: ServiceKey,
        addr: SocketAddr,
    },
    AddLocalAddr {
        service: ServiceKey,
        addr: IpAddr,
    },
    DelLocalAddr {
        service: ServiceKey,
        addr: IpAddr,
    },
    /// `ipvsadm -C`: remove every virtual service.
    Clear,
    ListServices,
    /// `ipvsadm -Lnc`.
    ListConns,
    SetTimeouts {
        timeouts: Timeouts,
    },
    GetTimeouts,
    /// Per-worker counters.
    Stats,
    /// `ipvsadm -Z`: zero the traffic counters of one service (and its real servers) or of
    /// all. Counters are never written by the control side: rvsd reports them relative to
    /// a baseline taken now. Connection gauges (active/inactive) are not affected.
    Zero {
        #[serde(default)]
        service: Option<ServiceKey>,
    },
    /// `rvsadm --takeover [ADDR,...]`: own these VIPs/LIPs (none: every one, including
    /// those of services added later): answer ARP and ping for them, accept new
    /// connections, and send gratuitous ARPs for them. Answered with `Ownership`.
    Takeover {
        #[serde(default)]
        addrs: Vec<IpAddr>,
    },
    /// `rvsadm --release [ADDR,...]`: stop answering ARP and ping for these VIPs/LIPs (none:
    /// all) and stop accepting new connections to them; existing sessions are still
    /// forwarded. Answered with `Ownership`.
    Release {
        #[serde(default)]
        addrs: Vec<IpAddr>,
    },
    /// `rvsadm --owned`: which VIPs/LIPs this director owns.
    Owned,
    /// `rvsadm --sync`: the session sync thread's state, peers and counters.
    SyncStatus,
    /// `rvsadm --cluster`: this ECMP cluster member and the members it hears.
    ClusterStatus,
    /// `rvsadm --cluster --leave`: leave the cluster gracefully (routes withdrawn, drain,
    /// then rvsd stops). Answered with `Cluster`.
    ClusterLeave,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub version: u32,
    #[serde(flatten)]
    pub command: Command,
}

impl Request {
    pub fn new(command: Command) -> Self {
        Request { version: PROTO_VERSION, command }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{read_msg, write_msg, ForwardMethod, Protocol};

    #[test]
    fn request_round_trips_as_one_json_line() {
        let req = Request::new(Command::AddReal {
            service: ServiceKey { protocol: Protocol::Tcp, addr: "198.18.0.100:80".parse().unwrap() },
            real: RealSpec {
                thresholds: Default::default(),
                addr: "198.19.0.11:80".parse().unwrap(),
                weight: 3,
                method: ForwardMethod::FullNat,
                tunnel: None,
            },
        });
        let mut buf = Vec::new();
        write_msg(&mut buf, &req).unwrap();
        assert_eq!(buf.iter().filter(|&&b| b == b'\n').count(), 1);
        let back: Request = read_msg(&mut &buf[..]).unwrap();
        assert_eq!(back, req);
    }

    #[test]
    fn zero_round_trips_with_and_without_service() {
        let key = ServiceKey { protocol: Protocol::Udp, addr: "198.18.0.100:53".parse().unwrap() };
        for cmd in [Command::Zero { service: None }, Command::Zero { service: Some(key) }] {
            let mut buf = Vec::new();
            write_msg(&mut buf, &Request::new(cmd.clone())).unwrap();
            let back: Request = read_msg(&mut &buf[..]).unwrap();
            assert_eq!(back.command, cmd);
        }
        let bare: Request = serde_json::from_str(r#"{"version":1,"op":"zero"}"#).unwrap();
        assert_eq!(bare.command, Command::Zero { service: None });
    }

    #[test]
    fn ownership_commands_round_trip_and_addrs_default_to_none() {
        for cmd in [
            Command::Takeover { addrs: vec!["198.18.0.100".parse().unwrap()] },
            Command::Release { addrs: vec![] },
            Command::Owned,
            Command::SyncStatus,
        ] {
            let mut buf = Vec::new();
            write_msg(&mut buf, &Request::new(cmd.clone())).unwrap();
            let back: Request = read_msg(&mut &buf[..]).unwrap();
            assert_eq!(back.command, cmd);
        }
        let bare: Request = serde_json::from_str(r#"{"version":1,"op":"takeover"}"#).unwrap();
        assert_eq!(bare.command, Command::Takeover { addrs: vec![] });
    }
}
