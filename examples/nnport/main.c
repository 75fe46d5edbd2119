/* nnport - the command-line face of the nnport headers.

   nnport inspect MODEL.onnx [--shape NAME=DIMS]... [--json]
   nnport run MODEL.onnx --input NAME=FILE.npy... [--shape NAME=DIMS]...
              [--threads N] --output-dir DIR
   nnport bench MODEL.onnx --input NAME=FILE.npy... [--threads N] [--repeat N]
   nnport optimize MODEL.onnx -o OUT.onnx [--template cv|lvm|llm | --passes a,b,c]
              [--shape NAME=DIMS]... [--input NAME=FILE.npy]...
   nnport plan MODEL.onnx --target npu-small|npu-large|mcu|target.json
   nnport config check CFG.json | nnport config reference
   nnport report RECORD.json -o report.html
   (each command's --help lists its options)

   Exit status: 0 success, 1 bad input (the message names the file and what
   is wrong), 2 bad command line. */
#include "cli.h"
#include <string.h>

static const struct { const char *name; cli_command_fn fn; const char *help; } commands[] = {
    {"inspect", cmd_inspect, "print inputs, outputs, op histogram, parameters and MACs"},
    {"run", cmd_run, "run the float reference executor and write outputs as .npy"},
    {"bench", cmd_bench, "time load, prepare and run; print JSON"},
    {"compare", cmd_compare, "compare two runs output by output, with tolerance gates"},
    {"convert", cmd_convert, "read a model and write it back (weights as initializers)"},
    {"config", cmd_config, "check a build config, or print the reference of every key"},
    {"report", cmd_report, "write the self-contained HTML report of a build record"},
    {"optimize", cmd_optimize, "simplify and fuse (templates cv/lvm/llm or a pass list), check outputs on real or random inputs, write the model"},
    {"calibrate", cmd_calibrate, "run samples through a model and write a calibration table (TPU-MLIR format)"},
    {"plan", cmd_plan, "plan memory, layer groups, tiles and cycles on an NPU target"},
    {"compile", cmd_compile, "lower a QDQ model to an integer program for a target and write MODEL.nnb"},
    {"search", cmd_search, "mixed-precision search: promote the most sensitive layers to float, write a quantize table"},
    {"quantize", cmd_quantize, "calibrate and write a QDQ int8 model; `quantize run` runs one with integer kernels"},
    {"build", cmd_build, "run the whole flow from a JSON config: optimize, quantize, compile, report (OUT/)"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: nnport COMMAND [options]   (nnport COMMAND --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return CLI_EXIT_USAGE; }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("nnport %d.%d.%d\n", NN_VERSION_MAJOR, NN_VERSION_MINOR, NN_VERSION_PATCH);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "nnport: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return CLI_EXIT_USAGE;
}
