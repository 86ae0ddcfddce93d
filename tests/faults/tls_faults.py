"""TLS faults: connections that never start their handshake.

Hundreds of TCP connections to an https server that send nothing at all.
Fresh https clients must still be served promptly, and the server must
close the silent ones once its TLS handshake timeout has passed. The
certificate is a self-signed one made with the openssl CLI for the run.

    /usr/bin/python3 tests/faults/tls_faults.py /tmp/faultbin/hello_http

Extra arguments that are not paths select scenarios by a substring of their
names.
"""

import os
import sys
import time

sys.dont_write_bytecode = True  # leave no __pycache__ in the tree or the runfiles
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import scenario  # noqa: E402


@scenario("silent TLS connections are closed by the handshake timeout and starve no one")
def silent_tls(env):
    handshake_timeout = 2.0
    cert, key = harness.make_certificate(env)
    server = harness.start_server(env, env.hello, [
        "--no-access-log", "--tls-cert", cert, "--tls-key", key,
        "--tls-handshake-timeout", "%g" % handshake_timeout])
    if server.scheme != "https":
        raise AssertionError("the server says %r, expected an https address" % server.stdout_line)
    harness.served_within(server.port, env.bound(2.0), tls=True, what="the warm-up https client")
    baseline_fds = server.fds()
    live = harness.Liveness(server.port, env.bound(1.0), tls=True)
    opened = {}
    for _ in range(500):
        sock = harness.connect(server.port, timeout=env.bound(3.0))
        sock.setblocking(False)
        opened[sock] = time.monotonic()
        live.check()
    peak_fds = server.fds()
    last_open = max(opened.values())
    # The timeout runs from the accept; 2 s of slack for the server's
    # timer granularity and a loaded machine. A TLS alert before the close
    # is fine: the close itself is what counts (the default `ends`).
    deadline = last_open + env.bound(handshake_timeout + 2.0)
    open_socks, closed_after = harness.await_server_closes(opened, deadline, live)
    if open_socks:
        raise AssertionError("%d of 500 silent connections still open %.1f s after the last was made "
                             "(handshake timeout %g s); server fds %d, baseline %d; %s"
                             % (len(open_socks), deadline - last_open, handshake_timeout,
                                server.fds(), baseline_fds, live.figure()))
    harness.forget_closed_sockets()
    live.check(force=True)
    if not harness.wait_until(lambda: server.fds() <= baseline_fds + 10, env.bound(2.0)):
        raise AssertionError("server fds at %d after the silent connections were closed (baseline %d)"
                             % (server.fds(), baseline_fds))
    server.assert_running()
    return "500 closed %.1f-%.1f s after connecting; fds %d -> %d -> %d; %s" % (
        min(closed_after), max(closed_after), baseline_fds, peak_fds, server.fds(), live.figure())


if __name__ == "__main__":
    harness.main(__doc__)
