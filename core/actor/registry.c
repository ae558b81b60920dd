/*
 * core/actor/registry.c — find actors by name inside one tree.
 *
 * Until the discovery layer exists the root is the registrar. Every child
 * learns the root's address from its SpawnSpec (reg_addrs) and registers
 * its own address there once its server is up: over its parent's
 * connection when the parent is the root, else over a connection of its
 * own. An entry lives exactly as long as the connection it was registered
 * on, so a dead actor's entry goes with its connection and a look-up never
 * returns it (tractor's stale-entry rule).
 *
 * A look-up returns a portal on a fresh connection to the actor found; a
 * task in the runtime nursery runs that connection's message loop until
 * axle_portal_close (or the actor's end) closes it.
 */
#include "actor_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- the registrar (root) side ------------------------------------------------- */

static int reg_add(const axle_uid *uid, const char *addr, struct peer *via)
{
    struct reg_entry *e = calloc(1, sizeof *e);
    if (!e)
        return -ENOMEM;
    e->uid = *uid;
    snprintf(e->addr, sizeof e->addr, "%s", addr);
    e->via = via;
    e->next = A.registry;
    A.registry = e;
    return 0;
}

void axle__registry_add_self(void) { reg_add(&A.uid, A.addr, NULL); }

void axle__registry_drop_peer(struct peer *p)
{
    for (struct reg_entry **e = &A.registry; *e;) {
        if ((*e)->via == p) {
            struct reg_entry *dead = *e;
            *e = dead->next;
            free(dead);
        } else {
            e = &(*e)->next;
        }
    }
}

void axle__registry_clear(void)
{
    while (A.registry) {
        struct reg_entry *e = A.registry;
        A.registry = e->next;
        free(e);
    }
}

static const struct reg_entry *reg_find(const char *name)
{
    for (const struct reg_entry *e = A.registry; e; e = e->next)
        if (strcmp(e->uid.name, name) == 0)
            return e;
    return NULL;
}

/* Copy an untrusted uid from the wire. */
static void uid_from(axle_uid *u, const Axle__Uid *m)
{
    memset(u, 0, sizeof *u);
    if (!m)
        return;
    if (m->name)
        snprintf(u->name, sizeof u->name, "%s", m->name);
    if (m->uuid.len == sizeof u->uuid)
        memcpy(u->uuid, m->uuid.data, sizeof u->uuid);
    u->pid = m->pid;
}

void axle__registry_handle(struct peer *p, const Axle__RegistrarRequest *q)
{
    Axle__RegistrarReply rep = AXLE__REGISTRAR_REPLY__INIT;
    rep.cid = q->cid;
    Axle__RegistryEntry ent = AXLE__REGISTRY_ENTRY__INIT, *ents[1] = {&ent};
    Axle__Uid um;
    char *addrs[1];
    switch (q->req_case) {
    case AXLE__REGISTRAR_REQUEST__REQ_REGISTER: {
        const Axle__RegistryEntry *r = q->register_;
        axle_uid u;
        uid_from(&u, r ? r->uid : NULL);
        if (!r || !u.name[0] || r->n_addrs < 1 || !r->addrs[0])
            rep.code = -EINVAL;
        else
            rep.code = reg_add(&u, r->addrs[0], p);
        break;
    }
    case AXLE__REGISTRAR_REQUEST__REQ_FIND: {
        const struct reg_entry *e = q->find ? reg_find(q->find) : NULL;
        if (!e) {
            rep.code = -ENOENT;
            break;
        }
        um = axle__uid_msg(&e->uid);
        ent.uid = &um;
        addrs[0] = (char *)e->addr;
        ent.addrs = addrs;
        ent.n_addrs = 1;
        rep.entries = ents;
        rep.n_entries = 1;
        break;
    }
    default:
        rep.code = -ENOSYS;
    }
    Axle__Envelope env = AXLE__ENVELOPE__INIT;
    env.msg_case = AXLE__ENVELOPE__MSG_REGISTRAR_REPLY;
    env.registrar_reply = &rep;
    if (axle__peer_send(p, &env) < 0)
        axle_log_runtime("registrar reply to %s not delivered", p->uid.name);
}

/* ---- the client side ------------------------------------------------------------ */

/* Send a request to the registrar and wait for its reply (owned *out). */
static int ask(Axle__RegistrarRequest *q, axle_msg **out)
{
    struct peer *r = A.reg_peer;
    if (!r)
        return AXLE_SET_ERR(-AXLE_ETRANSPORT, "no connection to the registrar");
    struct call k;
    axle__call_open(&k, r);
    q->cid = k.cid;
    Axle__Envelope env = AXLE__ENVELOPE__INIT;
    env.msg_case = AXLE__ENVELOPE__MSG_REGISTRAR_REQUEST;
    env.registrar_request = q;
    int rc = axle__peer_send(r, &env);
    if (rc == 0)
        rc = axle__call_next(&k, out);
    if (rc == 0 && (*out)->env->msg_case != AXLE__ENVELOPE__MSG_REGISTRAR_REPLY) {
        axle_msg_free(*out);
        *out = NULL;
        rc = AXLE_SET_ERR(-EPROTO, "the registrar answered with something else");
    }
    axle__call_close(&k);
    return rc;
}

static int loop_task(void *arg)
{
    struct peer *p = arg;
    axle_conn *c = p->conn;
    axle__peer_loop(p);
    axle_conn_close(c);
    axle__peer_unref(p);
    return 0;
}

int axle__peer_start_loop(struct peer *p)
{
    axle_task_opts o = {.name = "peer"};
    return axle_nursery_start_soon(A.rt, loop_task, p, &o);
}

/* Connect to addr and run the connection's loop in the runtime nursery. */
static int connect_peer(const char *addr, struct peer **out)
{
    axle_addr a;
    int rc = axle_addr_parse(&a, addr);
    if (rc < 0)
        return rc;
    axle_conn_opts co = axle__actor_conn_opts();
    axle_conn *c;
    if ((rc = axle_conn_connect(&c, &a, &co)) < 0)
        return rc;
    struct peer *p = axle__peer_new(c);
    if (!p) {
        axle_conn_close(c);
        return AXLE_SET_ERR(-ENOMEM, "no memory for a peer");
    }
    if ((rc = axle__peer_start_loop(p)) < 0) {
        axle__peer_unref(p);
        axle_conn_close(c);
        return rc;
    }
    *out = p;
    return 0;
}

int axle__registry_register(void)
{
    if (!A.reg_addr[0])
        return 0;
    if (A.parent && strcmp(A.reg_addr, A.parent_addr) == 0) {
        A.reg_peer = A.parent; /* the parent is the registrar */
        A.reg_peer->refs++;
    } else {
        int rc = connect_peer(A.reg_addr, &A.reg_peer);
        if (rc < 0)
            return rc;
        A.reg_peer->refs++;
    }
    Axle__Uid um = axle__uid_msg(&A.uid);
    char *addrs[1] = {A.addr};
    Axle__RegistryEntry ent = AXLE__REGISTRY_ENTRY__INIT;
    ent.uid = &um;
    ent.addrs = addrs;
    ent.n_addrs = 1;
    Axle__RegistrarRequest q = AXLE__REGISTRAR_REQUEST__INIT;
    q.req_case = AXLE__REGISTRAR_REQUEST__REQ_REGISTER;
    q.register_ = &ent;
    axle_msg *m;
    int rc = ask(&q, &m);
    if (rc == 0) {
        rc = m->env->registrar_reply->code;
        axle_msg_free(m);
    }
    return rc;
}

void axle__registry_leave(void)
{
    if (A.reg_peer) {
        if (A.reg_peer != A.parent && A.reg_peer->conn)
            shutdown(axle_conn_fd(A.reg_peer->conn), SHUT_RDWR);
        axle__peer_unref(A.reg_peer);
        A.reg_peer = NULL;
    }
}

int axle_find_actor(const char *name, axle_portal **out)
{
    *out = NULL;
    if (!A.running)
        return AXLE_SET_ERR(-ENOTCONN, "axle_find_actor: not inside an actor");
    char addr[AXLE_ADDR_STRLEN];
    if (A.is_root) {
        const struct reg_entry *e = reg_find(name);
        if (!e)
            return AXLE_SET_ERR(-ENOENT, "no actor named '%s' in this tree", name);
        snprintf(addr, sizeof addr, "%s", e->addr);
    } else {
        Axle__RegistrarRequest q = AXLE__REGISTRAR_REQUEST__INIT;
        q.req_case = AXLE__REGISTRAR_REQUEST__REQ_FIND;
        q.find = (char *)name;
        axle_msg *m;
        int rc = ask(&q, &m);
        if (rc < 0)
            return rc;
        const Axle__RegistrarReply *r = m->env->registrar_reply;
        if (r->code < 0 || r->n_entries < 1 || !r->entries[0]->n_addrs) {
            rc = r->code < 0 ? r->code : -ENOENT;
            axle_msg_free(m);
            return AXLE_SET_ERR(rc, "no actor named '%s' in this tree", name);
        }
        snprintf(addr, sizeof addr, "%s", r->entries[0]->addrs[0]);
        axle_msg_free(m);
    }
    struct peer *p;
    int rc = connect_peer(addr, &p);
    if (rc < 0)
        return rc;
    axle_portal *pt = malloc(sizeof *pt);
    if (!pt) {
        shutdown(axle_conn_fd(p->conn), SHUT_RDWR);
        return AXLE_SET_ERR(-ENOMEM, "no memory for a portal");
    }
    axle__portal_init(pt, p);
    *out = pt;
    return 0;
}

void axle_portal_close(axle_portal *pt)
{
    if (!pt)
        return;
    if (!pt->peer->gone && pt->peer->conn)
        shutdown(axle_conn_fd(pt->peer->conn), SHUT_RDWR); /* its loop ends and closes it */
    axle__portal_fini(pt);
    free(pt);
}
