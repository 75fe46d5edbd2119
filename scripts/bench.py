#!/usr/bin/python3
"""make bench: our latency and ONNX Runtime's on the same model, input and
machine, in one run; writes BENCHMARKS.md.  Timings are reported, never
checked.

Per model: median latency of `nnport bench` and of `scripts/ort_run.js
--bench` at 1 thread, then 2 threads, and the ratio ours/ORT (lower is
better for us).  The geometric mean of the 1-thread ratios over the CV
models is the figure issue 2 targets (<= 1.5).

Loading: `nnport inspect` on the largest model (ViT-B/16, ~346 MB) against
ONNX Runtime's session creation, and nnport's peak RSS beside the file size.

  scripts/bench.py [--repeat N] [--models a,b,...] [--out BENCHMARKS.md]
"""
import json
import math
import os
import platform
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("NNPORT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "nnport")
BUILD = os.path.join(ROOT, os.environ.get("B") or "build")   # make B=DIR bench passes B
NNPORT = os.path.join(BUILD, "nnport")
ORT_RUN = os.path.join(ROOT, "scripts", "ort_run.js")

# name, manifest key, input data file (relative to $CACHE/data), CV model?
MODELS = [
    ("resnet18", "resnet18_op17", "imagenet/eval/coffee.npy", True),
    ("mobilenet_v2", "mobilenet_v2_op17", "imagenet/eval/coffee.npy", True),
    ("ppocrv4_det", "ppocrv4_det", "ocr_det/eval/doc_receipt.npy", True),
    ("ppocrv4_rec", "ppocrv4_rec", "ocr_rec/eval/line01.npy", True),
    ("ppocr_cls", "ppocr_cls", "ocr_cls/eval/line01_0.npy", True),
    ("vit_ti", "vit_ti_op17", "imagenet/eval/coffee.npy", False),
    ("gpt_char", "gpt_char_op17", None, False),
]


def sh(cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s failed:\n%s%s" % (" ".join(cmd), r.stdout[-1500:], r.stderr[-1500:]))
    return r.stdout


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError("no JSON in output:\n" + text[-500:])


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def gpt_input():
    d = os.path.join(CACHE, "data", "gpt", "eval")
    if os.path.isdir(d):
        files = sorted(f for f in os.listdir(d) if f.endswith(".npy") and "target" not in f)
        if files:
            return os.path.join(d, files[0])
    return None


def main(argv):
    repeat = 20
    only = None
    out = os.path.join(ROOT, "BENCHMARKS.md")
    i = 0
    while i < len(argv):
        if argv[i] == "--repeat":
            repeat = int(argv[i + 1]); i += 2
        elif argv[i] == "--models":
            only = set(argv[i + 1].split(",")); i += 2
        elif argv[i] == "--out":
            out = argv[i + 1]; i += 2
        else:
            print(__doc__); return 2
    manifest = json.load(open(os.path.join(CACHE, "models", "manifest.json")))["entries"]
    rows = []
    print("%-14s %8s %9s %9s %7s %9s %9s %7s" % ("model", "MACs", "ours 1t", "ORT 1t", "ratio", "ours 2t", "ORT 2t", "ratio"))
    for name, key, data, cv in MODELS:
        if only and name not in only:
            continue
        entry = manifest.get(key)
        inp = gpt_input() if data is None else os.path.join(CACHE, "data", data)
        if entry is None or not inp or not os.path.exists(inp):
            print("%-14s missing (run scripts/fetch_models.sh all)" % name)
            continue
        model = os.path.normpath(os.path.join(CACHE, "models", entry["file"]))
        feed = "%s=%s" % (entry["inputs"][0]["name"], inp)
        row = {"model": name, "cv": cv, "file": os.path.basename(model)}
        shape = None
        for t in (1, 2):
            ours = last_json(sh([NNPORT, "bench", model, "--input", feed, "--threads", str(t), "--repeat", str(repeat), "--warmup", "3"]))
            ort = last_json(sh(["node", ORT_RUN, model, "--input", feed, "--threads", str(t), "--bench", str(repeat), "--warmup", "3"]))
            row["ours_%dt" % t] = ours["median_ms"]
            row["ort_%dt" % t] = ort["median_ms"]
            row["ratio_%dt" % t] = ours["median_ms"] / ort["median_ms"]
            if t == 1:
                row["peak_activation_bytes"] = ours.get("peak_activation_bytes")
                row["peak_rss_kib"] = ours.get("peak_rss_kib")
                row["ort_rss_mb"] = ort.get("max_rss_mb")
        # MACs at the bench input's shape.
        import numpy as np
        shape = "x".join(str(d) for d in np.load(inp, mmap_mode="r").shape)
        ins = sh([NNPORT, "inspect", model, "--shape", "%s=%s" % (entry["inputs"][0]["name"], shape)])
        macs = [l.split(":", 1)[1].strip() for l in ins.splitlines() if l.startswith("MACs:")]
        row["macs"] = macs[0] if macs else "?"
        row["input_shape"] = shape
        rows.append(row)
        print("%-14s %8s %8.2fms %8.2fms %7.2f %8.2fms %8.2fms %7.2f" % (
            name, row["macs"], row["ours_1t"], row["ort_1t"], row["ratio_1t"], row["ours_2t"], row["ort_2t"], row["ratio_2t"]))
    cv = [r["ratio_1t"] for r in rows if r["cv"]]
    geo = math.exp(sum(math.log(x) for x in cv) / len(cv)) if cv else float("nan")
    cv2 = [r["ratio_2t"] for r in rows if r["cv"]]
    geo2 = math.exp(sum(math.log(x) for x in cv2) / len(cv2)) if cv2 else float("nan")
    print("geometric-mean ratio over CV models: %.2f at 1 thread, %.2f at 2 threads" % (geo, geo2))

    # Loading the largest model.
    load = None
    vb = manifest.get("vit_b16_op17")
    if vb and (not only or "vit_b16" in only):
        path = os.path.join(CACHE, "models", vb["file"])
        size = os.path.getsize(path)
        t_ours = []
        rss = None
        for _ in range(3):
            t0 = time.time()
            r = subprocess.run(["/usr/bin/time", "-f", "%M", NNPORT, "inspect", path], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
            t_ours.append((time.time() - t0) * 1e3)
            rss = int(r.stderr.strip().splitlines()[-1]) * 1024
        ort = last_json(sh(["node", ORT_RUN, path, "--bench", "1", "--warmup", "0"]))
        load = {"file_bytes": size, "inspect_ms": sorted(t_ours)[1], "peak_rss_bytes": rss,
                "ort_session_create_ms": ort["session_create_ms"]}
        print("ViT-B/16 (%.1f MB): nnport inspect %.0f ms (peak RSS %.1f MB = %.1f%% of the file); ORT session create %.0f ms"
              % (size / 1e6, load["inspect_ms"], rss / 1e6, 100.0 * rss / size, load["ort_session_create_ms"]))

    gemm = None
    bg = os.path.join(BUILD, "bench_gemm")
    if os.path.exists(bg) and not only:
        gemm = subprocess.run([bg], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout
        print(gemm)

    write_md(out, rows, geo, geo2, load, repeat, gemm)
    print("wrote", out)
    return 0


def write_md(path, rows, geo, geo2, load, repeat, gemm=None):
    flags = "-O3 -march=native"
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (scripts/bench.py); timings are never pass/fail tests.",
        "Machine: %s, %d cores visible; nnport built with `%s`; ONNX Runtime is"
        " onnxruntime-node 1.30.0 (`intraOpNumThreads` = threads, `interOpNumThreads` = 1)." % (cpu_name(), os.cpu_count(), flags),
        "Median of %d runs after 3 warm-up runs, same input file for both; ratio = ours / ORT." % repeat,
        "",
        "| model | input | MACs | ours 1 thread | ORT 1 thread | ratio | ours 2 threads | ORT 2 threads | ratio | peak activations (ours) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append("| %s | %s | %s | %.2f ms | %.2f ms | %.2f | %.2f ms | %.2f ms | %.2f | %.1f MB |" % (
            r["model"], r["input_shape"], r["macs"], r["ours_1t"], r["ort_1t"], r["ratio_1t"], r["ours_2t"], r["ort_2t"],
            r["ratio_2t"], (r.get("peak_activation_bytes") or 0) / 1e6))
    lines += ["", "Geometric-mean ratio over the CV models (resnet18, mobilenet_v2, PP-OCRv4 det/rec, PP-OCR cls): "
              "**%.2f at 1 thread**, %.2f at 2 threads (target <= 1.5 at 1 thread)." % (geo, geo2), ""]
    if load:
        lines += ["## Loading the largest model", "",
                  "ViT-B/16 export, %.1f MB: `nnport inspect` takes %.0f ms with a peak RSS of %.1f MB (%.1f%% of the file;"
                  " target below 115%%); ONNX Runtime needs %.0f ms to create a session on the same file." % (
                      load["file_bytes"] / 1e6, load["inspect_ms"], load["peak_rss_bytes"] / 1e6,
                      100.0 * load["peak_rss_bytes"] / load["file_bytes"], load["ort_session_create_ms"]), ""]
    if gemm:
        lines += ["## GEMM throughput", "", "build/bench_gemm (tests/bench_gemm.c): one-node graphs through the executor,"
                  " best of several runs, 2 FLOPs per multiply-add.", "", "```", gemm.strip(), "```", ""]
    # Keep the simulator section scripts/bench_target.py maintains.
    keep = ""
    if os.path.exists(path):
        old = open(path).read()
        b, e = old.find("<!-- bench_target.py begin -->"), old.find("<!-- bench_target.py end -->")
        if 0 <= b < e:
            keep = old[b:e + len("<!-- bench_target.py end -->")] + "\n"
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n" + ("\n" + keep if keep else ""))
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
