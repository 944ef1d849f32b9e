#!/usr/bin/env bash
# What a session adds to the client's stream (the PROXY header, the TOA option) must still
# fit the MTU: requests with a 3 KB header and with 16 KB of headers, and a 50 MB upload
# (curl --data-binary, PUT to nginx's /up/, stored and hashed at the server) through
#
#   VIP:8090 SYN proxy + PROXY v2      -> RS:8081 (nginx 'listen proxy_protocol')
#   VIP:8091 SYN proxy + TOA           -> RS:80
#   VIP:8092 PROXY v2 + TOA, no SYN proxy (the server's MSS clamped for both: their sum)
#
# all succeed, byte-identical at the server; captures on the client and on every real
# server hold no frame over 1514 bytes (MTU 1500) while full-size ones did go through, and
# the MSS the client was offered is 1460 less what the session adds (28, 8, 28 + 8).
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

lab_up
make_config "$WORKERS" "$CFG_DIR/rvsd.toml"
rvsd_start "$CFG_DIR/rvsd.toml"
warm_up

# add_service VPORT RPORT LIP OPTIONS...
add_service() {
  local vport=$1 rport=$2 lip=$3 ip
  shift 3
  assert_ok "rvsadm -A -t $VIP:$vport -s rr $*" rvsadm -A -t "$VIP:$vport" -s rr "$@"
  for ip in "${RS_IPS[@]}"; do
    assert_ok "rvsadm -a -t $VIP:$vport -r $ip:$rport" rvsadm -a -t "$VIP:$vport" -r "$ip:$rport" -b -w 1
  done
  assert_ok "rvsadm -P -t $VIP:$vport -z $lip" rvsadm -P -t "$VIP:$vport" -z "$lip"
}
add_service 8090 8081 "${LIPS[0]}" --synproxy --proxy-protocol v2
add_service 8091 80 "${LIPS[1]}" --synproxy --toa
add_service 8092 8081 "${LIPS[0]}" --toa --proxy-protocol v2
indent < <(rvsadm -Ln)

head -c $((50 * 1024 * 1024)) /dev/urandom >"$CFG_DIR/up.bin"
UP_SHA=$(sha256sum "$CFG_DIR/up.bin" | awk '{print $1}')
ONE=$(head -c 3000 /dev/zero | tr '\0' a)
FOUR=$(head -c 4000 /dev/zero | tr '\0' b)

cap_start client "$RVS_LAB-client" c0 "tcp portrange 8090-8092"
for n in 1 2 3; do cap_start "rs$n" "$RVS_LAB-rs$n" eth0 "tcp port 80 or tcp port 8081"; done

# round LABEL VPORT: 3 KB header, 16 KB of headers, 50 MB upload stored by a server.
round() {
  local label=$1 vport=$2 code n stored=""
  code=$(in_client curl -s --max-time 10 -o /dev/null -w '%{http_code}' -H "X-Big: $ONE" "http://$VIP:$vport/")
  assert_eq "$label: HTTP status with a 3 KB header" 200 "$code"
  code=$(in_client curl -s --max-time 10 -o /dev/null -w '%{http_code}' -H "X-A: $FOUR" -H "X-B: $FOUR" \
    -H "X-C: $FOUR" -H "X-D: $FOUR" "http://$VIP:$vport/")
  assert_eq "$label: HTTP status with 16 KB of headers" 200 "$code"
  code=$(in_client timeout 80 curl -s --max-time 70 -o /dev/null -w '%{http_code}' -X PUT \
    --data-binary "@$CFG_DIR/up.bin" "http://$VIP:$vport/up/$label.bin")
  assert_eq "$label: HTTP status of the 50 MB upload (curl --data-binary)" 201 "$code"
  for n in 1 2 3; do
    [[ -f $STATE/rs$n/up/$label.bin ]] && stored=$(sha256sum "$STATE/rs$n/up/$label.bin" | awk '{print $1}')
  done
  assert_eq "$label: sha256 of the upload as the server stored it" "$UP_SHA" "$stored"
}
round synproxy-pp2 8090
round synproxy-toa 8091
round pp2-toa 8092
sleep 0.5
cap_stop client rs1 rs2 rs3

verdicts=$(PYTHONPATH="$ROOT/tests/lab" "$PY" - "$CFG_DIR" "$VIP" <<'PYEOF'
import struct, sys
import tcpcap
d, vip = sys.argv[1], sys.argv[2]

def frame_lengths(path):
    """Original lengths of every frame in a pcap (the wire size, whatever the snap length)."""
    with open(path, "rb") as f:
        data = f.read()
    endian = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    off, out = 24, []
    while off + 16 <= len(data):
        _, _, incl, orig = struct.unpack(endian + "IIII", data[off:off + 16])
        out.append(orig)
        off += 16 + incl
    return out

for side in ("client", "rs1", "rs2", "rs3"):
    lens = frame_lengths("%s/%s.pcap" % (d, side))
    over = [l for l in lens if l > 1514]
    print(("OK" if lens and not over else "BAD") + " %s capture: %d frames, none over 1514 bytes: %d over (largest %d)"
          % (side, len(lens), len(over), max(lens, default=0)))
big = max(max(frame_lengths("%s/rs%d.pcap" % (d, n)), default=0) for n in (1, 2, 3))
print(("OK" if big >= 1400 else "BAD") + " full-size frames reached the servers (largest %d bytes)" % big)

want = {8090: 1460 - 28, 8091: 1460 - 8, 8092: 1460 - 28 - 8}
seen = {p: set() for p in want}
for seg in tcpcap.read("%s/client.pcap" % d):
    if seg.has(tcpcap.SYN) and seg.has(tcpcap.ACK) and seg.src == vip and seg.sport in want:
        for kind, val in seg.options:
            if kind == 2 and len(val) == 2:
                seen[seg.sport].add(struct.unpack("!H", val)[0])
for p, m in want.items():
    print(("OK" if seen[p] == {m} else "BAD") + " MSS offered to the client on %s:%d: %s (expected %d)"
          % (vip, p, sorted(seen[p]) or "none seen", m))
PYEOF
)
while read -r verdict rest; do
  case $verdict in
    OK) pass "$rest" ;;
    *) fail "$rest" ;;
  esac
done <<<"$verdicts"

finish
