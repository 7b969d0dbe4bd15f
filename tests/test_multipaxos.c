/* test_multipaxos.c: drives Multi-Paxos instances by hand through ctk_multipaxos_protocol:
 * elections, a crashed leader replaced with its holes filled by no-ops, accepted values
 * re-proposed after a leader change, acknowledged commands surviving a leader crash in the middle
 * of phase 2, a Promise too big for one message sent in chunks, a restarted acceptor keeping its
 * promise, durable records (torn tail, corruption), malformed messages, and flexible quorums.
 * Snapshots (snapshot.c): the log and the durable bytes stay bounded, a node down for a long time
 * catches up from a chunked snapshot, a restart from durable bytes holding one restores it, and a
 * candidate behind an acceptor's snapshot fetches it before it leads. The state machine of these
 * tests is a digest of the commands applied, which a snapshot carries (padded, to need chunks).
 * Flow control: a slow acceptor never has more than max_inflight_per_acceptor slots in flight to
 * it, the others keep committing, and it catches up (from a snapshot if need be) once it speeds up.
 * Membership (membership.c): a node outside [cluster] members waits, is added as a learner and
 * promoted, keeps its configuration across a restart, a leader removing itself hands over; phase
 * 1's rule for configuration commands (one with a later, higher-ballot value of its epoch is never
 * chosen and becomes a no-op; one that stands ends what the leader proposes); refusals (followers,
 * malformed requests, flexible quorums and leases, durable bytes of version 2); force; a lone
 * voter marks no Accept early.
 * Every message any node sends is checked to fit in CTK_MAX_MESSAGE_BYTES. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/record.h"
#include "multipaxos/mp_internal.h"
#include "multipaxos/multipaxos.h"

#define MAXN 5
#define MS   1000ull

typedef struct qmsg {
  int from, to;
  uint8_t *bytes;
  size_t len;
} qmsg;

typedef struct cluster {
  int n;
  uint32_t members; /* [cluster] members, 0: all */
  ctk_multipaxos_options opt;
  uint64_t now;
  ctk_proto *p[MAXN];
  int down[MAXN];
  uint8_t *durable[MAXN];
  size_t durable_len[MAXN];
  uint64_t deadline[MAXN];
  uint64_t applied[MAXN];
  char committed[MAXN][64][16]; /* command emitted at each slot ("" for a no-op) */
  qmsg q[4096];
  size_t nq;
  size_t promise_chunks; /* Promises sent that said more was to come */
  size_t promise_snaps;  /* Promises sent that named a snapshot instead of slots */
  size_t snap_chunks;
  uint64_t digest[MAXN]; /* of the commands applied, in order: the state machine */
  int restores[MAXN], snapshots[MAXN];
  size_t durable_max[MAXN];
  size_t early_last[MAXN]; /* n_messages_early of each node's last step */
} cluster;

#define SNAP_BYTES 300

static uint64_t digest_add(uint64_t d, const uint8_t *cmd, size_t len) {
  d ^= 0xcbf29ce484222325ull + len;
  for (size_t k = 0; k < len; k++) d = (d ^ cmd[k]) * 0x100000001b3ull;
  return d;
}

/* The state machine's snapshot: digest, index, then padding derived from them. */
static void snapshot_encode(uint64_t digest, uint64_t index, uint8_t out[SNAP_BYTES]) {
  for (int k = 0; k < 8; k++) {
    out[k] = (uint8_t)(digest >> (8 * k));
    out[8 + k] = (uint8_t)(index >> (8 * k));
  }
  for (int k = 16; k < SNAP_BYTES; k++) out[k] = (uint8_t)(digest >> (k % 8 * 8)) ^ (uint8_t)k;
}

static void absorb(cluster *c, int i, const ctk_output *out) {
  assert_true(out->n_messages_early <= out->n_messages);
  c->early_last[i] = out->n_messages_early;
  if (out->persist.len) {
    size_t base = out->persist_replace ? 0 : c->durable_len[i];
    c->durable[i] = realloc(c->durable[i], base + out->persist.len);
    memcpy(c->durable[i] + base, out->persist.data, out->persist.len);
    c->durable_len[i] = base + out->persist.len;
  } else if (out->persist_replace) {
    c->durable_len[i] = 0;
  }
  for (size_t k = 0; k < out->n_messages; k++) {
    assert_true(c->nq < 4096);
    assert_true(out->messages[k].bytes.len <= CTK_MAX_MESSAGE_BYTES);
    mp_msg decoded;
    assert_int_equal(
        mp_msg_decode(out->messages[k].bytes.data, out->messages[k].bytes.len, &decoded), CTK_OK);
    if (decoded.type == MP_MSG_PROMISE && decoded.next) c->promise_chunks++;
    if (decoded.type == MP_MSG_PROMISE && decoded.snap) c->promise_snaps++;
    if (decoded.type == MP_MSG_SNAP_CHUNK) c->snap_chunks++;
    qmsg *m = &c->q[c->nq++];
    m->from = i;
    m->to = out->messages[k].to;
    m->len = out->messages[k].bytes.len;
    m->bytes = malloc(m->len);
    memcpy(m->bytes, out->messages[k].bytes.data, m->len);
  }
  if (c->durable_len[i] > c->durable_max[i]) c->durable_max[i] = c->durable_len[i];
  if (out->restore_index) {
    uint8_t expect[SNAP_BYTES];
    assert_int_equal(out->restore.len, SNAP_BYTES);
    uint64_t d = 0;
    for (int k = 7; k >= 0; k--) d = d << 8 | out->restore.data[k];
    snapshot_encode(d, out->restore_index, expect);
    assert_memory_equal(out->restore.data, expect, SNAP_BYTES);
    c->digest[i] = d;
    c->applied[i] = out->restore_index;
    c->restores[i]++;
  }
  uint64_t wanted = out->snapshot_wanted;
  for (size_t k = 0; k < out->n_commits; k++) {
    assert_int_equal(out->commits[k].index, c->applied[i] + 1);
    c->applied[i] = out->commits[k].index;
    c->digest[i] =
        digest_add(c->digest[i], out->commits[k].command.data, out->commits[k].command.len);
    if (c->applied[i] < 64)
      snprintf(c->committed[i][c->applied[i]], 16, "%.*s", (int)out->commits[k].command.len,
               (const char *)out->commits[k].command.data);
  }
  c->deadline[i] = out->next_deadline_us;
  if (wanted) { /* the host's duty: the state machine, at once */
    assert_int_equal(wanted, c->applied[i]);
    uint8_t snap[SNAP_BYTES];
    snapshot_encode(c->digest[i], wanted, snap);
    ctk_event ev = {
        .kind = CTK_EVENT_SNAPSHOT, .now_us = c->now, .bytes = {snap, SNAP_BYTES}, .index = wanted};
    ctk_output next;
    assert_int_equal(ctk_multipaxos_protocol.step(c->p[i], &ev, &next), CTK_OK);
    c->snapshots[i]++;
    absorb(c, i, &next);
  }
}

static int step(cluster *c, int i, ctk_event_kind kind, int from, const void *bytes, size_t len) {
  ctk_event ev = {.kind = kind, .now_us = c->now, .from = from, .bytes = {bytes, len}};
  ctk_output out;
  int rc = ctk_multipaxos_protocol.step(c->p[i], &ev, &out);
  if (rc == CTK_OK) absorb(c, i, &out);
  return rc;
}

static void boot(cluster *c, int i) {
  ctk_node_config cfg = {.node_id = i, .n_nodes = c->n, .seed = 7, .members = c->members};
  char err[160];
  c->p[i] = ctk_multipaxos_protocol.create(&cfg, &c->opt, err, sizeof err);
  assert_non_null(c->p[i]);
  c->applied[i] = 0;
  c->digest[i] = 0;
  c->down[i] = 0;
  assert_int_equal(step(c, i, CTK_EVENT_START, 0, c->durable[i], c->durable_len[i]), CTK_OK);
}

static void cluster_init(cluster *c, int n) {
  memset(c, 0, sizeof *c);
  c->n = n;
  ctk_protocol_default_options(&ctk_multipaxos_protocol, &c->opt);
  for (int i = 0; i < n; i++) boot(c, i);
}

static void crash(cluster *c, int i) {
  ctk_multipaxos_protocol.destroy(c->p[i]);
  c->p[i] = NULL;
  c->down[i] = 1;
}

static void cluster_free(cluster *c) {
  for (int i = 0; i < c->n; i++) {
    if (c->p[i]) ctk_multipaxos_protocol.destroy(c->p[i]);
    free(c->durable[i]);
  }
  for (size_t k = 0; k < c->nq; k++) free(c->q[k].bytes);
}

/* Delivers every queued message (and what they cause), dropping those to or from a down node. */
static void deliver_all(cluster *c) {
  while (c->nq > 0) {
    qmsg m = c->q[0];
    memmove(c->q, c->q + 1, (c->nq - 1) * sizeof *c->q);
    c->nq--;
    if (!c->down[m.to] && !c->down[m.from])
      assert_int_equal(step(c, m.to, CTK_EVENT_MESSAGE, m.from, m.bytes, m.len), CTK_OK);
    free(m.bytes);
  }
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

/* Drops every queued message not addressed to node `to`. */
static void keep_only_to(cluster *c, int to) {
  size_t kept = 0;
  for (size_t k = 0; k < c->nq; k++)
    if (c->q[k].to == to)
      c->q[kept++] = c->q[k];
    else
      free(c->q[k].bytes);
  c->nq = kept;
}

static void drop_all(cluster *c) {
  for (size_t k = 0; k < c->nq; k++) free(c->q[k].bytes);
  c->nq = 0;
}

static void fire(cluster *c, int i) {
  c->now = c->deadline[i] > c->now ? c->deadline[i] : c->now;
  assert_int_equal(step(c, i, CTK_EVENT_TIMEOUT, 0, NULL, 0), CTK_OK);
}

static ctk_status status_of(const cluster *c, int i) {
  ctk_status s;
  ctk_multipaxos_protocol.status(c->p[i], &s);
  return s;
}

static void elect(cluster *c, int i) {
  fire(c, i);
  deliver_all(c);
  assert_int_equal(status_of(c, i).role, CTK_ROLE_LEADER);
}

static void command(cluster *c, int i, const char *cmd) {
  assert_int_equal(step(c, i, CTK_EVENT_COMMAND, 0, cmd, strlen(cmd)), CTK_OK);
}

static void test_election(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3);
  fire(&c, 0);
  assert_int_equal(status_of(&c, 0).role, CTK_ROLE_CANDIDATE);
  assert_int_equal(c.nq, 2); /* Prepare to both others */
  char d[128];
  assert_true(mp_describe(c.q[0].bytes, c.q[0].len, d, sizeof d) > 0);
  assert_string_equal(d, "Prepare b=1 from=1");
  deliver_all(&c);
  ctk_status s = status_of(&c, 0);
  assert_int_equal(s.role, CTK_ROLE_LEADER);
  assert_int_equal(s.term, 1); /* round 1 belongs to node 0 */
  assert_int_equal(status_of(&c, 1).leader_id, 0);
  /* a follower without a leader rejects, one with a leader forwards */
  command(&c, 1, "x=1");
  deliver_all(&c);
  fire(&c, 0); /* a heartbeat carries the commit index */
  deliver_all(&c);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(c.applied[i], 1);
    assert_string_equal(c.committed[i][1], "x=1");
  }
  /* node 2 runs phase 1 in round 3 (its own); node 0 learns and steps down */
  elect(&c, 2);
  assert_int_equal(status_of(&c, 2).term, 3);
  assert_int_equal(status_of(&c, 0).role, CTK_ROLE_FOLLOWER);
  cluster_free(&c);
}

static void test_no_leader_rejects(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3);
  assert_int_equal(step(&c, 1, CTK_EVENT_COMMAND, 0, "a", 1), CTK_ERR_REJECTED);
  assert_int_equal(status_of(&c, 1).leader_id, -1);
  cluster_free(&c);
}

/* Leader 0 gets slots 1 and 3 accepted by node 1 only (slot 2 by nobody but itself), crashes;
 * node 1 leads: it re-proposes 1 and 3 and fills 2 with a no-op. */
static void test_crashed_leader_holes_filled_with_noops(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3);
  elect(&c, 0);
  command(&c, 0, "a");
  command(&c, 0, "b");
  command(&c, 0, "c");
  /* keep only the Accepts of slot 1 and 3 to node 1 */
  size_t kept = 0;
  for (size_t k = 0; k < c.nq; k++) {
    mp_msg m;
    assert_int_equal(mp_msg_decode(c.q[k].bytes, c.q[k].len, &m), CTK_OK);
    if (c.q[k].to == 1 && m.type == MP_MSG_ACCEPT && m.first != 2)
      c.q[kept++] = c.q[k];
    else
      free(c.q[k].bytes);
  }
  c.nq = kept;
  deliver_once_drop_replies(&c); /* the Accepted never come back */
  crash(&c, 0);
  elect(&c, 1);
  fire(&c, 1);
  deliver_all(&c);
  assert_int_equal(c.applied[1], 3);
  assert_string_equal(c.committed[1][1], "a");
  assert_string_equal(c.committed[1][2], ""); /* the hole: a no-op */
  assert_string_equal(c.committed[1][3], "c");
  assert_int_equal(c.applied[2], 3);
  assert_string_equal(c.committed[2][3], "c");
  /* the old leader restarts and learns the chosen values, its own "b" lost for good */
  boot(&c, 0);
  fire(&c, 1);
  deliver_all(&c);
  fire(&c, 1);
  deliver_all(&c);
  assert_int_equal(c.applied[0], 3);
  assert_string_equal(c.committed[0][2], "");
  cluster_free(&c);
}

/* Two accepted values for slot 1 at different ballots: the new leader picks the higher (P2c). */
static void test_highest_ballot_reproposed(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3);
  elect(&c, 0); /* round 1 */
  command(&c, 0, "old");
  /* node 1 accepts "old" in round 1; nothing reaches node 2 */
  keep_only_to(&c, 1);
  deliver_once_drop_replies(&c);
  crash(&c, 0);
  /* node 2, which never saw "old", leads round 3 with node 1's promise and re-proposes it */
  elect(&c, 2);
  fire(&c, 2);
  deliver_all(&c);
  assert_string_equal(c.committed[2][1], "old");
  assert_string_equal(c.committed[1][1], "old");
  cluster_free(&c);
}

/* Node 1 runs phase 1 in round 5 with q1 = 3: node 0 promises with "A" accepted in round 1,
 * node 2 with "B" accepted in round 3. It must re-propose "B", the value of the highest ballot
 * (P2c), whatever order the promises come in. */
static void promise_from(cluster *c, int from, uint64_t ballot, uint64_t accepted, const char *v) {
  wire_writer w;
  wire_writer_init(&w);
  size_t pos = mp_encode_promise_begin(&w, ballot, 1, ballot);
  mp_slot slot = {.ballot = accepted, .len = (uint32_t)strlen(v), .data = (uint8_t *)v};
  mp_encode_promise_entry(&w, 1, &slot);
  mp_encode_promise_end(&w, pos, 0, 1);
  assert_int_equal(step(c, 1, CTK_EVENT_MESSAGE, from, w.data, w.len), CTK_OK);
  wire_writer_free(&w);
}

static void test_two_values_highest_wins(void **state) {
  (void)state;
  for (int order = 0; order < 2; order++) {
    cluster c;
    memset(&c, 0, sizeof c);
    c.n = 3;
    ctk_protocol_default_options(&ctk_multipaxos_protocol, &c.opt);
    c.opt.q1 = 3;
    for (int i = 0; i < 3; i++) boot(&c, i);
    fire(&c, 1); /* round 2 */
    fire(&c, 1); /* round 5 */
    assert_int_equal(status_of(&c, 1).term, 5);
    drop_all(&c);
    promise_from(&c, order ? 2 : 0, 5, order ? 3 : 1, order ? "B" : "A");
    assert_int_equal(status_of(&c, 1).role, CTK_ROLE_CANDIDATE);
    promise_from(&c, order ? 0 : 2, 5, order ? 1 : 3, order ? "A" : "B");
    assert_int_equal(status_of(&c, 1).role, CTK_ROLE_LEADER);
    mp_msg m;
    assert_true(c.nq >= 1);
    assert_int_equal(mp_msg_decode(c.q[0].bytes, c.q[0].len, &m), CTK_OK);
    assert_int_equal(m.type, MP_MSG_ACCEPT);
    assert_int_equal(m.first, 1);
    assert_int_equal(m.n, 1);
    mp_item_iter it;
    mp_item_iter_init(&it, &m);
    mp_item v;
    mp_item_next(&it, &v);
    assert_int_equal(v.len, 1);
    assert_memory_equal(v.data, "B", 1);
    cluster_free(&c);
  }
}

/* An acceptor that promised round 5 and restarted still refuses round 2. */
static void test_restart_keeps_promise(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3);
  wire_writer w;
  wire_writer_init(&w);
  mp_encode_prepare(&w, 5, 1); /* round 5 is node 1's */
  assert_int_equal(step(&c, 0, CTK_EVENT_MESSAGE, 1, w.data, w.len), CTK_OK);
  assert_true(c.durable_len[0] > 0); /* persisted in the same step as the Promise */
  drop_all(&c);
  crash(&c, 0);
  boot(&c, 0);
  assert_int_equal(status_of(&c, 0).term, 5);
  wire_writer_reset(&w);
  uint8_t v[] = "v";
  mp_slot slot = {.ballot = 2, .len = 1, .data = v};
  mp_encode_accept(&w, 2, 0, 1, &slot, 1); /* round 2 is node 1's too */
  assert_int_equal(step(&c, 0, CTK_EVENT_MESSAGE, 1, w.data, w.len), CTK_OK);
  assert_int_equal(c.nq, 1);
  mp_msg m;
  assert_int_equal(mp_msg_decode(c.q[0].bytes, c.q[0].len, &m), CTK_OK);
  assert_int_equal(m.type, MP_MSG_ACCEPTED);
  assert_int_equal(m.ok, 0);
  assert_int_equal(m.promised, 5);
  assert_int_equal(status_of(&c, 0).log_length, 0);
  wire_writer_free(&w);
  cluster_free(&c);
}

/* Keeps only the queued Accepts addressed to the nodes in `mask`. */
static void keep_accepts_to(cluster *c, unsigned mask) {
  size_t kept = 0;
  for (size_t k = 0; k < c->nq; k++) {
    mp_msg m;
    assert_int_equal(mp_msg_decode(c->q[k].bytes, c->q[k].len, &m), CTK_OK);
    if (m.type == MP_MSG_ACCEPT && (mask & (1u << c->q[k].to)))
      c->q[kept++] = c->q[k];
    else
      free(c->q[k].bytes);
  }
  c->nq = kept;
}

/* 5 nodes, leader 0. "a", "b", "c" reach two acceptors, whose Accepted come back: with the leader
 * that is a quorum of 3, so the leader commits them and would answer its clients. "d" reaches one
 * acceptor only. The leader crashes before any commit index leaves it. Whichever two acceptors
 * had the Accepts and whichever survivor leads next, "a", "b", "c" are chosen at slots 1 to 3 on
 * every node; "d" may be chosen or lost, but the same way everywhere. */
static void test_acknowledged_survive_leader_crash_in_phase2(void **state) {
  (void)state;
  for (int x = 1; x <= 4; x++)
    for (int y = x + 1; y <= 4; y++)
      for (int next = 1; next <= 4; next++) {
        cluster c;
        cluster_init(&c, 5);
        elect(&c, 0);
        drop_all(&c);
        command(&c, 0, "a");
        command(&c, 0, "b");
        command(&c, 0, "c");
        keep_accepts_to(&c, (1u << x) | (1u << y));
        size_t n = c.nq;
        for (size_t k = 0; k < n; k++)
          assert_int_equal(
              step(&c, c.q[k].to, CTK_EVENT_MESSAGE, c.q[k].from, c.q[k].bytes, c.q[k].len),
              CTK_OK);
        for (size_t k = 0; k < n; k++) free(c.q[k].bytes);
        memmove(c.q, c.q + n, (c.nq - n) * sizeof *c.q);
        c.nq -= n;
        deliver_all(&c);                   /* the Accepted reach the leader */
        assert_int_equal(c.applied[0], 3); /* acknowledged */
        command(&c, 0, "d");
        keep_accepts_to(&c, 1u << x);
        deliver_once_drop_replies(&c);
        drop_all(&c);
        crash(&c, 0);
        for (int i = 1; i < 5; i++) /* only x learnt the commit index, piggybacked on "d" */
          assert_int_equal(c.applied[i], i == x ? 3 : 0);
        elect(&c, next);
        for (int round = 0; round < 3; round++) {
          fire(&c, next);
          deliver_all(&c);
        }
        const char *want[] = {"", "a", "b", "c"};
        uint64_t len = c.applied[next];
        assert_true(len == 3 || len == 4);
        for (int i = 1; i < 5; i++) {
          assert_int_equal(c.applied[i], len);
          for (int s = 1; s <= 3; s++) assert_string_equal(c.committed[i][s], want[s]);
          if (len == 4) assert_string_equal(c.committed[i][4], c.committed[next][4]);
        }
        /* "d" reached node x: it survives when x promised to the new leader */
        if (next == x) assert_int_equal(len, 4);
        cluster_free(&c);
      }
}

/* An acceptor holding 2.4 MB of accepted values the candidate lacks answers its Prepare in
 * chunks of at most one message each; the candidate asks for the rest, becomes leader only with
 * all of it, and gets every value chosen again. */
static void test_large_promise_sent_in_chunks(void **state) {
  (void)state;
  enum { N_CMDS = 600, CMD_BYTES = 4000 };
  cluster c;
  cluster_init(&c, 3);
  crash(&c, 2);
  elect(&c, 0);
  static char cmd[CMD_BYTES];
  for (int k = 1; k <= N_CMDS; k++) {
    memset(cmd, 'x', sizeof cmd);
    int w = snprintf(cmd, sizeof cmd, "cmd-%04d", k);
    cmd[w] = '-';
    assert_int_equal(step(&c, 0, CTK_EVENT_COMMAND, 0, cmd, sizeof cmd), CTK_OK);
    deliver_all(&c);
  }
  fire(&c, 0);
  deliver_all(&c);
  assert_int_equal(c.applied[0], N_CMDS);
  assert_int_equal(c.applied[1], N_CMDS);
  crash(&c, 0);
  boot(&c, 2); /* it never saw any of it */
  c.promise_chunks = 0;
  elect(&c, 2);
  assert_true(c.promise_chunks >= 2);
  for (int round = 0; round < 40 && c.applied[2] < N_CMDS; round++) {
    fire(&c, 2);
    deliver_all(&c);
  }
  assert_int_equal(c.applied[2], N_CMDS);
  for (int k = 1; k < 64; k++) {
    char want[32];
    snprintf(want, sizeof want, "cmd-%04d-xxxxxx", k);
    want[15] = '\0'; /* what the committed[][16] table keeps */
    assert_string_equal(c.committed[2][k], want);
  }
  cluster_free(&c);
}

/* A restarted leader offers its own accepted values to its phase 1, one open slot at a time. Its
 * table of best values once grew by one slot per offer, copying the table each time: quadratic,
 * and under AddressSanitizer and load that phase 1 over ~2,500 slots outlasted the others'
 * election timeouts, so no leader committed for 10 s. The table now grows by doubling: for 1,000
 * slots (not a power of two) its capacity is 1,024, where growth by one would leave it at 1,000.
 * And every value it offered is chosen. */
static void test_phase1_table_grows_by_doubling(void **state) {
  (void)state;
  enum { N_CMDS = 1000 };
  cluster c;
  cluster_init(&c, 3);
  c.opt.max_inflight = 1024; /* every command leaves alone, in a slot of its own */
  for (int i = 0; i < 3; i++) {
    crash(&c, i);
    boot(&c, i);
  }
  elect(&c, 0);
  for (int k = 1; k <= N_CMDS; k++) {
    char cmd[32];
    snprintf(cmd, sizeof cmd, "cmd-%04d", k);
    command(&c, 0, cmd);
    drop_all(&c); /* accepted by the leader alone: open, never chosen */
  }
  crash(&c, 0);
  boot(&c, 0);
  fire(&c, 0); /* phase 1 of a new round, offering its 1,000 open slots */
  const mp *m = (const mp *)c.p[0];
  assert_int_equal(m->role, MP_CANDIDATE);
  assert_int_equal(m->n_best, N_CMDS);
  assert_int_equal(m->cap_best, 1024);
  deliver_all(&c);
  for (int round = 0; round < 20 && (c.applied[0] < N_CMDS || c.applied[1] < N_CMDS); round++) {
    fire(&c, 0);
    deliver_all(&c);
  }
  assert_int_equal(status_of(&c, 0).role, CTK_ROLE_LEADER);
  assert_int_equal(c.applied[0], N_CMDS);
  assert_int_equal(c.applied[1], N_CMDS);
  assert_string_equal(c.committed[1][1], "cmd-0001");
  assert_string_equal(c.committed[1][63], "cmd-0063");
  cluster_free(&c);
}

static void test_durable_torn_and_corrupt(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3);
  elect(&c, 0);
  command(&c, 0, "a");
  command(&c, 0, "b");
  deliver_all(&c);
  size_t len = c.durable_len[1];
  assert_true(len > 20);
  ctk_node_config cfg = {.node_id = 1, .n_nodes = 3, .seed = 1};
  char err[160];
  ctk_output out;
  /* torn tail: dropped, the rest recovered */
  ctk_proto *p = ctk_multipaxos_protocol.create(&cfg, &c.opt, err, sizeof err);
  ctk_event ev = {.kind = CTK_EVENT_START, .bytes = {c.durable[1], len - 3}};
  assert_int_equal(ctk_multipaxos_protocol.step(p, &ev, &out), CTK_OK);
  assert_int_equal(out.persist_replace, 1);
  ctk_status s;
  ctk_multipaxos_protocol.status(p, &s);
  assert_int_equal(s.term, 1);
  assert_int_equal(s.log_length, 1);
  ctk_multipaxos_protocol.destroy(p);
  /* corruption before the last record */
  uint8_t *bad = malloc(len);
  memcpy(bad, c.durable[1], len);
  bad[14] ^= 0xFF;
  p = ctk_multipaxos_protocol.create(&cfg, &c.opt, err, sizeof err);
  ev.bytes = (ctk_bytes){bad, len};
  assert_int_equal(ctk_multipaxos_protocol.step(p, &ev, &out), CTK_ERR_CORRUPT);
  ctk_multipaxos_protocol.destroy(p);
  free(bad);
  cluster_free(&c);
}

static void test_malformed_rejected(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3);
  elect(&c, 0);
  command(&c, 0, "a");
  deliver_all(&c);
  ctk_status before = status_of(&c, 1);
  size_t dur = c.durable_len[1];
  wire_writer w;
  wire_writer_init(&w);
  uint8_t v[] = "v";
  mp_slot slot = {.ballot = 4, .len = 1, .data = v};
  mp_encode_accept(&w, 4, 0, 1, &slot, 1); /* round 4 is node 0's */
  for (size_t cut = 0; cut < w.len; cut++)
    assert_int_equal(step(&c, 1, CTK_EVENT_MESSAGE, 0, w.data, cut), CTK_ERR_MALFORMED);
  /* a ballot the sender does not own */
  assert_int_equal(step(&c, 1, CTK_EVENT_MESSAGE, 2, w.data, w.len), CTK_ERR_MALFORMED);
  uint8_t copy[256];
  memcpy(copy, w.data, w.len);
  copy[0] = 9; /* version */
  assert_int_equal(step(&c, 1, CTK_EVENT_MESSAGE, 0, copy, w.len), CTK_ERR_MALFORMED);
  memcpy(copy, w.data, w.len);
  copy[w.len] = 0; /* trailing byte */
  assert_int_equal(step(&c, 1, CTK_EVENT_MESSAGE, 0, copy, w.len + 1), CTK_ERR_MALFORMED);
  ctk_rng rng;
  ctk_rng_seed(&rng, 3);
  for (int k = 0; k < 2000; k++) {
    size_t len = (size_t)ctk_rng_range(&rng, 0, 64);
    for (size_t b = 0; b < len; b++) copy[b] = (uint8_t)ctk_rng_next(&rng);
    if (len > 1 && k % 2) copy[0] = MP_WIRE_VERSION;
    ctk_event ev = {.kind = CTK_EVENT_MESSAGE, .now_us = c.now, .from = 0, .bytes = {copy, len}};
    ctk_output out;
    int rc = ctk_multipaxos_protocol.step(c.p[1], &ev, &out);
    if (rc != CTK_OK) assert_int_equal(out.n_messages + out.persist.len, 0);
  }
  ctk_status after = status_of(&c, 1);
  assert_int_equal(after.term, before.term);
  assert_int_equal(after.commit_index, before.commit_index);
  assert_true(c.durable_len[1] == dur);
  char d[64];
  assert_true(mp_describe(w.data, w.len - 1, d, sizeof d) < 0);
  wire_writer_free(&w);
  cluster_free(&c);
}

/* ---- snapshots ---- */

static void cluster_init_snap(cluster *c, int n, int64_t every) {
  memset(c, 0, sizeof *c);
  c->n = n;
  ctk_protocol_default_options(&ctk_multipaxos_protocol, &c->opt);
  c->opt.snapshot_every = every;
  c->opt.snapshot_keep = 10;
  c->opt.snapshot_chunk_bytes = 64; /* SNAP_BYTES takes 5 chunks */
  for (int i = 0; i < n; i++) boot(c, i);
}

/* n commands at the leader, in batches of 10, each delivered with all it causes. */
static void run_commands(cluster *c, int leader, int n) {
  static int serial;
  for (int k = 0; k < n; k += 10) {
    for (int j = k; j < n && j < k + 10; j++) {
      char cmd[16];
      snprintf(cmd, sizeof cmd, "c%d", serial++);
      command(c, leader, cmd);
    }
    deliver_all(c);
  }
}

static void heartbeats(cluster *c, int leader, int rounds) {
  for (int k = 0; k < rounds; k++) {
    fire(c, leader);
    deliver_all(c);
  }
}

static void expect_converged(const cluster *c, uint64_t at_least) {
  for (int i = 0; i < c->n; i++) {
    if (c->down[i]) continue;
    assert_true(c->applied[i] >= at_least);
    assert_int_equal(c->applied[i], c->applied[0]);
    assert_true(c->digest[i] == c->digest[0]);
  }
}

/* 2,000 commands through a 3-node cluster with a snapshot every 50 slots: every node's log holds
 * at most a snapshot interval, a batch and the kept tail past its snapshot, and its durable bytes
 * stay a few KiB. The same run without snapshots grows its durable bytes past 40 KiB. */
static void test_snapshot_bounds_log_and_durable_bytes(void **state) {
  (void)state;
  for (int64_t every = 50; every >= 0; every -= 50) {
    cluster c;
    cluster_init_snap(&c, 3, every);
    elect(&c, 0);
    for (int k = 0; k < 200; k++) {
      run_commands(&c, 0, 10);
      for (int i = 0; i < 3 && every; i++) {
        ctk_status st = status_of(&c, i);
        assert_true(st.log_length - st.snapshot_index < (uint64_t)every + 20);
        assert_true(c.p[i]->n_slots - c.p[i]->base < (uint64_t)every + 10 + 20);
      }
    }
    heartbeats(&c, 0, 2);
    expect_converged(&c, 2000);
    for (int i = 0; i < 3; i++) {
      if (every) {
        assert_true(c.snapshots[i] >= 39);
        assert_true(status_of(&c, i).snapshot_index >= 1950);
        assert_true(c.durable_max[i] < 8192);
        assert_true(c.p[i]->cap_slots <= 1024);
      } else {
        assert_int_equal(c.snapshots[i], 0);
        assert_true(c.durable_len[i] > 40000);
      }
    }
    cluster_free(&c);
  }
}

/* A node down while 500 slots are chosen comes back behind the leader's discarded prefix: the
 * leader sends it its snapshot in chunks, it restores it and goes on from there. */
static void test_lagging_node_catches_up_from_snapshot(void **state) {
  (void)state;
  cluster c;
  cluster_init_snap(&c, 3, 50);
  elect(&c, 0);
  run_commands(&c, 0, 20);
  crash(&c, 2);
  run_commands(&c, 0, 500);
  assert_true(status_of(&c, 0).snapshot_index >= 450);
  boot(&c, 2); /* from its own durable bytes: slots 1..20, no snapshot */
  assert_int_equal(c.restores[2], 0);
  size_t chunks = c.snap_chunks;
  heartbeats(&c, 0, 3);
  assert_int_equal(c.restores[2], 1);
  assert_true(c.snap_chunks - chunks >= 5); /* SNAP_BYTES in 64-byte chunks */
  assert_true(status_of(&c, 2).snapshot_index >= 450);
  expect_converged(&c, 520);
  run_commands(&c, 0, 30);
  heartbeats(&c, 0, 1);
  expect_converged(&c, 550);
  cluster_free(&c);
}

/* Every node crashes and restarts from durable bytes holding a snapshot: each restores it at
 * START, commits only what follows it, and the cluster ends where it was, same state. */
static void test_restart_restores_snapshot(void **state) {
  (void)state;
  cluster c;
  cluster_init_snap(&c, 3, 50);
  elect(&c, 0);
  run_commands(&c, 0, 333);
  heartbeats(&c, 0, 1);
  expect_converged(&c, 333);
  uint64_t applied = c.applied[0], digest = c.digest[0];
  for (int i = 0; i < 3; i++) crash(&c, i);
  for (int i = 0; i < 3; i++) {
    boot(&c, i);
    ctk_status st = status_of(&c, i);
    assert_int_equal(c.restores[i], 1);
    assert_true(st.snapshot_index >= 300);
    assert_int_equal(c.applied[i], st.snapshot_index);
    assert_int_equal(st.commit_index, st.snapshot_index);
  }
  elect(&c, 1);
  heartbeats(&c, 1, 2);
  expect_converged(&c, applied);
  assert_true(c.digest[1] == digest || c.applied[1] > applied); /* + a no-op at most */
  run_commands(&c, 1, 10);
  heartbeats(&c, 1, 1);
  expect_converged(&c, applied + 10);
  cluster_free(&c);
}

/* A candidate whose log ends before an acceptor's discarded prefix: the acceptor's Promise names
 * its snapshot instead of slots; the candidate fetches it, runs phase 1 again from past it (a new
 * ballot: Promise chunks of the old one may still be in flight), and leads with the acceptor's
 * state. */
static void test_candidate_fetches_snapshot_before_leading(void **state) {
  (void)state;
  cluster c;
  cluster_init_snap(&c, 3, 50);
  elect(&c, 0);
  run_commands(&c, 0, 20);
  crash(&c, 2);
  run_commands(&c, 0, 300);
  heartbeats(&c, 0, 1);
  crash(&c, 0);
  boot(&c, 2);
  fire(&c, 2);
  uint64_t ballot = c.p[2]->ballot;
  deliver_all(&c);
  assert_true(c.promise_snaps >= 1);
  assert_int_equal(c.restores[2], 1);
  assert_int_equal(status_of(&c, 2).role, CTK_ROLE_LEADER);
  assert_true(c.p[2]->ballot > ballot); /* phase 1 again, past the snapshot */
  heartbeats(&c, 2, 2);
  assert_int_equal(c.applied[2], c.applied[1]);
  assert_true(c.digest[2] == c.digest[1]);
  command(&c, 2, "after");
  deliver_all(&c);
  heartbeats(&c, 2, 1);
  assert_true(c.applied[1] >= 321 && c.applied[2] == c.applied[1]);
  assert_true(c.digest[2] == c.digest[1]);
  cluster_free(&c);
}

/* A new leader whose chosen prefix ends before an acceptor's discarded prefix: it won phase 1
 * with an acceptor that keeps everything (snapshot_every = 0 on node 1) and re-proposes slots the
 * other acceptor no longer holds. That acceptor does not accept them again; it pushes the leader
 * its snapshot, and with node 1 gone the leader makes progress with it alone. */
static void test_leader_behind_acceptor_gets_snapshot(void **state) {
  (void)state;
  cluster c;
  memset(&c, 0, sizeof c);
  c.n = 3;
  ctk_protocol_default_options(&ctk_multipaxos_protocol, &c.opt);
  c.opt.snapshot_keep = 10;
  c.opt.snapshot_chunk_bytes = 64;
  for (int i = 0; i < 3; i++) {
    c.opt.snapshot_every = i == 1 ? 0 : 50;
    boot(&c, i);
  }
  elect(&c, 0);
  run_commands(&c, 0, 20);
  crash(&c, 2);
  run_commands(&c, 0, 300);
  heartbeats(&c, 0, 1);
  assert_true(c.p[0]->base >= 250 && c.p[1]->base == 0);
  boot(&c, 2);
  fire(&c, 2);
  keep_only_to(&c, 1); /* node 0 does not hear the Prepare */
  while (c.nq > 0 && status_of(&c, 2).role != CTK_ROLE_LEADER) { /* one message at a time */
    qmsg m = c.q[0];
    memmove(c.q, c.q + 1, (c.nq - 1) * sizeof *c.q);
    c.nq--;
    assert_int_equal(step(&c, m.to, CTK_EVENT_MESSAGE, m.from, m.bytes, m.len), CTK_OK);
    free(m.bytes);
  }
  assert_int_equal(status_of(&c, 2).role, CTK_ROLE_LEADER);
  assert_true(c.applied[2] < c.p[0]->base);
  c.down[1] = 1; /* from now on only node 0 answers */
  deliver_all(&c);
  heartbeats(&c, 2, 3);
  assert_int_equal(c.restores[2], 1);
  assert_int_equal(status_of(&c, 2).role, CTK_ROLE_LEADER);
  command(&c, 2, "after");
  deliver_all(&c);
  heartbeats(&c, 2, 1);
  assert_true(c.applied[2] >= 321);
  assert_int_equal(c.applied[0], c.applied[2]);
  assert_true(c.digest[0] == c.digest[2]);
  cluster_free(&c);
}

static void test_snapshot_messages_validated(void **state) {
  (void)state;
  wire_writer w;
  wire_writer_init(&w);
  uint8_t data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  mp_msg m;
  mp_config conf = {.voters = 7};
  mp_encode_snap_chunk(&w, 5, &conf, 20, 12, data, 8);
  assert_int_equal(mp_msg_decode(w.data, w.len, &m), CTK_OK);
  assert_true(m.snap == 5 && m.total == 20 && m.offset == 12 && m.items_len == 8);
  wire_writer_reset(&w);
  mp_encode_snap_chunk(&w, 5, &conf, 20, 13, data, 8); /* past the end */
  assert_int_equal(mp_msg_decode(w.data, w.len, &m), CTK_ERR_MALFORMED);
  wire_writer_reset(&w);
  mp_encode_snap_chunk(&w, 0, &conf, 20, 0, data, 8); /* no index */
  assert_int_equal(mp_msg_decode(w.data, w.len, &m), CTK_ERR_MALFORMED);
  wire_writer_reset(&w);
  mp_encode_snap_chunk(&w, 5, &conf, 20, 0, data, 0); /* empty */
  assert_int_equal(mp_msg_decode(w.data, w.len, &m), CTK_ERR_MALFORMED);
  wire_writer_reset(&w);
  mp_encode_snap_pull(&w, 5, 20, 3);
  assert_int_equal(mp_msg_decode(w.data, w.len, &m), CTK_OK);
  for (size_t cut = 0; cut < w.len; cut++)
    assert_int_equal(mp_msg_decode(w.data, cut, &m), CTK_ERR_MALFORMED);
  wire_writer_reset(&w);
  mp_encode_promise_snap(&w, 4, 4, 9);
  assert_int_equal(mp_msg_decode(w.data, w.len, &m), CTK_OK);
  assert_int_equal(m.snap, 9);
  w.data[2 + 8] = 0; /* a nack naming a snapshot */
  assert_int_equal(mp_msg_decode(w.data, w.len, &m), CTK_ERR_MALFORMED);
  /* A chunk that does not continue the transfer changes nothing. */
  cluster c;
  cluster_init_snap(&c, 3, 50);
  wire_writer_reset(&w);
  mp_encode_snap_chunk(&w, 5, &conf, 20, 12, data, 8);
  assert_int_equal(step(&c, 1, CTK_EVENT_MESSAGE, 0, w.data, w.len), CTK_OK);
  assert_int_equal(c.p[1]->snap.rx.have, 0);
  assert_int_equal(status_of(&c, 1).snapshot_index, 0);
  /* A SNAPSHOT the node did not reach yet is refused. */
  ctk_event ev = {.kind = CTK_EVENT_SNAPSHOT, .now_us = c.now, .bytes = {data, 8}, .index = 0};
  ctk_output out;
  assert_int_equal(ctk_multipaxos_protocol.step(c.p[1], &ev, &out), CTK_ERR_INVALID);
  ev.index = 3;
  assert_int_equal(ctk_multipaxos_protocol.step(c.p[1], &ev, &out), CTK_OK);
  assert_int_equal(status_of(&c, 1).snapshot_index, 0);
  wire_writer_free(&w);
  cluster_free(&c);
}

static void test_flexible_quorums(void **state) {
  (void)state;
  ctk_multipaxos_options o;
  ctk_protocol_default_options(&ctk_multipaxos_protocol, &o);
  ctk_node_config cfg = {.node_id = 0, .n_nodes = 3, .seed = 1};
  char err[160] = "";
  o.q1 = 1;
  o.q2 = 2;
  assert_null(ctk_multipaxos_protocol.create(&cfg, &o, err, sizeof err));
  assert_string_equal(err,
                      "multipaxos: q1 + q2 must exceed the cluster size (q1=1, q2=2, "
                      "nodes=3)");
  o.q1 = 0; /* majority: 2 */
  o.q2 = 1;
  assert_null(ctk_multipaxos_protocol.create(&cfg, &o, err, sizeof err));
  assert_string_equal(err,
                      "multipaxos: q1 + q2 must exceed the cluster size (q1=2, q2=1, "
                      "nodes=3)");
  /* q1 = 3, q2 = 1: the leader commits alone once every node promised */
  cluster c;
  memset(&c, 0, sizeof c);
  c.n = 3;
  ctk_protocol_default_options(&ctk_multipaxos_protocol, &c.opt);
  c.opt.q1 = 3;
  c.opt.q2 = 1;
  for (int i = 0; i < 3; i++) boot(&c, i);
  elect(&c, 0);
  command(&c, 0, "solo");
  assert_int_equal(c.applied[0], 1);
  drop_all(&c);
  c.down[1] = 1; /* phase 1 now lacks q1 */
  crash(&c, 1);
  fire(&c, 2);
  deliver_all(&c);
  assert_int_equal(status_of(&c, 2).role, CTK_ROLE_CANDIDATE);
  cluster_free(&c);
}

/* ---- flow control (max_inflight_per_acceptor) ---- */

/* A slow acceptor: every message it sends is held back (not delivered) while `slow` is set. The
 * meter follows the Accepts the leader sends it (the highest slot) and the Accepted it delivered
 * (the highest slot acknowledged); their gap, the slots in flight to it, is recorded at its top. */
typedef struct flow_meter {
  int node, slow;
  qmsg held[4096];
  size_t n_held;
  uint64_t sent, acked, worst;
} flow_meter;

static void flow_note(cluster *c, flow_meter *f, const qmsg *m) {
  mp_msg d;
  assert_int_equal(mp_msg_decode(m->bytes, m->len, &d), CTK_OK);
  if (m->to == f->node && d.type == MP_MSG_ACCEPT && d.n && d.first + d.n - 1 > f->sent)
    f->sent = d.first + d.n - 1;
  if (m->from == f->node && d.type == MP_MSG_ACCEPTED && d.n && d.first + d.n - 1 > f->acked)
    f->acked = d.first + d.n - 1;
  if (f->sent > f->acked && f->sent - f->acked > f->worst) f->worst = f->sent - f->acked;
  (void)c;
}

/* deliver_all, holding back the slow node's messages (and noting what goes to and from it). */
static void flow_deliver(cluster *c, flow_meter *f) {
  while (c->nq > 0) {
    qmsg m = c->q[0];
    memmove(c->q, c->q + 1, (c->nq - 1) * sizeof *c->q);
    c->nq--;
    if (f->slow && m.from == f->node) {
      assert_true(f->n_held < 4096);
      f->held[f->n_held++] = m;
      continue;
    }
    flow_note(c, f, &m);
    assert_int_equal(step(c, m.to, CTK_EVENT_MESSAGE, m.from, m.bytes, m.len), CTK_OK);
    free(m.bytes);
  }
}

static void flow_release(cluster *c, flow_meter *f) {
  f->slow = 0;
  for (size_t k = 0; k < f->n_held; k++) {
    assert_true(c->nq < 4096);
    c->q[c->nq++] = f->held[k];
  }
  f->n_held = 0;
  flow_deliver(c, f);
}

static void flow_commands(cluster *c, flow_meter *f, int n) {
  static int serial;
  for (int k = 0; k < n; k += 10) {
    for (int j = k; j < n && j < k + 10; j++) {
      char cmd[16];
      snprintf(cmd, sizeof cmd, "f%d", serial++);
      command(c, 0, cmd);
    }
    flow_deliver(c, f);
    if (k % 50 == 0) { /* a heartbeat now and then: catch-up and the commit index */
      fire(c, 0);
      flow_deliver(c, f);
    }
  }
}

/* 5 nodes, node 4's replies held back while 300 commands go through node 0 (batches of 4). With
 * max_inflight_per_acceptor = 8 the slots in flight to it never exceed 8, the other four keep
 * committing, and once its replies flow again it catches up. Without a cap (0) the leader streams
 * it every slot. With snapshots every 50 slots, the slot it needs next is gone by then: it is
 * caught up with the leader's snapshot. */
static void test_flow_control_slow_acceptor(void **state) {
  (void)state;
  for (int variant = 0; variant < 3; variant++) {
    int64_t cap = variant == 1 ? 0 : 8;
    cluster c;
    memset(&c, 0, sizeof c);
    c.n = 5;
    ctk_protocol_default_options(&ctk_multipaxos_protocol, &c.opt);
    c.opt.max_batch = 4;
    c.opt.max_inflight_per_acceptor = cap;
    if (variant == 2) {
      c.opt.snapshot_every = 50;
      c.opt.snapshot_keep = 10;
      c.opt.snapshot_chunk_bytes = 64;
    } else {
      c.opt.snapshot_every = 0;
    }
    for (int i = 0; i < 5; i++) boot(&c, i);
    flow_meter *f = calloc(1, sizeof *f);
    f->node = 4;
    elect(&c, 0);
    flow_commands(&c, f, 20);
    uint64_t before = status_of(&c, 0).commit_index;
    assert_true(before >= 20);
    f->worst = 0;
    f->slow = 1;
    flow_commands(&c, f, 300);
    for (int k = 0; k < 3; k++) {
      fire(&c, 0);
      flow_deliver(&c, f);
    }
    assert_int_equal(status_of(&c, 0).role, CTK_ROLE_LEADER);
    assert_true(status_of(&c, 0).commit_index >= before + 300); /* the other majority */
    for (int i = 1; i < 4; i++) assert_true(c.applied[i] >= before + 300);
    if (cap) {
      assert_true(c.applied[4] <= before + (uint64_t)cap); /* it holds no more than that */
      assert_true(f->worst <= (uint64_t)cap);
      assert_true(f->worst >= 1);
      assert_true(c.p[0]->peers[4].sent - c.p[0]->peers[4].acked <= (uint64_t)cap);
    } else {
      assert_true(f->worst >= 300);
      assert_true(c.applied[4] >= before + 300); /* the whole stream reached it */
    }
    flow_release(&c, f); /* it speeds up */
    for (int k = 0; k < 6; k++) {
      fire(&c, 0);
      flow_deliver(&c, f);
    }
    flow_commands(&c, f, 20);
    for (int k = 0; k < 2; k++) {
      fire(&c, 0);
      flow_deliver(&c, f);
    }
    expect_converged(&c, before + 320);
    assert_int_equal(c.restores[4], variant == 2 ? 1 : 0);
    free(f);
    cluster_free(&c);
  }
}

/* ---- membership ---- */

static int admin(cluster *c, int i, const char *req) {
  return step(c, i, CTK_EVENT_ADMIN, 0, req, strlen(req));
}

/* Heartbeats from the leader, delivered, until the cluster is quiet. */
static void settle(cluster *c, int leader, int rounds) {
  for (int k = 0; k < rounds; k++) {
    c->now += 60 * MS;
    assert_int_equal(step(c, leader, CTK_EVENT_TIMEOUT, 0, NULL, 0), CTK_OK);
    deliver_all(c);
  }
}

static void test_membership_add_promote_restart_remove(void **state) {
  (void)state;
  cluster c;
  memset(&c, 0, sizeof c);
  c.n = 3;
  c.members = 0x3; /* {0, 1}: node 2 waits to be added */
  ctk_protocol_default_options(&ctk_multipaxos_protocol, &c.opt);
  for (int i = 0; i < 3; i++) boot(&c, i);
  assert_int_equal(status_of(&c, 2).members, 0x3);
  fire(&c, 2); /* not a voter: it does not campaign */
  assert_int_equal(status_of(&c, 2).role, CTK_ROLE_FOLLOWER);
  assert_int_equal(c.nq, 0);
  elect(&c, 0);
  command(&c, 0, "a");
  deliver_all(&c);
  assert_int_equal(admin(&c, 1, "add 2"), CTK_ERR_REJECTED); /* a follower: ask the leader */
  assert_int_equal(status_of(&c, 1).leader_id, 0);
  assert_int_equal(admin(&c, 0, "add 1"), CTK_ERR_INVALID); /* a member already */
  assert_int_equal(admin(&c, 0, "add 3"), CTK_ERR_INVALID); /* no such node */
  assert_int_equal(admin(&c, 0, "fly 2"), CTK_ERR_INVALID);
  assert_int_equal(admin(&c, 0, "add 2"), CTK_OK);
  assert_int_equal(admin(&c, 0, "remove 1"), CTK_ERR_REJECTED); /* one change at a time */
  assert_int_equal(step(&c, 0, CTK_EVENT_COMMAND, 0, "b", 1), CTK_ERR_BUSY); /* held back */
  deliver_all(&c);
  assert_int_equal(status_of(&c, 0).learners, 0x4);
  settle(&c, 0, 3); /* node 2 catches up, then a second command makes it a voter */
  for (int i = 0; i < 3; i++) {
    assert_int_equal(status_of(&c, i).members, 0x7);
    assert_int_equal(status_of(&c, i).learners, 0);
  }
  command(&c, 0, "b");
  deliver_all(&c);
  settle(&c, 0, 1);
  assert_string_equal(c.committed[2][1], "a");
  /* The configuration survives a restart (the chosen prefix was persisted past it). */
  crash(&c, 2);
  boot(&c, 2);
  assert_int_equal(status_of(&c, 2).members, 0x7);
  /* The leader removes itself: once that is chosen it hands over and steps down. */
  assert_int_equal(admin(&c, 0, "remove 0"), CTK_OK);
  deliver_all(&c);
  settle(&c, 0, 2);
  assert_int_equal(status_of(&c, 0).role, CTK_ROLE_FOLLOWER);
  assert_int_equal(status_of(&c, 0).members, 0x6);
  int leader = status_of(&c, 1).role == CTK_ROLE_LEADER ? 1 : 2;
  assert_int_equal(status_of(&c, leader).role, CTK_ROLE_LEADER);
  command(&c, leader, "c");
  deliver_all(&c);
  settle(&c, leader, 1);
  uint64_t last = status_of(&c, leader).commit_index;
  assert_string_equal(c.committed[3 - leader][last], "c");
  fire(&c, 0); /* removed: it never campaigns */
  assert_int_equal(status_of(&c, 0).role, CTK_ROLE_FOLLOWER);
  cluster_free(&c);
}

typedef struct entry {
  uint64_t slot, ballot, epoch;
  uint8_t kind;
  const char *value; /* a configuration when kind is 1: voters 0x7 */
} entry;

static void promise_entries(cluster *c, int to, int from, uint64_t ballot, const entry *e, int n) {
  wire_writer w;
  wire_writer_init(&w);
  size_t pos = mp_encode_promise_begin(&w, ballot, 1, ballot);
  uint8_t conf[MP_CONFIG_BYTES];
  mp_config all = {.voters = 0x7};
  mp_conf_encode(&all, conf);
  for (int k = 0; k < n; k++) {
    mp_slot slot = {.ballot = e[k].ballot, .epoch = e[k].epoch, .kind = e[k].kind};
    slot.data = e[k].kind ? conf : (uint8_t *)e[k].value;
    slot.len = e[k].kind ? MP_CONFIG_BYTES : (uint32_t)strlen(e[k].value);
    mp_encode_promise_entry(&w, e[k].slot, &slot);
  }
  mp_encode_promise_end(&w, pos, 0, (uint32_t)n);
  assert_int_equal(step(c, to, CTK_EVENT_MESSAGE, from, w.data, w.len), CTK_OK);
  wire_writer_free(&w);
}

/* The first Accept with slots the leader sent: its first slot, count, and the kind of each. */
static uint32_t first_accept(const cluster *c, uint64_t *first, uint8_t kinds[8]) {
  for (size_t k = 0; k < c->nq; k++) {
    mp_msg m;
    assert_int_equal(mp_msg_decode(c->q[k].bytes, c->q[k].len, &m), CTK_OK);
    if (m.type != MP_MSG_ACCEPT || m.n == 0) continue;
    mp_item_iter it;
    mp_item_iter_init(&it, &m);
    for (uint32_t i = 0; i < m.n && i < 8; i++) {
      mp_item v;
      mp_item_next(&it, &v);
      kinds[i] = v.kind;
    }
    *first = m.first;
    return m.n;
  }
  return 0;
}

/* multipaxos.c, early_accepts: a leader whose vote alone is a quorum (the only voter) counts
 * slots chosen in the step that persists its vote, so none of its Accepts may leave before that
 * sync (membership-sweep-3 seeds 43 and 157: an early Accept told a learner of a commit that a
 * crash erased), until a peer acknowledges a slot proposed once it was no longer alone. */
static void test_membership_lone_voter_sends_nothing_early(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3); /* three voters: the leader's Accepts leave early */
  elect(&c, 0);
  command(&c, 0, "a");
  assert_true(c.early_last[0] > 0);
  cluster_free(&c);

  memset(&c, 0, sizeof c);
  c.n = 3;
  c.members = 0x1; /* {0}: a quorum by itself */
  ctk_protocol_default_options(&ctk_multipaxos_protocol, &c.opt);
  for (int i = 0; i < 3; i++) boot(&c, i);
  elect(&c, 0);
  assert_int_equal(admin(&c, 0, "add 1"), CTK_OK); /* chosen at once: a learner */
  assert_int_equal(status_of(&c, 0).learners, 0x2);
  assert_true(c.nq > 0);
  assert_int_equal(c.early_last[0], 0);
  drop_all(&c);
  command(&c, 0, "b"); /* chosen at once; its Accept to the learner carries the commit */
  assert_true(c.nq > 0);
  assert_int_equal(c.early_last[0], 0);
  settle(&c, 0, 3); /* the learner catches up: the leader alone chooses it a voter */
  assert_int_equal(status_of(&c, 0).members, 0x3);
  assert_int_equal(status_of(&c, 0).learners, 0);
  command(&c, 0, "c"); /* needs node 1 now, but that change may not be durable yet */
  assert_true(c.nq > 0);
  assert_int_equal(c.early_last[0], 0);
  deliver_all(&c); /* node 1 acknowledges "c", proposed after it: early again */
  command(&c, 0, "d");
  assert_true(c.early_last[0] > 0);
  deliver_all(&c);
  settle(&c, 0, 1);
  assert_string_equal(c.committed[1][5], "d");
  cluster_free(&c);
}

/* Rule (3) of membership.c, as Stoppable Paxos has it. */
static void test_membership_phase1_configuration_rule(void **state) {
  (void)state;
  for (int higher_later = 0; higher_later < 2; higher_later++) {
    cluster c;
    cluster_init(&c, 3);
    fire(&c, 1); /* round 2 */
    fire(&c, 1); /* round 5 */
    drop_all(&c);
    entry e[2] = {{1, higher_later ? 1 : 4, 0, MP_KIND_CONFIG, NULL},
                  {2, 3, 0, MP_KIND_COMMAND, "x"}};
    promise_entries(&c, 1, 0, 5, e, 2);
    assert_int_equal(status_of(&c, 1).role, CTK_ROLE_LEADER);
    uint64_t first = 0;
    uint8_t kinds[8];
    uint32_t n = first_accept(&c, &first, kinds);
    assert_int_equal(first, 1);
    if (higher_later) {
      /* A value of ballot 3 past a configuration of ballot 1: the leader of ballot 3 proposed
       * something else at slot 1, so the configuration was never chosen: a no-op takes it. */
      assert_int_equal(n, 2);
      assert_int_equal(kinds[0], MP_KIND_COMMAND);
      assert_int_equal(c.p[1]->slots[0].len, 0);
      assert_int_equal(kinds[1], MP_KIND_COMMAND);
      assert_int_equal(step(&c, 1, CTK_EVENT_COMMAND, 0, "y", 1), CTK_OK);
    } else {
      /* The configuration stands: it is proposed and nothing past it, no new command either. */
      assert_int_equal(n, 1);
      assert_int_equal(kinds[0], MP_KIND_CONFIG);
      assert_int_equal(step(&c, 1, CTK_EVENT_COMMAND, 0, "y", 1), CTK_ERR_BUSY);
      deliver_all(&c);
      /* Chosen: the leader runs phase 1 again before it proposes past it (rule (4)). */
      assert_true(status_of(&c, 1).commit_index >= 1);
      assert_int_equal(status_of(&c, 1).role, CTK_ROLE_LEADER);
      assert_true(status_of(&c, 1).term > 5);
    }
    cluster_free(&c);
  }
}

static void test_membership_refusals(void **state) {
  (void)state;
  ctk_multipaxos_options o;
  ctk_protocol_default_options(&ctk_multipaxos_protocol, &o);
  char err[256] = "";
  ctk_node_config cfg = {.node_id = 0, .n_nodes = 3, .seed = 1, .members = 0x3};
  o.q1 = 3;
  assert_null(ctk_multipaxos_protocol.create(&cfg, &o, err, sizeof err));
  assert_non_null(strstr(err, "q1/q2"));
  o.q1 = 0;
  o.read_mode = MP_READ_LEASE;
  assert_null(ctk_multipaxos_protocol.create(&cfg, &o, err, sizeof err));
  assert_non_null(strstr(err, "lease"));
  cfg.members = 0x9; /* node 3 of 3 */
  o.read_mode = MP_READ_LOG;
  assert_null(ctk_multipaxos_protocol.create(&cfg, &o, err, sizeof err));
  cfg.members = 0x3;
  assert_int_equal(o.learner_catchup, 64); /* slots a learner may lag and be promoted */
  o.learner_catchup = -1;
  assert_null(ctk_multipaxos_protocol.create(&cfg, &o, err, sizeof err));
  assert_string_equal(err, "multipaxos: learner_catchup must be in [0, 1000000]");
  o.learner_catchup = 64;
  /* Flexible quorums: membership requests are refused. */
  cluster c;
  memset(&c, 0, sizeof c);
  c.n = 3;
  ctk_protocol_default_options(&ctk_multipaxos_protocol, &c.opt);
  c.opt.q1 = 3;
  c.opt.q2 = 1;
  for (int i = 0; i < 3; i++) boot(&c, i);
  elect(&c, 0);
  assert_int_equal(admin(&c, 0, "remove 2"), CTK_ERR_INVALID);
  cluster_free(&c);
  /* Durable bytes of version 2 (before membership changes) are refused, not guessed at. */
  wire_writer w;
  wire_writer_init(&w);
  size_t pos = record_begin(&w, 2, 1);
  wire_put_u64(&w, 5);
  record_end(&w, pos);
  cfg.members = 0;
  ctk_proto *p = ctk_multipaxos_protocol.create(&cfg, &o, err, sizeof err);
  assert_non_null(p);
  ctk_event ev = {.kind = CTK_EVENT_START, .bytes = {w.data, w.len}};
  ctk_output out;
  assert_int_equal(ctk_multipaxos_protocol.step(p, &ev, &out), CTK_ERR_CORRUPT);
  ctk_multipaxos_protocol.destroy(p);
  wire_writer_free(&w);
}

/* UNSAFE recovery from permanent quorum loss: the survivor alone becomes the configuration. */
static void test_membership_force(void **state) {
  (void)state;
  cluster c;
  cluster_init(&c, 3);
  elect(&c, 0);
  command(&c, 0, "a");
  deliver_all(&c);
  crash(&c, 1);
  crash(&c, 2);
  assert_int_equal(admin(&c, 0, "force 1,2"), CTK_ERR_INVALID); /* without itself */
  assert_int_equal(admin(&c, 0, "force 0"), CTK_OK);
  assert_int_equal(status_of(&c, 0).members, 0x1);
  assert_int_equal(status_of(&c, 0).role, CTK_ROLE_FOLLOWER);
  drop_all(&c);
  fire(&c, 0); /* a quorum of itself */
  assert_int_equal(status_of(&c, 0).role, CTK_ROLE_LEADER);
  command(&c, 0, "b");
  assert_string_equal(c.committed[0][2], "b");
  crash(&c, 0); /* the forced configuration is durable */
  boot(&c, 0);
  assert_int_equal(status_of(&c, 0).members, 0x1);
  cluster_free(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_election),
      cmocka_unit_test(test_no_leader_rejects),
      cmocka_unit_test(test_crashed_leader_holes_filled_with_noops),
      cmocka_unit_test(test_highest_ballot_reproposed),
      cmocka_unit_test(test_two_values_highest_wins),
      cmocka_unit_test(test_acknowledged_survive_leader_crash_in_phase2),
      cmocka_unit_test(test_large_promise_sent_in_chunks),
      cmocka_unit_test(test_phase1_table_grows_by_doubling),
      cmocka_unit_test(test_restart_keeps_promise),
      cmocka_unit_test(test_durable_torn_and_corrupt),
      cmocka_unit_test(test_malformed_rejected),
      cmocka_unit_test(test_flexible_quorums),
      cmocka_unit_test(test_snapshot_bounds_log_and_durable_bytes),
      cmocka_unit_test(test_lagging_node_catches_up_from_snapshot),
      cmocka_unit_test(test_restart_restores_snapshot),
      cmocka_unit_test(test_candidate_fetches_snapshot_before_leading),
      cmocka_unit_test(test_leader_behind_acceptor_gets_snapshot),
      cmocka_unit_test(test_snapshot_messages_validated),
      cmocka_unit_test(test_flow_control_slow_acceptor),
      cmocka_unit_test(test_membership_add_promote_restart_remove),
      cmocka_unit_test(test_membership_lone_voter_sends_nothing_early),
      cmocka_unit_test(test_membership_phase1_configuration_rule),
      cmocka_unit_test(test_membership_refusals),
      cmocka_unit_test(test_membership_force),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
