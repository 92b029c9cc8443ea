#!/usr/bin/env python3
"""Three controllers instances behind a real HAProxy (Debian's haproxy),
health-checked on /readyz, under bounded keep-alive load from 8 clients;
each instance in turn is restarted with the zero-downtime restart
(SIGUSR2: a new generation takes the listening sockets over, the old one
drains and exits). Every GET must be answered 200 with its own body at the
client: 0 failed requests. Each old generation must exit 0 (this script is
the generations' subreaper), and each instance's requests must have been
served by both its generations (told apart in its access log by their
request ids' per-process prefix). Bounded: at most 20,000 requests per client and
120 s.

  haproxy_restart.py BUILD_DIR
"""
import ctypes
import http.client
import os
import re
import signal
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from opslib import start_haproxy, start_instance, stop_all  # noqa: E402

BUILD = sys.argv[1]
BIN = os.path.join(BUILD, "examples/controllers/controllers")
CLIENTS, MAX_PER_CLIENT, AFTER = 8, 20000, 1000
TIME_LIMIT = 120.0
READY = re.compile(r"the new generation \(pid (\d+), [^)]*\) is ready; pid (\d+) stops")


def reap(exited):
    while True:
        try:
            pid, st = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        exited[pid] = st


def main():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
        raise SystemExit("haproxy_restart: prctl(PR_SET_CHILD_SUBREAPER) failed")
    tmp = tempfile.mkdtemp(prefix="fh-haproxy-restart-")
    pids, ha, exited = [], None, {}
    try:
        apps = [start_instance(BIN, tmp, i, threads=2) for i in range(3)]
        pids += [p.pid for p, _, _ in apps]
        ha, front, halog = start_haproxy(tmp, [port for _, port, _ in apps])
        answered = [0] * CLIENTS
        failed = [0] * CLIENTS
        errors = []
        stop = threading.Event()

        def client(k):
            c = http.client.HTTPConnection("127.0.0.1", front, timeout=10)
            n = 0
            while n < MAX_PER_CLIENT and not stop.is_set():
                n += 1
                try:
                    c.request("GET", f"/user/{k}-{n}")
                    r = c.getresponse()
                    body = r.read()
                    if r.status == 200 and body == f"User ID: {k}-{n}".encode():
                        answered[k] += 1
                    else:
                        failed[k] += 1
                        errors.append(f"{r.status} {body[:80]!r}")
                except (OSError, http.client.HTTPException) as e:
                    failed[k] += 1
                    errors.append(repr(e))
                    c.close()
                    c = http.client.HTTPConnection("127.0.0.1", front, timeout=10)
            c.close()

        ts = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
        for t in ts:
            t.start()
        t0 = time.monotonic()

        def wait_answered(more):
            goal = sum(answered) + more
            while sum(answered) < goal and time.monotonic() - t0 < TIME_LIMIT:
                if not any(t.is_alive() for t in ts):
                    raise SystemExit("haproxy_restart: the clients ended early")
                time.sleep(0.01)

        restarted = []
        for i, (_, _, log) in enumerate(apps):
            wait_answered(AFTER)
            old = pids[i]
            scan = os.path.getsize(log)
            os.kill(old, signal.SIGUSR2)
            new = None
            while new is None and time.monotonic() - t0 < TIME_LIMIT:
                with open(log) as f:
                    f.seek(scan)
                    m = READY.search(f.read())
                if m and int(m.group(2)) == old:
                    new = int(m.group(1))
                time.sleep(0.02)
                reap(exited)
            if new is None:
                raise SystemExit(f"haproxy_restart: app{i} was not restarted")
            # The old generation drains and exits before the next restart.
            while old not in exited and time.monotonic() - t0 < TIME_LIMIT:
                time.sleep(0.02)
                reap(exited)
            restarted.append((i, old, new))
            pids.append(new)
        wait_answered(AFTER)
        stop.set()
        for t in ts:
            t.join(30)
        reap(exited)
        total = sum(answered) + sum(failed)
        moves = ", ".join(f"app{i} {old} -> {new}" for i, old, new in restarted)
        print(f"haproxy_restart: {total} GET through HAProxy from {CLIENTS} keep-alive clients, "
              f"each of 3 instances restarted in turn with SIGUSR2 ({moves}): "
              f"{sum(answered)} answered 200, {sum(failed)} failed at the client")
        bad = []
        if sum(failed):
            bad.append(f"{sum(failed)} failed: {errors[:5]}")
        for i, old, new in restarted:
            st = exited.get(old)
            if st is None or not os.WIFEXITED(st) or os.WEXITSTATUS(st) != 0:
                bad.append(f"app{i}'s old generation {old} ended with wait status {st}")
        # Stopped first: a running generation's last lines are still in its
        # access log's buffers, and a graceful stop writes them.
        stop_all(pids + ([ha.pid] if ha else []))
        for i, (_, _, log) in enumerate(apps):
            # Request ids start with a prefix of their process: each
            # generation's access log lines are told apart by it.
            with open(log) as f:
                gens = set(re.findall(r'"GET /user/\S+ HTTP/1.1" 200 \d+ \d+ "([0-9a-f]+)-', f.read()))
            if len(gens) < 2:
                bad.append(f"app{i}: requests served by {len(gens)} generation(s), not both")
        if bad:
            with open(halog) as f:
                sys.stderr.write(f.read()[-4000:])
            raise SystemExit("haproxy_restart: FAIL: " + "; ".join(bad))
    finally:
        stop_all(pids + ([ha.pid] if ha else []))


main()
