/* fuzz_config.c - libFuzzer harness for `nnport build`'s config validation
   (examples/nnport/config.c: the strict validator, the command-line
   overrides and the defaults, over cJSON from Debian).

   build: clang -g -O1 -fsanitize=fuzzer,address,undefined -I. -I/usr/include/stb \
              tests/fuzz/fuzz_config.c -o build/fuzz_config -lcjson -lm
   run:   build/fuzz_config tests/fuzz/corpus_config

   The input is JSON text, then optionally a NUL, a dotted key path, a NUL
   and a value (one `--PATH VALUE` override).  The text is parsed; a
   document that parses is validated; a valid one gets the override, is
   validated again when the override was accepted (an accepted override
   must leave a valid config), then gets the defaults and is printed.
   Every refusal must come with a message.  Crashes, leaks, sanitizer
   reports or a broken invariant are bugs. */
#include "../../examples/nnport/config.c"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = (char *)malloc(size + 2), err[512];
    const char *json, *path = NULL, *value = NULL;
    size_t jlen;
    cJSON *root;
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = buf[size + 1] = 0;
    json = buf;
    jlen = strlen(json);
    if (jlen < size) { /* "JSON\0PATH\0VALUE" */
        path = buf + jlen + 1;
        if (strlen(path) + jlen + 1 < size) value = path + strlen(path) + 1;
    }
    root = cJSON_ParseWithLength(json, jlen);
    if (root) {
        err[0] = 0;
        if (cfg_validate(root, err, sizeof err)) {
            if (path && value) {
                err[0] = 0;
                if (cfg_override(root, path, value, err, sizeof err)) {
                    err[0] = 0;
                    if (!cfg_validate(root, err, sizeof err)) __builtin_trap(); /* an accepted override broke it */
                } else if (!err[0]) __builtin_trap();
            }
            cfg_fill_defaults(root);
            {
                char *text = cJSON_PrintUnformatted(root);
                free(text);
            }
        } else if (!err[0]) __builtin_trap();
        cJSON_Delete(root);
    }
    free(buf);
    return 0;
}
