#!/usr/bin/python3
"""Float64 reference for a float32 ONNX model: every float tensor, constant
and Cast-to-float becomes float64, and python3-onnx's ReferenceEvaluator
runs the copy.  Prints how far two float32 runs (e.g. ONNX Runtime's and
nnport's output_0.npy) are from that reference, so a disagreement between
them can be attributed.  Debugging aid, not a gate.

  tests/tools/f64_reference.py MODEL.onnx NAME=INPUT.npy RUN_A.npy RUN_B.npy ...
"""
import sys
import numpy as np
import onnx
from onnx import numpy_helper, TensorProto
from onnx.reference import ReferenceEvaluator


def to_f64(m):
    g = m.graph
    for init in g.initializer:
        if init.data_type == TensorProto.FLOAT:
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float64), init.name))
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        if vi.type.tensor_type.elem_type == TensorProto.FLOAT:
            vi.type.tensor_type.elem_type = TensorProto.DOUBLE
    for n in g.node:
        for a in n.attribute:
            if n.op_type == "Cast" and a.name == "to" and a.i == TensorProto.FLOAT:
                a.i = TensorProto.DOUBLE
            if a.type == onnx.AttributeProto.TENSOR and a.t.data_type == TensorProto.FLOAT:
                a.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(a.t).astype(np.float64), a.t.name))
    return m


def main(argv):
    m = to_f64(onnx.load(argv[0]))
    name, path = argv[1].split("=", 1)
    x = np.load(path).astype(np.float64)
    ref = ReferenceEvaluator(m).run(None, {name: x})[0]
    peak = np.abs(ref).max()
    for p in argv[2:]:
        y = np.load(p).astype(np.float64)
        err = np.abs(y - ref).max()
        print("%-60s max abs err vs float64 %.3e (%.3e of peak)" % (p, err, err / peak))


if __name__ == "__main__":
    main(sys.argv[1:])
