"""bench/client_cell: HTTP clients against one nginx, in one run.

    python3 bench/client_cell.py --whirl CLIENT_BENCH --curl CURL_MULTI_BENCH
        [--runs 3] [--duration 5] [--concurrency 64] [--skip tornado] [--json FILE]

nginx (1 worker, `return 200 "Hello, World!"`, keep-alive) runs on the
server core; each client runs on the load core with CONCURRENCY requests
in flight over keep-alive connections:

- whirl: AsyncHTTPClient (bench/client_bench.cc);
- libcurl: its multi interface, one easy handle per request in flight,
  each re-added when it completes (bench/curl_multi_bench.c);
- Tornado: AsyncHTTPClient's simple client (a connection per request: it
  has no keep-alive), for context.

Runs interleave client by client. The median run is quoted: requests/s,
requests per client CPU-second (the figure a client is judged by: nginx on
the other core is rarely the limit, the client's own CPU is), the client's
and nginx's CPU share and the connections opened. Ratios against libcurl
close the table.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_lib import NGINX_CONF, Server, run_loader, say  # noqa: E402

NGINX_PORT = 19411
def one_run(name, argv, server):
    out, err, server_share, loader_share = run_loader(argv, server)
    try:
        result = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RuntimeError(f"{name}: no result ({err.strip()[-300:]})")
    result["rate"] = result["requests"] / result["seconds"]
    result["per_cpu"] = result["requests"] / result["cpu"] if result["cpu"] > 0 else 0.0
    result["client_cpu"] = loader_share
    result["server_cpu"] = server_share
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--whirl", required=True, help="bench/client_bench")
    parser.add_argument("--curl", default="", help="curl_multi_bench built against libcurl")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--skip", default="", help="comma-separated clients to leave out (curl, tornado)")
    parser.add_argument("--json", default="", help="write the medians here")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    workdir = tempfile.mkdtemp(prefix="whirl-client-")
    os.chmod(workdir, 0o755)  # nginx's worker runs as nobody
    with open(os.path.join(workdir, "nginx.conf"), "w") as f:
        f.write(NGINX_CONF.format(dir=workdir, port=NGINX_PORT))
    url = f"http://127.0.0.1:{NGINX_PORT}/"
    common = [url, str(args.concurrency), str(args.duration)]
    clients = [("whirl", [args.whirl] + common)]
    if "curl" in skip:
        pass
    elif args.curl and os.access(args.curl, os.X_OK):
        clients.append(("libcurl", [args.curl] + common))
    else:
        say("client_cell: no libcurl driver (libcurl4-openssl-dev); libcurl skipped")
    if "tornado" not in skip:
        clients.append(("tornado", ["/usr/bin/python3", os.path.join(os.path.dirname(__file__), "tornado_client_bench.py")]
                        + common))

    nginx = Server("nginx", ["/usr/sbin/nginx", "-c", os.path.join(workdir, "nginx.conf"), "-p", workdir], NGINX_PORT,
                   workdir)
    nginx.start()
    runs = {name: [] for name, _ in clients}
    try:
        for run in range(args.runs):
            for name, argv in clients:
                runs[name].append(one_run(name, argv, nginx))
    finally:
        nginx.stop()

    medians = {}
    say(f"\n## HTTP client: {args.concurrency} requests in flight, keep-alive, against nginx (1 worker)\n")
    say("| client | requests/s | requests per client CPU-s | client CPU | nginx CPU | connections | errors |")
    say("|---|---|---|---|---|---|---|")
    for name, _ in clients:
        median = sorted(runs[name], key=lambda r: r["rate"])[len(runs[name]) // 2]
        median["per_cpu_runs"] = [round(r["per_cpu"]) for r in runs[name]]
        medians[name] = median
        say(f"| {name} | {median['rate']:,.0f} | {statistics.median(r['per_cpu'] for r in runs[name]):,.0f} "
            f"| {median['client_cpu']:.0%} | {median['server_cpu']:.0%} | {median['connections']} "
            f"| {median['errors']} |")
    if "libcurl" in medians:
        curl = medians["libcurl"]
        whirl = medians["whirl"]
        per_cpu = statistics.median(r["per_cpu"] for r in runs["whirl"]) / statistics.median(
            r["per_cpu"] for r in runs["libcurl"])
        say(f"\nwhirl / libcurl: {whirl['rate'] / curl['rate']:.2f}x requests/s, {per_cpu:.2f}x requests per client "
            f"CPU-second (goal: 1.5x)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"concurrency": args.concurrency, "duration": args.duration, "runs": args.runs,
                       "medians": medians}, f, indent=1)


if __name__ == "__main__":
    main()
