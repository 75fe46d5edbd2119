#!/usr/bin/python3
"""bench_target.py - the "npu-small simulator" section of BENCHMARKS.md:
simulator latency (`nnport run M.nnb`) against ONNX Runtime on the same QDQ
file at 1 thread, per model.  Timings are reported, never checked.

Runs scripts/target_eval.py --speed (or reads its --json output with
--from-json) and replaces only the text between the two marker lines
below in BENCHMARKS.md (appending the section when the markers are
missing); the rest of the file (scripts/bench.py's) is left as it is.

  scripts/bench_target.py [--nnport build/nnport] [--repeat 10] [--from-json FILE[,FILE]] [--median]
                          [--note TEXT] [--out BENCHMARKS.md] [KEY...]

With several --from-json files (rounds of target_eval.py on a shared
machine), --median reports per model the median of the rounds' simulator
and ORT figures (ratio = their quotient) instead of the last round's.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEGIN = "<!-- bench_target.py begin -->"
END = "<!-- bench_target.py end -->"


def section(rows, repeat, note=""):
    lines = [BEGIN, "## npu-small simulator vs ONNX Runtime (same QDQ file)", "",
             "Written by scripts/bench_target.py (runs scripts/target_eval.py --speed). QDQ models from"
             " `nnport quantize --calibration-method METHOD --samples 8` (METHOD per row below), compiled with"
             " `nnport compile QDQ.onnx --target npu-small`.",
             "Simulator: median over %d processes of the time `nnport run M.nnb` prints for"
             " `nn_target_sim_run` alone (one cold run per process, arena first touched inside it;"
             " file load, .npy read and write excluded; `nnport run` has no repeat option)."
             " ORT: `node scripts/ort_run.js QDQ.onnx --bench 20 --threads 1` (median, 3 warm-up runs)."
             " ratio = simulator / ORT (target <= 1.5)." % repeat
             + (" Each figure is the median over rounds of that, taken one after another on the shared machine (rounds: %s)."
                % ", ".join("%s %d" % (r["model"], r.get("rounds", 1)) for r in rows if "sim_ms" in r)
                if any(r.get("rounds", 1) > 1 for r in rows) else ""), "",
             "| model | input | simulator | ORT 1 thread (QDQ) | ratio |", "|---|---|---:|---:|---:|"]
    for r in rows:
        if "sim_ms" in r:
            lines.append("| %s | %s | %.2f ms | %.2f ms | %.2f |" % (r["model"], r["input"], r["sim_ms"], r["ort_ms"], r["ratio"]))
    if note:
        lines += ["", note]
    lines += ["", "Calibration per row: " + ", ".join("%s %s" % (r["model"], r.get("method", "minmax")) for r in rows) + ".",
              "", END]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("keys", nargs="*")
    ap.add_argument("--nnport", default=os.path.join(ROOT, "build", "nnport"))
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--from-json", default="")
    ap.add_argument("--median", action="store_true", help="median over the --from-json rounds per model")
    ap.add_argument("--note", default="", help="a sentence added under the table (e.g. the machine's load)")
    ap.add_argument("--out", default=os.path.join(ROOT, "BENCHMARKS.md"))
    a = ap.parse_args()
    src = a.from_json
    if not src:
        src = "/tmp/bench_target.json"
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "target_eval.py"), "--speed", "--repeat", str(a.repeat),
                        "--nnport", a.nnport, "--json", src] + a.keys, check=True)
    rows, seen, rounds = [], {}, {}
    for f in src.split(","):  # several files: a later row of the same model replaces an earlier one
        for r in json.load(open(f)):
            if "sim_ms" in r:
                rounds.setdefault(r["model"], []).append(r)
            if r["model"] in seen:
                rows[seen[r["model"]]] = r
            else:
                seen[r["model"]] = len(rows)
                rows.append(r)
    if a.median:
        for i, r in enumerate(rows):
            rs = rounds.get(r["model"], [])
            if len(rs) > 1:
                r = dict(r, sim_ms=statistics.median(x["sim_ms"] for x in rs), ort_ms=statistics.median(x["ort_ms"] for x in rs))
                r["ratio"] = r["sim_ms"] / r["ort_ms"]
                r["rounds"] = len(rs)
                rows[i] = r
    text = open(a.out).read() if os.path.exists(a.out) else "# Benchmarks\n"
    new = section(rows, a.repeat, a.note)
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + new + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + new + "\n"
    with open(a.out + ".tmp", "w") as f:
        f.write(text)
    os.replace(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
