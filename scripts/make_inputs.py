#!/usr/bin/python3
"""Prepare real inputs for nnport's model tests in $NNPORT_CACHE/data.

Run with Debian's python:  /usr/bin/python3 scripts/make_inputs.py [--force] [PART ...]
PART: ocr (rec + cls + det), ocr_rec, ocr_cls, ocr_det, imagenet, gpt, all (default: all
but gpt is skipped with a note when the GPT corpus has not been made yet);
on request only: rec_eval_extra, rec_calib_extra (60 more rec lines each),
rec_calib80 (calib + calib_extra as links).

Everything is deterministic and comes from Debian packages: text from
`fortunes`, fonts from fonts-dejavu-core/-extra rendered by ImageMagick,
photos from python3-skimage's data directory.  Every set is split into calib/
(for quantisation calibration) and eval/ halves.  All arrays are .npy written
by numpy, batch 1, NCHW float32 (images) or int64 (tokens).

ocr_rec/   40 rendered text lines.  lineNN.png (RGB), lineNN.npy f32 [1,3,48,640]:
           PaddleOCR's rec preprocessing (resize_norm_img): the image in cv2's
           BGR order, resized (bilinear, cv2 half-pixel convention) to height 48
           keeping the aspect ratio (width capped at 640), x/255, (x-0.5)/0.5,
           then zero-padded on the right to the fixed width 640.
           gt.tsv (file<TAB>text, file relative to ocr_rec/), also calib/gt.tsv
           and eval/gt.tsv with bare names.
ocr_cls/   the first 20 lines, upright and rotated 180 degrees: f32 [1,3,48,192],
           the same preprocessing at width 192.  labels.tsv: file<TAB>0|180.
ocr_det/   pages for the PP-OCRv4 detector: two skimage text images, three
           documents rendered with ImageMagick, two photos.  NAME.npy
           f32 [1,3,H,W] with PaddleOCR's DB preprocessing: DetResizeForTest
           limit_type max, limit_side_len 640 (each side rounded to a multiple
           of 32), NormalizeImage mean [0.485,0.456,0.406] std [0.229,0.224,0.225]
           on x/255, applied to the image in cv2's BGR channel order exactly as
           PaddleOCR's inference code does (its det models were trained that
           way; it never converts to RGB).  images.tsv: file, source, h, w.
imagenet/  12 skimage photos: torchvision-style ImageNet preprocessing (PIL
           bilinear resize of the short side to 256, center crop 224, RGB/255,
           mean [0.485,0.456,0.406], std [0.229,0.224,0.225]) f32 [1,3,224,224].
gpt/       next to train.txt / heldout.txt (made by train_gpt.py): calib/ windows
           from train.txt and eval/ windows from heldout.txt, 16 each:
           windowNN.npy int64 [1,128] (input "tokens") and windowNN_targets.npy
           int64 [1,128] (the next character of each position).
"""
import argparse
import glob
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.dont_write_bytecode = True  # keep the work tree clean (no scripts/__pycache__)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nnport_cache as nc  # noqa: E402

TAG = "make_inputs"
FONT_DIR = "/usr/share/fonts/truetype/dejavu"
FONTS = ["DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "DejaVuSans-Bold.ttf",
         "DejaVuSansCondensed.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSerifCondensed.ttf"]
SKIMAGE_DIR = "/usr/lib/python3/dist-packages/skimage/data"
REC_H, REC_W = 48, 640
CLS_H, CLS_W = 48, 192
DET_LIMIT = 640
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
N_LINES = 40
PARTS = ["ocr_rec", "ocr_cls", "ocr_det", "imagenet", "gpt"]


# ---------------------------------------------------------------- helpers

def convert_bin():
    for c in ("/usr/bin/convert", "/usr/bin/magick", shutil.which("magick"), shutil.which("convert")):
        if c and os.path.exists(c):
            return c
    nc.die(TAG, "ImageMagick's convert not found (apt-get install imagemagick)")


def im_escape(text):
    # ImageMagick interprets % escapes and backslashes in label:/caption: text;
    # a leading @ would read a file.
    return text.replace("\\", "\\\\").replace("%", "%%")


def run_convert(args):
    # no date/time chunks, so that PNGs are byte-for-byte reproducible
    args = args[:-1] + ["-define", "png:exclude-chunk=date,time", args[-1]]
    p = subprocess.run([convert_bin()] + args, capture_output=True, text=True)
    if p.returncode != 0:
        nc.die(TAG, "convert %s failed: %s" % (" ".join(args[:6]), p.stderr.strip()))


def load_rgb(path):
    from PIL import Image
    with Image.open(path) as im:
        if im.mode in ("RGBA", "LA", "P"):
            im = im.convert("RGBA")
            bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(bg, im)
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def resize_bilinear(img, out_h, out_w):
    """cv2.resize(INTER_LINEAR) semantics: half-pixel centres, no antialiasing."""
    h, w = img.shape[:2]
    src = img.astype(np.float32)

    def axis(n_out, n_in):
        x = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
        x = np.clip(x, 0, n_in - 1)
        i0 = np.floor(x).astype(np.int64)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, (x - i0).astype(np.float32)

    y0, y1, fy = axis(out_h, h)
    x0, x1, fx = axis(out_w, w)
    top = src[y0][:, x0] * (1 - fx)[None, :, None] + src[y0][:, x1] * fx[None, :, None]
    bot = src[y1][:, x0] * (1 - fx)[None, :, None] + src[y1][:, x1] * fx[None, :, None]
    out = top * (1 - fy)[:, None, None] + bot * fy[:, None, None]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)  # cv2 keeps uint8


def rec_preprocess(rgb, img_h, img_w):
    """PaddleOCR resize_norm_img on a cv2 (BGR) image -> [1,3,img_h,img_w] f32."""
    bgr = rgb[:, :, ::-1]
    h, w = bgr.shape[:2]
    rw = min(img_w, int(math.ceil(img_h * w / float(h))))
    r = resize_bilinear(bgr, img_h, rw).astype(np.float32)
    r = (r / 255.0 - 0.5) / 0.5
    out = np.zeros((1, 3, img_h, img_w), dtype=np.float32)
    out[0, :, :, :rw] = r.transpose(2, 0, 1)
    return out, rw


def det_preprocess(rgb, limit=DET_LIMIT):
    """PaddleOCR DetResizeForTest(limit_type=max) + NormalizeImage + ToCHW, BGR order."""
    bgr = rgb[:, :, ::-1]
    h, w = bgr.shape[:2]
    ratio = float(limit) / max(h, w) if max(h, w) > limit else 1.0
    rh = max(int(round(int(h * ratio) / 32.0) * 32), 32)
    rw = max(int(round(int(w * ratio) / 32.0) * 32), 32)
    r = resize_bilinear(bgr, rh, rw).astype(np.float32)
    r = (r / 255.0 - np.array(IMAGENET_MEAN, np.float32)) / np.array(IMAGENET_STD, np.float32)
    return r.transpose(2, 0, 1)[None].astype(np.float32)


def imagenet_preprocess(path):
    from PIL import Image
    with Image.open(path) as im:
        if im.mode in ("RGBA", "LA", "P"):
            im = im.convert("RGBA")
            bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(bg, im)
        im = im.convert("RGB")
        w, h = im.size
        if w <= h:
            nw, nh = 256, int(256 * h / w)
        else:
            nw, nh = int(256 * w / h), 256
        im = im.resize((nw, nh), Image.BILINEAR)
        top = int(round((nh - 224) / 2.0))
        left = int(round((nw - 224) / 2.0))
        im = im.crop((left, top, left + 224, top + 224))
        x = np.asarray(im, dtype=np.float32) / 255.0
    x = (x - np.array(IMAGENET_MEAN, np.float32)) / np.array(IMAGENET_STD, np.float32)
    return x.transpose(2, 0, 1)[None].astype(np.float32)


def ocr_dict():
    p = os.path.join(nc.cache_dir(), "npm", "package", "assets", "ppocr_keys_v1.txt")
    if not os.path.exists(p):
        nc.die(TAG, "%s missing: run scripts/fetch_models.sh ocr first" % p)
    with open(p, encoding="utf-8") as f:
        return [ln.rstrip("\n").rstrip("\r") for ln in f]


class Outputs:
    """Collects files written for one data set, for the manifest."""

    def __init__(self, root, name, wipe=None):
        """wipe: subdirectories to clear (default: the whole set directory)."""
        self.base = nc.data_dir()
        self.dir = os.path.join(self.base, name)
        self.name = name
        for d in ([self.dir] if wipe is None else [os.path.join(self.dir, w) for w in wipe]):
            if os.path.isdir(d):
                shutil.rmtree(d)
        os.makedirs(self.dir, exist_ok=True)
        self.files = {}

    def path(self, rel):
        p = os.path.join(self.dir, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        return p

    def add(self, rel):
        p = os.path.join(self.dir, rel)
        self.files[os.path.join(self.name, rel)] = nc.sha256_file(p)

    def npy(self, rel, arr):
        nc.save_npy(self.path(rel), arr)
        self.add(rel)

    def text(self, rel, s):
        with open(self.path(rel), "w", encoding="utf-8") as f:
            f.write(s)
        self.add(rel)

    def entry(self, **kw):
        e = {"name": self.name, "dir": self.name, "files": self.files}
        e.update(kw)
        return e


# ---------------------------------------------------------------- text lines

def fortune_lines():
    out = []
    for p in sorted(glob.glob("/usr/share/games/fortunes/*")):
        if p.endswith((".dat", ".u8")) or os.path.basename(p) in ("ascii-art", "art") or not os.path.isfile(p):
            continue
        with open(p, encoding="utf-8", errors="replace") as f:
            for ln in f:
                ln = " ".join(ln.split())
                if 14 <= len(ln) <= 34 and re.fullmatch(r"[A-Za-z][A-Za-z0-9 ,.;:!?'()&$#/-]*", ln) \
                        and not ln.startswith(("--", "-")) and len(ln.split()) >= 3:
                    out.append(ln)
    out = sorted(set(out), key=lambda s: hashlib.sha256(s.encode()).hexdigest())
    return out


def synthetic_lines(n, seed=7):
    rng = np.random.default_rng(seed)
    words = ["Invoice", "Order", "Total", "Room", "Gate", "Flight", "Batch", "Serial", "Ticket", "Page",
             "Version", "Model", "Price", "Qty", "Ref", "Code", "Unit", "Lot"]
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    out = []
    for i in range(n):
        k = i % 8
        w = words[rng.integers(len(words))]
        if k == 0:
            out.append("%s #%d: $%d.%02d" % (w, rng.integers(100, 99999), rng.integers(1, 9999), rng.integers(100)))
        elif k == 1:
            out.append("%02d %s %d, %02d:%02d" % (rng.integers(1, 29), months[rng.integers(12)],
                                                  rng.integers(1990, 2030), rng.integers(24), rng.integers(60)))
        elif k == 2:
            out.append("Tel: +%d %03d-%04d" % (rng.integers(1, 99), rng.integers(1000), rng.integers(10000)))
        elif k == 3:
            out.append("%s %d of %d (%d%%)" % (w, rng.integers(1, 50), rng.integers(50, 99), rng.integers(1, 100)))
        elif k == 4:
            out.append("x = %.3f, y = %.2f" % (rng.uniform(-99, 99), rng.uniform(0, 999)))
        elif k == 5:
            out.append("%s-%d/%s-%04d" % (w.upper()[:3], rng.integers(10, 99), chr(65 + rng.integers(26)),
                                          rng.integers(10000)))
        elif k == 6:
            out.append("%d items @ %d.%02d EUR" % (rng.integers(2, 60), rng.integers(1, 99), rng.integers(100)))
        else:
            out.append("v%d.%d.%d; build %d!" % (rng.integers(10), rng.integers(20), rng.integers(50),
                                                 rng.integers(1000, 9999)))
    return out


def make_lines(charset):
    fl = [s for s in fortune_lines() if all(c in charset or c == " " for c in s)]
    sl = [s for s in synthetic_lines(24) if all(c in charset or c == " " for c in s)]
    if len(fl) < N_LINES:
        nc.die(TAG, "only %d usable fortune lines (is the fortunes package installed?)" % len(fl))
    n_syn = min(len(sl), N_LINES * 2 // 5)
    lines = fl[: N_LINES - n_syn] + sl[:n_syn]
    # interleave deterministically so both halves get both kinds
    return sorted(lines, key=lambda s: hashlib.sha256(("mix" + s).encode()).hexdigest())


def render_line(text, font, pointsize, out_png):
    run_convert(["-background", "white", "-fill", "black", "-font", os.path.join(FONT_DIR, font),
                 "-pointsize", str(pointsize), "label:" + im_escape(text), "-bordercolor", "white",
                 "-border", "4x6", "-alpha", "off", "PNG24:" + out_png])


def render_lines(o, lines):
    rendered = []
    for i, text in enumerate(lines):
        split = "calib" if i % 2 == 0 else "eval"
        rel = "%s/line%02d.png" % (split, i)
        font = FONTS[i % len(FONTS)]
        render_line(text, font, 28 + 2 * (i % 4), o.path(rel))
        o.add(rel)
        rendered.append((rel, text, font))
    return rendered


# ---------------------------------------------------------------- parts

def part_ocr_rec():
    keys = ocr_dict()
    charset = set(keys)
    o = Outputs(nc.data_dir(), "ocr_rec")
    lines = make_lines(charset)
    rendered = render_lines(o, lines)
    gt = ["file\ttext"]
    per = {"calib": ["file\ttext"], "eval": ["file\ttext"]}
    squashed = 0
    widths = []
    for rel, text, font in rendered:
        x, rw = rec_preprocess(load_rgb(os.path.join(o.dir, rel)), REC_H, REC_W)
        widths.append(rw)
        squashed += rw >= REC_W
        o.npy(rel[:-4] + ".npy", x)
        gt.append("%s\t%s" % (rel, text))
        split, base = rel.split("/")
        per[split].append("%s\t%s" % (base, text))
    o.text("gt.tsv", "\n".join(gt) + "\n")
    for split, rows in per.items():
        o.text(split + "/gt.tsv", "\n".join(rows) + "\n")
    nc.log(TAG, "ocr_rec: %d lines rendered (%d fonts), resized widths %d..%d of %d%s"
           % (len(rendered), len(FONTS), min(widths), max(widths), REC_W,
              (", %d squashed to fit" % squashed) if squashed else ""))
    return o.entry(
        count=len(rendered), shape=[1, 3, REC_H, REC_W], dtype="float32", model="ch_PP-OCRv4_rec_infer.onnx",
        preprocess="PaddleOCR resize_norm_img: BGR, bilinear resize to height 48 keeping aspect (width <= 640), "
                   "(x/255-0.5)/0.5, zero pad right to 640",
        decode="CTC greedy over [blank] + ppocr_keys_v1.txt lines + [' ']",
        ground_truth="gt.tsv", splits={"calib": len(per["calib"]) - 1, "eval": len(per["eval"]) - 1})


def part_ocr_cls():
    keys = ocr_dict()
    o = Outputs(nc.data_dir(), "ocr_cls")
    lines = make_lines(set(keys))[:20]
    rows = ["file\tlabel\ttext"]
    with tempfile.TemporaryDirectory() as td:
        for i, text in enumerate(lines):
            png = os.path.join(td, "l.png")
            render_line(text, FONTS[i % len(FONTS)], 30, png)
            rgb = load_rgb(png)
            split = "calib" if i % 2 == 0 else "eval"
            for angle, img in (("0", rgb), ("180", rgb[::-1, ::-1])):
                rel = "%s/line%02d_%s.npy" % (split, i, angle)
                x, _ = rec_preprocess(np.ascontiguousarray(img), CLS_H, CLS_W)
                o.npy(rel, x)
                rows.append("%s\t%s\t%s" % (rel, angle, text))
    o.text("labels.tsv", "\n".join(rows) + "\n")
    nc.log(TAG, "ocr_cls: %d inputs (upright and rotated 180)" % (len(rows) - 1))
    return o.entry(count=len(rows) - 1, shape=[1, 3, CLS_H, CLS_W], dtype="float32",
                   model="ch_ppocr_mobile_v2.0_cls_infer.onnx", labels="labels.tsv",
                   preprocess="PaddleOCR resize_norm_img at 3x48x192 (BGR, (x/255-0.5)/0.5, zero pad)",
                   classes=["0", "180"])


DOC_TEXTS = [
    ("doc_letter", "DejaVuSerif.ttf", 22, 620,
     "Dear customer,\n\nThank you for your order No. 48213 of 12 March. The parcel left our "
     "warehouse today and should arrive within 3-5 working days.\n\nTracking code: ZX-0971-4410\n\n"
     "Kind regards,\nThe Shipping Team"),
    ("doc_receipt", "DejaVuSansMono.ttf", 20, 420,
     "CORNER CAFE\n12 Station Road\n\nEspresso        2.40\nCroissant       1.90\nOrange juice    3.10\n"
     "Muffin          2.25\n\nTOTAL           9.65\nCash           10.00\nChange          0.35\n\n"
     "Thank you! Come again."),
]


def part_ocr_det():
    o = Outputs(nc.data_dir(), "ocr_det")
    srcs = []
    for nm in ("page", "text"):
        srcs.append((nm, os.path.join(SKIMAGE_DIR, nm + ".png"), "python3-skimage data/%s.png" % nm))
    with tempfile.TemporaryDirectory() as td:
        for nm, font, size, width, text in DOC_TEXTS:
            p = os.path.join(td, nm + ".png")
            run_convert(["-size", "%dx" % width, "-background", "white", "-fill", "black", "-font",
                         os.path.join(FONT_DIR, font), "-pointsize", str(size), "caption:" + im_escape(text),
                         "-bordercolor", "white", "-border", "30x30", "-alpha", "off", "PNG24:" + p])
            srcs.append((nm, p, "ImageMagick caption, %s %dpt" % (font, size)))
        # a fortune paragraph as a third document
        fl = fortune_lines()[:8]
        p = os.path.join(td, "doc_fortunes.png")
        run_convert(["-size", "700x", "-background", "white", "-fill", "black", "-font",
                     os.path.join(FONT_DIR, "DejaVuSans.ttf"), "-pointsize", "24",
                     "caption:" + im_escape("\n".join(fl)), "-bordercolor", "white", "-border", "40x40",
                     "-alpha", "off", "PNG24:" + p])
        srcs.append(("doc_fortunes", p, "ImageMagick caption of 8 fortune lines, DejaVuSans 24pt"))
        for nm in ("coffee", "chelsea"):
            srcs.append((nm, os.path.join(SKIMAGE_DIR, nm + ".png"), "python3-skimage data/%s.png (no text)" % nm))
        rows = ["file\tsource\theight\twidth"]
        for i, (nm, p, desc) in enumerate(srcs):
            if not os.path.exists(p):
                nc.die(TAG, "%s missing (apt-get install python3-skimage)" % p)
            rgb = load_rgb(p)
            split = "calib" if i % 2 == 0 else "eval"
            from PIL import Image
            Image.fromarray(rgb).save(o.path("%s/%s.png" % (split, nm)))
            o.add("%s/%s.png" % (split, nm))
            x = det_preprocess(rgb)
            o.npy("%s/%s.npy" % (split, nm), x)
            rows.append("%s/%s.npy\t%s\t%d\t%d" % (split, nm, desc, x.shape[2], x.shape[3]))
    o.text("images.tsv", "\n".join(rows) + "\n")
    nc.log(TAG, "ocr_det: %d pages, shapes %s" % (len(srcs), ", ".join(r.split("\t")[2] + "x" + r.split("\t")[3]
                                                                        for r in rows[1:])))
    return o.entry(count=len(srcs), shape=[1, 3, "H", "W"], dtype="float32", model="ch_PP-OCRv4_det_infer.onnx",
                   list="images.tsv",
                   preprocess="PaddleOCR DetResizeForTest(limit_type=max, limit_side_len=640, sides multiple of 32) "
                              "+ NormalizeImage(mean [0.485,0.456,0.406], std [0.229,0.224,0.225], on x/255) "
                              "in cv2 BGR channel order (as PaddleOCR infers) + CHW")


IMAGENET_SRC = ["astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png",
                "motorcycle_right.png", "hubble_deep_field.jpg", "retina.jpg", "ihc.png", "camera.png",
                "coins.png", "color.png"]


def part_imagenet():
    o = Outputs(nc.data_dir(), "imagenet")
    rows = ["file\tsource"]
    for i, fn in enumerate(IMAGENET_SRC):
        p = os.path.join(SKIMAGE_DIR, fn)
        if not os.path.exists(p):
            nc.die(TAG, "%s missing (apt-get install python3-skimage)" % p)
        split = "calib" if i % 2 == 0 else "eval"
        rel = "%s/%s.npy" % (split, os.path.splitext(fn)[0])
        o.npy(rel, imagenet_preprocess(p))
        rows.append("%s\tpython3-skimage data/%s" % (rel, fn))
    o.text("images.tsv", "\n".join(rows) + "\n")
    nc.log(TAG, "imagenet: %d photos -> [1,3,224,224]" % len(IMAGENET_SRC))
    return o.entry(count=len(IMAGENET_SRC), shape=[1, 3, 224, 224], dtype="float32", list="images.tsv",
                   preprocess="PIL bilinear resize short side 256, center crop 224, RGB/255, "
                              "mean [0.485,0.456,0.406] std [0.229,0.224,0.225], NCHW")


def part_gpt():
    vocab_p = os.path.join(nc.models_dir(), "gpt_char_vocab.json")
    txt = {s: os.path.join(nc.data_dir(), "gpt", s + ".txt") for s in ("train", "heldout")}
    for p in list(txt.values()) + [vocab_p]:
        if not os.path.exists(p):
            return None
    with open(vocab_p) as f:
        chars = json.load(f)["chars"]
    lut = {c: i for i, c in enumerate(chars)}
    # data/gpt/ also holds train.txt/heldout.txt (train_gpt.py): only clear the splits
    o = Outputs(nc.data_dir(), "gpt", wipe=["calib", "eval"])
    n, ctx = 16, 128
    for split, src in (("calib", "train"), ("eval", "heldout")):
        with open(txt[src], encoding="ascii") as f:
            ids = np.array([lut[c] for c in f.read()], dtype=np.int64)
        for k in range(n):
            off = k * (len(ids) - ctx - 1) // n
            o.npy("%s/window%02d.npy" % (split, k), ids[off:off + ctx].reshape(1, ctx))
            o.npy("%s/window%02d_targets.npy" % (split, k), ids[off + 1:off + ctx + 1].reshape(1, ctx))
    nc.log(TAG, "gpt_windows: %d calib (train text) + %d eval (held-out text) windows of %d tokens" % (n, n, ctx))
    e = o.entry(count=2 * n, shape=[1, ctx], dtype="int64", vocab="../models/gpt_char_vocab.json",
                note="calib from train.txt, eval from heldout.txt; windowNN_targets.npy = next characters")
    e["name"] = "gpt_windows"
    return e


def rec_extra_lines(name, first, n):
    """ocr_rec/NAME: N more rec lines, rendered exactly like part_ocr_rec's
    (fonts, 28-34 pt, resize_norm_img) from the usable fortune lines FIRST..,
    with gt.tsv.  Made on first use; returns the dir."""
    d = os.path.join(nc.data_dir(), "ocr_rec", name)
    if os.path.isfile(os.path.join(d, "gt.tsv")) and \
            len([f for f in os.listdir(d) if f.endswith(".npy")]) >= n:
        return d
    import tempfile
    os.makedirs(d, exist_ok=True)
    charset = set(ocr_dict())
    fl = [t for t in fortune_lines()[first:] if all(c in charset or c == " " for c in t) and 8 <= len(t) <= 45][:n]
    with tempfile.TemporaryDirectory() as td:
        rows = []
        for i, text in enumerate(fl):
            png = os.path.join(td, "l.png")
            render_line(text, FONTS[i % len(FONTS)], 28 + 2 * (i % 4), png)
            x, _ = rec_preprocess(load_rgb(png), REC_H, REC_W)
            np.save(os.path.join(d, "x%02d.npy" % i), np.ascontiguousarray(x))
            rows.append("x%02d\t%s\n" % (i, text))
    with open(os.path.join(d, "gt.tsv"), "w") as gt:
        gt.writelines(rows)
    nc.log(TAG, "%s: %d lines in %s" % (name, len(fl), d))
    return d


def rec_eval_extra(n=60):
    """ocr_rec/eval_extra: N more rec evaluation lines (session 5; first made by
    pc_act_experiment.py in /tmp) from fortune lines 300.. (part_ocr_rec uses
    the first ~24 usable ones).  The 20-line eval set moves by +-3 lines under
    a 3% change of the activation scales (docs/QUANTIZATION.md 6d): 80 lines
    make the rec figures steadier."""
    return rec_extra_lines("eval_extra", 300, n)


def rec_calib_extra(n=60):
    """ocr_rec/calib_extra: N more rec calibration lines (session 16), from
    fortune lines 1000.., disjoint from every evaluation line."""
    return rec_extra_lines("calib_extra", 1000, n)


def rec_calib80():
    """ocr_rec/calib80: the 20 calib lines and the 60 calib_extra lines
    together, as symbolic links (c_NAME, x_NAME) into those two folders:
    the calibration set of the session-16 search (docs/QUANTIZATION.md 6o).
    Returns the dir."""
    base = os.path.join(nc.data_dir(), "ocr_rec")
    if not os.path.isdir(os.path.join(base, "calib")):
        part_ocr_rec()
    ex = rec_calib_extra()
    d = os.path.join(base, "calib80")
    os.makedirs(d, exist_ok=True)
    n = 0
    for tag, src in (("c_", os.path.join(base, "calib")), ("x_", ex)):
        for f in sorted(os.listdir(src)):
            if not f.endswith(".npy"):
                continue
            link = os.path.join(d, tag + f)
            if not os.path.lexists(link):
                os.symlink(os.path.join(src, f), link)
            n += 1
    nc.log(TAG, "calib80: %d lines in %s" % (n, d))
    return d


BUILDERS = {"ocr_rec": part_ocr_rec, "ocr_cls": part_ocr_cls, "ocr_det": part_ocr_det,
            "imagenet": part_imagenet, "gpt": part_gpt}
ENTRY = {"ocr_rec": "ocr_rec", "ocr_cls": "ocr_cls", "ocr_det": "ocr_det", "imagenet": "imagenet",
         "gpt": "gpt_windows"}
# sets made on request only (not by "all"): rec lines beyond the base sets
EXTRAS = {"rec_eval_extra": rec_eval_extra, "rec_calib_extra": rec_calib_extra, "rec_calib80": rec_calib80}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("parts", nargs="*", default=["all"])
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args()
    parts = []
    for p in a.parts:
        if p == "all":
            parts += PARTS
        elif p == "ocr":
            parts += ["ocr_rec", "ocr_cls", "ocr_det"]
        elif p in BUILDERS:
            parts.append(p)
        elif p in EXTRAS:
            EXTRAS[p]()
        else:
            nc.die(TAG, "unknown part %r (known: %s, ocr, all, %s)" % (p, " ".join(PARTS), " ".join(EXTRAS)))
    ddir = nc.data_dir()
    os.makedirs(ddir, exist_ok=True)
    mpath = os.path.join(ddir, "manifest.json")
    for p in dict.fromkeys(parts):
        if not a.force and nc.manifest_ok(mpath, [ENTRY[p]]):
            nc.log(TAG, "%s up to date" % ENTRY[p])
            continue
        t0 = time.time()
        e = BUILDERS[p]()
        if e is None:
            if p == "gpt" and "gpt" not in a.parts:
                nc.log(TAG, "gpt windows skipped: run train_gpt.py first (fetch_models.sh gpt)")
                continue
            nc.die(TAG, "gpt windows need the GPT corpus and vocab: run scripts/train_gpt.py first")
        e["seconds"] = round(time.time() - t0, 2)
        nc.update_manifest(mpath, {ENTRY[p]: e})


if __name__ == "__main__":
    main()
