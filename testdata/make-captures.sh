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
#   tls   TLS between real peers, each capture with the key log of every
#         session in it (NAME.keys):
#         lab.pcap          the classic lab: curl http://, then
#                           curl --tls-max 1.2 --insecure -i https:// and
#                           plain curl --insecure (TLS 1.3) against
#                           `tlsscope serve`
#         openssl-tls12.pcap  s_client/s_server, TLS 1.2 suites: ECDHE-RSA
#                           AES-128/256-GCM, CHACHA20, AES-CBC with SHA1,
#                           SHA256, SHA384 with and without encrypt-then-MAC,
#                           DHE-RSA, static RSA, ECDHE-ECDSA; resumption by
#                           session ID and by ticket; client certificate
#         openssl-tls13.pcap  every TLS 1.3 suite OpenSSL has, a
#                           HelloRetryRequest, PSK resumption, 0-RTT early
#                           data, KeyUpdate, client certificate
#         nghttp.pcap       nghttp (HTTP/2) against `tlsscope serve`
#
# The files are small (< 1 MiB each) and checked in; the tests compare what
# tlsscope reads in them with what tshark reads.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BIN=${TLSSCOPE:-$ROOT/target/release/tlsscope}
OUT=$HERE/captures
SETS=("$@")
[[ ${#SETS[@]} -gt 0 ]] || SETS=(tcp tls)

if [[ -z "${_MC_IN_NETNS:-}" ]]; then
  [[ $(id -u) == 0 ]] || { echo "make-captures.sh: needs root (network namespace, capture)" >&2; exit 1; }
  for t in tcpdump dumpcap curl ethtool unshare ip openssl nghttp; do
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
  : >"$err"
  "$@" 2>"$err" &
  CAP_PID=$!
  PIDS+=("$CAP_PID")
  for _ in $(seq 100); do grep -qE 'listening on|Capturing on' "$err" && break; sleep 0.05; done
  grep -qE 'listening on|Capturing on' "$err" || { cat "$err" >&2; exit 1; }
}
stop_capture() { sleep 0.3; kill -INT "$CAP_PID"; wait "$CAP_PID" || true; }

# serve ADDR: starts tlsscope serve (plain HTTP only) and sets PORT.
serve() {
  : >"$WORK/serve.out"
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

# serve_tls: starts tlsscope serve with HTTP and HTTPS, key log $KEYS;
# sets PORT (http) and TPORT (https).
serve_tls() {
  : >"$WORK/serve.out"
  "$BIN" serve --http 127.0.0.1:0 --https 127.0.0.1:0 --keylog "$KEYS" >"$WORK/serve.out" 2>&1 &
  SERVE_PID=$!
  PIDS+=("$SERVE_PID")
  for _ in $(seq 100); do grep -q 'https://' "$WORK/serve.out" && break; sleep 0.05; done
  PORT=$(grep -o 'http://[^ ]*' "$WORK/serve.out" | head -1 | sed 's/.*://')
  TPORT=$(grep -o 'https://[^ ]*' "$WORK/serve.out" | head -1 | sed 's/.*://; s|/.*||')
  [[ -n "$PORT" && -n "$TPORT" ]] || { cat "$WORK/serve.out" >&2; exit 1; }
}

# s_server ARGS...: starts openssl s_server on a free port (sets SPORT).
s_server() {
  SPORT=$(( 20000 + RANDOM % 20000 ))
  : >"$WORK/s_server.out"
  openssl s_server -accept "127.0.0.1:$SPORT" -cert "$WORK/rsa/server.crt" -key "$WORK/rsa/server.key" "$@" \
    >"$WORK/s_server.out" 2>&1 </dev/null &
  SSERVER_PID=$!
  PIDS+=("$SSERVER_PID")
  for _ in $(seq 100); do grep -q 'ACCEPT' "$WORK/s_server.out" && break; sleep 0.05; done
  grep -q 'ACCEPT' "$WORK/s_server.out" || { cat "$WORK/s_server.out" >&2; exit 1; }
}
stop_s_server() { kill "$SSERVER_PID" 2>/dev/null || true; wait "$SSERVER_PID" 2>/dev/null || true; }

# get ARGS...: one HTTP/1.0 request through s_client to the s_server.
get() {
  printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -connect "127.0.0.1:$SPORT" -servername localhost \
    -keylogfile "$KEYS" -quiet "$@" >/dev/null 2>"$WORK/s_client.err" || { cat "$WORK/s_client.err" >&2; exit 1; }
}

set_tls() {
  mkdir -p "$OUT/tls"
  rm -f "$OUT"/tls/*.pcap "$OUT"/tls/*.keys
  "$BIN" cert new --out "$WORK/rsa" --force >/dev/null
  "$BIN" cert new --out "$WORK/ec" --key-type p256 --force >/dev/null
  "$BIN" cert new --out "$WORK/client" --cn "lab client" --force >/dev/null

  log "tls: the lab (curl against tlsscope serve)"
  KEYS=$OUT/tls/lab.keys
  serve_tls
  start_capture lab tcpdump --immediate-mode -U -i lo -n -s 0 -w "$OUT/tls/lab.pcap" "tcp port $PORT or tcp port $TPORT"
  curl -s -i "http://localhost:$PORT/" >/dev/null
  SSLKEYLOGFILE=$WORK/curl.keys curl -s --tls-max 1.2 --insecure -i "https://localhost:$TPORT/" >/dev/null
  SSLKEYLOGFILE=$WORK/curl.keys curl -s --insecure -i "https://localhost:$TPORT/" >/dev/null
  stop_capture
  kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true

  log "tls: nghttp against tlsscope serve"
  KEYS=$OUT/tls/nghttp.keys
  serve_tls
  start_capture nghttp tcpdump --immediate-mode -U -i lo -n -s 0 -w "$OUT/tls/nghttp.pcap" "tcp port $TPORT"
  nghttp -n "https://127.0.0.1:$TPORT/" "https://127.0.0.1:$TPORT/bytes/40000"
  stop_capture
  kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true

  log "tls: openssl TLS 1.2 suites, resumption, client certificates"
  KEYS=$OUT/tls/openssl-tls12.keys
  start_capture o12 tcpdump --immediate-mode -U -i lo -n -s 0 -w "$OUT/tls/openssl-tls12.pcap" "tcp portrange 20000-40000"
  s_server -www -tls1_2 -cipher 'ALL:@SECLEVEL=0'
  for c in ECDHE-RSA-AES128-GCM-SHA256 ECDHE-RSA-AES256-GCM-SHA384 ECDHE-RSA-CHACHA20-POLY1305 \
           ECDHE-RSA-AES128-SHA ECDHE-RSA-AES128-SHA256 ECDHE-RSA-AES256-SHA384 \
           DHE-RSA-AES128-GCM-SHA256 DHE-RSA-AES256-SHA256 AES128-SHA AES256-GCM-SHA384 AES128-SHA256; do
    get -tls1_2 -cipher "$c:@SECLEVEL=0"
  done
  get -tls1_2 -cipher 'ECDHE-RSA-AES128-SHA256:@SECLEVEL=0' -no_etm
  get -tls1_2 -cipher 'AES256-SHA:@SECLEVEL=0' -no_etm
  # Resumption by session ID (no tickets), then by ticket.
  get -tls1_2 -no_ticket -sess_out "$WORK/sid.sess"
  get -tls1_2 -no_ticket -sess_in "$WORK/sid.sess"
  get -tls1_2 -sess_out "$WORK/ticket.sess"
  get -tls1_2 -sess_in "$WORK/ticket.sess"
  stop_s_server
  # ECDSA certificate.
  SPORT=$(( 20000 + RANDOM % 20000 ))
  : >"$WORK/s_server.out"
  openssl s_server -accept "127.0.0.1:$SPORT" -cert "$WORK/ec/server.crt" -key "$WORK/ec/server.key" -www -tls1_2 \
    >"$WORK/s_server.out" 2>&1 </dev/null &
  SSERVER_PID=$!; PIDS+=("$SSERVER_PID")
  for _ in $(seq 100); do grep -q 'ACCEPT' "$WORK/s_server.out" && break; sleep 0.05; done
  get -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256
  get -tls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305
  stop_s_server
  # A client certificate (CertificateRequest, client Certificate, CertificateVerify).
  s_server -www -tls1_2 -Verify 1 -CAfile "$WORK/client/server.crt"
  get -tls1_2 -cert "$WORK/client/server.crt" -key "$WORK/client/server.key"
  stop_s_server
  stop_capture

  log "tls: openssl TLS 1.3 suites, HelloRetryRequest, PSK, 0-RTT, KeyUpdate, client certificate"
  KEYS=$OUT/tls/openssl-tls13.keys
  start_capture o13 tcpdump --immediate-mode -U -i lo -n -s 0 -w "$OUT/tls/openssl-tls13.pcap" "tcp portrange 20000-40000"
  s_server -www -tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256
  for c in TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256 TLS_AES_128_CCM_SHA256 TLS_AES_128_CCM_8_SHA256; do
    get -tls1_3 -ciphersuites "$c"
  done
  get -tls1_3 -sess_out "$WORK/psk.sess"
  get -tls1_3 -sess_in "$WORK/psk.sess"
  stop_s_server
  # HelloRetryRequest: the server only takes P-256, the client's first share is X25519.
  s_server -www -tls1_3 -groups P-256
  get -tls1_3 -groups X25519:P-256
  stop_s_server
  # 0-RTT early data on a resumed session.
  # (s_server cannot combine -early_data with -www: it prints what it gets,
  # and stops at the end of its stdin, so stdin stays open a while.)
  SPORT=$(( 20000 + RANDOM % 20000 ))
  : >"$WORK/s_server.out"
  timeout 60 tail -f /dev/null | openssl s_server -accept "127.0.0.1:$SPORT" -cert "$WORK/rsa/server.crt" \
    -key "$WORK/rsa/server.key" -tls1_3 -early_data -max_early_data 16384 -no_anti_replay \
    >"$WORK/s_server.out" 2>&1 &
  SSERVER_PID=$!; PIDS+=("$SSERVER_PID")
  for _ in $(seq 100); do grep -q 'ACCEPT' "$WORK/s_server.out" && break; sleep 0.05; done
  { printf 'first connection\n'; sleep 0.5; } | timeout 10 openssl s_client -connect "127.0.0.1:$SPORT" \
    -servername localhost -keylogfile "$KEYS" -sess_out "$WORK/early.sess" -no_ign_eof >/dev/null 2>&1
  printf 'GET / HTTP/1.0\r\n\r\n' >"$WORK/early.txt"
  { printf 'after the handshake\n'; sleep 0.5; } | timeout 10 openssl s_client -connect "127.0.0.1:$SPORT" \
    -servername localhost -keylogfile "$KEYS" -sess_in "$WORK/early.sess" -early_data "$WORK/early.txt" \
    -no_ign_eof >"$WORK/early.out" 2>&1
  grep -q 'Early data was accepted' "$WORK/early.out" || { echo "make-captures: 0-RTT was not accepted" >&2; cat "$WORK/early.out" >&2; exit 1; }
  stop_s_server
  # KeyUpdate in both directions (s_client's "K" asks the peer to update too).
  s_server -rev -tls1_3
  { printf 'hello\n'; sleep 0.3; printf 'K\n'; sleep 0.3; printf 'world\n'; sleep 0.3; } | \
    timeout 10 openssl s_client -connect "127.0.0.1:$SPORT" -servername localhost -keylogfile "$KEYS" \
    >/dev/null 2>"$WORK/s_client.err" || true
  stop_s_server
  s_server -www -tls1_3 -Verify 1 -CAfile "$WORK/client/server.crt"
  get -tls1_3 -cert "$WORK/client/server.crt" -key "$WORK/client/server.key"
  stop_s_server
  stop_capture
}

for s in "${SETS[@]}"; do "set_$s"; done
chown "$(id -u):$(id -g)" "$OUT"/*/* 2>/dev/null || true
chmod 0644 "$OUT"/*/* 2>/dev/null || true
ls -la "$OUT"/* >&2
