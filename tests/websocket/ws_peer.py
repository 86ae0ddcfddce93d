#!/usr/bin/python3
"""WebSocket interop peer for whirl (RFC 6455 + RFC 7692 permessage-deflate).

Run it with the Debian interpreter, which has the two libraries it drives
(`apt-get install -y python3-websockets python3-tornado`; bookworm ships
websockets 10.4 and Tornado 6.2):

    /usr/bin/python3 tests/websocket/ws_peer.py client-websockets ws://127.0.0.1:PORT/ws [--compression|--no-compression]
    /usr/bin/python3 tests/websocket/ws_peer.py client-tornado    ws://127.0.0.1:PORT/ws [--compression|--no-compression]
    /usr/bin/python3 tests/websocket/ws_peer.py server-websockets PORT [--compression|--no-compression]
    /usr/bin/python3 tests/websocket/ws_peer.py server-tornado    PORT [--compression|--no-compression]

Client modes talk to an echo server (every text and binary message comes back
unchanged, with the same type) and check: text messages (ASCII, multi-byte
UTF-8, a 4-byte emoji, empty, a long compressible one), binary messages of
0 B to 16 MiB, fragmented text and binary messages, a text message whose
fragments split a 4-byte UTF-8 character, a ping answered by a pong with the
same payload, and a clean close where the server answers code 1000. With
--compression they also require that permessage-deflate was negotiated, and
with --no-compression that no extension was. --shutdown-server makes them,
once the checks pass, open one more connection and send the text "shutdown"
(which the server modes below understand).

Server modes run an echo server at ws://127.0.0.1:PORT/ws, print READY on
stdout once listening, and run until SIGTERM/SIGINT, or until a client sends
the text message "shutdown": that connection is closed with 1000 and the
process exits 0.

Every mode exits 0 on success; on failure it prints one line to stderr,
"ws_peer MODE: FAIL: <check>: <reason>", and exits 1.
"""
import argparse
import asyncio
import os
import signal
import sys
import time
import zlib

MiB = 1024 * 1024
MAX_MESSAGE_SIZE = 32 * MiB
STEP_TIMEOUT = 30.0  # seconds for any one send/receive/handshake step
OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
BINARY_SIZES = [0, 1, 125, 126, 65535, 65536, MiB, 16 * MiB]
PING_PAYLOAD = b"whirl-ping-\x00\xff"


class CheckFailed(Exception):
    """A check did not hold; the message names what was expected."""


# ---------------------------------------------------------------------------
# The messages the client modes send.


def text_messages():
    """(label, text) pairs, each sent as one unfragmented text message."""
    return [
        ("text ascii", "hello, whirl"),
        ("text empty", ""),
        ("text 2/3-byte utf-8", "grüße, ünïcödé — 日本語のテキスト"),
        ("text 4-byte emoji", "emoji \U0001F600 and rocket \U0001F680"),
        ("text ~256 KiB compressible", "the quick brown fox jumps over the lazy dog. " * 5825),
    ]


def binary_messages():
    """(label, bytes) pairs of random payloads of the sizes the brief lists."""
    return [(f"binary {size} B", os.urandom(size)) for size in BINARY_SIZES]


def fragmented_messages():
    """(label, fragments) pairs; each message is sent as several frames."""
    return [
        ("fragmented text", ["frag-one ", "frag-two ", "", "frag-\U0001F600-three"]),
        ("fragmented binary", [os.urandom(1000), b"", os.urandom(70000), b"\x00"]),
    ]


def split_utf8_fragments():
    """A text message cut inside a 4-byte UTF-8 character, as raw byte chunks."""
    encoded = "split \U0001F600 here".encode("utf-8")
    cut = encoded.index(b"\xf0")
    return [encoded[: cut + 1], encoded[cut + 1 : cut + 3], encoded[cut + 3 :]]


# ---------------------------------------------------------------------------
# One adapter per client library, with the same small async interface.


class WebsocketsClient:
    """Client side built on the `websockets` library (legacy asyncio API, 10.4)."""

    name = "websockets"

    def __init__(self, url, compression):
        self.url = url
        self.compression = compression
        self.ws = None

    async def connect(self):
        import websockets

        self.ws = await websockets.connect(
            self.url,
            compression="deflate" if self.compression else None,
            max_size=MAX_MESSAGE_SIZE,
            ping_interval=None,
            open_timeout=STEP_TIMEOUT,
            close_timeout=STEP_TIMEOUT,
        )

    def extensions_header(self):
        return self.ws.response_headers.get("Sec-WebSocket-Extensions")

    def deflate_active(self):
        return any(ext.name == "permessage-deflate" for ext in self.ws.extensions)

    async def send(self, message):
        await self.ws.send(message)

    async def send_fragments(self, parts):
        # websockets sends an iterable as one fragmented message, one frame per item.
        await self.ws.send(parts)

    async def send_raw_frames(self, opcode, chunks):
        for index, chunk in enumerate(chunks):
            first_opcode = opcode if index == 0 else OP_CONT
            await self.ws.write_frame(index == len(chunks) - 1, first_opcode, chunk)

    async def recv(self):
        return await self.ws.recv()

    def last_wire_size(self):
        return None  # websockets does not count wire bytes

    async def ping(self, payload):
        pong_waiter = await self.ws.ping(payload)
        await pong_waiter  # websockets resolves it only for a pong with this payload
        return payload

    async def close(self, code):
        await self.ws.close(code=code)
        return self.ws.close_code


class TornadoClient:
    """Client side built on tornado.websocket.websocket_connect (Tornado 6.2).

    Tornado cannot send a fragmented message through its public API, so the
    fragment checks write frames with its protocol object's _write_frame; those
    frames go out uncompressed (RSV1 clear), which RFC 7692 allows per message.
    """

    name = "tornado"

    def __init__(self, url, compression):
        self.url = url
        self.compression = compression
        self.conn = None
        self.pongs = None
        self.wire_mark = 0
        self.wire_size = None

    async def connect(self):
        from tornado.websocket import websocket_connect

        self.conn = await websocket_connect(
            self.url,
            connect_timeout=STEP_TIMEOUT,
            compression_options={} if self.compression else None,
            max_message_size=MAX_MESSAGE_SIZE,
        )
        self.pongs = asyncio.Queue()
        self.conn.on_pong = self.pongs.put_nowait

    def extensions_header(self):
        return self.conn.headers.get("Sec-WebSocket-Extensions")

    def deflate_active(self):
        return getattr(self.conn.protocol, "_compressor", None) is not None

    async def send(self, message):
        await self.conn.write_message(message, binary=isinstance(message, bytes))

    async def send_fragments(self, parts):
        opcode = OP_BINARY if isinstance(parts[0], bytes) else OP_TEXT
        chunks = [part if isinstance(part, bytes) else part.encode("utf-8") for part in parts]
        await self.send_raw_frames(opcode, chunks)

    async def send_raw_frames(self, opcode, chunks):
        for index, chunk in enumerate(chunks):
            first_opcode = opcode if index == 0 else OP_CONT
            await self.conn.protocol._write_frame(index == len(chunks) - 1, first_opcode, chunk)

    async def recv(self):
        message = await self.conn.read_message()
        if message is None:
            raise CheckFailed(f"connection closed by the server (close code {self.conn.close_code})")
        wire_total = self.conn.protocol._wire_bytes_in
        self.wire_size, self.wire_mark = wire_total - self.wire_mark, wire_total
        return message

    def last_wire_size(self):
        """Bytes read off the socket (frame headers included) since the previous message."""
        return self.wire_size

    async def ping(self, payload):
        self.conn.ping(payload)
        return await self.pongs.get()

    async def close(self, code):
        self.conn.close(code)
        # read_message() yields None once the server's close frame arrived
        # (or the stream ended); any data message still queued is skipped.
        while await self.conn.read_message() is not None:
            pass
        return self.conn.close_code


CLIENTS = {"client-websockets": WebsocketsClient, "client-tornado": TornadoClient}


# ---------------------------------------------------------------------------
# Client checks.


async def step(label, awaitable):
    """Await one step with a timeout, turning any error into CheckFailed(label)."""
    try:
        return await asyncio.wait_for(awaitable, STEP_TIMEOUT)
    except CheckFailed as error:
        raise CheckFailed(f"{label}: {error}") from None
    except asyncio.TimeoutError:
        raise CheckFailed(f"{label}: no answer within {STEP_TIMEOUT:.0f}s") from None
    except Exception as error:  # library errors: report them as this check's failure
        raise CheckFailed(f"{label}: {type(error).__name__}: {error}") from None


def describe_mismatch(sent, received):
    if type(sent) is not type(received):
        return f"sent {type(sent).__name__}, echo came back as {type(received).__name__}"
    if len(sent) != len(received):
        return f"sent {len(sent)} {'chars' if isinstance(sent, str) else 'bytes'}, echo has {len(received)}"
    first = next(i for i, (a, b) in enumerate(zip(sent, received)) if a != b)
    return f"echo differs from what was sent at offset {first}"


async def expect_echo(client, label, expected):
    received = await step(label + " (receive echo)", client.recv())
    if received != expected or type(received) is not type(expected):
        raise CheckFailed(f"{label}: {describe_mismatch(expected, received)}")


def compression_note(client, message):
    """Says how big the server's echo of `message` was on the wire, where the client can tell."""
    wire = client.last_wire_size()
    if wire is None or not client.compression:
        return ""
    size = len(message.encode("utf-8"))
    verdict = "compressed" if wire < size else "not compressed"
    return f"; server echo of {size}-byte compressible text {verdict}: {wire} bytes on the wire"


def check_negotiation(client):
    header = client.extensions_header()
    if client.compression:
        if not client.deflate_active() or not header or "permessage-deflate" not in header:
            raise CheckFailed(f"handshake: permessage-deflate not negotiated (Sec-WebSocket-Extensions: {header!r})")
    elif header or client.deflate_active():
        raise CheckFailed(f"handshake: extension negotiated without being offered: {header!r}")


async def run_echo_checks(client):
    """Every message check; returns (how many passed, a note on compression)."""
    count, note = 0, ""
    for label, message in text_messages() + binary_messages():
        await step(label + " (send)", client.send(message))
        await expect_echo(client, label, message)
        if "compressible" in label:
            note = compression_note(client, message)
        count += 1
    for label, parts in fragmented_messages():
        await step(label + " (send)", client.send_fragments(parts))
        await expect_echo(client, label, parts[0][:0].join(parts))
        count += 1
    label = "text fragments splitting a UTF-8 character"
    chunks = split_utf8_fragments()
    await step(label + " (send)", client.send_raw_frames(OP_TEXT, chunks))
    await expect_echo(client, label, b"".join(chunks).decode("utf-8"))
    return count + 1, note


async def run_client(mode, url, compression, shutdown_server):
    client = CLIENTS[mode](url, compression)
    started = time.monotonic()
    await step("connect", client.connect())
    check_negotiation(client)
    count, note = await run_echo_checks(client)
    pong = await step("ping", client.ping(PING_PAYLOAD))
    if pong != PING_PAYLOAD:
        raise CheckFailed(f"ping: pong payload {pong!r} differs from ping payload {PING_PAYLOAD!r}")
    code = await step("close", client.close(1000))
    if code != 1000:
        raise CheckFailed(f"close: server answered close code {code}, expected 1000")
    if shutdown_server:
        await request_shutdown(mode, url, compression)
    elapsed = time.monotonic() - started
    deflate = "permessage-deflate" if compression else "no extension"
    print(f"ws_peer {mode}: ok: {count + 3} checks passed ({deflate}) in {elapsed:.2f}s{note}")


async def request_shutdown(mode, url, compression):
    client = CLIENTS[mode](url, compression)
    await step("shutdown (connect)", client.connect())
    await step("shutdown (send)", client.send("shutdown"))
    # The server closes with 1000; answering its close frame is all that is left.
    code = await step("shutdown (close)", client.close(1000))
    if code != 1000:
        raise CheckFailed(f"shutdown: server closed with code {code}, expected 1000")


# ---------------------------------------------------------------------------
# Server modes.


def stop_on_signals(stop):
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)


async def serve_websockets(port, compression):
    import http
    import websockets

    stop = asyncio.Event()
    stop_on_signals(stop)

    async def only_ws_path(path, request_headers):
        if path != "/ws":
            return http.HTTPStatus.NOT_FOUND, [], b"not found\n"
        return None

    async def echo(ws):
        async for message in ws:
            if message == "shutdown":
                await ws.close(1000, "shutdown")
                stop.set()
                return
            await ws.send(message)

    async with websockets.serve(
        echo,
        "127.0.0.1",
        port,
        compression="deflate" if compression else None,
        max_size=MAX_MESSAGE_SIZE,
        ping_interval=None,
        process_request=only_ws_path,
    ):
        print("READY", flush=True)
        await stop.wait()


async def serve_tornado(port, compression):
    import tornado.web
    import tornado.websocket

    stop = asyncio.Event()
    stop_on_signals(stop)

    class EchoHandler(tornado.websocket.WebSocketHandler):
        shutdown_requested = False

        def get_compression_options(self):
            return {} if compression else None

        async def on_message(self, message):
            if message == "shutdown":
                self.shutdown_requested = True
                self.close(1000, "shutdown")
                return
            await self.write_message(message, binary=isinstance(message, bytes))

        def on_close(self):
            if self.shutdown_requested:
                stop.set()

    app = tornado.web.Application(
        [(r"/ws", EchoHandler)],
        websocket_max_message_size=MAX_MESSAGE_SIZE,
        log_function=lambda handler: None,
    )
    server = app.listen(port, "127.0.0.1")
    print("READY", flush=True)
    await stop.wait()
    server.stop()


SERVERS = {"server-websockets": serve_websockets, "server-tornado": serve_tornado}


# ---------------------------------------------------------------------------


def parse_args(argv):
    parser = argparse.ArgumentParser(description="WebSocket interop peer for whirl.")
    parser.add_argument("mode", choices=sorted(CLIENTS) + sorted(SERVERS))
    parser.add_argument("target", help="ws:// URL for client modes, port number for server modes")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--compression", dest="compression", action="store_true", help="use permessage-deflate")
    group.add_argument("--no-compression", dest="compression", action="store_false", help="no extension (default)")
    parser.add_argument(
        "--shutdown-server",
        action="store_true",
        help="client modes: after the checks, send 'shutdown' on a new connection",
    )
    parser.set_defaults(compression=False)
    return parser.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    try:
        if args.mode in CLIENTS:
            asyncio.run(run_client(args.mode, args.target, args.compression, args.shutdown_server))
        else:
            asyncio.run(SERVERS[args.mode](int(args.target), args.compression))
    except CheckFailed as error:
        print(f"ws_peer {args.mode}: FAIL: {error}", file=sys.stderr)
        return 1
    except (OSError, ValueError, zlib.error) as error:
        print(f"ws_peer {args.mode}: FAIL: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
