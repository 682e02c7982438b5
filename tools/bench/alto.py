#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""alto.py - the numbers of tools/bench/alto.sh from its logs.

    alto.py --logs DIR --out DIR --scale S ...   analyse a run
    alto.py --record alto.json --md alto.md      add a line to the log

Everything is in model time: real seconds / time scale, real rates x
time scale. Per point (arm, rate, seed) the warm-up requests (the first
`warmup` indices of sluicegen's --times file) are dropped; of the
measured ones: completed, aborted, unfinished (neither within the
drain, sluicegen's "lost"); achieved load = completed /
(last completion - first send); median and P99 of the completed
requests' latency (question sent -> result END), P99 only from at least
--p99-min completions. Ratios are per seed (the arms of a seed saw the
same arrivals and questions) and summarised as mean and a 95% interval
(Student's t over seeds).
"""
import argparse
import datetime
import json
import math
import os
import re
import sys

TARGET_S = 4.0  # ALTO's latency target, model seconds

# ALTO (Santhanam, Raghavan et al., EuroMLSys '24), read off the paper
# (notes: docs/research/alto_guardrails.md, "[F]" figure readings).
ALTO = {
    "low_load_median_s": {"streaming": 1.9, "buffered": 2.3},
    "low_load_p99_s": {"streaming": 7.3, "buffered": 13.5},
    "rate_at_target": {"streaming": 17.8, "buffered": 5.9},
    "table1_ms_per_output_at_15": {"qa": 1292.3, "claim": 403.6,
                                   "query": 326.6},
    "fig5_rps_per_gpu": {"qa": 11.7, "claims": 8.0, "queries": 26.0},
    # Fig. 3a points (achieved req/s, median s) for the plot.
    "fig3a": {"streaming": [(1.0, 1.9), (17.8, 4.0), (20.7, 5.2),
                            (23.6, 8.4)],
              "buffered": [(1.0, 2.3), (5.9, 3.6), (6.1, 8.0)]},
}

# Two-sided 95% Student t quantiles by degrees of freedom.
T95 = [None, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306,
       2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131]


def ci95(values):
    """{mean, ci95, n, values}; ci95 is the half width (None below 2)."""
    v = [x for x in values if x is not None]
    if not v:
        return {"mean": None, "ci95": None, "n": 0, "values": values}
    mean = sum(v) / len(v)
    half = None
    if len(v) > 1:
        sd = math.sqrt(sum((x - mean) ** 2 for x in v) / (len(v) - 1))
        t = T95[len(v) - 1] if len(v) - 1 < len(T95) else 1.96
        half = t * sd / math.sqrt(len(v))
    return {"mean": round(mean, 4), "ci95": None if half is None else
            round(half, 4), "n": len(v), "values": values}


def percentile(sorted_v, p):
    """Nearest rank."""
    if not sorted_v:
        return None
    k = max(0, math.ceil(p / 100.0 * len(sorted_v)) - 1)
    return sorted_v[k]


def read_point(logs, pt, p99_min):
    scale = pt["scale"]
    path = os.path.join(logs, pt["dir"], "times")
    lat, sends, dones = [], [], []
    n = aborted = lost = 0
    reasons = {}
    with open(path) as f:
        for line in f:
            idx, _due, sent, _first, done, flags = line.rstrip("\n").split("\t")
            if int(idx) < pt["warmup"]:
                continue
            n += 1
            sent, done = int(sent), int(done)
            if sent:
                sends.append(sent)
            if flags == "ok":
                lat.append((done - sent) / 1e6 / scale)
                dones.append(done)
            elif flags.startswith("aborted"):
                aborted += 1
                r = flags.split(":", 1)[1] if ":" in flags else "UNKNOWN"
                reasons[r] = reasons.get(r, 0) + 1
            else:
                lost += 1  # not done within the drain: unfinished
    lat.sort()
    achieved = 0.0
    if dones and sends and max(dones) > min(sends):
        span = (max(dones) - min(sends)) / 1e6 / scale
        achieved = len(dones) / span
    gen = json.load(open(os.path.join(logs, pt["dir"], "gen.json")))
    p = {
        "arm": pt["arm"], "rate": pt["rate"], "seed": pt["seed"],
        "dir": pt["dir"],
        "scale": scale, "requests": n, "warmup": pt["warmup"],
        "completed": len(lat), "aborted": aborted,
        "aborted_by_reason": reasons, "unfinished": lost,
        "duplicated": gen.get("duplicated", 0),
        "misordered": gen.get("misordered", 0),
        "corrupted": gen.get("corrupted", 0),
        "achieved_rps": round(achieved, 4),
        "p50_s": round(percentile(lat, 50), 4) if lat else None,
        "p99_s": round(percentile(lat, 99), 4)
        if lat and len(lat) >= p99_min else None,
        "mean_s": round(sum(lat) / len(lat), 4) if lat else None,
    }
    p["shown"] = p["completed"] > 0 and achieved >= 0.8 * pt["rate"]
    return p


def crossing(points):
    """Load where the median crosses the target: interpolated linearly
    between consecutive shown points in offered order ("interpolated").
    Where the arm collapses first (a shown point under the target, then
    one not shown: achieved under 80% of offered, requests refused), the
    highest shown load under the target ("collapse": a lower bound).
    Returns (load, how) or (None, why)."""
    pts = sorted(points, key=lambda p: p["rate"])
    for a, b in zip(pts, pts[1:]):
        if not a["shown"] or a["p50_s"] > TARGET_S:
            continue
        if b["shown"] and b["p50_s"] > TARGET_S:
            f = (TARGET_S - a["p50_s"]) / (b["p50_s"] - a["p50_s"])
            return (a["achieved_rps"] +
                    f * (b["achieved_rps"] - a["achieved_rps"]), "interpolated")
        if not b["shown"]:
            return a["achieved_rps"], "collapse"
    shown = [p for p in pts if p["shown"]]
    if not shown:
        return None, "no point shown"
    if all(p["p50_s"] > TARGET_S for p in shown):
        return None, "over the target at every shown point"
    return None, "not reached"


def engines_table1(logs, pt):
    """Per-output times (model ms) from the engines' stats of a point:
    QA per answer, claim extraction per claim, query generation per
    query (an LM job's time from its input's END to its output's END,
    divided by the lines it wrote)."""
    eng = json.load(open(os.path.join(logs, pt["dir"], "engines.json")))
    out = {}
    for role, key, per_line in (("answer", "qa", False),
                                ("claims", "claim", True),
                                ("queries", "query", True)):
        ms = served = lines = 0.0
        for e in eng:
            if e.get("role") != role:
                continue
            n = e.get("requests_served", 0)
            ms += e.get("output_ms_mean", 0.0) * n
            served += n
            lines += e.get("lines_out", 0)
        div = lines if per_line else served
        out[key] = round(ms / div / pt["scale"], 1) if div else None
    return out


def rel_err(ours, alto):
    if ours is None or not alto:
        return None
    return round((ours - alto) / alto, 4)


def constants(readme):
    """The engine README's constants tables: option -> {default, source}."""
    rows = {}
    head = None
    for line in open(readme):
        line = line.rstrip("\n")
        if not line.startswith("|"):
            head = None
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if head is None:
            head = cells
            continue
        if set(line) <= set("|-: "):
            continue
        if len(head) == 3 and head[1] == "default":
            rows[cells[0].replace("`", "")] = {"default": cells[1],
                                               "source": cells[2]}
    return rows


def analyse(a):
    pts_meta = [json.loads(l) for l in open(os.path.join(a.logs, "points.jsonl"))]
    main = [p for p in pts_meta if not p["dir"].startswith("check-")]
    checks = [p for p in pts_meta if p["dir"].startswith("check-")]
    pts = [read_point(a.logs, p, a.p99_min) for p in main]
    arms = []
    for p in pts:
        if p["arm"] not in arms:
            arms.append(p["arm"])
    seeds = sorted({p["seed"] for p in pts})
    rates = sorted({p["rate"] for p in pts})
    low = rates[0] if rates else None

    # alto.csv: every point of every seed.
    with open(os.path.join(a.out, "alto.csv"), "w") as f:
        f.write("arm,seed,offered_rps,achieved_rps,requests,completed,"
                "aborted,unfinished,p50_s,p99_s,shown\n")
        for p in pts:
            f.write("%s,%d,%g,%.4f,%d,%d,%d,%d,%s,%s,%d\n" % (
                p["arm"], p["seed"], p["rate"], p["achieved_rps"],
                p["requests"], p["completed"], p["aborted"], p["unfinished"],
                "" if p["p50_s"] is None else p["p50_s"],
                "" if p["p99_s"] is None else p["p99_s"], p["shown"]))

    by_key = {(p["arm"], p["rate"], p["seed"]): p for p in pts}

    def get(arm, rate, seed):
        return by_key.get((arm, rate, seed))

    # Each arm's crossing per seed, once: (load, how).
    cross = {(arm, s): crossing([p for p in pts if p["arm"] == arm and
                                 p["seed"] == s])
             for arm in arms for s in seeds}

    # alto-summary.csv: per arm and rate, over the seeds where shown.
    with open(os.path.join(a.out, "alto-summary.csv"), "w") as f:
        f.write("arm,offered_rps,seeds_shown,achieved_rps,p50_s,p50_lo,"
                "p50_hi,p99_s,p99_lo,p99_hi\n")
        for arm in arms:
            for r in rates:
                sp = [get(arm, r, s) for s in seeds]
                sp = [p for p in sp if p is not None and p["shown"]]
                if len(sp) < len(seeds) or not sp:
                    continue
                ach = ci95([p["achieved_rps"] for p in sp])["mean"]
                c50 = ci95([p["p50_s"] for p in sp])
                c99 = ci95([p["p99_s"] for p in sp])
                row = [arm, "%g" % r, str(len(sp)), "%.4f" % ach]
                for c in (c50, c99):
                    if c["mean"] is None:
                        row += ["", "", ""]
                    else:
                        h = c["ci95"] or 0.0
                        row += ["%.4f" % c["mean"], "%.4f" % (c["mean"] - h),
                                "%.4f" % (c["mean"] + h)]
                f.write(",".join(row) + "\n")

    out = {"commit": a.commit, "machine": a.machine,
           "date": datetime.datetime.now(datetime.timezone.utc)
           .strftime("%Y-%m-%dT%H:%M:%SZ"),
           "quick": bool(a.quick), "time_scale": a.scale,
           "prefix_cache": a.prefix_cache, "lm_args": a.lm_args.strip(),
           "target_s": TARGET_S, "rates_model_rps": rates, "seeds": seeds,
           "p99_min_samples": a.p99_min, "elapsed_s": a.elapsed,
           "units": "model time: seconds and requests/s"}
    per_arm = {}
    for arm in arms:
        per_arm[arm] = {
            "rate_at_target": ci95([cross[arm, s][0] for s in seeds]),
            "rate_at_target_how": [cross[arm, s][1] for s in seeds],
            "low_load_p50_s": ci95([(get(arm, low, s) or {}).get("p50_s")
                                    for s in seeds]),
            "low_load_p99_s": ci95([(get(arm, low, s) or {}).get("p99_s")
                                    for s in seeds]),
            "points": [p for p in pts if p["arm"] == arm],
        }
    out["arms"] = per_arm

    def ratios(num_arm, den_arm):
        """num vs den: throughput = crossing(num)/crossing(den); latency
        ratios = den/num at the lowest rate (> 1: num is faster)."""
        if num_arm not in per_arm or den_arm not in per_arm:
            return None
        thr, p99, p50 = [], [], []
        for s in seeds:
            cn, cd = cross[num_arm, s][0], cross[den_arm, s][0]
            thr.append(cn / cd if cn and cd else None)
            n, d = get(num_arm, low, s), get(den_arm, low, s)
            p99.append(d["p99_s"] / n["p99_s"] if n and d and n["p99_s"]
                       and d["p99_s"] else None)
            p50.append(d["p50_s"] / n["p50_s"] if n and d and n["p50_s"]
                       and d["p50_s"] else None)
        return {"throughput_ratio_at_target": ci95(thr),
                "p99_ratio_low_load": ci95(p99),
                "median_ratio_low_load": ci95(p50)}

    sb = ratios("streaming", "buffered")
    if sb:
        out.update(sb)
    out["sentences_vs_buffered"] = ratios("sentences", "buffered")
    out["sentences_vs_streaming"] = ratios("sentences", "streaming")
    for v in ("hash", "buffered-hash", "buffered-serial"):
        if v in per_arm:
            out["%s_vs_buffered" % v.replace("-", "_")] = ratios(v, "buffered")
    if "hash" in per_arm and "buffered-hash" in per_arm:
        out["hash_vs_buffered_hash"] = ratios("hash", "buffered-hash")

    # Identical results: every arm's dump against buffered's, per seed at
    # the lowest rate (the final result of a request must not depend on
    # how its edges stream). The sentence arm's claims differ by design.
    ident = {}
    for arm in arms:
        if arm == "buffered" or arm == "sentences" or "buffered" not in arms:
            continue
        same = diff = ok = 0
        for s in seeds:
            pa, pb = get(arm, low, s), get("buffered", low, s)
            if not pa or not pb:
                continue
            la = open(os.path.join(a.logs, pa["dir"], "dump"),
                      "rb").read().split(b"\n")
            lb = open(os.path.join(a.logs, pb["dir"], "dump"),
                      "rb").read().split(b"\n")
            for x, y in zip(la, lb):
                if b"\tok\t" not in x or b"\tok\t" not in y:
                    continue
                ok += 1
                if x == y:
                    same += 1
                else:
                    diff += 1
        ident[arm] = {"both_ok": ok, "identical": same, "differ": diff}
    out["identical_results_vs_buffered"] = ident

    # Validation against ALTO, with the relative error.
    val = {}
    st = per_arm.get("streaming")
    bu = per_arm.get("buffered")
    for name, arm, key, alto in (
            ("low_load_median_s_streaming", st, "low_load_p50_s",
             ALTO["low_load_median_s"]["streaming"]),
            ("low_load_median_s_buffered", bu, "low_load_p50_s",
             ALTO["low_load_median_s"]["buffered"]),
            ("low_load_p99_s_streaming", st, "low_load_p99_s",
             ALTO["low_load_p99_s"]["streaming"]),
            ("low_load_p99_s_buffered", bu, "low_load_p99_s",
             ALTO["low_load_p99_s"]["buffered"]),
            ("rate_at_target_streaming", st, "rate_at_target",
             ALTO["rate_at_target"]["streaming"]),
            ("rate_at_target_buffered", bu, "rate_at_target",
             ALTO["rate_at_target"]["buffered"])):
        ours = arm[key]["mean"] if arm else None
        val[name] = {"ours": ours, "alto": alto, "rel_err": rel_err(ours, alto)}
    val["low_load_rate"] = low
    # Table 1 at 15 requests/s: the streaming arm's engines, per seed.
    t1 = [engines_table1(a.logs, p) for p in main
          if p["arm"] == "streaming" and p["rate"] == 15]
    for key in ("qa", "claim", "query"):
        c = ci95([t.get(key) for t in t1])
        alto = ALTO["table1_ms_per_output_at_15"][key]
        val["table1_%s_ms_at_15" % key] = {
            "ours": c["mean"], "ci95": c["ci95"], "alto": alto,
            "rel_err": rel_err(c["mean"], alto)}
    try:
        cap = json.load(open(a.lm_capacity))
        for key in ("qa", "claims", "queries"):
            ours = cap["prompts"][key]["mean"]
            alto = ALTO["fig5_rps_per_gpu"][key]
            val["fig5_%s_rps" % key] = {"ours": ours, "alto": alto,
                                       "rel_err": rel_err(ours, alto)}
    except (OSError, ValueError, KeyError):
        pass
    out["validation"] = val

    # The overhead check: the same point at scale 1 and at the run's.
    if checks:
        cp = {c["scale"]: read_point(a.logs, c, 0) for c in checks}
        one, used = cp.get(1) or cp.get(1.0), cp.get(a.scale)
        ratio = None
        if one and used and one["p50_s"] and used["p50_s"]:
            ratio = used["p50_s"] / one["p50_s"]
        out["overhead_check"] = {
            "rate": checks[0]["rate"], "requests": checks[0]["measured"],
            "p50_s_scale_1": one and one["p50_s"],
            "p50_s_scale_used": used and used["p50_s"],
            "achieved_scale_1": one and one["achieved_rps"],
            "achieved_scale_used": used and used["achieved_rps"],
            "p50_ratio": None if ratio is None else round(ratio, 4),
            "pass": ratio is not None and abs(ratio - 1) <= 0.10,
        }
    out["constants"] = {
        "engine": constants(a.engine_readme),
        "pipeline": {"claims_prefix_tokens": a.claims_prefix,
                     "prefix_cache_slots": a.prefix_cache,
                     "queries_prefix_tokens": a.queries_prefix,
                     "max_wait_ms": a.max_wait_ms,
                     "source": "tools/bench/factcheck.sh"}}
    out["alto_reference"] = ALTO
    with open(os.path.join(a.out, "alto.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    # ALTO's Fig. 3a points for the plot.
    with open(os.path.join(a.out, "alto-paper.csv"), "w") as f:
        f.write("arm,achieved_rps,p50_s\n")
        for arm, xs in ALTO["fig3a"].items():
            for x, y in xs:
                f.write("%s,%g,%g\n" % (arm, x, y))
    report(out)


def fmt(c, unit=""):
    if c is None or c.get("mean") is None:
        return "-"
    if c.get("ci95") is None:
        return "%.3g%s" % (c["mean"], unit)
    return "%.3g ± %.2g%s" % (c["mean"], c["ci95"], unit)


def report(o):
    print("ALTO on sluice (%s, time scale %g, prefix cache %d, %d s; model"
          " time):" % ("quick" if o["quick"] else "full", o["time_scale"],
                       o["prefix_cache"], o["elapsed_s"]))
    for arm, d in o["arms"].items():
        print("  %-16s 4 s crossing %s req/s (%s); low load (%g req/s) median"
              " %s, P99 %s" % (arm, fmt(d["rate_at_target"]),
                              ", ".join(d["rate_at_target_how"]),
                           o["rates_model_rps"][0], fmt(d["low_load_p50_s"], " s"),
                           fmt(d["low_load_p99_s"], " s")))
    for name, key in (("streaming vs buffered", None),
                      ("sentences vs buffered", "sentences_vs_buffered")):
        r = o if key is None else o.get(key)
        if not r or "throughput_ratio_at_target" not in r:
            continue
        print("  %s: throughput at target %s, P99 at low load %s, median"
              " at low load %s" % (name, fmt(r["throughput_ratio_at_target"]),
                                   fmt(r["p99_ratio_low_load"]),
                                   fmt(r["median_ratio_low_load"])))
    for arm, d in o["identical_results_vs_buffered"].items():
        print("  %s vs buffered: %d of %d results identical" % (
            arm, d["identical"], d["both_ok"]))
    print("  validation (ours / ALTO, relative error):")
    for k, v in o["validation"].items():
        if isinstance(v, dict):
            print("    %-34s %s / %s  %s" % (
                k, "-" if v["ours"] is None else "%.4g" % v["ours"], v["alto"],
                "-" if v["rel_err"] is None else "%+.0f%%" % (100 * v["rel_err"])))
    oc = o.get("overhead_check")
    if oc:
        print("  overhead check at %g req/s: median %s s at scale 1, %s s at"
              " %g (ratio %s): %s" % (oc["rate"], oc["p50_s_scale_1"],
                                      oc["p50_s_scale_used"], o["time_scale"],
                                      oc["p50_ratio"],
                                      "pass" if oc["pass"] else "FAIL"))


def record(a):
    r = json.load(open(a.record))
    new = not os.path.exists(a.md)
    sb = r.get("throughput_ratio_at_target")
    se = r.get("sentences_vs_buffered") or {}
    run = " ".join(r["arms"].keys())
    if r.get("prefix_cache"):
        run += ", prefix cache %d" % r["prefix_cache"]
    if r.get("lm_args"):
        run += ", LM: %s" % r["lm_args"]
    row = "| %s | %s | %s | %s | %g | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n" % (
        r["date"], r["commit"], r["machine"], run, r["time_scale"],
        ",".join(str(s) for s in r["seeds"]),
        fmt(r["arms"].get("streaming", {}).get("rate_at_target")),
        fmt(r["arms"].get("buffered", {}).get("rate_at_target")),
        fmt(sb), fmt(r.get("p99_ratio_low_load")),
        fmt(r.get("median_ratio_low_load")),
        fmt(se.get("p99_ratio_low_load")), fmt(se.get("median_ratio_low_load")),
        "-" if not r.get("overhead_check") else
        "pass" if r["overhead_check"]["pass"] else "fail",
        r["elapsed_s"])
    head = ("| date | commit | machine | arms | time scale | seeds | streaming 4 s "
            "crossing | buffered 4 s crossing | throughput ratio s/b | P99 "
            "ratio s/b low load | median ratio s/b low load | P99 ratio "
            "sentences/b | median ratio sentences/b | overhead check | run s |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    text = "" if new else open(a.md).read()
    with open(a.md, "a") as f:
        if new:
            f.write("# ALTO benchmark log\n\nWritten by tools/bench/alto.sh "
                    "(see tools/bench/README.md, ALTO section).\n")
        if head not in text:
            f.write("\n## Three arms, several seeds (issue 9 harness)\n\n"
                    "One line per full run. Model time (requests/s, ratios); "
                    "mean ± 95% interval over the seeds; ratios s/b are "
                    "streaming against buffered (throughput: crossing load "
                    "ratio; latency: buffered / streaming at the lowest "
                    "rate).\n\n" + head)
        f.write(row)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--logs")
    ap.add_argument("--out")
    ap.add_argument("--scale", type=float)
    ap.add_argument("--commit", default="unknown")
    ap.add_argument("--machine", default="unknown")
    ap.add_argument("--elapsed", type=int, default=0)
    ap.add_argument("--p99-min", type=int, default=1000)
    ap.add_argument("--quick", type=int, default=0)
    ap.add_argument("--check", type=int, default=1)
    ap.add_argument("--engine-readme")
    ap.add_argument("--lm-capacity")
    ap.add_argument("--prefix-cache", type=int, default=0)
    ap.add_argument("--lm-args", default="")
    ap.add_argument("--claims-prefix", type=int)
    ap.add_argument("--queries-prefix", type=int)
    ap.add_argument("--max-wait-ms", type=int)
    ap.add_argument("--record")
    ap.add_argument("--md")
    a = ap.parse_args()
    if a.record:
        record(a)
    else:
        analyse(a)


if __name__ == "__main__":
    sys.exit(main())
