#!/usr/bin/python3
"""exact_check.py - nnport's integer execution of a QDQ model against the
exact arithmetic of the same graph (scripts/qdq_exact.py: torch float64,
QuantizeLinear rounding half to even), at every QuantizeLinear output.

  /usr/bin/python3 tests/exact_check.py QDQ.onnx --nnport build/nnport --input X.npy [--input Y.npy ...]

Every QuantizeLinear output of the model is made a graph output; `nnport
run` (the fake-quant executor, itself byte-equal to the simulator in
tests/test_target.c) and qdq_exact.py evaluate the copy.  Integer kernels
with Q31 multipliers cannot equal the exact answer everywhere: a value
that lies within a few 1e-7 steps of a rounding boundary may round either
way (the int32 bias is re-expressed in s_x*s_w, which differs from the
float32 bias scale in the ~8th digit).  So per input the check is:
  * the first quantized tensor (in node order) where nnport and exact
    differ, if any, differs only at elements whose exact pre-rounding
    value x/scale + zero_point lies within NEAR_TIE steps of a .5
    boundary (a real kernel error lands anywhere in [0, 0.5]; the chance
    that one lands within 1e-4 of a tie is 2e-4);
  * before that tensor, every quantized element is equal.
Differences after the first one are the consequence of it (they are not
checked: one flipped int8 step propagates).  Prints per input the
quantized elements compared and where the first difference is; ends with
"exact: N passed, N failed".
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import qdq_exact  # noqa: E402

NEAR_TIE = 1e-4


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--nnport", required=True)
    ap.add_argument("--input", action="append", required=True)
    ap.add_argument("--corrupt-weight", action="store_true",
                    help="self-test: give nnport a copy with one int8 weight of the first Conv changed by +3; every input"
                    " must then FAIL (exit status 0 only if all failed)")
    a = ap.parse_args()
    m = onnx.load(a.model)
    g = m.graph
    inits = {i.name: i for i in g.initializer}
    qnodes = [n for n in g.node if n.op_type == "QuantizeLinear" and n.input[0] not in inits]
    qdq_exact.expose_q(m)
    tmp = tempfile.mkdtemp()
    exposed = os.path.join(tmp, "exposed.onnx")
    onnx.save(m, exposed)
    if a.corrupt_weight:
        prod = {o: n for n in g.node for o in n.output}
        conv = next(n for n in g.node if n.op_type == "Conv")
        w = inits[prod[conv.input[1]].input[0]]
        orig = numpy_helper.to_array(w).copy()
        arr = orig.copy()
        arr.reshape(-1)[0] = np.clip(int(orig.reshape(-1)[0]) + 3, -127, 127)
        w.CopyFrom(numpy_helper.from_array(arr, w.name))
        onnx.save(m, exposed)  # nnport's copy carries the changed weight
        w.CopyFrom(numpy_helper.from_array(orig, w.name))  # the exact side keeps the original
    in_name = g.input[0].name
    passed = failed = 0
    for x in a.input:
        out = os.path.join(tmp, "nn")
        r = subprocess.run([a.nnport, "run", exposed, "--input", "%s=%s" % (in_name, x), "--output-dir", out],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print("FAIL %s: nnport run: %s" % (x, r.stderr.strip()[-300:]))
            failed += 1
            continue
        got = {o["name"]: np.load(os.path.join(out, o["file"])) for o in json.load(open(os.path.join(out, "outputs.json")))["outputs"]}
        env, _, _ = qdq_exact.run(m, {in_name: torch.from_numpy(np.load(x).astype(np.float64))}, False, keep_all=True)
        compared = 0
        verdict = None
        for n in qnodes:
            name = n.output[0]
            e = env[name].numpy().astype(np.int64)
            v = got[name].astype(np.int64)
            compared += e.size
            bad = np.argwhere(v != e)
            if len(bad) == 0:
                continue
            # the exact pre-rounding value at each differing element
            s = qdq_exact.bshape(torch.from_numpy(np.array(numpy_helper.to_array(inits[n.input[1]]), np.float64)), env[n.input[0]],
                                 dict((at.name, helper.get_attribute_value(at)) for at in n.attribute).get("axis", 1))
            q = (env[n.input[0]] / s).numpy()
            dist = [abs(abs(q[tuple(i)] - np.floor(q[tuple(i)])) - 0.5) for i in bad]
            worst = max(dist)
            verdict = (name, len(bad), e.size, worst)
            break
        if verdict is None:
            print("ok   %s: %d quantized elements in %d tensors, all equal to the exact arithmetic" %
                  (os.path.basename(x), compared, len(qnodes)))
            passed += 1
        elif verdict[3] <= NEAR_TIE:
            print("ok   %s: first difference at %s (%d of %d elements), each a near-tie (exact value %.2g steps from"
                  " a .5 boundary); %d elements equal before it" % (os.path.basename(x), verdict[0], verdict[1], verdict[2],
                                                                  verdict[3], compared - verdict[2]))
            passed += 1
        else:
            print("FAIL %s: %s differs at %d of %d elements, one %.3f steps from a rounding boundary (not a near-tie)" %
                  (os.path.basename(x), verdict[0], verdict[1], verdict[2], verdict[3]))
            failed += 1
    if a.corrupt_weight:
        print("corrupted weight: %d inputs failed as they must, %d passed" % (failed, passed))
        print("exact: %d passed, %d failed" % (1 if passed == 0 else 0, 0 if passed == 0 else 1))
        return 0 if passed == 0 else 1
    print("exact: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
