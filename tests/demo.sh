#!/bin/sh
# make demo: the case sslshim was born from, reproduced on loopback.
#
# A TLS server, a proxy that flips one byte of the server's first encrypted
# record, and a client that retries its handshake in a loop; server and
# client run with the shim preloaded.  Then it shows what the logs say: who
# sent which alert in which state, the reconnect loop, and the line of the
# program that issues each reconnect.
set -eu
cd "$(dirname "$0")/.."
for tool in openssl python3; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "demo: '$tool' is missing. On Debian: sudo make deps" >&2; exit 2; }
done

out=build/demo
rm -rf "$out"
mkdir -p "$out/logs" "$out/certs"
certs=$out/certs
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -keyout "$certs/server.key" -out "$certs/server.pem" -subj /CN=localhost 2>/dev/null

pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

wait_port() {   # wait_port FILE: the port a fixture printed as "PORT n"
    i=0
    while [ $i -lt 100 ]; do
        # the background job may not have created its output file yet
        port=$(sed -n 's/^PORT \([0-9]*\)$/\1/p' "$1" 2>/dev/null || true)
        [ -n "$port" ] && { echo "$port"; return 0; }
        sleep 0.05; i=$((i + 1))
    done
    echo "demo: $1 never printed its port" >&2; exit 1
}

shim=$PWD/build/libsslshim.so
LD_PRELOAD=$shim SSLSHIM_LOG=$out/logs/ build/tests/tls_server --port 0 --conns 0 \
    --cert "$certs/server.pem" --key "$certs/server.key" --timeout 60 >"$out/server.out" 2>&1 &
pids="$pids $!"
server_port=$(wait_port "$out/server.out")
build/tests/corrupt_proxy --listen-port 0 --target-port "$server_port" --conns 0 \
    --timeout 60 >"$out/proxy.out" 2>&1 &
pids="$pids $!"
proxy_port=$(wait_port "$out/proxy.out")

echo "== a client retries its handshake through a proxy that corrupts one byte"
echo "   (server 127.0.0.1:$server_port, proxy 127.0.0.1:$proxy_port, both ends preloaded)"
LD_PRELOAD=$shim SSLSHIM_LOG=$out/logs/ build/tests/tls_client --port "$proxy_port" \
    --cafile "$certs/server.pem" --sni localhost --retry 6 --delay-ms 100 2>/dev/null || true
sleep 0.2
cleanup
pids=""
echo
python3 tests/demo_summary.py "$out/logs"
echo
echo "logs: $out/logs/   (full report: scripts/sslshim report $out/logs)"
