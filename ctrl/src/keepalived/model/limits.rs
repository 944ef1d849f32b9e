//! `rvs_limits { ... }` inside a virtual_server: rvs's extension for source allow/deny
//! lists and admission limits (DPVS keeps its lists in ipvsadm-side blklst/whtlst tables;
//! here they belong to the service, like every other option rvs-ctrl sends).
//!
//! ```text
//! rvs_limits {
//!     allow 198.18.0.0/24 198.18.1.7      # only these sources (DPVS's whitelist)
//!     deny 198.18.0.66                    # never these (checked first)
//!     source_conn_rate 50 [BURST]         # new connections/s from one source
//!     conn_rate 10000 [BURST]             # new connections/s to the service
//!     max_conns 100000                    # connections held at once
//! }
//! ```

use super::ctx::Ctx;
use super::*;
use rvs_proto::{Cidr, RateLimit};

pub(super) const LIMIT_KEYS: &[&str] = &["allow", "deny", "source_conn_rate", "conn_rate", "max_conns"];

/// The lists and limits of one virtual_server (all empty: none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VsLimits {
    pub allow: Vec<Cidr>,
    pub deny: Vec<Cidr>,
    pub source_conn_rate: Option<RateLimit>,
    pub conn_rate: Option<RateLimit>,
    pub max_conns: u32,
}

pub(super) fn rvs_limits(cx: &mut Ctx, s: &Stmt, into: &mut VsLimits) {
    let Some(block) = &s.block else {
        cx.error(
            &s.loc,
            "rvs_limits needs a { block } (allow, deny, source_conn_rate, conn_rate, max_conns)",
        );
        return;
    };
    for k in block {
        match k.keyword.as_str() {
            "allow" | "deny" => {
                if k.args.is_empty() {
                    cx.error(&k.loc, format!("'{}' needs one or more addresses or prefixes", k.keyword));
                }
                let list = if k.keyword == "allow" { &mut into.allow } else { &mut into.deny };
                for a in &k.args {
                    match a.parse::<Cidr>() {
                        Ok(c) if c.addr().is_ipv4() => list.push(c),
                        Ok(c) => cx.error(
                            &k.loc,
                            format!("{} {c}: IPv6 is not supported by the dataplane yet", k.keyword),
                        ),
                        Err(e) => cx.error(&k.loc, format!("{}: {e}", k.keyword)),
                    }
                }
                if list.len() > rvs_proto::limits::ACL_MAX {
                    cx.error(
                        &k.loc,
                        format!("{}: at most {} prefixes", k.keyword, rvs_proto::limits::ACL_MAX),
                    );
                }
            }
            "source_conn_rate" | "conn_rate" => {
                let r = match k.args.as_slice() {
                    [r] => r.parse::<RateLimit>(),
                    [r, b] => format!("{r}:{b}").parse(),
                    _ => Err("takes RATE [BURST]".to_string()),
                };
                match r {
                    Ok(r) if k.keyword == "conn_rate" => into.conn_rate = Some(r),
                    Ok(r) => into.source_conn_rate = Some(r),
                    Err(e) => cx.error(&k.loc, format!("{}: {e}", k.keyword)),
                }
            }
            "max_conns" => {
                if let Some(n) = cx.u32(k) {
                    into.max_conns = n;
                }
            }
            _ => cx.unknown(k, "rvs_limits", LIMIT_KEYS),
        }
    }
}
