/*
 * axle/ipc.h — addresses, framed connections, servers: the control plane.
 *
 * A connection (axle_conn) is a connected TCP or Unix stream socket on the
 * scheduler's io_uring, carrying frames: a 4-byte little-endian length, then
 * one encoded axle.Envelope (proto/axle.proto). Every connection starts with
 * a handshake both ways (protocol version, uid, and, when the tree has a
 * secret, a challenge-response proof) before any other frame is accepted.
 *
 * Addresses are written as multiaddr strings:
 *     /ip4/127.0.0.1/tcp/1616   /ip6/::1/tcp/0   /unix/<absolute path>
 *
 * All calls must be made from a task (inside axle_run) unless noted.
 */
#ifndef AXLE_IPC_H
#define AXLE_IPC_H

#include <axle/error.h>
#include <axle/msg.h>
#include <axle/task.h>
#include <axle/uid.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ----------------------------------------------------------------------- */
/* Addresses (callable anywhere, no scheduler needed)                       */
/* ----------------------------------------------------------------------- */

enum axle_addr_kind { AXLE_ADDR_TCP4 = 1, AXLE_ADDR_TCP6 = 2, AXLE_ADDR_UNIX = 3 };

typedef struct axle_addr {
    enum axle_addr_kind kind;
    socklen_t len; /* bytes of sa in use */
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
        struct sockaddr_un un;
    } u;
} axle_addr;

/* Longest multiaddr string axle_addr_format writes, NUL included. */
#define AXLE_ADDR_STRLEN 160

/*
 * axle_addr_parse — parse a multiaddr string.
 * Returns: 0.
 * Errors: -EINVAL (malformed: missing parts, bad host, a port that is not
 *   0-65535 in plain decimal (no sign, no leading zero), an empty unix
 *   path); -EPROTONOSUPPORT (a protocol other than ip4/ip6 + tcp, or unix,
 *   e.g. /ip4/1.2.3.4/udp/5, /dns/..., or anything after the port);
 *   -ENAMETOOLONG (unix path too long for sun_path). The rich error says
 *   which part is wrong.
 */
AXLE_API int axle_addr_parse(axle_addr *out, const char *maddr);

/*
 * axle_addr_format — the multiaddr string of an address (the inverse of
 * parse: parse(format(a)) == a).
 * Returns: the string length (like snprintf; >= len means truncated).
 * Errors: -EINVAL for an unknown kind (buf gets ""). An unnamed Unix
 *   address (an accepted peer's) formats as "/unix", which does not parse.
 */
AXLE_API int axle_addr_format(const axle_addr *a, char *buf, size_t len);

/* Whether two addresses are the same (kind, host, port or path). */
AXLE_API bool axle_addr_equal(const axle_addr *a, const axle_addr *b);

/* Whether an address is loopback (127/8, ::1) or a Unix socket. */
AXLE_API bool axle_addr_is_local(const axle_addr *a);

/*
 * axle_runtime_dir — the directory for axle's Unix sockets:
 * $XDG_RUNTIME_DIR/axle, or, when XDG_RUNTIME_DIR is unset,
 * /tmp/axle-<uid>; created with mode 0700 if missing (an existing one must
 * be owned by this user and not group/world-accessible). A relative
 * XDG_RUNTIME_DIR is ignored, as the XDG spec says.
 * Returns: the path length.
 * Errors: -ENAMETOOLONG; -EPERM (exists with the wrong owner or mode, or is
 *   a symlink or not a directory); -errno from mkdir.
 */
AXLE_API int axle_runtime_dir(char *buf, size_t len);

/*
 * axle_addr_unix_default — the default Unix address of an actor:
 * <runtime dir>/<name>@<pid>.sock, for this process's pid.
 * Errors: as axle_runtime_dir, and -EINVAL for a name with '/'.
 */
AXLE_API int axle_addr_unix_default(axle_addr *out, const char *name);

/* ----------------------------------------------------------------------- */
/* Identity and security                                                    */
/* ----------------------------------------------------------------------- */

/* Longest cookie (shared secret) in bytes. */
#define AXLE_COOKIE_MAX 256

/*
 * axle_cookie_load — the tree's secret: $AXLE_COOKIE if set, else the
 * contents of path (if path is not NULL and exists). A cookie file must be
 * a regular file owned by this user with no group or world bits (0600 or
 * stricter); otherwise it is refused. Trailing "\n" and "\r" are stripped.
 *   buf: receives the cookie (not NUL-terminated), up to len bytes.
 * Returns: the cookie length; 0 when there is none (no variable, no file).
 * Errors: -EPERM (file group/world-readable, owned by someone else, or not
 *   a regular file); -EINVAL (empty after stripping, including an
 *   AXLE_COOKIE that is set but empty; or longer than len or
 *   AXLE_COOKIE_MAX); -errno from open/read.
 */
AXLE_API int axle_cookie_load(const char *path, uint8_t *buf, size_t len);

/* ----------------------------------------------------------------------- */
/* Connections                                                              */
/* ----------------------------------------------------------------------- */

typedef struct axle_conn axle_conn;

/* What a connection enforces; zeros mean the defaults below. */
typedef struct axle_conn_opts {
    const axle_uid *uid;   /* who we are (required) */
    const uint8_t *cookie; /* shared secret, or NULL for none */
    size_t cookie_len;
    uint32_t max_frame;         /* default 16 MiB; checked before allocating */
    uint32_t max_frame_preauth; /* before the handshake ends: default 4 KiB */
    int64_t handshake_ns;       /* handshake deadline: default 2 s */
    int64_t peer_timeout_ns;    /* TCP: a silent peer is dead after this: default 5 s */
    uint32_t flags;             /* AXLE_HELLO_* sent in our hello */
} axle_conn_opts;

enum { AXLE_HELLO_REGISTRAR = 1u << 0, AXLE_HELLO_PROBE = 1u << 1 };

#define AXLE_MAX_FRAME_DEFAULT (16u << 20)
#define AXLE_MAX_FRAME_PREAUTH_DEFAULT 4096u
#define AXLE_HANDSHAKE_NS_DEFAULT (2 * 1000000000LL)
#define AXLE_PEER_TIMEOUT_NS_DEFAULT (5 * 1000000000LL)

/*
 * axle_conn_connect — connect to addr and run the handshake.
 *   out: receives the connection, owned (axle_conn_close).
 *   opts: borrowed for the call; what it points to is copied.
 * Returns: 0.
 * Errors: -errno from socket/connect (-ECONNREFUSED, -ENOENT for a missing
 *   Unix path, ...); the handshake's errors (see axle_conn_handshake);
 *   -ECANCELED.
 * Checkpoint: yes.
 */
AXLE_API int axle_conn_connect(axle_conn **out, const axle_addr *addr, const axle_conn_opts *opts);

/*
 * Handshake errors (for connect, and for a server's incoming peers):
 *   -AXLE_EVERSION   the peer speaks another protocol version;
 *   -AXLE_EAUTH      wrong proof, or a proof missing where one is required;
 *   -EPROTO          the first frame is not a hello (or garbage that decodes);
 *   -EBADMSG         a frame that does not decode;
 *   -EMSGSIZE        a length over the pre-authentication limit;
 *   -ETIMEDOUT       no handshake within the deadline;
 *   -EPERM           a Unix peer running as another user, or claiming a
 *                    pid that SO_PEERCRED contradicts;
 *   -AXLE_ETRANSPORT the peer closed or reset during the handshake.
 */

/*
 * axle_conn_send — encode env and send it as one frame (its version field
 * is set to AXLE_PROTO_VERSION on the wire whatever env says). Several tasks may
 * send on one connection: frames never interleave (a lock orders them).
 * Once a frame's first byte is written, the rest is written even if the
 * caller is cancelled (inside a shielded scope bounded by the peer
 * timeout), so a cancel never leaves half a frame on the wire.
 *   env: borrowed.
 * Returns: 0.
 * Errors: -EMSGSIZE (encodes over max_frame; nothing sent); -ECANCELED
 *   (nothing sent); -AXLE_ETRANSPORT (peer gone; the rich error has the
 *   errno); -AXLE_ECLOSED (the connection was closed).
 * Checkpoint: yes.
 */
AXLE_API int axle_conn_send(axle_conn *c, const Axle__Envelope *env);

/*
 * axle_conn_send_buffered — queue env's frame without writing it, so that
 * many small frames leave in one write: it is written by the next
 * axle_conn_send (which writes everything queued before its own frame, in
 * order) or axle_conn_flush, or at once when 64 KiB are queued. The
 * caller owns getting it flushed: a frame left queued is never sent. A
 * write failure found later is sticky (every later call returns it).
 * Returns: 0 (queued, or written).
 * Errors: as axle_conn_send (a cancel only ever leaves frames queued).
 * Checkpoint: yes (only when it writes).
 */
AXLE_API int axle_conn_send_buffered(axle_conn *c, const Axle__Envelope *env);

/*
 * axle_conn_flush — write every queued frame.
 * Returns: 0.  Errors: as axle_conn_send; -ECANCELED leaves them queued.
 * Checkpoint: yes when anything is queued.
 */
AXLE_API int axle_conn_flush(axle_conn *c);

/* Bytes queued by axle_conn_send_buffered and not yet written. */
AXLE_API size_t axle_conn_pending(const axle_conn *c);

/*
 * axle_conn_recv — receive the next frame, decoded. One task receives at
 * a time (others wait their turn). A cancelled receive loses nothing: bytes
 * already read stay buffered for the next call.
 *   out: receives the message, owned (axle_msg_free).
 * Returns: 0.
 * Errors: -AXLE_ETRANSPORT (EOF, reset, or EOF inside a frame: the rich
 *   error says which); -EMSGSIZE (length over max_frame: the connection is
 *   then broken); -EBADMSG (does not decode, or decodes past the allocation
 *   budget); -EPROTO (a valid frame of a kind this version does not know);
 *   -ECANCELED; -AXLE_ECLOSED.
 * After -EMSGSIZE or -AXLE_ETRANSPORT every later call fails the same way.
 * Checkpoint: yes.
 */
AXLE_API int axle_conn_recv(axle_conn *c, axle_msg **out);

/* The peer's identity from its hello (borrowed, valid while c lives). */
AXLE_API const axle_uid *axle_conn_peer(const axle_conn *c);
/* The peer's hello flags (AXLE_HELLO_*). */
AXLE_API uint32_t axle_conn_peer_flags(const axle_conn *c);
/* The peer's address (for Unix sockets: the path we connected to, or empty). */
AXLE_API const axle_addr *axle_conn_peer_addr(const axle_conn *c);
/* The socket (borrowed; for diagnostics, getsockopt...). */
AXLE_API int axle_conn_fd(const axle_conn *c);

/*
 * axle_conn_close — shut the socket down and free the connection. Tasks
 * blocked in send or recv on it get -AXLE_ECLOSED; the memory is freed
 * once they have left. Never blocks, never fails.
 * Invalidates: c.
 */
AXLE_API void axle_conn_close(axle_conn *c);

/* ----------------------------------------------------------------------- */
/* Servers                                                                  */
/* ----------------------------------------------------------------------- */

typedef struct axle_server axle_server;

/*
 * A handler runs as its own task for each peer whose handshake succeeded.
 * c is borrowed: the server closes it when the handler returns. The
 * handler's error is logged; it does not stop the server.
 */
typedef int (*axle_conn_handler)(axle_conn *c, void *arg);

typedef struct axle_server_opts {
    axle_conn_opts conn; /* applied to every accepted connection */
    int backlog;         /* listen backlog: default 128 */
    size_t max_conns;    /* connections served at once: default 1024; more are closed at accept */
} axle_server_opts;

/*
 * axle_server_open — bind and listen on every address (multi-homing). TCP
 * port 0 picks a free port; axle_server_addrs tells which. A stale Unix
 * socket file whose owner is dead is removed and bound again. A non-loopback
 * address without a cookie logs a warning.
 *   addrs: n addresses, borrowed. opts: copied (cookie bytes included).
 * Returns: 0.
 * Errors: -EADDRINUSE (the rich error names the address); -EINVAL (n == 0
 *   or no uid); -errno from socket/bind/listen.
 * Checkpoint: no.
 */
AXLE_API int axle_server_open(axle_server **out, const axle_addr *addrs, size_t n,
                              const axle_server_opts *opts);

/* The bound addresses, ports resolved (borrowed, *n of them). */
AXLE_API const axle_addr *axle_server_addrs(const axle_server *s, size_t *n);

/*
 * axle_server_serve — accept on every address and run handler(c, arg) for
 * each peer that completes the handshake, until axle_server_shutdown or a
 * cancel. A peer that fails the handshake is closed with one log line (peer
 * address and reason) and the server keeps serving everyone else. Returns
 * only once every handler has returned and its connection is closed.
 * Returns: 0 after axle_server_shutdown.
 * Errors: -ECANCELED; -EBUSY when already serving.
 * Checkpoint: yes.
 */
AXLE_API int axle_server_serve(axle_server *s, axle_conn_handler handler, void *arg);

/* axle_server_shutdown — make a running serve return 0. Idempotent. */
AXLE_API void axle_server_shutdown(axle_server *s);

/*
 * axle_server_close — close the listeners (and remove Unix socket files)
 * and free the server. Must not be called while serve is running (it
 * aborts with a message): shut down or cancel first.
 * Invalidates: s.
 */
AXLE_API void axle_server_close(axle_server *s);

#ifdef __cplusplus
}
#endif
#endif
