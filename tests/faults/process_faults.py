"""Process faults: signals to a multi-process server and a stuck drain.

`--processes 2` forks two workers under a parent. A SIGTERM to the parent
must stop all three, a SIGKILL of the parent must not leave the workers
running, and a killed worker must be replaced. A single-process server
asked to stop while clients refuse to read must still exit in bounded time.

    /usr/bin/python3 tests/faults/process_faults.py /tmp/faultbin/hello_http

Extra arguments that are not paths select scenarios by a substring of their
names.
"""

import os
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # leave no __pycache__ in the tree or the runfiles
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import scenario  # noqa: E402


def start_two_workers(env):
    server = harness.start_server(env, env.hello, ["--no-access-log", "--processes", "2"])
    workers = server.wait_for_children(2, timeout=env.bound(5.0))
    harness.served_again_within(server.port, env.bound(2.0))
    return server, workers


def wait_exit(server, timeout):
    """The parent's exit status, or None if it is still running."""
    try:
        return server.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def describe(pids):
    return ", ".join("%d (parent now %s)" % (pid, harness.parent_of(pid)) for pid in pids)


@scenario("SIGTERM to the parent stops every worker before the parent exits")
def sigterm_parent(env):
    server, workers = start_two_workers(env)
    start = time.monotonic()
    server.signal(signal.SIGTERM)
    # 10 s: the 5 s drain of each worker and the parent's wait, with room.
    status = wait_exit(server, env.bound(10.0))
    parent_gone = time.monotonic() - start
    if status is None:
        raise AssertionError("the parent was still running 10 s after SIGTERM; workers alive: %s"
                             % describe([w for w in workers if harness.alive(w)]))
    # The parent has been reaped: a worker still alive now has been handed
    # to PID 1 (or a subreaper) and outlives the server it belonged to.
    orphans = [w for w in workers if harness.alive(w)]
    remaining = max(0.0, env.bound(10.0) - (time.monotonic() - start))
    harness.wait_until(lambda: not any(harness.alive(w) for w in workers), remaining)
    left = [w for w in workers if harness.alive(w)]
    if left:
        raise AssertionError("worker(s) %s still running 10 s after SIGTERM to the parent (which exited %s "
                             "after %.1f s)" % (describe(left), status, parent_gone))
    if orphans:
        raise AssertionError("worker(s) %s outlived the parent (exit %s after %.1f s): reparented instead of "
                             "stopped by it" % (", ".join(map(str, orphans)), status, parent_gone))
    if status != 0:
        raise AssertionError("the parent exited with status %s after SIGTERM, expected 0" % status)
    return "parent and 2 workers gone %.2f s after SIGTERM, exit 0" % parent_gone


@scenario("the workers exit by themselves when the parent is SIGKILLed")
def sigkill_parent(env):
    server, workers = start_two_workers(env)
    start = time.monotonic()
    server.signal(signal.SIGKILL)
    wait_exit(server, env.bound(5.0))
    # The workers must notice the parent's death themselves (a parent-death
    # signal); 10 s allows for a graceful drain on that signal.
    if not harness.wait_until(lambda: not any(harness.alive(w) for w in workers), env.bound(10.0)):
        raise AssertionError("worker(s) %s still running 10 s after the parent was SIGKILLed"
                             % describe([w for w in workers if harness.alive(w)]))
    return "both workers gone %.2f s after the parent's SIGKILL" % (time.monotonic() - start)


@scenario("a SIGKILLed worker is replaced and serving goes on")
def worker_replaced(env):
    server, workers = start_two_workers(env)
    victim = workers[0]
    start = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    new = []

    def replaced():
        kids = server.children()
        new[:] = [k for k in kids if k not in workers]
        return len(kids) == 2 and victim not in kids and new

    if not harness.wait_until(replaced, env.bound(5.0)):
        raise AssertionError("no replacement worker 5 s after SIGKILL of worker %d; the parent's workers: %s"
                             % (victim, server.children()))
    replaced_after = time.monotonic() - start
    server.assert_running()
    slowest = 0.0
    for _ in range(10):
        slowest = max(slowest, harness.served_within(server.port, env.bound(1.0)))
    all_workers = [workers[1]] + new
    server.signal(signal.SIGTERM)
    status = wait_exit(server, env.bound(10.0))
    if status is None:
        raise AssertionError("the parent did not exit within 10 s of SIGTERM after a worker was replaced")
    if not harness.wait_until(lambda: not any(harness.alive(w) for w in all_workers), env.bound(2.0)):
        raise AssertionError("worker %d was replaced by %d after %.2f s, but after SIGTERM to the parent "
                             "worker(s) %s are still running"
                             % (victim, new[0], replaced_after,
                                describe([w for w in all_workers if harness.alive(w)])))
    if status != 0:
        raise AssertionError("the parent exited with status %s after SIGTERM, expected 0" % status)
    return "worker %d replaced by %d after %.2f s; 10 requests, slowest %.0f ms; SIGTERM cleaned up" % (
        victim, new[0], replaced_after, slowest * 1000)


@scenario("SIGTERM with ten clients that never read still exits in bounded time")
def drain_stuck_clients(env):
    server = harness.start_server(env, env.hello, ["--no-access-log"])
    harness.served_within(server.port, env.bound(2.0))
    stuck = []
    for i in range(10):
        # A tiny window, never read: the stream's sends stall at once.
        sock = harness.connect(server.port, rcvbuf=4096)
        sock.sendall(b"GET /stream?n=100000 HTTP/1.1\r\nHost: x\r\n\r\n")
        stuck.append(sock)
    for i, sock in enumerate(stuck):
        if not harness.peek_available(sock, env.bound(2.0)):
            raise AssertionError("stream %d of 10 did not start within 2 s" % (i + 1))
    start = time.monotonic()
    server.signal(signal.SIGTERM)
    # 8 s: the 5 s drain, then a final flush that must itself be bounded.
    status = wait_exit(server, env.bound(8.0))
    took = time.monotonic() - start
    if status is None:
        raise AssertionError("the server was still running 8 s after SIGTERM with 10 stuck clients; stderr: %s"
                             % server.stderr_tail())
    if status != 0:
        raise AssertionError("the server exited with status %s after %.1f s, expected 0; stderr: %s"
                             % (status, took, server.stderr_tail()))
    return "exited 0 after %.1f s" % took


if __name__ == "__main__":
    harness.main(__doc__)
