#!/usr/bin/env python3
"""bench/lib/report.py on made-up results: which rows fasthttp lost, what
the head-to-head detail says, and that the rendered report shows it."""

import os
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench", "lib"))
sys.dont_write_bytecode = True
import report  # noqa: E402


def run(server, test, rnd, rps, cpu):
    return {"ok": True, "requests": int(rps * 3), "rps": rps, "p50_us": 400, "p99_us": 4000,
            "mean_us": 500.0, "bytes_per_response": 148.0, "cpu_s": 1.0,
            "cpu_us_per_req": cpu, "errors": {}, "server": server, "test": test, "round": rnd}


def results(rps):
    """rps: {(server, test): [rps of round 0, 1, 2]}; CPU per request is
    1e6 / rps so that it follows the rows."""
    tests = [{"name": "plaintext-keepalive-c64", "endpoint": "plaintext", "path": "/plaintext",
              "pipeline": 1, "conns": 64, "mode": "keepalive"},
             {"name": "json-keepalive-c512", "endpoint": "json", "path": "/json",
              "pipeline": 1, "conns": 512, "mode": "keepalive"}]
    servers = []
    names = ("fasthttp", "nginx", "h2o") + (("floor",) if any(k[0] == "floor" for k in rps) else ())
    for name in names:
        servers.append({"name": name, "label": name,
                        "kind": "reference" if name == "floor" else name, "notes": [],
                        "json_static": name != "fasthttp", "thread_per_conn": False,
                        "command": name, "available": True, "reason": None,
                        "checks": {"plaintext": {"ok": True, "detail": "ok"}},
                        "peak_rss_kib": 8000})
    runs = [run(s, t, i, v, 1e6 / v / 10) for (s, t), vs in rps.items() for i, v in enumerate(vs)]
    return {"version": 1, "started_utc": "20260101T000000Z", "command": "bench/run",
            "machine": {"nproc": 2, "cpu_model": "test", "kernel": "test", "memory": "1 GiB",
                        "os": "test", "hostname_hidden": True, "wrk": "test"},
            "note": "", "settings": {"rounds": 3, "duration_s": 3, "warmup_s": 1, "threads": 2,
                                     "wrk_threads": 2, "conns": [64, 512], "pipeline": 16,
                                     "idle": 0, "idle_note": "", "quick": False, "pin": False,
                                     "sched": "batch", "order": "test", "server_cpus": None,
                                     "client_cpus": None, "scaling_conns": 512,
                                     "scaling_duration_s": 2, "max_minutes": 14.5},
            "tests": tests, "servers": servers, "runs": runs, "idle": {},
            "scaling": {"threads": [], "runs": [], "test": "plaintext-keepalive-c512"},
            "skipped": [], "leftover_pids": [], "elapsed_s": 1.0}


class LostRows(unittest.TestCase):
    def test_lost_row_head_to_head(self):
        r = results({
            ("fasthttp", "plaintext-keepalive-c64"): [120e3, 110e3, 100e3],
            ("nginx", "plaintext-keepalive-c64"): [100e3, 90e3, 80e3],
            ("h2o", "plaintext-keepalive-c64"): [90e3, 85e3, 70e3],
            # Median 90e3 against h2o's 93e3, but ahead of h2o in rounds 0
            # and 2 (112 > 107, 79 > 74).
            ("fasthttp", "json-keepalive-c512"): [112e3, 90e3, 79e3],
            ("nginx", "json-keepalive-c512"): [103e3, 88e3, 76e3],
            ("h2o", "json-keepalive-c512"): [107e3, 93e3, 74e3],
        })
        s = report.summarize(r)
        self.assertEqual(len(s["lost"]), 1)
        x = s["lost"][0]
        self.assertEqual(x["test"], "json-keepalive-c512")
        self.assertEqual(x["winner"], "h2o")
        self.assertEqual((x["ours"], x["theirs"]), (90e3, 93e3))
        self.assertEqual((x["rounds_won"], x["rounds_paired"]), (2, 3))
        self.assertEqual(x["ours_range"], (79e3, 112e3))
        self.assertEqual(x["theirs_range"], (74e3, 107e3))
        self.assertAlmostEqual(x["ours_cpu"], 1e6 / 90e3 / 10)
        text = report.render(r, s, {})
        self.assertIn("### Where fasthttp is not first", text)
        self.assertIn("h2o 93,000/s against 90,000/s (0.97×); fasthttp had more in 2 of the 3 "
                      "rounds, its runs ranging 79,000–112,000/s against 74,000–107,000/s; "
                      "server CPU 1.11 against 1.08 µs/request", text)

    def test_rounds_paired_only_when_both_ran(self):
        r = results({
            ("fasthttp", "plaintext-keepalive-c64"): [100e3, 100e3, 100e3],
            ("nginx", "plaintext-keepalive-c64"): [110e3, 90e3, 120e3],
            ("h2o", "plaintext-keepalive-c64"): [50e3, 50e3, 50e3],
            ("fasthttp", "json-keepalive-c512"): [100e3, 100e3, 100e3],
            ("nginx", "json-keepalive-c512"): [90e3, 90e3, 90e3],
            ("h2o", "json-keepalive-c512"): [90e3, 90e3, 90e3],
        })
        # nginx's round 1 failed: two rounds are paired, fasthttp won none.
        for x in r["runs"]:
            if x["server"] == "nginx" and x["test"] == "plaintext-keepalive-c64" and x["round"] == 1:
                x["ok"] = False
                x["reason"] = "wrong answer"
        s = report.summarize(r)
        self.assertEqual([x["test"] for x in s["lost"]], ["plaintext-keepalive-c64"])
        x = s["lost"][0]
        self.assertEqual((x["rounds_won"], x["rounds_paired"]), (0, 2))
        self.assertEqual(x["theirs"], 115e3)

    def test_first_everywhere(self):
        r = results({(s, t): [v, v, v]
                     for t in ("plaintext-keepalive-c64", "json-keepalive-c512")
                     for s, v in (("fasthttp", 100e3), ("nginx", 90e3), ("h2o", 80e3))})
        s = report.summarize(r)
        self.assertEqual(s["lost"], [])
        self.assertIn("Nowhere in this run: fasthttp has the most requests per second on "
                      "every test.", report.render(r, s, {}))


class Floor(unittest.TestCase):
    """The reference row: shown, never the winner of a row, measured against."""

    def rows(self):
        return results({
            ("fasthttp", "plaintext-keepalive-c64"): [100e3, 100e3, 100e3],
            ("nginx", "plaintext-keepalive-c64"): [95e3, 95e3, 95e3],
            ("h2o", "plaintext-keepalive-c64"): [90e3, 90e3, 90e3],
            ("floor", "plaintext-keepalive-c64"): [125e3, 125e3, 125e3],
            ("fasthttp", "json-keepalive-c512"): [90e3, 90e3, 90e3],
            ("nginx", "json-keepalive-c512"): [96e3, 96e3, 96e3],
            ("h2o", "json-keepalive-c512"): [80e3, 80e3, 80e3],
            ("floor", "json-keepalive-c512"): [100e3, 100e3, 100e3],
        })

    def test_floor_is_not_ranked(self):
        s = report.summarize(self.rows())
        # Ahead of every peer on plaintext though under the floor; behind nginx on JSON.
        self.assertEqual([(x["test"], x["winner"]) for x in s["lost"]],
                         [("json-keepalive-c512", "nginx")])

    def test_shares_of_the_floor(self):
        s = report.summarize(self.rows())
        p, j = s["floor"]["plaintext-keepalive-c64"], s["floor"]["json-keepalive-c512"]
        self.assertEqual((p["floor"], p["floor_rps"], p["peer"]), ("floor", 125e3, "nginx"))
        self.assertAlmostEqual(p["ours"], 0.8)
        self.assertAlmostEqual(p["peer_ratio"], 0.76)
        self.assertAlmostEqual(j["ours"], 0.9)
        self.assertAlmostEqual(j["peer_ratio"], 0.96)
        self.assertAlmostEqual(p["floor_cpu"], 1e6 / 125e3 / 10)

    def test_report_shows_the_floor(self):
        r = self.rows()
        r["idle"] = {n: {"target": 10, "alive": 10, "bytes_per_conn": 500.0}
                     for n in ("fasthttp", "nginx", "h2o", "floor")}
        s = report.summarize(r)
        text = report.render(r, s, {})
        self.assertIn("### Against the floor", text)
        self.assertIn("| plaintext, keep-alive, 64 conns | 125,000 | 80% | nginx 76% | 0.80 | 1.00 |",
                      text)
        self.assertIn("nginx 96,000/s against 90,000/s (0.94×)", text)
        self.assertIn("; the floor had 100,000/s (fasthttp 90% of it, nginx 96%)", text)
        self.assertIn("The floor had the most requests per second on every row.", text)
        memory = text.split("### Memory", 1)[1].split("###", 1)[0]
        self.assertIn("| fasthttp |", memory)
        self.assertNotIn("| floor |", memory)

    def test_rows_where_the_floor_is_beaten(self):
        r = self.rows()
        for x in r["runs"]:
            if x["test"] == "json-keepalive-c512" and x["server"] in ("nginx", "fasthttp"):
                x["rps"] += 20e3  # nginx 116e3, fasthttp 110e3: both above the floor's 100e3
        s = report.summarize(r)
        self.assertEqual(s["floor"]["json-keepalive-c512"]["floor_beaten"], ["nginx", "fasthttp"])
        self.assertEqual(s["floor"]["plaintext-keepalive-c64"]["floor_beaten"], [])
        self.assertIn("On 1 of the 2 rows a server had more requests per second than the floor, "
                      "which does less work per request than any of them: there the differences "
                      "between servers are within this run's noise (JSON, keep-alive, 512 conns: "
                      "nginx, fasthttp).", report.render(r, s, {}))

    def test_no_floor_no_section(self):
        r = results({(s, t): [v, v, v]
                     for t in ("plaintext-keepalive-c64", "json-keepalive-c512")
                     for s, v in (("fasthttp", 100e3), ("nginx", 90e3), ("h2o", 80e3))})
        s = report.summarize(r)
        self.assertEqual(s["floor"], {})
        self.assertNotIn("Against the floor", report.render(r, s, {}))


if __name__ == "__main__":
    unittest.main(verbosity=2)
