/* The one translation unit that expands the nnport headers' implementations
   for the command-line tools and tests in this repository (tests include
   the headers for declarations only and link this object). */
#define NN_IMPLEMENTATION
#include "nn_graph.h"
#include "nn_onnx.h"
#include "nn_verify.h"
#include "nn_calib.h"
#include "nn_quant.h"
#include "nn_target.h"
