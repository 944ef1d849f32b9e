//! vlan-switch: the lab's 802.1Q tagging switch (test tooling, not part of RVS).
//!
//! The lab's kernel has no 8021q module, no bridge `vlan_filtering`, no tc classifiers, so
//! no kernel interface can tag or untag. This switch does it in user space over AF_PACKET:
//! one trunk interface carries tagged frames; each access interface is untagged and belongs
//! to one VLAN. A frame from an access port leaves by the trunk tagged with its VLAN; a
//! frame from the trunk leaves untagged by every access port of its VLAN (a hub per VLAN:
//! no MAC learning). Frames the switch cannot place (unknown VLAN, untagged on the trunk,
//! tagged on an access port, QinQ) are dropped and counted.
//!
//! Usage: vlan-switch --trunk IFACE --access IFACE=VID [--access IFACE=VID ...]
//! SIGTERM/SIGINT stop it; it then prints its counters as one JSON line on stdout.

mod frame;

use frame::Decision;
use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const ETH_P_ALL: u16 = 0x0003;
const PACKET_AUXDATA: libc::c_int = 8;
const PACKET_OUTGOING: u8 = 4;
const TP_STATUS_VLAN_VALID: u32 = 0x10;

/// `struct tpacket_auxdata`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct AuxData {
    status: u32,
    len: u32,
    snaplen: u32,
    mac: u16,
    net: u16,
    vlan_tci: u16,
    vlan_tpid: u16,
}

struct Port {
    name: String,
    fd: OwnedFd,
    /// None: the trunk.
    vid: Option<u16>,
}

/// One received frame's facts.
struct Rx {
    len: usize,
    outgoing: bool,
    meta_tci: Option<u16>,
}

fn open(name: &str) -> io::Result<OwnedFd> {
    let cname = std::ffi::CString::new(name).map_err(|_| io::Error::other("bad interface name"))?;
    // SAFETY: a valid C string.
    let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
    if ifindex == 0 {
        return Err(io::Error::other(format!("no interface {name}")));
    }
    let proto = ETH_P_ALL.to_be();
    // SAFETY: plain socket(2), checked.
    let raw =
        unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_NONBLOCK, i32::from(proto)) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor we just opened.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: a zeroed sockaddr_ll is valid; the fields set are the ones bind reads.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = proto;
    sll.sll_ifindex = ifindex as i32;
    // SAFETY: binding to a sockaddr_ll of its size.
    if unsafe {
        libc::bind(
            fd.as_raw_fd(),
            &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    } < 0
    {
        return Err(io::Error::last_os_error());
    }
    let one: libc::c_int = 1;
    // SAFETY: an int option of its size.
    if unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            PACKET_AUXDATA,
            &one as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as u32,
        )
    } < 0
    {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// Receives one frame into `buf`; None when there is none.
fn recv(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<Option<Rx>> {
    let mut cmsg = [0u64; 16];
    // SAFETY: zeroed plain C structs.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut addr as *mut libc::sockaddr_ll).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as u32;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cmsg);
    // SAFETY: every pointer in `msg` points at a live buffer of the length given.
    let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::WouldBlock { Ok(None) } else { Err(e) };
    }
    let mut meta_tci = None;
    // SAFETY: walking the control messages the kernel wrote into `cmsg`, with libc's macros.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_PACKET && (*c).cmsg_type == PACKET_AUXDATA {
                let aux: AuxData = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const AuxData);
                if aux.status & TP_STATUS_VLAN_VALID != 0 {
                    meta_tci = Some(aux.vlan_tci);
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok(Some(Rx { len: (n as usize).min(buf.len()), outgoing: addr.sll_pkttype == PACKET_OUTGOING, meta_tci }))
}

fn send(port: &Port, frame: &[u8], counters: &mut BTreeMap<String, u64>) {
    // SAFETY: sending from a borrowed slice of its length on a bound packet socket.
    let n = unsafe { libc::send(port.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
    let key = if n == frame.len() as isize { format!("tx_{}", port.name) } else { "tx_errors".into() };
    *counters.entry(key).or_default() += 1;
}

fn parse_args(argv: &[String]) -> Result<(String, Vec<(String, u16)>), String> {
    let mut trunk = None;
    let mut access = Vec::new();
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--trunk" => trunk = Some(it.next().ok_or("--trunk needs an interface")?.clone()),
            "--access" => {
                let v = it.next().ok_or("--access needs IFACE=VID")?;
                let (name, vid) = v.split_once('=').ok_or(format!("--access {v}: expected IFACE=VID"))?;
                let vid: u16 = vid.parse().map_err(|_| format!("--access {v}: bad VLAN id"))?;
                if !(1..=4094).contains(&vid) {
                    return Err(format!("--access {v}: VLAN id must be 1..4094"));
                }
                access.push((name.to_string(), vid));
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let trunk = trunk.ok_or("--trunk is required")?;
    if access.is_empty() {
        return Err("at least one --access IFACE=VID".into());
    }
    Ok((trunk, access))
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let (trunk, access) = match parse_args(&argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("vlan-switch: {e}\nusage: vlan-switch --trunk IFACE --access IFACE=VID [--access IFACE=VID ...]");
            std::process::exit(2);
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).expect("signal handler");
    }
    let mut ports = Vec::new();
    for (name, vid) in std::iter::once((trunk, None)).chain(access.into_iter().map(|(n, v)| (n, Some(v)))) {
        match open(&name) {
            Ok(fd) => ports.push(Port { name, fd, vid }),
            Err(e) => {
                eprintln!("vlan-switch: {name}: {e}");
                std::process::exit(1);
            }
        }
    }
    eprintln!("vlan-switch: trunk {}, access {}", ports[0].name, {
        let v: Vec<String> =
            ports[1..].iter().map(|p| format!("{}={}", p.name, p.vid.unwrap_or(0))).collect();
        v.join(" ")
    });
    let mut counters: BTreeMap<String, u64> = BTreeMap::new();
    let mut buf = vec![0u8; 65536];
    let mut scratch = Vec::with_capacity(65540);
    let mut untagged = Vec::with_capacity(65540);
    let mut pfds: Vec<libc::pollfd> = ports
        .iter()
        .map(|p| libc::pollfd { fd: p.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 })
        .collect();
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: a valid pollfd array of its length.
        let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, 200) };
        if r <= 0 {
            continue;
        }
        for i in 0..ports.len() {
            if pfds[i].revents == 0 {
                continue;
            }
            for _ in 0..256 {
                let rx = match recv(&ports[i].fd, &mut buf) {
                    Ok(Some(rx)) => rx,
                    Ok(None) => break,
                    Err(e) => {
                        eprintln!("vlan-switch: {}: {e}", ports[i].name);
                        break;
                    }
                };
                if rx.outgoing {
                    continue; // our own transmissions, seen by the packet socket
                }
                let data = &buf[..rx.len];
                let from_trunk = ports[i].vid.is_none();
                let d = frame::decide(data, rx.meta_tci, from_trunk, ports[i].vid.unwrap_or(0));
                *counters.entry(format!("rx_{}", ports[i].name)).or_default() += 1;
                match d {
                    Decision::ToTrunk(vid) => {
                        frame::tag(data, vid, &mut scratch);
                        send(&ports[0], &scratch, &mut counters);
                    }
                    Decision::ToAccess(vid) => {
                        let f = frame::untag(data, &mut untagged);
                        let mut any = false;
                        for p in ports.iter().filter(|p| p.vid == Some(vid)) {
                            send(p, f, &mut counters);
                            any = true;
                        }
                        if !any {
                            *counters.entry("drop_unknown_vlan".into()).or_default() += 1;
                            *counters.entry(format!("drop_unknown_vlan_{vid}")).or_default() += 1;
                        }
                    }
                    Decision::UntaggedOnTrunk => {
                        *counters.entry("drop_untagged_on_trunk".into()).or_default() += 1
                    }
                    Decision::TaggedOnAccess => {
                        *counters.entry("drop_tagged_on_access".into()).or_default() += 1
                    }
                    Decision::Qinq => *counters.entry("drop_qinq".into()).or_default() += 1,
                    Decision::Runt => *counters.entry("drop_runt".into()).or_default() += 1,
                }
            }
        }
    }
    let fields: Vec<String> = counters.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
    println!("{{{}}}", fields.join(", "));
}

#[cfg(test)]
mod tests {
    use super::parse_args;

    fn a(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn arguments() {
        let (t, acc) = parse_args(&a(&["--trunk", "t0", "--access", "a=10", "--access", "b=20"])).unwrap();
        assert_eq!(t, "t0");
        assert_eq!(acc, vec![("a".to_string(), 10), ("b".to_string(), 20)]);
        assert!(parse_args(&a(&["--access", "a=10"])).is_err());
        assert!(parse_args(&a(&["--trunk", "t0"])).is_err());
        assert!(parse_args(&a(&["--trunk", "t0", "--access", "a=0"])).is_err());
        assert!(parse_args(&a(&["--trunk", "t0", "--access", "a=4095"])).is_err());
        assert!(parse_args(&a(&["--trunk", "t0", "--access", "a"])).is_err());
    }
}
