#!/usr/bin/python3
"""nv12_eval.py - PP-OCRv4 det compiled with an NV12 input against the same
QDQ model compiled with its float RGB input (docs/TARGET.md, "NV12 input").

For every photo of ~/.cache/nnport/data/ocr_det/eval (images.tsv records
the source; eval/NAME.png is the source image as make_inputs.py loaded it),
or with --set eval_text of scripts/make_det_eval_text.py's 10 photos with
rendered text (eval_text/images.tsv, eval_text/NAME.png):

  1. make_inputs.py's det preprocessing is redone from the PNG (BGR order,
     cv2-style bilinear resize to the recorded H x W, uint8), and checked to
     give the cached eval/NAME.npy exactly;
  2. the resized uint8 image is converted to NV12 (BT.601 full range, JFIF
     coefficients; U and V from the 2x2 mean of R, G, B; rounded, clipped);
  3. the QDQ model is compiled twice at 1x3xHxW: as it is (input: the float
     planes of the .npy), and with --input-format nv12 --input-range full
     --input-order bgr --input-mean 255*[0.485,0.456,0.406]
     --input-scale 1/(255*[0.229,0.224,0.225]) (input: the NV12 frame);
  4. both run on the simulator (`nnport run`), the probability maps are
     thresholded at 0.3 (PaddleOCR's det threshold) and the IoU of the two
     masks is printed (both empty: 1); the RGB build is also run on the
     frame decoded in numpy with the instruction's integer arithmetic, which
     must give the NV12 build's output bit for bit ("=dec"); --float-check
     adds the float model on the RGB and the decoded input (what NV12 itself
     changes before any quantization);
  5. "same frame": the deployment question.  A camera delivers the NV12
     frame; without the yuv instruction the application converts it on the
     CPU (BT.601 float formulas, nearest chroma, rounded to uint8, as a
     float reference decoder does) and normalizes it the way PaddleOCR does,
     then runs the RGB build.  The IoU of that map with the NV12 build's is
     what moving the conversion onto the NPU changes (column "frame:
     up/even", for a decoder rounding ties up and one rounding them to
     even); the summary counts the pixel values where each decoder and the
     instruction differ.

  /usr/bin/python3 scripts/nv12_eval.py [--nnport build/nnport] [--qdq DET.qdq.onnx | --method M]
                                        [--work /tmp/nv12_eval] [--target npu-small] [--float-check]
                                        [--set eval|eval_text]

Without --qdq the det model is quantized first (nnport quantize on
ocr_det/calib with nnport quantize's default calibration (kl until session 5, percentile since) or --method M).  Exits 1 when an IoU is below --min-iou (0.99).
"""
import argparse
import os
import subprocess
import sys

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_inputs as mi  # noqa: E402
from pc_act_experiment import box_match, det_boxes  # noqa: E402  (the text boxes of QUANTIZATION.md 6d)

HOME = os.path.expanduser(os.environ.get("NNPORT_CACHE", "~/.cache/nnport"))
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DET = os.path.join(HOME, "npm/package/assets/ch_PP-OCRv4_det_infer.onnx")
DATA = os.path.join(HOME, "data", "ocr_det")


def sh(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    if p.returncode != 0:
        sys.exit("nv12_eval: %s failed (exit %d):\n%s%s" % (" ".join(cmd), p.returncode, p.stdout[-2000:], p.stderr[-2000:]))
    return p.stdout


def rgb_to_nv12(rgb):
    """uint8 H x W x 3 RGB (H, W even) -> uint8 (H*3/2, W) NV12, BT.601 full range."""
    f = rgb.astype(np.float64)
    r, g, b = f[:, :, 0], f[:, :, 1], f[:, :, 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    h, w = y.shape
    m = f.reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3))  # 2x2 mean of R, G, B
    mr, mg, mb = m[:, :, 0], m[:, :, 1], m[:, :, 2]
    u = 128 - 0.168736 * mr - 0.331264 * mg + 0.5 * mb
    v = 128 + 0.5 * mr - 0.418688 * mg - 0.081312 * mb
    uv = np.stack([u, v], axis=2).reshape(h // 2, w)
    out = np.concatenate([y, uv], axis=0)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def nv12_planes(frame, dtype):
    """Y and the nearest-upsampled U - 128, V - 128 of an NV12 frame (1, H*3/2, W)."""
    f = frame[0].astype(dtype)
    h = f.shape[0] * 2 // 3
    y, uv = f[:h], f[h:]
    u = np.repeat(np.repeat(uv[:, 0::2], 2, axis=0), 2, axis=1) - 128
    v = np.repeat(np.repeat(uv[:, 1::2], 2, axis=0), 2, axis=1) - 128
    return y, u, v


def nv12_decode_int_rgb(frame):
    """The yuv instruction's conversion in numpy (nn_target_yuv_pixel: BT.601
    full range, exact integer arithmetic over the denominator 10^6, rounded
    half up; nearest chroma): uint8 H x W x 3 R, G, B."""
    y, u, v = nv12_planes(frame, np.int64)
    yy = y * 1000000
    rgb = [yy + 1402000 * v, yy - 344136 * u - 714136 * v, yy + 1772000 * u]
    return np.stack([np.clip((c + 500000) // 1000000, 0, 255) for c in rgb], axis=2).astype(np.uint8)


def nv12_decode(frame, mean, scale):
    """The instruction's conversion (nv12_decode_int_rgb), then
    (pixel - mean) * scale per B, G, R plane in float32: the float input
    whose QuantizeLinear equals what the NV12 build computes on the NPU."""
    rgb = nv12_decode_int_rgb(frame)
    planes = [rgb[:, :, 2], rgb[:, :, 1], rgb[:, :, 0]]  # B, G, R
    x = np.stack([(p.astype(np.float32) - np.float32(m)) * np.float32(k) for p, m, k in zip(planes, mean, scale)])
    return x[None].astype(np.float32)


def nv12_decode_cpu(frame, ties="even"):
    """A float reference decoder on the CPU: BT.601 full range (the JFIF
    formulas in float64), nearest chroma, rounded to uint8 (ties "even":
    np.rint, as C's lrint; "up": floor(x + 0.5), as fixed-point decoders
    round); then PaddleOCR's NormalizeImage on the BGR image
    (make_inputs.det_preprocess's arithmetic).  Returns the model input and
    the decoded uint8 R, G, B planes."""
    y, u, v = nv12_planes(frame, np.float64)
    rgb = np.stack([y + 1.402 * v, y - 0.344136 * u - 0.714136 * v, y + 1.772 * u], axis=2)
    rgb = np.clip(np.rint(rgb) if ties == "even" else np.floor(rgb + 0.5), 0, 255).astype(np.uint8)
    bgr = rgb[:, :, ::-1].astype(np.float32)
    r = (bgr / 255.0 - np.array(mi.IMAGENET_MEAN, np.float32)) / np.array(mi.IMAGENET_STD, np.float32)
    return r.transpose(2, 0, 1)[None].astype(np.float32), rgb


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nnport", default=os.path.join(REPO, "build", "nnport"))
    ap.add_argument("--qdq", default="")
    ap.add_argument("--method", default="", help="calibration method when quantizing (default: nnport quantize's, percentile since session 5)")
    ap.add_argument("--work", default="/tmp/nv12_eval")
    ap.add_argument("--target", default="npu-small")
    ap.add_argument("--threshold", type=float, default=0.3)
    ap.add_argument("--min-iou", type=float, default=0.99)
    ap.add_argument("--float-check", action="store_true", help="also run the float model on both inputs (slower)")
    ap.add_argument("--set", default="eval", help="eval (default) or eval_text (scripts/make_det_eval_text.py's photos"
                    " with rendered text)")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    qdq = a.qdq
    if not qdq:
        qdq = os.path.join(a.work, "det.qdq.onnx")
        cmd = [a.nnport, "quantize", DET, "--calib-data", os.path.join(DATA, "calib"), "-o", qdq]
        if a.method:
            cmd += ["--calibration-method", a.method]
        print("$ " + " ".join(cmd))
        sh(cmd)
    mean = [255.0 * m for m in mi.IMAGENET_MEAN]  # planes in B, G, R order, as PaddleOCR normalizes BGR
    scale = [1.0 / (255.0 * s) for s in mi.IMAGENET_STD]
    if a.set == "eval":
        rows = [l.rstrip("\n").split("\t")[:4] for l in open(os.path.join(DATA, "images.tsv"))][1:]
    else:  # a set with its own images.tsv: file, source, height, width, ...
        rows = [["%s/%s" % (a.set, f[0])] + f[1:4] for f in
                (l.rstrip("\n").split("\t") for l in open(os.path.join(DATA, a.set, "images.tsv")))][1:]
    worst, inter_all, union_all = 1.0, 0, 0
    cpu = {t: [1.0, 0, 0, 0, 0] for t in ("up", "even")}  # worst IoU, inter, union, values differing, values
    boxes_rgb = boxes_nv12 = boxes_matched = 0
    exact_all = True
    print("%-12s %9s %10s %10s %10s %8s %9s %6s %13s %15s%s" % ("image", "HxW", "rgb px", "nv12 px", "both", "IoU", "max |dp|", "=dec",
                                                       "boxes r/n/=", "frame: up/even",
                                                     " float px  float IoU" if a.float_check else ""))
    for rel, src, hs, ws in rows:
        if not rel.startswith(a.set + "/"):
            continue
        name = os.path.splitext(os.path.basename(rel))[0]
        h, w = int(hs), int(ws)
        rgb = mi.load_rgb(os.path.join(DATA, a.set, name + ".png"))
        x = mi.det_preprocess(rgb)
        cached = np.load(os.path.join(DATA, rel))
        if x.shape != (1, 3, h, w) or not np.array_equal(x, cached):
            sys.exit("nv12_eval: %s: re-derived input differs from %s (make_inputs.py changed?)" % (name, rel))
        # the uint8 image the normalization saw (BGR), back to RGB for the camera-side conversion
        bgr = rgb[:, :, ::-1]
        ratio = float(mi.DET_LIMIT) / max(rgb.shape[:2]) if max(rgb.shape[:2]) > mi.DET_LIMIT else 1.0
        rh = max(int(round(int(rgb.shape[0] * ratio) / 32.0) * 32), 32)
        rw = max(int(round(int(rgb.shape[1] * ratio) / 32.0) * 32), 32)
        assert (rh, rw) == (h, w)
        img = mi.resize_bilinear(bgr, rh, rw)[:, :, ::-1]
        frame = rgb_to_nv12(np.ascontiguousarray(img))[None]
        d = os.path.join(a.work, name)
        os.makedirs(d, exist_ok=True)
        np.save(os.path.join(d, "x.npy"), np.ascontiguousarray(x))
        np.save(os.path.join(d, "frame.npy"), frame)
        shape = "x=1x3x%dx%d" % (h, w)
        sh([a.nnport, "compile", qdq, "--target", a.target, "--shape", shape, "-o", os.path.join(d, "rgb.nnb")])
        sh([a.nnport, "compile", qdq, "--target", a.target, "--shape", shape, "-o", os.path.join(d, "nv12.nnb"),
            "--input-format", "nv12", "--input-range", "full", "--input-order", "bgr",
            "--input-mean", ",".join("%.9g" % v for v in mean), "--input-scale", ",".join("%.9g" % v for v in scale)])
        sh([a.nnport, "run", os.path.join(d, "rgb.nnb"), "--input", "x=" + os.path.join(d, "x.npy"),
            "--output-dir", os.path.join(d, "out_rgb")])
        sh([a.nnport, "run", os.path.join(d, "nv12.nnb"), "--input", "x=" + os.path.join(d, "frame.npy"),
            "--output-dir", os.path.join(d, "out_nv12")])
        # the RGB build on the decoded frame must equal the NV12 build exactly
        np.save(os.path.join(d, "x_dec.npy"), nv12_decode(frame, mean, scale))
        sh([a.nnport, "run", os.path.join(d, "rgb.nnb"), "--input", "x=" + os.path.join(d, "x_dec.npy"),
            "--output-dir", os.path.join(d, "out_dec")])
        # the same frame through a CPU float decoder (ties up, ties even) and the RGB build
        for t in ("up", "even"):
            x_cpu, rgb_cpu = nv12_decode_cpu(frame, t)
            cpu[t][3] += int(np.sum(rgb_cpu != nv12_decode_int_rgb(frame)))
            cpu[t][4] += rgb_cpu.size
            np.save(os.path.join(d, "x_cpu_%s.npy" % t), x_cpu)
            sh([a.nnport, "run", os.path.join(d, "rgb.nnb"), "--input", "x=" + os.path.join(d, "x_cpu_%s.npy" % t),
                "--output-dir", os.path.join(d, "out_cpu_" + t)])
        # the float model on both inputs: what NV12 (4:2:0 chroma, 8-bit YUV) costs before quantization
        if a.float_check:
            for tag, inp in (("float_rgb", "x.npy"), ("float_dec", "x_dec.npy")):
                sh([a.nnport, "run", DET, "--input", "x=" + os.path.join(d, inp), "--output-dir", os.path.join(d, tag)])
        pd = np.load(os.path.join(d, "out_dec", "output_0.npy"))
        pr = np.load(os.path.join(d, "out_rgb", "output_0.npy")).astype(np.float64)
        pn = np.load(os.path.join(d, "out_nv12", "output_0.npy")).astype(np.float64)
        mr, mn = pr > a.threshold, pn > a.threshold
        cpu_iou = {}
        for t in ("up", "even"):
            mc = np.load(os.path.join(d, "out_cpu_" + t, "output_0.npy")) > a.threshold
            ci, cu = int(np.sum(mc & mn)), int(np.sum(mc | mn))
            cpu_iou[t] = ci / cu if cu else 1.0
            cpu[t][0] = min(cpu[t][0], cpu_iou[t])
            cpu[t][1] += ci
            cpu[t][2] += cu
        inter, union = int(np.sum(mr & mn)), int(np.sum(mr | mn))
        iou = inter / union if union else 1.0
        worst = min(worst, iou)
        inter_all += inter
        union_all += union
        exact = np.array_equal(pd, np.load(os.path.join(d, "out_nv12", "output_0.npy")))
        exact_all = exact_all and exact
        fl = ""
        if a.float_check:
            fr = np.load(os.path.join(d, "float_rgb", "output_0.npy")) > a.threshold
            fd = np.load(os.path.join(d, "float_dec", "output_0.npy")) > a.threshold
            fu = int(np.sum(fr | fd))
            fl = " %10d %9.4f" % (int(fr.sum()), np.sum(fr & fd) / fu if fu else 1.0)
        br, bn = det_boxes(pr[0, 0]), det_boxes(pn[0, 0])
        bm = box_match(br, bn)
        boxes_rgb, boxes_nv12, boxes_matched = boxes_rgb + len(br), boxes_nv12 + len(bn), boxes_matched + bm
        print("%-12s %9s %10d %10d %10d %8.4f %9.4f %6s %13s %15s%s" % (name, "%dx%d" % (h, w), int(mr.sum()), int(mn.sum()), inter,
                                                                 iou, float(np.max(np.abs(pr - pn))), "yes" if exact else "NO",
                                                                 "%d/%d/%d" % (len(br), len(bn), bm),
                                                                 "%.4f/%.4f" % (cpu_iou["up"], cpu_iou["even"]), fl))
    print("IoU of the %.1f-thresholded maps, NV12 build vs RGB build: worst %.4f, pooled %.4f (target >= %.2f)"
          % (a.threshold, worst, inter_all / union_all if union_all else 1.0, a.min_iou))
    print("text boxes (PaddleOCR-style: components of p > %.1f, >= 9 px, mean p > 0.6) matched one to one at box IoU >= 0.5:"
          " %d of %d RGB-build boxes, %d NV12-build boxes" % (a.threshold, boxes_matched, boxes_rgb, boxes_nv12))
    print("NV12 build == RGB build on the decoded frame (numpy copy of the integer conversion), bit for bit: %s"
          % ("yes" if exact_all else "NO"))
    for t in ("up", "even"):
        w_, i_, u_, dif, px = cpu[t]
        print("same frame, ties %-4s: NV12 build vs the RGB build on the frame decoded by a CPU float decoder: IoU worst %.4f,"
              " pooled %.4f; %d of %d decoded values (%.4f %%) differ from the instruction's by one"
              % (t, w_, i_ / u_ if u_ else 1.0, dif, px, 100.0 * dif / max(px, 1)))
    sys.exit(0 if worst >= a.min_iou and exact_all else 1)


if __name__ == "__main__":
    main()
