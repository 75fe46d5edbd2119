/* The one translation unit that expands the nnport headers' implementations
   for the command-line tools and tests in this repository. */
#define NN_IMPLEMENTATION
#include "nn_graph.h"
#if __has_include("nn_onnx.h")
#include "nn_onnx.h"
#endif
#if __has_include("nn_verify.h")
#include "nn_verify.h"
#endif
