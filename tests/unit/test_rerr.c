/*
 * tests/unit/test_rerr.c — remote errors (core/actor/rerr.h) and the rich
 * error's remote fields and backtraces (axle/error.h): a local error packed
 * with every field checked; raised back and read through every accessor;
 * the boxed kinds that keep a local meaning; relaying through two actors;
 * an error group with a remote member crossing twice; hostile messages
 * bounded; backtraces naming the functions that raised, on the main stack
 * and on a fiber; the rendering of all of it.
 *
 * Every pack goes through the real wire (an Envelope encoded as a frame and
 * decoded again) before it is raised, as it does between actors.
 *
 * axle__rerr_* and axle__error_clone are hidden in libaxle.so, so this
 * suite links the static libaxle.a (tests/CMakeLists.txt). It is compiled
 * with -g -fno-omit-frame-pointer -fno-optimize-sibling-calls so that the
 * helpers below keep their own frames on the stack.
 */
#include "task_helpers.h"

#include <axle/msg.h>
#include <axle/uid.h>

#include "../../core/actor/rerr.h"

/* core/error.c (declared in core/sched.h, which the suite does not need). */
struct axle_error *axle__error_clone(const struct axle_error *e);
void axle__error_free(struct axle_error *e);

/* ------------------------------------------------------------- helpers */

static axle_uid mkuid(const char *name, uint8_t seed, int32_t pid)
{
    axle_uid u;
    memset(&u, 0, sizeof u);
    snprintf(u.name, sizeof u.name, "%s", name);
    for (int i = 0; i < 16; i++)
        u.uuid[i] = (uint8_t)(seed + i);
    u.pid = pid;
    return u;
}

static void uid_eq(const axle_uid *got, const axle_uid *want)
{
    ck_assert_ptr_nonnull(got);
    ck_assert_str_eq(got->name, want->name);
    ck_assert_mem_eq(got->uuid, want->uuid, 16);
    ck_assert_int_eq(got->pid, want->pid);
}

static void muid_eq(const Axle__Uid *got, const axle_uid *want)
{
    ck_assert_ptr_nonnull(got);
    ck_assert_str_eq(got->name, want->name);
    ck_assert_uint_eq(got->uuid.len, 16);
    ck_assert_mem_eq(got->uuid.data, want->uuid, 16);
    ck_assert_int_eq(got->pid, want->pid);
}

static void has(const char *text, const char *part)
{
    ck_assert_ptr_nonnull(text);
    ck_assert_msg(strstr(text, part), "\"%s\" not in:\n%s", part, text);
}

/*
 * The Error message m as a peer receives it: inside an Envelope, encoded
 * as a frame, decoded. Frees m. *keep owns the result (axle_msg_free).
 */
static const Axle__Error *wire(Axle__Error *m, axle_msg **keep)
{
    ck_assert_ptr_nonnull(m);
    Axle__Envelope env = AXLE__ENVELOPE__INIT;
    env.version = AXLE_PROTO_VERSION;
    env.msg_case = AXLE__ENVELOPE__MSG_ERROR;
    env.error = m;
    size_t n = axle_msg_encoded_size(&env);
    uint8_t *frame = malloc(4 + n);
    ck_assert_ptr_nonnull(frame);
    ck_assert_uint_eq(axle_msg_encode_frame(&env, frame), 4 + n);
    axle__rerr_free(m);
    *keep = NULL;
    ck_assert_int_eq(axle_msg_decode(frame + 4, n, 0, keep), 0);
    free(frame);
    ck_assert_int_eq((*keep)->env->msg_case, AXLE__ENVELOPE__MSG_ERROR);
    return (*keep)->env->error;
}

/* Pack the calling thread's error (code) in actor self, send it, raise it. */
static int hop(int code, const axle_uid *self)
{
    axle_msg *keep;
    const Axle__Error *m = wire(axle__rerr_pack(code, axle_error_last(), self), &keep);
    int rc = axle__rerr_raise(m);
    axle_msg_free(keep);
    return rc;
}

static const char *frame_fn(const axle_error *e, size_t i, const char **file, int *line)
{
    const char *func = NULL;
    ck_assert_int_eq(axle_error_frame(e, i, &func, file, line), 0);
    return func;
}

/* Three calls deep, each adding its frame as the error rises. */
__attribute__((noinline)) static int raise_leaf(int code)
{
    return AXLE_SET_ERR(code, "disk %d", 7);
}

__attribute__((noinline)) static int raise_mid(int code)
{
    int rc = raise_leaf(code);
    return AXLE_ERR_FRAME(rc);
}

__attribute__((noinline)) static int raise_top(int code)
{
    int rc = raise_mid(code);
    return AXLE_ERR_FRAME(rc);
}

static const axle_uid *A(void)
{
    static axle_uid u;
    u = mkuid("alpha", 0x10, 101);
    return &u;
}
static const axle_uid *B(void)
{
    static axle_uid u;
    u = mkuid("beta", 0x20, 202);
    return &u;
}
static const axle_uid *C(void)
{
    static axle_uid u;
    u = mkuid("gamma", 0x30, 303);
    return &u;
}

/* ------------------------------------------------------------- packing */

START_TEST(rerr_pack_of_a_local_error_fills_every_field)
{
    ck_assert_int_eq(raise_top(-EIO), -EIO);
    Axle__Error *m = axle__rerr_pack(-EIO, axle_error_last(), A());
    ck_assert_ptr_nonnull(m);
    muid_eq(m->src_uid, A());
    ck_assert_str_eq(m->src_type, "EIO");
    ck_assert_str_eq(m->boxed_type, "EIO");
    ck_assert_int_eq(m->code, -EIO);
    ck_assert_str_eq(m->message, "disk 7");
    ck_assert_uint_eq(m->n_relay_path, 0);
    ck_assert_ptr_null(m->canceller);
    ck_assert_ptr_null(m->sender);
    ck_assert_uint_eq(m->n_members, 0);
    ck_assert_uint_eq(m->n_frames, 3);
    const char *want[] = {"raise_leaf", "raise_mid", "raise_top"};
    for (size_t i = 0; i < 3; i++) {
        ck_assert_str_eq(m->frames[i]->func, want[i]);
        has(m->frames[i]->file, "tests/unit/test_rerr.c");
        ck_assert_int_gt(m->frames[i]->line, 0);
    }
    /* The traceback: the frames chain, then the symbolized backtrace. */
    has(m->traceback, "at raise_leaf (");
    has(m->traceback, "at raise_top (");
    has(m->traceback, "backtrace:\n");
    has(m->traceback, "#0  raise_leaf+0x");
    ck_assert_int_eq(m->has_cid, 0); /* the caller's to set */
    axle__rerr_free(m);
}
END_TEST

START_TEST(rerr_pack_without_a_rich_error_packs_the_code)
{
    /* No error, and a stale one of another code: both pack the bare code. */
    axle_error_clear();
    for (int round = 0; round < 2; round++) {
        Axle__Error *m = axle__rerr_pack(-ENOENT, axle_error_last(), A());
        ck_assert_ptr_nonnull(m);
        muid_eq(m->src_uid, A());
        ck_assert_str_eq(m->src_type, "ENOENT");
        ck_assert_str_eq(m->boxed_type, "ENOENT");
        ck_assert_int_eq(m->code, -ENOENT);
        ck_assert_str_eq(m->message, axle_strerror(-ENOENT));
        ck_assert_uint_eq(m->n_frames, 0);
        ck_assert_str_eq(m->traceback, "");
        axle__rerr_free(m);
        AXLE_SET_ERR(-EIO, "stale");
    }
    axle__rerr_free(NULL);
}
END_TEST

/* ------------------------------------------------------------- raising */

START_TEST(rerr_raise_reads_back_every_field)
{
    ck_assert_int_eq(raise_top(-EIO), -EIO);
    ck_assert_int_eq(hop(-EIO, A()), -AXLE_EREMOTE);

    const axle_error *e = last_error(-AXLE_EREMOTE);
    ck_assert(axle_error_is_remote(e));
    ck_assert_str_eq(axle_error_message(e), "disk 7");
    uid_eq(axle_error_src_uid(e), A());
    ck_assert_str_eq(axle_error_src_type(e), "EIO");
    ck_assert_str_eq(axle_error_boxed_type(e), "EIO");
    ck_assert_int_eq(axle_error_src_code(e), -EIO);
    ck_assert_uint_eq(axle_error_relay_len(e), 0);
    ck_assert_ptr_null(axle_error_relay(e, 0));
    ck_assert_ptr_null(axle_error_canceller(e));
    ck_assert_ptr_null(axle_error_sender(e));
    ck_assert_uint_eq(axle_error_nmembers(e), 0);
    ck_assert_ptr_null(axle_error_member(e, 0));
    ck_assert_uint_eq(axle_error_nframes(e), 3);
    const char *want[] = {"raise_leaf", "raise_mid", "raise_top"};
    for (size_t i = 0; i < 3; i++) {
        const char *file;
        int line;
        ck_assert_str_eq(frame_fn(e, i, &file, &line), want[i]);
        has(file, "tests/unit/test_rerr.c");
        ck_assert_int_gt(line, 0);
    }
    ck_assert_int_eq(axle_error_frame(e, 3, NULL, NULL, NULL), -EINVAL);
    const char *tb = axle_error_traceback(e);
    has(tb, "at raise_mid (");
    has(tb, "raise_leaf+0x");

    /* Frames added here as it rises come after the source's. */
    ck_assert_int_eq(AXLE_ERR_FRAME(-AXLE_EREMOTE), -AXLE_EREMOTE);
    ck_assert_uint_eq(axle_error_nframes(e), 4);
    ck_assert_str_eq(frame_fn(e, 3, NULL, NULL), "rerr_raise_reads_back_every_field_fn");
    axle_error_clear();
}
END_TEST

START_TEST(rerr_local_error_reads_as_its_own_source)
{
    const axle_error *e;
    ck_assert_int_eq(raise_top(-EPIPE), -EPIPE);
    e = last_error(-EPIPE);
    ck_assert(!axle_error_is_remote(e));
    ck_assert_ptr_null(axle_error_src_uid(e));
    ck_assert_str_eq(axle_error_src_type(e), "EPIPE");
    ck_assert_str_eq(axle_error_boxed_type(e), "EPIPE");
    ck_assert_int_eq(axle_error_src_code(e), -EPIPE);
    ck_assert_uint_eq(axle_error_relay_len(e), 0);
    ck_assert_ptr_null(axle_error_canceller(e));
    ck_assert_ptr_null(axle_error_sender(e));
    has(axle_error_traceback(e), "raise_leaf+0x");
    /* Kept: the second read returns the same text. */
    ck_assert_ptr_eq(axle_error_traceback(e), axle_error_traceback(e));

    /* Cancellation is not an error: no backtrace is captured. */
    ck_assert_int_eq(AXLE_SET_ERR(-ECANCELED, "cancelled"), -ECANCELED);
    ck_assert_ptr_null(axle_error_traceback(last_error(-ECANCELED)));
    axle_error_clear();
}
END_TEST

START_TEST(rerr_boxed_kinds_raise_as_their_local_codes)
{
    /* A context cancelled, with its canceller. */
    AXLE_SET_ERR(-AXLE_ECTXCANCELLED, "cancelled by %s", "gamma");
    axle__error_set_canceller(C());
    uid_eq(axle_error_canceller(axle_error_last()), C());
    ck_assert_int_eq(hop(-AXLE_ECTXCANCELLED, A()), -AXLE_ECTXCANCELLED);
    const axle_error *e = last_error(-AXLE_ECTXCANCELLED);
    ck_assert(axle_error_is_remote(e));
    ck_assert_str_eq(axle_error_boxed_type(e), "AXLE_ECTXCANCELLED");
    uid_eq(axle_error_canceller(e), C());
    ck_assert_ptr_null(axle_error_sender(e));

    /* An overrun, with its sender. */
    AXLE_SET_ERR(-AXLE_EOVERRUN, "queue full");
    axle__error_set_sender(B());
    ck_assert_int_eq(hop(-AXLE_EOVERRUN, A()), -AXLE_EOVERRUN);
    e = last_error(-AXLE_EOVERRUN);
    uid_eq(axle_error_sender(e), B());
    ck_assert_ptr_null(axle_error_canceller(e));
    axle__error_set_sender(NULL);
    ck_assert_ptr_null(axle_error_sender(e));

    AXLE_SET_ERR(-AXLE_EMSGTYPE, "not a Point");
    ck_assert_int_eq(hop(-AXLE_EMSGTYPE, A()), -AXLE_EMSGTYPE);
    ck_assert_str_eq(axle_error_message(last_error(-AXLE_EMSGTYPE)), "not a Point");

    /* Every other kind is a plain remote error that keeps its source code. */
    AXLE_SET_ERR(-AXLE_ENOTEXPOSED, "namespace \"ops\" is not exposed");
    ck_assert_int_eq(hop(-AXLE_ENOTEXPOSED, A()), -AXLE_EREMOTE);
    e = last_error(-AXLE_EREMOTE);
    ck_assert_int_eq(axle_error_src_code(e), -AXLE_ENOTEXPOSED);
    ck_assert_str_eq(axle_error_src_type(e), "AXLE_ENOTEXPOSED");

    /* Without an error to act on, setting them does nothing. */
    axle_error_clear();
    axle__error_set_canceller(C());
    axle__error_set_sender(C());
    ck_assert_ptr_null(axle_error_last());

    /* A NULL message is a remote error from nowhere, not a crash. */
    ck_assert_int_eq(axle__rerr_raise(NULL), -AXLE_EREMOTE);
}
END_TEST

/* -------------------------------------------------------------- relay */

START_TEST(rerr_relay_keeps_the_source_and_appends_each_hop)
{
    /* A raises, B relays, C relays; the root reads it. */
    ck_assert_int_eq(raise_top(-EIO), -EIO);
    ck_assert_int_eq(hop(-EIO, A()), -AXLE_EREMOTE); /* B receives */
    char *tb_at_b = strdup(axle_error_traceback(axle_error_last()));
    ck_assert_int_eq(AXLE_ERR_FRAME(-AXLE_EREMOTE), -AXLE_EREMOTE); /* rises in B */
    ck_assert_int_eq(hop(-AXLE_EREMOTE, B()), -AXLE_EREMOTE);       /* C receives */
    ck_assert_int_eq(hop(-AXLE_EREMOTE, C()), -AXLE_EREMOTE);       /* root receives */

    const axle_error *e = last_error(-AXLE_EREMOTE);
    uid_eq(axle_error_src_uid(e), A());
    ck_assert_str_eq(axle_error_src_type(e), "EIO");
    ck_assert_int_eq(axle_error_src_code(e), -EIO);
    ck_assert_str_eq(axle_error_boxed_type(e), "AXLE_EREMOTE");
    ck_assert_str_eq(axle_error_message(e), "disk 7");
    ck_assert_uint_eq(axle_error_relay_len(e), 2);
    uid_eq(axle_error_relay(e, 0), B());
    uid_eq(axle_error_relay(e, 1), C());
    ck_assert_ptr_null(axle_error_relay(e, 2));
    /* The source's frames and traceback, not the relayers'. */
    ck_assert_uint_eq(axle_error_nframes(e), 3);
    ck_assert_str_eq(frame_fn(e, 0, NULL, NULL), "raise_leaf");
    ck_assert_str_eq(axle_error_traceback(e), tb_at_b);
    free(tb_at_b);
    axle_error_clear();
}
END_TEST

/* -------------------------------------------------------------- groups */

static int fail_eio(void *arg)
{
    (void)arg;
    return raise_top(-EIO);
}

static int fail_enoent(void *arg)
{
    (void)arg;
    return AXLE_SET_ERR(-ENOENT, "no such thing");
}

/* Fails with an error that came from gamma through alpha. */
static int fail_remote(void *arg)
{
    (void)arg;
    AXLE_SET_ERR(-ENOSPC, "full");
    ck_assert_int_eq(hop(-ENOSPC, C()), -AXLE_EREMOTE);
    return hop(-AXLE_EREMOTE, A());
}

/* The member of g whose source type is src_type (exactly one). */
static const axle_error *member_from(const axle_error *g, const char *src_type)
{
    const axle_error *found = NULL;
    for (size_t i = 0; i < axle_error_nmembers(g); i++) {
        const axle_error *m = axle_error_member(g, i);
        if (strcmp(axle_error_src_type(m), src_type) == 0) {
            ck_assert_ptr_null(found);
            found = m;
        }
    }
    ck_assert_ptr_nonnull(found);
    return found;
}

/* The group as received after hops relays (relayers: relay[0..hops)). */
static void check_group(const axle_error *g, const axle_uid *const *relay, size_t hops)
{
    ck_assert_int_eq(axle_error_code(g), -AXLE_EGROUP);
    ck_assert(axle_error_is_remote(g));
    uid_eq(axle_error_src_uid(g), B());
    ck_assert_str_eq(axle_error_boxed_type(g), "AXLE_EGROUP");
    ck_assert_uint_eq(axle_error_relay_len(g), hops - 1);
    ck_assert_uint_eq(axle_error_nmembers(g), 3);

    const axle_error *eio = member_from(g, "EIO");
    ck_assert_int_eq(axle_error_code(eio), -AXLE_EREMOTE);
    ck_assert(axle_error_is_remote(eio));
    uid_eq(axle_error_src_uid(eio), B());
    ck_assert_int_eq(axle_error_src_code(eio), -EIO);
    ck_assert_str_eq(axle_error_message(eio), "disk 7");
    ck_assert_str_eq(frame_fn(eio, 0, NULL, NULL), "raise_leaf");
    has(axle_error_traceback(eio), "raise_top+0x");
    ck_assert_uint_eq(axle_error_relay_len(eio), hops - 1);

    const axle_error *noent = member_from(g, "ENOENT");
    ck_assert_str_eq(axle_error_message(noent), "no such thing");
    ck_assert_str_eq(frame_fn(noent, 0, NULL, NULL), "fail_enoent");

    /* The member that was remote already: from gamma, via alpha, then B... */
    const axle_error *far = member_from(g, "ENOSPC");
    uid_eq(axle_error_src_uid(far), C());
    ck_assert_int_eq(axle_error_src_code(far), -ENOSPC);
    ck_assert_str_eq(axle_error_message(far), "full");
    ck_assert_uint_eq(axle_error_relay_len(far), 1 + hops);
    uid_eq(axle_error_relay(far, 0), A());
    for (size_t i = 0; i < hops; i++)
        uid_eq(axle_error_relay(far, 1 + i), relay[i]);
    ck_assert_str_eq(axle_error_boxed_type(far), "AXLE_EREMOTE");
    ck_assert_uint_eq(axle_error_nmembers(eio) + axle_error_nmembers(far), 0);
}

static int group_main(void *arg)
{
    (void)arg;
    axle_nursery *n = nursery();
    start(n, fail_eio, NULL);
    start(n, fail_enoent, NULL);
    start(n, fail_remote, NULL);
    ck_assert_int_eq(axle_nursery_close(n, 0), -AXLE_EGROUP);
    const axle_error *g = last_error(-AXLE_EGROUP);
    ck_assert_uint_eq(axle_error_nmembers(g), 3);
    ck_assert(!axle_error_is_remote(g));

    /* B packs its group; the root receives it. */
    ck_assert_int_eq(hop(-AXLE_EGROUP, B()), -AXLE_EGROUP);
    const axle_uid *path1[] = {B()};
    check_group(axle_error_last(), path1, 1);

    /* A copy is the same error, owning its own memory. */
    struct axle_error *copy = axle__error_clone(axle_error_last());
    ck_assert_ptr_nonnull(copy);
    check_group(copy, path1, 1);
    char a[8192], b[8192];
    axle_error_format(axle_error_last(), a, sizeof a);
    axle_error_format(copy, b, sizeof b);
    ck_assert_str_eq(a, b);

    /* Relayed by C as well: the group and every member gain the hop. */
    ck_assert_int_eq(hop(-AXLE_EGROUP, C()), -AXLE_EGROUP);
    const axle_uid *path2[] = {B(), C()};
    check_group(axle_error_last(), path2, 2);
    uid_eq(axle_error_relay(axle_error_last(), 0), C());
    check_group(copy, path1, 1); /* untouched by the relay */
    axle__error_free(copy);
    axle_error_clear();
    return 0;
}

START_TEST(rerr_group_with_a_remote_member_round_trips_intact) { RUN(group_main); }
END_TEST

/* ---------------------------------------------------------- untrusted */

static Axle__Uid *huid(const char *name, size_t uuid_len)
{
    Axle__Uid *u = calloc(1, sizeof *u);
    ck_assert_ptr_nonnull(u);
    axle__uid__init(u);
    u->name = (char *)name;
    u->uuid.len = uuid_len;
    u->uuid.data = calloc(1, uuid_len + 1);
    ck_assert_ptr_nonnull(u->uuid.data);
    memset(u->uuid.data, 0xab, uuid_len);
    u->pid = 7;
    return u;
}

static void huid_free(Axle__Uid *u)
{
    if (u) {
        free(u->uuid.data);
        free(u);
    }
}

static char *big_string(size_t n, char c)
{
    char *s = malloc(n + 1);
    ck_assert_ptr_nonnull(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

START_TEST(rerr_raise_bounds_hostile_input)
{
    enum { HOPS = 10000, FRAMES = 1000, MEMBERS = 5000 };
    char *huge = big_string(1 << 20, 'x');
    /* 100 two-byte characters: a cut at 63 bytes would split one. */
    char utf8[201];
    for (int i = 0; i < 100; i++)
        memcpy(utf8 + 2 * i, "\xc3\xa9", 2);
    utf8[200] = '\0';

    Axle__Error m = AXLE__ERROR__INIT;
    m.src_uid = huid(utf8, 17); /* 17-byte uuid: recorded as zero */
    m.src_type = huge;
    m.boxed_type = huge; /* no known kind once cut: -AXLE_EREMOTE */
    m.message = huge;
    m.traceback = huge;
    m.code = -EIO;
    m.canceller = huid(huge, 3);
    m.n_relay_path = HOPS;
    m.relay_path = calloc(HOPS, sizeof *m.relay_path);
    ck_assert_ptr_nonnull(m.relay_path);
    for (int i = 0; i < HOPS; i++) {
        m.relay_path[i] = huid("hop", 16);
        m.relay_path[i]->pid = i;
    }
    m.relay_path[HOPS - 2] = (huid_free(m.relay_path[HOPS - 2]), NULL); /* a hole */
    Axle__Frame fr = AXLE__FRAME__INIT;
    fr.func = huge;
    fr.file = huge;
    fr.line = -1;
    m.n_frames = FRAMES;
    m.frames = calloc(FRAMES, sizeof *m.frames);
    ck_assert_ptr_nonnull(m.frames);
    for (int i = 0; i < FRAMES; i++)
        m.frames[i] = &fr;
    m.frames[0] = NULL;
    Axle__Error leaf = AXLE__ERROR__INIT;
    m.n_members = MEMBERS; /* ignored: the boxed type is no group */
    m.members = calloc(MEMBERS, sizeof *m.members);
    ck_assert_ptr_nonnull(m.members);
    for (int i = 0; i < MEMBERS; i++)
        m.members[i] = &leaf;

    ck_assert_int_eq(axle__rerr_raise(&m), -AXLE_EREMOTE);
    const axle_error *e = last_error(-AXLE_EREMOTE);
    const axle_uid *src = axle_error_src_uid(e);
    ck_assert_uint_eq(strlen(src->name), 62); /* 31 whole characters */
    ck_assert_mem_eq(src->name, utf8, 62);
    static const uint8_t zero[16];
    ck_assert_mem_eq(src->uuid, zero, 16);
    ck_assert_uint_eq(strlen(axle_error_src_type(e)), 63);
    ck_assert_uint_eq(strlen(axle_error_boxed_type(e)), 63);
    const char *msg = axle_error_message(e);
    ck_assert_uint_le(strlen(msg), 64 * 1024 + 16);
    has(msg, "[truncated]");
    ck_assert_uint_le(strlen(axle_error_traceback(e)), 64 * 1024 + 16);
    ck_assert_uint_eq(strlen(axle_error_canceller(e)->name), 63);
    ck_assert_mem_eq(axle_error_canceller(e)->uuid, zero, 16);
    ck_assert_uint_eq(axle_error_relay_len(e), 64);
    ck_assert_int_eq(axle_error_relay(e, 63)->pid, HOPS - 1); /* the last hops */
    ck_assert_str_eq(axle_error_relay(e, 62)->name, "?");     /* the hole */
    ck_assert_uint_eq(axle_error_nframes(e), 32);
    const char *file;
    ck_assert_uint_eq(strlen(frame_fn(e, 0, &file, NULL)), 255);
    ck_assert_uint_eq(strlen(file), 1023);
    ck_assert_uint_eq(axle_error_nmembers(e), 0);
    char out[512];
    ck_assert_uint_gt(axle_error_format(e, out, sizeof out), sizeof out);

    /* As a group: 1024 members at most, NULL members skipped. */
    m.boxed_type = "AXLE_EGROUP";
    m.members[1] = NULL;
    ck_assert_int_eq(axle__rerr_raise(&m), -AXLE_EGROUP);
    ck_assert_uint_eq(axle_error_nmembers(last_error(-AXLE_EGROUP)), 1023);

    /* A message that is nothing but NULLs and zeros. */
    Axle__Error empty = AXLE__ERROR__INIT;
    empty.src_type = empty.boxed_type = empty.message = empty.traceback = NULL;
    empty.n_frames = empty.n_members = empty.n_relay_path = 1; /* with NULL arrays */
    ck_assert_int_eq(axle__rerr_raise(&empty), -AXLE_EREMOTE);
    e = last_error(-AXLE_EREMOTE);
    ck_assert_str_eq(axle_error_src_uid(e)->name, "?");
    ck_assert_str_eq(axle_error_message(e), "");
    ck_assert_ptr_null(axle_error_traceback(e));
    ck_assert_uint_eq(axle_error_relay_len(e) + axle_error_nframes(e), 0);
    axle_error_format(e, out, sizeof out);

    axle_error_clear();
    huid_free(m.src_uid);
    huid_free(m.canceller);
    for (int i = 0; i < HOPS; i++)
        huid_free(m.relay_path[i]);
    free(m.relay_path);
    free(m.frames);
    free(m.members);
    free(huge);
}
END_TEST

START_TEST(rerr_raise_bounds_member_nesting)
{
    enum { DEPTH = 100 };
    Axle__Error level[DEPTH];
    Axle__Error *child[DEPTH];
    for (int i = 0; i < DEPTH; i++) {
        axle__error__init(&level[i]);
        level[i].boxed_type = "AXLE_EGROUP";
        level[i].message = "level";
        child[i] = i + 1 < DEPTH ? &level[i + 1] : NULL;
        level[i].n_members = i + 1 < DEPTH;
        level[i].members = &child[i];
    }
    ck_assert_int_eq(axle__rerr_raise(&level[0]), -AXLE_EGROUP);
    const axle_error *e = axle_error_last();
    int depth = 0;
    while (axle_error_nmembers(e)) {
        e = axle_error_member(e, 0);
        depth++;
    }
    ck_assert_int_eq(depth, 8);

    /* And through the wire: packing again keeps the bound. */
    ck_assert_int_eq(hop(-AXLE_EGROUP, B()), -AXLE_EGROUP);
    e = axle_error_last();
    for (depth = 0; axle_error_nmembers(e); depth++)
        e = axle_error_member(e, 0);
    ck_assert_int_eq(depth, 8);
    axle_error_clear();
}
END_TEST

/* ---------------------------------------------------------- backtraces */

START_TEST(rerr_backtrace_names_the_functions_that_raised)
{
    ck_assert_int_eq(raise_top(-EIO), -EIO);
    const char *tb = axle_error_traceback(last_error(-EIO));
    has(tb, "#0  raise_leaf+0x");
    has(tb, "raise_mid+0x");
    has(tb, "raise_top+0x");
    has(tb, "test_rerr.c:");
    /* Innermost first. */
    ck_assert(strstr(tb, "raise_leaf") < strstr(tb, "raise_mid"));
    ck_assert(strstr(tb, "raise_mid") < strstr(tb, "raise_top"));
    axle_error_clear();
}
END_TEST

/* Raises three calls deep, then symbolizes (on a small stack). */
static int fiber_task(void *arg)
{
    char **out = arg;
    ck_assert_int_eq(raise_top(-EIO), -EIO);
    const char *tb = axle_error_traceback(axle_error_last());
    ck_assert_ptr_nonnull(tb);
    *out = strdup(tb);
    char buf[512];
    ck_assert_uint_gt(axle_error_format(axle_error_last(), buf, sizeof buf), 0);
    axle_error_clear();
    return 0;
}

static int fiber_main(void *arg)
{
    /* libdw alone needs more than this: symbolizing must not run here. */
    axle_task_opts o = {.name = "small-stack", .stack_size = 32 * 1024};
    axle_nursery *n = nursery();
    ck_assert_int_eq(axle_nursery_start_soon(n, fiber_task, arg, &o), 0);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    return 0;
}

START_TEST(rerr_backtrace_works_on_a_small_fiber)
{
    char *tb = NULL;
    ck_assert_int_eq(run_main(fiber_main, &tb), 0);
    has(tb, "#0  raise_leaf+0x");
    has(tb, "raise_top+0x");
    has(tb, "fiber_task+0x");
    /* The walk ends at the fiber's entry: nothing of the task that started it. */
    ck_assert_ptr_null(strstr(tb, "fiber_main"));
    free(tb);
}
END_TEST

/* -------------------------------------------------------------- format */

START_TEST(rerr_format_shows_the_remote_fields)
{
    ck_assert_int_eq(raise_top(-EIO), -EIO);
    char buf[16384];
    size_t n = axle_error_format(axle_error_last(), buf, sizeof buf);
    ck_assert_uint_lt(n, sizeof buf);
    has(buf, "EIO: disk 7\n");
    has(buf, "  at raise_leaf (");
    has(buf, "  backtrace:\n");
    has(buf, "#0  raise_leaf+0x");

    ck_assert_int_eq(hop(-EIO, A()), -AXLE_EREMOTE);
    ck_assert_int_eq(hop(-AXLE_EREMOTE, B()), -AXLE_EREMOTE);
    AXLE_ERR_FRAME(-AXLE_EREMOTE);
    axle__error_set_canceller(C());
    n = axle_error_format(axle_error_last(), buf, sizeof buf);
    ck_assert_uint_lt(n, sizeof buf);
    ck_assert_uint_eq(strlen(buf), n);
    has(buf, "AXLE_EREMOTE: disk 7\n");
    has(buf, "from alpha@10111213: EIO (code -5), boxed as AXLE_EREMOTE\n");
    has(buf, "relayed by beta@20212223\n");
    has(buf, "canceller gamma@30313233\n");
    has(buf, "traceback from alpha@10111213:\n");
    has(buf, "    at raise_leaf (");
    has(buf, "      #0  raise_leaf+0x");
    has(buf, "  at rerr_format_shows_the_remote_fields_fn (");
    /* The source's frames appear once: in its traceback. */
    ck_assert_ptr_null(strstr(strstr(buf, "at raise_top") + 1, "at raise_top"));

    /* Truncation is snprintf's. */
    char small[16];
    ck_assert_uint_eq(axle_error_format(axle_error_last(), small, sizeof small), n);
    ck_assert_uint_eq(strlen(small), sizeof small - 1);
    axle_error_clear();
}
END_TEST

/* --------------------------------------------------------------- suite */

static Suite *rerr_suite(void)
{
    Suite *s = suite_create("rerr");
    struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"rerr_pack_of_a_local_error_fills_every_field",
         rerr_pack_of_a_local_error_fills_every_field},
        {"rerr_pack_without_a_rich_error_packs_the_code",
         rerr_pack_without_a_rich_error_packs_the_code},
        {"rerr_raise_reads_back_every_field", rerr_raise_reads_back_every_field},
        {"rerr_local_error_reads_as_its_own_source", rerr_local_error_reads_as_its_own_source},
        {"rerr_boxed_kinds_raise_as_their_local_codes",
         rerr_boxed_kinds_raise_as_their_local_codes},
        {"rerr_relay_keeps_the_source_and_appends_each_hop",
         rerr_relay_keeps_the_source_and_appends_each_hop},
        {"rerr_group_with_a_remote_member_round_trips_intact",
         rerr_group_with_a_remote_member_round_trips_intact},
        {"rerr_raise_bounds_hostile_input", rerr_raise_bounds_hostile_input},
        {"rerr_raise_bounds_member_nesting", rerr_raise_bounds_member_nesting},
        {"rerr_backtrace_names_the_functions_that_raised",
         rerr_backtrace_names_the_functions_that_raised},
        {"rerr_backtrace_works_on_a_small_fiber", rerr_backtrace_works_on_a_small_fiber},
        {"rerr_format_shows_the_remote_fields", rerr_format_shows_the_remote_fields},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = axle_test_tcase(cases[i].name, 20);
        tcase_add_test(tc, cases[i].test);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void) { return axle_test_main(rerr_suite()); }
