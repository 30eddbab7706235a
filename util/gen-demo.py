#!/usr/bin/env python3
"""Writes demo pre-check runs: one directory per run, named by its UUID,
holding health-check reports as a backend would leave them.

usage: gen-demo.py DIR [--rows N]
"""
import argparse
import json
import os
import random
import uuid

RUNS = [
    ("6f1c2b9e-4d3a-4c55-9a0e-1b2c3d4e5f60", "nightly pre-check, all green"),
    ("0b7e4a12-9c8d-4e6f-a1b2-c3d4e5f60718", "upgrade pre-check, 3 failures"),
    ("c2d9e8f7-1a2b-4c3d-8e9f-a0b1c2d3e4f5", "pre-check with a damaged report"),
]

CHECKS = ["dns-resolution", "ntp-sync", "disk-usage", "certificate-expiry",
          "service-health", "password-expiry", "backup-status",
          "storage-latency", "cluster-quorum"]
SEVERITY = ["INFO", "WARNING", "CRITICAL"]


def host(i):
    return {"name": "esxi-%02d.lab.example" % i,
            "ip": "10.0.%d.%d" % (i // 200, i % 200 + 10),
            "cluster": "cl-%d" % (i % 3)}


def results(rng, nrows, failing):
    rows = []
    for i in range(nrows):
        check = CHECKS[i % len(CHECKS)]
        bad = i in failing
        rows.append({
            "checkId": "%s-%04d" % (check, i),
            "check": check,
            "host": host(i % 24),
            "status": "FAILED" if bad else "PASSED",
            "severity": "CRITICAL" if bad else rng.choice(SEVERITY[:2]),
            "latencyMs": round(rng.uniform(0.4, 250.0), 3),
            "score": rng.randint(0, 100),
            "message": ("check failed, see remediation, \"%s\"" % check
                        if bad else "ok"),
            "remediation": ("=HYPERLINK(\"kb/%s\")" % check) if bad else None,
            "tags": ["pre-check", check.split("-")[0]],
            "checkedAt": "2026-11-22T16:%02d:%02dZ" % (i // 60 % 60, i % 60),
        })
    return rows


def write_run(base, run_id, title, nrows, seed):
    rng = random.Random(seed)
    d = os.path.join(base, run_id)
    os.makedirs(d, exist_ok=True)
    failing = set(rng.sample(range(nrows), 3)) if "failures" in title else set()
    rows = results(rng, nrows, failing)

    with open(os.path.join(d, "host-checks.json"), "w") as f:
        json.dump(rows, f, indent=1, ensure_ascii=False)

    summary = {"runId": run_id, "title": title,
               "startedAt": "2026-11-22T16:00:00Z",
               "totals": {"checks": nrows, "failed": len(failing)},
               "findings": [r for r in rows if r["status"] == "FAILED"]
               or [{"check": "all", "status": "PASSED", "host": None}]}
    with open(os.path.join(d, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2, ensure_ascii=False)

    with open(os.path.join(d, "services.ndjson"), "w") as f:
        for i in range(nrows // 3 + 1):
            f.write(json.dumps({"service": "svc-%d" % i, "node": host(i),
                                "state": rng.choice(["running", "degraded"]),
                                "uptimeSeconds": rng.randint(1, 10**7),
                                "note": "Zürich – 東京 ✓"},
                               ensure_ascii=False) + "\n")

    with open(os.path.join(d, "README.txt"), "w") as f:
        f.write("not a report: the export leaves this file out\n")

    if "damaged" in title:
        with open(os.path.join(d, "vsan-health.json"), "w") as f:
            f.write('{"cluster": "cl-0", "disks": [{"id": 1, "ok": true},'
                    ' {"id": 2, "ok": tru')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--rows", type=int, default=200)
    a = ap.parse_args()
    for n, (run_id, title) in enumerate(RUNS):
        write_run(a.dir, run_id, title, a.rows, n)
        print(run_id, "-", title)


if __name__ == "__main__":
    main()
