#!/usr/bin/python3
"""quant_eval.py - figures of docs/QUANTIZATION.md: quantize a model with
`nnport quantize` on the calib/ set, then run the eval/ set through
  - the float model (nnport's reference executor),
  - the QDQ model in nnport's fake-quant executor (integer kernels),
  - the QDQ model in ONNX Runtime (scripts/ort_run.js --batch-list),
and print the agreement figures.

  /usr/bin/python3 scripts/quant_eval.py MODEL_KEY [--method minmax|auto|...] [--nnport build-q/nnport]
                                         [--work /tmp/quant_eval] [--extra="--scheme u8asym"]  (= needed: the value starts with -)
                                         [--eval-set eval[,eval_extra|eval_text]] [--calib-set calib|calib_text|calib80]

MODEL_KEY: mobilenet_v2_op13 resnet18_op13 vit_ti_op13 vit_ti_op17 gpt_char_op13 gpt_char_op17
ppocrv4_rec ppocrv4_det (models and data from ~/.cache/nnport).
Metrics: cosine of the final output per eval sample (fake-quant vs ORT on
the same QDQ file; fake-quant vs float), top-1 agreement (imagenet), exact
CTC greedy reading agreement (rec), IoU of the 0.3-thresholded probability
map (det; plus box F1, boxes as in pc_act_experiment.py), next-char accuracy
and cross-entropy (gpt).  --eval-set picks the evaluation folders under
data/<model data>/: eval (default), eval_extra (rec: 60 more lines, made by
make_inputs.rec_eval_extra on first use), eval_text (det: photos with text,
make_det_eval_text.py); several are scored together.  --calib-set picks the
calibration folder (default calib; det also has calib_text, photos with text
made by make_det_eval_text.py --set calib_text; rec also has calib80, the 20
calib lines and 60 more, made by make_inputs.rec_calib80 on first use).
"""
import argparse
import os
import subprocess
import sys
import time

import numpy as np

sys.dont_write_bytecode = True  # make_inputs / pc_act_experiment are imported: no scripts/__pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

HOME = os.path.expanduser("~/.cache/nnport")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = {
    "mobilenet_v2_op13": ("models/mobilenet_v2_op13.onnx", "imagenet"),
    "resnet18_op13": ("models/resnet18_op13.onnx", "imagenet"),
    "vit_ti_op13": ("models/vit_ti_op13.onnx", "imagenet"),
    "gpt_char_op13": ("models/gpt_char_op13.onnx", "gpt"),
    "gpt_char_op17": ("models/gpt_char_op17.onnx", "gpt"),   # LayerNormalization kept as one op
    "vit_ti_op17": ("models/vit_ti_op17.onnx", "imagenet"),
    "ppocrv4_rec": ("npm/package/assets/ch_PP-OCRv4_rec_infer.onnx", "ocr_rec"),
    "ppocrv4_det": ("npm/package/assets/ch_PP-OCRv4_det_infer.onnx", "ocr_det"),
}


def sh(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(" ".join(cmd) + "\n" + r.stdout + r.stderr)
        sys.exit(1)
    return r.stdout + r.stderr


def iou03(a, b):
    """IoU of the maps thresholded at 0.3; two empty maps (an image without
    text) agree: IoU 1."""
    ma, mb = a > 0.3, b > 0.3
    u = (ma | mb).sum()
    return (ma & mb).sum() / u if u else 1.0


def cos(a, b):
    a = a.astype(np.float64).ravel()
    b = b.astype(np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))


def ctc(logits):
    idx = logits.reshape(-1, logits.shape[-1]).argmax(-1)
    out, prev = [], -1
    for i in idx:
        if i != prev and i != 0:
            out.append(int(i))
        prev = i
    return out


def log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", choices=sorted(MODELS))
    ap.add_argument("--method", default="minmax")
    ap.add_argument("--nnport", default=os.path.join(REPO, "build-q/nnport"))
    ap.add_argument("--work", default="/tmp/quant_eval")
    ap.add_argument("--extra", default="")
    ap.add_argument("--samples", default="")
    ap.add_argument("--eval-set", default="eval")
    ap.add_argument("--calib-set", default="calib")
    ap.add_argument("--model-file", default="", help="quantize this file instead (e.g. an optimized copy); data and metrics stay MODEL's")
    a = ap.parse_args()
    rel, data = MODELS[a.model]
    model = a.model_file or os.path.join(HOME, rel)
    calib = os.path.join(HOME, "data", data, a.calib_set)
    sets = a.eval_set.split(",")
    if data == "ocr_rec" and "eval_extra" in sets:
        import make_inputs
        make_inputs.rec_eval_extra()
    if data == "ocr_rec" and a.calib_set == "calib80":
        import make_inputs
        make_inputs.rec_calib80()
    for s in sets:
        if not os.path.isdir(os.path.join(HOME, "data", data, s)):
            sys.exit("%s: no %s set (eval_text: scripts/make_det_eval_text.py)" % (data, s))
    tag = a.model + "_" + a.method + a.extra.replace(" ", "").replace("-", "_").replace("/", "_") + \
        ("" if a.calib_set == "calib" else "_" + a.calib_set)
    work = os.path.join(a.work, tag)
    for d in ("float", "fq", "ort"):
        for s in sets:
            os.makedirs(os.path.join(work, d, s), exist_ok=True)
    qdq = os.path.join(work, "model.qdq.onnx")
    cmd = [a.nnport, "quantize", model, "--calib-data", calib, "-o", qdq, "--calibration-method", a.method]
    cmd += a.extra.split()
    if a.samples:
        cmd += ["--samples", a.samples]
    t0 = time.time()
    summary = sh(cmd)
    print("$ " + " ".join(cmd) + "   (%.1f s)" % (time.time() - t0))
    print("\n".join(l for l in summary.splitlines() if not l.startswith("calibrate")))
    names = []  # "set/stem"
    for s in sets:
        ev = os.path.join(HOME, "data", data, s)
        fl = sh([a.nnport, "quantize", "run", model, "--float", "--batch", ev, "--output-dir", os.path.join(work, "float", s)])
        fq = sh([a.nnport, "quantize", "run", qdq, "--batch", ev, "--output-dir", os.path.join(work, "fq", s)])
        print(fl.strip().splitlines()[-1])
        print("\n".join(fq.strip().splitlines()))
        names += sorted(s + "/" + f[:-4] for f in os.listdir(ev) if f.endswith(".npy") and not f.endswith("_targets.npy"))
    lst = os.path.join(work, "ort.tsv")
    import json
    info = subprocess.run(["node", os.path.join(REPO, "scripts/ort_run.js"), qdq, "--info"], capture_output=True, text=True)
    have_ort = info.returncode == 0
    if not have_ort:
        print("ONNX Runtime cannot load the QDQ file: " + info.stderr.strip()[-200:])
    in_name = json.loads(info.stdout[info.stdout.index("{"):])["inputs"][0]["name"] if have_ort else "x"
    with open(lst, "w") as f:
        for n in names:
            f.write("%s\t%s%s\n" % (os.path.join(work, "ort", n), (in_name + "=") if in_name else "",
                                    os.path.join(HOME, "data", data, n + ".npy")))
    if have_ort:
        # ONNX Runtime 1.30's QDQ fusion turns a blocked (per-group) weight
        # DequantizeLinear -> MatMul into QLinearMatMul, which then refuses the
        # 2-D scale at run time, when the weights are stored as int8: such
        # files run at --opt basic (no fusion).  nnport stores 4-bit groups
        # as int4 since session 10, which ORT runs at its default level.
        import onnx
        m = onnx.load(qdq)
        i8 = {t.name for t in m.graph.initializer if t.data_type == onnx.TensorProto.INT8}
        blocked = any(n.op_type == "DequantizeLinear" and n.input[0] in i8 and
                      any(t.name == "block_size" for t in n.attribute) for n in m.graph.node)
        if blocked:
            print("ONNX Runtime at --opt basic: the file has per-group (blocked) weights stored as int8")
        sh(["node", os.path.join(REPO, "scripts/ort_run.js"), qdq, "--batch-list", lst] + (["--opt", "basic"] if blocked else []))
    c_ort, c_float, agree, ious, ce_f, ce_q, acc_f, acc_q, ntok = [], [], 0, [], 0.0, 0.0, 0, 0, 0
    boxes = [0, 0, 0]  # det: matched, float, quantized
    ties = tie_miss = 0  # rec: lines with a float near-tie frame; misses that flipped at one
    agree_ort = 0        # rec: lines ONNX Runtime's run of the QDQ file reads as the float model
    ious_ort, ious_fo = [], []  # det: IoU of ORT's map vs float, and fake-quant's vs ORT's (same file)
    misses = []          # rec: (line, [(frame, float top-1 p, top-2 p) where the top class changed])
    for n in names:
        F = np.load(os.path.join(work, "float", n + ".npy"))
        Q = np.load(os.path.join(work, "fq", n + ".npy"))
        if have_ort:
            O = np.load(os.path.join(work, "ort", n, "output_0.npy"))
            c_ort.append(cos(O, Q))
            if data == "ocr_rec":
                agree_ort += int(ctc(F) == ctc(O))
            if data == "ocr_det":
                ious_ort.append(iou03(F, O))
                ious_fo.append(iou03(Q, O))
        c_float.append(cos(F, Q))
        if data == "imagenet":
            agree += int(F.argmax() == Q.argmax())
        elif data == "ocr_rec":
            same = ctc(F) == ctc(Q)
            agree += int(same)
            # the float model's smallest top-1/top-2 probability gap over the
            # frames: a line with a near-tie frame (< 0.05) can flip on noise
            f2 = F.reshape(-1, F.shape[-1])
            srt = np.sort(f2, axis=-1)
            gap = srt[:, -1] - srt[:, -2]
            ties += int(float(gap.min()) < 0.05)
            if not same:
                # the frames whose top class changed: a miss is a near-tie
                # miss when one of them was a near-tie in the float model
                flip = np.nonzero(f2.argmax(-1) != Q.reshape(-1, Q.shape[-1]).argmax(-1))[0]
                tie_miss += int(len(flip) > 0 and float(gap[flip].min()) < 0.05)
                misses.append((n, [(int(t), float(srt[t, -1]), float(srt[t, -2])) for t in flip[:4]]))
        elif data == "ocr_det":
            ious.append(iou03(F, Q))
            from pc_act_experiment import det_boxes, box_match
            bf, bq = det_boxes(F[0, 0]), det_boxes(Q[0, 0])
            boxes = [boxes[0] + box_match(bf, bq), boxes[1] + len(bf), boxes[2] + len(bq)]
        elif data == "gpt":
            t = np.load(os.path.join(HOME, "data", data, n + "_targets.npy")).ravel()
            lf = log_softmax(F.reshape(-1, F.shape[-1]).astype(np.float64))
            lq = log_softmax(Q.reshape(-1, Q.shape[-1]).astype(np.float64))
            r = np.arange(len(t))
            ce_f -= lf[r, t].sum()
            ce_q -= lq[r, t].sum()
            acc_f += int((lf.argmax(-1) == t).sum())
            acc_q += int((lq.argmax(-1) == t).sum())
            ntok += len(t)
    print("eval samples: %d (%s)" % (len(names), ", ".join(sets)))
    if have_ort:
        print("cosine fake-quant vs ORT (same QDQ file): min %.6f mean %.6f" % (min(c_ort), np.mean(c_ort)))
    print("cosine fake-quant vs float model:         min %.6f mean %.6f" % (min(c_float), np.mean(c_float)))
    if data == "imagenet":
        print("top-1 agreement with float: %d/%d" % (agree, len(names)))
    if data == "ocr_rec":
        print("lines read exactly as the float model: %d/%d = %.1f%%" % (agree, len(names), 100.0 * agree / len(names)))
        if have_ort:
            print("  by ONNX Runtime on the same QDQ file: %d/%d" % (agree_ort, len(names)))
        print("  %d of the %d lines read differently flipped at a frame where the float model's top two characters "
              "are within 0.05 (%d lines of the set have such a frame)" % (tie_miss, len(names) - agree, ties))
        for n, fl in misses:
            print("  read differently: %s, top class changed at %s" % (
                n, ", ".join("frame %d (float %.3f / %.3f)" % f for f in fl) or "no frame (same argmax, other merge)"))
    if data == "ocr_det":
        print("IoU of (prob > 0.3) vs float: min %.4f mean %.4f" % (min(ious), np.mean(ious)))
        print("  per image: " + " ".join("%s %.3f" % (n.split("/")[-1].replace("txt_", ""), v) for n, v in zip(names, ious)))
        if ious_ort:
            print("  ONNX Runtime on the same QDQ file: IoU vs float min %.4f mean %.4f; fake-quant vs ORT min %.4f mean %.4f"
                  % (min(ious_ort), np.mean(ious_ort), min(ious_fo), np.mean(ious_fo)))
        print("text boxes (p > 0.3 components, mean p > 0.6, matched at box IoU >= 0.5): %d matched of %d float / %d "
              "quantized, F1 %.3f" % (boxes[0], boxes[1], boxes[2], 2.0 * boxes[0] / max(1, boxes[1] + boxes[2])))
    if data == "gpt":
        print("next-char accuracy: float %.4f  int8 %.4f   cross-entropy (nats): float %.4f  int8 %.4f  (%d tokens)"
              % (acc_f / ntok, acc_q / ntok, ce_f / ntok, ce_q / ntok, ntok))


if __name__ == "__main__":
    main()
