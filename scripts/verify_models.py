#!/usr/bin/python3
"""Run ONNX Runtime (scripts/ort_run.js) on every prepared model and input and
check the results; the outputs double as reference outputs for parity tests.

Run with Debian's python:  /usr/bin/python3 scripts/verify_models.py [--threads N] [GROUP ...]
GROUP: tv (torchvision exports), vit_b16, gpt, ocr; default: every group whose
models are present in the cache.

Checks:
  * every exported model: ORT output on its ref_input matches torch's ref_output
  * classifiers on the ImageNet photos: finite logits; mobilenet_v2 (BN folded
    by torch) and mobilenet_v2_bn (BN nodes kept) agree
  * GPT: next-char loss/accuracy of ORT logits on the held-out windows
  * PP-OCRv4 rec: CTC greedy decoding over ppocr_keys_v1.txt reads the rendered
    lines (reports exact matches and character error rate)
  * PP-OCR cls: orientation accuracy on upright / 180-degree lines
  * PP-OCRv4 det: text-probability mass on documents vs photos

Outputs: $CACHE/ort_out/<model>/<set>/<input>/output_<i>.npy + outputs.json
(same layout as `nnport run`), and $CACHE/ort_out/report.json.
Ends with "N passed, N failed"; exits 1 if anything failed.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.dont_write_bytecode = True  # keep the work tree clean (no scripts/__pycache__)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nnport_cache as nc  # noqa: E402

TAG = "verify"
HERE = os.path.dirname(os.path.abspath(__file__))
OCR_DIR = os.path.join(nc.cache_dir(), "npm", "package", "assets")
results = {"passed": 0, "failed": 0, "checks": []}


def check(name, ok, detail):
    results["passed" if ok else "failed"] += 1
    results["checks"].append({"check": name, "ok": bool(ok), "detail": detail})
    print("%-4s %-44s %s" % ("ok" if ok else "FAIL", name, detail), flush=True)


def ort_batch(model, jobs, out_root, threads):
    """jobs: list of (subdir, {input_name: npy_path}) -> {subdir: [outputs...]}"""
    os.makedirs(out_root, exist_ok=True)
    lst = os.path.join(out_root, "list.tsv")
    with open(lst, "w") as f:
        for sub, ins in jobs:
            f.write("\t".join([sub] + ["%s=%s" % kv for kv in ins.items()]) + "\n")
    t0 = time.time()
    p = subprocess.run(["node", os.path.join(HERE, "ort_run.js"), model, "--batch-list", lst, "--threads",
                        str(threads), "--quiet"], capture_output=True, text=True)
    if p.returncode != 0:
        check("ort runs %s" % os.path.basename(model), False, p.stderr.strip()[-400:])
        return None
    out = {}
    for sub, _ in jobs:
        d = os.path.join(out_root, sub)
        meta = json.load(open(os.path.join(d, "outputs.json")))["outputs"]
        out[sub] = [np.load(os.path.join(d, m["file"])) for m in meta]
    return out, time.time() - t0


def data_files(set_name, pattern_ok=lambda f: f.endswith(".npy")):
    d = os.path.join(nc.data_dir(), set_name)
    out = []
    for split in ("calib", "eval"):
        sd = os.path.join(d, split)
        if os.path.isdir(sd):
            out += ["%s/%s" % (split, f) for f in sorted(os.listdir(sd)) if pattern_ok(f)]
    return d, out


def verify_exported(entries, family_filter, threads):
    mdir = nc.models_dir()
    ref_logits = {}
    img_dir, imgs = data_files("imagenet")
    for key, e in sorted(entries.items()):
        if "ref_input" not in e or not family_filter(e.get("family", "")):
            continue
        model = os.path.join(mdir, e["file"])
        if not os.path.exists(model):
            continue
        in_name = e["inputs"][0]["name"]
        jobs = [("ref", {in_name: os.path.join(mdir, e["ref_input"])})]
        is_img = e["inputs"][0]["shape"] == [1, 3, 224, 224]
        if is_img and e["family"] != "vit_b16":
            jobs += [("imagenet/" + f[:-4], {in_name: os.path.join(img_dir, f)}) for f in imgs]
        gpt_dir, gpt_files = data_files("gpt", lambda f: f.endswith(".npy") and not f.endswith("_targets.npy"))
        if e["family"] == "gpt_char":
            jobs += [("gpt/" + f[:-4], {in_name: os.path.join(gpt_dir, f)}) for f in gpt_files]
        r = ort_batch(model, jobs, os.path.join(nc.cache_dir(), "ort_out", key), threads)
        if r is None:
            continue
        outs, secs = r
        ref = np.load(os.path.join(mdir, e["ref_output"]))
        got = outs["ref"][0]
        diff = float(np.abs(got.astype(np.float64) - ref).max())
        scale = float(np.abs(ref).max()) or 1.0
        check("%s ORT vs torch" % key, got.shape == ref.shape and diff <= 1e-4 * max(1.0, scale),
              "max|diff| %.2e (max|ref| %.3g), %d runs in %.1f s" % (diff, scale, len(jobs), secs))
        if is_img and len(jobs) > 1:
            logits = np.concatenate([outs[s][0] for s, _ in jobs[1:]])
            ref_logits[key] = logits
            top = logits.argmax(1)
            # the outputs must depend on the input (random nets can collapse)
            spread = float(logits.std(0).mean() / (logits.std() or 1.0))
            check("%s on %d photos" % (key, len(jobs) - 1), bool(np.isfinite(logits).all()) and spread > 0.05,
                  "finite, %d distinct top-1 classes, across-image spread %.2f"
                  % (len(set(top.tolist())), spread))
        if e["family"] == "gpt_char" and len(jobs) > 1:
            ls, acc, n = [], 0, 0
            for s, ins in jobs[1:]:
                lg = outs[s][0][0].astype(np.float64)
                tgt = np.load(ins[in_name][:-4] + "_targets.npy")[0]
                lz = lg - lg.max(1, keepdims=True)
                lp = lz - np.log(np.exp(lz).sum(1, keepdims=True))
                ls.append(-lp[np.arange(len(tgt)), tgt])
                acc += int((lg.argmax(1) == tgt).sum())
                n += len(tgt)
            ls = np.concatenate(ls)
            split_loss = {sp: float(np.mean(np.concatenate([ls[i * 128:(i + 1) * 128]
                                                            for i, (s, _) in enumerate(jobs[1:]) if s.startswith("gpt/" + sp)])))
                          for sp in ("calib", "eval")}
            uni = e.get("metrics", {}).get("unigram_loss", float("nan"))
            check("%s next-char loss (ORT)" % key, split_loss["eval"] < uni,
                  "held-out windows loss %.3f nats vs unigram %.3f; train windows %.3f; acc %.1f%%"
                  % (split_loss["eval"], uni, split_loss["calib"], 100.0 * acc / n))
    for op in (13, 17):
        a, b = ref_logits.get("mobilenet_v2_op%d" % op), ref_logits.get("mobilenet_v2_bn_op%d" % op)
        if a is not None and b is not None:
            d = float(np.abs(a - b).max())
            check("mobilenet_v2 folded vs BN kept, op%d" % op, d <= 1e-4 * max(1.0, float(np.abs(a).max())),
                  "max|diff| %.2e on the photos" % d)


def ctc_decode(probs, chars):
    idx = probs.argmax(-1)
    out, prev = [], -1
    for i in idx:
        if i != prev and i != 0:
            out.append(chars[i - 1] if i - 1 < len(chars) else "?")
        prev = i
    return "".join(out)


def edit_distance(a, b):
    d = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, d[0] = d[0], i
        for j, cb in enumerate(b, 1):
            cur = min(d[j] + 1, d[j - 1] + 1, prev + (ca != cb))
            prev, d[j] = d[j], cur
    return d[len(b)]


def verify_ocr(threads):
    rec = os.path.join(OCR_DIR, "ch_PP-OCRv4_rec_infer.onnx")
    keys_p = os.path.join(OCR_DIR, "ppocr_keys_v1.txt")
    if not os.path.exists(rec):
        return
    with open(keys_p, encoding="utf-8") as f:
        keys = [ln.rstrip("\n").rstrip("\r") for ln in f]
    chars = keys + [" "]
    gt_p = os.path.join(nc.data_dir(), "ocr_rec", "gt.tsv")
    if os.path.exists(gt_p):
        rows = [ln.rstrip("\n").split("\t") for ln in open(gt_p, encoding="utf-8")][1:]
        jobs = [(r[0][:-4], {"x": os.path.join(nc.data_dir(), "ocr_rec", r[0][:-4] + ".npy")}) for r in rows]
        res = ort_batch(rec, jobs, os.path.join(nc.cache_dir(), "ort_out", "ppocrv4_rec"), threads)
        if res:
            outs, secs = res
            width = outs[jobs[0][0]][0].shape[-1]
            check("PP-OCRv4 rec output width", width == len(keys) + 2,
                  "%d classes = blank + %d dict lines + space" % (width, len(keys)))
            exact, stripped, errs, tot, per_split = 0, 0, 0, 0, {"calib": [0, 0], "eval": [0, 0]}
            lines = []
            for (sub, _), (_, text) in zip(jobs, rows):
                got = ctc_decode(outs[sub][0][0], chars)
                ok = got == text
                exact += ok
                stripped += got.strip() == text
                per_split[sub.split("/")[0]][0] += ok
                per_split[sub.split("/")[0]][1] += 1
                errs += edit_distance(got, text)
                tot += len(text)
                lines.append({"file": sub + ".png", "truth": text, "ort": got, "exact": ok})
                if not ok:
                    print("     rec mismatch %-18s truth %r got %r" % (sub, text, got))
            results["ocr_rec_lines"] = lines
            check("PP-OCRv4 rec reads rendered lines (ORT)", exact >= 0.75 * len(rows),
                  "%d/%d exact (calib %d/%d, eval %d/%d; %d/%d ignoring edge spaces), CER %.2f%%, %.1f s"
                  % (exact, len(rows), per_split["calib"][0], per_split["calib"][1], per_split["eval"][0],
                     per_split["eval"][1], stripped, len(rows), 100.0 * errs / tot, secs))
            results["ocr_rec_summary"] = {"exact": exact, "exact_ignoring_edge_spaces": stripped,
                                          "lines": len(rows), "cer": errs / tot}
    cls = os.path.join(OCR_DIR, "ch_ppocr_mobile_v2.0_cls_infer.onnx")
    lab_p = os.path.join(nc.data_dir(), "ocr_cls", "labels.tsv")
    if os.path.exists(cls) and os.path.exists(lab_p):
        rows = [ln.rstrip("\n").split("\t") for ln in open(lab_p, encoding="utf-8")][1:]
        jobs = [(r[0][:-4], {"x": os.path.join(nc.data_dir(), "ocr_cls", r[0])}) for r in rows]
        res = ort_batch(cls, jobs, os.path.join(nc.cache_dir(), "ort_out", "ppocr_cls"), threads)
        if res:
            outs, _ = res
            ok = sum(["0", "180"][int(outs[s][0][0].argmax())] == r[1] for (s, _), r in zip(jobs, rows))
            check("PP-OCR cls orientation (ORT)", ok >= 0.8 * len(rows), "%d/%d correct" % (ok, len(rows)))
    det = os.path.join(OCR_DIR, "ch_PP-OCRv4_det_infer.onnx")
    lst_p = os.path.join(nc.data_dir(), "ocr_det", "images.tsv")
    if os.path.exists(det) and os.path.exists(lst_p):
        rows = [ln.rstrip("\n").split("\t") for ln in open(lst_p, encoding="utf-8")][1:]
        jobs = [(r[0][:-4], {"x": os.path.join(nc.data_dir(), "ocr_det", r[0])}) for r in rows]
        res = ort_batch(det, jobs, os.path.join(nc.cache_dir(), "ort_out", "ppocrv4_det"), threads)
        if res:
            outs, secs = res
            fr = {}
            for (s, _), r in zip(jobs, rows):
                pm = outs[s][0]
                ok_shape = pm.shape == (1, 1, int(r[2]), int(r[3]))
                fr[s] = float((pm > 0.3).mean()) if ok_shape else -1.0
            # rendered documents and skimage's scanned page must light up; the
            # handwriting photo (text) and the photos are reported only
            docs = [v for k, v in fr.items() if "/doc_" in k or k.endswith("/page")]
            check("PP-OCRv4 det text maps (ORT)", bool(docs) and min(docs) > 0.02 and all(v >= 0 for v in fr.values()),
                  "text pixel fraction: " + ", ".join("%s %.3f" % (k.split("/")[1], v) for k, v in fr.items()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("groups", nargs="*", default=["tv", "vit_b16", "gpt", "ocr"])
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    man = nc.load_manifest(os.path.join(nc.models_dir(), "manifest.json"))["entries"]
    fams = set()
    if "tv" in a.groups:
        fams |= {"resnet18", "mobilenet_v2", "mobilenet_v2_bn", "vit_ti"}
    if "vit_b16" in a.groups:
        fams.add("vit_b16")
    if "gpt" in a.groups:
        fams.add("gpt_char")
    t0 = time.time()
    verify_exported(man, lambda f: f in fams, a.threads)
    if "ocr" in a.groups:
        verify_ocr(a.threads)
    results["seconds"] = round(time.time() - t0, 1)
    os.makedirs(os.path.join(nc.cache_dir(), "ort_out"), exist_ok=True)
    nc.atomic_write_text(os.path.join(nc.cache_dir(), "ort_out", "report.json"), json.dumps(results, indent=1) + "\n")
    print("%d passed, %d failed" % (results["passed"], results["failed"]))
    sys.exit(1 if results["failed"] or not results["passed"] else 0)


if __name__ == "__main__":
    main()
