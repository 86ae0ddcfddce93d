"""Resident memory per idle WebSocket connection of a server process.

    /usr/bin/python3 bench/ws_idle.py PORT PID [--connections 1000]

Opens the connections (each a raw socket that completes the handshake at
/ws and then says nothing), waits for the server to settle, and prints
`idle_kib_per_connection=X` from the growth of the server's VmRSS (all its
threads: /proc/PID/status), then closes them.
"""
import argparse
import socket
import sys
import time

HANDSHAKE = (
    "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
).encode()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def upgrade(port):
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(HANDSHAKE)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("closed during the handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError("no 101: " + head.split(b"\r\n")[0].decode(errors="replace"))
    return sock


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("pid", type=int)
    parser.add_argument("--connections", type=int, default=1000)
    args = parser.parse_args()
    warm = [upgrade(args.port) for _ in range(20)]  # first-use allocations out of the way
    time.sleep(0.5)
    before = rss_kib(args.pid)
    held = [upgrade(args.port) for _ in range(args.connections)]
    time.sleep(1.0)
    after = rss_kib(args.pid)
    for sock in held + warm:
        sock.close()
    print(f"idle_kib_per_connection={(after - before) / args.connections:.2f}")


if __name__ == "__main__":
    sys.exit(main())
