#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60): scripts/fuzz.sh [SECONDS] [TARGET...]
# cargo-fuzz needs nightly features; the stable toolchain gets them with RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../fuzz"
secs=${1:-60}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(wire ipv6 pipeline pipeline_stateful config keepalived sync)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
for t in "${targets[@]}"; do
  echo "== fuzz $t for ${secs}s"
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" -- -max_total_time="$secs"
done
