/*
 * spawn/title.c — the process title ps shows: comm (PR_SET_NAME, 15
 * bytes) and the argv area (/proc/<pid>/cmdline, ps's COMMAND).
 *
 * The argv strings live in one block at the top of the stack; the kernel
 * reports its bounds in /proc/self/stat (fields 48-51: arg_start, arg_end,
 * env_start, env_end), so no pointer from main is needed and no privilege
 * (PR_SET_MM would need CAP_SYS_RESOURCE). The title is written in place,
 * NUL-padded. When it does not fit and the environment strings follow the
 * argv strings directly (the usual layout), they are copied to the heap
 * (environ now points at the copies) and their block joins the title's:
 * Linux reads a cmdline whose argv block no longer ends in NUL as one
 * string running on into the environment block, for exactly this use
 * (get_mm_cmdline in fs/proc/base.c). The environment is moved only when
 * a title needs the room, since /proc/<pid>/environ then shows the title's
 * padding instead.
 *
 * Overwriting argv changes what argv[i] and glibc's
 * program_invocation_name point to: the latter two are moved to heap
 * copies first, so error messages keep the program's name; the caller's
 * argv[] strings are clobbered (axle__child_args_parse has copied what it
 * needs before the title is set).
 *
 * Fork story: the area's bounds are addresses in the stack, identical in a
 * forked child's copy; a child reuses them (and the moved environment) as
 * they are. An exec'd image starts over.
 */
#define _GNU_SOURCE
#include "spawn_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

extern char **environ;

/* The title area. Fork story: in the design note. */
static struct {
    bool probed;     /* the bounds below were read */
    char *start;     /* arg_start, or NULL when unknown */
    size_t len;      /* bytes usable from start (argv block, plus env once taken) */
    char *env_start; /* the environment block right after argv, or NULL */
    size_t env_len;  /* its size */
    bool env_taken;  /* the environment strings were moved to the heap */
} T;

/* Fields 48..51 of /proc/self/stat. Returns 0 or -errno. */
static int read_bounds(unsigned long v[4])
{
    char buf[2048];
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -EIO;
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* comm may hold spaces and parentheses */
    if (!p)
        return -EIO;
    p++;
    /* After ") " comes field 3; field k is token k - 3. */
    for (int field = 3; field <= 51; field++) {
        char *end;
        while (*p == ' ')
            p++;
        if (!*p)
            return -EIO;
        unsigned long x = strtoul(p, &end, 10);
        if (field >= 48)
            v[field - 48] = x;
        p = end;
        while (*p && *p != ' ')
            p++;
    }
    return 0;
}

static void probe(void)
{
    T.probed = true;
    unsigned long b[4];
    if (read_bounds(b) < 0 || b[1] <= b[0])
        return;
    T.start = (char *)b[0];
    T.len = b[1] - b[0];
    if (b[2] == b[1] && b[3] > b[2]) {
        T.env_start = (char *)b[2];
        T.env_len = b[3] - b[2];
    }
    /* Keep the program's name readable once argv[0] is overwritten. */
    char *name = program_invocation_name;
    if (name && name >= T.start && name < T.start + T.len) {
        char *copy = strdup(name);
        if (copy) {
            char *slash = strrchr(copy, '/');
            program_invocation_name = copy;
            program_invocation_short_name = slash ? slash + 1 : copy;
        }
    }
}

/* Move the environment strings to the heap and add their block. */
static void take_env(void)
{
    if (T.env_taken || !T.env_start)
        return;
    char *lo = T.env_start, *hi = T.env_start + T.env_len;
    for (char **e = environ; e && *e; e++) {
        if (*e < lo || *e >= hi)
            continue; /* set by setenv: already on the heap */
        char *copy = strdup(*e);
        if (!copy)
            return; /* those moved stay moved; the block is not used */
        *e = copy;
    }
    T.env_taken = true;
    T.len += T.env_len;
}

void axle__proc_title_probe(void)
{
    if (!T.probed)
        probe();
}

void axle__proc_set_title(const char *title)
{
    prctl(PR_SET_NAME, title); /* the kernel keeps the first 15 bytes */
    if (!T.probed)
        probe();
    if (!T.start)
        return;
    size_t tl = strlen(title);
    if (tl + 1 > T.len)
        take_env();
    if (tl + 1 > T.len)
        tl = T.len - 1;
    memcpy(T.start, title, tl);
    memset(T.start + tl, 0, T.len - tl);
}
