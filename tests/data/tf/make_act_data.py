# Models and ONNX Runtime goldens for the hswish and act_npu passes
# (tests/test_passes_tf.c, test_act):
#   cd tests/data/tf && /usr/bin/python3 make_act_data.py
# hswish_op14: the three decomposed HardSwish forms exporters write, each
# after a Conv; hswish_op11: the paddle2onnx form below opset 14; act_npu_op20:
# Conv->HardSwish, Conv->x*Sigmoid(x), Gemm->Gelu, Gemm->Gelu(tanh), whose
# ORT output on k_act_x.npy is k_act_y.npy.
import os, subprocess, numpy as np, onnx
from onnx import helper as h, TensorProto as T, numpy_helper as nh

rs = np.random.RandomState(11)
F = T.FLOAT
def vi(n, s): return h.make_tensor_value_info(n, F, s)
def c(n, a): return nh.from_array(np.asarray(a, dtype=np.float32), n)
def save(name, nodes, ins, outs, inits, opset, domains=(), check=True):
    for i, n in enumerate(nodes): n.name = n.name or '%s_%d' % (n.op_type, i)
    g = h.make_graph(nodes, name, ins, outs, inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid('', opset)] + [h.make_opsetid(d, 1) for d in domains])
    m.ir_version = 8
    if check: onnx.checker.check_model(m)  # Debian's onnx 1.12 knows opsets up to 17
    onnx.save(m, name + '.onnx')

def conv(i, x, y, cin, cout, inits):
    inits += [c('w%d' % i, rs.randn(cout, cin, 3, 3) * 0.6), c('b%d' % i, rs.randn(cout) * 0.5)]
    return h.make_node('Conv', [x, 'w%d' % i, 'b%d' % i], [y], pads=[1, 1, 1, 1])

consts = [c('three', 3.0), c('zero', 0.0), c('six', 6.0), c('sixth', 1.0 / 6.0)]
inits = list(consts)
nodes = [conv(0, 'x', 't0', 4, 4, inits),
         # form A: x * Clip(x + 3, 0, 6) / 6 (paddle2onnx)
         h.make_node('Add', ['t0', 'three'], ['a0']), h.make_node('Clip', ['a0', 'zero', 'six'], ['c0']),
         h.make_node('Mul', ['t0', 'c0'], ['m0']), h.make_node('Div', ['m0', 'six'], ['h0']),
         conv(1, 'h0', 't1', 4, 4, inits),
         # form B: x * (Clip(3 + x, 0, 6) * 1/6)
         h.make_node('Add', ['three', 't1'], ['a1']), h.make_node('Clip', ['a1', 'zero', 'six'], ['c1']),
         h.make_node('Mul', ['c1', 'sixth'], ['d1']), h.make_node('Mul', ['d1', 't1'], ['h1']),
         conv(2, 'h1', 't2', 4, 4, inits),
         # form C: x * HardSigmoid(x, 1/6, 1/2) (torch below opset 14)
         h.make_node('HardSigmoid', ['t2'], ['s2'], alpha=1.0 / 6.0, beta=0.5), h.make_node('Mul', ['t2', 's2'], ['y'])]
save('hswish_op14', nodes, [vi('x', [1, 4, 5, 5])], [vi('y', [1, 4, 5, 5])], inits, 14)
inits = list(consts)
save('hswish_op11', [conv(0, 'x', 't0', 4, 4, inits),
     h.make_node('Add', ['t0', 'three'], ['a0']), h.make_node('Clip', ['a0', 'zero', 'six'], ['c0']),
     h.make_node('Mul', ['t0', 'c0'], ['m0']), h.make_node('Div', ['m0', 'six'], ['y'])],
     [vi('x', [1, 4, 5, 5])], [vi('y', [1, 4, 5, 5])], inits, 11)

inits = [c('g0w', rs.randn(72, 32) * 0.3), c('g0b', rs.randn(32) * 0.2),
         c('g1w', rs.randn(32, 10) * 0.3), c('g1b', rs.randn(10) * 0.2)]
nodes = [conv(0, 'x', 't0', 3, 4, inits), h.make_node('HardSwish', ['t0'], ['h0']),
         conv(1, 'h0', 't1', 4, 2, inits), h.make_node('Sigmoid', ['t1'], ['s1']), h.make_node('Mul', ['t1', 's1'], ['h1']),
         h.make_node('Flatten', ['h1'], ['f']),
         h.make_node('Gemm', ['f', 'g0w', 'g0b'], ['u0']), h.make_node('Gelu', ['u0'], ['v0']),
         h.make_node('Gemm', ['v0', 'g1w', 'g1b'], ['u1']), h.make_node('Gelu', ['u1'], ['y'], approximate='tanh')]
save('act_npu_op20', nodes, [vi('x', [1, 3, 6, 6])], [vi('y', [1, 10])], inits, 20, check=False)
np.save('k_act_x.npy', (rs.randn(1, 3, 6, 6) * 1.5).astype(np.float32))
subprocess.run(['node', '../../../scripts/ort_run.js', 'act_npu_op20.onnx', '--input', 'x=k_act_x.npy',
                '--output-dir', 'tmp_act', '--quiet'], check=True, stdout=subprocess.DEVNULL)
os.replace('tmp_act/output_0.npy', 'k_act_y.npy')
for f in os.listdir('tmp_act'): os.remove(os.path.join('tmp_act', f))
os.rmdir('tmp_act')
