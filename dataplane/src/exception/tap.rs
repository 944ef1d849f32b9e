//! A kernel tap interface through `/dev/net/tun` (`TUNSETIFF`, `IFF_TAP | IFF_NO_PI`), and
//! the link settings rvsd gives every kernel interface it makes (MAC, MTU, up).
//!
//! The tap is not persistent: it exists while rvsd holds the descriptor and disappears
//! with the process, addresses and routes the kernel had on it included. Without
//! `IFF_VNET_HDR` or `TUNSETOFFLOAD` the kernel hands over finished frames (segmented,
//! checksummed) and expects the same from us.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TAP: libc::c_short = 0x0002;
const IFF_NO_PI: libc::c_short = 0x1000;
const ARPHRD_ETHER: u16 = 1;
const IFNAMSIZ: usize = 16;

/// `struct ifreq`: the name and a 24-byte union (flags, MTU or a hardware address).
#[repr(C)]
struct IfReq {
    name: [u8; IFNAMSIZ],
    data: [u8; 24],
}

impl IfReq {
    fn new(name: &str) -> io::Result<IfReq> {
        if name.is_empty() || name.len() >= IFNAMSIZ || name.as_bytes().contains(&0) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("bad interface name `{name}`")));
        }
        let mut r = IfReq { name: [0; IFNAMSIZ], data: [0; 24] };
        r.name[..name.len()].copy_from_slice(name.as_bytes());
        Ok(r)
    }
    fn set_short(&mut self, v: libc::c_short) {
        self.data[..2].copy_from_slice(&v.to_ne_bytes());
    }
    fn short(&self) -> libc::c_short {
        libc::c_short::from_ne_bytes([self.data[0], self.data[1]])
    }
}

/// An open tap device.
#[derive(Debug)]
pub struct Tap {
    fd: OwnedFd,
    name: String,
}

impl Tap {
    /// Creates (or attaches to) tap `name`, nonblocking, and gives it `mac` and `mtu` and
    /// brings it up.
    pub fn open(name: &str, mac: [u8; 6], mtu: u32) -> io::Result<Tap> {
        let path = CString::new("/dev/net/tun").expect("no NUL");
        // SAFETY: a valid C string; the result is checked.
        let raw = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC) };
        if raw < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(e.kind(), format!("open /dev/net/tun: {e}")));
        }
        // SAFETY: `raw` is a descriptor we just opened and own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut req = IfReq::new(name)?;
        req.set_short(IFF_TAP | IFF_NO_PI);
        // SAFETY: TUNSETIFF reads and writes one `struct ifreq`, which `req` is.
        if unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF as _, &mut req as *mut IfReq) } < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(e.kind(), format!("TUNSETIFF {name}: {e}")));
        }
        let got = req.name.iter().position(|&b| b == 0).unwrap_or(IFNAMSIZ);
        let name = String::from_utf8_lossy(&req.name[..got]).into_owned();
        configure_link(&name, mac, mtu)?;
        Ok(Tap { fd, name })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Reads one frame the kernel sent; `Ok(None)` when there is none now.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        // SAFETY: reading into a buffer we own, of its length.
        let n = unsafe { libc::read(self.fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(Some(n as usize));
        }
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted {
            Ok(None)
        } else {
            Err(e)
        }
    }

    /// Hands one frame to the kernel.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: writing from a slice we borrow, of its length.
        let n = unsafe { libc::write(self.fd(), frame.as_ptr().cast(), frame.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n as usize != frame.len() {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "short write to the tap"));
        }
        Ok(())
    }
}

/// Sets interface `name`'s hardware address and MTU and brings it up (`SIOCSIFHWADDR`,
/// `SIOCSIFMTU`, `SIOCSIFFLAGS`), in the caller's network namespace.
pub fn configure_link(name: &str, mac: [u8; 6], mtu: u32) -> io::Result<()> {
    // SAFETY: plain socket(2); the result is checked and owned below.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor we just opened.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    let ioctl = |what: &str, op: libc::c_ulong, req: &mut IfReq| -> io::Result<()> {
        // SAFETY: each of these ioctls takes one `struct ifreq`.
        if unsafe { libc::ioctl(sock.as_raw_fd(), op as _, req as *mut IfReq) } < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(e.kind(), format!("{what} {name}: {e}")));
        }
        Ok(())
    };
    let mut req = IfReq::new(name)?;
    req.data[..2].copy_from_slice(&ARPHRD_ETHER.to_ne_bytes());
    req.data[2..8].copy_from_slice(&mac);
    ioctl("SIOCSIFHWADDR", libc::SIOCSIFHWADDR as _, &mut req)?;
    let mut req = IfReq::new(name)?;
    req.data[..4].copy_from_slice(&(mtu as i32).to_ne_bytes());
    ioctl("SIOCSIFMTU", libc::SIOCSIFMTU as _, &mut req)?;
    let mut req = IfReq::new(name)?;
    ioctl("SIOCGIFFLAGS", libc::SIOCGIFFLAGS as _, &mut req)?;
    let flags = req.short() | libc::IFF_UP as libc::c_short;
    req.set_short(flags);
    ioctl("SIOCSIFFLAGS", libc::SIOCSIFFLAGS as _, &mut req)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(IfReq::new("").is_err());
        assert!(IfReq::new("sixteen-chars-xx").is_err());
        assert!(IfReq::new("a\0b").is_err());
        let r = IfReq::new("x10-kc").unwrap();
        assert_eq!(&r.name[..7], b"x10-kc\0");
    }
}
