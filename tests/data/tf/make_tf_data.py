# Generates the small models and ONNX Runtime goldens of tests/test_passes_tf.c.
#   cd tests/data/tf && /usr/bin/python3 make_tf_data.py && sh make_tf_goldens.sh
# Patterns: torch 1.13 exports (what real models contain) and hand-built
# variants (onnx.helper).  Goldens: inputs here, outputs from ORT (ort_run.js).
import numpy as np, onnx, torch, math
from onnx import helper as h, TensorProto as T, numpy_helper as nh

F = T.FLOAT
rs = np.random.RandomState(7)
torch.manual_seed(7)

def save(name, nodes, ins, outs, inits, opset, domains=()):
    for i, n in enumerate(nodes): n.name = n.name or '%s_%d' % (n.op_type, i)  # provenance needs names
    g = h.make_graph(nodes, name, ins, outs, inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid('', opset)] + [h.make_opsetid(d, 1) for d in domains])
    m.ir_version = 8
    onnx.save(m, name + '.onnx')

def vi(n, s): return h.make_tensor_value_info(n, F, s)
def c(n, a): return nh.from_array(np.asarray(a, dtype=np.float32), n)

def export(mod, x, name, opset):
    torch.onnx.export(mod, x, name + '.onnx', opset_version=opset, input_names=['x'], output_names=['y'])
    m = onnx.load(name + '.onnx')            # keep files small: no doc strings
    for n in m.graph.node: n.doc_string = ''
    onnx.save(m, name + '.onnx')

# -- torch exports ---------------------------------------------------------
class Block(torch.nn.Module):
    """pre-LN transformer block as in the GPT char model (d 8, 2 heads, causal)."""
    def __init__(s, d=8, heads=2, seq=4, tanh=False):
        super().__init__()
        s.ln1, s.ln2 = torch.nn.LayerNorm(d), torch.nn.LayerNorm(d)
        s.qkv, s.proj = torch.nn.Linear(d, 3 * d), torch.nn.Linear(d, d)
        s.fc1, s.fc2 = torch.nn.Linear(d, 2 * d), torch.nn.Linear(2 * d, d)
        s.h, s.tanh = heads, tanh
        s.register_buffer('mask', torch.triu(torch.full((seq, seq), -1e9), 1).view(1, 1, seq, seq))
    def forward(s, x):
        B, S, D = x.shape
        q, k, v = s.qkv(s.ln1(x)).split(D, dim=2)
        q = q.reshape(B, S, s.h, D // s.h).transpose(1, 2)
        k = k.reshape(B, S, s.h, D // s.h).transpose(1, 2)
        v = v.reshape(B, S, s.h, D // s.h).transpose(1, 2)
        a = torch.softmax(q @ k.transpose(-2, -1) * (1.0 / math.sqrt(D // s.h)) + s.mask, dim=-1)
        x = x + s.proj((a @ v).transpose(1, 2).reshape(B, S, D))
        m = torch.nn.functional.gelu(s.fc1(s.ln2(x)), approximate='tanh' if s.tanh else 'none')
        return x + s.fc2(m)

class Gelu(torch.nn.Module):
    def __init__(s, a): super().__init__(); s.a = a
    def forward(s, x): return torch.nn.functional.gelu(x, approximate=s.a)

xb = torch.randn(1, 4, 8)
with torch.no_grad():
    blk = Block().eval()
    for p in blk.parameters(): p.normal_(0, 0.5)
    export(blk, xb, 'block_op13', 13)
    export(blk, xb, 'block_op17', 17)
    export(Block(tanh=True).eval(), xb, 'block_tanh_op13', 13)
    export(torch.nn.LayerNorm(8).eval(), torch.randn(2, 3, 8), 'ln_torch_op13', 13)
    export(Gelu('none'), torch.randn(2, 8), 'gelu_erf_op13', 13)
    export(Gelu('tanh'), torch.randn(2, 8), 'gelu_tanh_op13', 13)
    export(Gelu('tanh'), torch.randn(2, 8), 'gelu_tanh_op20', 17)  # opset raised to 20 below
m = onnx.load('gelu_tanh_op20.onnx'); m.opset_import[0].version = 20; onnx.save(m, 'gelu_tanh_op20.onnx')

# -- hand-built variants ---------------------------------------------------
# LayerNorm: x*x for the square, Reciprocal+Mul for the division, no gamma/beta, ReduceMean axes as attribute.
save('ln_variant_op13', [
    h.make_node('ReduceMean', ['x'], ['m'], axes=[-1]), h.make_node('Sub', ['x', 'm'], ['d']),
    h.make_node('Mul', ['d', 'd'], ['sq']), h.make_node('ReduceMean', ['sq'], ['v'], axes=[2]),
    h.make_node('Add', ['eps', 'v'], ['ve']), h.make_node('Sqrt', ['ve'], ['sd']),
    h.make_node('Reciprocal', ['sd'], ['r']), h.make_node('Mul', ['r', 'd'], ['y'])],
    [vi('x', [2, 3, 8])], [vi('y', [2, 3, 8])], [c('eps', 1e-3)], 13)
# LayerNorm at opset 18: ReduceMean's axes as an input.
save('ln_axes_input_op18', [
    h.make_node('ReduceMean', ['x', 'ax'], ['m']), h.make_node('Sub', ['x', 'm'], ['d']),
    h.make_node('Pow', ['d', 'two'], ['sq']), h.make_node('ReduceMean', ['sq', 'ax'], ['v']),
    h.make_node('Add', ['v', 'eps'], ['ve']), h.make_node('Sqrt', ['ve'], ['sd']),
    h.make_node('Div', ['d', 'sd'], ['n']), h.make_node('Mul', ['n', 'g'], ['ng']), h.make_node('Add', ['ng', 'b'], ['y'])],
    [vi('x', [2, 3, 8])], [vi('y', [2, 3, 8])],
    [nh.from_array(np.array([-1], np.int64), 'ax'), c('two', 2.0), c('eps', 1e-5),
     c('g', rs.randn(8)), c('b', rs.randn(1, 8))], 18)
# GELU: (x * 0.5) * (1 + erf(x * 0.70710677)).
save('gelu_variant_op13', [
    h.make_node('Mul', ['x', 'is2'], ['u']), h.make_node('Erf', ['u'], ['e']), h.make_node('Add', ['one', 'e'], ['a']),
    h.make_node('Mul', ['half', 'x'], ['hx']), h.make_node('Mul', ['hx', 'a'], ['y'])],
    [vi('x', [2, 8])], [vi('y', [2, 8])], [c('is2', 1 / math.sqrt(2)), c('one', 1.0), c('half', 0.5)], 13)
# Attention as torchvision's ViT exports it: 3-D (B*H, S, Dh), Q pre-divided, no mask.
save('attn_3d_op13', [
    h.make_node('Div', ['q', 'eight'], ['qs']), h.make_node('Transpose', ['kin'], ['kt'], perm=[1, 2, 0]),
    h.make_node('MatMul', ['qs', 'kt'], ['s']), h.make_node('Softmax', ['s'], ['p'], axis=-1),
    h.make_node('MatMul', ['p', 'v'], ['y'])],
    [vi('q', [3, 5, 4]), vi('kin', [5, 3, 4]), vi('v', [3, 5, 4])], [vi('y', [3, 5, 4])], [c('eight', 2.0)], 13)
# Attention scaled after the product by Div, with a mask input.
save('attn_mask_op13', [
    h.make_node('Transpose', ['k'], ['kt'], perm=[0, 1, 3, 2]), h.make_node('MatMul', ['q', 'kt'], ['s']),
    h.make_node('Div', ['s', 'sc'], ['ss']), h.make_node('Add', ['mask', 'ss'], ['z']),
    h.make_node('Softmax', ['z'], ['p'], axis=3), h.make_node('MatMul', ['p', 'v'], ['y'])],
    [vi('q', [1, 2, 5, 4]), vi('k', [1, 2, 5, 4]), vi('v', [1, 2, 5, 4]), vi('mask', [1, 1, 5, 5])],
    [vi('y', [1, 2, 5, 4])], [c('sc', 2.0)], 13)
# Attention masked by Where(keep, scores, -inf) (torch masked_fill), scale by Mul after the product.
save('attn_where_op13', [
    h.make_node('Transpose', ['k'], ['kt'], perm=[0, 1, 3, 2]), h.make_node('MatMul', ['q', 'kt'], ['s']),
    h.make_node('Mul', ['s', 'sc'], ['ss']), h.make_node('Where', ['keep', 'ss', 'ninf'], ['z']),
    h.make_node('Softmax', ['z'], ['p'], axis=-1), h.make_node('MatMul', ['p', 'v'], ['y'])],
    [vi('q', [1, 2, 5, 4]), vi('k', [1, 2, 5, 4]), vi('v', [1, 2, 5, 4])], [vi('y', [1, 2, 5, 4])],
    [c('sc', 0.5), c('ninf', -np.inf), nh.from_array(np.tril(np.ones((5, 5), bool)).reshape(1, 1, 5, 5), 'keep')], 13)
# MatMul + Add on a 2-D input (-> Gemm) and on a 3-D input (left alone).
save('matmul_add_op13', [
    h.make_node('MatMul', ['x', 'w'], ['t']), h.make_node('Add', ['bias', 't'], ['y']),
    h.make_node('MatMul', ['x3', 'w'], ['t3']), h.make_node('Add', ['t3', 'bias'], ['y3'])],
    [vi('x', [3, 8]), vi('x3', [2, 3, 8])], [vi('y', [3, 6]), vi('y3', [2, 3, 6])], [c('w', rs.randn(8, 6)), c('bias', rs.randn(6))], 13)

# -- kernel goldens: inputs (ORT outputs are added by make_tf_goldens.sh) ---
def inp(name, shape): np.save(name + '.npy', (rs.randn(*shape) * 1.5).astype(np.float32))
save('k_attention23', [h.make_node('Attention', ['q', 'k', 'v', 'm'], ['y'], scale=0.3)],
     [vi('q', [1, 2, 5, 4]), vi('k', [1, 2, 6, 4]), vi('v', [1, 2, 6, 3]), vi('m', [1, 1, 5, 6])], [vi('y', [1, 2, 5, 3])], [], 23)
save('k_attention23_3d', [h.make_node('Attention', ['q', 'k', 'v'], ['y'], q_num_heads=2, kv_num_heads=2, is_causal=1)],
     [vi('q', [2, 5, 8]), vi('k', [2, 5, 8]), vi('v', [2, 5, 8])], [vi('y', [2, 5, 8])], [], 23)
save('k_msgelu', [h.make_node('Gelu', ['x'], ['y'], domain='com.microsoft')], [vi('x', [3, 7])], [vi('y', [3, 7])], [], 13,
     ['com.microsoft'])
save('k_fastgelu', [h.make_node('FastGelu', ['x'], ['y'], domain='com.microsoft')], [vi('x', [3, 7])], [vi('y', [3, 7])], [],
     13, ['com.microsoft'])
save('k_ln13', [h.make_node('LayerNormalization', ['x', 'g', 'b'], ['y'], epsilon=1e-5)], [vi('x', [2, 3, 8])],
     [vi('y', [2, 3, 8])], [c('g', rs.randn(8)), c('b', rs.randn(8))], 13)
for n, s in [('k_att_q', [1, 2, 5, 4]), ('k_att_k', [1, 2, 6, 4]), ('k_att_v', [1, 2, 6, 3]), ('k_att_m', [1, 1, 5, 6]),
             ('k_att3_q', [2, 5, 8]), ('k_att3_k', [2, 5, 8]), ('k_att3_v', [2, 5, 8]), ('k_gelu_x', [3, 7]),
             ('k_ln_x', [2, 3, 8])]:
    inp(n, s)
