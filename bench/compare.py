"""bench/compare: whirl's plaintext server next to nginx, Bun and Tornado, in one run.

Started by compare.sh (which installs the peers); see bench/README.md.

    compare.py --bin DIR --here DIR [--quick] [--runs N] [--duration S]
               [--json FILE] [--png FILE] [--skip-memory]

Every server is pinned to core 0 (all of them listen at once) and driven
from core 1, by wrk and by the bundled loadgen, in three cells: keep-alive
(64 connections), pipelined 16 at 64 connections and at 256. A cell is run
--runs times per server and loader after a warm-up, the servers and the
loaders taking turns run by run; the run with the median req/s is quoted,
with the server's and the loader's CPU share during that run, so a reader
sees which side was the limit, and the loader's requests per CPU-second
over all the cell's runs (what the loader-efficiency line compares). Then
whirl's heap allocations per request (a counting build of the plaintext
server) and the resident memory per idle keep-alive connection (10,000
connections) of whirl and nginx. Between them, the static cell
(static_cell.py) and the arena cells (arena_cell.py: baseline,
limited-conn, json, async, the fixed-rate CPU cost).
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import arena_cell
import static_cell
from bench_lib import LOAD_CORE, NGINX_CONF, SERVER_CORE, Server, parse_wrk, raise_fd_limit, rss_bytes, run_loader, say

CELLS = [  # (mode, connections, depth)
    ("keep-alive", 64, 1),
    ("pipelined", 64, 16),
    ("pipelined", 256, 16),
]
PIPELINE_LUA = """
init = function(args)
  local r = {}
  for i = 1, tonumber(args[1]) do r[i] = wrk.format() end
  req = table.concat(r)
end
request = function() return req end
"""


class Loaders:
    def __init__(self, loadgen, workdir):
        self.loadgen, self.workdir = loadgen, workdir
        self.lua = os.path.join(workdir, "pipeline.lua")
        with open(self.lua, "w") as f:
            f.write(PIPELINE_LUA)

    def measure(self, tool, server, connections, depth, duration, warmup=0.0):
        url = f"http://127.0.0.1:{server.port}/"
        if tool == "wrk":
            argv = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url]
            if depth > 1:
                argv[5:5] = ["-s", self.lua]
                argv += ["--", str(depth)]
        else:
            record = os.path.join(self.workdir, "loadgen.json")
            argv = [self.loadgen, url, "-c", str(connections), "-p", str(depth), "-d", str(duration),
                    "-w", str(warmup), "--json", record, "--quiet"]
        out, err, server_cpu, loader_cpu = run_loader(argv, server)
        if tool == "wrk":
            rate, p99 = parse_wrk(out)
        else:
            with open(record) as f:
                data = json.load(f)
            rate, p99 = data["req_per_s"], data["latency_ms"]["p99"]
            errors = sum(data["errors"].values())
            if errors:
                say(f"    ({tool} counted {errors} errors against {server.name}: {data['errors']})")
        if rate is None:
            raise RuntimeError(f"{tool} printed no rate:\n{out}\n{err}")
        return {"req_per_s": round(rate, 1), "server_cpu": round(100 * server_cpu, 1),
                "loader_cpu": round(100 * loader_cpu, 1), "p99_ms": None if p99 is None else round(p99, 3)}


def p99_text(p99):
    return "n/a" if p99 is None else f"{p99:.3f}"


def measure_cells(servers, loaders, tools, runs, duration):
    """Every cell for every server and tool; they take turns run by run.

    All servers listen at once (an idle one costs nothing), and each run of
    a cell goes to each tool and server in turn, so the VM's drift over
    minutes falls on every server and both loaders alike instead of on
    whichever was measured first."""
    for server in servers:
        server.start()
    cells = {server.name: [] for server in servers}
    try:
        for mode, connections, depth in CELLS:
            for tool in tools:
                for server in servers:
                    loaders.measure(tool, server, connections, depth, 1)  # warm-up, not recorded
            results = {(server.name, tool): [] for server in servers for tool in tools}
            for _ in range(runs):
                for tool in tools:
                    for server in servers:
                        results[(server.name, tool)].append(
                            loaders.measure(tool, server, connections, depth, duration))
            for tool in tools:
                for server in servers:
                    cells[server.name].append(median_cell(server.name, tool, mode, connections, depth,
                                                          results[(server.name, tool)]))
    finally:
        for server in servers:
            server.stop()
    return [cell for server in servers for cell in cells[server.name]]


def median_cell(name, tool, mode, connections, depth, results):
    """The run with the median req/s, plus the loader's requests per CPU-second
    over all runs (total requests over total CPU: steadier than one run's)."""
    loader_cpu = sum(r["loader_cpu"] for r in results) / 100
    efficiency = round(sum(r["req_per_s"] for r in results) / loader_cpu) if loader_cpu > 0 else None
    results = sorted(results, key=lambda r: r["req_per_s"])
    median = results[len(results) // 2]
    spread = ", ".join(f"{r['req_per_s']:.0f}" for r in results)
    say(f"  {name:8} {tool:8} {mode:10} c={connections:<4} d={depth:<3} "
        f"{median['req_per_s']:>11,.0f} req/s  server {median['server_cpu']:5.1f}%  "
        f"loader {median['loader_cpu']:5.1f}%  p99 {p99_text(median['p99_ms'])} ms   (runs: {spread})")
    return {"server": name, "tool": tool, "mode": mode, "connections": connections, "depth": depth, **median,
            "loader_req_per_cpu_s": efficiency}


def http_get(port, path):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data.decode(errors="replace")


def allocations_per_request(binary, loadgen, workdir, port):
    """whirl's heap allocations per request in steady state, keep-alive and pipelined."""
    server = Server("whirl-counting", [binary, "--port", str(port), "--address", "127.0.0.1"], port, workdir)
    server.start()
    results = {}
    try:
        for label, depth in (("keep-alive", 1), ("pipelined 16", 16)):
            # One loader run of 6 s: sampled at 2 s (connections warm) and 5 s.
            load = subprocess.Popen(["taskset", "-c", LOAD_CORE, loadgen, f"http://127.0.0.1:{port}/", "-c", "64",
                                     "-p", str(depth), "-d", "6", "-w", "0", "--quiet"], stdout=subprocess.DEVNULL)
            time.sleep(2)
            first = parse_counts(http_get(port, "/allocations"))
            time.sleep(3)
            second = parse_counts(http_get(port, "/allocations"))
            load.wait()
            requests = second[1] - first[1]
            results[label] = (second[0] - first[0]) / max(requests, 1)
            say(f"  {label:13} {second[0] - first[0]} allocations over {requests} requests: "
                f"{results[label]:.4f} per request")
    finally:
        server.stop()
    return results


def parse_counts(text):
    m = re.search(r"allocations=(\d+) requests=(\d+)", text)
    if not m:
        raise RuntimeError("the counting server did not report allocations: " + text[:200])
    return int(m.group(1)), int(m.group(2))


def established(port):
    out = subprocess.run(["ss", "-Htn", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True).stdout
    return len(out.splitlines())


def idle_memory(server, loadgen, count):
    """Resident bytes per idle keep-alive connection, with `count` of them open."""
    server.start()
    try:
        time.sleep(0.5)
        before = rss_bytes(server.pids)
        load = subprocess.Popen(["taskset", "-c", LOAD_CORE, loadgen, f"http://127.0.0.1:{server.port}/", "-c",
                                 str(count), "--idle", "-d", "30", "-w", "0", "--sources", "8", "--quiet",
                                 "--timeout", "30"], stdout=subprocess.DEVNULL, preexec_fn=raise_fd_limit)
        deadline = time.monotonic() + 25
        while established(server.port) < count and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(1)  # every connection has had its one response by now
        open_now = established(server.port)
        after = rss_bytes(server.pids)
        load.kill()
        load.wait()
    finally:
        server.stop()
    per = (after - before) / max(open_now, 1)
    say(f"  {server.name:8} {open_now} idle connections: RSS {before / 2**20:.1f} -> {after / 2**20:.1f} MiB, "
        f"{per / 1024:.2f} KiB per connection")
    return {"server": server.name, "connections": open_now, "rss_before": before, "rss_after": after,
            "bytes_per_connection": round(per)}


def print_table(cells):
    say("")
    say(f"{'server':8} {'tool':8} {'mode':10} {'conns':>5} {'depth':>5} {'req/s':>11} {'server cpu':>10} "
        f"{'loader cpu':>10} {'p99 ms':>8}")
    for c in cells:
        say(f"{c['server']:8} {c['tool']:8} {c['mode']:10} {c['connections']:>5} {c['depth']:>5} "
            f"{c['req_per_s']:>11,.0f} {c['server_cpu']:>9.1f}% {c['loader_cpu']:>9.1f}% {p99_text(c['p99_ms']):>8}")


def print_ratios(cells):
    def rate(server, tool, mode, connections):
        for c in cells:
            if (c["server"], c["tool"], c["mode"], c["connections"]) == (server, tool, mode, connections):
                return c["req_per_s"]
        return None

    say("")
    goals = {("nginx", "keep-alive", 64): 1.25, ("nginx", "pipelined", 64): 4.0, ("tornado", "pipelined", 64): 50.0,
             ("ceiling", "pipelined", 64): 0.5}
    for peer in ("ceiling", "nginx", "bun", "tornado"):
        for mode, connections, _ in CELLS:
            for tool in ("loadgen", "wrk"):
                whirl, other = rate("whirl", tool, mode, connections), rate(peer, tool, mode, connections)
                if whirl and other:
                    goal = goals.get((peer, mode, connections))
                    note = f"  (goal >= {goal})" if goal and tool == "loadgen" else ""
                    say(f"whirl/{peer:7} {mode:10} c={connections:<4} {tool:8} {whirl / other:7.2f}x{note}")
    by_tool = {c["tool"]: c["loader_req_per_cpu_s"] for c in cells
               if c["server"] == "whirl" and c["mode"] == "pipelined" and c["connections"] == 64}
    if by_tool.get("loadgen") and by_tool.get("wrk"):
        say(f"loader efficiency, pipelined 16 c=64 against whirl (all runs): loadgen {by_tool['loadgen']:,.0f}, "
            f"wrk {by_tool['wrk']:,.0f} requests per loader CPU-second: "
            f"{by_tool['loadgen'] / by_tool['wrk']:.2f}x (goal >= 2)")


def draw_png(cells, path, workdir):
    if not shutil.which("gnuplot"):
        say(f"compare: no gnuplot, so no {path}")
        return
    servers = [s for s in ("whirl", "ceiling", "nginx", "bun", "tornado") if any(c["server"] == s for c in cells)]
    groups = []
    for mode, connections, depth in CELLS:
        for tool in ("loadgen", "wrk"):
            groups.append((f"{mode} c{connections}\\n{tool}", mode, connections, tool))
    data = os.path.join(workdir, "chart.dat")
    with open(data, "w") as f:
        f.write("# cell " + " ".join(servers) + "\n")
        for label, mode, connections, tool in groups:
            values = []
            for s in servers:
                v = next((c["req_per_s"] for c in cells if (c["server"], c["mode"], c["connections"], c["tool"]) ==
                          (s, mode, connections, tool)), None)
                values.append(str(v) if v else "NaN")
            f.write(f'"{label}" ' + " ".join(values) + "\n")
    plot = ", ".join(f"'{data}' using {i + 2}:xtic(1) title '{s}'" for i, s in enumerate(servers))
    script = f"""
set terminal pngcairo size 1200,600 font ',10'
set output '{path}'
set title 'Plaintext requests/s, server on one core (log scale)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y
set yrange [1000:*]
set ylabel 'requests/s'
set bmargin 4
set key top left
set grid ytics
plot {plot}
"""
    result = subprocess.run(["gnuplot"], input=script, capture_output=True, text=True)
    if result.returncode != 0:
        say(f"compare: gnuplot failed: {result.stderr.strip()}")
    else:
        say(f"chart: {path}")


def write_json(path, record):
    if path:
        with open(path, "w") as f:
            json.dump(record, f, indent=1)
        say(f"json: {path}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, help="directory with plaintext_server, loadgen")
    parser.add_argument("--here", required=True, help="the bench/ sources (tornado_plaintext.py)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--json")
    parser.add_argument("--png")
    parser.add_argument("--skip", default="",
                        help="comma-separated peers to leave out (ceiling, nginx, bun, tornado, wrk)")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-static", action="store_true", help="leave out the static-file cell")
    parser.add_argument("--static-only", action="store_true", help="only the static-file cell")
    parser.add_argument("--skip-arena", action="store_true", help="leave out the arena cells (arena_cell.py)")
    parser.add_argument("--arena-only", action="store_true", help="only the arena cells")
    parser.add_argument("--bun", help="the bun binary (npm @oven/bun-linux-x64), for the Bun columns")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.duration = 1, 3
    duration = int(args.duration) if float(args.duration).is_integer() else args.duration
    skip = set(filter(None, args.skip.split(",")))
    raise_fd_limit()

    workdir = tempfile.mkdtemp(prefix="whirl-compare-")
    loadgen = os.path.join(args.bin, "loadgen")
    tools = ["loadgen"] + (["wrk"] if "wrk" not in skip and shutil.which("wrk") else [])
    if "wrk" not in tools:
        say("compare: wrk is not installed; measuring with loadgen only")

    with open(os.path.join(workdir, "nginx.conf"), "w") as f:
        f.write(NGINX_CONF.format(dir=workdir, port=19302))
    servers = [Server("whirl", [os.path.join(args.bin, "plaintext_server"), "--port", "19301", "--address",
                                "127.0.0.1"], 19301, workdir)]
    if "ceiling" not in skip:
        # The framework-free io_uring responder: how far the machine goes (ceiling_server.c).
        servers.append(Server("ceiling", [os.path.join(args.bin, "ceiling_server"), "--port", "19305", "--address",
                                          "127.0.0.1"], 19305, workdir))
    if "nginx" not in skip and shutil.which("nginx"):
        servers.append(Server("nginx", ["nginx", "-c", os.path.join(workdir, "nginx.conf"), "-e",
                                        os.path.join(workdir, "nginx-error.log")], 19302, workdir))
    else:
        say("compare: nginx is not installed (or skipped); no nginx column")
    if "bun" not in skip and args.bun and os.access(args.bun, os.X_OK):
        servers.append(Server("bun", [args.bun, os.path.join(args.here, "arena_bun.js"),
                                      os.path.join(args.here, "arena_data.json"), "19306"], 19306, workdir))
    else:
        say("compare: Bun is not installed (npm @oven/bun-linux-x64) or skipped; no Bun column")
    tornado_ok = subprocess.run(["/usr/bin/python3", "-c", "import tornado"], capture_output=True).returncode == 0
    if "tornado" not in skip and tornado_ok:
        servers.append(Server("tornado", ["/usr/bin/python3", os.path.join(args.here, "tornado_plaintext.py"),
                                          "--port", "19303"], 19303, workdir))
    else:
        say("compare: python3-tornado is not installed for /usr/bin/python3 (or skipped); no Tornado column")

    say(f"machine: {os.cpu_count()} cores, {os.uname().release}; "
        f"server on core {SERVER_CORE}, load on core {LOAD_CORE}")
    cells = []
    if not args.static_only and not args.arena_only:
        say(f"plaintext benchmark: {args.runs} run(s) of {duration} s per cell after a 1 s warm-up, median quoted")
        cells = measure_cells(servers, Loaders(loadgen, workdir), tools, args.runs, duration)
        print_table(cells)
        print_ratios(cells)
    static = []
    if not args.skip_static and not args.arena_only and "wrk" in tools:
        static = static_cell.run(args, workdir, args.runs, duration, args.bun)
    arena = []
    if not args.skip_arena and not args.static_only:
        arena = arena_cell.run(args, workdir, args.runs, duration, args.bun)
    if args.static_only or args.arena_only:
        write_json(args.json, {"static": static, "arena": arena, "runs": args.runs, "duration_s": duration})
        shutil.rmtree(workdir, ignore_errors=True)
        return 0

    say("")
    say("heap allocations per request (plaintext_server_counting, 64 connections):")
    allocations = allocations_per_request(os.path.join(args.bin, "plaintext_server_counting"), loadgen, workdir,
                                          19304)
    memory = []
    if not args.skip_memory:
        say("")
        say("resident memory per idle keep-alive connection (10,000 connections):")
        for server in servers:
            if server.name in ("whirl", "nginx"):
                memory.append(idle_memory(server, loadgen, 10000))

    write_json(args.json, {"cells": cells, "static": static, "arena": arena, "allocations_per_request": allocations,
                           "idle_memory": memory, "runs": args.runs, "duration_s": duration,
                           "cores": os.cpu_count()})
    if args.png:
        draw_png(cells, args.png, workdir)
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
