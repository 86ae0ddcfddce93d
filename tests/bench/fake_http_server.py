"""A deliberately simple HTTP server for loadgen_test: one response per request.

    python3 fake_http_server.py MODE      # prints the port it listens on

MODE picks the response: chunked, not_found, conflicting_length (malformed),
extra_bytes (more than the response says), close_early (a short body, then
the connection closes).
"""
import socket
import sys
import threading

RESPONSES = {
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nHello\r\n0\r\n\r\n",
    "not_found": b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found",
    "conflicting_length": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "extra_bytes": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA",
    "close_early": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
}


def serve(conn, response, close_after):
    buffered = b""
    with conn:
        while True:
            try:
                data = conn.recv(65536)
            except ConnectionResetError:  # loadgen drops connections it finds broken
                return
            if not data:
                return
            buffered += data
            while b"\r\n\r\n" in buffered:
                _, buffered = buffered.split(b"\r\n\r\n", 1)
                conn.sendall(response)
                if close_after:
                    return


def main():
    mode = sys.argv[1]
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    print(listener.getsockname()[1], flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn, RESPONSES[mode], mode == "close_early"), daemon=True).start()


if __name__ == "__main__":
    main()
