/*
 * tests/arch/switch_test.c — the context switch alone, for each architecture.
 *
 * Builds with core/fiber.c and the switch assembly only (no scheduler, no
 * io_uring), so it also runs under qemu-user for the architecture this
 * machine is not (run.sh cross-compiles it for aarch64 when a cross
 * compiler and qemu are installed).
 *
 * Two fibers and the main context pass control round-robin many times. Each
 * keeps values in locals that the compiler holds in callee-saved integer
 * and floating-point registers across the switch, so a register the switch
 * forgets to save shows up as a wrong sum. The FP rounding mode set in one
 * fiber must not leak into another.
 * Prints "N passed, N failed" and exits non-zero on any failure.
 */
#include "../../core/fiber.h"

#include <fenv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int axle__overflow_lookup(void *addr, const char **name, size_t *stack_size)
{
    (void)addr, (void)name, (void)stack_size;
    return 0;
}

enum { ROUNDS = 100000 };

static void *main_sp, *sp[2];
static int failures, passes;

static void check(int ok, const char *what)
{
    if (ok)
        passes++;
    else {
        failures++;
        fprintf(stderr, "FAILED: %s\n", what);
    }
}

static void yield_from(int i)
{
    if (i == 0)
        axle__ctx_switch(&sp[0], sp[1]);
    else
        axle__ctx_switch(&sp[1], main_sp);
}

/* One round of arithmetic on locals the compiler keeps in registers. */
#define STEP(a, b, c, d, e, f, x, y, z) \
    do {                                \
        a += b;                         \
        b ^= c;                         \
        c += d * 3;                     \
        d += e;                         \
        e ^= f << 1;                    \
        f += a;                         \
        x += y * z;                     \
        y = y * 0.5 + 1.0;              \
        z += 0.125;                     \
    } while (0)

static void fiber(void *arg)
{
    int i = (int)(intptr_t)arg;
    if (i == 1)
        fesetround(FE_DOWNWARD); /* per-context FP control state */
    uint64_t a = 1, b = 2, c = 3, d = 4, e = 5, f = 6;
    double x = 1.5, y = 2.5, z = 0.25;
    for (int r = 0; r < ROUNDS; r++) {
        STEP(a, b, c, d, e, f, x, y, z);
        yield_from(i);
    }
    /* Recompute without switching: the same values or a register was lost. */
    uint64_t a2 = 1, b2 = 2, c2 = 3, d2 = 4, e2 = 5, f2 = 6;
    double x2 = 1.5, y2 = 2.5, z2 = 0.25;
    for (int r = 0; r < ROUNDS; r++) {
        STEP(a2, b2, c2, d2, e2, f2, x2, y2, z2);
    }
    check(a == a2 && b == b2 && c == c2 && d == d2 && e == e2 && f == f2,
          "integer callee-saved state survives switches");
    check(x == x2 && y == y2 && z == z2, "floating-point state survives switches");
    check(fegetround() == (i == 1 ? FE_DOWNWARD : FE_TONEAREST), "rounding mode is per context");
    for (;;)
        yield_from(i); /* parked forever once done */
}

int main(void)
{
    axle__stack st[2];
    for (int i = 0; i < 2; i++) {
        if (axle__stack_alloc(&st[i], 64 * 1024) < 0) {
            fprintf(stderr, "stack_alloc failed\n");
            return 1;
        }
        sp[i] = axle__ctx_init(st[i].lo, st[i].hi, fiber, (void *)(intptr_t)i);
    }
    /* main -> fiber0 -> fiber1 -> main, ROUNDS + 1 times. */
    for (int r = 0; r <= ROUNDS; r++)
        axle__ctx_switch(&main_sp, sp[0]);
    check(fegetround() == FE_TONEAREST, "main's rounding mode untouched");
    for (int i = 0; i < 2; i++)
        axle__stack_free(&st[i]);
    axle__stack_cache_drain();
    printf("%d passed, %d failed\n", passes, failures);
    return failures ? 1 : 0;
}
