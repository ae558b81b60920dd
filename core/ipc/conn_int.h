/*
 * core/ipc/conn_int.h — the connection structure, shared by conn.c and
 * server.c. Private to libaxle.
 */
#ifndef AXLE_CORE_IPC_CONN_INT_H
#define AXLE_CORE_IPC_CONN_INT_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* struct ucred */
#endif
#include <axle/ipc.h>

struct axle_conn {
    int fd;                          /* the socket (owned) */
    axle_addr peer_addr;             /* where we connected, or who connected */
    axle_conn_opts opts;             /* copied; cookie and uid point into this struct */
    uint8_t cookie[AXLE_COOKIE_MAX]; /* our copy of the secret */
    size_t cookie_len;
    axle_uid self;        /* our identity (copy) */
    axle_uid peer;        /* from the peer's hello */
    uint32_t peer_flags;  /* AXLE_HELLO_* from the peer's hello */
    bool authed;          /* handshake done: the full frame limit applies */
    bool closed;          /* axle_conn_close was called */
    int broken;           /* sticky failure code, or 0 */
    char broken_why[128]; /* what broke it, for later errors */
    int users;            /* tasks inside send/recv (freeing waits for 0) */
    axle_lock send_lock;  /* one frame at a time on the wire */
    axle_lock recv_lock;  /* one receiver at a time */
    uint64_t rx_bytes;    /* bytes received in all */
    uint8_t *rbuf;        /* receive buffer */
    size_t rcap;          /* its size */
    size_t rhead, rlen;   /* Invariant: unparsed bytes are rbuf[rhead, rhead+rlen) */
    uint8_t *sbuf;        /* encoded frames not yet written, then reused */
    size_t scap;          /* its size */
    size_t slen;          /* Invariant: sbuf[0, slen) are whole frames, in order, to write */
};

/* A connection on a connected fd (taken). Defaults filled in. NULL: no memory. */
axle_conn *axle__conn_new(int fd, const axle_addr *peer_addr, const axle_conn_opts *opts);
/* Run the handshake under the handshake deadline. */
int axle__conn_handshake(axle_conn *c, bool client);
/*
 * In a forked child: close the server's listening sockets (the parent's;
 * no unlink: the files are the parent's) and free it. Fork story.
 */
void axle__server_forget(axle_server *s);
/* Send / receive one frame without locks or state checks (handshake use). */
int axle__conn_send_raw(axle_conn *c, const Axle__Envelope *env);
int axle__conn_recv_raw(axle_conn *c, axle_msg **out);

#endif
