"""The arena cells of bench/compare: the shapes HttpArena and TechEmpower judge
servers on besides plaintext, each driven by the bundled loadgen.

- baseline: `GET /baseline?a=1&b=2` and `POST /baseline?a=1&b=2` with the
  body "3" in turn (a + b [+ body]), 512 connections;
- limited-conn: plaintext `/`, every connection closed after 10 requests
  (the 10th asks for `Connection: close`), so accept, setup and teardown are
  measured; connections opened per second is quoted too;
- json and json-gzip: a 1.2 KiB object (bench/arena_data.json) serialised per
  request, plain and for a client that sends `Accept-Encoding: gzip`;
- async: `GET /delay/15` on 10,000 held connections. No server can answer
  more than connections / delay (666,667 req/s): a figure above that did not
  wait, and the p50 latency shows the timer;
- fixed-rate: plaintext `/` at 50,000 req/s (open loop, 1,024 connections),
  where the figure is the server's CPU per request (microseconds, summed
  over its threads' schedstat during the measured window), the question a
  deployment asks. A server that cannot carry the rate is marked so.

Servers: whirl (bench/arena_server: an Application, a RequestHandler per
endpoint, compress_response), Bun (bench/arena_bun.js), nginx where it can
answer (plaintext by `return 200`, the JSON as a file with `gzip on` at
level 6: it serves, it does not serialise; it has no arithmetic or timer
without modules nginx-light lacks) and Tornado (bench/tornado_arena.py),
for context. Each is pinned to the server core; loadgen runs on the other.
Runs interleave server by server as in the plaintext cells, each after the
servers are quiet again (bench_lib.settle: Tornado drains a 10,000-connection
backlog for seconds after its loader stops); the median run is quoted with
the server's and the loader's CPU.
"""
import json
import os
import shutil
import subprocess
import threading
import time

from bench_lib import LOAD_CORE, Server, children_cpu, raise_fd_limit, say, settle

PORTS = {"whirl": 19321, "bun": 19322, "nginx": 19323, "tornado": 19324}
DELAY_MS = 15
FIXED_RATE = 50000

# (name, loadgen arguments after the URL, connections, servers that can answer it)
CELLS = [
    ("baseline", ["--body", "3", "--mix", "GET /baseline?a=1&b=2", "--mix", "POST /baseline?a=1&b=2"], 512,
     ("whirl", "bun", "tornado")),
    ("limited-conn", ["--requests-per-connection", "10"], 256, ("whirl", "nginx", "bun", "tornado")),
    ("json", ["--mix", "GET /json"], 64, ("whirl", "nginx", "bun", "tornado")),
    ("json-gzip", ["--mix", "GET /json", "-H", "Accept-Encoding: gzip"], 64, ("whirl", "nginx", "bun", "tornado")),
    ("async", ["--mix", f"GET /delay/{DELAY_MS}", "--sources", "8", "--timeout", "30"], 10000,
     ("whirl", "bun", "tornado")),
    ("fixed-rate", ["--rate", str(FIXED_RATE)], 1024, ("whirl", "nginx", "bun", "tornado")),
]

NGINX_ARENA_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx-arena.pid;
error_log {dir}/nginx-arena-error.log;
worker_rlimit_nofile 30000;
events {{ worker_connections 20000; }}
http {{
  access_log off;
  keepalive_requests 1000000000;
  keepalive_timeout 3600s;
  open_file_cache max=16;
  gzip on;
  gzip_comp_level 6;
  gzip_min_length 1024;
  gzip_types application/json;
  gzip_vary on;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location = / {{ default_type text/plain; return 200 "Hello, World!"; }}
    location = /json {{ default_type application/json; charset utf-8; charset_types application/json; alias {data}; }}
  }}
}}
"""


def servers_for(args, workdir, data, bun):
    """[(name, Server)] of those that are here and not skipped, saying why a peer is missing."""
    skip = set(filter(None, args.skip.split(",")))
    servers = [("whirl", Server("whirl-arena", [os.path.join(args.bin, "arena_server"), "--port",
                                                str(PORTS["whirl"]), "--address", "127.0.0.1", "--data", data],
                                PORTS["whirl"], workdir))]
    if "bun" not in skip and bun and os.access(bun, os.X_OK):
        servers.append(("bun", Server("bun-arena", [bun, os.path.join(args.here, "arena_bun.js"), data,
                                                    str(PORTS["bun"])], PORTS["bun"], workdir)))
    else:
        say("compare: no Bun for the arena cells (npm @oven/bun-linux-x64 not installed, or skipped)")
    if "nginx" not in skip and shutil.which("nginx"):
        conf = os.path.join(workdir, "nginx-arena.conf")
        with open(conf, "w") as f:
            f.write(NGINX_ARENA_CONF.format(dir=workdir, port=PORTS["nginx"], data=data))
        servers.append(("nginx", Server("nginx-arena", ["nginx", "-c", conf, "-e",
                                                        os.path.join(workdir, "nginx-arena-error.log")],
                                        PORTS["nginx"], workdir)))
    else:
        say("compare: no nginx for the arena cells (not installed or skipped)")
    tornado_ok = subprocess.run(["/usr/bin/python3", "-c", "import tornado"], capture_output=True).returncode == 0
    if "tornado" not in skip and tornado_ok:
        servers.append(("tornado", Server("tornado-arena", ["/usr/bin/python3",
                                                            os.path.join(args.here, "tornado_arena.py"), "--port",
                                                            str(PORTS["tornado"]), "--data", data],
                                          PORTS["tornado"], workdir)))
    else:
        say("compare: no Tornado for the arena cells")
    return servers


def cpu_ns(pids):
    """CPU time of every thread of `pids` so far (schedstat, nanoseconds): finer than /proc's ticks."""
    total = 0
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except FileNotFoundError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (FileNotFoundError, ProcessLookupError):
                pass  # a thread that ended meanwhile
    return total


def measure(loadgen, workdir, server, cell, duration):
    """One loadgen run of `cell`, once the servers are quiet. The server's CPU
    is read when the warm-up ends and when the measured window does, so
    connection setup and the warm-up are not charged to the measured
    requests."""
    name, extra, connections, _ = cell
    settle()  # as run_loader does before its runs
    warmup = 3.0 if connections >= 5000 else 1.0
    record = os.path.join(workdir, "arena-loadgen.json")
    argv = ["taskset", "-c", LOAD_CORE, loadgen, f"http://127.0.0.1:{server.port}/", "-c", str(connections),
            "-d", str(duration), "-w", str(warmup), "--json", record, "--quiet"] + extra
    pids = server.pids
    marks = {}

    def sample():
        time.sleep(warmup)
        marks["start"] = (cpu_ns(pids), time.monotonic())
        time.sleep(duration)
        marks["end"] = (cpu_ns(pids), time.monotonic())

    loader_before, started = children_cpu(), time.monotonic()
    sampler = threading.Thread(target=sample)
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=raise_fd_limit)
    sampler.start()
    out, err = child.communicate()
    sampler.join()
    wall = time.monotonic() - started
    loader_cpu = (children_cpu() - loader_before) / wall
    try:
        with open(record) as f:
            data = json.load(f)
        os.unlink(record)
    except (FileNotFoundError, json.JSONDecodeError):
        raise RuntimeError(f"loadgen wrote no report against {server.name} ({name}):\n{out}\n{err}")
    errors = sum(data["errors"].values())
    if errors or data["non_2xx"]:
        say(f"    (loadgen counted {errors} errors and {data['non_2xx']} non-2xx against {server.name}: "
            f"{data['errors']})")
    (ns0, t0), (ns1, t1) = marks["start"], marks["end"]
    window = max(t1 - t0, 1e-9)
    server_share = (ns1 - ns0) / 1e9 / window
    requests_in_window = data["req_per_s"] * window
    return {"req_per_s": round(data["req_per_s"], 1), "server_cpu": round(100 * server_share, 1),
            "loader_cpu": round(100 * loader_cpu, 1), "p50_ms": round(data["latency_ms"]["p50"], 3),
            "p99_ms": round(data["latency_ms"]["p99"], 3),
            "connections_per_s": round(data.get("connections_opened", 0) / data["seconds"], 1),
            "server_us_per_request": round((ns1 - ns0) / 1e3 / requests_in_window, 2) if requests_in_window else None,
            "errors": errors, "non_2xx": data["non_2xx"]}


def describe(name, cell_name, connections, median, spread):
    extra = ""
    if cell_name == "limited-conn":
        extra = f"  {median['connections_per_s']:>8,.0f} conn/s"
    elif cell_name == "async":
        extra = f"  p50 {median['p50_ms']:.1f} ms"
    elif cell_name == "fixed-rate":
        carried = median["req_per_s"] >= 0.95 * FIXED_RATE
        extra = f"  {median['server_us_per_request']:6.2f} us CPU/request" + ("" if carried else "  (rate not carried)")
    say(f"  {name:8} {cell_name:12} c={connections:<5} {median['req_per_s']:>10,.0f} req/s  "
        f"server {median['server_cpu']:5.1f}%  loader {median['loader_cpu']:5.1f}%  p99 {median['p99_ms']:.3f} ms"
        f"{extra}   (runs: {spread})")


def run(args, workdir, runs, duration, bun):
    """Measures the arena cells; returns their results (dicts) for the JSON."""
    loadgen = os.path.join(args.bin, "loadgen")
    data = os.path.join(workdir, "arena_data.json")
    shutil.copyfile(os.path.join(args.here, "arena_data.json"), data)
    os.chmod(workdir, 0o755)  # nginx's worker (nobody) reads the data file
    os.chmod(data, 0o644)
    servers = servers_for(args, workdir, data, bun)
    say("")
    say(f"arena cells: loadgen on core {LOAD_CORE}; {runs} run(s) of {duration} s per cell after a warm-up, "
        f"median quoted")
    for _, server in servers:
        server.start()
    results = []
    try:
        for cell in CELLS:
            cell_name, _, connections, serves = cell
            here = [(name, server) for name, server in servers if name in serves]
            for _, server in here:  # warm-up, not recorded
                measure(loadgen, workdir, server, cell, 1)
            by_server = {name: [] for name, _ in here}
            for _ in range(runs):
                for name, server in here:
                    by_server[name].append(measure(loadgen, workdir, server, cell, duration))
            for name, _ in here:
                ordered = sorted(by_server[name], key=lambda r: r["req_per_s"])
                median = ordered[len(ordered) // 2]
                describe(name, cell_name, connections, median,
                         ", ".join(f"{r['req_per_s']:.0f}" for r in ordered))
                results.append({"server": name, "cell": cell_name, "connections": connections, **median})
    finally:
        for _, server in servers:
            server.stop()
    print_ratios(results)
    return results


def print_ratios(results):
    """whirl against each peer, cell by cell: req/s, and at the fixed rate CPU per request (peer's / whirl's)."""
    def find(server, cell):
        return next((r for r in results if (r["server"], r["cell"]) == (server, cell)), None)

    say("")
    ceiling = 10000 / (DELAY_MS / 1000)
    for cell_name, _, _, _ in CELLS:
        whirl = find("whirl", cell_name)
        if not whirl:
            continue
        for peer in ("bun", "nginx", "tornado"):
            other = find(peer, cell_name)
            if not other:
                continue
            if cell_name == "fixed-rate":
                mine, theirs = whirl["server_us_per_request"], other["server_us_per_request"]
                if mine and theirs:
                    say(f"whirl/{peer:7} {cell_name:12} {theirs / mine:6.2f}x less CPU per request "
                        f"({mine:.2f} against {theirs:.2f} us)")
            elif other["req_per_s"]:
                say(f"whirl/{peer:7} {cell_name:12} {whirl['req_per_s'] / other['req_per_s']:6.2f}x")
        if cell_name == "async":
            over = [r["server"] for r in results if r["cell"] == "async" and r["req_per_s"] > ceiling * 1.01]
            say(f"async ceiling (10,000 connections / {DELAY_MS} ms) {ceiling:,.0f} req/s"
                + (f"; above it, so they did not wait: {', '.join(over)}" if over else "; no server is above it"))
