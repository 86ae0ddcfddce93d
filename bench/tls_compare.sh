#!/usr/bin/env bash
# bench/tls: whirl's TLS echo server against nginx terminating TLS with the
# same certificate, in one run.
#
#   ./bazelw run --config=opt //bench:tls_compare -- [--runs 3] [--duration 3] [--connections 16]
#
# Two cells, each with the bundled loader (bench/echo_loadgen --tls, TLS 1.3):
#   handshakes  a new connection per exchange: connect, full handshake, one
#               small request, first byte of the answer, close. whirl: the
#               echo server; nginx: an https server that does `return 200`.
#   echo 64KiB  64 KiB messages echoed over long-lived connections. whirl:
#               the echo server; nginx: its stream module terminating TLS in
#               front of bench/epoll_echo_server (nginx has no echo of its
#               own); the backend shares nginx's core and its CPU is counted
#               with nginx's.
# The certificate is a fresh ECDSA P-256 one (openssl req). Servers are
# pinned to core 0, the loader to core 1; median of --runs runs. Each run
# prints the server's CPU share and the loader's CPU seconds, and each cell
# the server CPU per unit of work, the fairer figure when neither side is
# saturated. nginx and the stream module are installed through apt when run
# as root; otherwise nginx's cells are skipped with a line saying so.
set -euo pipefail

runs=3 duration=3 connections=16
while (($#)); do
  case "$1" in
    --runs) runs=$2 ;;
    --duration) duration=$2 ;;
    --connections) connections=$2 ;;
    *) echo "tls_compare: unknown flag $1" >&2; exit 2 ;;
  esac
  shift 2
done

lib="${RUNFILES_DIR:-$0.runfiles}/whirl/bench/compare_lib.sh"
[[ -f "$lib" ]] || lib="$(dirname "$0")/compare_lib.sh"
# shellcheck source=bench/compare_lib.sh
source "$lib"
whirl_server="$here/examples/echo_server"
epoll_server="$here/bench/epoll_echo_server"
loadgen="$here/bench/echo_loadgen"
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

have_nginx=1
stream_module=/usr/lib/nginx/modules/ngx_stream_module.so
if ! command -v nginx >/dev/null || [[ ! -f $stream_module ]]; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "tls_compare: installing nginx-light libnginx-mod-stream" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light libnginx-mod-stream >/dev/null 2>&1 || true
  fi
  if ! command -v nginx >/dev/null || [[ ! -f $stream_module ]]; then
    echo "tls_compare: nginx with the stream module is missing (apt-get install nginx-light libnginx-mod-stream); skipping nginx"
    have_nginx=0
  fi
fi

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/key.pem" \
  -out "$work/cert.pem" -subj /CN=localhost -days 2 2>/dev/null

declare -A rates costs loader
hz=$(getconf CLK_TCK)
# run_once NAME PORT "SERVER PIDS" LOADGEN-FLAGS...: one run of one cell;
# its rate, server CPU per unit and loader CPU are appended to the cell's
# lists.
run_once() {
  local name=$1 port=$2 server_pids=$3
  shift 3
  local line before after rate
  # shellcheck disable=SC2086
  before=$(cpu_ticks $server_pids)
  line=$(taskset -c "$load_core" "$loadgen" --port "$port" --connections "$connections" \
    --duration "$duration" --warmup 1 "$@")
  # shellcheck disable=SC2086
  after=$(cpu_ticks $server_pids)
  rate=$(sed -E 's/.*messages_per_s=([0-9]+).*/\1/' <<<"$line")
  line+=$(awk -v b="$before" -v a="$after" -v hz="$hz" -v t="$duration" \
    'BEGIN { printf " server_cpu=%.0f%%", 100 * (a - b) / hz / (t + 1) }')
  echo "  $name: $line"
  rates[$name]+="$rate "
  loader[$name]+="$(sed -E 's/.*loader_cpu_s=([0-9.]+).*/\1/' <<<"$line") "
  # Server CPU microseconds per unit of work (warm-up included on both
  # sides of the division: rate x (duration + 1) units).
  costs[$name]+="$(awk -v b="$before" -v a="$after" -v hz="$hz" -v t="$duration" -v r="$rate" \
    'BEGIN { printf "%.0f", (r > 0 ? 1e6 * (a - b) / hz / (r * (t + 1)) : 0) }') "
}

# median_of "LIST": the median of a space-separated list.
median_of() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | median; }

echo "tls benchmark: TLS 1.3, ECDSA P-256, $connections connections, ${duration}s x $runs runs"
echo "servers on core $server_core, load generator on core $load_core"

taskset -c "$server_core" "$whirl_server" --port 19011 --address 127.0.0.1 \
  --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" >/dev/null 2>&1 &
whirl_pid=$!
pids+=("$whirl_pid")
wait_for_port 19011

if ((have_nginx)); then
  cat >"$work/nginx.conf" <<NGINX
load_module $stream_module;
worker_processes 1;
daemon off;
error_log $work/error.log warn;
pid $work/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  server {
    listen 127.0.0.1:19012 ssl;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { return 200 "x"; }
  }
}
stream {
  server {
    listen 127.0.0.1:19013 ssl;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    proxy_pass 127.0.0.1:19014;
  }
}
NGINX
  taskset -c "$server_core" "$epoll_server" 19014 >/dev/null 2>&1 &
  backend_pid=$!
  pids+=("$backend_pid")
  taskset -c "$server_core" nginx -c "$work/nginx.conf" -p "$work" >/dev/null 2>&1 &
  pids+=("$!")
  wait_for_port 19012
  wait_for_port 19013
  worker_pid=$(pgrep -P "$(cat "$work/nginx.pid")" | head -1)
fi

# The servers take turns run by run, so drift in the machine (another
# tenant, frequency) spreads over both instead of landing on one.
for _ in $(seq "$runs"); do
  run_once whirl_handshake 19011 "$whirl_pid" --tls --handshakes
  ((have_nginx)) && run_once nginx_handshake 19012 "$worker_pid" --tls --handshakes
  run_once whirl_echo 19011 "$whirl_pid" --tls --size 65536
  ((have_nginx)) && run_once nginx_echo 19013 "$worker_pid $backend_pid" --tls --size 65536
done

declare -A result cost loader_cpu
for name in "${!rates[@]}"; do
  result[$name]=$(median_of "${rates[$name]}")
  cost[$name]=$(median_of "${costs[$name]}")
  loader_cpu[$name]=$(median_of "${loader[$name]}")
done

echo
row() { printf '%-12s %-10s %16s %20s %12s\n' "$@"; }
row cell server "median rate" "server CPU us/unit" "loader CPU"
for cell in handshake echo; do
  for server in whirl nginx; do
    name=${server}_$cell
    [[ -n ${result[$name]:-} ]] || continue
    row "$cell" "$server" "${result[$name]}/s" "${cost[$name]}" \
      "$(awk -v c="${loader_cpu[$name]}" -v t="$duration" 'BEGIN { printf "%.0f%%", 100 * c / t }')"
  done
done
if ((have_nginx)); then
  for cell in handshake echo; do
    awk -v cell="$cell" -v w="${result[whirl_$cell]}" -v n="${result[nginx_$cell]}" \
      -v wc="${cost[whirl_$cell]}" -v nc="${cost[nginx_$cell]}" \
      -v wl="${loader_cpu[whirl_$cell]}" -v nl="${loader_cpu[nginx_$cell]}" -v t="$duration" 'BEGIN {
        printf "%s: whirl/nginx rate %.2f, nginx/whirl server CPU per unit %.2f (goal >= 1.00)\n", cell, w / n, nc / wc
        # A loader at its core'"'"'s limit against both servers measured
        # itself: then only the CPU per unit tells the servers apart.
        if (wl >= 0.95 * t && nl >= 0.95 * t)
          printf "  %s: the loader was saturated against both servers; the rate is the loader'"'"'s, compare CPU per unit\n", cell
      }'
  done
fi
