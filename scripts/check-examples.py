#!/usr/bin/python3
"""Checks examples/grafana/rvs-dashboard.json: valid against examples/grafana/dashboard.schema.json,
unique panel ids, panels inside the 24-column grid and not overlapping, and every metric its
queries name is one rvs-ctrl exports (ctrl/src/api/*.rs) or a recording rule of
examples/prometheus/rvs-rules.yml; the same for the rules' own expressions."""
import json
import re
import sys
from pathlib import Path

import jsonschema

ROOT = Path(__file__).resolve().parent.parent
errors = []

schema = json.loads((ROOT / "examples/grafana/dashboard.schema.json").read_text())
dash = json.loads((ROOT / "examples/grafana/rvs-dashboard.json").read_text())
for e in jsonschema.Draft202012Validator(schema).iter_errors(dash):
    errors.append(f"schema: {'/'.join(map(str, e.absolute_path))}: {e.message}")

# Every family rvs-ctrl's API modules name (metrics.rs, vrrp.rs, sync_metrics.rs, ...).
api_text = "".join(p.read_text() for p in sorted((ROOT / "ctrl/src/api").glob("*.rs")))
exported = set(re.findall(r'"(rvs_[a-z0-9_]+)"', api_text))
# Families built from a prefix and a suffix (rvs_vs_ + conns_total, ...).
suffixes = re.findall(r'\("([a-z_]+_total)", "', (ROOT / "ctrl/src/api/metrics.rs").read_text())
exported |= {f"rvs_{k}_{s}" for k in ("vs", "rs") for s in suffixes}
rules_text = (ROOT / "examples/prometheus/rvs-rules.yml").read_text()
recorded = set(re.findall(r"record:\s*(\S+)", rules_text))
known = exported | recorded | {"up"}
metric = re.compile(r"\b(rvs_[a-z0-9_]+|rvs:[a-z0-9_:]+)")


def check_expr(where, expr):
    for m in metric.findall(expr):
        if m not in known:
            errors.append(f"{where}: unknown metric {m} (not in rvs-ctrl's /metrics nor a recording rule)")


ids = set()
cells = {}
for p in dash.get("panels", []):
    pid, g = p.get("id"), p.get("gridPos", {})
    if pid in ids:
        errors.append(f"panel id {pid} used twice")
    ids.add(pid)
    if g.get("x", 0) + g.get("w", 0) > 24:
        errors.append(f"panel {pid} ({p.get('title')}) goes past the 24-column grid")
    for x in range(g.get("x", 0), g.get("x", 0) + g.get("w", 0)):
        for y in range(g.get("y", 0), g.get("y", 0) + g.get("h", 0)):
            if (x, y) in cells:
                errors.append(f"panel {pid} ({p.get('title')}) overlaps panel {cells[(x, y)]}")
                break
            cells[(x, y)] = pid
        else:
            continue
        break
    for t in p.get("targets", []):
        check_expr(f"panel {pid} ({p.get('title')}) target {t.get('refId')}", t.get("expr", ""))
for v in dash.get("templating", {}).get("list", []):
    check_expr(f"variable {v.get('name')}", v.get("definition", ""))
for n, line in enumerate(rules_text.splitlines(), 1):
    if re.match(r"\s*expr:", line):
        check_expr(f"rvs-rules.yml:{n}", line)

for e in errors:
    print(f"check-examples: {e}", file=sys.stderr)
if errors:
    sys.exit(1)
print(f"check-examples: dashboard OK ({len(ids)} panels; {len(exported)} exported metric families, {len(recorded)} recording rules)")
