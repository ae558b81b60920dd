/*
 * axle/error.h — error codes and the rich error.
 *
 * Every axle call that can fail returns 0 (or a count) on success and a
 * negative code on failure: either a negated errno (-ECANCELED, -ETIMEDOUT,
 * -ENOMEM, ...) or a negated AXLE_E* code. AXLE_E* codes sit above 4095 so
 * they never collide with errno values.
 *
 * The code is the value; the context hangs off the task. A failing call may
 * record a rich error on the calling task: the code, a message, and a chain
 * of frames (function, file, line) that grows as the error rises. Error
 * groups (-AXLE_EGROUP) list each member error. Later layers add the remote
 * fields (source actor, boxed type, relay path) to the same object.
 */
#ifndef AXLE_ERROR_H
#define AXLE_ERROR_H

#include <axle/api.h>
#include <axle/uid.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The one list of axle's own error codes: X(NAME, value, meaning).
 * Values are positive; functions return them negated (-AXLE_EREMOTE).
 */
#define AXLE_ERRNO_MAP(X)                                           \
    X(EREMOTE, 4096, "error raised in a remote actor")              \
    X(ECTXCANCELLED, 4097, "context cancelled")                     \
    X(EOVERRUN, 4098, "receiver overrun: message dropped")          \
    X(EEOC, 4099, "end of channel")                                 \
    X(ECLOSED, 4100, "use of a closed resource")                    \
    X(ETRANSPORT, 4101, "transport closed")                         \
    X(ENOTEXPOSED, 4102, "function's namespace is not exposed")     \
    X(EMSGTYPE, 4103, "payload does not match its declared type")   \
    X(ELAGGED, 4104, "reader lagged behind the writer")             \
    X(EGROUP, 4105, "several errors (error group)")                 \
    X(ESHMCORRUPT, 4106, "shared-memory segment is corrupt")        \
    X(EBROKEN, 4107, "peer end closed: nobody can receive")         \
    X(ENOTSTARTED, 4108, "task returned without reporting started") \
    X(ENOURING, 4109, "io_uring is unavailable")                              \
    X(EVERSION, 4110, "peer speaks another protocol version")                 \
    X(EAUTH, 4111, "peer failed authentication")

enum {
#define AXLE__ERR_ENUM(name, val, msg) AXLE_##name = val,
    AXLE_ERRNO_MAP(AXLE__ERR_ENUM)
#undef AXLE__ERR_ENUM
        AXLE_ERR_MAX
};

/*
 * axle_strerror — a one-line meaning for a code.
 *   code: negative or positive; an AXLE_E* code or an errno value.
 * Returns: a static string; never NULL ("unknown error" for unknown codes).
 */
AXLE_API const char *axle_strerror(int code);

/*
 * axle_errname — the symbolic name of a code ("ECANCELED", "AXLE_EEOC").
 * Returns: a static string; never NULL ("E?" for unknown codes).
 */
AXLE_API const char *axle_errname(int code);

/* The rich error. Opaque; read it with the accessors below. */
typedef struct axle_error axle_error;

/*
 * axle_error_last — the rich error most recently recorded on the calling
 * task (or, outside any task, on the calling thread).
 * Returns: the error, or NULL when none was recorded. Borrowed: valid until
 *   the next call on this task records or clears an error.
 */
AXLE_API const axle_error *axle_error_last(void);

/* axle_error_clear — forget the calling task's recorded error. */
AXLE_API void axle_error_clear(void);

/* Accessors. Each takes a borrowed, non-NULL error. */
AXLE_API int axle_error_code(const axle_error *e);
AXLE_API const char *axle_error_message(const axle_error *e);
/* Frames, innermost (where it was raised) first. Returns the frame count. */
AXLE_API size_t axle_error_nframes(const axle_error *e);
/* Frame i: 0 on success, -EINVAL when i is out of range. Strings are static. */
AXLE_API int axle_error_frame(const axle_error *e, size_t i, const char **func, const char **file,
                              int *line);
/* Members of an -AXLE_EGROUP error; 0 for any other error. */
AXLE_API size_t axle_error_nmembers(const axle_error *e);
AXLE_API const axle_error *axle_error_member(const axle_error *e, size_t i);

/*
 * axle_error_format — write a human-readable rendering (code, message,
 * frames, members indented) into buf.
 * Returns: the length it would have written, like snprintf.
 */
AXLE_API size_t axle_error_format(const axle_error *e, char *buf, size_t len);

/*
 * Record an error on the calling task and yield the code:
 *     return AXLE_SET_ERR(-ECONNRESET, "peer %s closed", name);
 * The message is printf-formatted; func/file/line are recorded as frame 0.
 * Returns: code, unchanged.
 */
#define AXLE_SET_ERR(code, ...) axle__error_set((code), __func__, __FILE__, __LINE__, __VA_ARGS__)

/*
 * Add the caller's frame to the calling task's error as it rises:
 *     if (rc < 0) return AXLE_ERR_FRAME(rc);
 * Adds a frame only when the recorded error has this code.
 * Returns: code, unchanged.
 */
#define AXLE_ERR_FRAME(code) axle__error_frame((code), __func__, __FILE__, __LINE__)

AXLE_API int axle__error_set(int code, const char *func, const char *file, int line,
                             const char *fmt, ...) __attribute__((format(printf, 5, 6)));
AXLE_API int axle__error_frame(int code, const char *func, const char *file, int line);

#ifdef __cplusplus
}
#endif
#endif
