//! The option table and the getopt-style lexer.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cmd {
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
    Takeover,
    Release,
    Owned,
    Sync,
    Cluster,
    Neigh,
}

impl Cmd {
    /// ipvsadm's `cmdnames`.
    pub(super) fn name(self) -> &'static str {
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
            Cmd::Takeover => "takeover",
            Cmd::Release => "release",
            Cmd::Owned => "owned",
            Cmd::Sync => "sync",
            Cmd::Cluster => "cluster",
            Cmd::Neigh => "neigh",
        }
    }

    /// Legal options per command, in [`OPT_NAMES`] order, with ipvsadm's key:
    /// `+` compulsory, `x` illegal, `1` exclusive (only one `1` option), ` ` optional.
    pub(super) fn table(self) -> &'static [u8; NOPT] {
        //                     n c svc s r fwd w tot st rt ex z F wk srt p M sf x y j toa pp th pps eqt mh tt tp al dn sr cr mc lv
        match self {
            Cmd::Add | Cmd::Edit => b"xx+ xxxxxxxxxxx   xx   x   xx     x",
            Cmd::Del => b"xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            Cmd::List => b" 11xxxx1   xx1 xxxxxxxx xxxxxxxxxxx",
            Cmd::AddDest | Cmd::EditDest => b"xx+x+  xxxxxxxxxxx  xxxxxxx  xxxxxx",
            Cmd::DelDest => b"xx+x+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            Cmd::Save => b" xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            Cmd::Clear | Cmd::Set | Cmd::Restore | Cmd::Reload => b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            Cmd::AddLaddr | Cmd::DelLaddr => b"xx+xxxxxxxx+ xxxxxxxxxxxxxxxxxxxxxx",
            Cmd::GetLaddr | Cmd::Zero => b"xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            Cmd::Takeover | Cmd::Release => b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            Cmd::Owned | Cmd::Sync | Cmd::Neigh => b" xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            Cmd::Cluster => b" xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx ",
        }
    }
}

pub(super) const NOPT: usize = 35;

/// Option bits, indices into [`OPT_NAMES`] and the command table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Opt {
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
    Thresholds,
    ProxySend,
    ExpireQuiescent,
    MhTableSize,
    TunType,
    TunPort,
    Allow,
    Deny,
    SourceRate,
    ConnRate,
    MaxConns,
    Leave,
}

/// ipvsadm's `optnames` (plus ours).
pub(super) const OPT_NAMES: [&str; NOPT] = [
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
    "thresholds",
    "proxy-protocol-send",
    "expire-quiescent-template",
    "mh-table-size",
    "tun-type",
    "tun-port",
    "allow",
    "deny",
    "source-rate",
    "conn-rate",
    "max-conns",
    "leave",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flag {
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
    NoSort,
    Thresholds,
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
    ProxySend,
    ExpireQuiescent,
    MhTableSize,
    TunType,
    TunPort,
    Allow,
    Deny,
    SourceRate,
    ConnRate,
    MaxConns,
    /// `-L --daemon` (ipvsadm's sync daemon listing): `--sync`.
    Daemon,
    /// `--cluster --leave`.
    Leave,
    /// `--tun-nocsum`: GUE without checksum, what rvsd's GUE is.
    TunNoCsum,
    /// An ipvsadm option rvsadm does not implement.
    Unsupported,
}

pub(super) struct OptSpec {
    pub(super) short: Option<char>,
    pub(super) long: &'static str,
    pub(super) takes_arg: bool,
    pub(super) flag: Flag,
}

pub(super) const fn o(short: Option<char>, long: &'static str, takes_arg: bool, flag: Flag) -> OptSpec {
    OptSpec { short, long, takes_arg, flag }
}

pub(super) const SPECS: &[OptSpec] = &[
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
    o(None, "tun-type", true, Flag::TunType),
    o(None, "tun-port", true, Flag::TunPort),
    o(None, "tun-nocsum", false, Flag::TunNoCsum),
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
    o(None, "nosort", false, Flag::NoSort),
    o(None, "socket", true, Flag::Socket),
    o(Some('Z'), "zero", false, Flag::Cmd(Cmd::Zero)),
    o(None, "reload", false, Flag::Cmd(Cmd::Reload)),
    o(None, "pidfile", true, Flag::Pidfile),
    o(None, "takeover", false, Flag::Cmd(Cmd::Takeover)),
    o(None, "release", false, Flag::Cmd(Cmd::Release)),
    o(None, "owned", false, Flag::Cmd(Cmd::Owned)),
    o(None, "sync", false, Flag::Cmd(Cmd::Sync)),
    o(None, "cluster", false, Flag::Cmd(Cmd::Cluster)),
    o(None, "leave", false, Flag::Leave),
    o(None, "neigh", false, Flag::Cmd(Cmd::Neigh)),
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
    o(None, "proxy-protocol-send", true, Flag::ProxySend),
    o(None, "expire-quiescent-template", false, Flag::ExpireQuiescent),
    o(None, "mh-table-size", true, Flag::MhTableSize),
    o(None, "allow", true, Flag::Allow),
    o(None, "deny", true, Flag::Deny),
    o(None, "source-rate", true, Flag::SourceRate),
    o(None, "conn-rate", true, Flag::ConnRate),
    o(None, "max-conns", true, Flag::MaxConns),
    o(Some('k'), "blklst", true, Flag::Unsupported),
    o(Some('U'), "add-blklst", false, Flag::Unsupported),
    o(Some('V'), "del-blklst", false, Flag::Unsupported),
    o(Some('B'), "get-blklst", false, Flag::Unsupported),
    o(Some('H'), "match", true, Flag::Unsupported),
    o(Some('Y'), "hash-target", true, Flag::Unsupported),
    o(None, "pe", true, Flag::Unsupported),
    o(None, "start-daemon", true, Flag::Unsupported),
    o(None, "stop-daemon", true, Flag::Unsupported),
    o(None, "daemon", false, Flag::Daemon),
    o(None, "mcast-interface", true, Flag::Unsupported),
    o(None, "syncid", true, Flag::Unsupported),
    o(None, "thresholds", false, Flag::Thresholds),
    o(None, "persistent-conn", false, Flag::Unsupported),
    o(None, "sockpair", true, Flag::Unsupported),
    o(None, "sctp-service", true, Flag::Unsupported),
    o(None, "tun-csum", false, Flag::Unsupported),
    o(None, "tun-remcsum", false, Flag::Unsupported),
    o(None, "tun-info", false, Flag::Unsupported),
    o(None, "mcast-group", true, Flag::Unsupported),
    o(None, "mcast-port", true, Flag::Unsupported),
    o(None, "mcast-ttl", true, Flag::Unsupported),
    o(None, "sync-maxlen", true, Flag::Unsupported),
];

/// ipvsadm's `-b`: scheduler flags (rvsadm's own `-b` is DPVS's `--fullnat`).
const IPVSADM_B: OptSpec = o(Some('b'), "sched-flags", true, Flag::SchedFlags);

pub(super) fn find_short(c: char, dialect: Dialect) -> Option<&'static OptSpec> {
    if c == 'b' && dialect == Dialect::Ipvsadm {
        return Some(&IPVSADM_B);
    }
    SPECS.iter().find(|s| s.short == Some(c))
}

/// Exact match first, else a unique prefix (getopt_long) among the supported options;
/// `-l`/`-L` share "list".
pub(super) fn find_long(name: &str) -> Result<&'static OptSpec, UsageError> {
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

/// Why rvsadm refuses an option it knows (`Flag::Unsupported`), for its error: what rvsd
/// does instead, or that it has no such thing.
pub(super) fn unsupported_why(long: &str) -> &'static str {
    match long {
        "fwmark-service" | "ipv6" => {
            "rvsd has no firewall-mark services (write a service per VIP:PORT, [ADDR]:PORT for IPv6)"
        }
        "icmp-service" | "sctp-service" => "rvsd balances TCP and UDP services only",
        "ops" => "rvsd has no one-packet scheduling: each UDP flow keeps a session",
        "pe" => "rvsd has no persistence engines (SIP); -p persists by client address",
        "start-daemon" | "stop-daemon" | "mcast-interface" | "mcast-group" | "mcast-port" | "mcast-ttl"
        | "syncid" | "sync-maxlen" => {
            "session sync is rvsd.toml's [sync] (docs/sync.md); -L --daemon shows it"
        }
        "persistent-conn" | "tun-info" => "rvsd does not count persistent connections per server",
        "tun-csum" | "tun-remcsum" => "rvsd's GUE carries no UDP checksum (--tun-nocsum)",
        "snat" | "sockpair" | "match" | "hash-target" => {
            "it is DPVS's (SNAT, sockpair and match services), which rvsd has not"
        }
        "blklst" | "add-blklst" | "del-blklst" | "get-blklst" => {
            "it is DPVS's blacklist; rvsd's access lists are a service's allow/deny (rvsd.toml)"
        }
        _ => "rvsd has no such feature",
    }
}

/// The error for an option rvsadm knows and refuses, spelled as given.
fn unsupported<T>(spelled: &str, long: &str) -> Result<T, UsageError> {
    usage_err(format!("option `{spelled}' is not supported by rvsadm: {}", unsupported_why(long)))
}

/// One lexed option: its spec, how it was spelled, and its argument if it takes one.
pub(super) struct Lexed {
    pub(super) spec: &'static OptSpec,
    pub(super) arg: Option<String>,
}

/// Splits argv (without the program name) into options and positional arguments.
pub(super) fn lex(args: &[String], dialect: Dialect) -> Result<(Vec<Lexed>, Vec<String>), UsageError> {
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
                return unsupported(&spelled, spec.long);
            }
            let arg = if spec.flag == Flag::Persistent && inline.is_none() {
                optional_number(args, &mut i)
            } else if spec.flag == Flag::SynProxy {
                inline.or_else(|| optional_switch(args, &mut i))
            } else if spec.takes_arg {
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
                let Some(spec) = find_short(c, dialect) else {
                    return usage_err(format!("invalid option -- '{c}'"));
                };
                let spelled = format!("-{c}");
                if spec.flag == Flag::Unsupported {
                    return unsupported(&spelled, spec.long);
                }
                let arg = if spec.flag == Flag::Persistent && k == cluster.len() {
                    // ipvsadm (popt's optional argument): `-p` alone is the default
                    // timeout; the next word is its value only when it is a number.
                    optional_number(args, &mut i)
                } else if spec.flag == Flag::SynProxy && k == cluster.len() {
                    optional_switch(args, &mut i)
                } else if spec.takes_arg {
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

/// The next word if it is DPVS's `enable` or `disable` (consumed), else None: DPVS's
/// ipvsadm spells the SYN proxy `-j enable`, rvsadm `-j` alone.
fn optional_switch(args: &[String], i: &mut usize) -> Option<String> {
    let next = args.get(*i).filter(|w| *w == "enable" || *w == "disable")?;
    *i += 1;
    Some(next.clone())
}

/// The next word if it is a number (consumed), else None.
fn optional_number(args: &[String], i: &mut usize) -> Option<String> {
    let next = args.get(*i).filter(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()))?;
    *i += 1;
    Some(next.clone())
}
