/* fuzz_nnb.c - libFuzzer harness for nn_target.h's model-file loader and
   the simulator behind it.

   build: clang -g -O1 -fsanitize=fuzzer,address,undefined -I. -I/usr/include/stb \
              tests/fuzz/fuzz_nnb.c -o build/fuzz_nnb -lprotobuf-nanopb -lcjson -lstb -lm -lpthread
   run:   build/fuzz_nnb tests/fuzz/corpus_nnb

   The input is loaded as a model file.  Any status is fine, but a refusal
   must name a field (diag.where not empty).  When it loads and its memory
   is small (<= 16 MiB), the program is run once on zero inputs: a loaded
   program must never read or write outside its arena, scratch or weights,
   whatever its status.  The saved corpus holds a compiled program
   (small.nnb: the Conv/Add/pool/Gemm test network of tests/test_target.c),
   so mutations start from a valid checksum-correct file (and batch.nnb,
   a version-2 file with programs for batches 1, 2, 4, run at batch 3 when
   it loads; nv12.nnb, a program starting with the yuv instruction);
   libFuzzer's
   mutations mostly break the checksum, which is the first line of
   defence, so the harness also retries every input with its checksum
   recomputed to reach the field checks. */
#ifndef NN_FUZZ_SHARED_IMPL /* linked with build/fuzzimpl.o instead (tests/fuzz/impl.c) */
#define NN_IMPLEMENTATION
#endif
#include "nn_target.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_try(const uint8_t *data, size_t size) {
    nn_target_program *p = NULL;
    nn_diag d;
    nn_status st;
    memset(&d, 0, sizeof d);
    st = nn_target_load_memory(data, size, NULL, &p, &d);
    if (st != NN_OK && (!d.where[0] || p)) __builtin_trap();
    if (st == NN_OK) {
        size_t mb = nn_target_sim_scratch_bytes(p), in_max = 0;
        uint32_t i;
        for (i = 0; i < p->input_count; i++)
            if (p->slots[p->inputs[i]].bytes > in_max) in_max = (size_t)p->slots[p->inputs[i]].bytes;
        if (mb <= (16u << 20) && p->input_count <= 16 && p->output_count <= 16) {
            char *mem = (char *)malloc(mb + 64), *al = mem + (64 - (uintptr_t)mem % 64) % 64;
            uint8_t *zero = (uint8_t *)calloc(1, in_max + 1);
            nn_value in[16], out[16];
            for (i = 0; i < p->input_count; i++) {
                in[i] = nn_value_make(p->slots[p->inputs[i]].dtype, p->slots[p->inputs[i]].shape, zero);
                in[i].bytes = (size_t)p->slots[p->inputs[i]].bytes;
            }
            memset(&d, 0, sizeof d);
            (void)nn_target_sim_run(p, al, mb, in, out, &d);
            free(zero);
            free(mem);
        }
        /* a multi-batch file: batch 3 as a sum of its programs */
        mb = p->batch == 1 ? nn_target_batch_scratch_bytes(p) : 0;
        if (mb && mb <= (16u << 20) && in_max <= (4u << 20) && p->input_count <= 16 && p->output_count <= 16) {
            char *mem = (char *)malloc(mb + 64), *al = mem + (64 - (uintptr_t)mem % 64) % 64;
            size_t out_max = 0;
            uint8_t *zero = (uint8_t *)calloc(1, 3 * in_max + 1), *ob;
            nn_value in[16], out[16];
            for (i = 0; i < p->output_count; i++)
                if (p->slots[p->outputs[i]].bytes > out_max) out_max = (size_t)p->slots[p->outputs[i]].bytes;
            ob = out_max <= (4u << 20) ? (uint8_t *)malloc(3 * out_max * p->output_count + 1) : NULL;
            for (i = 0; ob && i < p->input_count; i++) {
                in[i] = nn_value_make(p->slots[p->inputs[i]].dtype, p->slots[p->inputs[i]].shape, zero);
                in[i].shape.dims[0] = 3;
                in[i].bytes = 3 * (size_t)p->slots[p->inputs[i]].bytes;
            }
            for (i = 0; ob && i < p->output_count; i++) {
                memset(&out[i], 0, sizeof out[i]);
                out[i].data = ob + 3 * out_max * i;
                out[i].bytes = 3 * out_max;
            }
            memset(&d, 0, sizeof d);
            if (ob) (void)nn_target_sim_run_batch(p, al, mb, 3, in, out, &d);
            free(ob);
            free(zero);
            free(mem);
        }
        nn_target_program_destroy(p);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_try(data, size);
    if (size >= 128 && size <= (4u << 20)) { /* again with the checksum made right */
        static const uint8_t zero[4] = {0, 0, 0, 0};
        uint8_t *c = (uint8_t *)malloc(size);
        uint32_t crc;
        memcpy(c, data, size);
        crc = nn_verify_crc32(0, c, 24);
        crc = nn_verify_crc32(crc, zero, 4);
        crc = nn_verify_crc32(crc, c + 28, size - 28);
        c[24] = (uint8_t)crc; c[25] = (uint8_t)(crc >> 8); c[26] = (uint8_t)(crc >> 16); c[27] = (uint8_t)(crc >> 24);
        fuzz_try(c, size);
        free(c);
    }
    return 0;
}
