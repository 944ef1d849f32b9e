#!/usr/bin/env bash
# The Debian package (scripts/package.sh) installed into a throwaway root: an overlay of
# this machine's / (a private mount namespace; nothing is installed on the machine itself).
#   - the .deb's files: binaries, units, conffiles, man pages (man -l renders them),
#     completions (bash -n), ipvsadm alias; `systemd-analyze verify` accepts the units;
#   - the units run: with systemd as PID 1 `systemctl start`; otherwise (containers, this CI)
#     each unit's ExecStartPre/ExecStart lines run by hand in the lab's namespaces, chrooted
#     into the throwaway root: rvsd brings up the lab, rvs-ctrl its keepalived.conf, curls
#     through the VIP are answered; ExecReload (config test, then SIGHUP) applies a weight
#     change, and refuses a broken file leaving the table as it was;
#   - `apt-get remove` stops both daemons (prerm) and leaves only the conffiles; purge
#     leaves nothing.
if [[ -z ${RVS_PKG_MOUNTNS:-} ]]; then
  # Mounts made from here on vanish with this process tree.
  RVS_PKG_MOUNTNS=1 exec unshare --mount --propagation private bash "$0" "$@"
fi
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/ctrl-lib.sh
source "$(dirname "$0")/ctrl-lib.sh"

M=/tmp/$RVS_LAB-pkgroot # the throwaway root (overlay merged dir), outside $CFG_DIR
SVC="TCP  $VIP:80"
ALL="198.19.0.11:80 1,198.19.0.12:80 1,198.19.0.13:80 1"
RVSD_MAIN=
CTRL_MAIN=

# Unmount before lib.sh's cleanup removes anything: nothing may delete through a bind mount.
# shellcheck disable=SC2317 # (run by the EXIT trap)
pkg_cleanup() {
  local p
  for p in $CTRL_MAIN $RVSD_MAIN; do kill -KILL "$p" 2>/dev/null; done
  for p in dev/pts dev sys proc ""; do
    mountpoint -q "$M/merged/$p" && umount -l "$M/merged/$p"
  done
  mountpoint -q "$M" && umount -l "$M"
  mountpoint -q "$M" || rm -rf "$M"
}
trap 'rc=$?; pkg_cleanup; (exit $rc); _cleanup' EXIT

in_root() { env -u RVSD_SOCKET chroot "$M/merged" "$@"; }
# The installed rvsadm, for lib.sh's helpers (reals_of, wait_reals).
printf '#!/bin/sh\nexec env -u RVSD_SOCKET chroot %s/merged /usr/sbin/rvsadm "$@"\n' "$M" >"$CFG_DIR/rvsadm"
chmod 755 "$CFG_DIR/rvsadm"
RVSADM=$CFG_DIR/rvsadm

# unit_lines UNIT KEY: the KEY= lines of an installed unit.
unit_lines() { sed -n "s/^$2=//p" "$M/merged/lib/systemd/system/$1"; }
# run_line NS LINE: one Exec line as systemd would run it (EnvironmentFile read, $MAINPID
# set), chrooted into the throwaway root, in network namespace NS. nsenter, not `ip netns
# exec`, which would also give it a mount namespace of its own: the prerm's
# start-stop-daemon --exec could not resolve its executable from there (a test artifact;
# systemd's units run in the host's mount namespace).
run_line() {
  nsenter --net="/run/netns/$1" env -u RVSD_SOCKET MAINPID="${MAINPID:-}" chroot "$M/merged" /bin/sh -c \
    "[ -r /etc/default/rvs-ctrl ] && . /etc/default/rvs-ctrl; exec $2"
}

# ------------------------------------------------------------------ build and look
say "building the package (scripts/package.sh)"
DEB=$("$ROOT/scripts/package.sh" "$CFG_DIR/pkg" | tail -n 1) || die "scripts/package.sh failed"
[[ -f $DEB ]] || die "no .deb: $DEB"
pass "built $(basename "$DEB") ($(du -k "$DEB" | cut -f1) KiB)"
contents=$(dpkg-deb -c "$DEB" | awk '{print $6}')
for f in ./usr/sbin/rvsd ./usr/sbin/rvs-ctrl ./usr/sbin/rvsadm ./usr/lib/rvs/bin/ipvsadm \
  ./lib/systemd/system/rvsd.service ./lib/systemd/system/rvs-ctrl.service ./etc/rvs/rvsd.toml \
  ./etc/rvs/keepalived.conf ./etc/default/rvs-ctrl ./usr/share/man/man8/rvsd.8.gz \
  ./usr/share/man/man8/rvs-ctrl.8.gz ./usr/share/man/man8/rvsadm.8.gz \
  ./usr/share/bash-completion/completions/rvsadm ./usr/share/doc/rvs/operator-guide.md; do
  grep -qxF -- "$f" <<<"$contents" || fail "the .deb lacks $f"
done
pass "the .deb holds binaries, units, configs, man pages, completions, docs"
assert_eq "conffiles" "/etc/default/rvs-ctrl /etc/rvs/keepalived.conf /etc/rvs/rvsd.toml" \
  "$(dpkg-deb -I "$DEB" conffiles | sort | paste -sd' ')"

# ------------------------------------------------------------------ throwaway root
mkdir -p "$M"
mount -t tmpfs -o size=1g rvs-pkgroot "$M" || die "cannot mount a tmpfs on $M"
mkdir -p "$M/upper" "$M/work" "$M/merged"
mount -t overlay overlay -o "lowerdir=/,upperdir=$M/upper,workdir=$M/work" "$M/merged" ||
  die "cannot mount an overlay of / on $M/merged"
mount -t proc proc "$M/merged/proc"
for d in sys dev; do
  mount --bind "/$d" "$M/merged/$d" && mount -o remount,bind,ro "$M/merged/$d"
done
mount --bind /dev/pts "$M/merged/dev/pts"
in_root dpkg -s rvs >/dev/null 2>&1 && die "rvs is already installed on this machine; the test needs a root without it"
cp "$DEB" "$M/merged/tmp/rvs.deb"
out=$(in_root dpkg -i /tmp/rvs.deb 2>&1)
assert_eq "dpkg -i exit status" 0 "$?"
indent <<<"$out"
assert_contains "dpkg -s rvs" "Status: install ok installed" "$(in_root dpkg -s rvs)"
for f in /usr/sbin/rvsd /usr/sbin/rvs-ctrl /usr/sbin/rvsadm; do
  [[ -x $M/merged$f ]] || fail "$f not installed"
done
assert_eq "ipvsadm alias -v" "$(in_root /usr/sbin/rvsadm -v)" "$(in_root /usr/lib/rvs/bin/ipvsadm -v)"
for m in rvsd rvs-ctrl rvsadm; do
  page=$(in_root env MANWIDTH=100 man -l "/usr/share/man/man8/$m.8.gz" 2>&1)
  if grep -q '^NAME' <<<"$page" && grep -q '^OPTIONS' <<<"$page"; then pass "man -l $m.8 renders (NAME, OPTIONS)"; else fail "man -l $m.8: $page"; fi
done
assert_contains "man rvs-ctrl documents --api-token-file" "api-token-file" "$(in_root man -l /usr/share/man/man8/rvs-ctrl.8.gz 2>/dev/null)"
for c in rvsd rvs-ctrl rvsadm; do
  bash -n "$M/merged/usr/share/bash-completion/completions/$c" || fail "bash completion of $c does not parse"
done
out=$(in_root systemd-analyze verify /lib/systemd/system/rvsd.service /lib/systemd/system/rvs-ctrl.service 2>&1)
assert_eq "systemd-analyze verify rvsd.service rvs-ctrl.service: exit status" 0 "$?"
[[ -n $out ]] && indent <<<"$out"
assert_contains "rvsd.service" "LimitMEMLOCK=infinity" "$(cat "$M/merged/lib/systemd/system/rvsd.service")"
assert_contains "rvs-ctrl.service" "Requires=rvsd.service" "$(cat "$M/merged/lib/systemd/system/rvs-ctrl.service")"

# ------------------------------------------------------------------ the units, running
pid1=$(cat /proc/1/comm)
if [[ $pid1 == systemd ]]; then
  say "PID 1 is systemd, but this test runs the units in the lab's namespaces by hand"
else
  say "PID 1 is '$pid1', not systemd: running the units' Exec lines by hand"
fi
lab_up
make_config 1 "$CFG_DIR/rvsd-full.toml"
# The operator's edits: this lab's ports, the default control socket, no [[service]].
awk '/^\[/ {skip = ($0 == "[[service]]")} !skip' "$CFG_DIR/rvsd-full.toml" |
  sed 's|^control_socket = .*|control_socket = "/run/rvsd/rvsd.sock"|' >"$M/merged/etc/rvs/rvsd.toml"
ip -n "$CTRL_NS" addr add "$MGMT_IP/24" dev br0 || die "cannot add $MGMT_IP to $CTRL_NS br0"
write_kconf() {
  {
    kconf_header
    echo "virtual_server $VIP 80 {"
    echo "  delay_loop 1"
    echo "  lb_algo wrr"
    echo "  lb_kind FNAT"
    echo "  protocol TCP"
    echo "  laddr_group_name lips"
    for rs in 1 2 3; do
      w=1
      ((rs == 1)) && w=$1
      echo "  real_server 198.19.0.1$rs 80 {"
      echo "    weight $w"
      echo "    TCP_CHECK { connect_timeout 1 }"
      echo "  }"
    done
    echo "}"
  } >"$M/merged/etc/rvs/keepalived.conf"
}
write_kconf 1

RVSD_LOG=$STATE/rvsd-$TEST_NAME.log
while read -r line; do
  run_line "$RVS_LAB-lb" "$line" >>"$RVSD_LOG" 2>&1 || fail "rvsd.service ExecStartPre failed: $line"
done < <(unit_lines rvsd.service ExecStartPre)
line=$(unit_lines rvsd.service ExecStart)
# RuntimeDirectory=rvsd
mkdir -p "$M/merged/run/rvsd"
# Not through run_line: $! must be the daemon itself (nsenter, env, chroot and sh exec it).
nsenter --net="/run/netns/$RVS_LAB-lb" env -u RVSD_SOCKET chroot "$M/merged" /bin/sh -c "exec $line" \
  </dev/null >>"$RVSD_LOG" 2>&1 &
RVSD_MAIN=$!
bg_track "$RVSD_MAIN"
wait_for 30 "rvsd's control socket" rvsadm -Ln >/dev/null 2>&1 || die "rvsd (ExecStart: $line) did not answer"
pass "rvsd.service's ExecStart runs (pid $RVSD_MAIN): $line"

CTRL_LOG=$STATE/rvs-ctrl-$TEST_NAME.log
while read -r line; do
  run_line "$CTRL_NS" "$line" >>"$CTRL_LOG" 2>&1 || fail "rvs-ctrl.service ExecStartPre failed: $line"
done < <(unit_lines rvs-ctrl.service ExecStartPre)
line=$(unit_lines rvs-ctrl.service ExecStart)
nsenter --net="/run/netns/$CTRL_NS" env -u RVSD_SOCKET chroot "$M/merged" /bin/sh -c \
  "[ -r /etc/default/rvs-ctrl ] && . /etc/default/rvs-ctrl; exec $line" </dev/null >>"$CTRL_LOG" 2>&1 &
CTRL_MAIN=$!
bg_track "$CTRL_MAIN"
assert_reals 15 "$SVC" "$ALL" "rvs-ctrl.service's ExecStart put the lab's servers in rvsd"
out=$(http_get_many 30)
assert_eq "curls through the VIP answered by rs1..3" 30 "$(grep -cE '^rs[123]$' <<<"$out")"
assert_eq "dashboard of the installed rvs-ctrl" 200 "$(api_status GET /)"

# systemctl reload: a weight change applies; a broken file fails the reload, nothing changes.
reload() {
  local l
  while read -r l; do
    MAINPID=$CTRL_MAIN run_line "$CTRL_NS" "$l" >>"$CTRL_LOG" 2>&1 || return 1
  done < <(unit_lines rvs-ctrl.service ExecReload)
}
write_kconf 3
reload || fail "ExecReload after a weight change"
assert_reals 10 "$SVC" "198.19.0.11:80 3,198.19.0.12:80 1,198.19.0.13:80 1" "ExecReload applied rs1's weight 3"
echo "virtual_server $VIP 80 {" >>"$M/merged/etc/rvs/keepalived.conf"
if reload; then fail "ExecReload accepted a broken keepalived.conf"; else pass "ExecReload refuses a broken keepalived.conf"; fi
sleep 2
assert_eq "table after the refused reload" "198.19.0.11:80 3,198.19.0.12:80 1,198.19.0.13:80 1" \
  "$(reals_of "$SVC" | sort | paste -sd, -)"
if kill -0 "$CTRL_MAIN" 2>/dev/null; then pass "rvs-ctrl still running"; else fail "rvs-ctrl died"; fi

# ------------------------------------------------------------------ remove, purge
out=$(in_root apt-get remove -y -q rvs 2>&1)
assert_eq "apt-get remove rvs: exit status" 0 "$?"
indent <<<"$(tail -n 3 <<<"$out")"
for p in "$RVSD_MAIN" "$CTRL_MAIN"; do
  wait_for 10 "pid $p gone" bash -c "! kill -0 $p 2>/dev/null" || fail "pid $p still runs after apt-get remove"
done
left=0
for e in /proc/[0-9]*/exe; do
  [[ $(readlink "$e" 2>/dev/null) == "$M/merged/usr/sbin/"* ]] && left=$((left + 1))
done
assert_eq "processes running the packaged binaries after remove" 0 "$left"
RVSD_MAIN=
CTRL_MAIN=
assert_contains "dpkg -s rvs after remove" "Status: deinstall ok config-files" "$(in_root dpkg -s rvs 2>&1)"
# shellcheck disable=SC2012 # (plain names)
files=$(cd "$M/merged" && ls -d usr/sbin/rvs* lib/systemd/system/rvs* usr/share/man/man8/rvs* usr/lib/rvs usr/share/doc/rvs etc/rvs/* etc/default/rvs-ctrl 2>/dev/null | sort | paste -sd' ')
assert_eq "files left after remove (conffiles only)" "etc/default/rvs-ctrl etc/rvs/keepalived.conf etc/rvs/rvsd.toml" "$files"
in_root dpkg --purge rvs >/dev/null 2>&1 || fail "dpkg --purge rvs"
# shellcheck disable=SC2012
files=$(cd "$M/merged" && ls -d etc/rvs etc/default/rvs-ctrl usr/sbin/rvs* 2>/dev/null | paste -sd' ')
assert_eq "files left after purge" "" "$files"
assert_contains "dpkg -s rvs after purge" "not installed" "$(in_root dpkg -s rvs 2>&1)"
finish
