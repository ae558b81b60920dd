/*
 * core/actor/rerr.h — remote errors: a rich error packed into an Error
 * message for another actor, and an Error message turned back into a rich
 * error on the receiving task. Private to libaxle.
 *
 * The tractor rules (§3.1), in C:
 * - pack at the source: src_uid = self, src_type = the code's name
 *   (axle_errname), boxed_type = the same, message, traceback text (the
 *   frames chain, then a symbolized backtrace where one was captured),
 *   code, frames; an -AXLE_EGROUP packs each member recursively;
 * - pack a remote error again (relay): src_uid, src_type, code, message,
 *   traceback and frames are kept, boxed_type becomes the relayer's local
 *   code name ("AXLE_EREMOTE"), and self is appended to relay_path;
 * - raise on receipt: boxed ContextCancelled -> -AXLE_ECTXCANCELLED,
 *   MsgTypeError -> -AXLE_EMSGTYPE, StreamOverrun -> -AXLE_EOVERRUN, any
 *   other -> -AXLE_EREMOTE (a group stays a group: -AXLE_EGROUP whose
 *   members are remote errors); the source's own code stays readable.
 */
#ifndef AXLE_CORE_ACTOR_RERR_H
#define AXLE_CORE_ACTOR_RERR_H

#include <axle/msg.h>
#include <axle/uid.h>

struct axle_error;

/*
 * axle__rerr_pack — an Error message for code, as raised (or relayed) in
 * actor self. e: the rich error for code, or NULL (a bare one is packed).
 * Returns: owned message (axle__rerr_free), or NULL when out of memory.
 */
Axle__Error *axle__rerr_pack(int code, const struct axle_error *e, const axle_uid *self);
void axle__rerr_free(Axle__Error *m);

/*
 * axle__rerr_raise — record m as the rich error of the calling task (or
 * thread) and return the local code (see above). Untrusted input: every
 * field is bounds-checked; a malformed uid is recorded as unknown.
 */
int axle__rerr_raise(const Axle__Error *m);

/* Set the canceller / sender of the calling task's recorded error. */
void axle__error_set_canceller(const axle_uid *who);
void axle__error_set_sender(const axle_uid *who);

#endif
