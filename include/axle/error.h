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
#include <stdbool.h>
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
    X(ENOURING, 4109, "io_uring is unavailable")                    \
    X(EVERSION, 4110, "peer speaks another protocol version")       \
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
 * Returns: a static string; never NULL ("OK" for 0, "E?" for unknown codes).
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
 * axle_error_is_remote — whether e was raised in another actor and reached
 * this one in an Error message (an -AXLE_EGROUP of remote members is
 * remote too: it was packed there).
 * Returns: true or false.
 */
AXLE_API bool axle_error_is_remote(const axle_error *e);

/*
 * axle_error_src_uid — the actor where e was raised.
 * Returns: borrowed, valid as long as e; NULL for a local error. An
 *   unreadable uid in the message reads as name "?", zero uuid, pid 0.
 */
AXLE_API const axle_uid *axle_error_src_uid(const axle_error *e);

/*
 * axle_error_src_type — the name of e's code where it was raised ("EIO",
 * "AXLE_ENOTEXPOSED"); for a local error, axle_errname(code).
 * Returns: borrowed, never NULL (possibly "" for a malformed message).
 */
AXLE_API const char *axle_error_src_type(const axle_error *e);

/*
 * axle_error_boxed_type — the type e was boxed as by the actor that sent
 * it: the source's code name at the first hop, "AXLE_EREMOTE" once an
 * actor relayed it (tractor's boxed_type_str); for a local error,
 * axle_errname(code).
 * Returns: borrowed, never NULL.
 */
AXLE_API const char *axle_error_boxed_type(const axle_error *e);

/*
 * axle_error_src_code — e's code where it was raised (-EIO while
 * axle_error_code says -AXLE_EREMOTE); for a local error, its own code.
 * The value is the source's word: compare it against errno values only if
 * the source runs on the same kind of system.
 */
AXLE_API int axle_error_src_code(const axle_error *e);

/*
 * axle_error_relay_len, axle_error_relay — the actors that relayed e, in
 * order: relay(e, 0) got it from the source, relay(e, len - 1) sent it
 * here. A local error and an error from its source directly have none.
 * At most 64 hops are kept (the last 64).
 * Returns: (relay) borrowed, valid as long as e; NULL when i >= len.
 */
AXLE_API size_t axle_error_relay_len(const axle_error *e);
AXLE_API const axle_uid *axle_error_relay(const axle_error *e, size_t i);

/*
 * axle_error_traceback — where e came from, as text. For a remote error:
 * the traceback its source packed (its frames, then its symbolized
 * backtrace). For a local error: its symbolized backtrace, one
 * "#i func+0xoff (file:line)" line per frame, built on the first call.
 * Returns: borrowed, valid as long as e; NULL when there is none (a
 *   remote error sent without one; a local error recorded without
 *   AXLE_SET_ERR, or -ECANCELED, or when memory ran out).
 * Cost: the first call for a local error reads this process's debug
 *   information (a few hundred µs); keep it off hot paths.
 */
AXLE_API const char *axle_error_traceback(const axle_error *e);

/*
 * axle_error_canceller — for -AXLE_ECTXCANCELLED: the actor that requested
 * the cancellation (tractor's .canceller).
 * axle_error_sender — for -AXLE_EOVERRUN: the actor whose messages
 * overran the receiver (tractor's StreamOverrun.sender).
 * Returns: borrowed, valid as long as e; NULL when not set.
 */
AXLE_API const axle_uid *axle_error_canceller(const axle_error *e);
AXLE_API const axle_uid *axle_error_sender(const axle_error *e);

/*
 * axle_error_format — write a human-readable rendering into buf: code and
 * message; for a remote error its source, types, relay path and the
 * source's traceback; canceller and sender; frames; a local error's
 * symbolized backtrace; members indented.
 * e: NULL (axle_error_last() when nothing failed) writes "no error".
 * Returns: the length it would have written, like snprintf.
 * Cost: symbolizes a local backtrace on first use (see traceback).
 */
AXLE_API size_t axle_error_format(const axle_error *e, char *buf, size_t len);

/*
 * Record an error on the calling task and yield the code:
 *     return AXLE_SET_ERR(-ECONNRESET, "peer %s closed", name);
 * The message is printf-formatted; func/file/line are recorded as frame 0.
 * Unless code is -ECANCELED (cancellation is not an error) the return
 * addresses of the calling stack are kept too, up to 32 (about 85 ns a
 * frame, ~1 µs on a shallow task stack; nothing is symbolized here). A
 * caller that returns AXLE_SET_ERR's value directly may be compiled as a
 * tail call and then be missing from that backtrace; frame 0 names it.
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
