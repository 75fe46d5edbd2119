#!/usr/bin/python3
"""qdq_layers.py - where two runtimes part on a QDQ model, tensor by tensor.

Every QuantizeLinear of an activation in QDQ.onnx is made a graph output
(its integer tensor), the model is run on one input by ONNX Runtime
(scripts/ort_run.js, 1 thread) and by nnport (the fake-quant executor with
integer kernels, and with --target also the NPU simulator on the model
compiled for that target), and the integer tensors are compared in graph
order: the share of elements equal, within one step, and the largest
difference in steps.  The first tensor that differs is named.

  /usr/bin/python3 scripts/qdq_layers.py QDQ.onnx --input NAME=FILE.npy [...]
        [--nnport build/nnport] [--target npu-small] [--work DIR] [--opt all|basic|...]
        [--rows N] [--json OUT.json] [--exact]

--rows N prints the first N tensors that differ (default 20; 0: all tensors).
--json writes every tensor's figures.  Exposing the tensors as outputs can
keep ONNX Runtime from fusing a node whose output it now has to return;
--opt basic runs ONNX Runtime without its QDQ fusions (DQ -> float op -> Q).
--exact also compares both runtimes with the exact arithmetic of the graph
(scripts/qdq_exact.py: float64, QuantizeLinear rounding half to even), which
tells which of two disagreeing runtimes rounded away from the true value.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # qdq_exact is imported: no scripts/__pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qdq_exact  # noqa: E402


def sh(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("qdq_layers: %s failed:\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
    return r.stdout


def expose(model, dst, only=None):
    """Writes a copy of the model proto with its activation QuantizeLinear
    outputs (or those in `only`) as graph outputs to dst; returns their
    names in node order."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    names = qdq_exact.expose_q(m, only)
    onnx.save(m, dst)
    return names


def load_outputs(d):
    meta = json.load(open(os.path.join(d, "outputs.json")))
    return {o["name"]: os.path.join(d, o["file"]) for o in meta["outputs"]}


def compare(names, ref, got):
    rows = []
    for t in names:
        a = np.load(ref[t]).astype(np.int64)
        b = np.load(got[t]).astype(np.int64)
        if a.shape != b.shape:
            rows.append({"tensor": t, "n": int(a.size), "shape_ref": list(a.shape), "shape_got": list(b.shape)})
            continue
        d = np.abs(a - b)
        rows.append({"tensor": t, "n": int(a.size), "equal": float((d == 0).mean()) if d.size else 1.0,
                     "within1": float((d <= 1).mean()) if d.size else 1.0, "max": int(d.max()) if d.size else 0})
    return rows


def report(title, rows, nrows):
    differ = [r for r in rows if "max" not in r or r["max"] > 0]
    print("%s: %d quantized tensors, %d differ" % (title, len(rows), len(differ)))
    if not rows:
        return
    if differ:
        r = differ[0]
        print("  first that differs: %s (tensor %d of %d)" % (r["tensor"], rows.index(r) + 1, len(rows)))
    show = rows if nrows == 0 else differ[:nrows]
    if show:
        print("  %-44s %12s %9s %9s %6s" % ("tensor", "elements", "equal", "<=1 step", "max"))
    for r in show:
        if "max" not in r:
            print("  %-44s shapes differ: %s vs %s" % (r["tensor"][-44:], r["shape_ref"], r["shape_got"]))
        else:
            print("  %-44s %12d %8.4f%% %8.4f%% %6d" % (r["tensor"][-44:], r["n"], 100 * r["equal"],
                                                     100 * r["within1"], r["max"]))
    worst = min(r.get("within1", 0.0) for r in rows)
    print("  lowest share within one step: %.4f%%; elements within one step over all tensors: %.4f%%" % (
        100 * worst, 100 * sum(r.get("within1", 0.0) * r["n"] for r in rows) / max(1, sum(r["n"] for r in rows))))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--input", action="append", default=[], required=True)
    ap.add_argument("--nnport", default=os.path.join(REPO, os.environ.get("B", "build"), "nnport"))
    ap.add_argument("--target", default="")
    ap.add_argument("--work", default="")
    ap.add_argument("--opt", default="")
    ap.add_argument("--rows", type=int, default=20)
    ap.add_argument("--json", default="")
    ap.add_argument("--exact", action="store_true")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="qdq_layers.")
    os.makedirs(work, exist_ok=True)
    exp = os.path.join(work, "layers.onnx")
    model = onnx.load(a.model)
    names = expose(model, exp)
    if not names:
        sys.exit("qdq_layers: %s has no QuantizeLinear of an activation" % a.model)
    ins = sum((["--input", i] for i in a.input), [])
    ort = os.path.join(work, "ort")
    sh(["node", os.path.join(REPO, "scripts/ort_run.js"), exp, "--output-dir", ort, "--threads", "1"] + ins +
       (["--opt", a.opt] if a.opt else []))
    fq = os.path.join(work, "fq")
    sh([a.nnport, "run", exp, "--output-dir", fq] + ins)
    ref = load_outputs(ort)
    out = {"model": a.model, "tensors": len(names)}
    rows = compare(names, ref, load_outputs(fq))
    report("fake-quant vs ONNX Runtime", rows, a.rows)
    out["fake_quant_vs_ort"] = rows
    if a.target:
        shapes = []  # the compiler wants static input shapes: the input files' own
        for i in a.input:
            name, f = i.split("=", 1)
            shapes += ["--shape", "%s=%s" % (name, "x".join(str(d) for d in np.load(f, mmap_mode="r").shape))]
        # a .nnb holds at most 64 outputs (docs/FORMAT.md): one build per
        # slice of the tensors, each next to the model's own outputs
        per = 64 - len(model.graph.output)
        sim_out = {}
        for k in range(0, len(names), per):
            part = os.path.join(work, "layers_%d.onnx" % (k // per))
            expose(model, part, set(names[k:k + per]))
            nnb = part[:-5] + ".nnb"
            sh([a.nnport, "compile", part, "--target", a.target, "-o", nnb] + shapes)
            d = os.path.join(work, "sim_%d" % (k // per))
            sh([a.nnport, "run", nnb, "--output-dir", d] + ins)
            sim_out.update(load_outputs(d))
        rows = compare(names, ref, sim_out)
        report("simulator (%s) vs ONNX Runtime" % a.target, rows, a.rows)
        out["sim_vs_ort"] = rows
    if a.exact:
        ex = os.path.join(work, "exact")
        sh(["/usr/bin/python3", os.path.join(REPO, "scripts/qdq_exact.py"), exp, "--output-dir", ex] + ins)
        exact = load_outputs(ex)
        for key, title, d in (("ort_vs_exact", "ONNX Runtime vs exact", ort), ("fake_quant_vs_exact", "fake-quant vs exact", fq)) + \
                ((("sim_vs_exact", "simulator vs exact", sim_out),) if a.target else ()):
            rows = compare(names, exact, d if isinstance(d, dict) else load_outputs(d))
            report(title, rows, a.rows)
            out[key] = rows
    if a.json:
        tmp = a.json + ".part"
        with open(tmp, "w") as f:
            json.dump(out, f, indent=1)
        os.replace(tmp, a.json)
    print("work files: %s" % work)


if __name__ == "__main__":
    main()
