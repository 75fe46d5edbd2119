/* cli.h - what the nnport subcommands share: argument helpers, error
   reporting, and loading/saving through the headers.  All real work is in
   the nn_*.h headers; this layer only parses, prints and exits. */
#ifndef NNPORT_CLI_H
#define NNPORT_CLI_H

#include "nn_graph.h"
#include "nn_onnx.h"
#include "nn_quant.h"
#include "nn_verify.h"
#include <stdio.h>

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1   /* bad input: a file, a model, a value */
#define CLI_EXIT_USAGE 2  /* bad command line */

typedef int (*cli_command_fn)(int argc, char **argv);

int cmd_inspect(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_optimize(int argc, char **argv);
int cmd_calibrate(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_compile(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_build(int argc, char **argv);

/* Prints "nnport: <file>: <where>: <message>" from a diag and returns
   CLI_EXIT_FAIL. */
int cli_fail(const char *file, const nn_diag *d);
/* Prints "nnport <cmd>: <message>" and a hint to run --help; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Parses "1x3x224x224" (or "1,3,224,224"; "scalar" for rank 0).  0 on error. */
int cli_parse_shape(const char *text, nn_shape *out);
/* Splits "NAME=VALUE" at the last '=' into a name copy (name_cap bytes);
   returns the VALUE part or NULL.  Input names may contain '=' and ':'. */
const char *cli_split_pair(const char *arg, char *name, size_t name_cap);
/* Parses a non-negative int option value; 0 on error. */
int cli_parse_int(const char *text, long min, long max, long *out);
/* Parses a weight rounding ("nearest" or "sum"); 0 on anything else. */
int cli_parse_rounding(const char *text, nn_quant_rounding *out);
/* The calibrator's grid for activations of act_bits bits (0: 8): thresholds
   for the grid they will quantize to (MSE, KL, OCTAV weigh clipping
   against rounding), except ACIQ, whose tables stop at 8 bits. */
int cli_calib_bits(int act_bits, nn_calib_method m);

/* The passes a float model goes through before it is quantized, in cv_flow
   and `nnport quantize`: the cv template without `act` (for an integer
   graph the activation fusion is the lowering's, and a FusedConv would stay
   float in the QDQ graph).  `affine` folds a constant per-channel Mul/Add
   after a Conv into it, so no int8 tensor sits between them
   (docs/QUANTIZATION.md 6p). */
#define CLI_QUANT_PASSES "fold,identity,noop,cse,bn,affine,hswish,dce"
/* Parses an activation scheme ("s8sym", "u8asym", "s8asym" or "s16"); 0 on anything else. */
int cli_parse_scheme(const char *text, nn_quant_scheme *out);
/* Of nn_quant_softmax_bias_measure's n rows: how many Softmax outputs are
   quantized, and in *worst the mean row sum of those furthest from 1 (1
   when none is). */
uint32_t cli_softmax_quantized(const nn_quant_softmax_bias *sb, uint32_t n, double *worst);

/* Resident set size high-water mark of this process, in KiB (VmHWM). */
long cli_peak_rss_kib(void);
/* Monotonic clock in milliseconds. */
double cli_now_ms(void);
/* "12.3 M" style number with a unit suffix; returns buf. */
char *cli_human(double v, char *buf, size_t cap);

/* Loads a model from path, with the ONNX reader's defaults. */
nn_status cli_load_model(const char *path, nn_graph **out, nn_diag *d);

/* The inputs given on a command line: --input NAME=FILE.npy, --shape NAME=DIMS. */
typedef struct cli_inputs {
    int count;
    char names[64][256];
    const char *files[64];
    int shape_count;
    nn_input_shape shapes[64];
    char shape_names[64][256];
} cli_inputs;

/* Consumes argv[*i] if it is --input/--shape (advancing *i); returns 1 when
   consumed, 0 when not an input option, -1 after printing a usage error. */
int cli_take_input_option(const char *cmd, int argc, char **argv, int *i, cli_inputs *in);
/* Loads each --input file into values[i] for the model input i of that
   name; a model input without --input, or an --input naming no model input,
   is an error that names it (free values with nn_verify_value_free). */
int cli_load_inputs(const char *cmd, const nn_graph *g, const cli_inputs *in, nn_value *values);
/* The --input file given for model input `index` (its name if none). */
const char *cli_input_file(const nn_graph *g, const cli_inputs *in, uint32_t index);
/* cli_load_inputs, then binds each value to the executor. */
int cli_bind_inputs(const char *cmd, const nn_graph *g, nn_exec *x, const cli_inputs *in, nn_value *values);
/* compile.c: runs a compiled .nnb (magic NNPORTNB) on the simulator with the
   run conventions; -1 when path is not a .nnb, else a CLI exit code. */
int cli_run_nnb(const char *path, const cli_inputs *in, const char *outdir);
/* Writes PREFIX.c + PREFIX.h, the program as C (nn_target_emit_c), through
   .part names renamed once both are complete (compile.c; `nnport compile
   --emit-c`, `nnport build` with compile.emit_c).  A CLI exit code. */
struct nn_target_program;
int cli_emit_c(const struct nn_target_program *p, const char *prefix);

/* The index of the largest of c scores (the first on ties). */
size_t cli_argmax(const float *row, size_t c);
/* 1 when two score tensors of `rows` rows of `classes` scores read as the
   same text under greedy CTC decoding (top class per row, repeats merged,
   class 0 the blank, dropped), else 0. */
int cli_ctc_same(const float *a, const float *b, size_t rows, size_t classes);

/* The flows' comparisons (cv_flow, lvm_flow): the worst cosine and the worst
   max-abs error over peak, over every output of every sample.  With ctc set
   (lvm_flow --gate ctc), cli_agree also reads each float output as CTC
   scores (the last dim the classes) and counts the outputs whose reading
   equals the reference's: ctc_same of ctc_outputs. */
typedef struct cli_agreement {
    double cos, peak_rel;
    int ctc;
    uint32_t ctc_same, ctc_outputs;
} cli_agreement;
/* cos 1, peak_rel 0, no outputs counted; ctc is kept. */
void cli_agreement_reset(cli_agreement *a);
void cli_agree(cli_agreement *a, const nn_value *ref, const nn_value *got);

/* The per-layer table a flow prints when its quantize gate fails: the ten
   tensors of the float graph g with the lowest cosine against the QDQ graph
   q (nn_quant_analyze on the n evaluation inputs), with their ONNX names.
   `what` ends the heading's parenthesis ("" or e.g. " with the corrected
   biases").  Prints nothing when the analysis fails. */
void cli_print_worst_layers(const nn_graph *g, const nn_graph *q, const nn_value *in, uint32_t n,
                            const nn_quant_eval_desc *ed, const char *what);
/* The table itself, from rows already analysed (n rows; the ten printed
   are marked taken: their cosine becomes 3). */
void cli_print_layer_rows(const nn_graph *g, nn_quant_layer_report *rows, uint32_t n, const char *what);

/* Output through a temporary name, so that a failed run leaves no half
   file: cli_part_open opens PATH.part (its name into part, cap bytes) for
   writing, NULL after saying why.  cli_part_commit closes f (NULL: already
   closed, e.g. a file written by path) and, when ok and no write or the
   close failed, renames part onto path; otherwise it removes part.  1 when
   path is in place, else 0; a failed write, close or rename is reported
   here, a caller's own reason for !ok by the caller. */
FILE *cli_part_open(const char *path, char *part, size_t cap);
int cli_part_commit(FILE *f, const char *part, const char *path, int ok);

/* Writes outputs.json at path (the caller's temporary name): index, name,
   file (output_<i>.npy), shape and dtype of each of the count outputs, the
   layout of `nnport run` and scripts/ort_run.js.  1 on success. */
int cli_write_outputs_json(const char *path, uint32_t count, const char *const *names, const nn_value *const *outs);

/* The end of a flow: writes DIR/record.json (through a .part name renamed
   into place) and DIR/report.html, and prints the report's path. */
struct cJSON;
void cli_flow_write_record(const struct cJSON *rec, const char *dir);

/* The flows' compile stage: compiles the QDQ graph q for the preset
   `target` and runs the n evaluation inputs (single-input models) on the
   simulator, comparing sample s's output o with refs[s * ref_stride + o]
   into *a (reset first).  A program has static shapes: when `shapes`
   (--shape) does not fix the input, one program is compiled per distinct
   input shape (det's photos come at their own sizes).  The first sample's
   program is saved to nnb_path (through a .part name); *programs gets how
   many were compiled. */
nn_status cli_compile_per_shape(const nn_graph *q, const char *target, const cli_inputs *shapes, const nn_value *in,
                                uint32_t n, const char *nnb_path, const nn_value *refs, uint32_t ref_stride,
                                cli_agreement *a, uint32_t *programs, nn_diag *d);

#endif
