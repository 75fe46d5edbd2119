#!/usr/bin/python3
"""Layer-by-layer diff of nnport against ONNX Runtime on one input.

  tests/tools/layer_diff.py MODEL.onnx NAME=INPUT.npy [--top 15] [--work DIR]

Rewrites the model so every node output is also a graph output (with
python3-onnx), runs it through `nnport run` and scripts/ort_run.js, and
prints, in graph order, each tensor's max abs error relative to its own
peak, marking the first tensor above 1e-5 and the worst ones.  A debugging
aid: it does not gate anything.
"""
import json
import os
import subprocess
import sys

import numpy as np
import onnx

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    model_path, feed = argv[0], argv[1]
    top = 15
    work = os.path.join(ROOT, "build", "layer_diff")
    i = 2
    while i < len(argv):
        if argv[i] == "--top":
            top = int(argv[i + 1]); i += 2
        elif argv[i] == "--work":
            work = argv[i + 1]; i += 2
        else:
            print("unknown option", argv[i]); return 2
    os.makedirs(work, exist_ok=True)
    m = onnx.load(model_path)
    have = {o.name for o in m.graph.output}
    order = []
    for n in m.graph.node:
        for o in n.output:
            if o and o not in have:
                m.graph.output.append(onnx.ValueInfoProto(name=o))
                have.add(o)
            if o:
                order.append((o, n.op_type, n.name))
    all_path = os.path.join(work, "all_outputs.onnx")
    onnx.save(m, all_path)
    ours, ort = os.path.join(work, "ours"), os.path.join(work, "ort")
    r = subprocess.run([os.path.join(ROOT, "build", "nnport"), "run", all_path, "--input", feed, "--output-dir", ours])
    if r.returncode:
        return 1
    r = subprocess.run(["node", os.path.join(ROOT, "scripts", "ort_run.js"), all_path, "--input", feed,
                        "--output-dir", ort, "--threads", "1"], stdout=subprocess.DEVNULL)
    if r.returncode:
        return 1
    names = {o["name"]: o["index"] for o in json.load(open(os.path.join(ours, "outputs.json")))["outputs"]}
    rows, first = [], None
    for name, op, node in order:
        k = names.get(name)
        if k is None:
            continue
        a = np.load(os.path.join(ort, "output_%d.npy" % k))
        b = np.load(os.path.join(ours, "output_%d.npy" % k))
        if a.shape != b.shape:
            print("%s (%s %s): shape ORT %s ours %s" % (name, op, node, a.shape, b.shape))
            continue
        if a.dtype.kind not in "fc":
            bad = int(np.sum(a != b))
            rel = float(bad)
        else:
            a64, b64 = a.astype(np.float64), b.astype(np.float64)
            peak = float(np.max(np.abs(a64))) if a.size else 0.0
            err = float(np.max(np.abs(a64 - b64))) if a.size else 0.0
            rel = err / peak if peak > 0 else err
        rows.append((rel, name, op, node, a.shape))
        if first is None and rel > 1e-5:
            first = (name, op, node, rel)
    for rel, name, op, node, shape in rows:
        pass
    print("tensors compared: %d" % len(rows))
    if first:
        print("first above 1e-5 of its peak: %s (%s, node %s): %.3e" % first)
    print("worst %d:" % top)
    for rel, name, op, node, shape in sorted(rows, reverse=True)[:top]:
        print("  %.3e  %-14s %-40s %s" % (rel, op, name[:40], shape))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
