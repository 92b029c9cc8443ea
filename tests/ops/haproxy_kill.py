#!/usr/bin/env python3
"""Three controllers instances behind a real HAProxy (Debian's haproxy),
health-checked on /readyz, under bounded keep-alive load; one instance is
killed with SIGKILL in the middle. Reports what HAProxy's retries leave:
requests answered, failed at the client, and how the killed instance's
share moved to the others. With `retry-on all-retryable-errors`,
`retries 3` and `option redispatch 1`, every GET must still be answered
200: 0 failed requests.

  haproxy_kill.py BUILD_DIR
"""
import http.client
import os
import signal
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from opslib import start_haproxy, start_instance  # noqa: E402

BUILD = sys.argv[1]
BIN = os.path.join(BUILD, "examples/controllers/controllers")
CLIENTS, PER_CLIENT = 8, 400


def main():
    tmp = tempfile.mkdtemp(prefix="fh-haproxy-")
    procs = []
    try:
        apps = [start_instance(BIN, tmp, i)[:2] for i in range(3)]
        procs += [p for p, _ in apps]
        ha, front, halog = start_haproxy(tmp, [port for _, port in apps])
        procs.append(ha)
        answered = [0] * CLIENTS
        failed = [0] * CLIENTS
        done_before_kill = threading.Event()

        def client(k):
            c = http.client.HTTPConnection("127.0.0.1", front, timeout=10)
            for n in range(PER_CLIENT):
                try:
                    c.request("GET", f"/user/{k}-{n}")
                    r = c.getresponse()
                    r.read()
                    if r.status == 200:
                        answered[k] += 1
                    else:
                        failed[k] += 1
                except (OSError, http.client.HTTPException):
                    failed[k] += 1
                    c.close()
                    c = http.client.HTTPConnection("127.0.0.1", front, timeout=10)
                if n == PER_CLIENT // 2:
                    done_before_kill.set()
            c.close()

        ts = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
        for t in ts:
            t.start()
        done_before_kill.wait(30)
        apps[1][0].send_signal(signal.SIGKILL)
        for t in ts:
            t.join(120)
        total = CLIENTS * PER_CLIENT
        print(f"haproxy_kill: {total} GET through HAProxy, instance app1 killed (SIGKILL) "
              f"half-way: {sum(answered)} answered 200, {sum(failed)} failed at the client")
        if sum(failed) != 0 or sum(answered) != total:
            with open(halog) as f:
                sys.stderr.write(f.read()[-4000:])
            raise SystemExit(1)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()


main()
