#!/usr/bin/env python3
"""What the lease costs the store, from the counts of syscalls.py and the
times of beat.c (t/bench/cluster.sh, figure C3).

  scale.py A.json B.json POST.json NPOST LOOKUP.json NLOOKUP TIMES

A.json: node A's workers for some seconds while A builds one export
(its heartbeat: the "claim" read and the "beat" write of each beat);
B.json: node B's workers over the same seconds, B following that one
export (its worker 0 reads claim, metadata and heartbeat every second);
both: export.changes, read by each node's worker 0 every second.
POST.json: node A's workers during NPOST POSTs of new runs (the claim,
the lock, the .task file); LOOKUP.json: node B's workers during the
first GETs of NLOOKUP runs (claim and metadata).  TIMES: a file of beat.c
lines "fs op wall_us cpu_us p50_us p99_us".

Prints the counts per operation, and the store's operations per second
for a cluster of N nodes, each with BUILDS running builds (the example
configuration's export_thread_pool has 2 threads), N = 10 and 100:

  every build:   one heartbeat a second (claim read, beat written);
  every node:    one read of export.changes a second;
  a follower:    every node follows each build of another node that it
                 answered a request for, until it ends, at most 256
                 (NGX_HTTP_EXPORT_WATCH_MAX) a second: claim, metadata
                 and heartbeat read.  Behind a round-robin front every
                 node ends up following every build; behind "hash
                 $run_id consistent" the node that builds a run is the
                 one its requests go to, and no node follows.

Lines "KEY VALUE [DETAIL]" come first, for cluster.sh; the rest is text.
"""

import json
import sys

BUILDS = 2
WATCH_MAX = 256
META = ("openat", "close", "fstat", "newfstatat", "stat", "flock", "fchmod",
        "rename", "unlink", "fsync")


def load(path):
    with open(path) as f:
        d = json.load(f)
    return d["kinds"], d["seconds"]


def calls(kinds, names):
    out = {}
    for n in names:
        for c, v in kinds.get(n, {}).get("calls", {}).items():
            out[c] = out.get(c, 0) + v
    return out


def nbytes(kinds, names):
    return sum(kinds.get(n, {}).get("read", 0)
               + kinds.get(n, {}).get("written", 0) for n in names)


def per(d, n):
    return {k: v / n for k, v in d.items()}


def total(d):
    return sum(d.values())


def meta_ops(d):
    return sum(v for k, v in d.items() if k in META)


def text(d):
    return ", ".join("%s %.3g" % (k, v) for k, v in sorted(d.items()))


def main():
    (a, secs_a), (b, secs_b) = load(sys.argv[1]), load(sys.argv[2])
    post, npost = load(sys.argv[3])[0], int(sys.argv[4])
    lookup, nlookup = load(sys.argv[5])[0], int(sys.argv[6])
    times = {}
    with open(sys.argv[7]) as f:
        for line in f:
            p = line.split()
            if len(p) == 6:
                times[(p[0], p[1])] = [float(x) for x in p[2:]]

    beats = a.get("beat", {}).get("renames", 0)
    if beats == 0:
        print("no heartbeat was written in the trace", file=sys.stderr)
        return 1

    beat = per(calls(a, ["claim", "beat"]), beats)
    beat_bytes = nbytes(a, ["claim", "beat"]) / beats
    follow = per(calls(b, ["claim", "meta", "beat"]), secs_b)
    follow_bytes = nbytes(b, ["claim", "meta", "beat"]) / secs_b
    token = per(calls(b, ["changes"]), secs_b)
    token_a = per(calls(a, ["changes"]), secs_a)
    posting = per(calls(post, ["claim", "lock", "task", "changes"]), npost)
    looking = per(calls(lookup, ["claim", "meta", "beat"]), nlookup)

    lines = []
    key = lambda k, v, d="": lines.append("%s %s %s" % (k, v, d))
    key("beats", beats, "in %.1f s" % secs_a)
    key("beats_per_s", "%.2f" % (beats / secs_a))
    key("beat_calls_per_s", "%.1f" % total(beat),
        "%s; %.2f beats a second" % (text(beat), beats / secs_a))
    key("beat_meta_per_s", "%.1f" % meta_ops(beat))
    key("beat_bytes_per_s", "%.0f" % beat_bytes)
    key("follow_calls_per_s", "%.1f" % total(follow), text(follow))
    key("follow_meta_per_s", "%.1f" % meta_ops(follow))
    key("follow_bytes_per_s", "%.0f" % follow_bytes)
    key("token_calls_per_s", "%.1f" % total(token), text(token))
    key("token_calls_per_s_a", "%.1f" % total(token_a), text(token_a))
    key("post_calls", "%.1f" % total(posting), text(posting))
    key("post_meta", "%.1f" % meta_ops(posting))
    key("lookup_calls", "%.1f" % total(looking), text(looking))
    key("lookup_meta", "%.1f" % meta_ops(looking))

    rows = []
    for n in (1, 2, 10, 100):
        builds = BUILDS * n
        followed = min(BUILDS * (n - 1), WATCH_MAX)
        base = builds * total(beat) + n * total(token)
        base_meta = builds * meta_ops(beat) + n * meta_ops(token)
        rr = base + n * followed * total(follow)
        rr_meta = base_meta + n * followed * meta_ops(follow)
        rr_bytes = builds * beat_bytes + n * followed * follow_bytes
        fw = times.get(("disk", "follow"), [0])[0]
        key("ops_rr_%d" % n, "%.0f" % rr,
            "meta %.0f, %.0f B/s, %d builds, %d followed a node, "
            "upkeep %.1f ms a second on the local disk"
            % (rr_meta, rr_bytes, builds, followed, followed * fw / 1000))
        key("ops_hash_%d" % n, "%.0f" % base,
            "meta %.0f, %.0f B/s" % (base_meta, builds * beat_bytes))
        rows.append((n, builds, followed, base, base_meta, rr, rr_meta))

    print("\n".join(lines))
    print()
    print("per heartbeat (one a second per running build), system calls:"
          " %s; %.0f bytes" % (text(beat), beat_bytes))
    print("per followed build of another node, a second: %s; %.0f bytes"
          % (text(follow), follow_bytes))
    print("per node, a second (export.changes): %s" % text(token))
    print("per POST of a new run (claim, lock): %s" % text(posting))
    print("per first lookup of a finished export: %s" % text(looking))
    print()
    print("store operations a second (system calls on store files; "
          "\"meta\": all but read and write), %d builds a node:" % BUILDS)
    print("%6s %7s %9s %14s %12s %16s %14s" % (
        "nodes", "builds", "followed", "hash: calls", "hash: meta",
        "round-robin: calls", "rr: meta"))
    for n, builds, followed, base, base_meta, rr, rr_meta in rows:
        print("%6d %7d %9d %14.0f %12.0f %16.0f %14.0f" % (
            n, builds, followed, base, base_meta, rr, rr_meta))
    if times:
        print()
        print("beat.c, us per operation (wall, CPU, p50, p99):")
        for (fs, op), v in sorted(times.items()):
            print("  %-6s %-7s %8.1f %8.1f %8.1f %8.1f" % ((fs, op) + tuple(v)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
