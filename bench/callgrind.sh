#!/usr/bin/env bash
# Instructions per request of a plaintext_server binary, by callgrind.
#
#   bash bench/callgrind.sh BINARY            # e.g. bazel-bin/bench/plaintext_server (--config=opt)
#
# Runs the server under `valgrind --tool=callgrind` three times: 16
# connections and no requests; 20,000 keep-alive requests; 160,000
# pipelined 16 deep (bench/callgrind_client.py). Prints the two per-request
# figures, each with the no-request run subtracted. Deterministic to a few
# instructions, unlike throughput on this VM: the yardstick for A/B changes.
set -euo pipefail
binary=$1
here=$(dirname "$0")

total_instructions() {  # MODE PER_CONNECTION
  local port out pid
  port=$((30000 + RANDOM % 20000))
  out=$(mktemp)
  valgrind --tool=callgrind --callgrind-out-file="$out" "$binary" --port "$port" --address 127.0.0.1 >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.2; done
  /usr/bin/python3 "$here/callgrind_client.py" "$port" "$1" "$2"
  sleep 0.5
  kill -INT "$pid"
  wait "$pid" 2>/dev/null || true
  grep -E '^(summary|totals):' "$out" | head -1 | awk '{print $2}'
  rm -f "$out"
}

none=$(total_instructions keepalive 0)
keepalive=$(total_instructions keepalive 1250)
pipelined=$(total_instructions pipelined 10000)
echo "keep-alive: $(((keepalive - none) / 20000)) instructions per request"
echo "pipelined 16: $(((pipelined - none) / 160000)) instructions per request"
