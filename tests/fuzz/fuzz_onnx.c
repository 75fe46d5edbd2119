/* fuzz_onnx.c - libFuzzer harness for nn_onnx.h.

   build: clang -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_onnx.c \
              -o build/fuzz_onnx -lprotobuf-nanopb -lm -lpthread
   run:   build/fuzz_onnx tests/fuzz/corpus_onnx

   The first byte chooses what the rest is fed to:
     0  ModelProto from a const buffer (nn_onnx_load_memory); when it loads,
        it must save, load again and save to the same bytes
     1  TensorProto (nn_onnx_load_tensor_memory, the .pb reader)
     2  ModelProto with copy_weights
     3  ModelProto from a private writable copy, as load_file sees a mapping:
        exercises the in-place alignment of raw_data
   Any status is fine; crashes, leaks, sanitizer reports and a broken round
   trip are bugs. */
#define NN_IMPLEMENTATION
#include "nn_graph.h"
#include "nn_onnx.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_roundtrip(const nn_graph *g) {
    void *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    nn_graph *g2 = NULL;
    nn_diag d;
    memset(&d, 0, sizeof d);
    if (nn_onnx_save_memory(g, NULL, &a, &na, &d) != NN_OK) __builtin_trap();
    if (nn_onnx_load_memory(a, na, NULL, &g2, &d) != NN_OK) __builtin_trap();
    if (nn_onnx_save_memory(g2, NULL, &b, &nb, &d) != NN_OK) __builtin_trap();
    if (na != nb || memcmp(a, b, na) != 0) __builtin_trap();
    nn_graph_destroy(g2);
    free(a);
    free(b);
}

/* load_file without a file: the model bytes in a private heap copy the
   loader may write, kept alive by the graph like a mapping. */
static nn_status fuzz_load_writable(const uint8_t *data, size_t size, nn_graph **out, nn_diag *d) {
    nn_onnx__ctx c;
    nn_onnx__maps *maps;
    nn_onnx__map m;
    nn_allocator a;
    nn_status st;
    memset(&a, 0, sizeof a);
    nn_onnx__ctx_init(&c, NULL, d);
    c.writable = 1;
    maps = nn_onnx__maps_create(&a);
    if (!maps) return NN_ERR_NOMEM;
    memset(&m, 0, sizeof m);
    m.addr = malloc(size ? size : 1);
    m.bytes = size;
    if (!m.addr) { nn_onnx__maps_free(maps); return NN_ERR_NOMEM; }
    if (size) memcpy(m.addr, data, size);
    c.maps = maps;
    st = nn_onnx__maps_add(&c, &m, NULL);
    if (st) { free(m.addr); nn_onnx__maps_free(maps); nn_onnx__ctx_deinit(&c); return st; }
    st = nn_onnx__load(&c, nn_onnx__span_make(m.addr, m.bytes), maps, out);
    nn_onnx__ctx_deinit(&c);
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nn_graph *g = NULL;
    nn_diag d;
    nn_onnx_desc desc;
    nn_value v;
    nn_status st;
    if (size < 1) return 0;
    memset(&d, 0, sizeof d);
    memset(&desc, 0, sizeof desc);
    switch (data[0] & 3) {
    case 0:
        st = nn_onnx_load_memory(data + 1, size - 1, NULL, &g, &d);
        if (st == NN_OK) fuzz_roundtrip(g);
        break;
    case 1:
        st = nn_onnx_load_tensor_memory(data + 1, size - 1, &v, NULL, 0, NULL, &d);
        if (st == NN_OK) nn_onnx_free_value(&v, NULL);
        break;
    case 2:
        desc.copy_weights = 1;
        st = nn_onnx_load_memory(data + 1, size - 1, &desc, &g, &d);
        break;
    default:
        st = fuzz_load_writable(data + 1, size - 1, &g, &d);
        break;
    }
    if ((data[0] & 3) != 1 && (st == NN_OK) != (g != NULL)) __builtin_trap(); /* out only on success */
    if (st != NN_OK && d.status != st) __builtin_trap(); /* every failure is explained */
    nn_graph_destroy(g);
    return 0;
}
