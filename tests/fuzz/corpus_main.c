/*
 * tests/fuzz/corpus_main.c — a libFuzzer target's main without libFuzzer.
 *
 *   fuzz_NAME PATH...
 *
 * Each PATH is a file, or a directory whose regular files are all read
 * (sorted by name, not recursively). Calls the target's
 * LLVMFuzzerInitialize when it has one, then LLVMFuzzerTestOneInput once
 * on the empty input and once on each file's bytes, each in a buffer of
 * exactly that size so ASan sees a read past its end. This is how the test
 * builds (plain and sanitized, gcc) replay every corpus: a target's bug
 * aborts or trips a sanitizer here as it would under libFuzzer.
 *
 * Exit status: 0 when every input ran; 1 when a path cannot be read or a
 * directory holds no input (a missing corpus must not pass unnoticed);
 * 2 on a usage error.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Targets need not define it. */
#pragma weak LLVMFuzzerInitialize

static const char *prog;

/* Runs the target on the contents of path. Returns 0, or -1 (reported). */
static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "%s: %s: not a regular file\n", prog, path);
        fclose(f);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf || fread(buf, 1, size, f) != size) {
        fprintf(stderr, "%s: %s: cannot read\n", prog, path);
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, size);
    free(buf);
    return 0;
}

static int regular(const struct dirent *e)
{
    return e->d_type == DT_REG || e->d_type == DT_UNKNOWN;
}

/* Runs every file of dir; *count grows by the inputs run. Returns 0 or -1. */
static int run_dir(const char *dir, int *count)
{
    struct dirent **names;
    int n = scandir(dir, &names, regular, alphasort);
    if (n < 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, dir, strerror(errno));
        return -1;
    }
    int rc = n ? 0 : -1;
    if (!n)
        fprintf(stderr, "%s: %s: no inputs\n", prog, dir);
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        if (run_file(path) < 0)
            rc = -1;
        else
            (*count)++;
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE_OR_DIR...\n", prog);
        return 2;
    }
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);

    static const uint8_t none[1];
    LLVMFuzzerTestOneInput(none, 0);
    int count = 1, status = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            if (run_dir(argv[i], &count) < 0)
                status = 1;
        } else if (run_file(argv[i]) < 0) {
            status = 1;
        } else {
            count++;
        }
    }
    printf("%s: %d inputs%s\n", prog, count, status ? ", some paths unreadable" : "");
    return status;
}
