#!/usr/bin/python3
"""Turns the raw results in bench/results/ into summary.json, results.md and PNG charts,
and refreshes the results section of docs/performance.md.

    bench/report.py RESULTS_DIR [DOC]

Inputs (any may be missing; the figure is then null): run.json, machine.json, micro.json,
callgrind.json, sched.json, dpdk.json, testpmd.json, lab/*.{json,txt}.

Every table says when and at which commit its figures were measured (the "meta" that
bench/run.sh records in each raw result), and whether they were measured by the run that
wrote this report or reused from an earlier one (`bench/run.sh --skip`).
"""
import json
import os
import re
import subprocess
import sys

# Where two issues set a target for one key, the stricter one (issue 18: new connection
# <= 1,500 instructions, rvsd >= 0.5x the io forwarder in the same DPDK harness).
TARGETS = {
    "established_instr_per_pkt": ("<=", 150),
    "new_conn_instr": ("<=", 1500),
    "ratio_vs_iofwd_same_harness_pps": (">=", 0.5),
    "ratio_vs_nftables_pps": (">=", 3.0),
    "ratio_vs_haproxy_cps": (">=", 5.0),
    "pps_10m_over_1k": (">=", 0.8),
    "bytes_per_session": ("<=", 128),
}


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def wrk(path):
    """Requests/s and latency percentiles (ms) from `wrk --latency` output."""
    try:
        text = open(path).read()
    except OSError:
        return None
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if not m:
        return None
    out = {"rps": float(m.group(1))}
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}
    for pct in ("50", "99"):
        m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s|m)\s*$" % pct, text, re.M)
        out["p" + pct + "_ms"] = float(m.group(1)) * scale[m.group(2)] if m else None
    m = re.search(r"Socket errors: (.*)", text)
    out["socket_errors"] = m.group(1).strip() if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non_2xx"] = int(m.group(1)) if m else 0
    return out


def iperf(path, udp):
    d = load(path)
    if not d or "end" not in d:
        return None
    end = d["end"]
    if udp:
        s = end.get("sum") or {}
        secs = s.get("seconds") or 0
        if not secs:
            return None
        got = s.get("packets", 0) - s.get("lost_packets", 0)
        return {"pps": got / secs, "sent_pps": s.get("packets", 0) / secs, "lost_percent": s.get("lost_percent")}
    r = end.get("sum_received") or {}
    return {"gbit_s": r.get("bits_per_second", 0) / 1e9} if r else None


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


# Raw result holding each part's "meta" (relative to the results directory), and what
# stands for the part in git when a result predates the meta.
PART_FILES = {
    "micro": ("micro.json", "micro.json"),
    "callgrind": ("callgrind.json", "callgrind.json"),
    "sched": ("sched.json", "sched.json"),
    "maglev": ("maglev_stall.json", "maglev_stall.json"),
    "dpdk": ("dpdk.json", "dpdk.json"),
    "testpmd": ("testpmd.json", "testpmd.json"),
    "l3fwd": ("l3fwd.json", "l3fwd.json"),
    "lab": ("lab/meta.json", "lab"),
    # Measured by their own scripts, not by bench/run.sh: bench/flood.sh, bench/soak.sh.
    "flood": ("flood/flood.json", "flood/flood.json"),
    "soak": ("soak/soak.json", "soak/soak.json"),
}
# Which part each summary key comes from.
KEY_PART = {
    "established_instr_per_pkt": "callgrind", "reply_instr_per_pkt": "callgrind", "new_conn_instr": "callgrind",
    "synproxy_conn_instr": "callgrind", "plain_conn_instr": "callgrind", "synflood_instr_per_syn": "callgrind",
    "config_instr_per_pkt": "callgrind",
    "l3fwd_em_instr_per_pkt": "l3fwd", "l3fwd_lpm_instr_per_pkt": "l3fwd", "established_instr_over_l3fwd_em": "l3fwd",
    "synflood_syns_per_s_per_worker": "micro", "ratio_vs_testpmd_io_pps": "testpmd",
    "testpmd_bench_rvs_pps": "testpmd", "testpmd_bench_io_pps": "testpmd", "testpmd_bench_direct_pps": "testpmd",
    "testpmd_bench_rvs_loss": "testpmd", "testpmd_bench_io_loss": "testpmd",
    "ratio_vs_iofwd_same_harness_pps": "dpdk", "ratio_vs_macswap_same_harness_pps": "dpdk",
    "harness_generator": "dpdk", "harness_rvs_input_ring_fill": "dpdk", "harness_io_input_ring_fill": "dpdk",
    "ratio_vs_iofwd_mempool_generator_pps": "dpdk", "ratio_vs_nftables_pps": "lab", "ratio_vs_haproxy_cps": "lab",
    "pps_10m_over_1k": "micro", "pps_10m_over_1k_sequential": "micro",
    "pps_10m_over_1k_arena_of_sessions": "micro", "bytes_per_session": "micro",
    "host_mem_latency_ns": "micro", "host_prefetched_line_stall_ns": "micro",
    "host_two_line_probe_over_cached_pps": "micro",
    "flood_syn_absorbed_pps_per_worker": "flood", "flood_syn_absorbed_pps_kernel": "flood",
    "ratio_vs_kernel_synproxy_syn_pps": "flood", "ratio_vs_kernel_synproxy_syn_per_cpu_s": "flood",
    "flood_syn_legit_success": "flood", "flood_syn_legit_success_kernel": "flood",
    "soak_minutes": "soak", "soak_errors": "soak", "soak_rss_mib_first": "soak", "soak_rss_mib_last": "soak",
}


def hostile(res):
    """Summary keys of the flood comparison (bench/flood.sh: rvsd and the kernel's
    synproxy side by side) and of the soak (bench/soak.sh), null when not measured."""
    keys = dict.fromkeys(k for k, part in KEY_PART.items() if part in ("flood", "soak"))
    flood = load(os.path.join(res, "flood", "flood.json")) or {}
    runs = {(r["peer"], r["kind"]): r for r in flood.get("runs", [])}
    rv, kn = runs.get(("rvsd", "syn")), runs.get(("nftables", "syn"))
    cmp = (flood.get("comparison") or {}).get("syn") or {}
    if rv:
        keys["flood_syn_absorbed_pps_per_worker"] = (rv.get("absorbed_syn_pps_per_worker") or [None])[0]
        keys["flood_syn_legit_success"] = rv.get("legit_success")
    if kn:
        keys["flood_syn_absorbed_pps_kernel"] = kn.get("absorbed_syn_pps")
        keys["flood_syn_legit_success_kernel"] = kn.get("legit_success")
    keys["ratio_vs_kernel_synproxy_syn_pps"] = cmp.get("absorbed_syn_rvsd_over_kernel")
    keys["ratio_vs_kernel_synproxy_syn_per_cpu_s"] = cmp.get("absorbed_syn_per_cpu_second_rvsd_over_kernel")
    soak = (load(os.path.join(res, "soak", "soak.json")) or {}).get("summary")
    if soak:
        keys["soak_minutes"] = round(soak["seconds_sampled"] / 60, 1)
        keys["soak_errors"] = soak["errors"]
        keys["soak_rss_mib_first"] = round(soak["rss_kb_first"] / 1024, 1)
        keys["soak_rss_mib_last"] = round(soak["rss_kb_last"] / 1024, 1)
    return keys


def git_last_commit(res, rel):
    """The commit that last changed a results file in git, and its date (for results
    written before they recorded their own commit)."""
    try:
        out = subprocess.run(["git", "-C", res, "log", "-1", "--format=%h %cs", "--", rel],
                             capture_output=True, text=True, timeout=10).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None, None
    return (out[0], out[1]) if len(out) == 2 else (None, None)


def git_machine(res, commit):
    """The CPU model in the machine.json committed with an old result."""
    try:
        text = subprocess.run(["git", "-C", res, "show", f"{commit}:./machine.json"],
                              capture_output=True, text=True, timeout=10).stdout
        return json.loads(text).get("cpu_model")
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def provenance(res, run):
    """Per part: commit, dirty, measured_at, reused (or null when the part has no result)."""
    out = {}
    for part, (rel, legacy) in PART_FILES.items():
        path = os.path.join(res, rel)
        if not os.path.exists(path):
            if not os.path.exists(os.path.join(res, legacy)):
                out[part] = None
                continue
            rel = legacy
        meta = (load(path) or {}).get("meta")
        if meta:
            la = meta.get("loadavg_1m")
            out[part] = {"commit": meta.get("commit"), "dirty": meta.get("dirty"),
                         "measured_at": meta.get("measured_at") or meta.get("finished_at"), "quick": meta.get("quick"),
                         "loadavg_1m": la if isinstance(la, list) and len(la) == 2 else None,
                         "cpu_model": meta.get("cpu_model"),
                         "reused": meta.get("run_started") != run.get("run_started")}
        else:
            commit, date = git_last_commit(res, rel)
            out[part] = {"commit": None, "dirty": None, "measured_at": None, "reused": True,
                         "committed_in": commit, "committed_on": date,
                         "cpu_model": git_machine(res, commit) if commit else None}
    return out


def prov_line(p, cpu=None):
    """One line under a table heading: when and at which commit its figures were measured
    (and on which CPU, when it is not the CPU of this report's run)."""
    if p is None:
        return "*Not measured.*"
    other = f" On another machine: {p['cpu_model']}." if p.get("cpu_model") and cpu and p["cpu_model"] != cpu else ""
    if p.get("commit") is None:
        where = f", committed in {p['committed_in']} on {p['committed_on']}" if p.get("committed_in") else ""
        return f"*Reused from an earlier run that did not record its commit or time{where}.{other}*"
    when = (p.get("measured_at") or "?").replace("T", " ").replace("Z", " UTC")
    commit = p["commit"] + (" (dirty)" if p.get("dirty") else "")
    quick = " `--quick` (smoke test, not figures to quote)." if p.get("quick") else ""
    la = p.get("loadavg_1m")
    load = f" Load average {la[0]:.1f} → {la[1]:.1f} (2 CPUs)." if la else ""
    if p.get("reused"):
        return f"*Reused from an earlier run: measured {when} at commit {commit}.{load}{other}{quick}*"
    return f"*Measured {when} at commit {commit}.{load}{other}{quick}*"


def prov_short(p):
    if p is None:
        return "—"
    if p.get("commit") is None:
        return "reused, commit not recorded"
    c = p["commit"] + ("+dirty" if p.get("dirty") else "")
    return f"{c}, reused" if p.get("reused") else c


def main():
    res = sys.argv[1]
    doc_path = sys.argv[2] if len(sys.argv) > 2 else None
    machine = load(os.path.join(res, "machine.json")) or {}
    micro = load(os.path.join(res, "micro.json")) or {}
    cg = load(os.path.join(res, "callgrind.json")) or {}
    dpdk = load(os.path.join(res, "dpdk.json")) or {}
    tpmd = load(os.path.join(res, "testpmd.json")) or {}
    l3fwd = load(os.path.join(res, "l3fwd.json")) or {}
    memprobe = load(os.path.join(res, "memprobe.json")) or {}
    sched = load(os.path.join(res, "sched.json")) or {}
    maglev = load(os.path.join(res, "maglev_stall.json")) or {}
    run = load(os.path.join(res, "run.json")) or {}
    prov = provenance(res, run)

    sizes = {s["sessions"]: s for s in micro.get("sizes", [])}
    paired = micro.get("paired") or {}
    paired_ratio = paired.get("pps_large_over_small") if (
        paired.get("small_sessions"), paired.get("large_sessions")) == (1000, 10_000_000) else None

    def est_pps(n, key="established"):
        s = sizes.get(n)
        return (s.get(key) or {}).get("mpps") if s else None

    runs = cg.get("runs", [])
    first = runs[0] if runs else {}

    def instr(scen, n=1000):
        v = first.get(f"{scen}@{n}")
        return v

    largest = max(sizes) if sizes else None
    bps = sizes[largest]["bytes_per_session"] if largest and largest >= 100_000 else None

    peers = ["rvs", "nftables", "haproxy", "nginx"]
    lab = {}
    direct = wrk(os.path.join(res, "lab", "direct-lat.txt"))
    for p in peers:
        cps = wrk(os.path.join(res, "lab", f"{p}-cps.txt"))
        lat = wrk(os.path.join(res, "lab", f"{p}-lat.txt"))
        udp = iperf(os.path.join(res, "lab", f"{p}-udp.json"), True)
        bulk = iperf(os.path.join(res, "lab", f"{p}-bulk.json"), False)
        entry = {
            "udp_pps": udp["pps"] if udp else None,
            "udp_sent_pps": udp["sent_pps"] if udp else None,
            "tcp_cps": cps["rps"] if cps else None,
            "cps_errors": cps["socket_errors"] if cps else None,
            "bulk_gbit_s": bulk["gbit_s"] if bulk else None,
            "lat_p50_ms": lat["p50_ms"] if lat else None,
            "lat_p99_ms": lat["p99_ms"] if lat else None,
        }
        if lat and direct and lat["p50_ms"] is not None and direct["p50_ms"] is not None:
            entry["added_p50_ms"] = lat["p50_ms"] - direct["p50_ms"]
            entry["added_p99_ms"] = lat["p99_ms"] - direct["p99_ms"]
        else:
            entry["added_p50_ms"] = entry["added_p99_ms"] = None
        lab[p] = entry
    rv = lab["rvs"]
    for p in peers:
        e = lab[p]
        # Each figure as a ratio to rvs: rvs / peer for "more is better", peer / rvs for latency.
        e["rvs_over_peer"] = {
            "udp_pps": ratio(rv["udp_pps"], e["udp_pps"]),
            "tcp_cps": ratio(rv["tcp_cps"], e["tcp_cps"]),
            "bulk_gbit_s": ratio(rv["bulk_gbit_s"], e["bulk_gbit_s"]),
            "lat_p50": ratio(e["lat_p50_ms"], rv["lat_p50_ms"]),
            "lat_p99": ratio(e["lat_p99_ms"], rv["lat_p99_ms"]),
        }

    summary = {
        "established_instr_per_pkt": instr("established"),
        "reply_instr_per_pkt": instr("reply"),
        "new_conn_instr": instr("new_conn"),
        # A whole handshake (3 packets) through the pipeline, plain and SYN-proxied.
        "synproxy_conn_instr": instr("synproxy_conn"),
        "plain_conn_instr": instr("plain_conn"),
        # SYN flood against a SYN-proxied service: each SYN answered with a cookie, no state.
        "synflood_instr_per_syn": instr("synflood"),
        # The same path as operators configure it beyond plain FULLNAT (bench/run.sh's
        # variants: session sync, TOA, DR, NAT, a VLAN, RSS-steered local ports).
        "config_instr_per_pkt": {k.split("@")[0]: v for k, v in first.items() if "+" in k} or None,
        # DPDK's l3fwd on the same frames, counted the same way (bench/l3fwd.sh): exact match
        # of the 5-tuple (a flow lookup, as rvsd's) and longest prefix match (a router).
        "l3fwd_em_instr_per_pkt": (l3fwd.get("em") or {}).get("instr_per_pkt"),
        "l3fwd_lpm_instr_per_pkt": (l3fwd.get("lpm") or {}).get("instr_per_pkt"),
        "established_instr_over_l3fwd_em": ratio(instr("established"), (l3fwd.get("em") or {}).get("instr_per_pkt")),
        "synflood_syns_per_s_per_worker": (sizes[min(sizes)].get("synflood") or {}).get("syns_per_s_per_worker")
        if sizes else None,
        # testpmd txonly -> DUT -> testpmd rxonly over net_memif: rvsd in the middle vs
        # testpmd io forwarding in its place (bench/testpmd.sh).
        "ratio_vs_testpmd_io_pps": ratio(tpmd.get("rvs_pps"), tpmd.get("testpmd_io_pps")),
        "testpmd_bench_rvs_pps": tpmd.get("rvs_pps"),
        "testpmd_bench_io_pps": tpmd.get("testpmd_io_pps"),
        "testpmd_bench_direct_pps": tpmd.get("direct_pps"),
        "testpmd_bench_rvs_loss": tpmd.get("rvs_loss"),
        "testpmd_bench_io_loss": tpmd.get("testpmd_io_loss"),
        "ratio_vs_iofwd_same_harness_pps": ratio(dpdk.get("rvs_mpps"), dpdk.get("harness_io_mpps")),
        # The same against a forwarder that touches each frame (testpmd's macswap): what is
        # left once the frames' lines moving between the cores are on both sides.
        "ratio_vs_macswap_same_harness_pps": ratio(dpdk.get("rvs_mpps"), dpdk.get("harness_macswap_mpps")),
        # The recycling generator's io figure is the generator's own ceiling (io's input ring
        # stays near empty): the ratio is against what the harness can feed, not io's limit.
        "harness_generator": dpdk.get("generator", "mempool" if dpdk else None),
        "harness_rvs_input_ring_fill": (dpdk.get("input_ring_fill") or {}).get("rvs"),
        "harness_io_input_ring_fill": (dpdk.get("input_ring_fill") or {}).get("io"),
        # The same three DUTs fed by the mempool generator (alloc and free per frame), as
        # measured up to stop 34: there the generator stops every DUT that reads its mbufs.
        "ratio_vs_iofwd_mempool_generator_pps": ratio(
            (dpdk.get("mempool_generator") or {}).get("rvs_mpps"),
            (dpdk.get("mempool_generator") or {}).get("harness_io_mpps")),
        "ratio_vs_nftables_pps": lab["nftables"]["rvs_over_peer"]["udp_pps"],
        "ratio_vs_haproxy_cps": lab["haproxy"]["rvs_over_peer"]["tcp_cps"],
        # Both sizes fed from arenas of the same 2M frames, which stream from memory alike;
        # the median of paired trials that alternate between the two tables (`paired.rs`)
        # where the run has them, else the sizes' own series, measured minutes apart.
        "pps_10m_over_1k": paired_ratio if paired_ratio is not None else ratio(est_pps(10_000_000), est_pps(1000)),
        "pps_10m_over_1k_sequential": ratio(est_pps(10_000_000), est_pps(1000)),
        # Before stop 30: the 1k figure from an arena of its 1k sessions' frames (60 KB,
        # in L1/L2), the 10M one from 2M frames in memory.
        "pps_10m_over_1k_arena_of_sessions": ratio(
            est_pps(10_000_000), est_pps(1000, "established_arena_of_sessions")),
        "bytes_per_session": bps,
        # What the host's memory allows the 10M figure (bench/run.sh's micro part, the
        # memprobe bench): a random line's latency over 1 GiB, the stall a random line costs
        # even when prefetched a burst ahead, and the pps ratio a table touching two
        # dependent random lines per packet, as the stages do, reaches against the same in cache.
        "host_mem_latency_ns": memprobe.get("latency_ns"),
        "host_prefetched_line_stall_ns": memprobe.get("prefetched_line_stall_ns"),
        "host_two_line_probe_over_cached_pps": memprobe.get("two_lines_random_over_cached_pps"),
        "bytes_per_session_at": largest if bps is not None else None,
        **hostile(res),
        "machine": machine,
        "run": run,
        "provenance": prov,
    }
    full = {"summary": summary, "micro": micro, "memprobe": memprobe, "callgrind": cg, "sched": sched, "dpdk": dpdk,
            "testpmd": tpmd, "l3fwd": l3fwd, "lab": lab}
    with open(os.path.join(res, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    with open(os.path.join(res, "all.json"), "w") as f:
        json.dump(full, f, indent=2)

    md = markdown(summary, sizes, cg, dpdk, lab, direct, micro, tpmd, sched, prov, maglev, l3fwd, memprobe)
    with open(os.path.join(res, "results.md"), "w") as f:
        f.write(md)
    charts(res, sizes, cg, dpdk, lab, tpmd)
    if doc_path and os.path.exists(doc_path):
        text = open(doc_path).read()
        begin, end = "<!-- BEGIN RESULTS (bench/report.py) -->", "<!-- END RESULTS -->"
        if begin in text and end in text:
            pre = text.split(begin)[0]
            post = text.split(end)[1]
            with open(doc_path, "w") as f:
                f.write(pre + begin + "\n" + md + "\n" + end + post)
    print(json.dumps(summary, indent=2))


def fmt(v, nd=1):
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.{nd}f}"
    if isinstance(v, str):
        return v
    return f"{v:,}"


def verdict(key, v):
    if key not in TARGETS:
        return ""
    op, t = TARGETS[key]
    if v is None:
        return f"{op} {t}: not measured"
    ok = v <= t if op == "<=" else v >= t
    return f"{op} {t}: " + ("**met**" if ok else "**missed**")


def markdown(summary, sizes, cg, dpdk, lab, direct, micro, tpmd, sched, prov, maglev=None, l3fwd=None,
             memprobe=None):
    l3fwd = l3fwd or {}
    mp = memprobe or {}
    m = summary["machine"]
    run = summary.get("run") or {}
    L = []
    head = f"Report of the run started {(run.get('run_started') or '?').replace('T', ' ').replace('Z', ' UTC')}"
    if run.get("commit"):
        head += f" at commit {run['commit']}" + (" (dirty)" if run.get("dirty") else "")
    if run.get("parts_reused"):
        head += f"; reused from earlier runs: {', '.join(run['parts_reused'])}"
    L.append(head + ". Each table says when and at which commit its figures were measured.")
    L.append("")
    L.append(f"Machine of this run: {m.get('cpu_model', '?')}, {m.get('cpus', '?')} CPUs, "
             f"kernel {m.get('kernel', '?')}, {m.get('dpdk', '?')}, {m.get('rustc', '?')}.")
    L.append("")
    L.append("### Summary against the targets")
    L.append("")
    L.append("| key | value | target | measured at commit |")
    L.append("|---|---:|---|---|")
    nd = {"ratio_vs_testpmd_io_pps": 3, "ratio_vs_iofwd_same_harness_pps": 3,
          "ratio_vs_macswap_same_harness_pps": 3, "pps_10m_over_1k": 3,
          "ratio_vs_iofwd_mempool_generator_pps": 3, "harness_rvs_input_ring_fill": 3, "harness_io_input_ring_fill": 3,
          "pps_10m_over_1k_arena_of_sessions": 3, "pps_10m_over_1k_sequential": 3,
          "ratio_vs_nftables_pps": 2, "ratio_vs_haproxy_cps": 2, "testpmd_bench_rvs_pps": 0,
          "testpmd_bench_io_pps": 0, "testpmd_bench_direct_pps": 0, "testpmd_bench_rvs_loss": 3,
          "testpmd_bench_io_loss": 3, "flood_syn_legit_success": 3,
          "flood_syn_legit_success_kernel": 3, "ratio_vs_kernel_synproxy_syn_pps": 3,
          "ratio_vs_kernel_synproxy_syn_per_cpu_s": 3, "established_instr_over_l3fwd_em": 3,
          "host_two_line_probe_over_cached_pps": 3}
    for k, v in summary.items():
        if k in ("machine", "bytes_per_session_at", "run", "provenance"):
            continue
        if isinstance(v, dict):
            # Per configuration (config_instr_per_pkt): one row each.
            for sub, x in v.items():
                L.append(f"| `{k}` {sub} | {fmt(x, 1)} | — | {prov_short(prov.get(KEY_PART.get(k)))} |")
            continue
        L.append(f"| `{k}` | {fmt(v, nd.get(k, 1))} | {verdict(k, v)} | {prov_short(prov.get(KEY_PART.get(k)))} |")
    L.append("")
    L.append("### Sans-IO pipeline (one core, `Vec<u8>` frames, 60-byte TCP segments)")
    L.append("")
    L.append(prov_line(cpu=m.get("cpu_model"), p=prov["micro"]))
    L.append("")
    L.append("| live sessions | established ns/pkt | established, HA master (sync on) ns/pkt | reply ns/pkt | "
             "new conn ns | established Mpps | bytes/session | set-up s |")
    L.append("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in sorted(sizes):
        s = sizes[n]
        bps = s["bytes_per_session"] if n >= 100_000 else None
        sync = (s.get("established_sync") or {}).get("ns_per_pkt")
        L.append(f"| {n:,} | {fmt(s['established']['ns_per_pkt'])} | {fmt(sync)} | {fmt(s['reply']['ns_per_pkt'])} | "
                 f"{fmt(s['new_conn']['ns_per_conn'])} | {fmt(s['established']['mpps'], 2)} | {fmt(bps)} | {fmt(s['setup_s'])} |")
    if sizes:
        h = sizes[min(sizes)]["established"]["harness_ns"]
        L.append("")
        L.append(f"ns/pkt include the harness's frame copy ({fmt(h)} ns). Bytes/session at 1k sessions are "
                 "dominated by the table's fixed pre-allocation and not shown.")
    paired = (micro or {}).get("paired") or {}
    paired_ratio = paired.get("pps_large_over_small")
    if paired_ratio is not None:
        med = lambda v: sorted(v)[len(v) // 2] if v else None  # noqa: E731
        rs = paired.get("pair_ratios") or []
        L.append("")
        L.append(f"Paired trials (the 1k and 10M tables side by side, trials alternating): 1k "
                 f"{fmt(med(paired.get('small_trials_ns')))} ns/pkt, 10M {fmt(med(paired.get('large_trials_ns')))} "
                 f"ns/pkt; pps 10M ÷ 1k {fmt(paired_ratio, 3)}, the median of {len(rs)} pairs "
                 f"({fmt(min(rs), 3)} to {fmt(max(rs), 3)}). This is `pps_10m_over_1k`; the sizes' own series "
                 "above, measured minutes apart, give `pps_10m_over_1k_sequential`.")
    if mp.get("two_lines_random_ns") is not None:
        # Inside the last-level cache a stall comes from translation misses, not memory.
        w64, full = mp.get("window_64_mib_line_stall_ns"), mp["prefetched_line_stall_ns"]
        origin = ("mostly from memory, not from translation" if w64 is not None and w64 < full / 2
                  else "translation misses take part")
        L.append("")
        L.append(f"What this host's memory allows that figure (the `memprobe` bench, over "
                 f"{mp['table_bytes'] >> 30} GiB advised huge, {fmt(mp.get('anon_huge_mib'), 0)} MiB of it huge): a random "
                 f"line's latency {fmt(mp['latency_ns'])} ns, one every {fmt(mp['random_line_ns'])} ns when nobody "
                 f"waits on them one at a time. {fmt(mp['work_ns'])} ns of work per line over lines in cache take "
                 f"{fmt(mp['work_random_ns'])} ns over random lines prefetched a batch of {mp['batch']} ahead: "
                 f"{fmt(mp['prefetched_line_stall_ns'])} ns a line that the prefetch does not hide "
                 f"(`host_prefetched_line_stall_ns`; {fmt(mp['same_batch_line_stall_ns'])} ns when prefetched at the "
                 f"start of their own batch; {fmt(mp.get('window_64_mib_line_stall_ns'))} ns over a 64 MiB window, "
                 f"{fmt(mp.get('window_16_mib_line_stall_ns'))} over 16 MiB, so {origin}). Two dependent random lines per packet as the stages touch them "
                 f"(a bucket, then a slot read and written), with that work: {fmt(mp['two_lines_cached_ns'])} ns in "
                 f"cache, {fmt(mp['two_lines_random_ns'])} ns over the table, a pps ratio of "
                 f"{fmt(mp['two_lines_random_over_cached_pps'], 3)} (`host_two_line_probe_over_cached_pps`): the "
                 "ceiling a table of two lines per lookup meets on this host at this speed in cache.")
    sc = micro.get("scaling") if micro else None
    if sc:
        L.append("")
        L.append(f"Scaling (established, {sc['sessions_per_worker']:,} sessions per worker, one pipeline per thread): "
                 f"1 worker {fmt(sc['workers_1_mpps'], 2)} Mpps, 2 workers {fmt(sc['workers_2_mpps'], 2)} Mpps "
                 f"(x{fmt(sc['speedup'], 2)}; medians of {len(sc.get('trials_1') or []) or 1} trials in turns).")
        by = [x for x in (micro.get("scaling_by_size") or []) if x.get("sessions_per_worker") != sc["sessions_per_worker"]]
        if by:
            L.append("At " + ", ".join(f"{x['sessions_per_worker']:,} sessions per worker x{fmt(x['speedup'], 2)}" for x in by)
                     + " (tables that fit each CPU's own caches: what the workers share, if anything).")
    runs = cg.get("runs", [])
    if runs:
        L.append("")
        L.append("### Instructions per packet (`valgrind --tool=callgrind`, `Pipeline::handle_burst` on bursts of 32; whole handshakes through `Pipeline::handle`)")
        L.append("")
        L.append(prov_line(cpu=m.get("cpu_model"), p=prov["callgrind"]))
        L.append("")
        keys = sorted(runs[0].keys(), key=lambda k: (k.split("@")[0], int(k.split("@")[1])))
        L.append("| scenario @ sessions | " + " | ".join(f"run {i + 1}" for i in range(len(runs))) + " |")
        L.append("|---|" + "---:|" * len(runs))
        for k in keys:
            L.append(f"| {k} | " + " | ".join(fmt(r.get(k)) for r in runs) + " |")
    if l3fwd.get("em") and l3fwd.get("lpm"):
        em, lpm = l3fwd["em"], l3fwd["lpm"]
        L.append("")
        L.append("### DPDK's l3fwd, counted the same way (`bench/l3fwd.sh`)")
        L.append("")
        L.append(prov_line(cpu=m.get("cpu_model"), p=prov["l3fwd"]))
        L.append("")
        L.append(f"l3fwd from the DPDK on this machine, on the established scenario's frames ({l3fwd['flows']:,} TCP "
                 f"flows, {l3fwd['frame_bytes']}-byte frames, bursts of {l3fwd['burst']}), its main loop under "
                 "callgrind less the pcap port's RX and TX functions. Exact match (`-E`): a 5-tuple hash lookup, "
                 "then TTL, IP checksum and MACs; longest prefix match (`-L`): a router. Both include the "
                 "software packet-type parse that a NIC's PMD would have done (`--parse-ptype`).")
        L.append("")
        L.append("| forwarder | instructions/packet | of which packet-type parse | packets counted |")
        L.append("|---|---:|---:|---:|")
        L.append(f"| rvsd, established FULLNAT (`handle_burst`) | {fmt(summary.get('established_instr_per_pkt'))} | "
                 "— (in the total) | — |")
        L.append(f"| rvsd, reply | {fmt(summary.get('reply_instr_per_pkt'))} | — | — |")
        L.append(f"| l3fwd exact match | {fmt(em['instr_per_pkt'])} | {fmt(em['ptype_parse_instr_per_pkt'])} | "
                 f"{em['packets']:,} |")
        L.append(f"| l3fwd longest prefix match | {fmt(lpm['instr_per_pkt'])} | {fmt(lpm['ptype_parse_instr_per_pkt'])} | "
                 f"{lpm['packets']:,} |")
    srows = sched.get("rows") if sched else None
    if srows:
        L.append("")
        L.append("### Scheduler decisions (`cargo bench -p rvs-core --bench sched`)")
        L.append("")
        L.append(prov_line(cpu=m.get("cpu_model"), p=prov["sched"]))
        L.append("")
        L.append("| scheduler | ns, 10 RSs | ns, 1,000 RSs | instructions, 10 RSs | instructions, 1,000 RSs |")
        L.append("|---|---:|---:|---:|---:|")
        for r in srows:
            L.append(f"| {r['scheduler']} | {fmt(r['ns_10'])} | {fmt(r['ns_1000'])} | {fmt(r['instr_10'], 0)} | "
                     f"{fmt(r['instr_1000'], 0)} |")
        mb = sched.get("maglev_build_ms") or {}
        L.append("")
        L.append("Instructions: callgrind, inclusive cost of `Scheduler::pick` per call (— where the bench's "
                 "decision path is inlined and there is no call to count)."
                 + (" Maglev table build (M = 65537, control thread): "
                    + ", ".join(f"{k} RSs {fmt(v, 2)} ms" for k, v in mb.items()) + "." if mb else ""))
    if maglev and maglev.get("gaps"):
        L.append("")
        L.append("### A worker's stall at a Maglev change (`cargo bench -p rvs-core --bench maglev_stall`)")
        L.append("")
        L.append(prov_line(cpu=m.get("cpu_model"), p=prov["maglev"]))
        L.append("")
        L.append("mh over 1,000 real servers, M = 65537: bursts of 32 new connections, a new snapshot (one weight "
                 "changed) swapped in between two bursts. Before: each worker builds its table on its packet "
                 "thread; after: the control thread builds it once and the snapshot carries it.")
        L.append("")
        L.append("| case | longest gap between bursts, ms | longest at a change, ms | median at a change, ms | longest elsewhere, ms | median gap, µs | mean burst, µs |")
        L.append("|---|---:|---:|---:|---:|---:|---:|")
        names = {"before_inline": "before: built per worker, inline", "after_shared": "after: shared prebuilt table"}
        for g in maglev["gaps"]:
            L.append(f"| {names.get(g['case'], g['case'])} | {fmt(g['max_gap_ms'], 3)} | {fmt(g['max_gap_at_change_ms'], 3)} | "
                     f"{fmt(g.get('median_gap_at_change_ms'), 3)} | {fmt(g['max_gap_elsewhere_ms'], 3)} | "
                     f"{fmt(g['p50_gap_us'], 2)} | {fmt(g['burst_mean_us'], 1)} |")
        builds = maglev.get("control_build") or []
        L.append("")
        L.append("Control thread, 1,000 real servers: "
                 + ", ".join(f"M = {b['m']}: {fmt(b['build_ms'], 2)} ms" for b in builds)
                 + (f"; `Registry::snapshot` (M = 65537) {fmt(maglev.get('registry_snapshot_ms'), 2)} ms."
                    if maglev.get("registry_snapshot_ms") is not None else "."))
    if tpmd:
        L.append("")
        L.append("### testpmd bench (`dpdk-testpmd` txonly → DUT → testpmd rxonly, net_memif, 60-byte UDP, 256 flows)")
        L.append("")
        L.append(prov_line(cpu=m.get("cpu_model"), p=prov["testpmd"]))
        L.append("")
        L.append("| DUT | received pps (median) | offered pps | loss | runs (received pps) |")
        L.append("|---|---:|---:|---:|---|")
        for dut, pps, off, loss, label in (
                ("rvs", "rvs_pps", "rvs_offered_pps", "rvs_loss", "rvsd (FULLNAT, 1 worker, UDP VIP → 1 real server)"),
                ("io", "testpmd_io_pps", "testpmd_io_offered_pps", "testpmd_io_loss", "dpdk-testpmd io (same links and core)"),
                ("direct", "direct_pps", None, None, "none: generator straight into the sink (harness ceiling)")):
            rr = [r.get("sink_rx_pps") for r in tpmd.get("runs", []) if r.get("dut") == dut]
            L.append(f"| {label} | {fmt(tpmd.get(pps), 0)} | {fmt(tpmd.get(off), 0) if off else '—'} | "
                     f"{fmt(tpmd.get(loss), 3) if loss else '—'} | {', '.join(fmt(x, 0) for x in rr)} |")
        L.append("")
        L.append(f"rvsd ÷ testpmd io: {fmt(ratio(tpmd.get('rvs_pps'), tpmd.get('testpmd_io_pps')), 3)}; "
                 f"testpmd io ÷ harness ceiling: {fmt(tpmd.get('io_over_direct'), 3)}. Offered = what the DUT took "
                 "from the generator (memif back-pressure limits it); loss = offered but not received by the sink.")
    if dpdk:
        L.append("")
        L.append("### DPDK forwarding in one process (net_ring, one DUT core, 60-byte UDP)")
        L.append("")
        L.append(prov_line(cpu=m.get("cpu_model"), p=prov["dpdk"]))
        L.append("")
        fill = dpdk.get("input_ring_fill") or {}
        L.append("| generator | forwarder | Mpps (median) | DUT input ring fill | runs |")
        L.append("|---|---|---:|---:|---|")
        for gen, src, pre in (("recycle", dpdk, ""), ("mempool", dpdk.get("mempool_generator") or {}, "mempool-")):
            for key, label, dut in (
                    ("harness_io_mpps", "io forwarder in the rvs harness (same generator, rings, core)", "io"),
                    ("harness_macswap_mpps", "macswap forwarder, the same (swaps each frame's MACs)", "macswap"),
                    ("rvs_mpps", "rvsd worker loop (FULLNAT, 1,024 UDP sessions)", "rvs")):
                if src.get(key) is None:
                    continue
                runs_ = src.get(key.replace("_mpps", "_runs"), [])
                L.append(f"| {gen} | {label} | {fmt(src.get(key), 2)} | {fmt(fill.get(pre + dut), 3)} | "
                         f"{', '.join(fmt(x, 2) for x in runs_)} |")
        L.append("")
        L.append("Fill near 0.5 (2,048 frames in flight, 4,096-slot ring): the DUT holds every frame and "
                 "limits the rate. Near 0: the DUT waits for the generator.")
    if any(v["tcp_cps"] or v["udp_pps"] for v in lab.values()):
        L.append("")
        L.append("### Lab (netns + veth; balancer on CPU 1, load on CPU 0)")
        L.append("")
        L.append(prov_line(cpu=m.get("cpu_model"), p=prov["lab"]))
        L.append("")
        L.append("| peer | UDP pps (64 B) | TCP conn/s | bulk Gbit/s | p50 / p99 ms (1 conn) | added p50 / p99 ms | rvs ÷ peer: pps, cps, bulk |")
        L.append("|---|---:|---:|---:|---:|---:|---|")
        for p, e in lab.items():
            r = e["rvs_over_peer"]
            L.append(f"| {p} | {fmt(e['udp_pps'], 0)} | {fmt(e['tcp_cps'], 0)} | {fmt(e['bulk_gbit_s'], 2)} | "
                     f"{fmt(e['lat_p50_ms'], 3)} / {fmt(e['lat_p99_ms'], 3)} | {fmt(e['added_p50_ms'], 3)} / {fmt(e['added_p99_ms'], 3)} | "
                     f"{fmt(r['udp_pps'], 2)}, {fmt(r['tcp_cps'], 2)}, {fmt(r['bulk_gbit_s'], 2)} |")
        if direct:
            L.append("")
            L.append(f"Direct baseline (rs2 → rs1, no balancer): p50 {fmt(direct['p50_ms'], 3)} ms, p99 {fmt(direct['p99_ms'], 3)} ms.")
    L.append("")
    L.append("![ns per packet](../bench/results/ns_per_packet.png) ![instructions](../bench/results/instructions.png)")
    L.append("")
    L.append("![dpdk](../bench/results/dpdk.png) ![lab](../bench/results/lab.png)")
    return "\n".join(L) + "\n"


def charts(res, sizes, cg, dpdk, lab, tpmd):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("report: matplotlib missing, no charts", file=sys.stderr)
        return
    plt.rcParams.update({"font.size": 10})
    if sizes:
        ns = sorted(sizes)
        fig, ax = plt.subplots(figsize=(6.4, 4))
        for key, label, field in (("established", "established (client → RS)", "ns_per_pkt"),
                                  ("reply", "reply (RS → client)", "ns_per_pkt"),
                                  ("new_conn", "new connection (SYN)", "ns_per_conn")):
            ax.plot(ns, [sizes[n][key][field] for n in ns], marker="o", label=label)
        ax.set_xscale("log")
        ax.set_xlabel("live sessions")
        ax.set_ylabel("ns per packet (one core)")
        ax.set_title("Sans-IO pipeline cost as sessions grow")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(res, "ns_per_packet.png"), dpi=110)
        plt.close(fig)
    runs = cg.get("runs", [])
    if runs:
        r = runs[0]
        labels = [k for k in ("established@1000", "reply@1000", "new_conn@1000", "established@100000",
                              "reply@100000", "new_conn@100000") if k in r]
        fig, ax = plt.subplots(figsize=(6.4, 4))
        colors = ["tab:blue" if not k.startswith("new") else "tab:orange" for k in labels]
        bars = ax.bar(range(len(labels)), [r[k] for k in labels], color=colors)
        ax.bar_label(bars, fmt="%.0f")
        ax.axhline(150, color="tab:blue", ls="--", lw=1, label="target per packet (150)")
        ax.axhline(2000, color="tab:orange", ls="--", lw=1, label="target per new connection (2,000)")
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels([k.replace("@", "\n@") for k in labels], fontsize=8)
        ax.set_ylabel("instructions (callgrind)")
        ax.set_title("Instructions per packet / per new connection")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(res, "instructions.png"), dpi=110)
        plt.close(fig)
    # DPDK: the one-process net_ring harness and the testpmd bench, Mpps, linear scale.
    items = [(l, dpdk.get(k), c) for k, l, c in (
        ("harness_io_mpps", "io fwd\n(net_ring,\none process)", "tab:gray"),
        ("rvs_mpps", "rvsd worker\n(net_ring,\none process)", "tab:green"))]
    items += [(l, tpmd[k] / 1e6 if tpmd.get(k) is not None else None, c) for k, l, c in (
        ("direct_pps", "no DUT\n(testpmd bench\nceiling)", "tab:blue"),
        ("testpmd_io_pps", "testpmd io\n(testpmd bench)", "tab:gray"),
        ("rvs_pps", "rvsd\n(testpmd bench)", "tab:green"))]
    items = [i for i in items if i[1] is not None]
    if items:
        fig, ax = plt.subplots(figsize=(7.5, 4))
        bars = ax.bar([l for l, _, _ in items], [v for _, v, _ in items], color=[c for _, _, c in items])
        ax.bar_label(bars, fmt="%.2f")
        ax.set_ylim(bottom=0)
        ax.set_ylabel("Mpps (60-byte frames, DUT on one core)")
        ax.set_title("DPDK forwarding: in-process harness and testpmd bench (memif)")
        ax.tick_params(axis="x", labelsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(res, "dpdk.png"), dpi=110)
        plt.close(fig)
    if lab and any(e["tcp_cps"] for e in lab.values()):
        import numpy as np
        metrics = [("udp_pps", "UDP pps"), ("tcp_cps", "TCP conn/s"), ("bulk_gbit_s", "bulk Gbit/s")]
        peers = list(lab)
        fig, ax = plt.subplots(figsize=(7.5, 4))
        w = 0.8 / len(peers)
        x = np.arange(len(metrics))
        for i, p in enumerate(peers):
            vals = []
            for m, _ in metrics:
                base = lab["rvs"][m]
                vals.append(lab[p][m] / base if lab[p][m] is not None and base else 0)
            bars = ax.bar(x + i * w - 0.4 + w / 2, vals, w, label=p)
            ax.bar_label(bars, labels=[f"{v:.2f}" if v else "n/a" for v in vals], fontsize=7)
        ax.set_xticks(x)
        ax.set_xticklabels([l for _, l in metrics])
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set_ylabel("relative to rvsd (= 1.0)")
        ax.set_title("Lab: each balancer relative to rvsd (higher is better)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(res, "lab.png"), dpi=110)
        plt.close(fig)


if __name__ == "__main__":
    main()
