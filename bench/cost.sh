#!/usr/bin/env bash
# bench/cost: instructions per request of whirl's plaintext server and of
# nginx, counted by callgrind on the same workload in one run.
#
#   ./bazelw run --config=opt //bench:cost                 # whirl and nginx, and the ratio
#   bash bench/cost.sh [--skip-nginx] [BINARY]             # an A/B of one plaintext_server build
#
# Each server runs under `valgrind --tool=callgrind` three times: 16
# connections and no requests; 20,000 keep-alive requests; 160,000
# pipelined 16 deep (bench/callgrind_client.py sends them and reads every
# answer). A request's cost is the run's total minus the no-request run's,
# over the requests. nginx is 1 worker with `master_process off` (so the
# one process callgrind follows is the one that serves), `return 200`, no
# log: the same four response headers whirl writes (Server, Date,
# Content-Type, Content-Length) plus its Connection. Instructions do not
# move with the VM's load, unlike throughput: the yardstick for A/B changes
# and for the per-request goal (whirl <= 0.5x nginx, issue 17).
set -euo pipefail
here="${RUNFILES_DIR:-$0.runfiles}/whirl/bench"
[[ -d "$here" ]] || here="$(cd "$(dirname "$0")" && pwd)"

with_nginx=1
binary="$here/plaintext_server"
for arg in "$@"; do
  case "$arg" in
    --skip-nginx) with_nginx=0 ;;
    *) binary=$arg ;;
  esac
done
command -v valgrind >/dev/null 2>&1 || { echo "cost: valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
nginx=$(command -v nginx || echo /usr/sbin/nginx)
if ((with_nginx)) && [[ ! -x "$nginx" ]]; then
  echo "cost: nginx is not installed (apt-get install nginx-light); measuring whirl only"
  with_nginx=0
fi
workdir=$(mktemp -d)
chmod 755 "$workdir"  # nginx's worker reads its files as another user
trap 'rm -rf "$workdir"' EXIT

# server_argv NAME PORT: the command line that serves plaintext on PORT.
server_argv() {
  if [[ $1 == nginx ]]; then
    cat >"$workdir/nginx-$2.conf" <<CONF
master_process off;
daemon off;
worker_processes 1;
pid $workdir/nginx-$2.pid;
error_log $workdir/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$2;
    keepalive_requests 1000000000;
    location / { default_type text/plain; return 200 "Hello, World!"; }
  }
}
CONF
    echo "$nginx -c $workdir/nginx-$2.conf -e $workdir/nginx-error.log"
  else
    echo "$binary --port $2 --address 127.0.0.1"
  fi
}

# total_instructions NAME MODE PER_CONNECTION: callgrind's total for one run.
total_instructions() {
  local port out pid
  port=$((30000 + RANDOM % 20000))
  out="$workdir/callgrind.out"
  # shellcheck disable=SC2046  # the argv is split on purpose
  valgrind --tool=callgrind --callgrind-out-file="$out" $(server_argv "$1" "$port") >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 150); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.2; done
  /usr/bin/python3 "$here/callgrind_client.py" "$port" "$2" "$3"
  sleep 0.5
  kill -INT "$pid"
  wait "$pid" 2>/dev/null || true
  grep -E '^(summary|totals):' "$out" | head -1 | awk '{print $2}'
  rm -f "$out"
}

declare -A per_request
measure() {  # NAME
  local none keepalive pipelined
  none=$(total_instructions "$1" keepalive 0)
  keepalive=$(total_instructions "$1" keepalive 1250)
  pipelined=$(total_instructions "$1" pipelined 10000)
  per_request[$1,keepalive]=$(((keepalive - none) / 20000))
  per_request[$1,pipelined]=$(((pipelined - none) / 160000))
  printf '%-6s keep-alive %7d   pipelined 16 %7d   instructions per request\n' "$1" \
    "${per_request[$1,keepalive]}" "${per_request[$1,pipelined]}"
}

echo "callgrind: 16 connections, 20,000 keep-alive requests and 160,000 pipelined 16 deep, startup subtracted"
measure whirl
if ((with_nginx)); then
  measure nginx
  for mode in keepalive pipelined; do
    awk -v w="${per_request[whirl,$mode]}" -v n="${per_request[nginx,$mode]}" -v m="$mode" \
      'BEGIN { printf "whirl/nginx %-10s %.2fx  (goal <= 0.50)\n", m, w / n }'
  done
fi
