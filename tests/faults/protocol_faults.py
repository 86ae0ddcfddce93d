"""Protocol faults: garbage and oversized request heads.

Random bytes in place of a request (or after a valid request line) and
header bombs: far too many header lines, a header value of a megabyte, a
request line of a megabyte. The server must refuse each one quickly with a
4xx (or just close), never answer 5xx, log no error, keep little memory,
and go on serving fresh clients.

    /usr/bin/python3 tests/faults/protocol_faults.py /tmp/faultbin/hello_http

Extra arguments that are not paths select scenarios by a substring of their
names.
"""

import os
import random
import sys

sys.dont_write_bytecode = True  # leave no __pycache__ in the tree or the runfiles
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import MiB, mib, scenario  # noqa: E402

# Fixed, so that a failure can be replayed with the same bytes.
SEED = 20261201


def garbage_payloads(rng, count):
    """`count` payloads of 4 KiB random bytes; every fourth follows a valid
    request line, every fourth a valid request line and Host header, so the
    garbage reaches the header parser and not only the request-line one."""
    payloads = []
    for i in range(count):
        noise = rng.randbytes(4096)
        if i % 4 == 1:
            noise = b"GET / HTTP/1.1\r\n" + noise
        elif i % 4 == 2:
            noise = b"POST /upload HTTP/1.1\r\nHost: x\r\n" + noise
        payloads.append(noise)
    return payloads


def judge(received, how, elapsed, bound):
    """Why one refused connection is wrong, or None if it is fine."""
    status = harness.status_of(received)
    if how == "timeout":
        return "neither answered nor closed within %.1f s (got %r)" % (bound, received[:60])
    if received and status is None:
        return "answered with something that is not HTTP: %r" % received[:60]
    if status is not None and not 400 <= status < 500:
        return "answered %d" % status
    return None


@scenario("random bytes get a 4xx or a close, never a 5xx or an error")
def garbage_bursts(env):
    server = harness.start_server(env, env.hello, ["--no-access-log"])
    harness.served_within(server.port, env.bound(2.0))
    rng = random.Random(SEED)
    bound = env.bound(2.0)
    statuses = {}
    for burst in range(4):
        payloads = garbage_payloads(rng, 50)
        socks = [harness.connect(server.port) for _ in payloads]
        results = harness.exchange_all(list(zip(socks, payloads)), bound)
        for i, (received, how, elapsed) in enumerate(results):
            why = judge(received, how, elapsed, bound)
            if why:
                raise AssertionError("garbage connection %d (burst %d, seed %d) %s"
                                     % (i, burst, SEED, why))
            status = harness.status_of(received) or how
            statuses[status] = statuses.get(status, 0) + 1
        for sock in socks:
            harness.close_quietly(sock)
        harness.forget_closed_sockets()
        server.assert_running()
    elapsed = harness.served_within(server.port, env.bound(1.0))
    server.assert_no_errors()
    return "200 connections: %s; fresh client %.0f ms" % (
        ", ".join("%s x%d" % (k, v) for k, v in sorted(statuses.items(), key=str)), elapsed * 1000)


def bomb(env, server, name, payload, allowed):
    """Sends one oversized head; asserts a status in `allowed` and a close
    within 2 s. Returns the status."""
    sock = harness.connect(server.port)
    bound = env.bound(2.0)
    received, how, elapsed = harness.exchange(sock, payload, bound)
    harness.close_quietly(sock)
    status = harness.status_of(received)
    if status not in allowed:
        raise AssertionError("%s got %s (%r, connection %s after %.2f s), expected %s"
                             % (name, status, received[:60], how, elapsed, " or ".join(map(str, allowed))))
    if how == "timeout":
        raise AssertionError("%s got %d but the connection was still open %.1f s later" % (name, status, bound))
    return status, elapsed


@scenario("header bombs are refused with 431 or 414 and cost no memory")
def header_bombs(env):
    server = harness.start_server(env, env.hello, ["--no-access-log"])
    harness.served_within(server.port, env.bound(2.0))
    rss = harness.RssWatch(server)
    many_lines = (b"GET / HTTP/1.1\r\nHost: x\r\n"
                  + b"".join(b"X-Bomb-%d: v\r\n" % i for i in range(10000)) + b"\r\n")
    big_value = b"GET / HTTP/1.1\r\nHost: x\r\nX-Bomb: " + b"v" * MiB + b"\r\n\r\n"
    long_target = b"GET /" + b"t" * MiB + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    bombs = [
        ("10,000 header lines", many_lines, (431, 400)),
        ("a 1 MiB header value", big_value, (431,)),
        ("a 1 MiB request line", long_target, (414,)),
    ]
    slowest = {}
    # Five rounds, so that memory kept per bomb would add up past noise.
    for _ in range(5):
        for name, payload, allowed in bombs:
            status, elapsed = bomb(env, server, name, payload, allowed)
            slowest[name] = max(slowest.get(name, 0.0), elapsed)
            slowest[name + " status"] = status
            rss.sample()
        harness.forget_closed_sockets()
    elapsed = harness.served_within(server.port, env.bound(1.0))
    server.assert_running()
    server.assert_no_errors()
    figure = "%s; grew %s; fresh client %.0f ms" % (
        ", ".join("%s -> %d in %.0f ms" % (name, slowest[name + " status"], slowest[name] * 1000)
                  for name, _, _ in bombs), mib(rss.growth), elapsed * 1000)
    env.check_figure(rss.growth < 8 * MiB, "RSS grew %s (bound 8 MiB): %s" % (mib(rss.growth), figure))
    return figure


if __name__ == "__main__":
    harness.main(__doc__)
