/* test_raft_unit.c: drives Raft instances by hand through ctk_raft_protocol and checks output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raft/raft.h"
#include "raft/raft_internal.h"

#define MAXN       5
#define MS         1000ull
#define CHOSEN_MAX 65536

/* ---- a tiny hand-driven cluster ---- */

typedef struct qmsg {
  int from, to;
  uint8_t *bytes;
  size_t len;
  uint64_t at; /* delivery time, in the random schedules */
} qmsg;

typedef struct cluster {
  int n;
  ctk_raft_options opt;
  uint64_t seed, now;
  ctk_proto *p[MAXN];
  uint8_t *durable[MAXN];
  size_t durable_len[MAXN], durable_cap[MAXN];
  uint64_t deadline[MAXN];
  int last_rc[MAXN];
  size_t last_persist[MAXN]; /* persist bytes of the node's last step */
  size_t last_sent[MAXN];    /* messages of the node's last step */
  uint64_t applied[MAXN];    /* highest commit index emitted since the last restart */
  uint64_t state[MAXN];      /* a stand-in state machine: a hash of the commands applied */
  uint64_t snapshots_taken, restores;
  uint8_t **chosen; /* command committed at each index, by whoever committed first */
  size_t *chosen_len;
  int cut[MAXN][MAXN]; /* 1: messages from i to j are lost */
  qmsg *q;
  size_t nq, capq;
  int n_append_delivered;
  ctk_rng *net_rng; /* set: messages get a random delay of up to delay_max_us */
  uint64_t delay_max_us;
} cluster;

static void default_options(ctk_raft_options *o) {
  ctk_protocol_default_options(&ctk_raft_protocol, o);
}

static void node_create(cluster *c, int i) {
  ctk_node_config cfg = {.node_id = i, .n_nodes = c->n, .seed = c->seed};
  char err[128];
  c->p[i] = ctk_raft_protocol.create(&cfg, &c->opt, err, sizeof err);
  assert_non_null(c->p[i]);
}

static void enqueue(cluster *c, int from, const ctk_message *m) {
  assert_true(m->to >= 0 && m->to < c->n && m->to != from);
  if (c->cut[from][m->to]) return;
  if (c->nq == c->capq) {
    c->capq = c->capq ? c->capq * 2 : 64;
    c->q = realloc(c->q, c->capq * sizeof *c->q);
  }
  qmsg *q = &c->q[c->nq++];
  q->from = from;
  q->to = m->to;
  q->len = m->bytes.len;
  q->at = c->now + (c->net_rng ? ctk_rng_range(c->net_rng, 100, c->delay_max_us) : 0);
  q->bytes = malloc(m->bytes.len);
  memcpy(q->bytes, m->bytes.data, m->bytes.len);
}

static int step(cluster *c, int i, ctk_event ev);

/* The stand-in state machine's snapshot: its hash, its index, and filler so that it takes several
 * InstallSnapshot chunks of the smallest size. */
#define SNAP_FILLER 200
static void state_apply(uint64_t *state, const ctk_bytes *command) {
  for (size_t k = 0; k < command->len; k++) *state = (*state ^ command->data[k]) * 0x100000001b3ull;
  *state = (*state ^ 0xff) * 0x100000001b3ull;
}

static void take_snapshot(cluster *c, int i, uint64_t index) {
  uint8_t bytes[16 + SNAP_FILLER];
  memcpy(bytes, &c->state[i], 8);
  memcpy(bytes + 8, &index, 8);
  for (int k = 0; k < SNAP_FILLER; k++) bytes[16 + k] = (uint8_t)(k * 7);
  c->snapshots_taken++;
  assert_int_equal(
      step(c, i,
           (ctk_event){.kind = CTK_EVENT_SNAPSHOT, .index = index, .bytes = {bytes, sizeof bytes}}),
      CTK_OK);
}

static void restore(cluster *c, int i, const ctk_output *out) {
  uint64_t index;
  assert_int_equal(out->restore.len, 16 + SNAP_FILLER);
  memcpy(&c->state[i], out->restore.data, 8);
  memcpy(&index, out->restore.data + 8, 8);
  assert_int_equal(index, out->restore_index);
  for (int k = 0; k < SNAP_FILLER; k++)
    assert_int_equal(out->restore.data[16 + k], (uint8_t)(k * 7));
  assert_true(out->restore_index > c->applied[i]); /* never back over what was applied */
  c->applied[i] = out->restore_index;
  c->restores++;
}

/* Applies a step's output the way a host must: persist, then messages, a restore, commits, and
 * the snapshot asked for. */
static void absorb(cluster *c, int i, const ctk_output *out) {
  if (out->persist_replace) c->durable_len[i] = 0;
  if (c->durable_len[i] + out->persist.len + 1 > c->durable_cap[i]) {
    c->durable_cap[i] = 2 * (c->durable_len[i] + out->persist.len) + 256;
    c->durable[i] = realloc(c->durable[i], c->durable_cap[i]);
  }
  if (out->persist.len)
    memcpy(c->durable[i] + c->durable_len[i], out->persist.data, out->persist.len);
  c->durable_len[i] += out->persist.len;
  c->last_persist[i] = out->persist.len;
  c->last_sent[i] = out->n_messages;
  for (size_t k = 0; k < out->n_messages; k++) enqueue(c, i, &out->messages[k]);
  if (out->restore_index) restore(c, i, out);
  for (size_t k = 0; k < out->n_commits; k++) {
    const ctk_commit *cm = &out->commits[k];
    assert_int_equal(cm->index, c->applied[i] + 1); /* in order, no gaps, once */
    c->applied[i] = cm->index;
    state_apply(&c->state[i], &cm->command);
    assert_true(cm->index < CHOSEN_MAX);
    if (!c->chosen[cm->index]) {
      c->chosen[cm->index] = malloc(cm->command.len + 1);
      if (cm->command.len) memcpy(c->chosen[cm->index], cm->command.data, cm->command.len);
      c->chosen_len[cm->index] = cm->command.len;
    } else { /* State Machine Safety */
      assert_int_equal(c->chosen_len[cm->index], cm->command.len);
      assert_memory_equal(c->chosen[cm->index], cm->command.data, cm->command.len);
    }
  }
  c->deadline[i] = out->next_deadline_us;
  if (out->snapshot_wanted) {
    assert_int_equal(out->snapshot_wanted, c->applied[i]);
    take_snapshot(c, i, out->snapshot_wanted);
  }
}

static int step(cluster *c, int i, ctk_event ev) {
  ctk_output out;
  ev.now_us = c->now;
  int rc = ctk_raft_protocol.step(c->p[i], &ev, &out);
  if (rc != CTK_OK) {
    assert_int_equal(out.persist.len, 0);
    assert_int_equal(out.n_messages, 0);
    assert_int_equal(out.n_commits, 0);
  }
  absorb(c, i, &out);
  c->last_rc[i] = rc;
  return rc;
}

static int start(cluster *c, int i) {
  c->applied[i] = 0;
  c->state[i] = 0;
  return step(c, i,
              (ctk_event){.kind = CTK_EVENT_START, .bytes = {c->durable[i], c->durable_len[i]}});
}

static void restart(cluster *c, int i) {
  ctk_raft_protocol.destroy(c->p[i]);
  node_create(c, i);
  assert_int_equal(start(c, i), CTK_OK);
}

static void cluster_init(cluster *c, int n, const ctk_raft_options *opt) {
  memset(c, 0, sizeof *c);
  c->n = n;
  c->seed = 42;
  c->now = 1000 * MS;
  c->chosen = calloc(CHOSEN_MAX, sizeof *c->chosen);
  c->chosen_len = calloc(CHOSEN_MAX, sizeof *c->chosen_len);
  if (opt)
    c->opt = *opt;
  else
    default_options(&c->opt);
  for (int i = 0; i < n; i++) {
    node_create(c, i);
    assert_int_equal(start(c, i), CTK_OK);
  }
}

static void cluster_free(cluster *c) {
  for (int i = 0; i < c->n; i++) {
    ctk_raft_protocol.destroy(c->p[i]);
    free(c->durable[i]);
  }
  for (size_t k = 0; k < c->nq; k++) free(c->q[k].bytes);
  free(c->q);
  for (int k = 0; k < CHOSEN_MAX; k++) free(c->chosen[k]);
  free(c->chosen);
  free(c->chosen_len);
}

static ctk_status status(cluster *c, int i) {
  ctk_status s;
  ctk_raft_protocol.status(c->p[i], &s);
  return s;
}

/* Fires node i's timer: the clock jumps to its deadline (never backwards). */
static void fire(cluster *c, int i) {
  if (c->deadline[i] != CTK_DEADLINE_NONE && c->deadline[i] > c->now) c->now = c->deadline[i];
  assert_int_equal(step(c, i, (ctk_event){.kind = CTK_EVENT_TIMEOUT}), CTK_OK);
}

static int command(cluster *c, int i, const char *cmd) {
  return step(c, i,
              (ctk_event){.kind = CTK_EVENT_COMMAND, .bytes = {(const uint8_t *)cmd, strlen(cmd)}});
}

static int msg_type(const qmsg *m) { return m->len >= 2 ? m->bytes[1] : -1; }

static void describe(const uint8_t *b, size_t len, char *buf, size_t n) {
  assert_true(ctk_raft_protocol.describe(b, len, buf, n) > 0);
}

/* Delivers queued message k (removing it from the queue). */
static int deliver(cluster *c, size_t k) {
  qmsg m = c->q[k];
  memmove(&c->q[k], &c->q[k + 1], (c->nq - k - 1) * sizeof *c->q);
  c->nq--;
  if (msg_type(&m) == RAFT_MSG_APPEND) c->n_append_delivered++;
  int rc = step(c, m.to,
                (ctk_event){.kind = CTK_EVENT_MESSAGE, .from = m.from, .bytes = {m.bytes, m.len}});
  free(m.bytes);
  return rc;
}

/* Delivers everything in FIFO order until the queue drains (bounded). */
static void deliver_all(cluster *c) {
  for (int guard = 0; c->nq > 0 && guard < 100000; guard++) assert_int_equal(deliver(c, 0), CTK_OK);
  assert_int_equal(c->nq, 0);
}

static void drop_all(cluster *c) {
  for (size_t k = 0; k < c->nq; k++) free(c->q[k].bytes);
  c->nq = 0;
}

static void isolate(cluster *c, int i, int cut) {
  for (int j = 0; j < c->n; j++) c->cut[i][j] = c->cut[j][i] = cut;
}

/* Hands node `to` a message crafted with the codec, as if from `from`. */
static int inject(cluster *c, int from, int to, wire_writer *w) {
  int rc =
      step(c, to, (ctk_event){.kind = CTK_EVENT_MESSAGE, .from = from, .bytes = {w->data, w->len}});
  wire_writer_reset(w);
  return rc;
}

/* An AppendEntries from `from` at `term` carrying n entries all of entry_term after prev. */
static int inject_append(cluster *c, int from, int to, uint64_t term, uint64_t prev,
                         uint64_t prev_term, uint64_t n, uint64_t entry_term, uint64_t commit) {
  raft_log log;
  raft_log_init(&log);
  for (uint64_t i = 1; i <= prev; i++) raft_log_append(&log, prev_term, NULL, 0);
  for (uint64_t i = 0; i < n; i++) {
    char cmd[32];
    int len = snprintf(cmd, sizeof cmd, "x%llu.%llu", (unsigned long long)entry_term,
                       (unsigned long long)(prev + 1 + i));
    raft_log_append(&log, entry_term, (const uint8_t *)cmd, (size_t)len);
  }
  wire_writer w;
  wire_writer_init(&w);
  raft_encode_append(&w, term, prev, prev ? prev_term : 0, commit, &log, n);
  int rc = inject(c, from, to, &w);
  wire_writer_free(&w);
  raft_log_free(&log);
  return rc;
}

static int inject_vote_reply(cluster *c, int from, int to, int prevote, uint64_t term) {
  wire_writer w;
  wire_writer_init(&w);
  raft_encode_vote_reply(&w, prevote, term, 1);
  int rc = inject(c, from, to, &w);
  wire_writer_free(&w);
  return rc;
}

static const raft_log *log_of(cluster *c, int i) { return &((raft *)c->p[i])->log; }

/* Elects node i with the whole cluster connected; returns with the queue drained. */
static void elect(cluster *c, int i) {
  fire(c, i);
  deliver_all(c);
  assert_int_equal(status(c, i).role, CTK_ROLE_LEADER);
}

/* Forces node `i` to become leader of a term above `above` with votes crafted from node
 * `voter` (so its own log decides nothing about who votes for it). */
static void force_leader(cluster *c, int i, int voter, uint64_t above) {
  wire_writer w;
  wire_writer_init(&w);
  c->now += 400 * MS; /* outside any leader's lease */
  raft_encode_vote_request(&w, 0, above, 0, 0);
  assert_int_equal(inject(c, voter, i, &w), CTK_OK); /* raises the term, refused (log) */
  wire_writer_free(&w);
  assert_int_equal(status(c, i).term, above);
  drop_all(c);
  fire(c, i);
  if (c->opt.prevote) assert_int_equal(inject_vote_reply(c, voter, i, 1, above + 1), CTK_OK);
  assert_int_equal(status(c, i).term, above + 1);
  drop_all(c);
  assert_int_equal(inject_vote_reply(c, voter, i, 0, above + 1), CTK_OK);
  assert_int_equal(status(c, i).role, CTK_ROLE_LEADER);
}

/* ---- tests ---- */

static void single_node_elects_itself_and_commits(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 1, NULL);
  assert_int_equal(status(&c, 0).role, CTK_ROLE_FOLLOWER);
  assert_int_equal(command(&c, 0, "set a 1"), CTK_ERR_REJECTED);
  fire(&c, 0);
  ctk_status s = status(&c, 0);
  assert_int_equal(s.role, CTK_ROLE_LEADER);
  assert_int_equal(s.term, 1);
  assert_int_equal(s.commit_index, 1); /* its no-op */
  assert_int_equal(command(&c, 0, "set a 1"), CTK_OK);
  assert_int_equal(status(&c, 0).commit_index, 2);
  assert_int_equal(c.chosen_len[2], 7);
  assert_memory_equal(c.chosen[2], "set a 1", 7);
  assert_int_equal(c.chosen_len[1], 0); /* the no-op: an empty command */
  restart(&c, 0);
  s = status(&c, 0);
  assert_int_equal(s.term, 1);
  assert_int_equal(s.log_length, 2);
  assert_int_equal(s.commit_index, 0);
  fire(&c, 0); /* re-elected; everything commits again from index 1 */
  assert_int_equal(status(&c, 0).term, 2);
  assert_int_equal(status(&c, 0).commit_index, 3);
  cluster_free(&c);
}

static void three_node_election_by_hand(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3, NULL);
  char buf[128];
  fire(&c, 0);
  assert_int_equal(status(&c, 0).role, CTK_ROLE_CANDIDATE);
  assert_int_equal(status(&c, 0).term, 0); /* a pre-vote changes no term */
  assert_int_equal(c.last_persist[0], 0);
  assert_int_equal(c.nq, 2);
  describe(c.q[0].bytes, c.q[0].len, buf, sizeof buf);
  assert_string_equal(buf, "PreVote t=1 last=0/0");
  deliver(&c, 0); /* to node 1: granted */
  assert_int_equal(status(&c, 1).term, 0);
  describe(c.q[1].bytes, c.q[1].len, buf, sizeof buf);
  assert_string_equal(buf, "PreVoteReply t=1 granted");
  deliver(&c, 1); /* node 0 has a majority of pre-votes: campaigns for real */
  assert_int_equal(status(&c, 0).term, 1);
  assert_true(c.last_persist[0] > 0);
  deliver(&c, 0); /* the pre-vote to node 2, late: granted, but ignored */
  deliver(&c, 1); /* its reply */
  assert_int_equal(status(&c, 0).role, CTK_ROLE_CANDIDATE);
  describe(c.q[0].bytes, c.q[0].len, buf, sizeof buf);
  assert_string_equal(buf, "RequestVote t=1 last=0/0");
  deliver(&c, 0); /* RequestVote to node 1 */
  describe(c.q[1].bytes, c.q[1].len, buf, sizeof buf);
  assert_string_equal(buf, "VoteReply t=1 granted");
  assert_int_equal(c.q[1].to, 0);
  deliver(&c, 1);
  assert_int_equal(status(&c, 0).role, CTK_ROLE_LEADER);
  assert_int_equal(status(&c, 0).leader_id, 0);
  assert_int_equal(status(&c, 0).log_length, 1);
  /* The leader's first output: an AppendEntries carrying its no-op to each follower. */
  int appends = 0;
  for (size_t k = c.nq - c.last_sent[0]; k < c.nq; k++) {
    describe(c.q[k].bytes, c.q[k].len, buf, sizeof buf);
    if (strcmp(buf, "AppendEntries t=1 prev=0/0 n=1 commit=0") == 0) appends++;
  }
  assert_int_equal(appends, 2);
  deliver_all(&c);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(status(&c, i).term, 1);
    assert_int_equal(status(&c, i).leader_id, 0);
    assert_int_equal(status(&c, i).log_length, 1);
  }
  assert_int_equal(status(&c, 0).commit_index, 1);
  fire(&c, 0); /* a heartbeat tells the followers the commit index */
  deliver_all(&c);
  for (int i = 0; i < 3; i++) assert_int_equal(status(&c, i).commit_index, 1);
  cluster_free(&c);
}

static void vote_is_persisted_in_the_step_that_grants_it(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3, NULL);
  wire_writer w;
  wire_writer_init(&w);
  raft_encode_vote_request(&w, 0, 5, 0, 0);
  assert_int_equal(inject(&c, 0, 1, &w), CTK_OK);
  assert_int_equal(c.last_sent[1], 1);
  char buf[64];
  describe(c.q[0].bytes, c.q[0].len, buf, sizeof buf);
  assert_string_equal(buf, "VoteReply t=5 granted");
  assert_true(c.last_persist[1] > 0); /* same step as the grant */
  /* Crash right after: the durable bytes alone hold the term and the vote. */
  restart(&c, 1);
  assert_int_equal(status(&c, 1).term, 5);
  drop_all(&c);
  raft_encode_vote_request(&w, 0, 5, 0, 0); /* node 2 asks in the same term: refused */
  assert_int_equal(inject(&c, 2, 1, &w), CTK_OK);
  describe(c.q[0].bytes, c.q[0].len, buf, sizeof buf);
  assert_string_equal(buf, "VoteReply t=5 refused");
  drop_all(&c);
  raft_encode_vote_request(&w, 0, 5, 0, 0); /* node 0 again: granted again (idempotent) */
  assert_int_equal(inject(&c, 0, 1, &w), CTK_OK);
  describe(c.q[0].bytes, c.q[0].len, buf, sizeof buf);
  assert_string_equal(buf, "VoteReply t=5 granted");
  wire_writer_free(&w);
  cluster_free(&c);
}

static void restart_keeps_term_vote_and_log(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3, NULL);
  elect(&c, 0);
  for (int k = 0; k < 5; k++) {
    char cmd[16];
    snprintf(cmd, sizeof cmd, "cmd%d", k);
    assert_int_equal(command(&c, 0, cmd), CTK_OK);
    deliver_all(&c);
  }
  fire(&c, 0);
  deliver_all(&c);
  assert_int_equal(status(&c, 1).commit_index, 6);
  restart(&c, 1);
  ctk_status s = status(&c, 1);
  assert_int_equal(s.term, 1);
  assert_int_equal(s.log_length, 6);
  assert_int_equal(s.commit_index, 0); /* volatile */
  assert_int_equal(s.role, CTK_ROLE_FOLLOWER);
  assert_int_equal(((raft *)c.p[1])->voted_for, 0);
  fire(&c, 0); /* the next heartbeat: node 1 commits all six again, from index 1 */
  deliver_all(&c);
  assert_int_equal(status(&c, 1).commit_index, 6);
  /* The restarted node refuses a second vote in term 1 to another candidate. */
  wire_writer w;
  wire_writer_init(&w);
  c.now += 400 * MS;
  raft_encode_vote_request(&w, 0, 1, 6, 1);
  restart(&c, 1);
  drop_all(&c);
  assert_int_equal(inject(&c, 2, 1, &w), CTK_OK);
  char buf[64];
  describe(c.q[0].bytes, c.q[0].len, buf, sizeof buf);
  assert_string_equal(buf, "VoteReply t=1 refused");
  wire_writer_free(&w);
  cluster_free(&c);
}

static void stale_term_append_entries_rejected(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3, NULL);
  assert_int_equal(inject_append(&c, 0, 1, 3, 0, 0, 2, 3, 0), CTK_OK);
  drop_all(&c);
  assert_int_equal(status(&c, 1).log_length, 2);
  assert_int_equal(inject_append(&c, 2, 1, 2, 0, 0, 1, 2, 1), CTK_OK);
  char buf[64];
  describe(c.q[0].bytes, c.q[0].len, buf, sizeof buf);
  assert_string_equal(buf, "AppendEntriesReply t=3 stale-term");
  ctk_status s = status(&c, 1);
  assert_int_equal(s.term, 3);
  assert_int_equal(s.leader_id, 0);
  assert_int_equal(s.log_length, 2);
  assert_int_equal(c.last_persist[1], 0);
  assert_int_equal(raft_log_term_at(log_of(&c, 1), 1), 3);
  cluster_free(&c);
}

static void conflicting_suffix_truncated_and_replaced(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3, NULL);
  assert_int_equal(inject_append(&c, 0, 1, 1, 0, 0, 4, 1, 1), CTK_OK);
  assert_int_equal(status(&c, 1).log_length, 4);
  assert_int_equal(status(&c, 1).commit_index, 1);
  /* The leader of term 2 holds only index 1 of them, then its own entries 2 and 3. */
  assert_int_equal(inject_append(&c, 2, 1, 2, 1, 1, 2, 2, 1), CTK_OK);
  char buf[64];
  describe(c.q[c.nq - 1].bytes, c.q[c.nq - 1].len, buf, sizeof buf);
  assert_string_equal(buf, "AppendEntriesReply t=2 ok match=3");
  const raft_log *log = log_of(&c, 1);
  assert_int_equal(log->n, 3);
  assert_int_equal(raft_log_term_at(log, 1), 1);
  assert_int_equal(raft_log_term_at(log, 2), 2);
  assert_int_equal(raft_log_term_at(log, 3), 2);
  /* The truncation is durable too. */
  restart(&c, 1);
  log = log_of(&c, 1);
  assert_int_equal(log->n, 3);
  assert_int_equal(raft_log_term_at(log, 2), 2);
  assert_memory_equal(log->entries[2].data, "x2.3", 4);
  cluster_free(&c);
}

static void stale_duplicate_append_does_not_truncate(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3, NULL);
  assert_int_equal(inject_append(&c, 0, 1, 1, 0, 0, 1, 1, 0), CTK_OK);
  assert_int_equal(inject_append(&c, 0, 1, 1, 1, 1, 3, 1, 0), CTK_OK);
  assert_int_equal(status(&c, 1).log_length, 4);
  drop_all(&c);
  /* The first message again, late: entries already present are kept, nothing truncated. */
  assert_int_equal(inject_append(&c, 0, 1, 1, 0, 0, 1, 1, 0), CTK_OK);
  assert_int_equal(status(&c, 1).log_length, 4);
  assert_int_equal(c.last_persist[1], 0);
  char buf[64];
  describe(c.q[0].bytes, c.q[0].len, buf, sizeof buf);
  assert_string_equal(buf, "AppendEntriesReply t=1 ok match=1");
  /* And the leader never moves matchIndex back on such a reordered reply. */
  cluster_free(&c);
}

static void reordered_reply_never_lowers_match_index(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3, NULL);
  elect(&c, 0);
  for (int k = 0; k < 3; k++) assert_int_equal(command(&c, 0, "c"), CTK_OK);
  deliver_all(&c);
  assert_int_equal(((raft *)c.p[0])->peers[1].match_index, 4);
  wire_writer w;
  wire_writer_init(&w);
  raft_encode_append_reply(&w, 1, 1, 2, 0, 0);
  assert_int_equal(inject(&c, 1, 0, &w), CTK_OK);
  assert_int_equal(((raft *)c.p[0])->peers[1].match_index, 4);
  raft_encode_append_reply(&w, 1, 1, 99, 0, 0); /* beyond the leader's log: nonsense */
  assert_int_equal(inject(&c, 1, 0, &w), CTK_ERR_MALFORMED);
  raft_encode_append_reply(&w, 1, 0, 99, 1, 4); /* a rejection of an index never sent */
  assert_int_equal(inject(&c, 1, 0, &w), CTK_ERR_MALFORMED);
  assert_int_equal(((raft *)c.p[0])->peers[1].match_index, 4);
  wire_writer_free(&w);
  cluster_free(&c);
}

static void fast_backtracking_over_a_long_conflict(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3, NULL);
  /* Node 1 holds 60 entries of term 3 that no majority has; node 0 holds 60 of term 1. */
  assert_int_equal(inject_append(&c, 2, 1, 3, 0, 0, 60, 3, 0), CTK_OK);
  assert_int_equal(inject_append(&c, 2, 0, 1, 0, 0, 60, 1, 0), CTK_OK);
  drop_all(&c);
  force_leader(&c, 0, 2, 3);
  assert_int_equal(status(&c, 0).term, 4);
  assert_int_equal(status(&c, 0).log_length, 61);
  isolate(&c, 2, 1);
  c.n_append_delivered = 0;
  for (int round = 0; round < 20 && ((raft *)c.p[0])->peers[1].match_index < 61; round++) {
    fire(&c, 0);
    deliver_all(&c);
  }
  assert_int_equal(((raft *)c.p[0])->peers[1].match_index, 61);
  assert_true(c.n_append_delivered < 10);
  const raft_log *a = log_of(&c, 0), *b = log_of(&c, 1);
  assert_int_equal(b->n, 61);
  for (uint64_t i = 1; i <= 61; i++)
    assert_int_equal(raft_log_term_at(a, i), raft_log_term_at(b, i));
  assert_int_equal(status(&c, 0).commit_index, 61);
  cluster_free(&c);
}

static void fast_backtracking_when_follower_log_is_short(void **state) {
  (void)state;
  ctk_raft_options opt;
  default_options(&opt);
  opt.max_batch = 8;
  cluster c;
  cluster_init(&c, 3, &opt);
  /* Node 0 holds 60 entries of term 1, node 1 only 2 of them. */
  for (uint64_t k = 0; k < 60; k += 6)
    assert_int_equal(inject_append(&c, 2, 0, 1, k, 1, 6, 1, 0), CTK_OK);
  assert_int_equal(inject_append(&c, 2, 1, 1, 0, 0, 2, 1, 0), CTK_OK);
  drop_all(&c);
  force_leader(&c, 0, 2, 1);
  isolate(&c, 2, 1);
  c.n_append_delivered = 0;
  for (int round = 0; round < 20 && ((raft *)c.p[0])->peers[1].match_index < 61; round++) {
    fire(&c, 0);
    deliver_all(&c);
  }
  assert_int_equal(((raft *)c.p[0])->peers[1].match_index, 61);
  /* One probe, one rejection pointing at index 3, then 59 entries in batches of 8. */
  assert_true(c.n_append_delivered < 15);
  cluster_free(&c);
}

/* Figure 8: an entry of an earlier term sits on a majority, but the leader's current term has
 * no entry there yet. Counting replicas must not commit it. */
static void figure8_old_term_entry_not_committed_by_counting(int bug) {
  ctk_raft_options opt;
  default_options(&opt);
  opt.bug_commit_by_counting = bug;
  cluster c;
  cluster_init(&c, 3, &opt);
  assert_int_equal(inject_append(&c, 2, 0, 1, 0, 0, 2, 1, 0), CTK_OK); /* index 1, 2 of term 1 */
  drop_all(&c);
  force_leader(&c, 0, 2, 2); /* leader of term 3; its no-op at index 3 */
  assert_int_equal(status(&c, 0).log_length, 3);
  assert_int_equal(raft_log_term_at(log_of(&c, 0), 3), 3);
  drop_all(&c);
  /* Node 1 acknowledges index 2 only (it has entries 1, 2 and not yet the no-op). */
  wire_writer w;
  wire_writer_init(&w);
  raft_encode_append_reply(&w, 3, 1, 2, 0, 0);
  assert_int_equal(inject(&c, 1, 0, &w), CTK_OK);
  assert_int_equal(((raft *)c.p[0])->peers[1].match_index, 2);
  if (bug) {
    assert_int_equal(status(&c, 0).commit_index, 2); /* the deliberate bug */
  } else {
    assert_int_equal(status(&c, 0).commit_index, 0);
    raft_encode_append_reply(&w, 3, 1, 3, 0, 0);
    assert_int_equal(inject(&c, 1, 0, &w), CTK_OK);
    assert_int_equal(status(&c, 0).commit_index, 3); /* its own term's entry commits all */
  }
  wire_writer_free(&w);
  cluster_free(&c);
}

static void figure8_correct(void **state) {
  (void)state;
  figure8_old_term_entry_not_committed_by_counting(0);
}

static void figure8_bug_commit_by_counting(void **state) {
  (void)state;
  figure8_old_term_entry_not_committed_by_counting(1);
}

static void check_quorum_steps_down_a_lonely_leader(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3, NULL);
  elect(&c, 0);
  uint64_t elected = c.now;
  isolate(&c, 0, 1);
  while (c.deadline[0] < elected + 300 * MS) { /* heartbeats, unanswered */
    fire(&c, 0);
    assert_int_equal(status(&c, 0).role, CTK_ROLE_LEADER);
  }
  while (c.now < elected + 400 * MS && status(&c, 0).role == CTK_ROLE_LEADER) fire(&c, 0);
  assert_int_equal(status(&c, 0).role, CTK_ROLE_FOLLOWER);
  assert_true(c.now >= elected + 300 * MS);
  assert_int_equal(status(&c, 0).leader_id, -1);
  assert_int_equal(status(&c, 0).term, 1);
  cluster_free(&c);
}

static void check_quorum_keeps_a_leader_with_a_majority(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3, NULL);
  elect(&c, 0);
  isolate(&c, 2, 1);
  uint64_t until = c.now + 2000 * MS;
  while (c.now < until) {
    fire(&c, 0);
    deliver_all(&c);
    assert_int_equal(status(&c, 0).role, CTK_ROLE_LEADER);
  }
  cluster_free(&c);
}

/* Node 2 is cut off while nodes 0 and 1 keep a leader; it times out and campaigns, then comes
 * back. With pre-vote its term does not move and the leader stays; without it, it deposes the
 * leader. */
static void disruptive_rejoin(int prevote) {
  ctk_raft_options opt;
  default_options(&opt);
  opt.prevote = prevote;
  cluster c;
  cluster_init(&c, 3, &opt);
  elect(&c, 0);
  fire(&c, 0);
  deliver_all(&c);
  uint64_t term = status(&c, 0).term;
  /* Node 2's messages are lost; it still hears nothing. */
  for (int j = 0; j < 3; j++) c.cut[j][2] = 1;
  uint64_t until = c.deadline[2] + 1;
  while (c.now < until) {
    fire(&c, 0);
    deliver_all(&c);
  }
  if (c.now < c.deadline[2]) c.now = c.deadline[2];
  fire(&c, 2);
  assert_int_equal(status(&c, 2).role, CTK_ROLE_CANDIDATE);
  for (int j = 0; j < 3; j++) c.cut[j][2] = 0;
  deliver_all(&c); /* its (pre-)votes reach nodes 0 and 1 */
  if (prevote) {
    assert_int_equal(status(&c, 2).term, term); /* refused: 1 heard the leader recently */
    assert_int_equal(status(&c, 0).role, CTK_ROLE_LEADER);
    assert_int_equal(status(&c, 1).term, term);
    fire(&c, 0); /* the leader's next heartbeat brings node 2 back */
    deliver_all(&c);
    assert_int_equal(status(&c, 2).role, CTK_ROLE_FOLLOWER);
    assert_int_equal(status(&c, 2).leader_id, 0);
    assert_int_equal(status(&c, 0).term, term);
  } else {
    assert_int_equal(status(&c, 2).term, term + 1);
    assert_true(status(&c, 0).term > term); /* the leader was deposed */
    assert_true(status(&c, 0).role != CTK_ROLE_LEADER || status(&c, 0).term > term);
  }
  cluster_free(&c);
}

static void prevote_refused_while_leader_alive(void **state) {
  (void)state;
  disruptive_rejoin(1);
}

static void without_prevote_rejoin_deposes_leader(void **state) {
  (void)state;
  disruptive_rejoin(0);
}

static void prevote_granted_when_leader_gone(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3, NULL);
  elect(&c, 0);
  isolate(&c, 0, 1);
  int next = status(&c, 1).term ? (c.deadline[1] <= c.deadline[2] ? 1 : 2) : 1;
  fire(&c, next);
  deliver_all(&c);
  assert_int_equal(status(&c, next).role, CTK_ROLE_LEADER);
  assert_int_equal(status(&c, next).term, 2);
  cluster_free(&c);
}

static void commands_forwarded_or_rejected(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3, NULL);
  ctk_status before = status(&c, 1);
  assert_int_equal(command(&c, 1, "x"), CTK_ERR_REJECTED); /* no leader known */
  ctk_status after = status(&c, 1);
  assert_int_equal(before.role, after.role);
  assert_int_equal(before.term, after.term);
  assert_int_equal(before.leader_id, after.leader_id);
  assert_int_equal(before.log_length, after.log_length);
  assert_int_equal(command(&c, 1, ""), CTK_ERR_INVALID);
  fire(&c, 0); /* pre-candidate: rejects too */
  assert_int_equal(command(&c, 0, "x"), CTK_ERR_REJECTED);
  drop_all(&c);
  fire(&c, 0);
  deliver_all(&c);
  assert_int_equal(status(&c, 0).role, CTK_ROLE_LEADER);
  assert_int_equal(command(&c, 1, "hello"), CTK_OK);
  assert_int_equal(c.nq, 1);
  assert_int_equal(c.q[0].to, 0);
  char buf[64];
  describe(c.q[0].bytes, c.q[0].len, buf, sizeof buf);
  assert_string_equal(buf, "Forward n=1");
  assert_int_equal(c.last_persist[1], 0);
  deliver_all(&c);
  assert_int_equal(status(&c, 0).log_length, 2);
  assert_int_equal(status(&c, 0).commit_index, 2);
  assert_memory_equal(c.chosen[2], "hello", 5);
  /* A forward reaching a node that no longer leads is dropped. */
  assert_int_equal(command(&c, 2, "late"), CTK_OK);
  c.q[0].to = 1;
  c.q[0].from = 2;
  deliver_all(&c);
  assert_int_equal(status(&c, 1).log_length, 2);
  assert_int_equal(status(&c, 0).log_length, 2);
  cluster_free(&c);
}

/* The leader tells a follower of a new commit index at once only when a client waits on that
 * follower (it forwarded the command); otherwise the index rides on the next AppendEntries or
 * heartbeat, and a commit costs no extra message round per follower. */
static void commit_told_at_once_only_where_awaited(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3, NULL);
  elect(&c, 0);
  fire(&c, 0); /* a heartbeat: everyone knows the election's commit */
  deliver_all(&c);
  uint64_t base = status(&c, 0).commit_index;
  for (int i = 1; i < 3; i++) assert_int_equal(status(&c, i).commit_index, base);
  /* A command at the leader: one AppendEntries per follower, their replies, nothing more. */
  int appends = c.n_append_delivered;
  assert_int_equal(command(&c, 0, "a"), CTK_OK);
  deliver_all(&c);
  assert_int_equal(c.n_append_delivered - appends, 2);
  assert_int_equal(status(&c, 0).commit_index, base + 1);
  for (int i = 1; i < 3; i++) assert_int_equal(status(&c, i).commit_index, base);
  fire(&c, 0);
  deliver_all(&c);
  for (int i = 1; i < 3; i++) assert_int_equal(status(&c, i).commit_index, base + 1);
  /* A command forwarded by node 1: node 1 hears of its commit at once, node 2 does not. */
  appends = c.n_append_delivered;
  assert_int_equal(command(&c, 1, "b"), CTK_OK);
  deliver_all(&c);
  assert_int_equal(c.n_append_delivered - appends, 3);
  assert_int_equal(status(&c, 0).commit_index, base + 2);
  assert_int_equal(status(&c, 1).commit_index, base + 2);
  assert_int_equal(status(&c, 2).commit_index, base + 1);
  assert_int_equal(c.applied[1], base + 2);
  cluster_free(&c);
  /* eager_commit: every follower is told at once, as etcd-io/raft does. */
  ctk_raft_options opt;
  default_options(&opt);
  opt.eager_commit = 1;
  cluster_init(&c, 3, &opt);
  elect(&c, 0);
  fire(&c, 0);
  deliver_all(&c);
  base = status(&c, 0).commit_index;
  appends = c.n_append_delivered;
  assert_int_equal(command(&c, 0, "a"), CTK_OK);
  deliver_all(&c);
  assert_int_equal(c.n_append_delivered - appends, 4);
  for (int i = 0; i < 3; i++) assert_int_equal(status(&c, i).commit_index, base + 1);
  cluster_free(&c);
}

static void pipelining_and_batching(void **state) {
  (void)state;
  ctk_raft_options opt;
  default_options(&opt);
  opt.max_inflight = 4;
  opt.max_batch = 3;
  cluster c;
  cluster_init(&c, 3, &opt);
  elect(&c, 0);
  /* Pipelined: commands go out at once, up to 4 unacknowledged per follower. */
  for (int k = 0; k < 10; k++) assert_int_equal(command(&c, 0, "p"), CTK_OK);
  int to1 = 0;
  for (size_t k = 0; k < c.nq; k++)
    if (c.q[k].to == 1 && msg_type(&c.q[k]) == RAFT_MSG_APPEND) to1++;
  assert_int_equal(to1, 4);
  deliver_all(&c); /* the acks release the rest, batched by 3 */
  for (int i = 0; i < 3; i++) assert_int_equal(status(&c, i).log_length, 11);
  assert_int_equal(status(&c, 0).commit_index, 11);
  cluster_free(&c);
}

static void lost_pipelined_messages_recovered(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3, NULL);
  elect(&c, 0);
  isolate(&c, 1, 1);
  for (int k = 0; k < 20; k++) assert_int_equal(command(&c, 0, "lost"), CTK_OK);
  deliver_all(&c);
  isolate(&c, 1, 0);
  for (int k = 0; k < 6; k++) {
    fire(&c, 0);
    deliver_all(&c);
  }
  assert_int_equal(status(&c, 1).log_length, 21);
  assert_int_equal(status(&c, 1).commit_index, 21);
  cluster_free(&c);
}

/* Thesis 4.2.3: with pre-vote on, a follower that heard from its leader within the minimum
 * election timeout ignores a RequestVote of a higher term; without pre-vote, classic Raft: the
 * higher term wins. */
static void request_vote_in_lease(int prevote) {
  ctk_raft_options opt;
  default_options(&opt);
  opt.prevote = prevote;
  cluster c;
  cluster_init(&c, 3, &opt);
  elect(&c, 0);
  wire_writer w;
  wire_writer_init(&w);
  c.now += 10 * MS;
  raft_encode_vote_request(&w, 0, 5, 1, 1);
  assert_int_equal(inject(&c, 2, 1, &w), CTK_OK);
  if (prevote) {
    assert_int_equal(c.last_sent[1], 0); /* ignored: no reply, no new term */
    assert_int_equal(c.last_persist[1], 0);
    assert_int_equal(status(&c, 1).term, 1);
    assert_int_equal(status(&c, 1).leader_id, 0);
    c.now += 200 * MS; /* the lease is over: now the request is heard */
    raft_encode_vote_request(&w, 0, 5, 1, 1);
    assert_int_equal(inject(&c, 2, 1, &w), CTK_OK);
  }
  assert_int_equal(status(&c, 1).term, 5);
  assert_int_equal(c.last_sent[1], 1);
  assert_true(c.last_persist[1] > 0);
  char buf[64];
  describe(c.q[c.nq - 1].bytes, c.q[c.nq - 1].len, buf, sizeof buf);
  assert_string_equal(buf, "VoteReply t=5 granted");
  /* A leader ignores it too while pre-vote is on (it is the lease), else steps down. */
  raft_encode_vote_request(&w, 0, 6, 1, 1);
  assert_int_equal(inject(&c, 2, 0, &w), CTK_OK);
  assert_int_equal(status(&c, 0).role, prevote ? CTK_ROLE_LEADER : CTK_ROLE_FOLLOWER);
  wire_writer_free(&w);
  cluster_free(&c);
}

static void request_vote_ignored_in_lease_with_prevote(void **state) {
  (void)state;
  request_vote_in_lease(1);
}

static void request_vote_heard_in_lease_without_prevote(void **state) {
  (void)state;
  request_vote_in_lease(0);
}

static void no_check_quorum_keeps_a_lonely_leader(void **state) {
  (void)state;
  ctk_raft_options opt;
  default_options(&opt);
  opt.check_quorum = 0;
  cluster c;
  cluster_init(&c, 3, &opt);
  elect(&c, 0);
  isolate(&c, 0, 1);
  uint64_t until = c.now + 3000 * MS;
  uint64_t beats = 0;
  while (c.now < until) {
    uint64_t before = c.now;
    fire(&c, 0);
    assert_int_equal(c.now - before, 50 * MS); /* heartbeat_ms */
    beats++;
    assert_int_equal(status(&c, 0).role, CTK_ROLE_LEADER);
  }
  assert_int_equal(beats, 60);
  cluster_free(&c);
}

/* Figure 2: persistent state is on stable storage before the RPC is answered; the host persists
 * a step's bytes before it sends that step's messages, so both must come from the same step. */
static void append_reply_in_the_step_that_persists_entries(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3, NULL);
  assert_int_equal(inject_append(&c, 0, 1, 2, 0, 0, 3, 2, 0), CTK_OK);
  assert_int_equal(c.last_sent[1], 1);
  assert_true(c.last_persist[1] > 0);
  char buf[64];
  describe(c.q[0].bytes, c.q[0].len, buf, sizeof buf);
  assert_string_equal(buf, "AppendEntriesReply t=2 ok match=3");
  /* Recovering from exactly those bytes gives back the term and the entries acknowledged. */
  restart(&c, 1);
  assert_int_equal(status(&c, 1).term, 2);
  assert_int_equal(status(&c, 1).log_length, 3);
  cluster_free(&c);
}

static void deadlines_follow_the_role(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3, NULL);
  for (int i = 0; i < 3; i++) { /* randomized in [150, 300] ms, and not all the same */
    assert_true(c.deadline[i] >= c.now + 150 * MS && c.deadline[i] <= c.now + 300 * MS);
  }
  assert_true(c.deadline[0] != c.deadline[1] || c.deadline[1] != c.deadline[2]);
  elect(&c, 0);
  assert_int_equal(c.deadline[0], c.now + 50 * MS); /* the heartbeat */
  uint64_t d1 = c.deadline[1];
  assert_true(d1 >= c.now + 150 * MS && d1 <= c.now + 300 * MS); /* reset by the leader */
  cluster_free(&c);
}

/* Backpressure: a leader that cannot commit holds at most RAFT_MAX_UNCOMMITTED commands, then
 * answers "busy" (not "rejected": it is the right node, only full), never growing without bound. */
/* ---- snapshots and log compaction (section 7) ---- */

static void snapshot_options(ctk_raft_options *o) {
  default_options(o);
  o->snapshot_every = 20;
  o->snapshot_keep = 5;
  o->snapshot_chunk_bytes = 64; /* the stand-in snapshot takes 4 chunks */
}

/* Submits n commands at the leader, 10 at a time, delivering everything in between. */
static void submit_many(cluster *c, int leader, int n, int from) {
  for (int k = 0; k < n; k++) {
    char cmd[32];
    snprintf(cmd, sizeof cmd, "cmd-%d", from + k);
    assert_int_equal(command(c, leader, cmd), CTK_OK);
    if (k % 10 == 9) deliver_all(c);
  }
  deliver_all(c);
  fire(c, leader); /* a heartbeat carries the last commit index */
  deliver_all(c);
}

/* A long workload keeps both the in-memory log and the durable bytes bounded on every node. */
static void snapshot_bounds_log_and_durable_bytes(void **state) {
  (void)state;
  ctk_raft_options o;
  snapshot_options(&o);
  cluster c;
  cluster_init(&c, 3, &o);
  elect(&c, 0);
  size_t first_round_max = 0;
  for (int round = 0; round < 100; round++) {
    submit_many(&c, 0, 20, round * 20);
    for (int i = 0; i < 3; i++) {
      ctk_status st = status(&c, i);
      assert_true(st.snapshot_index > 0 || round == 0);
      /* Entries held: at most snapshot_every + snapshot_keep + what was submitted since. */
      assert_true(log_of(&c, i)->n <= 20 + 5 + 20);
      assert_true(st.log_length - st.snapshot_index <= 20 + 20);
      if (round == 1 && c.durable_len[i] > first_round_max) first_round_max = c.durable_len[i];
      if (round > 1) assert_true(c.durable_len[i] <= 2 * first_round_max + 1024);
    }
  }
  assert_int_equal(status(&c, 1).commit_index, 2001); /* the leader's no-op, then 2000 */
  assert_true(c.snapshots_taken >= 3 * 90);
  for (int i = 1; i < 3; i++) assert_true(c.state[i] == c.state[0]);
  cluster_free(&c);
}

/* A follower cut off while the leader compacts far past it catches up through InstallSnapshot
 * (in several chunks), restores the snapshot and applies what follows; a restart from durable
 * bytes holding a snapshot then restores it again and commits only what comes after. */
static void snapshot_catch_up_and_restart(void **state) {
  (void)state;
  ctk_raft_options o;
  snapshot_options(&o);
  cluster c;
  cluster_init(&c, 3, &o);
  elect(&c, 0);
  submit_many(&c, 0, 10, 0);
  isolate(&c, 2, 1);
  submit_many(&c, 0, 200, 10);
  assert_true(status(&c, 0).snapshot_index > status(&c, 2).commit_index + 20);
  isolate(&c, 2, 0);
  uint64_t restores = c.restores;
  int chunks = 0;
  for (int round = 0; round < 40 && status(&c, 2).commit_index < status(&c, 0).commit_index;
       round++) {
    fire(&c, 0);
    for (int guard = 0; c.nq > 0 && guard < 10000; guard++) {
      if (msg_type(&c.q[0]) == RAFT_MSG_SNAPSHOT) chunks++;
      assert_int_equal(deliver(&c, 0), CTK_OK);
    }
  }
  assert_int_equal(status(&c, 2).commit_index, status(&c, 0).commit_index);
  assert_int_equal(c.restores, restores + 1);
  assert_true(chunks >= 4);
  assert_true(status(&c, 2).snapshot_index >= status(&c, 0).snapshot_index);
  assert_true(c.state[2] == c.state[0]);
  /* Restart every node from its durable bytes: each restores its snapshot at START. */
  for (int i = 0; i < 3; i++) {
    uint64_t snap = status(&c, i).snapshot_index;
    restores = c.restores;
    restart(&c, i);
    assert_int_equal(c.restores, restores + 1);
    assert_int_equal(c.applied[i], snap);
    assert_int_equal(status(&c, i).snapshot_index, snap);
  }
  elect(&c, 1);
  submit_many(&c, 1, 30, 1000);
  uint64_t commit = status(&c, 1).commit_index;
  for (int i = 0; i < 3; i++) {
    assert_int_equal(status(&c, i).commit_index, commit);
    assert_int_equal(c.applied[i], commit);
    assert_true(c.state[i] == c.state[1]);
  }
  cluster_free(&c);
}

/* Section 7: a follower whose log holds the snapshot's last entry keeps the entries after it;
 * one whose log does not match there discards its whole log. */
static void snapshot_install_keeps_only_a_matching_suffix(void **state) {
  (void)state;
  for (int match = 0; match <= 1; match++) {
    cluster c;
    ctk_raft_options o;
    default_options(&o);
    cluster_init(&c, 3, &o);
    /* Node 1 holds 10 entries of term 1 (commit 0) from a leader 0 of term 1. */
    assert_int_equal(inject_append(&c, 0, 1, 1, 0, 0, 10, 1, 0), CTK_OK);
    drop_all(&c);
    uint8_t data[16 + SNAP_FILLER] = {0};
    raft_snapshot_meta meta = {5, match ? 1 : 2, {.voters = 7}};
    memcpy(data + 8, &meta.index, 8);
    for (int k = 0; k < SNAP_FILLER; k++) data[16 + k] = (uint8_t)(k * 7);
    wire_writer w;
    wire_writer_init(&w);
    raft_encode_snapshot(&w, 2, &meta, 0, 1, data, sizeof data);
    assert_int_equal(inject(&c, 0, 1, &w), CTK_OK);
    wire_writer_free(&w);
    assert_int_equal(c.applied[1], 5);
    ctk_status st = status(&c, 1);
    assert_int_equal(st.snapshot_index, 5);
    assert_int_equal(st.log_length, match ? 10 : 5);
    assert_int_equal(log_of(&c, 1)->base, 5);
    assert_int_equal(raft_log_term_at(log_of(&c, 1), 5), meta.term);
    /* The reply says installed; a restart recovers the same log. */
    assert_int_equal(c.nq, 1);
    raft_msg m;
    assert_int_equal(raft_msg_decode(c.q[0].bytes, c.q[0].len, &m), CTK_OK);
    assert_int_equal(m.type, RAFT_MSG_SNAPSHOT_REPLY);
    assert_int_equal(m.done, 1);
    drop_all(&c);
    restart(&c, 1);
    assert_int_equal(status(&c, 1).log_length, match ? 10 : 5);
    assert_int_equal(c.applied[1], 5);
    cluster_free(&c);
  }
}

/* max_inflight_bytes: with the follower's answers lost, the leader sends it at most the cap (plus
 * one entry) of commands, whatever the backlog; once answers flow again, everything arrives. */
static void inflight_bytes_are_capped(void **state) {
  (void)state;
  ctk_raft_options o;
  default_options(&o);
  o.max_inflight_bytes = 50; /* two entries; max_inflight (8) alone would allow 8 */
  cluster c;
  cluster_init(&c, 3, &o);
  elect(&c, 0);
  submit_many(&c, 0, 5, 0); /* pipelining */
  c.cut[1][0] = 1;          /* node 1's answers are lost */
  const raft *leader = (const raft *)c.p[0];
  for (int k = 0; k < 100; k++) {
    char cmd[32];
    snprintf(cmd, sizeof cmd, "command-%03d", k); /* 11 bytes: 23 in an entry */
    assert_int_equal(command(&c, 0, cmd), CTK_OK);
    assert_true(leader->peers[1].inflight_total <= 50 + 23);
  }
  deliver_all(&c);
  assert_true(status(&c, 1).log_length < status(&c, 0).log_length);
  assert_true(status(&c, 1).log_length <= 6 + (50 + 23) / 23);
  c.cut[1][0] = 0;
  for (int round = 0; round < 20; round++) {
    fire(&c, 0);
    deliver_all(&c);
  }
  assert_int_equal(status(&c, 1).log_length, status(&c, 0).log_length);
  assert_int_equal(status(&c, 1).commit_index, status(&c, 0).commit_index);
  cluster_free(&c);
}

static void leader_backlog_is_bounded(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3, NULL);
  elect(&c, 0);
  isolate(&c, 0, 1); /* nothing commits any more */
  uint64_t accepted = 0;
  while (command(&c, 0, "backlog") == CTK_OK) accepted++;
  assert_int_equal(c.last_rc[0], CTK_ERR_BUSY);
  assert_int_equal(accepted, RAFT_MAX_UNCOMMITTED); /* past the committed no-op */
  assert_int_equal(status(&c, 0).leader_id, 0);
  drop_all(&c);
  cluster_free(&c);
}

/* A small event loop: messages delayed at random (so reordered), lost and duplicated; nodes
 * restarted and cut off; clients submitting to whoever they believe leads. Every commit must
 * agree (checked in absorb); once the faults stop, everything must converge. */
static void drop_message(cluster *c, size_t k) {
  free(c->q[k].bytes);
  memmove(&c->q[k], &c->q[k + 1], (c->nq - k - 1) * sizeof *c->q);
  c->nq--;
}

static void random_schedule(uint64_t seed, int n) {
  cluster c;
  cluster_init(&c, n, NULL);
  ctk_rng rng;
  ctk_rng_seed(&rng, seed);
  c.net_rng = &rng;
  c.delay_max_us = 20 * MS;
  uint64_t faults_end = c.now + 20000 * MS, end = faults_end + 5000 * MS;
  uint64_t next_command = c.now, next_fault = c.now + 500 * MS;
  int submitted = 0;
  while (c.now < end) {
    size_t km = 0;
    for (size_t k = 1; k < c.nq; k++)
      if (c.q[k].at < c.q[km].at) km = k;
    uint64_t tm = c.nq ? c.q[km].at : UINT64_MAX;
    int ti = 0;
    for (int i = 1; i < n; i++)
      if (c.deadline[i] < c.deadline[ti]) ti = i;
    uint64_t tt = c.deadline[ti];
    int faults = c.now < faults_end;
    if (tm <= tt && tm <= next_command && tm <= next_fault) {
      if (tm > c.now) c.now = tm;
      if (faults && ctk_rng_chance(&rng, 0.05)) {
        drop_message(&c, km);
        continue;
      }
      if (faults && ctk_rng_chance(&rng, 0.05)) {
        ctk_message m = {c.q[km].to, {c.q[km].bytes, c.q[km].len}};
        enqueue(&c, c.q[km].from, &m);
      }
      assert_int_equal(deliver(&c, km), CTK_OK);
    } else if (tt <= next_command && tt <= next_fault) {
      fire(&c, ti);
    } else if (next_command <= next_fault) {
      if (next_command > c.now) c.now = next_command;
      next_command += ctk_rng_range(&rng, 1 * MS, 10 * MS);
      int i = (int)ctk_rng_range(&rng, 0, (uint64_t)n - 1);
      if (status(&c, i).leader_id >= 0 && ctk_rng_chance(&rng, 0.8)) i = status(&c, i).leader_id;
      char cmd[32];
      snprintf(cmd, sizeof cmd, "s%llu-%d", (unsigned long long)seed, submitted);
      if (command(&c, i, cmd) == CTK_OK) submitted++;
    } else {
      if (next_fault > c.now) c.now = next_fault;
      next_fault += ctk_rng_range(&rng, 100 * MS, 1000 * MS);
      memset(c.cut, 0, sizeof c.cut);
      if (!faults) {
        next_fault = UINT64_MAX;
        continue;
      }
      int i = (int)ctk_rng_range(&rng, 0, (uint64_t)n - 1);
      uint64_t what = ctk_rng_range(&rng, 0, 2);
      if (what == 0) restart(&c, i);
      if (what == 1) isolate(&c, i, 1);
      if (what == 2) /* one-way: i hears the others, nobody hears i */
        for (int j = 0; j < n; j++) c.cut[i][j] = 1;
    }
  }
  /* The faults stopped 5 s ago and clients kept going: one leader, every log the same, every
   * entry committed everywhere after one more quiet heartbeat round. */
  next_command = UINT64_MAX;
  uint64_t quiet = c.now + 200 * MS;
  while (c.now < quiet) {
    size_t km = 0;
    for (size_t k = 1; k < c.nq; k++)
      if (c.q[k].at < c.q[km].at) km = k;
    int ti = 0;
    for (int i = 1; i < n; i++)
      if (c.deadline[i] < c.deadline[ti]) ti = i;
    if (c.nq && c.q[km].at <= c.deadline[ti]) {
      if (c.q[km].at > c.now) c.now = c.q[km].at;
      assert_int_equal(deliver(&c, km), CTK_OK);
    } else {
      fire(&c, ti);
    }
  }
  int leaders = 0, leader = 0;
  for (int i = 0; i < n; i++)
    if (status(&c, i).role == CTK_ROLE_LEADER) leaders++, leader = i;
  assert_int_equal(leaders, 1);
  ctk_status ls = status(&c, leader);
  for (int i = 0; i < n; i++) {
    ctk_status s = status(&c, i);
    assert_int_equal(s.term, ls.term);
    assert_int_equal(s.leader_id, leader);
    assert_int_equal(s.log_length, ls.log_length);
    assert_int_equal(s.commit_index, ls.log_length);
  }
  assert_true(submitted > 1000);
  assert_true(ls.commit_index > 1000);
  cluster_free(&c);
}

static void random_schedules_agree_and_converge(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 12; seed++) random_schedule(seed, seed % 2 ? 3 : 5);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(single_node_elects_itself_and_commits),
      cmocka_unit_test(three_node_election_by_hand),
      cmocka_unit_test(vote_is_persisted_in_the_step_that_grants_it),
      cmocka_unit_test(restart_keeps_term_vote_and_log),
      cmocka_unit_test(stale_term_append_entries_rejected),
      cmocka_unit_test(conflicting_suffix_truncated_and_replaced),
      cmocka_unit_test(stale_duplicate_append_does_not_truncate),
      cmocka_unit_test(reordered_reply_never_lowers_match_index),
      cmocka_unit_test(fast_backtracking_over_a_long_conflict),
      cmocka_unit_test(fast_backtracking_when_follower_log_is_short),
      cmocka_unit_test(figure8_correct),
      cmocka_unit_test(figure8_bug_commit_by_counting),
      cmocka_unit_test(check_quorum_steps_down_a_lonely_leader),
      cmocka_unit_test(check_quorum_keeps_a_leader_with_a_majority),
      cmocka_unit_test(prevote_refused_while_leader_alive),
      cmocka_unit_test(without_prevote_rejoin_deposes_leader),
      cmocka_unit_test(prevote_granted_when_leader_gone),
      cmocka_unit_test(commands_forwarded_or_rejected),
      cmocka_unit_test(commit_told_at_once_only_where_awaited),
      cmocka_unit_test(pipelining_and_batching),
      cmocka_unit_test(lost_pipelined_messages_recovered),
      cmocka_unit_test(request_vote_ignored_in_lease_with_prevote),
      cmocka_unit_test(request_vote_heard_in_lease_without_prevote),
      cmocka_unit_test(no_check_quorum_keeps_a_lonely_leader),
      cmocka_unit_test(append_reply_in_the_step_that_persists_entries),
      cmocka_unit_test(deadlines_follow_the_role),
      cmocka_unit_test(leader_backlog_is_bounded),
      cmocka_unit_test(snapshot_bounds_log_and_durable_bytes),
      cmocka_unit_test(inflight_bytes_are_capped),
      cmocka_unit_test(snapshot_catch_up_and_restart),
      cmocka_unit_test(snapshot_install_keeps_only_a_matching_suffix),
      cmocka_unit_test(random_schedules_agree_and_converge),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
