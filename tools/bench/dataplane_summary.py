#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""dataplane_summary.py - issue 11's measurements in one file.

    dataplane_summary.py PATH_JSON WORK RESULTS

PATH_JSON is bench_dataplane's result of this dataplane.sh run (the path
against io-forwarding, per node); WORK holds what dataplane.sh ran after it:
workers-N.json (bench_dataplane --workers N), kernel.path and hop.path (the
result files kernel_relay.sh and hop.sh wrote). Writes
RESULTS/dataplane.json and RESULTS/dataplane-summary-<commit>.json:

    path_over_iofwd     the path's cycles per fragment over DPDK io-fwd's
                        (medians of the rounds of one run)
    node_cycles         per node, profiled rounds
    kernel_relay_ratio  the path's fragments per CPU-second (TSC Hz / path
                        cycles) over the kernel relay's best mode's
    hop_p99_us          p99 of one hop through sluiced at each load level
                        (percent of capacity: "10", "50", "90")
    workers_scaling     per_added_worker: mpps(N) / (N * mpps(1))

each beside its aim; a part that did not run is absent. Prints one line.
"""
import json
import os
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def result_of(work, name):
    """The result file a script said it wrote (its path in WORK/name)."""
    try:
        with open(os.path.join(work, name)) as f:
            path = f.read().strip()
    except OSError:
        return None, None
    return (path, load(path)) if path else (None, None)


def workers(work, out):
    runs = {n: load(os.path.join(work, "workers-%d.json" % n))
            for n in (1, 2, 4)}
    runs = {n: v["workers"] for n, v in runs.items() if v and "workers" in v}
    if not runs:
        return
    mpps = {str(n): w["mpps"] for n, w in runs.items()}
    scaling = {}
    if "1" in mpps:
        for n in ("2", "4"):
            if n in mpps:
                scaling[n] = round(mpps[n] / (int(n) * mpps["1"]), 3)
    cpus = os.cpu_count() or 1
    out["workers_scaling"] = {
        "per_added_worker": scaling,
        "mpps": mpps,
        "spread": {str(n): w.get("spread") for n, w in runs.items()},
        "busy": {str(n): w.get("busy") for n, w in runs.items()},
        "steered": {str(n): w.get("steered") for n, w in runs.items()},
        "cpus": cpus,
        "note": "workers beyond the CPUs share them: with %d CPUs, 4 "
                "workers can show at most %.2f" % (cpus, min(1.0, cpus / 4)),
    }


def kernel(work, out, tsc_hz, path_cycles):
    path, k = result_of(work, "kernel.path")
    if not k:
        return
    modes = {io: run.get("frags_per_cpu_s_median")
             for io, run in k.get("runs", {}).items()}
    best = max(((v, io) for io, v in modes.items() if v), default=None)
    if best is None:
        return
    per_core = tsc_hz / path_cycles
    out["kernel_relay_ratio"] = round(per_core / best[0], 2)
    out["kernel_relay"] = {
        "file": os.path.basename(path),
        "best_io": best[1],
        "frags_per_cpu_s": best[0],
        "path_frags_per_cpu_s": round(per_core),
        "by_io": modes,
    }


def hop(work, out):
    path, h = result_of(work, "hop.path")
    if not h or not h.get("levels"):
        return
    levels = h["levels"]
    out["hop_p99_us"] = {str(l["load_pct"]): l["p99_us"] for l in levels}
    out["hop"] = {
        "file": os.path.basename(path),
        "port": h.get("port"),
        "capacity": h.get("capacity"),
        "p50_us": {str(l["load_pct"]): l.get("p50_us") for l in levels},
        "p9999_us": {str(l["load_pct"]): l.get("p9999_us") for l in levels},
        "added_p99_us": {str(l["load_pct"]): l.get("added_p99_us")
                         for l in levels},
        "lost": sum(l.get("lost", 0) for l in levels),
        "latency": h.get("latency"),
    }


def main():
    if len(sys.argv) != 4:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    path_json, work, results = sys.argv[1:4]
    r = load(path_json)
    if r is None:
        print("dataplane_summary.py: no bench result in " + path_json,
              file=sys.stderr)
        return 1
    m = r["machine"]
    tsc = m["tsc_hz"]
    out = {
        "commit": r["commit"],
        "date": r["date"],
        "machine": "%s, %s cores, %.2f GHz" % (m["cpu"], m["cores"],
                                               tsc / 1e9),
        "path_over_iofwd": r["ratio"],
        "path_cycles": r["path_cycles"],
        "io_fwd_cycles": r["io_fwd_cycles"],
        "node_cycles": r["stage_cycles"],
        "aims": {"path_over_iofwd_max": 3, "kernel_relay_ratio_min": 20,
                 "hop_p99_us_at_50_max": 10, "workers_scaling_min": 0.8},
    }
    workers(work, out)
    kernel(work, out, tsc, r["path_cycles"])
    hop(work, out)
    for name in ("dataplane.json", "dataplane-summary-%s.json" % r["commit"]):
        with open(os.path.join(results, name), "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")
    print("dataplane.sh: path/io-fwd %.2f (aim <= 3); kernel relay ratio %s "
          "(aim >= 20); hop p99 us %s (aim <= 10 at 50%%); scaling per "
          "added worker %s (aim >= 0.8); recorded %s"
          % (out["path_over_iofwd"], out.get("kernel_relay_ratio", "-"),
             out.get("hop_p99_us", "-"),
             out.get("workers_scaling", {}).get("per_added_worker", "-"),
             os.path.join(results, "dataplane.json")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
