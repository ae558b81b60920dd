/*
 * core/log.c — levelled logging.
 *
 * A line is formatted into one buffer and written with one write(2), so
 * lines from processes sharing a terminal never interleave mid-line. The
 * level check lives in the AXLE_LOG macro; this file only runs for enabled
 * lines. Lines longer than the buffer are cut and end in "...".
 *
 * Fork story: the level, name and fd are plain globals; a forked child
 * inherits them, which is what the actor runtime wants (the level
 * propagates) until it renames itself with axle_log_set_name.
 */
#define _GNU_SOURCE
#include <axle/log.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

int axle__log_level = AXLE_LOG_ERROR;
static char log_name[64];
static int log_fd = 2;

const char *axle__current_task_name(void); /* sched.c; NULL outside tasks */

static const struct {
    const char *name;
    int level;
} levels[] = {
    {"TRANSPORT", AXLE_LOG_TRANSPORT}, {"DEBUG", AXLE_LOG_DEBUG},     {"RUNTIME", AXLE_LOG_RUNTIME},
    {"DEVX", AXLE_LOG_DEVX},           {"INFO", AXLE_LOG_INFO},       {"IO", AXLE_LOG_IO},
    {"CANCEL", AXLE_LOG_CANCEL},       {"WARNING", AXLE_LOG_WARNING}, {"ERROR", AXLE_LOG_ERROR},
    {"CRITICAL", AXLE_LOG_CRITICAL},   {"PDB", AXLE_LOG_PDB},
};

int axle_log_level_parse(const char *s)
{
    if (!s || !*s)
        return -EINVAL;
    if (isdigit((unsigned char)*s)) {
        char *end;
        long v = strtol(s, &end, 10);
        return *end || v > 1000 ? -EINVAL : (int)v;
    }
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        if (strcasecmp(s, levels[i].name) == 0)
            return levels[i].level;
    if (strcasecmp(s, "warn") == 0)
        return AXLE_LOG_WARNING;
    return -EINVAL;
}

const char *axle_log_level_name(int level)
{
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        if (levels[i].level == level)
            return levels[i].name;
    static __thread char buf[16];
    snprintf(buf, sizeof buf, "L%d", level);
    return buf;
}

int axle_log_set_level(const char *level)
{
    int v = axle_log_level_parse(level);
    if (v < 0)
        return v;
    axle__log_level = v;
    return 0;
}

int axle_log_init_env(void)
{
    const char *env = getenv("AXLE_LOGLEVEL");
    if (!env)
        return 0;
    int rc = axle_log_set_level(env);
    if (rc < 0)
        axle_log_warning("AXLE_LOGLEVEL=%s names no level; keeping %s", env,
                         axle_log_level_name(axle__log_level));
    return rc;
}

void axle_log_set_name(const char *name) { snprintf(log_name, sizeof log_name, "%s", name); }
void axle_log_set_fd(int fd) { log_fd = fd; }

void axle__log(int level, const char *fmt, ...)
{
    char buf[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    const char *name = log_name[0] ? log_name : program_invocation_short_name;
    const char *task = axle__current_task_name();
    int n = snprintf(buf, sizeof buf, "%02d:%02d:%02d.%06ld %-8s [%s@%d] %s%s", tm.tm_hour,
                     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000, axle_log_level_name(level), name,
                     (int)getpid(), task ? task : "", task ? ": " : "");
    if (n < 0)
        return;
    size_t off = (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(buf + off, sizeof buf - off, fmt, ap);
    va_end(ap);
    if (m > 0)
        off += (size_t)m;
    if (off >= sizeof buf - 1) {
        off = sizeof buf - 1;
        memcpy(buf + off - 4, "...", 3);
        off--;
    }
    buf[off++] = '\n';
    int saved = errno;
    (void)!write(log_fd, buf, off);
    errno = saved;
}
