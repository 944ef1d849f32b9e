//! Frames the kernel dropped at an `net_af_packet` port's rings.
//!
//! A NIC's driver counts the frames it had no room for in `imissed`. The af_packet driver
//! of DPDK 22.11 leaves it at 0: when the workers fall behind, the kernel drops the frames
//! at the socket's mmap ring and counts them only in the socket's `PACKET_STATISTICS`,
//! which nothing reads. The sockets are the driver's, but they are descriptors of this
//! process, so rvsd finds the ones bound to the port's interface and reads them itself.
//!
//! `PACKET_STATISTICS` resets the socket's counters on every read, so each drop is seen by
//! exactly one reader: the totals kept here add to the driver's own `imissed` (a driver
//! that reads them too keeps the rest), never counting a drop twice.

use std::ffi::CString;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};

/// The af_packet sockets of one interface, and the drops read from them so far.
#[derive(Debug)]
pub struct KernelDrops {
    fds: Vec<RawFd>,
    total: AtomicU64,
}

impl KernelDrops {
    /// The `AF_PACKET` sockets of this process bound to `iface`; None when there is none.
    pub fn find(iface: &str) -> io::Result<Option<KernelDrops>> {
        let name = CString::new(iface).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: a valid C string.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::last_os_error());
        }
        let mut fds = Vec::new();
        for entry in std::fs::read_dir("/proc/self/fd")? {
            let Some(fd) = entry?.file_name().to_str().and_then(|n| n.parse::<RawFd>().ok()) else {
                continue;
            };
            if packet_socket_ifindex(fd) == Some(ifindex as i32) {
                fds.push(fd);
            }
        }
        fds.sort_unstable();
        Ok((!fds.is_empty()).then(|| KernelDrops { fds, total: AtomicU64::new(0) }))
    }

    /// Frames dropped at these sockets' rings since `find` (read from the control thread
    /// only; the atomic keeps the type shareable).
    pub fn read(&self) -> u64 {
        let fresh: u64 = self.fds.iter().filter_map(|&fd| packet_statistics(fd)).map(u64::from).sum();
        self.total.fetch_add(fresh, Ordering::Relaxed) + fresh
    }

    /// How many sockets (one per queue pair) are read.
    pub fn sockets(&self) -> usize {
        self.fds.len()
    }
}

/// The interface an `AF_PACKET` socket is bound to; None for any other descriptor.
fn packet_socket_ifindex(fd: RawFd) -> Option<i32> {
    let mut domain: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: out-pointers to a c_int and its size; a descriptor that is not a socket fails.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_DOMAIN,
            (&mut domain as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc != 0 || domain != libc::AF_PACKET {
        return None;
    }
    // SAFETY: sockaddr_ll is plain data; zero is a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: out-pointers to a sockaddr_ll and its size.
    let rc = unsafe { libc::getsockname(fd, (&mut addr as *mut libc::sockaddr_ll).cast(), &mut len) };
    (rc == 0).then_some(addr.sll_ifindex)
}

/// The ring drops of one socket since the last read (the read resets them).
fn packet_statistics(fd: RawFd) -> Option<u32> {
    // tpacket_stats_v3 is the largest form; a TPACKET_V2 socket fills its first two words.
    let mut st = libc::tpacket_stats_v3 { tp_packets: 0, tp_drops: 0, tp_freeze_q_cnt: 0 };
    let mut len = std::mem::size_of::<libc::tpacket_stats_v3>() as libc::socklen_t;
    // SAFETY: out-pointers to the struct and its size.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            (&mut st as *mut libc::tpacket_stats_v3).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(st.tp_drops)
}

/// The `iface=` argument of an af_packet device's arguments (`iface=lb-c,framecnt=4096`).
pub fn iface_of(devargs: &str) -> Option<&str> {
    devargs.split(',').find_map(|kv| kv.trim().strip_prefix("iface=")).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iface_is_read_from_the_device_arguments() {
        assert_eq!(iface_of("iface=lb-c,framecnt=4096"), Some("lb-c"));
        assert_eq!(iface_of("qpairs=2, iface=eth1"), Some("eth1"));
        assert_eq!(iface_of("framecnt=4096"), None);
        assert_eq!(iface_of("iface="), None);
    }

    /// A real AF_PACKET socket on `lo` whose ring is never read: frames beyond its room are
    /// dropped by the kernel and found by `read`, once (the read resets the socket's count).
    #[test]
    fn drops_at_a_full_ring_are_read_once() {
        // SAFETY: plain socket calls on a descriptor this test owns.
        let fd =
            unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, (libc::ETH_P_ALL as u16).to_be() as i32) };
        if fd < 0 {
            eprintln!("skipped: no AF_PACKET socket here ({})", io::Error::last_os_error());
            return;
        }
        let lo = CString::new("lo").unwrap();
        // SAFETY: as above.
        let ifindex = unsafe { libc::if_nametoindex(lo.as_ptr()) } as i32;
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        addr.sll_ifindex = ifindex;
        let small: libc::c_int = 4096;
        // SAFETY: as above; a small receive buffer fills after a few frames.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&small as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
            assert_eq!(
                libc::bind(
                    fd,
                    (&addr as *const libc::sockaddr_ll).cast(),
                    std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t
                ),
                0
            );
        }
        let drops = KernelDrops::find("lo").unwrap().expect("the test's socket on lo");
        assert!(drops.fds.contains(&fd));
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = udp.local_addr().unwrap();
        for _ in 0..200 {
            let _ = udp.send_to(&[0u8; 1000], to);
        }
        let first = drops.read();
        assert!(first > 0, "no drops counted after 200 frames into a 4 KB buffer");
        assert_eq!(drops.read(), first, "a second read counted the same drops again");
        // SAFETY: the test's own descriptor.
        unsafe { libc::close(fd) };
    }
}
