//! argv -> [`Invocation`]: a small getopt-style parser that follows ipvsadm.
//!
//! Like getopt/popt: short options may be clustered (`-Ln`, `-lnc`, `-At VIP:80`), a short
//! option's argument may be attached (`-t1.2.3.4:80`) or the next word, long options take
//! `--opt value` or `--opt=value` and may be abbreviated to a unique prefix, options come
//! in any order, and `--` ends option processing. After lexing, the command/option
//! combination is checked against a table modelled on ipvsadm's `commands_v_options`, with
//! ipvsadm's wording for the errors.

use rvs_proto::{
    ForwardMethod, Persistence, Protocol, RealSpec, ServiceKey, ServiceOptions, Thresholds, Timeouts,
};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// ipvsadm's default scheduler.
pub const DEFAULT_SCHEDULER: &str = "wlc";
/// ipvsadm's default real-server weight.
pub const DEFAULT_WEIGHT: u32 = 1;
/// ipvsadm's weight range is 0..=65535.
pub const MAX_WEIGHT: u32 = 65535;
/// ipvsadm's MAX_TIMEOUT (31 days).
pub const MAX_TIMEOUT: u32 = 86400 * 31;

/// What the user asked for, plus the global `--socket` option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub socket: Option<String>,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Help,
    Version,
    Command(AdmCommand),
}

/// A fully validated rvsadm command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdmCommand {
    /// `-A -t|u VIP:port [-s sched]`
    AddService { key: ServiceKey, scheduler: String, options: ServiceOptions },
    /// `-E -t|u VIP:port [-s sched]`; as in ipvsadm, an omitted `-s` means the default.
    EditService { key: ServiceKey, scheduler: String, options: ServiceOptions },
    /// `-D -t|u VIP:port`
    DelService { key: ServiceKey },
    /// `-C`
    Clear,
    /// `-a -t|u VIP:port -r RIP[:port] [-w weight] [-b|-m|-g|-i]`
    AddReal { service: ServiceKey, real: RealSpec },
    /// `-e ...` with the same options as `-a`.
    EditReal { service: ServiceKey, real: RealSpec },
    /// `-d -t|u VIP:port -r RIP[:port]`
    DelReal { service: ServiceKey, addr: SocketAddr },
    /// `-P -t|u VIP:port -z LIP [-F ifname]`
    AddLocalAddr { service: ServiceKey, addr: IpAddr },
    /// `-Q -t|u VIP:port -z LIP [-F ifname]`
    DelLocalAddr { service: ServiceKey, addr: IpAddr },
    /// `-G [-t|u VIP:port]`
    GetLocalAddrs { service: Option<ServiceKey> },
    /// `-L|-l [...]`, `--workers`, or no arguments at all.
    List(ListOptions),
    /// `--set tcp tcpfin udp`
    SetTimeouts(Timeouts),
    /// `-S [-n]`: the table as rvsadm commands.
    Save,
    /// `-R`: read rvsadm commands (as printed by `-S`) from stdin.
    Restore,
    /// `-Z [-t|u VIP:port]`: zero the traffic counters of one service or of all.
    Zero { service: Option<ServiceKey> },
    /// `--reload [--pidfile PATH]`: SIGHUP to the rvs-ctrl whose pid is in PATH, so it
    /// re-reads its configuration and applies the difference.
    Reload { pidfile: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListOptions {
    /// `-L -t|u VIP:port`: only this service (and no version header, as ipvsadm).
    pub service: Option<ServiceKey>,
    pub view: ListView,
    /// `-n`. Output is always numeric (rvsadm does no name lookups); kept for completeness.
    pub numeric: bool,
    /// `--exact`: no K/M/G abbreviation.
    pub exact: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListView {
    #[default]
    Services,
    /// `--stats`
    Stats,
    /// `--rate`
    Rate,
    /// `-c`
    Connections,
    /// `--timeout`
    Timeout,
    /// `--workers`
    Workers,
}

/// A command-line error: the binary prints it with a "Try `rvsadm -h'" hint and exits 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn usage_err<T>(msg: impl Into<String>) -> Result<T, UsageError> {
    Err(UsageError(msg.into()))
}

// ---------------------------------------------------------------------------------------
// Option table
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Add,
    Edit,
    Del,
    Clear,
    List,
    AddDest,
    DelDest,
    EditDest,
    Set,
    Save,
    Restore,
    AddLaddr,
    DelLaddr,
    GetLaddr,
    Zero,
    Reload,
}

impl Cmd {
    /// ipvsadm's `cmdnames`.
    fn name(self) -> &'static str {
        match self {
            Cmd::Add => "add-service",
            Cmd::Edit => "edit-service",
            Cmd::Del => "delete-service",
            Cmd::Clear => "clear",
            Cmd::List => "list",
            Cmd::AddDest => "add-server",
            Cmd::DelDest => "delete-server",
            Cmd::EditDest => "edit-server",
            Cmd::Set => "set",
            Cmd::Save => "save",
            Cmd::Restore => "restore",
            Cmd::AddLaddr => "add-laddr",
            Cmd::DelLaddr => "del-laddr",
            Cmd::GetLaddr => "get-laddr",
            Cmd::Zero => "zero",
            Cmd::Reload => "reload",
        }
    }

    /// Legal options per command, in [`OPT_NAMES`] order, with ipvsadm's key:
    /// `+` compulsory, `x` illegal, `1` exclusive (only one `1` option), ` ` optional.
    fn table(self) -> &'static [u8; NOPT] {
        //                     n c svc s r fwd w tot st rt ex z F wk srt p M sf x y j toa pp
        match self {
            Cmd::Add | Cmd::Edit => b"xx+ xxxxxxxxxxx   xx   ",
            Cmd::Del => b"xx+xxxxxxxxxxxxxxxxxxxx",
            Cmd::List => b" 11xxxx1   xx1 xxxxxxxx",
            Cmd::AddDest | Cmd::EditDest => b"xx+x+  xxxxxxxxxxx  xxx",
            Cmd::DelDest => b"xx+x+xxxxxxxxxxxxxxxxxx",
            Cmd::Save => b" xxxxxxxxxxxxxxxxxxxxxx",
            Cmd::Clear | Cmd::Set | Cmd::Restore | Cmd::Reload => b"xxxxxxxxxxxxxxxxxxxxxxx",
            Cmd::AddLaddr | Cmd::DelLaddr => b"xx+xxxxxxxx+ xxxxxxxxxx",
            Cmd::GetLaddr | Cmd::Zero => b"xx xxxxxxxxxxxxxxxxxxxx",
        }
    }
}

const NOPT: usize = 23;

/// Option bits, indices into [`OPT_NAMES`] and the command table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opt {
    Numeric = 0,
    Connection,
    Service,
    Scheduler,
    Real,
    Forward,
    Weight,
    Timeout,
    Stats,
    Rate,
    Exact,
    Laddr,
    Ifname,
    Workers,
    Sort,
    Persistent,
    Netmask,
    SchedFlags,
    UThreshold,
    LThreshold,
    SynProxy,
    Toa,
    ProxyProtocol,
}

/// ipvsadm's `optnames` (plus ours).
const OPT_NAMES: [&str; NOPT] = [
    "numeric",
    "connection",
    "service-address",
    "scheduler",
    "real-server",
    "forwarding-method",
    "weight",
    "timeout",
    "stats",
    "rate",
    "exact",
    "local-address",
    "ifname",
    "workers",
    "sort",
    "persistent",
    "netmask",
    "sched-flags",
    "u-threshold",
    "l-threshold",
    "synproxy",
    "toa",
    "proxy-protocol",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flag {
    Cmd(Cmd),
    Help,
    Version,
    Service(Protocol),
    Scheduler,
    Real,
    Forward(ForwardMethod),
    Weight,
    Numeric,
    Connection,
    Timeout,
    Stats,
    Rate,
    Exact,
    Laddr,
    Ifname,
    Workers,
    Sort,
    Socket,
    Pidfile,
    Persistent,
    Netmask,
    SchedFlags,
    UThreshold,
    LThreshold,
    SynProxy,
    Toa,
    ProxyProtocol,
    /// An ipvsadm option rvsadm does not implement.
    Unsupported,
}

struct OptSpec {
    short: Option<char>,
    long: &'static str,
    takes_arg: bool,
    flag: Flag,
}

const fn o(short: Option<char>, long: &'static str, takes_arg: bool, flag: Flag) -> OptSpec {
    OptSpec { short, long, takes_arg, flag }
}

const SPECS: &[OptSpec] = &[
    o(Some('A'), "add-service", false, Flag::Cmd(Cmd::Add)),
    o(Some('E'), "edit-service", false, Flag::Cmd(Cmd::Edit)),
    o(Some('D'), "delete-service", false, Flag::Cmd(Cmd::Del)),
    o(Some('C'), "clear", false, Flag::Cmd(Cmd::Clear)),
    o(Some('L'), "list", false, Flag::Cmd(Cmd::List)),
    o(Some('l'), "list", false, Flag::Cmd(Cmd::List)),
    o(Some('a'), "add-server", false, Flag::Cmd(Cmd::AddDest)),
    o(Some('e'), "edit-server", false, Flag::Cmd(Cmd::EditDest)),
    o(Some('d'), "delete-server", false, Flag::Cmd(Cmd::DelDest)),
    o(None, "set", false, Flag::Cmd(Cmd::Set)),
    o(Some('S'), "save", false, Flag::Cmd(Cmd::Save)),
    o(Some('R'), "restore", false, Flag::Cmd(Cmd::Restore)),
    o(Some('P'), "add-laddr", false, Flag::Cmd(Cmd::AddLaddr)),
    o(Some('Q'), "del-laddr", false, Flag::Cmd(Cmd::DelLaddr)),
    o(Some('G'), "get-laddr", false, Flag::Cmd(Cmd::GetLaddr)),
    o(Some('h'), "help", false, Flag::Help),
    o(Some('v'), "version", false, Flag::Version),
    o(Some('t'), "tcp-service", true, Flag::Service(Protocol::Tcp)),
    o(Some('u'), "udp-service", true, Flag::Service(Protocol::Udp)),
    o(Some('s'), "scheduler", true, Flag::Scheduler),
    o(Some('r'), "real-server", true, Flag::Real),
    o(Some('b'), "fullnat", false, Flag::Forward(ForwardMethod::FullNat)),
    o(Some('m'), "masquerading", false, Flag::Forward(ForwardMethod::Nat)),
    o(Some('g'), "gatewaying", false, Flag::Forward(ForwardMethod::DirectRoute)),
    o(Some('i'), "ipip", false, Flag::Forward(ForwardMethod::Tunnel)),
    o(Some('w'), "weight", true, Flag::Weight),
    o(Some('n'), "numeric", false, Flag::Numeric),
    o(Some('c'), "connection", false, Flag::Connection),
    o(None, "timeout", false, Flag::Timeout),
    o(None, "stats", false, Flag::Stats),
    o(None, "rate", false, Flag::Rate),
    o(Some('X'), "exact", false, Flag::Exact),
    o(Some('z'), "laddr", true, Flag::Laddr),
    o(Some('F'), "ifname", true, Flag::Ifname),
    o(None, "workers", false, Flag::Workers),
    o(None, "sort", false, Flag::Sort),
    o(None, "nosort", false, Flag::Sort),
    o(None, "socket", true, Flag::Socket),
    o(Some('Z'), "zero", false, Flag::Cmd(Cmd::Zero)),
    o(None, "reload", false, Flag::Cmd(Cmd::Reload)),
    o(None, "pidfile", true, Flag::Pidfile),
    // ipvsadm / DPVS options that rvsadm does not implement: named so that the error says
    // so instead of "invalid option".
    o(Some('q'), "icmp-service", true, Flag::Unsupported),
    o(Some('f'), "fwmark-service", true, Flag::Unsupported),
    o(Some('p'), "persistent", true, Flag::Persistent),
    o(Some('M'), "netmask", true, Flag::Netmask),
    o(None, "sched-flags", true, Flag::SchedFlags),
    o(Some('x'), "u-threshold", true, Flag::UThreshold),
    o(Some('y'), "l-threshold", true, Flag::LThreshold),
    o(Some('o'), "ops", false, Flag::Unsupported),
    o(Some('6'), "ipv6", false, Flag::Unsupported),
    o(Some('J'), "snat", false, Flag::Unsupported),
    o(Some('j'), "synproxy", false, Flag::SynProxy),
    o(None, "toa", false, Flag::Toa),
    o(None, "proxy-protocol", true, Flag::ProxyProtocol),
    o(Some('k'), "blklst", true, Flag::Unsupported),
    o(Some('U'), "add-blklst", false, Flag::Unsupported),
    o(Some('V'), "del-blklst", false, Flag::Unsupported),
    o(Some('B'), "get-blklst", false, Flag::Unsupported),
    o(Some('H'), "match", true, Flag::Unsupported),
    o(Some('Y'), "hash-target", true, Flag::Unsupported),
    o(None, "pe", true, Flag::Unsupported),
    o(None, "start-daemon", true, Flag::Unsupported),
    o(None, "stop-daemon", true, Flag::Unsupported),
    o(None, "daemon", false, Flag::Unsupported),
    o(None, "mcast-interface", true, Flag::Unsupported),
    o(None, "syncid", true, Flag::Unsupported),
    o(None, "thresholds", false, Flag::Unsupported),
    o(None, "persistent-conn", false, Flag::Unsupported),
    o(None, "sockpair", true, Flag::Unsupported),
];

fn find_short(c: char) -> Option<&'static OptSpec> {
    SPECS.iter().find(|s| s.short == Some(c))
}

/// Exact match first, else a unique prefix (getopt_long) among the supported options;
/// `-l`/`-L` share "list".
fn find_long(name: &str) -> Result<&'static OptSpec, UsageError> {
    if let Some(s) = SPECS.iter().find(|s| s.long == name) {
        return Ok(s);
    }
    let mut hits: Vec<&'static OptSpec> =
        SPECS.iter().filter(|s| s.flag != Flag::Unsupported && s.long.starts_with(name)).collect();
    hits.dedup_by_key(|s| s.long);
    match hits.len() {
        1 => Ok(hits[0]),
        0 => usage_err(format!("invalid option `--{name}'")),
        _ => {
            let names: Vec<String> = hits.iter().map(|s| format!("--{}", s.long)).collect();
            usage_err(format!("option `--{name}' is ambiguous ({})", names.join(", ")))
        }
    }
}

/// One lexed option: its spec, how it was spelled, and its argument if it takes one.
struct Lexed {
    spec: &'static OptSpec,
    arg: Option<String>,
}

/// Splits argv (without the program name) into options and positional arguments.
fn lex(args: &[String]) -> Result<(Vec<Lexed>, Vec<String>), UsageError> {
    let mut opts = Vec::new();
    let mut positional = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            positional.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(body) = a.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let spec = find_long(name)?;
            let spelled = format!("--{}", spec.long);
            if spec.flag == Flag::Unsupported {
                return usage_err(format!("option `{spelled}' is not supported by rvsadm"));
            }
            let arg = if spec.takes_arg {
                match inline {
                    Some(v) => Some(v),
                    None if i < args.len() => {
                        i += 1;
                        Some(args[i - 1].clone())
                    }
                    None => return usage_err(format!("option `{spelled}' requires an argument")),
                }
            } else if inline.is_some() {
                return usage_err(format!("option `{spelled}' doesn't allow an argument"));
            } else {
                None
            };
            opts.push(Lexed { spec, arg });
        } else if a.len() > 1 && a.starts_with('-') {
            let cluster: Vec<char> = a[1..].chars().collect();
            let mut k = 0;
            while k < cluster.len() {
                let c = cluster[k];
                k += 1;
                let Some(spec) = find_short(c) else {
                    return usage_err(format!("invalid option -- '{c}'"));
                };
                let spelled = format!("-{c}");
                if spec.flag == Flag::Unsupported {
                    return usage_err(format!("option `{spelled}' is not supported by rvsadm"));
                }
                let arg = if spec.takes_arg {
                    if k < cluster.len() {
                        let rest: String = cluster[k..].iter().collect();
                        k = cluster.len();
                        Some(rest)
                    } else if i < args.len() {
                        i += 1;
                        Some(args[i - 1].clone())
                    } else {
                        return usage_err(format!("option `{spelled}' requires an argument"));
                    }
                } else {
                    None
                };
                opts.push(Lexed { spec, arg });
            }
        } else {
            positional.push(a.clone());
        }
    }
    Ok((opts, positional))
}

// ---------------------------------------------------------------------------------------
// Address parsing
// ---------------------------------------------------------------------------------------

/// ipvsadm's parse_service, numeric only: `a.b.c.d[:port]`, `[v6][:port]` or a bare v6
/// address. Returns the address and the port if one was given.
pub fn parse_addr_port(text: &str) -> Option<(IpAddr, Option<u16>)> {
    if let Some(rest) = text.strip_prefix('[') {
        let (addr, tail) = rest.split_once(']')?;
        let ip: Ipv6Addr = addr.parse().ok()?;
        let port = match tail {
            "" => None,
            t => Some(parse_port(t.strip_prefix(':')?)?),
        };
        return Some((IpAddr::V6(ip), port));
    }
    if let Ok(ip) = text.parse::<Ipv6Addr>() {
        return Some((IpAddr::V6(ip), None));
    }
    match text.rsplit_once(':') {
        Some((addr, port)) => Some((IpAddr::V4(addr.parse().ok()?), Some(parse_port(port)?))),
        None => Some((IpAddr::V4(text.parse().ok()?), None)),
    }
}

fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Decimal number in `min..=max` (ipvsadm's string_to_number).
/// A dotted netmask (`255.255.255.0`) or a prefix length (`24`) as a prefix length.
fn netmask_prefix(s: &str) -> Option<u8> {
    if let Ok(n) = s.trim_start_matches('/').parse::<u8>() {
        return (n <= 32).then_some(n);
    }
    let m = u32::from(s.parse::<std::net::Ipv4Addr>().ok()?);
    (m.leading_ones() + m.trailing_zeros() == 32).then_some(m.leading_ones() as u8)
}

fn parse_number(s: &str, min: u32, max: u32) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u32>().ok().filter(|n| (min..=max).contains(n))
}

fn parse_timeout(s: &str) -> Result<u32, UsageError> {
    parse_number(s, 0, MAX_TIMEOUT)
        .ok_or_else(|| UsageError(format!("invalid timeout value `{s}' specified")))
}

// ---------------------------------------------------------------------------------------
// The parser
// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct State {
    cmd: Option<Cmd>,
    options: [bool; NOPT],
    service: Option<(Protocol, IpAddr, Option<u16>)>,
    scheduler: Option<String>,
    real: Option<(IpAddr, Option<u16>)>,
    forward: ForwardMethod,
    weight: Option<u32>,
    laddr: Option<IpAddr>,
    socket: Option<String>,
    pidfile: Option<String>,
    persistent: Option<u32>,
    netmask: Option<u8>,
    sched_flags: Vec<String>,
    u_threshold: Option<u32>,
    l_threshold: Option<u32>,
    proxy_protocol: Option<u8>,
}

impl State {
    fn set_command(&mut self, cmd: Cmd) -> Result<(), UsageError> {
        if self.cmd.is_some() {
            return usage_err("multiple commands specified");
        }
        self.cmd = Some(cmd);
        Ok(())
    }

    fn set_option(&mut self, opt: Opt) -> Result<(), UsageError> {
        let i = opt as usize;
        if self.options[i] {
            return usage_err(format!("multiple '{}' options specified", OPT_NAMES[i]));
        }
        self.options[i] = true;
        Ok(())
    }

    fn has(&self, opt: Opt) -> bool {
        self.options[opt as usize]
    }

    fn any_option(&self) -> bool {
        self.options.iter().any(|&b| b)
    }

    /// ipvsadm's generic_opt_check.
    fn check(&self, cmd: Cmd) -> Result<(), UsageError> {
        let table = cmd.table();
        let mut exclusive: Option<usize> = None;
        for (j, &rule) in table.iter().enumerate() {
            if !self.options[j] {
                if rule == b'+' {
                    return usage_err(format!(
                        "You need to supply the '{}' option for the '{}' command",
                        OPT_NAMES[j],
                        cmd.name()
                    ));
                }
                continue;
            }
            match rule {
                b'x' => {
                    return usage_err(format!(
                        "Illegal '{}' option with the '{}' command",
                        OPT_NAMES[j],
                        cmd.name()
                    ))
                }
                b'1' => {
                    if let Some(last) = exclusive {
                        return usage_err(format!(
                            "The option '{}' conflicts with the '{}' option in the '{}' command",
                            OPT_NAMES[j],
                            OPT_NAMES[last],
                            cmd.name()
                        ));
                    }
                    exclusive = Some(j);
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn service_key(&self) -> Option<ServiceKey> {
        self.service
            .map(|(protocol, ip, port)| ServiceKey { protocol, addr: SocketAddr::new(ip, port.unwrap_or(0)) })
    }

    /// The real server address; like ipvsadm, a missing port (or any port with -g/-i,
    /// which cannot change it) is the virtual service's port.
    fn real_addr(&self, service: &ServiceKey) -> Option<SocketAddr> {
        let (ip, port) = self.real?;
        let port = match self.forward {
            ForwardMethod::DirectRoute | ForwardMethod::Tunnel => service.addr.port(),
            _ => port.unwrap_or(service.addr.port()),
        };
        Some(SocketAddr::new(ip, port))
    }
}

/// Parses rvsadm's arguments (without the program name).
pub fn parse_args<S: AsRef<str>>(args: &[S]) -> Result<Invocation, UsageError> {
    let args: Vec<String> = args.iter().map(|s| s.as_ref().to_string()).collect();
    let (lexed, positional) = lex(&args)?;
    let mut st = State::default();

    for l in &lexed {
        let arg = l.arg.as_deref().unwrap_or("");
        match l.spec.flag {
            Flag::Help => return Ok(Invocation { socket: st.socket, action: Action::Help }),
            Flag::Version => return Ok(Invocation { socket: st.socket, action: Action::Version }),
            Flag::Unsupported => unreachable!("refused while lexing"),
            Flag::Cmd(c) => st.set_command(c)?,
            Flag::Socket => {
                if st.socket.is_some() {
                    return usage_err("multiple 'socket' options specified");
                }
                st.socket = Some(arg.to_string());
            }
            Flag::Pidfile => {
                if st.pidfile.is_some() {
                    return usage_err("multiple 'pidfile' options specified");
                }
                st.pidfile = Some(arg.to_string());
            }
            Flag::Service(proto) => {
                st.set_option(Opt::Service)?;
                let (ip, port) = parse_addr_port(arg).ok_or_else(|| {
                    UsageError(format!("illegal virtual server address[:port] specified: `{arg}'"))
                })?;
                st.service = Some((proto, ip, port));
            }
            Flag::Scheduler => {
                st.set_option(Opt::Scheduler)?;
                if arg.is_empty() {
                    return usage_err("illegal scheduler specified: `'");
                }
                st.scheduler = Some(arg.to_string());
            }
            Flag::Real => {
                st.set_option(Opt::Real)?;
                let parsed = parse_addr_port(arg).ok_or_else(|| {
                    UsageError(format!("illegal real server address[:port] specified: `{arg}'"))
                })?;
                st.real = Some(parsed);
            }
            Flag::Forward(m) => {
                st.set_option(Opt::Forward)?;
                st.forward = m;
            }
            Flag::Weight => {
                st.set_option(Opt::Weight)?;
                st.weight = Some(
                    parse_number(arg, 0, MAX_WEIGHT)
                        .ok_or_else(|| UsageError(format!("illegal weight specified: `{arg}'")))?,
                );
            }
            Flag::Laddr => {
                st.set_option(Opt::Laddr)?;
                let ip = match parse_addr_port(arg) {
                    Some((ip, None)) => ip,
                    _ => return usage_err(format!("illegal local address: `{arg}'")),
                };
                st.laddr = Some(ip);
            }
            Flag::Ifname => st.set_option(Opt::Ifname)?,
            Flag::Numeric => st.set_option(Opt::Numeric)?,
            Flag::Connection => st.set_option(Opt::Connection)?,
            Flag::Timeout => st.set_option(Opt::Timeout)?,
            Flag::Stats => st.set_option(Opt::Stats)?,
            Flag::Rate => st.set_option(Opt::Rate)?,
            Flag::Exact => st.set_option(Opt::Exact)?,
            Flag::Workers => st.set_option(Opt::Workers)?,
            Flag::Sort => st.set_option(Opt::Sort)?,
            Flag::Persistent => {
                st.set_option(Opt::Persistent)?;
                st.persistent =
                    Some(parse_number(arg, 1, MAX_TIMEOUT).ok_or_else(|| {
                        UsageError(format!("illegal timeout for persistent service: `{arg}'"))
                    })?);
            }
            Flag::Netmask => {
                st.set_option(Opt::Netmask)?;
                st.netmask =
                    Some(netmask_prefix(arg).ok_or_else(|| UsageError(format!("illegal netmask: `{arg}'")))?);
            }
            Flag::SchedFlags => {
                st.set_option(Opt::SchedFlags)?;
                st.sched_flags =
                    arg.split(',').map(str::trim).filter(|f| !f.is_empty()).map(String::from).collect();
            }
            Flag::UThreshold => {
                st.set_option(Opt::UThreshold)?;
                st.u_threshold = Some(
                    parse_number(arg, 0, u32::MAX)
                        .ok_or_else(|| UsageError(format!("illegal u_threshold specified: `{arg}'")))?,
                );
            }
            Flag::SynProxy => st.set_option(Opt::SynProxy)?,
            Flag::Toa => st.set_option(Opt::Toa)?,
            Flag::ProxyProtocol => {
                st.set_option(Opt::ProxyProtocol)?;
                st.proxy_protocol = Some(match arg {
                    "v1" | "1" => 1,
                    "v2" | "2" => 2,
                    _ => return usage_err(format!("illegal proxy-protocol version: `{arg}' (v1 or v2)")),
                });
            }
            Flag::LThreshold => {
                st.set_option(Opt::LThreshold)?;
                st.l_threshold = Some(
                    parse_number(arg, 0, u32::MAX)
                        .ok_or_else(|| UsageError(format!("illegal l_threshold specified: `{arg}'")))?,
                );
            }
        }
    }

    // No command: `rvsadm` alone lists the table (as ipvsadm does), `--workers` alone is
    // our shorthand for `-L --workers`; anything else is an error.
    let cmd = match st.cmd {
        Some(c) => c,
        None if st.has(Opt::Workers) => Cmd::List,
        None if !st.any_option() && positional.is_empty() => Cmd::List,
        None => return usage_err("no command specified"),
    };

    st.check(cmd)?;
    if st.pidfile.is_some() && cmd != Cmd::Reload {
        return usage_err(format!("Illegal 'pidfile' option with the '{}' command", cmd.name()));
    }

    let mut positional = positional.into_iter();
    let timeouts = if cmd == Cmd::Set {
        let vals: Vec<String> = positional.by_ref().take(3).collect();
        if vals.len() != 3 {
            return usage_err("--set option requires 3 timeout values");
        }
        Some(Timeouts {
            tcp: parse_timeout(&vals[0])?,
            tcp_fin: parse_timeout(&vals[1])?,
            udp: parse_timeout(&vals[2])?,
        })
    } else {
        None
    };
    if let Some(extra) = positional.next() {
        return usage_err(format!("unexpected argument {extra}"));
    }

    let key = st.service_key();
    // The table guarantees the compulsory pieces; these only fire on a table bug.
    let need_key = || key.ok_or_else(|| UsageError("missing service address".into()));
    let scheduler = || st.scheduler.clone().unwrap_or_else(|| DEFAULT_SCHEDULER.to_string());

    let command = match cmd {
        Cmd::Add | Cmd::Edit => {
            let key = need_key()?;
            if key.addr.port() == 0 {
                return usage_err("Zero port specified for non-persistent service");
            }
            if st.netmask.is_some() && st.persistent.is_none() {
                return usage_err("netmask only applies to persistent services (-p)");
            }
            let options = ServiceOptions {
                sched_flags: st.sched_flags.clone(),
                persistence: st
                    .persistent
                    .map(|timeout| Persistence { timeout, prefix_len: st.netmask.unwrap_or(32) }),
                syn_proxy: st.has(Opt::SynProxy),
                toa: st.has(Opt::Toa),
                proxy_protocol: st.proxy_protocol,
            };
            if cmd == Cmd::Add {
                AdmCommand::AddService { key, scheduler: scheduler(), options }
            } else {
                AdmCommand::EditService { key, scheduler: scheduler(), options }
            }
        }
        Cmd::Del => AdmCommand::DelService { key: need_key()? },
        Cmd::Clear => AdmCommand::Clear,
        Cmd::AddDest | Cmd::EditDest | Cmd::DelDest => {
            let service = need_key()?;
            let addr = st.real_addr(&service).ok_or_else(|| UsageError("missing real server".into()))?;
            if service.addr.is_ipv4() != addr.is_ipv4() {
                return usage_err("real server and virtual service address families differ");
            }
            let thresholds =
                Thresholds { upper: st.u_threshold.unwrap_or(0), lower: st.l_threshold.unwrap_or(0) };
            if thresholds.upper != 0 && thresholds.lower > thresholds.upper {
                return usage_err("l_threshold must not be above u_threshold");
            }
            let real = RealSpec {
                thresholds,
                addr,
                weight: st.weight.unwrap_or(DEFAULT_WEIGHT),
                method: st.forward,
            };
            match cmd {
                Cmd::AddDest => AdmCommand::AddReal { service, real },
                Cmd::EditDest => AdmCommand::EditReal { service, real },
                _ => AdmCommand::DelReal { service, addr },
            }
        }
        Cmd::AddLaddr | Cmd::DelLaddr => {
            let service = need_key()?;
            let addr = st.laddr.ok_or_else(|| UsageError("missing local address".into()))?;
            if cmd == Cmd::AddLaddr {
                AdmCommand::AddLocalAddr { service, addr }
            } else {
                AdmCommand::DelLocalAddr { service, addr }
            }
        }
        Cmd::GetLaddr => AdmCommand::GetLocalAddrs { service: key },
        Cmd::Set => AdmCommand::SetTimeouts(timeouts.expect("parsed above")),
        Cmd::Save => AdmCommand::Save,
        Cmd::Restore => AdmCommand::Restore,
        Cmd::Zero => AdmCommand::Zero { service: key },
        Cmd::Reload => AdmCommand::Reload {
            pidfile: st.pidfile.clone().unwrap_or_else(|| super::DEFAULT_CTRL_PIDFILE.to_string()),
        },
        Cmd::List => {
            let listing = st.has(Opt::Connection) || st.has(Opt::Timeout) || st.has(Opt::Workers);
            if listing && (st.has(Opt::Stats) || st.has(Opt::Rate)) {
                return usage_err("options conflicts in the list command");
            }
            let view = if st.has(Opt::Connection) {
                ListView::Connections
            } else if st.has(Opt::Timeout) {
                ListView::Timeout
            } else if st.has(Opt::Workers) {
                ListView::Workers
            } else if st.has(Opt::Stats) {
                ListView::Stats
            } else if st.has(Opt::Rate) {
                ListView::Rate
            } else {
                ListView::Services
            };
            AdmCommand::List(ListOptions {
                service: key,
                view,
                numeric: st.has(Opt::Numeric),
                exact: st.has(Opt::Exact),
            })
        }
    };
    Ok(Invocation { socket: st.socket, action: Action::Command(command) })
}

/// Splits one `-R` input line into words (whitespace separated, `#` starts a comment,
/// single or double quotes group). `None` for a blank or comment line.
pub fn split_line(line: &str) -> Result<Option<Vec<String>>, UsageError> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                in_word = true;
            }
            None if c == '#' && !in_word => break,
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            None => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return usage_err(format!("unterminated quote in `{}'", line.trim_end()));
    }
    if in_word {
        words.push(cur);
    }
    Ok(if words.is_empty() { None } else { Some(words) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(p: Protocol, a: &str) -> ServiceKey {
        ServiceKey { protocol: p, addr: a.parse().unwrap() }
    }
    fn tcp(a: &str) -> ServiceKey {
        key(Protocol::Tcp, a)
    }
    fn cmd(args: &[&str]) -> AdmCommand {
        match parse_args(args) {
            Ok(Invocation { action: Action::Command(c), .. }) => c,
            other => panic!("{args:?}: {other:?}"),
        }
    }
    fn err(args: &[&str]) -> String {
        match parse_args(args) {
            Err(UsageError(m)) => m,
            other => panic!("{args:?} should fail, got {other:?}"),
        }
    }
    fn list(service: Option<ServiceKey>, view: ListView, numeric: bool, exact: bool) -> AdmCommand {
        AdmCommand::List(ListOptions { service, view, numeric, exact })
    }
    fn real(a: &str, weight: u32, method: ForwardMethod) -> RealSpec {
        RealSpec { thresholds: Default::default(), addr: a.parse().unwrap(), weight, method }
    }

    #[test]
    fn add_service_default_scheduler_is_wlc() {
        assert_eq!(
            cmd(&["-A", "-t", "198.18.0.100:80"]),
            AdmCommand::AddService {
                key: tcp("198.18.0.100:80"),
                scheduler: "wlc".into(),
                options: Default::default()
            }
        );
    }

    #[test]
    fn persistence_flags_and_thresholds() {
        let want = AdmCommand::AddService {
            key: tcp("198.18.0.100:80"),
            scheduler: "sh".into(),
            options: ServiceOptions {
                sched_flags: vec!["sh-port".into(), "sh-fallback".into()],
                persistence: Some(Persistence { timeout: 60, prefix_len: 24 }),
                ..Default::default()
            },
        };
        let want_syn = AdmCommand::EditService {
            key: tcp("198.18.0.100:80"),
            scheduler: "rr".into(),
            options: ServiceOptions {
                syn_proxy: true,
                toa: true,
                proxy_protocol: Some(2),
                ..Default::default()
            },
        };
        assert_eq!(
            cmd(&["-E", "-t", "198.18.0.100:80", "-s", "rr", "-j", "--toa", "--proxy-protocol", "v2"]),
            want_syn
        );
        assert_eq!(
            err(&["-E", "-t", "198.18.0.100:80", "--proxy-protocol", "v3"]),
            "illegal proxy-protocol version: `v3' (v1 or v2)"
        );
        assert_eq!(
            cmd(&[
                "-A",
                "-t",
                "198.18.0.100:80",
                "-s",
                "sh",
                "-p",
                "60",
                "-M",
                "255.255.255.0",
                "--sched-flags",
                "sh-port,sh-fallback"
            ]),
            want
        );
        match cmd(&["-a", "-t", "198.18.0.100:80", "-r", "198.19.0.11", "-x", "10", "-y", "5"]) {
            AdmCommand::AddReal { real, .. } => {
                assert_eq!(real.thresholds, Thresholds { upper: 10, lower: 5 })
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            err(&["-A", "-t", "198.18.0.100:80", "-M", "24"]),
            "netmask only applies to persistent services (-p)"
        );
        assert_eq!(
            err(&["-A", "-t", "198.18.0.100:80", "-p", "60", "-M", "255.0.255.0"]),
            "illegal netmask: `255.0.255.0'"
        );
        assert_eq!(
            err(&["-a", "-t", "198.18.0.100:80", "-r", "198.19.0.11", "-x", "5", "-y", "9"]),
            "l_threshold must not be above u_threshold"
        );
    }

    #[test]
    fn add_service_forms() {
        let want = AdmCommand::AddService {
            key: tcp("198.18.0.100:80"),
            scheduler: "rr".into(),
            options: Default::default(),
        };
        for args in [
            &["-A", "-t", "198.18.0.100:80", "-s", "rr"][..],
            &["-s", "rr", "-t", "198.18.0.100:80", "-A"],
            &["-At", "198.18.0.100:80", "-srr"],
            &["--add-service", "--tcp-service=198.18.0.100:80", "--scheduler", "rr"],
            &["--add-servi", "--tcp", "198.18.0.100:80", "--scheduler=rr"],
        ] {
            assert_eq!(cmd(args), want, "{args:?}");
        }
        assert_eq!(
            cmd(&["-A", "-u", "[2001:db8::1]:53", "-s", "wrr"]),
            AdmCommand::AddService {
                key: key(Protocol::Udp, "[2001:db8::1]:53"),
                scheduler: "wrr".into(),
                options: Default::default()
            }
        );
    }

    #[test]
    fn edit_and_delete_service() {
        assert_eq!(
            cmd(&["-E", "-t", "198.18.0.100:80", "-s", "rr"]),
            AdmCommand::EditService {
                key: tcp("198.18.0.100:80"),
                scheduler: "rr".into(),
                options: Default::default()
            }
        );
        assert_eq!(
            cmd(&["--edit-service", "-t", "198.18.0.100:80"]),
            AdmCommand::EditService {
                key: tcp("198.18.0.100:80"),
                scheduler: "wlc".into(),
                options: Default::default()
            }
        );
        assert_eq!(
            cmd(&["-D", "-t", "198.18.0.100:80"]),
            AdmCommand::DelService { key: tcp("198.18.0.100:80") }
        );
        assert_eq!(
            cmd(&["--delete-service", "-u", "198.18.0.100:53"]),
            AdmCommand::DelService { key: key(Protocol::Udp, "198.18.0.100:53") }
        );
        assert_eq!(cmd(&["-C"]), AdmCommand::Clear);
        assert_eq!(cmd(&["--clear"]), AdmCommand::Clear);
    }

    #[test]
    fn add_server_defaults_fullnat_weight_1_and_vport() {
        assert_eq!(
            cmd(&["-a", "-t", "198.18.0.100:80", "-r", "198.19.0.11"]),
            AdmCommand::AddReal {
                service: tcp("198.18.0.100:80"),
                real: real("198.19.0.11:80", 1, ForwardMethod::FullNat)
            }
        );
        // -r before -t still takes the VIP port.
        assert_eq!(
            cmd(&["-a", "-r", "198.19.0.11", "-t", "198.18.0.100:443"]),
            AdmCommand::AddReal {
                service: tcp("198.18.0.100:443"),
                real: real("198.19.0.11:443", 1, ForwardMethod::FullNat)
            }
        );
    }

    #[test]
    fn add_and_edit_server_options() {
        assert_eq!(
            cmd(&["-a", "-t", "198.18.0.100:80", "-r", "198.19.0.11:8080", "-w", "5", "-b"]),
            AdmCommand::AddReal {
                service: tcp("198.18.0.100:80"),
                real: real("198.19.0.11:8080", 5, ForwardMethod::FullNat)
            }
        );
        assert_eq!(
            cmd(&["-at", "198.18.0.100:80", "-r198.19.0.11:8080", "-mw", "0"]),
            AdmCommand::AddReal {
                service: tcp("198.18.0.100:80"),
                real: real("198.19.0.11:8080", 0, ForwardMethod::Nat)
            }
        );
        // -g / -i force the VIP port, as in ipvsadm.
        assert_eq!(
            cmd(&["--add-server", "-t", "198.18.0.100:80", "-r", "198.19.0.11:8080", "--gatewaying"]),
            AdmCommand::AddReal {
                service: tcp("198.18.0.100:80"),
                real: real("198.19.0.11:80", 1, ForwardMethod::DirectRoute)
            }
        );
        assert_eq!(
            cmd(&["-e", "-t", "198.18.0.100:80", "-r", "198.19.0.11:80", "-w", "65535", "-i"]),
            AdmCommand::EditReal {
                service: tcp("198.18.0.100:80"),
                real: real("198.19.0.11:80", 65535, ForwardMethod::Tunnel)
            }
        );
        assert_eq!(
            cmd(&["--edit-server", "-t", "198.18.0.100:80", "--real-server=198.19.0.11:80", "--weight=3"]),
            AdmCommand::EditReal {
                service: tcp("198.18.0.100:80"),
                real: real("198.19.0.11:80", 3, ForwardMethod::FullNat)
            }
        );
        assert_eq!(
            cmd(&["-a", "-t", "[2001:db8::1]:80", "-r", "[2001:db8::11]"]),
            AdmCommand::AddReal {
                service: tcp("[2001:db8::1]:80"),
                real: real("[2001:db8::11]:80", 1, ForwardMethod::FullNat)
            }
        );
    }

    #[test]
    fn delete_server() {
        assert_eq!(
            cmd(&["-d", "-t", "198.18.0.100:80", "-r", "198.19.0.11:80"]),
            AdmCommand::DelReal { service: tcp("198.18.0.100:80"), addr: "198.19.0.11:80".parse().unwrap() }
        );
        assert_eq!(
            cmd(&["--delete-server", "-t", "198.18.0.100:80", "-r", "198.19.0.11"]),
            AdmCommand::DelReal { service: tcp("198.18.0.100:80"), addr: "198.19.0.11:80".parse().unwrap() }
        );
        assert_eq!(
            err(&["-d", "-t", "198.18.0.100:80", "-r", "198.19.0.11:80", "-w", "2"]),
            "Illegal 'weight' option with the 'delete-server' command"
        );
    }

    #[test]
    fn local_addresses() {
        let lip: IpAddr = "198.19.0.200".parse().unwrap();
        assert_eq!(
            cmd(&["-P", "-t", "198.18.0.100:80", "-z", "198.19.0.200"]),
            AdmCommand::AddLocalAddr { service: tcp("198.18.0.100:80"), addr: lip }
        );
        assert_eq!(
            cmd(&["-P", "-t", "198.18.0.100:80", "-z", "198.19.0.200", "-F", "dpdk0"]),
            AdmCommand::AddLocalAddr { service: tcp("198.18.0.100:80"), addr: lip }
        );
        assert_eq!(
            cmd(&["--del-laddr", "-t", "198.18.0.100:80", "--laddr=198.19.0.200", "--ifname=dpdk0"]),
            AdmCommand::DelLocalAddr { service: tcp("198.18.0.100:80"), addr: lip }
        );
        assert_eq!(
            cmd(&["-G", "-t", "198.18.0.100:80"]),
            AdmCommand::GetLocalAddrs { service: Some(tcp("198.18.0.100:80")) }
        );
        assert_eq!(cmd(&["--get-laddr"]), AdmCommand::GetLocalAddrs { service: None });
        assert_eq!(
            err(&["-P", "-t", "198.18.0.100:80"]),
            "You need to supply the 'local-address' option for the 'add-laddr' command"
        );
        assert_eq!(
            err(&["-P", "-t", "198.18.0.100:80", "-z", "198.19.0.2000"]),
            "illegal local address: `198.19.0.2000'"
        );
        assert_eq!(
            err(&["-Q", "-t", "198.18.0.100:80", "-z", "198.19.0.200:80"]),
            "illegal local address: `198.19.0.200:80'"
        );
    }

    #[test]
    fn list_forms_and_combined_flags() {
        assert_eq!(cmd(&[]), list(None, ListView::Services, false, false));
        assert_eq!(cmd(&["-L"]), list(None, ListView::Services, false, false));
        assert_eq!(cmd(&["-l"]), list(None, ListView::Services, false, false));
        assert_eq!(cmd(&["--list"]), list(None, ListView::Services, false, false));
        for args in [&["-Ln"][..], &["-L", "-n"], &["-n", "-L"], &["-nL"], &["--list", "--numeric"], &["-ln"]]
        {
            assert_eq!(cmd(args), list(None, ListView::Services, true, false), "{args:?}");
        }
        for args in [&["-Lnc"][..], &["-lnc"], &["-L", "-n", "-c"], &["-cnL"], &["-Ln", "--connection"]] {
            assert_eq!(cmd(args), list(None, ListView::Connections, true, false), "{args:?}");
        }
        assert_eq!(
            cmd(&["-Ln", "-t", "198.18.0.100:80"]),
            list(Some(tcp("198.18.0.100:80")), ListView::Services, true, false)
        );
        assert_eq!(
            cmd(&["-Lnt", "198.18.0.100:80", "--stats"]),
            list(Some(tcp("198.18.0.100:80")), ListView::Stats, true, false)
        );
        assert_eq!(cmd(&["-Ln", "--stats", "--exact"]), list(None, ListView::Stats, true, true));
        assert_eq!(cmd(&["-LnX", "--stats"]), list(None, ListView::Stats, true, true));
        assert_eq!(cmd(&["-Ln", "--rate"]), list(None, ListView::Rate, true, false));
        assert_eq!(cmd(&["-L", "--timeout"]), list(None, ListView::Timeout, false, false));
        assert_eq!(cmd(&["--workers"]), list(None, ListView::Workers, false, false));
        assert_eq!(cmd(&["-L", "--workers"]), list(None, ListView::Workers, false, false));
        assert_eq!(cmd(&["-Ln", "--sort"]), list(None, ListView::Services, true, false));
        assert_eq!(cmd(&["-Ln", "--nosort"]), list(None, ListView::Services, true, false));
    }

    #[test]
    fn list_conflicts() {
        assert_eq!(
            err(&["-Lnc", "-t", "198.18.0.100:80"]),
            "The option 'service-address' conflicts with the 'connection' option in the 'list' command"
        );
        assert_eq!(err(&["-Lc", "--stats"]), "options conflicts in the list command");
        assert_eq!(err(&["-L", "--timeout", "--rate"]), "options conflicts in the list command");
        assert_eq!(
            err(&["-L", "--timeout", "-c"]),
            "The option 'timeout' conflicts with the 'connection' option in the 'list' command"
        );
        assert_eq!(err(&["-L", "-s", "rr"]), "Illegal 'scheduler' option with the 'list' command");
    }

    #[test]
    fn set_timeouts() {
        assert_eq!(
            cmd(&["--set", "900", "120", "300"]),
            AdmCommand::SetTimeouts(Timeouts { tcp: 900, tcp_fin: 120, udp: 300 })
        );
        assert_eq!(
            cmd(&["--set", "0", "0", "60"]),
            AdmCommand::SetTimeouts(Timeouts { tcp: 0, tcp_fin: 0, udp: 60 })
        );
        assert_eq!(err(&["--set", "900", "120"]), "--set option requires 3 timeout values");
        assert_eq!(err(&["--set", "900", "x", "300"]), "invalid timeout value `x' specified");
        assert_eq!(err(&["--set", "900", "120", "2678401"]), "invalid timeout value `2678401' specified");
        assert_eq!(err(&["--set", "1", "2", "3", "4"]), "unexpected argument 4");
    }

    #[test]
    fn save_restore_help_version_socket() {
        assert_eq!(cmd(&["-S"]), AdmCommand::Save);
        assert_eq!(cmd(&["-Sn"]), AdmCommand::Save);
        assert_eq!(cmd(&["--restore"]), AdmCommand::Restore);
        assert_eq!(parse_args(&["-h"]).unwrap().action, Action::Help);
        assert_eq!(parse_args(&["--help"]).unwrap().action, Action::Help);
        assert_eq!(parse_args(&["-v"]).unwrap().action, Action::Version);
        assert_eq!(parse_args(&["--version"]).unwrap().action, Action::Version);
        let inv = parse_args(&["--socket", "/tmp/x.sock", "-Ln"]).unwrap();
        assert_eq!(inv.socket.as_deref(), Some("/tmp/x.sock"));
        assert_eq!(inv.action, Action::Command(list(None, ListView::Services, true, false)));
        let inv = parse_args(&["-C", "--socket=/tmp/y.sock"]).unwrap();
        assert_eq!(inv.socket.as_deref(), Some("/tmp/y.sock"));
        assert_eq!(
            parse_args(&["--socket", "/s"]).unwrap().action,
            Action::Command(list(None, ListView::Services, false, false))
        );
    }

    #[test]
    fn bad_addresses_name_the_text() {
        assert_eq!(
            err(&["-A", "-t", "198.18.0.300:80"]),
            "illegal virtual server address[:port] specified: `198.18.0.300:80'"
        );
        assert_eq!(
            err(&["-A", "-t", "198.18.0.100:99999"]),
            "illegal virtual server address[:port] specified: `198.18.0.100:99999'"
        );
        assert_eq!(
            err(&["-A", "-t", "www.example.com:80"]),
            "illegal virtual server address[:port] specified: `www.example.com:80'"
        );
        assert_eq!(
            err(&["-a", "-t", "198.18.0.100:80", "-r", "198.19.0:80"]),
            "illegal real server address[:port] specified: `198.19.0:80'"
        );
        assert_eq!(
            err(&["-A", "-t", "[::1:80"]),
            "illegal virtual server address[:port] specified: `[::1:80'"
        );
        assert_eq!(err(&["-A", "-t", "198.18.0.100"]), "Zero port specified for non-persistent service");
    }

    #[test]
    fn usage_errors() {
        assert_eq!(
            err(&["-A"]),
            "You need to supply the 'service-address' option for the 'add-service' command"
        );
        assert_eq!(
            err(&["-a", "-t", "198.18.0.100:80"]),
            "You need to supply the 'real-server' option for the 'add-server' command"
        );
        assert_eq!(err(&["-A", "-D", "-t", "198.18.0.100:80"]), "multiple commands specified");
        assert_eq!(err(&["-AD", "-t", "198.18.0.100:80"]), "multiple commands specified");
        assert_eq!(
            err(&["-A", "-t", "1.2.3.4:80", "-u", "1.2.3.4:80"]),
            "multiple 'service-address' options specified"
        );
        assert_eq!(
            err(&["-a", "-t", "1.2.3.4:80", "-r", "5.6.7.8", "-b", "-m"]),
            "multiple 'forwarding-method' options specified"
        );
        assert_eq!(
            err(&["-A", "-t", "1.2.3.4:80", "-w", "2"]),
            "Illegal 'weight' option with the 'add-service' command"
        );
        assert_eq!(
            err(&["-a", "-t", "1.2.3.4:80", "-r", "5.6.7.8", "-w", "65536"]),
            "illegal weight specified: `65536'"
        );
        assert_eq!(
            err(&["-a", "-t", "1.2.3.4:80", "-r", "5.6.7.8", "-w", "-1"]),
            "illegal weight specified: `-1'"
        );
        assert_eq!(
            err(&["-a", "-t", "1.2.3.4:80", "-r", "[::1]:80"]),
            "real server and virtual service address families differ"
        );
        assert_eq!(err(&["-A", "-t"]), "option `-t' requires an argument");
        assert_eq!(err(&["--add-service", "--tcp-service"]), "option `--tcp-service' requires an argument");
        assert_eq!(err(&["-Lq"]), "option `-q' is not supported by rvsadm");
        assert_eq!(err(&["-K"]), "invalid option -- 'K'");
        assert_eq!(err(&["--bogus"]), "invalid option `--bogus'");
        assert_eq!(err(&["--list=yes"]), "option `--list' doesn't allow an argument");
        assert_eq!(err(&["--add"]), "option `--add' is ambiguous (--add-service, --add-server, --add-laddr)");
        assert_eq!(err(&["--ops"]), "option `--ops' is not supported by rvsadm");
        assert_eq!(err(&["-n"]), "no command specified");
        assert_eq!(err(&["-C", "extra"]), "unexpected argument extra");
        assert_eq!(
            err(&["-C", "-t", "1.2.3.4:80"]),
            "Illegal 'service-address' option with the 'clear' command"
        );
        assert_eq!(err(&["-L", "-n", "-n"]), "multiple 'numeric' options specified");
    }

    #[test]
    fn double_dash_ends_options() {
        assert_eq!(
            cmd(&["--set", "--", "1", "2", "3"]),
            AdmCommand::SetTimeouts(Timeouts { tcp: 1, tcp_fin: 2, udp: 3 })
        );
    }

    #[test]
    fn addr_port_parsing() {
        assert_eq!(parse_addr_port("10.0.0.1:80"), Some(("10.0.0.1".parse().unwrap(), Some(80))));
        assert_eq!(parse_addr_port("10.0.0.1"), Some(("10.0.0.1".parse().unwrap(), None)));
        assert_eq!(parse_addr_port("[::1]:80"), Some(("::1".parse().unwrap(), Some(80))));
        assert_eq!(parse_addr_port("[::1]"), Some(("::1".parse().unwrap(), None)));
        assert_eq!(parse_addr_port("fe80::1"), Some(("fe80::1".parse().unwrap(), None)));
        assert_eq!(parse_addr_port("10.0.0.1:"), None);
        assert_eq!(parse_addr_port("10.0.0.1:+80"), None);
        assert_eq!(parse_addr_port("[::1]80"), None);
        assert_eq!(parse_addr_port(""), None);
    }

    #[test]
    fn restore_line_splitting() {
        assert_eq!(split_line("  # comment").unwrap(), None);
        assert_eq!(split_line("").unwrap(), None);
        assert_eq!(
            split_line("-A -t 198.18.0.100:80 -s rr # trailing").unwrap(),
            Some(vec!["-A".into(), "-t".into(), "198.18.0.100:80".into(), "-s".into(), "rr".into()])
        );
        assert_eq!(split_line("-s 'r r'").unwrap(), Some(vec!["-s".into(), "r r".into()]));
        assert!(split_line("-s 'rr").is_err());
    }

    #[test]
    fn zero_and_reload() {
        assert_eq!(cmd(&["-Z"]), AdmCommand::Zero { service: None });
        assert_eq!(
            cmd(&["--zero", "-t", "198.18.0.100:80"]),
            AdmCommand::Zero {
                service: Some(ServiceKey {
                    protocol: Protocol::Tcp,
                    addr: "198.18.0.100:80".parse().unwrap()
                })
            }
        );
        assert_eq!(err(&["-Z", "-r", "198.19.0.11"]), "Illegal 'real-server' option with the 'zero' command");
        assert_eq!(
            cmd(&["--reload"]),
            AdmCommand::Reload { pidfile: crate::adm::DEFAULT_CTRL_PIDFILE.into() }
        );
        assert_eq!(
            cmd(&["--reload", "--pidfile", "/tmp/c.pid"]),
            AdmCommand::Reload { pidfile: "/tmp/c.pid".into() }
        );
        assert_eq!(err(&["-Ln", "--pidfile=/x"]), "Illegal 'pidfile' option with the 'list' command");
        assert_eq!(err(&["--reload", "-n"]), "Illegal 'numeric' option with the 'reload' command");
    }
}
