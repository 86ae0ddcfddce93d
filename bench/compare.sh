#!/usr/bin/env bash
# bench/compare: whirl's plaintext server against nginx and Tornado, driven by
# wrk and by the bundled loadgen, in one command:
#
#   ./bazelw run --config=opt //bench:compare -- [--quick] [--json FILE] [--png FILE]
#       [--runs 3] [--duration 5] [--skip nginx,tornado,wrk] [--skip-memory]
#
# Run as root, it installs the peers it lacks (nginx-light, wrk,
# python3-tornado, gnuplot-nox) with apt-get; otherwise a missing peer is
# skipped with a line saying so. The measuring is bench/compare.py's.
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

exec /usr/bin/python3 "$here/compare.py" --bin "$here" --here "$here" "${args[@]}"
