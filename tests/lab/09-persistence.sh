#!/usr/bin/env bash
# Persistence (ipvsadm -p / -M): with -p 60, 100 requests from one client all reach one real
# server, whatever worker or connection they use; other clients may go elsewhere but each
# sticks; with -M 255.255.255.0 the whole client /24 sticks to one server.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

lab_up
make_config "$WORKERS" "$CFG_DIR/rvsd.toml"
# A catch-all from rvsd.toml itself (the one further down is rvsadm's): port 0, persistent,
# real servers without a port.
TOML_ANY=198.18.0.102
cat >>"$CFG_DIR/rvsd.toml" <<EOF

[[service]]
protocol = "tcp"
address = "$TOML_ANY:0"
scheduler = "rr"
persistence_timeout = 300
local_addresses = ["${LIPS[0]}"]
real = [ { address = "${RS_IPS[0]}" }, { address = "${RS_IPS[1]}:0" } ]
EOF
rvsd_start "$CFG_DIR/rvsd.toml"
warm_up

svc="-t $VIP:80"
# shellcheck disable=SC2086
assert_ok "rvsadm -E $svc -s wlc -p 60" rvsadm -E $svc -s wlc -p 60
listing=$(rvsadm -Ln)
assert_contains "rvsadm -Ln shows the persistence" "persistent 60" "$listing"

# from_client ADDR N [DST]: N requests from the client namespace with source address ADDR,
# to http://DST/ (the VIP by default).
from_client() {
  # shellcheck disable=SC2016
  in_client bash -c 'for ((i = 0; i < $2; i++)); do
      body=$(curl -s --max-time 5 --interface "$1" "http://$3/") && [[ -n $body ]] || body=FAIL
      printf "%s\n" "$body"
    done' _ "$1" "$2" "${3:-$VIP}"
}

out=$(from_client 198.18.0.10 100)
assert_eq "failed requests from .10" 0 "$(count_of FAIL "$out")"
distinct=$(sort -u <<<"$out" | grep -c .)
assert_eq "real servers seen by one persistent client over 100 connections" 1 "$distinct"
first=$(head -n1 <<<"$out")

# Other clients: each one sticks to its own server.
servers=()
for c in 198.18.0.21 198.18.0.22 198.18.0.23 198.18.0.24; do
  o=$(from_client "$c" 10)
  assert_eq "failed requests from $c" 0 "$(count_of FAIL "$o")"
  assert_eq "real servers seen by $c" 1 "$(sort -u <<<"$o" | grep -c .)"
  servers+=("$(head -n1 <<<"$o")")
done
say "clients .10 .21-.24 went to: $first ${servers[*]}"

# Back to the first client: still pinned.
out=$(from_client 198.18.0.10 10)
assert_eq "client .10 still on $first" 10 "$(count_of "$first" "$out")"

# -M 255.255.255.0: the /24 is one persistence unit.
# shellcheck disable=SC2086
assert_ok "rvsadm -E $svc -s wlc -p 60 -M 255.255.255.0" rvsadm -E $svc -s wlc -p 60 -M 255.255.255.0
assert_contains "rvsadm -Ln shows the mask" "mask 255.255.255.0" "$(rvsadm -Ln)"
all=""
for c in 198.18.0.10 198.18.0.11 198.18.0.25 198.18.0.30; do
  o=$(from_client "$c" 5)
  assert_eq "failed requests from $c" 0 "$(count_of FAIL "$o")"
  all+="$o"$'\n'
done
assert_eq "real servers seen by the whole /24" 1 "$(sort -u <<<"$all" | grep -c .)"

# LVS's catch-all: port 0 of a second VIP, persistent, to real servers given without a port
# (port 0: the port each client asked for). One client's connections to port 80 and to
# port 8081 all go to one real server, on the port asked for; without -p, ipvsadm's error.
ANY=198.18.0.101
out=$(rvsadm -A -t "$ANY:0" -s rr 2>&1)
assert_contains "rvsadm -A -t $ANY:0 without -p" "Zero port specified for non-persistent service" "$out"
assert_ok "rvsadm -A -t $ANY:0 -s rr -p 60" rvsadm -A -t "$ANY:0" -s rr -p 60
for ip in "${RS_IPS[@]}"; do
  assert_ok "rvsadm -a -t $ANY:0 -r $ip" rvsadm -a -t "$ANY:0" -r "$ip" -w 1
done
# FULLNAT with no local address yet: the change is made, and rvsadm says what is missing.
out=$(rvsadm -e -t "$ANY:0" -r "${RS_IPS[0]}" -w 1 2>&1)
assert_contains "rvsadm -e of a FULLNAT server, no local address: the warning" \
  "warning: -t $ANY:0 has FULLNAT real servers and no IPv4 local address" "$out"
assert_ok "rvsadm -P -t $ANY:0 -z ${LIPS[1]}" rvsadm -P -t "$ANY:0" -z "${LIPS[1]}"
assert_eq "rvsadm -e once the service has a local address: nothing on stderr" "" \
  "$(rvsadm -e -t "$ANY:0" -r "${RS_IPS[0]}" -w 1 2>&1 >/dev/null)"
indent < <(rvsadm -Ln -t "$ANY:0")
out=$(from_client 198.18.0.10 10 "$ANY")
assert_eq "failed requests to $ANY:80 (the catch-all)" 0 "$(count_of FAIL "$out")"
assert_eq "real servers seen through the catch-all" 1 "$(sort -u <<<"$out" | grep -c .)"
# Port 8081 (nginx's PROXY-protocol listener, which closes on a request without the header):
# the connection is made, to the same server, on port 8081. The server's close may be a RST
# as well as a FIN: nginx resets such a connection now and then (7 of 300 tries straight
# from one real server to another, no rvsd between), so the check is that the connection
# opens and the server ends it within the timeout (124 if it does not, 1 if it never opens).
# shellcheck disable=SC2016
in_client timeout 10 bash -c 'exec 3<>"/dev/tcp/$0/8081" || exit 1; printf "x\r\n\r\n" >&3; cat <&3 >/dev/null 2>&1; exit 0' "$ANY"
assert_eq "TCP $ANY:8081 through the catch-all: connected and closed by the server" 0 "$?"
conns=$(rvsadm -Lnc | awk -v any="$ANY" '$5 ~ "^"any":" {print $5, $7}')
indent <<<"$conns"
assert_ge "catch-all sessions listed" 11 "$(grep -c . <<<"$conns")"
assert_eq "real servers of the catch-all's sessions" 1 "$(awk '{split($2, a, ":"); print a[1]}' <<<"$conns" | sort -u | grep -c .)"
assert_eq "sessions whose server port is not the port asked for" 0 \
  "$(awk '{n = split($1, v, ":"); m = split($2, r, ":"); if (v[n] != r[m]) print}' <<<"$conns" | grep -c .)"
assert_eq "the server's name for port 80 and 8081" "$(head -n1 <<<"$out")" \
  "rs$(($(awk '{split($2, a, ":"); print a[1]}' <<<"$conns" | sort -u | sed 's/.*\.//') - 10))"

listing=$(rvsadm -Ln -t "$TOML_ANY:0")
indent <<<"$listing"
assert_contains "rvsd.toml's catch-all listed" "TCP  $TOML_ANY:0 rr persistent 300" "$listing"
out=$(from_client 198.18.0.10 6 "$TOML_ANY")
assert_eq "failed requests to $TOML_ANY:80 (rvsd.toml's catch-all)" 0 "$(count_of FAIL "$out")"
assert_eq "real servers seen through rvsd.toml's catch-all" 1 "$(sort -u <<<"$out" | grep -c .)"
conns=$(rvsadm -Lnc | awk -v any="$TOML_ANY" '$5 ~ "^"any":" {print $5, $7}')
assert_eq "rvsd.toml's catch-all sessions on port 80 of a real server" 6 "$(grep -c ':80 .*:80$' <<<"$conns")"

finish
