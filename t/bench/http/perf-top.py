#!/usr/bin/env python3
"""Summarises a perf.data of nginx workers recorded by http.sh (BENCH_PERF)
with call graphs: the share of samples in the event loops (the workers'
main threads) and in thread-pool threads, and for the event loops the
functions with the most samples, inclusive (the function or anything it
called) and exclusive (the function itself).

  perf-top.py FILE.data [N] [--threads]

--threads reports the thread-pool threads instead of the event loops.
"""

import collections
import re
import subprocess
import sys


def samples(path):
    out = subprocess.run(
        ["perf", "script", "-i", path, "-F", "pid,tid,ip,sym,dso"],
        capture_output=True, text=True, check=True).stdout
    head = re.compile(r"^\s*(\d+)/(\d+)\s*$")
    pid = tid = None
    stack = []
    for line in out.splitlines():
        m = head.match(line)
        if m:
            pid, tid = int(m.group(1)), int(m.group(2))
            stack = []
            continue
        line = line.strip()
        if not line:
            if pid is not None:
                yield pid, tid, stack
            pid = None
            continue
        parts = line.split(None, 1)
        if len(parts) < 2:
            continue
        sym = parts[1]
        sym = re.sub(r"\+0x[0-9a-f]+", "", sym)
        sym = re.sub(r"\s*\((.*/)?([^/)]*)\)$", r" [\2]", sym)
        stack.append(sym)
    if pid is not None:
        yield pid, tid, stack


def main():
    path = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2].isdigit() \
        else 30
    threads = "--threads" in sys.argv
    total = loop = pool = 0
    incl = collections.Counter()
    excl = collections.Counter()
    for pid, tid, stack in samples(path):
        total += 1
        main_thread = (pid == tid)
        if main_thread:
            loop += 1
        else:
            pool += 1
        if main_thread == threads or not stack:
            continue
        excl[stack[0]] += 1
        for sym in set(stack):
            incl[sym] += 1
    if not total:
        print("no samples")
        return
    print("%d samples: event loops %.1f%%, thread-pool threads %.1f%%"
          % (total, 100.0 * loop / total, 100.0 * pool / total))
    base = pool if threads else loop
    what = "thread-pool threads" if threads else "event loops"
    if not base:
        return
    print("\n%s, inclusive (%% of their samples):" % what)
    for sym, c in incl.most_common(n):
        print("  %5.1f%%  %s" % (100.0 * c / base, sym))
    print("\n%s, exclusive:" % what)
    for sym, c in excl.most_common(n):
        print("  %5.1f%%  %s" % (100.0 * c / base, sym))


if __name__ == "__main__":
    main()
