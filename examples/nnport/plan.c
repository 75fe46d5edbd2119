/* nnport plan: how a model fits an NPU target - activation memory, layer
   groups and tiles, and a cycle estimate (nn_target.h).

   nnport plan MODEL.onnx --target npu-small|npu-large|mcu|TARGET.json
               [--shape NAME=DIMS]... [--dtype int8|model] [--timeline] [--layers]
               [--patches]

   The model is read, its shapes inferred (fix symbolic inputs with --shape)
   and simplified with the default passes (fold, identity, bn, dce) as a
   compiler would before planning.  --dtype int8 (default) plans every
   floating tensor as int8; model keeps each tensor's own type.

   A target file is a JSON object whose keys are the nn_target_desc fields:
       {"base": "npu-small", "name": "my-npu", "local_bytes": 524288,
        "cores": 1, "macs_s8": 512, "macs_s16": 256, "vector_elems": 32,
        "dma_bytes": 16, "clock_mhz": 800, "dtypes": ["int8", "int16", "int32"],
        "ops": ["Conv", "Add"], "cpu_cycles_per_elem": 8, "group_cycles": 256,
        "tile_cycles": 64, "layer_cycles": 16}
   Every key is optional ("base" starts from a preset); an unknown key or a
   value of the wrong kind exits 1 with a message naming the key. */
#include "cli.h"
#include "plan.h"
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>


static int plan_json_error(const char *path, const char *key, const char *what) {
    fprintf(stderr, "nnport: %s: key '%s': %s\n", path, key, what);
    return CLI_EXIT_FAIL;
}

/* A non-negative integer value below limit; 0 on failure. */
static int plan_json_uint(const cJSON *v, double limit, uint64_t *out) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > limit || v->valuedouble != (double)(uint64_t)v->valuedouble)
        return 0;
    *out = (uint64_t)v->valuedouble;
    return 1;
}

static int plan_dtype_from_name(const char *s, nn_dtype *out) {
    for (int t = 1; t < (int)NN_DTYPE_COUNT_; t++)
        if (strcmp(nn_dtype_name((nn_dtype)t), s) == 0) { *out = (nn_dtype)t; return 1; }
    return 0;
}

/* Reads a target file into tf; returns CLI_EXIT_OK or prints and returns 1. */
static int plan_load_target(const char *path, plan_target_file *tf) {
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "nnport: %s: cannot open the target file\n", path); return CLI_EXIT_FAIL; }
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > ((size_t)1 << 20)) { fclose(f); free(text); fprintf(stderr, "nnport: %s: target file above 1 MiB\n", path); return CLI_EXIT_FAIL; }
            char *t = (char *)realloc(text, cap);
            if (!t) { fclose(f); free(text); fprintf(stderr, "nnport: out of memory\n"); return CLI_EXIT_FAIL; }
            text = t;
        }
        size_t r = fread(text + len, 1, 4096, f);
        len += r;
        if (r < 4096) break;
    }
    fclose(f);
    text[len] = 0;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        fprintf(stderr, "nnport: %s: not a JSON object\n", path);
        return CLI_EXIT_FAIL;
    }
    int rc = CLI_EXIT_OK;
    nn_diag d;
    memset(&d, 0, sizeof d);
    memset(tf, 0, sizeof *tf);
    const cJSON *base = cJSON_GetObjectItemCaseSensitive(root, "base");
    if (base) {
        if (!cJSON_IsString(base) || nn_target_preset(base->valuestring, &tf->desc, &d)) {
            rc = plan_json_error(path, "base", "expected a preset name: npu-small, npu-large or mcu");
            goto done;
        }
    }
    for (const cJSON *it = root->child; it; it = it->next) {
        const char *k = it->string;
        uint64_t v;
        if (strcmp(k, "base") == 0) continue;
        if (strcmp(k, "name") == 0) {
            if (!cJSON_IsString(it)) { rc = plan_json_error(path, k, "expected a string"); goto done; }
            snprintf(tf->name, sizeof tf->name, "%s", it->valuestring);
            tf->desc.name = tf->name;
            continue;
        }
        if (strcmp(k, "dtypes") == 0) {
            uint32_t mask = 0;
            const cJSON *e;
            if (!cJSON_IsArray(it)) { rc = plan_json_error(path, k, "expected an array of dtype names like \"int8\""); goto done; }
            cJSON_ArrayForEach(e, it) {
                nn_dtype t;
                if (!cJSON_IsString(e) || !plan_dtype_from_name(e->valuestring, &t) || (int)t >= 32) {
                    rc = plan_json_error(path, k, "an entry is not a dtype name (int8, uint8, int16, int32, float16, float32, ...)");
                    goto done;
                }
                mask |= 1u << t;
            }
            tf->desc.dtypes = mask;
            continue;
        }
        if (strcmp(k, "ops") == 0) {
            const cJSON *e;
            size_t total = 1;
            if (!cJSON_IsArray(it)) { rc = plan_json_error(path, k, "expected an array of ONNX op types"); goto done; }
            cJSON_ArrayForEach(e, it) {
                if (!cJSON_IsString(e) || !e->valuestring[0] || strchr(e->valuestring, ',')) {
                    rc = plan_json_error(path, k, "an entry is not an op type");
                    goto done;
                }
                total += strlen(e->valuestring) + 1;
            }
            free(tf->ops);
            tf->ops = (char *)calloc(total, 1);
            if (!tf->ops) { rc = plan_json_error(path, k, "out of memory"); goto done; }
            cJSON_ArrayForEach(e, it) {
                if (tf->ops[0]) strcat(tf->ops, ",");
                strcat(tf->ops, e->valuestring);
            }
            tf->desc.ops = tf->ops;
            continue;
        }
        static const char *const u32_keys[] = {"cores", "macs_s8", "macs_s16", "vector_elems", "dma_bytes", "clock_mhz",
                                               "cpu_cycles_per_elem", "group_cycles", "tile_cycles", "layer_cycles"};
        uint32_t *u32_fields[] = {&tf->desc.cores, &tf->desc.macs_s8, &tf->desc.macs_s16, &tf->desc.vector_elems,
                                  &tf->desc.dma_bytes, &tf->desc.clock_mhz, &tf->desc.cpu_cycles_per_elem,
                                  &tf->desc.group_cycles, &tf->desc.tile_cycles, &tf->desc.layer_cycles};
        if (strcmp(k, "local_bytes") == 0) {
            if (!plan_json_uint(it, 1099511627776.0, &v)) { rc = plan_json_error(path, k, "expected an integer byte count up to 1 TiB"); goto done; }
            tf->desc.local_bytes = v;
            continue;
        }
        size_t i;
        for (i = 0; i < sizeof u32_keys / sizeof u32_keys[0]; i++)
            if (strcmp(k, u32_keys[i]) == 0) break;
        if (i == sizeof u32_keys / sizeof u32_keys[0]) { rc = plan_json_error(path, k, "not a target field (see nnport plan --help)"); goto done; }
        if (!plan_json_uint(it, 4294967295.0, &v)) { rc = plan_json_error(path, k, "expected a non-negative integer"); goto done; }
        *u32_fields[i] = (uint32_t)v;
    }
    if (nn_target_validate(&tf->desc, &d)) {
        /* the diag names "nn_target_desc.<field>": the field is the key */
        const char *dot = strchr(d.where, '.');
        rc = plan_json_error(path, dot ? dot + 1 : d.where, d.message);
    }
done:
    cJSON_Delete(root);
    return rc;
}

char *plan_kib(uint64_t bytes, char *buf, size_t cap) {
    if (bytes < 10240) snprintf(buf, cap, "%llu B", (unsigned long long)bytes);
    else if (bytes < ((uint64_t)10 << 20)) snprintf(buf, cap, "%.1f KiB", (double)bytes / 1024.0);
    else snprintf(buf, cap, "%.2f MiB", (double)bytes / 1048576.0);
    return buf;
}

void plan_print_memory(const nn_target_memory_plan *p) {
    char a[32], b[32];
    printf("\nactivation memory (one arena; bytes as planned)\n");
    printf("  %-38s %14s %12s\n", "plan", "bytes", "");
    printf("  %-38s %14llu %12s\n", "no reuse", (unsigned long long)p->no_reuse_bytes, plan_kib(p->no_reuse_bytes, a, sizeof a));
    printf("  %-38s %14llu %12s\n", "lower bound (topological order)", (unsigned long long)p->bound_bytes, plan_kib(p->bound_bytes, a, sizeof a));
    printf("  %-38s %14llu %12s\n", "greedy by size", (unsigned long long)p->greedy_size_bytes, plan_kib(p->greedy_size_bytes, a, sizeof a));
    printf("  %-38s %14llu %12s\n", "best fit (lifetime order)", (unsigned long long)p->best_fit_bytes, plan_kib(p->best_fit_bytes, a, sizeof a));
    printf("  %-38s %14llu %12s   (%s; its bound %s)\n", "ours (in place, views, concat, order)", (unsigned long long)p->arena_bytes,
           plan_kib(p->arena_bytes, a, sizeof a), p->method, plan_kib(p->ours_bound_bytes, b, sizeof b));
    printf("  shared storage: %u in place, %u views, %u concat slices; order: %s\n", p->inplace_count, p->view_count,
           p->slice_count, p->reordered ? "reordered (lower than topological)" : "topological");
    if (p->reorder_arena_bytes)
        printf("  reordering (best of memory-greedy and depth-first): arena %llu, bound %llu (%s)\n", (unsigned long long)p->reorder_arena_bytes,
               (unsigned long long)p->reorder_bound_bytes, p->reordered ? "kept" : "not lower: topological kept");
    printf("  weights region: %llu bytes (%s) in %u tensors, 64-byte aligned\n", (unsigned long long)p->weight_bytes,
           plan_kib(p->weight_bytes, a, sizeof a), p->weight_count);
}

void plan_print_groups(const nn_graph *g, const nn_target_group_plan *gp, int layers) {
    char a[32], w[32];
    const nn_target_desc *t = &gp->target;
    printf("\nlayer groups on %s (local memory %s per core, %u core%s, %u int8 MACs/cycle, %u MHz)\n", t->name,
           plan_kib(t->local_bytes, a, sizeof a), t->cores, t->cores > 1 ? "s" : "", t->macs_s8, t->clock_mhz);
    printf("%4s %-24s %3s %9s %11s %5s %10s %10s %10s %10s %10s %10s %8s\n", "grp", "first layer", "n", "rows", "channels",
           "tiles", "working", "dma bytes", "compute", "dma cyc", "overhead", "cycles", "split");
    for (uint32_t i = 0; i < gp->group_count; i++) {
        const nn_target_group *G = &gp->groups[i];
        const nn_node *n = &g->nodes[gp->layers[G->first_layer].node];
        char rows[24], ch[24];
        snprintf(rows, sizeof rows, "%u/%u", G->tile_rows, G->rows);
        snprintf(ch, sizeof ch, "%u/%u", G->tile_channels, G->channels);
        printf("%4u %-24.24s %3u %9s %11s %5u %10s %10llu %10llu %10llu %10llu %10llu %8s%s\n", i, n->name && n->name[0] ? n->name : n->op_type,
               G->layer_count, rows, ch, G->tiles, G->on_host ? "host" : plan_kib(G->working_bytes, w, sizeof w),
               (unsigned long long)G->dma_bytes, (unsigned long long)G->compute_cycles, (unsigned long long)G->dma_cycles,
               (unsigned long long)G->overhead_cycles, (unsigned long long)G->cycles, nn_target_split_name(G->split),
               G->fits ? "" : "  DOES NOT FIT");
        if (layers)
            for (uint32_t k = G->first_layer; k < G->first_layer + G->layer_count; k++) {
                const nn_node *m = &g->nodes[gp->layers[k].node];
                printf("       %-20.20s %-28.28s %12llu MACs %10llu cycles\n", m->op_type, m->name ? m->name : "",
                       (unsigned long long)gp->layers[k].macs, (unsigned long long)gp->layers[k].cycles);
            }
    }
    printf("\ntotal: %u groups, %u layers; largest working set %s; %u not fitting; %u on the host\n", gp->group_count,
           gp->layer_count, plan_kib(gp->max_working_bytes, a, sizeof a), gp->unfit_groups, gp->host_groups);
    printf("total: %llu MACs (halo recomputation included), %llu bytes moved to/from external memory\n",
           (unsigned long long)gp->macs, (unsigned long long)gp->dma_bytes);
    printf("total: %llu cycles = %.3f ms at %u MHz\n", (unsigned long long)gp->cycles, gp->latency_ms, t->clock_mhz);
}

int plan_resolve_target(const char *cmd, const char *target, plan_target_file *tf) {
    nn_diag d;
    memset(tf, 0, sizeof *tf);
    memset(&d, 0, sizeof d);
    if (nn_target_preset(target, &tf->desc, &d) != NN_OK) {
        size_t n = strlen(target);
        if (n < 5 || strcmp(target + n - 5, ".json") != 0)
            return cli_usage_error(cmd, "--target '%s' is not npu-small, npu-large, mcu or a .json file", target);
        int rc = plan_load_target(target, tf);
        if (rc) { free(tf->ops); tf->ops = NULL; return rc; }
    }
    return CLI_EXIT_OK;
}

/* Arena of the program nn_target_compile makes of g on t (0 on failure,
   reported). */
static uint64_t plan_compiled_arena(const nn_graph *g, const plan_target_file *tf, const cli_inputs *inputs, const char *what) {
    nn_target_compile_desc cd;
    nn_target_program *p = NULL;
    nn_diag d;
    uint64_t arena;
    memset(&cd, 0, sizeof cd);
    memset(&d, 0, sizeof d);
    cd.input_shapes = inputs->shapes;
    cd.input_shape_count = (uint32_t)inputs->shape_count;
    if (nn_target_compile(g, &tf->desc, &cd, &p, &d)) { cli_fail(what, &d); return 0; }
    arena = p->arena_bytes;
    nn_target_program_destroy(p);
    return arena;
}

/* --patches on a QDQ model: the banded program executed (nn_target_patchify,
   then nn_target_compile), next to the unbanded one, with the float input
   and with the input quantized by the caller.  mp: the plan of the model. */
static int plan_patches_executed(const char *in, const plan_target_file *tf, const cli_inputs *inputs,
                                 const nn_target_memory_plan *mp) {
    static const uint32_t flags[4] = {NN_TARGET_PATCHIFY_NO_BANDS, 0, NN_TARGET_PATCHIFY_NO_BANDS | NN_TARGET_PATCHIFY_QUANTIZED_INPUT,
                                      NN_TARGET_PATCHIFY_QUANTIZED_INPUT};
    static const char *const names[4] = {"unbanded, float input", "banded, float input", "unbanded, input quantized by the caller",
                                         "banded, input quantized by the caller"};
    uint64_t arena[4] = {0, 0, 0, 0};
    nn_target_patchify_report rep;
    nn_graph *q = NULL;
    nn_diag d;
    char a[32], b[32], c[32];
    memset(&d, 0, sizeof d);
    memset(&rep, 0, sizeof rep);
    if (cli_load_model(in, &q, &d)) return cli_fail(in, &d);
    for (int k = 0; k < 4; k++) {
        nn_target_patchify_desc pd;
        nn_target_patchify_report r;
        nn_graph *o = NULL;
        memset(&pd, 0, sizeof pd);
        pd.flags = flags[k];
        pd.input_shapes = inputs->shapes;
        pd.input_shape_count = (uint32_t)inputs->shape_count;
        nn_status st = nn_target_patchify(q, &pd, &o, &r, &d);
        if (st == NN_ERR_UNSUPPORTED) {
            /* the planned prefix holds an op the rewrite cannot band */
            printf("\n  patches not applied: %s: %s\n", d.where, d.message);
            memset(&d, 0, sizeof d);
            pd.flags |= NN_TARGET_PATCHIFY_NO_BANDS;
            st = nn_target_patchify(q, &pd, &o, &r, &d);
        }
        if (st) { nn_graph_destroy(q); return cli_fail(in, &d); }
        if (k == 1) rep = r;
        arena[k] = plan_compiled_arena(o, tf, inputs, in);
        nn_graph_destroy(o);
        if (!arena[k]) { nn_graph_destroy(q); return CLI_EXIT_FAIL; }
    }
    nn_graph_destroy(q);
    const nn_target_patch_plan *pp = &rep.plan;
    printf("\npatch-based prefix, planned on the graph without Q/DQ (at most %.1fx the prefix MACs)\n", 1.5);
    if (!rep.bands) {
        printf("  no row-streamable prefix lowers the peak below the whole-tensor arena\n");
    } else {
        printf("  cut %s, %u bands of %u rows; planned peak %s = %.3f of the lower bound (banded stage %s, rest %s)\n", rep.cut,
               rep.bands, rep.band_rows, plan_kib(pp->peak_bytes, a, sizeof a), (double)pp->peak_bytes / (double)pp->bound_bytes,
               plan_kib(pp->stage_bytes, b, sizeof b), plan_kib(pp->rest_bytes, c, sizeof c));
        printf("  executed: %u prefix nodes -> %u banded nodes (%u Slice, 1 Concat); prefix MACs %llu -> %llu (%.3fx)\n",
               rep.prefix_nodes, rep.banded_nodes, rep.slices, (unsigned long long)rep.prefix_macs,
               (unsigned long long)rep.banded_macs, rep.prefix_macs ? (double)rep.banded_macs / (double)rep.prefix_macs : 1.0);
    }
    printf("\ncompiled programs on %s: the arena nn_target_compile plans (tensors at their own types)\n",
           nn_target_desc_defaults(&tf->desc).name);
    printf("  %-42s %14s %12s %9s\n", "program", "arena bytes", "", "/ bound");
    for (int k = 0; k < 4; k++)
        printf("  %-42s %14llu %12s %9.3f\n", names[k], (unsigned long long)arena[k], plan_kib(arena[k], a, sizeof a),
               (double)arena[k] / (double)mp->bound_bytes);
    printf("  summary (this QDQ graph planned as int8): no reuse %llu, bound %llu, greedy %llu, ours %llu, banded executed %llu (%.3f of the bound; "
           "%llu = %.3f with the float input)\n",
           (unsigned long long)mp->no_reuse_bytes, (unsigned long long)mp->bound_bytes, (unsigned long long)mp->greedy_size_bytes,
           (unsigned long long)mp->arena_bytes, (unsigned long long)arena[3], (double)arena[3] / (double)mp->bound_bytes,
           (unsigned long long)arena[1], (double)arena[1] / (double)mp->bound_bytes);
    return CLI_EXIT_OK;
}

int cmd_plan(int argc, char **argv) {
    const char *in = NULL, *target = NULL;
    int timeline = 0, layers = 0, patches = 0;
    nn_target_bytes_rule rule = NN_TARGET_BYTES_INT8;
    cli_inputs inputs;
    memset(&inputs, 0, sizeof inputs);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            printf("usage: nnport plan MODEL.onnx --target npu-small|npu-large|mcu|TARGET.json\n"
                   "                    [--shape NAME=DIMS]... [--dtype int8|model] [--timeline] [--layers]\n"
                   "                    [--patches]\n"
                   "  --target    a preset or a JSON file of nn_target_desc fields (\"base\" picks a preset\n"
                   "              to start from): local_bytes cores macs_s8 macs_s16 vector_elems dma_bytes\n"
                   "              clock_mhz dtypes ops cpu_cycles_per_elem group_cycles tile_cycles layer_cycles\n"
                   "  --shape     fix an input's shape (planning needs static shapes)\n"
                   "  --dtype     int8 (default): floating tensors as int8; model: each tensor's own type\n"
                   "  --timeline  print every activation buffer: offset, bytes, lifetime\n"
                   "  --layers    print the layers of every group with their MACs and cycles\n"
                   "  --patches   also plan the leading layers in bands of rows (MCUNetV2-style patches);\n"
                   "              on a QDQ model, also compile them banded (nn_target_patchify) and print the\n"
                   "              arenas of the banded and unbanded programs\n");
            return CLI_EXIT_OK;
        }
        int r = cli_take_input_option("plan", argc, argv, &i, &inputs);
        if (r < 0) return CLI_EXIT_USAGE;
        if (r > 0) continue;
        if (strcmp(argv[i], "--target") == 0 && i + 1 < argc) { target = argv[++i]; continue; }
        if (strcmp(argv[i], "--timeline") == 0) { timeline = 1; continue; }
        if (strcmp(argv[i], "--layers") == 0) { layers = 1; continue; }
        if (strcmp(argv[i], "--patches") == 0) { patches = 1; continue; }
        if (strcmp(argv[i], "--dtype") == 0 && i + 1 < argc) {
            const char *v = argv[++i];
            if (strcmp(v, "int8") == 0) rule = NN_TARGET_BYTES_INT8;
            else if (strcmp(v, "model") == 0) rule = NN_TARGET_BYTES_DTYPE;
            else return cli_usage_error("plan", "--dtype takes int8 or model, got '%s'", v);
            continue;
        }
        if (argv[i][0] == '-') return cli_usage_error("plan", "unknown option '%s' (or missing value)", argv[i]);
        if (in) return cli_usage_error("plan", "one model at a time");
        in = argv[i];
    }
    if (!in) return cli_usage_error("plan", "give MODEL.onnx");
    if (!target) return cli_usage_error("plan", "give --target npu-small, npu-large, mcu or a TARGET.json");
    if (inputs.count) return cli_usage_error("plan", "--input is not used by plan (only --shape)");

    plan_target_file tf;
    nn_diag d;
    memset(&d, 0, sizeof d);
    {
        int trc = plan_resolve_target("plan", target, &tf);
        if (trc) return trc;
    }

    nn_graph *g;
    if (cli_load_model(in, &g, &d)) { free(tf.ops); return cli_fail(in, &d); }
    int rc = CLI_EXIT_FAIL;
    int is_qdq = nn_quant_graph_is_qdq(g);
    nn_target_memory_plan mp;
    nn_target_group_plan gp;
    memset(&mp, 0, sizeof mp);
    memset(&gp, 0, sizeof gp);
    nn_pass_stats ps;
    if (nn_graph_infer_shapes(g, inputs.shapes, (uint32_t)inputs.shape_count, &d) ||
        nn_graph_run_passes(g, "fold,identity,bn,dce", NULL, &ps, &d)) {
        cli_fail(in, &d);
        goto done;
    }
    printf("model: %s (%u nodes after fold,identity,bn,dce)\n", in, g->node_count);
    printf("target: %s; activations planned as %s\n", nn_target_desc_defaults(&tf.desc).name,
           rule == NN_TARGET_BYTES_INT8 ? "int8" : "the model's types");
    nn_target_memory_desc md;
    memset(&md, 0, sizeof md);
    md.bytes_rule = rule;
    if (nn_target_plan_memory(g, &md, &mp, &d)) {
        cli_fail(in, &d);
        if (d.status == NN_ERR_SHAPE)
            fprintf(stderr, "nnport plan: give the inputs fixed shapes with --shape NAME=DIMS (e.g. --shape %s=1x3x640x640)\n",
                    g->input_count ? g->tensors[g->inputs[0].id].name : "x");
        goto done;
    }
    if (nn_target_plan_check(&mp, 16, &d)) { cli_fail("memory plan (internal error)", &d); goto done; }
    plan_print_memory(&mp);
    if (timeline) {
        size_t need = nn_target_memory_timeline(g, &mp, NULL, 0);
        char *text = (char *)malloc(need);
        if (text) {
            nn_target_memory_timeline(g, &mp, text, need);
            printf("\n%s", text);
            free(text);
        }
    }
    if (patches && is_qdq) {
        if (plan_patches_executed(in, &tf, &inputs, &mp) != CLI_EXIT_OK) goto done;
    } else if (patches) {
        nn_target_patch_desc pd;
        nn_target_patch_plan pp;
        char a[32], b[32], c[32], e[32], f[32];
        memset(&pd, 0, sizeof pd);
        pd.memory = md;
        if (nn_target_plan_patches(g, &pd, &pp, &d)) { cli_fail(in, &d); goto done; }
        printf("\npatch-based prefix (bands of rows, halos recomputed, at most %.1fx the prefix MACs)\n", 1.5);
        if (!pp.prefix_steps) {
            printf("  no row-streamable prefix lowers the peak below the whole-tensor arena\n");
        } else {
            printf("  prefix: steps 0-%u, cut tensor %s, %u bands of %u rows, %.3fx MACs in the prefix\n",
                   pp.prefix_steps - 1, g->tensors[pp.cut.id].name, pp.bands, pp.band_rows, pp.recompute);
            printf("  banded stage %s, rest of the network %s: peak %s = %.3f of the lower bound (%s), %.3f of the arena (%s)\n",
                   plan_kib(pp.stage_bytes, a, sizeof a), plan_kib(pp.rest_bytes, b, sizeof b), plan_kib(pp.peak_bytes, c, sizeof c),
                   (double)pp.peak_bytes / (double)pp.bound_bytes, plan_kib(pp.bound_bytes, e, sizeof e),
                   (double)pp.peak_bytes / (double)pp.arena_bytes, plan_kib(pp.arena_bytes, f, sizeof f));
        }
        printf("  (executed figures: give the QDQ model, nnport quantize MODEL ... -o QDQ.onnx; nnport plan QDQ.onnx --patches)\n");
    }
    nn_target_group_desc gd;
    memset(&gd, 0, sizeof gd);
    gd.bytes_rule = rule;
    gd.order = mp.order;
    gd.order_count = mp.step_count;
    if (nn_target_plan_groups(g, &tf.desc, &gd, &gp, &d)) { cli_fail(in, &d); goto done; }
    plan_print_groups(g, &gp, layers);
    rc = CLI_EXIT_OK;
done:
    nn_target_group_plan_deinit(&gp);
    nn_target_memory_plan_deinit(&mp);
    nn_graph_destroy(g);
    free(tf.ops);
    return rc;
}
