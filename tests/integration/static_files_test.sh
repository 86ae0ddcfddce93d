#!/usr/bin/env bash
# Real clients against the demo server's static files (StaticFileHandler):
# the bundled examples/static, then a --static-root of the test's own with
# curl's -I, -r, -z, --etag-compare, --compressed and --path-as-is, a
# 0-byte and a 100 MiB file intact over http and https, Python's
# http.client reusing one connection, and a wrk smoke run.
set -uo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/server_lib.sh" "${1:-examples/hello_http}"

header() {  # header NAME: that header's value from a `curl -sI`/-D - dump on stdin
  grep -i "^$1:" | head -1 | cut -d' ' -f2- | tr -d '\r'
}
md5() { md5sum | cut -d' ' -f1; }

# ---- the bundled directory (no --static-root) ----
start bundled --no-access-log
base=${url%/}
check "bundled index" "1" "$(curl -s "$base/static/" | grep -c 'whirl serves its own static files')"
check "bundled css type" "text/css; charset=utf-8" "$(curl -sI "$base/static/css/site.css" | header Content-Type)"
check "bundled robots.txt" "User-agent: *" "$(curl -s "$base/robots.txt" | head -1)"
kill "$server_pid"

# ---- a root of our own ----
root="$work/root"
mkdir -p "$root/sub" "$work/outside"
printf 'Hello, static world!\n' >"$root/hello.txt"
: >"$root/empty.txt"
for i in $(seq 300); do echo ".rule-$i { color: #123456; margin: 0 auto; }"; done >"$root/site.css"
head -c $((100 * 1024 * 1024)) /dev/urandom >"$root/big.bin"
printf '<p>sub</p>\n' >"$root/sub/index.html"
printf 'SECRET\n' >"$work/outside/secret.txt"
ln -s "$work/outside/secret.txt" "$root/escape.txt"
printf 'hidden\n' >"$root/.hidden"
big_md5=$(md5 <"$root/big.bin")

start plain --no-access-log --static-root "$root"
base=${url%/}/static
check "GET body" "Hello, static world!" "$(curl -s "$base/hello.txt")"
head_out=$(curl -sI "$base/hello.txt")
check "-I status" "HTTP/1.1 200 OK" "$(head -1 <<<"$head_out" | tr -d '\r')"
check "-I length" "21" "$(header Content-Length <<<"$head_out")"
check "-I accept-ranges" "bytes" "$(header Accept-Ranges <<<"$head_out")"
check "-I last-modified" "$(TZ=GMT date -r "$root/hello.txt" '+%a, %d %b %Y %H:%M:%S GMT')" \
  "$(header Last-Modified <<<"$head_out")"
check "-I etag quoted" "1" "$(header Etag <<<"$head_out" | grep -c '^".*"$')"

check "-r 0-4" "Hello" "$(curl -s -r 0-4 "$base/hello.txt")"
check "-r -7" "world!" "$(curl -s -r -7 "$base/hello.txt")"
check "-r 206" "206 bytes 7-20/21" \
  "$(curl -s -r 7- -o /dev/null -D - "$base/hello.txt" | awk 'NR==1 {s=$2} tolower($1)=="content-range:" {print s, $2, $3}' | tr -d '\r')"
check "-r past the end 416" "416 bytes */21" \
  "$(curl -s -r 100-200 -o /dev/null -D - "$base/hello.txt" | awk 'NR==1 {s=$2} tolower($1)=="content-range:" {print s, $2, $3}' | tr -d '\r')"
check "-r of 100 MiB" "$(tail -c +50000001 "$root/big.bin" | head -c 1000000 | md5)" \
  "$(curl -s -r 50000000-50999999 "$base/big.bin" | md5)"

check "-z the file's time: 304" "304" "$(curl -s -o /dev/null -w '%{http_code}' -z "$root/hello.txt" "$base/hello.txt")"
check "-z an older time: 200" "200" "$(curl -s -o /dev/null -w '%{http_code}' -z 'Sat, 01 Jan 2000 00:00:00 GMT' "$base/hello.txt")"
curl -s -o /dev/null --etag-save "$work/etag" "$base/hello.txt"
check "--etag-compare: 304" "304" "$(curl -s -o /dev/null -w '%{http_code}' --etag-compare "$work/etag" "$base/hello.txt")"
printf 'Changed!\n' >"$root/hello.txt"
check "a changed file: 200 again" "200 Changed!" \
  "$(curl -s -w ' %{http_code}' --etag-compare "$work/etag" "$base/hello.txt" | tr -d '\n' | awk '{print $2, $1}')"

check "--compressed encoding" "gzip" "$(curl -s --compressed -o /dev/null -D - "$base/site.css" | header Content-Encoding)"
check "--compressed body" "$(md5 <"$root/site.css")" "$(curl -s --compressed "$base/site.css" | md5)"
check "no gzip unasked" "" "$(curl -s -o /dev/null -D - "$base/site.css" | header Content-Encoding)"
check "--compressed with -r: identity" "206 " \
  "$(curl -s --compressed -r 0-9 -o /dev/null -D - "$base/site.css" | awk 'NR==1 {s=$2} tolower($1)=="content-encoding:" {e=$2} END {print s, e}' | tr -d '\r')"

check "0-byte file" "200 0" "$(curl -s -o "$work/empty.out" -w '%{http_code} %{size_download}' "$base/empty.txt")"
check "100 MiB over http" "$big_md5" "$(curl -s "$base/big.bin" | md5)"
check "HEAD of 100 MiB" "104857600" "$(curl -sI "$base/big.bin" | header Content-Length)"

for target in "../etc/passwd" "%2e%2e/%2e%2e/etc/passwd" "..%2f..%2fetc%2fpasswd" "sub/../../outside/secret.txt" \
  "escape.txt" ".hidden" "..%5c..%5cetc%5cpasswd"; do
  code=$(curl -s --path-as-is -o "$work/traversal.out" -w '%{http_code}' "$base/$target")
  leaked=$(grep -c -e SECRET -e 'root:' -e hidden "$work/traversal.out")
  check "traversal $target refused" "refused 0" "$([[ $code == 403 || $code == 404 || $code == 400 ]] && echo refused || echo "$code") $leaked"
done
check "dir redirects to its slash" "301 ${url%/}/static/sub/" \
  "$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$base/sub")"
check "dir index" "<p>sub</p>" "$(curl -sL "$base/sub")"

check "python http.client, one connection" "206 Hello|200 11|304" "$(/usr/bin/python3 - "$base" <<'PY'
import http.client, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port)
c.request("GET", u.path + "/sub/index.html", headers={"Range": "bytes=0-2"}); r = c.getresponse(); a = r.read()
c.request("GET", u.path + "/sub/index.html"); r2 = c.getresponse(); b = r2.read()
c.request("GET", u.path + "/sub/index.html", headers={"If-None-Match": r2.getheader("ETag")}); r3 = c.getresponse(); r3.read()
print("%d %s|%d %d|%d" % (r.status, "Hello" if a == b"<p>" else a, r2.status, len(b), r3.status))
PY
)"

wrk_out=$(wrk -t1 -c16 -d1s "$base/sub/index.html" 2>&1)
check "wrk non-2xx" "0" "$(grep -c 'Non-2xx' <<<"$wrk_out")"
check "wrk socket errors" "0" "$(grep -c 'Socket errors' <<<"$wrk_out")"
kill "$server_pid"

# ---- https: the same pieces, encrypted ----
make_certificates
start tls --no-access-log --static-root "$root" --tls-cert "$work/server.pem" --tls-key "$work/server.key"
base=${url%/}/static
check "100 MiB over https" "$big_md5" "$(curl -s --cacert "$work/ca.pem" "$base/big.bin" | md5)"
check "https -r" "$(head -c 1000 "$root/big.bin" | md5)" "$(curl -s --cacert "$work/ca.pem" -r 0-999 "$base/big.bin" | md5)"
check "https --compressed" "$(md5 <"$root/site.css")" "$(curl -s --cacert "$work/ca.pem" --compressed "$base/site.css" | md5)"

finish
