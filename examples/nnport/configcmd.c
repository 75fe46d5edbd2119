/* nnport config: check a `nnport build` configuration without running it,
   print it resolved (defaults filled, overrides applied), or print the
   reference table of every key (the README's table is this output). */
#include "cli.h"
#include "config.h"
#include <stdlib.h>
#include <string.h>

static void config_help(void) {
    printf("usage: nnport config check CFG.json [--KEY.PATH VALUE]...   validate, print the resolved config\n"
           "       nnport config reference                               every key, as a Markdown table\n"
           "  overrides use the key's dotted path: --quant.calibration_method KL --compile.batch_sizes 1,2,4\n");
}

/* Reads and parses a JSON file; NULL after printing an error naming it. */
cJSON *cli_load_json(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "nnport: %s: cannot open\n", path); return NULL; }
    size_t cap = 1 << 20, n = 0;
    char *buf = (char *)malloc(cap + 1);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) n += got;
    int too_big = buf && n == cap && fgetc(f) != EOF;
    fclose(f);
    if (!buf || too_big) { free(buf); fprintf(stderr, "nnport: %s: larger than 1 MiB, not a config\n", path); return NULL; }
    buf[n] = 0;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf, n, &end, 0);
    if (!root) {
        size_t off = end ? (size_t)(end - buf) : 0, line = 1;
        for (size_t i = 0; i < off && i < n; i++) line += buf[i] == '\n';
        fprintf(stderr, "nnport: %s: line %zu: not valid JSON\n", path, line);
    }
    free(buf);
    return root;
}

/* Applies the --key.path VALUE pairs of argv[from..argc); CLI exit code. */
int cli_apply_overrides(const char *cmd, cJSON *root, int argc, char **argv, int from) {
    char err[512];
    for (int i = from; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) != 0 || !strchr(argv[i], '.'))
            return cli_usage_error(cmd, "unexpected argument '%s'", argv[i]);
        if (i + 1 >= argc) return cli_usage_error(cmd, "%s needs a value", argv[i]);
        if (!cfg_override(root, argv[i] + 2, argv[i + 1], err, sizeof err)) {
            fprintf(stderr, "nnport %s: %s\n", cmd, err);
            return CLI_EXIT_USAGE;
        }
        i++;
    }
    return CLI_EXIT_OK;
}

int cmd_config(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help")) { config_help(); return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK; }
    if (!strcmp(argv[1], "reference")) { cfg_print_reference(stdout); return CLI_EXIT_OK; }
    if (strcmp(argv[1], "check") != 0 || argc < 3) return cli_usage_error("config", "give 'check CFG.json' or 'reference'");
    cJSON *root = cli_load_json(argv[2]);
    if (!root) return CLI_EXIT_FAIL;
    char err[512];
    int rc = CLI_EXIT_OK;
    if (!cfg_validate(root, err, sizeof err)) {
        fprintf(stderr, "nnport: %s: %s\n", argv[2], err);
        rc = CLI_EXIT_FAIL;
    }
    if (rc == CLI_EXIT_OK) rc = cli_apply_overrides("config", root, argc, argv, 3);
    if (rc == CLI_EXIT_OK) {
        cfg_fill_defaults(root);
        char *text = cJSON_Print(root);
        if (text) puts(text);
        free(text);
    }
    cJSON_Delete(root);
    return rc;
}
