#!/usr/bin/env bash
# bench/client_compare: whirl's AsyncHTTPClient next to libcurl's multi
# interface and Tornado's AsyncHTTPClient, all fetching from one nginx
# (bench/client_cell.py says how it is measured):
#
#   ./bazelw run --config=opt //bench:client_compare -- [--runs 3] [--duration 5]
#       [--concurrency 64] [--skip curl,tornado] [--json FILE]
#
# As root it installs what is missing: nginx-light, libcurl4-openssl-dev
# (the libcurl driver is compiled into $WHIRL_BENCH_CACHE, default
# ~/.cache/whirl-bench) and python3-tornado. A peer that cannot be had is
# skipped with a line saying so.
set -euo pipefail

here="${RUNFILES_DIR:-$0.runfiles}/whirl/bench"
[[ -d "$here" ]] || here="$(cd "$(dirname "$0")" && pwd)"
cache=${WHIRL_BENCH_CACHE:-$HOME/.cache/whirl-bench}
mkdir -p "$cache"

wanted=()
[[ -x /usr/sbin/nginx ]] || wanted+=(nginx-light)
[[ -f /usr/include/x86_64-linux-gnu/curl/curl.h || -f /usr/include/curl/curl.h ]] || wanted+=(libcurl4-openssl-dev)
/usr/bin/python3 -c 'import tornado' 2>/dev/null || wanted+=(python3-tornado)
if ((${#wanted[@]})) && [[ $(id -u) -eq 0 ]]; then
  echo "client_compare: installing ${wanted[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${wanted[@]}" >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${wanted[@]}" >/dev/null 2>&1; } ||
    echo "client_compare: could not install ${wanted[*]}"
fi
[[ -x /usr/sbin/nginx ]] || { echo "client_compare: nginx is needed (nginx-light)" >&2; exit 1; }

curl_bench="$cache/curl_multi_bench"
if [[ ! -x "$curl_bench" || "$here/curl_multi_bench.c" -nt "$curl_bench" ]]; then
  cc -O2 "$here/curl_multi_bench.c" -o "$curl_bench" -lcurl 2>/dev/null || rm -f "$curl_bench"
fi

exec /usr/bin/python3 "$here/client_cell.py" --whirl "$here/client_bench" --curl "$curl_bench" "$@"
