"""Shared helpers for the fault-injection scenarios in tests/faults.

A scenario is a function decorated with `scenario(name)`. It takes the
`Env` of its script (the server binaries, a scratch directory, whether the
binaries carry a sanitizer) and returns a short figure for the ok line, or
raises AssertionError saying what went wrong. `main` runs the scenarios of
one script in order:

    ok   pipelined requests never read do not grow the server (grew 1.2 MiB)
    FAIL a reset burst does not stop the accept loop: request 3 of 20 ...

and, whatever happens, kills every process a scenario started and closes
every socket it opened before the next one begins. It exits 1 if any
scenario failed.

Nothing here can hang: every socket has a timeout, every wait has a
deadline, and each scenario runs under an alarm (`SCENARIO_LIMIT`).

Sanitizer builds (the binary holds `__asan_init` or `__tsan_init`) are
several times slower and keep memory in quarantine: `Env.bound()` multiplies
time bounds by 4 there, and `Env.check_figure()` skips the RSS and CPU
assertions (the scenario still runs and still asserts the server lives).

Standard library only; run with /usr/bin/python3.
"""

import errno
import mmap
import os
import re
import resource
import selectors
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import traceback

MiB = 1024 * 1024

# The longest one scenario may take on a normal build before the runner
# gives up on it (the scenarios themselves aim at ~40 s at most).
SCENARIO_LIMIT = 75.0

# How long a server has to print its address: generous, since a sanitizer
# build on a loaded 2-core machine can take seconds to start.
START_TIMEOUT = 10.0

HELLO = b"Hello, World!"


# --- the run's environment -------------------------------------------------


def is_sanitized(binary):
    """True if `binary` was built with AddressSanitizer or ThreadSanitizer."""
    with open(binary, "rb") as f:
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return data.find(b"__asan_init") >= 0 or data.find(b"__tsan_init") >= 0


class Env:
    """What a scenario gets: binaries, a scratch directory, the time scale."""

    def __init__(self, binaries):
        self.binaries = binaries
        self.hello = binaries[0]
        # echo_server is the second argument, or the sibling of hello_http.
        if len(binaries) > 1:
            self.echo = binaries[1]
        else:
            self.echo = os.path.join(os.path.dirname(binaries[0]), "echo_server")
        self.sanitized = any(is_sanitized(b) for b in binaries if os.path.exists(b))
        self.scale = 4.0 if self.sanitized else 1.0
        self.tmpdir = tempfile.mkdtemp(prefix="faults.", dir=os.environ.get("TEST_TMPDIR"))

    def bound(self, seconds):
        """A time bound, stretched for sanitizer builds."""
        return seconds * self.scale

    def check_figure(self, ok, message):
        """Asserts a memory or CPU figure, except on sanitizer builds."""
        if not ok and not self.sanitized:
            raise AssertionError(message)

    def path(self, name):
        return os.path.join(self.tmpdir, name)


def raise_fd_limit():
    """Lets this process hold thousands of client sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return max(soft, hard)


# --- /proc ------------------------------------------------------------------


def _stat_fields(pid):
    """Fields of /proc/PID/stat after the command name (fields[0] is state)."""
    with open("/proc/%d/stat" % pid) as f:
        data = f.read()
    return data[data.rindex(")") + 2 :].split()


def alive(pid):
    """True while `pid` exists and is not a zombie."""
    try:
        return _stat_fields(pid)[0] not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return False


def parent_of(pid):
    try:
        return int(_stat_fields(pid)[1])
    except (OSError, ValueError):
        return None


def _all_pids():
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _live_where(field, value):
    """Live processes whose /proc stat `field` (1: parent, 4: session) is `value`."""
    found = []
    for other in _all_pids():
        try:
            fields = _stat_fields(other)
        except (OSError, ValueError):
            continue
        if int(fields[field]) == value and fields[0] not in ("Z", "X"):
            found.append(other)
    return sorted(found)


def children(pid):
    """Live processes whose parent is `pid`."""
    return _live_where(1, pid)


def descendants(pid):
    """`pid`'s live children, their children, and so on."""
    found = []
    todo = [pid]
    while todo:
        kids = children(todo.pop())
        found.extend(kids)
        todo.extend(kids)
    return found


def session_members(sid):
    """Live processes in session `sid`, orphans included."""
    return _live_where(4, sid)


def rss(pid):
    """Resident set size of `pid` in bytes (0 once it is gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_rss(pid):
    """RSS of `pid` and all its descendants, in bytes."""
    return rss(pid) + sum(rss(p) for p in descendants(pid))


def fd_count(pid):
    """How many file descriptors `pid` holds open."""
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return 0


def cpu_seconds(pid):
    """User + system CPU time `pid` has used, in seconds."""
    fields = _stat_fields(pid)
    # After the command name: state is field 3 of stat(5), utime 14, stime 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def accept_queue(port):
    """How many connections wait in the accept queue of the listening TCP
    socket(s) on `port` (what `ss -ltn` shows as Recv-Q), or None."""
    total = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # local_address is HEXIP:HEXPORT; state 0A is LISTEN; for a
            # listener the rx_queue field is its accept backlog.
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                total = (total or 0) + int(fields[4].split(":")[1], 16)
    return total


def wait_until(predicate, timeout, interval=0.02):
    """Polls `predicate` until it is true (returns True) or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


# --- servers ----------------------------------------------------------------

_ADDRESS = re.compile(rb"(https?)://([^/\s]+):(\d+)/|echo server on port (\d+)")
_started = []


class Server:
    """One server process, started in its own session so that its workers,
    even orphaned ones, can all be found and killed afterwards."""

    def __init__(self, binary, args=(), rlimit_nofile=None, name=None):
        self.binary = binary
        self.args = list(args)
        self.name = name or os.path.basename(binary)
        self.rlimit_nofile = rlimit_nofile
        self.proc = None
        self.port = None
        self.scheme = None
        self.stdout_line = b""
        self.stderr_path = None

    def start(self, env):
        self.stderr_path = env.path("%s.%d.stderr" % (self.name, len(_started)))
        stderr = open(self.stderr_path, "wb")
        limit = self.rlimit_nofile

        def preexec():
            if limit is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

        command = [self.binary, "--port", "0", "--address", "127.0.0.1"] + self.args
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=preexec)
        stderr.close()
        _started.append(self)
        self._read_address()
        return self

    def _read_address(self):
        deadline = time.monotonic() + START_TIMEOUT
        out = self.proc.stdout
        selector = selectors.DefaultSelector()
        selector.register(out, selectors.EVENT_READ)
        data = b""
        try:
            while b"\n" not in data:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("%s printed no address within %.0f s; stderr: %s"
                                         % (self.name, START_TIMEOUT, self.stderr_tail()))
                if selector.select(remaining):
                    chunk = os.read(out.fileno(), 4096)
                    if not chunk:
                        break
                    data += chunk
        finally:
            selector.close()
        match = _ADDRESS.search(data)
        if not match:
            try:
                status = self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                status = "still running"
            raise AssertionError("%s %s did not start (exit status %s): %s"
                                 % (self.name, " ".join(self.args), status, self.stderr_tail()))
        self.stdout_line = data.split(b"\n")[0]
        if match.group(4):
            self.scheme, self.port = "tcp", int(match.group(4))
        else:
            self.scheme, self.port = match.group(1).decode(), int(match.group(3))

    @property
    def pid(self):
        return self.proc.pid

    def children(self):
        return children(self.pid)

    def wait_for_children(self, count, timeout=5.0):
        """Waits until the parent has `count` live workers; returns them."""
        if not wait_until(lambda: len(self.children()) == count, timeout):
            raise AssertionError("%s has %d workers after %.0f s, expected %d"
                                 % (self.name, len(self.children()), timeout, count))
        return self.children()

    def rss(self):
        return tree_rss(self.pid)

    def fds(self):
        return fd_count(self.pid)

    def stderr_text(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except (OSError, TypeError):
            return ""

    def stderr_tail(self, limit=600):
        text = self.stderr_text().strip()
        return repr(text[-limit:]) if text else "(empty)"

    def error_lines(self):
        """The `[E ...]` lines the server logged."""
        return [line for line in self.stderr_text().splitlines() if line.startswith("[E ")]

    def assert_no_errors(self):
        errors = self.error_lines()
        if errors:
            raise AssertionError("%s logged %d error line(s), first: %s"
                                 % (self.name, len(errors), errors[0]))

    def assert_running(self):
        if self.proc.poll() is not None:
            raise AssertionError("%s exited with status %s; stderr: %s"
                                 % (self.name, self.proc.returncode, self.stderr_tail()))

    def signal(self, signum):
        self.proc.send_signal(signum)

    def stop(self, timeout=10.0):
        """SIGTERM, then SIGKILL for anything of this server still alive."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def kill(self):
        """SIGKILL every process of this server: the parent while we have
        not reaped it, and whatever is left in its session (workers, also
        orphaned ones)."""
        targets = set(session_members(self.proc.pid))
        if self.proc.poll() is None:
            targets.add(self.proc.pid)
        for pid in targets:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        if self.proc.stdout:
            self.proc.stdout.close()


def start_server(env, binary, args=(), rlimit_nofile=None, name=None):
    """Starts `binary --port 0 --address 127.0.0.1 ARGS` and waits for its
    address. A server that exits instead (an unknown flag: status 2) is an
    AssertionError quoting its stderr."""
    return Server(binary, args, rlimit_nofile=rlimit_nofile, name=name).start(env)


def kill_all_servers():
    while _started:
        server = _started.pop()
        try:
            server.kill()
        except Exception:  # cleanup must go on for the others
            traceback.print_exc()


# --- sockets ----------------------------------------------------------------

_sockets = []

# Every blocking socket operation in a scenario uses at most this.
SOCKET_TIMEOUT = 5.0


def tcp_socket(rcvbuf=None, linger_reset=False):
    """A new TCP socket, remembered so the runner closes it.

    `rcvbuf` must be set before connect(): the window scale is fixed in the
    SYN, and a small receive buffer makes the server's sends block quickly.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    _sockets.append(sock)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if linger_reset:
        set_linger_reset(sock)
    sock.settimeout(SOCKET_TIMEOUT)
    return sock


def set_linger_reset(sock):
    # SO_LINGER {on, 0 s}: close() sends RST instead of FIN, the way a
    # crashing or impatient client leaves.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def connect(port, timeout=SOCKET_TIMEOUT, rcvbuf=None, linger_reset=False, host="127.0.0.1"):
    """A connected TCP socket (blocking, with `timeout`)."""
    sock = tcp_socket(rcvbuf=rcvbuf, linger_reset=linger_reset)
    sock.settimeout(timeout)
    sock.connect((host, port))
    return sock


def connect_nonblocking(port, rcvbuf=None, linger_reset=False, host="127.0.0.1"):
    """A non-blocking socket whose connect() has been started."""
    sock = tcp_socket(rcvbuf=rcvbuf, linger_reset=linger_reset)
    sock.setblocking(False)
    err = sock.connect_ex((host, port))
    if err not in (0, errno.EINPROGRESS):
        raise OSError(err, os.strerror(err))
    return sock


def remember(sock):
    """Has the runner close `sock` (a wrapped TLS socket) after the scenario."""
    _sockets.append(sock)
    return sock


def close_quietly(sock):
    try:
        sock.close()
    except OSError:
        pass


def await_server_closes(opened, deadline, live, ends=lambda data: not data, tick=None):
    """Waits until the server has closed each socket of a crowd, or `deadline`.

    `opened` maps each (non-blocking) socket to when it was opened. What a
    socket reads goes to `ends(data)`, which says whether that socket is
    done (by default only end of file or an error is); it may raise to fail
    the scenario. `tick()`, if given, runs every round, as does
    `live.check()`. Returns the sockets still open and how long each closed
    one lasted, in seconds.
    """
    selector = selectors.DefaultSelector()
    open_socks = set(opened)
    lasted = []
    try:
        for sock in open_socks:
            selector.register(sock, selectors.EVENT_READ)
        while open_socks and time.monotonic() < deadline:
            for key, _ in selector.select(0.05):
                sock = key.fileobj
                try:
                    data = sock.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not ends(data):
                    continue
                lasted.append(time.monotonic() - opened[sock])
                open_socks.discard(sock)
                selector.unregister(sock)
                close_quietly(sock)
            if tick is not None:
                tick()
            live.check()
    finally:
        selector.close()
    return open_socks, lasted


def close_all_sockets():
    while _sockets:
        close_quietly(_sockets.pop())


def forget_closed_sockets():
    """Drops closed sockets from the registry (long scenarios open many)."""
    _sockets[:] = [s for s in _sockets if s.fileno() >= 0]


def send_all(sock, data, timeout=SOCKET_TIMEOUT):
    sock.settimeout(timeout)
    sock.sendall(data)


def recv_until_close(sock, timeout, limit=16 * MiB):
    """Reads until EOF or reset, for at most `timeout` seconds.

    Returns (data, how) with `how` one of "eof", "reset", "timeout",
    "limit"."""
    deadline = time.monotonic() + timeout
    chunks = []
    size = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return b"".join(chunks), "timeout"
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return b"".join(chunks), "timeout"
        except (ConnectionResetError, BrokenPipeError):
            return b"".join(chunks), "reset"
        if not chunk:
            return b"".join(chunks), "eof"
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            return b"".join(chunks), "limit"


def exchange(sock, payload, timeout):
    """Sends `payload` while reading whatever comes back, until the server
    closes or `timeout` passes; returns (received, how, elapsed).

    Reading while sending matters: a server that refuses a request closes
    with our unsent bytes still coming, which resets the connection, and a
    response not read before the reset arrives may be lost. `how` is "eof",
    "reset" or "timeout" (the server neither closed nor reset in time)."""
    return exchange_all([(sock, payload)], timeout)[0]


def exchange_all(pairs, timeout):
    """`exchange` for many (socket, payload) pairs at once, all sharing one
    deadline; returns a list of (received, how, elapsed) in order."""
    start = time.monotonic()
    deadline = start + timeout
    selector = selectors.DefaultSelector()
    state = {}
    for index, (sock, payload) in enumerate(pairs):
        sock.setblocking(False)
        state[sock] = [index, memoryview(payload), [], "timeout", None]
        selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)

    def finish(sock, how):
        entry = state[sock]
        entry[3] = how
        entry[4] = time.monotonic() - start
        selector.unregister(sock)

    try:
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            for key, mask in selector.select(remaining):
                sock = key.fileobj
                entry = state[sock]
                if mask & selectors.EVENT_READ:
                    try:
                        chunk = sock.recv(65536)
                    except BlockingIOError:
                        chunk = None
                    except (ConnectionResetError, BrokenPipeError):
                        finish(sock, "reset")
                        continue
                    if chunk == b"":
                        finish(sock, "eof")
                        continue
                    if chunk:
                        entry[2].append(chunk)
                if mask & selectors.EVENT_WRITE and entry[1]:
                    try:
                        sent = sock.send(entry[1][:262144])
                        entry[1] = entry[1][sent:]
                    except BlockingIOError:
                        pass
                    except (ConnectionResetError, BrokenPipeError):
                        # The server closed on us; what it said may still
                        # be in our receive buffer.
                        rest, how = _drain_after_reset(sock)
                        entry[2].append(rest)
                        finish(sock, how)
                        continue
                    if not entry[1]:
                        selector.modify(sock, selectors.EVENT_READ)
    finally:
        selector.close()
    results = [None] * len(pairs)
    for sock, (index, _, received, how, elapsed) in state.items():
        sock.settimeout(SOCKET_TIMEOUT)
        if elapsed is None:
            elapsed = time.monotonic() - start
        results[index] = (b"".join(received), how, elapsed)
    return results


def _drain_after_reset(sock):
    data = []
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return b"".join(data), "eof"
            data.append(chunk)
    except BlockingIOError:
        return b"".join(data), "reset"
    except OSError:
        return b"".join(data), "reset"


def peek_available(sock, timeout):
    """Waits up to `timeout` for at least one byte without consuming it."""
    sock.settimeout(timeout)
    try:
        return bool(sock.recv(1, socket.MSG_PEEK))
    except (socket.timeout, OSError):
        return False


# --- HTTP -------------------------------------------------------------------


def status_of(response):
    """The status code of a raw HTTP response, or None if it is not one."""
    match = re.match(rb"HTTP/1\.[01] (\d{3})", response)
    return int(match.group(1)) if match else None


def split_response(raw):
    """(status, headers dict with lower-case names, body) of a raw response
    read to its end; a chunked body is decoded."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError("incomplete response head: %r" % raw[:200])
    lines = head.split(b"\r\n")
    status = status_of(lines[0])
    if status is None:
        raise ValueError("not an HTTP response: %r" % lines[0][:200])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = decode_chunked(body)
    elif "content-length" in headers:
        length = int(headers["content-length"])
        if len(body) < length:
            raise ValueError("body cut short: %d of %d bytes" % (len(body), length))
        body = body[:length]
    return status, headers, body


def decode_chunked(data):
    out = []
    while True:
        line, sep, rest = data.partition(b"\r\n")
        if not sep:
            raise ValueError("chunked body cut short")
        size = int(line.split(b";")[0], 16)
        if size == 0:
            return b"".join(out)
        if len(rest) < size + 2:
            raise ValueError("chunked body cut short")
        out.append(rest[:size])
        data = rest[size + 2 :]


def client_tls_context():
    """A client context that does not verify: the scenarios test the
    server's liveness, not its certificate."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def make_certificate(env):
    """A self-signed certificate and key for localhost; returns their paths."""
    cert, key = env.path("cert.pem"), env.path("key.pem")
    if os.path.exists(cert):
        return cert, key
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
               "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
               "-days", "1", "-keyout", key, "-out", cert]
    try:
        done = subprocess.run(command, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise AssertionError("openssl req failed: %s" % e) from None
    if done.returncode != 0:
        raise AssertionError("openssl req failed: %s" % done.stderr.decode(errors="replace")[-400:])
    return cert, key


def http_request(port, method="GET", path="/", body=b"", timeout=2.0, tls=False, headers=()):
    """One request on a fresh connection (`Connection: close`); returns
    (status, body, elapsed seconds). Raises OSError, socket.timeout or
    ValueError if no complete response arrives within `timeout`."""
    start = time.monotonic()
    deadline = start + timeout
    sock = tcp_socket()
    sock.settimeout(timeout)
    try:
        sock.connect(("127.0.0.1", port))
        if tls:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            sock = remember(client_tls_context().wrap_socket(sock, server_hostname="localhost"))
        lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1:%d" % port, "Connection: close"]
        if body or method in ("POST", "PUT"):
            lines.append("Content-Length: %d" % len(body))
        lines.extend(headers)
        request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        sock.sendall(request)
        raw, how = recv_until_close(sock, max(deadline - time.monotonic(), 0.001))
        if how == "timeout":
            raise socket.timeout("no complete response within %.1f s (got %d bytes)" % (timeout, len(raw)))
        status, _, data = split_response(raw)
        return status, data, time.monotonic() - start
    finally:
        close_quietly(sock)


def http_get(port, path="/", timeout=2.0, tls=False):
    """A blocking GET with a deadline: (status, body, elapsed)."""
    return http_request(port, "GET", path, timeout=timeout, tls=tls)


def served_within(port, seconds, tls=False, what="a fresh client"):
    """Asserts that a new client gets 200 "Hello, World!" within `seconds`;
    returns how long it took."""
    try:
        status, body, elapsed = http_get(port, "/", timeout=seconds, tls=tls)
    except (OSError, ValueError) as e:
        raise AssertionError("%s was not served within %.1f s: %s: %s"
                             % (what, seconds, type(e).__name__, e)) from None
    if status != 200 or body != HELLO:
        raise AssertionError("%s got %s %r instead of 200 %r" % (what, status, body[:80], HELLO))
    if elapsed > seconds:
        raise AssertionError("%s took %.2f s (bound %.1f s)" % (what, elapsed, seconds))
    return elapsed


def served_again_within(port, seconds, tls=False):
    """Retries a fresh client until one is served or `seconds` pass; returns
    the time until the first success."""
    start = time.monotonic()
    deadline = start + seconds
    last = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("no fresh client was served within %.1f s; last try: %s" % (seconds, last))
        try:
            status, body, _ = http_get(port, "/", timeout=min(remaining, 0.5), tls=tls)
            if status == 200 and body == HELLO:
                return time.monotonic() - start
            last = "%s %r" % (status, body[:80])
        except (OSError, ValueError) as e:
            last = "%s: %s" % (type(e).__name__, e)
        forget_closed_sockets()
        time.sleep(0.05)


class Liveness:
    """Checks a fresh client at most every `interval` seconds during a long
    scenario and keeps the slowest time."""

    def __init__(self, port, bound, interval=0.5, tls=False):
        self.port = port
        self.bound = bound
        self.interval = interval
        self.tls = tls
        self.next_check = 0.0
        self.slowest = 0.0
        self.checks = 0

    def check(self, force=False, what="a fresh client"):
        now = time.monotonic()
        if not force and now < self.next_check:
            return
        elapsed = served_within(self.port, self.bound, tls=self.tls, what=what)
        self.slowest = max(self.slowest, elapsed)
        self.checks += 1
        self.next_check = time.monotonic() + self.interval
        forget_closed_sockets()

    def figure(self):
        return "slowest fresh client %.0f ms over %d checks" % (self.slowest * 1000, self.checks)


def mib(n):
    return "%.1f MiB" % (n / MiB)


class RssWatch:
    """Baseline and peak RSS of a server's process tree."""

    def __init__(self, server):
        self.server = server
        self.baseline = server.rss()
        self.peak = self.baseline

    def sample(self):
        value = self.server.rss()
        self.peak = max(self.peak, value)
        return value

    @property
    def growth(self):
        return self.peak - self.baseline


# --- the runner -------------------------------------------------------------

_registered = []


def scenario(name):
    """Registers the decorated function as a scenario called `name`."""

    def register(function):
        function.scenario_name = name
        _registered.append(function)
        return function

    return register


class ScenarioTimeout(AssertionError):
    pass


def _on_alarm(signum, frame):
    raise ScenarioTimeout("scenario still running after its time limit")


def run(scenarios, env):
    """Runs `scenarios` in order; returns the number that failed."""
    failed = 0
    signal.signal(signal.SIGALRM, _on_alarm)
    for function in scenarios:
        name = function.scenario_name
        start = time.monotonic()
        signal.setitimer(signal.ITIMER_REAL, env.bound(SCENARIO_LIMIT))
        try:
            figure = function(env)
            signal.setitimer(signal.ITIMER_REAL, 0)
            took = time.monotonic() - start
            print("ok   %s (%s; %.1f s)" % (name, figure, took), flush=True)
        except AssertionError as e:
            signal.setitimer(signal.ITIMER_REAL, 0)
            failed += 1
            print("FAIL %s: %s (%.1f s)" % (name, e, time.monotonic() - start), flush=True)
        except Exception as e:
            signal.setitimer(signal.ITIMER_REAL, 0)
            failed += 1
            where = traceback.extract_tb(e.__traceback__)[-1]
            print("FAIL %s: unexpected %s: %s (at %s:%d) (%.1f s)"
                  % (name, type(e).__name__, e, os.path.basename(where.filename), where.lineno,
                     time.monotonic() - start), flush=True)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            close_all_sockets()
            kill_all_servers()
    return failed


def main(module_doc=None):
    """Entry point of a scenario script: argv holds the server binaries."""
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(module_doc or __doc__)
        print("usage: %s HELLO_HTTP [ECHO_SERVER] [SCENARIO-SUBSTRING ...]" % sys.argv[0])
        sys.exit(2)
    binaries = [a for a in sys.argv[1:] if os.path.sep in a or os.path.exists(a)]
    wanted = [a for a in sys.argv[1:] if a not in binaries]
    for binary in binaries:
        if not os.access(binary, os.X_OK):
            print("FAIL setup: %s is not an executable" % binary)
            sys.exit(1)
    raise_fd_limit()
    env = Env(binaries)
    scenarios = [f for f in _registered if not wanted or any(w in f.scenario_name for w in wanted)]
    if env.sanitized:
        print("(sanitizer build: time bounds x%g, memory and CPU figures reported, not asserted)"
              % env.scale, flush=True)
    start = time.monotonic()
    failed = run(scenarios, env)
    print("%s: %.1f s" % (os.path.basename(sys.argv[0]), time.monotonic() - start))
    if failed:
        print("server stderr kept in %s" % env.tmpdir)
    else:
        shutil.rmtree(env.tmpdir, ignore_errors=True)
    print("%d passed, %d failed" % (len(scenarios) - failed, failed), flush=True)
    sys.exit(1 if failed else 0)
