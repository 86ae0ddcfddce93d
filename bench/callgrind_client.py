"""A fixed number of plaintext requests, for bench/cost.sh (//bench:cost).

    callgrind_client.py PORT keepalive|pipelined PER_CONNECTION

16 connections at once, each sending PER_CONNECTION `GET /` requests, one
at a time (keepalive) or 16 at a time (pipelined), and reading every
answer (counted by its "Hello, World!" body) before sending more.
"""
import socket
import sys
import threading

CONNECTIONS = 16
REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def one_connection(port, depth, count):
    sock = socket.create_connection(("127.0.0.1", port))
    done = 0
    while done < count:
        n = min(depth, count - done)
        sock.sendall(REQUEST * n)
        received = b""
        while received.count(b"Hello, World!") < n:
            chunk = sock.recv(65536)
            if not chunk:
                raise SystemExit("the server closed a connection")
            received += chunk
        done += n
    sock.close()


def main():
    port, mode, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    depth = 16 if mode == "pipelined" else 1
    threads = [threading.Thread(target=one_connection, args=(port, depth, count)) for _ in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


if __name__ == "__main__":
    main()
