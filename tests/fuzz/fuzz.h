/*
 * tests/fuzz/fuzz.h — the libFuzzer entry points every fuzz_NAME.c target
 * defines (see CMakeLists.txt here): libFuzzer's own main calls them in a
 * `make fuzz` build, corpus_main.c does in the test builds.
 */
#ifndef AXLE_TESTS_FUZZ_H
#define AXLE_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* One input: must not crash, leak, or keep state that changes the next
 * input's outcome. Returns 0 (libFuzzer reserves other values). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Optional: once, before the first input. Returns 0. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

#endif
