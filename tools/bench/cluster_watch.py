#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""cluster_watch.py - timings of a sluice cluster, read from etcd itself.

Used by tools/bench/cluster.sh. Talks to etcd's v3 gRPC-JSON gateway
(urllib, the standard library) and watches PREFIX members/, where every
node's member record says which revision of PREFIX config it runs.

  cluster_watch.py changes ENDPOINT SLUICECTL ENDPOINTS N FILE_A FILE_B NODES
      N changes, alternately FILE_A and FILE_B, each applied with
      `SLUICECTL --cluster ENDPOINTS apply`; for each, the time from the
      apply's start and from its return (the commit) until the member
      records of all NODES (comma-separated names) say they run it.
      Prints one JSON object.

  cluster_watch.py gone ENDPOINT NODE START_NS TIMEOUT_S
      Waits until NODE's member record is deleted (its lease expired)
      and prints the milliseconds since START_NS (Unix time in ns, as
      `date +%s%N` gives it) as JSON.

A member record is written by the node after it applied a revision, so
these times include that write and the watch's delivery: an upper bound
of the node's own change-to-applied time.
"""

import base64
import json
import subprocess
import sys
import threading
import time
import urllib.request

PREFIX = "/sluice/"


def b64(s):
    return base64.b64encode(s.encode()).decode()


def prefix_end(p):
    b = bytearray(p.encode())
    b[-1] += 1
    return base64.b64encode(bytes(b)).decode()


def post(endpoint, path, body, timeout=5):
    req = urllib.request.Request(
        endpoint + path, data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"})
    return urllib.request.urlopen(req, timeout=timeout)


class Members:
    """The member records, kept current by a watch thread."""

    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.lock = threading.Condition()
        self.running = {}  # node -> (revision, Unix ns when seen)
        self.gone = {}     # node -> Unix ns of the delete
        start = self._read()
        self.thread = threading.Thread(target=self._watch, args=(start,),
                                       daemon=True)
        self.thread.start()

    def _read(self):
        p = PREFIX + "members/"
        with post(self.endpoint, "/v3/kv/range",
                  {"key": b64(p), "range_end": prefix_end(p)}) as r:
            doc = json.load(r)
        now = time.time_ns()
        for kv in doc.get("kvs", []):
            self._put(kv, now)
        return int(doc["header"]["revision"]) + 1

    def _put(self, kv, now):
        rec = json.loads(base64.b64decode(kv.get("value", "")) or b"{}")
        node = rec.get("node")
        if node is not None:
            self.running[node] = (int(rec.get("running", 0)), now)

    def _watch(self, start):
        p = PREFIX + "members/"
        body = {"create_request": {"key": b64(p), "range_end": prefix_end(p),
                                   "start_revision": str(start)}}
        with post(self.endpoint, "/v3/watch", body, timeout=3600) as r:
            for line in r:
                now = time.time_ns()
                res = json.loads(line).get("result", {})
                with self.lock:
                    for ev in res.get("events", []):
                        kv = ev["kv"]
                        if ev.get("type") == "DELETE":
                            node = base64.b64decode(kv["key"]).decode()
                            node = node[len(p):]
                            self.running.pop(node, None)
                            self.gone[node] = now
                        else:
                            self._put(kv, now)
                    self.lock.notify_all()

    def wait(self, pred, timeout):
        deadline = time.monotonic() + timeout
        with self.lock:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.lock.wait(left)
        return True


def changes(endpoint, sluicectl, endpoints, n, file_a, file_b, nodes):
    nodes = nodes.split(",")
    m = Members(endpoint)
    rows = []
    for i in range(int(n)):
        f = file_a if i % 2 == 0 else file_b
        t_start = time.time_ns()
        out = subprocess.run([sluicectl, "--cluster", endpoints, "apply", f],
                             capture_output=True, text=True, check=True)
        t_commit = time.time_ns()
        rev = int(out.stdout.strip().rsplit(" ", 1)[1])
        ok = m.wait(lambda: all(m.running.get(x, (0, 0))[0] >= rev
                                for x in nodes), 10)
        if not ok:
            print(json.dumps({"error": f"revision {rev} not run by all of "
                              f"{nodes} in 10 s", "running": m.running}))
            return 1
        t_done = max(m.running[x][1] for x in nodes)
        rows.append({"revision": rev,
                     "from_apply_ms": (t_done - t_start) / 1e6,
                     "from_commit_ms": max(0, t_done - t_commit) / 1e6,
                     "apply_ms": (t_commit - t_start) / 1e6})
        time.sleep(0.05)
    print(json.dumps({"changes": rows}))
    return 0


def gone(endpoint, node, start_ns, timeout):
    m = Members(endpoint)
    ok = m.wait(lambda: node in m.gone or node not in m.running,
                float(timeout))
    if not ok:
        print(json.dumps({"error": f"{node} still a member"}))
        return 1
    t = m.gone.get(node, time.time_ns())
    print(json.dumps({"gone_ms": (t - int(start_ns)) / 1e6}))
    return 0


def main(argv):
    if len(argv) >= 2 and argv[1] == "changes" and len(argv) == 9:
        return changes(*argv[2:])
    if len(argv) >= 2 and argv[1] == "gone" and len(argv) == 6:
        return gone(*argv[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
