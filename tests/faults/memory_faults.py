"""Memory faults: clients that make the server buffer without bound.

Each scenario makes the server produce output a client never reads (or
reads at a trickle) and asserts that the server's resident memory stays
within a fixed bound, while fresh clients keep being served promptly: the
server must push back (stop reading) instead of queueing.

    /usr/bin/python3 tests/faults/memory_faults.py /tmp/faultbin/hello_http /tmp/faultbin/echo_server

echo_server defaults to the sibling of hello_http. Extra arguments that are
not paths select scenarios by a substring of their names.
"""

import os
import selectors
import socket
import sys
import time

sys.dont_write_bytecode = True  # leave no __pycache__ in the tree or the runfiles
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import MiB, mib, scenario  # noqa: E402

# 4096 is below Linux's clamp floor once doubled (it becomes ~8 KiB), the
# smallest receive window we can ask for: the server's sends stall after a
# few responses instead of after megabytes of socket buffer.
SMALL_RCVBUF = 4096


def start_hello(env, *args):
    server = harness.start_server(env, env.hello, ["--no-access-log"] + list(args))
    # One request first, so the baseline includes what serving allocates.
    harness.served_within(server.port, env.bound(2.0), what="the warm-up request")
    return server


@scenario("pipelined requests never read do not grow the server")
def pipeline_flood(env):
    server = start_hello(env)
    rss = harness.RssWatch(server)
    live = harness.Liveness(server.port, env.bound(1.0))
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    # A whole number of requests, so cycling through it keeps the stream
    # well formed however the sends split it.
    payload = memoryview(request * 2048)
    flooders = []
    for _ in range(4):
        sock = harness.connect(server.port, rcvbuf=SMALL_RCVBUF)
        sock.setblocking(False)
        flooders.append(sock)
    offsets = {sock: 0 for sock in flooders}
    selector = selectors.DefaultSelector()
    for sock in flooders:
        selector.register(sock, selectors.EVENT_WRITE)
    sent = 0
    closed = 0
    # 8 s: the unfixed server had grown by hundreds of MiB well before that.
    end = time.monotonic() + 8.0
    try:
        while time.monotonic() < end:
            for key, _ in selector.select(0.05):
                sock = key.fileobj
                try:
                    n = sock.send(payload[offsets[sock]:])
                except BlockingIOError:
                    continue
                except OSError:
                    # A server may cut off a client that never reads;
                    # that is pushing back too.
                    selector.unregister(sock)
                    closed += 1
                    continue
                sent += n
                offsets[sock] = (offsets[sock] + n) % len(payload)
            rss.sample()
            live.check()
        rss.sample()
        live.check(force=True, what="a fresh client at the end of the flood")
    finally:
        selector.close()
    for sock in flooders:
        harness.close_quietly(sock)
    live.check(force=True, what="a fresh client after the flooders left")
    server.assert_running()
    figure = "grew %s, %d requests sent, %d flooders cut off, %s" % (
        mib(rss.growth), sent // len(request), closed, live.figure())
    env.check_figure(rss.growth < 16 * MiB, "RSS grew %s (bound 16 MiB): %s" % (mib(rss.growth), figure))
    return figure


@scenario("fifty slow readers of a long stream do not grow the server")
def slow_readers(env):
    server = start_hello(env)
    rss = harness.RssWatch(server)
    live = harness.Liveness(server.port, env.bound(1.0))
    readers = []
    for _ in range(50):
        sock = harness.connect(server.port, rcvbuf=SMALL_RCVBUF)
        sock.sendall(b"GET /stream?n=100000 HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.setblocking(False)
        readers.append(sock)
    received = {sock: 0 for sock in readers}
    # ~1 KiB every 100 ms each is ~10 KiB/s: far slower than the server can
    # produce the 1.3 MB stream, so it has to wait for every reader.
    end = time.monotonic() + 8.0
    next_read = time.monotonic()
    while time.monotonic() < end:
        for sock in readers:
            try:
                data = sock.recv(1024)
            except BlockingIOError:
                continue
            except OSError as e:
                raise AssertionError("a slow reader's stream broke: %s" % e) from None
            if not data:
                raise AssertionError("the server closed a slow reader's stream after %d bytes"
                                     % received[sock])
            received[sock] += len(data)
        rss.sample()
        live.check()
        # Pacing, not waiting for a condition: the trickle is the point.
        next_read += 0.1
        time.sleep(max(0.0, next_read - time.monotonic()))
    rss.sample()
    live.check(force=True)
    starved = [n for n in received.values() if n == 0]
    if starved:
        raise AssertionError("%d of 50 slow readers received nothing in 8 s" % len(starved))
    for sock in readers:
        harness.close_quietly(sock)
    live.check(force=True, what="a fresh client after the readers left")
    server.assert_running()
    figure = "grew %s, readers got %d-%d bytes, %s" % (
        mib(rss.growth), min(received.values()), max(received.values()), live.figure())
    env.check_figure(rss.growth < 32 * MiB, "RSS grew %s (bound 32 MiB): %s" % (mib(rss.growth), figure))
    return figure


@scenario("a large echoed body never read back costs the server at most twice its size")
def large_body_unread(env):
    server = start_hello(env)
    rss = harness.RssWatch(server)
    live = harness.Liveness(server.port, env.bound(1.0))
    size = 50 * 1000 * 1000
    sock = harness.connect(server.port, rcvbuf=SMALL_RCVBUF)
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size
    body = b"x" * size
    # The server reads the body as fast as loopback carries it; 30 s only
    # stops a server that stopped reading from hanging the scenario.
    start = time.monotonic()
    try:
        harness.send_all(sock, head, timeout=env.bound(30.0))
        harness.send_all(sock, body, timeout=env.bound(30.0))
    except OSError as e:
        raise AssertionError("sending the 50 MB body failed after %.1f s: %s"
                             % (time.monotonic() - start, e)) from None
    del body
    sent_in = time.monotonic() - start
    # The response head reaches our tiny window first: it says whether the
    # server took the body (200) or refused it.
    if not harness.peek_available(sock, env.bound(5.0)):
        raise AssertionError("no response began within 5 s of sending the body")
    sock.settimeout(env.bound(2.0))
    first = sock.recv(12, socket.MSG_PEEK)
    if harness.status_of(first) != 200:
        raise AssertionError("the 50 MB POST got %r, expected a 200 echo" % first)
    # The server now holds the unsent rest of the echo: watch its memory
    # while it cannot send, for 3 s.
    end = time.monotonic() + 3.0
    while time.monotonic() < end:
        rss.sample()
        live.check()
        time.sleep(0.05)
    stuck_rss = rss.sample()
    harness.close_quietly(sock)
    live.check(force=True, what="a fresh client after the reader left")
    server.assert_running()
    figure = "grew %s for a %d MB body (sent in %.1f s, %s held while stuck), %s" % (
        mib(rss.growth), size // 1000000, sent_in, mib(stuck_rss - rss.baseline), live.figure())
    bound = 2.2 * size
    env.check_figure(rss.growth < bound, "RSS grew %s (bound %s): %s" % (mib(rss.growth), mib(bound), figure))
    return figure


@scenario("an echo client that never reads is pushed back, not buffered")
def echo_backpressure(env):
    server = harness.start_server(env, env.echo)
    probe = harness.connect(server.port)
    probe.sendall(b"ping")
    if probe.recv(16) != b"ping":
        raise AssertionError("the echo server did not echo")
    harness.close_quietly(probe)
    rss = harness.RssWatch(server)
    sock = harness.connect(server.port, rcvbuf=SMALL_RCVBUF)
    sock.setblocking(False)
    chunk = memoryview(b"e" * (256 * 1024))
    total = 200 * 1000 * 1000
    sent = 0
    last_progress = time.monotonic()
    end = time.monotonic() + 10.0
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_WRITE)
    try:
        # Push until all 200 MB are in, or until sends have stalled for
        # 1.5 s: a server that pushes back stops reading once its output is
        # stuck, and our socket buffer fills.
        while sent < total and time.monotonic() < end:
            if time.monotonic() - last_progress > 1.5:
                break
            if selector.select(0.1):
                try:
                    n = sock.send(chunk[: total - sent])
                except BlockingIOError:
                    n = 0
                except OSError as e:
                    raise AssertionError("the echo server dropped the client after %s: %s"
                                         % (mib(sent), e)) from None
                if n:
                    sent += n
                    last_progress = time.monotonic()
            rss.sample()
    finally:
        selector.close()
    rss.sample()
    server.assert_running()
    other = harness.connect(server.port, timeout=env.bound(1.0))
    other.sendall(b"still there?")
    other.settimeout(env.bound(1.0))
    if other.recv(64) != b"still there?":
        raise AssertionError("a second echo client was not answered while the first was stuck")
    figure = "accepted %s before pushing back, grew %s" % (mib(sent), mib(rss.growth))
    env.check_figure(rss.growth < 16 * MiB, "RSS grew %s (bound 16 MiB): %s" % (mib(rss.growth), figure))
    return figure


if __name__ == "__main__":
    harness.main(__doc__)
