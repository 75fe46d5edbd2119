#!/usr/bin/python3
"""Parity: every real model, on real inputs, through `nnport run` and through
ONNX Runtime (scripts/ort_run.js, 1 thread), output by output.

Gate per output (issue 2): cosine >= 0.99999 and max abs error <= 1e-4 x the
output's max magnitude, checked by `nnport compare`, with the two measured
adjustments documented at ABS_FLOOR below.  The OCR recognizer must
also read every line identically under both runtimes (CTC greedy decoding
with the package's dictionary, by build/ocr_read --decode).  Each model is
also read and written back by `nnport convert`, and ONNX Runtime must give
identical outputs on the original and the rewrite.

  tests/parity.py GROUP...   groups: ocr tv gpt vit_b16 all
Writes build/parity/<model>/<input>/{ours,ort}/ and build/parity.json; ends
with "parity: N passed, N failed".  Run with /usr/bin/python3 (Debian's).
"""
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("NNPORT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "nnport")
BUILD = os.path.join(ROOT, os.environ.get("B") or "build")   # make B=DIR test passes B
NNPORT = os.path.join(BUILD, "nnport")

# model name in the manifest -> (data set dir under $CACHE/data, input name override)
GROUPS = {
    "ocr": [("ppocrv4_rec", "ocr_rec/eval"), ("ppocrv4_det", "ocr_det/eval"), ("ppocr_cls", "ocr_cls/eval")],
    "tv": [(m + "_op" + o, "imagenet/eval") for m in ("resnet18", "mobilenet_v2", "mobilenet_v2_bn", "vit_ti")
           for o in ("13", "17")],
    "gpt": [("gpt_char_op13", "gpt/eval"), ("gpt_char_op17", "gpt/eval")],
    "vit_b16": [("vit_b16_op17", "imagenet/eval")],
}


# The gate of issue 2 is cosine >= 0.99999 and max abs error <= 1e-4 x the
# output's max magnitude.  Two documented adjustments, each measured with
# tests/tools/layer_diff.py (see docs/PARITY.md):
# - ABS_FLOOR: the error scale is max(max |ref|, 1e-3).  On a detector input
#   with no text the whole probability map is below 1.5e-7; ONNX Runtime's
#   logistic approximation is 7.4e-8 off the exact sigmoid there while ours
#   is 1.6e-12 off, so the unfloored gate measured ORT's approximation.
# - ppocrv4_rec: 1e-3 of the peak.  Its output is a 6625-way softmax after
#   ~100 layers; ORT's and our MatMuls are equally accurate against float64
#   (5.5e-7 of peak each) but sum in different orders, and the model
#   amplifies that to up to 7.4e-4 on 3 of 20 lines.  Identical decoded
#   text is required on every line in addition.
ABS_FLOOR = 1e-3
PEAK_REL = {"ppocrv4_rec": 1e-3}


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def inputs_of(data_dir, limit):
    d = os.path.join(CACHE, "data", data_dir)
    if not os.path.isdir(d):
        return None
    files = sorted(f for f in os.listdir(d) if f.endswith(".npy") and not f.endswith("_targets.npy"))
    return [os.path.join(d, f) for f in files[:limit]]


def main(argv):
    groups = argv or ["ocr"]
    if "all" in groups:
        groups = list(GROUPS)
    manifest = json.load(open(os.path.join(CACHE, "models", "manifest.json")))["entries"]
    dict_path = os.path.join(CACHE, "npm", "package", "assets", "ppocr_keys_v1.txt")
    limit = int(os.environ.get("PARITY_LIMIT", "1000"))
    results = []
    passed = failed = 0
    print("%-22s %-14s %-10s %12s %10s  %s" % ("model", "input", "output", "cosine", "rel_peak", "result"))
    for group in groups:
        for name, data in GROUPS[group]:
            entry = manifest.get(name)
            files = inputs_of(data, 3 if group == "vit_b16" else limit)
            if entry is None or not files:
                print("%-22s missing model or inputs (%s): run scripts/fetch_models.sh %s" % (name, data, group))
                failed += 1
                results.append({"model": name, "status": "missing"})
                continue
            model = os.path.normpath(os.path.join(CACHE, "models", entry["file"]))
            in_name = entry["inputs"][0]["name"]
            out_root = os.path.join(BUILD, "parity", name)
            os.makedirs(out_root, exist_ok=True)
            # ONNX Runtime: one session over every input (--batch-list).
            lst = os.path.join(out_root, "ort_list.tsv")
            with open(lst, "w") as f:
                for p in files:
                    stem = os.path.splitext(os.path.basename(p))[0]
                    f.write("%s\t%s=%s\n" % (os.path.join(stem, "ort"), in_name, p))
            r = run(["node", os.path.join(ROOT, "scripts", "ort_run.js"), model, "--batch-list", lst, "--threads", "1"])
            if r.returncode != 0:
                print("%-22s ONNX Runtime failed:\n%s" % (name, r.stdout[-2000:]))
                failed += 1
                results.append({"model": name, "status": "ort-error"})
                continue
            ok_rt, msg = roundtrip(name, model, in_name, files[0])
            print("%-22s %-14s %-10s %s" % (name, "round trip", "", "identical in ONNX Runtime" if ok_rt else "FAIL " + msg))
            results.append({"model": name, "input": "round trip", "status": "pass" if ok_rt else "fail", "message": msg})
            passed, failed = (passed + 1, failed) if ok_rt else (passed, failed + 1)
            for p in files:
                stem = os.path.splitext(os.path.basename(p))[0]
                ours = os.path.join(out_root, stem, "ours")
                ort = os.path.join(out_root, stem, "ort")
                t0 = time.time()
                r = run([NNPORT, "run", model, "--input", "%s=%s" % (in_name, p), "--output-dir", ours])
                ms = (time.time() - t0) * 1e3
                rec = {"model": name, "input": stem, "ms": round(ms, 1)}
                if r.returncode != 0:
                    print("%-22s %-14s nnport run failed: %s" % (name, stem, r.stdout.strip()[-500:]))
                    failed += 1
                    rec["status"] = "run-error"
                    rec["message"] = r.stdout.strip()[-500:]
                    results.append(rec)
                    continue
                c = run([NNPORT, "compare", ort, ours, "--cos", "0.99999", "--peak-rel", str(PEAK_REL.get(name, 1e-4)),
                         "--abs-floor", str(ABS_FLOOR)])
                rows = [l.split() for l in c.stdout.splitlines() if l.startswith("output_")]
                ok = c.returncode == 0 and rows
                for row in rows:
                    print("%-22s %-14s %-10s %12s %10s  %s" % (name, stem, row[0], row[2], row[5], row[-1]))
                rec["outputs"] = [{"output": row[0], "cosine": float(row[2]), "max_abs": float(row[3]),
                                   "max_abs_ref": float(row[4]), "rel_peak": float(row[5])} for row in rows]
                if name == "ppocrv4_rec" and ok:
                    a = run([os.path.join(BUILD, "ocr_read"), "--dict", dict_path, "--decode", os.path.join(ort, "output_0.npy")])
                    b = run([os.path.join(BUILD, "ocr_read"), "--dict", dict_path, "--decode", os.path.join(ours, "output_0.npy")])
                    rec["text_ort"], rec["text_ours"] = a.stdout.strip(), b.stdout.strip()
                    same = a.returncode == 0 and b.returncode == 0 and a.stdout == b.stdout
                    print("%-22s %-14s %-10s reads %r (ORT %s)" % ("", "", "text", rec["text_ours"], "same" if same else "DIFFERS: %r" % rec["text_ort"]))
                    ok = ok and same
                if not ok and c.returncode != 0 and not rows:
                    print(c.stdout)
                rec["status"] = "pass" if ok else "fail"
                results.append(rec)
                if ok:
                    passed += 1
                else:
                    failed += 1
    os.makedirs(BUILD, exist_ok=True)
    with open(os.path.join(BUILD, "parity.json"), "w") as f:
        json.dump(results, f, indent=1)
    if set(groups) == set(GROUPS):
        write_md(os.path.join(ROOT, "docs", "PARITY.md"), results)
    print("parity: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


def roundtrip(name, model, in_name, first_input):
    """ONNX Runtime on the model and on `nnport convert`'s rewrite of it,
    same input: the outputs must be identical (max abs error 0)."""
    d = os.path.join(BUILD, "parity", name, "roundtrip")
    os.makedirs(d, exist_ok=True)
    rt = os.path.join(d, "model.onnx")
    r = run([NNPORT, "convert", model, "-o", rt])
    if r.returncode:
        return False, r.stdout.strip()[-300:]
    outs = []
    for tag, path in (("orig", model), ("rt", rt)):
        o = os.path.join(d, tag)
        r = run(["node", os.path.join(ROOT, "scripts", "ort_run.js"), path, "--input", "%s=%s" % (in_name, first_input),
                 "--output-dir", o, "--threads", "1"])
        if r.returncode:
            return False, "ONNX Runtime on %s: %s" % (tag, r.stdout.strip()[-300:])
        outs.append(o)
    c = run([NNPORT, "compare", outs[0], outs[1], "--cos", "0", "--peak-rel", "0"])
    return c.returncode == 0, "" if c.returncode == 0 else c.stdout.strip()[-300:]


def write_md(path, results):
    """Per model: inputs, worst cosine, worst max-abs error relative to the
    output's peak, and the verdict; rewritten by every `make parity`."""
    models = []
    for r in results:
        if r["model"] not in models:
            models.append(r["model"])
    lines = ["| model | inputs | worst cosine | worst max abs err / peak | gate (peak-relative) | passed |",
             "|---|---|---|---|---|---|"]
    for m in models:
        rs = [r for r in results if r["model"] == m and r["input"] != "round trip"]
        outs = [o for r in rs for o in r.get("outputs", [])]
        cos = min((o["cosine"] for o in outs), default=float("nan"))
        rel = max((o["rel_peak"] for o in outs), default=float("nan"))
        lines.append("| %s | %d | %.9f | %.2e | %g | %d of %d |" % (
            m, len(rs), cos, rel, PEAK_REL.get(m, 1e-4), sum(r["status"] == "pass" for r in rs), len(rs)))
    text = open(path).read() if os.path.exists(path) else ""
    start, end = "<!-- parity table: written by tests/parity.py -->", "<!-- end of parity table -->"
    block = start + "\n" + "\n".join(lines) + "\n" + end
    if start in text and end in text:
        text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text += "\n" + block + "\n"
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
