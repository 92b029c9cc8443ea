#!/usr/bin/env python3
"""bench/peers/floor, the reference row of bench/run, over real sockets: its
numbers only count if it answers what the servers answer. Runs bench/run's
own answer check on it, then the cases the check does not reach: a request
in one-byte pieces, answers that wait for the client to read, an over-long
head, and a second thread.

  test_floor.py <path to the floor binary>"""

import importlib.machinery
import importlib.util
import os
import socket
import subprocess
import sys
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True
_loader = importlib.machinery.SourceFileLoader("bench_run", os.path.join(ROOT, "bench", "run"))
_spec = importlib.util.spec_from_loader("bench_run", _loader)
bench_run = importlib.util.module_from_spec(_spec)
_loader.exec_module(bench_run)

FLOOR = None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Floor(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        cls.proc = subprocess.Popen([FLOOR, str(cls.port), "2"], stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while not bench_run.port_open(cls.port):
            if cls.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("floor did not start: "
                                   + cls.proc.stderr.read().decode(errors="replace"))
            time.sleep(0.05)

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        try:
            rc = cls.proc.wait(timeout=10)
            err = cls.proc.stderr.read().decode(errors="replace")
        finally:
            if cls.proc.poll() is None:
                cls.proc.kill()
            cls.proc.stderr.close()
        # SIGTERM is a clean stop; a sanitizer build reports here if it found anything.
        if rc != 0 or "Sanitizer" in err:
            raise AssertionError(f"floor exited {rc}: {err[-2000:]}")

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        self.addCleanup(s.close)
        return s

    def test_bench_run_answer_check(self):
        checks = bench_run.check_server(self.port)
        self.assertEqual({k: c["ok"] for k, c in checks.items()},
                         {k: True for k in checks}, checks)
        self.assertEqual(set(checks), {"plaintext", "json", "user", "user2", "not_found",
                                       "pipeline"})
        self.assertTrue(checks["json"]["exact_bytes"])
        self.assertTrue(checks["plaintext"]["date_header"])

    def test_request_in_one_byte_pieces(self):
        s = self.connect()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for b in bench_run.request_bytes("/user/7"):
            s.sendall(bytes([b]))
        st, hd, body, rest = bench_run.read_response(s, b"")
        self.assertEqual((st, body, rest), (200, b"User ID: 7", b""))
        self.assertEqual(hd["content-length"], "10")

    def test_answers_wait_for_a_slow_reader(self):
        # 8,000 pipelined requests with a long id each (about 9 MB of
        # answers, more than the socket buffers hold) to a client with a small receive buffer that sends until
        # it can send no more before reading anything: the floor must keep
        # what the socket does not take, stop reading, and finish once the
        # client reads.
        uid = "x" * 1000
        n = 8000
        s = socket.socket()
        self.addCleanup(s.close)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        s.settimeout(5)
        s.connect(("127.0.0.1", self.port))
        s.setblocking(False)
        data = bench_run.request_bytes("/user/" + uid) * n
        sent, stalled_since = 0, None
        while sent < len(data):  # until nothing more goes for 0.3 s
            try:
                sent += s.send(data[sent:sent + 65536])
                stalled_since = None
            except BlockingIOError:
                stalled_since = stalled_since or time.monotonic()
                if time.monotonic() - stalled_since > 0.3:
                    break
                time.sleep(0.01)
        self.assertLess(sent, len(data), "the floor read everything: nothing waited")
        buf, answered, body = b"", 0, b"User ID: " + uid.encode()
        deadline = time.monotonic() + 30
        while answered < n:
            self.assertLess(time.monotonic(), deadline, f"{answered} of {n} answered")
            if sent < len(data):
                try:
                    sent += s.send(data[sent:sent + 65536])
                except BlockingIOError:
                    pass
            try:
                chunk = s.recv(1 << 20)
                self.assertTrue(chunk, "closed early")
                buf += chunk
            except BlockingIOError:
                time.sleep(0.001)
                continue
            pos = 0
            while True:
                end = buf.find(b"\r\n\r\n", pos)
                if end < 0:
                    break
                head = buf[pos:end]
                length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                if len(buf) < end + 4 + length:
                    break
                self.assertEqual(buf[end + 4:end + 4 + length], body)
                pos = end + 4 + length
                answered += 1
            buf = buf[pos:]
        self.assertEqual(buf, b"")

    def test_answers_of_one_read_outgrow_the_gathering_buffer(self):
        # 2,000 minimal heads (14 bytes, 140-byte answers) in one write: a
        # read of 8 KB holds about 585 of them, more answers than the 64 KB
        # gathered before a write, so the floor writes in the middle of a read.
        n = 2000
        s = self.connect()
        s.sendall(b"GET /json \r\n\r\n" * n)
        buf, answered = b"", 0
        while answered < n:
            st, hd, body, buf = bench_run.read_response(s, buf)
            self.assertEqual((st, hd["content-type"], body),
                             (200, "application/json", b'{"message":"Hello, World!"}'))
            answered += 1
        self.assertEqual(buf, b"")

    def test_other_method_and_path_get_404(self):
        s = self.connect()
        s.sendall(b"POST /plaintext HTTP/1.1\r\nHost: x\r\n\r\nGET /user/ HTTP/1.1\r\n\r\n")
        st1, _, _, rest = bench_run.read_response(s, b"")
        st2, _, _, _ = bench_run.read_response(s, rest)
        self.assertEqual((st1, st2), (404, 404))

    def test_over_long_head_closes(self):
        s = self.connect()
        s.sendall(b"GET /plaintext HTTP/1.1\r\nX: " + b"a" * 9000)
        s.settimeout(5)
        got = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
        except ConnectionResetError:
            pass  # closed with our bytes unread: a reset, as good as an end
        self.assertEqual(got, b"")

    def test_many_connections_both_threads(self):
        socks = [self.connect() for _ in range(64)]
        for s in socks:
            s.sendall(bench_run.request_bytes("/plaintext"))
        for s in socks:
            st, _, body, _ = bench_run.read_response(s, b"")
            self.assertEqual((st, body), (200, b"Hello, World!"))
        # One SO_REUSEPORT listener per thread: two sockets listening on the port.
        with open("/proc/net/tcp") as f:
            rows = [line.split() for line in f.readlines()[1:]]
        listening = [r for r in rows if r[1] == f"0100007F:{self.port:04X}" and r[3] == "0A"]
        self.assertEqual(len(listening), 2)


if __name__ == "__main__":
    FLOOR = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
