#!/usr/bin/python3
"""Per-op accuracy of nnport and ONNX Runtime against float64, after
tests/tools/layer_diff.py has run a model with every tensor exposed.

For each Sigmoid, Softmax (last axis), Sqrt, Tanh and MatMul node, each
runtime's output is compared with the float64 result computed by numpy
from *that runtime's own* inputs, so the figure is the op's own error,
not inherited drift.  Prints, per op type and runtime, the worst and
median max-abs error relative to the output's peak.  This is how
docs/PARITY.md attributes the PP-OCRv4 recognizer's drift.

  tests/tools/layer_diff.py MODEL.onnx x=INPUT.npy
  tests/tools/op_accuracy.py [build/layer_diff]
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def main(argv):
    work = argv[0] if argv else os.path.join(os.path.dirname(__file__), "..", "..", "build", "layer_diff")
    m = onnx.load(os.path.join(work, "all_outputs.onnx"))
    names = {o["name"]: o["index"] for o in json.load(open(os.path.join(work, "ours", "outputs.json")))["outputs"]}
    consts = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    for n in m.graph.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)

    def get(side, name):
        if name in consts:
            return consts[name].astype(np.float64)
        return np.load(os.path.join(work, side, "output_%d.npy" % names[name])).astype(np.float64)

    fns = {"Sigmoid": lambda a: 1 / (1 + np.exp(-a[0])), "Softmax": lambda a: softmax(a[0]),
           "Sqrt": lambda a: np.sqrt(a[0]), "Tanh": lambda a: np.tanh(a[0]), "MatMul": lambda a: a[0] @ a[1]}
    errs = {}
    for n in m.graph.node:
        if n.op_type not in fns or n.output[0] not in names:
            continue
        if n.op_type == "Softmax" and any(a.name == "axis" and a.i not in (-1, len(get("ort", n.input[0]).shape) - 1)
                                          for a in n.attribute):
            continue
        for side in ("ort", "ours"):
            args = [get(side, i) for i in n.input]
            exact = fns[n.op_type](args)
            got = get(side, n.output[0])
            peak = np.abs(exact).max()
            errs.setdefault((n.op_type, side), []).append(np.abs(got - exact).max() / peak if peak > 0 else 0.0)
    print("%-8s %-5s %6s %14s %14s" % ("op", "side", "nodes", "worst/peak", "median/peak"))
    for (op, side), v in sorted(errs.items()):
        print("%-8s %-5s %6d %14.2e %14.2e" % (op, "ORT" if side == "ort" else "ours", len(v), max(v), np.median(v)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
