//! Who a VRRP notify script runs as, as keepalived decides it: the script's own
//! `USER [GROUP]` words, else `global_defs { script_user USER [GROUP] }`, else the
//! `keepalived_script` user when the host has one, else the daemon's own user.

use std::ffi::CString;

/// A user (and group) resolved on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    /// As written (`user` or `user:group`), for logs.
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// The uid and primary gid of `user`, or None when the host has no such user.
fn passwd(user: &str) -> Option<(u32, u32)> {
    let name = CString::new(user).ok()?;
    let mut buf = vec![0u8; 16384];
    // SAFETY: `pwd` and `buf` outlive the call; getpwnam_r writes only into them and
    // points `out` at `pwd` or sets it to null.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut out: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwnam_r(name.as_ptr(), &mut pwd, buf.as_mut_ptr().cast(), buf.len(), &mut out);
        (rc == 0 && !out.is_null()).then_some((pwd.pw_uid, pwd.pw_gid))
    }
}

/// The gid of `group` (a name, or a number as keepalived also takes).
fn group_id(group: &str) -> Option<u32> {
    if let Ok(n) = group.parse() {
        return Some(n);
    }
    let name = CString::new(group).ok()?;
    let mut buf = vec![0u8; 16384];
    // SAFETY: as in `passwd`, with getgrnam_r.
    unsafe {
        let mut grp: libc::group = std::mem::zeroed();
        let mut out: *mut libc::group = std::ptr::null_mut();
        let rc = libc::getgrnam_r(name.as_ptr(), &mut grp, buf.as_mut_ptr().cast(), buf.len(), &mut out);
        (rc == 0 && !out.is_null()).then_some(grp.gr_gid)
    }
}

/// `user` (a name or a uid) with `group`, or the user's own group. Err says which is unknown.
/// A number the user database lacks is taken as the uid, its group the same number.
pub fn resolve(user: &str, group: Option<&str>) -> Result<RunAs, String> {
    let (uid, own_gid) = match passwd(user).or_else(|| user.parse().ok().map(|n| (n, n))) {
        Some(p) => p,
        None => return Err(format!("no user {user:?} on this host")),
    };
    let gid = match group {
        None => own_gid,
        Some(g) => group_id(g).ok_or_else(|| format!("no group {g:?} on this host"))?,
    };
    let name = group.map_or_else(|| user.to_string(), |g| format!("{user}:{g}"));
    Ok(RunAs { name, uid, gid })
}

/// `USER [GROUP]` words (a script's, a MISC_CHECK's `user`, `script_user`'s), resolved.
pub fn resolve_words(words: &[String]) -> Result<RunAs, String> {
    match words {
        [user] => resolve(user, None),
        [user, group] => resolve(user, Some(group)),
        _ => Err("needs a user name and, optionally, a group name".into()),
    }
}

/// keepalived's default when there is no `script_user`: `keepalived_script` if it exists.
pub fn default_user() -> Option<RunAs> {
    resolve("keepalived_script", None).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_groups_resolve_as_on_the_host() {
        assert_eq!(resolve("root", None), Ok(RunAs { name: "root".into(), uid: 0, gid: 0 }));
        let r = resolve("root", Some("0")).unwrap();
        assert_eq!((r.name.as_str(), r.uid, r.gid), ("root:0", 0, 0));
        assert_eq!(
            resolve("no-such-user-rvs", None),
            Err("no user \"no-such-user-rvs\" on this host".into())
        );
        assert_eq!(
            resolve("root", Some("no-such-group-rvs")),
            Err("no group \"no-such-group-rvs\" on this host".into())
        );
    }
}
