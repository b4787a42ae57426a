#!/usr/bin/env bash
# make-captures.sh - regenerate the real captures under testdata/captures.
#
# Every capture is real traffic between real peers on a private loopback:
# the script re-executes itself inside a new network namespace
# (unshare --net), sets lo's MTU to 1500 and turns segmentation offloads
# off, so segments are Ethernet-sized as on a wire, and only our traffic
# is on the interface. Needs root, tcpdump, dumpcap (tshark package), curl
# and a release build of tlsscope (cargo build --release).
#
#   testdata/make-captures.sh [tcp]...     (default: every set)
#
# Sets:
#   tcp   plain HTTP between curl and `tlsscope serve`, captured by
#         tcpdump (Ethernet; Linux cooked v2 via -i any; nanosecond pcap
#         over IPv6) and by dumpcap (pcapng).
#
# The files are small (< 1 MiB each) and checked in; the tests compare what
# tlsscope reads in them with what tshark reads.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BIN=${TLSSCOPE:-$ROOT/target/release/tlsscope}
OUT=$HERE/captures
SETS=("$@")
[[ ${#SETS[@]} -gt 0 ]] || SETS=(tcp)

if [[ -z "${_MC_IN_NETNS:-}" ]]; then
  [[ $(id -u) == 0 ]] || { echo "make-captures.sh: needs root (network namespace, capture)" >&2; exit 1; }
  for t in tcpdump dumpcap curl ethtool unshare ip; do
    command -v "$t" >/dev/null || { echo "make-captures.sh: missing $t" >&2; exit 1; }
  done
  [[ -x "$BIN" ]] || { echo "make-captures.sh: build first: cargo build --release" >&2; exit 1; }
  export _MC_IN_NETNS=1 BIN
  exec unshare --net -- "$0" "${SETS[@]}"
fi

ip link set lo up
ip link set lo mtu 1500
ethtool -K lo tso off gso off gro off >/dev/null 2>&1 || ethtool -K lo tso off gso off >/dev/null
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

log() { printf 'make-captures: %s\n' "$*" >&2; }

# start_capture NAME CMD... : runs a capture tool in the background until stop_capture.
start_capture() {
  local err=$WORK/$1.err; shift
  "$@" 2>"$err" &
  CAP_PID=$!
  PIDS+=("$CAP_PID")
  for _ in $(seq 100); do grep -qE 'listening on|Capturing on' "$err" && break; sleep 0.05; done
  grep -qE 'listening on|Capturing on' "$err" || { cat "$err" >&2; exit 1; }
}
stop_capture() { sleep 0.3; kill -INT "$CAP_PID"; wait "$CAP_PID" || true; }

# serve ADDR: starts tlsscope serve (plain HTTP only) and sets PORT.
serve() {
  "$BIN" serve --http "$1" --https none >"$WORK/serve.out" 2>&1 &
  SERVE_PID=$!
  PIDS+=("$SERVE_PID")
  for _ in $(seq 100); do grep -q 'http://' "$WORK/serve.out" && break; sleep 0.05; done
  PORT=$(grep -o 'http://[^ ]*' "$WORK/serve.out" | head -1 | sed 's/.*://')
  [[ -n "$PORT" ]] || { cat "$WORK/serve.out" >&2; exit 1; }
}

set_tcp() {
  mkdir -p "$OUT/tcp"
  rm -f "$OUT"/tcp/*.pcap "$OUT"/tcp/*.pcapng

  serve 127.0.0.1:0
  log "tcp: tcpdump on lo (Ethernet framing), curl: two requests, 100 kB body"
  start_capture eth tcpdump --immediate-mode -U -i lo -n -s 0 -w "$OUT/tcp/http-lo-ethernet.pcap" "tcp port $PORT"
  curl -s -o /dev/null "http://127.0.0.1:$PORT/"
  curl -s -o /dev/null -o /dev/null "http://127.0.0.1:$PORT/bytes/100000" "http://127.0.0.1:$PORT/echo"
  stop_capture

  log "tcp: tcpdump on any (Linux cooked v2)"
  start_capture sll2 tcpdump --immediate-mode -U -i any -y LINUX_SLL2 -n -s 0 -w "$OUT/tcp/http-any-sll2.pcap" "tcp port $PORT"
  curl -s -o /dev/null "http://127.0.0.1:$PORT/bytes/20000"
  stop_capture

  log "tcp: dumpcap (pcapng), HTTP/1.1 keep-alive with three requests"
  start_capture ng dumpcap -i lo -f "tcp port $PORT" -w "$OUT/tcp/http-dumpcap.pcapng"
  curl -s -o /dev/null -o /dev/null -o /dev/null "http://127.0.0.1:$PORT/" "http://127.0.0.1:$PORT/bytes/30000" "http://127.0.0.1:$PORT/echo"
  stop_capture
  kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true

  serve '[::1]:0'
  log "tcp: IPv6, nanosecond pcap"
  start_capture v6 tcpdump --immediate-mode -U -i lo -n -s 0 --time-stamp-precision=nano -w "$OUT/tcp/http-ipv6-nanosecond.pcap" "tcp port $PORT"
  curl -s -o /dev/null "http://[::1]:$PORT/bytes/50000"
  stop_capture
  kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true

  log "tcp: snapshot length 200 (every data frame cut)"
  serve 127.0.0.1:0
  start_capture snap tcpdump --immediate-mode -U -i lo -n -s 200 -w "$OUT/tcp/http-snaplen-200.pcap" "tcp port $PORT"
  curl -s -o /dev/null "http://127.0.0.1:$PORT/bytes/5000"
  stop_capture
  kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true
}

for s in "${SETS[@]}"; do "set_$s"; done
chown "$(id -u):$(id -g)" "$OUT"/*/* 2>/dev/null || true
chmod 0644 "$OUT"/*/* 2>/dev/null || true
ls -la "$OUT"/* >&2
