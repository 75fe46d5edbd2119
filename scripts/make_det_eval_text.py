#!/usr/bin/python3
"""make_det_eval_text.py - an extra PP-OCRv4 det evaluation set: real photos
with text rendered on them.

  /usr/bin/python3 scripts/make_det_eval_text.py [--force]

Writes $NNPORT_CACHE/data/ocr_det/eval_text/NAME.png (the RGB image) and
NAME.npy (f32 [1,3,H,W], the det preprocessing of make_inputs.py:
DetResizeForTest max side 640, sides multiples of 32, ImageNet mean/std on
x/255 in cv2 BGR order), plus images.tsv (file, source, h, w, texts).

Why: ocr_det/eval has one image with text out of three (docs/QUANTIZATION.md
6c).  Photos come from python3-skimage's data directory; chelsea.png (a det
calibration image) is not used, coffee.png (already an eval image) is, so
calibration and evaluation stay disjoint.  Text: fixed phrases and fortune
lines (not the 8 lines of the calibration page doc_fortunes), DejaVu and
Liberation fonts, several point sizes, colours, angles, some with a box
behind (signs) and some plain.  Placement comes from a seeded RandomState,
PNGs are written without date chunks: the output is deterministic.
"""
import argparse
import os
import sys
import tempfile

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_inputs as mi  # noqa: E402  (det_preprocess, run_convert, load_rgb, fortune_lines)
import nnport_cache as nc  # noqa: E402

TAG = "make_det_eval_text"
PHOTOS = ["astronaut.png", "rocket.jpg", "motorcycle_left.png", "camera.png", "coffee.png",
          "coins.png", "brick.png", "grass.png", "ihc.png", "hubble_deep_field.jpg"]
FONTS = ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
         "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
         "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
         "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
         "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
         "/usr/share/fonts/truetype/liberation2/LiberationSerif-Bold.ttf"]
PHRASES = ["OPEN 24 HOURS", "Platform 3", "EXIT", "No parking", "Sale -50%", "Fresh coffee",
           "Mission Control", "Gate B12", "Caution: wet floor", "Main Street", "Tickets 4.50",
           "Welcome", "Room 214", "Speed limit 30", "Bakery & Deli", "Lot 7A"]


def texts_for(i, rng, fortunes):
    out = []
    for k in range(4):
        if k % 2 == 0:
            out.append(PHRASES[(3 * i + k) % len(PHRASES)])
        else:
            out.append(fortunes[rng.randint(len(fortunes))][:34].strip())
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args()
    out = os.path.join(nc.data_dir(), "ocr_det", "eval_text")
    if os.path.exists(os.path.join(out, "images.tsv")) and not a.force:
        nc.log(TAG, "%s exists (--force to redo)" % out)
        return
    os.makedirs(out, exist_ok=True)
    # fortune lines 200.. (the calibration page doc_fortunes uses the first 8)
    fortunes = [s for s in mi.fortune_lines()[200:600] if 12 <= len(s) <= 40]
    rng = np.random.RandomState(1234)
    rows = ["file\tsource\theight\twidth\ttexts"]
    from PIL import Image
    with tempfile.TemporaryDirectory() as td:
        for i, ph in enumerate(PHOTOS):
            src = os.path.join(mi.SKIMAGE_DIR, ph)
            if not os.path.exists(src):
                nc.die(TAG, "%s missing (apt-get install python3-skimage)" % src)
            base = os.path.join(td, "base.png")
            Image.fromarray(mi.load_rgb(src)).save(base)
            w, h = Image.open(base).size
            args = [base]
            texts = texts_for(i, rng, fortunes)
            for k, t in enumerate(texts):
                font = FONTS[(i + k) % len(FONTS)]
                size = int(max(12, min(w, h) * [0.035, 0.05, 0.07, 0.09][(i + k) % 4]))
                ang = [0, 0, -8, 12, 0, 25, -30, 0, 5, 90][(i * 3 + k) % 10]
                x = int(rng.randint(5, max(6, w // 3)))
                y = int(rng.randint(size + 5, max(size + 6, h - 10)))
                light = bool(rng.randint(2))
                fill, under = ("white", "#202020") if light else ("black", "#f0f0e0")
                if (i + k) % 3 == 0:  # a sign: text on a box
                    args += ["-undercolor", under]
                else:
                    args += ["-undercolor", "none"]
                args += ["-font", font, "-pointsize", str(size), "-fill", fill,
                         "-annotate", "%dx%d+%d+%d" % (ang, ang, x, y), mi.im_escape(t)]
            png = os.path.join(td, "out.png")
            mi.run_convert(args + ["-alpha", "off", "PNG24:" + png])
            rgb = mi.load_rgb(png)
            nm = "txt_" + os.path.splitext(ph)[0]
            Image.fromarray(rgb).save(os.path.join(out, nm + ".png"))
            x = mi.det_preprocess(rgb)
            np.save(os.path.join(out, nm + ".npy"), x)
            rows.append("%s.npy\tpython3-skimage data/%s + ImageMagick -annotate\t%d\t%d\t%s"
                        % (nm, ph, x.shape[2], x.shape[3], " | ".join(texts)))
    with open(os.path.join(out, "images.tsv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    nc.log(TAG, "%d images in %s" % (len(rows) - 1, out))


if __name__ == "__main__":
    main()
