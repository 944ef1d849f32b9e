//! Responses: what rvsd answers (`Reply`: listings of services with their real servers
//! and of connections, timeouts, counters, ownership, sync, cluster) or the error, in a
//! `Response` that carries the protocol version.

use crate::{
    ClusterInfo, OwnershipInfo, PortStats, Protocol, RealSpec, ServiceSpec, SyncInfo, Timeouts, TrafficStats,
    WorkerStats, PROTO_VERSION,
};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealInfo {
    pub spec: RealSpec,
    /// Sessions in ESTABLISHED (TCP) or any live UDP session, over all workers.
    pub active_conns: u64,
    pub inactive_conns: u64,
    pub stats: TrafficStats,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    pub spec: ServiceSpec,
    pub reals: Vec<RealInfo>,
    pub stats: TrafficStats,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnInfo {
    pub protocol: Protocol,
    /// Seconds until expiry.
    pub expires_in: u32,
    /// IPVS state name: "ESTABLISHED", "SYN_RECV", "FIN_WAIT", ..., "UDP".
    pub state: String,
    pub client: SocketAddr,
    pub virtual_addr: SocketAddr,
    pub local: SocketAddr,
    pub real: SocketAddr,
    pub worker: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reply {
    Ok,
    Pong {
        daemon: String,
        version: u32,
    },
    Services {
        services: Vec<ServiceInfo>,
    },
    Conns {
        conns: Vec<ConnInfo>,
    },
    Timeouts {
        timeouts: Timeouts,
    },
    Stats {
        workers: Vec<WorkerStats>,
        /// Each port's NIC counters; empty from an rvsd that does not report them.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ports: Vec<PortStats>,
    },
    Ownership {
        ownership: OwnershipInfo,
    },
    Sync {
        sync: Box<SyncInfo>,
    },
    Cluster {
        cluster: ClusterInfo,
    },
    /// The neighbour tables (`ListNeighbours`, `Neighbour`) of `workers` workers.
    Neighbours {
        workers: u16,
        neighbours: Vec<crate::NeighInfo>,
    },
    /// A `Batch`'s results, one per command in its order.
    Batch {
        results: Vec<ResponseResult>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub version: u32,
    #[serde(flatten)]
    pub result: ResponseResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseResult {
    Ok(Reply),
    Error(String),
}

impl Response {
    pub fn ok(reply: Reply) -> Self {
        Response { version: PROTO_VERSION, result: ResponseResult::Ok(reply) }
    }
    pub fn error(msg: impl Into<String>) -> Self {
        Response { version: PROTO_VERSION, result: ResponseResult::Error(msg.into()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{read_msg, write_msg};

    #[test]
    fn error_response_round_trips() {
        let resp = Response::error("no such service");
        let mut buf = Vec::new();
        write_msg(&mut buf, &resp).unwrap();
        let back: Response = read_msg(&mut &buf[..]).unwrap();
        assert_eq!(back, resp);
    }

    #[test]
    fn stats_from_an_rvsd_without_port_counters_parse() {
        let old = r#"{"version":1,"ok":{"kind":"stats","workers":[]}}"#;
        let back: Response = read_msg(&mut old.as_bytes()).unwrap();
        assert_eq!(back, Response::ok(Reply::Stats { workers: vec![], ports: vec![] }));
        let ports = vec![PortStats { port: "client".into(), rx_missed: 7, ..Default::default() }];
        let resp = Response::ok(Reply::Stats { workers: vec![], ports });
        let mut buf = Vec::new();
        write_msg(&mut buf, &resp).unwrap();
        assert!(String::from_utf8_lossy(&buf).contains(r#""rx_missed":7"#));
        assert_eq!(read_msg::<_, Response>(&mut &buf[..]).unwrap(), resp);
    }
}
