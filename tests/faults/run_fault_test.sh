#!/usr/bin/env bash
# Runs one fault-injection script with the server binaries it is given:
#
#     run_fault_test.sh memory_faults.py examples/hello_http examples/echo_server
#
# Under `bazel test` the scripts are in the runfiles tree; run by hand, they
# sit beside this launcher.
set -euo pipefail

script=$1
shift
dir="${TEST_SRCDIR:-}/${TEST_WORKSPACE:-}/tests/faults"
if [[ ! -f "$dir/$script" ]]; then
  dir=$(dirname "$0")
fi
exec /usr/bin/python3 "$dir/$script" "$@"
