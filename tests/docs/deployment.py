#!/usr/bin/env python3
"""The configurations of docs/deployment.md, checked by the programs that
read them: the nginx server block (`nginx -t`, its TLS listen line
replaced by a plain loopback one, as no certificate is at hand), the
HAProxy defaults and backend (`haproxy -c`, with a frontend), the systemd
service and socket units (`systemd-analyze verify`, the binary replaced by
/bin/true), and the Kubernetes manifests (parsed as YAML: a Deployment
whose container has readiness and liveness probes on /readyz and /healthz
and a preStop hook, a termination grace above the drain, and a Service).

  deployment.py SOURCE_DIR
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

DOC = os.path.join(sys.argv[1], "docs/deployment.md")
failed = []


def check(what, argv, cwd):
    r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=60)
    out = (r.stdout + r.stderr).strip()
    if r.returncode != 0 or (what == "systemd" and out):
        failed.append(f"{what}: {' '.join(argv)}: status {r.returncode}\n{out}")
    else:
        print(f"deployment: {what} configuration accepted")


def main():
    text = open(DOC).read()
    blocks = re.findall(r"```(\w+)\n(.*?)```", text, re.S)
    by_lang = {}
    for lang, body in blocks:
        by_lang.setdefault(lang, []).append(body)
    tmp = tempfile.mkdtemp(prefix="fh-deploy-doc-")

    server = by_lang["nginx"][0]
    if "listen 443 ssl http2;" not in server:
        failed.append("nginx: the server block no longer listens on 443 as this test expects")
    server = server.replace("listen 443 ssl http2;", "listen 127.0.0.1:18443;")
    temp = "\n".join(f"  {k}_temp_path {tmp};" for k in
                     ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    with open(os.path.join(tmp, "nginx.conf"), "w") as f:
        f.write(f"pid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\nevents {{}}\n"
                f"http {{\n  access_log off;\n{temp}\n{server}\n}}\n")
    check("nginx", ["nginx", "-t", "-q", "-c", os.path.join(tmp, "nginx.conf")], tmp)

    with open(os.path.join(tmp, "haproxy.cfg"), "w") as f:
        f.write("global\n    log stderr local0\n" + by_lang["haproxy"][0] +
                "frontend web\n    bind 127.0.0.1:18080\n    default_backend api\n")
    check("haproxy", ["haproxy", "-c", "-q", "-f", os.path.join(tmp, "haproxy.cfg")], tmp)

    units = by_lang["ini"]
    service = next(u for u in units if "[Service]" in u)
    socket_unit = next(u for u in units if "[Socket]" in u)
    for need in ("Type=notify", "NotifyAccess=main", "ExecReload=/bin/kill -USR2 $MAINPID"):
        if need not in service:
            failed.append(f"systemd: the service unit lacks {need}")
    with open(os.path.join(tmp, "myapi.service"), "w") as f:
        f.write(service.replace("/usr/local/bin/myapi", "/bin/true"))
    with open(os.path.join(tmp, "myapi.socket"), "w") as f:
        f.write(socket_unit)
    check("systemd", ["systemd-analyze", "verify", "./myapi.service", "./myapi.socket"], tmp)

    docs = list(yaml.safe_load_all(by_lang["yaml"][0]))
    kinds = [d["kind"] for d in docs]
    if kinds != ["Deployment", "Service"]:
        failed.append(f"kubernetes: manifests are {kinds}")
    else:
        spec = docs[0]["spec"]["template"]["spec"]
        c = spec["containers"][0]
        problems = []
        if c["readinessProbe"]["httpGet"]["path"] != "/readyz":
            problems.append("readiness probe not on /readyz")
        if c["livenessProbe"]["httpGet"]["path"] != "/healthz":
            problems.append("liveness probe not on /healthz")
        if "preStop" not in c.get("lifecycle", {}):
            problems.append("no preStop hook")
        # preStop sleep (5 s) + drain_ms (5 s) must fit in the grace.
        if spec.get("terminationGracePeriodSeconds", 30) <= 10:
            problems.append("termination grace not above preStop + drain")
        if docs[0]["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] != 0:
            problems.append("maxUnavailable is not 0")
        if docs[1]["spec"]["selector"] != docs[0]["spec"]["selector"]["matchLabels"]:
            problems.append("the Service does not select the Deployment's pods")
        if problems:
            failed.append("kubernetes: " + "; ".join(problems))
        else:
            print("deployment: Kubernetes manifests parsed and consistent")
    shutil.rmtree(tmp, ignore_errors=True)
    if failed:
        sys.stderr.write("\n".join(failed) + "\n")
        raise SystemExit(1)


main()
