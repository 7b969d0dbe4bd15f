/* test_vr.c: drives Viewstamped Replication instances by hand through ctk_vr_protocol: normal
 * operation (PREPARE, PREPAREOK, COMMIT, forwarding), a primary crash in the middle of PREPARE
 * losing no committed operation (the new primary fetching the best log it lacks), a view change
 * and a STARTVIEW over a log too big for one message, a replica recovering by the RECOVERY
 * protocol that answers nothing in a view it missed, what the non-durable mode tolerates (f
 * replicas restarting) and what it does not (more than f at once), durable restarts, torn and
 * corrupt durable bytes, malformed messages and bad options; and checkpoints (section 5.3): the
 * log and the durable bytes stay bounded under a long workload, a replica down for long catches
 * up from a checkpoint in chunks, restarts from its own, a new primary fetches the checkpoint of
 * the best log's sender, and view changes and the RECOVERY protocol work over truncated logs. Every
 * message any node sends is checked to decode and to fit in CTK_MAX_MESSAGE_BYTES. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vr/vr.h"
#include "vr/vr_internal.h"

#define MAXN   5
#define MAXPOS 1024
#define MAXQ   8192
#define MS     1000ull

typedef struct qmsg {
  int from, to;
  uint8_t *bytes;
  size_t len;
} qmsg;

typedef struct cluster {
  int n;
  ctk_vr_options opt;
  uint64_t now;
  ctk_proto *p[MAXN];
  int down[MAXN];
  unsigned cut; /* nodes whose messages (both ways) are dropped */
  uint8_t *durable[MAXN];
  size_t durable_len[MAXN];
  uint64_t deadline[MAXN];
  uint64_t applied[MAXN];
  char committed[MAXN][MAXPOS][24]; /* the first bytes of the command executed at each position */
  uint64_t sm[MAXN];                /* the state machine: a hash chained over what it executed */
  int restored[MAXN];               /* checkpoints it installed (output.restore) */
  qmsg q[MAXQ];
  size_t nq;
  size_t sent[16]; /* messages sent, by type */
} cluster;

#define SNAP_BYTES 216 /* index, hash, padding: a checkpoint of several 64-byte chunks */

static uint64_t chain(uint64_t h, const uint8_t *b, size_t len) {
  for (size_t k = 0; k < len; k++) h = (h ^ b[k]) * 0x100000001B3ull;
  return h;
}

static void snap_encode(uint64_t index, uint64_t h, uint8_t *out) {
  for (int k = 0; k < 8; k++) {
    out[k] = (uint8_t)(index >> (8 * k));
    out[8 + k] = (uint8_t)(h >> (8 * k));
  }
  for (int k = 16; k < SNAP_BYTES; k++) out[k] = (uint8_t)(h >> (k % 64)) ^ (uint8_t)k;
}

static int step(cluster *c, int i, ctk_event_kind kind, int from, const void *bytes, size_t len);

static void absorb(cluster *c, int i, const ctk_output *out) {
  if (out->persist_replace) c->durable_len[i] = 0;
  if (out->persist.len) {
    size_t base = c->durable_len[i];
    c->durable[i] = realloc(c->durable[i], base + out->persist.len);
    memcpy(c->durable[i] + base, out->persist.data, out->persist.len);
    c->durable_len[i] = base + out->persist.len;
  }
  for (size_t k = 0; k < out->n_messages; k++) {
    assert_true(c->nq < MAXQ);
    assert_true(out->messages[k].bytes.len <= CTK_MAX_MESSAGE_BYTES);
    vr_msg m;
    assert_int_equal(vr_msg_decode(out->messages[k].bytes.data, out->messages[k].bytes.len, &m),
                     CTK_OK);
    c->sent[m.type]++;
    qmsg *q = &c->q[c->nq++];
    q->from = i;
    q->to = out->messages[k].to;
    q->len = out->messages[k].bytes.len;
    q->bytes = malloc(q->len);
    memcpy(q->bytes, out->messages[k].bytes.data, q->len);
  }
  if (out->restore_index) { /* the host replaces its state machine, before the commits */
    assert_int_equal(out->restore.len, SNAP_BYTES);
    uint8_t want[SNAP_BYTES];
    uint64_t index = 0, h = 0;
    for (int k = 0; k < 8; k++) {
      index |= (uint64_t)out->restore.data[k] << (8 * k);
      h |= (uint64_t)out->restore.data[8 + k] << (8 * k);
    }
    snap_encode(index, h, want);
    assert_memory_equal(out->restore.data, want, SNAP_BYTES);
    assert_int_equal(index, out->restore_index);
    assert_true(out->restore_index > c->applied[i]);
    c->applied[i] = index;
    c->sm[i] = h;
    c->restored[i]++;
  }
  for (size_t k = 0; k < out->n_commits; k++) {
    assert_int_equal(out->commits[k].index, c->applied[i] + 1);
    c->applied[i] = out->commits[k].index;
    c->sm[i] = chain(c->sm[i], out->commits[k].command.data, out->commits[k].command.len);
    if (c->applied[i] < MAXPOS)
      snprintf(c->committed[i][c->applied[i]], 24, "%.*s",
               (int)(out->commits[k].command.len < 23 ? out->commits[k].command.len : 23),
               (const char *)out->commits[k].command.data);
  }
  c->deadline[i] = out->next_deadline_us;
  if (out->snapshot_wanted) { /* handed back at once (protocol.h); ends the use of out */
    uint64_t index = out->snapshot_wanted;
    assert_int_equal(index, c->applied[i]);
    uint8_t bytes[SNAP_BYTES];
    snap_encode(index, c->sm[i], bytes);
    ctk_event ev = {
        .kind = CTK_EVENT_SNAPSHOT, .now_us = c->now, .bytes = {bytes, SNAP_BYTES}, .index = index};
    ctk_output o;
    assert_int_equal(ctk_vr_protocol.step(c->p[i], &ev, &o), CTK_OK);
    absorb(c, i, &o);
  }
}

static int step(cluster *c, int i, ctk_event_kind kind, int from, const void *bytes, size_t len) {
  ctk_event ev = {.kind = kind, .now_us = c->now, .from = from, .bytes = {bytes, len}};
  ctk_output out;
  int rc = ctk_vr_protocol.step(c->p[i], &ev, &out);
  if (rc == CTK_OK) absorb(c, i, &out);
  if (rc != CTK_OK) assert_true(out.persist.len == 0 && out.n_messages == 0 && out.n_commits == 0);
  return rc;
}

static void boot(cluster *c, int i) {
  static uint64_t incarnation;
  ctk_node_config cfg = {.node_id = i, .n_nodes = c->n, .seed = 7 + 1000 * ++incarnation};
  char err[160];
  c->p[i] = ctk_vr_protocol.create(&cfg, &c->opt, err, sizeof err);
  assert_non_null(c->p[i]);
  c->applied[i] = 0;
  c->sm[i] = 0;
  c->down[i] = 0;
  assert_int_equal(step(c, i, CTK_EVENT_START, 0, c->durable[i], c->durable_len[i]), CTK_OK);
}

static void cluster_init_opt(cluster *c, int n, int durable) {
  memset(c, 0, sizeof *c);
  c->n = n;
  ctk_protocol_default_options(&ctk_vr_protocol, &c->opt);
  c->opt.durable = durable;
  for (int i = 0; i < n; i++) boot(c, i);
}

/* Checkpoints every 20 executed operations, 5 kept behind each, 64-byte chunks. */
static void cluster_init_snap(cluster *c, int n, int durable) {
  memset(c, 0, sizeof *c);
  c->n = n;
  ctk_protocol_default_options(&ctk_vr_protocol, &c->opt);
  c->opt.durable = durable;
  c->opt.snapshot_every = 20;
  c->opt.snapshot_keep = 5;
  c->opt.snapshot_chunk_bytes = 64;
  for (int i = 0; i < n; i++) boot(c, i);
}

static void cluster_init(cluster *c, int n) { cluster_init_opt(c, n, 1); }

static void crash(cluster *c, int i) {
  ctk_vr_protocol.destroy(c->p[i]);
  c->p[i] = NULL;
  c->down[i] = 1;
}

static void cluster_free(cluster *c) {
  for (int i = 0; i < c->n; i++) {
    if (c->p[i]) ctk_vr_protocol.destroy(c->p[i]);
    free(c->durable[i]);
  }
  for (size_t k = 0; k < c->nq; k++) free(c->q[k].bytes);
}

static int blocked(const cluster *c, const qmsg *m) {
  return c->down[m->to] || c->down[m->from] || (c->cut & (1u << m->to)) ||
         (c->cut & (1u << m->from));
}

/* Delivers every queued message (and what they cause), dropping those to or from a down or cut
 * node. */
static void deliver_all(cluster *c) {
  size_t head = 0;
  while (head < c->nq) {
    qmsg m = c->q[head++];
    if (!blocked(c, &m))
      assert_int_equal(step(c, m.to, CTK_EVENT_MESSAGE, m.from, m.bytes, m.len), CTK_OK);
    free(m.bytes);
    if (head == c->nq || head > MAXQ / 2) {
      memmove(c->q, c->q + head, (c->nq - head) * sizeof *c->q);
      c->nq -= head;
      head = 0;
    }
  }
  c->nq = 0;
}

static void drop_all(cluster *c) {
  for (size_t k = 0; k < c->nq; k++) free(c->q[k].bytes);
  c->nq = 0;
}

/* Keeps only the queued messages `keep` accepts. */
static void filter(cluster *c, int (*keep)(const qmsg *m, const vr_msg *d, void *ctx), void *ctx) {
  size_t kept = 0;
  for (size_t k = 0; k < c->nq; k++) {
    vr_msg d;
    assert_int_equal(vr_msg_decode(c->q[k].bytes, c->q[k].len, &d), CTK_OK);
    if (keep(&c->q[k], &d, ctx))
      c->q[kept++] = c->q[k];
    else
      free(c->q[k].bytes);
  }
  c->nq = kept;
}

static void fire(cluster *c, int i) {
  c->now = c->deadline[i] > c->now ? c->deadline[i] : c->now;
  assert_int_equal(step(c, i, CTK_EVENT_TIMEOUT, 0, NULL, 0), CTK_OK);
}

/* Advances time past every live node's deadline, firing each in turn, delivering in between. */
static void run_for(cluster *c, uint64_t us) {
  uint64_t end = c->now + us;
  for (;;) {
    int next = -1;
    for (int i = 0; i < c->n; i++)
      if (!c->down[i] && c->deadline[i] != CTK_DEADLINE_NONE &&
          (next < 0 || c->deadline[i] < c->deadline[next]))
        next = i;
    if (next < 0 || c->deadline[next] > end) break;
    fire(c, next);
    deliver_all(c);
  }
  c->now = end;
}

static ctk_status status_of(const cluster *c, int i) {
  ctk_status s;
  ctk_vr_protocol.status(c->p[i], &s);
  return s;
}

static int command(cluster *c, int i, const char *cmd) {
  return step(c, i, CTK_EVENT_COMMAND, 0, cmd, strlen(cmd));
}

/* ---- normal operation ---- */

static void test_normal_operation(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3);
  ctk_status s = status_of(&c, 0);
  assert_int_equal(s.role, CTK_ROLE_LEADER); /* replica (1 - 1) mod 3 is view 1's primary */
  assert_int_equal(s.term, 1);
  assert_int_equal(status_of(&c, 1).role, CTK_ROLE_FOLLOWER);
  assert_int_equal(status_of(&c, 1).leader_id, 0);
  assert_int_equal(command(&c, 0, "x=1"), CTK_OK);
  assert_int_equal(c.nq, 2); /* PREPARE to both backups, after the log entry was persisted */
  assert_true(c.durable_len[0] > 0);
  char d[160];
  assert_true(vr_describe(c.q[0].bytes, c.q[0].len, d, sizeof d) > 0);
  assert_string_equal(d, "Prepare v=1 ops=1+1 commit=0");
  deliver_all(&c);
  /* f = 1 PREPAREOK was enough: executed at the primary; backups learn it from the next one */
  assert_int_equal(c.applied[0], 1);
  assert_int_equal(c.applied[1], 0);
  /* a backup forwards to the primary */
  assert_int_equal(command(&c, 2, "y=2"), CTK_OK);
  deliver_all(&c);
  fire(&c, 0); /* a COMMIT heartbeat carries the commit-number */
  deliver_all(&c);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(c.applied[i], 2);
    assert_string_equal(c.committed[i][1], "x=1");
    assert_string_equal(c.committed[i][2], "y=2");
  }
  assert_true(c.sent[VR_MSG_COMMIT] >= 2 && c.sent[VR_MSG_FORWARD] == 1);
  cluster_free(&c);
}

/* ---- a primary crash in the middle of PREPARE ---- */

static int to_2_and_3(const qmsg *m, const vr_msg *d, void *ctx) {
  (void)ctx;
  return d->type != VR_MSG_PREPARE || m->to == 2 || m->to == 3;
}
static int to_3_only(const qmsg *m, const vr_msg *d, void *ctx) {
  (void)d;
  (void)ctx;
  return m->to == 3;
}
static int to_2_only(const qmsg *m, const vr_msg *d, void *ctx) {
  (void)ctx;
  return d->type == VR_MSG_PREPARE && m->to == 2;
}

/* 5 replicas, f = 2. The primary's PREPAREs of a, b, c reach replicas 2 and 3 only, their
 * PREPAREOKs come back: a, b, c are committed and executed at the primary (so answered). Its
 * COMMIT reaches replica 3 only. A fourth operation reaches replica 2 only, and the primary
 * crashes. The view change to view 2 (primary: replica 1, which holds none of them) hears from
 * replicas 1, 3 and 4 only: the best log is replica 3's, whose DOVIEWCHANGE carries its log from
 * its commit-number on (nothing), so replica 1 fetches a, b, c by GETSTATE before it goes normal.
 * Every committed operation is at the same position everywhere afterwards; d, prepared at one
 * backup only, is dropped (it was never committed, so never answered). */
static void test_primary_crash_mid_prepare_loses_no_committed_op(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 5);
  assert_int_equal(command(&c, 0, "a"), CTK_OK);
  assert_int_equal(command(&c, 0, "b"), CTK_OK);
  assert_int_equal(command(&c, 0, "c"), CTK_OK);
  filter(&c, to_2_and_3, NULL);
  deliver_all(&c);
  assert_int_equal(c.applied[0], 3); /* committed: the clients have their answers */
  fire(&c, 0);
  filter(&c, to_3_only, NULL);
  deliver_all(&c);
  assert_int_equal(c.applied[3], 3);
  assert_int_equal(command(&c, 0, "d"), CTK_OK);
  filter(&c, to_2_only, NULL);
  deliver_all(&c);
  assert_int_equal(status_of(&c, 2).log_length, 4);
  assert_int_equal(status_of(&c, 1).log_length, 0);
  crash(&c, 0);
  c.cut = 1u << 2; /* replica 2 takes no part in the view change */
  fire(&c, 1);
  assert_int_equal(status_of(&c, 1).role, CTK_ROLE_CANDIDATE);
  assert_int_equal(status_of(&c, 1).term, 2);
  size_t get_state_before = c.sent[VR_MSG_GET_STATE];
  deliver_all(&c);
  assert_true(c.sent[VR_MSG_GET_STATE] > get_state_before); /* the best log was fetched */
  ctk_status s = status_of(&c, 1);
  assert_int_equal(s.role, CTK_ROLE_LEADER);
  assert_int_equal(s.term, 2);
  assert_int_equal(s.log_length, 3);
  c.cut = 0;
  assert_int_equal(command(&c, 1, "e"), CTK_OK);
  deliver_all(&c);
  run_for(&c, 200 * MS);
  const char *want[] = {"", "a", "b", "c", "e"};
  for (int i = 1; i < 5; i++) {
    assert_int_equal(c.applied[i], 4);
    for (int k = 1; k <= 4; k++) assert_string_equal(c.committed[i][k], want[k]);
  }
  /* the old primary restarts from its disk, learns view 2 and catches up */
  boot(&c, 0);
  run_for(&c, 300 * MS);
  assert_int_equal(status_of(&c, 0).term, 2);
  assert_int_equal(c.applied[0], 4);
  for (int k = 1; k <= 4; k++) assert_string_equal(c.committed[0][k], want[k]);
  cluster_free(&c);
}

/* ---- logs too big for one message ---- */

static int not_to_2(const qmsg *m, const vr_msg *d, void *ctx) {
  (void)d;
  (void)ctx;
  return m->to != 2 && m->from != 2;
}

/* 600 operations of 3,000 bytes (1.8 MB) committed by replicas 0 and 1 while replica 2 is cut
 * off. Replica 0 crashes; replica 2, which holds nothing, becomes the primary of view 3: replica
 * 1's DOVIEWCHANGE cannot carry the whole log, so replica 2 fetches it in message-sized NEWSTATE
 * chunks before it goes normal, and its STARTVIEW to replica 1 is short (replica 1 holds it). */
static void test_view_change_over_a_log_bigger_than_a_message(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3);
  static char cmd[3001];
  for (int k = 1; k <= 600; k++) {
    memset(cmd, 'a' + k % 26, 3000);
    snprintf(cmd, 24, "op%04d", k);
    cmd[6] = '-';
    assert_int_equal(step(&c, 0, CTK_EVENT_COMMAND, 0, cmd, 3000), CTK_OK);
    filter(&c, not_to_2, NULL);
    deliver_all(&c);
  }
  assert_int_equal(c.applied[0], 600);
  crash(&c, 0);
  fire(&c, 2); /* view 2: its primary, replica 1, is told nothing yet */
  drop_all(&c);
  c.now += 400 * MS;
  fire(&c, 2); /* view 3: replica 2's own */
  assert_int_equal(status_of(&c, 2).term, 3);
  size_t new_state_before = c.sent[VR_MSG_NEW_STATE];
  deliver_all(&c);
  assert_true(c.sent[VR_MSG_NEW_STATE] - new_state_before >= 2); /* at least two chunks */
  ctk_status s = status_of(&c, 2);
  assert_int_equal(s.role, CTK_ROLE_LEADER);
  assert_int_equal(s.log_length, 600);
  run_for(&c, 200 * MS);
  for (int i = 1; i < 3; i++) {
    assert_int_equal(c.applied[i], 600);
    assert_memory_equal(c.committed[i][1], "op0001-", 7);
    assert_memory_equal(c.committed[i][600], "op0600-", 7);
  }
  /* a replica restarted with nothing (its disk lost) is brought up to date by a STARTVIEW too
   * big for one message and state transfer for the rest */
  free(c.durable[0]);
  c.durable[0] = NULL;
  c.durable_len[0] = 0;
  boot(&c, 0);
  run_for(&c, 300 * MS);
  assert_int_equal(status_of(&c, 0).term, 3);
  assert_int_equal(c.applied[0], 600);
  assert_memory_equal(c.committed[0][600], "op0600-", 7);
  cluster_free(&c);
}

/* ---- recovery without durable state ---- */

static int from_to(const qmsg *m, const vr_msg *d, void *ctx) {
  (void)d;
  const int *ft = ctx;
  return m->from == ft[0] && m->to == ft[1];
}

static int not_to(const qmsg *m, const vr_msg *d, void *ctx) {
  (void)d;
  return m->to != *(const int *)ctx;
}

/* Non-durable mode, 5 replicas. Replica 4 crashes in view 1; the others move to view 2 and
 * commit there. Replica 4 restarts with nothing but its boot marker and runs RECOVERY. Until it
 * has answers from f + 1 replicas including the primary of the latest view, it answers nothing:
 * not a PREPARE or COMMIT of the view it missed, not a view change, not a GETSTATE. Then it is in
 * view 2 with the primary's log, and a stale view-1 PREPARE still gets no answer. */
static void test_recovering_replica_never_answers_in_a_missed_view(void **state) {
  (void)state;
  cluster c;
  cluster_init_opt(&c, 5, 0);
  assert_int_equal(command(&c, 0, "a"), CTK_OK);
  /* keep a copy of the view-1 PREPARE to replica 4 for later */
  int ft[2] = {0, 4};
  uint8_t stale[256];
  size_t stale_len = 0;
  for (size_t k = 0; k < c.nq; k++)
    if (from_to(&c.q[k], NULL, ft)) {
      stale_len = c.q[k].len;
      memcpy(stale, c.q[k].bytes, stale_len);
    }
  assert_true(stale_len > 0);
  deliver_all(&c);
  crash(&c, 4);
  fire(&c, 1);
  deliver_all(&c);
  assert_int_equal(status_of(&c, 1).role, CTK_ROLE_LEADER);
  assert_int_equal(status_of(&c, 1).term, 2);
  assert_int_equal(command(&c, 1, "b"), CTK_OK);
  deliver_all(&c);
  fire(&c, 1);
  deliver_all(&c);
  assert_int_equal(c.durable_len[1], c.durable_len[4]); /* only the boot markers were written */

  boot(&c, 4);
  ctk_status s = status_of(&c, 4);
  assert_int_equal(s.role, CTK_ROLE_CANDIDATE); /* recovering */
  assert_int_equal(s.leader_id, -1);
  assert_int_equal(c.nq, 4); /* RECOVERY to all */
  assert_int_equal(c.sent[VR_MSG_RECOVERY], 4);
  /* messages of the view it missed, and of the current one, get no answer while it recovers */
  size_t before = c.nq;
  uint8_t svc[16], commit_msg[32], get_state[32];
  wire_writer w;
  wire_writer_init(&w);
  vr_encode_start_view_change(&w, 3);
  memcpy(svc, w.data, w.len);
  size_t svc_len = w.len;
  wire_writer_reset(&w);
  vr_encode_commit(&w, 2, 2);
  memcpy(commit_msg, w.data, w.len);
  size_t commit_len = w.len;
  wire_writer_reset(&w);
  vr_encode_get_state(&w, 2, 0);
  memcpy(get_state, w.data, w.len);
  size_t get_state_len = w.len;
  wire_writer_free(&w);
  assert_int_equal(step(&c, 4, CTK_EVENT_MESSAGE, 0, stale, stale_len), CTK_OK);
  assert_int_equal(step(&c, 4, CTK_EVENT_MESSAGE, 2, svc, svc_len), CTK_OK);
  assert_int_equal(step(&c, 4, CTK_EVENT_MESSAGE, 1, commit_msg, commit_len), CTK_OK);
  assert_int_equal(step(&c, 4, CTK_EVENT_MESSAGE, 3, get_state, get_state_len), CTK_OK);
  assert_int_equal(c.nq, before);
  assert_int_equal(status_of(&c, 4).term, 1); /* it moved to no view */
  assert_int_equal(status_of(&c, 4).log_length, 0);
  assert_int_equal(step(&c, 4, CTK_EVENT_COMMAND, 0, "z", 1), CTK_ERR_REJECTED);
  /* answers from 0, 2 and 3 (f + 1, but not the primary of view 2): still recovering */
  int primary = 1;
  filter(&c, not_to, &primary); /* the RECOVERY to replica 1 is lost */
  deliver_all(&c);
  assert_int_equal(c.sent[VR_MSG_RECOVERY_RESPONSE], 3);
  s = status_of(&c, 4);
  assert_int_equal(s.role, CTK_ROLE_CANDIDATE);
  assert_int_equal(s.log_length, 0);
  /* the RECOVERY is resent; the primary answers with its log */
  fire(&c, 4);
  deliver_all(&c);
  s = status_of(&c, 4);
  assert_int_equal(s.role, CTK_ROLE_FOLLOWER);
  assert_int_equal(s.term, 2);
  assert_int_equal(s.leader_id, 1);
  assert_int_equal(c.applied[4], 2);
  assert_string_equal(c.committed[4][1], "a");
  assert_string_equal(c.committed[4][2], "b");
  /* the stale PREPARE of view 1 still gets nothing */
  before = c.nq;
  assert_int_equal(step(&c, 4, CTK_EVENT_MESSAGE, 0, stale, stale_len), CTK_OK);
  assert_int_equal(c.nq, before);
  /* and it takes part in view 2 */
  assert_int_equal(command(&c, 1, "c"), CTK_OK);
  deliver_all(&c);
  fire(&c, 1);
  deliver_all(&c);
  assert_int_equal(c.applied[4], 3);
  assert_string_equal(c.committed[4][3], "c");
  cluster_free(&c);
}

/* Commits a and b with replica 2 cut off, crashes the replicas in `crashed`, restarts them, and
 * runs the cluster for 3 s of virtual time. */
static void crash_after_commits(cluster *c, int n_crashed, const int *crashed) {
  c->cut = 1u << 2;
  assert_int_equal(command(c, 0, "a"), CTK_OK);
  assert_int_equal(command(c, 0, "b"), CTK_OK);
  deliver_all(c);
  fire(c, 0);
  deliver_all(c);
  assert_int_equal(c->applied[0], 2); /* committed and answered */
  for (int k = 0; k < n_crashed; k++) crash(c, crashed[k]);
  c->cut = 0;
  for (int k = 0; k < n_crashed; k++) boot(c, crashed[k]);
  run_for(c, 3000 * MS);
}

static void expect_a_b_everywhere(cluster *c) {
  int leaders = 0;
  for (int i = 0; i < c->n; i++) {
    leaders += status_of(c, i).role == CTK_ROLE_LEADER;
    assert_int_equal(c->applied[i], 2);
    assert_string_equal(c->committed[i][1], "a");
    assert_string_equal(c->committed[i][2], "b");
  }
  assert_int_equal(leaders, 1);
}

/* Non-durable mode tolerates f replicas down at once: the primary (which held a and b with
 * replica 1 only) restarts empty and recovers them from the new primary. */
static void test_non_durable_tolerates_f_crashes(void **state) {
  (void)state;
  cluster c;
  cluster_init_opt(&c, 3, 0);
  int crashed[] = {0};
  crash_after_commits(&c, 1, crashed);
  expect_a_b_everywhere(&c);
  assert_true(status_of(&c, 0).term >= 2);
  cluster_free(&c);
}

/* It does not tolerate more than f at once. Replicas 0 and 1, the only ones holding the committed
 * a and b, crash together and restart empty: a recovering replica needs f + 1 = 2 answers from
 * replicas in normal status, and there is only replica 2 (which soon starts a view change that
 * nobody can finish). The cluster is stuck for good, and a and b, which clients were told were
 * done, exist nowhere any more. The same crashes in durable mode lose nothing. */
static void test_non_durable_loses_more_than_f_crashes(void **state) {
  (void)state;
  cluster c;
  cluster_init_opt(&c, 3, 0);
  int crashed[] = {0, 1};
  crash_after_commits(&c, 2, crashed);
  for (int i = 0; i < 3; i++) {
    ctk_status s = status_of(&c, i);
    assert_true(s.role != CTK_ROLE_LEADER);
    assert_int_equal(s.log_length, 0); /* a and b are gone */
    assert_int_equal(s.commit_index, 0);
    assert_int_equal(command(&c, i, "c"), CTK_ERR_REJECTED);
  }
  assert_true(c.sent[VR_MSG_RECOVERY] > 20); /* they kept asking */
  cluster_free(&c);

  cluster_init_opt(&c, 3, 1);
  crash_after_commits(&c, 2, crashed);
  expect_a_b_everywhere(&c);
  cluster_free(&c);
}

/* ---- durable state ---- */

static void test_durable_restart_torn_and_corrupt(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3);
  assert_int_equal(command(&c, 0, "a"), CTK_OK);
  deliver_all(&c);
  fire(&c, 1); /* replica 1 starts view 2: the view is durable before its STARTVIEWCHANGE */
  drop_all(&c);
  crash(&c, 1);
  boot(&c, 1);
  ctk_status s = status_of(&c, 1);
  assert_int_equal(s.term, 2);
  assert_int_equal(s.role, CTK_ROLE_CANDIDATE);
  assert_int_equal(s.log_length, 1);
  assert_int_equal(c.sent[VR_MSG_START_VIEW_CHANGE], 4); /* and sent again on restart */
  /* a torn tail (half a record) is dropped */
  crash(&c, 1);
  uint8_t *bytes = c.durable[1];
  size_t len = c.durable_len[1];
  ctk_node_config cfg = {.node_id = 1, .n_nodes = 3, .seed = 1};
  char err[160];
  ctk_proto *p = ctk_vr_protocol.create(&cfg, &c.opt, err, sizeof err);
  ctk_event ev = {.kind = CTK_EVENT_START, .bytes = {bytes, len - 3}};
  ctk_output out;
  assert_int_equal(ctk_vr_protocol.step(p, &ev, &out), CTK_OK);
  assert_int_equal(out.persist_replace, 1);
  ctk_vr_protocol.destroy(p);
  /* a flipped byte in the first record, with valid records after it, is corruption */
  uint8_t *bad = malloc(len);
  memcpy(bad, bytes, len);
  bad[14] ^= 0x40;
  p = ctk_vr_protocol.create(&cfg, &c.opt, err, sizeof err);
  ev.bytes = (ctk_bytes){bad, len};
  assert_int_equal(ctk_vr_protocol.step(p, &ev, &out), CTK_ERR_CORRUPT);
  ctk_vr_protocol.destroy(p);
  /* durable bytes of the other mode are refused */
  ctk_vr_options nd = c.opt;
  nd.durable = 0;
  p = ctk_vr_protocol.create(&cfg, &nd, err, sizeof err);
  ev.bytes = (ctk_bytes){bytes, len};
  assert_int_equal(ctk_vr_protocol.step(p, &ev, &out), CTK_ERR_CORRUPT);
  ctk_vr_protocol.destroy(p);
  free(bad);
  cluster_free(&c);
}

/* ---- hostile input ---- */

static void test_malformed_rejected(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3);
  ctk_status before = status_of(&c, 1);
  wire_writer w;
  wire_writer_init(&w);
  /* a PREPARE that claims to come from a replica that is not view 1's primary */
  vr_log one = {.first = 1};
  vr_log_init(&one, 1);
  assert_int_equal(vr_log_append(&one, (const uint8_t *)"x", 1), 0);
  vr_encode_prepare(&w, 1, 0, &one, 1, 1);
  assert_int_equal(step(&c, 1, CTK_EVENT_MESSAGE, 2, w.data, w.len), CTK_ERR_MALFORMED);
  /* ... and one without operations */
  wire_writer_reset(&w);
  vr_encode_prepare(&w, 1, 0, &one, 1, 0);
  assert_int_equal(step(&c, 1, CTK_EVENT_MESSAGE, 0, w.data, w.len), CTK_ERR_MALFORMED);
  vr_log_free(&one);
  /* a DOVIEWCHANGE to a replica that is not the new view's primary */
  wire_writer_reset(&w);
  vr_encode_do_view_change(&w, 3, 1, 0, &(vr_log){.first = 1}, 1, 0);
  assert_int_equal(step(&c, 1, CTK_EVENT_MESSAGE, 0, w.data, w.len), CTK_ERR_MALFORMED);
  /* ... whose last normal view is not before its view */
  wire_writer_reset(&w);
  vr_encode_do_view_change(&w, 2, 2, 0, &(vr_log){.first = 1}, 1, 0);
  assert_int_equal(step(&c, 1, CTK_EVENT_MESSAGE, 0, w.data, w.len), CTK_ERR_MALFORMED);
  /* a NEWSTATE whose entries lie past its op-number */
  wire_writer_reset(&w);
  vr_encode_new_state(&w, 1, 0, &(vr_log){.first = 1}, 1, 0);
  w.data[2 + 8 + 7] = 0; /* op 0 */
  w.data[w.len - 1] = 1; /* n = 1, but no entry follows */
  assert_int_equal(step(&c, 1, CTK_EVENT_MESSAGE, 0, w.data, w.len), CTK_ERR_MALFORMED);
  /* a SNAPCHUNK whose bytes run past the checkpoint's size, one of index 0, a SNAPPULL of 0 */
  wire_writer_reset(&w);
  vr_encode_snap_chunk(&w, 5, 10, 8, (const uint8_t *)"abc", 3);
  assert_int_equal(step(&c, 1, CTK_EVENT_MESSAGE, 0, w.data, w.len), CTK_ERR_MALFORMED);
  wire_writer_reset(&w);
  vr_encode_snap_chunk(&w, 0, 3, 0, (const uint8_t *)"abc", 3);
  assert_int_equal(step(&c, 1, CTK_EVENT_MESSAGE, 0, w.data, w.len), CTK_ERR_MALFORMED);
  wire_writer_reset(&w);
  vr_encode_snap_pull(&w, 0, 0);
  assert_int_equal(step(&c, 1, CTK_EVENT_MESSAGE, 0, w.data, w.len), CTK_ERR_MALFORMED);
  /* a SNAPSHOT event of index 0 (none was asked for) */
  ctk_event snap = {
      .kind = CTK_EVENT_SNAPSHOT, .now_us = c.now, .bytes = {(const uint8_t *)"s", 1}};
  ctk_output o;
  assert_int_equal(ctk_vr_protocol.step(c.p[1], &snap, &o), CTK_ERR_INVALID);
  /* every truncation of a valid message, and garbage */
  wire_writer_reset(&w);
  vr_encode_start_view_change(&w, 2);
  for (size_t k = 0; k < w.len; k++)
    assert_int_equal(step(&c, 1, CTK_EVENT_MESSAGE, 0, w.data, k), CTK_ERR_MALFORMED);
  uint8_t garbage[64];
  for (int t = 0; t < 2000; t++) {
    for (size_t k = 0; k < sizeof garbage; k++) garbage[k] = (uint8_t)(t * 31 + k * 17);
    garbage[0] = VR_WIRE_VERSION;
    garbage[1] = (uint8_t)(t % 14);
    int rc = step(&c, 1, CTK_EVENT_MESSAGE, 0, garbage, (size_t)(t % 64));
    assert_true(rc == CTK_OK || rc == CTK_ERR_MALFORMED);
  }
  /* from itself, or from no replica */
  wire_writer_reset(&w);
  vr_encode_start_view_change(&w, 2);
  assert_int_equal(step(&c, 1, CTK_EVENT_MESSAGE, 1, w.data, w.len), CTK_ERR_MALFORMED);
  assert_int_equal(step(&c, 1, CTK_EVENT_MESSAGE, 7, w.data, w.len), CTK_ERR_MALFORMED);
  wire_writer_free(&w);
  ctk_status after = status_of(&c, 1);
  assert_int_equal(after.term, before.term);
  assert_int_equal(after.role, before.role);
  assert_int_equal(after.log_length, before.log_length);
  assert_int_equal(after.commit_index, before.commit_index);
  cluster_free(&c);
}

static void test_bad_options(void **state) {
  (void)state;
  ctk_vr_options o;
  ctk_protocol_default_options(&ctk_vr_protocol, &o);
  assert_int_equal(o.durable, 1);
  assert_int_equal(o.view_change_timeout_ms[0], 150);
  o.view_change_timeout_ms[0] = 400; /* lo > hi */
  ctk_node_config cfg = {.node_id = 0, .n_nodes = 3, .seed = 1};
  char err[160] = "";
  assert_null(ctk_vr_protocol.create(&cfg, &o, err, sizeof err));
  assert_string_equal(
      err, "vr: view_change_timeout_ms must be a range [lo, hi] with 1 <= lo <= hi <= 600000");
  ctk_protocol_default_options(&ctk_vr_protocol, &o);
  cfg.node_id = 3;
  assert_null(ctk_vr_protocol.create(&cfg, &o, err, sizeof err));
  assert_string_equal(err, "vr: bad node id or cluster size");
}

/* One replica alone commits at once and never changes views. */
static void test_single_replica(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 1);
  assert_int_equal(status_of(&c, 0).role, CTK_ROLE_LEADER);
  assert_int_equal(command(&c, 0, "a"), CTK_OK);
  assert_int_equal(c.applied[0], 1);
  assert_int_equal(c.deadline[0], CTK_DEADLINE_NONE);
  cluster_free(&c);
}

/* ---- checkpoints (section 5.3) ---- */

static int leader_of(const cluster *c) {
  int leader = -1;
  for (int i = 0; i < c->n; i++)
    if (!c->down[i] && status_of(c, i).role == CTK_ROLE_LEADER) {
      assert_int_equal(leader, -1);
      leader = i;
    }
  assert_true(leader >= 0);
  return leader;
}

/* count client operations at the primary, each delivered; the live replicas' logs (in memory and
 * on disk) stay bounded by the checkpoints the whole time. */
static void long_workload(cluster *c, int from, int count) {
  int primary = leader_of(c);
  char cmd[32];
  for (int k = 0; k < count; k++) {
    snprintf(cmd, sizeof cmd, "op%d", from + k);
    assert_int_equal(command(c, primary, cmd), CTK_OK);
    deliver_all(c);
    if (k % 10 == 9) run_for(c, 10 * MS);
    for (int i = 0; i < c->n; i++) {
      if (c->down[i]) continue;
      ctk_status s = status_of(c, i);
      assert_true(s.log_length - s.snapshot_index <= 22); /* 20 + the commit-number's lag */
      assert_true(c->p[i]->log.len <= 27);                /* and 5 kept behind the checkpoint */
      if (c->opt.durable) assert_true(c->durable_len[i] <= 4096);
    }
  }
}

static void expect_converged(const cluster *c, uint64_t applied) {
  for (int i = 0; i < c->n; i++) {
    assert_int_equal(c->applied[i], applied);
    assert_int_equal(c->sm[i], c->sm[0]);
    assert_int_equal(status_of(c, i).commit_index, applied);
  }
  (void)leader_of(c);
}

static void test_checkpoints_bound_the_log_and_catch_up_a_replica_down_for_long(void **state) {
  (void)state;
  cluster c;
  cluster_init_snap(&c, 3, 1);
  long_workload(&c, 0, 10);
  crash(&c, 2); /* holds ops 1..10, no checkpoint */
  long_workload(&c, 10, 600);
  assert_true(status_of(&c, 0).snapshot_index >= 580);
  assert_true(c.p[0]->log.first > 500);      /* op 11 on are in checkpoints only */
  size_t pushed = c.sent[VR_MSG_SNAP_CHUNK]; /* a first chunk each heartbeat, to a dead replica */
  assert_int_equal(c.sent[VR_MSG_SNAP_PULL], 0);

  /* Back after 600 operations: it catches up from the primary's checkpoint, in 64-byte chunks it
   * pulls, then the log past it. */
  boot(&c, 2);
  assert_int_equal(status_of(&c, 2).snapshot_index, 0);
  run_for(&c, 1000 * MS);
  assert_int_equal(c.restored[2], 1);
  assert_true(c.sent[VR_MSG_SNAP_CHUNK] >= pushed + 4 && c.sent[VR_MSG_SNAP_PULL] >= 3);
  expect_converged(&c, 610);
  assert_true(status_of(&c, 2).snapshot_index >= 590); /* its own by now */

  /* A restart starts from its own checkpoint on disk: restored at once, the rest re-executed. */
  uint64_t chunks = c.sent[VR_MSG_SNAP_CHUNK];
  crash(&c, 2);
  boot(&c, 2);
  assert_int_equal(c.restored[2], 2);
  assert_int_equal(c.applied[2], status_of(&c, 2).snapshot_index);
  assert_true(c.applied[2] >= 590);
  run_for(&c, 500 * MS);
  expect_converged(&c, 610);
  assert_int_equal(c.sent[VR_MSG_SNAP_CHUNK], chunks);

  /* A view change among replicas whose logs start far past op 1, then the old primary back. */
  crash(&c, 0);
  run_for(&c, 2000 * MS);
  assert_true(status_of(&c, 1).term >= 2);
  long_workload(&c, 610, 100);
  boot(&c, 0);
  run_for(&c, 2000 * MS);
  expect_converged(&c, 710);
  cluster_free(&c);
}

/* The new primary lacks operations that the best log's sender holds only in its checkpoint:
 * replica 1 is cut off while 0 and 2 execute 100 operations (and truncate their logs), then the
 * primary crashes. View 2's primary is replica 1; replica 2's DOVIEWCHANGE wins, and its log
 * starts at its checkpoint, far past replica 1's op-number: replica 1 fetches the checkpoint from
 * it (GETSTATE answered by SNAPCHUNKs) and the log past it before it goes normal. */
static void test_new_primary_fetches_a_checkpoint(void **state) {
  (void)state;
  cluster c;
  cluster_init_snap(&c, 3, 1);
  c.cut = 1u << 1;
  char cmd[32];
  for (int k = 0; k < 100; k++) { /* no timer fires meanwhile: replica 1 stays in view 1 */
    snprintf(cmd, sizeof cmd, "op%d", k);
    assert_int_equal(command(&c, 0, cmd), CTK_OK);
    deliver_all(&c);
  }
  fire(&c, 0); /* a COMMIT tells replica 2 the commit-number */
  deliver_all(&c);
  assert_int_equal(c.applied[2], 100);
  assert_true(c.p[2]->log.first > 80 && status_of(&c, 1).log_length == 0);
  crash(&c, 0);
  c.cut = 0;
  run_for(&c, 2000 * MS);
  ctk_status s = status_of(&c, 1);
  assert_int_equal(s.role, CTK_ROLE_LEADER); /* a primary ignores SNAPCHUNKs: it got it before */
  assert_int_equal(s.term, 2);
  assert_int_equal(c.restored[1], 1);
  assert_true(s.snapshot_index >= 80 && c.applied[1] == 100 && c.sm[1] == c.sm[2]);
  boot(&c, 0);
  run_for(&c, 2000 * MS);
  expect_converged(&c, 100);
  cluster_free(&c);
}

/* Without durable state: the restarted primary runs the RECOVERY protocol, gets the new primary's
 * log starting past its checkpoint, and fetches the checkpoint before it finishes. */
static void test_recovery_from_a_checkpoint(void **state) {
  (void)state;
  cluster c;
  cluster_init_snap(&c, 3, 0);
  long_workload(&c, 0, 100);
  crash(&c, 0);
  run_for(&c, 2000 * MS);
  long_workload(&c, 100, 100);
  boot(&c, 0);
  run_for(&c, 2000 * MS);
  assert_int_equal(c.restored[0], 1);
  assert_true(status_of(&c, 0).snapshot_index >= 180);
  assert_true(c.sent[VR_MSG_RECOVERY_RESPONSE] >= 2 && c.sent[VR_MSG_SNAP_CHUNK] >= 4);
  expect_converged(&c, 200);
  cluster_free(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_normal_operation),
      cmocka_unit_test(test_primary_crash_mid_prepare_loses_no_committed_op),
      cmocka_unit_test(test_view_change_over_a_log_bigger_than_a_message),
      cmocka_unit_test(test_recovering_replica_never_answers_in_a_missed_view),
      cmocka_unit_test(test_non_durable_tolerates_f_crashes),
      cmocka_unit_test(test_non_durable_loses_more_than_f_crashes),
      cmocka_unit_test(test_durable_restart_torn_and_corrupt),
      cmocka_unit_test(test_malformed_rejected),
      cmocka_unit_test(test_bad_options),
      cmocka_unit_test(test_single_replica),
      cmocka_unit_test(test_checkpoints_bound_the_log_and_catch_up_a_replica_down_for_long),
      cmocka_unit_test(test_new_primary_fetches_a_checkpoint),
      cmocka_unit_test(test_recovery_from_a_checkpoint),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
