#!/usr/bin/python3
"""qdq_layers_check.py - scripts/qdq_layers.py on a QDQ model where every
runtime must agree: ppocr cls quantized by nnport (minmax), on which
tests/exact_check.py finds nnport's integer execution equal to the exact
arithmetic at every quantized element.

  /usr/bin/python3 tests/qdq_layers_check.py QDQ.onnx --nnport build/nnport --input X.npy

Checks (ends with "qdq_layers: N passed, N failed"):
  * the report lists every activation QuantizeLinear of the model, counted
    here from the file, in node order;
  * fake-quant, the simulator and ONNX Runtime agree element for element
    with each other and with the exact arithmetic, at every tensor;
  * the comparison sees a planted difference: one element of the third
    tensor raised by 2 in a copy of fake-quant's outputs gives that tensor
    as the first that differs, max 2, and (n - 1) / n within one step.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import onnx

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "scripts"))
import qdq_layers  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--nnport", required=True)
    ap.add_argument("--input", required=True)
    a = ap.parse_args()
    work = os.path.join(os.path.dirname(os.path.abspath(a.model)), "qdq_layers")
    js = os.path.join(work, "report.json")
    name = onnx.load(a.model).graph.input[0].name
    r = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "..", "scripts", "qdq_layers.py"), a.model,
                        "--input", "%s=%s" % (name, a.input), "--nnport", a.nnport, "--target", "npu-small",
                        "--exact", "--work", work, "--json", js], capture_output=True, text=True)
    results = []  # (ok, what) per check

    def check(ok, what):
        results.append((bool(ok), what))

    check(r.returncode == 0, "qdq_layers.py exit %d: %s" % (r.returncode, r.stderr[-400:]))
    if r.returncode == 0:
        rep = json.load(open(js))
        m = onnx.load(a.model)
        inits = {t.name for t in m.graph.initializer}
        want = [n.output[0] for n in m.graph.node if n.op_type == "QuantizeLinear" and n.input[0] not in inits]
        for key in ("fake_quant_vs_ort", "sim_vs_ort", "ort_vs_exact", "fake_quant_vs_exact", "sim_vs_exact"):
            rows = rep.get(key, [])
            check([x["tensor"] for x in rows] == want, "%s lists %d tensors, the file has %d" % (key, len(rows), len(want)))
            bad = [x["tensor"] for x in rows if x.get("max", 1) != 0]
            check(not bad, "%s: %d tensors differ, first %s" % (key, len(bad), bad[:1]))
        # a planted difference in a copy of fake-quant's outputs
        fq, planted = os.path.join(work, "fq"), os.path.join(work, "fq_planted")
        shutil.rmtree(planted, ignore_errors=True)
        shutil.copytree(fq, planted)
        got = qdq_layers.load_outputs(planted)
        t = want[2]
        v = np.load(got[t])
        flat = v.reshape(-1)
        flat[0] = flat[0] + 2 if flat[0] <= np.iinfo(v.dtype).max - 2 else flat[0] - 2
        np.save(got[t], v)
        rows = qdq_layers.compare(want, qdq_layers.load_outputs(os.path.join(work, "ort")), got)
        first = next((x for x in rows if x["max"] > 0), None)
        check(first is not None and first["tensor"] == t, "planted difference: first differing tensor %s, want %s"
              % (first and first["tensor"], t))
        if first is not None:
            check(first["max"] == 2 and abs(first["within1"] - (first["n"] - 1) / first["n"]) < 1e-12,
                  "planted difference: max %d within1 %.9f (n %d)" % (first["max"], first["within1"], first["n"]))
    for ok, what in results:
        if not ok:
            print("FAIL: " + what)
    failed = sum(1 for ok, _ in results if not ok)
    print("qdq_layers: %d passed, %d failed" % (len(results) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
