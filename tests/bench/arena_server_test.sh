#!/usr/bin/env bash
# The arena cells' whirl server answers what the cells ask, exactly as the
# peers' scripts do: a + b [+ body], 400 for what is not an integer, the
# data file's object (gzipped when accepted), an answer after its delay.
#
#   arena_server_test.sh ARENA_SERVER ARENA_DATA
set -uo pipefail

server=$1 data=$2
work=$(mktemp -d)
"$server" --port 0 --address 127.0.0.1 --data "$data" >"$work/server.out" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do grep -q serving "$work/server.out" && break; sleep 0.05; done
base="http://127.0.0.1:$(sed -nE 's|.*127\.0\.0\.1:([0-9]+)/.*|\1|p' "$work/server.out")"

source "$(dirname "$0")/check_lib.sh"
status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

check "/ answers Hello, World!" test "$(curl -s "$base/")" = "Hello, World!"
check "GET /baseline answers a + b" test "$(curl -s "$base/baseline?a=13&b=42")" = 55
check "POST /baseline adds the body" test "$(curl -s -d 3 "$base/baseline?a=1&b=2")" = 6
check "negative numbers add up" test "$(curl -s "$base/baseline?a=-5&b=2")" = -3
check "a that is no integer is a 400" test "$(status "$base/baseline?a=x&b=2")" = 400
check "a missing b is a 400" test "$(status "$base/baseline?a=1")" = 400
check "a body that is no integer is a 400" test "$(status -d abc "$base/baseline?a=1&b=2")" = 400
check "an overflowing sum is a 400" test "$(status "$base/baseline?a=9223372036854775807&b=1")" = 400
curl -s "$base/json" >"$work/plain.json"
check "/json is the data file's object" python3 -c "import json,sys; sys.exit(json.load(open('$work/plain.json')) != json.load(open('$data')))"
curl -s -H 'Accept-Encoding: gzip' -D "$work/gzip.head" "$base/json" >"$work/json.gz"
check "/json is gzipped for a client that accepts it" grep -qi '^Content-Encoding: gzip' "$work/gzip.head"
check "the gzipped /json decodes to the same object" python3 -c "import gzip,json,sys; sys.exit(json.loads(gzip.decompress(open('$work/json.gz','rb').read())) != json.load(open('$data')))"
start=$(date +%s%N)
body=$(curl -s "$base/delay/200")
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
check "/delay/200 answers ok" test "$body" = ok
check "/delay/200 waits its 200 ms" test "$elapsed_ms" -ge 200
check "a delay over 10 s is a 400" test "$(status "$base/delay/10001")" = 400
check "an unknown path is a 404" test "$(status "$base/nowhere")" = 404

finish_checks
