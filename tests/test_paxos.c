/* test_paxos.c: classic Paxos by hand: nodes wired together in the test, messages delivered one
 * by one. One slot chosen; dueling proposers on one slot both end up chosen in different slots;
 * a value chosen by a proposer that crashed before telling anyone is the one the next proposer
 * for that slot chooses; a restarted acceptor keeps its promise (and a torn or corrupt durable
 * tail); a node that missed chosen slots catches up; malformed input rejected without a change of
 * state. Snapshots (snapshot.c): slots and durable bytes stay bounded, a node back after 2,000
 * slots catches up from a chunked snapshot, and a restart restores the snapshot on disk; the state
 * machine here is a digest of the commands applied, which a snapshot carries (padded). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "paxos/paxos.h"
#include "paxos/paxos_internal.h"

#define MAX_QUEUE 4096
#define MAX_DISK  (1 << 20)

typedef struct packet {
  int from, to;
  size_t len;
  uint8_t data[CTK_MAX_COMMAND_BYTES + 64];
} packet;

typedef struct node {
  ctk_proto *p;
  uint8_t disk[MAX_DISK];
  size_t disk_len;
  int down;
  uint64_t deadline_us;
  char commits[64][32];
  int n_commits;
  uint64_t digest; /* of the commands applied, in order */
  int restores, snapshots;
  size_t disk_max;
} node;

#define SNAP_BYTES 300
static int64_t snap_every; /* 0: the default options */

static uint64_t digest_add(uint64_t d, const uint8_t *cmd, size_t len) {
  d ^= 0xcbf29ce484222325ull + len;
  for (size_t k = 0; k < len; k++) d = (d ^ cmd[k]) * 0x100000001b3ull;
  return d;
}

static void snapshot_encode(uint64_t digest, uint64_t index, uint8_t out[SNAP_BYTES]) {
  for (int k = 0; k < 8; k++) {
    out[k] = (uint8_t)(digest >> (8 * k));
    out[8 + k] = (uint8_t)(index >> (8 * k));
  }
  for (int k = 16; k < SNAP_BYTES; k++) out[k] = (uint8_t)(digest >> (k % 8 * 8)) ^ (uint8_t)k;
}

static node nodes[5];
static int n_nodes;
static packet *queue;
static size_t q_len;
static uint64_t now_us;

static void handle_output(int i, const ctk_output *out) {
  node *nd = &nodes[i];
  if (out->persist_replace) nd->disk_len = 0;
  assert_true(nd->disk_len + out->persist.len <= MAX_DISK);
  if (out->persist.len) memcpy(nd->disk + nd->disk_len, out->persist.data, out->persist.len);
  nd->disk_len += out->persist.len;
  if (nd->disk_len > nd->disk_max) nd->disk_max = nd->disk_len;
  if (out->restore_index) {
    uint8_t expect[SNAP_BYTES];
    assert_int_equal(out->restore.len, SNAP_BYTES);
    uint64_t d = 0;
    for (int k = 7; k >= 0; k--) d = d << 8 | out->restore.data[k];
    snapshot_encode(d, out->restore_index, expect);
    assert_memory_equal(out->restore.data, expect, SNAP_BYTES);
    nd->digest = d;
    nd->n_commits = (int)out->restore_index;
    nd->restores++;
  }
  for (size_t k = 0; k < out->n_messages; k++) {
    assert_true(q_len < MAX_QUEUE);
    packet *pk = &queue[q_len++];
    pk->from = i;
    pk->to = out->messages[k].to;
    pk->len = out->messages[k].bytes.len;
    memcpy(pk->data, out->messages[k].bytes.data, pk->len);
  }
  for (size_t k = 0; k < out->n_commits; k++) {
    assert_int_equal(out->commits[k].index, (uint64_t)nd->n_commits + 1);
    if (nd->n_commits < 64)
      snprintf(nd->commits[nd->n_commits], 32, "%.*s", (int)out->commits[k].command.len,
               (const char *)out->commits[k].command.data);
    nd->n_commits++;
    nd->digest = digest_add(nd->digest, out->commits[k].command.data, out->commits[k].command.len);
  }
  nd->deadline_us = out->next_deadline_us;
  if (out->snapshot_wanted) { /* the host's duty: the state machine, at once */
    assert_int_equal(out->snapshot_wanted, (uint64_t)nd->n_commits);
    uint8_t snap[SNAP_BYTES];
    snapshot_encode(nd->digest, out->snapshot_wanted, snap);
    ctk_event ev = {.kind = CTK_EVENT_SNAPSHOT,
                    .now_us = now_us,
                    .bytes = {snap, SNAP_BYTES},
                    .index = out->snapshot_wanted};
    ctk_output next;
    assert_int_equal(ctk_paxos_protocol.step(nd->p, &ev, &next), CTK_OK);
    nd->snapshots++;
    handle_output(i, &next);
  }
}

static int step(int i, ctk_event_kind kind, int from, const void *data, size_t len) {
  ctk_event ev = {.kind = kind, .now_us = now_us, .from = from, .bytes = {data, len}};
  ctk_output out;
  int rc = ctk_paxos_protocol.step(nodes[i].p, &ev, &out);
  if (rc == CTK_OK) handle_output(i, &out);
  return rc;
}

/* The defaults, with snapshots every snap_every slots when the test asks for them. */
static void node_options(ctk_paxos_options *o) {
  ctk_protocol_default_options(&ctk_paxos_protocol, o);
  if (snap_every) {
    o->snapshot_every = snap_every;
    o->snapshot_keep = 10;
    o->snapshot_chunk_bytes = 64; /* SNAP_BYTES takes 5 chunks */
  }
}

static void boot(int i) {
  ctk_paxos_options o;
  node_options(&o);
  ctk_node_config c = {.node_id = i, .n_nodes = n_nodes, .seed = 42};
  char err[128];
  nodes[i].p = ctk_paxos_protocol.create(&c, &o, err, sizeof err);
  assert_non_null(nodes[i].p);
  nodes[i].n_commits = 0;
  nodes[i].digest = 0;
  assert_int_equal(step(i, CTK_EVENT_START, 0, nodes[i].disk, nodes[i].disk_len), CTK_OK);
}

static void restart(int i) {
  ctk_paxos_protocol.destroy(nodes[i].p);
  boot(i);
}

static int setup(void **state) {
  (void)state;
  n_nodes = 3;
  memset(nodes, 0, sizeof nodes);
  queue = calloc(MAX_QUEUE, sizeof *queue);
  q_len = 0;
  now_us = 1000;
  for (int i = 0; i < n_nodes; i++) boot(i);
  return 0;
}

static int setup_snap(void **state) {
  snap_every = 50;
  return setup(state);
}

static int teardown(void **state) {
  snap_every = 0;
  (void)state;
  for (int i = 0; i < n_nodes; i++) ctk_paxos_protocol.destroy(nodes[i].p);
  free(queue);
  return 0;
}

/* Delivers the k-th queued packet (dropped when either end is down). */
static void deliver_at(size_t k) {
  packet pk = queue[k];
  memmove(&queue[k], &queue[k + 1], (q_len - k - 1) * sizeof *queue);
  q_len--;
  if (nodes[pk.to].down || nodes[pk.from].down) return;
  now_us += 100;
  assert_int_equal(step(pk.to, CTK_EVENT_MESSAGE, pk.from, pk.data, pk.len), CTK_OK);
}

/* Runs until nothing is queued and no deadline falls before `until`; timeouts fire in order. */
static void run_until(uint64_t until, int interleave) {
  for (int guard = 0; guard < 100000; guard++) {
    if (q_len > 0) {
      deliver_at(interleave ? q_len / 2 : 0);
      continue;
    }
    int next = -1;
    for (int i = 0; i < n_nodes; i++)
      if (!nodes[i].down && (next < 0 || nodes[i].deadline_us < nodes[next].deadline_us)) next = i;
    if (next < 0 || nodes[next].deadline_us > until) return;
    if (nodes[next].deadline_us > now_us) now_us = nodes[next].deadline_us;
    assert_int_equal(step(next, CTK_EVENT_TIMEOUT, 0, NULL, 0), CTK_OK);
  }
  fail_msg("no quiescence");
}

static void command(int i, const char *cmd) {
  assert_int_equal(step(i, CTK_EVENT_COMMAND, 0, cmd, strlen(cmd)), CTK_OK);
}

static void test_one_slot_chosen(void **state) {
  (void)state;
  command(0, "put a");
  run_until(now_us + 1000, 0);
  for (int i = 0; i < n_nodes; i++) {
    assert_int_equal(nodes[i].n_commits, 1);
    assert_string_equal(nodes[i].commits[0], "put a");
  }
  ctk_status s;
  ctk_paxos_protocol.status(nodes[1].p, &s);
  assert_int_equal(s.role, CTK_ROLE_NONE);
  assert_int_equal(s.leader_id, -1);
  assert_int_equal(s.commit_index, 1);
  assert_true(s.term >= 1);
}

/* Two proposers take slot 1 at once with messages interleaved: ballots and back-off settle it,
 * the loser retries its command in slot 2, and both commands end up chosen, once each. */
static void test_dueling_proposers_terminate(void **state) {
  (void)state;
  command(0, "x");
  command(1, "y");
  run_until(now_us + 10000000, 1);
  for (int i = 0; i < n_nodes; i++) {
    assert_int_equal(nodes[i].n_commits, 2);
    assert_string_equal(nodes[i].commits[0], nodes[0].commits[0]);
    assert_string_equal(nodes[i].commits[1], nodes[0].commits[1]);
  }
  assert_string_not_equal(nodes[0].commits[0], nodes[0].commits[1]);
}

/* Node 0 gets "a" accepted by a majority and applies it (its client would have its answer), then
 * crashes before any Decided leaves it: nobody else knows "a" was chosen. Node 1, asked for "b",
 * proposes in slot 1, learns "a" from a promise (P2c) and chooses it there, then "b" in slot 2. */
static void test_chosen_value_survives_proposer_crash(void **state) {
  (void)state;
  command(0, "a");
  for (int guard = 0; guard < 1000 && nodes[0].n_commits == 0; guard++) {
    assert_true(q_len > 0);
    paxos_msg m;
    assert_int_equal(paxos_msg_decode(queue[0].data, queue[0].len, &m), CTK_OK);
    if (m.type == PAXOS_MSG_DECIDED || (m.type == PAXOS_MSG_ACCEPTED && queue[0].to != 0)) {
      memmove(&queue[0], &queue[1], (q_len - 1) * sizeof *queue); /* lost */
      q_len--;
      continue;
    }
    deliver_at(0);
  }
  assert_int_equal(nodes[0].n_commits, 1);
  assert_string_equal(nodes[0].commits[0], "a");
  nodes[0].down = 1; /* crashes with its Decided still queued: they are lost */
  q_len = 0;
  assert_int_equal(nodes[1].n_commits, 0);
  assert_int_equal(nodes[2].n_commits, 0);
  command(1, "b");
  run_until(now_us + 10000000, 0);
  for (int i = 1; i < 3; i++) {
    assert_int_equal(nodes[i].n_commits, 2);
    assert_string_equal(nodes[i].commits[0], "a");
    assert_string_equal(nodes[i].commits[1], "b");
  }
}

static void encode(wire_writer *w, paxos_msg m) {
  wire_writer_reset(w);
  paxos_msg_encode(w, &m);
}

/* Paxos Made Simple: an acceptor must remember its promise "even if it fails and then
 * restarts". Node 2 promises ballot 5.1 for slot 1, restarts, and must refuse ballot 3.0. */
static void test_restarted_acceptor_keeps_promise(void **state) {
  (void)state;
  wire_writer w;
  wire_writer_init(&w);
  encode(&w, (paxos_msg){.type = PAXOS_MSG_PREPARE, .slot = 1, .ballot = paxos_ballot(5, 1)});
  assert_int_equal(step(2, CTK_EVENT_MESSAGE, 1, w.data, w.len), CTK_OK);
  assert_int_equal(q_len, 1);
  q_len = 0;
  assert_true(nodes[2].disk_len > 0);
  restart(2);
  /* A torn tail (half a record never synced) is dropped. */
  memcpy(nodes[2].disk + nodes[2].disk_len, nodes[2].disk, 10);
  nodes[2].disk_len += 10;
  restart(2);
  encode(&w, (paxos_msg){.type = PAXOS_MSG_ACCEPT,
                         .slot = 1,
                         .ballot = paxos_ballot(3, 0),
                         .value = (const uint8_t *)"v",
                         .value_len = 1});
  assert_int_equal(step(2, CTK_EVENT_MESSAGE, 0, w.data, w.len), CTK_OK);
  assert_int_equal(q_len, 1);
  paxos_msg reply;
  assert_int_equal(paxos_msg_decode(queue[0].data, queue[0].len, &reply), CTK_OK);
  assert_int_equal(reply.type, PAXOS_MSG_ACCEPTED);
  assert_false(reply.ok);
  assert_int_equal(reply.promised, paxos_ballot(5, 1));
  q_len = 0;
  /* Corruption before the last record is an error, not a torn tail. */
  size_t len = nodes[2].disk_len;
  memcpy(nodes[2].disk + len, nodes[2].disk, len);
  nodes[2].disk_len = 2 * len;
  nodes[2].disk[14] ^= 0xff;
  ctk_paxos_protocol.destroy(nodes[2].p);
  ctk_paxos_options o;
  node_options(&o);
  ctk_node_config c = {.node_id = 2, .n_nodes = 3, .seed = 1};
  nodes[2].p = ctk_paxos_protocol.create(&c, &o, NULL, 0);
  assert_int_equal(step(2, CTK_EVENT_START, 0, nodes[2].disk, nodes[2].disk_len), CTK_ERR_CORRUPT);
  wire_writer_free(&w);
}

/* Node 2 is cut off while two slots are chosen; back, it asks a peer and applies both, in order. */
static void test_catch_up_missed_slots(void **state) {
  (void)state;
  nodes[2].down = 1;
  command(0, "a");
  run_until(now_us + 1000, 0);
  command(1, "b");
  run_until(now_us + 1000, 0);
  assert_int_equal(nodes[0].n_commits, 2);
  assert_int_equal(nodes[2].n_commits, 0);
  nodes[2].down = 0;
  run_until(now_us + 1000000, 0);
  assert_int_equal(nodes[2].n_commits, 2);
  assert_string_equal(nodes[2].commits[0], nodes[0].commits[0]);
  assert_string_equal(nodes[2].commits[1], nodes[0].commits[1]);
}

/* A node back after 2,000 slots were chosen without it catches up in well under a second: it
 * asks for the next batch as soon as it applied the last one, instead of one batch per tick
 * (64 slots every 100 ms would take over 3 s, and never end behind a cluster busier than that). */
static void test_catch_up_is_pipelined(void **state) {
  (void)state;
  nodes[2].down = 1;
  for (int k = 0; k < 2000; k++) {
    char cmd[16];
    snprintf(cmd, sizeof cmd, "c%d", k);
    command(k % 2, cmd);
    run_until(now_us, 0);
  }
  assert_int_equal(nodes[0].n_commits, 2000);
  nodes[2].down = 0;
  uint64_t back = now_us;
  run_until(back + 500000, 0);
  assert_int_equal(nodes[2].n_commits, 2000);
  for (int k = 0; k < 64; k++) assert_string_equal(nodes[2].commits[k], nodes[0].commits[k]);
}

/* ---- snapshots ---- */

static void commands_alternating(int n, int skip_node) {
  static int serial;
  for (int k = 0; k < n; k++) {
    char cmd[16];
    snprintf(cmd, sizeof cmd, "s%d", serial++);
    int at = k % 2;
    if (at == skip_node) at = 1 - at;
    command(at, cmd);
    run_until(now_us, 0);
  }
}

/* 2,000 slots chosen with a snapshot every 50: each node's slots past its snapshot, its slot
 * array and its durable bytes stay bounded. (Without snapshots the same run leaves over 100 KiB
 * on each disk: test_snapshot_off_durable_grows.) */
static void test_snapshot_bounds_slots_and_durable_bytes(void **state) {
  (void)state;
  for (int k = 0; k < 40; k++) {
    commands_alternating(50, -1);
    for (int i = 0; i < 3; i++) {
      ctk_status st;
      ctk_paxos_protocol.status(nodes[i].p, &st);
      assert_true(st.log_length - st.snapshot_index < 50 + 20);
      assert_true(nodes[i].p->n_slots <= 1024);
    }
  }
  run_until(now_us + 1000000, 0);
  for (int i = 0; i < 3; i++) {
    ctk_status st;
    ctk_paxos_protocol.status(nodes[i].p, &st);
    assert_int_equal(nodes[i].n_commits, 2000);
    assert_true(nodes[i].digest == nodes[0].digest);
    assert_true(st.snapshot_index >= 1950);
    assert_true(nodes[i].snapshots >= 39);
    assert_true(nodes[i].disk_max < 16384);
  }
}

static void test_snapshot_off_durable_grows(void **state) {
  (void)state;
  commands_alternating(2000, -1);
  run_until(now_us + 1000000, 0);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(nodes[i].snapshots, 0);
    assert_true(nodes[i].disk_len > 100000);
  }
}

/* A node back after 2,000 slots asks for slots its peers discarded: it gets a snapshot in chunks
 * instead, restores it, and catches up the rest from the kept slots. */
static void test_lagging_node_catches_up_from_snapshot(void **state) {
  (void)state;
  commands_alternating(10, -1);
  run_until(now_us + 1000000, 0);
  assert_int_equal(nodes[2].n_commits, 10);
  nodes[2].down = 1;
  commands_alternating(2000, -1);
  nodes[2].down = 0;
  run_until(now_us + 1000000, 0);
  assert_int_equal(nodes[2].restores, 1);
  assert_int_equal(nodes[2].n_commits, nodes[0].n_commits);
  assert_true(nodes[2].digest == nodes[0].digest);
  ctk_status st;
  ctk_paxos_protocol.status(nodes[2].p, &st);
  assert_true(st.snapshot_index >= 1950);
  /* and it proposes again like the others */
  command(2, "after");
  run_until(now_us + 1000000, 0);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(nodes[i].n_commits, 2011);
    assert_true(nodes[i].digest == nodes[0].digest);
  }
}

/* Every node restarts from durable bytes holding a snapshot: it restores it at START, its commits
 * continue after it, and the cluster converges. */
static void test_restart_restores_snapshot(void **state) {
  (void)state;
  commands_alternating(333, -1);
  run_until(now_us + 1000000, 0);
  uint64_t digest = nodes[0].digest;
  for (int i = 0; i < 3; i++) {
    restart(i);
    ctk_status st;
    ctk_paxos_protocol.status(nodes[i].p, &st);
    assert_int_equal(nodes[i].restores, 1);
    assert_true(st.snapshot_index >= 300);
    /* the chosen slots kept past the snapshot follow it, from disk, in the same step */
    assert_int_equal(st.commit_index, 333);
    assert_int_equal(nodes[i].n_commits, 333);
    assert_true(nodes[i].digest == digest);
  }
  commands_alternating(10, -1);
  run_until(now_us + 1000000, 0);
  for (int i = 0; i < 3; i++) assert_true(nodes[i].digest == nodes[0].digest);
  assert_int_equal(nodes[2].n_commits, 343);
}

static void expect_malformed(const uint8_t *data, size_t len) {
  size_t before = nodes[0].disk_len, q = q_len;
  ctk_status s0, s1;
  memset(&s0, 0, sizeof s0); /* padding too: compared as bytes below */
  memset(&s1, 0, sizeof s1);
  ctk_paxos_protocol.status(nodes[0].p, &s0);
  assert_int_equal(step(0, CTK_EVENT_MESSAGE, 1, data, len), CTK_ERR_MALFORMED);
  ctk_paxos_protocol.status(nodes[0].p, &s1);
  assert_memory_equal(&s0, &s1, sizeof s0);
  assert_int_equal(nodes[0].disk_len, before);
  assert_int_equal(q_len, q);
  /* The codec alone rejects what it can judge without an instance (not a ballot naming a node
   * outside this cluster, say). */
  char buf[128];
  paxos_msg m;
  if (paxos_msg_decode(data, len, &m) != CTK_OK)
    assert_true(ctk_paxos_protocol.describe(data, len, buf, sizeof buf) < 0);
}

/* Snapshot chunks and pulls are validated like the rest: offsets inside the snapshot, no empty
 * chunk, an index. */
static void test_snapshot_messages_validated(void **state) {
  (void)state;
  uint8_t bytes[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  wire_writer w;
  wire_writer_init(&w);
  paxos_msg m = {.type = PAXOS_MSG_SNAP_CHUNK,
                 .slot = 9,
                 .total = 20,
                 .offset = 12,
                 .value = bytes,
                 .value_len = 8};
  paxos_msg_encode(&w, &m);
  paxos_msg d;
  assert_int_equal(paxos_msg_decode(w.data, w.len, &d), CTK_OK);
  assert_true(d.slot == 9 && d.total == 20 && d.offset == 12 && d.value_len == 8);
  for (size_t cut = 0; cut < w.len; cut++) expect_malformed(w.data, cut);
  m.offset = 13; /* past the end */
  wire_writer_reset(&w);
  paxos_msg_encode(&w, &m);
  expect_malformed(w.data, w.len);
  m.offset = 0;
  m.value_len = 0; /* empty */
  wire_writer_reset(&w);
  paxos_msg_encode(&w, &m);
  expect_malformed(w.data, w.len);
  paxos_msg pull = {.type = PAXOS_MSG_SNAP_PULL, .slot = 0, .offset = 3, .applied = 1};
  wire_writer_reset(&w);
  paxos_msg_encode(&w, &pull); /* no index */
  expect_malformed(w.data, w.len);
  wire_writer_free(&w);
}

static void test_malformed_rejected(void **state) {
  (void)state;
  wire_writer w;
  wire_writer_init(&w);
  encode(&w, (paxos_msg){.type = PAXOS_MSG_ACCEPT,
                         .slot = 1,
                         .ballot = paxos_ballot(2, 1),
                         .value = (const uint8_t *)"cmd",
                         .value_len = 3});
  char buf[128];
  assert_true(ctk_paxos_protocol.describe(w.data, w.len, buf, sizeof buf) > 0);
  assert_non_null(strstr(buf, "Accept s=1"));
  for (size_t len = 0; len < w.len; len++) expect_malformed(w.data, len); /* truncated */
  uint8_t bad[64];
  memcpy(bad, w.data, w.len);
  bad[0] = 9; /* version */
  expect_malformed(bad, w.len);
  memcpy(bad, w.data, w.len);
  bad[1] = 77; /* type */
  expect_malformed(bad, w.len);
  encode(&w, (paxos_msg){.type = PAXOS_MSG_PREPARE, .slot = 1, .ballot = paxos_ballot(2, 7)});
  expect_malformed(w.data, w.len); /* ballot of node 7 in a 3-node cluster */
  encode(&w, (paxos_msg){.type = PAXOS_MSG_PREPARE, .slot = 0, .ballot = paxos_ballot(2, 1)});
  expect_malformed(w.data, w.len); /* slot 0 */
  encode(&w,
         (paxos_msg){.type = PAXOS_MSG_PREPARE, .slot = 1u << 30, .ballot = paxos_ballot(2, 1)});
  expect_malformed(w.data, w.len); /* far beyond the window */
  encode(&w, (paxos_msg){.type = PAXOS_MSG_ACCEPTED,
                         .slot = 1,
                         .ballot = paxos_ballot(2, 1),
                         .ok = 1,
                         .promised = paxos_ballot(3, 1)});
  expect_malformed(w.data, w.len); /* ok but promised another ballot */
  uint64_t x = 7;
  for (int k = 0; k < 2000; k++) {
    size_t len = ctk_splitmix64(&x) % 40;
    for (size_t j = 0; j < len; j++) bad[j] = (uint8_t)ctk_splitmix64(&x);
    if (len > 0) bad[0] = PAXOS_WIRE_VERSION;
    paxos_msg m;
    if (paxos_msg_decode(bad, len, &m) != CTK_OK) expect_malformed(bad, len);
  }
  /* Still serving. */
  command(0, "after");
  run_until(now_us + 1000, 0);
  assert_int_equal(nodes[2].n_commits, 1);
  wire_writer_free(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_one_slot_chosen, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dueling_proposers_terminate, setup, teardown),
      cmocka_unit_test_setup_teardown(test_chosen_value_survives_proposer_crash, setup, teardown),
      cmocka_unit_test_setup_teardown(test_restarted_acceptor_keeps_promise, setup, teardown),
      cmocka_unit_test_setup_teardown(test_catch_up_missed_slots, setup, teardown),
      cmocka_unit_test_setup_teardown(test_catch_up_is_pipelined, setup, teardown),
      cmocka_unit_test_setup_teardown(test_malformed_rejected, setup, teardown),
      cmocka_unit_test_setup_teardown(test_snapshot_bounds_slots_and_durable_bytes, setup_snap,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_snapshot_off_durable_grows, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lagging_node_catches_up_from_snapshot, setup_snap,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_restart_restores_snapshot, setup_snap, teardown),
      cmocka_unit_test_setup_teardown(test_snapshot_messages_validated, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
