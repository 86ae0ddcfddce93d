#!/usr/bin/env bash
# whirl's HTTP client (through examples/fetch) against real servers: nginx
# over http and https (certificates made here), Python's http.server
# (HTTP/1.0: nothing pooled) and Tornado (keep-alive, gzip, chunked,
# redirects, POST bodies). Bodies are compared byte for byte; -v says
# whether each request took a new connection or a pooled one.
#
#   httpclient_peers_test.sh FETCH HELLO_HTTP TORNADO_PEER_PY
set -uo pipefail

fetch=$1
tornado_peer=$3
python=/usr/bin/python3  # Debian's, with python3-tornado
source "$(dirname "${BASH_SOURCE[0]}")/server_lib.sh" "$2"

free_port() { $python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {  # wait_port PORT: until something listens there
  for _ in $(seq 100); do
    $python -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 0.2)" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "FAIL nothing listens on $1"
  exit 1
}
md5() { md5sum | cut -d' ' -f1; }

# The files every server serves.
mkdir -p "$work/www"
head -c 5000000 /dev/urandom >"$work/www/large.bin"
for i in $(seq 2000); do echo "line $i of a compressible text"; done >"$work/www/text.txt"
echo "small" >"$work/www/small.txt"
make_certificates

# ---- nginx ----
nginx=/usr/sbin/nginx  # (sbin is not on the test PATH)
if [[ ! -x $nginx ]]; then
  echo "FAIL nginx is not installed (Debian's nginx-light)"
  exit 1
fi
nginx_port=$(free_port)
nginx_tls_port=$(free_port)
chmod 0755 "$work" "$work/www"  # nginx reads as itself
cat >"$work/nginx.conf" <<EOF
daemon off;
master_process off;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $work/nginx-body;
  gzip on;
  gzip_types text/plain;
  gzip_min_length 1;
  types { text/plain txt; application/octet-stream bin; }
  server {
    listen 127.0.0.1:$nginx_port;
    listen 127.0.0.1:$nginx_tls_port ssl;
    ssl_certificate $work/server.pem;
    ssl_certificate_key $work/server.key;
    root $work/www;
    location = /moved { return 302 /small.txt; }
    location = /missing { return 404 "nope\n"; }
  }
}
EOF
"$nginx" -c "$work/nginx.conf" -p "$work" >"$work/nginx.out" 2>&1 &
pids+=($!)
wait_port "$nginx_port"
n="http://127.0.0.1:$nginx_port"
ns="https://127.0.0.1:$nginx_tls_port"

check "nginx: a small file" "small" "$("$fetch" "$n/small.txt")"
check "nginx: 5 MB intact" "$(md5 <"$work/www/large.bin")" "$("$fetch" "$n/large.bin" | md5)"
check "nginx: gzip decoded" "$(md5 <"$work/www/text.txt")" "$("$fetch" --compressed "$n/text.txt" | md5)"
check "nginx: -i shows the head" "HTTP/1.1 200 OK" "$("$fetch" -i "$n/small.txt" | head -1 | tr -d '\r')"
check "nginx: gzip was on the wire" "1" "$("$fetch" -i --compressed "$n/text.txt" | grep -ci '^Content-Encoding: gzip')"
check "nginx: a 302 followed with -L" "small" "$("$fetch" -L "$n/moved")"
check "nginx: a 302 not followed without -L" "302" "$("$fetch" -i "$n/moved" | head -1 | cut -d' ' -f2)"
"$fetch" "$n/missing" >"$work/missing.out" 2>&1
check "nginx: a 404 is a complete response (exit 0)" "0 nope" "$? $(cat "$work/missing.out")"
"$fetch" -v "$n/small.txt" "$n/large.bin" "$n/text.txt" >/dev/null 2>"$work/pool.err"
check "nginx: three requests, one connection" "new reused reused" \
  "$(grep -o '(new\|(reused' "$work/pool.err" | tr -d '(' | paste -sd' ')"

check "nginx https: verified against our CA" "small" "$("$fetch" --cacert "$work/ca.pem" "$ns/small.txt")"
check "nginx https: 5 MB intact" "$(md5 <"$work/www/large.bin")" \
  "$("$fetch" --cacert "$work/ca.pem" "$ns/large.bin" | md5)"
"$fetch" "$ns/small.txt" >/dev/null 2>"$work/untrusted.err"
status=$?
check "nginx https: an unknown CA fails (exit 1)" "1" "$status"
check "nginx https: ...saying why" "1" "$(grep -c 'certificate verify failed' "$work/untrusted.err")"
check "nginx https: -k skips the check" "small" "$("$fetch" -k "$ns/small.txt")"
"$fetch" -v --cacert "$work/ca.pem" "$ns/small.txt" "$ns/text.txt" >/dev/null 2>"$work/tls-pool.err"
check "nginx https: pooled too" "new reused" "$(grep -o '(new\|(reused' "$work/tls-pool.err" | tr -d '(' | paste -sd' ')"

# ---- Python's http.server: HTTP/1.0, a connection per request ----
py_port=$(free_port)
(cd "$work/www" && exec $python -m http.server "$py_port" --bind 127.0.0.1 >"$work/py.out" 2>&1) &
pids+=($!)
wait_port "$py_port"
p="http://127.0.0.1:$py_port"
check "http.server: 5 MB intact" "$(md5 <"$work/www/large.bin")" "$("$fetch" "$p/large.bin" | md5)"
"$fetch" -v "$p/small.txt" "$p/small.txt" >/dev/null 2>"$work/py-pool.err"
check "http.server: HTTP/1.0 answers are not pooled" "new new" \
  "$(grep -o '(new\|(reused' "$work/py-pool.err" | tr -d '(' | paste -sd' ')"
check "http.server: a 404 from the server" "404" "$("$fetch" -i "$p/nothing-here" | head -1 | cut -d' ' -f2)"

# ---- Tornado ----
tornado_port=$(free_port)
$python "$tornado_peer" "$tornado_port" >"$work/tornado.out" 2>&1 &
pids+=($!)
wait_port "$tornado_port"
t="http://127.0.0.1:$tornado_port"
check "tornado: a POST body echoed" "got 11 bytes: hello world" "$("$fetch" -d 'hello world' "$t/echo")"
check "tornado: PUT from a file" "got 5000000 bytes" \
  "$("$fetch" -X PUT --data-binary "@$work/www/large.bin" "$t/echo" | cut -d: -f1)"
check "tornado: chunked pieces joined" "piece0 piece1 piece2 piece3 piece4 " "$("$fetch" "$t/chunked")"
check "tornado: gzip decoded" "$("$fetch" "$t/text" | md5)" "$("$fetch" --compressed "$t/text" | md5)"
check "tornado: ...and was gzip on the wire" "1" "$("$fetch" -i --compressed "$t/text" | grep -ci '^Content-Encoding: gzip')"
check "tornado: a 301 to a relative Location" "small" "$("$fetch" -L "$t/moved")"
check "tornado: a header sent" "X-Test=yes" "$("$fetch" -H 'X-Test: yes' "$t/header?name=X-Test")"
check "tornado: -d sends a form, as curl" "Content-Type=application/x-www-form-urlencoded" \
  "$("$fetch" -d 'a=1' "$t/header?name=Content-Type")"
printf 'a=1\nb=2\n' >"$work/form.txt"
check "tornado: -d @FILE drops the line breaks, as curl" "got 6 bytes: a=1b=2" "$("$fetch" -d "@$work/form.txt" "$t/echo")"
"$fetch" -v "$t/text" "$t/chunked" "$t/text" >/dev/null 2>"$work/tornado-pool.err"
check "tornado: three requests, one connection" "new reused reused" \
  "$(grep -o '(new\|(reused' "$work/tornado-pool.err" | tr -d '(' | paste -sd' ')"
"$fetch" --max-time 0.3 "$t/slow" >/dev/null 2>"$work/slow.err"
check "tornado: --max-time ends a slow answer" "1 fetch: Timeout during request" "$? $(cat "$work/slow.err")"

finish
