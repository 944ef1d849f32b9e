#!/usr/bin/env bash
# CI checks of the monitoring examples: Prometheus rules (promtool check + its unit tests)
# and the Grafana dashboard (JSON schema, grid, metric names: scripts/check-examples.py).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v promtool >/dev/null || { echo "check-examples: promtool missing (Debian prometheus; scripts/setup.sh)" >&2; exit 1; }
promtool check rules examples/prometheus/rvs-rules.yml
(cd examples/prometheus && promtool test rules rvs-rules.test.yml)
/usr/bin/python3 scripts/check-examples.py
