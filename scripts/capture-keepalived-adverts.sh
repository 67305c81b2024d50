#!/usr/bin/env bash
# Capture real VRRP advertisements from keepalived and store them as golden
# fixtures for libs/vrrp (libs/vrrp/test/fixtures/keepalived-<version>-*.json).
#
# Needs root, keepalived, tcpdump, iproute2 and node. It builds two throwaway
# network namespaces joined by a veth pair (198.18.0.0/15 and fd00:198:18::/48
# only), runs keepalived in one and tcpdump in the other, stops keepalived so
# its priority-0 advert is captured too, and removes everything on exit, also
# on failure or Ctrl-C. Every step is bounded in time.
#
# Usage: sudo scripts/capture-keepalived-adverts.sh [OUTPUT_DIR]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/libs/vrrp/test/fixtures}
PREFIX="kqcap$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
NS_K="${PREFIX}k" # runs keepalived
NS_C="${PREFIX}c" # runs tcpdump: sees the packets as a peer receives them
WORK=$(mktemp -d "/tmp/${PREFIX}.XXXXXX")
KEEPALIVED_PID=""
TCPDUMP_PID=""

cleanup() {
  local rc=$?
  if [[ -n "$KEEPALIVED_PID" ]] && kill -0 "$KEEPALIVED_PID" 2>/dev/null; then
    kill -TERM "$KEEPALIVED_PID" 2>/dev/null || true
    timeout 5 tail --pid="$KEEPALIVED_PID" -f /dev/null || kill -KILL "$KEEPALIVED_PID" 2>/dev/null || true
  fi
  if [[ -n "$TCPDUMP_PID" ]] && kill -0 "$TCPDUMP_PID" 2>/dev/null; then
    kill -TERM "$TCPDUMP_PID" 2>/dev/null || true
  fi
  if [[ $rc -ne 0 ]]; then
    for log in "$WORK"/*.log; do
      [[ -f "$log" ]] && { echo "--- $log" >&2; tail -n 40 "$log" >&2; }
    done
  fi
  ip netns del "$NS_K" 2>/dev/null || true
  ip netns del "$NS_C" 2>/dev/null || true
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for tool in keepalived tcpdump ip node timeout; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done
[[ $(id -u) -eq 0 ]] || { echo "run as root (network namespaces, raw sockets)" >&2; exit 1; }

KEEPALIVED_VERSION=$(keepalived --version 2>&1 | sed -n 1p)
VERSION_TAG=$(sed -n 's/^Keepalived v\([0-9.]*\).*/\1/p' <<<"$KEEPALIVED_VERSION")
[[ -n "$VERSION_TAG" ]] || { echo "cannot read keepalived version from: $KEEPALIVED_VERSION" >&2; exit 1; }

# --- the lab -----------------------------------------------------------------
ip netns add "$NS_K"
ip netns add "$NS_C"
for ns in "$NS_K" "$NS_C"; do
  # No DAD, so link-local sources are usable at once.
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
  ip -n "$ns" link set lo up
done
ip -n "$NS_K" link add kqk0 type veth peer name kqc0 netns "$NS_C"
# Fixed MACs give fixed link-local addresses, so regenerated fixtures diff cleanly.
ip -n "$NS_K" link set kqk0 address 02:6b:71:00:00:01
ip -n "$NS_C" link set kqc0 address 02:6b:71:00:00:02
ip -n "$NS_K" addr add 198.18.0.1/24 dev kqk0
ip -n "$NS_C" addr add 198.18.0.2/24 dev kqc0
ip -n "$NS_K" addr add fd00:198:18::1/64 dev kqk0 nodad
ip -n "$NS_C" addr add fd00:198:18::2/64 dev kqc0 nodad
ip -n "$NS_K" link set kqk0 up
ip -n "$NS_C" link set kqc0 up

# --- one capture ---------------------------------------------------------------
# capture NAME DESCRIPTION <<< keepalived vrrp_instance body
# Waits (at most MAX_WAIT seconds) for WANTED adverts, then stops keepalived.
WANTED=3
MAX_WAIT=20
capture() {
  local name=$1 description=$2
  local conf="$WORK/$name.conf" pcap="$WORK/$name.pcap"
  {
    printf 'global_defs {\n  router_id kqcap\n}\n'
    cat
  } >"$conf"

  # tcpdump's own time limit bounds the capture even if a kill below is missed.
  ip netns exec "$NS_C" timeout $((MAX_WAIT + 15)) \
    tcpdump -i kqc0 -n -U -s 0 -w "$pcap" 'ip proto 112 or ip6 proto 112' 2>"$WORK/$name.tcpdump.log" &
  TCPDUMP_PID=$!
  for _ in $(seq 50); do grep -q 'listening on' "$WORK/$name.tcpdump.log" 2>/dev/null && break; sleep 0.1; done

  ip netns exec "$NS_K" keepalived -n -l -D -G -P -f "$conf" \
    -p "$WORK/$name.keepalived.pid" -r "$WORK/$name.vrrp.pid" >"$WORK/$name.keepalived.log" 2>&1 &
  KEEPALIVED_PID=$!
  # keepalived starts as BACKUP and becomes master after Master_Down_Interval.
  local deadline=$((SECONDS + MAX_WAIT)) seen=0
  while ((SECONDS < deadline)); do
    seen=$(tcpdump -r "$pcap" -n 2>/dev/null | wc -l)
    ((seen >= WANTED)) && break
    sleep 0.2
  done
  ((seen >= WANTED)) || { echo "$name: only $seen adverts within ${MAX_WAIT}s" >&2; exit 1; }
  # SIGTERM makes the master send its priority-0 advert before exiting.
  kill -TERM "$KEEPALIVED_PID"
  timeout 10 tail --pid="$KEEPALIVED_PID" -f /dev/null || { echo "keepalived did not stop" >&2; exit 1; }
  KEEPALIVED_PID=""
  sleep 0.5
  kill -INT "$TCPDUMP_PID" 2>/dev/null || true
  wait "$TCPDUMP_PID" 2>/dev/null || true
  TCPDUMP_PID=""

  node "$ROOT/scripts/pcap-to-vrrp-fixture.mjs" \
    --pcap "$pcap" --conf "$conf" --keepalived "$KEEPALIVED_VERSION" \
    --description "$description" --keep "$WANTED" --out "$OUT/keepalived-$VERSION_TAG-$name.json"
}

mkdir -p "$OUT"

capture v2-pass-ipv4 "VRRPv2, auth PASS with a 13-character password, advert_int 1, one IPv4 VIP" <<'EOF'
vrrp_instance kq_v2_pass {
  version 2
  state MASTER
  interface kqk0
  virtual_router_id 51
  priority 150
  advert_int 1
  authentication {
    auth_type PASS
    auth_pass kqpassword123
  }
  virtual_ipaddress {
    198.18.0.100/24
  }
}
EOF

capture v3-ipv4-100ms "VRRPv3, advert_int 0.1, two IPv4 VIPs" <<'EOF'
vrrp_instance kq_v3_v4 {
  version 3
  state MASTER
  interface kqk0
  virtual_router_id 52
  priority 120
  advert_int 0.1
  virtual_ipaddress {
    198.18.0.101/24
    198.18.0.102/24
  }
}
EOF

capture v3-ipv6 "VRRPv3, advert_int 1, one IPv6 VIP on an interface with an fd00:198:18:: address" <<'EOF'
vrrp_instance kq_v3_v6 {
  version 3
  state MASTER
  interface kqk0
  virtual_router_id 53
  priority 110
  advert_int 1
  virtual_ipaddress {
    fd00:198:18::100/64
  }
}
EOF

# keepalived forces v3 on IPv6 only under vrrp_strict; without it, version 2
# goes out over IPv6 as-is. Captured to pin that form down.
capture v2-ipv6 "VRRPv2 over IPv6 (vrrp_strict off), advert_int 1, one IPv6 VIP" <<'EOF'
vrrp_instance kq_v2_v6 {
  version 2
  state MASTER
  interface kqk0
  virtual_router_id 54
  priority 100
  advert_int 1
  virtual_ipaddress {
    fd00:198:18::101/64
  }
}
EOF

echo "fixtures written to $OUT"
