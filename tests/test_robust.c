/* test_robust.c - every real model in the cache, truncated at 64 points and
   with 64 random byte flips, goes through load, prepare and (for models
   small enough to run many times) a run on zeros: each step returns a
   status, never a crash, and nothing stays allocated.

   Models: the PP-OCR models (always fetched by `make test`) and whatever the
   model manifest lists besides (after `make parity`), read from
   $NNPORT_CACHE (default ~/.cache/nnport).  A model file that is missing is
   reported, not counted: the OCR models are required. */
#include "nn_graph.h"
#include "nn_onnx.h"
#include "check.h"
#include <stdlib.h>
#include <string.h>

typedef struct { long live; } counting;

static void *cnt_alloc(void *user, size_t bytes) {
    /* Refuse single requests above 1 GiB: a flipped dimension must end in a
       status, and the machine running the tests has to survive it. */
    if (bytes > ((size_t)1 << 30)) return NULL;
    void *p = malloc(bytes);
    if (p) ((counting *)user)->live++;
    return p;
}

static void cnt_free(void *user, void *p) {
    if (p) ((counting *)user)->live--;
    free(p);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static int read_file(const char *path, uint8_t **out, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    *out = (uint8_t *)malloc((size_t)len + 1);
    int ok = *out && fread(*out, 1, (size_t)len, f) == (size_t)len;
    fclose(f);
    *n = (size_t)len;
    return ok;
}

/* Prepares with every unknown input dim of input 0 taken from fix (H, W of
   an NCHW image; batch 1) or, without fix, batch 1 and 32; when run_it,
   runs once on zeros.  Returns the status. */
static nn_status prepare_and_run(const nn_graph *g, const nn_allocator *a, int run_it, const int64_t *fix) {
    nn_input_shape shapes[16];
    uint32_t ns = g->input_count < 16 ? g->input_count : 16;
    for (uint32_t i = 0; i < ns; i++) {
        const nn_tensor *t = &g->tensors[g->inputs[i].id];
        shapes[i].name = t->name;
        shapes[i].shape = t->shape;
        for (int32_t k = 0; k < t->shape.rank; k++)
            if (t->shape.dims[k] < 0)
                shapes[i].shape.dims[k] = k == 0 ? 1 : (fix && t->shape.rank == 4 && k >= 2) ? fix[k - 2] : 32;
    }
    nn_exec_desc xd;
    memset(&xd, 0, sizeof xd);
    xd.alloc = *a;
    xd.input_shapes = shapes;
    xd.input_shape_count = ns;
    nn_exec *x = NULL;
    nn_diag d;
    memset(&d, 0, sizeof d);
    nn_status st = nn_exec_create(g, &xd, &x, &d);
    void *bufs[16] = {0};
    for (uint32_t i = 0; st == NN_OK && run_it && i < ns; i++) {
        const nn_tensor *t = &g->tensors[g->inputs[i].id];
        int ok;
        size_t count = nn_shape_count(&shapes[i].shape, &ok), bytes;
        if (shapes[i].shape.rank < 0 || !ok || !nn_dtype_bytes_for(t->dtype, count, &bytes) || bytes > (64u << 20)) {
            st = NN_ERR_LIMIT;
            break;
        }
        bufs[i] = calloc(1, bytes + 1);
        nn_value v = nn_value_make(t->dtype, shapes[i].shape, bufs[i]);
        st = nn_exec_set_input(x, i, &v, &d);
    }
    if (st == NN_OK && run_it) st = nn_exec_run(x, &d);
    for (uint32_t i = 0; i < 16; i++) free(bufs[i]);
    nn_exec_destroy(x);
    return st;
}

/* The unmutated model, then 64 truncations and 64 flipped copies. */
static void mutate(const char *path, int run_it, const int64_t *fix) {
    uint8_t *bytes = NULL, *buf;
    size_t n;
    if (!read_file(path, &bytes, &n)) {
        printf("robust: %s: cannot read, skipped\n", path);
        free(bytes);
        return;
    }
    buf = (uint8_t *)malloc(n + 1);
    counting c = {0};
    nn_allocator a = {cnt_alloc, cnt_free, &c};
    nn_onnx_desc desc;
    memset(&desc, 0, sizeof desc);
    desc.alloc = a;
    desc.copy_weights = 1;
    int consistent = 1, loaded = 0, prepared = 0;
    {
        /* the original must load, prepare and run, or the mutants test little */
        nn_graph *g = NULL;
        nn_diag d;
        memset(&d, 0, sizeof d);
        CHECK_STATUS(nn_onnx_load_memory(bytes, n, &desc, &g, &d), NN_OK);
        if (g) CHECK_STATUS(prepare_and_run(g, &a, run_it, fix), NN_OK);
        nn_graph_destroy(g);
    }
    for (int i = 0; i < 128; i++) {
        size_t len = n;
        memcpy(buf, bytes, n);
        if (i < 64) len = (size_t)((double)n * i / 64.0) + (size_t)(rng() % 9);
        else for (int k = 0; k < 1 + i % 4; k++) buf[rng() % n] ^= (uint8_t)(1 + rng() % 255);
        if (len > n) len = n;
        nn_graph *g = NULL;
        nn_diag d;
        memset(&d, 0, sizeof d);
        nn_status st = nn_onnx_load_memory(buf, len, &desc, &g, &d);
        /* a failed load says why and returns no graph */
        if ((st == NN_OK) != (g != NULL) || (st != NN_OK && (d.status != st || !d.message[0]))) consistent = 0;
        if (st == NN_OK) {
            loaded++;
            if (prepare_and_run(g, &a, run_it, fix) == NN_OK) prepared++;
        }
        nn_graph_destroy(g);
    }
    CHECK(consistent);
    CHECK_EQ_INT(c.live, 0);
    printf("robust: %s: 128 mutants, %d loaded, %d prepared%s\n", path, loaded, prepared, run_it ? " and ran" : "");
    free(buf);
    free(bytes);
}

int main(void) {
    const char *cache = getenv("NNPORT_CACHE");
    char root[1024], path[2048];
    if (cache) snprintf(root, sizeof root, "%s", cache);
    else snprintf(root, sizeof root, "%s/.cache/nnport", getenv("HOME") ? getenv("HOME") : ".");
    static const char *ocr[] = {"ch_PP-OCRv4_det_infer.onnx", "ch_PP-OCRv4_rec_infer.onnx",
                                "ch_ppocr_mobile_v2.0_cls_infer.onnx"};
    /* small input sizes each model accepts: det wants multiples of 32, the
       classifier's head is sized for 48x192 */
    static const int64_t sizes[3][2] = {{64, 64}, {48, 64}, {48, 192}};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/npm/package/assets/%s", root, ocr[i]);
        FILE *f = fopen(path, "rb");
        CHECK(f != NULL); /* `make test` fetches these first */
        if (!f) { fprintf(stderr, "robust: %s missing: run scripts/fetch_models.sh ocr\n", path); continue; }
        fclose(f);
        mutate(path, 1, sizes[i]);
    }
    /* The exported models, when present: load and prepare only (running
       128 mutants of each would take minutes). */
    static const char *more[] = {"resnet18_op13", "resnet18_op17", "mobilenet_v2_op13", "mobilenet_v2_op17",
                                 "mobilenet_v2_bn_op13", "mobilenet_v2_bn_op17", "vit_ti_op13", "vit_ti_op17",
                                 "gpt_char_op13", "gpt_char_op17"};
    int extra = 0;
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) {
        snprintf(path, sizeof path, "%s/models/%s.onnx", root, more[i]);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        fclose(f);
        mutate(path, 0, NULL);
        extra++;
    }
    if (!extra) printf("robust: no exported models in %s/models (make parity fetches them)\n", root);
    return check_summary();
}
