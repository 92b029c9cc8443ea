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
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

BUILD = sys.argv[1]
BIN = os.path.join(BUILD, "examples/controllers/controllers")
CLIENTS, PER_CLIENT = 8, 400


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start_instance(tmp, i):
    log = open(os.path.join(tmp, f"app{i}.log"), "w+")
    env = dict(os.environ, HOST="127.0.0.1", PORT="0", THREADS="1")
    p = subprocess.Popen([BIN], stdout=log, stderr=subprocess.STDOUT, env=env)
    for _ in range(200):
        log.seek(0)
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", log.read())
        if m:
            return p, int(m.group(1))
        time.sleep(0.05)
    raise SystemExit(f"haproxy_kill: instance {i} did not start")


def main():
    tmp = tempfile.mkdtemp(prefix="fh-haproxy-")
    procs = []
    try:
        apps = [start_instance(tmp, i) for i in range(3)]
        procs += [p for p, _ in apps]
        front = free_port()
        cfg = os.path.join(tmp, "haproxy.cfg")
        servers = "\n".join(
            f"    server app{i} 127.0.0.1:{port} check inter 200ms fall 2 rise 2"
            for i, (_, port) in enumerate(apps))
        with open(cfg, "w") as f:
            f.write(f"""global
    log stderr format short local0 warning
defaults
    mode http
    log global
    option http-keep-alive
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 20s
    retries 3
    option redispatch 1
    retry-on all-retryable-errors
frontend web
    bind 127.0.0.1:{front}
    default_backend apps
backend apps
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
{servers}
""")
        ha = subprocess.Popen(["haproxy", "-db", "-f", cfg], stdout=subprocess.DEVNULL,
                              stderr=open(os.path.join(tmp, "haproxy.log"), "w"))
        procs.append(ha)
        ok = 0
        for _ in range(200):
            try:
                c = http.client.HTTPConnection("127.0.0.1", front, timeout=5)
                c.request("GET", "/")
                if c.getresponse().status == 200:
                    ok += 1
                c.close()
            except OSError:
                pass
            if ok >= 10:
                break
            time.sleep(0.05)
        if ok < 10:
            raise SystemExit("haproxy_kill: HAProxy does not answer")
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
            with open(os.path.join(tmp, "haproxy.log")) as f:
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
