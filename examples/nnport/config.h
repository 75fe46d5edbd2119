/* config.h - the declarative configuration of `nnport build`: one table of
   keys (dotted path, type, default, allowed values, help) that the strict
   validator, the command-line overrides (--quant.activation s16) and the
   README's reference table are all generated from, so they cannot drift.

   A config is a JSON object.  Every key must be in the table; "*" in a path
   stands for a map key chosen by the user (an input name) and "[]" for the
   elements of an array of objects.  An unknown key is an error that names
   it and suggests the nearest valid key. */
#ifndef NNPORT_CONFIG_H
#define NNPORT_CONFIG_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>

typedef enum cfg_type {
    CFG_BOOL = 1,
    CFG_INT,
    CFG_NUMBER,
    CFG_STRING,   /* free text (a path, a name) */
    CFG_ENUM,     /* one of the '|'-separated choices */
    CFG_INTS,     /* array of integers */
    CFG_NUMBERS,  /* array of numbers */
    CFG_STRINGS,  /* array of strings */
    CFG_OBJECTS   /* array of objects, whose keys are "<path>[].<key>" rows */
} cfg_type;

typedef struct cfg_key {
    const char *path;     /* "quant.activation", "model.input_shapes.*", "quant.overrides[].layer" */
    cfg_type type;
    const char *def;      /* default as JSON text, or NULL for "no default (optional)" */
    const char *choices;  /* CFG_ENUM: "s8sym|u8asym|s16"; otherwise NULL */
    double min, max;      /* numeric range (ints and numbers, and array elements); min > max: none */
    const char *help;
} cfg_key;

/* The table (NULL path ends it). */
const cfg_key *cfg_keys(void);

/* Validates root against the table.  On the first error writes a message
   naming the key (and the nearest valid key for an unknown one) into err
   and returns 0. */
int cfg_validate(const cJSON *root, char *err, size_t err_cap);

/* Applies "--a.b.c VALUE" to root (creating objects on the way); VALUE is
   parsed by the key's type: arrays are comma-separated ("1,3,224,224"),
   booleans true/false/1/0.  0 with a message naming the key on error. */
int cfg_override(cJSON *root, const char *path, const char *value, char *err, size_t err_cap);

/* Fills every key that has a default and is absent (not inside "*" maps or
   "[]" arrays), so the resolved config written next to the outputs shows
   every choice that was made. */
void cfg_fill_defaults(cJSON *root);

/* Looks a dotted path up in root ("quant.activation"); NULL when absent. */
const cJSON *cfg_get(const cJSON *root, const char *path);

/* The reference table in Markdown (one row per key), for README. */
void cfg_print_reference(FILE *f);

/* CLI helpers (configcmd.c): read a JSON file (NULL after printing an error
   with the line), apply "--key.path VALUE" pairs from argv[from..argc). */
cJSON *cli_load_json(const char *path);
int cli_apply_overrides(const char *cmd, cJSON *root, int argc, char **argv, int from);
/* report.c: the self-contained HTML page for a build record, written via
   path.part and renamed; 1 on success (errors printed). */
int cli_write_report(const cJSON *record, const char *path);

#endif
