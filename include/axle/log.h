/*
 * axle/log.h — levelled logging that names the process (later: the actor).
 *
 * Levels are the reference system's, numerically: a line is written when its
 * level is >= the current level. A disabled line costs one compare: the
 * arguments are not evaluated and nothing is formatted.
 *
 * Each line goes to stderr (or the fd set with axle_log_set_fd) in one
 * write(2), so lines from several processes sharing a terminal do not
 * interleave mid-line:
 *     12:04:05.123456 WARNING [name@pid] task-name: message
 */
#ifndef AXLE_LOG_H
#define AXLE_LOG_H

#include <axle/error.h>

#ifdef __cplusplus
extern "C" {
#endif

enum axle_log_level {
    AXLE_LOG_TRANSPORT = 5,
    AXLE_LOG_DEBUG = 10,
    AXLE_LOG_RUNTIME = 15,
    AXLE_LOG_DEVX = 17,
    AXLE_LOG_INFO = 20,
    AXLE_LOG_IO = 21,
    AXLE_LOG_CANCEL = 22,
    AXLE_LOG_WARNING = 30,
    AXLE_LOG_ERROR = 40, /* the default */
    AXLE_LOG_CRITICAL = 50,
    AXLE_LOG_PDB = 500,
};

/* The current level. Read by the macros; set it with axle_log_set_level. */
AXLE_API extern int axle__log_level;

/*
 * axle_log_set_level — set the level: a number, or a name such as "cancel"
 * or "WARNING" (case-insensitive).
 * Returns: 0, or -EINVAL for a name that is not a level (level unchanged).
 */
AXLE_API int axle_log_set_level(const char *level);

/* axle_log_level_parse — a level name or number to its value, or -EINVAL. */
AXLE_API int axle_log_level_parse(const char *level);

/* axle_log_level_name — "WARNING" for 30; "L<n>" style for others. */
AXLE_API const char *axle_log_level_name(int level);

/*
 * axle_log_init_env — take the level from $AXLE_LOGLEVEL when it is set.
 * Called by axle_run; call it yourself when logging outside a scheduler.
 * Returns: 0, or -EINVAL when the variable names no level (a warning is
 *   logged and the level stays as it was).
 */
AXLE_API int axle_log_init_env(void);

/*
 * axle_log_set_name — the name in every line's prefix (copied; at most 63
 * bytes are kept). Default: the program's short name.
 */
AXLE_API void axle_log_set_name(const char *name);

/* axle_log_set_fd — where lines go (default 2). The fd is borrowed. */
AXLE_API void axle_log_set_fd(int fd);

/* Write one line at a level. Prefer the macros, which skip disabled levels. */
AXLE_API void axle__log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define AXLE_LOG(level, ...)                                 \
    do {                                                     \
        if (__builtin_expect((level) >= axle__log_level, 0)) \
            axle__log((level), __VA_ARGS__);                 \
    } while (0)

#define axle_log_transport(...) AXLE_LOG(AXLE_LOG_TRANSPORT, __VA_ARGS__)
#define axle_log_debug(...) AXLE_LOG(AXLE_LOG_DEBUG, __VA_ARGS__)
#define axle_log_runtime(...) AXLE_LOG(AXLE_LOG_RUNTIME, __VA_ARGS__)
#define axle_log_devx(...) AXLE_LOG(AXLE_LOG_DEVX, __VA_ARGS__)
#define axle_log_info(...) AXLE_LOG(AXLE_LOG_INFO, __VA_ARGS__)
#define axle_log_io(...) AXLE_LOG(AXLE_LOG_IO, __VA_ARGS__)
#define axle_log_cancel(...) AXLE_LOG(AXLE_LOG_CANCEL, __VA_ARGS__)
#define axle_log_warning(...) AXLE_LOG(AXLE_LOG_WARNING, __VA_ARGS__)
#define axle_log_error(...) AXLE_LOG(AXLE_LOG_ERROR, __VA_ARGS__)
#define axle_log_critical(...) AXLE_LOG(AXLE_LOG_CRITICAL, __VA_ARGS__)
#define axle_log_pdb(...) AXLE_LOG(AXLE_LOG_PDB, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
