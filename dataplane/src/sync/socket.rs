//! The sync socket: a kernel UDP socket (socket2) on the sync interface or address,
//! joined to the multicast group, or talking to a unicast peer list.

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use crate::config::SyncConfig;

fn if_index(name: &str) -> Result<u32, String> {
    let c = std::ffi::CString::new(name).map_err(|_| format!("bad interface name {name:?}"))?;
    // SAFETY: a NUL-terminated string that outlives the call.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        return Err(format!("interface {name}: {}", std::io::Error::last_os_error()));
    }
    Ok(i)
}

/// Opens the socket; returns it, where messages go, and what it is bound to (for
/// `rvsadm --sync`).
pub(super) fn open(sc: &SyncConfig) -> Result<(Socket, Vec<SocketAddr>, String), String> {
    let e = |what: &str, err: std::io::Error| format!("sync socket: {what}: {err}");
    let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(|x| e("socket", x))?;
    sock.set_reuse_address(true).map_err(|x| e("SO_REUSEADDR", x))?;
    let index = match &sc.interface {
        Some(name) => {
            let i = if_index(name)?;
            sock.bind_device(Some(name.as_bytes())).map_err(|x| e(&format!("bind to device {name}"), x))?;
            Some(i)
        }
        None => None,
    };
    let multicast = sc.peers.is_empty();
    let bind_ip = if multicast { Ipv4Addr::UNSPECIFIED } else { sc.source.unwrap_or(Ipv4Addr::UNSPECIFIED) };
    let bind = SocketAddrV4::new(bind_ip, sc.port);
    sock.bind(&bind.into()).map_err(|x| e(&format!("bind {bind}"), x))?;
    let destinations: Vec<SocketAddr> = if multicast {
        let itf = match (index, sc.source) {
            (Some(i), _) => InterfaceIndexOrAddress::Index(i),
            (None, Some(a)) => InterfaceIndexOrAddress::Address(a),
            (None, None) => unreachable!("validated: interface or source"),
        };
        sock.join_multicast_v4_n(sc.group.ip(), &itf)
            .map_err(|x| e(&format!("join {}", sc.group.ip()), x))?;
        if let Some(src) = sc.source {
            sock.set_multicast_if_v4(&src).map_err(|x| e("IP_MULTICAST_IF", x))?;
        }
        // Our own messages would only be refused (loopback) on the way back.
        sock.set_multicast_loop_v4(false).map_err(|x| e("IP_MULTICAST_LOOP", x))?;
        sock.set_multicast_ttl_v4(1).map_err(|x| e("IP_MULTICAST_TTL", x))?;
        vec![SocketAddr::V4(sc.group)]
    } else {
        sc.peers.iter().map(|p| SocketAddr::V4(*p)).collect()
    };
    sock.set_nonblocking(true).map_err(|x| e("O_NONBLOCK", x))?;
    let on = match (&sc.interface, sc.source) {
        (Some(i), Some(a)) => format!("{i} ({a})"),
        (Some(i), None) => i.clone(),
        (None, Some(a)) => a.to_string(),
        (None, None) => String::new(),
    };
    Ok((sock, destinations, on))
}
