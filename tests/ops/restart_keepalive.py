#!/usr/bin/env python3
"""Zero-downtime restart of one controllers instance, no balancer: a client
with 64 keep-alive connections sends GET /user/<n> continuously while the
instance is restarted 10 times with SIGUSR2 (each generation handing its
listening sockets to the next); beside them 8 more connections send each
request with Connection: close, so that new connections arrive all the
time, also while the sockets change hands. Every request must get its
answer, 200 with its own body:

- an answer with `Connection: close` (the old generation draining) ends its
  connection, and the client opens a new one for the next request;
- a request whose connection ends before any byte of its answer arrived
  (an idle keep-alive connection closed by the drain while the request was
  on its way) would be sent again on a new connection, as RFC 9112 9.3.1
  lets a client do for an idempotent request (counted as "retried" and
  reported). After a handover the old generation keeps a connection that
  was answered (or accepted) less than a second ago open for its next
  request and answers it with Connection: close, so a busy client rarely
  needs this: only when it waits over a second between an answer and its
  next request (integration.test_ops_restart's test_drain_grace checks
  the grace itself);
- a refused connection, a connection that ends in the middle of an answer,
  a wrong answer or no answer within 10 s is a lost request: the test fails.

Each old generation must exit 0 (this script is the generations' subreaper,
so it waits for every one of them). Bounded: at most 90 s and 2,000,000
requests.

  restart_keepalive.py BUILD_DIR
"""
import ctypes
import errno
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from opslib import stop_all  # noqa: E402

BUILD = sys.argv[1]
BIN = os.path.join(BUILD, "examples/controllers/controllers")
CONNS, CHURN, RESTARTS = 64, 8, 10
MIN_BETWEEN = 2000      # answered requests between two restarts, at least
TIME_LIMIT, MAX_REQUESTS = 90.0, 2_000_000
REQUEST_TIMEOUT = 10.0
READY = re.compile(r"the new generation \(pid (\d+), [^)]*\) is ready; pid (\d+) stops")
FAILED = re.compile(r"restart failed[^\n]*")


def fail(msg, log=None):
    sys.stderr.write(f"restart_keepalive: FAIL: {msg}\n")
    if log:
        with open(log) as f:
            sys.stderr.write("".join(line for line in f if "fasthttp" in line)[-4000:])
    raise SystemExit(1)


class Conn:
    """One keep-alive connection with one request in flight at a time."""

    def __init__(self, client, k):
        self.client, self.k = client, k
        self.sock = None
        self.req = None        # the request in flight: (n, bytes)
        self.out = b""         # bytes of it not sent yet
        self.buf = b""         # bytes of its answer so far
        self.sent_at = 0.0
        self.tries = 0

    def open(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        err = s.connect_ex(("127.0.0.1", self.client.port))
        if err not in (0, errno.EINPROGRESS):
            s.close()
            self.client.lost(self, f"connect: {os.strerror(err)}", refused=True)
            return False
        self.sock = s
        self.client.sel.register(s, selectors.EVENT_WRITE, self)
        return True

    def close(self):
        if self.sock:
            self.client.sel.unregister(self.sock)
            self.sock.close()
            self.sock = None

    def send_new(self):
        n = self.client.next_n()
        if n is None:
            self.close()
            return
        close = "Connection: close\r\n" if self.k >= CONNS else ""
        self.req = (n, f"GET /user/{n} HTTP/1.1\r\nHost: restart\r\n{close}\r\n".encode())
        self.tries = 0
        self.start()

    def start(self):
        """(Re)sends the request in flight, on a new connection if needed."""
        self.tries += 1
        if self.tries > 5:
            self.client.lost(self, "no answer after 5 connections")
            return
        self.out, self.buf = self.req[1], b""
        self.sent_at = time.monotonic()
        if not self.sock and not self.open():
            return
        self.client.sel.modify(self.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, self)

    def ended(self, why):
        """The connection ended (EOF, reset) with the request in flight."""
        self.close()
        if self.buf:
            self.client.lost(self, f"connection ended in the middle of an answer ({why})")
            return
        self.client.retried += 1
        self.start()

    def on_event(self, mask):
        if mask & selectors.EVENT_WRITE and self.out:
            err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err == errno.ECONNREFUSED:
                self.close()
                self.client.lost(self, "connection refused", refused=True)
                return
            if err:
                self.ended(os.strerror(err))
                return
            try:
                n = self.sock.send(self.out)
                self.out = self.out[n:]
            except BlockingIOError:
                pass
            except OSError as e:
                self.ended(f"send: {e.strerror}")
                return
            if not self.out:
                self.client.sel.modify(self.sock, selectors.EVENT_READ, self)
        if mask & selectors.EVENT_READ and self.sock:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return
            except OSError as e:
                self.ended(f"recv: {e.strerror}")
                return
            if not data:
                self.ended("EOF")
                return
            self.buf += data
            self.parse()

    def parse(self):
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buf[:end].decode("latin-1")
        lines = head.split("\r\n")
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        length = int(fields.get("content-length", "0"))
        if len(self.buf) < end + 4 + length:
            return
        body = self.buf[end + 4:end + 4 + length]
        rest = self.buf[end + 4 + length:]
        n = self.req[0]
        if not lines[0].startswith("HTTP/1.1 200 ") or body != f"User ID: {n}".encode() or rest:
            self.client.lost(self, f"wrong answer to /user/{n}: {lines[0]!r} {body[:60]!r}")
            return
        self.client.answered += 1
        if fields.get("connection", "").lower() == "close":
            if self.k < CONNS:
                self.client.closed_by_server += 1
            else:
                self.client.fresh += 1
            self.close()   # the next request opens a new connection
        self.send_new()


class Client:
    def __init__(self, port, log):
        self.port, self.log = port, log
        self.sel = selectors.DefaultSelector()
        self.n = 0
        self.answered = self.retried = self.closed_by_server = self.fresh = 0
        self.lost_list = []
        self.refused = 0
        self.stop = False

    def next_n(self):
        if self.stop or self.n >= MAX_REQUESTS:
            return None
        self.n += 1
        return self.n

    def lost(self, conn, why, refused=False):
        self.refused += refused
        self.lost_list.append(why)
        conn.close()
        conn.req = None
        if len(self.lost_list) < 5:
            sys.stderr.write(f"restart_keepalive: lost: {why}\n")
        if not self.stop:
            conn.send_new()   # keep the load on

    def poll(self, timeout):
        for key, mask in self.sel.select(timeout):
            key.data.on_event(mask)

    def check_timeouts(self, conns):
        now = time.monotonic()
        for c in conns:
            if c.req and c.sock and now - c.sent_at > REQUEST_TIMEOUT:
                self.lost(c, f"no answer to /user/{c.req[0]} within {REQUEST_TIMEOUT:.0f} s")


def main():
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_CHILD_SUBREAPER = 36
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        fail("prctl(PR_SET_CHILD_SUBREAPER) failed")
    tmp = tempfile.mkdtemp(prefix="fh-restart-")
    logpath = os.path.join(tmp, "app.log")
    log = open(logpath, "w+")
    env = dict(os.environ, HOST="127.0.0.1", PORT="0", THREADS="2", ADMIN_TOKEN="restart-test")
    first = subprocess.Popen([BIN], stdout=log, stderr=subprocess.STDOUT, env=env)
    pids = [first.pid]
    try:
        port = None
        for _ in range(200):
            with open(logpath) as f:
                m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", f.read())
            if m:
                port = int(m.group(1))
                break
            time.sleep(0.05)
        if not port:
            fail("the instance did not start", logpath)
        client = Client(port, logpath)
        conns = [Conn(client, k) for k in range(CONNS + CHURN)]
        for c in conns:
            c.send_new()
        t0 = time.monotonic()
        current, restarts, since, waiting = first.pid, 0, 0, None
        exited = {}
        scan = 0
        while time.monotonic() - t0 < TIME_LIMIT:
            client.poll(0.05)
            client.check_timeouts(conns)
            # Reap every generation that ended (they are our children).
            while True:
                try:
                    pid, st = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                exited[pid] = st
            if waiting is None and restarts < RESTARTS and client.answered - since >= MIN_BETWEEN:
                os.kill(current, signal.SIGUSR2)
                waiting = time.monotonic()
            if waiting is not None:
                with open(logpath) as f:
                    f.seek(scan)
                    text = f.read()
                m = READY.search(text)
                bad = FAILED.search(text)
                if bad:
                    fail(f"restart {restarts + 1}: {bad.group(0)}", logpath)
                if m and int(m.group(2)) == current:
                    scan += m.end()
                    current = int(m.group(1))
                    pids.append(current)
                    restarts += 1
                    since = client.answered
                    waiting = None
                elif time.monotonic() - waiting > 30:
                    fail(f"restart {restarts + 1}: no new generation within 30 s", logpath)
            if restarts == RESTARTS and client.answered - since >= MIN_BETWEEN:
                break
        client.stop = True
        # Let the requests in flight finish.
        t1 = time.monotonic()
        while any(c.sock for c in conns) and time.monotonic() - t1 < REQUEST_TIMEOUT + 1:
            client.poll(0.05)
            client.check_timeouts(conns)
            for c in conns:
                if c.sock and not c.req:
                    c.close()
        for c in conns:
            c.close()
        # Every old generation ends, with status 0.
        t2 = time.monotonic()
        while len([p for p in pids[:-1] if p in exited]) < len(pids) - 1 and time.monotonic() - t2 < 20:
            try:
                pid, st = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid:
                exited[pid] = st
            else:
                time.sleep(0.05)
        print(f"restart_keepalive: {CONNS} keep-alive connections and {CHURN} opening one "
              f"connection per request ({client.fresh} connections), {restarts} restarts "
              f"(pids {' -> '.join(map(str, pids))}): {client.answered} requests answered 200, "
              f"{len(client.lost_list)} lost ({client.refused} refused); "
              f"{client.closed_by_server} answers said Connection: close and their connection "
              f"was reopened, {client.retried} requests sent again after their idle connection "
              f"was closed before any byte of an answer")
        if restarts != RESTARTS:
            fail(f"only {restarts} restarts in {TIME_LIMIT:.0f} s", logpath)
        if client.lost_list:
            fail(f"{len(client.lost_list)} requests lost: {client.lost_list[:3]}", logpath)
        for p in pids[:-1]:
            st = exited.get(p)
            if st is None:
                fail(f"generation {p} did not exit", logpath)
            if not os.WIFEXITED(st) or os.WEXITSTATUS(st) != 0:
                fail(f"generation {p} ended with wait status {st}", logpath)
        if client.closed_by_server == 0:
            fail("no answer said Connection: close: the drains were not seen", logpath)
    finally:
        stop_all(pids)


main()
