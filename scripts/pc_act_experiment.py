#!/usr/bin/python3
"""pc_act_experiment.py - what per-channel activation scales on depthwise-conv
inputs would buy (docs/QUANTIZATION.md section 6d).  Measurement only: it
rewrites a QDQ file made by `nnport quantize` and runs the variants in ONNX
Runtime (scripts/ort_run.js, `--opt basic`: no QDQ fusion, so every variant,
the unmodified baseline included, runs as DQ -> float op -> Q).

  /usr/bin/python3 scripts/pc_act_experiment.py rec|det --qdq Q.onnx [--work /tmp/pcexp/rec]
        [--variants base,a_pct,...] [--classes] [--probes] [--jitter N] [--eval-sets eval,eval_text]

Variants (tensors = the float inputs X of the activation QuantizeLinear that
feeds a depthwise Conv, group == input channels == weight dim 0):
  base     the QDQ file as written by nnport (per-tensor int8 everywhere)
  a_pct    the depthwise conv reads X through a new per-channel Q/DQ pair
           (axis 1, scale_c = P99.99(|x_c|)/127 over the calibration set);
           other consumers of X keep the per-tensor pair
  a_mm     the same with scale_c = max|x_c|/127
  b_pct    a_pct for every consumer (the shared Q replaced), and also
  b_mm     per-channel on every activation between the producing Conv and
           the depthwise conv (HardSwish input, BN Mul/Add outputs)
  a_mode   per-channel pair whose step is close to the per-tensor one but puts
           the channel's most common calibration value (flat background) exactly
           on the grid: step_c = |m_c| / round(|m_c| / s)
  c_float  X stays float (Q/DQ removed): the upper bound of any fix there
  d_i16    X fake-quantized to 16 bits per tensor (Div, Round, Clip, Mul:
           ONNX 1.12 / opset 14 has no int16 QuantizeLinear), scale max|x|/32767
  all_float every activation float (int8 weights only)
--classes: each class of tensors left float in turn (cls_* functions; rec
adds attention / LayerNorm / final FC / backbone vs neck, det backbone /
neck / head).  --jitter N: N more runs of each --variants row with every
activation scale times exp(sigma * N(0,1)) (mean +- sd printed).
--probes: the depthwise inputs as the only quantized activations, clip and
rounding separated (float Min/Max, Div/Round/Mul), per-tensor / per-channel
/ mode-aligned / mode-shifted grids; jitter of one region's scales only;
a table of the rounding error's DC share at the depthwise inputs.

Statistics come from the float model (the tensor names of nnport's QDQ file
are the float model's) run in ORT on <data>/calib with the tensors added as
graph outputs; scores against the float model run in ORT on the eval sets:
rec = lines whose CTC greedy reading equals float's (of 20) and output cosine;
det = IoU of (prob > 0.3) vs float, both maps empty counts 1, per set.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper as nh

sys.dont_write_bytecode = True  # no scripts/__pycache__ (make_inputs is imported for --eval-sets extra)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quant_eval import cos as cosine, ctc  # noqa: E402  (the scores quant_eval.py reports)

HOME = os.path.expanduser("~/.cache/nnport")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = {"rec": ("npm/package/assets/ch_PP-OCRv4_rec_infer.onnx", "ocr_rec"),
          "det": ("npm/package/assets/ch_PP-OCRv4_det_infer.onnx", "ocr_det")}
PCT = 99.99  # nnport's percentile calibrator default (docs/CALIBRATION.md)
PASS_THROUGH = {"HardSwish", "Relu", "Clip", "Mul", "Add", "Sub", "Div", "BatchNormalization", "HardSigmoid"}


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(" ".join(cmd) + "\n" + r.stdout + r.stderr)
    return r.stdout


def ort_batch(model, inputs, outdir):
    """Run MODEL on every .npy of INPUTS (list of paths) into OUTDIR/<stem>/."""
    os.makedirs(outdir, exist_ok=True)
    lst = os.path.join(outdir, "list.tsv")
    with open(lst, "w") as f:
        for p in inputs:
            f.write("%s\t%s\n" % (os.path.join(outdir, os.path.basename(p)[:-4]), p))
    run(["node", os.path.join(REPO, "scripts/ort_run.js"), model, "--batch-list", lst, "--opt", "basic"])


def npys(d):
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".npy"))


class Graph:
    def __init__(self, m):
        self.m = m
        self.inits = {i.name: i for i in m.graph.initializer}
        self.prod = {o: n for n in m.graph.node for o in n.output}
        self.cons = defaultdict(list)
        for n in m.graph.node:
            for i in n.input:
                self.cons[i].append(n)
        self.quantized = {n.input[0] for n in m.graph.node
                          if n.op_type == "QuantizeLinear" and n.input[0] not in self.inits}

    def qsrc(self, t):
        """X if t is DequantizeLinear(QuantizeLinear(X)) of an activation, else None."""
        d = self.prod.get(t)
        if d is None or d.op_type != "DequantizeLinear":
            return None
        q = self.prod.get(d.input[0])
        if q is None or q.op_type != "QuantizeLinear" or q.input[0] in self.inits:
            return None
        return q.input[0]

    def const(self, t):
        """t is an initializer or the DQ of one (a weight / scalar constant)."""
        if t in self.inits:
            return True
        d = self.prod.get(t)
        return d is not None and d.op_type == "DequantizeLinear" and d.input[0] in self.inits

    def act(self, t):
        """The float activation read through t (looking through Q/DQ), or t."""
        return self.qsrc(t) or t

    def weight(self, t):
        d = self.prod.get(t)
        name = d.input[0] if d is not None and d.op_type == "DequantizeLinear" else t
        return nh.to_array(self.inits[name]) if name in self.inits else None


def attr(n, name, default):
    for a in n.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def depthwise_convs(g):
    out = []
    for n in g.m.graph.node:
        if n.op_type != "Conv":
            continue
        w = g.weight(n.input[1])
        grp = attr(n, "group", 1)
        if w is not None and grp > 1 and w.shape[1] == 1 and w.shape[0] == grp and g.qsrc(n.input[0]):
            out.append(n)
    return out


def chain_back(g, x):
    """Quantized activations between the Conv producing x and x (HardSwish
    input, paddle2onnx BN Mul/Add outputs), x excluded."""
    out, t = [], x
    for _ in range(12):
        p = g.prod.get(t)
        if p is None or p.op_type == "Conv" or p.op_type not in PASS_THROUGH:
            break
        acts = [i for i in p.input if i and not g.const(i)]
        if len(acts) != 1:
            break
        src = g.act(acts[0])
        if src in g.quantized:
            out.append(src)
        t = src
    return out


# ---------------------------------------------------------------- classes (rec)
def cls_attention(g):
    s = set()
    for n in g.m.graph.node:
        if n.op_type == "MatMul" and not g.const(n.input[0]) and not g.const(n.input[1]):
            s |= {g.act(n.input[0]), g.act(n.input[1]), n.output[0]}
        if n.op_type == "Softmax":
            s |= {g.act(n.input[0]), n.output[0]}
    return s


def cls_layernorm(g):
    s = set()
    for n in g.m.graph.node:
        if n.op_type == "Div" and g.prod.get(g.act(n.input[1])) is not None \
                and g.prod[g.act(n.input[1])].op_type == "Sqrt":
            sq = g.prod[g.act(n.input[1])]
            add = g.prod[g.act(sq.input[0])]
            rm2 = g.prod[g.act([i for i in add.input if not g.const(i)][0])]
            pw = g.prod[g.act(rm2.input[0])]
            sub = g.prod[g.act(pw.input[0])]
            rm1 = g.prod[g.act(sub.input[1])]
            s |= {x.output[0] for x in (n, sq, add, rm2, pw, sub, rm1)}
            t = n.output[0]
            for op in ("Mul", "Add"):  # gamma, beta
                nxt = None
                for c in g.cons[t]:
                    if c.op_type == "QuantizeLinear":
                        for d in g.cons[c.output[0]]:
                            for e in g.cons[d.output[0]]:
                                if e.op_type == op:
                                    nxt = e
                    elif c.op_type == op:
                        nxt = c
                if nxt is None:
                    break
                s.add(nxt.output[0])
                t = nxt.output[0]
    return s


def cls_final_fc(g):
    mm = [n for n in g.m.graph.node if n.op_type in ("MatMul", "Gemm") and g.const(n.input[1])]
    last = mm[-1]
    s = {g.act(last.input[0]), last.output[0]}
    t = last.output[0]
    for _ in range(3):  # bias Add before the Softmax
        nxt = [c for c in g.cons[t] if c.op_type == "Add"]
        if not nxt:
            q = [c for c in g.cons[t] if c.op_type == "QuantizeLinear"]
            if q:
                d = g.cons[q[0].output[0]]
                nxt = [e for dd in d for e in g.cons[dd.output[0]] if e.op_type == "Add"]
        if not nxt:
            break
        s.add(nxt[0].output[0])
        t = nxt[0].output[0]
    return s


def cls_residual(g):
    return {n.output[0] for n in g.m.graph.node
            if n.op_type == "Add" and not g.const(n.input[0]) and not g.const(n.input[1])}


def cls_pw_conv_in(g, dws):
    dwn = {n.name for n in dws}
    return {g.act(n.input[0]) for n in g.m.graph.node if n.op_type == "Conv" and n.name not in dwn}


def cls_se(g):
    """Squeeze-excitation: GlobalAveragePool, Relu, HardSigmoid outputs and the scaling Mul."""
    s = {n.output[0] for n in g.m.graph.node if n.op_type in ("GlobalAveragePool", "HardSigmoid", "Relu")}
    for n in g.m.graph.node:
        if n.op_type == "Mul" and any(g.act(i) in s and g.prod[g.act(i)].op_type == "HardSigmoid"
                                      for i in n.input if g.act(i) in g.prod):
            s.add(n.output[0])
    return s


def cls_region(g, after):
    """Tensors produced before (after=False) or after the backbone's final AveragePool (rec)."""
    nodes = list(g.m.graph.node)
    cut = [k for k, n in enumerate(nodes) if n.op_type == "AveragePool"][-1]
    s = {o for k, n in enumerate(nodes) for o in n.output if (k > cut) == after}
    if not after:
        s |= {i.name for i in g.m.graph.input}
    return s


def cls_hswish_chain(g):
    """Outputs of the HardSwish table chains (HardSwish, then scalar Mul/Add)."""
    s = set()
    for n in g.m.graph.node:
        if n.op_type != "HardSwish":
            continue
        t = n.output[0]
        s.add(t)
        while True:
            nxt = [c for c in g.cons[t] if c.op_type in ("Mul", "Add") and any(g.const(i) for i in c.input)]
            if len(nxt) != 1:
                break
            t = nxt[0].output[0]
            s.add(t)
    return s


def cls_bn_affine(g):
    """paddle2onnx's unfolded BN / reparam affine after a Conv: Mul/Add with a constant, not a HardSwish chain."""
    hs = cls_hswish_chain(g)
    s = set()
    for n in g.m.graph.node:
        if n.op_type in ("Mul", "Add") and n.output[0] not in hs and any(g.const(i) for i in n.input):
            src = [g.act(i) for i in n.input if not g.const(i)]
            if len(src) == 1 and src[0] in g.prod and (g.prod[src[0]].op_type == "Conv" or src[0] in s):
                s.add(n.output[0])
    return s


def ancestors(g, t):
    seen, stack = set(), [t]
    while stack:
        x = stack.pop()
        if x in seen or x not in g.prod:
            continue
        seen.add(x)
        stack += [g.act(i) for i in g.prod[x].input if i and not g.const(i)]
    return seen


def det_regions(g):
    """det: backbone = ancestors of the last HardSwish chain output; head = the
    Concat of the FPN and everything after it; neck = the rest."""
    nodes = [n for n in g.m.graph.node if n.op_type not in ("QuantizeLinear", "DequantizeLinear")]
    hs = [n for n in nodes if n.op_type == "HardSwish"][-1]
    t = hs.output[0]
    while True:
        nxt = [c for c in g.cons[t] if c.op_type in ("Mul", "Add") and any(g.const(i) for i in c.input)]
        if len(nxt) != 1:
            break
        t = nxt[0].output[0]
    bb = ancestors(g, t) | {i.name for i in g.m.graph.input}
    cut = [k for k, n in enumerate(nodes) if n.op_type == "Concat"][-1]
    head = {o for n in nodes[cut:] for o in n.output}
    allt = {o for n in nodes for o in n.output} | {i.name for i in g.m.graph.input}
    return bb, allt - bb - head, head


def cls_conv_out(g):
    """Every Conv output and the BN/HardSwish chain after it up to the next conv input."""
    return {n.output[0] for n in g.m.graph.node if n.op_type == "Conv"}


# ---------------------------------------------------------------- rewriting
def rewrite(m, float_set=(), pc=None, pc_only=None, i16=None):
    """float_set: activations whose Q/DQ is removed (every consumer reads X);
    pc: X -> (scales [C]) per-channel int8 pair; pc_only: restrict pc to these
    consumer node names (None: every consumer); i16: X -> scale, 16-bit fake quant."""
    pc, i16 = pc or {}, i16 or {}
    out = onnx.ModelProto()
    out.CopyFrom(m)
    g = Graph(out)
    made, before = {}, defaultdict(list)
    new_inits = []
    for idx, n in enumerate(out.graph.node):
        if n.op_type in ("QuantizeLinear", "DequantizeLinear"):
            continue
        for k, t in enumerate(n.input):
            x = g.qsrc(t)
            if x is None:
                continue
            if x in float_set:
                n.input[k] = x
            elif x in pc and (pc_only is None or n.name in pc_only):
                if ("pc", x) not in made:
                    sc = np.maximum(np.asarray(pc[x], np.float32), 1e-12) / 127.0
                    b = "pcexp_" + x
                    new_inits += [nh.from_array(sc.astype(np.float32), b + "_s"),
                                  nh.from_array(np.zeros(len(sc), np.int8), b + "_z")]
                    before[idx] += [helper.make_node("QuantizeLinear", [x, b + "_s", b + "_z"], [b + "_q"], axis=1),
                                    helper.make_node("DequantizeLinear", [b + "_q", b + "_s", b + "_z"], [b + "_dq"],
                                                     axis=1)]
                    made[("pc", x)] = b + "_dq"
                n.input[k] = made[("pc", x)]
            elif x in i16:
                if ("i16", x) not in made:
                    b = "i16exp_" + x
                    new_inits += [nh.from_array(np.array(i16[x] / 32767.0, np.float32), b + "_s"),
                                  nh.from_array(np.array(-32768.0, np.float32), b + "_lo"),
                                  nh.from_array(np.array(32767.0, np.float32), b + "_hi")]
                    before[idx] += [helper.make_node("Div", [x, b + "_s"], [b + "_d"]),
                                    helper.make_node("Round", [b + "_d"], [b + "_r"]),
                                    helper.make_node("Clip", [b + "_r", b + "_lo", b + "_hi"], [b + "_c"]),
                                    helper.make_node("Mul", [b + "_c", b + "_s"], [b + "_dq"])]
                    made[("i16", x)] = b + "_dq"
                n.input[k] = made[("i16", x)]
    nodes = []
    for idx, n in enumerate(out.graph.node):
        nodes += before.get(idx, [])
        nodes.append(n)
    # drop Q/DQ nodes nobody reads any more
    outs = {o.name for o in out.graph.output}
    while True:
        used = {i for n in nodes for i in n.input} | outs
        keep = [n for n in nodes if n.op_type not in ("QuantizeLinear", "DequantizeLinear")
                or any(o in used for o in n.output)]
        if len(keep) == len(nodes):
            break
        nodes = keep
    del out.graph.node[:]
    out.graph.node.extend(nodes)
    out.graph.initializer.extend(new_inits)
    return out


def mode_step(mode_c, s):
    """Per-channel steps close to the per-tensor step s that put each channel's
    most common value exactly on the grid: |m_c| / round(|m_c| / s) (s when
    |m_c| < s/2: then the value is within half a step of 0 anyway)."""
    k = np.round(np.abs(mode_c) / s)
    return np.where(k >= 1, np.abs(mode_c) / np.maximum(k, 1), s).astype(np.float32)


def rewrite_dw(m, float_set, targets, dwnames, C, scale, clip, do_round=True, offset=None):
    """Like rewrite(), but the depthwise convs (dwnames) read each target X
    through float ops: optional per-channel clip to [-clip_c, clip_c]
    (Min/Max), optional rounding to the per-channel step scale_c (Div, Round,
    Mul; no saturation).  scale/clip: functions X -> array [C] or scalar.
    offset: X -> [C]: the grid is shifted by offset_c (Sub before, Add after)."""
    out = onnx.ModelProto()
    out.CopyFrom(m)
    g = Graph(out)
    made, before, inits = {}, defaultdict(list), []
    for idx, n in enumerate(out.graph.node):
        if n.op_type in ("QuantizeLinear", "DequantizeLinear"):
            continue
        for k, t in enumerate(n.input):
            x = g.qsrc(t)
            if x is None:
                continue
            if x in targets and n.name in dwnames:
                if x not in made:
                    b, nodes, cur, c = "fqexp_" + x, [], x, C[x]
                    if offset is not None:
                        off = np.asarray(offset(x), np.float32).reshape(1, c, 1, 1)
                        inits.append(nh.from_array(off.astype(np.float32), b + "_off"))
                        nodes.append(helper.make_node("Sub", [cur, b + "_off"], [b + "_sub"]))
                        cur = b + "_sub"
                    if clip is not None:
                        hi = np.broadcast_to(np.asarray(clip(x), np.float32), (c,)).reshape(1, c, 1, 1)
                        inits += [nh.from_array(hi.astype(np.float32), b + "_hi"),
                                  nh.from_array((-hi).astype(np.float32), b + "_lo")]
                        nodes += [helper.make_node("Min", [cur, b + "_hi"], [b + "_m1"]),
                                  helper.make_node("Max", [b + "_m1", b + "_lo"], [b + "_m2"])]
                        cur = b + "_m2"
                    if do_round:
                        sc = np.broadcast_to(np.asarray(scale(x), np.float32), (c,)).reshape(1, c, 1, 1)
                        inits.append(nh.from_array(np.maximum(sc, 1e-12).astype(np.float32), b + "_s"))
                        nodes += [helper.make_node("Div", [cur, b + "_s"], [b + "_d"]),
                                  helper.make_node("Round", [b + "_d"], [b + "_r"]),
                                  helper.make_node("Mul", [b + "_r", b + "_s"], [b + "_o"])]
                        cur = b + "_o"
                    if offset is not None:
                        nodes.append(helper.make_node("Add", [cur, b + "_off"], [b + "_add"]))
                        cur = b + "_add"
                    before[idx] += nodes
                    made[x] = cur
                n.input[k] = made[x]
            elif x in float_set:
                n.input[k] = x
    nodes = []
    for idx, n in enumerate(out.graph.node):
        nodes += before.get(idx, [])
        nodes.append(n)
    del out.graph.node[:]
    out.graph.node.extend(nodes)
    out.graph.initializer.extend(inits)
    return out


def dc_table(float_stats, names, dw_in, qscale, st, files, work):
    """Per depthwise input on FILES: quantization error / signal energy and the
    share of the error that is a per-channel constant (DC), per-tensor and
    per-channel P99.99; and the share of elements within half a per-tensor
    step of their channel's most common value (flat regions)."""
    od = os.path.join(work, "dc_run")
    ort_batch(float_stats, files, od)
    print("depthwise input | per-tensor err/signal, DC share | per-channel P99.99 err/signal, DC share | flat share")
    for x in dw_in:
        k = names.index(x)
        rows = []
        for p in files:
            a = np.load(os.path.join(od, os.path.basename(p)[:-4], "output_%d.npy" % k))[0].astype(np.float64)
            c = a.shape[0]
            a = a.reshape(c, -1)
            r = []
            for sc in (np.full((c, 1), qscale[x]), (np.maximum(st[x]["pct_c"], 1e-12) / 127).reshape(c, 1)):
                e = np.clip(np.round(a / sc), -128, 127) * sc - a
                r += [np.sum(e ** 2) / np.sum(a ** 2),
                      (e.mean(1) ** 2).sum() * a.shape[1] / max(np.sum(e ** 2), 1e-30)]
            qi = np.round(a / (qscale[x] / 8)).astype(np.int64)
            mode = np.array([np.bincount(row - row.min()).argmax() + row.min() for row in qi]).reshape(c, 1)
            r.append(np.mean(np.abs(qi - mode) <= 4))
            rows.append(r)
        r = np.mean(rows, 0)
        print("%s | %.4f %.2f | %.4f %.2f | %.2f" % (x, r[0], r[1], r[2], r[3], r[4]), flush=True)
    shutil.rmtree(od)


# ---------------------------------------------------------------- statistics
def collect_stats(float_path, names, calib_files, work):
    """Per-tensor and per-channel max|x| and P99.99(|x|) over the calibration set."""
    cache = os.path.join(work, "stats.npz")
    if os.path.exists(cache):
        z = np.load(cache, allow_pickle=True)
        st = z["stats"].item()
        if all(n in st and "mode_c" in st[n] for n in names):
            return st
    m = onnx.load(float_path)
    have = {o for n in m.graph.node for o in n.output} | {i.name for i in m.graph.input}
    miss = [n for n in names if n not in have]
    if miss:
        sys.exit("tensors not in the float model: %s" % miss[:5])
    base = len(m.graph.output)
    for n in names:
        m.graph.output.append(helper.make_tensor_value_info(n, TensorProto.FLOAT, None))
    sp = os.path.join(work, "float_stats.onnx")
    onnx.save(m, sp)
    od = os.path.join(work, "stats_run")
    ort_batch(sp, calib_files, od)
    dirs = [os.path.join(od, os.path.basename(p)[:-4]) for p in calib_files]
    st = {}
    for k, n in enumerate(names):
        xs = [np.load(os.path.join(d, "output_%d.npy" % (base + k)), mmap_mode="r") for d in dirs]
        c = xs[0].shape[1]
        sv = np.concatenate([x.reshape(x.shape[0], c, -1).transpose(1, 0, 2).reshape(c, -1) for x in xs], axis=1)
        per = np.abs(sv)
        st[n] = {"c": c, "max": float(per.max()), "pct": float(np.percentile(per, PCT)),
                 "max_c": per.max(axis=1), "pct_c": np.percentile(per, PCT, axis=1)}
        # the most common value of each channel (flat background): mean of the
        # values in the fullest bin of width (per-tensor P99.99 / 127) / 8
        w = max(st[n]["pct"] / 127 / 8, 1e-12)
        mode = np.zeros(c, np.float32)
        for ch in range(c):
            b = np.round(sv[ch] / w).astype(np.int64)
            u, cnt = np.unique(b, return_counts=True)
            mode[ch] = sv[ch][b == u[cnt.argmax()]].mean()
        st[n]["mode_c"] = mode
    shutil.rmtree(od)
    np.savez(cache, stats=np.array(st, dtype=object))
    return st


# ---------------------------------------------------------------- scoring
def det_boxes(p):
    """DB-style boxes: connected components of p > 0.3 (8-connected) with at
    least 9 pixels and mean probability > 0.6 (PaddleOCR box_thresh), as
    axis-aligned rectangles (y0, x0, y1, x1)."""
    from scipy import ndimage
    lab, k = ndimage.label(p > 0.3, structure=np.ones((3, 3)))
    out = []
    for i, sl in enumerate(ndimage.find_objects(lab)):
        m = lab[sl] == i + 1
        if m.sum() >= 9 and p[sl][m].mean() > 0.6:
            out.append((sl[0].start, sl[1].start, sl[0].stop, sl[1].stop))
    return out


def box_match(bf, bq):
    """Greedy one-to-one matching at rectangle IoU >= 0.5: number of matches."""
    def iou(a, b):
        h = max(0, min(a[2], b[2]) - max(a[0], b[0]))
        w = max(0, min(a[3], b[3]) - max(a[1], b[1]))
        i = h * w
        return i / float((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i)
    pairs = sorted(((iou(a, b), i, j) for i, a in enumerate(bf) for j, b in enumerate(bq)), reverse=True)
    used_f, used_q, n = set(), set(), 0
    for v, i, j in pairs:
        if v >= 0.5 and i not in used_f and j not in used_q:
            used_f.add(i)
            used_q.add(j)
            n += 1
    return n


def score(kind, fdir, qdir, files):
    r = []
    for p in files:
        s = os.path.basename(p)[:-4]
        F = np.load(os.path.join(fdir, s, "output_0.npy"))
        Q = np.load(os.path.join(qdir, s, "output_0.npy"))
        if kind == "rec":
            fa = F.reshape(-1, F.shape[-1]).argmax(-1)
            qa = Q.reshape(-1, Q.shape[-1]).argmax(-1)
            r.append((int(ctc(F) == ctc(Q)), cosine(F, Q), int((fa == qa).sum()), len(fa)))
        else:
            mf, mq = F > 0.3, Q > 0.3
            u = (mf | mq).sum()
            bf, bq = det_boxes(F[0, 0]), det_boxes(Q[0, 0])
            r.append(((mf & mq).sum() / u if u else 1.0, cosine(F, Q), box_match(bf, bq), len(bf), len(bq)))
    return r


def fmt(kind, sets):
    cells = []
    for name, r in sets:
        a = np.array([x[0] for x in r])
        c = np.array([x[1] for x in r])
        if kind == "rec":
            fr = sum(x[2] for x in r) / float(sum(x[3] for x in r))
            cells.append(name + " %d/%d lines, cos min %.4f mean %.4f, frames %.2f%%" % (a.sum(), len(a), c.min(), c.mean(),
                                                                              100 * fr))
        else:
            m, nf, nq = (sum(x[k] for x in r) for k in (2, 3, 4))
            cells.append("%s IoU min %.3f mean %.3f, boxes %d/%d/%d F1 %.3f" % (
                name, a.min(), a.mean(), m, nf, nq, 2.0 * m / max(1, nf + nq)))
    return " | ".join(cells)


def jitter(m, seed, sigma, only=None):
    """Every activation scale (QuantizeLinear's, shared with its DQ) times exp(sigma * N(0,1)),
    per element: the same quantizer with a slightly different grid.  only: restrict
    to the quantizers of these tensors."""
    out = onnx.ModelProto()
    out.CopyFrom(m)
    g = Graph(out)
    rng = np.random.RandomState(seed)
    done = set()
    for n in out.graph.node:
        if n.op_type == "QuantizeLinear" and n.input[0] not in g.inits and n.input[1] not in done \
                and (only is None or n.input[0] in only):
            done.add(n.input[1])
            init = g.inits[n.input[1]]
            v = nh.to_array(init)
            v = (v * np.exp(sigma * rng.randn(*v.shape))).astype(np.float32)
            init.CopyFrom(nh.from_array(v, n.input[1]))
    return out


def jitter_summary(kind, runs):
    cells = []
    for k, name in enumerate(x[0] for x in runs[0]):
        if kind == "rec":
            lines = [sum(y[0] for y in r[k][1]) for r in runs]
            fr = [100.0 * sum(y[2] for y in r[k][1]) / sum(y[3] for y in r[k][1]) for r in runs]
            co = [np.mean([y[1] for y in r[k][1]]) for r in runs]
            cells.append("%s lines %.1f +- %.1f (%d..%d), cos mean %.4f, frames %.2f%% +- %.2f" % (
                name, np.mean(lines), np.std(lines), min(lines), max(lines), np.mean(co), np.mean(fr), np.std(fr)))
        else:
            iou = [np.mean([y[0] for y in r[k][1]]) for r in runs]
            f1 = [2.0 * sum(y[2] for y in r[k][1]) / max(1, sum(y[3] + y[4] for y in r[k][1])) for r in runs]
            cells.append("%s IoU mean %.3f +- %.3f (%.3f..%.3f), F1 %.3f +- %.3f" % (
                name, np.mean(iou), np.std(iou), min(iou), max(iou), np.mean(f1), np.std(f1)))
    return " | ".join(cells)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", choices=sorted(MODELS))
    ap.add_argument("--qdq", required=True)
    ap.add_argument("--work", default=None)
    ap.add_argument("--variants", default="base,a_pct,a_mm,a_mode,b_pct,b_mm,c_float,d_i16,all_float")
    ap.add_argument("--classes", action="store_true")
    ap.add_argument("--eval-sets", default=None, help="default: eval,extra (rec), eval,eval_text (det); "
                    "extra = 60 more rendered lines (make_inputs.rec_eval_extra: ocr_rec/eval_extra)")
    ap.add_argument("--keep", action="store_true", help="keep the variant .onnx files")
    ap.add_argument("--jitter", type=int, default=0, help="also N runs with every activation scale jittered")
    ap.add_argument("--sigma", type=float, default=0.03, help="jitter: relative sd of the scales (default 0.03)")
    ap.add_argument("--probes", action="store_true",
                    help="depthwise inputs alone (clip vs round), jitter by region, DC table of the rounding error")
    a = ap.parse_args()
    rel, data = MODELS[a.model]
    fpath = os.path.join(HOME, rel)
    work = a.work or os.path.join("/tmp/pcexp", a.model)
    os.makedirs(work, exist_ok=True)
    sets = (a.eval_sets or ("eval,extra" if a.model == "rec" else "eval,eval_text")).split(",")
    if a.model == "rec" and "extra" in sets:
        import make_inputs
        make_inputs.rec_eval_extra()
    evf = {s: npys(os.path.join(HOME, "data", data, "eval_extra" if s == "extra" else s)) for s in sets}
    calib = npys(os.path.join(HOME, "data", data, "calib"))
    assert not ({os.path.basename(p) for s in sets for p in evf[s]} & {os.path.basename(p) for p in calib})
    for s in sets:  # nothing evaluated is a calibration input (same array)
        for p in evf[s]:
            x = np.load(p)
            assert not any(x.shape == np.load(c).shape and np.array_equal(x, np.load(c)) for c in calib), p

    m = onnx.load(a.qdq)
    g = Graph(m)
    dws = depthwise_convs(g)
    dw_in = []
    for n in dws:
        x = g.qsrc(n.input[0])
        if x not in dw_in:
            dw_in.append(x)
    chains = sorted({t for x in dw_in for t in chain_back(g, x)} - set(dw_in))
    print("%d depthwise convs, %d distinct input tensors, %d chain tensors behind them" %
          (len(dws), len(dw_in), len(chains)))
    st = collect_stats(fpath, dw_in + chains, calib, work)
    # sanity: our per-tensor P99.99 against the scale nnport wrote
    qscale = {n.input[0]: float(nh.to_array(g.inits[n.input[1]])) for n in m.graph.node
              if n.op_type == "QuantizeLinear" and n.input[0] in dw_in}
    print("depthwise input | C | nnport T | our P99.99 | max | per-channel P99.99 min..max | ratio max/min")
    for x in dw_in:
        s = st[x]
        print("%s | %d | %.3f | %.3f | %.3f | %.3f..%.3f | %.0f" % (
            x, s["c"], qscale[x] * 127, s["pct"], s["max"], s["pct_c"].min(), s["pct_c"].max(),
            s["pct_c"].max() / max(s["pct_c"].min(), 1e-9)))

    for s in sets:  # float reference in ORT
        fd = os.path.join(work, "float_" + s)
        if not os.path.isdir(fd):
            ort_batch(fpath, evf[s], fd)

    dwnames = {n.name for n in dws}
    variants = []
    for v in a.variants.split(","):
        if v == "base":
            variants.append((v, m))
        elif v in ("a_pct", "a_mm"):
            k = "pct_c" if v == "a_pct" else "max_c"
            variants.append((v, rewrite(m, pc={x: st[x][k] for x in dw_in}, pc_only=dwnames)))
        elif v in ("b_pct", "b_mm"):
            k = "pct_c" if v == "b_pct" else "max_c"
            variants.append((v, rewrite(m, pc={x: st[x][k] for x in dw_in + chains})))
        elif v == "a_mode":
            variants.append((v, rewrite(m, pc={x: 127 * mode_step(st[x]["mode_c"], qscale[x]) for x in dw_in},
                                        pc_only=dwnames)))
        elif v == "c_float":
            variants.append((v, rewrite(m, float_set=set(dw_in))))
        elif v == "d_i16":
            variants.append((v, rewrite(m, i16={x: st[x]["max"] for x in dw_in})))
        elif v == "all_float":
            variants.append((v, rewrite(m, float_set=set(g.quantized))))
        else:
            sys.exit("unknown variant " + v)
    if a.classes:
        cl = [("dw_in", set(dw_in))]
        if a.model == "rec":
            cl += [("attention (MatMul x MatMul, Softmax in/out)", cls_attention(g)),
                   ("layernorm (whole decomposed LN incl. gamma/beta)", cls_layernorm(g)),
                   ("final FC (input, output, bias Add)", cls_final_fc(g))]
        cl += [("residual Adds (outputs)", cls_residual(g)),
              ("non-depthwise conv inputs", cls_pw_conv_in(g, dws)),
              ("conv outputs", cls_conv_out(g)),
              ("HardSwish chain outputs", cls_hswish_chain(g)),
              ("squeeze-excitation (GAP, Relu, HardSigmoid, scale Mul)", cls_se(g))]
        if a.model == "det":
            bb, neck, head = det_regions(g)
            cl += [("BN affine Mul/Add outputs", cls_bn_affine(g)), ("backbone", bb), ("neck (RSE-FPN)", neck),
                   ("head (Concat onward)", head)]
        if a.model == "rec":
            cl += [("backbone (up to the AveragePool)", cls_region(g, False)),
                   ("neck + head (after the AveragePool)", cls_region(g, True))]
        for name, s in cl:
            s = s & g.quantized
            variants.append(("float: %s [%d]" % (name, len(s)), rewrite(m, float_set=s)))
        pcm = {x: st[x]["pct_c"] for x in dw_in}
        for name, s in cl[1:]:
            s = s & g.quantized
            variants.append(("a_pct + float: %s" % name, rewrite(m, float_set=s, pc=pcm, pc_only=dwnames)))
    jit_only, jit_ok = {}, set(a.variants.split(","))  # jitter: the --variants rows and the region probes
    if a.probes:
        others = g.quantized - set(dw_in)
        C = {x: st[x]["c"] for x in dw_in}

        def T(x):
            return qscale[x] * 127
        probes = [("per-tensor P99.99 (nnport's)", lambda x: T(x) / 127, T, True),
                  ("clip only at per-tensor P99.99", None, T, False),
                  ("round only, per-tensor P99.99 step", lambda x: T(x) / 127, None, True),
                  ("per-tensor max", lambda x: st[x]["max"] / 127, lambda x: st[x]["max"], True),
                  ("clip only at per-channel P99.99", None, lambda x: st[x]["pct_c"], False),
                  ("round only, per-channel P99.99 step", lambda x: st[x]["pct_c"] / 127, None, True),
                  ("per-channel P99.99", lambda x: st[x]["pct_c"] / 127, lambda x: st[x]["pct_c"], True),
                  ("per-channel max", lambda x: st[x]["max_c"] / 127, lambda x: st[x]["max_c"], True),
                  ("per-channel step putting the channel's mode on the grid (~ per-tensor step)",
                   lambda x: mode_step(st[x]["mode_c"], qscale[x]),
                   lambda x: 127 * mode_step(st[x]["mode_c"], qscale[x]), True)]
        for name, sc, clp, rnd in probes:
            variants.append(("only dw inputs quantized: " + name,
                             rewrite_dw(m, others, set(dw_in), dwnames, C, sc, clp, rnd)))
        # the per-tensor grid shifted so that each channel's mode is a grid point
        # (round((x - m_c)/s)*s + m_c, clipped to the int8 range around m_c)
        shifted = [("only dw inputs quantized: per-tensor step, grid shifted to the channel's mode", others),
                   ("all int8, dw inputs: per-tensor step, grid shifted to the channel's mode", set())]
        for name, fset in shifted:
            variants.append((name, rewrite_dw(m, fset, set(dw_in), dwnames, C, lambda x: qscale[x],
                                              lambda x: np.full(C[x], qscale[x] * 127.0), True,
                                              offset=lambda x: st[x]["mode_c"])))
        if a.model == "rec":
            bb, rest = cls_region(g, False) & g.quantized, cls_region(g, True) & g.quantized
        else:
            b3, n3, h3 = det_regions(g)
            bb, rest = b3 & g.quantized, (n3 | h3) & g.quantized
        for name, only in (("dw inputs", set(dw_in)), ("backbone except dw inputs", bb - set(dw_in)),
                           ("neck + head", rest)):
            v = "base, jitter only %s [%d]" % (name, len(only))
            variants.append((v, m))
            jit_only[v] = only
            jit_ok.add(v)
        fs = os.path.join(work, "float_stats.onnx")
        dc_table(fs, [o.name for o in onnx.load(fs).graph.output], dw_in, qscale, st,
                 evf[sets[-1]][:10], work)
    results = {}
    for v, mv in variants:
        tag = "".join(ch if ch.isalnum() else "_" for ch in v)[:40]
        summ = []
        first = 1 if v in jit_only else 0
        for seed in range(first, (a.jitter if v in jit_ok else 0) + 1):
            mp = os.path.join(work, tag + ".onnx")
            onnx.save(jitter(mv, seed, a.sigma, jit_only.get(v)) if seed else mv, mp)
            rs = []
            for s in sets:
                qd = os.path.join(work, "q_" + tag + "_" + s)
                ort_batch(mp, evf[s], qd)
                rs.append((s, score(a.model, os.path.join(work, "float_" + s), qd, evf[s])))
                shutil.rmtree(qd)
            if not a.keep:
                os.remove(mp)
            if seed == first:
                if seed == 0:
                    print("%-52s %s" % (v, fmt(a.model, rs)), flush=True)
                results[v] = {"files": {s: [os.path.basename(p)[:-4] for p in evf[s]] for s in sets},
                              "scores": [(x[0], [list(map(float, y)) for y in x[1]]) for x in rs], "jitter": []}
            if seed:
                results[v]["jitter"].append([(x[0], [list(map(float, y)) for y in x[1]]) for x in rs])
                summ.append(rs)
        if summ:
            print("%-52s %s" % (("%s: " % v if v in jit_only else "  ") + "jitter x%d (sigma %.2f)" % (a.jitter, a.sigma),
                                 jitter_summary(a.model, summ)), flush=True)
    with open(os.path.join(work, "results.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
