/* test_target_emitc.c - nn_target_emit_c (nn_target.h) on the
   test network's programs in tests/fuzz/corpus_nnb (Conv+Relu, 1x1 Conv,
   Add, GlobalAveragePool, Flatten, Gemm, Sigmoid; small.nnb s8 symmetric,
   small_u8.nnb u8 asymmetric; nv12.nnb starts with the NV12 conversion;
   nv12_s16.nnb too, to int16 planes, its convolutions and Gemm 16-bit
   integer instructions):
   what the files declare, the identifier prefix, refusals (bad name, an
   instruction without a C form: sin.nnb's float Sin) with nothing
   written, a failing writer, and a failing allocator at every allocation
   with nothing leaked.  That the generated C compiles and equals the
   simulator byte for byte is tests/test_emitc.sh's job (it needs a C
   compiler): with EMITC_OUT set, the test-network exports are also
   written to $EMITC_OUT/<small|small_u8|nv12>/model.{c,h}
   (directories made by the script) for it to build and run. */
#include "nn_target.h"
#include "check.h"
#include <stdlib.h>
#include <string.h>

typedef struct mem_out {
    char *buf;
    size_t n, cap;
    int calls, fail_at; /* fail_at > 0: the fail_at-th call fails */
} mem_out;

static int mem_write(void *user, const char *text, size_t bytes) {
    mem_out *m = (mem_out *)user;
    if (++m->calls == m->fail_at) return 1;
    if (m->n + bytes + 1 > m->cap) {
        size_t cap = (m->n + bytes + 1) * 2;
        char *nb = (char *)realloc(m->buf, cap);
        if (!nb) return 1;
        m->buf = nb;
        m->cap = cap;
    }
    memcpy(m->buf + m->n, text, bytes);
    m->n += bytes;
    m->buf[m->n] = 0;
    return 0;
}

static void mem_reset(mem_out *m) {
    free(m->buf);
    memset(m, 0, sizeof *m);
}

static int count_of(const char *hay, const char *needle) {
    int n = 0;
    const char *p = hay;
    while (p && (p = strstr(p, needle)) != NULL) { n++; p += strlen(needle); }
    return n;
}

/* The program of a corpus file (bytes copied; NULL when missing). */
static nn_target_program *load_nnb(const char *path) {
    FILE *f = fopen(path, "rb");
    nn_target_program *p = NULL;
    nn_target_load_desc ld;
    nn_diag d;
    char *b;
    long n;
    if (!f) { fprintf(stderr, "%s: missing\n", path); return NULL; }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = (char *)malloc((size_t)n);
    if (b && fread(b, 1, (size_t)n, f) == (size_t)n) {
        memset(&ld, 0, sizeof ld);
        memset(&d, 0, sizeof d);
        ld.copy = 1;
        if (nn_target_load_memory(b, (size_t)n, &ld, &p, &d)) fprintf(stderr, "%s: %s\n", d.where, d.message);
    }
    free(b);
    fclose(f);
    return p;
}

/* Writes text to $EMITC_OUT/dir/name when EMITC_OUT is set. */
static void save_for_script(const char *dir, const char *name, const char *text) {
    const char *root = getenv("EMITC_OUT");
    char path[4096];
    FILE *f;
    if (!root || !text) return;
    snprintf(path, sizeof path, "%s/%s/%s", root, dir, name);
    f = fopen(path, "wb");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* Instructions that get a function of their own (views do not). */
static uint32_t runnable_count(const nn_target_program *p) {
    uint32_t i, n = 0;
    for (i = 0; i < p->instr_count; i++)
        if (!(p->instrs[i].op == NN_TARGET_OP_CPU && (p->instrs[i].flags & NN_TARGET_INSTR_VIEW))) n++;
    return n;
}

/* nn_target_emit_c of p with the default desc into cleared buffers c, h
   and a cleared diag d. */
static nn_status emit_fresh(const nn_target_program *p, mem_out *c, mem_out *h, nn_diag *d) {
    memset(c, 0, sizeof *c);
    memset(h, 0, sizeof *h);
    memset(d, 0, sizeof *d);
    return nn_target_emit_c(p, NULL, mem_write, c, mem_write, h, d);
}

/* emit_fresh, which must succeed with both texts written; they are saved
   for tests/test_emitc.sh under stem.  Returns whether both exist. */
static int emit_saved(const nn_target_program *p, const char *stem, mem_out *c, mem_out *h, nn_diag *d) {
    CHECK_STATUS(emit_fresh(p, c, h, d), NN_OK);
    if (d->status) fprintf(stderr, "     %s: %s\n", d->where, d->message);
    CHECK(c->buf && h->buf);
    if (!c->buf || !h->buf) return 0;
    save_for_script(stem, "model.c", c->buf);
    save_for_script(stem, "model.h", h->buf);
    return 1;
}

static void test_small(const char *path, const char *stem) {
    nn_target_program *p = load_nnb(path);
    mem_out c, h;
    nn_diag d;
    uint32_t runnable;
    char want[96];
    CHECK(p != NULL);
    if (!p) return;
    if (emit_saved(p, stem, &c, &h, &d)) {
        /* the entry point, the planned arena, only libc headers */
        CHECK(strstr(h.buf, "int model_run(const void *const *inputs, void *const *outputs);") != NULL);
        CHECK(strstr(c.buf, "int model_run(const void *const *inputs, void *const *outputs) {") != NULL);
        snprintf(want, sizeof want, "#define MODEL_ARENA_BYTES %lluu", (unsigned long long)p->arena_bytes);
        CHECK(strstr(h.buf, want) != NULL);
        snprintf(want, sizeof want, "uint8_t u8[%llu];", (unsigned long long)((p->arena_bytes + 7) / 8 * 8));
        CHECK(strstr(c.buf, want) != NULL);
        /* x (1,3,8,8) float32 = 768 bytes; y (1,5) float32 = 20 bytes */
        CHECK(strstr(h.buf, "#define MODEL_INPUT_0_BYTES 768u") != NULL);
        CHECK(strstr(h.buf, "#define MODEL_OUTPUT_0_BYTES 20u") != NULL);
        CHECK_EQ_INT(count_of(c.buf, "#include"), 5);
        CHECK(strstr(c.buf, "#include \"model.h\"") != NULL);
        CHECK(strstr(c.buf, "#include \"nn_") == NULL);
        /* one function per instruction that runs, each called once */
        runnable = runnable_count(p);
        CHECK_EQ_INT(count_of(c.buf, "static void nn_i"), runnable);
        CHECK_EQ_INT(count_of(c.buf, "();\n"), runnable);
        CHECK(strstr(c.buf, "static float nn_sigmoidf(float x)") != NULL);
        CHECK(strstr(c.buf, "static int32_t nn_rq(") != NULL);
        CHECK(strstr(c.buf, "FLT_EVAL_METHOD") != NULL);
    }
    mem_reset(&c);
    mem_reset(&h);
    /* checking only (no writers) */
    CHECK_STATUS(nn_target_emit_c(p, NULL, NULL, NULL, NULL, NULL, &d), NN_OK);
    nn_target_program_destroy(p);
}

/* The NV12 programs: the frame (1, 12, 8) uint8 is input 0 (96 bytes),
   the conversion is instruction 0 and brings the nn_yuv helper. */
static void test_nv12(const char *path, const char *stem) {
    nn_target_program *p = load_nnb(path);
    mem_out c, h;
    nn_diag d;
    CHECK(p != NULL);
    if (!p) return;
    CHECK(p->instrs[0].op == NN_TARGET_OP_YUV);
    if (emit_saved(p, stem, &c, &h, &d)) {
        CHECK(strstr(h.buf, "#define MODEL_INPUT_0_BYTES 96u") != NULL);
        CHECK(strstr(c.buf, "static void nn_yuv(int32_t y, int32_t u, int32_t v, int limited, uint8_t rgb[3])") != NULL);
        CHECK_EQ_INT(count_of(c.buf, "nn_yuv("), 2); /* defined once, called once */
        CHECK_EQ_INT(count_of(c.buf, "static void nn_i"), runnable_count(p));
        if (strstr(path, "s16")) { /* two convs (3x3 + Relu, 1x1), the Add, the pool and the Gemm on int16 */
            CHECK_EQ_INT(count_of(c.buf, " conv16 '"), 2);
            CHECK_EQ_INT(count_of(c.buf, " gemm16 '"), 1);
            CHECK_EQ_INT(count_of(c.buf, "nn_rqw((int64_t)nn_ms("), 1); /* the 16-bit Add */
            CHECK_EQ_INT(count_of(c.buf, "r = nn_rqw(sum, "), 1);        /* the 16-bit GlobalAveragePool */
            CHECK(strstr(c.buf, "static int32_t nn_rqw(int64_t acc,") != NULL);
        }
    }
    mem_reset(&c);
    mem_reset(&h);
    nn_target_program_destroy(p);
}

static void test_prefix_and_refusals(void) {
    nn_target_program *p = load_nnb("tests/fuzz/corpus_nnb/small.nnb"), *q;
    nn_target_emit_desc ed;
    mem_out c, h;
    nn_diag d;
    CHECK(p != NULL);
    if (!p) return;
    memset(&ed, 0, sizeof ed);
    memset(&c, 0, sizeof c);
    memset(&h, 0, sizeof h);
    memset(&d, 0, sizeof d);
    ed.name = "net_v2";
    CHECK_STATUS(nn_target_emit_c(p, &ed, mem_write, &c, mem_write, &h, &d), NN_OK);
    CHECK(h.buf && strstr(h.buf, "int net_v2_run(") && strstr(h.buf, "#define NET_V2_ARENA_BYTES"));
    CHECK(c.buf && strstr(c.buf, "#include \"net_v2.h\""));
    mem_reset(&c);
    mem_reset(&h);
    /* not a C identifier: NN_ERR_ARG naming the field, nothing written */
    ed.name = "9lives";
    CHECK_STATUS(nn_target_emit_c(p, &ed, mem_write, &c, mem_write, &h, &d), NN_ERR_ARG);
    CHECK(strcmp(d.where, "nn_target_emit_desc.name") == 0);
    CHECK_EQ_INT(c.calls + h.calls, 0);
    ed.name = "a-b";
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_target_emit_c(p, &ed, mem_write, &c, mem_write, &h, &d), NN_ERR_ARG);
    /* a failing writer: NN_ERR_IO, first and a later call */
    ed.name = NULL;
    memset(&d, 0, sizeof d);
    c.fail_at = 1;
    CHECK_STATUS(nn_target_emit_c(p, &ed, mem_write, &c, mem_write, &h, &d), NN_ERR_IO);
    mem_reset(&c);
    mem_reset(&h);
    memset(&d, 0, sizeof d);
    h.fail_at = 1;
    CHECK_STATUS(nn_target_emit_c(p, &ed, mem_write, &c, mem_write, &h, &d), NN_ERR_IO);
    mem_reset(&c);
    mem_reset(&h);
    nn_target_program_destroy(p);
    /* a float Sin has no C form: refused naming its instruction, nothing written */
    q = load_nnb("tests/fuzz/corpus_nnb/sin.nnb");
    CHECK(q != NULL);
    if (q) {
        memset(&d, 0, sizeof d);
        CHECK_STATUS(nn_target_emit_c(q, NULL, mem_write, &c, mem_write, &h, &d), NN_ERR_UNSUPPORTED);
        CHECK(strstr(d.message, "Sin") != NULL);
        CHECK(strcmp(d.where, "the_sin") == 0);
        CHECK_EQ_INT(c.calls + h.calls, 0);
        nn_target_program_destroy(q);
    }
}

typedef struct fail_alloc { int n, fail_at, live; } fail_alloc;

static void *fa_alloc(void *user, size_t bytes) {
    fail_alloc *f = (fail_alloc *)user;
    void *q;
    if (++f->n == f->fail_at) return NULL;
    q = malloc(bytes);
    if (q) f->live++;
    return q;
}

static void fa_free(void *user, void *ptr) {
    fail_alloc *f = (fail_alloc *)user;
    if (ptr) f->live--;
    free(ptr);
}

/* Every allocation failed in turn: NN_ERR_NOMEM and nothing left; then a
   run with all allocations: NN_OK and nothing left. */
static void test_failing_allocator(void) {
    nn_target_program *p = load_nnb("tests/fuzz/corpus_nnb/small.nnb");
    nn_target_emit_desc ed;
    fail_alloc fa;
    mem_out c, h;
    nn_diag d;
    int k, total;
    CHECK(p != NULL);
    if (!p) return;
    memset(&ed, 0, sizeof ed);
    memset(&fa, 0, sizeof fa);
    memset(&c, 0, sizeof c);
    memset(&h, 0, sizeof h);
    memset(&d, 0, sizeof d);
    ed.alloc.alloc = fa_alloc;
    ed.alloc.free = fa_free;
    ed.alloc.user = &fa;
    CHECK_STATUS(nn_target_emit_c(p, &ed, mem_write, &c, mem_write, &h, &d), NN_OK);
    CHECK_EQ_INT(fa.live, 0);
    total = fa.n;
    CHECK(total >= 1);
    for (k = 1; k <= total; k++) {
        memset(&fa, 0, sizeof fa);
        fa.fail_at = k;
        memset(&d, 0, sizeof d);
        mem_reset(&c);
        mem_reset(&h);
        CHECK_STATUS(nn_target_emit_c(p, &ed, mem_write, &c, mem_write, &h, &d), NN_ERR_NOMEM);
        CHECK_EQ_INT(fa.live, 0);
        CHECK_EQ_INT(c.calls + h.calls, 0);
    }
    mem_reset(&c);
    mem_reset(&h);
    nn_target_program_destroy(p);
}

int main(void) {
    test_small("tests/fuzz/corpus_nnb/small.nnb", "small");
    test_small("tests/fuzz/corpus_nnb/small_u8.nnb", "small_u8");
    test_nv12("tests/fuzz/corpus_nnb/nv12.nnb", "nv12");
    /* the s16 network (W8A16): the yuv instruction (int16 table), then its
       convolutions and Gemm as 16-bit integer instructions (conv16/gemm16
       with 64-bit accumulators and nn_rqw) */
    test_nv12("tests/fuzz/corpus_nnb/nv12_s16.nnb", "nv12_s16");
    test_prefix_and_refusals();
    test_failing_allocator();
    return check_summary();
}
