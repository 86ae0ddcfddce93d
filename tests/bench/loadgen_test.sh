#!/usr/bin/env bash
# loadgen against whirl's plaintext server and against a fake server that
# answers wrongly on purpose: every response is counted where it belongs,
# and nothing malformed is accepted.
#
#   loadgen_test.sh LOADGEN PLAINTEXT_SERVER FAKE_SERVER_PY ARENA_SERVER ARENA_DATA
set -uo pipefail

loadgen=$1 server=$2 fake=$3 arena=$4 arena_data=$5
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

source "$(dirname "$0")/check_lib.sh"
field() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, d))" "$1" "$2"; }

"$server" --port 0 --address 127.0.0.1 >"$work/server.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q serving "$work/server.out" && break; sleep 0.05; done
port=$(sed -nE 's|.*127\.0\.0\.1:([0-9]+)/.*|\1|p' "$work/server.out")

# Closed loop, pipelined: many responses, all framed, all 2xx.
"$loadgen" "http://127.0.0.1:$port/" -c 8 -p 4 -d 1 -w 0.2 --quiet --json "$work/closed.json" >"$work/closed.txt"
closed_status=$?
check "closed loop exits 0" test "$closed_status" -eq 0
check "closed loop measured responses" test "$(field "$work/closed.json" 'requests > 1000')" = True
check "closed loop saw no errors" test "$(field "$work/closed.json" 'sum(errors.values())')" = 0
check "closed loop saw no non-2xx" test "$(field "$work/closed.json" 'non_2xx')" = 0
check "the report prints latency percentiles" grep -q 'p99.9' "$work/closed.txt"
check "the report prints the loader's CPU" grep -q 'loader CPU' "$work/closed.txt"

# Completion batching: off, and asked for far more completions than the run
# can produce at once (the delay, not the batch, then ends each wait).
"$loadgen" "http://127.0.0.1:$port/" -c 8 -p 4 -d 0.5 -w 0 --batch 0 --quiet --json "$work/unbatched.json" >/dev/null
check "closed loop without batching measures responses" test "$(field "$work/unbatched.json" 'requests > 100 and sum(errors.values()) == 0')" = True
"$loadgen" "http://127.0.0.1:$port/" -c 2 -d 0.5 -w 0 --batch 1000 --batch-delay-us 2000 --quiet --json "$work/overbatched.json" >/dev/null
check "a batch larger than the run waits its delay, not forever" test "$(field "$work/overbatched.json" '100 < requests and sum(errors.values()) == 0')" = True

# Open loop: the schedule, not the server, sets the rate.
"$loadgen" "http://127.0.0.1:$port/" -c 4 --rate 1000 -d 2 -w 0 --quiet --json "$work/open.json" >/dev/null
check "open loop sends on schedule (1000/s for 2 s)" test "$(field "$work/open.json" '1900 <= requests <= 2100')" = True

# POST with headers and a body reaches the server and is answered.
"$loadgen" "http://127.0.0.1:$port/" -c 2 -d 0.5 -w 0 -m POST -H 'X-Test: 1' --body hello --quiet \
  --json "$work/post.json" >/dev/null
check "POST with a body is answered" test "$(field "$work/post.json" 'requests > 0 and sum(errors.values()) == 0')" = True

# --idle: one exchange per connection, then nothing.
"$loadgen" "http://127.0.0.1:$port/" -c 50 --idle -d 1 -w 0 --quiet --json "$work/idle.json" >/dev/null
check "idle mode makes one request per connection" test "$(field "$work/idle.json" 'requests')" = 50

# A --mix against the arena server: its baseline answers 400 unless the
# query's a and b (and, for a POST, the body) are integers, so a request of
# the mix sent without its body would show as non-2xx.
"$arena" --port 0 --address 127.0.0.1 --data "$arena_data" >"$work/arena.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q serving "$work/arena.out" && break; sleep 0.05; done
arena_port=$(sed -nE 's|.*127\.0\.0\.1:([0-9]+)/.*|\1|p' "$work/arena.out")
"$loadgen" "http://127.0.0.1:$arena_port/" -c 4 -d 0.5 -w 0 --body 3 --mix 'GET /baseline?a=1&b=2' \
  --mix 'POST /baseline?a=1&b=2' --quiet --json "$work/mix.json" >/dev/null
check "a GET/POST mix is answered without errors" test "$(field "$work/mix.json" 'requests > 100 and non_2xx == 0 and sum(errors.values()) == 0')" = True
"$loadgen" "http://127.0.0.1:$arena_port/" -c 4 -d 0.5 -w 0 --mix 'POST /baseline?a=1&b=2' --quiet \
  --json "$work/mix_nobody.json" >/dev/null
check "a mix's POST without its body is refused by the server (the control)" test "$(field "$work/mix_nobody.json" 'requests > 0 and non_2xx == requests')" = True

# --requests-per-connection: each connection carries exactly N requests, so
# over the window requests / connections opened is N (give or take the
# connections cut by the window's ends).
"$loadgen" "http://127.0.0.1:$port/" -c 4 -d 1 -w 0.2 --requests-per-connection 10 --quiet \
  --json "$work/limited.json" >"$work/limited.txt"
check "--requests-per-connection 10 opens a connection per 10 requests" test "$(field "$work/limited.json" 'requests > 500 and 9 <= requests / connections_opened <= 11 and sum(errors.values()) == 0')" = True
check "the report counts connections opened" grep -q 'connections  [0-9]* opened' "$work/limited.txt"
"$loadgen" "http://127.0.0.1:$port/" -c 4 -d 0.5 -w 0 --quiet --json "$work/kept.json" >/dev/null
check "without it, connections are kept (the control)" test "$(field "$work/kept.json" 'connections_opened')" = 0

fake_run() {  # fake_run MODE [DEPTH]: starts the fake server in MODE, runs loadgen, leaves $work/MODE.json
  local mode=$1 depth=${2:-2} fake_port
  python3 "$fake" "$mode" >"$work/$mode.port" &
  pids+=($!)
  for _ in $(seq 200); do [[ -s "$work/$mode.port" ]] && break; sleep 0.05; done
  fake_port=$(cat "$work/$mode.port")
  "$loadgen" "http://127.0.0.1:$fake_port/" -c 2 -p "$depth" -d 1 -w 0 --quiet --json "$work/$mode.json" >"$work/$mode.txt" 2>&1
  echo $? >"$work/$mode.status"
}

explain() {  # explain MODE: what a fake run left, printed when its check failed
  local mode=$1 f
  for f in "$work/$mode".{port,status,txt,json}; do
    echo "--- $f"
    cat "$f" 2>/dev/null || echo "(missing)"
  done
}

fake_run chunked
check "chunked responses are framed" test "$(field "$work/chunked.json" 'requests > 0 and sum(errors.values()) == 0')" = True \
  || explain chunked
fake_run not_found
check "404s are counted as non-2xx" test "$(field "$work/not_found.json" 'requests > 0 and non_2xx == requests')" = True \
  || explain not_found
fake_run conflicting_length
check "a malformed response is counted" test "$(field "$work/conflicting_length.json" 'errors["malformed"] > 0')" = True \
  || explain conflicting_length
check "a malformed response fails the run" test "$(cat "$work/conflicting_length.status")" -ne 0 \
  || explain conflicting_length
check "the first error is named" grep -q 'conflicting Content-Length' "$work/conflicting_length.txt" \
  || explain conflicting_length
fake_run extra_bytes 1  # depth 1: the extra bytes arrive when nothing is outstanding
check "bytes nobody asked for are counted" test "$(field "$work/extra_bytes.json" 'errors["unexpected"] > 0')" = True \
  || explain extra_bytes
fake_run close_early
check "a response cut short is a read error" test "$(field "$work/close_early.json" 'errors["read"] > 0 and requests == 0')" = True \
  || explain close_early

"$loadgen" "http://127.0.0.1:$port/" -c 0 >/dev/null 2>&1
check "a bad flag exits 2" test $? -eq 2
"$loadgen" "http://127.0.0.1:$port/" --batch-delay-us 0 >/dev/null 2>&1
check "a zero batching delay exits 2" test $? -eq 2
"$loadgen" "ftp://127.0.0.1/" >/dev/null 2>&1
check "a bad URL exits 2" test $? -eq 2
"$loadgen" "http://127.0.0.1:$port/" --mix 'HEAD /' >/dev/null 2>&1
check "HEAD in a mix exits 2" test $? -eq 2
"$loadgen" "http://127.0.0.1:$port/" --mix 'GET no-slash' >/dev/null 2>&1
check "a mix entry without an origin-form target exits 2" test $? -eq 2
"$loadgen" "http://127.0.0.1:$port/" --requests-per-connection 10 -p 4 >/dev/null 2>&1
check "--requests-per-connection with pipelining exits 2" test $? -eq 2

finish_checks
