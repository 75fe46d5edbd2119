/* plan.h - what `nnport plan` shares with `nnport compile`: reading a
   target (preset or JSON file) and printing a memory plan and a layer-group
   table.  Defined in plan.c. */
#ifndef NNPORT_PLAN_H
#define NNPORT_PLAN_H

#include "nn_target.h"

/* Storage for the strings a target file names (name, op list). */
typedef struct plan_target_file {
    nn_target_desc desc;
    char name[128];
    char *ops;                    /* free() after use */
} plan_target_file;

/* A preset name or a TARGET.json into tf; returns CLI_EXIT_OK, or prints
   and returns CLI_EXIT_FAIL / CLI_EXIT_USAGE (cmd names the command). */
int plan_resolve_target(const char *cmd, const char *target, plan_target_file *tf);
void plan_print_memory(const nn_target_memory_plan *p);
void plan_print_groups(const nn_graph *g, const nn_target_group_plan *gp, int layers);
/* "1234 B", "12.3 KiB", "1.23 MiB" into buf. */
char *plan_kib(uint64_t bytes, char *buf, size_t cap);

/* compile.c: runs PATH on the simulator when it is a compiled model file
   (magic "NNPORTNB"), writing DIR/output_<i>.npy; -1 when it is not one
   (the caller then treats it as ONNX).  struct cli_inputs is cli.h's. */
struct cli_inputs;
int cli_run_nnb(const char *path, const struct cli_inputs *in, const char *outdir);

#endif
