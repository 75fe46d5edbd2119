#!/usr/bin/env python3
"""nnport quantize --we and --smooth-quant, checked through the files they write.

Two hand-made models whose rewrites can be worked out by hand:

  CLE:   x (1,2,4,4) -> Conv W1 (3,2,1,1) -> Relu -> Conv W2 (2,3,1,1) -> y
         Row ranges of W1 r1 = (4, 0.5, 1), column ranges of W2 r2 =
         (0.25, 2, 1).  Cross-layer equalization (Nagel et al. 2019, sec.
         4.1) scales channel i by s_i = sqrt(r1_i r2_i) / r2_i = (4, 0.5, 1),
         after which both ranges are sqrt(r1_i r2_i) = (1, 1, 1).
  Smooth: x (1,4,3) -> MatMul W (3,2) -> y, calibration samples whose
         channel maxima are max|x_j| = (8, 1, 2); row maxima of W are
         (0.5, 2, 1).  SmoothQuant (Xiao et al. 2023, eq. 4) with alpha 0.5:
         s_j = sqrt(max|x_j|) / sqrt(max|W_j|) = (4, 0.7071, 1.4142); x is
         a graph input, so with --smooth-insert-mul a Mul(x, 1/s) is
         inserted, and W' = diag(s) W has row maxima (2, 1.4142, 1.4142);
         without it nothing can absorb 1/s and the model is left alone.

The QDQ files' int8 weights are dequantized here (per-channel scale x
value) and compared with those figures within half a quantization step.
Without the option the same files must keep the original ranges (so the
check can tell the two apart).  Prints "rewrites: N passed, N failed".
"""
import argparse
import filecmp
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

passed = failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL", what)


def save_model(path, nodes, inits, x_shape, y_shape):
    g = helper.make_graph(nodes, "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])
    m.ir_version = 7
    onnx.save(m, path)


def dequantized_inputs(path):
    """{consumer op_type: [(input index, dequantized float array, step)]} for
    DequantizeLinear nodes whose inputs are all constants."""
    m = onnx.load(path)
    init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    for n in m.graph.node:   # Constant nodes count as initializers
        if n.op_type == "Constant":
            init[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    deq = {}
    for n in m.graph.node:
        if n.op_type != "DequantizeLinear" or not all(i in init for i in n.input if i):
            continue
        q = init[n.input[0]].astype(np.float64)
        s = init[n.input[1]].astype(np.float64)
        z = init[n.input[2]].astype(np.float64) if len(n.input) > 2 and n.input[2] else np.zeros_like(s)
        axis = next((a.i for a in n.attribute if a.name == "axis"), 1)
        if s.ndim == 1 and s.size > 1:
            shp = [1] * q.ndim
            shp[axis] = s.size
            s, z = s.reshape(shp), z.reshape(shp)
        deq[n.output[0]] = ((q - z) * s, float(np.max(s)))
    out = {}
    for n in m.graph.node:
        for k, i in enumerate(n.input):
            if i in deq:
                out.setdefault(n.op_type, []).append((k, deq[i][0], deq[i][1]))
    return out


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nnport", default="build/nnport")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="nnport_rw_")
    rng = np.random.default_rng(7)

    # ---- CLE ----
    w1 = rng.uniform(-1, 1, (3, 2, 1, 1)).astype(np.float32)
    r1 = np.array([4.0, 0.5, 1.0])
    for i in range(3):
        w1[i] *= r1[i] / np.max(np.abs(w1[i]))
    w2 = rng.uniform(-1, 1, (2, 3, 1, 1)).astype(np.float32)
    r2 = np.array([0.25, 2.0, 1.0])
    for i in range(3):
        w2[:, i] *= r2[i] / np.max(np.abs(w2[:, i]))
    save_model(os.path.join(tmp, "cle.onnx"),
               [helper.make_node("Conv", ["x", "w1", "b1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
                helper.make_node("Conv", ["r", "w2", "b2"], ["y"])],
               {"w1": w1, "b1": np.array([0.1, -0.2, 0.05], np.float32), "w2": w2,
                "b2": np.array([0.0, 0.3], np.float32)}, [1, 2, 4, 4], [1, 2, 4, 4])
    os.makedirs(os.path.join(tmp, "cal_cle"))
    for k in range(4):
        np.save(os.path.join(tmp, "cal_cle", "s%d.npy" % k), rng.normal(0, 1, (1, 2, 4, 4)).astype(np.float32))
    for we in (False, True):
        out = os.path.join(tmp, "cle_q%d.onnx" % we)
        rc, log = run([a.nnport, "quantize", os.path.join(tmp, "cle.onnx"), "--calib-data", os.path.join(tmp, "cal_cle"),
                       "-o", out] + (["--we"] if we else []))
        check(rc == 0, "quantize cle %s: %s" % (we, log[-400:]))
        if rc != 0:
            continue
        if we:
            check("equalization      1 conv pairs" in log, "--we summary names 1 pair: " + log[-400:])
        convs = [(k, w, step) for k, w, step in dequantized_inputs(out).get("Conv", []) if k == 1]
        check(len(convs) == 2, "two Conv weights dequantized, got %d" % len(convs))
        if len(convs) != 2:
            continue
        (_, d1, s1), (_, d2, s2) = sorted(convs, key=lambda c: c[1].shape[0], reverse=True)  # W1 has 3 rows
        rows = np.max(np.abs(d1.reshape(3, -1)), axis=1)
        cols = np.max(np.abs(d2[:, :, 0, 0]), axis=0)
        want_rows, want_cols = (np.ones(3), np.ones(3)) if we else (r1, r2)
        check(np.all(np.abs(rows - want_rows) <= 0.5 * s1 + 1e-6), "W1 row ranges %s, want %s (--we %s)" % (rows, want_rows, we))
        check(np.all(np.abs(cols - want_cols) <= 0.5 * s2 + 1e-6), "W2 column ranges %s, want %s (--we %s)" % (cols, want_cols, we))

    # ---- SmoothQuant ----
    w = rng.uniform(-1, 1, (3, 2)).astype(np.float32)
    mw = np.array([0.5, 2.0, 1.0])
    for j in range(3):
        w[j] *= mw[j] / np.max(np.abs(w[j]))
    save_model(os.path.join(tmp, "sq.onnx"), [helper.make_node("MatMul", ["x", "w"], ["y"])], {"w": w},
               [1, 4, 3], [1, 4, 2])
    mx = np.array([8.0, 1.0, 2.0])
    os.makedirs(os.path.join(tmp, "cal_sq"))
    for k in range(4):
        x = rng.uniform(-1, 1, (1, 4, 3)) * mx * 0.9
        x[0, k % 4, :] = mx * (1 if k % 2 else -1)   # the channel maxima, reached exactly
        np.save(os.path.join(tmp, "cal_sq", "s%d.npy" % k), x.astype(np.float32))
    s_want = np.sqrt(mx) / np.sqrt(mw)
    for alpha in (None, "0.5"):
        out = os.path.join(tmp, "sq_q%s.onnx" % (alpha or "none"))
        rc, log = run([a.nnport, "quantize", os.path.join(tmp, "sq.onnx"), "--calib-data", os.path.join(tmp, "cal_sq"),
                       "-o", out] + (["--smooth-quant", alpha, "--smooth-insert-mul"] if alpha else []))
        check(rc == 0, "quantize sq %s: %s" % (alpha, log[-400:]))
        if rc != 0:
            continue
        deq = dequantized_inputs(out)
        mm = [(wq, step) for k, wq, step in deq.get("MatMul", []) if k == 1]
        check(len(mm) == 1, "one MatMul weight dequantized, got %d" % len(mm))
        m = onnx.load(out)
        muls = [n for n in m.graph.node if n.op_type == "Mul"]
        if alpha:
            check("1 of 1 MatMul/Gemm inputs smoothed" in log, "--smooth-quant summary: " + log[-400:])
            check(len(muls) == 1, "one Mul inserted, got %d" % len(muls))
            consts = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
            inv, istep = None, 0.0
            for n in muls:
                for i in n.input:
                    if i in consts and consts[i].size == 3:
                        inv = consts[i].astype(np.float64).reshape(-1)
            if inv is None:   # the constant went through a DequantizeLinear
                for k, v, st in deq.get("Mul", []):
                    if v.size == 3:
                        inv, istep = v.reshape(-1), st
            check(inv is not None and np.all(np.abs(inv - 1 / s_want) <= 0.5 * istep + 1e-5),
                  "Mul constant %s, want 1/s = %s" % (inv, 1 / s_want))
            want_rows = mw * s_want
        else:
            check(len(muls) == 0, "no Mul without --smooth-quant, got %d" % len(muls))
            want_rows = mw
        if mm:
            rows = np.max(np.abs(mm[0][0]), axis=1)
            check(np.all(np.abs(rows - want_rows) <= 0.5 * mm[0][1] + 1e-6),
                  "W row maxima %s, want %s (--smooth-quant %s)" % (rows, want_rows, alpha))

    # without --smooth-insert-mul a graph input has no producer to take 1/s
    rc, log = run([a.nnport, "quantize", os.path.join(tmp, "sq.onnx"), "--calib-data", os.path.join(tmp, "cal_sq"),
                   "-o", os.path.join(tmp, "sq_noins.onnx"), "--smooth-quant", "0.5"])
    check(rc == 0 and "0 of 1 MatMul/Gemm inputs smoothed" in log and "1 without a producer" in log,
          "--smooth-quant without --smooth-insert-mul: " + log[-400:])
    if rc == 0:
        check(filecmp.cmp(os.path.join(tmp, "sq_noins.onnx"), os.path.join(tmp, "sq_qnone.onnx"), shallow=False),
              "nothing smoothed: the same file as without --smooth-quant")

    # bad values are refused with the option's name
    rc, log = run([a.nnport, "quantize", os.path.join(tmp, "sq.onnx"), "--calib-data", os.path.join(tmp, "cal_sq"),
                   "-o", os.path.join(tmp, "bad.onnx"), "--smooth-quant", "1.5"])
    check(rc == 2 and "bad --smooth-quant" in log and not os.path.exists(os.path.join(tmp, "bad.onnx")),
          "--smooth-quant 1.5: %d %s" % (rc, log[-300:]))
    rc, log = run([a.nnport, "quantize", os.path.join(tmp, "cle.onnx"), "--calib-data", os.path.join(tmp, "cal_cle"),
                   "-o", os.path.join(tmp, "bad.onnx"), "--we-clip", "always"])
    check(rc == 2 and "unknown --we-clip 'always'" in log, "--we-clip always: %d %s" % (rc, log[-300:]))
    rc, log = run([a.nnport, "quantize", os.path.join(tmp, "sq.onnx"), "--calib-data", os.path.join(tmp, "cal_sq"),
                   "-o", os.path.join(tmp, "bad.onnx"), "--we"])
    check(rc == 0 and "no Conv -> [Relu] -> Conv pair" in log, "--we on a model without convs warns: " + log[-300:])

    subprocess.run(["rm", "-rf", tmp])
    print("rewrites: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
