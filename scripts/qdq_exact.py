#!/usr/bin/python3
"""qdq_exact.py - the exact arithmetic of a QDQ ONNX model, in float64.

A third opinion for "simulator vs ONNX Runtime" (docs/TARGET.md): every
DequantizeLinear, float op and QuantizeLinear of the graph evaluated in
float64 with torch (Debian's python3-torch), QuantizeLinear rounding half
to even and saturating as the ONNX spec says.  A float64 product of an
int8 value and a float32 scale is exact, and a convolution's sum of up to
2^20 such products keeps ~30 of float64's 53 bits to spare, so the value
each QuantizeLinear rounds is the true one to ~1e-9 steps: this is the
answer both integer kernels (nnport's Q31 multipliers) and float32 kernels
(ONNX Runtime's) approximate, and it tells which of two disagreeing
runtimes rounded away from it.

  /usr/bin/python3 scripts/qdq_exact.py MODEL.onnx --input NAME=X.npy --output-dir DIR
      [--expose-q]   also write every QuantizeLinear output (as the graph
                     outputs that layerdiff-style comparisons need)

Writes DIR/output_<i>.npy and DIR/outputs.json like scripts/ort_run.js.
Covers the ops of the CNN and transformer QDQ models nnport quantizes;
an op it does not know stops it with the op's name.
"""
import argparse
import json
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

torch.set_default_dtype(torch.float64)

INT_RANGE = {np.int8: (-128, 127), np.uint8: (0, 255), np.int16: (-32768, 32767), np.uint16: (0, 65535),
             np.int32: (-2**31, 2**31 - 1)}


def attrs(n):
    return {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}


def bshape(scale, x, axis):
    """a per-axis scale/zero point reshaped to broadcast along axis of x"""
    if scale.dim() == 0 or scale.numel() == 1:
        return scale.reshape(())
    shape = [1] * x.dim()
    shape[axis % x.dim()] = scale.numel()
    return scale.reshape(shape)


def conv(x, w, b, a):
    k = len(w.shape) - 2
    pads = a.get("pads", [0] * (2 * k))
    strides = a.get("strides", [1] * k)
    dil = a.get("dilations", [1] * k)
    group = a.get("group", 1)
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise SystemExit("qdq_exact: Conv auto_pad not supported")
    if any(pads[i] != pads[i + k] for i in range(k)):
        pad = []
        for i in reversed(range(k)):
            pad += [pads[i], pads[i + k]]
        x = F.pad(x, pad)
        pads = [0] * (2 * k)
    fn = F.conv1d if k == 1 else F.conv2d
    return fn(x, w, b, stride=strides, padding=pads[:k], dilation=dil, groups=group)


def run(model, feeds, expose_q, keep_all=False):
    """env of every tensor computed; with keep_all nothing is freed (else
    activations go after their last reader)"""
    g = model.graph
    env = {}
    for i in g.initializer:
        env[i.name] = numpy_helper.to_array(i)
    for name, v in feeds.items():
        env[name] = v
    qdtype = {}
    extra = []

    def T(name):
        v = env[name]
        if isinstance(v, torch.Tensor):
            return v
        if v.dtype in (np.float32, np.float64, np.float16):
            return torch.from_numpy(np.asarray(v, dtype=np.float64))
        return torch.from_numpy(np.asarray(v).astype(np.int64))

    # free each activation after its last reader (a 1024x1024 U-Net in
    # float64 does not fit otherwise); graph outputs and exposed Q outputs stay
    keep = {o.name for o in g.output}
    last = {}
    for k, n in enumerate(g.node):
        for i in n.input:
            last[i] = k
    for k, n in enumerate(g.node):
        if k > 0 and not keep_all:
            for i in g.node[k - 1].input:
                if i and last.get(i) == k - 1 and i not in keep and i not in feeds and not (expose_q and i in qdtype):
                    env.pop(i, None)
        a = attrs(n)
        op = n.op_type
        ins = [T(i) if i else None for i in n.input]
        if op == "Constant":
            out = numpy_helper.to_array(a["value"])
            env[n.output[0]] = out
            continue
        if op == "DequantizeLinear":
            x, s = ins[0], ins[1]
            z = ins[2] if len(ins) > 2 and ins[2] is not None else torch.zeros(())
            ax = a.get("axis", 1)
            out = (x.double() - bshape(z.double(), x, ax)) * bshape(s.double(), x, ax)
        elif op == "QuantizeLinear":
            x, s = ins[0], ins[1]
            zname = n.input[2] if len(n.input) > 2 else ""
            zt = np.asarray(env[zname]).dtype.type if zname else np.uint8
            z = ins[2].double() if zname else torch.zeros(())
            ax = a.get("axis", 1)
            lo, hi = INT_RANGE[zt]
            out = torch.clamp(torch.round(x / bshape(s.double(), x, ax)) + bshape(z, x, ax), lo, hi)
            qdtype[n.output[0]] = zt
            if expose_q:
                extra.append(n.output[0])
        elif op == "Conv":
            out = conv(ins[0], ins[1], ins[2] if len(ins) > 2 else None, a)
        elif op == "Gemm":
            A, B = ins[0], ins[1]
            if a.get("transA", 0):
                A = A.t()
            if a.get("transB", 0):
                B = B.t()
            out = a.get("alpha", 1.0) * (A @ B)
            if len(ins) > 2 and ins[2] is not None:
                out = out + a.get("beta", 1.0) * ins[2]
        elif op == "MatMul":
            out = torch.matmul(ins[0].double(), ins[1].double())
        elif op in ("Add", "Sub", "Mul", "Div", "Pow"):
            x, y = ins[0].double(), ins[1].double()
            out = {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": torch.div, "Pow": torch.pow}[op](x, y)
        elif op == "Relu":
            out = torch.relu(ins[0])
        elif op == "Clip":
            lo = ins[1] if len(ins) > 1 and ins[1] is not None else a.get("min", None)
            hi = ins[2] if len(ins) > 2 and ins[2] is not None else a.get("max", None)
            out = ins[0]
            if lo is not None:
                out = torch.maximum(out, torch.as_tensor(lo).double())
            if hi is not None:
                out = torch.minimum(out, torch.as_tensor(hi).double())
        elif op == "Sigmoid":
            out = torch.sigmoid(ins[0])
        elif op == "Tanh":
            out = torch.tanh(ins[0])
        elif op == "Erf":
            out = torch.erf(ins[0])
        elif op == "Sqrt":
            out = torch.sqrt(ins[0])
        elif op == "Exp":
            out = torch.exp(ins[0])
        elif op == "HardSigmoid":
            out = torch.clamp(a.get("alpha", 0.2) * ins[0] + a.get("beta", 0.5), 0, 1)
        elif op == "HardSwish":
            out = ins[0] * torch.clamp(ins[0] / 6 + 0.5, 0, 1)
        elif op == "Softmax":
            out = torch.softmax(ins[0], dim=a.get("axis", -1))
        elif op == "LayerNormalization":
            ax = a.get("axis", -1) % ins[0].dim()
            dims = list(range(ax, ins[0].dim()))
            mu = ins[0].mean(dim=dims, keepdim=True)
            var = ((ins[0] - mu) ** 2).mean(dim=dims, keepdim=True)
            out = (ins[0] - mu) / torch.sqrt(var + a.get("epsilon", 1e-5)) * ins[1]
            if len(ins) > 2 and ins[2] is not None:
                out = out + ins[2]
        elif op == "ReduceMean":
            axes = a.get("axes", None)
            if axes is None and len(ins) > 1 and ins[1] is not None:
                axes = [int(v) for v in ins[1].tolist()]
            out = ins[0].mean(dim=axes if axes is not None else list(range(ins[0].dim())),
                              keepdim=bool(a.get("keepdims", 1)))
        elif op == "GlobalAveragePool":
            out = ins[0].mean(dim=list(range(2, ins[0].dim())), keepdim=True)
        elif op == "AveragePool":
            k = a["kernel_shape"]
            p = a.get("pads", [0] * (2 * len(k)))
            if p[:len(k)] != p[len(k):]:
                raise SystemExit("qdq_exact: asymmetric AveragePool pads not supported")
            out = F.avg_pool2d(ins[0], k, a.get("strides", k), p[:len(k)],
                               count_include_pad=bool(a.get("count_include_pad", 0)))
        elif op == "MaxPool":
            k = a["kernel_shape"]
            p = a.get("pads", [0] * (2 * len(k)))
            if p[:len(k)] != p[len(k):]:
                raise SystemExit("qdq_exact: asymmetric MaxPool pads not supported")
            out = F.max_pool2d(ins[0], k, a.get("strides", k), p[:len(k)])
        elif op == "Flatten":
            ax = a.get("axis", 1)
            out = ins[0].reshape(int(np.prod(ins[0].shape[:ax])), -1)
        elif op == "Reshape":
            shp = [int(v) for v in ins[1].tolist()]
            shp = [ins[0].shape[i] if d == 0 and not a.get("allowzero", 0) else d for i, d in enumerate(shp)]
            out = ins[0].reshape(shp)
        elif op == "Transpose":
            out = ins[0].permute(a.get("perm", list(reversed(range(ins[0].dim())))))
        elif op == "Concat":
            out = torch.cat([t.double() for t in ins], dim=a["axis"])
        elif op == "Shape":
            out = torch.tensor(list(ins[0].shape), dtype=torch.int64)
        elif op == "Gather":
            out = torch.index_select(ins[0], a.get("axis", 0), ins[1].reshape(-1).long() % ins[0].shape[a.get("axis", 0)])
            out = out.reshape(list(ins[0].shape[:a.get("axis", 0)]) + list(ins[1].shape) +
                              list(ins[0].shape[a.get("axis", 0) + 1:]))
        elif op == "Unsqueeze":
            axes = a.get("axes", None)
            if axes is None:
                axes = [int(v) for v in ins[1].tolist()]
            out = ins[0]
            for ax in sorted(v % (out.dim() + len(axes)) for v in axes):
                out = out.unsqueeze(ax)
        elif op == "Squeeze":
            axes = a.get("axes", None)
            if axes is None and len(ins) > 1:
                axes = [int(v) for v in ins[1].tolist()]
            out = ins[0].squeeze() if axes is None else ins[0]
            for ax in sorted((v % ins[0].dim() for v in axes or []), reverse=True):
                out = out.squeeze(ax)
        elif op == "Slice":
            starts, ends = ins[1].tolist(), ins[2].tolist()
            axes = ins[3].tolist() if len(ins) > 3 and ins[3] is not None else list(range(len(starts)))
            steps = ins[4].tolist() if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
            idx = [slice(None)] * ins[0].dim()
            for s, e, ax, st in zip(starts, ends, axes, steps):
                if st != 1:
                    raise SystemExit("qdq_exact: Slice step != 1 not supported")
                dim = ins[0].shape[ax]
                s = max(0, min(dim, s + dim if s < 0 else s))
                e = max(0, min(dim, e + dim if e < 0 else e))
                idx[ax] = slice(s, e)
            out = ins[0][tuple(idx)]
        elif op == "Identity":
            out = ins[0]
        elif op == "Split":
            ax = a.get("axis", 0)
            sizes = a.get("split", None)
            if sizes is None and len(ins) > 1 and ins[1] is not None:
                sizes = [int(v) for v in ins[1].tolist()]
            if sizes is None:
                k = len(n.output)
                sizes = [ins[0].shape[ax] // k] * k
            for name, part in zip(n.output, torch.split(ins[0], sizes, dim=ax)):
                env[name] = part
            continue
        elif op == "Cast":
            to = a["to"]
            if to in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16):
                out = ins[0].double()
            elif to == onnx.TensorProto.BOOL:
                out = ins[0] != 0
            else:
                out = torch.trunc(ins[0].double()).long() if ins[0].is_floating_point() else ins[0].long()
        elif op in ("Equal", "Less", "Greater"):
            f = {"Equal": torch.eq, "Less": torch.lt, "Greater": torch.gt}[op]
            out = f(ins[0], ins[1])
        elif op == "Where":
            out = torch.where(ins[0].bool(), ins[1].double(), ins[2].double())
        elif op == "Neg":
            out = -ins[0]
        elif op in ("Max", "Min"):
            out = ins[0]
            for t in ins[1:]:
                out = torch.maximum(out, t) if op == "Max" else torch.minimum(out, t)
        elif op == "Expand":
            shp = [int(v) for v in ins[1].tolist()]
            out = ins[0] * torch.ones(shp, dtype=ins[0].dtype) if ins[0].is_floating_point() else \
                ins[0].expand(torch.broadcast_shapes(tuple(ins[0].shape), tuple(shp)))
        elif op == "ConstantOfShape":
            v = numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
            out = torch.full([int(d) for d in ins[0].tolist()], float(v.reshape(-1)[0]),
                             dtype=torch.float64 if v.dtype.kind == "f" else torch.int64)
        elif op == "Range":
            out = torch.arange(ins[0].item(), ins[1].item(), ins[2].item())
        elif op == "ReduceMax":
            axes = a.get("axes", None)
            out = ins[0]
            for ax in sorted((v % ins[0].dim() for v in (axes or range(ins[0].dim()))), reverse=True):
                out = out.amax(dim=ax, keepdim=bool(a.get("keepdims", 1)))
        elif op == "ReduceSum":
            axes = a.get("axes", None)
            if axes is None and len(ins) > 1 and ins[1] is not None:
                axes = [int(v) for v in ins[1].tolist()]
            out = ins[0].sum(dim=axes if axes is not None else list(range(ins[0].dim())), keepdim=bool(a.get("keepdims", 1)))
        elif op == "Resize":
            scales = ins[2] if len(ins) > 2 and ins[2] is not None and ins[2].numel() else None
            sizes = [int(v) for v in ins[3].tolist()] if len(ins) > 3 and ins[3] is not None else None
            mode = a.get("mode", b"nearest")
            mode = mode.decode() if isinstance(mode, bytes) else mode
            ctm = a.get("coordinate_transformation_mode", b"half_pixel")
            ctm = ctm.decode() if isinstance(ctm, bytes) else ctm
            if mode == "linear" and ins[0].dim() == 4 and ctm in ("half_pixel", "align_corners"):
                # ONNX linear + half_pixel (source = (dst + 0.5) / scale - 0.5,
                # clamped at the edges) is torch's bilinear, align_corners=False
                size = sizes[2:] if sizes is not None else [int(np.floor(d * float(f))) for d, f in
                                                            zip(ins[0].shape[2:], scales.tolist()[2:])]
                env[n.output[0]] = F.interpolate(ins[0], size=size, mode="bilinear", align_corners=ctm == "align_corners")
                continue
            if mode != "nearest" or sizes is not None:
                raise SystemExit("qdq_exact: Resize %s/%s not supported" % (mode, ctm))
            sf = [float(v) for v in scales.tolist()[2:]]
            if any(v != int(v) for v in sf):
                raise SystemExit("qdq_exact: Resize by a non-integer scale not supported")
            out = ins[0]
            for ax, f in zip(range(2, out.dim()), sf):
                out = torch.repeat_interleave(out, int(f), dim=ax)
        elif op == "ConvTranspose":
            k = len(ins[1].shape) - 2
            pads = a.get("pads", [0] * (2 * k))
            if any(pads[i] != pads[i + k] for i in range(k)) or "output_shape" in a:
                raise SystemExit("qdq_exact: ConvTranspose with asymmetric pads / output_shape not supported")
            out = F.conv_transpose2d(ins[0], ins[1], ins[2] if len(ins) > 2 else None, stride=a.get("strides", [1] * k),
                                     padding=pads[:k], output_padding=a.get("output_padding", [0] * k),
                                     groups=a.get("group", 1), dilation=a.get("dilations", [1] * k))
        elif op == "BatchNormalization":
            x, sc, b, mu, var = ins[:5]
            shp = [1, -1] + [1] * (x.dim() - 2)
            out = (x - mu.reshape(shp)) / torch.sqrt(var.reshape(shp) + a.get("epsilon", 1e-5)) * sc.reshape(shp) + b.reshape(shp)
        else:
            raise SystemExit("qdq_exact: op %s (node %s) not supported" % (op, n.name))
        env[n.output[0]] = out
    return env, qdtype, extra


def expose_q(m, only=None):
    """Makes the output of every QuantizeLinear of an activation in model
    proto m (or of those named in `only`) a graph output, typed by its zero
    point (uint8 without one); returns their names in node order."""
    consts = {t.name: t for t in m.graph.initializer}
    fixed = set(consts) | {o for n in m.graph.node if n.op_type == "Constant" for o in n.output}
    have = {o.name for o in m.graph.output}
    names = []
    for n in m.graph.node:
        if n.op_type != "QuantizeLinear" or n.input[0] in fixed or (only is not None and n.output[0] not in only):
            continue
        names.append(n.output[0])
        if n.output[0] not in have:
            zp = consts.get(n.input[2]) if len(n.input) > 2 else None
            m.graph.output.append(onnx.helper.make_tensor_value_info(
                n.output[0], zp.data_type if zp is not None else onnx.TensorProto.UINT8, None))
    return names


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--input", action="append", default=[])
    ap.add_argument("--output-dir", required=True)
    ap.add_argument("--expose-q", action="store_true")
    a = ap.parse_args()
    m = onnx.load(a.model)
    feeds = {}
    for spec in a.input:
        name, path = spec.split("=", 1)
        feeds[name] = torch.from_numpy(np.load(path).astype(np.float64))
    env, qdtype, extra = run(m, feeds, a.expose_q)
    os.makedirs(a.output_dir, exist_ok=True)
    outs = []
    names = [o.name for o in m.graph.output] + [e for e in extra if e not in {o.name for o in m.graph.output}]
    for i, name in enumerate(names):
        v = env[name]
        v = v.numpy() if isinstance(v, torch.Tensor) else np.asarray(v)
        dt = qdtype.get(name)
        v = v.astype(dt) if dt is not None else v.astype(np.float32 if v.dtype == np.float64 else v.dtype)
        f = "output_%d.npy" % i
        np.save(os.path.join(a.output_dir, f), v)
        outs.append({"index": i, "name": name, "shape": list(v.shape), "dtype": str(v.dtype), "file": f})
    json.dump({"outputs": outs}, open(os.path.join(a.output_dir, "outputs.json"), "w"), indent=1)
    sys.stderr.write("qdq_exact: %d outputs -> %s\n" % (len(outs), a.output_dir))


if __name__ == "__main__":
    main()
