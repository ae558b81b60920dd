/*
 * core/fiber.h — stacks and the context switch, under the scheduler.
 * Private to libaxle.
 */
#ifndef AXLE_CORE_FIBER_H
#define AXLE_CORE_FIBER_H

#include <stdbool.h>
#include <stddef.h>

/* A fiber stack: one mapping, guard page at the low end. */
typedef struct axle__stack {
    void *map;       /* the whole mapping (guard page first) */
    size_t map_size; /* bytes mapped, guard included */
    void *lo;        /* lowest usable byte (just above the guard) */
    void *hi;        /* one past the highest usable byte */
    unsigned vg_id;  /* Valgrind stack id (0 when not under Valgrind) */
} axle__stack;

/*
 * Map a stack with at least size usable bytes (rounded up to pages) plus a
 * guard page, reusing a cached one of the same size when there is one.
 * Returns: 0, or -ENOMEM.
 */
int axle__stack_alloc(axle__stack *st, size_t size);
/* Return a stack to the cache (or unmap it when the cache is full). */
void axle__stack_free(axle__stack *st);
/* Unmap every cached stack. */
void axle__stack_cache_drain(void);
/* In a forked child: forget the cache (its mappings were not inherited). */
void axle__stack_cache_forget(void);
/* Let fork copy st (share true) or not (false, the default). */
void axle__stack_fork_share(const axle__stack *st, bool share);

/* Lay out a new context on [lo, top) that runs entry(arg) when first switched to. */
void *axle__ctx_init(void *lo, void *top, void (*entry)(void *), void *arg);

/* Save the current context into *save_sp and load load_sp (assembly). */
void axle__ctx_switch(void **save_sp, void *load_sp);

/*
 * The sanitizer side of a switch. Before switching to a context whose stack
 * is [to_lo, to_lo + to_size): fiber_switch_begin(&save, ...), where save is
 * the departing fiber's slot (NULL when it never resumes). After arriving:
 * fiber_switch_end(save_of_the_arriving_fiber, &from_lo, &from_size).
 */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
static inline void axle__fiber_switch_begin(void **fake_save, const void *to_lo, size_t to_size)
{
    __sanitizer_start_switch_fiber(fake_save, to_lo, to_size);
}
static inline void axle__fiber_switch_end(void *fake_save, const void **from_lo, size_t *from_size)
{
    __sanitizer_finish_switch_fiber(fake_save, from_lo, from_size);
}
#else
static inline void axle__fiber_switch_begin(void **fake_save, const void *to_lo, size_t to_size)
{
    (void)fake_save, (void)to_lo, (void)to_size;
}
static inline void axle__fiber_switch_end(void *fake_save, const void **from_lo, size_t *from_size)
{
    (void)fake_save, (void)from_lo, (void)from_size;
}
#endif

/* Install / remove the guard-page fault reporter (SIGSEGV on an alt stack). */
int axle__overflow_handler_install(void);
void axle__overflow_handler_remove(void);

#endif
