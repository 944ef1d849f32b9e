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
    /// `rvsadm --neigh`: every worker's neighbour table. Answered with `Neighbours`.
    ListNeighbours,
    /// `rvsadm --neigh add|del`: a static neighbour pinned or an entry removed, on every
    /// worker (not kept across a restart: `[[neighbour]]` in rvsd.toml is). Answered with
    /// `Neighbours`, the entries for the address afterwards.
    Neighbour {
        change: crate::NeighChange,
    },
    /// Several table changes in one request (`Add*`, `Edit*`, `Del*`, `Clear`,
    /// `SetTimeouts`), applied in order, each on its own as if sent alone (a refused one
    /// changes nothing and the next is still applied), and reaching the workers as one
    /// configuration. Answered with `Batch`, one result per command. What rvs-ctrl sends
    /// when many servers change at once: a burst of failed checks costs one round trip
    /// and one new configuration instead of one per server.
    Batch {
        commands: Vec<Command>,
        /// None is applied after the first one refused; each of them is answered
        /// [`NOT_APPLIED`]. What `rvsadm -R` sends, which stops at its first refused line.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        stop_at_error: bool,
    },
}

/// The answer to each command of a `Batch { stop_at_error: true, .. }` after the refused one.
pub const NOT_APPLIED: &str = "not applied: an earlier command of the batch was refused";

impl Command {
    /// The command's name as the protocol spells it (its `op`), for messages.
    pub fn op(&self) -> &'static str {
        match self {
            Command::Ping => "ping",
            Command::AddService { .. } => "add_service",
            Command::EditService { .. } => "edit_service",
            Command::DelService { .. } => "del_service",
            Command::AddReal { .. } => "add_real",
            Command::EditReal { .. } => "edit_real",
            Command::DelReal { .. } => "del_real",
            Command::AddLocalAddr { .. } => "add_local_addr",
            Command::DelLocalAddr { .. } => "del_local_addr",
            Command::Clear => "clear",
            Command::ListServices => "list_services",
            Command::ListConns => "list_conns",
            Command::SetTimeouts { .. } => "set_timeouts",
            Command::GetTimeouts => "get_timeouts",
            Command::Stats => "stats",
            Command::Zero { .. } => "zero",
            Command::Takeover { .. } => "takeover",
            Command::Release { .. } => "release",
            Command::Owned => "owned",
            Command::SyncStatus => "sync_status",
            Command::ClusterStatus => "cluster_status",
            Command::ClusterLeave => "cluster_leave",
            Command::ListNeighbours => "list_neighbours",
            Command::Neighbour { .. } => "neighbour",
            Command::Batch { .. } => "batch",
        }
    }

    /// Whether the command changes rvsd's tables and nothing else, so that it may be part
    /// of a `Batch`.
    pub fn is_table_change(&self) -> bool {
        matches!(
            self,
            Command::AddService { .. }
                | Command::EditService { .. }
                | Command::DelService { .. }
                | Command::AddReal { .. }
                | Command::EditReal { .. }
                | Command::DelReal { .. }
                | Command::AddLocalAddr { .. }
                | Command::DelLocalAddr { .. }
                | Command::Clear
                | Command::SetTimeouts { .. }
        )
    }
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

    /// One command of every kind.
    fn one_of_each() -> Vec<Command> {
        let key = ServiceKey { protocol: Protocol::Tcp, addr: "198.18.0.100:80".parse().unwrap() };
        let spec = crate::ServiceSpec {
            key,
            scheduler: "rr".into(),
            local_addrs: vec![],
            options: Default::default(),
        };
        let real = RealSpec {
            thresholds: Default::default(),
            addr: "198.19.0.11:80".parse().unwrap(),
            weight: 1,
            method: ForwardMethod::FullNat,
            tunnel: None,
        };
        let (addr, lip) = (real.addr, "198.19.0.1".parse().unwrap());
        vec![
            Command::Ping,
            Command::AddService { spec: spec.clone() },
            Command::EditService { spec },
            Command::DelService { key },
            Command::AddReal { service: key, real: real.clone() },
            Command::EditReal { service: key, real },
            Command::DelReal { service: key, addr },
            Command::AddLocalAddr { service: key, addr: lip },
            Command::DelLocalAddr { service: key, addr: lip },
            Command::Clear,
            Command::ListServices,
            Command::ListConns,
            Command::SetTimeouts { timeouts: crate::Timeouts { tcp: 900, tcp_fin: 0, udp: 0 } },
            Command::GetTimeouts,
            Command::Stats,
            Command::Zero { service: None },
            Command::Takeover { addrs: vec![] },
            Command::Release { addrs: vec![] },
            Command::Owned,
            Command::SyncStatus,
            Command::ClusterStatus,
            Command::ClusterLeave,
            Command::Batch { commands: vec![Command::Clear], stop_at_error: false },
        ]
    }

    #[test]
    fn op_is_the_name_on_the_wire() {
        for cmd in one_of_each() {
            let v = serde_json::to_value(&cmd).unwrap();
            assert_eq!(v["op"].as_str(), Some(cmd.op()), "{cmd:?}");
        }
    }

    #[test]
    fn a_batch_round_trips_with_its_commands_in_order() {
        let commands: Vec<Command> = one_of_each().into_iter().filter(Command::is_table_change).collect();
        assert_eq!(commands.len(), 10);
        let batch = Command::Batch { commands, stop_at_error: false };
        let mut buf = Vec::new();
        write_msg(&mut buf, &Request::new(batch.clone())).unwrap();
        assert_eq!(buf.iter().filter(|&&b| b == b'\n').count(), 1);
        let back: Request = read_msg(&mut &buf[..]).unwrap();
        assert_eq!(back.command, batch);
        let reply = crate::Response::ok(crate::Reply::Batch {
            results: vec![
                crate::ResponseResult::Ok(crate::Reply::Ok),
                crate::ResponseResult::Error("No such service".into()),
            ],
        });
        let mut buf = Vec::new();
        write_msg(&mut buf, &reply).unwrap();
        assert_eq!(read_msg::<_, crate::Response>(&mut &buf[..]).unwrap(), reply);
    }
}
