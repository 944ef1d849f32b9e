//! real_server blocks, their checkers and HTTP urls.

use super::ctx::Ctx;
use super::keywords::*;
use super::top::track_weight;
use super::*;

/// Checker settings that a virtual or real server block can set for its checkers.
#[derive(Debug, Clone, Default)]
pub(super) struct CheckDefaults {
    retry: Option<u32>,
    delay_before_retry: Option<Duration>,
    connect_timeout: Option<Duration>,
    delay_loop: Option<Duration>,
    warmup: Option<Duration>,
    alpha: Option<bool>,
}

impl CheckDefaults {
    pub(super) fn set(&mut self, cx: &mut Ctx, k: &Stmt) {
        match k.keyword.as_str() {
            "retry" | "nb_get_retry" => self.retry = cx.u32(k).or(self.retry),
            "delay_before_retry" => self.delay_before_retry = cx.secs(k).or(self.delay_before_retry),
            "connect_timeout" => self.connect_timeout = cx.secs(k).or(self.connect_timeout),
            "delay_loop" => self.delay_loop = cx.secs(k).or(self.delay_loop),
            "warmup" => self.warmup = cx.secs(k).or(self.warmup),
            "alpha" => self.alpha = Some(cx.flag(k)),
            _ => unreachable!("not a checker default: {}", k.keyword),
        }
    }
}

pub(super) fn real_server(
    cx: &mut Ctx,
    s: &Stmt,
    vs: &VirtualServer,
    vs_defaults: &CheckDefaults,
    weight: u32,
    cfg: &Config,
) -> Option<RealServer> {
    let (ip, port) = match s.args.as_slice() {
        [ip] => (ip, None),
        [ip, port] => (ip, Some(port)),
        _ => {
            cx.error(&s.loc, "real_server needs an IP address and a port");
            return None;
        }
    };
    let ip = cx.ip(&s.loc, "real_server", ip);
    let port = match port {
        Some(p) => cx.service_port(&s.loc, "real_server", p),
        None => Some(vs.key.addr.port()),
    };
    let addr = SocketAddr::new(ip?, port?);
    let mut rs = RealServer {
        loc: s.loc.clone(),
        addr,
        weight,
        inhibit_on_failure: vs.inhibit_on_failure,
        notify_up: None,
        notify_down: None,
        uthreshold: None,
        lthreshold: None,
        checkers: Vec::new(),
        method: None,
    };
    let mut defaults = vs_defaults.clone();
    let mut rs_vhost = None;
    let mut lthreshold_loc = None;
    for k in s.block.iter().flatten() {
        match k.keyword.as_str() {
            "weight" => {
                // The range is rvsd's check (see rvsd_checks).
                if let Some(w) = cx.u32(k) {
                    rs.weight = w;
                }
            }
            "inhibit_on_failure" => rs.inhibit_on_failure = cx.flag(k),
            "notify_up" => rs.notify_up = cx.script(k),
            "notify_down" => rs.notify_down = cx.script(k),
            "uthreshold" => rs.uthreshold = cx.u32(k),
            "lthreshold" => {
                rs.lthreshold = cx.u32(k);
                lthreshold_loc = Some(k.loc.clone());
            }
            "retry" | "delay_before_retry" | "connect_timeout" | "delay_loop" | "warmup" | "alpha" => {
                defaults.set(cx, k)
            }
            "virtualhost" => rs_vhost = cx.arg(k, 0).map(str::to_string),
            "lvs_method" | "lb_kind" => {
                rs.method = super::vs::lvs_method(cx, k);
            }
            "smtp_alert" | "snmp_name" => {}
            "TCP_CHECK" | "HTTP_GET" | "SSL_GET" | "MISC_CHECK" | "UDP_CHECK" | "DNS_CHECK"
            | "SMTP_CHECK" | "BFD_CHECK" | "FILE_CHECK" | "PING_CHECK" => {}
            _ => cx.unknown(k, "real_server", RS_KEYS),
        }
    }
    if let (Some(l), Some(lower)) = (&lthreshold_loc, rs.lthreshold) {
        // lthreshold above uthreshold is refused by rvsd's check (see rvsd_checks).
        match rs.uthreshold {
            None | Some(0) if lower > 0 => {
                cx.warn(l, "lthreshold without uthreshold has no effect (no upper limit to fall back from)")
            }
            _ => {}
        }
    }
    let vhost = rs_vhost.or_else(|| vs.virtualhost.clone());
    for k in s.block.iter().flatten() {
        if let Some(c) = checker(cx, k, vs, &rs, &defaults, vhost.as_deref(), cfg) {
            rs.checkers.extend(smtp_hosts(cx, k, c));
        }
    }
    Some(rs)
}

/// An SMTP_CHECK's `host { }` blocks (deprecated in keepalived 2, still read by it): each
/// host is a checker of its own, with the block's options and the SMTP_CHECK's others,
/// and the real server is up only while every host answers. With host blocks the real
/// server itself is checked only if a host names it (keepalived's sample says so). Any
/// other checker comes back as it is.
fn smtp_hosts(cx: &mut Ctx, k: &Stmt, base: CheckerConf) -> Vec<CheckerConf> {
    let hosts: Vec<&Stmt> = match base.kind {
        CheckKind::Smtp { .. } => k.block.iter().flatten().filter(|o| o.keyword == "host").collect(),
        _ => Vec::new(),
    };
    if hosts.is_empty() {
        return vec![base];
    }
    let mut out = Vec::new();
    for h in hosts {
        let mut c = base.clone();
        c.loc = h.loc.clone();
        let (mut ip, mut port, mut bind, mut bind_port) = (None, None, None, None);
        for o in h.block.iter().flatten() {
            match o.keyword.as_str() {
                "connect_ip" => ip = cx.arg(o, 0).and_then(|a| cx.ip(&o.loc, "connect_ip", a)),
                "connect_port" => port = cx.arg(o, 0).and_then(|a| cx.port(&o.loc, "connect_port", a)),
                "bindto" => {
                    bind = cx.arg(o, 0).and_then(|a| cx.ip(&o.loc, "bindto", a)).map(|ip| (ip, o.loc.clone()))
                }
                "bind_port" => bind_port = cx.arg(o, 0).and_then(|a| cx.port(&o.loc, "bind_port", a)),
                "bind_if" => c.bind_if = cx.arg(o, 0).map(str::to_string),
                "fwmark" => c.fwmark = cx.u32(o),
                _ => cx.unknown(
                    o,
                    "host",
                    &["connect_ip", "connect_port", "bindto", "bind_port", "bind_if", "fwmark"],
                ),
            }
        }
        c.target = SocketAddr::new(ip.unwrap_or(base.target.ip()), port.unwrap_or(base.target.port()));
        if bind.is_some() {
            c.bindto = source(cx, bind, bind_port, c.target);
        }
        out.push(c);
    }
    out
}

/// A checker's source: `bindto` (where it was written) with `bind_port`. keepalived drops
/// a bindto of the other family than the target, with an error (a socket of one family
/// cannot bind the other's address: every check would fail).
fn source(
    cx: &mut Ctx,
    bindto: Option<(IpAddr, Loc)>,
    bind_port: Option<u16>,
    target: SocketAddr,
) -> Option<SocketAddr> {
    let (ip, loc) = bindto?;
    if ip.is_ipv4() != target.is_ipv4() {
        cx.warn(
            &loc,
            format!("bindto {ip} is not of the family of the checked address {}: ignored", target.ip()),
        );
        return None;
    }
    Some(SocketAddr::new(ip, bind_port.unwrap_or(0)))
}

fn checker(
    cx: &mut Ctx,
    k: &Stmt,
    vs: &VirtualServer,
    rs: &RealServer,
    defaults: &CheckDefaults,
    vhost: Option<&str>,
    cfg: &Config,
) -> Option<CheckerConf> {
    let kind = k.keyword.as_str();
    let (is_misc, base_retry) = match kind {
        "TCP_CHECK" | "HTTP_GET" | "SSL_GET" | "UDP_CHECK" | "SMTP_CHECK" | "PING_CHECK" => (false, 1),
        "MISC_CHECK" | "FILE_CHECK" => (kind == "MISC_CHECK", 0),
        // keepalived: DNS_CHECK retries 3 times, delay_before_retry defaults to delay_loop.
        "DNS_CHECK" => (false, 3),
        "BFD_CHECK" => {
            cx.warn(&k.loc, format!("{kind} is not supported yet, ignored"));
            return None;
        }
        _ => return None,
    };
    let mut d = defaults.clone();
    let mut connect_ip = None;
    let mut connect_port = None;
    let mut bindto: Option<(IpAddr, Loc)> = None;
    let mut bind_port = None;
    let mut bind_if = None;
    let mut fwmark = None;
    let mut urls = Vec::new();
    let mut check_vhost = vhost.map(str::to_string);
    let mut misc_argv = None;
    let mut misc_timeout = None;
    let mut misc_dynamic = false;
    let mut misc_user = None;
    let mut payload = Vec::new();
    let mut require_reply = false;
    let mut reply = Vec::new();
    let mut dns_type = crate::check::dns::DEFAULT_TYPE;
    let mut dns_name = crate::check::dns::DEFAULT_NAME.to_string();
    let mut tracked: Option<TrackFile> = None;
    let mut file_weight: Option<(i32, bool)> = None;
    let mut sni = Sni::Off;
    let mut helo = None;
    let mut http_1_1 = false;
    let mut reply_len = (0u16, 255u16);
    let is_http = kind == "HTTP_GET" || kind == "SSL_GET";
    for o in k.block.iter().flatten() {
        match o.keyword.as_str() {
            "connect_ip" => connect_ip = cx.arg(o, 0).and_then(|a| cx.ip(&o.loc, "connect_ip", a)),
            "connect_port" => connect_port = cx.arg(o, 0).and_then(|a| cx.port(&o.loc, "connect_port", a)),
            "bindto" => {
                bindto = cx.arg(o, 0).and_then(|a| cx.ip(&o.loc, "bindto", a)).map(|ip| (ip, o.loc.clone()))
            }
            "bind_port" => bind_port = cx.arg(o, 0).and_then(|a| cx.port(&o.loc, "bind_port", a)),
            "bind_if" => match cx.arg(o, 0) {
                // The kernel's IFNAMSIZ, as keepalived checks it.
                Some(i) if i.len() < libc::IFNAMSIZ && !i.contains(['/', '\0']) => bind_if = Some(i.to_string()),
                Some(i) => cx.error(&o.loc, format!("bind_if {i:?} is not an interface name")),
                None => {}
            },
            "fwmark" => fwmark = cx.u32(o),
            "retry" | "nb_get_retry" | "delay_before_retry" | "connect_timeout" | "delay_loop" | "warmup"
            | "alpha" => d.set(cx, o),
            "url" if kind == "HTTP_GET" || kind == "SSL_GET" => {
                if let Some(u) = url(cx, o) {
                    urls.push(u);
                }
            }
            "virtualhost" => check_vhost = cx.arg(o, 0).map(str::to_string),
            "misc_path" if is_misc => misc_argv = cx.script(o).map(|s| s.argv),
            "misc_timeout" if is_misc => misc_timeout = cx.secs(o),
            "misc_dynamic" if is_misc => misc_dynamic = cx.flag(o),
            "user" if is_misc => match super::runas::resolve_words(&o.args) {
                Ok(r) => misc_user = Some((r.uid, r.gid)),
                // keepalived drops the checker; the server would then be judged without it.
                Err(e) => cx.error(&o.loc, format!("MISC_CHECK user: {e}")),
            },
            "payload" if kind == "UDP_CHECK" => {
                // keepalived reports a payload that is not hex and runs without it.
                if let Some(p) = cx.arg(o, 0) {
                    match hex_bytes(p) {
                        Ok(b) => payload = b,
                        Err(e) => cx.warn(
                            &o.loc,
                            format!(
                                "payload {p:?} is not hex bytes ({e}); the check sends an empty datagram"
                            ),
                        ),
                    }
                }
            }
            "require_reply" if kind == "UDP_CHECK" => {
                require_reply = true;
                if let Some(r) = o.args.first() {
                    match hex_bytes(r) {
                        Ok(b) => reply = b,
                        Err(e) => cx.warn(
                            &o.loc,
                            format!("require_reply {r:?} is not hex bytes ({e}); any reply passes"),
                        ),
                    }
                }
            }
            "type" if kind == "DNS_CHECK" => {
                if let Some(a) = cx.arg(o, 0) {
                    match crate::check::dns::qtype(a) {
                        Some(t) => dns_type = t,
                        None => {
                            let known: Vec<&str> = crate::check::dns::TYPES.iter().map(|t| t.0).collect();
                            let known = known.join(" ");
                            cx.warn(&o.loc, format!("unknown DNS_CHECK type {a:?}, using SOA (known: {known})"))
                        }
                    }
                }
            }
            "name" if kind == "DNS_CHECK" => {
                if let Some(a) = cx.arg(o, 0) {
                    match crate::check::dns::encode_name(a) {
                        Ok(_) => dns_name = a.to_string(),
                        Err(e) => cx.error(&o.loc, format!("DNS_CHECK name {e}")),
                    }
                }
            }
            "track_file" if kind == "FILE_CHECK" => {
                if let Some(a) = cx.arg(o, 0) {
                    match cfg.track_files.get(a) {
                        Some(t) => tracked = Some(t.clone()),
                        None => cx.error(&o.loc, format!("track_file {a} not found")),
                    }
                }
            }
            // rvs-ctrl's shorthand: the file without a track_file block (weight 0 unless set).
            "file" if kind == "FILE_CHECK" => {
                if let Some(a) = cx.arg(o, 0) {
                    tracked =
                        Some(TrackFile { loc: o.loc.clone(), path: a.into(), weight: 0, reverse: false });
                }
            }
            "weight" if kind == "FILE_CHECK" => file_weight = track_weight(cx, o),
            "min_reply_length" | "max_reply_length" if kind == "UDP_CHECK" => {
                match cx.u32(o).map(u16::try_from) {
                    Some(Ok(n)) if o.keyword == "min_reply_length" => reply_len.0 = n,
                    Some(Ok(n)) => reply_len.1 = n,
                    Some(Err(_)) => cx.error(&o.loc, format!("'{}' is at most 65535", o.keyword)),
                    None => {}
                }
            }
            "http_protocol" if is_http => match cx.arg(o, 0) {
                Some("1.0" | "1.0C" | "1.0c") => http_1_1 = false,
                Some("1.1") => http_1_1 = true,
                Some(v) => cx.error(&o.loc, format!("http_protocol {v:?}: 1.0, 1.0C or 1.1")),
                None => {}
            },
            "helo_name" if kind == "SMTP_CHECK" => helo = cx.arg(o, 0).map(str::to_string),
            // Read by `smtp_hosts`, once the checker they share is built.
            "host" if kind == "SMTP_CHECK" => cx.info(
                &o.loc,
                "SMTP_CHECK's host block is deprecated in keepalived 2: each host is a checker of its own (as one SMTP_CHECK per host, with connect_ip/connect_port)",
            ),
            "enable_sni" if is_http => {
                sni = match (cx.flag(o), sni) {
                    (false, _) => Sni::Off,
                    (true, Sni::Name(n)) => Sni::Name(n),
                    (true, _) => Sni::Virtualhost,
                }
            }
            "sni_name" if is_http => {
                sni = match cx.arg(o, 0) {
                    Some(n) => Sni::Name(n.to_string()),
                    None => Sni::Virtualhost,
                }
            }
            "log_all_failures" | "enable_sni" | "sni_name"
            | "tls_compliant" | "fast_recovery" | "user"
            | "helo_name" | "host" => cx.warn(
                &o.loc,
                format!("'{}' is not supported by rvs-ctrl's checkers yet, ignored", o.keyword),
            ),
            _ => cx.unknown(o, kind, CHECKER_KEYS),
        }
    }
    let mut delay_loop = d.delay_loop.unwrap_or(vs.delay_loop);
    let mut delay_before_retry = d.delay_before_retry.unwrap_or(DEFAULT_DELAY_BEFORE_RETRY);
    let mut alpha = d.alpha.unwrap_or(vs.alpha);
    let mut retry = d.retry.unwrap_or(base_retry);
    let kind = match kind {
        "TCP_CHECK" => CheckKind::Tcp,
        "SMTP_CHECK" => {
            CheckKind::Smtp { helo: helo.unwrap_or_else(|| crate::check::smtp::DEFAULT_HELO.to_string()) }
        }
        "DNS_CHECK" => {
            delay_before_retry = d.delay_before_retry.unwrap_or(delay_loop);
            CheckKind::Dns { qtype: dns_type, name: dns_name }
        }
        "FILE_CHECK" => {
            let Some(t) = tracked else {
                cx.error(&k.loc, "FILE_CHECK needs track_file NAME (or file PATH)");
                return None;
            };
            // keepalived: the checker's own non-zero weight wins over the track_file's.
            let (weight, reverse) = match file_weight {
                Some((w, r)) if w != 0 => (w, r),
                _ => (t.weight, t.reverse),
            };
            // The file's state is known at once: no retries, no alpha (as keepalived).
            delay_loop = delay_loop.min(FILE_CHECK_MAX_INTERVAL);
            retry = 0;
            alpha = false;
            CheckKind::File { path: t.path, weight, reverse }
        }
        "HTTP_GET" | "SSL_GET" => {
            if urls.is_empty() {
                cx.error(&k.loc, format!("{kind} needs at least one url {{ path ... }}"));
                return None;
            }
            if sni != Sni::Off && kind == "HTTP_GET" {
                cx.info(&k.loc, "enable_sni/sni_name: HTTP_GET has no TLS, so no SNI");
            }
            CheckKind::Http { urls, virtualhost: check_vhost, tls: kind == "SSL_GET", sni, http_1_1 }
        }
        "MISC_CHECK" => {
            let Some(argv) = misc_argv else {
                cx.error(&k.loc, "MISC_CHECK needs misc_path");
                return None;
            };
            // keepalived: without misc_timeout (or with 0) the script has the virtual
            // server's delay_loop, not the checker's.
            let timeout = misc_timeout.filter(|t| !t.is_zero()).unwrap_or(vs.delay_loop);
            CheckKind::Misc { argv, timeout: Some(timeout), dynamic: misc_dynamic, user: misc_user }
        }
        "UDP_CHECK" => {
            if reply_len.0 > reply_len.1 {
                cx.warn(
                    &k.loc,
                    format!(
                        "min_reply_length {} > max_reply_length {}: every reply fails",
                        reply_len.0, reply_len.1
                    ),
                );
            }
            CheckKind::Udp { payload, require_reply, reply, reply_len }
        }
        "PING_CHECK" => CheckKind::Ping,
        _ => unreachable!(),
    };
    let target = SocketAddr::new(connect_ip.unwrap_or(rs.addr.ip()), connect_port.unwrap_or(rs.addr.port()));
    if target.port() == 0
        && !matches!(kind, CheckKind::Misc { .. } | CheckKind::File { .. } | CheckKind::Ping)
    {
        // A port-0 real server serves the port each client asked for: nothing to connect to.
        cx.error(&k.loc, format!("{} of real_server {} port 0 needs connect_port", k.keyword, rs.addr.ip()));
        return None;
    }
    let bindto = source(cx, bindto, bind_port, target);
    // keepalived spreads each checker's first run over `warmup`, by default its delay_loop
    // (`warmup 0` runs it at once); a FILE_CHECK is read at once.
    let warmup = if matches!(kind, CheckKind::File { .. }) {
        None
    } else {
        Some(d.warmup.unwrap_or(delay_loop)).filter(|w| !w.is_zero())
    };
    Some(CheckerConf {
        loc: k.loc.clone(),
        kind,
        target,
        bindto,
        bind_if,
        fwmark,
        connect_timeout: d.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
        retry,
        delay_before_retry,
        delay_loop,
        warmup,
        alpha,
    })
}

/// keepalived's hex strings (UDP_CHECK `payload`, `require_reply`): pairs of hex digits,
/// optionally `0x`-prefixed.
pub fn hex_bytes(s: &str) -> Result<Vec<u8>, String> {
    let h = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
    if h.is_empty() || !h.len().is_multiple_of(2) {
        return Err("not an even number of hex digits".into());
    }
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).map_err(|_| format!("{:?} is not hex", &h[i..i + 2])))
        .collect()
}

pub(super) fn url(cx: &mut Ctx, s: &Stmt) -> Option<HttpUrl> {
    let mut u = HttpUrl {
        path: String::new(),
        status: StatusCodes::default_2xx(),
        digest: None,
        regex: None,
        regex_no_match: false,
        virtualhost: None,
    };
    let mut have_path = false;
    let mut status: Vec<(u16, u16)> = Vec::new();
    for k in s.block.iter().flatten() {
        match k.keyword.as_str() {
            "path" => {
                if let Some(p) = cx.arg(k, 0) {
                    u.path = p.to_string();
                    have_path = true;
                }
            }
            "status_code" => {
                for a in &k.args {
                    let parsed = match a.split_once('-') {
                        Some((lo, hi)) => lo.parse().ok().zip(hi.parse().ok()),
                        None => a.parse().ok().map(|c| (c, c)),
                    };
                    match parsed {
                        Some((lo, hi)) if (100..=599).contains(&lo) && lo <= hi && hi <= 599 => {
                            status.push((lo, hi))
                        }
                        _ => cx.error(&k.loc, format!("status_code: bad HTTP status {a:?}")),
                    }
                }
                if k.args.is_empty() {
                    cx.error(&k.loc, "'status_code' needs a value");
                }
            }
            "digest" => {
                if let Some(d) = cx.arg(k, 0) {
                    if d.len() == 32 && d.bytes().all(|b| b.is_ascii_hexdigit()) {
                        u.digest = Some(d.to_ascii_lowercase());
                    } else {
                        cx.error(&k.loc, format!("digest {d:?} is not an MD5 in hex (32 digits)"));
                    }
                }
            }
            "regex" => {
                if let Some(r) = cx.arg(k, 0) {
                    match regex::bytes::Regex::new(r) {
                        Ok(_) => u.regex = Some(r.to_string()),
                        Err(e) => cx.error(&k.loc, format!("bad regex: {e}")),
                    }
                }
            }
            "regex_no_match" => u.regex_no_match = cx.flag(k),
            "regex_options" | "regex_stack" | "regex_min_offset" | "regex_max_offset" => {
                cx.warn(&k.loc, format!("'{}' is not supported yet, ignored", k.keyword))
            }
            "virtualhost" => u.virtualhost = cx.arg(k, 0).map(str::to_string),
            _ => cx.unknown(k, "url", URL_KEYS),
        }
    }
    if !have_path {
        cx.error(&s.loc, "url needs a path");
        return None;
    }
    if !status.is_empty() {
        u.status = StatusCodes(status);
    }
    Some(u)
}
