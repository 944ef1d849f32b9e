//! keepalived.conf support: the syntax LVS operators already write, read into a typed
//! model of virtual services, real servers and health checkers.
//!
//! Three layers, each testable alone:
//! * [`preproc`]: keepalived's line-level rules: comments, `include`, `@ID` lines,
//!   `$NAME=` definitions, `~SEQ`/`~LST`;
//! * [`lexer`]: words, quoted strings and braces with file:line;
//! * [`parser`]: the generic tree of `keyword args... [{ block }]` statements;
//! * [`model`]: the typed [`Config`], with keepalived's defaults, and diagnostics.
//!
//! [`load`] runs them all. Hard errors (bad addresses, duplicates, unsupported forwarding
//! methods, ...) are all collected so `rvs-ctrl -t` can show every one of them at once;
//! warnings (unknown or unsupported keywords) and infos (VRRP blocks left to keepalived)
//! come back beside a successful result.

pub mod lexer;
pub mod model;
pub mod parser;
pub mod preproc;

pub use lexer::Loc;
pub use model::{
    CheckKind, CheckerConf, Config, HttpUrl, Notify, NotifyScript, RealServer, RunAs, Script, Sni,
    StatusCodes, SyncDaemon, VirtualServer, Vrrp, VrrpInstance, SCHEDULERS,
};
pub use preproc::Options;

use std::fmt;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
    Info,
}

/// One message about the configuration, with where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diag {
    pub severity: Severity,
    pub loc: Option<Loc>,
    pub msg: String,
}

impl Diag {
    pub fn new(severity: Severity, loc: Option<Loc>, msg: impl Into<String>) -> Self {
        Diag { severity, loc, msg: msg.into() }
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.loc {
            Some(l) => write!(f, "{l}: {}", self.msg),
            None => f.write_str(&self.msg),
        }
    }
}

/// A configuration that can be run, and what was noticed while reading it.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// Warnings and infos.
    pub diags: Vec<Diag>,
}

/// Why a configuration cannot be run.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Parse(#[from] parser::ParseError),
    #[error("{} error(s) in the configuration, first: {}", errors.len(), errors[0])]
    Invalid {
        errors: Vec<Diag>,
        /// Warnings and infos seen on the way.
        diags: Vec<Diag>,
    },
}

impl ConfigError {
    /// Every error, one per line, each with its file:line.
    pub fn lines(&self) -> Vec<String> {
        match self {
            ConfigError::Parse(e) => vec![e.to_string()],
            ConfigError::Invalid { errors, .. } => errors.iter().map(ToString::to_string).collect(),
        }
    }
}

/// Reads, parses and checks the configuration at `path` (and its includes), with
/// keepalived's default config id (the host name) for `@ID` lines.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    load_with(path, &Options::default())
}

/// As [`load`], with `opts` (keepalived's `-i ID`).
pub fn load_with(path: &Path, opts: &Options) -> Result<Loaded, ConfigError> {
    let mut diags = Vec::new();
    let stmts = parser::parse_file(path, opts, &mut diags)?;
    model::build(&stmts, diags)
}

/// As [`load`], for text held in memory and named `name` in messages.
pub fn load_str(name: &str, text: &str) -> Result<Loaded, ConfigError> {
    load_str_with(name, text, &Options::default())
}

/// As [`load_str`], with `opts`.
pub fn load_str_with(name: &str, text: &str, opts: &Options) -> Result<Loaded, ConfigError> {
    let mut diags = Vec::new();
    let file: std::sync::Arc<Path> = Path::new(name).into();
    let stmts = parser::parse_text(&file, text, opts, &mut diags)?;
    model::build(&stmts, diags)
}
