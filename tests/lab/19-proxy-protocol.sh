#!/usr/bin/env bash
# PROXY protocol: rvsd puts a v1 or v2 header ahead of the client's first byte, so nginx's
# 'listen 8081 proxy_protocol' on every real server (scripts/lab.sh, log $STATE/rsN/pp.log)
# learns the real client address and port although the connection comes from a LIP.
#
#   VIP:8081 -> RS:8081, proxy_protocol v1, local address 198.19.0.200
#   VIP:8082 -> RS:8081, proxy_protocol v2, local address 198.19.0.201 (later with synproxy too)
#
# For each service: 20 curls from 198.18.0.10 and 20 from 198.18.0.11; all answered; each
# (address, source port) appears in exactly one pp.log line, with a LIP as the TCP peer and
# status 200. Captures on the servers check the header bytes themselves: the version's
# format, the client as source and VIP:port as destination, followed by the request.
# Each service also carries the 50 MB download and a 20 MB upload (PUT) byte for byte.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

CLIENTS=(198.18.0.10 198.18.0.11)
PER_CLIENT=20
RS_PORT=8081

lab_up
make_config "$WORKERS" "$CFG_DIR/rvsd.toml"
rvsd_start "$CFG_DIR/rvsd.toml"
warm_up

# add_pp_service PORT VERSION LIP [EXTRA OPTIONS...]
add_pp_service() {
  local port=$1 ver=$2 lip=$3 ip
  shift 3
  assert_ok "rvsadm -A -t $VIP:$port -s rr --proxy-protocol $ver $*" \
    rvsadm -A -t "$VIP:$port" -s rr --proxy-protocol "$ver" "$@"
  for ip in "${RS_IPS[@]}"; do
    assert_ok "rvsadm -a -t $VIP:$port -r $ip:$RS_PORT" rvsadm -a -t "$VIP:$port" -r "$ip:$RS_PORT" -b -w 1
  done
  assert_ok "rvsadm -P -t $VIP:$port -z $lip" rvsadm -P -t "$VIP:$port" -z "$lip"
}
add_pp_service 8081 v1 "${LIPS[0]}"
add_pp_service 8082 v2 "${LIPS[1]}"
listing=$(rvsadm -Ln)
assert_contains "rvsadm -Ln" "TCP  $VIP:8081 rr proxy-protocol v1" "$listing"
assert_contains "rvsadm -Ln" "TCP  $VIP:8082 rr proxy-protocol v2" "$listing"

# pp_curls PORT COUNT OUT: COUNT curls from each client address to VIP:PORT, one line each:
# "ADDR LOCAL_PORT BODY" (BODY "FAIL" for a failed request).
pp_curls() {
  local port=$1 count=$2 out=$3 src
  : >"$out"
  for src in "${CLIENTS[@]}"; do
    # shellcheck disable=SC2016
    in_client bash -c 'for ((i = 0; i < $1; i++)); do
        r=$(curl -s --max-time 5 --interface "$2" -w " %{local_port}" "$3")
        if [[ $r =~ ^(rs[0-9])[[:space:]]+([0-9]+)$ ]]; then
          printf "%s %s %s\n" "$2" "${BASH_REMATCH[2]}" "${BASH_REMATCH[1]}"
        else
          printf "%s 0 FAIL\n" "$2"
        fi
      done' _ "$count" "$src" "http://$VIP:$port/" >>"$out"
  done
}

# check_pp LABEL PORT VERSION CURLS_FILE PCAP_PREFIX: the curls' results against pp.log (new
# lines since the marks in $CFG_DIR/pp.mark.N) and the server-side captures.
check_pp() {
  local label=$1 port=$2 ver=$3 curls=$4 prefix=$5 n total
  total=$(wc -l <"$curls")
  assert_eq "$label: failed curls (of $total)" 0 "$(grep -c ' FAIL$' "$curls")"
  : >"$CFG_DIR/pp.new"
  for n in 1 2 3; do
    tail -n +"$(($(cat "$CFG_DIR/pp.mark.$n") + 1))" "$STATE/rs$n/pp.log" >>"$CFG_DIR/pp.new"
  done
  local verdicts
  verdicts=$(PYTHONPATH="$ROOT/tests/lab" "$PY" - "$curls" "$CFG_DIR/pp.new" "${LIPS[*]}" "$ver" "$VIP" "$port" \
    "$CFG_DIR/$prefix" <<'PYEOF'
import collections, ipaddress, struct, sys
import tcpcap
curls_f, log_f, lips, ver, vip, vport, pcap_prefix = sys.argv[1:8]
lips = set(lips.split())
vport = int(vport)
curls = [l.split() for l in open(curls_f) if l.strip()]
want = {(a, int(p)) for a, p, body in curls if body != "FAIL"}
seen = collections.Counter()
bad_peer = []
bad_status = []
for line in open(log_f):
    f = line.split()
    if len(f) < 6:
        print("BAD pp.log line with too few fields: %r" % line)
        continue
    pa, pp, ra, rp, status = f[0], f[1], f[2], f[3], f[-1]
    try:
        key = (pa, int(pp))
    except ValueError:
        print("BAD pp.log line without a PROXY port: %r" % line.strip())
        continue
    seen[key] += 1
    if ra not in lips:
        bad_peer.append(line.strip())
    if status != "200":
        bad_status.append(line.strip())
missing = sorted(want - set(seen))
dup = sorted(k for k in want if seen[k] > 1)
extra = sorted(set(seen) - want)
print(("OK" if not missing else "BAD") + " connections logged with the client's address:port as PROXY source: %d of %d%s"
      % (len(want) - len(missing), len(want), (" (missing e.g. %s)" % missing[:3]) if missing else ""))
print(("OK" if not dup else "BAD") + " client address:port logged more than once: %d%s" % (len(dup), (" e.g. %s" % dup[:3]) if dup else ""))
print(("OK" if not extra else "BAD") + " pp.log entries with a PROXY source no curl had: %d%s" % (len(extra), (" e.g. %s" % extra[:3]) if extra else ""))
print(("OK" if not bad_peer else "BAD") + " pp.log entries whose TCP peer is not a LIP: %d%s" % (len(bad_peer), (" e.g. %r" % bad_peer[0]) if bad_peer else ""))
print(("OK" if not bad_status else "BAD") + " pp.log entries with a status other than 200: %d%s" % (len(bad_status), (" e.g. %r" % bad_status[0]) if bad_status else ""))

# The header bytes on the wire, per server-side connection.
sig2 = b"\r\n\r\n\x00\r\nQUIT\n"
headers = {}
problems = []
for n in (1, 2, 3):
    segs = tcpcap.read("%s-rs%d.pcap" % (pcap_prefix, n))
    for flow, ss in tcpcap.connections(segs, dport=8081).items():
        data = tcpcap.stream_bytes(ss, flow)
        if not data:
            problems.append("rs%d %s:%d: no client bytes captured" % (n, flow[0], flow[1]))
            continue
        if ver == "v1":
            end = data.find(b"\r\n")
            if not data.startswith(b"PROXY ") or end < 0:
                problems.append("rs%d %s:%d: no PROXY v1 line: %r" % (n, flow[0], flow[1], data[:60]))
                continue
            parts = data[:end].decode("ascii", "replace").split(" ")
            if len(parts) != 6 or parts[1] != "TCP4":
                problems.append("rs%d: malformed v1 line %r" % (n, data[:end]))
                continue
            src, dst, sport, dport = parts[2], parts[3], int(parts[4]), int(parts[5])
            rest = data[end + 2:]
        else:
            if not data.startswith(sig2) or len(data) < 16:
                problems.append("rs%d %s:%d: no PROXY v2 signature: %r" % (n, flow[0], flow[1], data[:20]))
                continue
            vc, fam, ln = data[12], data[13], struct.unpack("!H", data[14:16])[0]
            if vc != 0x21 or fam != 0x11 or ln < 12 or len(data) < 16 + ln:
                problems.append("rs%d: v2 header ver/cmd %#x family %#x len %d" % (n, vc, fam, ln))
                continue
            a = data[16:28]
            src, dst = str(ipaddress.IPv4Address(a[:4])), str(ipaddress.IPv4Address(a[4:8]))
            sport, dport = struct.unpack("!HH", a[8:12])
            rest = data[16 + ln:]
        if dst != vip or dport != vport:
            problems.append("rs%d: header destination %s:%d, expected %s:%d" % (n, dst, dport, vip, vport))
        if not rest.startswith(b"GET / HTTP/1.1\r\n"):
            problems.append("rs%d: after the header %r, expected the request" % (n, rest[:20]))
        headers[(src, sport)] = headers.get((src, sport), 0) + 1
hmiss = sorted(want - set(headers))
print(("OK" if not problems else "BAD") + " %s headers well-formed on the wire (destination %s:%d, request right after): %d problems%s"
      % (ver, vip, vport, len(problems), (": " + "; ".join(problems[:3])) if problems else ""))
print(("OK" if not hmiss else "BAD") + " connections whose %s header on the wire names the client: %d of %d%s"
      % (ver, len(want) - len(hmiss), len(want), (" (missing e.g. %s)" % hmiss[:3]) if hmiss else ""))
PYEOF
  )
  while read -r verdict rest; do
    case $verdict in
      OK) pass "$label: $rest" ;;
      *) fail "$label: $rest" ;;
    esac
  done <<<"$verdicts"
}

# run_pp LABEL PORT VERSION COUNT: captures on the servers, curls, checks.
run_pp() {
  local label=$1 port=$2 ver=$3 count=$4 n
  for n in 1 2 3; do
    wc -l <"$STATE/rs$n/pp.log" >"$CFG_DIR/pp.mark.$n"
    cap_start "$label-rs$n" "$RVS_LAB-rs$n" eth0 "tcp port $RS_PORT"
  done
  say "$label: $count curls from each of ${CLIENTS[*]} to $VIP:$port"
  pp_curls "$port" "$count" "$CFG_DIR/$label.curls"
  sleep 0.5
  cap_stop "$label-rs1" "$label-rs2" "$label-rs3"
  check_pp "$label" "$port" "$ver" "$CFG_DIR/$label.curls" "$label"
}

# bulk LABEL PORT: the 50 MB /big.bin down and a 20 MB PUT up through the service, both
# byte-identical: the header shifts the server side's sequence numbers by its length, and
# every later segment and acknowledgement, in both directions, has to be translated.
head -c $((20 * 1024 * 1024)) /dev/urandom >"$CFG_DIR/up.bin"
UP_SHA=$(sha256sum "$CFG_DIR/up.bin" | awk '{print $1}')
bulk() {
  local label=$1 port=$2 sum code n stored=""
  sum=$(in_client timeout 70 curl -s --max-time 60 "http://$VIP:$port/big.bin" | sha256sum | awk '{print $1}')
  assert_eq "$label: sha256 of the 50 MB /big.bin" "$(cat "$STATE/big.sha256")" "$sum"
  code=$(in_client timeout 70 curl -s --max-time 60 -o /dev/null -w '%{http_code}' -T "$CFG_DIR/up.bin" \
    "http://$VIP:$port/up/$label.bin")
  assert_eq "$label: HTTP status of the 20 MB PUT" 201 "$code"
  for n in 1 2 3; do
    [[ -f $STATE/rs$n/up/$label.bin ]] && stored=$(sha256sum "$STATE/rs$n/up/$label.bin" | awk '{print $1}')
  done
  assert_eq "$label: sha256 of the 20 MB upload as stored by the server" "$UP_SHA" "$stored"
}

# big_headers LABEL PORT: requests whose headers fill a full-size first segment (3 KB in
# one header, 16 KB in four): the PROXY header goes in front of that segment, so the MSS
# the client was given must leave room for it, or the segment grows past the MTU and the
# request hangs.
big_headers() {
  local label=$1 port=$2 one four code
  one=$(head -c 3000 /dev/zero | tr '\0' a)
  four=$(head -c 4000 /dev/zero | tr '\0' b)
  code=$(in_client curl -s --max-time 10 -o /dev/null -w '%{http_code}' -H "X-Big: $one" "http://$VIP:$port/")
  assert_eq "$label: HTTP status with a 3 KB header" 200 "$code"
  code=$(in_client curl -s --max-time 10 -o /dev/null -w '%{http_code}' -H "X-A: $four" -H "X-B: $four" \
    -H "X-C: $four" -H "X-D: $four" "http://$VIP:$port/")
  assert_eq "$label: HTTP status with 16 KB of headers" 200 "$code"
}

run_pp pp-v1 8081 v1 "$PER_CLIENT"
bulk pp-v1 8081
big_headers pp-v1 8081
run_pp pp-v2 8082 v2 "$PER_CLIENT"
bulk pp-v2 8082
big_headers pp-v2 8082

before=$(rvsadm --workers 2>&1)
assert_ok "rvsadm -E -t $VIP:8082 -s rr --proxy-protocol v2 --synproxy" \
  rvsadm -E -t "$VIP:8082" -s rr --proxy-protocol v2 --synproxy
assert_contains "rvsadm -Ln" "TCP  $VIP:8082 rr synproxy proxy-protocol v2" "$(rvsadm -Ln)"
run_pp pp-v2-synproxy 8082 v2 5
bulk pp-v2-synproxy 8082
big_headers pp-v2-synproxy 8082
after=$(rvsadm --workers 2>&1)
indent <<<"$after"
assert_ge "proxy_header_inserted total" $((2 * PER_CLIENT * 2 + 10 + 6)) "$(event_counter "$after" proxy_header_inserted)"
assert_ge "synproxy_ack_accepted growth with v2 + synproxy" 10 \
  $(($(event_counter "$after" synproxy_ack_accepted) - $(event_counter "$before" synproxy_ack_accepted)))

finish
