"""Resource faults: running out of file descriptors.

A server limited to 256 descriptors is offered 400 connections that stay
open and silent. It cannot accept them all; it must not spin on the failing
accept (its CPU time stays low), and once the connections go away it must
serve fresh clients again at once.

    /usr/bin/python3 tests/faults/resource_faults.py /tmp/faultbin/hello_http

Extra arguments that are not paths select scenarios by a substring of their
names.
"""

import os
import re
import sys
import time

sys.dont_write_bytecode = True  # leave no __pycache__ in the tree or the runfiles
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import scenario  # noqa: E402

# Low enough that 400 connections exhaust it, high enough for the server's
# own descriptors (io_uring, signalfd, listening socket, log file).
SERVER_NOFILE = 256


@scenario("a server out of file descriptors does not spin and recovers when they return")
def fd_exhaustion(env):
    server = harness.start_server(env, env.hello, ["--no-access-log"], rlimit_nofile=SERVER_NOFILE)
    harness.served_within(server.port, env.bound(2.0))
    hogs = [harness.connect_nonblocking(server.port) for _ in range(400)]
    # Wait until the server has taken what it can (its table near full and
    # no longer growing) before measuring.
    last = [0, time.monotonic()]

    def saturated():
        fds = server.fds()
        if fds != last[0]:
            last[:] = [fds, time.monotonic()]
        return fds >= SERVER_NOFILE - 8 or time.monotonic() - last[1] > 0.5

    harness.wait_until(saturated, env.bound(3.0))
    peak_fds = server.fds()
    server.assert_running()
    cpu_before = harness.cpu_seconds(server.pid)
    start = time.monotonic()
    # 3 s of the server sitting on a full table: a spinning accept loop
    # burns most of a core in that time, an idle one a few milliseconds.
    time.sleep(3.0)
    server_cpu = harness.cpu_seconds(server.pid) - cpu_before
    window = time.monotonic() - start
    server.assert_running()
    for sock in hogs:
        harness.close_quietly(sock)
    harness.forget_closed_sockets()
    recovered = harness.served_again_within(server.port, env.bound(2.0))
    server.assert_running()
    messages = [line for line in server.stderr_text().splitlines()
                if re.match(r"\[[EW] ", line) and re.search(r"descriptor|EMFILE|too many open files", line, re.I)]
    figure = "fds peaked at %d of %d; %.2f s CPU over %.1f s; served again %.0f ms after the close; " \
             "%d fd warning/error lines" % (peak_fds, SERVER_NOFILE, server_cpu, window, recovered * 1000,
                                           len(messages))
    env.check_figure(server_cpu < 0.3, "the server used %.2f s CPU in 3 s with its descriptors exhausted "
                                       "(bound 0.3 s): %s" % (server_cpu, figure))
    return figure


if __name__ == "__main__":
    harness.main(__doc__)
