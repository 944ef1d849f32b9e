//! Who may change things through the HTTP API: reads are open (metrics, the dashboard,
//! the service list), changes need `Authorization: Bearer TOKEN` with the token from the
//! file given to `--api-token-file`. Without that option the API is read-only, so a
//! listener opened for Prometheus or the dashboard does not hand out the table.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot read the API token file {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error(
        "the API token file {} is readable by group or others (mode {mode:o}); run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error("the API token file {} is empty (or only whitespace)", path.display())]
    Empty { path: PathBuf },
    #[error("the API token file {} holds a token shorter than 16 characters", path.display())]
    Short { path: PathBuf },
}

/// The token write requests must carry; None: the API is read-only.
#[derive(Clone, Default)]
pub struct Auth {
    token: Option<String>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.token.is_some() { "Auth(token)" } else { "Auth(read-only)" })
    }
}

/// Why a request was refused: HTTP status and message.
pub type Refusal = (u16, String);

impl Auth {
    pub fn read_only() -> Self {
        Auth { token: None }
    }

    pub fn with_token(token: impl Into<String>) -> Self {
        Auth { token: Some(token.into()) }
    }

    /// Reads the token (the file's first line, trimmed), refusing a file others can read.
    pub fn from_file(path: &Path) -> Result<Self, TokenError> {
        let read = |source| TokenError::Read { path: path.to_path_buf(), source };
        let meta = std::fs::metadata(path).map_err(read)?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(TokenError::Permissions { path: path.to_path_buf(), mode });
        }
        let text = std::fs::read_to_string(path).map_err(read)?;
        let token = text.lines().next().unwrap_or("").trim().to_string();
        if token.is_empty() {
            return Err(TokenError::Empty { path: path.to_path_buf() });
        }
        if token.len() < 16 {
            return Err(TokenError::Short { path: path.to_path_buf() });
        }
        Ok(Auth { token: Some(token) })
    }

    pub fn writable(&self) -> bool {
        self.token.is_some()
    }

    /// Whether a request may proceed: reads always; changes with the right bearer token.
    pub fn check(&self, method: &str, authorization: Option<&str>) -> Result<(), Refusal> {
        if matches!(method, "GET" | "HEAD") {
            return Ok(());
        }
        let Some(token) = &self.token else {
            return Err((
                403,
                "the API is read-only: start rvs-ctrl with --api-token-file FILE to allow changes".into(),
            ));
        };
        let given = authorization.and_then(|h| {
            let (scheme, rest) = h.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        });
        match given {
            None => Err((401, "changes need an \"Authorization: Bearer TOKEN\" header".into())),
            Some(g) if constant_time_eq(g.as_bytes(), token.as_bytes()) => Ok(()),
            Some(_) => Err((401, "wrong API token".into())),
        }
    }
}

/// Compares without stopping at the first difference, so the time taken does not tell
/// how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i % b.len().max(1)).copied().unwrap_or(0));
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    #[test]
    fn reads_open_writes_need_the_token() {
        let ro = Auth::read_only();
        assert!(ro.check("GET", None).is_ok());
        assert_eq!(ro.check("POST", Some("Bearer x")).unwrap_err().0, 403);
        let a = Auth::with_token("0123456789abcdef");
        assert!(a.check("GET", None).is_ok());
        assert_eq!(a.check("POST", None).unwrap_err().0, 401);
        assert_eq!(a.check("PUT", Some("Bearer 0123456789abcdeX")).unwrap_err().0, 401);
        assert_eq!(a.check("PUT", Some("Bearer 0123456789abcdef0")).unwrap_err().0, 401);
        assert_eq!(a.check("PUT", Some("Basic 0123456789abcdef")).unwrap_err().0, 401);
        assert!(a.check("DELETE", Some("bearer  0123456789abcdef ")).is_ok());
    }

    #[test]
    fn token_file_must_be_private() {
        let dir = TempDir::new("auth");
        let p = dir.path().join("token");
        std::fs::write(&p, "0123456789abcdef\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = Auth::from_file(&p).unwrap_err().to_string();
        assert!(e.contains(&p.display().to_string()) && e.contains("chmod 600"), "{e}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(Auth::from_file(&p).unwrap().writable());
        std::fs::write(&p, "short\n").unwrap();
        assert!(matches!(Auth::from_file(&p), Err(TokenError::Short { .. })));
        std::fs::write(&p, "\n").unwrap();
        assert!(matches!(Auth::from_file(&p), Err(TokenError::Empty { .. })));
        assert!(matches!(Auth::from_file(&dir.path().join("none")), Err(TokenError::Read { .. })));
    }
}
