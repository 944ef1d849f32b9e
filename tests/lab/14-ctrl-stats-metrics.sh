#!/usr/bin/env bash
# Counters, /metrics and the JSON API, with rvs-ctrl managing rvsd:
#   * 'rvsadm -Z' zeroes; then 'rvsadm -Ln --stats --exact' equals what the client sent:
#     TCP connections = curls, UDP flows/packets/bytes = udp_burst's datagrams (IP length),
#     and the services' InPkts/InBytes/OutPkts/OutBytes together = the client interface's
#     own tx/rx counters (Ethernet header taken off), within a few packets in flight;
#   * --rate, -Lnc and --workers show the traffic; the client port's NIC counters in
#     --workers equal the client interface's own (frames each way), with nothing missed;
#   * rvsd frozen (SIGSTOP) while the client sends N_FLOOD datagrams: the port's rings take
#     what they hold and the kernel drops the rest; every datagram the client sent is then
#     either in the workers' RxPkts or in the port's RxMissed, and /metrics says the same;
#   * /metrics parses with prometheus_client's parser (Debian python3-prometheus-client),
#     every family has HELP and TYPE, and its numbers agree with rvsadm (the neighbours
#     with rvsadm --neigh);
#   * the JSON API round-trips add / edit / drain / remove of a real server (checked in GET,
#     in 'rvsadm -Ln' and in the traffic), refuses bad requests with 4xx, and an override
#     survives a reload;
#   * rvs-ctrl stopped: rvsd keeps forwarding; a change made behind its back is reverted
#     when it starts again (resync on reconnect).
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/ctrl-lib.sh
source "$(dirname "$0")/ctrl-lib.sh"

TCP_SVC="TCP  $VIP:80"
UDP_SVC="UDP  $VIP:53"
N_HTTP=60
N_UDP=1000
UDP_SIZE=100
UDP_SPORTS=16
N_FLOOD=20000

# write_conf [tcp-only]: with both virtual servers, or without the UDP one.
write_conf() {
  {
    kconf_header
    cat <<EOF
virtual_server $VIP 80 {
  delay_loop 1
  lb_algo rr
  lb_kind FNAT
  protocol TCP
  laddr_group_name lips
  real_server 198.19.0.11 80 {
    weight 1
    TCP_CHECK { connect_timeout 1 }
  }
  real_server 198.19.0.12 80 {
    weight 1
    TCP_CHECK { connect_timeout 1 }
  }
}
EOF
    [[ ${1:-} == tcp-only ]] || cat <<EOF
virtual_server $VIP 53 {
  delay_loop 1
  lb_algo rr
  lb_kind FNAT
  protocol UDP
  laddr_group_name lips
$(for i in 1 2 3; do printf '  real_server 198.19.0.1%s 5353 {\n    weight 1\n  }\n' "$i"; done)
}
EOF
  } >"$KCONF"
}

ctrl_rvsd_start
write_conf
ctrl_start
TCP2="198.19.0.11:80 1,198.19.0.12:80 1"
wait_reals 10 "$TCP_SVC" "$TCP2" || die "rvsd table: $REALS_SEEN"
wait_reals 5 "$UDP_SVC" "198.19.0.11:5353 1,198.19.0.12:5353 1,198.19.0.13:5353 1" || die "rvsd table: $REALS_SEEN"
pass "rvs-ctrl set up both services"
warm_up

# --------------------------------------------------------------- -Z and --stats
# stats_of OUTPUT NAME: the five numbers of the row whose first words are NAME
# ("TCP  198.18.0.100:80" or "-> 198.19.0.11:80").
stats_of() {
  awk -v n="$2" '{k = $1 " " $2; if ($1 == "TCP" || $1 == "UDP") k = $1 "  " $2} k == n {print $3, $4, $5, $6, $7}' <<<"$1"
}
# c0 counters: "tx_packets tx_bytes rx_packets rx_bytes"
c0_counters() {
  local d=/sys/class/net/c0/statistics
  in_client cat "$d/tx_packets" "$d/tx_bytes" "$d/rx_packets" "$d/rx_bytes" | paste -sd' ' -
}

assert_ok "rvsadm -Z" rvsadm -Z
st=$(rvsadm -Ln --stats --exact)
assert_eq "TCP stats after -Z" "0 0 0 0 0" "$(stats_of "$st" "$TCP_SVC")"
assert_eq "UDP stats after -Z" "0 0 0 0 0" "$(stats_of "$st" "$UDP_SVC")"
assert_eq "rs1 TCP stats after -Z" "0 0 0 0 0" "$(stats_of "$st" "-> 198.19.0.11:80")"

read -r tx0 txb0 rx0 rxb0 <<<"$(c0_counters)"
read -r prx0 ptx0 pmiss0 _ <<<"$(port_row "$(rvsadm --workers)" client)"
say "$N_HTTP curls and $N_UDP UDP datagrams of $UDP_SIZE bytes from $UDP_SPORTS ports"
out=$(http_get_many "$N_HTTP")
assert_eq "curls failed" 0 "$(count_of FAIL "$out")"
# Source ports below the ephemeral range: warm_up's datagrams came from ephemeral ports whose
# sessions still live (UDP timeout), and a port of theirs would make no new connection here.
res=$(udp_burst --dst "$VIP" --port 53 --count "$N_UDP" --sports "$UDP_SPORTS" --sport-base 20000 \
  --size "$UDP_SIZE" --window 32 --timeout 5)
say "udp_burst: $res"
assert_eq "UDP datagrams echoed" "$N_UDP" "$(json_field "$res" received)"
sleep 0.5
read -r tx1 txb1 rx1 rxb1 <<<"$(c0_counters)"
read -r prx1 ptx1 pmiss1 _ <<<"$(port_row "$(rvsadm --workers)" client)"
st=$(rvsadm -Ln --stats --exact)
indent <<<"$st"
read -r tc ti to tib tob <<<"$(stats_of "$st" "$TCP_SVC")"
read -r uc ui uo uib uob <<<"$(stats_of "$st" "$UDP_SVC")"
assert_eq "TCP Conns = curls" "$N_HTTP" "$tc"
assert_eq "rs1 / rs2 TCP Conns (rr)" "$((N_HTTP / 2)) $((N_HTTP / 2))" \
  "$(stats_of "$st" "-> 198.19.0.11:80" | cut -d' ' -f1) $(stats_of "$st" "-> 198.19.0.12:80" | cut -d' ' -f1)"
assert_eq "UDP Conns = source ports" "$UDP_SPORTS" "$uc"
assert_eq "UDP InPkts = datagrams sent" "$N_UDP" "$ui"
assert_eq "UDP OutPkts = datagrams echoed" "$N_UDP" "$uo"
assert_eq "UDP InBytes = datagrams x IP length" "$((N_UDP * (UDP_SIZE + 28)))" "$uib"
assert_eq "UDP OutBytes" "$((N_UDP * (UDP_SIZE + 28)))" "$uob"
sum_real_in=$(awk '$1 == "->" && $2 ~ /:80$/ {s += $4} END {print s + 0}' <<<"$st")
assert_eq "TCP InPkts = sum over its real servers" "$ti" "$sum_real_in"
# The client's interface: everything it sent went to rvsd (plus a few ARP frames).
dtx=$((tx1 - tx0)) drx=$((rx1 - rx0))
dtxb=$((txb1 - txb0 - 14 * dtx)) drxb=$((rxb1 - rxb0 - 14 * drx))
say "client c0: sent $dtx packets / $dtxb IP bytes, received $drx / $drxb; rvsd: in $((ti + ui)) / $((tib + uib)), out $((to + uo)) / $((tob + uob))"
assert_range "client packets sent - rvsd InPkts (in flight, ARP)" 0 3 "$((dtx - ti - ui))"
assert_range "client IP bytes sent - rvsd InBytes" 0 150 "$((dtxb - tib - uib))"
assert_range "client packets received - rvsd OutPkts" 0 3 "$((drx - to - uo))"
assert_range "client IP bytes received - rvsd OutBytes" 0 150 "$((drxb - tob - uob))"
# The same frames counted by the NIC (rvsd's client port) instead of the services.
say "client port: received $((prx1 - prx0)), sent $((ptx1 - ptx0)), missed $((pmiss1 - pmiss0))"
assert_range "client packets sent - client port RxPkts" 0 3 "$((dtx - (prx1 - prx0)))"
assert_range "client port TxPkts - client packets received" 0 3 "$((ptx1 - ptx0 - drx))"
assert_eq "client port RxMissed during the counted traffic" 0 "$((pmiss1 - pmiss0))"

# --------------------------------------------------------------- other views
rate=$(rvsadm -Ln --rate)
assert_contains "rvsadm -Ln --rate header" "CPS    InPPS   OutPPS    InBPS   OutBPS" "$rate"
conns=$(rvsadm -Lnc)
assert_ge "UDP entries in rvsadm -Lnc" "$UDP_SPORTS" "$(grep -c "^UDP .* $VIP:53 " <<<"$conns")"
wk=$(rvsadm --workers)
assert_gt "worker 0 RxPkts in rvsadm --workers" 0 "$(worker_rows "$wk" | awk '$1 == 0 {print $3}')"

# --------------------------------------------------------------- frames the port could not take
# rvsd frozen while the client sends: its af_packet ring (framecnt=4096) fills and the kernel
# drops the rest. Without RxMissed an operator would see datagrams vanish between the
# client and every counter rvsd has.
# workers_rx OUTPUT: RxPkts of all workers (af_packet rolls a full queue's frames over to
# the other queues' rings).
workers_rx() { worker_rows "$1" | awk '{s += $3} END {print s + 0}'; }
read -r ftx0 _ <<<"$(c0_counters)"
wk=$(rvsadm --workers)
wrx0=$(workers_rx "$wk")
read -r _ _ fmiss0 _ <<<"$(port_row "$wk" client)"
took_frames() { (($(workers_rx "$(rvsadm --workers)") > wrx0)); }
kill -STOP "$RVSD_PID"
sent=$(in_client "$PY" - "$VIP" "$N_FLOOD" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
n = 0
for i in range(int(sys.argv[2])):
    try:
        s.sendto(i.to_bytes(4, "big") * 16, (sys.argv[1], 9))
        n += 1
    except OSError:
        pass
print(n)
EOF
)
sleep 0.3
kill -CONT "$RVSD_PID"
wait_for 10 "the workers to take the rings' frames" took_frames || fail "no worker took a frame after SIGCONT"
sleep 1
read -r ftx1 _ <<<"$(c0_counters)"
wk=$(rvsadm --workers)
wrx1=$(workers_rx "$wk")
read -r _ _ fmiss1 _ <<<"$(port_row "$wk" client)"
fsent=$((ftx1 - ftx0)) frx=$((wrx1 - wrx0)) fmiss=$((fmiss1 - fmiss0))
say "flood: the client sent $sent datagrams ($fsent frames); the workers received $frx, the port missed $fmiss"
indent <<<"$(sed -n '/^Port  *Device/,$p' <<<"$wk")"
assert_eq "datagrams the client sent" "$N_FLOOD" "$sent"
assert_ge "client port RxMissed (a ring per worker holds 4096)" "$((N_FLOOD - 4096 * WORKERS - 64))" "$fmiss"
assert_range "frames sent - (workers' RxPkts + port RxMissed)" 0 3 "$((fsent - frx - fmiss))"

# --------------------------------------------------------------- /metrics
# The server side's neighbours as rvsadm lists them, a line each (three real servers used).
neigh_rows=$(rvsadm --neigh | grep -c " dev server ")
in_ctrl curl -s --max-time 10 "http://$CTRL_LISTEN/metrics" >"$CFG_DIR/metrics.txt"
parsed=$("$PY" - "$CFG_DIR/metrics.txt" "$VIP" <<'EOF'
import sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
vip = sys.argv[2]
fams = list(text_string_to_metric_families(text))
names = {f.name for f in fams}
print("families", len(fams))
print("untyped", sum(1 for f in fams if f.type in ("unknown", "untyped") or not f.documentation))
def val(name, **labels):
    for f in fams:
        for s in f.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return int(s.value) if float(s.value).is_integer() else s.value
    return "absent"
print("tcp_conns", val("rvs_vs_conns_total", vip=vip, port="80", proto="tcp"))
print("udp_in_packets", val("rvs_vs_in_packets_total", vip=vip, port="53", proto="udp"))
print("udp_in_bytes", val("rvs_vs_in_bytes_total", vip=vip, port="53", proto="udp"))
print("rs1_conns", val("rvs_rs_conns_total", proto="tcp", rip="198.19.0.11", rport="80"))
print("rs1_weight", val("rvs_rs_weight", proto="tcp", rip="198.19.0.11", rport="80"))
print("rs1_up", val("rvs_rs_up", proto="tcp", rip="198.19.0.11", rport="80"))
print("checks_up", sum(1 for f in fams for s in f.samples if s.name == "rvs_check_up" and s.value == 1))
durs = [s.value for f in fams for s in f.samples if s.name == "rvs_check_duration_seconds"]
print("check_durations", len(durs), "max_below_1s", all(0 <= d < 1 for d in durs))
print("worker_rx", "positive" if (val("rvs_worker_rx_packets_total", worker="0") or 0) > 0 else "zero")
print("rvsd_up", val("rvs_rvsd_up"))
print("port_rx_missed", val("rvs_port_rx_missed_total", port="client", device="net_af_packet0"))
print("neigh_server", int(sum(s.value for f in fams for s in f.samples
                              if s.name == "rvs_neighbours" and s.labels.get("dev") == "server")))
for n in ["rvs_vs_out_bytes", "rvs_rs_active_conns", "rvs_rs_inactive_conns", "rvs_worker_tx_packets",
          "rvs_worker_redirect_out", "rvs_worker_sessions", "rvs_drops", "rvs_check_up", "rvs_check_duration_seconds"]:
    if n not in names:
        print("missing family", n)
EOF
)
rc=$?
assert_eq "prometheus_client parser exit status" 0 "$rc"
indent <<<"$parsed"
pv() { awk -v k="$1" '$1 == k {$1 = ""; sub(/^ /, ""); print}' <<<"$parsed"; }
assert_gt "metric families" 15 "$(pv families)"
assert_eq "families without TYPE or HELP" 0 "$(pv untyped)"
assert_eq "rvs_vs_conns_total tcp = rvsadm" "$tc" "$(pv tcp_conns)"
assert_eq "rvs_vs_in_packets_total udp = rvsadm" "$ui" "$(pv udp_in_packets)"
assert_eq "rvs_vs_in_bytes_total udp = rvsadm" "$uib" "$(pv udp_in_bytes)"
assert_eq "rvs_rs_conns_total rs1" "$((N_HTTP / 2))" "$(pv rs1_conns)"
assert_eq "rvs_rs_weight rs1" 1 "$(pv rs1_weight)"
assert_eq "rvs_rs_up rs1" 1 "$(pv rs1_up)"
assert_eq "rvs_check_up = 1 samples (two TCP_CHECKs)" 2 "$(pv checks_up)"
assert_eq "rvs_check_duration_seconds samples" "2 max_below_1s True" "$(pv check_durations)"
assert_eq "rvs_worker_rx_packets_total" positive "$(pv worker_rx)"
assert_eq "rvs_rvsd_up" 1 "$(pv rvsd_up)"
assert_eq "rvs_port_rx_missed_total client = rvsadm --workers" "$fmiss1" "$(pv port_rx_missed)"
assert_ge "rvsadm --neigh lines on the server side" 3 "$neigh_rows"
assert_eq "rvs_neighbours on the server side = rvsadm --neigh's lines" "$neigh_rows" "$(pv neigh_server)"
assert_not_contains "parser output" "missing family" "$parsed"

# --------------------------------------------------------------- JSON API
BASE=/api/v1/services/tcp/$VIP:80
# real_json ADDR: "source weight override" of a real server in GET's answer
real_json() {
  api GET "$BASE" | "$PY" -c '
import json, sys
v = json.load(sys.stdin)
for r in v["reals"]:
    if r["address"] == sys.argv[1]:
        print(r["source"], r["weight"], r["override"])
        break
else:
    print("absent")' "$1"
}
spread() { local o; o=$(http_get_many "$1"); echo "$(count_of rs1 "$o") $(count_of rs2 "$o") $(count_of rs3 "$o") $(count_of FAIL "$o")"; }

api POST "$BASE/reals" '{"address": "198.19.0.13:80", "weight": 2}' >/dev/null
assert_eq "POST add rs3: HTTP status" 201 "$API_CODE"
assert_eq "GET rs3 after add" "api 2 added (weight 2)" "$(real_json 198.19.0.13:80)"
assert_reals 5 "$TCP_SVC" "$TCP2,198.19.0.13:80 2" "rvsadm -Ln after adding rs3"
api PUT "$BASE/reals/198.19.0.13:80" '{"weight": 5}' >/dev/null
assert_eq "PUT weight 5: HTTP status" 200 "$API_CODE"
assert_eq "GET rs3 after edit" "api 5 added (weight 5)" "$(real_json 198.19.0.13:80)"
assert_reals 5 "$TCP_SVC" "$TCP2,198.19.0.13:80 5" "rvsadm -Ln after rs3 weight 5"
s=$(spread 12)
assert_gt "requests answered by rs3 (added through the API)" 0 "$(cut -d' ' -f3 <<<"$s")"
api POST "$BASE/reals/198.19.0.11:80/drain" >/dev/null
assert_eq "POST drain rs1: HTTP status" 200 "$API_CODE"
assert_eq "GET rs1 after drain" "config 0 drained" "$(real_json 198.19.0.11:80)"
assert_reals 5 "$TCP_SVC" "198.19.0.11:80 0,198.19.0.12:80 1,198.19.0.13:80 5" "rvsadm -Ln after draining rs1"
s=$(spread 12)
assert_eq "requests answered by drained rs1, failed" "0 0" "$(cut -d' ' -f1,4 <<<"$s")"

# Refusals.
api POST "$BASE/reals" '{"address": "198.19.0.13:80"}' >/dev/null
assert_eq "POST an existing real server" 409 "$API_CODE"
api POST "/api/v1/services/tcp/$VIP:81/reals" '{"address": "198.19.0.13:80"}' >/dev/null
assert_eq "POST to an unknown service" 404 "$API_CODE"
api PUT "$BASE/reals/198.19.0.13:80" '{"weight": "heavy"}' >/dev/null
assert_eq "PUT a bad weight" 400 "$API_CODE"
api DELETE "$BASE/reals/198.19.0.99:80" >/dev/null
assert_eq "DELETE an unknown real server" 404 "$API_CODE"

# An override survives a reload of the file.
mark=$(log_mark)
ctrl_reload || fail "rvsadm --reload"
wait_for 5 "reloaded" bash -c "tail -n +$((mark + 1)) '$CTRL_LOG' | grep -q 'configuration reloaded'" || fail "no reload"
sleep 0.5
assert_eq "rvsadm -Ln after a reload keeps the API changes" "198.19.0.11:80 0,198.19.0.12:80 1,198.19.0.13:80 5" \
  "$(reals_of "$TCP_SVC" | sort | paste -sd, -)"

api DELETE "$BASE/reals/198.19.0.13:80" >/dev/null
assert_eq "DELETE rs3: HTTP status" 200 "$API_CODE"
assert_eq "GET rs3 after delete" absent "$(real_json 198.19.0.13:80)"
api PUT "$BASE/reals/198.19.0.11:80" '{"weight": 1}' >/dev/null
assert_eq "PUT rs1 back to weight 1: HTTP status" 200 "$API_CODE"
assert_eq "GET rs1: no override left" "config 1 None" "$(real_json 198.19.0.11:80)"
assert_reals 5 "$TCP_SVC" "$TCP2" "rvsadm -Ln back to the file's table"

# --------------------------------------------------------------- rvs-ctrl restart
say "stopping rvs-ctrl"
ctrl_stop
assert_eq "rvsd table with rvs-ctrl stopped" "$TCP2" "$(reals_of "$TCP_SVC" | sort | paste -sd, -)"
s=$(spread 10)
if ((WORKERS == 1)); then
  assert_eq "rs1 rs2 rs3 FAIL with rvs-ctrl stopped" "5 5 0 0" "$s"
else
  # Each worker has its own round-robin position: a worker that took an odd number of
  # the connections gives one more to one of the two, so 4/6 at most.
  read -r s1 s2 s3 sf <<<"$s"
  assert_eq "rs1+rs2 rs3 FAIL with rvs-ctrl stopped ($s)" "10 0 0" "$((s1 + s2)) $s3 $sf"
  assert_ge "rs1's share with rvs-ctrl stopped ($s), round robin on each of two workers" 4 "$s1"
  assert_ge "rs2's share with rvs-ctrl stopped ($s), round robin on each of two workers" 4 "$s2"
fi
assert_ok "rvsadm -d rs2 behind rvs-ctrl's back" rvsadm -d -t "$VIP:80" -r 198.19.0.12:80
ctrl_start
assert_reals 5 "$TCP_SVC" "$TCP2" "rvs-ctrl restored rs2 after its restart"

# --------------------------------------------------------------- node_exporter's totals
# A virtual server leaves keepalived.conf: the kernel's totals (node_exporter's
# node_ipvs_*_total, from /proc/net/ip_vs_stats) never go down, and neither do rvs-ctrl's
# (a drop is a counter reset to Prometheus' rate(): a spike of everything counted).
ipvs_total() { api GET /metrics | awk -v k="$1" '$1 == k {print $2}'; }
in_before=$(ipvs_total node_ipvs_incoming_packets_total)
conns_before=$(ipvs_total node_ipvs_connections_total)
assert_gt "node_ipvs_incoming_packets_total before (UDP's $N_UDP datagrams among them)" "$N_UDP" "${in_before:-0}"
write_conf tcp-only
mark=$(wc -l <"$CTRL_LOG")
ctrl_reload || fail "rvsadm --reload"
wait_for 5 "reloaded" bash -c "tail -n +$((mark + 1)) '$CTRL_LOG' | grep -q 'configuration reloaded'" || fail "no reload"
wait_for 5 "the UDP service gone" bash -c "! '$RVSADM' -Ln | grep -q '^UDP'" || fail "the UDP service is still in rvsd"
assert_ge "node_ipvs_incoming_packets_total after the UDP service left" "$in_before" "$(ipvs_total node_ipvs_incoming_packets_total)"
assert_ge "node_ipvs_connections_total after the UDP service left" "$conns_before" "$(ipvs_total node_ipvs_connections_total)"
assert_not_contains "rvs-ctrl log" "panicked" "$(cat "$CTRL_LOG")"
finish
