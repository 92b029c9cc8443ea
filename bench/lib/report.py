#!/usr/bin/env python3
"""Turns a bench/run results.json into tables, charts and docs/benchmarks.md.

Used by bench/run; also runnable alone to regenerate the docs from a run:
  python3 bench/lib/report.py bench/results/latest/results.json

Only the part of docs/benchmarks.md between <!-- peers:begin --> and
<!-- peers:end --> is replaced; the rest of the file is kept. Charts are
drawn with gnuplot (Debian's gnuplot-nox) into docs/img/bench-*.png.
"""

import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

BEGIN = "<!-- peers:begin -->"
END = "<!-- peers:end -->"
BASELINE = "nginx"
OURS = "fasthttp"


# ---------------------------------------------------------------- summary ---

def head_to_head(results, cells, t, winner):
    """A row fasthttp lost: the medians, and what the rounds say beside them:
    how many rounds fasthttp won against the winner's run of the same round,
    both servers' ranges over the rounds, and their server CPU per request."""
    ours, theirs = cells[OURS][t], cells[winner][t]
    by_round = {}
    for r in results["runs"]:
        if r["test"] == t and r.get("ok") and r["server"] in (OURS, winner):
            by_round.setdefault(r.get("round"), {})[r["server"]] = r["rps"]
    pairs = [v for v in by_round.values() if OURS in v and winner in v]
    return {"test": t, "winner": winner, "ours": ours["rps"], "theirs": theirs["rps"],
            "rounds_won": sum(1 for v in pairs if v[OURS] > v[winner]),
            "rounds_paired": len(pairs),
            "ours_range": (ours["rps_min"], ours["rps_max"]),
            "theirs_range": (theirs["rps_min"], theirs["rps_max"]),
            "ours_cpu": ours.get("cpu_us_per_req"), "theirs_cpu": theirs.get("cpu_us_per_req")}


def summarize(results):
    tests = [t["name"] for t in results["tests"]]
    servers = [s["name"] for s in results["servers"]]
    cells = {s: {} for s in servers}
    for s in servers:
        for t in tests:
            rows = [r for r in results["runs"] if r["server"] == s and r["test"] == t]
            ok = [r for r in rows if r.get("ok")]
            bad = [r for r in rows if not r.get("ok")]
            cell = {"rounds": len(rows), "rounds_ok": len(ok)}
            if ok:
                cell["rps"] = statistics.median(r["rps"] for r in ok)
                cell["rps_min"] = min(r["rps"] for r in ok)
                cell["rps_max"] = max(r["rps"] for r in ok)
                cell["p50_us"] = statistics.median(r["p50_us"] for r in ok)
                cell["p99_us"] = statistics.median(r["p99_us"] for r in ok)
                cpus = [r["cpu_us_per_req"] for r in ok if r.get("cpu_us_per_req") is not None]
                cell["cpu_us_per_req"] = statistics.median(cpus) if cpus else None
                cell["bytes_per_response"] = statistics.median(r["bytes_per_response"] for r in ok)
            if bad:
                cell["reason"] = bad[0].get("reason", "failed")
            cells[s][t] = cell
    for s in servers:
        for t in tests:
            base = cells.get(BASELINE, {}).get(t, {}).get("rps")
            mine = cells[s][t].get("rps")
            if base and mine:
                cells[s][t]["ratio"] = mine / base

    memory = {}
    for srv in results["servers"]:
        idle = results.get("idle", {}).get(srv["name"], {})
        memory[srv["name"]] = {
            "peak_rss_kib": srv.get("peak_rss_kib"),
            "idle_bytes_per_conn": idle.get("bytes_per_conn"),
            "idle_alive": idle.get("alive"),
            "idle_target": idle.get("target"),
            "idle_reason": idle.get("reason"),
            "idle_note": idle.get("note"),
        }

    scaling = {}
    for r in results.get("scaling", {}).get("runs", []):
        d = scaling.setdefault(r["server"], {})
        d[r["threads"]] = r["rps"] if r.get("ok") else None
        if not r.get("ok"):
            d.setdefault("_reasons", {})[r["threads"]] = r.get("reason")

    refs = references(results)
    peers = [s for s in servers if s != OURS and s not in refs]
    lost = []
    if any(s == OURS for s in servers):
        for t in tests:
            mine = cells[OURS][t].get("rps")
            best = max(((cells[s][t].get("rps") or 0, s) for s in peers), default=(0, None))
            if mine is None:
                lost.append({"test": t, "why": cells[OURS][t].get("reason", "no result")})
            elif best[1] and best[0] > mine:
                lost.append(head_to_head(results, cells, t, best[1]))
    return {"tests": tests, "servers": servers, "cells": cells, "memory": memory,
            "scaling": scaling, "lost": lost, "floor": against_floor(cells, tests, refs, peers)}


def references(results):
    """Names of the reference rows (the floor): shown, never ranked."""
    return [s["name"] for s in results["servers"] if s.get("kind") == "reference"]


def against_floor(cells, tests, refs, peers):
    """Per test: the floor's rate and CPU per request, fasthttp's and the best
    peer's rate as a fraction of the floor's. Empty without a floor."""
    if not refs:
        return {}
    ref = refs[0]
    out = {}
    for t in tests:
        f = cells[ref][t]
        if not f.get("rps"):
            continue
        row = {"floor": ref, "floor_rps": f["rps"], "floor_cpu": f.get("cpu_us_per_req")}
        mine = cells.get(OURS, {}).get(t, {})
        if mine.get("rps"):
            row["ours"] = mine["rps"] / f["rps"]
            row["ours_cpu"] = mine.get("cpu_us_per_req")
        best = max(((cells[s][t].get("rps") or 0, s) for s in peers), default=(0, None))
        if best[1] and best[0]:
            row["peer"] = best[1]
            row["peer_ratio"] = best[0] / f["rps"]
        # Someone beat the floor: servers that do more work than it cannot be
        # told apart on this row by this run.
        row["floor_beaten"] = [s for s in peers + [OURS]
                               if (cells.get(s, {}).get(t, {}).get("rps") or 0) > f["rps"]]
        out[t] = row
    return out


def write_csv(summary, path):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["server", "test", "rps_median", "rps_min", "rps_max", "ratio_to_nginx",
                    "p50_us", "p99_us", "cpu_us_per_req", "bytes_per_response", "rounds_ok",
                    "rounds", "reason"])
        for s in summary["servers"]:
            for t in summary["tests"]:
                c = summary["cells"][s][t]
                w.writerow([s, t] + [_num(c.get(k)) for k in
                                     ("rps", "rps_min", "rps_max", "ratio", "p50_us", "p99_us",
                                      "cpu_us_per_req", "bytes_per_response")]
                           + [c.get("rounds_ok", 0), c.get("rounds", 0), c.get("reason", "")])


def _num(v):
    if v is None:
        return ""
    return f"{v:.3f}" if isinstance(v, float) else str(v)


# ------------------------------------------------------------- formatting ---

def test_title(results, name):
    t = next(t for t in results["tests"] if t["name"] == name)
    ep = {"plaintext": "plaintext", "json": "JSON", "user": "/user/:id"}[t["endpoint"]]
    mode = f"pipelined ×{t['pipeline']}" if t["pipeline"] > 1 else "keep-alive"
    return f"{ep}, {mode}, {t['conns']} conns"


def fmt_rps(v):
    return f"{v:,.0f}"


def fmt_us(v):
    if v is None:
        return "–"
    return f"{v / 1000:.2f} ms" if v >= 1000 else f"{v:.0f} µs"


def fmt_kib(kib):
    if kib is None:
        return "–"
    return f"{kib / 1024:.1f} MiB"


def fmt_bytes(b):
    if b is None:
        return "–"
    if abs(b) >= 1024:
        return f"{b / 1024:.1f} KiB"
    return f"{b:.0f} B"


def label(results, name):
    return next(s["label"] for s in results["servers"] if s["name"] == name)


def cell_text(c, key, fmt, ratio=False):
    if c.get(key) is None:
        return "failed" if c.get("reason") else "–"
    text = fmt(c[key])
    if ratio and c.get("ratio") is not None:
        text += f" ({c['ratio']:.2f}×)"
    if c.get("rounds_ok", 0) < c.get("rounds", 0):
        text += f" [{c['rounds_ok']}/{c['rounds']}]"
    return text


def md_table(header, rows, numeric=True):
    """Markdown table; the first column is left-aligned, the others are
    right-aligned when numeric."""
    right = "---:" if numeric else "---"
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join(["---"] + [right] * (len(header) - 1)) + "|"]
    for r in rows:
        out.append("| " + " | ".join(r) + " |")
    return "\n".join(out)


# ----------------------------------------------------------------- charts ---

def charts(results, summary, imgdir):
    """Draws PNG charts with gnuplot; returns {kind: filename} of those drawn."""
    gp = shutil.which("gnuplot")
    if not gp:
        return {}
    os.makedirs(imgdir, exist_ok=True)
    drawn = {}
    servers = [s for s in summary["servers"]
               if any(summary["cells"][s][t].get("rps") for t in summary["tests"])]
    with tempfile.TemporaryDirectory() as tmp:
        def q(s):
            return '"' + s.replace('"', "'") + '"'

        def run(name, script):
            path = os.path.join(tmp, name + ".gp")
            with open(path, "w") as f:
                f.write(script)
            r = subprocess.run([gp, path], capture_output=True, text=True, cwd=tmp)
            if r.returncode == 0:
                drawn[name] = f"bench-{name}.png"
            else:
                sys.stderr.write(f"gnuplot ({name}) failed: {r.stderr.strip()[-300:]}\n")

        common = ('set terminal pngcairo size 1100,560 font "Sans,10"\n'
                  'set datafile missing "?"\nset grid ytics\nset key outside right top\n'
                  'set style fill solid 0.85 border -1\n')
        if servers:
            with open(os.path.join(tmp, "rps.dat"), "w") as f:
                f.write("test " + " ".join(q(label(results, s)) for s in servers) + "\n")
                for t in summary["tests"]:
                    vals = [summary["cells"][s][t].get("rps") for s in servers]
                    f.write(q(test_title(results, t).replace(" conns", "c").replace(", ", "\\n"))
                            + " " + " ".join("?" if v is None else f"{v / 1000:.2f}"
                                             for v in vals) + "\n")
            run("rps", common + f'set output "{os.path.join(imgdir, "bench-rps.png")}"\n'
                'set title "Requests per second (thousands, median of rounds; higher is better)"\n'
                'set style data histograms\nset style histogram clustered gap 1\nset bmargin 5\n'
                'set yrange [0:*]\nset xtics font ",8"\n'
                f'plot for [i=2:{len(servers) + 1}] "rps.dat" using i:xtic(1) title columnheader(i)\n')

        mem = [(s, summary["memory"][s].get("idle_bytes_per_conn")) for s in summary["servers"]]
        mem = [(s, v) for s, v in mem if v is not None]
        if mem:
            with open(os.path.join(tmp, "mem.dat"), "w") as f:
                for s, v in mem:
                    f.write(f"{q(label(results, s))} {v / 1024:.3f}\n")
            run("memory", common + f'set output "{os.path.join(imgdir, "bench-memory.png")}"\n'
                'set title "Memory per idle keep-alive connection (KiB of server RSS; lower is better)"\n'
                'set key off\nset style data histograms\nset boxwidth 0.7\nset yrange [0:*]\n'
                'plot "mem.dat" using 2:xtic(1) lc rgb "#4477aa"\n')

        threads = results.get("scaling", {}).get("threads", [])
        sc = [s for s in summary["servers"]
              if any(v for k, v in summary["scaling"].get(s, {}).items() if k != "_reasons")]
        if threads and sc:
            with open(os.path.join(tmp, "scaling.dat"), "w") as f:
                f.write("threads " + " ".join(q(label(results, s)) for s in sc) + "\n")
                for nt in threads:
                    vals = [summary["scaling"][s].get(nt) for s in sc]
                    f.write(f"{nt} " + " ".join("?" if v is None else f"{v / 1000:.2f}"
                                                for v in vals) + "\n")
            run("scaling", common + f'set output "{os.path.join(imgdir, "bench-scaling.png")}"\n'
                'set title "Thread scaling: plaintext keep-alive (thousands of requests per second)"\n'
                'set xlabel "server threads"\nset logscale x 2\nset yrange [0:*]\n'
                f'set xtics ({", ".join(str(t) for t in threads)})\n'
                f'plot for [i=2:{len(sc) + 1}] "scaling.dat" using 1:i with linespoints '
                'lw 2 pt 7 title columnheader(i)\n')
    return drawn


# -------------------------------------------------------------- markdown ---

def render(results, summary, drawn):
    m = results["machine"]
    st = results["settings"]
    L = []
    L.append("## Peers")
    L.append("")
    L.append(f"_Generated by `bench/run` ({results['started_utc']}); everything between the "
             "`peers` markers is rewritten by the next run._")
    L.append("")
    if st.get("quick"):
        L.append("> **Smoke run (`--quick`)**: one round of 1-second runs. These numbers show "
                 "that the suite works; they are not a benchmark.")
        L.append("")
    if results.get("note"):
        L.append(f"> {results['note']}")
        L.append("")
    L.append(f"- **Machine:** {m['nproc']} CPUs ({m['cpu_model'] or 'unknown model'}), "
             f"{m['memory']} memory, Linux {m['kernel']}, {m['os']}; wrk {m['wrk']}.")
    L.append(f"- **Command:** `{results['command']}` (took {results.get('elapsed_s', 0) / 60:.1f} min)")
    pin = (f"servers pinned to CPUs {st['server_cpus']}, wrk to {st['client_cpus']}"
           if st.get("pin") else "servers and wrk share all CPUs (no pinning)")
    if st.get("order") == "test":
        pin += ("; every server started once and kept running, the servers taking turns on "
                "each test (`--order test`)")
    if st.get("sched") == "batch":
        pin += ("; every server under SCHED_BATCH (`chrt --batch 0`: a server thread that "
                "wakes does not preempt wrk), wrk under the default policy")
    L.append(f"- **Settings:** {st['threads']} thread(s)/worker(s) per server; wrk with "
             f"{st['wrk_threads']} thread(s) on 127.0.0.1; {pin}; {st['rounds']} interleaved "
             f"round(s) of {st['duration_s']} s per test after a {st['warmup_s']} s warm-up, "
             "median shown ([k/n]: only k of n rounds succeeded).")
    L.append("- **CPU per request:** user+system time of every process and thread of the "
             "server (read from /proc before and after each run) over the requests wrk "
             "counted. **Peak RSS:** VmHWM summed over the server's processes, highest "
             "over the rounds.")
    L.append("")

    servers = summary["servers"]
    shown = [s for s in servers if any(summary["cells"][s][t].get("rounds") for t in summary["tests"])]
    titles = [test_title(results, t) for t in summary["tests"]]

    L.append(f"### Requests per second (ratio to {BASELINE})")
    L.append("")
    if shown:
        multi = st["rounds"] > 1
        if multi:
            L.append("The last column is the run-to-run spread: the largest max/min ratio "
                     "between rounds over the server's tests (1.00 = identical rounds).")
            L.append("")

        def spread(s):
            r = [c["rps_max"] / c["rps_min"] for c in summary["cells"][s].values()
                 if c.get("rounds_ok", 0) > 1 and c.get("rps_min")]
            return f"{max(r):.2f}" if r else "–"
        L.append(md_table(["server"] + titles + (["spread"] if multi else []),
                          [[label(results, s)] + [cell_text(summary["cells"][s][t], "rps",
                                                            fmt_rps, ratio=True)
                                                  for t in summary["tests"]]
                           + ([spread(s)] if multi else []) for s in shown]))
        L.append("")
        if "rps" in drawn:
            L.append(f"![Requests per second](img/{drawn['rps']})")
            L.append("")
    else:
        L.append("No server completed a run.")
        L.append("")

    if shown:
        L.append("### Latency: p50 / p99")
        L.append("")
        L.append("For pipelined tests wrk times a whole batch of requests.")
        L.append("")
        rows = []
        for s in shown:
            row = [label(results, s)]
            for t in summary["tests"]:
                c = summary["cells"][s][t]
                row.append(f"{fmt_us(c.get('p50_us'))} / {fmt_us(c.get('p99_us'))}"
                           if c.get("p99_us") is not None else ("failed" if c.get("reason") else "–"))
            rows.append(row)
        L.append(md_table(["server"] + titles, rows))
        L.append("")
        L.append("### Server CPU time per request (µs)")
        L.append("")
        L.append(md_table(["server"] + titles,
                          [[label(results, s)] + [cell_text(summary["cells"][s][t],
                                                            "cpu_us_per_req", lambda v: f"{v:.2f}")
                                                  for t in summary["tests"]] for s in shown]))
        L.append("")

    if summary["floor"]:
        ref = next(iter(summary["floor"].values()))["floor"]
        L.append("### Against the floor")
        L.append("")
        L.append(f"{label(results, ref)} is `bench/peers/floor`: a bare epoll loop that answers "
                 "each request head with bytes built in advance (one read and one write per "
                 "batch of requests, no header parsing, `/json` a fixed string). It is not "
                 "ranked. Its rate is what wrk and the kernel leave on this machine to a server "
                 "that does almost nothing: where every server is near it, the row is decided "
                 "by the machine, not by the servers.")
        L.append("")
        rows = []
        for t in summary["tests"]:
            fl = summary["floor"].get(t)
            if not fl:
                continue
            rows.append([test_title(results, t), fmt_rps(fl["floor_rps"]),
                         f"{fl['ours']:.0%}" if "ours" in fl else "–",
                         f"{label(results, fl['peer'])} {fl['peer_ratio']:.0%}"
                         if "peer" in fl else "–",
                         f"{fl['floor_cpu']:.2f}" if fl.get("floor_cpu") is not None else "–",
                         f"{fl['ours_cpu']:.2f}" if fl.get("ours_cpu") is not None else "–"])
        L.append(md_table(["test", "floor, req/s", f"{OURS}, share of the floor",
                           "best peer, share of the floor", "floor CPU µs/request",
                           f"{OURS} CPU µs/request"], rows))
        L.append("")
        beaten = [(t, fl["floor_beaten"]) for t, fl in summary["floor"].items()
                  if fl["floor_beaten"]]
        if beaten:
            L.append(f"On {len(beaten)} of the {len(summary['floor'])} rows a server had more "
                     "requests per second than the floor, which does less work per request "
                     "than any of them: there the differences between servers are within this "
                     "run's noise (" + "; ".join(
                         f"{test_title(results, t)}: "
                         + ", ".join(label(results, x) for x in who) for t, who in beaten)
                     + ").")
        else:
            L.append("The floor had the most requests per second on every row.")
        L.append("")

    L.append("### Memory")
    L.append("")
    idle_target = st.get("idle")
    L.append(f"Idle connections: up to {idle_target:,} keep-alive connections, each after one "
             "answered `GET /plaintext`, held open; the figure is (RSS with them − RSS of the "
             "warmed-up server) / connections still open." if idle_target else
             "The idle-connection test was not run.")
    if st.get("idle_note"):
        L.append(f" {st['idle_note']}.")
    L.append("")
    rows = []
    refs = references(results)
    for s in servers:
        if s in refs:
            continue
        mm = summary["memory"][s]
        if mm["peak_rss_kib"] is None and mm["idle_bytes_per_conn"] is None and not mm["idle_reason"]:
            continue
        notes = "; ".join(x for x in (mm.get("idle_note"), mm.get("idle_reason")) if x)
        held = f"{mm['idle_alive']:,}" if mm.get("idle_alive") is not None else "–"
        rows.append([label(results, s), fmt_kib(mm["peak_rss_kib"]), held,
                     fmt_bytes(mm["idle_bytes_per_conn"]), notes or ""])
    if rows:
        L.append(md_table(["server", "peak RSS under load", "idle connections held",
                           "RSS per idle connection"], [r[:4] for r in rows]))
        noted = [r for r in rows if r[4]]
        if noted:
            L.append("")
            L.extend(f"- {r[0]}: {r[4]}" for r in noted)
        L.append("")
    if "memory" in drawn:
        L.append(f"![Memory per idle connection](img/{drawn['memory']})")
        L.append("")

    L.append("### Thread scaling")
    L.append("")
    threads = results.get("scaling", {}).get("threads", [])
    if threads:
        reused = any(r.get("from_main_run") for r in results["scaling"].get("runs", []))
        L.append(f"`{results['scaling'].get('test', 'plaintext')}`, one "
                 f"{st['scaling_duration_s']} s run per thread count. Below nproc the server is "
                 "pinned to the first N CPUs and wrk to the others; at nproc they share every CPU"
                 + (" and the main run's median is shown." if reused else "."))
        if m["nproc"] < 16:
            L.append(f"This machine has {m['nproc']} CPUs, so only "
                     f"{', '.join(str(t) for t in threads)} thread(s) are shown; rerun on a "
                     "larger machine (16 cores) for the full curve.")
        L.append("civetweb is left out: it runs one thread per connection whatever THREADS is.")
        L.append("")
        rows = []
        for s in servers:
            d = summary["scaling"].get(s)
            if not d:
                continue
            rows.append([label(results, s)] + [
                fmt_rps(d[nt]) if d.get(nt) else
                ("failed" if nt in d.get("_reasons", {}) else "–") for nt in threads])
        if rows:
            L.append(md_table(["server"] + [f"{t} thread{'s' if t > 1 else ''}" for t in threads],
                              rows))
            L.append("")
        if "scaling" in drawn:
            L.append(f"![Thread scaling](img/{drawn['scaling']})")
            L.append("")
    else:
        L.append("Not run (`--scaling none`).")
        L.append("")

    L.append(f"### Where {OURS} is not first")
    L.append("")
    if OURS not in servers or not any(summary["cells"][OURS][t].get("rounds") for t in summary["tests"]):
        srv = next((x for x in results["servers"] if x["name"] == OURS), None)
        why = srv.get("reason") if srv else "not in this run"
        L.append(f"{OURS} is not in this run: {why}.")
    elif not summary["lost"]:
        L.append(f"Nowhere in this run: {OURS} has the most requests per second on every test.")
    else:
        L.append("These rows are kept on purpose; the reason for each is written below the "
                 "generated section when it is known.")
        L.append("")
        for x in summary["lost"]:
            if "winner" in x:
                w = label(results, x["winner"])
                line = (f"- {test_title(results, x['test'])}: {w} "
                        f"{fmt_rps(x['theirs'])}/s against {fmt_rps(x['ours'])}/s "
                        f"({x['ours'] / x['theirs']:.2f}×)")
                if x["rounds_paired"] > 1:
                    line += (f"; {OURS} had more in {x['rounds_won']} of the "
                             f"{x['rounds_paired']} rounds, its runs ranging "
                             f"{fmt_rps(x['ours_range'][0])}–{fmt_rps(x['ours_range'][1])}/s "
                             f"against {fmt_rps(x['theirs_range'][0])}–"
                             f"{fmt_rps(x['theirs_range'][1])}/s")
                if x["ours_cpu"] is not None and x["theirs_cpu"] is not None:
                    line += (f"; server CPU {x['ours_cpu']:.2f} against {x['theirs_cpu']:.2f} "
                             f"µs/request")
                fl = summary["floor"].get(x["test"])
                if fl:
                    line += (f"; the floor had {fmt_rps(fl['floor_rps'])}/s "
                             f"({OURS} {fl['ours']:.0%} of it, {w} "
                             f"{x['theirs'] / fl['floor_rps']:.0%})")
                L.append(line)
            else:
                L.append(f"- {test_title(results, x['test'])}: no result ({x['why']})")
    L.append("")

    fails = []
    for srv in results["servers"]:
        if srv.get("reason"):
            fails.append(f"- **{srv['label']}**: {srv['reason']}")
        for name, c in (srv.get("checks") or {}).items():
            if not c["ok"]:
                fails.append(f"- **{srv['label']}** answer check `{name}` failed: {c['detail']}")
        for t in summary["tests"]:
            c = summary["cells"][srv["name"]][t]
            if c.get("reason"):
                fails.append(f"- **{srv['label']}**, {test_title(results, t)}: {c['reason']}")
    for s, d in summary["scaling"].items():
        for nt, why in d.get("_reasons", {}).items():
            fails.append(f"- **{label(results, s)}**, scaling at {nt} thread(s): {why}")
    L.append("### Failures and skipped rows")
    L.append("")
    L.extend(fails or ["None."])
    L.append("")

    L.append("### How each server is set up")
    L.append("")
    L.append("Every server listens on 127.0.0.1 only and answers `GET /plaintext`, `GET /json` "
             "and `GET /user/:id` (404 otherwise); the C peers are in `bench/peers/`, written "
             "against each library's public API, and build the `/json` body as a jansson object "
             "serialized on every request. Answers are checked once before loading "
             "(status, Content-Type, body, 16 pipelined requests).")
    L.append("")
    rows = []
    for srv in results["servers"]:
        checks = srv.get("checks") or {}
        if not srv.get("available"):
            state = "not run"
        elif not checks:
            state = "not checked"
        elif all(c["ok"] for c in checks.values()):
            state = "all correct"
        else:
            state = "wrong: " + ", ".join(k for k, c in checks.items() if not c["ok"])
        date = checks.get("plaintext", {}).get("date_header")
        sizes = [summary["cells"][srv["name"]][t].get("bytes_per_response")
                 for t in summary["tests"] if t.startswith("plaintext-keepalive")]
        sizes = [x for x in sizes if x]
        rows.append([srv["label"], "; ".join(srv["notes"]) or "–",
                     "static string" if srv.get("json_static") else "jansson, per request",
                     "yes" if date else ("no" if date is False else "–"),
                     f"{sizes[0]:.0f} B" if sizes else "–", state])
    L.append(md_table(["server", "setup", "/json", "Date header", "plaintext response",
                       "answers"], rows, numeric=False))
    L.append("")
    return "\n".join(L)


def update_docs(results, summary, root):
    docs = os.path.join(root, "docs")
    imgdir = os.path.join(docs, "img")
    drawn = charts(results, summary, imgdir)
    section = render(results, summary, drawn)
    path = os.path.join(docs, "benchmarks.md")
    os.makedirs(docs, exist_ok=True)
    block = f"{BEGIN}\n{section}\n{END}"
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
        if BEGIN in text and END in text:
            head, rest = text.split(BEGIN, 1)
            _, tail = rest.split(END, 1)
            text = head + block + tail
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
    else:
        text = ("# Benchmarks\n\n"
                "fasthttp against the C servers its users would pick instead, measured side by "
                "side on one machine with wrk. Rerun with `make bench` (or `bench/run`; "
                "`bench/run --quick` for a 2-minute smoke run); raw results go to "
                "`bench/results/`.\n\n" + block + "\n")
    with open(path, "w") as f:
        f.write(text)
    return path


def short_name(results, name):
    t = next(t for t in results["tests"] if t["name"] == name)
    mode = f"p{t['pipeline']}" if t["pipeline"] > 1 else "ka"
    return f"{t['endpoint'][:5]} {mode} c{t['conns']}"


def console_table(summary, results):
    tests = summary["tests"]
    w = max([len(label(results, s)) for s in summary["servers"]] + [14])
    lines = ["", "req/s (median)".ljust(w) + "  "
             + "  ".join(f"{short_name(results, t):>14}" for t in tests)]
    for s in summary["servers"]:
        cells = []
        for t in tests:
            c = summary["cells"][s][t]
            cells.append(f"{c['rps']:>14,.0f}" if c.get("rps") else
                         f"{'failed' if c.get('reason') else '-':>14}")
        lines.append(label(results, s).ljust(w) + "  " + "  ".join(cells))
    lines.append("")
    lines.append("idle connections: " + ", ".join(
        f"{label(results, s)} {fmt_bytes(summary['memory'][s]['idle_bytes_per_conn'])}"
        for s in summary["servers"] if summary["memory"][s]["idle_bytes_per_conn"] is not None))
    return "\n".join(lines)


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: report.py bench/results/<run>/results.json")
    with open(argv[1]) as f:
        results = json.load(f)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    summary = summarize(results)
    print(console_table(summary, results))
    print("wrote", update_docs(results, summary, root))


if __name__ == "__main__":
    main(sys.argv)
