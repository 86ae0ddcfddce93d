#!/usr/bin/env bash
# WebSocket interop, both ways, with and without permessage-deflate:
# - Python's websockets and Tornado's websocket_connect (tests/websocket/
#   ws_peer.py) against whirl's demo server's /ws echo (examples/hello_http);
# - whirl's websocket_connect (ws_interop_client) against websockets' and
#   Tornado's echo servers (ws_peer.py's server modes).
# Messages of 0 B to 16 MiB, fragmented ones from the Python clients.
set -uo pipefail

client_bin=$2
peer=$3
python=/usr/bin/python3  # Debian's, with python3-websockets and python3-tornado
source "$(dirname "${BASH_SOURCE[0]}")/../integration/server_lib.sh" "$1"

record() {  # record NAME STATUS LOG
  if [[ $2 -eq 0 ]]; then
    echo "ok   $1: $(tail -n 1 "$3")"
  else
    echo "FAIL $1"
    tail -n 5 "$3"
    failures=$((failures + 1))
  fi
}

free_port() { $python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# whirl's server, Python's clients.
start server --no-access-log
ws_url="ws://${url#http://}"
ws_url="${ws_url%/}/ws"
for client in client-websockets client-tornado; do
  for compression in --no-compression --compression; do
    timeout 120 $python "$peer" "$client" "$ws_url" "$compression" >"$work/run.log" 2>&1
    record "python $client $compression -> whirl server" $? "$work/run.log"
  done
done

# Python's servers, whirl's client.
for server in server-websockets server-tornado; do
  for compression in --no-compression --compression; do
    port=$(free_port)
    $python "$peer" "$server" "$port" "$compression" >"$work/peer.out" 2>"$work/peer.err" &
    pid=$!
    pids+=($pid)
    for _ in $(seq 100); do grep -q READY "$work/peer.out" 2>/dev/null && break; sleep 0.1; done
    flag=
    [[ $compression == --compression ]] && flag=--compression
    timeout 120 "$client_bin" "ws://127.0.0.1:$port/ws" $flag --shutdown-server >"$work/run.log" 2>&1
    record "whirl client $flag -> python $server" $? "$work/run.log"
    wait "$pid" 2>/dev/null
  done
done

finish
