#!/usr/bin/env bash
# The controllers example's /openapi.json: @redocly/cli's recommended rules
# find 0 errors, and every route the router holds (--list-routes) appears
# under its method and OpenAPI path with its path parameters; the declared
# users API also with its query parameters, body and responses.
set -euo pipefail
bin=$1/examples/controllers/controllers
redocly=$2/node_modules/.bin/redocly
[ -x "$redocly" ] || { echo "no $redocly: run scripts/install-deps.sh"; exit 1; }
tmp=$(mktemp -d)
log=$tmp/log
trap 'rm -rf "$tmp"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true' EXIT
. "$(dirname "$0")/../examples/lib.bash"

"$bin" --list-routes >"$tmp/routes"
[ "$(wc -l <"$tmp/routes")" -ge 12 ] || { echo "too few routes:"; cat "$tmp/routes"; exit 1; }
start_example controllers env HOST=127.0.0.1 PORT=0 THREADS=1 ADMIN_TOKEN=t "$bin"
curl -sf -o "$tmp/openapi.json" "$url/openapi.json"
stop_example controllers

# 0 errors (warnings are advice: a 4XX response on routes without an
# operation, an unused component).
REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
  "$redocly" lint "$tmp/openapi.json" --format=json >"$tmp/lint.json" 2>"$tmp/lint.err" || true
python3 - "$tmp/lint.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
errors = [p for p in r["problems"] if p["severity"] == "error"]
for p in errors:
    print("lint error:", p["ruleId"], p["message"], [l.get("pointer") for l in p["location"]])
print(f"redocly: {r['totals']['errors']} errors, {r['totals']['warnings']} warnings")
sys.exit(1 if errors or r["totals"]["errors"] else 0)
PY

python3 - "$tmp/routes" "$tmp/openapi.json" <<'PY'
import json, re, sys
routes = [l.split(" ", 1) for l in open(sys.argv[1]).read().splitlines()]
doc = json.load(open(sys.argv[2]))
fail = []
for method, pattern in routes:
    path = re.sub(r"/[:*]([A-Za-z0-9_]+)", r"/{\1}", pattern)
    names = re.findall(r"/[:*]([A-Za-z0-9_]+)", pattern)
    methods = ["get", "put", "post", "delete", "patch"] if method == "ANY" else [method.lower()]
    for m in methods:
        op = doc["paths"].get(path, {}).get(m)
        if op is None:
            fail.append(f"{method} {pattern}: no {m} {path} in the document")
            continue
        got = sorted(p["name"] for p in op.get("parameters", []) if p["in"] == "path")
        if got != sorted(names):
            fail.append(f"{method} {pattern}: path parameters {got}, expected {sorted(names)}")
        for p in op.get("parameters", []):
            if p["in"] == "path" and p.get("required") is not True:
                fail.append(f"{method} {pattern}: path parameter {p['name']} not required")
# Nothing in the document that the router does not have.
have = {(m, re.sub(r"/[:*]([A-Za-z0-9_]+)", r"/{\1}", p)) for m, p in routes}
for path, item in doc["paths"].items():
    for m in item:
        if (m.upper(), path) not in have:
            fail.append(f"{m} {path}: in the document, not in the router")
# The declared users API in full.
users = doc["paths"]["/api/users"]
q = {p["name"]: p for p in users["get"]["parameters"]}
exp = {"page": {"type": "integer", "minimum": 1, "maximum": 1000000000, "default": 1},
       "per_page": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}}
for n, s in exp.items():
    if q.get(n, {}).get("in") != "query" or q[n]["schema"] != s:
        fail.append(f"GET /api/users {n}: {q.get(n)}")
body = users["post"]["requestBody"]["content"]["application/json"]["schema"]
if body != {"$ref": "#/components/schemas/UserInput"}:
    fail.append(f"POST /api/users body {body}")
ui = doc["components"]["schemas"]["UserInput"]
if ui["required"] != ["name", "email"] or ui["additionalProperties"] is not False or \
        ui["properties"]["email"]["format"] != "email" or \
        ui["properties"]["age"]["type"] != ["integer", "null"]:
    fail.append(f"UserInput {ui}")
for path, m, codes in [("/api/users", "post", {"201", "400", "413", "415", "422"}),
                       ("/api/users/{id}", "get", {"200", "400", "404"}),
                       ("/api/users/{id}", "patch", {"200", "400", "404", "413", "415", "422"}),
                       ("/api/users/{id}", "delete", {"204", "400", "401", "404"})]:
    got = set(doc["paths"][path][m]["responses"])
    if got != codes:
        fail.append(f"{m} {path}: responses {sorted(got)}, expected {sorted(codes)}")
if doc["paths"]["/api/users/{id}"]["delete"].get("security") != [{"bearerAuth": []}]:
    fail.append("DELETE /api/users/{id}: no bearerAuth")
if doc["components"]["securitySchemes"] != {"bearerAuth": {"type": "http", "scheme": "bearer"}}:
    fail.append(f"securitySchemes {doc['components']['securitySchemes']}")
for name in ["BadRequest", "NotFound", "MethodNotAllowed", "ContentTooLarge",
             "UnsupportedMediaType", "UnprocessableContent"]:
    if name not in doc["components"]["responses"]:
        fail.append(f"no components.responses.{name}")
for f in fail:
    print(f)
print(f"{len(routes)} routes checked, {len(fail)} problems")
sys.exit(1 if fail else 0)
PY
echo "openapi.lint: ok"
