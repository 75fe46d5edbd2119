#!/usr/bin/python3
"""Self-test of scripts/ort_run.js: .npy reading/writing for every supported
dtype (through ONNX Identity models), Fortran-order and big-endian inputs,
scalars, empty tensors, bench mode and error messages.

Run: /usr/bin/python3 scripts/selftest_ort_run.py   (prints "N passed, N failed")
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper

HERE = os.path.dirname(os.path.abspath(__file__))
ORT_RUN = os.path.join(HERE, "ort_run.js")
DTYPES = [("<f4", TensorProto.FLOAT, "float32"), ("<f8", TensorProto.DOUBLE, "float64"),
          ("<f2", TensorProto.FLOAT16, "float16"), ("<i8", TensorProto.INT64, "int64"),
          ("<i4", TensorProto.INT32, "int32"), ("|u1", TensorProto.UINT8, "uint8"),
          ("|i1", TensorProto.INT8, "int8"), ("|b1", TensorProto.BOOL, "bool"),
          ("<i2", TensorProto.INT16, "int16"), ("<u2", TensorProto.UINT16, "uint16"),
          ("<u4", TensorProto.UINT32, "uint32"), ("<u8", TensorProto.UINT64, "uint64")]

passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok   %s" % name)
    else:
        failed += 1
        print("FAIL %s %s" % (name, detail))


def identity_model(path, elem, rank):
    dims = ["d%d" % i for i in range(rank)]
    x = helper.make_tensor_value_info("x", elem, dims)
    y = helper.make_tensor_value_info("y", elem, dims)
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "id", [x], [y])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, path)


def two_io_model(path):
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 3])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, [2, 3])
    s = helper.make_tensor_value_info("sum", TensorProto.FLOAT, [2, 3])
    d = helper.make_tensor_value_info("diff", TensorProto.FLOAT, [2, 3])
    g = helper.make_graph([helper.make_node("Add", ["a", "b"], ["sum"]), helper.make_node("Sub", ["a", "b"], ["diff"])],
                          "two", [a, b], [s, d])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, path)


def run(args):
    p = subprocess.run(["node", ORT_RUN] + args, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def main():
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as td:
        for descr, elem, tname in DTYPES:
            for rank, shape in ((2, (3, 5)), (0, ()), (3, (2, 0, 4))):
                mp = os.path.join(td, "id_%s_%d.onnx" % (tname, rank))
                identity_model(mp, elem, rank)
                dt = np.dtype(descr)
                if dt.kind == "b":
                    arr = rng.integers(0, 2, size=shape).astype(dt)
                elif dt.kind == "f":
                    arr = rng.standard_normal(size=shape).astype(dt)
                else:
                    info = np.iinfo(dt)
                    arr = rng.integers(max(info.min, -1000), min(info.max, 1000), size=shape, endpoint=True).astype(dt)
                inp = os.path.join(td, "in.npy")
                np.save(inp, arr)
                od = os.path.join(td, "out_%s_%d" % (tname, rank))
                rc, _, err = run([mp, "--input", "x=" + inp, "--output-dir", od, "-q"])
                ok = rc == 0
                if ok:
                    got = np.load(os.path.join(od, "output_0.npy"))
                    meta = json.load(open(os.path.join(od, "outputs.json")))["outputs"][0]
                    ok = (got.dtype == dt and got.shape == arr.shape and np.array_equal(got, arr)
                          and meta["dtype"] == tname and meta["shape"] == list(shape) and meta["name"] == "y")
                check("roundtrip %s rank %d" % (descr, rank), ok, err.strip())

        # Fortran order and big-endian inputs are read correctly
        mp = os.path.join(td, "id_float32_2.onnx")
        arr = np.arange(12, dtype=np.float32).reshape(3, 4)
        mp3 = os.path.join(td, "id3.onnx")
        identity_model(mp3, TensorProto.FLOAT, 3)
        for label, a, model in (("fortran 2d", np.asfortranarray(arr), mp),
                                ("fortran 3d", np.asfortranarray(np.arange(24, dtype=np.float32).reshape(2, 3, 4)), mp3),
                                ("big-endian", arr.astype(">f4"), mp)):
            inp = os.path.join(td, "special.npy")
            np.save(inp, a)
            od = os.path.join(td, "o_special")
            rc, _, err = run([mp if a.ndim == 2 else model, inp, "--output-dir", od, "-q"])
            ok = rc == 0 and np.array_equal(np.load(os.path.join(od, "output_0.npy")), np.ascontiguousarray(a).astype("<f4"))
            check(label, ok, err.strip())

        # two inputs, two outputs: output order and names follow the graph
        mp = os.path.join(td, "two.onnx")
        two_io_model(mp)
        a = rng.standard_normal((2, 3)).astype(np.float32)
        b = rng.standard_normal((2, 3)).astype(np.float32)
        np.save(os.path.join(td, "a.npy"), a)
        np.save(os.path.join(td, "b.npy"), b)
        od = os.path.join(td, "o_two")
        rc, _, err = run([mp, "--input", "b=" + os.path.join(td, "b.npy"), "--input", "a=" + os.path.join(td, "a.npy"),
                          "--output-dir", od, "--threads", "1", "-q"])
        ok = rc == 0
        if ok:
            meta = json.load(open(os.path.join(od, "outputs.json")))["outputs"]
            ok = ([m["name"] for m in meta] == ["sum", "diff"]
                  and np.allclose(np.load(os.path.join(od, "output_0.npy")), a + b)
                  and np.allclose(np.load(os.path.join(od, "output_1.npy")), a - b))
        check("two inputs/outputs by name", ok, err.strip())

        # batch-list mode: one session, several runs, relative paths
        with open(os.path.join(td, "list.tsv"), "w") as f:
            f.write("# comment\nbl/one\ta=a.npy\tb=b.npy\nbl/two\ta=b.npy\tb=a.npy\n")
        rc, _, err = run([mp, "--batch-list", os.path.join(td, "list.tsv"), "-q"])
        ok = rc == 0
        if ok:
            ok = (np.allclose(np.load(os.path.join(td, "bl/one/output_1.npy")), a - b)
                  and np.allclose(np.load(os.path.join(td, "bl/two/output_1.npy")), b - a)
                  and os.path.exists(os.path.join(td, "bl/two/outputs.json")))
        check("batch-list mode", ok, err.strip())

        rc, out, err = run([mp, "--bench", "3", "--threads", "1"])
        ok = rc == 0
        if ok:
            j = json.loads(out)
            ok = all(k in j for k in ("median_ms", "session_create_ms", "max_rss_mb")) and j["repeat"] == 3
        check("bench mode JSON", ok, err.strip())

        # error cases: clear messages, non-zero exit
        rc, _, err = run([mp, "--input", "a=" + os.path.join(td, "a.npy"), "--output-dir", od])
        check("missing input is an error", rc != 0 and "missing input 'b'" in err, err.strip())
        rc, _, err = run([mp, "--input", "zz=" + os.path.join(td, "a.npy"), "--input", "b=" + os.path.join(td, "b.npy"),
                          "--output-dir", od])
        check("unknown input name is an error", rc != 0 and "no input 'zz'" in err, err.strip())
        np.save(os.path.join(td, "bad.npy"), np.zeros((3, 3), np.float32))
        rc, _, err = run([mp, "--input", "a=" + os.path.join(td, "bad.npy"), "--input", "b=" + os.path.join(td, "b.npy"),
                          "--output-dir", od])
        check("wrong shape is an error", rc != 0 and "shape" in err, err.strip())
        np.save(os.path.join(td, "bad.npy"), np.zeros((2, 3), np.int32))
        rc, _, err = run([mp, "--input", "a=" + os.path.join(td, "bad.npy"), "--input", "b=" + os.path.join(td, "b.npy"),
                          "--output-dir", od])
        check("wrong dtype is an error", rc != 0 and "int32" in err, err.strip())
        with open(os.path.join(td, "junk.npy"), "wb") as f:
            f.write(b"not an npy file at all")
        rc, _, err = run([mp, "--input", "a=" + os.path.join(td, "junk.npy"), "--output-dir", od])
        check("bad .npy is an error", rc != 0 and "not a .npy" in err, err.strip())
        rc, _, err = run([os.path.join(td, "nope.onnx"), "--output-dir", od])
        check("missing model is an error", rc != 0 and "model not found" in err, err.strip())

    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
