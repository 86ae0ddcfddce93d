"""Helpers shared by bench/compare.py and its static cell: pinned cores,
server processes, CPU and RSS from /proc, one pinned load run, wrk's output.
"""
import os
import re
import resource
import socket
import subprocess
import time

SERVER_CORE, LOAD_CORE = ("0", "1") if os.cpu_count() >= 2 else ("0", "0")
HZ = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

# nginx at its fastest for "Hello, World!": 1 worker, keep-alive without
# limits, no log. The plaintext cells serve with it; the client cell fetches
# from it.
NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log;
worker_rlimit_nofile 30000;
events {{ worker_connections 20000; }}
http {{
  access_log off;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    keepalive_requests 1000000000;
    keepalive_timeout 3600s;
    location / {{ default_type text/plain; return 200 "Hello, World!"; }}
  }}
}}
"""


def say(*args):
    print(*args, flush=True)


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def wait_for_port(port, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total


def rss_bytes(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/statm") as f:
            total += int(f.read().split()[1]) * PAGE
    return total


# The servers started and not yet stopped: settle() waits for all of them.
RUNNING = []


class Server:
    """A server process pinned to the server core; `pids` are the ones that serve."""

    def __init__(self, name, argv, port, workdir):
        self.name, self.argv, self.port, self.workdir = name, argv, port, workdir
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            ["taskset", "-c", SERVER_CORE] + self.argv,
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.workdir, self.name + ".log"), "w"),
            preexec_fn=raise_fd_limit)
        RUNNING.append(self)
        if not wait_for_port(self.port):
            self.stop()
            raise RuntimeError(f"{self.name} did not listen on {self.port}")
        time.sleep(0.2)

    @property
    def pids(self):
        # nginx serves from its worker, a child of the master.
        children = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True).stdout.split()
        return [int(p) for p in children] or [self.process.pid]

    def stop(self):
        if self in RUNNING:
            RUNNING.remove(self)
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def settle(quiet_share=0.02, longest=15.0):
    """Waits until no running server uses more than `quiet_share` of a core
    (over 0.2 s), at most `longest` seconds; every load run starts with it.
    A server left with a backlog by the run before (Tornado answers 10,000
    delayed requests for seconds after its loader has gone) would otherwise
    take the shared server core from the next server measured."""
    deadline = time.monotonic() + longest
    while time.monotonic() < deadline:
        pids = [pid for server in RUNNING for pid in server.pids]
        before = cpu_ticks(pids)
        time.sleep(0.2)
        if (cpu_ticks(pids) - before) / HZ / 0.2 <= quiet_share:
            return


def children_cpu():
    """CPU seconds of this script's waited-for children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_loader(argv, server):
    """Runs one load once the servers are quiet (settle); returns (stdout,
    stderr, server CPU share, loader CPU share) over its wall time."""
    settle()
    server_before, loader_before = cpu_ticks(server.pids), children_cpu()
    start = time.monotonic()
    child = subprocess.Popen(["taskset", "-c", LOAD_CORE] + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, preexec_fn=raise_fd_limit)
    out, err = child.communicate()
    wall = time.monotonic() - start
    server_share = (cpu_ticks(server.pids) - server_before) / HZ / wall
    return out, err, server_share, (children_cpu() - loader_before) / wall


def parse_wrk(out):
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    p99_ms = float(p99.group(1)) * scale[p99.group(2)] if p99 else 0.0
    # wrk's histogram often records nothing past the median when a Lua script
    # pipelines (its percentiles print as 0.00us): unknown, not zero.
    return float(rate.group(1)) if rate else None, p99_ms if p99_ms > 0 else None
