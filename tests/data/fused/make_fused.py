#!/usr/bin/env python3
"""Builds the small com.microsoft FusedConv / FusedGemm / QuickGelu models
that tests/test_passes.c runs, with one input each (x.npy).  The expected
outputs come from ONNX Runtime:

    /usr/bin/python3 tests/data/fused/make_fused.py
    for m in tests/data/fused/*.onnx; do
      node scripts/ort_run.js $m --input x=tests/data/fused/x_${name}.npy --output-dir tests/data/fused/ort_${name}
    done
(the loop is run by this script itself when node is on PATH)."""
import os, subprocess, sys
import numpy as np
import onnx
from onnx import helper, TensorProto, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
rng = np.random.default_rng(1234)

def save(name, nodes, inits, xshape, yshape):
    g = helper.make_graph(nodes, name,
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, xshape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, yshape)],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.microsoft", 1)])
    m.ir_version = 8
    path = os.path.join(HERE, name + ".onnx")
    onnx.save(m, path)
    x = rng.uniform(-2, 2, size=xshape).astype(np.float32)
    np.save(os.path.join(HERE, "x_" + name + ".npy"), x)
    out = os.path.join(HERE, "ort_" + name)
    subprocess.run(["node", os.path.join(ROOT, "scripts/ort_run.js"), path, "--input",
                    "x=" + os.path.join(HERE, "x_" + name + ".npy"), "--output-dir", out, "--quiet"], check=True)

conv_acts = [("Relu", []), ("LeakyRelu", [0.1]), ("Clip", [-0.5, 0.75]), ("HardSigmoid", [0.25, 0.4]),
             ("Sigmoid", []), ("Tanh", [])]
W = rng.uniform(-0.5, 0.5, size=(4, 3, 3, 3)).astype(np.float32)
B = rng.uniform(-0.5, 0.5, size=(4,)).astype(np.float32)
for act, params in conv_acts:
    attrs = dict(activation=act, pads=[1, 1, 1, 1], strides=[1, 1])
    if params: attrs["activation_params"] = params
    n = helper.make_node("FusedConv", ["x", "W", "B"], ["y"], domain="com.microsoft", **attrs)
    save("fconv_" + act, [n], {"W": W, "B": B}, [1, 3, 5, 6], [1, 4, 5, 6])

G = rng.uniform(-0.5, 0.5, size=(5, 6)).astype(np.float32)
C = rng.uniform(-0.5, 0.5, size=(6,)).astype(np.float32)
gemm_acts = [("Relu", {}), ("LeakyRelu", {"activation_alpha": 0.2}),
             ("HardSigmoid", {"activation_alpha": 0.3, "activation_beta": 0.45}), ("Sigmoid", {}), ("Tanh", {})]
for act, extra in gemm_acts:
    n = helper.make_node("FusedGemm", ["x", "G", "C"], ["y"], domain="com.microsoft", activation=act,
                         transB=0, **extra)
    save("fgemm_" + act, [n], {"G": G, "C": C}, [3, 5], [3, 6])

# FusedConv with the residual input Z (y = act(conv + Z)) and no bias B
Z = rng.uniform(-1, 1, size=(1, 4, 5, 6)).astype(np.float32)
n = helper.make_node("FusedConv", ["x", "W", "", "Z"], ["y"], domain="com.microsoft", activation="Relu",
                     pads=[1, 1, 1, 1])
save("fconv_Z_Relu", [n], {"W": W, "Z": Z}, [1, 3, 5, 6], [1, 4, 5, 6])

n = helper.make_node("QuickGelu", ["x"], ["y"], domain="com.microsoft", alpha=1.0)
save("quickgelu", [n], {}, [2, 7], [2, 7])
