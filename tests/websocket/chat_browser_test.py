#!/usr/bin/python3
"""The chat demo (examples/chat.cc) in a real browser: headless Chromium.

    /usr/bin/python3 chat_browser_test.py /path/to/chat_binary

Starts the chat server on an ephemeral port, opens its page in two headless
Chromium sessions (selenium + chromedriver), posts a message from each and
checks that both inboxes show both, then opens a third page and checks that
it replays the history in order. Chromium's performance log must show that
the WebSocket handshake negotiated permessage-deflate with the server.

Prints "ok   <check>" per passed check; on the first failure prints
"FAIL <check>: <reason>" and exits 1. Needs Debian's chromium,
chromium-driver and python3-selenium.
"""

import contextlib
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT = 10.0  # seconds, for every explicit wait
WATCHDOG = 50  # seconds, for the whole run

# Chromium as root, headless, possibly inside a test sandbox with a small or
# absent /dev/shm and no GPU. Background traffic off: only 127.0.0.1 is ours.
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",  # required as root: without it Chrome exits at once
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-component-update",
    "--disable-background-networking",
    "--window-size=1024,768",
]

# The inbox as [[id, text], ...], read in the page: textContent is exact,
# where WebElement.text would normalise whitespace.
INBOX_JS = """
return Array.from(document.querySelectorAll('#inbox .message'),
                  (e) => [e.id, e.textContent]);
"""
STATUS_JS = "return document.getElementById('status').textContent;"


class CheckFailed(Exception):
    def __init__(self, check, reason):
        super().__init__(f"{check}: {reason}")
        self.check = check
        self.reason = reason


class Watchdog(Exception):
    pass


def ok(check):
    print(f"ok   {check}", flush=True)


def tmp_root():
    root = os.environ.get("TEST_TMPDIR") or tempfile.gettempdir()
    os.makedirs(root, exist_ok=True)
    return root


class ChatServer:
    def __init__(self, binary, workdir):
        self.stderr_path = os.path.join(workdir, "server.err")
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [binary, "--port", "0", "--address", "127.0.0.1"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr)
        self.url = None

    def wait_url(self, timeout):
        """The URL from the server's first stdout line."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        data = b""
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CheckFailed("server starts", f"no URL on stdout within {timeout:.0f} s"
                                  f" (got {data!r}){self.stderr_tail()}")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                raise CheckFailed("server starts", f"stdout closed (exit status {self.proc.wait()},"
                                  f" got {data!r}){self.stderr_tail()}")
            data += chunk
        line = data.split(b"\n", 1)[0].decode("utf-8", "replace")
        match = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        if not match:
            raise CheckFailed("server starts", f"unexpected first line {line!r}")
        self.url = match.group(1)
        return self.url

    def stderr_tail(self, lines=5):
        try:
            with open(self.stderr_path, "rb") as f:
                tail = f.read().decode("utf-8", "replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "".join("\n    server: " + t for t in tail)

    def stop(self, timeout=5.0):
        """SIGTERM, then SIGKILL if it lingers; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self._stderr.close()


class Page:
    """One headless Chromium session showing the chat page."""

    def __init__(self, name, workdir):
        self.name = name
        self.perf_events = []
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        profile = tempfile.mkdtemp(prefix=f"profile-{name}-", dir=workdir)
        options.add_argument(f"--user-data-dir={profile}")
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
        service = Service(CHROMEDRIVER, log_path=os.path.join(workdir, f"chromedriver-{name}.log"))
        self.driver = webdriver.Chrome(service=service, options=options)
        self.driver.set_page_load_timeout(2 * WAIT)  # a first navigation is slow on a busy machine
        self.driver.set_script_timeout(WAIT)

    def wait(self, check, condition, describe):
        """Waits up to WAIT s for condition(driver) to be truthy; its value."""
        try:
            return WebDriverWait(self.driver, WAIT, poll_frequency=0.05).until(condition)
        except TimeoutException:
            raise CheckFailed(check, f"page {self.name}: after {WAIT:.0f} s, {describe()}") from None

    def status(self):
        return self.driver.execute_script(STATUS_JS)

    def inbox(self):
        return [tuple(m) for m in self.driver.execute_script(INBOX_JS)]

    def wait_connected(self, check):
        self.wait(check, lambda d: self.status() == "connected",
                  lambda: f"status is {self.status()!r}, not 'connected'")

    def wait_inbox(self, check, bodies):
        """Waits until the inbox holds exactly these bodies, in order."""
        self.wait(check, lambda d: [b for _, b in self.inbox()] == bodies,
                  lambda: f"inbox is {self.inbox()!r}, expected bodies {bodies!r}")
        return self.inbox()

    def post(self, check, body, submit_with_enter):
        box = self.driver.find_element(By.ID, "message")
        box.clear()
        box.send_keys(body)
        typed = box.get_attribute("value")
        if typed != body:
            raise CheckFailed(check, f"page {self.name}: typed {body!r}, input holds {typed!r}")
        if submit_with_enter:
            box.send_keys(Keys.ENTER)
        else:
            self.driver.find_element(By.ID, "send").click()
        # The page's submit handler sends and clears the input.
        self.wait(check, lambda d: box.get_attribute("value") == "",
                  lambda: f"input not cleared after submit: {box.get_attribute('value')!r}")

    def handshake(self, check):
        """The /chatsocket handshake (request, response), from the performance log."""

        def find(method, request_id):
            for message in self.perf_events:
                params = message.get("params", {})
                if message.get("method") == method and params.get("requestId") == request_id:
                    return params
            return None

        def socket_id():
            for message in self.perf_events:
                params = message.get("params", {})
                if (message.get("method") == "Network.webSocketCreated"
                        and params.get("url", "").endswith("/chatsocket")):
                    return params.get("requestId")
            return None

        def poll(driver):  # the events may trail the page's onopen a little
            for entry in driver.get_log("performance"):  # drains: keep them
                try:
                    self.perf_events.append(json.loads(entry["message"])["message"])
                except (KeyError, TypeError, ValueError):
                    continue
            request_id = socket_id()
            return request_id is not None and find(
                "Network.webSocketHandshakeResponseReceived", request_id) is not None

        self.wait(check, poll, lambda: "no Network.webSocketCreated + webSocketHandshakeResponseReceived"
                  f" for /chatsocket in the performance log ({len(self.perf_events)} events)")
        request_id = socket_id()
        request = find("Network.webSocketWillSendHandshakeRequest", request_id) or {}
        response = find("Network.webSocketHandshakeResponseReceived", request_id)
        return request.get("request", {}), response.get("response", {})

    def quit(self):
        try:
            self.driver.quit()
        except Exception:  # a dead browser must not hide the real failure
            pass


def header(headers, name):
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            return value
    return None


def check_deflate(page):
    check = f"permessage-deflate negotiated (page {page.name})"
    with checking(check) as result:
        request, response = page.handshake(check)
        offered = header(request.get("headers"), "Sec-WebSocket-Extensions")
        status = response.get("status")
        accepted = header(response.get("headers"), "Sec-WebSocket-Extensions")
        if status != 101:
            raise CheckFailed(check, f"handshake status {status!r}, not 101")
        if not offered or "permessage-deflate" not in offered:
            raise CheckFailed(check, f"Chromium did not offer it (request header {offered!r})")
        if not accepted or accepted.split(";")[0].strip().lower() != "permessage-deflate":
            raise CheckFailed(check, f"response Sec-WebSocket-Extensions is {accepted!r}"
                              f" (offered {offered!r})")
        result["detail"] = f"offered {offered!r}, accepted {accepted!r}"


def check_same_ids(check, pages_inboxes):
    """Every page saw the same ids for the same messages, in the same order."""
    first_name, first = pages_inboxes[0]
    for name, inbox in pages_inboxes[1:]:
        if inbox != first:
            raise CheckFailed(check, f"page {name} has {inbox!r}, page {first_name} has {first!r}")
    ids = [i for i, _ in first]
    if len(set(ids)) != len(ids) or not all(re.fullmatch(r"m\d+", i) for i in ids):
        raise CheckFailed(check, f"bad message ids {ids!r}")


def start_browsers(names, workdir):
    """Starts one Page per name concurrently; all or none (then CheckFailed)."""
    results = {}

    def start(name):
        try:
            results[name] = Page(name, workdir)
        except Exception as e:  # reported below, in the main thread
            results[name] = e

    threads = [threading.Thread(target=start, args=(n,), daemon=True) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WATCHDOG)
    pages = [r for r in results.values() if isinstance(r, Page)]
    for name in names:
        result = results.get(name)
        if not isinstance(result, Page):
            for page in pages:
                page.quit()
            if result is None:
                reason = "chromedriver did not answer"
            else:
                msg = getattr(result, "msg", None) or str(result)
                reason = (msg.strip().splitlines() or [type(result).__name__])[0]
            raise CheckFailed(f"browser {name} starts", reason)
    for name in names:
        ok(f"browser {name} starts")
    return [results[n] for n in names]


@contextlib.contextmanager
def checking(check):
    """Prints "ok   check" if the block passes; reports any error in it (a
    selenium one, say) as this check's. The block may set result["detail"]."""
    result = {}
    try:
        yield result
    except (CheckFailed, Watchdog):
        raise
    except Exception as e:
        msg = getattr(e, "msg", None) or str(e)
        lines = msg.strip().splitlines() or [""]
        raise CheckFailed(check, f"{type(e).__name__}: {lines[0]}") from None
    ok(f"{check}: {result['detail']}" if "detail" in result else check)


def run(binary, workdir):
    try:
        server = ChatServer(binary, workdir)
    except OSError as e:
        raise CheckFailed("server starts", f"cannot run {binary}: {e}") from None
    pages = []
    try:
        url = server.wait_url(WAIT)
        ok(f"server starts: {url}")

        # All three browsers start at once (C's page is opened later): Chromium
        # takes seconds to start, and this saves most of that.
        pages = start_browsers(["A", "B", "C"], workdir)
        a, b, c = pages

        for page in (a, b):
            check = f"page {page.name} loads and connects"
            with checking(check):
                page.driver.get(url)
                page.wait_connected(check)
        for page in (a, b):
            check_deflate(page)

        token = uuid.uuid4().hex[:8]
        first = f"hello from A {token}"
        second = f"caf\u00e9 cr\u00e8me \U0001F600 from B {token}"

        check = "message from A reaches A and B"
        with checking(check):
            a.post(check, first, submit_with_enter=False)
            check_same_ids(check, [(p.name, p.wait_inbox(check, [first])) for p in (a, b)])

        check = "non-ASCII message from B reaches A and B"
        with checking(check):
            b.post(check, second, submit_with_enter=True)
            inboxes = [(p.name, p.wait_inbox(check, [first, second])) for p in (a, b)]
            check_same_ids(check, inboxes)

        check = "page C replays the history in order"
        with checking(check):
            c.driver.get(url)
            c.wait_connected(check)
            c_inbox = c.wait_inbox(check, [first, second])
            check_same_ids(check, inboxes + [("C", c_inbox)])
        check_deflate(c)

        check = "every page still connected"
        with checking(check):
            for page in pages:
                if page.status() != "connected":
                    raise CheckFailed(check, f"page {page.name}: status {page.status()!r}")

        for page in pages:
            page.quit()
        pages = []
        check = "server exits 0 on SIGTERM"
        with checking(check):
            status = server.stop()
            if status != 0:
                raise CheckFailed(check, f"exit status {status!r}{server.stderr_tail()}")
    finally:
        for page in pages:
            page.quit()
        try:
            server.stop()
        finally:
            server.close()


def main(argv):
    if len(argv) != 2:
        print(f"usage: {argv[0]} CHAT_BINARY", file=sys.stderr)
        return 2
    binary = os.path.abspath(argv[1])
    # Selenium talks to chromedriver over 127.0.0.1: never through a proxy.
    for var in ("no_proxy", "NO_PROXY"):
        os.environ[var] = "127.0.0.1,localhost"

    def on_alarm(signum, frame):
        raise Watchdog()

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(WATCHDOG)
    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="chat-browser-", dir=tmp_root())
    try:
        run(binary, workdir)
    except CheckFailed as e:
        print(f"FAIL {e.check}: {e.reason}", flush=True)
        return 1
    except Watchdog:
        print(f"FAIL whole run: not done within the {WATCHDOG} s watchdog", flush=True)
        return 1
    except Exception as e:  # selenium errors outside a check, and the like
        lines = str(e).strip().splitlines() or [""]
        print(f"FAIL unexpected {type(e).__name__}: {lines[0]}", flush=True)
        return 1
    finally:
        signal.alarm(0)
        if os.environ.get("CHAT_BROWSER_TEST_KEEP"):
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"all checks passed in {time.monotonic() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
