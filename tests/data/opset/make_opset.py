#!/usr/bin/env python3
"""Builds the small old-opset models tests/test_passes.c upgrades with the
`opset` pass (one rewrite each), with one input x and ONNX Runtime's
output on the ORIGINAL file as the golden:

    /usr/bin/python3 tests/data/opset/make_opset.py
    (runs node scripts/ort_run.js MODEL --input x=x_NAME.npy --output-dir ort_NAME for each)

The test checks our executor on the original and on the upgraded graph
(targets 13 and 23, or the op's first new form) against that golden."""
import os, subprocess
import numpy as np
import onnx
from onnx import helper, TensorProto, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
rng = np.random.default_rng(2026)
F = TensorProto.FLOAT

def save(name, opset, nodes, xshape, yshape, inits=None, ydtype=F):
    g = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", F, xshape)],
                          [helper.make_tensor_value_info("y", ydtype, yshape)],
                          [numpy_helper.from_array(v, k) for k, v in (inits or {}).items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8 if opset >= 15 else 7
    onnx.checker.check_model(m)
    path = os.path.join(HERE, name + ".onnx")
    onnx.save(m, path)
    x = rng.uniform(-2, 2, size=xshape).astype(np.float32)
    xp = os.path.join(HERE, "x_" + name + ".npy")
    np.save(xp, x)
    subprocess.run(["node", os.path.join(ROOT, "scripts/ort_run.js"), path, "--input", "x=" + xp,
                    "--output-dir", os.path.join(HERE, "ort_" + name), "--quiet"], check=True)

N = helper.make_node
save("slice9", 9, [N("Slice", ["x"], ["y"], starts=[0, 1], ends=[2, -1], axes=[1, 2])], [1, 3, 5, 4], [1, 2, 3, 4])
save("pad9", 9, [N("Pad", ["x"], ["y"], pads=[0, 0, 1, 2, 0, 0, 2, 1], value=1.5)], [1, 2, 3, 3], [1, 2, 6, 6])
save("pad9_reflect", 9, [N("Pad", ["x"], ["y"], mode="reflect", pads=[0, 0, 1, 1, 0, 0, 1, 1])], [1, 2, 3, 3], [1, 2, 5, 5])
save("clip9", 9, [N("Clip", ["x"], ["y"], min=-0.5, max=0.25)], [2, 7], [2, 7])
save("clip9_max", 9, [N("Clip", ["x"], ["y"], max=0.3)], [2, 7], [2, 7])
save("topk9", 9, [N("TopK", ["x"], ["y", "i"], k=2)], [3, 5], [3, 2])
save("squeeze11", 11, [N("Squeeze", ["x"], ["s"], axes=[1]), N("Unsqueeze", ["s"], ["y"], axes=[0])], [2, 1, 3], [1, 2, 3])
save("reducesum11", 11, [N("ReduceSum", ["x"], ["y"], axes=[1], keepdims=0)], [2, 3, 4], [2, 4])
save("reduce13", 13, [N("ReduceMean", ["x"], ["m"], axes=[-1]), N("ReduceMax", ["m"], ["y"], axes=[0, 2], keepdims=0)],
     [2, 3, 4], [3])
save("split11", 11, [N("Split", ["x"], ["a", "b"], axis=1, split=[1, 3]), N("Concat", ["b", "a"], ["y"], axis=1)],
     [2, 4, 2], [2, 4, 2])
save("split13", 13, [N("Split", ["x"], ["a", "b"], axis=1), N("Concat", ["b", "a"], ["y"], axis=1)], [2, 4, 2], [2, 4, 2])
save("dropout11", 11, [N("Dropout", ["x"], ["d"], ratio=0.3), N("Relu", ["d"], ["y"])], [2, 5], [2, 5])
save("softmax11", 11, [N("Softmax", ["x"], ["y"], axis=1)], [2, 3, 4], [2, 3, 4])
save("logsoftmax11", 11, [N("LogSoftmax", ["x"], ["y"])], [2, 3, 4], [2, 3, 4])
save("hardmax11", 11, [N("Hardmax", ["x"], ["y"], axis=0)], [2, 3, 4], [2, 3, 4])
save("softmax11_last", 11, [N("Softmax", ["x"], ["y"], axis=2)], [2, 3, 4], [2, 3, 4])
bn = {k: rng.uniform(0.5, 1.5, size=(3,)).astype(np.float32) for k in ("g", "b", "m", "v")}
save("bn7", 7, [N("BatchNormalization", ["x", "g", "b", "m", "v"], ["y"], spatial=1, epsilon=1e-3)], [1, 3, 2, 2],
     [1, 3, 2, 2], bn)
save("upsample9", 9, [N("Upsample", ["x", "s"], ["y"], mode="nearest")], [1, 2, 3, 2], [1, 2, 6, 6],
     {"s": np.array([1, 1, 2, 3], np.float32)})
save("upsample7_linear", 7, [N("Upsample", ["x"], ["y"], mode="linear", scales=[1.0, 1.0, 2.0, 2.0])], [1, 2, 3, 3],
     [1, 2, 6, 6])
save("resize10", 10, [N("Resize", ["x", "s"], ["y"], mode="nearest")], [1, 1, 3, 2], [1, 1, 6, 4],
     {"s": np.array([1, 1, 2, 2], np.float32)})
save("resize10_linear", 10, [N("Resize", ["x", "s"], ["y"], mode="linear")], [1, 1, 3, 4], [1, 1, 6, 6],
     {"s": np.array([1, 1, 2, 1.5], np.float32)})
save("scatter9", 9, [N("Scatter", ["x", "i", "u"], ["y"], axis=1)], [2, 4], [2, 4],
     {"i": np.array([[3, 0], [1, 2]], np.int64), "u": np.array([[10, 20], [30, 40]], np.float32)})
save("gridsample16", 16, [N("GridSample", ["x", "grid"], ["y"], mode="bilinear", align_corners=0)], [1, 2, 3, 4],
     [1, 2, 2, 3], {"grid": rng.uniform(-1.1, 1.1, size=(1, 2, 3, 2)).astype(np.float32)})
