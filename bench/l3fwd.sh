#!/usr/bin/env bash
# DPDK's own l3fwd, counted the way bench/run.sh counts rvsd's packet path: instructions
# per packet under callgrind, on the frames of the established scenario (1,000 TCP flows,
# 60-byte frames, bursts of 32), so that the instruction figures have a reference
# measured in the same run on the same machine.
#
#   bench/l3fwd.sh RESULTS_DIR      writes RESULTS_DIR/l3fwd.json (and RESULTS_DIR/l3fwd/)
#
# l3fwd comes from Debian's dpdk-doc (/usr/share/dpdk/examples, the sources of the DPDK
# the system has), built against the installed libdpdk with one change: the RX checksum
# offload it asks for is masked by what the port offers (the pcap port offers none, and
# l3fwd would refuse to start). It reads its frames from a pcap port replaying a
# capture (infinite_rx) and writes them to another capture. Two modes:
#   em   exact match of the 5-tuple (rte_hash, one rule per flow): a flow lookup, as
#        rvsd's session lookup is, then TTL, IP checksum and MAC rewrite;
#   lpm  longest prefix match of the destination (one /16): a stateless router.
# Counted: everything l3fwd's main loop runs except the pcap port's RX and TX functions
# (reading and writing the captures, which a NIC's PMD does not do): the rx_burst wrapper,
# the software packet-type parse (--parse-ptype: the pcap port sets none; reported apart),
# the lookups, the rewrite, the TX buffering and the loop. Packets: those in the output
# capture, each checked to be one of the input flows with its TTL decremented.
set -euo pipefail

RES=${1:?usage: bench/l3fwd.sh RESULTS_DIR}
PY=/usr/bin/python3
SECS=${BENCH_L3FWD_SECONDS:-40}
SRC=/usr/share/dpdk/examples
[[ -d $SRC/l3fwd && -d $SRC/common ]] || { echo "l3fwd bench: no $SRC/l3fwd (apt-get install dpdk-doc)" >&2; exit 1; }
OUT=$RES/l3fwd
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/rvs-l3fwd.XXXXXX)
PREFIX=${RVS_LAB:-bnc}-l3fwd-$$
# The build and the captures, and DPDK's runtime directory.
trap 'rm -rf "$WORK" "/var/run/dpdk/$PREFIX"' EXIT

cp -r "$SRC/l3fwd" "$SRC/common" "$WORK/"
cd "$WORK/l3fwd"
# The one change: offloads the port does not offer are not asked for (port and queue).
sed -i 's/^\(\t\t\)ret = rte_eth_dev_configure(portid, nb_rx_queue,/\1local_port_conf.rxmode.offloads \&= dev_info.rx_offload_capa;\n&/' main.c
sed -i 's/^\(\t\t\trxq_conf.offloads = port_conf.rxmode.offloads\);/\1 \& dev_info.rx_offload_capa;/' main.c
[[ $(grep -c 'dev_info.rx_offload_capa;' main.c) == 2 ]] || { echo "l3fwd bench: main.c did not take the offload patch" >&2; exit 1; }
CFLAGS="-g" make -s >"$OUT/build.log" 2>&1 || { echo "l3fwd bench: build failed ($OUT/build.log)" >&2; exit 1; }

# 1,000 TCP flows (ACKs, 60-byte frames) in a random order, and l3fwd's rules for them.
"$PY" - "$WORK" <<'EOF'
import random, struct, sys
work = sys.argv[1]
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
frames, em = [], []
for i in range(1000):
    src, dst, sport, dport = (198, 18, i // 250, i % 250 + 1), (198, 19, 0, 10), 10000 + i, 80
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 0, 0, 64, 6, 0, bytes(src), bytes(dst))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    pseudo = bytes(src) + bytes(dst) + struct.pack("!BBH", 0, 6, 20)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, 1, 1, 5 << 4, 0x10, 8192, 0, 0)
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    eth = bytes.fromhex("020000000002" "020000000001" "0800")
    frames.append(eth + ip + tcp + bytes(6))
    em.append("R%s %s %d %d 0x6 0" % (".".join(map(str, dst)), ".".join(map(str, src)), dport, sport))
random.Random(7).shuffle(frames)
with open(f"{work}/flows.pcap", "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for fr in frames:
        f.write(struct.pack("<IIII", 0, 0, len(fr), len(fr)) + fr)
open(f"{work}/em_v4.cfg", "w").write("\n".join(em) + "\n")
open(f"{work}/em_v6.cfg", "w").write("R2001:db8::1 2001:db8::2 9 9 0x11 0\n")
open(f"{work}/lpm_v4.cfg", "w").write("R198.19.0.0/16 0\n")
open(f"{work}/lpm_v6.cfg", "w").write("R2001:db8::/32 0\n")
EOF

for mode in em lpm; do
  flag=-E
  [[ $mode == lpm ]] && flag=-L
  echo "l3fwd bench: $mode, ${SECS} s under callgrind" >&2
  # l3fwd stops on SIGINT (closing its ports, which flushes the output capture).
  rc=0
  timeout -s INT "$SECS" valgrind --tool=callgrind --callgrind-out-file="$WORK/$mode.cg" \
    --collect-atstart=no --toggle-collect="${mode}_main_loop" ./build/l3fwd -l 0 --no-pci --no-huge -m 2048 \
    --file-prefix "$PREFIX" \
    --vdev "net_pcap0,rx_pcap=$WORK/flows.pcap,tx_pcap=$WORK/$mode-out.pcap,infinite_rx=1" -- \
    -p 0x1 $flag --config="(0,0,0)" --parse-ptype --rule_ipv4="$WORK/${mode}_v4.cfg" \
    --rule_ipv6="$WORK/${mode}_v6.cfg" >"$OUT/$mode.log" 2>&1 || rc=$?
  ((rc == 0 || rc == 124)) || { echo "l3fwd bench: $mode exited $rc ($OUT/$mode.log)" >&2; exit 1; }
  callgrind_annotate --inclusive=yes "$WORK/$mode.cg" 2>/dev/null | head -40 >"$OUT/profile-$mode.txt" || true
done

"$PY" - "$WORK" "$RES/l3fwd.json" <<'EOF'
import json, re, struct, sys
work, out = sys.argv[1], sys.argv[2]

def count(cg):
    """Ir collected; Ir of the calls from l3fwd into the pcap port's functions; Ir of the
    software packet-type parse."""
    names = {"ob": {}, "fn": {}}
    total = pmd = ptype = 0
    ob = cob = fn = None
    in_call = False
    for line in open(cg):
        m = re.match(r"(c?)(ob|fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if m:
            called, kind, num, name = m.groups()
            if name:
                names[kind][num] = name
            name = names[kind].get(num, "")
            if kind == "ob":
                if called:
                    cob = name
                else:
                    ob = name
            elif not called:
                fn, cob = name, None
            continue
        if line.startswith(("summary:", "totals:")):
            total = int(line.split()[1])
            continue
        if line.startswith("calls="):
            in_call = True
            continue
        if line[:1].isdigit() or line[:1] in "+-*":
            cost = int(line.split()[-1])
            if in_call:
                callee = cob if cob is not None else ob
                if "librte_net_pcap" in callee and "librte_net_pcap" not in ob:
                    pmd += cost
                in_call, cob = False, None
            elif fn and "cb_parse_ptype" in fn:
                ptype += cost
    return total, pmd, ptype

def packets(path):
    """Frames in the output capture, each checked: one of the input flows, TTL 63."""
    n = 0
    with open(path, "rb") as f:
        f.read(24)
        while True:
            h = f.read(16)
            if len(h) < 16:
                break
            incl = struct.unpack("<IIII", h)[2]
            fr = f.read(incl)
            if len(fr) < incl:
                break
            if fr[12:14] != b"\x08\x00" or fr[22] != 63 or fr[23] != 6 or fr[30:34] != bytes((198, 19, 0, 10)):
                raise SystemExit(f"l3fwd bench: frame {n} of {path} is not a forwarded flow frame")
            n += 1
    return n

res = {"flows": 1000, "frame_bytes": 60, "burst": 32,
       "method": "valgrind --tool=callgrind, toggle on l3fwd's main loop; Ir minus the pcap port's RX/TX "
                 "functions, over the frames in the output capture"}
for mode in ("em", "lpm"):
    total, pmd, ptype = count(f"{work}/{mode}.cg")
    n = packets(f"{work}/{mode}-out.pcap")
    if n < 100000:
        raise SystemExit(f"l3fwd bench: {mode} forwarded only {n} frames")
    res[mode] = {"packets": n, "instr_per_pkt": (total - pmd) / n, "ptype_parse_instr_per_pkt": ptype / n,
                 "pcap_port_instr_per_pkt": pmd / n}
json.dump(res, open(out, "w"), indent=2)
print(json.dumps(res))
EOF
