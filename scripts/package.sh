#!/usr/bin/env bash
# Builds the Debian package of RVS with dpkg-deb: rvsd, rvs-ctrl, rvsadm (and ipvsadm as
# /usr/lib/rvs/bin/ipvsadm), systemd units, default configs in /etc/rvs (conffiles), man
# pages and shell completions generated from the command-line definitions, docs and the
# monitoring examples.
#
#   scripts/package.sh [OUTDIR]    (default target/package; prints the .deb's path last)
#
# Runs `cargo build --release` over the whole workspace, as scripts/test.sh does (a no-op
# after it; building single packages would unify dependency features differently and
# rebuild).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/target/package}
cd "$ROOT"

for tool in dpkg-deb dpkg-shlibdeps objcopy gzip; do
  command -v "$tool" >/dev/null || { echo "package.sh: $tool missing (scripts/setup.sh: dpkg-dev, binutils)" >&2; exit 1; }
done

cargo build --release -q
REL=$ROOT/target/release

VERSION=$(cargo metadata --no-deps --format-version 1 |
  /usr/bin/python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "rvs-ctrl"))')
ARCH=$(dpkg --print-architecture)
STAGE=$OUT/stage
rm -rf "$STAGE"
mkdir -p "$STAGE/DEBIAN"

# Binaries, without their debug info (the release profile keeps line tables for profiling).
install -d "$STAGE/usr/sbin" "$STAGE/usr/lib/rvs/bin"
for b in rvsd rvs-ctrl rvsadm; do
  objcopy --strip-debug "$REL/$b" "$STAGE/usr/sbin/$b"
  chmod 755 "$STAGE/usr/sbin/$b"
done
# ipvsadm for tools that call it by name (lvs-rrd, scripts): put /usr/lib/rvs/bin first
# in their PATH. Not in /usr/sbin, where Debian's ipvsadm package lives.
ln -s /usr/sbin/rvsadm "$STAGE/usr/lib/rvs/bin/ipvsadm"

# systemd units, defaults, configs.
install -D -m 644 packaging/systemd/rvsd.service "$STAGE/lib/systemd/system/rvsd.service"
install -D -m 644 packaging/systemd/rvs-ctrl.service "$STAGE/lib/systemd/system/rvs-ctrl.service"
install -D -m 644 packaging/etc/rvs/rvsd.toml "$STAGE/etc/rvs/rvsd.toml"
install -D -m 644 packaging/etc/rvs/keepalived.conf "$STAGE/etc/rvs/keepalived.conf"
install -D -m 644 packaging/etc/default/rvs-ctrl "$STAGE/etc/default/rvs-ctrl"

# Man pages and completions from the clap definitions.
GEN=$OUT/gen
rm -rf "$GEN"
"$REL/rvsd-gen-docs" "$GEN"
"$REL/rvs-gen-docs" "$GEN"
install -d "$STAGE/usr/share/man/man8"
for m in "$GEN"/man8/*.8; do
  name=${m##*/}
  gzip -9n <"$m" >"$STAGE/usr/share/man/man8/$name.gz"
done
install -D -m 644 -t "$STAGE/usr/share/bash-completion/completions" "$GEN"/completions/bash/*
install -D -m 644 -t "$STAGE/usr/share/zsh/vendor-completions" "$GEN"/completions/zsh/*
install -D -m 644 -t "$STAGE/usr/share/fish/vendor_completions.d" "$GEN"/completions/fish/*

# Docs and examples.
DOC=$STAGE/usr/share/doc/rvs
install -D -m 644 -t "$DOC" README.md docs/operator-guide.md docs/keepalived.md docs/performance.md docs/architecture.md
install -D -m 644 -t "$DOC/examples/grafana" examples/grafana/rvs-dashboard.json
install -D -m 644 -t "$DOC/examples/prometheus" examples/prometheus/rvs-rules.yml
install -D -m 644 -t "$DOC/examples" examples/keepalived.conf
gzip -9n "$DOC/README.md"
cat >"$DOC/copyright" <<COPY
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: rvs

Files: *
License: Apache-2.0
 On Debian systems, the full text is in /usr/share/common-licenses/Apache-2.0.
COPY

# Control files.
install -m 755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$STAGE/DEBIAN/"
(cd "$STAGE" && find etc -type f | sed 's|^|/|' | sort) >"$STAGE/DEBIAN/conffiles"
# Shared-library dependencies (DPDK's, libc) as dpkg-shlibdeps finds them.
SHL=$OUT/shlibdeps
rm -rf "$SHL"
mkdir -p "$SHL/debian"
printf 'Source: rvs\n\nPackage: rvs\nArchitecture: any\n' >"$SHL/debian/control"
DEPENDS=$(cd "$SHL" && dpkg-shlibdeps -O "$STAGE/usr/sbin/rvsd" "$STAGE/usr/sbin/rvs-ctrl" "$STAGE/usr/sbin/rvsadm" 2>/dev/null |
  sed -n 's/^shlibs:Depends=//p')
[[ -n $DEPENDS ]] || { echo "package.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
SIZE=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@DEPENDS@/$DEPENDS/" -e "s/@SIZE@/$SIZE/" \
  packaging/debian/control.in >"$STAGE/DEBIAN/control"
(cd "$STAGE" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) >"$STAGE/DEBIAN/md5sums"

DEB=$OUT/rvs_${VERSION}_$ARCH.deb
dpkg-deb --root-owner-group -Zxz --build "$STAGE" "$DEB" >/dev/null
echo "$DEB"
