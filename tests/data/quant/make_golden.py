#!/usr/bin/python3
"""Builds tiny_qdq.onnx (a hand-written QDQ model, opset 13, independent of
nnport's quantizer) and its golden output from ONNX Runtime:
  /usr/bin/python3 tests/data/quant/make_golden.py
  node scripts/ort_run.js tests/data/quant/tiny_qdq.onnx --input x=tests/data/quant/input.npy \
       --output-dir /tmp/tq && cp /tmp/tq/output_0.npy tests/data/quant/ort_output.npy
Graph: x(1,2,6,6) -Q(s8)-DQ- Conv(4x2x3x3, pad 1, stride 1, int32 bias, per-channel
weights) - Relu - Q(u8) - DQ - [Add with itself through a second branch:
Conv 1x1 depthwise group 4] - Q - DQ - Sigmoid - Q - DQ - GlobalAveragePool
- Q - DQ - Flatten - Gemm(3x4, transB) - Q - DQ -> y (1,3)."""
import os
import numpy as np
import onnx
from onnx import helper as h, numpy_helper as nh, TensorProto as T

rng = np.random.default_rng(7)
here = os.path.dirname(os.path.abspath(__file__))
inits, nodes = [], []


def c(name, arr):
    inits.append(nh.from_array(arr, name))
    return name


def qdq(t, scale, zp, dt):
    s = c(t + "_s", np.array(scale, np.float32))
    z = c(t + "_z", np.array(zp, dt))
    nodes.append(h.make_node("QuantizeLinear", [t, s, z], [t + "_q"]))
    nodes.append(h.make_node("DequantizeLinear", [t + "_q", s, z], [t + "_dq"]))
    return t + "_dq"


def wdq(name, q, scale, axis=None):
    qn = c(name + "_q", q)
    s = c(name + "_s", np.array(scale, np.float32))
    z = c(name + "_z", np.zeros_like(np.array(scale), dtype=q.dtype))
    attrs = {"axis": axis} if axis is not None else {}
    nodes.append(h.make_node("DequantizeLinear", [qn, s, z], [name], **attrs))
    return name


x = qdq("x", 0.02, 0, np.int8)
w1s = np.array([0.01, 0.02, 0.015, 0.005], np.float32)
w1 = wdq("w1", rng.integers(-127, 128, (4, 2, 3, 3)).astype(np.int8), w1s, 0)
b1 = wdq("b1", rng.integers(-300, 300, (4,)).astype(np.int32), 0.02 * w1s, 0)
nodes.append(h.make_node("Conv", [x, w1, b1], ["c1"], pads=[1, 1, 1, 1]))
nodes.append(h.make_node("Relu", ["c1"], ["r1"]))
r1 = qdq("r1", 0.03, 10, np.uint8)
w2s = np.array([0.02, 0.01, 0.03, 0.02], np.float32)
w2 = wdq("w2", rng.integers(-127, 128, (4, 1, 1, 1)).astype(np.int8), w2s, 0)
nodes.append(h.make_node("Conv", [r1, w2], ["c2"], group=4))
c2 = qdq("c2", 0.01, -3, np.int8)
nodes.append(h.make_node("Add", [r1, c2], ["a"]))
a = qdq("a", 0.04, 5, np.int8)
nodes.append(h.make_node("Sigmoid", [a], ["sg"]))
sg = qdq("sg", 1.0 / 256, -128, np.int8)
nodes.append(h.make_node("GlobalAveragePool", [sg], ["gp"]))
gp = qdq("gp", 1.0 / 256, -128, np.int8)
nodes.append(h.make_node("Flatten", [gp], ["fl"]))
w3s = np.array([0.01, 0.02, 0.03], np.float32)
w3 = wdq("w3", rng.integers(-127, 128, (3, 4)).astype(np.int8), w3s, 0)
b3 = wdq("b3", rng.integers(-1000, 1000, (3,)).astype(np.int32), (1.0 / 256) * w3s, 0)
nodes.append(h.make_node("Gemm", [fl := "fl", w3, b3], ["g"], transB=1))
y = qdq("g", 0.005, 0, np.int8)
nodes.append(h.make_node("Identity", [y], ["y"]))
g = h.make_graph(nodes, "tiny_qdq", [h.make_tensor_value_info("x", T.FLOAT, [1, 2, 6, 6])],
                 [h.make_tensor_value_info("y", T.FLOAT, [1, 3])], inits)
m = h.make_model(g, opset_imports=[h.make_opsetid("", 13)], producer_name="make_golden.py")
m.ir_version = 7
onnx.checker.check_model(m)
onnx.save(m, os.path.join(here, "tiny_qdq.onnx"))
np.save(os.path.join(here, "input.npy"), rng.uniform(-2.5, 2.5, (1, 2, 6, 6)).astype(np.float32))
