/* test_zab.c: drives ZAB instances by hand through ctk_zab_protocol, on a zero-delay network with
 * FIFO links unless a test reorders or drops: fast leader election picking the most recent
 * history, a leader crash between PROPOSAL and COMMIT (a proposal on a quorum is committed by the
 * next leader; one on no quorum is truncated away from the follower holding it and never comes
 * back), a far-behind follower synchronized by SNAP, zxid epochs growing across leaders, a
 * follower putting reordered session messages back in order (and breaking the connection with
 * no reorder window), durable state (torn tail, corruption, epochs across a restart), malformed
 * messages, flow control to a slow follower (max_inflight), reconfiguration (a learner added,
 * synchronized, then made a voter; a change committed only by quorums of the old and of the new
 * configuration; configurations across restarts and snapshots; force), and option validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/record.h"
#include "zab/zab.h"
#include "zab/zab_internal.h"

#define MAXN 5
#define MS   1000ull

typedef struct qmsg {
  int from, to;
  uint8_t *bytes;
  size_t len;
} qmsg;

typedef struct cluster {
  int n;
  uint32_t members; /* the initial voters (0: all) */
  ctk_zab_options opt;
  uint64_t now;
  ctk_proto *p[MAXN];
  int down[MAXN];
  int blocked[MAXN][MAXN];
  uint8_t *durable[MAXN];
  size_t durable_len[MAXN];
  uint64_t deadline[MAXN];
  uint64_t applied[MAXN];
  int restored[MAXN];           /* snapshots restored (output.restore) */
  char store[MAXN][32];         /* the "state machine": the last command applied, or restored */
  char committed[MAXN][64][16]; /* command emitted at each position */
  int seen[16][MAXN];           /* messages delivered, by type and receiver */
  uint64_t proposed[MAXN];      /* proposals delivered (entries of PROPOSAL messages) */
  int park[MAXN];               /* a slow node: what it sends waits in parked (its ACKs too) */
  qmsg parked[1024];
  size_t nparked;
  qmsg q[8192];
  size_t nq;
} cluster;

static void absorb(cluster *c, int i, const ctk_output *out) {
  if (out->restore_index) { /* the host replaces its state machine, commits go on after it */
    assert_true(out->restore.len < sizeof c->store[i]);
    memcpy(c->store[i], out->restore.data, out->restore.len);
    c->store[i][out->restore.len] = 0;
    c->applied[i] = out->restore_index;
    c->restored[i]++;
  }
  if (out->persist.len || out->persist_replace) {
    size_t base = out->persist_replace ? 0 : c->durable_len[i];
    c->durable[i] = realloc(c->durable[i], base + out->persist.len + 1);
    memcpy(c->durable[i] + base, out->persist.data, out->persist.len);
    c->durable_len[i] = base + out->persist.len;
  }
  for (size_t k = 0; k < out->n_messages; k++) {
    assert_true(c->nq < 8192);
    qmsg *m = &c->q[c->nq++];
    m->from = i;
    m->to = out->messages[k].to;
    m->len = out->messages[k].bytes.len;
    m->bytes = malloc(m->len);
    memcpy(m->bytes, out->messages[k].bytes.data, m->len);
  }
  for (size_t k = 0; k < out->n_commits; k++) {
    assert_int_equal(out->commits[k].index, c->applied[i] + 1);
    c->applied[i] = out->commits[k].index;
    snprintf(c->store[i], sizeof c->store[i], "%.*s", (int)out->commits[k].command.len,
             (const char *)out->commits[k].command.data);
    if (c->applied[i] < 64) {
      /* a position committed once is committed again (after a restart) with the same command */
      char now[16];
      snprintf(now, sizeof now, "%.*s", (int)out->commits[k].command.len,
               (const char *)out->commits[k].command.data);
      if (c->committed[i][c->applied[i]][0])
        assert_string_equal(c->committed[i][c->applied[i]], now);
      strcpy(c->committed[i][c->applied[i]], now);
    }
  }
  c->deadline[i] = out->next_deadline_us;
}

static int step(cluster *c, int i, ctk_event_kind kind, int from, const void *bytes, size_t len) {
  ctk_event ev = {.kind = kind, .now_us = c->now, .from = from, .bytes = {bytes, len}};
  ctk_output out;
  int rc = ctk_zab_protocol.step(c->p[i], &ev, &out);
  if (rc != CTK_OK) return rc;
  absorb(c, i, &out);
  if (out.snapshot_wanted) {
    /* The host's answer at once: the "state machine" (the last command applied) at that index. */
    assert_int_equal(out.snapshot_wanted, c->applied[i]);
    char snap[32];
    snprintf(snap, sizeof snap, "%s", c->store[i]);
    ctk_event sev = {.kind = CTK_EVENT_SNAPSHOT,
                     .now_us = c->now,
                     .bytes = {(const uint8_t *)snap, strlen(snap)},
                     .index = out.snapshot_wanted};
    assert_int_equal(ctk_zab_protocol.step(c->p[i], &sev, &out), CTK_OK);
    absorb(c, i, &out);
  }
  return rc;
}

static void boot(cluster *c, int i) {
  ctk_node_config cfg = {.node_id = i, .n_nodes = c->n, .seed = 11, .members = c->members};
  char err[160];
  c->p[i] = ctk_zab_protocol.create(&cfg, &c->opt, err, sizeof err);
  assert_non_null(c->p[i]);
  c->applied[i] = 0;
  c->store[i][0] = 0;
  c->down[i] = 0;
  assert_int_equal(step(c, i, CTK_EVENT_START, 0, c->durable[i], c->durable_len[i]), CTK_OK);
}

static void cluster_init(cluster *c, int n, int64_t snap_threshold) {
  memset(c, 0, sizeof *c);
  c->n = n;
  ctk_protocol_default_options(&ctk_zab_protocol, &c->opt);
  if (snap_threshold >= 0) c->opt.snap_threshold = snap_threshold;
  for (int i = 0; i < n; i++) boot(c, i);
}

static void crash(cluster *c, int i) {
  ctk_zab_protocol.destroy(c->p[i]);
  c->p[i] = NULL;
  c->down[i] = 1;
  c->deadline[i] = CTK_DEADLINE_NONE;
}

static void cluster_free(cluster *c) {
  for (size_t k = 0; k < c->nparked; k++) free(c->parked[k].bytes);
  for (int i = 0; i < c->n; i++) {
    if (c->p[i]) ctk_zab_protocol.destroy(c->p[i]);
    free(c->durable[i]);
  }
  for (size_t k = 0; k < c->nq; k++) free(c->q[k].bytes);
}

static int msg_type(const qmsg *m) {
  zab_msg d;
  assert_int_equal(zab_msg_decode(m->bytes, m->len, &d), CTK_OK);
  return d.type;
}

/* Delivers queued messages in order (and what they cause), dropping those to or from a down
 * node or over a blocked link. */
static void deliver_all(cluster *c) {
  while (c->nq > 0) {
    qmsg m = c->q[0];
    memmove(c->q, c->q + 1, (c->nq - 1) * sizeof *c->q);
    c->nq--;
    if (c->park[m.from]) {
      assert_true(c->nparked < 1024);
      c->parked[c->nparked++] = m;
      continue;
    }
    if (!c->down[m.to] && !c->down[m.from] && !c->blocked[m.from][m.to]) {
      c->seen[msg_type(&m)][m.to]++;
      zab_msg d;
      assert_int_equal(zab_msg_decode(m.bytes, m.len, &d), CTK_OK);
      if (d.type == ZAB_MSG_PROPOSAL) c->proposed[m.to] += d.n;
      assert_int_equal(step(c, m.to, CTK_EVENT_MESSAGE, m.from, m.bytes, m.len), CTK_OK);
    }
    free(m.bytes);
  }
}

static void drop_all(cluster *c) {
  for (size_t k = 0; k < c->nq; k++) free(c->q[k].bytes);
  c->nq = 0;
}

/* Runs the cluster for ms of virtual time: messages arrive at once, timeouts fire in order. */
static void run_for(cluster *c, uint64_t ms) {
  uint64_t end = c->now + ms * MS;
  for (int iter = 0;; iter++) {
    assert_true(iter < 1000000);
    deliver_all(c);
    int next = -1;
    uint64_t t = UINT64_MAX;
    for (int i = 0; i < c->n; i++)
      if (!c->down[i] && c->deadline[i] < t) t = c->deadline[i], next = i;
    if (next < 0 || t > end) break;
    if (t > c->now) c->now = t;
    assert_int_equal(step(c, next, CTK_EVENT_TIMEOUT, 0, NULL, 0), CTK_OK);
  }
  c->now = end;
}

static ctk_status status_of(const cluster *c, int i) {
  ctk_status s;
  ctk_zab_protocol.status(c->p[i], &s);
  return s;
}

static int leader_of(const cluster *c) {
  int leader = -1;
  for (int i = 0; i < c->n; i++)
    if (!c->down[i] && status_of(c, i).role == CTK_ROLE_LEADER) {
      assert_int_equal(leader, -1);
      leader = i;
    }
  return leader;
}

static void command(cluster *c, int i, const char *cmd) {
  assert_int_equal(step(c, i, CTK_EVENT_COMMAND, 0, cmd, strlen(cmd)), CTK_OK);
}

/* Keeps only the queued messages to `to` of type `type`; drops the rest. */
static void keep_only(cluster *c, int to, int type) {
  size_t kept = 0;
  for (size_t k = 0; k < c->nq; k++)
    if (c->q[k].to == to && msg_type(&c->q[k]) == type)
      c->q[kept++] = c->q[k];
    else
      free(c->q[k].bytes);
  c->nq = kept;
}

/* Delivers what is queued now, and drops whatever that causes. */
static void deliver_once_drop_replies(cluster *c) {
  size_t n = c->nq;
  for (size_t k = 0; k < n; k++)
    assert_int_equal(
        step(c, c->q[k].to, CTK_EVENT_MESSAGE, c->q[k].from, c->q[k].bytes, c->q[k].len), CTK_OK);
  for (size_t k = 0; k < c->nq; k++) free(c->q[k].bytes);
  c->nq = 0;
}

static void test_election_picks_most_recent_and_broadcasts(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3, -1);
  run_for(&c, 200);
  /* fresh histories tie on (epoch, zxid): the highest id wins */
  assert_int_equal(leader_of(&c), 2);
  ctk_status s = status_of(&c, 2);
  assert_int_equal(s.term, 1); /* epoch 1 */
  assert_int_equal(status_of(&c, 0).leader_id, 2);
  assert_int_equal(status_of(&c, 0).role, CTK_ROLE_FOLLOWER);
  command(&c, 2, "a");
  command(&c, 0, "b"); /* a follower forwards */
  run_for(&c, 100);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(c.applied[i], 2);
    assert_string_equal(c.committed[i][1], "a");
    assert_string_equal(c.committed[i][2], "b");
  }
  assert_int_equal(c.p[2]->hist.e[0].zxid, zab_zxid(1, 1));
  assert_int_equal(c.p[2]->hist.e[1].zxid, zab_zxid(1, 2));
  /* node 0, with the longest history left once 2 and 1 crash and 1 restarts empty... */
  crash(&c, 1);
  free(c.durable[1]);
  c.durable[1] = NULL;
  c.durable_len[1] = 0;
  crash(&c, 2);
  boot(&c, 1);
  run_for(&c, 1000);
  /* ...wins: (epoch 1, zxid 1:2) beats (0, 0) */
  assert_int_equal(leader_of(&c), 0);
  assert_int_equal(status_of(&c, 0).term, 2);
  assert_int_equal(c.applied[1], 2); /* the empty node was synchronized */
  assert_string_equal(c.committed[1][2], "b");
  cluster_free(&c);
}

static void test_rejects_without_leader(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3, -1);
  assert_int_equal(step(&c, 1, CTK_EVENT_COMMAND, 0, "a", 1), CTK_ERR_REJECTED);
  assert_int_equal(status_of(&c, 1).leader_id, -1);
  assert_int_equal(status_of(&c, 1).role, CTK_ROLE_CANDIDATE);
  assert_int_equal(step(&c, 1, CTK_EVENT_COMMAND, 0, "", 0), CTK_ERR_INVALID);
  cluster_free(&c);
}

/* The leader crashes after its PROPOSAL reached one follower (with itself, a quorum of 3) and
 * before any COMMIT: the proposal is committed by the next leader, never lost. */
static void test_crash_before_commit_quorum_proposal_survives(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3, -1);
  run_for(&c, 200);
  assert_int_equal(leader_of(&c), 2);
  command(&c, 2, "a");
  keep_only(&c, 1, ZAB_MSG_PROPOSAL); /* only node 1 gets it */
  deliver_once_drop_replies(&c);      /* its ACK never arrives */
  assert_int_equal(c.applied[2], 0);  /* not committed anywhere */
  assert_int_equal(c.p[1]->hist.n, 1);
  crash(&c, 2);
  run_for(&c, 1000);
  /* node 1 has the most recent history (1:1), so it leads and commits "a" in epoch 2 */
  assert_int_equal(leader_of(&c), 1);
  assert_int_equal(status_of(&c, 1).term, 2);
  assert_true(c.seen[ZAB_MSG_DIFF][0] >= 1);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(c.applied[i], 1);
    assert_string_equal(c.committed[i][1], "a");
  }
  boot(&c, 2);
  run_for(&c, 1000);
  assert_int_equal(c.applied[2], 1);
  assert_string_equal(c.committed[2][1], "a");
  cluster_free(&c);
}

static int history_has(const zab *z, const char *cmd) {
  for (uint64_t p = 1; p <= z->hist.n; p++)
    if (z->hist.e[p - 1].len == strlen(cmd) && !memcmp(z->hist.e[p - 1].data, cmd, strlen(cmd)))
      return 1;
  return 0;
}

/* On 5 nodes the leader's PROPOSAL of "x" reaches one follower (2 of 5: no quorum), then both
 * go down. The three others elect a leader and commit "y" at x's position. The follower holding
 * x comes back: it is told to TRUNC x and gets y by DIFF; so does the old leader. x is never
 * committed and never comes back, not after more crashes and elections either. */
static void test_crash_before_commit_no_quorum_truncated(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 5, -1);
  run_for(&c, 200);
  assert_int_equal(leader_of(&c), 4);
  command(&c, 4, "a");
  run_for(&c, 100);
  for (int i = 0; i < 5; i++) assert_int_equal(c.applied[i], 1);
  command(&c, 4, "x");
  keep_only(&c, 3, ZAB_MSG_PROPOSAL);
  deliver_once_drop_replies(&c);
  assert_true(history_has(c.p[3], "x"));
  crash(&c, 4);
  crash(&c, 3);
  run_for(&c, 1000);
  int leader = leader_of(&c);
  assert_int_equal(leader, 2);
  command(&c, leader, "y");
  run_for(&c, 100);
  assert_string_equal(c.committed[0][2], "y");
  boot(&c, 3);
  run_for(&c, 1000);
  assert_true(c.seen[ZAB_MSG_TRUNC][3] >= 1);
  assert_int_equal(c.seen[ZAB_MSG_SNAP][3], 0); /* TRUNC and DIFF did it, no fallback to SNAP */
  assert_false(history_has(c.p[3], "x"));
  assert_int_equal(c.applied[3], 2);
  assert_string_equal(c.committed[3][2], "y");
  boot(&c, 4);
  run_for(&c, 1000);
  assert_true(c.seen[ZAB_MSG_TRUNC][4] >= 1);
  assert_false(history_has(c.p[4], "x"));
  /* more leaders, more restarts: x stays gone, everywhere, durably */
  crash(&c, 2);
  run_for(&c, 1000);
  command(&c, leader_of(&c), "z");
  run_for(&c, 200);
  crash(&c, 3);
  boot(&c, 3);
  boot(&c, 2);
  run_for(&c, 1000);
  for (int i = 0; i < 5; i++) {
    assert_false(history_has(c.p[i], "x"));
    assert_int_equal(c.applied[i], 3);
    assert_string_equal(c.committed[i][1], "a");
    assert_string_equal(c.committed[i][2], "y");
    assert_string_equal(c.committed[i][3], "z");
  }
  cluster_free(&c);
}

/* A follower that misses more than snap_threshold proposals gets SNAP (with no snapshot taken:
 * an empty one, then the whole history by one DIFF), installed at once; one that misses fewer
 * gets a DIFF. */
static void test_far_behind_follower_gets_snap(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3, 4);
  run_for(&c, 200);
  assert_int_equal(leader_of(&c), 2);
  crash(&c, 0);
  char cmd[16];
  for (int k = 1; k <= 10; k++) {
    snprintf(cmd, sizeof cmd, "c%d", k);
    command(&c, 2, cmd);
  }
  run_for(&c, 100);
  assert_int_equal(c.applied[1], 10);
  int diffs_before = c.seen[ZAB_MSG_DIFF][0];
  boot(&c, 0);
  run_for(&c, 1000);
  assert_true(c.seen[ZAB_MSG_SNAP][0] >= 1);
  assert_int_equal(c.seen[ZAB_MSG_DIFF][0], diffs_before + c.seen[ZAB_MSG_SNAP][0]);
  assert_int_equal(c.restored[0], 0); /* nothing to restore from an empty snapshot at 0 */
  assert_int_equal(c.applied[0], 10);
  assert_string_equal(c.committed[0][10], "c10");
  /* installed durably in one piece: a restart recovers all ten */
  crash(&c, 0);
  boot(&c, 0);
  assert_int_equal(status_of(&c, 0).log_length, 10);
  run_for(&c, 1000);
  assert_int_equal(leader_of(&c), 2);
  /* three behind (below the threshold): DIFF */
  crash(&c, 1);
  for (int k = 11; k <= 13; k++) {
    snprintf(cmd, sizeof cmd, "c%d", k);
    command(&c, 2, cmd);
  }
  run_for(&c, 100);
  int snaps = c.seen[ZAB_MSG_SNAP][1];
  boot(&c, 1);
  run_for(&c, 1000);
  assert_int_equal(c.seen[ZAB_MSG_SNAP][1], snaps);
  assert_true(c.seen[ZAB_MSG_DIFF][1] >= 1);
  assert_int_equal(c.applied[1], 13);
  cluster_free(&c);
}

/* Every new leader leads a higher epoch, and its zxids carry it in their high 32 bits. */
static void test_epochs_grow_across_leaders(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3, -1);
  uint64_t last_epoch = 0, last_zxid = 0;
  int crashed = -1;
  char cmd[16];
  for (int round = 0; round < 5; round++) {
    run_for(&c, 1000);
    int leader = leader_of(&c);
    assert_true(leader >= 0);
    uint64_t epoch = status_of(&c, leader).term;
    assert_true(epoch > last_epoch);
    snprintf(cmd, sizeof cmd, "r%d", round);
    command(&c, leader, cmd);
    const zab *z = c.p[leader];
    uint64_t zxid = z->hist.e[z->hist.n - 1].zxid;
    assert_int_equal(zab_zxid_epoch(zxid), epoch);
    assert_int_equal(zab_zxid_counter(zxid), 1);
    assert_true(zxid > last_zxid);
    run_for(&c, 100);
    last_epoch = epoch;
    last_zxid = zxid;
    if (crashed >= 0) boot(&c, crashed);
    crash(&c, leader);
    crashed = leader;
  }
  cluster_free(&c);
}

/* Session messages that overtook each other are put back in order; with no reorder window the
 * follower breaks the connection and synchronizes again. */
static void reorder_two_proposals(int64_t window_ms, int *followerinfos, uint64_t *applied) {
  cluster c;
  memset(&c, 0, sizeof c);
  c.n = 3;
  ctk_protocol_default_options(&ctk_zab_protocol, &c.opt);
  c.opt.reorder_window_ms = window_ms;
  for (int i = 0; i < 3; i++) boot(&c, i);
  run_for(&c, 200);
  assert_int_equal(leader_of(&c), 2);
  command(&c, 2, "p1");
  command(&c, 2, "p2");
  size_t at[2], n = 0; /* the two PROPOSALs to node 0 swap places */
  for (size_t k = 0; k < c.nq; k++)
    if (c.q[k].to == 0 && msg_type(&c.q[k]) == ZAB_MSG_PROPOSAL) at[n++] = k;
  assert_int_equal(n, 2);
  qmsg first = c.q[at[0]];
  c.q[at[0]] = c.q[at[1]];
  c.q[at[1]] = first;
  int before = c.seen[ZAB_MSG_FOLLOWERINFO][2];
  run_for(&c, 300);
  *followerinfos = c.seen[ZAB_MSG_FOLLOWERINFO][2] - before; /* node 1's session is intact */
  *applied = c.applied[0];
  assert_int_equal(c.p[0]->hist.n, 2);
  cluster_free(&c);
}

static void test_reordered_session_messages(void **state) {
  (void)state;
  int infos;
  uint64_t applied;
  reorder_two_proposals(25, &infos, &applied);
  assert_int_equal(infos, 0); /* put back in order: no new session */
  assert_int_equal(applied, 2);
  reorder_two_proposals(0, &infos, &applied);
  assert_true(infos >= 1); /* a broken connection: a new session, synchronized again */
  assert_int_equal(applied, 2);
}

/* A node that acked epoch e to one leader and restarted never acks e to another, but may follow
 * it without counting toward establishing it. */
static void test_epochs_survive_restart(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3, -1);
  run_for(&c, 200);
  command(&c, 2, "a");
  run_for(&c, 100);
  crash(&c, 0);
  boot(&c, 0);
  ctk_status s = status_of(&c, 0);
  assert_int_equal(s.term, 1); /* current epoch 1, from NEWLEADER */
  assert_int_equal(s.log_length, 1);
  assert_int_equal(c.p[0]->accepted_epoch, 1);
  assert_int_equal(c.p[0]->accepted_leader, 2);
  run_for(&c, 500);
  assert_int_equal(c.applied[0], 1);
  cluster_free(&c);
}

static void test_durable_torn_and_corrupt(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3, -1);
  run_for(&c, 200);
  command(&c, 2, "a");
  command(&c, 2, "b");
  run_for(&c, 100);
  size_t len = c.durable_len[1];
  assert_true(len > 20);
  ctk_node_config cfg = {.node_id = 1, .n_nodes = 3, .seed = 1};
  char err[160];
  ctk_output out;
  ctk_proto *p = ctk_zab_protocol.create(&cfg, &c.opt, err, sizeof err);
  ctk_event ev = {.kind = CTK_EVENT_START, .bytes = {c.durable[1], len - 3}};
  assert_int_equal(ctk_zab_protocol.step(p, &ev, &out), CTK_OK);
  assert_int_equal(out.persist_replace, 1); /* the torn tail is dropped */
  ctk_status s;
  ctk_zab_protocol.status(p, &s);
  assert_int_equal(s.log_length, 1);
  ctk_zab_protocol.destroy(p);
  uint8_t *bad = malloc(len);
  memcpy(bad, c.durable[1], len);
  bad[14] ^= 0xFF;
  p = ctk_zab_protocol.create(&cfg, &c.opt, err, sizeof err);
  ev.bytes = (ctk_bytes){bad, len};
  assert_int_equal(ctk_zab_protocol.step(p, &ev, &out), CTK_ERR_CORRUPT);
  ctk_zab_protocol.destroy(p);
  free(bad);
  cluster_free(&c);
}

/* Durable bytes of version 2, from before reconfiguration (entries without a type, no
 * configuration), are still read: client commands, the initial configuration. A version this
 * code does not know is refused as corrupt. */
static int start_from_v(uint8_t version, ctk_status *s) {
  wire_writer w;
  wire_writer_init(&w);
  size_t pos = record_begin(&w, version, 1); /* EPOCHS */
  wire_put_u64(&w, 1);
  wire_put_u8(&w, 2);
  wire_put_u64(&w, 1);
  record_end(&w, pos);
  pos = record_begin(&w, version, 2); /* APPEND of two commands */
  wire_put_u64(&w, 1);
  wire_put_u32(&w, 2);
  wire_put_u64(&w, zab_zxid(1, 1));
  wire_put_blob(&w, "a", 1);
  wire_put_u64(&w, zab_zxid(1, 2));
  wire_put_blob(&w, "b", 1);
  record_end(&w, pos);
  ctk_zab_options opt;
  ctk_protocol_default_options(&ctk_zab_protocol, &opt);
  ctk_node_config cfg = {.node_id = 0, .n_nodes = 3, .seed = 1, .members = 0x3};
  char err[160];
  ctk_proto *p = ctk_zab_protocol.create(&cfg, &opt, err, sizeof err);
  assert_non_null(p);
  ctk_event ev = {.kind = CTK_EVENT_START, .bytes = {w.data, w.len}};
  ctk_output out;
  int rc = ctk_zab_protocol.step(p, &ev, &out);
  ctk_zab_protocol.status(p, s);
  if (rc == CTK_OK) assert_int_equal(p->hist.e[1].type, ZAB_ENTRY_COMMAND);
  ctk_zab_protocol.destroy(p);
  wire_writer_free(&w);
  return rc;
}

static void test_durable_version_2_read(void **state) {
  (void)state;
  ctk_status s;
  assert_int_equal(start_from_v(2, &s), CTK_OK);
  assert_int_equal(s.log_length, 2);
  assert_int_equal(s.members, 0x3);
  assert_int_equal(s.learners, 0);
  assert_int_equal(start_from_v(4, &s), CTK_ERR_CORRUPT);
}

static void test_malformed_rejected(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3, -1);
  run_for(&c, 200);
  command(&c, 2, "a");
  size_t kept = 0;
  for (size_t k = 0; k < c.nq; k++) /* keep one PROPOSAL to node 1 to mutate */
    if (c.q[k].to == 1 && msg_type(&c.q[k]) == ZAB_MSG_PROPOSAL && !kept)
      c.q[kept++] = c.q[k];
    else
      free(c.q[k].bytes);
  c.nq = kept;
  assert_int_equal(c.nq, 1);
  qmsg good = c.q[0];
  c.nq = 0;
  ctk_status before = status_of(&c, 1);
  size_t dur = c.durable_len[1];
  for (size_t cut = 0; cut < good.len; cut++)
    assert_int_equal(step(&c, 1, CTK_EVENT_MESSAGE, 2, good.bytes, cut), CTK_ERR_MALFORMED);
  uint8_t copy[512];
  assert_true(good.len < sizeof copy);
  memcpy(copy, good.bytes, good.len);
  copy[good.len] = 0;
  assert_int_equal(step(&c, 1, CTK_EVENT_MESSAGE, 2, copy, good.len + 1), CTK_ERR_MALFORMED);
  copy[0] = 9; /* version */
  assert_int_equal(step(&c, 1, CTK_EVENT_MESSAGE, 2, copy, good.len), CTK_ERR_MALFORMED);
  assert_int_equal(step(&c, 1, CTK_EVENT_MESSAGE, 1, good.bytes, good.len), CTK_ERR_MALFORMED);
  ctk_rng rng;
  ctk_rng_seed(&rng, 5);
  for (int k = 0; k < 5000; k++) {
    size_t len = (size_t)ctk_rng_range(&rng, 0, 96);
    for (size_t b = 0; b < len; b++) copy[b] = (uint8_t)ctk_rng_next(&rng);
    if (len > 1 && k % 2) copy[0] = ZAB_WIRE_VERSION;
    if (len > 2 && k % 4 == 1) copy[1] = (uint8_t)(1 + k % 13);
    ctk_event ev = {.kind = CTK_EVENT_MESSAGE, .now_us = c.now, .from = 2, .bytes = {copy, len}};
    ctk_output out;
    int rc = ctk_zab_protocol.step(c.p[1], &ev, &out);
    if (rc != CTK_OK) assert_int_equal(out.n_messages + out.persist.len + out.n_commits, 0);
  }
  drop_all(&c);
  ctk_status after = status_of(&c, 1);
  assert_int_equal(after.term, before.term);
  assert_int_equal(after.commit_index, before.commit_index);
  assert_int_equal(after.log_length, before.log_length);
  assert_true(c.durable_len[1] == dur);
  char d[128];
  assert_true(zab_describe(good.bytes, good.len, d, sizeof d) > 0);
  assert_string_equal(d, "PROPOSAL e=1 seq=7 zxid=1:1 pos=1 n=1");
  assert_true(zab_describe(good.bytes, good.len - 1, d, sizeof d) < 0);
  /* the real message still goes through */
  assert_int_equal(step(&c, 1, CTK_EVENT_MESSAGE, 2, good.bytes, good.len), CTK_OK);
  assert_int_equal(status_of(&c, 1).log_length, 1);
  free(good.bytes);
  cluster_free(&c);
}

/* Snapshots: three nodes, a snapshot every 20 commits with 5 kept behind it. */
static void snapshot_cluster(cluster *c) {
  cluster_init(c, 3, -1);
  c->opt.snapshot_every = 20;
  c->opt.snapshot_keep = 5;
  for (int i = 0; i < 3; i++) {
    ctk_zab_protocol.destroy(c->p[i]);
    boot(c, i);
  }
  run_for(c, 200);
  assert_int_equal(leader_of(c), 2);
}

static void commands(cluster *c, int leader, int from, int to) {
  char cmd[16];
  for (int k = from; k <= to; k++) {
    snprintf(cmd, sizeof cmd, "c%d", k);
    command(c, leader, cmd);
    if (k % 10 == 0) run_for(c, 10);
  }
  run_for(c, 100);
}

/* The history and the durable bytes stay bounded over a long run: what is held past the
 * snapshot stays below snapshot_every + snapshot_keep (+ the uncommitted tail). */
static void test_snapshot_bounds_history(void **state) {
  (void)state;
  cluster c;
  snapshot_cluster(&c);
  size_t durable_max = 0;
  for (int round = 0; round < 50; round++) {
    commands(&c, 2, round * 20 + 1, round * 20 + 20);
    for (int i = 0; i < 3; i++) {
      ctk_status s = status_of(&c, i);
      assert_int_equal(s.commit_index, (uint64_t)round * 20 + 20);
      assert_true(s.snapshot_index + 20 > s.commit_index);
      assert_true(c.p[i]->hist.n - c.p[i]->hist.base <= 20 + 5 + 1);
      if (c.durable_len[i] > durable_max) durable_max = c.durable_len[i];
    }
  }
  /* a thousand commits, yet the durable bytes hold a few dozen proposals */
  assert_true(durable_max < 4096);
  assert_int_equal(c.restored[0] + c.restored[1] + c.restored[2], 0);
  cluster_free(&c);
}

/* A follower down while many snapshots' worth of commits happen catches up from the leader's
 * snapshot (SNAP, then DIFF of the rest), restores it, and commits on from there; it survives a
 * restart from its durable bytes, which then hold the snapshot. */
static void test_snapshot_catch_up_and_restart(void **state) {
  (void)state;
  cluster c;
  snapshot_cluster(&c);
  commands(&c, 2, 1, 10);
  crash(&c, 0);
  commands(&c, 2, 11, 130);
  assert_true(c.p[2]->hist.base > 10); /* what node 0 misses is gone from the leader's history */
  boot(&c, 0);
  run_for(&c, 1000);
  assert_true(c.seen[ZAB_MSG_SNAP][0] >= 1);
  assert_int_equal(c.restored[0], 1);
  assert_int_equal(c.applied[0], 130);
  assert_string_equal(c.store[0], "c130");
  assert_int_equal(status_of(&c, 0).snapshot_index, c.p[2]->snap_index);
  commands(&c, 2, 131, 135);
  assert_int_equal(c.applied[0], 135);
  assert_string_equal(c.store[0], "c135");
  /* restart: the host restores the durable snapshot, commits follow from after it */
  uint64_t snap = status_of(&c, 0).snapshot_index;
  assert_true(snap >= 120);
  crash(&c, 0);
  boot(&c, 0);
  assert_int_equal(c.restored[0], 2);
  assert_int_equal(status_of(&c, 0).snapshot_index, snap);
  run_for(&c, 1000);
  assert_int_equal(c.applied[0], 135);
  assert_string_equal(c.store[0], "c135");
  /* the leader restarts too: a new leader, and the old one rejoins from its own snapshot */
  crash(&c, 2);
  run_for(&c, 2000);
  int leader = leader_of(&c);
  assert_true(leader == 0 || leader == 1);
  boot(&c, 2);
  assert_int_equal(c.restored[2], 1);
  run_for(&c, 1000);
  commands(&c, leader, 136, 160);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(c.applied[i], 160);
    assert_string_equal(c.store[i], "c160");
  }
  /* corrupt snapshot bytes are refused at start */
  crash(&c, 1);
  size_t at = c.durable_len[1] / 2;
  c.durable[1][at] ^= 0x40;
  ctk_node_config cfg = {.node_id = 1, .n_nodes = 3, .seed = 11};
  char err[160];
  ctk_proto *p = ctk_zab_protocol.create(&cfg, &c.opt, err, sizeof err);
  ctk_event ev = {.kind = CTK_EVENT_START, .bytes = {c.durable[1], c.durable_len[1]}};
  ctk_output out;
  assert_int_equal(ctk_zab_protocol.step(p, &ev, &out), CTK_ERR_CORRUPT);
  ctk_zab_protocol.destroy(p);
  c.durable[1][at] ^= 0x40;
  cluster_free(&c);
}

/* Flow control: a 3-node cluster with max_inflight (and snap_threshold) set, led by node 2. */
static void flow_cluster(cluster *c, int64_t max_inflight, int64_t snap_threshold) {
  cluster_init(c, 3, snap_threshold);
  c->opt.max_inflight = max_inflight;
  for (int i = 0; i < 3; i++) {
    ctk_zab_protocol.destroy(c->p[i]);
    boot(c, i);
  }
  run_for(c, 200);
  assert_int_equal(leader_of(c), 2);
}

/* Node 0 turns slow (its ACKs wait) while the leader gets 30 commands; then it speeds up. */
static void slow_follower_run(cluster *c, uint64_t *proposed_while_slow, int *sessions) {
  int infos = c->seen[ZAB_MSG_FOLLOWERINFO][2];
  uint64_t before = c->proposed[0];
  c->park[0] = 1;
  char cmd[16];
  for (int k = 1; k <= 30; k++) {
    snprintf(cmd, sizeof cmd, "s%d", k);
    command(c, 2, cmd);
    run_for(c, 2);
  }
  /* node 1 and the leader, a majority, committed all of them without node 0 */
  assert_int_equal(status_of(c, 2).commit_index, 30);
  assert_int_equal(c->applied[1], 30);
  *proposed_while_slow = c->proposed[0] - before;
  c->park[0] = 0; /* it speeds up: its ACKs (or new session) reach the leader */
  for (size_t k = 0; k < c->nparked; k++) c->q[c->nq++] = c->parked[k];
  c->nparked = 0;
  run_for(c, 150);
  assert_int_equal(c->applied[0], 30);
  assert_string_equal(c->store[0], "s30");
  *sessions = c->seen[ZAB_MSG_FOLLOWERINFO][2] - infos;
}

/* With max_inflight = 4, a follower whose ACKs do not come gets 4 proposals and no more (and no
 * COMMIT of one it was not sent: it never breaks its session), the majority commits on, and it
 * catches up in the same session when its ACKs arrive. With no cap it gets all 30 at once. */
static void test_flow_control_slow_follower(void **state) {
  (void)state;
  cluster c;
  uint64_t proposed;
  int sessions;
  flow_cluster(&c, 4, -1);
  slow_follower_run(&c, &proposed, &sessions);
  assert_int_equal(proposed, 4);
  assert_int_equal(sessions, 0);
  assert_int_equal(c.seen[ZAB_MSG_SNAP][0], 0);
  assert_int_equal(c.proposed[0], 30);
  cluster_free(&c);

  flow_cluster(&c, 0, -1);
  slow_follower_run(&c, &proposed, &sessions);
  assert_int_equal(proposed, 30);
  assert_int_equal(sessions, 0);
  cluster_free(&c);
}

/* A slow follower that falls more than snap_threshold behind is synchronized again, by SNAP. */
static void test_flow_control_far_behind_gets_snap(void **state) {
  (void)state;
  cluster c;
  uint64_t proposed;
  int sessions;
  flow_cluster(&c, 4, 10);
  int snaps = c.seen[ZAB_MSG_SNAP][0];
  slow_follower_run(&c, &proposed, &sessions);
  assert_true(proposed <= 4);
  assert_int_equal(sessions, 1);
  assert_true(c.seen[ZAB_MSG_SNAP][0] > snaps);
  cluster_free(&c);
}

/* ---- reconfiguration (reconfig.c) ---- */

static int admin(cluster *c, int i, const char *request) {
  return step(c, i, CTK_EVENT_ADMIN, 0, request, strlen(request));
}

/* Five nodes of which 0, 1 and 2 vote; 3 and 4 wait to be added. */
static void reconfig_cluster(cluster *c, int snapshot_every) {
  memset(c, 0, sizeof *c);
  c->n = 5;
  c->members = 0x7;
  ctk_protocol_default_options(&ctk_zab_protocol, &c->opt);
  c->opt.snapshot_every = snapshot_every;
  c->opt.snapshot_keep = 5;
  for (int i = 0; i < 5; i++) boot(c, i);
  run_for(c, 300);
}

static void expect_members(const cluster *c, int i, uint32_t voters, uint32_t learners) {
  ctk_status s = status_of(c, i);
  if (s.members != voters || s.learners != learners)
    fail_msg("n%d: voters %#x learners %#x, expected %#x and %#x", i, s.members, s.learners, voters,
             learners);
}

/* add: a learner first (its ACKs count for nothing), a voter once it caught up; requests are
 * refused where they cannot apply. */
static void test_reconfig_add_learner_then_voter(void **state) {
  (void)state;
  cluster c;
  reconfig_cluster(&c, 0);
  int leader = leader_of(&c);
  assert_true(leader >= 0 && leader <= 2);
  int follower = (leader + 1) % 3;
  expect_members(&c, 3, 0x7, 0); /* outside: empty, waiting */
  assert_int_equal(status_of(&c, 3).log_length, 0);
  assert_int_not_equal(status_of(&c, 3).role, CTK_ROLE_LEADER);
  assert_int_equal(admin(&c, follower, "add 3"), CTK_ERR_REJECTED);
  assert_int_equal(status_of(&c, follower).leader_id, leader);
  assert_int_equal(admin(&c, leader, "add 9"), CTK_ERR_INVALID);
  assert_int_equal(admin(&c, leader, "add 1"), CTK_ERR_INVALID);      /* a member already */
  assert_int_equal(admin(&c, leader, "transfer 1"), CTK_ERR_INVALID); /* unsupported */
  assert_int_equal(admin(&c, leader, "fly 3"), CTK_ERR_INVALID);
  assert_int_equal(admin(&c, leader, "remove 3"), CTK_ERR_INVALID); /* not a member */
  command(&c, leader, "a");
  run_for(&c, 50);
  assert_int_equal(admin(&c, leader, "add 3"), CTK_OK);
  expect_members(&c, leader, 0x7, 0x8);
  assert_int_equal(admin(&c, leader, "add 4"), CTK_ERR_REJECTED); /* one change at a time */
  run_for(&c, 300);
  for (int i = 0; i < 4; i++) expect_members(&c, i, 0xF, 0);
  command(&c, leader, "b");
  run_for(&c, 100);
  assert_int_equal(c.applied[3], c.applied[leader]);
  assert_string_equal(c.store[3], "b");
  assert_int_equal(admin(&c, leader, "add 4"), CTK_OK);
  run_for(&c, 300);
  for (int i = 0; i < 5; i++) expect_members(&c, i, 0x1F, 0);
  assert_int_equal(leader_of(&c), leader);
  cluster_free(&c);
}

/* A leader removing itself: its removal needs a quorum of the old voters and one of the new; with
 * one of the two remaining voters cut off, the old quorum alone does not commit it. Once
 * committed, the leader steps down and the remaining voters elect one of them. */
static void test_reconfig_commit_needs_old_and_new_quorum(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3, -1);
  run_for(&c, 200);
  int leader = leader_of(&c), a = (leader + 1) % 3, b = (leader + 2) % 3;
  command(&c, leader, "x");
  run_for(&c, 50);
  c.blocked[leader][b] = c.blocked[b][leader] = 1;
  char req[16];
  snprintf(req, sizeof req, "remove %d", leader);
  assert_int_equal(admin(&c, leader, req), CTK_OK);
  uint32_t rest = (1u << a) | (1u << b);
  expect_members(&c, leader, rest, 0);
  run_for(&c, 40);
  ctk_status s = status_of(&c, leader);
  assert_int_equal(s.role, CTK_ROLE_LEADER);
  assert_true(s.commit_index < s.log_length); /* acked by {leader, a}: old quorum, not new */
  assert_int_equal(status_of(&c, a).log_length, s.log_length);
  c.blocked[leader][b] = c.blocked[b][leader] = 0;
  run_for(&c, 1000);
  int now = leader_of(&c);
  assert_true(now == a || now == b);
  for (int i = 0; i < 3; i++) expect_members(&c, i, rest, 0);
  command(&c, now, "y");
  run_for(&c, 100);
  assert_string_equal(c.store[a], "y");
  assert_string_equal(c.store[b], "y");
  assert_int_equal(admin(&c, leader, "add 0"), CTK_ERR_REJECTED); /* no longer leads */
  cluster_free(&c);
}

/* The configuration survives restarts, and snapshots that fold its entries away; a node added
 * after the leader compacted its history gets it by SNAP. */
static void test_reconfig_survives_restart_and_snapshot(void **state) {
  (void)state;
  cluster c;
  reconfig_cluster(&c, 20);
  int leader = leader_of(&c);
  commands(&c, leader, 1, 60);
  assert_true(c.p[leader]->hist.base > 0);
  assert_int_equal(admin(&c, leader, "add 3"), CTK_OK);
  run_for(&c, 300);
  assert_true(c.seen[ZAB_MSG_SNAP][3] > 0);
  for (int i = 0; i < 4; i++) expect_members(&c, i, 0xF, 0);
  commands(&c, leader, 61, 120); /* snapshots past both configuration entries */
  assert_true(c.p[leader]->hist.base > c.p[leader]->conf_committed_pos);
  for (int i = 0; i < 5; i++) crash(&c, i);
  for (int i = 0; i < 5; i++) boot(&c, i);
  for (int i = 0; i < 4; i++) expect_members(&c, i, 0xF, 0);
  expect_members(&c, 4, 0x7, 0); /* never added: the initial configuration */
  run_for(&c, 1000);
  leader = leader_of(&c);
  assert_true(leader >= 0 && leader <= 3);
  command(&c, leader, "z");
  run_for(&c, 100);
  for (int i = 0; i < 4; i++) assert_string_equal(c.store[i], "z");
  cluster_free(&c);
}

/* force: the survivors of a lost majority make themselves the members (UNSAFE), durably, also
 * once snapshots fold the forced position away. */
static void test_reconfig_force(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3, -1);
  c.opt.snapshot_every = 20;
  c.opt.snapshot_keep = 5;
  for (int i = 0; i < 3; i++) {
    ctk_zab_protocol.destroy(c.p[i]);
    boot(&c, i);
  }
  run_for(&c, 200);
  int leader = leader_of(&c), a = (leader + 1) % 3, b = (leader + 2) % 3;
  command(&c, leader, "x");
  run_for(&c, 50);
  crash(&c, leader);
  crash(&c, b);
  run_for(&c, 1000);
  assert_int_equal(leader_of(&c), -1); /* no quorum */
  char req[16];
  snprintf(req, sizeof req, "force %d", b);
  assert_int_equal(admin(&c, a, req), CTK_ERR_INVALID); /* without itself */
  assert_int_equal(admin(&c, a, "force 7"), CTK_ERR_INVALID);
  snprintf(req, sizeof req, "force %d", a);
  assert_int_equal(admin(&c, a, req), CTK_OK);
  expect_members(&c, a, 1u << a, 0);
  run_for(&c, 1000);
  assert_int_equal(leader_of(&c), a);
  command(&c, a, "y");
  run_for(&c, 10);
  assert_string_equal(c.store[a], "y");
  crash(&c, a);
  boot(&c, a);
  expect_members(&c, a, 1u << a, 0);
  run_for(&c, 1000);
  assert_int_equal(leader_of(&c), a);
  commands(&c, a, 1, 60);
  assert_true(c.p[a]->hist.base > 2); /* past the forced position */
  crash(&c, a);
  boot(&c, a);
  expect_members(&c, a, 1u << a, 0);
  run_for(&c, 1000);
  assert_int_equal(leader_of(&c), a);
  cluster_free(&c);
}

static void test_options(void **state) {
  (void)state;
  ctk_zab_options o;
  ctk_protocol_default_options(&ctk_zab_protocol, &o);
  assert_int_equal(o.heartbeat_ms, 50);
  assert_int_equal(o.snap_threshold, 500);
  assert_int_equal(o.max_inflight, 0);
  assert_int_equal(o.learner_catchup, 64);
  ctk_node_config cfg = {.node_id = 0, .n_nodes = 3, .seed = 1};
  char err[160] = "";
  o.learner_catchup = -1;
  assert_null(ctk_zab_protocol.create(&cfg, &o, err, sizeof err));
  assert_string_equal(err, "zab: learner_catchup must be in [0, 1000000]");
  o.learner_catchup = 64;
  o.reorder_window_ms = -1;
  assert_null(ctk_zab_protocol.create(&cfg, &o, err, sizeof err));
  assert_string_equal(err, "zab: reorder_window_ms must be in [0, 60000]");
  cfg.node_id = 3;
  ctk_protocol_default_options(&ctk_zab_protocol, &o);
  assert_null(ctk_zab_protocol.create(&cfg, &o, err, sizeof err));
  assert_string_equal(err, "zab: bad node id or cluster size");
  /* a cluster of one leads and commits alone */
  cluster c;
  cluster_init(&c, 1, -1);
  run_for(&c, 100);
  assert_int_equal(leader_of(&c), 0);
  command(&c, 0, "solo");
  assert_int_equal(c.applied[0], 1);
  cluster_free(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_election_picks_most_recent_and_broadcasts),
      cmocka_unit_test(test_rejects_without_leader),
      cmocka_unit_test(test_crash_before_commit_quorum_proposal_survives),
      cmocka_unit_test(test_crash_before_commit_no_quorum_truncated),
      cmocka_unit_test(test_far_behind_follower_gets_snap),
      cmocka_unit_test(test_epochs_grow_across_leaders),
      cmocka_unit_test(test_reordered_session_messages),
      cmocka_unit_test(test_epochs_survive_restart),
      cmocka_unit_test(test_durable_torn_and_corrupt),
      cmocka_unit_test(test_durable_version_2_read),
      cmocka_unit_test(test_malformed_rejected),
      cmocka_unit_test(test_snapshot_bounds_history),
      cmocka_unit_test(test_snapshot_catch_up_and_restart),
      cmocka_unit_test(test_flow_control_slow_follower),
      cmocka_unit_test(test_flow_control_far_behind_gets_snap),
      cmocka_unit_test(test_reconfig_add_learner_then_voter),
      cmocka_unit_test(test_reconfig_commit_needs_old_and_new_quorum),
      cmocka_unit_test(test_reconfig_survives_restart_and_snapshot),
      cmocka_unit_test(test_reconfig_force),
      cmocka_unit_test(test_options),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
