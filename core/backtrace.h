/*
 * core/backtrace.h — capture the calling stack cheaply, symbolize it later.
 * Private to libaxle.
 *
 * A rich error keeps the raw return addresses of the stack that recorded
 * it (axle__bt_capture, ~85 ns a frame: glibc's backtrace()); they become
 * "func+0xoff (file:line)" lines only when someone reads them
 * (axle__bt_symbolize: libdw over this process's own mappings, dladdr as
 * the fallback), which happens when the error is formatted or packed for
 * another actor.
 */
#ifndef AXLE_CORE_BACKTRACE_H
#define AXLE_CORE_BACKTRACE_H

/* The most return addresses a rich error keeps. */
#define AXLE__BT_MAX 32

/*
 * axle__backtrace_init — load what backtrace() needs (libgcc_s's unwinder,
 * which glibc dlopens on first use), so that later calls neither allocate
 * nor take the loader's lock. Runs once from a constructor; idempotent,
 * cheap after the first call.
 */
void axle__backtrace_init(void);

/*
 * axle__bt_capture — the return addresses of the calling stack, innermost
 * first, starting at from.
 *   pcs: receives at most max (≤ AXLE__BT_MAX) addresses.
 *   from: the first address to keep, normally __builtin_return_address(0)
 *     of the function calling this (so neither it nor this function shows);
 *     NULL, or an address not among the innermost few, keeps every frame.
 * Returns: how many were stored (0 when the unwinder has nothing).
 * On a fiber the walk ends at the fiber's entry (its trampoline's CFI marks
 * the return address undefined).
 */
int axle__bt_capture(void **pcs, int max, const void *from);

/*
 * axle__bt_symbolize — n return addresses as text, one line each:
 *     "<indent>#<i> func+0xoff (file:line)\n"
 * with "(module+0xoff)" when there is no line information and "??" when
 * there is no symbol either; nothing after main's frame.
 * Returns: owned, NUL-terminated text (free()); NULL when n is 0 or memory
 *   runs out.
 * Cost: a fresh libdw session per call, on a helper thread with its own
 * stack (so a small fiber stack is enough to call this), 0.2–1 ms; no state
 * is kept between calls, so nothing here needs a fork story or a lock.
 * Blocks the calling thread meanwhile: not a checkpoint.
 */
char *axle__bt_symbolize(void *const *pcs, int n, const char *indent);

/*
 * axle__backtrace_fd — write the calling stack, unsymbolized beyond what
 * the dynamic symbol table gives (backtrace_symbols_fd), to fd. For crash
 * handlers: after axle__backtrace_init it neither allocates nor locks, so
 * it may be called from a signal handler.
 */
void axle__backtrace_fd(int fd);

#endif
