//! The exception path's configuration: which kind of kernel interface each port gets
//! (`kernel_if`, `kernel_name` under `[[port]]`) and the `[exception]` section (ring size,
//! rate limit towards the kernel).

use serde::Deserialize;
use serde_spanned::Spanned;

use super::{ConfigError, Ctx};

/// The kind of kernel interface a port gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KernelIfKind {
    /// No kernel interface: frames for the host are dropped and counted (`to_host`, ...).
    #[default]
    None,
    /// A tap device rvsd opens through `/dev/net/tun` (works without vhost-net).
    Tap,
    /// DPDK's `virtio_user` over the kernel's vhost-net (`/dev/vhost-net`).
    VirtioUser,
}

impl KernelIfKind {
    pub fn name(self) -> &'static str {
        match self {
            KernelIfKind::None => "none",
            KernelIfKind::Tap => "tap",
            KernelIfKind::VirtioUser => "virtio_user",
        }
    }
}

/// A port's kernel interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelIf {
    pub kind: KernelIfKind,
    /// The kernel's name for it (at most 15 bytes).
    pub name: String,
    /// Line of the `kernel_if` key (of the port's `name` when absent), for start-up errors.
    pub line: usize,
}

/// The `[exception]` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExceptionParams {
    /// Frames per worker ring towards the kernel (and back).
    pub ring_size: usize,
    /// Frames per second each kernel interface accepts from the dataplane.
    pub rate_pps: u32,
    /// How many frames above the rate a burst may bring.
    pub burst: u32,
}

impl Default for ExceptionParams {
    fn default() -> Self {
        ExceptionParams { ring_size: 1024, rate_pps: 20_000, burst: 2_000 }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawException {
    ring_size: Option<Spanned<usize>>,
    rate_pps: Option<Spanned<u32>>,
    burst: Option<Spanned<u32>>,
}

/// Longest interface name Linux takes (IFNAMSIZ - 1).
pub const IFNAME_MAX: usize = 15;

pub(super) fn parse_exception(cx: &Ctx, raw: Option<RawException>) -> Result<ExceptionParams, ConfigError> {
    let mut e = ExceptionParams::default();
    let Some(r) = raw else { return Ok(e) };
    if let Some(n) = r.ring_size {
        if !(16..=65536).contains(n.get_ref()) {
            return cx.err(n.span(), "exception ring_size must be between 16 and 65536");
        }
        e.ring_size = *n.get_ref();
    }
    if let Some(n) = r.rate_pps {
        if *n.get_ref() == 0 {
            return cx.err(
                n.span(),
                "exception rate_pps must be at least 1 (kernel_if = \"none\" turns the path off)",
            );
        }
        e.rate_pps = *n.get_ref();
        e.burst = e.burst.min(e.rate_pps.max(1));
    }
    if let Some(n) = r.burst {
        if *n.get_ref() == 0 {
            return cx.err(n.span(), "exception burst must be at least 1");
        }
        e.burst = *n.get_ref();
    }
    Ok(e)
}

/// A port's `kernel_if` and `kernel_name`; `port_span` is where the port's name is.
pub(super) fn parse_kernel_if(
    cx: &Ctx,
    port: &str,
    port_span: std::ops::Range<usize>,
    kind: Option<&Spanned<String>>,
    name: Option<&Spanned<String>>,
) -> Result<KernelIf, ConfigError> {
    let (k, line) = match kind {
        None => (KernelIfKind::None, cx.line_of(port_span.start)),
        Some(s) => {
            let k = match s.get_ref().as_str() {
                "none" => KernelIfKind::None,
                "tap" => KernelIfKind::Tap,
                "virtio_user" => KernelIfKind::VirtioUser,
                other => {
                    return cx.err(
                        s.span(),
                        format!("unknown kernel_if `{other}` (\"tap\", \"virtio_user\" or \"none\")"),
                    )
                }
            };
            (k, cx.line_of(s.span().start))
        }
    };
    let ifname = match name {
        Some(n) => {
            let v = n.get_ref();
            if !valid_ifname(v) {
                return cx.err(
                    n.span(),
                    format!("bad kernel_name `{v}`: 1 to {IFNAME_MAX} letters, digits, '-', '_' or '.'"),
                );
            }
            if k == KernelIfKind::None {
                return cx.err(n.span(), "kernel_name without kernel_if = \"tap\" or \"virtio_user\"");
            }
            v.clone()
        }
        None => {
            let mut d = format!("rvs-{port}");
            d.truncate(IFNAME_MAX);
            if k != KernelIfKind::None && !valid_ifname(&d) {
                return cx
                    .err(port_span, format!("port `{port}`: name the kernel interface with kernel_name"));
            }
            d
        }
    };
    Ok(KernelIf { kind: k, name: ifname, line })
}

fn valid_ifname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= IFNAME_MAX
        && s != "."
        && s != ".."
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;
    use std::path::Path;

    fn cfg(port_extra: &str, section: &str) -> String {
        format!(
            "[dataplane]\nworkers = [1]\n\n[[port]]\nname = \"client\"\ndevice = \"net_af_packet0\"\n{port_extra}\n{section}\n"
        )
    }

    #[test]
    fn defaults_to_no_kernel_interface() {
        let c = parse(Path::new("r.toml"), &cfg("", "")).unwrap();
        assert_eq!(c.ports[0].kernel.kind, KernelIfKind::None);
        assert_eq!(c.exception, ExceptionParams::default());
    }

    #[test]
    fn tap_with_a_name_and_limits() {
        let c = parse(
            Path::new("r.toml"),
            &cfg(
                "kernel_if = \"tap\"\nkernel_name = \"x10-kc\"",
                "[exception]\nring_size = 256\nrate_pps = 500\nburst = 50",
            ),
        )
        .unwrap();
        assert_eq!(c.ports[0].kernel, KernelIf { kind: KernelIfKind::Tap, name: "x10-kc".into(), line: 7 });
        assert_eq!(c.exception, ExceptionParams { ring_size: 256, rate_pps: 500, burst: 50 });
        let c = parse(Path::new("r.toml"), &cfg("kernel_if = \"virtio_user\"", "")).unwrap();
        assert_eq!(c.ports[0].kernel.kind, KernelIfKind::VirtioUser);
        assert_eq!(c.ports[0].kernel.name, "rvs-client", "a default name from the port's");
    }

    #[test]
    fn bad_values_name_their_line() {
        let cases: &[(&str, &str, usize, &str)] = &[
            ("kernel_if = \"kni\"", "", 7, "unknown kernel_if `kni`"),
            ("kernel_if = \"tap\"\nkernel_name = \"much-too-long-name\"", "", 8, "bad kernel_name"),
            ("kernel_if = \"tap\"\nkernel_name = \"a b\"", "", 8, "bad kernel_name"),
            ("kernel_name = \"k0\"", "", 7, "kernel_name without kernel_if"),
            ("", "[exception]\nrate_pps = 0", 9, "rate_pps must be at least 1"),
            ("", "[exception]\nring_size = 4", 9, "ring_size must be between"),
            ("", "[exception]\nburst = 0", 9, "burst must be at least 1"),
            ("", "[exception]\nrate = 5", 9, "unknown field `rate`"),
        ];
        for (port, section, line, msg) in cases {
            let e = parse(Path::new("r.toml"), &cfg(port, section)).unwrap_err();
            assert_eq!(e.line, *line, "{port} {section}: {e}");
            assert!(e.message.contains(msg), "{port} {section}: {e}");
        }
    }

    #[test]
    fn two_ports_cannot_share_a_kernel_name() {
        let text = "[dataplane]\nworkers = [1]\n[[port]]\nname = \"a\"\ndevice = \"net_ring0\"\nkernel_if = \"tap\"\nkernel_name = \"k\"\n[[port]]\nname = \"b\"\ndevice = \"net_ring1\"\nkernel_if = \"tap\"\nkernel_name = \"k\"\n";
        let e = parse(Path::new("r.toml"), text).unwrap_err();
        assert_eq!(e.line, 12, "{e}");
        assert!(e.message.contains("kernel_name `k` is used by port `a`"), "{e}");
    }
}
