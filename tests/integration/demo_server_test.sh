#!/usr/bin/env bash
# Real clients against the demo server (examples/hello_http): curl (keep-alive
# reuse, HTTP/1.0, HEAD, chunked upload, gzip, https with --cacert), Python's
# http.client, ab -k and a wrk smoke run, then a graceful SIGTERM.
set -uo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/server_lib.sh" "${1:-examples/hello_http}"

start plain --no-access-log
base=${url%/}

check "GET /" "Hello, World!" "$(curl -s "$base/")"
check "keep-alive reuse" "1" "$(curl -sv "$base/" "$base/" 2>&1 | grep -c 'Re-using existing connection')"
check "--http1.0" "Hello, World!" "$(curl -s --http1.0 "$base/")"
check "-I status" "HTTP/1.1 200 OK" "$(curl -sI "$base/" | head -1 | tr -d '\r')"
check "-I length" "Content-Length: 13" "$(curl -sI "$base/" | grep -i '^content-length' | tr -d '\r')"
check "POST echo" "a=1&b=2" "$(curl -s -d 'a=1&b=2' "$base/")"
check "OPTIONS Allow" "Allow: GET, HEAD, POST, OPTIONS" "$(curl -si -X OPTIONS "$base/" | grep '^Allow' | tr -d '\r')"
check "/echo header" "X-Test: yes" "$(curl -s -H 'X-Test: yes' "$base/echo" | grep '^X-Test')"
check "/cookie" "a=1 b=2" "$(curl -s -b 'a=1; b=2' "$base/cookie" | tr '\n' ' ' | sed 's/ $//')"
head -c 300000 /dev/urandom >"$work/upload.bin"
check "chunked upload" "300000 bytes" "$(curl -s -T "$work/upload.bin" -H 'Transfer-Encoding: chunked' "$base/upload")"
check "--compressed encoding" "content-encoding: gzip" \
  "$(curl -s --compressed -D - -o "$work/stream.txt" "$base/stream?n=200" | grep -i '^content-encoding' | tr -d '\r' | tr 'A-Z' 'a-z')"
check "--compressed body" "200" "$(wc -l <"$work/stream.txt" | tr -d ' ')"

check "python http.client" "Hello, World!|abc" "$(/usr/bin/python3 - "$base" <<'PY'
import http.client, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port)
c.request("GET", "/"); a = c.getresponse().read().decode()
c.request("POST", "/", body=b"abc"); b = c.getresponse().read().decode()
print(a + "|" + b)
PY
)"

ab_out=$(ab -q -k -n 2000 -c 8 "$base/" 2>&1)
check "ab -k complete" "2000" "$(awk '/^Complete requests/ {print $3}' <<<"$ab_out")"
check "ab -k failed" "0" "$(awk '/^Failed requests/ {print $3}' <<<"$ab_out")"
check "ab -k keep-alive" "2000" "$(awk '/^Keep-Alive requests/ {print $3}' <<<"$ab_out")"

wrk_out=$(wrk -t1 -c16 -d1s "$base/" 2>&1)
check "wrk non-2xx" "0" "$(grep -c 'Non-2xx' <<<"$wrk_out")"
check "wrk socket errors" "0" "$(grep -c 'Socket errors' <<<"$wrk_out")"
check "wrk served" "yes" "$(awk '/requests in/ {print ($1 > 1000) ? "yes" : "no"}' <<<"$wrk_out")"

# A server that cannot listen says why and exits 1; it does not abort (and
# `timeout` turns one that wrongly starts into a failure, not a hang).
port=${base##*:}
cannot_listen() {  # cannot_listen NAME REASON ARGS...
  local name=$1 reason=$2
  shift 2
  timeout 10 "$server_bin" "$@" >"$work/$name.out" 2>"$work/$name.err"
  check "$name: exit status" "1" "$?"
  check "$name: reason" "1" "$(grep -c "cannot listen: .*$reason" "$work/$name.err")"
  check "$name: no abort" "0" "$(grep -c 'terminate called' "$work/$name.err")"
}
cannot_listen "port taken" "Address already in use" --port "$port" --address 127.0.0.1
cannot_listen "unknown address" "nosuch.invalid" --port 0 --address nosuch.invalid
cannot_listen "unix path no socket" "" --unix "$work/upload.bin"

kill -TERM "$server_pid"
for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
wait "$server_pid"
check "SIGTERM exit status" "0" "$?"

# https with a throwaway CA, checked by curl --cacert.
make_certificates
start tls --tls-cert "$work/server.pem" --tls-key "$work/server.key" --no-access-log
check "https --cacert" "Hello, World!" "$(curl -s --cacert "$work/ca.pem" "${url%/}/")"
check "https untrusted refused" "60" "$(curl -s -o /dev/null "${url%/}/"; echo $?)"

finish
