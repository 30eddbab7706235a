#!/usr/bin/env python3
"""Figure C2 of t/bench/cluster.sh: the first lookup of a finished export
on a node that never saw it.

  firstget.py PORT_B PORT_A PREFIX IDS_FILE STORE

For each run of IDS_FILE (finished on node A, never asked on node B), on
one keep-alive connection to each node, in this order:

  first   GET PREFIX<run>/exports on B: B's zone does not know the run,
          the request waits while a thread of B's store pool reads the
          run's claim and metadata, and runs again;
  second  the same GET on B again: from B's zone;
  owner   the same GET on A.

Every other run is "cold": before its first GET, the pages of its claim
and metadata are dropped from the page cache (fsync, then
posix_fadvise(DONTNEED)); the others are "warm" (A wrote them a moment
ago).  Every answer must be 200 with status COMPLETED.  Prints, in us
(from the request's first byte sent to the answer's last byte read):

  warm-first n=N p50=.. p90=.. p99=.. max=.. mean=..
  cold-first ...
  second ...
  owner ...
"""

import glob
import os
import re
import socket
import sys
import time


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def get(self, path):
        req = ("GET %s HTTP/1.1\r\nHost: bench\r\n\r\n" % path).encode()
        t0 = time.perf_counter_ns()
        self.sock.sendall(req)
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                head = self.buf[:end].decode("latin-1")
                m = re.search(r"(?im)^content-length:\s*(\d+)", head)
                length = int(m.group(1)) if m else 0
                if len(self.buf) >= end + 4 + length:
                    break
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed by the server")
            self.buf += data
        t1 = time.perf_counter_ns()
        body = self.buf[end + 4:end + 4 + length]
        self.buf = self.buf[end + 4 + length:]
        status = int(head.split(" ", 2)[1])
        return (t1 - t0) / 1000.0, status, body


def drop(paths):
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def stats(name, v):
    v = sorted(v)
    n = len(v)
    pct = lambda p: v[min(n - 1, int(p * n / 100))]
    return ("%s n=%d p50=%.0f p90=%.0f p99=%.0f max=%.0f mean=%.0f"
            % (name, n, pct(50), pct(90), pct(99), v[-1], sum(v) / n))


def main():
    port_b, port_a, prefix, ids_file, store = sys.argv[1:6]
    with open(ids_file) as f:
        runs = [line.strip() for line in f if line.strip()]

    b, a = Conn(int(port_b)), Conn(int(port_a))
    out = {"warm-first": [], "cold-first": [], "second": [], "owner": []}

    # one GET on each connection first: the connections are warm
    b.get("/status")
    a.get("/status")

    for i, run in enumerate(runs):
        path = "%s%s/exports" % (prefix, run)
        cold = i % 2 == 1
        if cold:
            files = glob.glob("%s/export-%s.claim" % (store, run))
            files += glob.glob("%s/export-%s-*.json" % (store, run))
            if len(files) != 2:
                print("run %s: %d store files" % (run, len(files)))
                return 1
            drop(files)
        for name, conn in (("cold-first" if cold else "warm-first", b),
                           ("second", b), ("owner", a)):
            us, status, body = conn.get(path)
            if status != 200 or b'"status":"COMPLETED"' not in body:
                print("run %s: %s answered %d %r" % (run, name, status,
                                                     body[:200]))
                return 1
            out[name].append(us)

    for name in ("warm-first", "cold-first", "second", "owner"):
        print(stats(name, out[name]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
