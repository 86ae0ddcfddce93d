#!/usr/bin/env bash
# bench/ws_compare: WebSocket echo (HttpArena's echo-ws shape), whirl against
# Bun (Bun.serve, uWebSockets inside), Node's ws, Boost.Beast and Tornado,
# driven by the bundled loader (bench/echo_loadgen --websocket), in one run:
#
#   ./bazelw run --config=opt //bench:ws_compare -- [--runs 3] [--duration 5]
#       [--connections 64] [--size 64] [--skip bun,node,beast,tornado] [--skip-memory]
#
# Two cells: each connection sends one message and waits for its echo, and
# the same with 16 messages in flight per connection. Every server is
# pinned to core 0 and the loader to core 1; runs are interleaved server by
# server, and the median is quoted with the loader's CPU and the server's
# share of its core. Then each server's resident memory per idle
# connection (1,000 of them; bench/ws_idle.py).
#
# Peers are installed when missing (as root): libboost1.81-dev, nodejs and
# npm, python3-tornado from Debian; @oven/bun-linux-x64 and ws from npm into
# $WHIRL_BENCH_CACHE (default ~/.cache/whirl-bench), where the Beast server is
# also compiled (once, about two minutes). A peer that cannot be had is
# skipped with a line saying so.
set -euo pipefail

runs=3 duration=5 connections=64 size=64 skip="" memory=1
while (($#)); do
  case "$1" in
    --runs) runs=$2; shift ;;
    --duration) duration=$2; shift ;;
    --connections) connections=$2; shift ;;
    --size) size=$2; shift ;;
    --skip) skip=$2; shift ;;
    --skip-memory) memory=0 ;;
    *) echo "ws_compare: unknown flag $1" >&2; exit 2 ;;
  esac
  shift
done

lib="${RUNFILES_DIR:-$0.runfiles}/whirl/bench/compare_lib.sh"
[[ -f "$lib" ]] || lib="$(dirname "$0")/compare_lib.sh"
# shellcheck source=bench/compare_lib.sh
source "$lib"
bench="$here/bench"
loadgen="$bench/echo_loadgen"
cache=${WHIRL_BENCH_CACHE:-$HOME/.cache/whirl-bench}
mkdir -p "$cache"
skipped() { [[ ",$skip," == *",$1,"* ]]; }

# ---- peers ----
wanted=()
skipped beast || [[ -f /usr/include/boost/beast.hpp ]] || wanted+=(libboost1.81-dev)
skipped node && skipped bun || command -v npm >/dev/null 2>&1 || wanted+=(nodejs npm)
skipped tornado || /usr/bin/python3 -c 'import tornado' 2>/dev/null || wanted+=(python3-tornado)
if ((${#wanted[@]})) && [[ $(id -u) -eq 0 ]]; then
  echo "ws_compare: installing ${wanted[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${wanted[@]}" >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${wanted[@]}" >/dev/null 2>&1; } ||
    echo "ws_compare: could not install ${wanted[*]}"
fi
bun="$cache/bun/lib/node_modules/@oven/bun-linux-x64/bin/bun"
if ! skipped bun && [[ ! -x "$bun" ]]; then
  npm install -g --silent --prefix "$cache/bun" @oven/bun-linux-x64 >/dev/null 2>&1 || true
fi
if ! skipped node && [[ ! -d "$cache/ws/node_modules/ws" ]]; then
  npm install --silent --prefix "$cache/ws" ws >/dev/null 2>&1 || true
fi
beast="$cache/beast_ws_echo"
if ! skipped beast && [[ ! -x "$beast" || "$bench/beast_ws_echo.cc" -nt "$beast" ]] && [[ -f /usr/include/boost/beast.hpp ]]; then
  echo "ws_compare: compiling the Beast server (once)"
  g++ -std=c++20 -O2 "$bench/beast_ws_echo.cc" -o "$beast" -lpthread || rm -f "$beast"
fi

# ---- servers: NAME PORT COMMAND... (started once, all pinned to core 0) ----
names=() pids=()
declare -A port_of pid_of
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
start() {
  local name=$1 port=$2
  shift 2
  taskset -c "$server_core" "$@" >/dev/null 2>&1 &
  local pid=$!
  if ! wait_for_port "$port" 2>/dev/null; then
    echo "ws_compare: $name did not start; skipped"
    kill "$pid" 2>/dev/null || true
    return
  fi
  names+=("$name") pids+=("$pid")
  port_of[$name]=$port pid_of[$name]=$pid
}
start whirl 19201 "$bench/ws_echo_server" --port 19201
if skipped bun; then :; elif [[ -x "$bun" ]]; then start bun 19202 "$bun" "$bench/ws_echo_bun.js" 19202; else echo "ws_compare: no bun (npm @oven/bun-linux-x64); skipped"; fi
if skipped node; then :; elif [[ -d "$cache/ws/node_modules/ws" ]]; then
  NODE_PATH="$cache/ws/node_modules" start node 19203 node "$bench/ws_echo_node.js" 19203
else echo "ws_compare: no ws (npm); skipped"; fi
if skipped beast; then :; elif [[ -x "$beast" ]]; then start beast 19204 "$beast" 19204; else echo "ws_compare: no Boost.Beast (libboost1.81-dev); skipped"; fi
if skipped tornado; then :; elif /usr/bin/python3 -c 'import tornado' 2>/dev/null; then
  start tornado 19205 /usr/bin/python3 "$bench/tornado_ws_echo.py" 19205
else echo "ws_compare: no python3-tornado; skipped"; fi

# ---- cells ----
declare -A rates
hz=$(getconf CLK_TCK)
echo "WebSocket echo: $connections connections, $size-byte binary messages, ${duration}s x $runs runs"
echo "servers on core $server_core, loader on core $load_core"
for pipeline in 1 16; do
  echo "pipeline $pipeline:"
  for run in $(seq "$runs"); do
    for name in "${names[@]}"; do
      before=$(cpu_ticks "${pid_of[$name]}")
      line=$(taskset -c "$load_core" "$loadgen" --port "${port_of[$name]}" --websocket /ws \
        --connections "$connections" --size "$size" --pipeline "$pipeline" --duration "$duration" --warmup 1 || true)
      after=$(cpu_ticks "${pid_of[$name]}")
      line+=$(awk -v b="$before" -v a="$after" -v hz="$hz" -v t="$duration" \
        'BEGIN { printf " server_cpu=%.0f%%", 100 * (a - b) / hz / (t + 1) }')
      echo "  run $run $name: $line"
      rates[$name,$pipeline]+="$(sed -E 's/.*messages_per_s=([0-9]+).*/\1/' <<<"$line") "
    done
  done
done

declare -A idle
if ((memory)); then
  for name in "${names[@]}"; do
    idle[$name]=$(/usr/bin/python3 "$bench/ws_idle.py" "${port_of[$name]}" "${pid_of[$name]}" 2>/dev/null |
      sed -E 's/.*=//' || echo "?")
  done
fi

echo
printf '%-8s %18s %18s %16s\n' server "pipeline 1 msg/s" "pipeline 16 msg/s" "idle KiB/conn"
best1=0 best16=0
for name in "${names[@]}"; do
  m1=$(tr ' ' '\n' <<<"${rates[$name,1]}" | grep . | median)
  m16=$(tr ' ' '\n' <<<"${rates[$name,16]}" | grep . | median)
  printf '%-8s %18s %18s %16s\n' "$name" "$m1" "$m16" "${idle[$name]:--}"
  if [[ $name == whirl ]]; then w1=$m1 w16=$m16; continue; fi
  ((m1 > best1)) && best1=$m1 peer1=$name
  ((m16 > best16)) && best16=$m16 peer16=$name
done
if ((best1 > 0)); then
  awk -v w="$w1" -v b="$best1" -v p="$peer1" 'BEGIN { printf "pipeline 1: whirl / fastest peer (%s) = %.2f (goal >= 1.5)\n", p, w / b }'
  awk -v w="$w16" -v b="$best16" -v p="$peer16" 'BEGIN { printf "pipeline 16: whirl / fastest peer (%s) = %.2f (goal >= 1.5)\n", p, w / b }'
fi
