#!/usr/bin/env python3
"""The system calls that nginx workers made on the files of an export
store, from a trace of

    strace -f -y -ttt -e trace=openat,read,write,close,... -p PID ...

  syscalls.py STORE TRACE [WINDOW [SKIP]]

WINDOW: a file "T0 T1" (seconds since the epoch): only the calls that
began in that window count.  Prints one JSON object: "seconds", the
window's length, and for each kind of store file, the calls by name and
the bytes read and written:

  claim    export-RUN.claim
  beat     export-RUN.beat, and the heartbeat's temporary file
           .export-TASK.PID.N.part until it is renamed (the claim's and
           export.changes' temporary files have the same form: a .part
           renamed over a claim or export.changes counts there)
  meta     export-RUN-TASK.json and its temporary file
  lock     export-RUN.lock
  task     export-TASK.task
  changes  export.changes
  archive  export-RUN-TASK.zip and its temporary file .export-TASK.N.tmp
  other    anything else under STORE

Calls on files outside the store (the reports, sockets) are left out.
"renames" counts the renames into each kind (one per beat for "beat").
"""

import json
import re
import sys

LINE = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(.*)$")
CALL = re.compile(r"^(\w+)\((.*)\)\s+=\s+(-?\d+)")
UNFINISHED = re.compile(r"^(\w+)\((.*)\s+<unfinished \.\.\.>$")
RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>(.*)\)\s+=\s+(-?\d+)")


def kind_of(path, store):
    if not path.startswith(store + "/"):
        return None
    name = path[len(store) + 1:]
    if "/" in name:
        return "other"
    if name == "export.changes":
        return "changes"
    if name.endswith(".claim"):
        return "claim"
    if name.endswith(".beat"):
        return "beat"
    if name.endswith(".lock"):
        return "lock"
    if name.endswith(".task"):
        return "task"
    if name.endswith(".zip") or name.endswith(".tmp"):
        return "archive"
    if name.endswith(".json") or name.endswith(".meta"):
        return "meta"
    if name.startswith(".export-") and name.endswith(".part"):
        return "part"
    return "other"


def paths(args):
    """Paths in a call's arguments: "..." strings and fd annotations."""
    out = re.findall(r'"(/[^"]*)"', args)
    out += re.findall(r"\d+<(/[^>]*)>", args)
    return out


def main():
    store, trace = sys.argv[1].rstrip("/"), sys.argv[2]
    t0, t1 = 0.0, float("inf")
    if len(sys.argv) > 3:
        with open(sys.argv[3]) as f:
            t0, t1 = (float(x) for x in f.read().split())
    skip = sys.argv[4] if len(sys.argv) > 4 else None
    kinds = {}
    pending = {}     # pid -> (name, args) of an unfinished call
    part_of = {}     # .part path -> kind it was renamed into

    def add(kind, name, ret):
        k = kinds.setdefault(kind, {"calls": {}, "read": 0, "written": 0,
                                    "renames": 0, "failed": 0})
        k["calls"][name] = k["calls"].get(name, 0) + 1
        if ret < 0:
            k["failed"] += 1
        elif name == "read":
            k["read"] += ret
        elif name == "write":
            k["written"] += ret

    events = []
    with open(trace, errors="replace") as f:
        for line in f:
            m = LINE.match(line.rstrip("\n"))
            if not m:
                continue
            pid, ts, rest = m.group(1), float(m.group(2)), m.group(3)
            u = UNFINISHED.match(rest)
            if u:
                pending[pid] = (u.group(1), u.group(2), ts)
                continue
            r = RESUMED.match(rest)
            if r:
                name, args, ts = pending.pop(pid, (r.group(1), "", ts))
                if not t0 <= ts <= t1:
                    continue
                events.append((name, args + r.group(2), int(r.group(3)),
                               rest))
                continue
            c = CALL.match(rest)
            if c and t0 <= ts <= t1:
                events.append((c.group(1), c.group(2), int(c.group(3)),
                               rest))

    # the temporary files: the kind of what each one was renamed into
    for name, args, ret, rest in events:
        if name == "rename":
            p = re.findall(r'"(/[^"]*)"', args)
            if len(p) == 2 and kind_of(p[1], store):
                part_of[p[0]] = p[1]

    for name, args, ret, rest in events:
        ps = [p for p in paths(args) if p.startswith(store + "/")]
        if name == "openat" and ret >= 0:
            ps += [p for p in re.findall(r"<(/[^>]*)>", rest.split("=")[-1])
                   if p.startswith(store + "/")]
        if not ps:
            continue
        p = ps[0]
        if name == "rename" and len(ps) == 2:
            p = ps[1]
        # a temporary file is of the kind of what it was renamed into
        p = part_of.get(p, p)
        if skip and skip in p:
            continue
        k = kind_of(p, store)
        add(k, name, ret)
        if name == "rename" and ret == 0:
            kinds[k]["renames"] += 1

    out = {"seconds": (t1 - t0) if t1 != float("inf") else 0,
           "kinds": kinds}
    print(json.dumps(out, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
