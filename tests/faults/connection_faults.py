"""Connection faults: clients that reset, half-close or trickle.

Resets in bursts and in the middle of a response, a half-close right after
the request, and a slowloris crowd holding request heads open. Each asserts
that the server keeps accepting and serving fresh clients within a bound,
answers what it should, and frees what the bad clients held.

    /usr/bin/python3 tests/faults/connection_faults.py /tmp/faultbin/hello_http

Extra arguments that are not paths select scenarios by a substring of their
names.
"""

import os
import selectors
import socket
import sys
import time

sys.dont_write_bytecode = True  # leave no __pycache__ in the tree or the runfiles
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import scenario  # noqa: E402


def reset_burst(port, count, limit, batch=100, connect_timeout=1.0):
    """Opens `count` connections, `batch` at a time, each closed with RST as
    soon as it is established, for `limit` seconds at most (a server whose
    listen queue is full would make each batch wait). Returns how many got
    established."""
    established = 0
    stop = time.monotonic() + limit
    for first in range(0, count, batch):
        if time.monotonic() >= stop:
            break
        socks = [harness.connect_nonblocking(port, linger_reset=True)
                 for _ in range(min(batch, count - first))]
        selector = selectors.DefaultSelector()
        for sock in socks:
            selector.register(sock, selectors.EVENT_WRITE)
        pending = set(socks)
        # A connect the listen queue drops is retried by the kernel only
        # after a second; waiting a second at most keeps the burst a burst.
        deadline = time.monotonic() + connect_timeout
        while pending and time.monotonic() < deadline:
            for key, _ in selector.select(max(deadline - time.monotonic(), 0)):
                sock = key.fileobj
                if sock in pending:
                    pending.discard(sock)
                    selector.unregister(sock)
                    if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                        established += 1
        selector.close()
        for sock in socks:
            harness.close_quietly(sock)
        harness.forget_closed_sockets()
    return established


def check_reset_burst(env, processes):
    args = ["--no-access-log"]
    if processes > 1:
        args += ["--processes", str(processes)]
    server = harness.start_server(env, env.hello, args)
    if processes > 1:
        server.wait_for_children(processes)
    harness.served_again_within(server.port, env.bound(2.0))
    figures = []
    # Three rounds: whether a reset lands where it breaks the accept loop is
    # a race (one burst against the unfixed 2-process server missed it one
    # time in eight); a healthy server does a round in well under a second.
    for round_ in range(1, 4):
        start = time.monotonic()
        # On loopback a healthy server takes the 2000 in well under a second.
        established = reset_burst(server.port, 2000, env.bound(5.0))
        burst = time.monotonic() - start
        server.assert_running()
        slowest = 0.0
        for i in range(20):
            try:
                slowest = max(slowest, harness.served_within(server.port, env.bound(1.0)))
            except AssertionError as e:
                raise AssertionError("round %d, request %d of 20 after the burst: %s (%d of 2000 resets "
                                     "established in %.1f s; %s connections wait in the accept queue)"
                                     % (round_, i + 1, e, established, burst,
                                        harness.accept_queue(server.port))) from None
        figures.append("%d in %.1f s, slowest after %.0f ms" % (established, burst, slowest * 1000))
    return "3 rounds of 2000 resets, then 20 requests each: " + "; ".join(figures)


@scenario("a burst of 2000 resets leaves the server accepting")
def reset_burst_one_process(env):
    return check_reset_burst(env, 1)


@scenario("a burst of 2000 resets leaves both workers of --processes 2 accepting")
def reset_burst_two_processes(env):
    return check_reset_burst(env, 2)


@scenario("a request sent with an immediate half-close still gets its whole response")
def half_close(env):
    server = harness.start_server(env, env.hello, ["--no-access-log"])
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    slowest = 0.0
    for i in range(50):
        sock = harness.connect(server.port)
        start = time.monotonic()
        # One send and the FIN right behind it: the server sees the request
        # and the end of input in the same read.
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        raw, how = harness.recv_until_close(sock, env.bound(2.0))
        harness.close_quietly(sock)
        try:
            status, _, body = harness.split_response(raw)
        except ValueError as e:
            raise AssertionError("try %d of 50: %s (connection ended by %s)" % (i + 1, e, how)) from None
        if status != 200 or body != harness.HELLO:
            raise AssertionError("try %d of 50: got %s %r" % (i + 1, status, body[:80]))
        slowest = max(slowest, time.monotonic() - start)
    harness.forget_closed_sockets()
    body = b"half-closed body"
    sock = harness.connect(server.port)
    sock.sendall(b"POST / HTTP/1.0\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    sock.shutdown(socket.SHUT_WR)
    raw, how = harness.recv_until_close(sock, env.bound(2.0))
    try:
        status, _, echoed = harness.split_response(raw)
    except ValueError as e:
        raise AssertionError("HTTP/1.0 POST then half-close: %s (ended by %s)" % (e, how)) from None
    if status != 200 or echoed != body:
        raise AssertionError("HTTP/1.0 POST then half-close got %s %r, expected 200 %r" % (status, echoed, body))
    return "50 GETs and a POST answered whole, slowest %.0f ms" % (slowest * 1000)


@scenario("clients resetting in the middle of a stream log no error")
def resets_mid_response(env):
    server = harness.start_server(env, env.hello, ["--no-access-log"])
    harness.served_within(server.port, env.bound(2.0))
    baseline_fds = server.fds()
    clients = []
    for _ in range(50):
        sock = harness.connect(server.port, rcvbuf=4096)
        sock.sendall(b"GET /stream?n=100000 HTTP/1.1\r\nHost: x\r\n\r\n")
        clients.append(sock)
    for i, sock in enumerate(clients):
        sock.settimeout(env.bound(2.0))
        try:
            data = sock.recv(4096)
        except socket.timeout:
            raise AssertionError("stream %d of 50 sent nothing within 2 s" % (i + 1)) from None
        if harness.status_of(data) != 200:
            raise AssertionError("stream %d of 50 began with %r" % (i + 1, data[:60]))
    for sock in clients:
        # RST while the server is still writing the stream.
        harness.set_linger_reset(sock)
        harness.close_quietly(sock)
    # The server has noticed every reset once it holds no more sockets than
    # before the streams.
    if not harness.wait_until(lambda: server.fds() <= baseline_fds + 2, env.bound(3.0)):
        raise AssertionError("the server still holds %d fds 3 s after the resets (baseline %d)"
                             % (server.fds(), baseline_fds))
    elapsed = harness.served_within(server.port, env.bound(1.0))
    server.assert_running()
    server.assert_no_errors()
    return "50 streams reset, fds back to %d, fresh client %.0f ms, no [E lines" % (server.fds(), elapsed * 1000)


@scenario("a slowloris crowd is cut off by the header timeout and never starves fresh clients")
def slowloris(env):
    header_timeout = 3.0
    server = harness.start_server(env, env.hello, ["--no-access-log", "--header-timeout", "%g" % header_timeout])
    harness.served_within(server.port, env.bound(2.0))
    baseline_fds = server.fds()
    live = harness.Liveness(server.port, env.bound(1.0))
    opened = {}
    for _ in range(1500):
        sock = harness.connect(server.port, timeout=env.bound(3.0))
        # A head that has started and will never end.
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        sock.setblocking(False)
        opened[sock] = time.monotonic()
        live.check()
    peak_fds = server.fds()
    last_open = max(opened.values())
    # The timeout runs from the first byte of the head; 2 s of slack
    # covers the server's timer granularity and a loaded machine.
    deadline = last_open + env.bound(header_timeout + 2.0)

    def ends(data):
        # A 408 before the close is fine; the close is what counts.
        if data and harness.status_of(data) not in (None, 408, 400):
            raise AssertionError("a slowloris client got %r" % data[:60])
        return not data or b"\r\n\r\n" in data

    next_drip = [time.monotonic() + 2.0]

    def drip():
        # One more header byte each every 2 s: a server that resets its
        # timer on every byte never times these out.
        if time.monotonic() < next_drip[0]:
            return
        for sock in opened:
            try:
                sock.send(b"a")
            except (BlockingIOError, OSError):
                pass
        next_drip[0] += 2.0

    open_socks, closed_after = harness.await_server_closes(opened, deadline, live, ends, drip)
    if open_socks:
        raise AssertionError("%d of 1500 slowloris connections still open %.1f s after the last began "
                             "(header timeout %g s); server fds %d, baseline %d; %s"
                             % (len(open_socks), deadline - last_open, header_timeout,
                                server.fds(), baseline_fds, live.figure()))
    harness.forget_closed_sockets()
    if not harness.wait_until(lambda: server.fds() <= baseline_fds + 10, env.bound(2.0)):
        raise AssertionError("server fds at %d 2 s after the crowd was cut off (baseline %d)"
                             % (server.fds(), baseline_fds))
    live.check(force=True)
    server.assert_running()
    return "1500 closed %.1f-%.1f s after their heads began; fds %d -> %d -> %d; %s" % (
        min(closed_after), max(closed_after), baseline_fds, peak_fds, server.fds(), live.figure())


if __name__ == "__main__":
    harness.main(__doc__)
