#!/usr/bin/python3
"""make_qdq4.py - a pre-quantized QDQ model not made by nnport (issue 7,
docs/TARGET.md "Pre-quantized models"): a small CNN with 4-bit weights and
8-bit activations, written by hand with onnx.helper the way ONNX Runtime's
static quantizer lays a QDQ model out, with its own scales and zero points.

  /usr/bin/python3 scripts/make_qdq4.py OUT.onnx [--seed 0] [--eval N]
        [--nnport build/nnport] [--work /tmp/qdq4]

The graph (opset 13; input x 1x3x32x32 float, output logits 1x10 float):
  x -> Q/DQ -> Conv 3->16 3x3 + Relu -> Q/DQ -> Conv 16->32 3x3 s2 + Relu
    -> Q/DQ (r2) -> depthwise Conv 32 3x3 + Relu -> Q/DQ -> Conv 32->32 1x1
    -> Q/DQ -> Add(r2) -> Q/DQ -> GlobalAveragePool -> Q/DQ -> Flatten
    -> Q/DQ -> Gemm 32->10 (transB) -> Q/DQ -> logits
Weights: 4-bit symmetric per output channel, stored as int8 in [-8, 7]
(ONNX 1.12, the Debian python3-onnx, has no INT4: that type came with
ONNX 1.16 / opset 21), scale max|w_c| / 7, DequantizeLinear axis 0; bias
int32 with scale s_x * s_w[c]; activations uint8 asymmetric, scale and
zero point from the min/max over 16 calibration inputs of the float
model run with the 4-bit weights (torch).  Weights are seeded random
(Kaiming-uniform like torch's default init), so the model computes
nothing useful: it exists to carry foreign scales and zero points.

--eval N: compile OUT.onnx with `nnport compile --target npu-small`
(with `--check bitequal --check-per-layer` on the first input), run N
seeded inputs through `nnport run OUT.nnb` and `node scripts/ort_run.js
OUT.onnx`, and print the share of output elements within one
quantization step (target_eval.py's metric: the step is the scale of the
last QuantizeLinear before the output); exits 1 below 99.9%.
"""
import argparse
import os
import subprocess
import sys

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "scripts"))
from target_eval import output_steps  # noqa: E402  (the same step definition)


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 16, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.dw = torch.nn.Conv2d(32, 32, 3, padding=1, groups=32)
        self.pw = torch.nn.Conv2d(32, 32, 1)
        self.fc = torch.nn.Linear(32, 10)

    def forward(self, x):
        t = {"x": x}
        t["r1"] = torch.relu(self.conv1(x))
        t["r2"] = torch.relu(self.conv2(t["r1"]))
        t["r3"] = torch.relu(self.dw(t["r2"]))
        t["c4"] = self.pw(t["r3"])
        t["s"] = t["c4"] + t["r2"]
        t["p"] = t["s"].mean((2, 3), keepdim=True)
        t["f"] = t["p"].flatten(1)
        t["logits"] = self.fc(t["f"])
        return t


def quant4(w):
    """per-output-channel 4-bit, zero point 0: int8 values in [-8, 7] and
    scales (the larger of max/7 and -min/8, so a channel whose largest
    magnitude is negative uses -8)"""
    r = w.reshape(w.shape[0], -1)
    m = np.maximum(r.max(1) / 7.0, -r.min(1) / 8.0)
    s = np.where(m > 0, m, 1.0).astype(np.float32)
    q = np.clip(np.round(w / s.reshape((-1,) + (1,) * (w.ndim - 1))), -8, 7).astype(np.int8)
    return q, s


def act_params(lo, hi):
    """uint8 asymmetric over [min(lo, 0), max(hi, 0)]"""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    s = (hi - lo) / 255.0 if hi > lo else 1.0
    zp = int(np.clip(np.round(-lo / s), 0, 255))
    return np.float32(s), np.uint8(zp)


def build(seed):
    torch.manual_seed(seed)
    net = Net().eval()
    layers = {"conv1": net.conv1, "conv2": net.conv2, "dw": net.dw, "pw": net.pw, "fc": net.fc}
    wq = {}
    with torch.no_grad():  # the float model the ranges come from runs with the 4-bit weights
        for k, m in layers.items():
            q, s = quant4(m.weight.numpy())
            wq[k] = (q, s)
            m.weight.copy_(torch.from_numpy(q.astype(np.float32) * s.reshape((-1,) + (1,) * (q.ndim - 1))))
        gen = torch.Generator().manual_seed(seed + 1)
        calib = torch.rand((16, 3, 32, 32), generator=gen) * 2 - 1
        t = net(calib)
    ap = {k: act_params(v.min(), v.max()) for k, v in t.items()}
    ap["f"] = ap["p"]  # Flatten moves no value: the same parameters (as ORT's quantizer does)

    inits, nodes = [], []

    def const(name, arr):
        inits.append(numpy_helper.from_array(arr, name))
        return name

    def qdq(src, key):
        """Q then DQ of activation src with key's parameters; returns the DQ output"""
        s, z = ap[key]
        const(key + "_scale", np.array(s, np.float32))
        const(key + "_zp", np.array(z, np.uint8))
        nodes.append(helper.make_node("QuantizeLinear", [src, key + "_scale", key + "_zp"], [key + "_q"], name=key + "_Q"))
        nodes.append(helper.make_node("DequantizeLinear", [key + "_q", key + "_scale", key + "_zp"], [key + "_dq"],
                                      name=key + "_DQ"))
        return key + "_dq"

    def weights(k, in_key):
        q, s = wq[k]
        const(k + "_w_q", q)
        const(k + "_w_scale", s)
        const(k + "_w_zp", np.zeros(len(s), np.int8))
        nodes.append(helper.make_node("DequantizeLinear", [k + "_w_q", k + "_w_scale", k + "_w_zp"], [k + "_w"], axis=0,
                                      name=k + "_w_DQ"))
        bs = (np.float64(ap[in_key][0]) * s.astype(np.float64)).astype(np.float32)
        b = layers[k].bias.detach().numpy().astype(np.float64)
        const(k + "_b_q", np.round(b / bs).astype(np.int32))
        const(k + "_b_scale", bs)
        nodes.append(helper.make_node("DequantizeLinear", [k + "_b_q", k + "_b_scale"], [k + "_b"], axis=0,
                                      name=k + "_b_DQ"))
        return [k + "_w", k + "_b"]

    x = qdq("x", "x")
    nodes.append(helper.make_node("Conv", [x] + weights("conv1", "x"), ["c1"], pads=[1, 1, 1, 1], name="conv1"))
    nodes.append(helper.make_node("Relu", ["c1"], ["r1"], name="relu1"))
    r1 = qdq("r1", "r1")
    nodes.append(helper.make_node("Conv", [r1] + weights("conv2", "r1"), ["c2"], pads=[1, 1, 1, 1], strides=[2, 2],
                                  name="conv2"))
    nodes.append(helper.make_node("Relu", ["c2"], ["r2"], name="relu2"))
    r2 = qdq("r2", "r2")
    nodes.append(helper.make_node("Conv", [r2] + weights("dw", "r2"), ["c3"], pads=[1, 1, 1, 1], group=32, name="dw"))
    nodes.append(helper.make_node("Relu", ["c3"], ["r3"], name="relu3"))
    r3 = qdq("r3", "r3")
    nodes.append(helper.make_node("Conv", [r3] + weights("pw", "r3"), ["c4"], name="pw"))
    c4 = qdq("c4", "c4")
    nodes.append(helper.make_node("Add", [c4, r2], ["s"], name="add"))
    s_ = qdq("s", "s")
    nodes.append(helper.make_node("GlobalAveragePool", [s_], ["p"], name="gap"))
    p = qdq("p", "p")
    nodes.append(helper.make_node("Flatten", [p], ["f"], name="flatten"))
    f = qdq("f", "f")
    nodes.append(helper.make_node("Gemm", [f] + weights("fc", "f"), ["y"], transB=1, name="fc"))
    # the output: Q/DQ of the Gemm result, named logits
    s, z = ap["logits"]
    const("logits_scale", np.array(s, np.float32))
    const("logits_zp", np.array(z, np.uint8))
    nodes.append(helper.make_node("QuantizeLinear", ["y", "logits_scale", "logits_zp"], ["logits_q"], name="logits_Q"))
    nodes.append(helper.make_node("DequantizeLinear", ["logits_q", "logits_scale", "logits_zp"], ["logits"],
                                  name="logits_DQ"))
    g = helper.make_graph(nodes, "qdq4_cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])], inits)
    m = helper.make_model(g, producer_name="make_qdq4.py", opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    onnx.checker.check_model(m)
    return m


def sh(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(" ".join(cmd) + "\n" + r.stdout[-3000:] + r.stderr[-3000:])
        raise SystemExit(1)
    return r.stdout + r.stderr


def evaluate(model, n, nnport, work, seed):
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(seed + 2)
    xs = []
    for i in range(n):
        x = os.path.join(work, "x%03d.npy" % i)
        np.save(x, (rng.random((1, 3, 32, 32), dtype=np.float32) * 2 - 1).astype(np.float32))
        xs.append(x)
    nnb = os.path.join(work, "qdq4.nnb")
    log = sh([nnport, "compile", model, "--target", "npu-small", "-o", nnb, "--check", "bitequal", "--check-per-layer",
              "--check-input", xs[0]])
    counts = [l for l in log.splitlines() if l.startswith("program:") or l.startswith("check") or "worst cosine" in l]
    print("\n".join(counts))
    step = output_steps(model)[0]
    total = within = 0
    worst = 0.0
    with open(os.path.join(work, "ort.tsv"), "w") as f:  # ORT loads the model once for all inputs
        f.writelines("%s\tx=%s\n" % (os.path.join(work, "ort%03d" % i), x) for i, x in enumerate(xs))
    sh(["node", os.path.join(REPO, "scripts", "ort_run.js"), model, "--batch-list", os.path.join(work, "ort.tsv")])
    for i, x in enumerate(xs):
        sd, od = os.path.join(work, "sim%03d" % i), os.path.join(work, "ort%03d" % i)
        sh([nnport, "run", nnb, "--input", "x=" + x, "--output-dir", sd])
        a = np.load(os.path.join(sd, "output_0.npy")).astype(np.float64)
        b = np.load(os.path.join(od, "output_0.npy")).astype(np.float64)
        d = np.abs(a - b) / step
        total += d.size
        within += int((d <= 1.0 + 1e-6).sum())
        worst = max(worst, float(d.max()))
    share = 100.0 * within / total
    print("simulator vs ONNX Runtime: %d inputs, %d output elements, %.2f%% within 1 step (step %.6g), max %.2f steps"
          % (n, total, share, step, worst))
    return share >= 99.9


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval", type=int, default=0)
    ap.add_argument("--nnport", default=os.path.join(REPO, "build", "nnport"))
    ap.add_argument("--work", default="/tmp/qdq4")
    a = ap.parse_args()
    m = build(a.seed)
    onnx.save(m, a.out)
    w = [numpy_helper.to_array(i) for i in m.graph.initializer if i.name.endswith("_w_q")]
    print("wrote %s: %d nodes, %d weight tensors in [%d, %d] (4-bit), opset 13"
          % (a.out, len(m.graph.node), len(w), min(int(x.min()) for x in w), max(int(x.max()) for x in w)))
    if a.eval and not evaluate(a.out, a.eval, a.nnport, a.work, a.seed):
        sys.exit(1)


if __name__ == "__main__":
    main()
