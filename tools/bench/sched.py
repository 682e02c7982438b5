#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""sched.py - the numbers of tools/bench/sched.sh from its logs.

    sched.py --logs DIR --out DIR ...               analyse a run
    sched.py --record sched.json --md sched.md      add a line to the log
    sched.py --trace-rate CSV --trace-start SEC --rows N
                                                    the rate of N trace rows

alto.py's method, imported from it (read_point, crossing, ci95): model
time; per point the warm-up dropped, achieved load, median and P99 (P99
from --p99-min completions); a point shown where achieved >= 80% of
offered; per workload, arm and seed the 4 s crossing; ratios per seed
against the pinned arm (same arrivals and prompts), mean and 95%
interval. Moderate load: the highest rate of the workload's grid at or
under half of pinned's mean 4 s crossing (where pinned has none: of its
crossing of twice its median at the lowest rate; else the lowest rate);
the P99 there.
"""
import argparse
import datetime
import json
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import alto  # noqa: E402  (the same directory)

ci95 = alto.ci95
TARGET_S = alto.TARGET_S
BASELINE = "pinned"
POLICIES = ("round_robin", "least_outstanding", "prompt_aware")
LM_ROLES = ("answer", "claims", "queries", "pool")


def trace_time(s):
    """Seconds of a trace TIMESTAMP (the loader's format, UTC)."""
    s = s.strip()
    date, _, clock = s.replace("T", " ").partition(" ")
    clock = re.sub(r"(Z|[+-]\d\d:\d\d)$", "", clock)
    d = datetime.datetime.strptime(date, "%Y-%m-%d")
    h, m, sec = clock.split(":")
    return (d - datetime.datetime(1970, 1, 1)).total_seconds() + \
        int(h) * 3600 + int(m) * 60 + float(sec)


def trace_rate(path, start, rows):
    """Rows per trace second over the @rows rows from the first at or
    after @start seconds: (rows - 1) / (last - first), as sluicegen's
    trace_rps."""
    times = []
    with open(path, encoding="utf-8-sig") as f:
        next(f)
        for line in f:
            if line.strip():
                times.append(trace_time(line.split(",", 1)[0]))
    t0 = times[0]
    first = next(i for i, t in enumerate(times) if t - t0 >= start)
    seg = times[first:first + rows]
    if len(seg) < 2 or seg[-1] <= seg[0]:
        raise SystemExit("sched.py: the trace has too few rows after %g s"
                         % start)
    return (len(seg) - 1) / (seg[-1] - seg[0])


def crossing_at(points, target):
    """alto.crossing at @target seconds instead of alto.TARGET_S."""
    saved = alto.TARGET_S
    alto.TARGET_S = target
    try:
        return alto.crossing(points)
    finally:
        alto.TARGET_S = saved


def lm_summary(logs, pt):
    """The LM instances of a point from their stats: prefix cache, what
    each served and how busy it was."""
    try:
        eng = json.load(open(os.path.join(logs, pt["dir"], "engines.json")))
    except (OSError, ValueError):
        return None
    lm = [e for e in eng if e.get("role") in LM_ROLES]
    lm.sort(key=lambda e: e.get("name", ""))
    out = {"instances": [e.get("name") for e in lm]}
    for key in ("lm_prefix_hits", "lm_prefix_misses", "lm_prefix_evictions",
                "lm_prompt_tokens", "lm_preemptions", "requests_served"):
        out[key] = sum(e.get(key, 0) for e in lm)
    out["served_per_instance"] = [e.get("requests_served", 0) for e in lm]
    out["busy_s_per_instance"] = [round(e.get("busy_ms", 0.0) / 1000.0 /
                                        pt["scale"], 1) for e in lm]
    # A pool member's stages: what it served of each.
    per_stage = {}
    for e in lm:
        for sid, st in (e.get("stages") or {}).items():
            d = per_stage.setdefault(st["role"], {"served": [], "evictions": 0,
                                                   "hits": 0, "misses": 0})
            d["served"].append(st.get("requests_served", 0))
            d["evictions"] += st.get("prefix_evictions", 0)
            d["hits"] += st.get("prefix_hits", 0)
            d["misses"] += st.get("prefix_misses", 0)
    if per_stage:
        out["per_role"] = per_stage
    return out


def pool_costs(path):
    """cost_ms and warm_saving_ms of the LM stages in a pool file."""
    costs = {}
    for line in open(path):
        m = re.search(r"name: (\w+), pool: \w+, cost_ms: (\d+), "
                      r"warm_saving_ms: (\d+)", line)
        if m:
            costs[m.group(1)] = {"cost_ms": int(m.group(2)),
                                 "warm_saving_ms": int(m.group(3))}
    return costs


def dumps_identical(logs, pa, pb):
    """Results with the same bytes in two points' dumps."""
    same = diff = ok = 0
    la = open(os.path.join(logs, pa["dir"], "dump"), "rb").read().split(b"\n")
    lb = open(os.path.join(logs, pb["dir"], "dump"), "rb").read().split(b"\n")
    for x, y in zip(la, lb):
        if b"\tok\t" not in x or b"\tok\t" not in y:
            continue
        ok += 1
        if x == y:
            same += 1
        else:
            diff += 1
    return ok, same, diff


def analyse(a):
    meta = [json.loads(l) for l in open(os.path.join(a.logs, "points.jsonl"))]
    pts = []
    for m in meta:
        p = alto.read_point(a.logs, m, a.p99_min)
        p["workload"] = m["workload"]
        p["offered_rps"] = m["offered"]
        gen = json.load(open(os.path.join(a.logs, m["dir"], "gen.json")))
        if "trace" in gen:
            p["trace"] = {k: gen["trace"].get(k) for k in (
                "first_row", "rows", "speedup", "trace_rps", "sent_rps",
                "send_lag_max_ms", "context_tokens", "max_tokens",
                "result_tokens")}
        p["lm"] = lm_summary(a.logs, m)
        pts.append(p)

    with open(os.path.join(a.out, "sched.csv"), "w") as f:
        f.write("workload,arm,seed,offered_rps,achieved_rps,requests,"
                "completed,aborted,unfinished,p50_s,p99_s,shown\n")
        for p in pts:
            f.write("%s,%s,%d,%g,%.4f,%d,%d,%d,%d,%s,%s,%d\n" % (
                p["workload"], p["arm"], p["seed"], p["rate"],
                p["achieved_rps"], p["requests"], p["completed"],
                p["aborted"], p["unfinished"],
                "" if p["p50_s"] is None else p["p50_s"],
                "" if p["p99_s"] is None else p["p99_s"], p["shown"]))

    out = {"commit": a.commit, "machine": a.machine,
           "date": datetime.datetime.now(datetime.timezone.utc)
           .strftime("%Y-%m-%dT%H:%M:%SZ"),
           "quick": bool(a.quick),
           "prefix_cache": a.prefix_cache, "lm_args": a.lm_args.strip(),
           "target_s": TARGET_S, "p99_min_samples": a.p99_min,
           "elapsed_s": a.elapsed, "lm_instances": 7, "note": a.note,
           "units": "model time: seconds and requests/s",
           "workloads": {}}
    costs = {w: pool_costs(f) for w, f in
             (x.split("=", 1) for x in a.pool_config)}
    for w in sorted({p["workload"] for p in pts},
                    key=lambda x: ("squad", "azure").index(x)):
        wp = [p for p in pts if p["workload"] == w]
        arms = []
        for p in wp:
            if p["arm"] not in arms:
                arms.append(p["arm"])
        seeds = sorted({p["seed"] for p in wp})
        rates = sorted({p["rate"] for p in wp})
        by = {(p["arm"], p["rate"], p["seed"]): p for p in wp}
        cross = {(arm, s): alto.crossing([p for p in wp if p["arm"] == arm
                                          and p["seed"] == s])
                 for arm in arms for s in seeds}
        base = ci95([cross[BASELINE, s][0] for s in seeds]) \
            if BASELINE in arms else {"mean": None}
        # A target the trace can be held to: twice pinned's median at the
        # lowest rate (ALTO's 4 s is 2.1x its low-load median, 1.9 s), per
        # seed, the same for every arm.
        rel_target = {s: 2 * by[BASELINE, rates[0], s]["p50_s"]
                      if (BASELINE, rates[0], s) in by and
                      by[BASELINE, rates[0], s]["p50_s"] else None
                      for s in seeds}
        rel = {(arm, s): crossing_at([p for p in wp if p["arm"] == arm and
                                      p["seed"] == s], rel_target[s])
               if rel_target[s] else (None, "no pinned median")
               for arm in arms for s in seeds}
        # Moderate: half of pinned's throughput at the 4 s target; where
        # pinned never meets 4 s (the trace), at twice its low median.
        moderate = rates[0]
        rule = "lowest rate (pinned has no crossing)"
        ref, ref_name = base["mean"], "4 s crossing"
        if not ref and BASELINE in arms:
            ref = ci95([rel[BASELINE, s][0] for s in seeds])["mean"]
            ref_name = "crossing of 2x its low median"
        if ref:
            under = [r for r in rates if r <= ref / 2]
            if under:
                moderate = under[-1]
                rule = "highest rate <= half of pinned's %s (%.3g)" % (
                    ref_name, ref)
            else:
                rule = "lowest rate (none <= half of pinned's %s)" % ref_name
        low = rates[0]
        wo = {"rates_model_rps": rates, "seeds": seeds,
              "time_scale": wp[0]["scale"],
              "target_2x_low_median_s": [rel_target[s] for s in seeds],
              "moderate_rate": moderate, "moderate_rule": rule, "arms": {}}
        for arm in arms:
            d = {
                "rate_at_target": ci95([cross[arm, s][0] for s in seeds]),
                "rate_at_target_how": [cross[arm, s][1] for s in seeds],
                "rate_at_2x_low_median": ci95([rel[arm, s][0]
                                               for s in seeds]),
                "rate_at_2x_low_median_how": [rel[arm, s][1]
                                              for s in seeds],
                "max_achieved_rps": ci95([max([p["achieved_rps"] for p in wp
                                               if p["arm"] == arm and
                                               p["seed"] == s and p["shown"]]
                                              or [None]) for s in seeds]),
                "p50_moderate_s": ci95([(by.get((arm, moderate, s)) or {})
                                        .get("p50_s") for s in seeds]),
                "p99_moderate_s": ci95([(by.get((arm, moderate, s)) or {})
                                        .get("p99_s") for s in seeds]),
                "lm_moderate": [(by.get((arm, moderate, s)) or {}).get("lm")
                                for s in seeds],
                "points": [p for p in wp if p["arm"] == arm],
            }
            if arm != BASELINE and BASELINE in arms:
                thr, p99, p50, thr2 = [], [], [], []
                for s in seeds:
                    cn, cd = cross[arm, s][0], cross[BASELINE, s][0]
                    thr.append(cn / cd if cn and cd else None)
                    cn, cd = rel[arm, s][0], rel[BASELINE, s][0]
                    thr2.append(cn / cd if cn and cd else None)
                    n = by.get((arm, moderate, s))
                    b = by.get((BASELINE, moderate, s))
                    p99.append(b["p99_s"] / n["p99_s"] if n and b and
                               n["p99_s"] and b["p99_s"] else None)
                    p50.append(b["p50_s"] / n["p50_s"] if n and b and
                               n["p50_s"] and b["p50_s"] else None)
                d["throughput_ratio_vs_pinned"] = ci95(thr)
                d["throughput_ratio_vs_pinned_2x_low_median"] = ci95(thr2)
                d["p99_ratio_vs_pinned_moderate"] = ci95(p99)
                d["median_ratio_vs_pinned_moderate"] = ci95(p50)
                ident = [0, 0, 0]
                for s in seeds:
                    pa, pb = by.get((arm, low, s)), by.get((BASELINE, low, s))
                    if pa and pb:
                        r = dumps_identical(a.logs, pa, pb)
                        ident = [x + y for x, y in zip(ident, r)]
                d["identical_results_vs_pinned"] = {
                    "rate": low, "both_ok": ident[0], "identical": ident[1],
                    "differ": ident[2]}
            wo["arms"][arm] = d
        pa = wo["arms"].get("prompt_aware", {})
        wo["throughput_ratio_vs_pinned"] = pa.get("throughput_ratio_vs_pinned")
        wo["throughput_ratio_vs_pinned_2x_low_median"] = pa.get(
            "throughput_ratio_vs_pinned_2x_low_median")
        wo["p99_ratio_vs_pinned_moderate"] = pa.get(
            "p99_ratio_vs_pinned_moderate")
        wo["pool_costs"] = costs.get(w)
        if w == "azure":
            wo["trace"] = {"file": a.trace, "stride_s": a.trace_stride,
                           "seed_start_s": {str(s): (s - 1) * a.trace_stride
                                            for s in seeds}}
        out["workloads"][w] = wo
    out["constants"] = {
        "engine": alto.constants(a.engine_readme),
        "pipeline": {"claims_prefix_tokens": a.claims_prefix,
                     "queries_prefix_tokens": a.queries_prefix,
                     "prefix_cache_slots": a.prefix_cache,
                     "max_wait_ms": a.max_wait_ms,
                     "files": {"pinned": "tools/pipelines/factcheck-pinned7.yaml",
                               "pool": dict(x.split("=", 1)
                                            for x in a.pool_config)},
                     "source": "tools/bench/factcheck.sh, tools/pipelines/"}}
    with open(os.path.join(a.out, "sched.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    report(out)


fmt = alto.fmt


def report(o):
    print("sched on sluice (%s, prefix cache %d, %d s; model time; 7 LM "
          "instances):" % ("quick" if o["quick"] else "full",
                           o["prefix_cache"], o["elapsed_s"]))
    for w, wo in o["workloads"].items():
        print("  %s (time scale %g; rates %s; moderate %g req/s: %s)" % (
            w, wo["time_scale"],
            ",".join("%g" % r for r in wo["rates_model_rps"]),
            wo["moderate_rate"], wo["moderate_rule"]))
        for arm, d in wo["arms"].items():
            line = "    %-18s 4 s crossing %s req/s (%s); at 2x low median %s " \
                   "(%s); max %s; at %g: median %s, P99 %s" % (
                       arm, fmt(d["rate_at_target"]),
                       ", ".join(d["rate_at_target_how"]),
                       fmt(d["rate_at_2x_low_median"]),
                       ", ".join(d["rate_at_2x_low_median_how"]),
                       fmt(d["max_achieved_rps"]), wo["moderate_rate"],
                       fmt(d["p50_moderate_s"], " s"),
                       fmt(d["p99_moderate_s"], " s"))
            if "throughput_ratio_vs_pinned" in d:
                i = d["identical_results_vs_pinned"]
                line += "; vs pinned: throughput %s (2x low median %s), " \
                        "P99 %s; %d of %d results identical" % (
                            fmt(d["throughput_ratio_vs_pinned"]),
                            fmt(d["throughput_ratio_vs_pinned_2x_low_median"]),
                            fmt(d["p99_ratio_vs_pinned_moderate"]),
                            i["identical"], i["both_ok"])
            print(line)


def record(a):
    r = json.load(open(a.record))
    new = not os.path.exists(a.md)
    cells = []
    for w in ("squad", "azure"):
        wo = r["workloads"].get(w)
        if not wo:
            cells += ["-"] * 5
            continue
        arms = wo["arms"]

        def cross(arm):
            return fmt((arms.get(arm) or {}).get("rate_at_target"))

        def ratio(arm, key="throughput_ratio_vs_pinned"):
            return fmt((arms.get(arm) or {}).get(key))
        rel = "throughput_ratio_vs_pinned_2x_low_median"
        cells += [cross("pinned"), cross("prompt_aware"),
                  "%s / %s / %s (at 2x low median: %s / %s / %s)" % (
                      ratio("round_robin"), ratio("least_outstanding"),
                      ratio("prompt_aware"), ratio("round_robin", rel),
                      ratio("least_outstanding", rel),
                      ratio("prompt_aware", rel)),
                  "%s (%g)" % (ratio("prompt_aware",
                                     "p99_ratio_vs_pinned_moderate"),
                               wo["moderate_rate"]),
                  ",".join("%g" % x for x in wo["rates_model_rps"])]
    row = "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n" % (
        r["date"], r["commit"], r["machine"],
        " / ".join("%s %g" % (w, wo["time_scale"])
                   for w, wo in r["workloads"].items()),
        ",".join(str(s) for s in next(iter(r["workloads"].values()))["seeds"]),
        " | ".join(cells), r["elapsed_s"], a.file or "-",
        r.get("note") or "-")
    head = ("| date | commit | machine | time scale | seeds | squad: pinned "
            "4 s crossing | squad: prompt_aware crossing | squad: throughput "
            "ratio rr / lo / pa vs pinned | squad: P99 ratio pinned/pa "
            "(moderate rate) | squad rates | azure: pinned crossing | azure: "
            "prompt_aware crossing | azure: throughput ratio rr / lo / pa | "
            "azure: P99 ratio pinned/pa (moderate rate) | azure rates | run s "
            "| file | note |\n|" + "---|" * 18 + "\n")
    text = "" if new else open(a.md).read()
    with open(a.md, "a") as f:
        if new:
            f.write("# Scheduling benchmark log\n\nWritten by "
                    "tools/bench/sched.sh (see tools/bench/README.md, "
                    "\"Scheduling\"). One line per full run; model time; mean "
                    "± 95% interval over the seeds; ratios per seed against "
                    "pinned (throughput: 4 s crossing of the arm / pinned's; "
                    "P99: pinned's / the arm's at the moderate rate).\n\n")
        if head not in text:
            f.write(head)
        f.write(row)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--logs")
    ap.add_argument("--out")
    ap.add_argument("--commit", default="unknown")
    ap.add_argument("--machine", default="unknown")
    ap.add_argument("--elapsed", type=int, default=0)
    ap.add_argument("--p99-min", type=int, default=1000)
    ap.add_argument("--quick", type=int, default=0)
    ap.add_argument("--engine-readme")
    ap.add_argument("--prefix-cache", type=int, default=1)
    ap.add_argument("--lm-args", default="")
    ap.add_argument("--trace")
    ap.add_argument("--trace-stride", type=int, default=600)
    ap.add_argument("--claims-prefix", type=int)
    ap.add_argument("--queries-prefix", type=int)
    ap.add_argument("--max-wait-ms", type=int)
    ap.add_argument("--pool-config", action="append", default=[])
    ap.add_argument("--record")
    ap.add_argument("--md")
    ap.add_argument("--file")
    ap.add_argument("--note", default="")
    ap.add_argument("--trace-rate")
    ap.add_argument("--trace-start", type=float, default=0)
    ap.add_argument("--rows", type=int, default=0)
    a = ap.parse_args()
    if a.trace_rate:
        print("%.6g" % trace_rate(a.trace_rate, a.trace_start, a.rows))
    elif a.record:
        record(a)
    else:
        analyse(a)


if __name__ == "__main__":
    sys.exit(main())
