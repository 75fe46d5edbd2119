/* config.c - the `nnport build` configuration table and its strict
   validator, overrides, defaults and reference printer (see config.h). */
#define _POSIX_C_SOURCE 200809L /* strtok_r, strncasecmp */
#include "config.h"
#include <strings.h>
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NOLIM 1, 0 /* min > max: no range */

/* One row per key.  The order is the README's order. */
static const cfg_key cfg__table[] = {
    {"model.input_shapes.*", CFG_INTS, NULL, NULL, 1, 1e9, "fixed shape of the named input, e.g. [1,3,640,640]"},

    {"optimize.template", CFG_ENUM, "\"cv\"", "cv|lvm|llm|none", NOLIM, "pass list for the model kind (docs/OPTIMIZATION.md)"},
    {"optimize.passes", CFG_STRING, NULL, NULL, NOLIM, "explicit pass list \"fold,identity,bn,dce\" instead of the template"},
    {"optimize.tolerance", CFG_NUMBERS, "[0.999999, 1e-05]", NULL, 0, 1, "gate after optimize: [min cosine, max abs error / peak]"},

    {"preprocess.resize", CFG_INTS, NULL, NULL, 1, 65536, "resize images to [H, W] (bilinear, half-pixel centres)"},
    {"preprocess.crop", CFG_INTS, NULL, NULL, 1, 65536, "centre crop [H, W] after the resize"},
    {"preprocess.keep_ratio", CFG_BOOL, "false", NULL, NOLIM, "keep the aspect ratio when resizing; pad the rest"},
    {"preprocess.pad_value", CFG_NUMBER, "0", NULL, -1e9, 1e9, "value of the padding (in pixel units, before mean/std)"},
    {"preprocess.mean", CFG_NUMBERS, "[0, 0, 0]", NULL, -1e9, 1e9, "per-channel mean subtracted (pixel units 0..255)"},
    {"preprocess.std", CFG_NUMBERS, "[1, 1, 1]", NULL, 1e-12, 1e9, "per-channel divisor applied after the mean"},
    {"preprocess.color", CFG_ENUM, "\"rgb\"", "rgb|bgr", NOLIM, "channel order the model expects"},
    {"preprocess.layout", CFG_ENUM, "\"nchw\"", "nchw|nhwc", NOLIM, "tensor layout the model expects"},

    {"quant.calibration_data", CFG_STRING, NULL, NULL, NOLIM, "folder of images or .npy/.npz/.bin samples"},
    {"quant.calibration_inputs.*", CFG_STRING, NULL, NULL, NOLIM, "folder for the named input (multi-input models)"},
    {"quant.eval_data", CFG_STRING, NULL, NULL, NOLIM, "folder of evaluation samples for the stage comparisons (default: calibration_data)"},
    {"quant.calibration_samples", CFG_INT, "32", NULL, 1, 100000, "samples used for calibration"},
    {"quant.calibration_method", CFG_ENUM, "\"Percentile\"", "MinMax|Percentile|MSE|KL|ACIQ_Gauss|ACIQ_Laplace|OCTAV|Auto", NOLIM,
     "threshold rule (docs/CALIBRATION.md); Auto picks per tensor"},
    {"quant.percentile", CFG_NUMBER, "99.99", NULL, 50, 100, "percentile for the Percentile method"},
    {"quant.bins", CFG_INT, "2048", NULL, 16, 1048576, "histogram bins per tensor"},
    {"quant.check_calibration", CFG_BOOL, "true", NULL, NOLIM, "check the calibration set first (count, NaN, duplicates, channel order)"},
    {"quant.activation", CFG_ENUM, "\"s8sym\"", "s8sym|u8asym|s16", NOLIM, "activation scheme: int8 symmetric, uint8 asymmetric, int16"},
    {"quant.weight", CFG_ENUM, "\"int8\"", "int8|int4", NOLIM, "weight type (symmetric, per output channel)"},
    {"quant.weight_group", CFG_INT, "0", NULL, 0, 65536, "int4: group size along the input axis (0: per channel)"},
    {"quant.weight_rounding", CFG_ENUM, "\"nearest\"", "nearest|sum", NOLIM, "sum: Conv kernels keep each channel pair's tap sum"},
    {"quant.preact16", CFG_BOOL, "false", NULL, NOLIM,
     "a Conv/Gemm/MatMul output read only by nonlinear activations gets int16 (docs/QUANTIZATION.md 6q)"},
    {"quant.float_dtype", CFG_ENUM, "\"f32\"", "f32|f16|bf16", NOLIM, "type of the fp_forward layers (TPU-MLIR's fp_type)"},
    {"quant.overrides", CFG_OBJECTS, NULL, NULL, NOLIM, "precision rules; priority layer > op_type > range"},
    {"quant.overrides[].layer", CFG_STRING, NULL, NULL, NOLIM, "rule: this layer (original ONNX node name)"},
    {"quant.overrides[].op_type", CFG_STRING, NULL, NULL, NOLIM, "rule: every node of this op type"},
    {"quant.overrides[].start", CFG_STRING, NULL, NULL, NOLIM, "rule: subgraph from this tensor ..."},
    {"quant.overrides[].end", CFG_STRING, NULL, NULL, NOLIM, "... to this tensor"},
    {"quant.overrides[].dtype", CFG_ENUM, NULL, "int8|uint8|int16|int4|f16|bf16|f32", NOLIM, "the type the rule assigns"},
    {"quant.fpfwd_inputs", CFG_STRINGS, NULL, NULL, NOLIM, "TPU-MLIR fp_forward: float from the inputs up to these layers"},
    {"quant.fpfwd_outputs", CFG_STRINGS, NULL, NULL, NOLIM, "TPU-MLIR fp_forward: float from these layers to the outputs"},
    {"quant.fpfwd_blocks", CFG_STRINGS, NULL, NULL, NOLIM, "TPU-MLIR fp_forward: \"start:end\" blocks kept in float"},
    {"quant.cle", CFG_BOOL, "false", NULL, NOLIM, "cross-layer weight equalization"},
    {"quant.bias_correction", CFG_BOOL, "false", NULL, NOLIM, "empirical bias correction"},
    {"quant.bc_inference_num", CFG_INT, "16", NULL, 1, 100000, "samples for bias correction"},
    {"quant.min_layer_cos", CFG_NUMBER, "0.99", NULL, 0, 1, "bias-correct only layers whose cosine is below this"},
    {"quant.bc_mode", CFG_ENUM, "\"local\"", "local|total|sequential", NOLIM,
     "bias correction: local (weight rounding), sequential (whole mean shift, layer by layer)"},
    {"quant.bc_rounds", CFG_INT, "1", NULL, 1, 100, "bias correction rounds (sweeps)"},
    {"quant.smooth_quant", CFG_BOOL, "false", NULL, NOLIM, "SmoothQuant before calibration"},
    {"quant.smooth_quant_alpha", CFG_NUMBER, "0.5", NULL, 0, 1, "SmoothQuant migration strength"},
    {"quant.softmax_bias_correction", CFG_BOOL, "false", NULL, NOLIM, "measure the row-sum bias of quantized Softmax outputs (reported)"},
    {"quant.adaround", CFG_BOOL, "false", NULL, NOLIM, "learn weight rounding on the calibration set"},
    {"quant.adaround_iters", CFG_INT, "500", NULL, 1, 1000000, "AdaRound iterations per layer"},
    {"quant.adaround_mode", CFG_ENUM, "\"local\"", "local|sequential", NOLIM,
     "AdaRound input: local (float input, fake-quantized), sequential (the QDQ model's, layer by layer)"},
    {"quant.tolerance", CFG_NUMBERS, "[0.99]", NULL, 0, 1, "gate after quantize: [min cosine]"},

    {"search.enable", CFG_BOOL, "false", NULL, NOLIM, "mixed-precision search"},
    {"search.expected_cos", CFG_NUMBER, "0.99", NULL, 0, 1, "stop promoting layers once the output cosine reaches this"},
    {"search.max_float_layers", CFG_INT, "8", NULL, 0, 100000, "most layers the search may promote"},
    {"search.block_layers", CFG_INT, "0", NULL, 0, 100000, "then runs of this many consecutive layers (0: single layers only)"},
    {"search.promote_to", CFG_ENUM, "\"int16\"", "int16|f16|bf16|f32", NOLIM, "type a promoted layer gets"},

    {"target.preset", CFG_ENUM, "\"npu-small\"", "npu-small|npu-large|mcu", NOLIM, "virtual NPU (docs/TARGET.md)"},
    {"target.file", CFG_STRING, NULL, NULL, NOLIM, "target description JSON instead of a preset"},
    {"compile.batch_sizes", CFG_INTS, "[1]", NULL, 1, 4096, "batch programs in the binary model"},
    {"compile.max_batch", CFG_INT, NULL, NULL, 1, 4096, "let the compiler pick batch programs up to this"},
    {"compile.emit_c", CFG_BOOL, "false", NULL, NOLIM, "also write a C source/header pair for MCUs"},
    {"compile.input_format", CFG_ENUM, "\"model\"", "model|nv12|nv21", NOLIM, "input the compiled model takes; nv12/nv21 fold preprocess.mean/std/color in"},
    {"compile.input_range", CFG_ENUM, "\"full\"", "full|limited", NOLIM, "YUV range for nv12/nv21"},
    {"compile.check", CFG_ENUM, "\"none\"", "none|allclose|bitequal|cosine", NOLIM, "simulator vs quantized model after compile"},
    {"compile.check_rtol", CFG_NUMBER, "0", NULL, 0, 1e9, "allclose: relative tolerance"},
    {"compile.check_atol", CFG_NUMBER, "0", NULL, 0, 1e9, "allclose: absolute tolerance"},
    {"compile.check_cos", CFG_NUMBER, "0.999", NULL, 0, 1, "cosine: threshold"},
    {"compile.check_skip", CFG_STRINGS, NULL, NULL, NOLIM, "regexes of tensors the check skips"},
    {"compile.check_per_layer", CFG_BOOL, "false", NULL, NOLIM, "compile.check: every tensor both runs produce, not only the outputs"},

    {"output.report", CFG_BOOL, "true", NULL, NOLIM, "write OUT/report.html"},
    {"output.bundle", CFG_BOOL, "false", NULL, NOLIM, "write inputs and each stage's outputs in the ONNX test layout"},
    {NULL, 0, NULL, NULL, 0, 0, NULL}};

const cfg_key *cfg_keys(void) { return cfg__table; }

/* Does pattern (with "*" components) match path component by component?
   prefix_ok: also true when path is a proper prefix of pattern (an object
   on the way to a key). */
static int cfg__match(const char *pattern, const char *path, int prefix_ok) {
    for (;;) {
        const char *pe = strchr(pattern, '.'), *qe = strchr(path, '.');
        size_t pl = pe ? (size_t)(pe - pattern) : strlen(pattern), ql = qe ? (size_t)(qe - path) : strlen(path);
        /* "*" stands for one non-empty name (found by tests/fuzz/fuzz_config.c:
           "--model.input_shapes. ''" used to replace the whole map) */
        if (pl == 1 && pattern[0] == '*' ? ql == 0 : (pl != ql || memcmp(pattern, path, pl) != 0)) return 0;
        if (!qe) return !pe || prefix_ok;
        if (!pe) return 0;
        pattern = pe + 1;
        path = qe + 1;
    }
}

static const cfg_key *cfg__find(const char *path) {
    for (const cfg_key *k = cfg__table; k->path; k++)
        if (cfg__match(k->path, path, 0)) return k;
    return NULL;
}

static int cfg__is_object_path(const char *path) {
    for (const cfg_key *k = cfg__table; k->path; k++)
        if (cfg__match(k->path, path, 1) && !cfg__match(k->path, path, 0)) return 1;
    return 0;
}

/* Levenshtein distance, capped strings (keys are short). */
static size_t cfg__distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b), row[128];
    if (la > 127 || lb > 127) return (size_t)-1;
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j], best = diag + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[lb];
}

/* The valid key nearest to an unknown path. */
static const char *cfg__nearest(const char *path) {
    const char *best = NULL;
    size_t bd = (size_t)-1;
    for (const cfg_key *k = cfg__table; k->path; k++) {
        size_t d = cfg__distance(path, k->path);
        if (d < bd) { bd = d; best = k->path; }
    }
    return best;
}

static int cfg__choice_index(const char *choices, const char *v) {
    int idx = 0;
    for (const char *c = choices; *c; idx++) {
        const char *e = strchr(c, '|');
        size_t n = e ? (size_t)(e - c) : strlen(c);
        if (strlen(v) == n && strncasecmp(c, v, n) == 0) return idx;
        if (!e) break;
        c = e + 1;
    }
    return -1;
}

static int cfg__in_range(const cfg_key *k, double v) { return k->min > k->max || (v >= k->min && v <= k->max); }

#define CFG__ERR(...) (snprintf(err, cap, __VA_ARGS__), 0)

static int cfg__check_number(const cfg_key *k, const char *path, const cJSON *v, int want_int, char *err, size_t cap) {
    if (!cJSON_IsNumber(v)) return CFG__ERR("%s: expected a %s", path, want_int ? "whole number" : "number");
    if (want_int && (v->valuedouble != floor(v->valuedouble) || fabs(v->valuedouble) > 9e15))
        return CFG__ERR("%s: expected a whole number, got %g", path, v->valuedouble);
    if (!cfg__in_range(k, v->valuedouble))
        return CFG__ERR("%s: %g is outside [%g, %g]", path, v->valuedouble, k->min, k->max);
    return 1;
}

static int cfg__check_value(const cfg_key *k, const char *path, const cJSON *v, char *err, size_t cap) {
    switch (k->type) {
    case CFG_BOOL: return cJSON_IsBool(v) ? 1 : CFG__ERR("%s: expected true or false", path);
    case CFG_INT: return cfg__check_number(k, path, v, 1, err, cap);
    case CFG_NUMBER: return cfg__check_number(k, path, v, 0, err, cap);
    case CFG_STRING: return cJSON_IsString(v) ? 1 : CFG__ERR("%s: expected a string", path);
    case CFG_ENUM:
        if (!cJSON_IsString(v) || cfg__choice_index(k->choices, v->valuestring) < 0)
            return CFG__ERR("%s: expected one of %s%s%s%s", path, k->choices, cJSON_IsString(v) ? ", got \"" : "",
                            cJSON_IsString(v) ? v->valuestring : "", cJSON_IsString(v) ? "\"" : "");
        return 1;
    case CFG_INTS:
    case CFG_NUMBERS:
    case CFG_STRINGS: {
        if (!cJSON_IsArray(v)) return CFG__ERR("%s: expected an array", path);
        int i = 0;
        for (const cJSON *e = v->child; e; e = e->next, i++) {
            char ep[300];
            snprintf(ep, sizeof ep, "%s[%d]", path, i);
            if (k->type == CFG_STRINGS ? !cJSON_IsString(e) && CFG__ERR("%s: expected a string", ep)
                                       : !cfg__check_number(k, ep, e, k->type == CFG_INTS, err, cap))
                return 0;
        }
        return 1;
    }
    case CFG_OBJECTS: break; /* handled by the walker */
    }
    return 1;
}

static int cfg__walk(const cJSON *obj, const char *prefix, char *err, size_t cap) {
    if (!cJSON_IsObject(obj)) return CFG__ERR("%s: expected an object", *prefix ? prefix : "the config");
    for (const cJSON *c = obj->child; c; c = c->next) {
        char path[300];
        if (!c->string) return CFG__ERR("%s: member without a name", prefix);
        if (snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", c->string) >= (int)sizeof path)
            return CFG__ERR("%.60s...: key path too long", path);
        const cfg_key *k = cfg__find(path);
        if (k && k->type == CFG_OBJECTS) {
            if (!cJSON_IsArray(c)) return CFG__ERR("%s: expected an array of objects", path);
            char ep[310];
            snprintf(ep, sizeof ep, "%s[]", path);
            for (const cJSON *e = c->child; e; e = e->next)
                if (!cfg__walk(e, ep, err, cap)) return 0;
            continue;
        }
        if (k) {
            if (!cfg__check_value(k, path, c, err, cap)) return 0;
            continue;
        }
        if (cfg__is_object_path(path)) {
            if (!cfg__walk(c, path, err, cap)) return 0;
            continue;
        }
        const char *near = cfg__nearest(path);
        return CFG__ERR("unknown key \"%s\"%s%s%s", path, near ? " (did you mean \"" : "", near ? near : "", near ? "\"?)" : "");
    }
    return 1;
}

int cfg_validate(const cJSON *root, char *err, size_t err_cap) { return cfg__walk(root, "", err, err_cap); }

/* Parses one scalar of an override by type; NULL with err on failure. */
static cJSON *cfg__parse_scalar(cfg_type t, const char *path, const char *text, char *err, size_t cap) {
    char *end;
    switch (t) {
    case CFG_BOOL:
        if (!strcmp(text, "true") || !strcmp(text, "1")) return cJSON_CreateTrue();
        if (!strcmp(text, "false") || !strcmp(text, "0")) return cJSON_CreateFalse();
        snprintf(err, cap, "--%s: expected true or false, got '%s'", path, text);
        return NULL;
    case CFG_INT:
    case CFG_NUMBER:
    case CFG_INTS:
    case CFG_NUMBERS: {
        double v = strtod(text, &end);
        if (end == text || *end) { snprintf(err, cap, "--%s: expected a number, got '%s'", path, text); return NULL; }
        return cJSON_CreateNumber(v);
    }
    default: return cJSON_CreateString(text);
    }
}

int cfg_override(cJSON *root, const char *path, const char *value, char *err, size_t cap) {
    const cfg_key *k = cfg__find(path);
    if (!k || k->type == CFG_OBJECTS || strstr(path, "[]")) {
        const char *near = cfg__nearest(path);
        if (k) return CFG__ERR("--%s: arrays of objects are set in the config file, not on the command line", path);
        return CFG__ERR("unknown key \"%s\"%s%s%s", path, near ? " (did you mean \"" : "", near ? near : "", near ? "\"?)" : "");
    }
    cJSON *v;
    if (k->type == CFG_INTS || k->type == CFG_NUMBERS || k->type == CFG_STRINGS) {
        v = cJSON_CreateArray();
        char buf[1024];
        const char *sep = k->type == CFG_INTS ? ",x" : ","; /* shapes may be written 1x3x224x224 */
        snprintf(buf, sizeof buf, "%s", value);
        for (char *save = NULL, *tok = strtok_r(buf, sep, &save); tok; tok = strtok_r(NULL, sep, &save)) {
            cJSON *e = k->type == CFG_STRINGS ? cJSON_CreateString(tok) : cfg__parse_scalar(k->type, path, tok, err, cap);
            if (!e) { cJSON_Delete(v); return 0; }
            cJSON_AddItemToArray(v, e);
        }
    } else {
        v = cfg__parse_scalar(k->type, path, value, err, cap);
        if (!v) return 0;
    }
    char tmp[300];
    snprintf(tmp, sizeof tmp, "--%s", path);
    if (!cfg__check_value(k, tmp, v, err, cap)) { cJSON_Delete(v); return 0; }
    /* Walk/create the objects on the way, then replace the leaf. */
    char buf[300];
    snprintf(buf, sizeof buf, "%s", path);
    cJSON *obj = root;
    char *save = NULL, *part = strtok_r(buf, ".", &save);
    for (char *next; part && (next = strtok_r(NULL, ".", &save)) != NULL; part = next) {
        cJSON *child = cJSON_GetObjectItemCaseSensitive(obj, part);
        if (!child) child = cJSON_AddObjectToObject(obj, part);
        if (!cJSON_IsObject(child)) { cJSON_Delete(v); return CFG__ERR("--%s: '%s' is not an object in the config", path, part); }
        obj = child;
    }
    if (cJSON_GetObjectItemCaseSensitive(obj, part)) cJSON_ReplaceItemInObjectCaseSensitive(obj, part, v);
    else cJSON_AddItemToObject(obj, part, v);
    return 1;
}

void cfg_fill_defaults(cJSON *root) {
    for (const cfg_key *k = cfg__table; k->path; k++) {
        if (!k->def || strchr(k->path, '*') || strstr(k->path, "[]") || cfg_get(root, k->path)) continue;
        char buf[300];
        snprintf(buf, sizeof buf, "%s", k->path);
        cJSON *obj = root;
        char *save = NULL, *part = strtok_r(buf, ".", &save);
        for (char *next; part && (next = strtok_r(NULL, ".", &save)) != NULL; part = next) {
            cJSON *child = cJSON_GetObjectItemCaseSensitive(obj, part);
            if (!child) child = cJSON_AddObjectToObject(obj, part);
            obj = child;
        }
        cJSON *v = cJSON_Parse(k->def);
        if (v && obj && part) cJSON_AddItemToObject(obj, part, v);
        else cJSON_Delete(v);
    }
}

const cJSON *cfg_get(const cJSON *root, const char *path) {
    char buf[300];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *obj = root;
    char *save = NULL;
    for (char *part = strtok_r(buf, ".", &save); part && obj; part = strtok_r(NULL, ".", &save))
        obj = cJSON_GetObjectItemCaseSensitive(obj, part);
    return obj;
}

static const char *cfg__type_name(const cfg_key *k) {
    switch (k->type) {
    case CFG_BOOL: return "bool";
    case CFG_INT: return "int";
    case CFG_NUMBER: return "number";
    case CFG_STRING: return "string";
    case CFG_ENUM: return "choice";
    case CFG_INTS: return "ints";
    case CFG_NUMBERS: return "numbers";
    case CFG_STRINGS: return "strings";
    case CFG_OBJECTS: return "objects";
    }
    return "?";
}

void cfg_print_reference(FILE *f) {
    fprintf(f, "| key | type | default | values | meaning |\n|---|---|---|---|---|\n");
    for (const cfg_key *k = cfg__table; k->path; k++) {
        char range[64] = "";
        if (k->type == CFG_ENUM) snprintf(range, sizeof range, "%s", "");
        else if (k->min <= k->max) snprintf(range, sizeof range, "%g .. %g", k->min, k->max);
        fprintf(f, "| `%s` | %s | %s%s%s | ", k->path, cfg__type_name(k), k->def ? "`" : "", k->def ? k->def : "—",
                k->def ? "`" : "");
        if (k->type == CFG_ENUM) {
            for (const char *c = k->choices; *c; c++) fputs(*c == '|' ? ", " : (char[2]){*c, 0}, f);
        } else {
            fputs(range, f);
        }
        fprintf(f, " | %s |\n", k->help);
    }
}
