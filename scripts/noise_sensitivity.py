#!/usr/bin/python3
"""noise_sensitivity.py - how far a float model moves when its input moves by
less than one 8-bit step (docs/QUANTIZATION.md 6g).

For each evaluation sample x, the float model is run in ONNX Runtime
(scripts/ort_run.js, one thread) on x and on x + u, where u is uniform in
[-a/2, a/2] * step per element, step = (max(x) - min(x)) / 255 (one level of
an 8-bit grid spanning the sample) and a the amplitude in steps (--amps,
default 1 and 0.1).  Printed: the output cosine against the clean run (min
and mean over samples), and for PP-OCRv4 det the IoU of the 0.3-thresholded
probability maps (empty vs empty counts 1).

This bounds what any 8-bit quantizer can reach on the model: every
quantized activation adds an error of this size or larger, and the input
perturbation is only the first of them.  The noise is seeded (--seed).

  /usr/bin/python3 scripts/noise_sensitivity.py MODEL_KEY [MODEL_KEY ...] [--amps 1,0.1] [--work DIR]

MODEL_KEY: as scripts/quant_eval.py (mobilenet_v2_op13 resnet18_op13
vit_ti_op13 ppocrv4_det ...); samples from the model's eval set (det:
eval_text), at most --samples (default 10).
"""
import argparse
import glob
import os
import subprocess
import sys

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quant_eval import HOME, MODELS, REPO, cos  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--amps", default="1,0.1")
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default="/tmp/noise_sensitivity")
    a = ap.parse_args()
    amps = [float(v) for v in a.amps.split(",")]
    for key in a.models:
        if key not in MODELS:
            sys.exit("unknown model %r (one of: %s)" % (key, " ".join(MODELS)))
        rel, data = MODELS[key]
        model = os.path.join(HOME, rel)
        if data == "gpt":
            sys.exit("%s: the GPT's input is token ids; input noise has no meaning there" % key)
        ev = os.path.join(HOME, "data", data, "eval_text" if key == "ppocrv4_det" else "eval")
        files = sorted(f for f in glob.glob(os.path.join(ev, "*.npy")) if not f.endswith("_targets.npy"))[:a.samples]
        if not files:
            sys.exit("%s: no samples in %s (make_inputs.py / make_det_eval_text.py)" % (key, ev))
        work = os.path.join(a.work, key)
        os.makedirs(work, exist_ok=True)
        rng = np.random.default_rng(a.seed)
        lines = []
        for f in files:
            x = np.load(f).astype(np.float32)
            name = os.path.basename(f)[:-4]
            step = float(x.max() - x.min()) / 255.0
            for i, amp in enumerate([0.0] + amps):
                y = x + (rng.uniform(-0.5, 0.5, x.shape) * step * amp).astype(np.float32)
                p = os.path.join(work, "%s_%d.npy" % (name, i))
                np.save(p, y)
                lines.append(os.path.join(work, "out_%s_%d" % (name, i)) + "\t" + p)
        lst = os.path.join(work, "list.tsv")
        with open(lst, "w") as fh:
            fh.write("\n".join(lines) + "\n")
        subprocess.run(["node", os.path.join(REPO, "scripts/ort_run.js"), model, "--batch-list", lst,
                        "--threads", "1", "--quiet"], check=True)
        for i, amp in enumerate(amps, start=1):
            cs, ious = [], []
            for f in files:
                name = os.path.basename(f)[:-4]
                ref = np.load(os.path.join(work, "out_%s_0" % name, "output_0.npy"))
                got = np.load(os.path.join(work, "out_%s_%d" % (name, i), "output_0.npy"))
                cs.append(cos(ref, got))
                if key == "ppocrv4_det":
                    A, B = ref > 0.3, got > 0.3
                    u = (A | B).sum()
                    ious.append(1.0 if u == 0 else (A & B).sum() / u)
            msg = "%-18s input noise +-%g/2 step, %d samples: output cosine min %.5f mean %.5f" % (
                key, amp, len(files), min(cs), float(np.mean(cs)))
            if ious:
                msg += "; IoU (p > 0.3) min %.4f mean %.4f" % (min(ious), float(np.mean(ious)))
            print(msg, flush=True)


if __name__ == "__main__":
    main()
