/* The nnport implementations, compiled once with libFuzzer's coverage and
   ASan/UBSan (`make` builds it as build/fuzzimpl.o with
   -fsanitize=fuzzer-no-link,address,undefined) and linked into the
   harnesses built with -DNN_FUZZ_SHARED_IMPL (those that use only the
   public API).  One instrumented copy of the ~40k lines instead of one per
   harness: `make build-all` spent 8 of its 12 minutes compiling the
   harnesses one by one.  stb_image's decoder is
   expanded here too, so that it is instrumented like the rest.  Each
   harness still builds alone with the command in its header comment. */
#define NN_IMPLEMENTATION
#define NN_VERIFY_STB_IMAGE_IMPLEMENTATION
#include "nn_graph.h"
#include "nn_onnx.h"
#include "nn_verify.h"
#include "nn_calib.h"
#include "nn_quant.h"
#include "nn_target.h"
