#!/usr/bin/python3
"""Export torchvision image classifiers to ONNX for nnport's real-model tests.

Run with Debian's python:  /usr/bin/python3 scripts/export_torchvision.py [--force] [MODEL ...]
MODEL: resnet18 mobilenet_v2 mobilenet_v2_bn vit_ti vit_b16, or "small" (the
first four, default) or "all" (adds vit_b16, ~346 MB).

Weights are random (nothing can be downloaded) but seeded per model.  Every
BatchNorm gets gamma ~ U(0.5,1.5), beta ~ N(0,0.1) and running stats
calibrated on a batch of smooth random images then perturbed (so activations
stay alive through the network, as in a trained model, and the stats are far
from 0/1); every LayerNorm gets gamma ~ U(0.5,1.5), beta ~ N(0,0.1).  So BN/LN
folding in the executor is really exercised and outputs depend on the input.

Outputs in $NNPORT_CACHE/models (default ~/.cache/nnport/models):
  <name>_op<opset>.onnx            the model, input "input" f32 [1,3,224,224],
                                   output "logits" f32 [1,1000]
  <name>_op<opset>.ref_input.npy   a seeded random input
  <name>_op<opset>.ref_output.npy  torch's output for it (export fidelity check)
  manifest.json                    entries keyed "<name>_op<opset>"

mobilenet_v2 is exported in EVAL mode, where torch folds BatchNorm into the
preceding Conv; mobilenet_v2_bn is the same network exported with
training=TrainingMode.PRESERVE on the eval-mode module, which keeps the 52
BatchNormalization nodes (checked on torch 1.13: do_constant_folding=False
alone does NOT keep them, the eval peephole pass fuses them regardless).
"""
import argparse
import collections
import os
import sys
import time
import warnings
import zlib

sys.dont_write_bytecode = True  # keep the work tree clean (no scripts/__pycache__)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nnport_cache as nc  # noqa: E402

TAG = "export_torchvision"
SMALL = ["resnet18", "mobilenet_v2", "mobilenet_v2_bn", "vit_ti"]
OPSETS = {"resnet18": [13, 17], "mobilenet_v2": [13, 17], "mobilenet_v2_bn": [13, 17],
          "vit_ti": [13, 17], "vit_b16": [17]}
INPUT_SHAPE = [1, 3, 224, 224]


def build(name, torch, torchvision):
    # mobilenet_v2_bn is the very same network as mobilenet_v2 (same seed,
    # same weights, same reference input), only exported another way.
    base = "mobilenet_v2" if name == "mobilenet_v2_bn" else name
    seed = zlib.crc32(base.encode()) & 0x7FFFFFFF
    torch.manual_seed(seed)
    M = torchvision.models
    if name == "resnet18":
        m = M.resnet18(weights=None)
    elif name in ("mobilenet_v2", "mobilenet_v2_bn"):
        m = M.mobilenet_v2(weights=None)
    elif name == "vit_ti":
        m = M.VisionTransformer(image_size=224, patch_size=16, num_layers=12, num_heads=3,
                                hidden_dim=192, mlp_dim=768, num_classes=1000)
    elif name == "vit_b16":
        m = M.vit_b_16(weights=None)
    else:
        raise ValueError(name)
    g = torch.Generator().manual_seed(seed ^ 0x5EED)
    bns = [mod for mod in m.modules() if isinstance(mod, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for mod in bns:
            n = mod.num_features
            mod.weight.copy_(torch.rand(n, generator=g) + 0.5)    # gamma ~ U(0.5, 1.5)
            mod.bias.copy_(torch.randn(n, generator=g) * 0.1)     # beta ~ N(0, 0.1)
        if bns:
            # With untrained weights and made-up running stats the activations
            # of a deep CNN collapse (mobilenet_v2's logits came out identical
            # for every photo).  Calibrate the running stats on a batch of
            # smooth random images the way a trained network's stats match its
            # activations, then perturb them (mean += N(0, 0.1) * std,
            # var *= U(0.8, 1.25)) so they are non-trivial and folding matters.
            for mod in bns:
                mod.reset_running_stats()
                mod.momentum = None  # cumulative average: exactly this batch's stats
            calib = torch.nn.functional.interpolate(torch.randn(16, 3, 28, 28, generator=g), size=(224, 224),
                                                    mode="bilinear", align_corners=False)
            calib += 0.25 * torch.randn(calib.shape, generator=g)
            m.train()
            m(calib)
            m.eval()
            for mod in bns:
                n = mod.num_features
                std = mod.running_var.sqrt()
                mod.running_mean.add_(torch.randn(n, generator=g) * 0.1 * std)
                mod.running_var.mul_(torch.rand(n, generator=g) * 0.45 + 0.8)
                mod.momentum = 0.1
        for mod in m.modules():
            if isinstance(mod, torch.nn.LayerNorm):
                shp = mod.weight.shape
                mod.weight.copy_(torch.rand(shp, generator=g) + 0.5)
                mod.bias.copy_(torch.randn(shp, generator=g) * 0.1)
        if name.startswith("vit"):
            # torchvision zero-initialises the classifier and the class token,
            # which would make every output identical: give them random values.
            head = m.heads.head
            head.weight.copy_(torch.randn(head.weight.shape, generator=g) * 0.05)
            head.bias.copy_(torch.randn(head.bias.shape, generator=g) * 0.01)
            m.class_token.copy_(torch.randn(m.class_token.shape, generator=g) * 0.02)
    m.eval()
    return m, seed


def export_one(name, opset, torch, torchvision, onnx, np, mdir):
    key = "%s_op%d" % (name, opset)
    fname = key + ".onnx"
    path = os.path.join(mdir, fname)
    t0 = time.time()
    model, seed = build(name, torch, torchvision)
    x = torch.randn(INPUT_SHAPE, generator=torch.Generator().manual_seed(seed + opset))
    kw = dict(opset_version=opset, input_names=["input"], output_names=["logits"],
              do_constant_folding=True)
    if name.endswith("_bn"):
        kw["training"] = torch.onnx.TrainingMode.PRESERVE  # module is in eval mode
    tmp = path + ".tmp"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Trace with autograd enabled: in eval mode under no_grad, torch 1.13's
        # nn.MultiheadAttention takes its fused fast path
        # (aten::_native_multi_head_attention, not exportable) whenever the
        # head count is even, e.g. vit_b_16's 12 heads.
        torch.onnx.export(model, (x,), tmp, **kw)
        with torch.no_grad():
            y = model(x).numpy()
    m = onnx.load(tmp)
    onnx.checker.check_model(m)
    ops = collections.Counter(n.op_type for n in m.graph.node)
    got_opset = [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")]
    if got_opset != [opset]:
        os.remove(tmp)
        nc.die(TAG, "%s: exported opset %s, wanted %d" % (key, got_opset, opset))
    nbn = ops.get("BatchNormalization", 0)
    if name.endswith("_bn") and nbn == 0:
        os.remove(tmp)
        nc.die(TAG, "%s: no BatchNormalization node survived the export" % key)
    os.replace(tmp, path)
    ref_in = key + ".ref_input.npy"
    ref_out = key + ".ref_output.npy"
    nc.save_npy(os.path.join(mdir, ref_in), x.numpy().astype(np.float32))
    nc.save_npy(os.path.join(mdir, ref_out), y.astype(np.float32))
    nparams = sum(p.numel() for p in model.parameters())
    ins, outs = nc.onnx_io(m)
    entry = {
        "name": key, "family": name, "file": fname, "sha256": nc.sha256_file(path),
        "bytes": os.path.getsize(path), "opset": opset,
        "inputs": ins, "outputs": outs,
        "ops": dict(sorted(ops.items())), "nodes": len(m.graph.node), "params": nparams,
        "seed": seed, "weights": "random (seeded); BN running stats calibrated on smooth noise then perturbed, BN/LN affine randomised",
        "export": {"exporter": "torch.onnx.export (TorchScript)",
                   "training": "PRESERVE" if name.endswith("_bn") else "EVAL",
                   "do_constant_folding": True},
        "torch_version": torch.__version__, "torchvision_version": torchvision.__version__,
        "onnx_version": onnx.__version__,
        "ref_input": ref_in, "ref_output": ref_out,
        "files": {ref_in: nc.sha256_file(os.path.join(mdir, ref_in)),
                  ref_out: nc.sha256_file(os.path.join(mdir, ref_out))},
        "preprocess": "ImageNet: resize 256, center crop 224, RGB/255, mean [0.485,0.456,0.406] "
                      "std [0.229,0.224,0.225], NCHW",
    }
    nc.update_manifest(os.path.join(mdir, "manifest.json"), {key: entry})
    nc.log(TAG, "%s: %.1f MB, %d nodes (%d BatchNormalization), %.1fM params, logits std %.3f, %.1f s"
           % (fname, entry["bytes"] / 1e6, len(m.graph.node), nbn, nparams / 1e6, float(y.std()),
              time.time() - t0))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("models", nargs="*", default=["small"])
    ap.add_argument("--force", action="store_true", help="re-export even if up to date")
    a = ap.parse_args()
    names = []
    for n in a.models:
        if n == "small":
            names += SMALL
        elif n == "all":
            names += SMALL + ["vit_b16"]
        elif n in OPSETS:
            names.append(n)
        else:
            nc.die(TAG, "unknown model %r (known: %s, small, all)" % (n, " ".join(OPSETS)))
    mdir = nc.models_dir()
    os.makedirs(mdir, exist_ok=True)
    mpath = os.path.join(mdir, "manifest.json")
    todo = []
    for n in dict.fromkeys(names):
        for op in OPSETS[n]:
            key = "%s_op%d" % (n, op)
            if not a.force and nc.manifest_ok(mpath, [key]):
                nc.log(TAG, "%s up to date" % key)
            else:
                todo.append((n, op))
    if not todo:
        return
    import numpy as np
    import onnx
    import torch
    import torchvision
    torch.set_num_threads(2)
    nc.log(TAG, "torch %s, torchvision %s, onnx %s" % (torch.__version__, torchvision.__version__,
                                                      onnx.__version__))
    for n, op in todo:
        nc.log(TAG, "exporting %s at opset %d" % (n, op))
        export_one(n, op, torch, torchvision, onnx, np, mdir)


if __name__ == "__main__":
    main()
