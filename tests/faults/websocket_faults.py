"""WebSocket faults: broken frames, compression bombs, peers that never
read, idle crowds and SIGTERM, against hello_http's /ws echo.

Each WebSocket that misbehaves must end with a close frame carrying its
RFC 6455 code (or just a close), quickly, with nothing logged as an error
and little memory kept; fresh HTTP and WebSocket clients must be served
throughout; and a supervisor's SIGTERM must still end the process in
bounded time with WebSockets open.

    /usr/bin/python3 tests/faults/websocket_faults.py /tmp/faultbin/hello_http

Extra arguments that are not paths select scenarios by a substring of their
names.
"""

import os
import random
import signal
import socket
import struct
import sys
import time
import zlib

sys.dont_write_bytecode = True  # leave no __pycache__ in the tree or the runfiles
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import MiB, mib, scenario  # noqa: E402

# Fixed, so that a failure can be replayed with the same bytes.
SEED = 20261202
MASK = b"\x37\xfa\x21\x3d"
# hello_http's websocket_max_message_size.
MESSAGE_LIMIT = 32 * MiB


def handshake(port, extensions=None, rcvbuf=None):
    """A raw socket past the opening handshake (the 101 checked)."""
    sock = harness.connect(port, rcvbuf=rcvbuf)
    request = ("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")
    if extensions:
        request += "Sec-WebSocket-Extensions: %s\r\n" % extensions
    harness.send_all(sock, (request + "\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError("the server closed during the handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise AssertionError("no 101: %r" % head[:80])
    if extensions and b"permessage-deflate" not in head.lower():
        raise AssertionError("permessage-deflate was not accepted: %r" % head)
    return sock


def frame(opcode, payload, fin=True, rsv1=False):
    """A masked client frame."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", first, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, n)
    masked = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload)) if n < 4096 else mask_big(payload)
    return head + MASK + masked


def mask_big(payload):
    key = int.from_bytes(MASK * 2, "little")
    whole = len(payload) // 8 * 8
    words = memoryview(payload[:whole]).cast("Q")
    out = bytearray(len(payload))
    out_words = memoryview(out)[:whole].cast("Q")
    for i, word in enumerate(words):
        out_words[i] = word ^ key
    for i in range(whole, len(payload)):
        out[i] = payload[i] ^ MASK[i % 4]
    return bytes(out)


def close_code_of(received):
    """The code of the first server close frame in `received` (0 when the
    frame has none), or None when there is none. Server frames are
    unmasked; data frames before the close are skipped."""
    at = 0
    while at + 2 <= len(received):
        opcode = received[at] & 0x0F
        length = received[at + 1] & 0x7F
        at += 2
        if length == 126:
            if at + 2 > len(received):
                return None
            length = struct.unpack("!H", received[at:at + 2])[0]
            at += 2
        elif length == 127:
            if at + 8 > len(received):
                return None
            length = struct.unpack("!Q", received[at:at + 8])[0]
            at += 8
        if opcode == 0x8:
            if length < 2 or at + 2 > len(received):
                return 0
            return struct.unpack("!H", received[at:at + 2])[0]
        at += length
    return None


def echo_works(port, bound):
    """A fresh WebSocket echo, within `bound` seconds; returns the time."""
    start = time.monotonic()
    sock = handshake(port)
    try:
        sock.settimeout(bound)
        harness.send_all(sock, frame(0x2, b"still here"))
        want = b"\x82\x0astill here"
        got = b""
        while len(got) < len(want):
            chunk = sock.recv(4096)
            if not chunk:
                raise AssertionError("a fresh WebSocket was closed instead of echoed")
            got += chunk
        if got[:len(want)] != want:
            raise AssertionError("a fresh WebSocket got %r" % got[:40])
    finally:
        harness.close_quietly(sock)
    return time.monotonic() - start


def random_frames(rng, i):
    """4 KiB of trouble after the handshake. Every fourth is pure noise;
    the others start with a well-formed frame (text with bytes that are
    not UTF-8, a binary frame, a ping) so the noise meets the parser in
    every state."""
    noise = rng.randbytes(4096)
    kind = i % 4
    if kind == 1:
        return frame(0x1, b"caf\xc3" + rng.randbytes(40))  # a text frame whose UTF-8 breaks
    if kind == 2:
        return frame(0x2, rng.randbytes(300)) + noise
    if kind == 3:
        return frame(0x9, b"ping") + frame(0x1, b"half", fin=False) + noise
    return noise


# Codes a broken stream may end with: protocol error, invalid payload,
# message too big (random lengths), or none (the peer's end of input came
# mid-frame).
ALLOWED_CODES = {1002, 1007, 1009}


@scenario("random frames end each WebSocket with its close code, and log no error")
def random_frames_scenario(env):
    server = harness.start_server(env, env.hello, ["--no-access-log"])
    harness.served_within(server.port, env.bound(2.0))
    rng = random.Random(SEED)
    bound = env.bound(2.0)
    codes = {}
    for burst in range(4):
        socks = [handshake(server.port) for _ in range(50)]
        payloads = [random_frames(rng, burst * 50 + i) for i in range(50)]
        for sock, payload in zip(socks, payloads):
            try:
                harness.send_all(sock, payload)
                # The end of our input: a frame the noise left unfinished
                # ends there instead of waiting for more.
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # already refused and reset: the close frame may still be readable
        for i, sock in enumerate(socks):
            received, how = harness.recv_until_close(sock, bound)
            if how == "timeout":
                raise AssertionError("connection %d (seed %d) still open %.1f s after its noise and end of input"
                                     % (i, SEED, bound))
            code = close_code_of(received)
            if code is None and received[:1] not in (b"", b"\x89", b"\x8a", b"\x81", b"\x82"):
                raise AssertionError("connection %d (seed %d) got %r, not WebSocket frames" % (i, SEED, received[:40]))
            if code is not None and code not in ALLOWED_CODES:
                raise AssertionError("connection %d (seed %d) closed with %s, expected one of %s"
                                     % (i, SEED, code, sorted(ALLOWED_CODES)))
            codes[code or "closed"] = codes.get(code or "closed", 0) + 1
        for sock in socks:
            harness.close_quietly(sock)
        harness.forget_closed_sockets()
        server.assert_running()
    if not codes.get(1002) or not codes.get(1007):
        raise AssertionError("the noise reached neither the framing nor the UTF-8 checks: %s" % codes)
    elapsed = echo_works(server.port, env.bound(1.0))
    harness.served_within(server.port, env.bound(1.0))
    server.assert_no_errors()
    return "200 connections: %s; fresh echo %.0f ms" % (
        ", ".join("%s x%d" % (k, v) for k, v in sorted(codes.items(), key=str)), elapsed * 1000)


def deflate_raw(data_size, chunk=MiB):
    """`data_size` zero bytes compressed as permessage-deflate sends them
    (raw deflate, the trailing 00 00 ff ff removed)."""
    compressor = zlib.compressobj(1, zlib.DEFLATED, -15)
    zeros = bytes(chunk)
    parts = [compressor.compress(zeros) for _ in range(data_size // chunk)]
    parts.append(compressor.flush(zlib.Z_SYNC_FLUSH))
    data = b"".join(parts)
    assert data.endswith(b"\x00\x00\xff\xff")
    return data[:-4]


@scenario("a compression bomb and an oversized frame end with 1009 and cost at most the message limit")
def bombs(env):
    server = harness.start_server(env, env.hello, ["--no-access-log"])
    harness.served_within(server.port, env.bound(2.0))
    rss = harness.RssWatch(server)
    bomb = deflate_raw(8 * MESSAGE_LIMIT)  # 256 MiB of zeros in ~250 KiB
    bound = env.bound(3.0)
    figures = []
    for round_ in range(3):
        sock = handshake(server.port, extensions="permessage-deflate")
        start = time.monotonic()
        try:
            harness.send_all(sock, frame(0x2, bomb, rsv1=True))
        except OSError:
            pass  # refused and reset before all of it went
        received, _ = harness.recv_until_close(sock, bound)
        code = close_code_of(received)
        took = time.monotonic() - start
        harness.close_quietly(sock)
        rss.sample()
        if code != 1009:
            raise AssertionError("a %d KiB frame inflating to %d MiB got close code %s (%r)"
                                 % (len(bomb) // 1024, 8 * MESSAGE_LIMIT // MiB, code, received[:40]))
        figures.append(took)
        # A header announcing 1 GiB, uncompressed: refused before a byte of it is kept.
        sock = handshake(server.port)
        harness.send_all(sock, struct.pack("!BBQ", 0x82, 0x80 | 127, 1 << 30) + MASK + b"x" * 1000)
        received, _ = harness.recv_until_close(sock, bound)
        harness.close_quietly(sock)
        code = close_code_of(received)
        if code != 1009:
            raise AssertionError("a 1 GiB frame header got close code %s (%r)" % (code, received[:40]))
        harness.forget_closed_sockets()
    elapsed = echo_works(server.port, env.bound(1.0))
    server.assert_no_errors()
    figure = "bomb of %d KiB (inflating to %d MiB) -> 1009 in %.0f ms at most; 1 GiB header -> 1009; grew %s; " \
             "fresh echo %.0f ms" % (len(bomb) // 1024, 8 * MESSAGE_LIMIT // MiB, max(figures) * 1000,
                                     mib(rss.growth), elapsed * 1000)
    # Inflation stops at the limit: at most the 32 MiB a legal message may
    # take, never the 256 MiB the bomb would inflate to.
    env.check_figure(rss.growth < MESSAGE_LIMIT + 16 * MiB, "RSS grew %s (bound %s): %s"
                     % (mib(rss.growth), mib(MESSAGE_LIMIT + 16 * MiB), figure))
    return figure


@scenario("peers that send without reading their echoes stall at the high-water mark, not in memory")
def never_reading(env):
    server = harness.start_server(env, env.hello, ["--no-access-log"])
    harness.served_within(server.port, env.bound(2.0))
    rss = harness.RssWatch(server)
    live = harness.Liveness(server.port, env.bound(1.0))
    message = frame(0x2, bytes(64 * 1024))
    socks = [handshake(server.port, rcvbuf=4096) for _ in range(4)]
    for sock in socks:
        sock.setblocking(False)
    sent = [0] * len(socks)
    pending = [message] * len(socks)  # what is left of each one's current frame
    stop = time.monotonic() + 6.0
    while time.monotonic() < stop:
        progressed = False
        for i, sock in enumerate(socks):
            try:
                n = sock.send(pending[i])
            except BlockingIOError:
                continue
            sent[i] += n
            pending[i] = pending[i][n:] or message
            progressed = True
        if not progressed:
            time.sleep(0.05)
        rss.sample()
        live.check()
    server.assert_running()
    elapsed = echo_works(server.port, env.bound(1.0))
    figure = "4 peers sent %s each at most before stalling; grew %s; %s; fresh echo %.0f ms" % (
        mib(max(sent)), mib(rss.growth), live.figure(), elapsed * 1000)
    env.check_figure(rss.growth < 16 * MiB, "RSS grew %s (bound 16 MiB): %s" % (mib(rss.growth), figure))
    if max(sent) > 64 * MiB:
        raise AssertionError("a peer sent %s without reading: the server kept reading past its flow control"
                             % mib(max(sent)))
    server.assert_no_errors()
    return figure


@scenario("two thousand idle WebSockets cost little, and SIGTERM still exits in bounded time")
def idle_crowd_and_sigterm(env):
    server = harness.start_server(env, env.hello, ["--no-access-log"])
    harness.served_within(server.port, env.bound(2.0))
    rss = harness.RssWatch(server)
    idle = [handshake(server.port) for _ in range(2000)]
    time.sleep(0.5)
    grown = rss.sample() - rss.baseline
    per_connection = grown / len(idle)
    # Two that are mid-message: a frame announced and half sent.
    stalled = [handshake(server.port) for _ in range(2)]
    for sock in stalled:
        harness.send_all(sock, struct.pack("!BBH", 0x82, 0x80 | 126, 60000) + MASK + b"x" * 100)
    elapsed = echo_works(server.port, env.bound(1.0))
    start = time.monotonic()
    server.signal(signal.SIGTERM)
    try:
        status = server.proc.wait(timeout=env.bound(8.0))
    except Exception:
        raise AssertionError("still running %.0f s after SIGTERM with %d WebSockets open"
                             % (env.bound(8.0), len(idle) + len(stalled)))
    took = time.monotonic() - start
    if status != 0:
        raise AssertionError("exit status %s after SIGTERM" % status)
    ended = sum(1 for sock in idle[:50] if harness.recv_until_close(sock, 1.0)[1] in ("eof", "reset"))
    figure = "2000 idle: %.1f KiB each; fresh echo %.0f ms; SIGTERM -> exit 0 in %.2f s; %d of 50 sampled closed" % (
        per_connection / 1024, elapsed * 1000, took, ended)
    env.check_figure(per_connection < 8 * 1024, "an idle WebSocket costs %.1f KiB (bound 8): %s"
                     % (per_connection / 1024, figure))
    if ended != 50:
        raise AssertionError("idle WebSockets were not closed at exit: %s" % figure)
    return figure


if __name__ == "__main__":
    harness.main(__doc__)
