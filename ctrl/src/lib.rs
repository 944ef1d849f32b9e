//! rvs-ctrl: the administration side of RVS.
//!
//! [`adm`] holds `rvsadm`, the ipvsadm-compatible command line tool: argv parsing
//! ([`adm::args`]), output formatting ([`adm::format`]) and the glue that turns a parsed
//! command into control-socket calls ([`adm::run`]). Parsing and formatting are pure
//! functions so they can be tested without a daemon; the binary is a thin wrapper.
//!
//! The `rvs-ctrl` daemon reads a keepalived.conf ([`keepalived`]), health-checks the real
//! servers ([`check`]) and keeps rvsd's virtual-service table equal to what the
//! configuration and the checks say ([`sync`], [`daemon`]). It serves `/metrics` and a
//! JSON API ([`api`]) and a live dashboard ([`dashboard`]) whose changes are overrides on top
//! of the file ([`overrides`]), and can announce the VIPs with quorum to BIRD ([`bird`]). Its
//! `vrrp_*` blocks run the real keepalived for VRRP, and rvsd's VIP ownership follows each
//! instance's state ([`vrrp`]).

pub mod adm;
pub mod api;
pub mod bird;
pub mod check;
pub mod cluster;
pub mod ctrl_args;
pub mod daemon;
pub mod dashboard;
pub mod keepalived;
pub mod overrides;
pub mod sync;
pub mod vrrp;

#[cfg(test)]
pub(crate) mod testutil;
