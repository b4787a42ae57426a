#!/usr/bin/env bash
# make-fixtures.sh - regenerate the HTTP fixtures in this directory.
#
# Real HTTP/2 (h2c, prior knowledge) and HTTP/1.1 traffic between curl /
# nghttp and `tlsscope serve` (plain HTTP), captured by tcpdump on a private
# loopback: the script re-executes itself in a new network namespace
# (unshare --net) with lo's MTU at 1500 and offloads off, so segments are
# Ethernet-sized as on a wire. Then tshark (the oracle) writes what it
# decodes in each capture to NAME.tshark, which the tests in
# crates/scope/src/http/tests.rs compare with what tlsscope decodes.
#
# Needs root, tcpdump, tshark, curl, nghttp, ethtool and a release build of
# tlsscope (cargo build --release).
#
#   crates/scope/testdata/http/make-fixtures.sh
#
# Files:
#   h2c-curl.pcap    curl --http2-prior-knowledge, three connections:
#                    GET /, GET /bytes/100000 (flow control: WINDOW_UPDATE),
#                    a POST of 3000 bytes to /echo
#   h2c-nghttp.pcap  nghttp (prior knowledge): GET / and /bytes/20000 on
#                    one connection (PRIORITY frames, PING, GOAWAY)
#   h1-curl.pcap     curl HTTP/1.1 keep-alive: GET /, HEAD /bytes/10,
#                    GET /bytes/20000, POST /echo; then curl --http2
#                    (an Upgrade: h2c request)
#   NAME.tshark      tshark's per-frame decoding of NAME.pcap (see below)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../../.." && pwd)
BIN=${TLSSCOPE:-$ROOT/target/release/tlsscope}

if [[ -z "${_MF_IN_NETNS:-}" ]]; then
  [[ $(id -u) == 0 ]] || { echo "make-fixtures.sh: needs root (network namespace, capture)" >&2; exit 1; }
  for t in tcpdump tshark curl nghttp ethtool unshare ip; do
    command -v "$t" >/dev/null || { echo "make-fixtures.sh: missing $t" >&2; exit 1; }
  done
  [[ -x "$BIN" ]] || { echo "make-fixtures.sh: build first: cargo build --release" >&2; exit 1; }
  export _MF_IN_NETNS=1 BIN
  exec unshare --net -- "$0" "$@"
fi

ip link set lo up
ip link set lo mtu 1500
ethtool -K lo tso off gso off gro off >/dev/null 2>&1 || ethtool -K lo tso off gso off >/dev/null
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
log() { printf 'make-fixtures: %s\n' "$*" >&2; }

start_capture() {
  : >"$WORK/cap.err"
  tcpdump --immediate-mode -U -i lo -n -s 0 -w "$1" "tcp port $PORT" 2>"$WORK/cap.err" &
  CAP_PID=$!
  PIDS+=("$CAP_PID")
  for _ in $(seq 100); do grep -q 'listening on' "$WORK/cap.err" && break; sleep 0.05; done
  grep -q 'listening on' "$WORK/cap.err" || { cat "$WORK/cap.err" >&2; exit 1; }
}
stop_capture() { sleep 0.3; kill -INT "$CAP_PID"; wait "$CAP_PID" || true; }

: >"$WORK/serve.out"
"$BIN" serve --http 127.0.0.1:0 --https none >"$WORK/serve.out" 2>&1 &
PIDS+=("$!")
for _ in $(seq 100); do grep -q 'http://' "$WORK/serve.out" && break; sleep 0.05; done
PORT=$(grep -o 'http://[^ ]*' "$WORK/serve.out" | head -1 | sed 's/.*://; s|/.*||')
[[ -n "$PORT" ]] || { cat "$WORK/serve.out" >&2; exit 1; }
URL=http://127.0.0.1:$PORT
head -c 3000 /dev/zero | tr '\0' 'x' >"$WORK/post.txt"

log "h2c-curl.pcap"
start_capture "$HERE/h2c-curl.pcap"
# One connection per curl: curl 7.88 fails (exit 16) reusing a
# prior-knowledge connection for a second URL.
curl -s -o /dev/null --http2-prior-knowledge "$URL/"
curl -s -o /dev/null --http2-prior-knowledge "$URL/bytes/100000"
curl -s -o /dev/null --http2-prior-knowledge --data-binary @"$WORK/post.txt" "$URL/echo"
stop_capture

log "h2c-nghttp.pcap"
start_capture "$HERE/h2c-nghttp.pcap"
nghttp -n "$URL/" "$URL/bytes/20000"
stop_capture

log "h1-curl.pcap"
start_capture "$HERE/h1-curl.pcap"
curl -s -o /dev/null -o /dev/null -o /dev/null "$URL/" "$URL/bytes/20000" "$URL/bytes/10"
curl -s -o /dev/null -I "$URL/bytes/10"
curl -s -o /dev/null --data-binary @"$WORK/post.txt" "$URL/echo"
curl -s -o /dev/null --http2 "$URL/"
stop_capture

# The oracle: one line per HTTP/2 frame or HTTP/1 message tshark decodes,
# tab-separated: frame number, then the fields below (lists comma-separated
# when a frame holds several).
for f in h2c-curl h2c-nghttp; do
  tshark -r "$HERE/$f.pcap" -d "tcp.port==$PORT,http2" -Y http2 -T fields -E separator=/t \
    -e frame.number -e http2.type -e http2.streamid -e http2.flags -e http2.length \
    -e http2.header.name -e http2.header.value >"$HERE/$f.tshark"
done
tshark -r "$HERE/h1-curl.pcap" -d "tcp.port==$PORT,http" -Y http -T fields -E separator=/t \
  -e frame.number -e http.request.method -e http.request.uri -e http.response.code \
  -e http.content_length >"$HERE/h1-curl.tshark"
log "done: $(ls "$HERE")"
