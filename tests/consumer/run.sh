#!/usr/bin/env bash
# The consumer test: builds tests/consumer (a separate workspace that
# depends on whirl with local_repository), runs its server and fetches a
# page with curl. Prints "consumer: PASSED" or "consumer: FAILED" last.
set -uo pipefail
cd "$(dirname "$0")"

fail() {
  echo "consumer: $*"
  echo "consumer: FAILED"
  exit 1
}

bazel build --curses=no --color=no //:greeter || fail "the consumer workspace does not build"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
bazel-bin/greeter "$port" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; bazel shutdown 2>/dev/null' EXIT
body=""
for _ in $(seq 50); do
  body=$(curl -s --max-time 2 "http://127.0.0.1:$port/greet/monorepo") && break
  sleep 0.1
done
[[ "$body" == "hello, monorepo" ]] || fail "expected 'hello, monorepo', got '$body'"
echo "consumer: PASSED"
