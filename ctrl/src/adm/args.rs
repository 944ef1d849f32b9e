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

mod neigh;
mod table;
mod values;

use table::*;
use values::*;
pub use values::{parse_addr_port, resolve_addr_port, split_line};

/// ipvsadm's default scheduler.
pub const DEFAULT_SCHEDULER: &str = "wlc";

/// ipvsadm's parse_sched_flags: a flag of sh or mh with the scheduler it belongs to only
/// (the scheduler given anywhere on the line, else the default), others not at all.
fn check_sched_flags(flags: &[String], scheduler: &str) -> Result<(), UsageError> {
    for f in flags {
        let only = match f.as_str() {
            "flag-1" | "flag-2" | "flag-3" => None,
            "sh-fallback" | "sh-port" => Some("sh"),
            "mh-fallback" | "mh-port" => Some("mh"),
            _ => return usage_err(format!("invalid scheduler flag `{f}'")),
        };
        if only.is_some_and(|s| s != scheduler) {
            return usage_err(format!("incompatible scheduler flag `{f}'"));
        }
    }
    Ok(())
}
/// ipvsadm's default real-server weight.
pub const DEFAULT_WEIGHT: u32 = 1;
/// ipvsadm's weight range is 0..=65535.
pub const MAX_WEIGHT: u32 = 65535;
/// ipvsadm's timeout of a bare `-p` (IPVS_SVC_PERSISTENT_TIMEOUT, 5 minutes).
pub const DEFAULT_PERSISTENT_TIMEOUT: u32 = 300;
/// ipvsadm's MAX_TIMEOUT (31 days).
pub const MAX_TIMEOUT: u32 = 86400 * 31;

/// Which command set the user speaks: rvsadm's own, or ipvsadm's when the binary is invoked
/// as `ipvsadm` (a symlink or `rvsadm --install-alias`), so that scripts and tools written
/// for ipvsadm (ldirectord, init scripts) keep their meaning:
///
/// * `-a`/`-e` without `-g|-m|-i|--fullnat` is `-g` (DR), ipvsadm's default; rvsadm's own
///   default is FULLNAT, rvsd's headline method (and the default of its TOML);
/// * `-b` is `--sched-flags` as in ipvsadm (rvsadm's `-b` is DPVS's `--fullnat`);
/// * lists are sorted unless `--nosort` (ipvsadm sorts; rvsadm keeps rvsd's order);
/// * `-L -c` and `-S` print ipvsadm's layout (no `local` column, `-b` for flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    #[default]
    Rvsadm,
    Ipvsadm,
}

impl Dialect {
    /// The dialect of a program invoked as `argv0` (its file name decides).
    pub fn from_argv0(argv0: &str) -> Dialect {
        match std::path::Path::new(argv0).file_name().and_then(|n| n.to_str()) {
            Some("ipvsadm") => Dialect::Ipvsadm,
            _ => Dialect::Rvsadm,
        }
    }

    /// The program name for messages.
    pub fn program(self) -> &'static str {
        match self {
            Dialect::Rvsadm => super::PROGRAM,
            Dialect::Ipvsadm => "ipvsadm",
        }
    }
}

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
    /// `-S [-n]`: the table as rvsadm commands (as `ipvsadm`, names unless `-n`).
    Save { numeric: bool },
    /// `-R`: read rvsadm commands (as printed by `-S`) from stdin.
    Restore,
    /// `-Z [-t|u VIP:port]`: zero the traffic counters of one service or of all.
    Zero { service: Option<ServiceKey> },
    /// `--reload [--pidfile PATH]`: SIGHUP to the rvs-ctrl whose pid is in PATH, so it
    /// re-reads its configuration and applies the difference.
    Reload { pidfile: String },
    /// `--install-alias [DIR]`: a symlink DIR/ipvsadm to this binary (default
    /// /usr/local/sbin), which then behaves as ipvsadm (see [`Dialect`]).
    InstallAlias { dir: String },
    /// `--takeover [ADDR[,ADDR...]]`: own these VIPs/LIPs (none: all), with gratuitous ARPs.
    Takeover { addrs: Vec<IpAddr> },
    /// `--release [ADDR[,ADDR...]]`: stop answering ARP/ping and taking new connections.
    Release { addrs: Vec<IpAddr> },
    /// `--owned`: which VIPs/LIPs rvsd owns.
    Owned,
    /// `--sync`, `-L --daemon`: the session sync thread's state and counters.
    Sync,
    /// `--cluster`: this ECMP cluster member and the members it hears.
    Cluster,
    /// `--cluster --leave`: leave the cluster gracefully (withdraw, drain, stop).
    ClusterLeave,
    /// `--neigh [show | add ADDR lladdr MAC [dev IFACE] | del ADDR [dev IFACE] | flush ...]`: the
    /// neighbour tables (None), or a change of them.
    Neigh(Option<rvs_proto::NeighChange>),
}

/// Where `--install-alias` puts the `ipvsadm` symlink unless told otherwise.
pub const DEFAULT_ALIAS_DIR: &str = "/usr/local/sbin";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListOptions {
    /// `-L -t|u VIP:port`: only this service (and no version header, as ipvsadm).
    pub service: Option<ServiceKey>,
    pub view: ListView,
    /// `-n`. Output is always numeric (rvsadm does no name lookups); kept for completeness.
    pub numeric: bool,
    /// `--exact`: no K/M/G abbreviation.
    pub exact: bool,
    /// `--sort`: services by protocol, address and port, real servers by address and port
    /// (otherwise as rvsd lists them; `--nosort` says so explicitly).
    pub sort: bool,
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
    /// `--thresholds`: the real servers' upper and lower connection thresholds.
    Thresholds,
}

/// A command-line error: the binary prints it with a "Try `rvsadm -h'" hint and exits 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn usage_err<T>(msg: impl Into<String>) -> Result<T, UsageError> {
    Err(UsageError(msg.into()))
}

// ---------------------------------------------------------------------------------------
// The parser
// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct State {
    cmd: Option<Cmd>,
    options: OptSet,
    service: Option<(Protocol, IpAddr, Option<u16>)>,
    scheduler: Option<String>,
    real: Option<(IpAddr, Option<u16>)>,
    forward: ForwardMethod,
    weight: Option<u32>,
    laddr: Option<IpAddr>,
    socket: Option<String>,
    pidfile: Option<String>,
    persistent: Option<u32>,
    nosort: bool,
    /// `-M` as given: what it means depends on the service's family (read with the key).
    netmask: Option<String>,
    sched_flags: Vec<String>,
    u_threshold: Option<u32>,
    l_threshold: Option<u32>,
    proxy_protocol: Option<u8>,
    proxy_on_connect: bool,
    mh_table_size: Option<u32>,
    tun_type: Option<String>,
    tun_port: Option<u16>,
    daemon: bool,
    tun_nocsum: bool,
    /// DPVS's `-j disable`: the option given, the SYN proxy off.
    syn_proxy_off: bool,
    allow: Vec<rvs_proto::Cidr>,
    deny: Vec<rvs_proto::Cidr>,
    source_rate: Option<rvs_proto::RateLimit>,
    conn_rate: Option<rvs_proto::RateLimit>,
    max_conns: u32,
}

/// Which options were given (an array past 32 has no derived Default).
struct OptSet([bool; NOPT]);

impl Default for OptSet {
    fn default() -> Self {
        OptSet([false; NOPT])
    }
}

impl std::ops::Deref for OptSet {
    type Target = [bool; NOPT];
    fn deref(&self) -> &[bool; NOPT] {
        &self.0
    }
}

impl std::ops::DerefMut for OptSet {
    fn deref_mut(&mut self) -> &mut [bool; NOPT] {
        &mut self.0
    }
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

    /// The real server address; like ipvsadm, a missing port (or, for `-a`/`-e`, any port
    /// with -g/-i, which cannot change it) is the virtual service's port. `-d` (which takes
    /// no forwarding method) deletes the port given.
    fn real_addr(&self, service: &ServiceKey, cmd: Cmd) -> Option<SocketAddr> {
        let (ip, port) = self.real?;
        let port = match self.forward {
            ForwardMethod::DirectRoute | ForwardMethod::Tunnel if cmd != Cmd::DelDest => service.addr.port(),
            _ => port.unwrap_or(service.addr.port()),
        };
        Some(SocketAddr::new(ip, port))
    }
}

/// The options rvsadm takes, as (short, long, takes a value), for its man page and shell
/// completions (`adm::doc`); ipvsadm options rvsadm refuses are left out.
pub fn documented_options() -> impl Iterator<Item = (Option<char>, &'static str, bool)> {
    SPECS.iter().filter(|s| s.flag != Flag::Unsupported).map(|s| (s.short, s.long, s.takes_arg))
}

/// Parses rvsadm's arguments (without the program name).
pub fn parse_args<S: AsRef<str>>(args: &[S]) -> Result<Invocation, UsageError> {
    parse_args_as(args, Dialect::Rvsadm)
}

/// Parses the arguments of rvsadm invoked as `dialect` (without the program name).
pub fn parse_args_as<S: AsRef<str>>(args: &[S], dialect: Dialect) -> Result<Invocation, UsageError> {
    let args: Vec<String> = args.iter().map(|s| s.as_ref().to_string()).collect();
    if args.first().is_some_and(|a| a == "--install-alias") {
        return match &args[1..] {
            [] => Ok(Invocation {
                socket: None,
                action: Action::Command(AdmCommand::InstallAlias { dir: DEFAULT_ALIAS_DIR.into() }),
            }),
            [dir] => Ok(Invocation {
                socket: None,
                action: Action::Command(AdmCommand::InstallAlias { dir: dir.clone() }),
            }),
            _ => usage_err("--install-alias takes at most one directory"),
        };
    }
    let (lexed, positional) = lex(&args, dialect)?;
    let mut st = State::default();
    let mut real_text = None;

    for l in &lexed {
        let arg = l.arg.as_deref().unwrap_or("");
        match l.spec.flag {
            Flag::Help => return Ok(Invocation { socket: st.socket, action: Action::Help }),
            Flag::Version => return Ok(Invocation { socket: st.socket, action: Action::Version }),
            Flag::Unsupported => unreachable!("refused while lexing"),
            Flag::Daemon => {
                if st.daemon {
                    return usage_err("multiple 'daemon' options specified");
                }
                st.daemon = true;
            }
            Flag::Leave => st.set_option(Opt::Leave)?,
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
                let (ip, port) = resolve_addr_port(arg, proto).ok_or_else(|| {
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
                // Parsed once the service's protocol is known (a port name depends on it).
                st.set_option(Opt::Real)?;
                real_text = Some(arg);
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
            Flag::NoSort => {
                st.set_option(Opt::Sort)?;
                st.nosort = true;
            }
            Flag::Thresholds => st.set_option(Opt::Thresholds)?,
            Flag::Persistent => {
                st.set_option(Opt::Persistent)?;
                st.persistent = Some(match l.arg.as_deref() {
                    None => DEFAULT_PERSISTENT_TIMEOUT,
                    // ipvsadm's parse_timeout and its wording.
                    Some(a) => parse_number(a, 1, MAX_TIMEOUT)
                        .ok_or_else(|| UsageError(format!("invalid timeout value `{a}' specified")))?,
                });
            }
            Flag::Netmask => {
                st.set_option(Opt::Netmask)?;
                st.netmask = Some(arg.to_string());
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
            Flag::TunType => {
                st.set_option(Opt::TunType)?;
                match arg {
                    "ipip" | "gue" => st.tun_type = Some(arg.to_string()),
                    "gre" => return usage_err("tunnel type gre is not supported by rvsd (ipip or gue)"),
                    _ => return usage_err(format!("illegal tunnel type: `{arg}' (ipip or gue)")),
                }
            }
            Flag::TunPort => {
                st.set_option(Opt::TunPort)?;
                st.tun_port = Some(
                    parse_number(arg, 1, 65535)
                        .ok_or_else(|| UsageError(format!("illegal tunnel port: `{arg}'")))?
                        as u16,
                );
            }
            Flag::TunNoCsum => {
                if st.tun_nocsum {
                    return usage_err("multiple 'tun-nocsum' options specified");
                }
                st.tun_nocsum = true;
            }
            Flag::SynProxy => {
                st.set_option(Opt::SynProxy)?;
                st.syn_proxy_off = match l.arg.as_deref() {
                    None | Some("enable") => false,
                    Some("disable") => true,
                    // DPVS's wording.
                    Some(_) => return usage_err("synproxy switch must be enable or disable"),
                };
            }
            Flag::Toa => st.set_option(Opt::Toa)?,
            Flag::ProxyProtocol => {
                st.set_option(Opt::ProxyProtocol)?;
                st.proxy_protocol = Some(match arg {
                    "v1" | "1" => 1,
                    "v2" | "2" => 2,
                    _ => return usage_err(format!("illegal proxy-protocol version: `{arg}' (v1 or v2)")),
                });
            }
            Flag::ProxySend => {
                st.set_option(Opt::ProxySend)?;
                st.proxy_on_connect = match arg {
                    "first-data" => false,
                    "on-connect" => true,
                    _ => {
                        return usage_err(format!(
                            "illegal proxy-protocol-send: `{arg}' (first-data or on-connect)"
                        ))
                    }
                };
            }
            Flag::ExpireQuiescent => st.set_option(Opt::ExpireQuiescent)?,
            Flag::Allow => {
                st.set_option(Opt::Allow)?;
                st.allow = parse_cidrs("allow", arg)?;
            }
            Flag::Deny => {
                st.set_option(Opt::Deny)?;
                st.deny = parse_cidrs("deny", arg)?;
            }
            Flag::SourceRate => {
                st.set_option(Opt::SourceRate)?;
                st.source_rate = Some(parse_rate("source-rate", arg)?);
            }
            Flag::ConnRate => {
                st.set_option(Opt::ConnRate)?;
                st.conn_rate = Some(parse_rate("conn-rate", arg)?);
            }
            Flag::MaxConns => {
                st.set_option(Opt::MaxConns)?;
                st.max_conns = parse_number(arg, 1, u32::MAX)
                    .ok_or_else(|| UsageError(format!("illegal max-conns: `{arg}' (1 or more)")))?;
            }
            Flag::MhTableSize => {
                st.set_option(Opt::MhTableSize)?;
                let m = parse_number(arg, 3, rvs_proto::check::MH_TABLE_MAX)
                    .filter(|&m| rvs_proto::check::is_prime(m))
                    .ok_or_else(|| {
                        UsageError(format!(
                            "illegal mh-table-size: `{arg}' (a prime between 3 and {}, e.g. 65537)",
                            rvs_proto::check::MH_TABLE_MAX
                        ))
                    })?;
                st.mh_table_size = Some(m);
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

    if let Some(arg) = real_text {
        let proto = st.service.map_or(Protocol::Tcp, |s| s.0);
        st.real =
            Some(resolve_addr_port(arg, proto).ok_or_else(|| {
                UsageError(format!("illegal real server address[:port] specified: `{arg}'"))
            })?);
    }

    // No command: `rvsadm` alone lists the table (as ipvsadm does), `--workers` alone is
    // our shorthand for `-L --workers`; anything else is an error.
    let cmd = match st.cmd {
        Some(c) => c,
        None if st.has(Opt::Workers) => Cmd::List,
        None if !st.any_option() && positional.is_empty() => Cmd::List,
        None => return usage_err("no command specified"),
    };
    // ipvsadm lists its sync daemons with `-L --daemon`.
    let cmd = match (st.daemon, cmd) {
        (false, c) => c,
        (true, Cmd::List | Cmd::Sync) => Cmd::Sync,
        (true, c) => return usage_err(format!("Illegal 'daemon' option with the '{}' command", c.name())),
    };

    st.check(cmd)?;
    if dialect == Dialect::Ipvsadm && !st.has(Opt::Forward) {
        // ipvsadm's default forwarding method.
        st.forward = ForwardMethod::DirectRoute;
    }
    if st.tun_nocsum && !matches!(cmd, Cmd::AddDest | Cmd::EditDest) {
        return usage_err(format!("Illegal 'tun-nocsum' option with the '{}' command", cmd.name()));
    }
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
    // `--takeover` / `--release` take addresses, comma or space separated.
    let mut addrs = Vec::new();
    if matches!(cmd, Cmd::Takeover | Cmd::Release) {
        for word in positional.by_ref() {
            for a in word.split(',').map(str::trim).filter(|a| !a.is_empty()) {
                addrs.push(match parse_addr_port(a) {
                    Some((ip, None)) => ip,
                    _ => return usage_err(format!("illegal address: `{a}'")),
                });
            }
        }
    }
    let neigh = if cmd == Cmd::Neigh { neigh::parse_neigh_words(&mut positional)? } else { None };
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
            // Port 0 is the VIP's catch-all (every port without a service of its own),
            // which needs persistence, as ipvsadm says.
            if key.addr.port() == 0 && st.persistent.is_none() {
                return usage_err("Zero port specified for non-persistent service");
            }
            check_sched_flags(&st.sched_flags, &scheduler())?;
            // ipvsadm's -M: a netmask (or prefix length) for IPv4, a prefix length for IPv6.
            // Checked, and without -p unused, as ipvsadm takes it (IPVS keeps the mask, but
            // only persistence reads it, and -S does not print it).
            let prefix = match st.netmask.as_deref() {
                None => None,
                Some(m) => Some(
                    if key.addr.is_ipv4() { netmask_prefix(m) } else { prefix_len_v6(m) }
                        .ok_or_else(|| UsageError(format!("illegal netmask: `{m}'")))?,
                ),
            };
            let host = if key.addr.is_ipv4() { 32 } else { 128 };
            let options = ServiceOptions {
                sched_flags: st.sched_flags.clone(),
                persistence: st
                    .persistent
                    .map(|timeout| Persistence { timeout, prefix_len: prefix.unwrap_or(host) }),
                syn_proxy: st.has(Opt::SynProxy) && !st.syn_proxy_off,
                toa: st.has(Opt::Toa),
                proxy_protocol: st.proxy_protocol,
                proxy_on_connect: st.proxy_on_connect,
                expire_quiescent_template: st.has(Opt::ExpireQuiescent),
                mh_table_size: st.mh_table_size,
                allow: st.allow.clone(),
                deny: st.deny.clone(),
                source_conn_rate: st.source_rate,
                conn_rate: st.conn_rate,
                max_conns: st.max_conns,
            };
            if options.proxy_on_connect && options.proxy_protocol.is_none() {
                return usage_err("--proxy-protocol-send needs --proxy-protocol v1|v2");
            }
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
            let addr = st.real_addr(&service, cmd).ok_or_else(|| UsageError("missing real server".into()))?;
            if service.addr.is_ipv4() && addr.is_ipv6() {
                return usage_err("real server and virtual service address families differ");
            }
            if service.addr.is_ipv6() && addr.is_ipv4() && st.forward != ForwardMethod::FullNat {
                // NAT64 rewrites both ends; DR, TUN and NAT keep the client's address.
                return usage_err(
                    "real server and virtual service address families differ: NAT64 (an IPv4 real \
                     server behind an IPv6 service) is FULLNAT only",
                );
            }
            let thresholds =
                Thresholds { upper: st.u_threshold.unwrap_or(0), lower: st.l_threshold.unwrap_or(0) };
            if thresholds.upper != 0 && thresholds.lower > thresholds.upper {
                return usage_err("l_threshold must not be above u_threshold");
            }
            let tunnel = match (st.tun_type.as_deref(), st.tun_port) {
                (None, None) | (Some("ipip"), None) => None,
                (Some("gue"), Some(port)) => Some(rvs_proto::TunnelEncap { port }),
                (Some("gue"), None) => return usage_err("--tun-type gue needs --tun-port"),
                _ => return usage_err("--tun-port applies to --tun-type gue only"),
            };
            if st.tun_type.is_some() && st.forward != ForwardMethod::Tunnel {
                return usage_err("--tun-type applies to tunneling (-i) only");
            }
            // ipvsadm's tunnel_opt_check: the checksum option is GUE's (and GRE's).
            if st.tun_nocsum && st.forward != ForwardMethod::Tunnel {
                return usage_err("Tunnel options conflict with forward method");
            }
            if st.tun_nocsum && tunnel.is_none() {
                return usage_err("Illegal 'tun-nocsum' option with the 'ipip' tunnel type");
            }
            let real = RealSpec {
                thresholds,
                addr,
                weight: st.weight.unwrap_or(DEFAULT_WEIGHT),
                method: st.forward,
                tunnel,
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
        Cmd::Save => AdmCommand::Save { numeric: st.has(Opt::Numeric) },
        Cmd::Restore => AdmCommand::Restore,
        Cmd::Zero => AdmCommand::Zero { service: key },
        Cmd::Reload => AdmCommand::Reload {
            pidfile: st.pidfile.clone().unwrap_or_else(|| super::DEFAULT_CTRL_PIDFILE.to_string()),
        },
        Cmd::Takeover => AdmCommand::Takeover { addrs },
        Cmd::Release => AdmCommand::Release { addrs },
        Cmd::Owned => AdmCommand::Owned,
        Cmd::Sync => AdmCommand::Sync,
        Cmd::Cluster if st.has(Opt::Leave) => AdmCommand::ClusterLeave,
        Cmd::Cluster => AdmCommand::Cluster,
        Cmd::Neigh => AdmCommand::Neigh(neigh),
        Cmd::List => {
            let listing = st.has(Opt::Connection) || st.has(Opt::Timeout) || st.has(Opt::Workers);
            let counters = u8::from(st.has(Opt::Stats)) + u8::from(st.has(Opt::Rate));
            // As ipvsadm: -c/--timeout/--daemon with a counter view conflict; --stats or
            // --rate with --thresholds is the counters (print_title's precedence).
            if listing && (counters > 0 || st.has(Opt::Thresholds)) {
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
            } else if st.has(Opt::Thresholds) {
                ListView::Thresholds
            } else {
                ListView::Services
            };
            AdmCommand::List(ListOptions {
                service: key,
                view,
                numeric: st.has(Opt::Numeric),
                exact: st.has(Opt::Exact),
                // ipvsadm sorts unless --nosort; rvsadm only with --sort.
                sort: match dialect {
                    Dialect::Ipvsadm => !st.nosort,
                    Dialect::Rvsadm => st.has(Opt::Sort) && !st.nosort,
                },
            })
        }
    };
    Ok(Invocation { socket: st.socket, action: Action::Command(command) })
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod compat_tests;
