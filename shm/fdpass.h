/*
 * shm/fdpass.h — one record and at most one fd over a Unix socket
 * (SCM_RIGHTS). Private to libaxle and libaxle-shm: the memfd segments use
 * it, and so does the forkserver (spawn/), which is why it lives with the
 * libc-only shared-memory objects that both libraries carry.
 */
#ifndef AXLE_SHM_FDPASS_H
#define AXLE_SHM_FDPASS_H

#include <stddef.h>
#include <sys/types.h>

/* Send one record of len bytes with fd (none when fd < 0). Returns 0 or -errno. */
int axle__fd_send(int sock, const void *rec, size_t len, int fd);

/*
 * Receive one record of exactly len bytes and at most one fd (CLOEXEC),
 * *fd = -1 when none came. Returns len, 0 on EOF, or -errno (-EPROTO for a
 * record of the wrong size, more than one fd or a truncated control
 * message; every fd that came is closed then).
 */
ssize_t axle__fd_recv(int sock, void *rec, size_t len, int *fd);

#endif
