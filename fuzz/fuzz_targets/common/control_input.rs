// The control fuzz target's input: what a request, a packet or a pause can be, and the
// bounded values they are built from (`arbitrary`). Included by `control.rs`
// (`include!`, so that its items stay private to the target).

/// Small limits, so that "too many" is reached and slots are reused.
const MAX_SERVICES: usize = 6;
const MAX_REALS: usize = 12;
const CAPACITY: usize = 64;

const MAC_C: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const MAC_S: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
const CLIENT_MAC: MacAddr = MacAddr([2, 0, 0, 0, 1, 10]);
const RS_MAC: MacAddr = MacAddr([2, 0, 0, 0, 2, 11]);

const fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}
const fn v6(a: u16, b: u16, c: u16, d: u16, e: u16, f: u16, g: u16, h: u16) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h))
}

/// Addresses requests name most of the time, so that they meet: VIPs on the client side
/// (198.18.0.0/24, 2001:db8:1::/64), real servers and LIPs on the server side
/// (198.19.0.0/24, 2001:db8:2::/64), the ports' own addresses, a client's, and the odd ones.
const POOL: [IpAddr; 28] = [
    v4(198, 18, 0, 100),
    v4(198, 18, 0, 101),
    v4(198, 19, 0, 11),
    v4(198, 19, 0, 12),
    v4(198, 19, 0, 13),
    v4(198, 19, 0, 200),
    v4(198, 19, 0, 201),
    v4(198, 18, 0, 1),
    v4(198, 19, 0, 1),
    v4(198, 18, 0, 10),
    v4(0, 0, 0, 0),
    v4(255, 255, 255, 255),
    v4(224, 0, 0, 1),
    v4(127, 0, 0, 1),
    v4(10, 9, 9, 9),
    v6(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x100),
    v6(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x101),
    v6(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x11),
    v6(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x12),
    v6(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x200),
    v6(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1),
    v6(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x10),
    v6(0, 0, 0, 0, 0, 0, 0, 0),
    v6(0, 0, 0, 0, 0, 0, 0, 1),
    v6(0xff02, 0, 0, 0, 0, 0, 0, 1),
    v6(0xfe80, 0, 0, 0, 0, 0, 0, 1),
    // IPv4-mapped (a NAT64 real server's key) and the NAT64 well-known prefix.
    v6(0, 0, 0, 0, 0, 0xffff, 0xc613, 0x000b),
    v6(0x64, 0xff9b, 0, 0, 0, 0, 0xc613, 0x000b),
];

const PORTS: [u16; 8] = [80, 53, 443, 0, 65535, 1, 8080, 5353];

/// Values that sit on the edges of the checks (weights, thresholds, timeouts, rates).
const NUMS: [u32; 17] = [
    0,
    1,
    2,
    3,
    5,
    10,
    60,
    300,
    900,
    65535,
    65536,
    100_000_000,
    100_000_001,
    1 << 24,
    1 << 31,
    u32::MAX - 1,
    u32::MAX,
];

#[derive(Debug, Clone, Copy)]
struct Ip(IpAddr);

impl<'a> Arbitrary<'a> for Ip {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let b = u8::arbitrary(u)?;
        Ok(Ip(match b {
            0..=223 => POOL[b as usize % POOL.len()],
            224..=239 => IpAddr::V4(u32::arbitrary(u)?.into()),
            _ => IpAddr::V6(u128::arbitrary(u)?.into()),
        }))
    }
}

#[derive(Debug, Clone, Copy)]
struct Port(u16);

impl<'a> Arbitrary<'a> for Port {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let b = u8::arbitrary(u)?;
        Ok(Port(if b < 224 { PORTS[b as usize % PORTS.len()] } else { u16::arbitrary(u)? }))
    }
}

#[derive(Debug, Clone, Copy)]
struct Num(u32);

impl<'a> Arbitrary<'a> for Num {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let b = u8::arbitrary(u)?;
        Ok(Num(if b < 192 { NUMS[b as usize % NUMS.len()] } else { u32::arbitrary(u)? }))
    }
}

/// A short string of anything (scheduler names and flags that are not ours).
fn odd_string(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    let s: &str = u.arbitrary()?;
    Ok(s.chars().take(24).collect())
}

#[derive(Debug, Clone)]
struct Sched(String);

impl<'a> Arbitrary<'a> for Sched {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        const ODD: [&str; 6] = ["", "RR", "wlcx", "rr ", "r\0r", "mh\n"];
        let b = u8::arbitrary(u)?;
        Ok(Sched(match b {
            0..=229 => SCHEDULERS[b as usize % SCHEDULERS.len()].to_string(),
            230..=249 => ODD[b as usize % ODD.len()].to_string(),
            _ => odd_string(u)?,
        }))
    }
}

#[derive(Debug, Clone)]
struct SchedFlag(String);

impl<'a> Arbitrary<'a> for SchedFlag {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        const ODD: [&str; 5] = ["", "sh-pot", "SH-PORT", "flag-3", "sh-port,mh-port"];
        let b = u8::arbitrary(u)?;
        Ok(SchedFlag(match b {
            0..=223 => SCHED_FLAGS[b as usize % SCHED_FLAGS.len()].to_string(),
            224..=249 => ODD[b as usize % ODD.len()].to_string(),
            _ => odd_string(u)?,
        }))
    }
}

/// A Maglev table size: none (the default, 65537), small primes, what is refused, any
/// 16-bit value (the check decides). No large prime: a 16 Mi-entry table per snapshot
/// would make every run slow without reaching anything new.
#[derive(Debug, Clone, Copy)]
struct MhSize(Option<u32>);

impl<'a> Arbitrary<'a> for MhSize {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        const SIZES: [u32; 14] =
            [0, 1, 2, 3, 4, 5, 7, 251, 1021, 4093, 65521, MH_TABLE_MAX, MH_TABLE_MAX + 1, u32::MAX];
        let b = u8::arbitrary(u)?;
        Ok(MhSize(match b {
            0..=127 => None,
            128..=223 => Some(SIZES[b as usize % SIZES.len()]),
            _ => Some(u16::arbitrary(u)? as u32),
        }))
    }
}

#[derive(Debug, Clone, Copy)]
struct PrefixLen(u8);

impl<'a> Arbitrary<'a> for PrefixLen {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        const LENS: [u8; 14] = [0, 1, 8, 16, 24, 31, 32, 33, 64, 96, 127, 128, 129, 255];
        let b = u8::arbitrary(u)?;
        Ok(PrefixLen(if b < 224 { LENS[b as usize % LENS.len()] } else { u8::arbitrary(u)? }))
    }
}

/// A PROXY protocol version: none, 1, 2 or another byte.
#[derive(Debug, Clone, Copy)]
struct ProxyVersion(Option<u8>);

impl<'a> Arbitrary<'a> for ProxyVersion {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(ProxyVersion(match u8::arbitrary(u)? % 8 {
            0..=3 => None,
            4 | 5 => Some(1),
            6 => Some(2),
            _ => Some(u8::arbitrary(u)?),
        }))
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
struct Key {
    udp: bool,
    ip: Ip,
    port: Port,
    /// An IPv6 address's scope id (as `[fe80::1%2]:80` carries it).
    scope: u8,
}

fn sockaddr(ip: Ip, port: Port, scope: u8) -> SocketAddr {
    let mut a = SocketAddr::new(ip.0, port.0);
    if let SocketAddr::V6(v6) = &mut a {
        if scope >= 248 {
            v6.set_scope_id(u32::from(scope & 3));
        }
    }
    a
}

impl Key {
    fn key(self) -> ServiceKey {
        let protocol = if self.udp { Protocol::Udp } else { Protocol::Tcp };
        ServiceKey { protocol, addr: sockaddr(self.ip, self.port, self.scope) }
    }
}

/// A prefix of an access list: host bits cleared, length within the family's.
#[derive(Arbitrary, Debug, Clone, Copy)]
struct Net {
    ip: Ip,
    len: u8,
}

impl Net {
    fn cidr(self) -> Cidr {
        let (addr, len) = match self.ip.0 {
            IpAddr::V4(a) => {
                let len = self.len % 33;
                let m = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
                (IpAddr::V4((u32::from(a) & m).into()), len)
            }
            IpAddr::V6(a) => {
                let len = self.len % 129;
                let m = if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len)) };
                (IpAddr::V6((u128::from(a) & m).into()), len)
            }
        };
        Cidr::new(addr, len).expect("a masked prefix")
    }
}

#[derive(Arbitrary, Debug, Clone)]
struct Svc {
    key: Key,
    sched: Sched,
    local_addrs: Vec<Ip>,
    /// None: the defaults (most options given at random are refused by one check or another).
    options: Option<Opts>,
}

#[derive(Arbitrary, Debug, Clone)]
struct Opts {
    flags: Vec<SchedFlag>,
    persistence: Option<(Num, PrefixLen)>,
    syn_proxy: bool,
    toa: bool,
    proxy: ProxyVersion,
    proxy_on_connect: bool,
    expire_quiescent_template: bool,
    mh: MhSize,
    allow: Vec<Net>,
    deny: Vec<Net>,
    source_conn_rate: Option<(Num, Num)>,
    conn_rate: Option<(Num, Num)>,
    max_conns: Num,
}

impl Opts {
    fn options(self) -> ServiceOptions {
        let rate = |r: Option<(Num, Num)>| r.map(|(rate, burst)| RateLimit { rate: rate.0, burst: burst.0 });
        ServiceOptions {
            sched_flags: self.flags.into_iter().take(3).map(|f| f.0).collect(),
            persistence: self.persistence.map(|(t, p)| Persistence { timeout: t.0, prefix_len: p.0 }),
            syn_proxy: self.syn_proxy,
            toa: self.toa,
            proxy_protocol: self.proxy.0,
            proxy_on_connect: self.proxy_on_connect,
            expire_quiescent_template: self.expire_quiescent_template,
            mh_table_size: self.mh.0,
            allow: self.allow.iter().take(4).map(|n| n.cidr()).collect(),
            deny: self.deny.iter().take(4).map(|n| n.cidr()).collect(),
            source_conn_rate: rate(self.source_conn_rate),
            conn_rate: rate(self.conn_rate),
            max_conns: self.max_conns.0,
        }
    }
}

impl Svc {
    fn spec(self) -> ServiceSpec {
        ServiceSpec {
            key: self.key.key(),
            scheduler: self.sched.0,
            local_addrs: self.local_addrs.iter().take(4).map(|a| a.0).collect(),
            options: self.options.map(Opts::options).unwrap_or_default(),
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
struct Rs {
    ip: Ip,
    port: Port,
    scope: u8,
    weight: Num,
    method: u8,
    upper: Num,
    lower: Num,
    /// A GUE port: given to half the TUN servers, and now and then to another method's.
    tunnel: u8,
    tunnel_port: Port,
}

impl Rs {
    fn spec(self) -> RealSpec {
        let method =
            [ForwardMethod::FullNat, ForwardMethod::Nat, ForwardMethod::DirectRoute, ForwardMethod::Tunnel]
                [self.method as usize % 4];
        let gue = self.tunnel >= 240 || (method == ForwardMethod::Tunnel && self.tunnel >= 128);
        RealSpec {
            addr: sockaddr(self.ip, self.port, self.scope),
            weight: self.weight.0,
            method,
            thresholds: Thresholds { upper: self.upper.0, lower: self.lower.0 },
            tunnel: gue.then_some(TunnelEncap { port: self.tunnel_port.0 }),
        }
    }
}

/// Every command of the protocol.
#[derive(Arbitrary, Debug, Clone)]
enum Cmd {
    Ping,
    AddService(Svc),
    EditService(Svc),
    DelService(Key),
    AddReal(Key, Rs),
    EditReal(Key, Rs),
    DelReal(Key, Ip, Port, u8),
    AddLocalAddr(Key, Ip),
    DelLocalAddr(Key, Ip),
    Clear,
    ListServices,
    ListConns,
    SetTimeouts(Num, Num, Num),
    GetTimeouts,
    Stats,
    Zero(Option<Key>),
    Takeover(Vec<Ip>),
    Release(Vec<Ip>),
    Owned,
    SyncStatus,
    ClusterStatus,
    ClusterLeave,
    ListNeighbours,
    /// A neighbour pinned (`true`) or removed, on an interface named or not (or one that
    /// does not exist), the MAC written well, with dashes or garbled.
    Neighbour(bool, Ip, [u8; 6], u8, u8),
    /// Table changes in one request (anything else in it is refused where it stands);
    /// stopping at the first refused one or not.
    Batch(Vec<Cmd>, bool),
}

impl Cmd {
    fn command(self) -> Command {
        let addrs = |v: Vec<Ip>| v.into_iter().take(6).map(|a| a.0).collect();
        match self {
            Cmd::Ping => Command::Ping,
            Cmd::AddService(s) => Command::AddService { spec: s.spec() },
            Cmd::EditService(s) => Command::EditService { spec: s.spec() },
            Cmd::DelService(k) => Command::DelService { key: k.key() },
            Cmd::AddReal(k, r) => Command::AddReal { service: k.key(), real: r.spec() },
            Cmd::EditReal(k, r) => Command::EditReal { service: k.key(), real: r.spec() },
            Cmd::DelReal(k, ip, port, scope) => {
                Command::DelReal { service: k.key(), addr: sockaddr(ip, port, scope) }
            }
            Cmd::AddLocalAddr(k, a) => Command::AddLocalAddr { service: k.key(), addr: a.0 },
            Cmd::DelLocalAddr(k, a) => Command::DelLocalAddr { service: k.key(), addr: a.0 },
            Cmd::Clear => Command::Clear,
            Cmd::ListServices => Command::ListServices,
            Cmd::ListConns => Command::ListConns,
            Cmd::SetTimeouts(tcp, tcp_fin, udp) => {
                Command::SetTimeouts { timeouts: Timeouts { tcp: tcp.0, tcp_fin: tcp_fin.0, udp: udp.0 } }
            }
            Cmd::GetTimeouts => Command::GetTimeouts,
            Cmd::Stats => Command::Stats,
            Cmd::Zero(k) => Command::Zero { service: k.map(Key::key) },
            Cmd::Takeover(a) => Command::Takeover { addrs: addrs(a) },
            Cmd::Release(a) => Command::Release { addrs: addrs(a) },
            Cmd::Owned => Command::Owned,
            Cmd::SyncStatus => Command::SyncStatus,
            Cmd::ClusterStatus => Command::ClusterStatus,
            Cmd::ClusterLeave => Command::ClusterLeave,
            Cmd::ListNeighbours => Command::ListNeighbours,
            Cmd::Neighbour(add, ip, mac, form, dev) => {
                let dev = ["client", "server", "server.10", ""].get(dev as usize % 5).map(|d| d.to_string());
                // One in eight deletions is a flush, of the kind the form names.
                let flush = !add && form % 8 == 7;
                let states = [rvs_proto::FlushStates::Learned, rvs_proto::FlushStates::Permanent, rvs_proto::FlushStates::All];
                let change = if flush {
                    rvs_proto::NeighChange::Flush { dev, nud: states[mac[0] as usize % 3] }
                } else if add {
                    let mut mac = rvs_core::wire::MacAddr(mac).to_string();
                    match form % 4 {
                        0 => {}
                        1 => mac.truncate(form as usize % 17),
                        2 => mac = mac.replace(':', "-"),
                        _ => mac.push_str(":00"),
                    }
                    rvs_proto::NeighChange::Add { addr: ip.0, mac, dev }
                } else {
                    rvs_proto::NeighChange::Del { addr: ip.0, dev }
                };
                Command::Neighbour { change }
            }
            Cmd::Batch(v, stop_at_error) => Command::Batch {
                // A batch in a batch (refused where it stands) is written empty: deeper
                // nesting only meets serde_json's recursion limit, a malformed request.
                commands: v
                    .into_iter()
                    .take(16)
                    .map(|c| match c {
                        Cmd::Batch(..) => Command::Batch { commands: vec![], stop_at_error: false },
                        c => c.command(),
                    })
                    .collect(),
                stop_at_error,
            },
        }
    }
}

/// The protocol version a request carries: rvsd's, mostly.
#[derive(Debug, Clone, Copy)]
struct Version(u32);

impl<'a> Arbitrary<'a> for Version {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Version(if u8::arbitrary(u)? < 248 { PROTO_VERSION } else { u32::arbitrary(u)? }))
    }
}

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// TCP flags of a segment: `Auto` is what a peer sends next (a SYN to start; SYN/ACK to a
/// SYN, ACK to a SYN/ACK, data or an ACK after).
#[derive(Debug, Clone, Copy)]
enum Flags {
    Auto,
    Is(u8),
}

impl<'a> Arbitrary<'a> for Flags {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        const COMMON: [u8; 7] = [SYN, ACK, PSH | ACK, FIN | ACK, RST, SYN | ACK, RST | ACK];
        let b = u8::arbitrary(u)?;
        Ok(match b {
            0..=95 => Flags::Auto,
            96..=223 => Flags::Is(COMMON[b as usize % COMMON.len()]),
            _ => Flags::Is(u8::arbitrary(u)?),
        })
    }
}

#[derive(Arbitrary, Debug, Clone)]
enum Step {
    /// A control request.
    Request { cmd: Cmd, version: Version },
    /// A client's segment or datagram to a (virtual) address: from 198.18.0.10-13 or
    /// 2001:db8:1::10-13, whichever the address's family.
    Client { to: To, client: u8, flags: Flags, payload: u8 },
    /// An answer to one of the last frames the pipeline sent (0: the last), by whoever it
    /// was sent to: endpoints reversed, sequence numbers that follow it.
    Answer { which: u8, flags: Flags, payload: u8 },
    /// A whole connection: the client's SYN, then the answers that follow (the server's
    /// SYN/ACK or the client's ACK to a cookie, ...), with data.
    Connection { to: To, client: u8, payload: u8 },
    /// Time passing by milliseconds, timers run.
    Advance { ms: u16 },
    /// Time passing by seconds (up to u32::MAX: over a century), timers run.
    Jump { secs: Num },
}

/// Where a client sends to: one of the services the registry has (by position), or any
/// address.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum To {
    Service(u8),
    Addr(Key),
}

impl To {
    /// (protocol is UDP, address).
    fn resolve(self, reg: &Registry) -> (bool, SocketAddr) {
        if let To::Service(i) = self {
            let n = reg.list().count();
            if let Some((spec, _, _)) = reg.list().nth(i as usize % n.max(1)) {
                return (spec.key.protocol == Protocol::Udp, spec.key.addr);
            }
        }
        let key = match self {
            To::Addr(k) => k,
            To::Service(i) => Key { udp: i % 2 == 1, ip: Ip(POOL[0]), port: Port(80), scope: 0 },
        };
        (key.udp, key.key().addr)
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    expire_nodest_conn: bool,
    steps: Vec<Step>,
}
