/*
 * core/fiber.c — fiber stacks, context set-up, sanitizer annotations and
 * the stack-overflow reporter.
 *
 * Stacks are anonymous mappings with a PROT_NONE guard page at the low end,
 * so running off a stack faults instead of corrupting the neighbour. A
 * SIGSEGV handler on an alternate signal stack checks whether the fault hit
 * the running task's guard page; if so it writes one line naming the task
 * and dies by SIGSEGV (the default action, so the exit status tells the
 * truth). Any other fault is handed to the previous handler (ASan's, or the
 * default).
 *
 * A cache keeps up to STACK_CACHE_MAX freed stacks of one size (the
 * default), so starting a task costs no mmap/mprotect in the steady state.
 * Only the pages a fiber touched stay resident, typically a few KiB each. A recycled stack is
 * unpoisoned for ASan: the dead fiber left its frames' redzones behind.
 *
 * Fork story: stacks are mapped MADV_DONTFORK, so a forked child inherits
 * none of them (cached or in use) except the stack of the task that forks,
 * which sched.c's pthread_atfork handler marks inheritable for the fork
 * (fork() by any code running in a task is covered). Hundreds of stack
 * mappings otherwise made every fork and every child's exit slower. Under
 * ASan stacks stay inheritable: its shadow memory would go stale.
 * The cache bookkeeping is inherited but names mappings the child does not
 * have: the child must not allocate from it (axle__sched_forget empties it).
 */
#define _GNU_SOURCE
#include "fiber.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define AXLE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AXLE_ASAN 1
#endif
#endif
#ifdef AXLE_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define AXLE_VALGRIND 1
#endif
#endif

#define STACK_CACHE_MAX 1024

/* Freed stacks kept for reuse; all of cache_size usable bytes. */
static axle__stack stack_cache[STACK_CACHE_MAX];
static size_t stack_cache_len;  /* Invariant: entries [0, len) are live mappings */
static size_t stack_cache_size; /* usable size of cached stacks (0: empty cache) */

static size_t page_size(void)
{
    static size_t ps;
    if (!ps)
        ps = (size_t)sysconf(_SC_PAGESIZE);
    return ps;
}

int axle__stack_alloc(axle__stack *st, size_t size)
{
    size_t ps = page_size();
    size = (size + ps - 1) & ~(ps - 1);
    if (stack_cache_len > 0 && stack_cache_size == size) {
        *st = stack_cache[--stack_cache_len];
#ifdef AXLE_ASAN
        ASAN_UNPOISON_MEMORY_REGION(st->lo, (char *)st->hi - (char *)st->lo);
#endif
        return 0;
    }
    size_t total = size + ps;
    void *map =
        mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (map == MAP_FAILED)
        return -ENOMEM;
    if (mprotect(map, ps, PROT_NONE) < 0) {
        munmap(map, total);
        return -ENOMEM;
    }
    /*
     * Not inherited by fork: a child needs only the stack it forks on
     * (a pthread_atfork handler lends that one back), and hundreds of stack
     * mappings would make every fork and every child's exit slower.
     */
#ifndef AXLE_ASAN /* ASan keeps shadow state for stacks a child would lose */
    madvise(map, total, MADV_DONTFORK);
#endif
    st->map = map;
    st->map_size = total;
    st->lo = (char *)map + ps;
    st->hi = (char *)map + total;
    st->vg_id = 0;
#ifdef AXLE_VALGRIND
    st->vg_id = VALGRIND_STACK_REGISTER(st->lo, st->hi);
#endif
    return 0;
}

static void stack_unmap(axle__stack *st)
{
#ifdef AXLE_ASAN
    /* ASan keeps shadow poison across munmap; a later mapping may land here. */
    ASAN_UNPOISON_MEMORY_REGION(st->lo, (char *)st->hi - (char *)st->lo);
#endif
#ifdef AXLE_VALGRIND
    VALGRIND_STACK_DEREGISTER(st->vg_id);
#endif
    munmap(st->map, st->map_size);
}

void axle__stack_free(axle__stack *st)
{
    size_t size = (size_t)((char *)st->hi - (char *)st->lo);
    if (stack_cache_len == 0)
        stack_cache_size = size;
    if (size == stack_cache_size && stack_cache_len < STACK_CACHE_MAX) {
        stack_cache[stack_cache_len++] = *st;
        return;
    }
    stack_unmap(st);
}

void axle__stack_cache_forget(void)
{
#ifdef AXLE_ASAN /* inherited under ASan: let them go */
    axle__stack_cache_drain();
#endif
    stack_cache_len = 0; /* the mappings were not inherited (MADV_DONTFORK) */
    stack_cache_size = 0;
}

void axle__stack_fork_share(const axle__stack *st, bool share)
{
#ifndef AXLE_ASAN
    madvise(st->map, st->map_size, share ? MADV_DOFORK : MADV_DONTFORK);
#else
    (void)st, (void)share;
#endif
}

void axle__stack_cache_drain(void)
{
    while (stack_cache_len > 0)
        stack_unmap(&stack_cache[--stack_cache_len]);
    stack_cache_size = 0;
}

extern void axle__ctx_trampoline(void);

void *axle__ctx_init(void *lo, void *top, void (*entry)(void *), void *arg)
{
    (void)lo;
    uintptr_t t = (uintptr_t)top & ~(uintptr_t)15;
#if defined(__x86_64__)
    /* The frame axle__ctx_switch pops: cw, r15 r14 r13 r12 rbx rbp, return. */
    uint64_t *sp = (uint64_t *)(t - 16); /* after `ret`, rsp is 16-aligned */
    *--sp = (uint64_t)(uintptr_t)axle__ctx_trampoline;
    *--sp = 0;                             /* rbp */
    *--sp = 0;                             /* rbx */
    *--sp = (uint64_t)(uintptr_t)entry;    /* r12 */
    *--sp = (uint64_t)(uintptr_t)arg;      /* r13 */
    *--sp = 0;                             /* r14 */
    *--sp = 0;                             /* r15 */
    *--sp = 0x1F80ull | (0x037Full << 32); /* mxcsr, x87 control word */
    return sp;
#elif defined(__aarch64__)
    uint64_t *sp = (uint64_t *)(t - 176);
    memset(sp, 0, 176);
    sp[0] = (uint64_t)(uintptr_t)entry;                 /* x19 */
    sp[1] = (uint64_t)(uintptr_t)arg;                   /* x20 */
    sp[11] = (uint64_t)(uintptr_t)axle__ctx_trampoline; /* x30 */
    return sp;
#else
#error "axle: no context switch for this architecture"
#endif
}

/* ---- stack overflow reporter ------------------------------------------ */

/* Implemented by sched.c: the running task's guard and name, or 0. */
int axle__overflow_lookup(void *addr, const char **name, size_t *stack_size);

static struct sigaction old_segv, old_bus;
static void *alt_stack;
static size_t alt_stack_size;
static int handler_installed;

static void write_str(const char *s) { (void)!write(2, s, strlen(s)); }

static void fmt_u(char *buf, size_t v)
{
    char tmp[24];
    int i = 0;
    do {
        tmp[i++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (i)
        *buf++ = tmp[--i];
    *buf = 0;
}

static void on_fault(int sig, siginfo_t *si, void *uctx)
{
    (void)uctx;
    const char *name;
    size_t size;
    /* si_code > 0: raised by the kernel for a fault, so si_addr is the address. */
    if (si->si_code > 0 && axle__overflow_lookup(si->si_addr, &name, &size)) {
        char num[24];
        fmt_u(num, size);
        write_str("axle: stack overflow in task '");
        write_str(name);
        write_str("' (stack ");
        write_str(num);
        write_str(" bytes): raise axle_task_opts.stack_size or axle_run_opts.stack_size\n");
        signal(sig, SIG_DFL);
        return; /* the faulting access repeats and kills the process by SIGSEGV */
    }
    /*
     * Not ours: restore the previous handler (a crash reporter, ASan's, or
     * the default). A real fault repeats on return and reaches it with its
     * own details (the address); a signal sent with kill/raise would not
     * repeat, so it is raised again.
     */
    sigaction(sig, sig == SIGSEGV ? &old_segv : &old_bus, NULL);
    if (si->si_code <= 0)
        raise(sig);
}

int axle__overflow_handler_install(void)
{
    if (handler_installed)
        return 0;
    alt_stack_size = 64 * 1024;
    alt_stack =
        mmap(NULL, alt_stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (alt_stack == MAP_FAILED)
        return -ENOMEM;
    stack_t ss = {.ss_sp = alt_stack, .ss_size = alt_stack_size, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) < 0) {
        munmap(alt_stack, alt_stack_size);
        return -errno;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
    sigaction(SIGBUS, &sa, &old_bus);
    handler_installed = 1;
    return 0;
}

void axle__overflow_handler_remove(void)
{
    if (!handler_installed)
        return;
    sigaction(SIGSEGV, &old_segv, NULL);
    sigaction(SIGBUS, &old_bus, NULL);
    stack_t ss = {.ss_flags = SS_DISABLE};
    sigaltstack(&ss, NULL);
    munmap(alt_stack, alt_stack_size);
    handler_installed = 0;
}
