/* bundle.h - the verification bundle in the ONNX backend-test layout,
   shared by `nnport run --bundle` and `nnport build --bundle` (bundle.c). */
#ifndef NNPORT_BUNDLE_H
#define NNPORT_BUNDLE_H

#include "nn_graph.h"

/* Writes dir/model.onnx (byte copy of model_path), dir/test_data_set_0/
   input_<i>.pb and output_<i>.pb (named as g's inputs and outputs) and
   dir/bundle.json (SHA-256 of each file, the source path, producer).  Built
   in dir.part and renamed; dir must not exist.  Prints errors; returns a
   CLI exit code. */
int cli_write_bundle(const char *dir, const char *model_path, const nn_graph *g, const nn_value *const *outs,
                     const nn_value *inputs, const char *producer);

#endif
