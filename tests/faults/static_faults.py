"""Static file faults: slow downloaders, clients that vanish mid-file, and
the same over TLS, against hello_http --static-root.

A download costs the server a bounded amount of memory whatever the file's
size and however slowly the client reads (a pipe of page references on
plain TCP, two pieces over TLS); a client that goes away mid-file gives
back everything it held (descriptors, pipes, memory); and fresh clients are
served throughout.

    /usr/bin/python3 tests/faults/static_faults.py /tmp/faultbin/hello_http

Extra arguments that are not paths select scenarios by a substring of their
names.
"""

import hashlib
import os
import ssl
import sys
import time

sys.dont_write_bytecode = True  # leave no __pycache__ in the tree or the runfiles
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import MiB, mib, scenario  # noqa: E402


def static_root(env, size):
    """A directory holding big.bin of `size` bytes; returns (dir, md5)."""
    root = env.path("static")
    path = os.path.join(root, "big.bin")
    if not os.path.exists(path) or os.path.getsize(path) != size:
        os.makedirs(root, exist_ok=True)
        digest = hashlib.md5()
        with open(path, "wb") as f:
            for _ in range(size // MiB):
                block = os.urandom(MiB)
                digest.update(block)
                f.write(block)
        with open(path + ".md5", "w") as f:
            f.write(digest.hexdigest())
    with open(path + ".md5") as f:
        return root, f.read()


def start_download(port, tls=False, rcvbuf=4096):
    """A socket that asked for /static/big.bin and has read nothing yet."""
    sock = harness.connect(port, rcvbuf=rcvbuf)
    if tls:
        sock = harness.client_tls_context().wrap_socket(sock, server_hostname="localhost")
        harness.remember(sock)
    harness.send_all(sock, b"GET /static/big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    return sock


def read_some(sock, limit):
    """Up to `limit` bytes if any are ready, without waiting."""
    sock.setblocking(False)
    try:
        return len(sock.recv(limit))
    except (BlockingIOError, ssl.SSLWantReadError):
        return 0
    finally:
        sock.setblocking(True)


def download_md5(port, timeout):
    """(MD5, length) of /static/big.bin's body, fetched whole on a fresh
    connection (harness.http_request stops at 16 MiB)."""
    deadline = time.monotonic() + timeout
    sock = harness.connect(port)
    harness.send_all(sock, b"GET /static/big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    digest = hashlib.md5()
    head = b""
    in_body = False
    length = 0
    while time.monotonic() < deadline:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        if not in_body:
            head += chunk
            if b"\r\n\r\n" not in head:
                continue
            head, _, chunk = head.partition(b"\r\n\r\n")
            if harness.status_of(head) != 200:
                raise AssertionError("a full download got %r" % head[:40])
            in_body = True
        digest.update(chunk)
        length += len(chunk)
    return digest.hexdigest(), length


def slow_downloaders(env, tls, clients, size):
    root, _ = static_root(env, size)
    args = ["--no-access-log", "--static-root", root]
    if tls:
        cert, key = harness.make_certificate(env)
        args += ["--tls-cert", cert, "--tls-key", key]
    server = harness.start_server(env, env.hello, args, rlimit_nofile=4096)
    harness.served_within(server.port, env.bound(2.0), tls=tls)
    rss = harness.RssWatch(server)
    live = harness.Liveness(server.port, env.bound(1.0), tls=tls)
    socks = [start_download(server.port, tls=tls) for _ in range(clients)]
    received = [0] * clients
    stop = time.monotonic() + 6.0
    while time.monotonic() < stop:
        for i, sock in enumerate(socks):
            received[i] += read_some(sock, 2048)  # a trickle: a few KiB a second each
        time.sleep(0.2)
        rss.sample()
        live.check()
    server.assert_running()
    figure = "%d clients read %s each at most of a %s file; grew %s; %s" % (
        clients, mib(max(received)), mib(size), mib(rss.growth), live.figure())
    # Plain: a pipe of page references per download, nothing copied. TLS:
    # two 128 KiB pieces and OpenSSL's records per download.
    bound = 16 * MiB if not tls else clients * 512 * 1024 + 16 * MiB
    env.check_figure(rss.growth < bound, "RSS grew %s (bound %s): %s" % (mib(rss.growth), mib(bound), figure))
    if min(received) == 0:
        raise AssertionError("a slow client got nothing: %s" % figure)
    for sock in socks:
        harness.close_quietly(sock)
    server.assert_no_errors()
    return figure


@scenario("100 clients downloading a 256 MiB file slowly cost the server a bounded amount of memory")
def slow_plain(env):
    return slow_downloaders(env, tls=False, clients=100, size=256 * MiB)


@scenario("40 clients downloading slowly over TLS cost the server two pieces each, not the file")
def slow_tls(env):
    return slow_downloaders(env, tls=True, clients=40, size=64 * MiB)


@scenario("clients that reset mid-file give back their descriptors and the next download is intact")
def vanishing(env):
    root, md5 = static_root(env, 64 * MiB)
    server = harness.start_server(env, env.hello, ["--no-access-log", "--static-root", root],
                                  rlimit_nofile=4096)
    harness.served_within(server.port, env.bound(2.0))
    fds_before = server.fds()
    rss = harness.RssWatch(server)
    for round in range(4):
        socks = [start_download(server.port, rcvbuf=65536) for _ in range(50)]
        for sock in socks:
            sock.settimeout(2.0)
            try:
                sock.recv(65536)  # the download has begun
            except OSError:
                pass
            harness.set_linger_reset(sock)
            harness.close_quietly(sock)  # RST mid-file
        rss.sample()
    # The connections' descriptors go; at most the loop's idle pipes stay.
    settled = harness.wait_until(lambda: server.fds() <= fds_before + 2 * 16, env.bound(5.0))
    server.assert_running()
    got, length = download_md5(server.port, timeout=env.bound(20.0))
    figure = "200 resets; descriptors %d -> %d; grew %s; then %s intact" % (
        fds_before, server.fds(), mib(rss.growth), mib(length))
    if not settled:
        raise AssertionError("descriptors were not given back: %s" % figure)
    if got != md5:
        raise AssertionError("the download after the resets differs: %s" % figure)
    env.check_figure(rss.growth < 32 * MiB, "RSS grew %s (bound 32 MiB): %s" % (mib(rss.growth), figure))
    server.assert_no_errors()
    return figure


if __name__ == "__main__":
    harness.main(__doc__)
