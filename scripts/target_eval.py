#!/usr/bin/python3
"""target_eval.py - figures of docs/TARGET.md "Measured against ONNX Runtime"
(issue 6): the npu-small simulator (`nnport run M.nnb`) against ONNX Runtime
(scripts/ort_run.js) on the same QDQ file.

Per model: quantize (`nnport quantize --calibration-method minmax`, reused
when WORK/KEY/model.qdq.onnx exists), compile for npu-small, run every
eval input through both, and count output elements within 1 quantization
step.  The step of a float output is the scale of the last QuantizeLinear
before it in the QDQ graph (found walking producers back from the output).
A float graph output has no step of its own, and that input-side step is
smaller than what one step on the final layer's inputs does to the output
(a K-long dot product): so a second count uses the step the output would
have as a symmetric int8 tensor, max |ORT output| / 127 per sample and
output ("out-step" column; the first stays "within").
With --speed also: simulator latency = median over --repeat processes of
the in-process time `nnport run M.nnb` prints for nn_target_sim_run (one
cold run per process: arena first-touched inside it; file load, input
read and output write excluded) against `ort_run.js --bench 20 --threads 1`
(ORT's median, warm).

  /usr/bin/python3 scripts/target_eval.py [KEY...] [--nnport build-e/nnport]
        [--work /tmp/target_eval] [--speed] [--repeat 10] [--samples 8] [--exact]

KEY: mobilenet_v2_op13 resnet18_op13 ppocr_cls ppocrv4_rec ppocrv4_det
vit_ti_op13 gpt_char_op13 (default: all).  Prints one table row per model.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys

import numpy as np
import onnx
from onnx import numpy_helper

HOME = os.path.expanduser("~/.cache/nnport")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ORT = os.path.join(REPO, "scripts", "ort_run.js")
EXACT = os.path.join(REPO, "scripts", "qdq_exact.py")
# key: model path (under HOME), data set, compile --shape (None: declared)
MODELS = {
    "mobilenet_v2_op13": ("models/mobilenet_v2_op13.onnx", "imagenet"),
    "resnet18_op13": ("models/resnet18_op13.onnx", "imagenet"),
    "ppocr_cls": ("npm/package/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx", "ocr_cls"),
    "ppocrv4_rec": ("npm/package/assets/ch_PP-OCRv4_rec_infer.onnx", "ocr_rec"),
    "ppocrv4_det": ("npm/package/assets/ch_PP-OCRv4_det_infer.onnx", "ocr_det"),
    "vit_ti_op13": ("models/vit_ti_op13.onnx", "imagenet"),
    "gpt_char_op13": ("models/gpt_char_op13.onnx", "gpt"),
}


def sh(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(" ".join(cmd) + "\n" + r.stdout[-2000:] + r.stderr[-2000:])
        raise RuntimeError("command failed")
    return r.stdout + r.stderr


def output_steps(qdq_path):
    """name -> step (scale of the last QuantizeLinear before each graph output)"""
    m = onnx.load(qdq_path)
    g = m.graph
    prod = {o: n for n in g.node for o in n.output}
    inits = {i.name: i for i in g.initializer}
    for n in g.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    inits[n.output[0]] = a.t
    steps = {}
    for out in g.output:
        seen, todo, step = set(), [out.name], None
        while todo and step is None:
            t = todo.pop(0)
            if t in seen or t not in prod:
                continue
            seen.add(t)
            n = prod[t]
            if n.op_type == "QuantizeLinear" and n.input[1] in inits:
                step = float(numpy_helper.to_array(inits[n.input[1]]).max())
                break
            todo.extend(i for i in n.input if i and i not in inits)
        steps[out.name] = step
    return [steps[o.name] for o in g.output]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("keys", nargs="*")
    ap.add_argument("--nnport", default=os.path.join(REPO, "build-e/nnport"))
    ap.add_argument("--work", default="/tmp/target_eval")
    ap.add_argument("--samples", default="8")
    ap.add_argument("--method", default="", help="calibration method (default minmax; percentile for ppocrv4_det,"
                    " whose minmax QDQ model outputs a probability map of ~0 in both ORT and the simulator)")
    ap.add_argument("--speed", action="store_true")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--json", default="")
    ap.add_argument("--exact", action="store_true", help="also run scripts/qdq_exact.py (float64 arithmetic of the QDQ"
                    " graph) and count the simulator's and ORT's elements within 1 step of it")
    a = ap.parse_args()
    keys = a.keys or list(MODELS)
    rows = []
    for key in keys:
        rel, data = MODELS[key]
        method = a.method or ("percentile" if key == "ppocrv4_det" else "minmax")
        work = os.path.join(a.work, key if method == "minmax" else key + "_" + method)
        os.makedirs(work, exist_ok=True)
        qdq = os.path.join(work, "model.qdq.onnx")
        if not os.path.exists(qdq):
            sh([a.nnport, "quantize", os.path.join(HOME, rel), "--calib-data", os.path.join(HOME, "data", data, "calib"),
                "-o", qdq, "--calibration-method", method, "--samples", a.samples])
        steps = output_steps(qdq)
        info = json.loads(re.search(r"\{.*\}", sh(["node", ORT, qdq, "--info"]), re.S).group(0))
        in_name = info["inputs"][0]["name"]
        ev = os.path.join(HOME, "data", data, "eval")
        names = sorted(f[:-4] for f in os.listdir(ev) if f.endswith(".npy") and not f.endswith("_targets.npy"))
        row = {"model": key, "method": method, "inputs": len(names), "elements": 0, "within": 0, "max_steps": 0.0, "steps": steps,
               "within_out": 0}
        nnbs = {}
        for n in names:
            x = os.path.join(ev, n + ".npy")
            shape = "x".join(str(d) for d in np.load(x, mmap_mode="r").shape)
            nnb = os.path.join(work, "m_%s.nnb" % shape)
            if nnb not in nnbs:
                if not os.path.exists(nnb):
                    out = sh([a.nnport, "compile", qdq, "--target", "npu-small", "-o", nnb, "--shape", "%s=%s" % (in_name, shape)])
                    open(nnb + ".log", "w").write(out)
                nnbs[nnb] = x
            sd, od = os.path.join(work, "sim", n), os.path.join(work, "ort", n)
            os.makedirs(sd, exist_ok=True)
            os.makedirs(od, exist_ok=True)
            sh([a.nnport, "run", nnb, "--input", "%s=%s" % (in_name, x), "--output-dir", sd])
            sh(["node", ORT, qdq, "--input", "%s=%s" % (in_name, x), "--output-dir", od])
            if a.exact:
                xd = os.path.join(work, "exact", n)
                sh([sys.executable, EXACT, qdq, "--input", "%s=%s" % (in_name, x), "--output-dir", xd])
            for i, st in enumerate(steps):
                s = np.load(os.path.join(sd, "output_%d.npy" % i)).astype(np.float64)
                o = np.load(os.path.join(od, "output_%d.npy" % i)).astype(np.float64)
                if st is None or st <= 0:
                    d = np.where(s == o, 0.0, np.inf)
                else:
                    d = np.abs(s - o) / st
                row["elements"] += d.size
                row["within"] += int((d <= 1.0 + 1e-6).sum())
                ost = float(np.abs(o).max()) / 127.0
                do = np.where(s == o, 0.0, np.abs(s - o) / ost) if ost > 0 else np.where(s == o, 0.0, np.inf)
                row["within_out"] += int((do <= 1.0 + 1e-6).sum())
                row["max_steps"] = max(row["max_steps"], float(d.max()))
                if a.exact:
                    e = np.load(os.path.join(xd, "output_%d.npy" % i)).astype(np.float64)
                    for who, v in (("sim", s), ("ort", o)):
                        de = np.where(v == e, 0.0, np.abs(v - e) / st if st and st > 0 else np.inf)
                        row["exact_" + who] = row.get("exact_" + who, 0) + int((de <= 1.0 + 1e-6).sum())
                        row["exact_" + who + "_max"] = max(row.get("exact_" + who + "_max", 0.0), float(de.max()))
                        ce = float(v.ravel() @ e.ravel() / (np.linalg.norm(v) * np.linalg.norm(e) + 1e-30))
                        row["exact_" + who + "_cos"] = min(row.get("exact_" + who + "_cos", 1.0), ce)
                c = float(s.ravel() @ o.ravel() / (np.linalg.norm(s) * np.linalg.norm(o) + 1e-30))
                row["min_cos"] = min(row.get("min_cos", 1.0), c)
                if data == "imagenet":
                    row["top1_same"] = row.get("top1_same", 0) + int(s.argmax() == o.argmax())
        row["pct"] = 100.0 * row["within"] / max(1, row["elements"])
        row["pct_out"] = 100.0 * row["within_out"] / max(1, row["elements"])
        if a.exact:
            print("| %s | exact float64: sim within 1 step %.4f%% (max %.2f steps, min cosine %.6f) | ORT within 1 step %.4f%%"
                  " (max %.2f steps, min cosine %.6f) |"
                  % (key, 100.0 * row["exact_sim"] / max(1, row["elements"]), row["exact_sim_max"], row["exact_sim_cos"],
                     100.0 * row["exact_ort"] / max(1, row["elements"]), row["exact_ort_max"], row["exact_ort_cos"]), flush=True)
        # memory: the activation plan line of the first compile log
        log = open(sorted(nnbs)[0] + ".log").read()
        row["nnb_bytes"] = os.path.getsize(sorted(nnbs)[0])
        # activation memory of the lowered graph as `nnport compile` prints it
        for k, pat in (("no_reuse", r"no reuse\s+(\d+)"), ("bound", r"lower bound[^\n]*?\)\s+(\d+)"),
                       ("arena", r"ours \([^\n]*?\)\s+(\d+)"), ("sim_mem", r"simulator memory ([0-9.]+ [KMG]?i?B)")):
            m = re.search(pat, log)
            row[k] = (int(m.group(1)) if k != "sim_mem" else m.group(1)) if m else None
        if a.speed:
            nnb, x = sorted(nnbs.items())[0]
            ts = []
            for _ in range(a.repeat):
                out = sh([a.nnport, "run", nnb, "--input", "%s=%s" % (in_name, x), "--output-dir", os.path.join(work, "speed")])
                ts.append(float(re.search(r"instructions in ([0-9.]+) ms", out).group(1)))
            ort = sh(["node", ORT, qdq, "--input", "%s=%s" % (in_name, x), "--bench", "20", "--threads", "1"])
            m = re.search(r'"median_ms":\s*([0-9.]+)', ort)
            row["sim_ms"] = statistics.median(ts)
            row["ort_ms"] = float(m.group(1)) if m else float("nan")
            row["ort_raw"] = ort.strip().splitlines()[-3:]
            row["ratio"] = row["sim_ms"] / row["ort_ms"]
            row["input"] = os.path.relpath(x, HOME)
        rows.append(row)
        print("| %s | %d | %d | %.4f%% | %.4f%% | %.2f | %.6f | %s" % (key, row["inputs"], row["elements"], row["pct"], row["pct_out"],
              row["max_steps"], row["min_cos"],
              ("%.2f ms | %.2f ms | %.2f" % (row["sim_ms"], row["ort_ms"], row["ratio"])) if a.speed else ""), flush=True)
    print("| model | no reuse | lower bound | arena | arena / bound | simulator memory |")
    for r in rows:
        print("| %s | %s | %s | %s | %.3f | %s |" % (r["model"], r["no_reuse"], r["bound"], r["arena"],
              (r["arena"] or 0) / max(1, r["bound"] or 0), r["sim_mem"]))
    if a.json:
        json.dump(rows, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
