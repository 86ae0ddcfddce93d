#!/usr/bin/env bash
# bench/compare: whirl's plaintext server against nginx, Bun and Tornado,
# driven by wrk and by the bundled loadgen, the static-file cell (whirl's
# StaticFileHandler against nginx, Bun and Tornado) and the arena cells
# (baseline, limited-conn, json, async, fixed-rate CPU), in one command:
#
#   ./bazelw run --config=opt //bench:compare -- [--quick] [--json FILE] [--png FILE]
#       [--runs 3] [--duration 5] [--skip nginx,tornado,bun,wrk] [--skip-memory]
#       [--skip-static | --static-only] [--skip-arena | --arena-only]
#
# Run as root, it installs the peers it lacks (nginx-light, wrk,
# python3-tornado, gnuplot-nox) with apt-get, and Bun from npm; otherwise a
# missing peer is skipped with a line saying so. The measuring is bench/compare.py's.
# Relative --json/--png paths are taken from where bazel was run.
set -euo pipefail

here="${RUNFILES_DIR:-$0.runfiles}/whirl/bench"
[[ -d "$here" ]] || here="$(cd "$(dirname "$0")" && pwd)"

wanted=()
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || wanted+=(nginx-light)
command -v wrk >/dev/null 2>&1 || wanted+=(wrk)
/usr/bin/python3 -c 'import tornado' >/dev/null 2>&1 || wanted+=(python3-tornado)
command -v gnuplot >/dev/null 2>&1 || wanted+=(gnuplot-nox)
if ((${#wanted[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "compare: installing ${wanted[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${wanted[@]}" >/dev/null ||
      { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${wanted[@]}" >/dev/null; } ||
      echo "compare: could not install ${wanted[*]}; those peers are skipped"
  else
    echo "compare: not root, so not installing ${wanted[*]}; those peers are skipped"
  fi
fi
export PATH="$PATH:/usr/sbin"

# Bun (the plaintext, static and arena cells' Bun columns) from npm, cached as bench/ws_compare.sh caches it.
cache=${WHIRL_BENCH_CACHE:-$HOME/.cache/whirl-bench}
bun="$cache/bun/lib/node_modules/@oven/bun-linux-x64/bin/bun"
if [[ ! -x "$bun" ]]; then
  if ! command -v npm >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm >/dev/null 2>&1 || true
  fi
  mkdir -p "$cache"
  command -v npm >/dev/null 2>&1 && npm install -g --silent --prefix "$cache/bun" @oven/bun-linux-x64 >/dev/null 2>&1
  [[ -x "$bun" ]] || echo "compare: could not install Bun (npm @oven/bun-linux-x64); no Bun columns"
fi

# Output paths given relative are relative to where the user ran bazel.
args=()
while (($#)); do
  case "$1" in
    --json | --png)
      path=$2
      [[ "$path" = /* ]] || path="${BUILD_WORKING_DIRECTORY:-$PWD}/$path"
      args+=("$1" "$path")
      shift 2
      ;;
    *)
      args+=("$1")
      shift
      ;;
  esac
done

exec /usr/bin/python3 "$here/compare.py" --bin "$here" --here "$here" --bun "$bun" "${args[@]}"
