#!/usr/bin/env bash
# bench/echo: whirl's echo server against a minimal epoll echo server in C,
# driven by the bundled whirl echo load generator, in one run.
#
#   ./bazelw run --config=opt //bench:echo_compare -- [--runs 3] [--duration 5]
#       [--connections 64] [--size 64] [--pipeline 1]
#
# Servers are pinned to core 0, the load generator to core 1 (taskset). Each
# cell is run --runs times; the median messages/s is quoted, and the ratio
# whirl/epoll printed last. Each run also prints the loader's CPU seconds and
# the server's CPU share, so a reader sees which side was the limit.
set -euo pipefail

runs=3 duration=5 connections=64 size=64 pipeline=1
while (($#)); do
  case "$1" in
    --runs) runs=$2 ;;
    --duration) duration=$2 ;;
    --connections) connections=$2 ;;
    --size) size=$2 ;;
    --pipeline) pipeline=$2 ;;
    *) echo "echo_compare: unknown flag $1" >&2; exit 2 ;;
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

declare -A result
run_cell() {
  local name=$1 port=$2
  shift 2
  taskset -c "$server_core" "$@" >/dev/null 2>&1 &
  local pid=$!
  wait_for_port "$port"
  local rates=() line before after hz
  hz=$(getconf CLK_TCK)
  for _ in $(seq "$runs"); do
    before=$(cpu_ticks "$pid")
    line=$(taskset -c "$load_core" "$loadgen" --port "$port" --connections "$connections" --size "$size" \
      --pipeline "$pipeline" --duration "$duration" --warmup 1)
    after=$(cpu_ticks "$pid")
    # Over warm-up + measurement: the share of one core the server used.
    line+=$(awk -v b="$before" -v a="$after" -v hz="$hz" -v t="$duration" \
      'BEGIN { printf " server_cpu=%.0f%%", 100 * (a - b) / hz / (t + 1) }')
    echo "  $name: $line"
    rates+=("$(sed -E 's/.*messages_per_s=([0-9]+).*/\1/' <<<"$line")")
  done
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  result[$name]=$(printf '%s\n' "${rates[@]}" | median)
}

echo "echo benchmark: $connections connections, $size-byte messages, pipeline $pipeline, ${duration}s x $runs runs"
echo "server on core $server_core, load generator on core $load_core"
run_cell whirl 19001 "$whirl_server" --port 19001 --address 127.0.0.1
run_cell epoll 19002 "$epoll_server" 19002
echo
printf '%-8s %14s\n' server "messages/s (median)"
printf '%-8s %14s\n' whirl "${result[whirl]}" epoll "${result[epoll]}"
awk -v w="${result[whirl]}" -v e="${result[epoll]}" 'BEGIN { printf "ratio whirl/epoll: %.2f (goal >= 1.00)\n", w / e }'
