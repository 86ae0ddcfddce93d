# Shared by the integration scripts: a scratch directory, `check`, `start`
# (runs the demo server, sets $url and $server_pid), `make_certificates`
# (a throwaway CA and a server certificate for 127.0.0.1 in $work) and
# `finish` (the summary line and the exit status). Sourced with the server
# binary as $1.

server_bin=${1:-examples/hello_http}
work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/demo.XXXXXX")
failures=0
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT

check() {  # check NAME EXPECTED ACTUAL
  if [[ "$2" == "$3" ]]; then
    echo "ok   $1"
  else
    echo "FAIL $1: expected [$2], got [$3]"
    failures=$((failures + 1))
  fi
}

# start NAME ARGS...: runs the server, sets $url from the line it prints.
start() {
  local name=$1
  shift
  "$server_bin" --port 0 --address 127.0.0.1 "$@" >"$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
  server_pid=$!
  for _ in $(seq 50); do
    url=$(grep -o 'https\?://[^ ]*' "$work/$name.out" 2>/dev/null | head -1)
    [[ -n "$url" ]] && return 0
    sleep 0.1
  done
  echo "FAIL $name did not start"; cat "$work/$name.err"; exit 1
}

# $work/ca.pem signs $work/server.pem (key $work/server.key) for 127.0.0.1.
make_certificates() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=whirl test CA" \
    -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$work/san.ext"
  openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial -days 2 \
    -extfile "$work/san.ext" -out "$work/server.pem" 2>/dev/null
}

finish() {
  echo "$failures failures"
  [[ $failures -eq 0 ]]
}
