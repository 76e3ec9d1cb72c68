#!/usr/bin/env bash
# Runs the RouteGuide server and client from BUILD_DIR and shows them
# talking: server on a free port, client against it, both outputs labelled.
# Exits with the client's status. Usage: demo.sh [BUILD_DIR] (default build)
set -u

BUILD_DIR=${1:-build}
BIN="$BUILD_DIR/examples/route_guide"
SERVER="$BIN/route_guide_server"
CLIENT="$BIN/route_guide_client"
START_WAIT_S=10   # for the server to listen
CLIENT_WAIT_S=60  # for the whole client run
STOP_WAIT_S=10    # for the server to shut down gracefully

for prog in "$SERVER" "$CLIENT"; do
  if [ ! -x "$prog" ]; then
    echo "demo: $prog not found; build first (make build)" >&2
    exit 1
  fi
done

tmp=$(mktemp -d)
server_pid=
stop_server() {
  [ -n "$server_pid" ] || return 0
  if kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null
    for _ in $(seq $((STOP_WAIT_S * 10))); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$server_pid" 2>/dev/null; then
      echo "demo: server did not stop in ${STOP_WAIT_S}s; killing it" >&2
      kill -KILL "$server_pid" 2>/dev/null
    fi
  fi
  wait "$server_pid" 2>/dev/null
  server_status=$?
  server_pid=
}
trap 'stop_server; rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Port 0: the kernel picks a free port and the server prints it.
"$SERVER" --port 0 --verbose >"$tmp/server.out" 2>"$tmp/server.err" &
server_pid=$!

port=
for _ in $(seq $((START_WAIT_S * 10))); do
  port=$(sed -n 's/^Server started, listening on \([0-9][0-9]*\)$/\1/p' \
    "$tmp/server.out" | head -n 1)
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done

show_server() {
  echo "=============== server output (route_guide_server) ==============="
  cat "$tmp/server.out" "$tmp/server.err"
}

if [ -z "$port" ]; then
  echo "demo: the server did not start listening within ${START_WAIT_S}s" >&2
  stop_server
  show_server
  exit 1
fi

echo "=============== client output (route_guide_client --target 127.0.0.1:$port) ==============="
timeout -k 5 "$CLIENT_WAIT_S" "$CLIENT" --target "127.0.0.1:$port"
client_status=$?
if [ "$client_status" = 124 ]; then
  echo "demo: the client did not finish within ${CLIENT_WAIT_S}s" >&2
fi

server_status=0
stop_server
show_server
echo "==============================================================="
echo "client exit status: $client_status, server exit status: $server_status"
exit "$client_status"
