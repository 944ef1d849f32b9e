//! VRRP notify scripts: `notify_master`, `notify_backup`, `notify_fault`, `notify_stop`
//! and `notify` of a `vrrp_instance` or `vrrp_sync_group`, and who they run as.

use super::ctx::Ctx;
use super::vrrp::Vrrp;
use super::*;

/// Notify scripts, run by rvs-ctrl after rvsd's ownership follows the new state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notify {
    pub master: Option<NotifyScript>,
    pub backup: Option<NotifyScript>,
    pub fault: Option<NotifyScript>,
    pub stop: Option<NotifyScript>,
    /// `notify`: run with `INSTANCE|GROUP NAME STATE PRIORITY` appended.
    pub any: Option<NotifyScript>,
}

/// `notify_* "COMMAND ARGS" [USER [GROUP]]`: run as keepalived would run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyScript {
    pub script: Script,
    /// The script's `USER [GROUP]`, else `script_user`, else `keepalived_script` if the
    /// host has it; None: rvs-ctrl's own user (root, as keepalived's last resort).
    pub run_as: Option<super::RunAs>,
}

pub(super) fn notify_kw(cx: &mut Ctx, k: &Stmt, n: &mut Notify) -> bool {
    let slot = match k.keyword.as_str() {
        "notify_master" => &mut n.master,
        "notify_backup" => &mut n.backup,
        "notify_fault" => &mut n.fault,
        "notify_stop" => &mut n.stop,
        "notify" => &mut n.any,
        _ => return false,
    };
    // keepalived 2 keeps the first: "(VI_1) notify_master script already specified - ignoring".
    if let Some(first) = slot {
        let at = first.script.loc.clone();
        cx.warn(
            &k.loc,
            format!("'{}' already given at {at}: ignored, as keepalived keeps the first", k.keyword),
        );
        return true;
    }
    *slot = notify_script(cx, k);
    true
}

/// keepalived takes the command as one word (quoted when it has arguments) and the words
/// after it as the user and group to run it as; a user the host does not have makes
/// keepalived ignore the script, so it is refused here (an unquoted command with arguments
/// is the usual cause).
fn notify_script(cx: &mut Ctx, k: &Stmt) -> Option<NotifyScript> {
    let cmd = cx.arg(k, 0)?;
    let argv = super::split_words(cmd);
    if argv.is_empty() {
        cx.error(&k.loc, format!("'{}': empty command", k.keyword));
        return None;
    }
    let script = Script { argv, loc: k.loc.clone() };
    let run_as = match &k.args[1..] {
        [] => None,
        [user, group @ ..] if group.len() <= 1 => {
            match super::runas::resolve(user, group.first().map(String::as_str)) {
                Ok(r) => Some(r),
                Err(e) => {
                    cx.error(
                        &k.loc,
                        format!(
                            "'{}': {e}, to run {cmd:?} as (keepalived would ignore the script; quote the \
                         command if {user:?} is its argument)",
                            k.keyword
                        ),
                    );
                    return None;
                }
            }
        }
        _ => {
            cx.error(
                &k.loc,
                format!(
                    "'{}': words after the user and group: quote the command with its arguments",
                    k.keyword
                ),
            );
            return None;
        }
    };
    Some(NotifyScript { script, run_as })
}

/// The user scripts without their own run as: `global_defs { script_user USER [GROUP] }`,
/// else `keepalived_script` when the host has it (keepalived's rule, for notify scripts
/// and MISC_CHECKs alike); given to `v`'s notify scripts and returned.
pub(super) fn script_users(cx: &mut Ctx, v: &mut Vrrp) -> Option<super::runas::RunAs> {
    let default = match v.globals.iter().rev().find(|g| g.keyword == "script_user") {
        Some(g) => match super::runas::resolve_words(&g.args) {
            Ok(r) => Some(r),
            Err(e) => {
                cx.error(&g.loc, format!("script_user: {e}"));
                return None;
            }
        },
        None => super::runas::default_user(),
    };
    let default = default?;
    let notifies =
        v.instances.iter_mut().map(|i| &mut i.notify).chain(v.groups.iter_mut().map(|g| &mut g.notify));
    for n in notifies {
        for s in [&mut n.master, &mut n.backup, &mut n.fault, &mut n.stop, &mut n.any].into_iter().flatten() {
            s.run_as.get_or_insert_with(|| default.clone());
        }
    }
    Some(default)
}
