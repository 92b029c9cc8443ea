"""Shared by the scripts of tests/ops: controllers instances on free
127.0.0.1 ports and a real HAProxy (Debian's haproxy) in front of them,
health-checking /readyz, retrying on connection failure."""
import http.client
import os
import re
import signal
import socket
import subprocess
import time


def stop_all(pids):
    """SIGTERM to every pid, children reaped for up to 15 s (a restarted
    instance's generations are the script's children, as their subreaper),
    then SIGKILL to whatever is left of them."""
    for p in pids:
        try:
            os.kill(p, signal.SIGTERM)
        except ProcessLookupError:
            pass
    t = time.monotonic()
    while time.monotonic() - t < 15:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.05)
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start_instance(binary, tmp, i, threads=1):
    """Starts controllers on an ephemeral port: (Popen, port, log path)."""
    path = os.path.join(tmp, f"app{i}.log")
    log = open(path, "w+")
    env = dict(os.environ, HOST="127.0.0.1", PORT="0", THREADS=str(threads),
               ADMIN_TOKEN=f"ops-{i}")
    p = subprocess.Popen([binary], stdout=log, stderr=subprocess.STDOUT, env=env)
    for _ in range(200):
        log.seek(0)
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", log.read())
        if m:
            return p, int(m.group(1)), path
        time.sleep(0.05)
    raise SystemExit(f"instance {i} did not start")


def haproxy_config(front, ports):
    servers = "\n".join(
        f"    server app{i} 127.0.0.1:{port} check inter 200ms fall 2 rise 2"
        for i, port in enumerate(ports))
    return f"""global
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
"""


def start_haproxy(tmp, ports):
    """HAProxy in front of ports, answering: (Popen, front port, log path)."""
    front = free_port()
    cfg = os.path.join(tmp, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(haproxy_config(front, ports))
    log = os.path.join(tmp, "haproxy.log")
    ha = subprocess.Popen(["haproxy", "-db", "-f", cfg], stdout=subprocess.DEVNULL,
                          stderr=open(log, "w"))
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
            return ha, front, log
        time.sleep(0.05)
    ha.kill()
    raise SystemExit("HAProxy does not answer")
