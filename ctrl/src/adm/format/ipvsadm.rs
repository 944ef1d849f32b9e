//! The listings of rvsadm invoked as `ipvsadm`, as ipvsadm 1.31 prints them (its
//! `print_title`, `print_service_entry`, `list_conn` and FMT_RULE), so that tools parsing
//! ipvsadm's output keep working:
//!
//! * without `-n`, addresses and ports are names where the system has them (the reverse
//!   lookup of `gethostbyaddr`, the `/etc/services` name of `getservbyport`), else numbers;
//! * an IPv4 service name is cut at 33 characters and a real server's at 28, as ipvsadm
//!   cuts them (only names can be that long);
//! * scheduler flags are IPVS's two flag bits named after the scheduler: `sh-fallback,sh-port`
//!   for sh, `mh-fallback,mh-port` for mh, `flag-1,flag-2` for any other;
//! * `-S` is FMT_RULE: `-A -t VIP:port -s sched -p T -M mask -b flags`, then
//!   `-a -t VIP:port -r RIP:port -g|-m|-i -w W`, tunnels with `--tun-type ipip`, or
//!   `--tun-type gue --tun-port N`.
//!
//! What ipvsadm has no concept for (FULLNAT and its options, thresholds in `-S`, local
//! addresses) appears only when set, in rvsadm's words, so a plain DR/NAT/TUN table prints
//! byte for byte as ipvsadm's.

use super::{largenum, prefix_mask, title_columns, title_plain, Rates, ServiceRates, VERSION_LINE};
use rvs_proto::{ConnInfo, ForwardMethod, Protocol, ServiceInfo, ServiceKey, ServiceOptions};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

/// Where names come from without `-n`.
pub trait Resolve {
    /// The host name of an address (None: print the number).
    fn host(&self, ip: IpAddr) -> Option<String>;
    /// The service name of a port for a protocol (None: print the number).
    fn service(&self, port: u16, proto: Protocol) -> Option<String>;
}

/// How addresses are printed: numbers (`-n`), or names through a resolver.
#[derive(Clone, Copy)]
pub struct Names<'a>(Option<&'a dyn Resolve>);

impl<'a> Names<'a> {
    pub const NUMERIC: Names<'static> = Names(None);

    pub fn resolving(r: &'a dyn Resolve) -> Self {
        Names(Some(r))
    }

    /// ipvsadm's addrport_to_anyname: `host:service`, `[v6host]:service` or numbers.
    pub fn addr_port(&self, a: &SocketAddr, proto: Protocol) -> String {
        let Some(r) = self.0 else {
            return super::addr_port(a);
        };
        let host = r.host(a.ip()).unwrap_or_else(|| a.ip().to_string());
        let port = r.service(a.port(), proto).unwrap_or_else(|| a.port().to_string());
        match a {
            SocketAddr::V4(_) => format!("{host}:{port}"),
            SocketAddr::V6(_) => format!("[{host}]:{port}"),
        }
    }

    /// `TCP  VIP:port` (`%-4s %s`), cut at 33 characters for IPv4.
    fn service(&self, key: &ServiceKey) -> String {
        let s = format!("{:<4} {}", key.protocol.as_str(), self.addr_port(&key.addr, key.protocol));
        cut(s, key.addr.is_ipv4(), 33)
    }

    /// A real server's name in a listing, cut at 28 characters for IPv4.
    fn real(&self, a: &SocketAddr, proto: Protocol) -> String {
        cut(self.addr_port(a, proto), a.is_ipv4(), 28)
    }
}

fn cut(mut s: String, v4: bool, at: usize) -> String {
    if v4 && s.len() > at {
        let mut end = at;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// The system's names: `getnameinfo` with NI_NAMEREQD (what `gethostbyaddr` answers:
/// /etc/hosts, then DNS as nsswitch.conf says) and `getservbyport` (/etc/services).
pub struct SystemNames;

impl Resolve for SystemNames {
    fn host(&self, ip: IpAddr) -> Option<String> {
        let sa = socket2::SockAddr::from(SocketAddr::new(ip, 0));
        let mut host = [0 as libc::c_char; 1025];
        // SAFETY: `sa` is a valid sockaddr of the length passed; `host` is writable for its
        // length; no service buffer is requested.
        let rc = unsafe {
            libc::getnameinfo(
                sa.as_ptr(),
                sa.len(),
                host.as_mut_ptr(),
                host.len() as libc::socklen_t,
                std::ptr::null_mut(),
                0,
                libc::NI_NAMEREQD,
            )
        };
        if rc != 0 {
            return None;
        }
        // SAFETY: getnameinfo wrote a NUL-terminated string into `host`.
        let name = unsafe { std::ffi::CStr::from_ptr(host.as_ptr()) };
        Some(name.to_string_lossy().into_owned())
    }

    fn service(&self, port: u16, proto: Protocol) -> Option<String> {
        let p: &[u8] = match proto {
            Protocol::Tcp => b"tcp\0",
            Protocol::Udp => b"udp\0",
        };
        let _db = crate::adm::SERVICES_DB.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: `p` is NUL-terminated; getservbyport returns NULL or a pointer to static
        // storage, read at once while `_db` keeps other callers out.
        unsafe {
            let s = libc::getservbyport(libc::c_int::from(port.to_be()), p.as_ptr().cast());
            if s.is_null() || (*s).s_name.is_null() {
                return None;
            }
            Some(std::ffi::CStr::from_ptr((*s).s_name).to_string_lossy().into_owned())
        }
    }
}

/// ipvsadm's print_sched_flags: IPVS keeps two flag bits (fallback, port), named after the
/// scheduler. None when neither is set.
pub fn sched_flags(scheduler: &str, flags: &[String]) -> Option<String> {
    let has = |names: [&str; 3]| flags.iter().any(|f| names.contains(&f.trim()));
    let (fallback, port) =
        (has(["sh-fallback", "mh-fallback", "flag-1"]), has(["sh-port", "mh-port", "flag-2"]));
    let names = match scheduler {
        "sh" => ["sh-fallback", "sh-port"],
        "mh" => ["mh-fallback", "mh-port"],
        _ => ["flag-1", "flag-2"],
    };
    let set: Vec<&str> =
        [(fallback, names[0]), (port, names[1])].iter().filter(|f| f.0).map(|f| f.1).collect();
    (!set.is_empty()).then(|| set.join(","))
}

/// ipvsadm's persistence granularity: a dotted mask unless /32 for IPv4 (`inet_ntoa`), a
/// prefix length unless /128 for IPv6 (`%i`). None for a host granularity.
fn granularity(prefix_len: u8, v6: bool) -> Option<String> {
    match v6 {
        false => (prefix_len != 32).then(|| prefix_mask(prefix_len).to_string()),
        true => (prefix_len != 128).then(|| prefix_len.to_string()),
    }
}

/// The service line's flags in the plain listing: ` (sh-port) persistent 50 mask M`, then
/// rvsd's own options when set.
fn list_flags(sched: &str, o: &ServiceOptions, v6: bool) -> String {
    let mut f = String::new();
    if let Some(s) = sched_flags(sched, &o.sched_flags) {
        let _ = write!(f, " ({s})");
    }
    if let Some(p) = o.persistence {
        let _ = write!(f, " persistent {}", p.timeout);
        if let Some(m) = granularity(p.prefix_len, v6) {
            let _ = write!(f, " mask {m}");
        }
    }
    if o.syn_proxy {
        f.push_str(" synproxy");
    }
    if o.toa {
        f.push_str(" toa");
    }
    if let Some(v) = o.proxy_protocol {
        let _ = write!(f, " proxy-protocol v{v}");
    }
    if o.proxy_on_connect {
        f.push_str(" on-connect");
    }
    f
}

/// ipvsadm's fwd_name, with `FullNat` for rvsd's own method.
fn fwd_name(m: ForwardMethod) -> &'static str {
    m.as_ipvsadm()
}

/// Which ipvsadm listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Plain,
    Thresholds,
    Stats { exact: bool },
}

/// `-L [-n]`, `-L --thresholds`, `-L --stats [--exact]` (`header`: list_all's version line;
/// `-L -t VIP:port` prints without it).
pub fn list(services: &[ServiceInfo], view: View, header: bool, names: Names<'_>) -> String {
    let mut out = String::new();
    if header {
        out.push_str(VERSION_LINE);
        out.push('\n');
    }
    match view {
        View::Plain => title_plain(&mut out),
        View::Thresholds => {
            let _ = writeln!(
                out,
                "{:<33} {:<10} {:<10} {:<10} {:<10}",
                "Prot LocalAddress:Port", "Uthreshold", "Lthreshold", "ActiveConn", "InActConn"
            );
            out.push_str("  -> RemoteAddress:Port\n");
        }
        View::Stats { .. } => title_columns(&mut out, ["Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"]),
    }
    for svc in services {
        let proto = svc.spec.key.protocol;
        let name = names.service(&svc.spec.key);
        match view {
            View::Stats { exact } => {
                let _ = write!(out, "{name:<33}");
                let s = &svc.stats;
                for v in [s.conns, s.in_pkts, s.out_pkts, s.in_bytes, s.out_bytes] {
                    out.push_str(&largenum(v, exact));
                }
                out.push('\n');
            }
            _ => {
                let _ = writeln!(
                    out,
                    "{name} {}{}",
                    svc.spec.scheduler,
                    list_flags(&svc.spec.scheduler, &svc.spec.options, svc.spec.key.addr.is_ipv6())
                );
            }
        }
        for r in &svc.reals {
            let dname = names.real(&r.spec.addr, proto);
            match view {
                View::Plain => {
                    let _ = writeln!(
                        out,
                        "  -> {dname:<28} {:<7} {:<6} {:<10} {:<10}",
                        fwd_name(r.spec.method),
                        r.spec.weight,
                        r.active_conns,
                        r.inactive_conns
                    );
                }
                View::Thresholds => {
                    let t = r.spec.thresholds;
                    let _ = writeln!(
                        out,
                        "  -> {dname:<28} {:<10} {:<10} {:<10} {:<10}",
                        t.upper, t.lower, r.active_conns, r.inactive_conns
                    );
                }
                View::Stats { exact } => {
                    let _ = write!(out, "  -> {dname:<28}");
                    let s = &r.stats;
                    for v in [s.conns, s.in_pkts, s.out_pkts, s.in_bytes, s.out_bytes] {
                        out.push_str(&largenum(v, exact));
                    }
                    out.push('\n');
                }
            }
        }
    }
    out
}

/// `-L --rate [--exact]`: the service row in largenums, a real server's CPS, InPPS and
/// OutPPS as `%8llu` and its byte rates in largenums, as ipvsadm.
pub fn rates(list: &[ServiceRates], header: bool, exact: bool, names: Names<'_>) -> String {
    let mut out = String::new();
    if header {
        out.push_str(VERSION_LINE);
        out.push('\n');
    }
    title_columns(&mut out, ["CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"]);
    for svc in list {
        let proto = svc.key.protocol;
        let r: &Rates = &svc.rates;
        let _ = write!(out, "{:<33}", names.service(&svc.key));
        for v in [r.cps, r.in_pps, r.out_pps, r.in_bps, r.out_bps] {
            out.push_str(&largenum(v, exact));
        }
        out.push('\n');
        for (addr, r) in &svc.reals {
            let _ = write!(
                out,
                "  -> {:<28} {:>8} {:>8} {:>8}",
                names.real(addr, proto),
                r.cps,
                r.in_pps,
                r.out_pps
            );
            out.push_str(&largenum(r.in_bps, exact));
            out.push_str(&largenum(r.out_bps, exact));
            out.push('\n');
        }
    }
    out
}

/// `-L -c [-n]`: ipvsadm's list_conn (`%-3s %-6s %-11s %-18s %-18s %s`), without the
/// FULLNAT local address.
pub fn conns(list: &[ConnInfo], names: Names<'_>) -> String {
    let mut out = String::from("IPVS connection entries\n");
    let _ = writeln!(out, "pro expire {:<11} {:<18} {:<18} destination", "state", "source", "virtual");
    for c in list {
        let p = c.protocol;
        let expire = format!("{:02}:{:02}", c.expires_in / 60, c.expires_in % 60);
        let _ = writeln!(
            out,
            "{:<3} {:<6} {:<11} {:<18} {:<18} {}",
            p.as_str(),
            expire,
            c.state,
            names.addr_port(&c.client, p),
            names.addr_port(&c.virtual_addr, p),
            names.addr_port(&c.real, p)
        );
    }
    out
}

/// `-S [-n]`: FMT_RULE, which `-R` reads back.
pub fn save(list: &[ServiceInfo], names: Names<'_>) -> String {
    let mut out = String::new();
    for svc in list {
        let key = &svc.spec.key;
        let name =
            format!("{} {}", super::service_switch(key.protocol), names.addr_port(&key.addr, key.protocol));
        let o = &svc.spec.options;
        let _ = write!(out, "-A {name} -s {}", svc.spec.scheduler);
        if let Some(p) = o.persistence {
            let _ = write!(out, " -p {}", p.timeout);
            if let Some(m) = granularity(p.prefix_len, key.addr.is_ipv6()) {
                let _ = write!(out, " -M {m}");
            }
        }
        if let Some(s) = sched_flags(&svc.spec.scheduler, &o.sched_flags) {
            let _ = write!(out, " -b {s}");
        }
        if o.syn_proxy {
            out.push_str(" --synproxy");
        }
        if o.toa {
            out.push_str(" --toa");
        }
        if let Some(v) = o.proxy_protocol {
            let _ = write!(out, " --proxy-protocol v{v}");
        }
        if o.proxy_on_connect {
            out.push_str(" --proxy-protocol-send on-connect");
        }
        out.push('\n');
        for r in &svc.reals {
            let fwd = match r.spec.method {
                ForwardMethod::FullNat => "--fullnat",
                ForwardMethod::Nat => "-m",
                ForwardMethod::DirectRoute => "-g",
                ForwardMethod::Tunnel => "-i",
            };
            let dname = names.addr_port(&r.spec.addr, key.protocol);
            let _ = write!(out, "-a {name} -r {dname} {fwd} -w {}", r.spec.weight);
            if r.spec.method == ForwardMethod::Tunnel {
                match r.spec.tunnel {
                    None => out.push_str(" --tun-type ipip"),
                    Some(t) => {
                        // ipvsadm adds the checksum option: rvsd's GUE sends none.
                        let _ = write!(out, " --tun-type gue --tun-port {} --tun-nocsum", t.port);
                    }
                }
            }
            let t = r.spec.thresholds;
            if t.upper != 0 {
                let _ = write!(out, " -x {}", t.upper);
            }
            if t.lower != 0 {
                let _ = write!(out, " -y {}", t.lower);
            }
            out.push('\n');
        }
        for lip in &svc.spec.local_addrs {
            let _ = writeln!(out, "-P {name} -z {lip}");
        }
    }
    out
}

#[cfg(test)]
#[path = "ipvsadm_tests.rs"]
mod tests;
