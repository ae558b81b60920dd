/*
 * core/ipc/sock.h — sockets for addresses: listening (with stale Unix
 * socket recovery) and connecting. Private to libaxle.
 */
#ifndef AXLE_CORE_IPC_SOCK_H
#define AXLE_CORE_IPC_SOCK_H

#include <axle/ipc.h>

/*
 * axle__listen — socket, bind and listen on addr (SOCK_CLOEXEC; TCP with
 * SO_REUSEADDR; IPv6 sockets IPV6_V6ONLY). For a Unix address whose path
 * exists: when nobody accepts on it (connect gives ECONNREFUSED) or the pid
 * in its name (<name>@<pid>.sock) is dead, the file is removed and bound
 * again; otherwise -EADDRINUSE. Anything at the path that is not a socket
 * is never removed. The parent directory of a Unix path under
 * axle_runtime_dir is created (0700) when missing; elsewhere a missing
 * parent is -ENOENT. A backlog of 0 or less means 128.
 *   bound: receives the address actually bound (TCP port 0 resolved).
 * Returns: the listening fd, owned by the caller.
 * Errors: -EADDRINUSE, with a rich error naming the address; -errno from
 *   socket/bind/listen, also naming the address.
 */
int axle__listen(const axle_addr *addr, int backlog, axle_addr *bound);

/*
 * axle__socket — a stream socket for addr's family (SOCK_CLOEXEC), not
 * connected. Returns: the fd (owned), or -errno (-EAFNOSUPPORT for an
 * unknown kind).
 */
int axle__socket(const axle_addr *addr);

/*
 * axle__tcp_tune — for a connected TCP socket: TCP_NODELAY, and keepalive
 * plus TCP_USER_TIMEOUT so a silent peer is declared dead after about
 * peer_timeout_ns (0 or less: the 5 s default): keepalive idles for half
 * the timeout, then up to 3 probes over the other half, never under 2 s in
 * all (the kernel counts whole seconds); TCP_USER_TIMEOUT is the timeout
 * in ms, rounded up. A no-op for Unix sockets. Returns: 0 or -errno.
 */
int axle__tcp_tune(int fd, const axle_addr *addr, int64_t peer_timeout_ns);

/*
 * axle__unix_unlink — remove a Unix socket file we bound (on server close).
 * A no-op for other addresses.
 */
void axle__unix_unlink(const axle_addr *addr);

#endif
