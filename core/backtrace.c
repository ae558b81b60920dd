/*
 * core/backtrace.c — backtraces for rich errors and crash handlers.
 *
 * Capture is glibc's backtrace(): a DWARF-CFI walk (libgcc_s's unwinder)
 * that needs no frame pointers and stops cleanly at a fiber's entry, whose
 * trampoline marks its return address undefined (core/arch/switch_*.S).
 * It costs ~85 ns a frame (~1 µs on a shallow task stack); nothing is
 * symbolized then.
 *
 * Symbolization runs only when the text is wanted. Each call opens its own
 * libdw session over /proc/self/maps and closes it before returning: no
 * cache survives a call, so there is no lock to hold across fork, no fd to
 * leak into a child, and a module dlopen'ed since the last call is seen.
 * Names come from each module's .symtab (static functions included), or
 * from a separate debug file under /usr/lib/debug/.build-id when the module
 * is stripped; where libdw finds no name, dladdr's (the dynamic symbol
 * table) is used. Lines come only from a module's own DWARF: looking one
 * address up in libc's separate debug info (libc6-dbg) costs ~40 ms, 150
 * times what our own modules cost, for a line nobody needs. libdw is never
 * allowed to ask a debuginfod server: a network fetch on an actor's error
 * path would stall it. The walk stops after main: what lies below it is
 * the C runtime's start-up.
 *
 * libdw's line-table reader needs more stack than a small fiber has (it
 * overflows a 64 KiB task stack), so the libdw part runs on a short-lived
 * helper thread with a stack of its own, all signals blocked, joined before
 * returning. If no thread can be made, the names come from dladdr alone,
 * which needs little stack.
 *
 * Fork story: the only global is the warm-up flag; a child inherits the
 * loaded unwinder with it, so the flag stays true there, correctly.
 */
#define _GNU_SOURCE
#include "backtrace.h"

#include <dlfcn.h>
#include <elfutils/libdwfl.h>
#include <execinfo.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Release; pairs with the acquire at the top of axle__backtrace_init. */
static atomic_bool warmed;

void axle__backtrace_init(void)
{
    if (atomic_load_explicit(&warmed, memory_order_acquire))
        return;
    /* The first backtrace() dlopens libgcc_s; later ones only walk. */
    void *pc[2];
    (void)backtrace(pc, 2);
    atomic_store_explicit(&warmed, true, memory_order_release);
}

/* On the loading thread's own stack, before any fiber or signal handler. */
__attribute__((constructor)) static void warm_up(void) { axle__backtrace_init(); }

int axle__bt_capture(void **pcs, int max, const void *from)
{
    enum { SLACK = 4 }; /* room for our frames (and a sanitizer's) above from */
    void *buf[AXLE__BT_MAX + SLACK];
    if (max > AXLE__BT_MAX)
        max = AXLE__BT_MAX;
    if (max <= 0)
        return 0;
    int n = backtrace(buf, max + SLACK);
    /* Where from is, by address: how many frames sit above it varies with
     * inlining and with ASan, whose interceptor wraps backtrace(). */
    int skip = 0;
    if (from) {
        while (skip < n && skip < SLACK && buf[skip] != from)
            skip++;
        if (skip == n || skip == SLACK)
            skip = 0; /* not found: keep everything rather than guess */
    }
    n -= skip;
    if (n > max)
        n = max;
    if (n <= 0)
        return 0;
    memcpy(pcs, buf + skip, (size_t)n * sizeof *pcs);
    return n;
}

void axle__backtrace_fd(int fd)
{
    void *pcs[64];
    int n = backtrace(pcs, 64);
    if (n > 1)
        backtrace_symbols_fd(pcs + 1, n - 1, fd); /* without our own frame */
}

/* --------------------------------------------------------- symbolize --- */

/* Set as a module's userdata once its symbols come from a separate file. */
static char separate_marker;

/*
 * Separate debug files from the local build-id tree only. libdw's standard
 * finder would also try debuginfod when DEBUGINFOD_URLS is set. libdw asks
 * only for a module whose own file lacks .symtab (or DWARF).
 */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, GElf_Addr base,
                          const char *file_name, const char *debuglink_file,
                          GElf_Word debuglink_crc, char **debuginfo_file_name)
{
    (void)modname, (void)base, (void)file_name, (void)debuglink_file, (void)debuglink_crc;
    const unsigned char *id;
    GElf_Addr vaddr;
    int len = dwfl_module_build_id(mod, &id, &vaddr);
    if (len < 2 || len > 64)
        return -1;
    char path[64 + 2 * 64 + 8] = "/usr/lib/debug/.build-id/";
    size_t off = strlen(path);
    off += (size_t)sprintf(path + off, "%02x/", id[0]);
    for (int i = 1; i < len; i++)
        off += (size_t)sprintf(path + off, "%02x", id[i]);
    strcpy(path + off, ".debug");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    *debuginfo_file_name = strdup(path); /* libdw frees it */
    *userdata = &separate_marker;
    return fd; /* libdw closes it */
}

static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = find_debuginfo,
};

/* A libdw session over this process's mappings, or NULL. */
static Dwfl *session_open(void)
{
    Dwfl *dwfl = dwfl_begin(&callbacks);
    if (!dwfl)
        return NULL;
    FILE *maps = fopen("/proc/self/maps", "re");
    if (!maps)
        goto out_end;
    dwfl_report_begin(dwfl);
    int rc = dwfl_linux_proc_maps_report(dwfl, maps);
    fclose(maps);
    if (rc != 0 || dwfl_report_end(dwfl, NULL, NULL) != 0)
        goto out_end;
    return dwfl;
out_end:
    dwfl_end(dwfl);
    return NULL;
}

/* One frame's line. Returns whether the frame is main's (the last one). */
static bool put_line(FILE *f, Dwfl *dwfl, int i, uintptr_t pc, const char *indent)
{
    /* A return address points past its call; the call is what we name. */
    uintptr_t at = pc ? pc - 1 : pc;
    const char *func = NULL, *file = NULL, *mod = NULL;
    uintptr_t off = 0, mod_off = 0;
    int line = 0;

    Dwfl_Module *m = dwfl ? dwfl_addrmodule(dwfl, at) : NULL;
    if (m) {
        GElf_Off o = 0;
        GElf_Sym sym;
        func = dwfl_module_addrinfo(m, at, &o, &sym, NULL, NULL, NULL);
        if (func)
            off = (uintptr_t)o + (pc - at);
        void **userdata = NULL;
        Dwarf_Addr start = 0;
        mod = dwfl_module_info(m, &userdata, &start, NULL, NULL, NULL, NULL, NULL);
        mod_off = pc - (uintptr_t)start;
        Dwfl_Line *l = userdata && *userdata == &separate_marker ? NULL : dwfl_module_getsrc(m, at);
        if (l)
            file = dwfl_lineinfo(l, NULL, &line, NULL, NULL, NULL);
    }
    Dl_info di;
    if ((!func || !mod) && dladdr((void *)at, &di)) {
        if (!func && di.dli_sname) {
            func = di.dli_sname;
            off = pc - (uintptr_t)di.dli_saddr;
        }
        if (!mod && di.dli_fname) {
            mod = di.dli_fname;
            mod_off = pc - (uintptr_t)di.dli_fbase;
        }
    }

    fprintf(f, "%s#%-2d ", indent, i);
    if (func)
        fprintf(f, "%s+0x%" PRIxPTR, func, off);
    else
        fputs("??", f);
    if (file)
        fprintf(f, " (%s:%d)\n", file, line);
    else if (mod)
        fprintf(f, " (%s+0x%" PRIxPTR ")\n", mod, mod_off);
    else
        fprintf(f, " (0x%" PRIxPTR ")\n", pc);
    return func && strcmp(func, "main") == 0;
}

/* What the helper thread is asked to do, and its answer. */
struct job {
    void *const *pcs; /* borrowed: the addresses */
    int n;
    const char *indent;
    bool use_dw; /* false: dladdr only (no helper thread could be made) */
    char *text;  /* out: owned text, or NULL */
};

static void *symbolize(void *arg)
{
    struct job *j = arg;
    size_t size = 0;
    FILE *f = open_memstream(&j->text, &size);
    if (!f)
        return NULL;
    Dwfl *dwfl = j->use_dw ? session_open() : NULL;
    for (int i = 0; i < j->n; i++)
        if (put_line(f, dwfl, i, (uintptr_t)j->pcs[i], j->indent))
            break;
    if (dwfl)
        dwfl_end(dwfl);
    if (fclose(f) != 0) {
        free(j->text);
        j->text = NULL;
    }
    return NULL;
}

#define HELPER_STACK (1024 * 1024) /* libdw needs well over 64 KiB */

char *axle__bt_symbolize(void *const *pcs, int n, const char *indent)
{
    if (n <= 0)
        return NULL;
    struct job j = {.pcs = pcs, .n = n, .indent = indent ? indent : "", .use_dw = true};
    pthread_attr_t attr;
    pthread_t helper;
    sigset_t all, old;
    sigfillset(&all);
    bool made = false;
    if (pthread_attr_init(&attr) == 0) {
        /* The helper inherits the mask: no signal is ever delivered to it. */
        pthread_sigmask(SIG_SETMASK, &all, &old);
        made = pthread_attr_setstacksize(&attr, HELPER_STACK) == 0 &&
               pthread_create(&helper, &attr, symbolize, &j) == 0;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&attr);
    }
    if (made) {
        pthread_join(helper, NULL);
    } else {
        j.use_dw = false;
        symbolize(&j);
    }
    return j.text;
}
