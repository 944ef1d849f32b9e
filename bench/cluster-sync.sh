#!/usr/bin/env bash
# ECMP cluster sync at scale (issue 11, must-show 6): sync traffic per 100k new
# connections/s and the receiving member's CPU per synced session, from
# dataplane/core/benches/cluster_sync.rs (sans-IO: real pipelines, real sealing and
# verification, no DPDK). Writes bench/results/cluster-sync-<commit>.json.
#   bench/cluster-sync.sh [--conns N]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
commit=$(git rev-parse --short HEAD)
out=bench/results/cluster-sync-$commit.json
mkdir -p bench/results
cargo bench -p rvs-core --bench cluster_sync -- "$@" | tail -n 1 | tee "$out"
echo "bench: wrote $out" >&2
