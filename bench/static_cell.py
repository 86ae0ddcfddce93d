"""The static cell of bench/compare: files from disk, in HttpArena's shape.

20 files from 1 KiB to 1 MiB (sizes spaced evenly on a log scale, random
bytes, so no server can compress them) are served by:

- whirl: bench/static_server (an Application with StaticFileHandler);
- nginx: 1 worker, `sendfile on`, `tcp_nopush on`, the same directory;
- Bun: Bun.serve answering with Bun.file (bench/static_bun.js), when the
  npm package is there;
- Tornado: its StaticFileHandler (bench/tornado_static.py), for context.

wrk (one thread, on the load core; each connection walks the cell's files
in turn, keep-alive) measures three mixes, over http and https:

- all: the 20 files (HttpArena's static test), 64 connections;
- small: the files up to 16 KiB, 64 connections (requests/s is the figure);
- large: the files from 256 KiB, 16 connections (bytes/s is the figure).

Servers and runs interleave as in the plaintext cells; the median run is
quoted with the server's and wrk's CPU share, and requests/s and bytes/s
ratios against nginx close the section. On loopback the loader pays for
every byte it reads, so a large-file cell is often the loader's limit, not
the server's: the CPU columns say which.
"""
import os
import re
import shutil
import subprocess

from bench_lib import Server, parse_wrk, run_loader, say

FILE_COUNT = 20
SMALLEST, LARGEST = 1024, 1024 * 1024
MIXES = [  # (name, which files, connections)
    ("all", lambda size: True, 64),
    ("small", lambda size: size <= 16 * 1024, 64),
    ("large", lambda size: size >= 256 * 1024, 16),
]
PORTS = {"whirl": 19311, "nginx": 19312, "bun": 19313, "tornado": 19314}
TLS_OFFSET = 10  # https on port + 10

NGINX_STATIC_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx-static.pid;
error_log {dir}/nginx-static-error.log;
worker_rlimit_nofile 30000;
events {{ worker_connections 20000; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000000;
  keepalive_timeout 3600s;
  types {{ application/octet-stream bin; }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    listen 127.0.0.1:{tls_port} ssl backlog=4096;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    location /static/ {{ alias {root}/; }}
  }}
}}
"""

PATHS_LUA = """
local paths = {{{paths}}}
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
"""


def make_files(root):
    """The 20 files; returns [(name, size)]."""
    os.makedirs(root, exist_ok=True)
    files = []
    for i in range(FILE_COUNT):
        size = round(SMALLEST * (LARGEST / SMALLEST) ** (i / (FILE_COUNT - 1)))
        name = f"file{i:02d}.bin"
        with open(os.path.join(root, name), "wb") as f:
            f.write(os.urandom(size))
        files.append((name, size))
    return files


def make_certificate(workdir):
    cert, key = os.path.join(workdir, "static-cert.pem"), os.path.join(workdir, "static-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-subj", "/CN=127.0.0.1", "-days", "1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    return cert, key


def servers_for(args, workdir, root, cert, key, bun):
    servers = []
    whirl = [os.path.join(args.bin, "static_server"), "--root", root, "--address", "127.0.0.1"]
    servers.append(("whirl",
                    Server("whirl", whirl + ["--port", str(PORTS["whirl"])], PORTS["whirl"], workdir),
                    Server("whirl-tls", whirl + ["--port", str(PORTS["whirl"] + TLS_OFFSET), "--tls-cert", cert,
                                                 "--tls-key", key], PORTS["whirl"] + TLS_OFFSET, workdir)))
    skip = set(filter(None, args.skip.split(",")))
    if "nginx" not in skip and shutil.which("nginx"):
        conf = os.path.join(workdir, "nginx-static.conf")
        with open(conf, "w") as f:
            f.write(NGINX_STATIC_CONF.format(dir=workdir, port=PORTS["nginx"], tls_port=PORTS["nginx"] + TLS_OFFSET,
                                             cert=cert, key=key, root=root))
        # One process listens on both ports: the same Server object serves both schemes.
        nginx = Server("nginx", ["nginx", "-c", conf, "-e", os.path.join(workdir, "nginx-static-error.log")],
                       PORTS["nginx"], workdir)
        servers.append(("nginx", nginx, nginx))
    else:
        say("compare: no nginx for the static cell (not installed or skipped)")
    if "bun" not in skip and bun and os.access(bun, os.X_OK):
        script = os.path.join(args.here, "static_bun.js")
        servers.append(("bun",
                        Server("bun", [bun, script, root, str(PORTS["bun"])], PORTS["bun"], workdir),
                        Server("bun-tls", [bun, script, root, str(PORTS["bun"] + TLS_OFFSET), cert, key],
                               PORTS["bun"] + TLS_OFFSET, workdir)))
    else:
        say("compare: no Bun for the static cell (npm @oven/bun-linux-x64 not installed, or skipped)")
    tornado_ok = subprocess.run(["/usr/bin/python3", "-c", "import tornado"], capture_output=True).returncode == 0
    if "tornado" not in skip and tornado_ok:
        script = os.path.join(args.here, "tornado_static.py")
        base = ["/usr/bin/python3", script, "--root", root]
        servers.append(("tornado",
                        Server("tornado", base + ["--port", str(PORTS["tornado"])], PORTS["tornado"], workdir),
                        Server("tornado-tls", base + ["--port", str(PORTS["tornado"] + TLS_OFFSET), "--cert", cert,
                                                      "--key", key], PORTS["tornado"] + TLS_OFFSET, workdir)))
    else:
        say("compare: no Tornado for the static cell")
    return servers


def parse_bytes_per_s(out):
    match = re.search(r"Transfer/sec:\s+([\d.]+)([KMG]?B)", out)
    if not match:
        return None
    scale = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}
    return float(match.group(1)) * scale[match.group(2)]


def measure(server, port, scheme, lua, connections, duration):
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "-s", lua, f"{scheme}://127.0.0.1:{port}/"]
    out, err, server_cpu, loader_cpu = run_loader(argv, server)
    rate, _ = parse_wrk(out)
    if rate is None:
        raise RuntimeError(f"wrk printed no rate against {server.name}:\n{out}\n{err}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        say(f"    (wrk saw {errors.group(1)} non-2xx answers from {server.name})")
    return {"req_per_s": round(rate, 1), "bytes_per_s": round(parse_bytes_per_s(out) or 0),
            "server_cpu": round(100 * server_cpu, 1), "loader_cpu": round(100 * loader_cpu, 1)}


def run(args, workdir, runs, duration, bun):
    """Measures the static cell; returns its cells (dicts) for the JSON."""
    root = os.path.join(workdir, "static")
    files = make_files(root)
    # nginx's worker runs as nobody: the directory it serves must be readable to all.
    os.chmod(workdir, 0o755)
    os.chmod(root, 0o755)
    cert, key = make_certificate(workdir)
    servers = servers_for(args, workdir, root, cert, key, bun)
    luas = {}
    for mix, keep, _ in MIXES:
        paths = [f'"/static/{name}"' for name, size in files if keep(size)]
        luas[mix] = os.path.join(workdir, f"static-{mix}.lua")
        with open(luas[mix], "w") as f:
            f.write(PATHS_LUA.format(paths=", ".join(paths)))
    say("")
    say(f"static files: {FILE_COUNT} files of {SMALLEST // 1024} KiB to {LARGEST // 1024 // 1024} MiB; wrk -t1, "
        f"each connection walking its mix; {runs} run(s) of {duration} s, median quoted")
    started = []
    for _, plain, tls in servers:
        for server in dict.fromkeys([plain, tls]):
            server.start()
            started.append(server)
    cells = []
    try:
        for scheme in ("http", "https"):
            for mix, _, connections in MIXES:
                for name, plain, tls in servers:  # warm-up
                    server = plain if scheme == "http" else tls
                    measure(server, port_of(name, scheme), scheme, luas[mix], connections, 1)
                results = {name: [] for name, _, _ in servers}
                for _ in range(runs):
                    for name, plain, tls in servers:
                        server = plain if scheme == "http" else tls
                        results[name].append(measure(server, port_of(name, scheme), scheme, luas[mix], connections,
                                                     duration))
                for name, _, _ in servers:
                    ordered = sorted(results[name], key=lambda r: r["req_per_s"])
                    median = ordered[len(ordered) // 2]
                    spread = ", ".join(f"{r['req_per_s']:.0f}" for r in ordered)
                    say(f"  {name:8} {scheme:5} {mix:6} c={connections:<3} {median['req_per_s']:>10,.0f} req/s "
                        f"{median['bytes_per_s'] / 2**20:>9,.1f} MiB/s  server {median['server_cpu']:5.1f}%  "
                        f"wrk {median['loader_cpu']:5.1f}%   (runs: {spread})")
                    cells.append({"server": name, "scheme": scheme, "mix": mix, "connections": connections,
                                  **median})
    finally:
        for server in started:
            server.stop()
    print_ratios(cells)
    return cells


def port_of(name, scheme):
    return PORTS[name] + (TLS_OFFSET if scheme == "https" else 0)


def print_ratios(cells):
    def cell(server, scheme, mix):
        return next((c for c in cells if (c["server"], c["scheme"], c["mix"]) == (server, scheme, mix)), None)

    say("")
    for peer in ("nginx", "bun"):
        for scheme in ("http", "https"):
            for mix, _, _ in MIXES:
                whirl, other = cell("whirl", scheme, mix), cell(peer, scheme, mix)
                if not whirl or not other or not other["req_per_s"] or not other["bytes_per_s"]:
                    continue
                goal = ""
                if peer == "nginx" and mix == "small":
                    goal = "  (goal: requests/s >= 1.0)"
                elif peer == "nginx" and mix == "large":
                    goal = "  (goal: bytes/s >= 0.9)"
                say(f"whirl/{peer:5} static {scheme:5} {mix:6} requests/s {whirl['req_per_s'] / other['req_per_s']:5.2f}x"
                    f"  bytes/s {whirl['bytes_per_s'] / other['bytes_per_s']:5.2f}x{goal}")
