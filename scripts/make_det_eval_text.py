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
calib_text (session 5): 20 photos from Debian's opencv-doc examples (none of
them in eval_text), other phrases, fortune lines 1000.. and another seed, so
the det calibration set looks like the photos it is evaluated on without
sharing an image or a text with them (docs/QUANTIZATION.md 6e).
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
OPENCV_DIR = "/usr/share/doc/opencv-doc/examples/data"
CALIB_PHOTOS = ["aero1.jpg", "apple.jpg", "baboon.jpg", "building.jpg", "butterfly.jpg", "fruits.jpg",
                "home.jpg", "leuvenA.jpg", "messi5.jpg", "orange.jpg", "starry_night.jpg", "stuff.jpg",
                "smarties.png", "squirrel_cls.jpg", "HappyFish.jpg", "board.jpg", "licenseplate_motion.jpg",
                "rubberwhale1.png", "graf1.png", "basketball1.png"]
CALIB_PHRASES = ["PHARMACY", "Bus stop", "Open daily 9-5", "Parking B", "Hotel Central", "Car wash $5",
                 "Station Road", "No entry", "Pizza & Pasta", "Floor 2", "Library", "Ice cream",
                 "Checkout", "Taxi", "Museum entrance", "Sold out"]
PHRASES = ["OPEN 24 HOURS", "Platform 3", "EXIT", "No parking", "Sale -50%", "Fresh coffee",
           "Mission Control", "Gate B12", "Caution: wet floor", "Main Street", "Tickets 4.50",
           "Welcome", "Room 214", "Speed limit 30", "Bakery & Deli", "Lot 7A"]


def texts_for(i, rng, fortunes, phrases):
    out = []
    for k in range(4):
        if k % 2 == 0:
            out.append(phrases[(3 * i + k) % len(phrases)])
        else:
            out.append(fortunes[rng.randint(len(fortunes))][:34].strip())
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--set", default="eval_text", choices=["eval_text", "calib_text"])
    a = ap.parse_args()
    calib = a.set == "calib_text"
    photos = [os.path.join(OPENCV_DIR, p) for p in CALIB_PHOTOS] if calib else \
        [os.path.join(mi.SKIMAGE_DIR, p) for p in PHOTOS]
    phrases = CALIB_PHRASES if calib else PHRASES
    out = os.path.join(nc.data_dir(), "ocr_det", a.set)
    if os.path.exists(os.path.join(out, "images.tsv")) and not a.force:
        nc.log(TAG, "%s exists (--force to redo)" % out)
        return
    os.makedirs(out, exist_ok=True)
    # fortune lines 200.. (the calibration page doc_fortunes uses the first 8);
    # calib_text takes 1000.., disjoint from eval_text's
    lo = 1000 if calib else 200
    fortunes = [s for s in mi.fortune_lines()[lo:lo + 400] if 12 <= len(s) <= 40]
    rng = np.random.RandomState(4321 if calib else 1234)
    rows = ["file\tsource\theight\twidth\ttexts"]
    from PIL import Image
    with tempfile.TemporaryDirectory() as td:
        for i, src in enumerate(photos):
            ph = os.path.basename(src)
            if not os.path.exists(src):
                nc.die(TAG, "%s missing (apt-get install %s)" % (src, "opencv-doc" if calib else "python3-skimage"))
            base = os.path.join(td, "base.png")
            Image.fromarray(mi.load_rgb(src)).save(base)
            w, h = Image.open(base).size
            args = [base]
            texts = texts_for(i, rng, fortunes, phrases)
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
            np.save(os.path.join(out, nm + ".npy"), np.ascontiguousarray(x))  # C order: nnport reads no Fortran-order .npy
            rows.append("%s.npy\t%s%s + ImageMagick -annotate\t%d\t%d\t%s"
                        % (nm, "opencv-doc examples/data/" if calib else "python3-skimage data/", ph, x.shape[2], x.shape[3],
                           " | ".join(texts)))
    with open(os.path.join(out, "images.tsv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    nc.log(TAG, "%d images in %s" % (len(rows) - 1, out))


if __name__ == "__main__":
    main()
