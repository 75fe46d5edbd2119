/* fuzz_image.c - libFuzzer harness for nn_calib.h's image samples: the
   decode (stb_image, compiled in here so that it is instrumented too) and
   every preprocessing path after it (resize modes, layouts, channel order,
   u8/f32, padding, PaddleOCR's growing width).

   build: clang -g -O1 -fsanitize=fuzzer,address,undefined -I. -I/usr/include/stb \
              tests/fuzz/fuzz_image.c -o build/fuzz_image -lm -lpthread
   run:   build/fuzz_image tests/fuzz/corpus_image

   Bytes 0-3 choose the preprocessing: byte 0 the resize mode, layout,
   channel order and dtype; byte 1 the target height (1..32), byte 2 the
   width (1..64), byte 3 the channels of the graph input (1 or 3), whether
   the height/width are left to the image (dynamic dims) and the file's
   extension (png, jpg, jpeg, bmp, ppm, pgm, tga: nn_calib refuses bytes
   that are not the format the name says).  The rest is written to `s.EXT`
   in a private folder and loaded as sample 0 of a dataset for a one-input
   graph.  Any status is fine, and a failure must
   name the file in diag.where; on success the value must have the input's
   rank and channel count and only finite numbers.  Crashes, leaks and
   sanitizer reports are bugs. */
#ifndef NN_FUZZ_SHARED_IMPL /* linked with build/fuzzimpl.o instead (tests/fuzz/impl.c) */
#define NN_IMPLEMENTATION
#define NN_VERIFY_STB_IMAGE_IMPLEMENTATION
#endif
#include "nn_graph.h"
#include "nn_verify.h"
#include "nn_calib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_dir[64];

static int fuzz_write_file(const char *path, const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    if (size && fwrite(data, 1, size, f) != size) {
        fclose(f);
        return 0;
    }
    return fclose(f) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const nn_calib_resize modes[] = {NN_CALIB_RESIZE_DEFAULT,    NN_CALIB_RESIZE_NONE,
                                            NN_CALIB_RESIZE_STRETCH,    NN_CALIB_RESIZE_SHORT_CROP,
                                            NN_CALIB_RESIZE_FIT_PAD,    NN_CALIB_RESIZE_HEIGHT_PAD};
    char path[96];
    nn_graph *g = NULL;
    nn_calib_dataset *ds = NULL;
    nn_calib_dataset_desc dd;
    nn_diag d;
    nn_value v;
    nn_tensor_id t;
    int64_t dims[4];
    uint32_t h, w, c, dyn, nhwc;
    uint8_t m;
    if (size < 4) return 0;
    if (!fuzz_dir[0]) {
        snprintf(fuzz_dir, sizeof fuzz_dir, "/tmp/fuzz_image_%d", (int)getpid());
        if (mkdir(fuzz_dir, 0700) != 0 && errno != EEXIST) abort();
    }
    {
        static const char *const exts[] = {"png", "jpg", "jpeg", "bmp", "ppm", "pgm", "tga"};
        static char last[96];
        snprintf(path, sizeof path, "%s/s.%s", fuzz_dir, exts[((data[3] >> 2) & 7u) % 7u]);
        if (last[0] && strcmp(last, path) != 0) remove(last); /* one sample file in the folder */
        snprintf(last, sizeof last, "%s", path);
        if (!fuzz_write_file(path, data + 4, size - 4)) abort();
    }

    m = data[0];
    h = 1u + data[1] % 32u;
    w = 1u + data[2] % 64u;
    c = (data[3] & 1) ? 3u : 1u;
    dyn = (data[3] >> 1) & 1u;
    nhwc = (m >> 3) & 1u;
    memset(&d, 0, sizeof d);
    memset(&dd, 0, sizeof dd);
    dd.path = fuzz_dir;
    dd.image.resize = modes[(m & 7u) % 6u];
    dd.image.layout = nhwc ? NN_CALIB_LAYOUT_NHWC : NN_CALIB_LAYOUT_NCHW;
    dd.image.bgr = (m >> 4) & 1;
    dd.image.dtype = ((m >> 5) & 1) ? NN_DTYPE_UINT8 : NN_DTYPE_FLOAT;
    dd.image.grow_width = (m >> 6) & 1;
    dd.image.round_u8 = (m >> 7) & 1;
    dd.image.pad_value = 0.5f;
    dd.image.mean[0] = dd.image.mean[1] = dd.image.mean[2] = 127.5f;
    dd.image.scale[0] = dd.image.scale[1] = dd.image.scale[2] = 1.0f / 127.5f;
    if (dyn) { /* dims left to the image: a target size must then come from the desc */
        dd.image.height = h;
        dd.image.width = w;
    }
    dims[0] = 1;
    if (nhwc) {
        dims[1] = dyn ? -1 : (int64_t)h;
        dims[2] = dyn ? -1 : (int64_t)w;
        dims[3] = c;
    } else {
        dims[1] = c;
        dims[2] = dyn ? -1 : (int64_t)h;
        dims[3] = dyn ? -1 : (int64_t)w;
    }
    {
        nn_shape s = nn_shape_make(4, dims);
        if (nn_graph_create(NULL, &g, &d) != NN_OK) abort();
        if (nn_graph_add_tensor(g, "x", dd.image.dtype ? dd.image.dtype : NN_DTYPE_FLOAT, &s, &t, &d) != NN_OK ||
            nn_graph_add_input(g, t, &d) != NN_OK)
            abort();
    }
    if (nn_calib_dataset_open(&dd, g, &ds, &d) != NN_OK) {
        if (!d.where[0]) abort(); /* an error names what it is about */
        goto done;
    }
    memset(&v, 0, sizeof v);
    if (nn_calib_dataset_load(ds, 0, &v, &d) != NN_OK) {
        if (!strstr(d.where, "/s.")) abort(); /* the error names the file */
        goto done;
    }
    if (v.shape.rank != 4) abort();
    if (v.shape.dims[nhwc ? 3 : 1] != (int64_t)c) abort();
    if (v.dtype == NN_DTYPE_FLOAT) {
        const float *p = (const float *)v.data;
        size_t n = nn_shape_count(&v.shape, NULL), i;
        for (i = 0; i < n; i++)
            if (!isfinite(p[i])) abort();
    }
done:
    nn_calib_dataset_destroy(ds);
    nn_graph_destroy(g);
    return 0;
}
