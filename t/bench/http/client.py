#!/usr/bin/env python3
"""Helpers of t/bench/http.sh that wrk does not cover.

  client.py mkruns DIR N IDS_FILE [--family HEX]
      makes N run directories under DIR, each holding one tiny report,
      named by fresh random UUIDs, and writes the ids to IDS_FILE.  With
      --family, run K is named FAMILY-0000-4000-8000-K (K in 12 hex
      digits): cycle.lua can then make each name from K ("uuid:" runs)
      instead of holding them all.

  client.py bulk PORT METHOD PREFIX IDS_FILE [--conns N] [--want W]
                 [--pending FILE]
      sends METHOD PREFIX<id>/exports for every id over N keep-alive
      connections to 127.0.0.1:PORT, pipelined in batches, and prints a
      JSON summary: HTTP status and task "status" counts.  The ids whose
      answer is not in W (a comma-separated list of HTTP codes and task
      statuses; "202" for POST, "COMPLETED" for GET by default) are
      written to FILE.

  client.py park PORT PATH N
      opens N connections and sends GET PATH on each (a ?wait=N long poll),
      then reads commands on stdin, one a line, and answers each on stdout:
        stat   -> "answered=K parked=N"   (K connections got an answer)
        wait S -> waits up to S seconds for all N answers, then as stat,
                  plus "last_ms=T": ms from the command to the last answer
        quit
"""

import json
import os
import re
import selectors
import socket
import sys
import threading
import time
import uuid

HOST = "127.0.0.1"
TINY = b'[{"check":"ntp-sync","host":{"name":"esxi-01"},"status":"PASSED"}]\n'
STATUS_RE = re.compile(rb'"status":"([A-Z_]+)"')


def run_name(family, k):
    return "%08x-0000-4000-8000-%012x" % (family, k)


def mkruns(base, n, ids_file, family=None):
    os.makedirs(base, exist_ok=True)
    if family is None:
        ids = [str(uuid.uuid4()) for _ in range(n)]
    else:
        ids = [run_name(family, k) for k in range(n)]
    for run in ids:
        d = os.path.join(base, run)
        os.mkdir(d)
        with open(os.path.join(d, "r.json"), "wb") as f:
            f.write(TINY)
    with open(ids_file, "w") as f:
        f.write("\n".join(ids) + "\n")


class Reader:
    """Reads HTTP/1.1 responses (Content-Length bodies) from a socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise ConnectionError("connection closed by the server")
        self.buf += data

    def response(self):
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            self._fill()
        head = self.buf[:end].decode("latin-1")
        status = int(head.split(" ", 2)[1])
        m = re.search(r"(?im)^content-length:\s*(\d+)", head)
        length = int(m.group(1)) if m else 0
        while len(self.buf) < end + 4 + length:
            self._fill()
        body = self.buf[end + 4:end + 4 + length]
        self.buf = self.buf[end + 4 + length:]
        return status, body


def bulk_worker(port, method, prefix, ids, batch, out):
    sock = socket.create_connection((HOST, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    reader = Reader(sock)
    for i in range(0, len(ids), batch):
        part = ids[i:i + batch]
        req = b"".join(
            ("%s %s%s/exports HTTP/1.1\r\nHost: bench\r\n"
             "Content-Length: 0\r\n\r\n" % (method, prefix, run)).encode()
            for run in part)
        sock.sendall(req)
        for run in part:
            status, body = reader.response()
            m = STATUS_RE.search(body)
            out.append((run, status, m.group(1).decode() if m else "-"))
    sock.close()


def bulk(argv):
    port, method, prefix, ids_file = int(argv[0]), argv[1], argv[2], argv[3]
    opts = dict(zip(argv[4::2], argv[5::2]))
    conns = int(opts.get("--conns", "8"))
    want = opts.get("--want",
                    "202" if method == "POST" else "COMPLETED").split(",")
    with open(ids_file) as f:
        ids = [line.strip() for line in f if line.strip()]

    results = []
    threads = []
    t0 = time.time()
    for k in range(conns):
        out = []
        results.append(out)
        t = threading.Thread(target=bulk_worker,
                             args=(port, method, prefix, ids[k::conns], 64,
                                   out))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    elapsed = time.time() - t0

    counts = {}
    pending = []
    n = 0
    for out in results:
        for run, status, state in out:
            n += 1
            key = "%d %s" % (status, state)
            counts[key] = counts.get(key, 0) + 1
            if str(status) not in want and state not in want:
                pending.append(run)
    if "--pending" in opts:
        with open(opts["--pending"], "w") as f:
            f.write("".join(run + "\n" for run in pending))
    print(json.dumps({"requests": n, "seconds": round(elapsed, 2),
                      "rps": round(n / elapsed) if elapsed else 0,
                      "pending": len(pending), "answers": counts}))
    return 0 if n == len(ids) else 1


def park(argv):
    port, path, n = int(argv[0]), argv[1], int(argv[2])
    sel = selectors.DefaultSelector()
    answered = set()
    req = ("GET %s HTTP/1.1\r\nHost: bench\r\n\r\n" % path).encode()
    socks = []
    for i in range(n):
        s = socket.create_connection((HOST, port))
        s.sendall(req)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
        socks.append(s)

    def poll(timeout):
        for key, _ in sel.select(timeout):
            try:
                data = key.fileobj.recv(65536)
            except OSError:
                data = b""
            answered.add(key.data)
            if not data:
                sel.unregister(key.fileobj)

    def stat():
        return "answered=%d parked=%d" % (len(answered), n)

    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "stat":
            poll(0)
            print(stat(), flush=True)
        elif cmd[0] == "wait":
            t0 = time.time()
            deadline = t0 + float(cmd[1])
            last = None
            while len(answered) < n and time.time() < deadline:
                before = len(answered)
                poll(0.01)
                if len(answered) > before:
                    last = time.time()
            last_ms = -1 if last is None else round((last - t0) * 1000)
            print("%s last_ms=%d" % (stat(), last_ms), flush=True)
        elif cmd[0] == "quit":
            break
    for s in socks:
        s.close()
    return 0


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, argv = sys.argv[1], sys.argv[2:]
    if cmd == "mkruns":
        family = None
        if len(argv) == 5 and argv[3] == "--family":
            family = int(argv[4], 16)
        mkruns(argv[0], int(argv[1]), argv[2], family)
        return 0
    if cmd == "bulk":
        return bulk(argv)
    if cmd == "park":
        return park(argv)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
