/* test_raft_codec.c: Raft's wire codec and durable records against truncated, oversized, random
 * and corrupted input: rejected cleanly, state unchanged, never a crash. */
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

#define MS 1000ull

static void default_options(ctk_raft_options *o) {
  ctk_protocol_default_options(&ctk_raft_protocol, o);
}

/* One node and the durable bytes it has persisted. */
typedef struct node {
  ctk_proto *p;
  int id, n;
  uint8_t *durable;
  size_t durable_len;
  int replaced; /* a step asked for persist_replace */
  uint64_t now;
} node;

static void absorb(node *nd, const ctk_output *out) {
  if (out->persist_replace) {
    nd->durable_len = 0;
    nd->replaced = 1;
  }
  nd->durable = realloc(nd->durable, nd->durable_len + out->persist.len + 1);
  if (out->persist.len) memcpy(nd->durable + nd->durable_len, out->persist.data, out->persist.len);
  nd->durable_len += out->persist.len;
}

static ctk_proto *create(int id, int n, const ctk_raft_options *opt) {
  ctk_node_config cfg = {.node_id = id, .n_nodes = n, .seed = 7};
  char err[128];
  ctk_proto *p = ctk_raft_protocol.create(&cfg, opt, err, sizeof err);
  assert_non_null(p);
  return p;
}

static int start_bytes(node *nd, const uint8_t *bytes, size_t len) {
  ctk_output out;
  ctk_event ev = {.kind = CTK_EVENT_START, .now_us = nd->now, .bytes = {bytes, len}};
  int rc = ctk_raft_protocol.step(nd->p, &ev, &out);
  if (rc == CTK_OK)
    absorb(nd, &out);
  else
    assert_int_equal(out.persist.len + out.n_messages + out.n_commits, 0);
  return rc;
}

static void node_init(node *nd, int id, int n, const ctk_raft_options *opt) {
  memset(nd, 0, sizeof *nd);
  nd->id = id;
  nd->n = n;
  nd->now = 1000 * MS;
  ctk_raft_options o;
  default_options(&o);
  nd->p = create(id, n, opt ? opt : &o);
  assert_int_equal(start_bytes(nd, NULL, 0), CTK_OK);
}

static void node_free(node *nd) {
  ctk_raft_protocol.destroy(nd->p);
  free(nd->durable);
}

static int deliver(node *nd, int from, const uint8_t *bytes, size_t len, ctk_output *out) {
  ctk_event ev = {
      .kind = CTK_EVENT_MESSAGE, .now_us = nd->now, .from = from, .bytes = {bytes, len}};
  int rc = ctk_raft_protocol.step(nd->p, &ev, out);
  if (rc == CTK_OK) absorb(nd, out);
  return rc;
}

static ctk_status status(const node *nd) {
  ctk_status s;
  ctk_raft_protocol.status(nd->p, &s);
  return s;
}

static void assert_same_status(ctk_status a, ctk_status b) {
  assert_int_equal(a.role, b.role);
  assert_int_equal(a.term, b.term);
  assert_int_equal(a.leader_id, b.leader_id);
  assert_int_equal(a.commit_index, b.commit_index);
  assert_int_equal(a.log_length, b.log_length);
}

/* Delivers a message that must be refused: CTK_ERR_MALFORMED, an empty output, no change. */
static void assert_malformed(node *nd, int from, const uint8_t *bytes, size_t len) {
  ctk_status before = status(nd);
  size_t durable = nd->durable_len;
  ctk_output out;
  assert_int_equal(deliver(nd, from, bytes, len, &out), CTK_ERR_MALFORMED);
  assert_int_equal(out.persist.len, 0);
  assert_int_equal(out.n_messages, 0);
  assert_int_equal(out.n_commits, 0);
  assert_same_status(before, status(nd));
  assert_int_equal(nd->durable_len, durable);
}

/* A log of n entries of the given term with short distinct commands. */
static void make_log(raft_log *log, uint64_t n, uint64_t term, size_t cmd_len) {
  raft_log_init(log);
  uint8_t cmd[CTK_MAX_COMMAND_BYTES];
  for (uint64_t i = 0; i < n; i++) {
    memset(cmd, 'a' + (int)(i % 26), cmd_len);
    assert_int_equal(raft_log_append(log, term, cmd, cmd_len), 0);
  }
}

/* One valid message of each type, encoded into w; returns how many. */
enum { N_SAMPLES = 12 };
static void encode_sample(wire_writer *w, int k, const raft_log *log) {
  wire_writer_reset(w);
  static const uint8_t cmd[] = "set k v";
  switch (k) {
  case 0: raft_encode_vote_request(w, 1, 4, 8, 3); break;
  case 1: raft_encode_vote_request(w, 0, 4, 8, 3); break;
  case 2: raft_encode_vote_reply(w, 1, 4, 1); break;
  case 3: raft_encode_vote_reply(w, 0, 4, 0); break;
  case 4: raft_encode_append(w, 3, 0, 0, 0, log, 3); break;
  case 5: raft_encode_append(w, 3, 0, 0, 2, log, 0); break;
  case 6: raft_encode_append_reply(w, 3, 1, 8, 0, 0); break;
  case 7: raft_encode_append_reply(w, 3, 0, 9, 2, 5); break;
  case 9: {
    raft_snapshot_meta meta = {7, 2, {.voters = 7}};
    raft_encode_snapshot(w, 3, &meta, 512, 1, cmd, sizeof cmd - 1);
    break;
  }
  case 10: raft_encode_snapshot_reply(w, 3, 7, 1024, 0); break;
  case 11: raft_encode_snapshot_reply(w, 3, 7, 0, 1); break;
  default: raft_encode_forward(w, cmd, sizeof cmd - 1); break;
  }
}

static const char *const sample_text[N_SAMPLES] = {
    "PreVote t=4 last=8/3",
    "RequestVote t=4 last=8/3",
    "PreVoteReply t=4 granted",
    "VoteReply t=4 refused",
    "AppendEntries t=3 prev=0/0 n=3 commit=0",
    "AppendEntries t=3 prev=0/0 n=0 commit=2",
    "AppendEntriesReply t=3 ok match=8",
    "AppendEntriesReply t=3 reject prev=9 hint=5/2",
    "Forward n=1",
    "InstallSnapshot t=3 last=7/2 offset=512 len=7 done",
    "InstallSnapshotReply t=3 last=7 offset=1024",
    "InstallSnapshotReply t=3 last=7 installed at 7",
};

static void round_trip_each_type(void **state) {
  (void)state;
  raft_log log;
  make_log(&log, 3, 2, 5);
  wire_writer w;
  wire_writer_init(&w);
  char buf[128];
  for (int k = 0; k < N_SAMPLES; k++) {
    encode_sample(&w, k, &log);
    raft_msg m;
    assert_int_equal(raft_msg_decode(w.data, w.len, &m), CTK_OK);
    assert_int_equal(w.data[0], RAFT_WIRE_VERSION);
    int n = ctk_raft_protocol.describe(w.data, w.len, buf, sizeof buf);
    assert_int_equal(n, (int)strlen(sample_text[k]));
    assert_string_equal(buf, sample_text[k]);
  }
  /* The entries come back as they went in. */
  encode_sample(&w, 4, &log);
  raft_msg m;
  assert_int_equal(raft_msg_decode(w.data, w.len, &m), CTK_OK);
  raft_entry_iter it;
  raft_entry_iter_init(&it, &m);
  for (uint64_t i = 1; i <= 3; i++) {
    uint64_t term;
    const uint8_t *data;
    size_t len;
    raft_entry_iter_next(&it, &term, &data, &len);
    assert_int_equal(term, 2);
    assert_int_equal(len, 5);
    assert_memory_equal(data, log.entries[i - 1].data, 5);
  }
  /* describe clips to a small buffer and still says how much it wrote. */
  encode_sample(&w, 1, &log);
  assert_int_equal(ctk_raft_protocol.describe(w.data, w.len, buf, 8), 7);
  assert_string_equal(buf, "Request");
  wire_writer_free(&w);
  raft_log_free(&log);
}

static void round_trip_by_stepping(void **state) {
  (void)state;
  /* A message a node sends is one another node accepts: an election of two nodes. */
  node a, b;
  node_init(&a, 0, 2, NULL);
  node_init(&b, 1, 2, NULL);
  ctk_event ev = {.kind = CTK_EVENT_TIMEOUT, .now_us = 2000 * MS};
  ctk_output out;
  assert_int_equal(ctk_raft_protocol.step(a.p, &ev, &out), CTK_OK);
  absorb(&a, &out);
  assert_int_equal(out.n_messages, 1);
  uint8_t copy[256];
  size_t len = out.messages[0].bytes.len;
  memcpy(copy, out.messages[0].bytes.data, len);
  b.now = a.now = 2000 * MS;
  assert_int_equal(deliver(&b, 0, copy, len, &out), CTK_OK);
  assert_int_equal(out.n_messages, 1);
  char buf[64];
  const ctk_bytes *reply = &out.messages[0].bytes;
  ctk_raft_protocol.describe(reply->data, reply->len, buf, sizeof buf);
  assert_string_equal(buf, "PreVoteReply t=1 granted");
  node_free(&a);
  node_free(&b);
}

static void every_truncation_rejected(void **state) {
  (void)state;
  raft_log log;
  make_log(&log, 3, 2, 5);
  wire_writer w;
  wire_writer_init(&w);
  node nd;
  node_init(&nd, 1, 3, NULL);
  for (int k = 0; k < N_SAMPLES; k++) {
    encode_sample(&w, k, &log);
    for (size_t len = 0; len < w.len; len++) {
      uint8_t *copy = malloc(len + 1); /* exact size, so ASan sees any overread */
      memcpy(copy, w.data, len);
      assert_malformed(&nd, 0, len ? copy : NULL, len);
      assert_true(ctk_raft_protocol.describe(copy, len, (char[8]){0}, 8) < 0);
      free(copy);
    }
    /* And one byte too many. */
    uint8_t *longer = malloc(w.len + 1);
    memcpy(longer, w.data, w.len);
    longer[w.len] = 0;
    assert_malformed(&nd, 0, longer, w.len + 1);
    free(longer);
  }
  wire_writer_free(&w);
  raft_log_free(&log);
  node_free(&nd);
}

static void bad_version_type_and_fields_rejected(void **state) {
  (void)state;
  raft_log log;
  make_log(&log, 3, 2, 5);
  wire_writer w;
  wire_writer_init(&w);
  node nd;
  node_init(&nd, 1, 3, NULL);
  for (int k = 0; k < N_SAMPLES; k++) {
    encode_sample(&w, k, &log);
    w.data[0] = RAFT_WIRE_VERSION + 1;
    assert_malformed(&nd, 0, w.data, w.len);
    w.data[0] = 0;
    assert_malformed(&nd, 0, w.data, w.len);
    w.data[0] = RAFT_WIRE_VERSION;
    for (int type = 0; type < 256; type++) {
      if (type >= RAFT_MSG_PREVOTE && type <= RAFT_MSG_SNAPSHOT_REPLY) continue;
      w.data[1] = (uint8_t)type;
      assert_malformed(&nd, 0, w.data, w.len);
    }
  }
  /* Fields that make no sense. */
  wire_writer_reset(&w);
  raft_encode_vote_request(&w, 0, 0, 0, 0); /* term 0 */
  assert_malformed(&nd, 0, w.data, w.len);
  wire_writer_reset(&w);
  raft_encode_vote_request(&w, 0, 3, 5, 4); /* last term above the term */
  assert_malformed(&nd, 0, w.data, w.len);
  wire_writer_reset(&w);
  raft_encode_vote_request(&w, 0, 3, 5, 0); /* an index with no term */
  assert_malformed(&nd, 0, w.data, w.len);
  wire_writer_reset(&w);
  raft_encode_vote_request(&w, 1, 3, RAFT_MAX_INDEX, 1); /* absurd index */
  assert_malformed(&nd, 0, w.data, w.len);
  wire_writer_reset(&w);
  raft_encode_vote_reply(&w, 0, 3, 1);
  w.data[w.len - 1] = 2; /* granted is a boolean */
  assert_malformed(&nd, 0, w.data, w.len);
  wire_writer_reset(&w);
  raft_encode_append(&w, 1, 0, 0, 0, &log, 3); /* entries of term 2 in a term-1 message */
  assert_malformed(&nd, 0, w.data, w.len);
  wire_writer_reset(&w);
  raft_encode_append(&w, 3, 2, 3, 0, &log, 0); /* prev term 3, then ... fine alone */
  ctk_output out;
  assert_int_equal(deliver(&nd, 0, w.data, w.len, &out), CTK_OK);
  raft_log mixed;
  raft_log_init(&mixed);
  raft_log_append(&mixed, 3, NULL, 0);
  raft_log_append(&mixed, 2, NULL, 0); /* terms going down */
  wire_writer_reset(&w);
  raft_encode_append(&w, 3, 0, 0, 0, &mixed, 2);
  assert_malformed(&nd, 0, w.data, w.len);
  wire_writer_reset(&w);
  raft_encode_append(&w, 4, 1, 3, 0, &mixed, 0); /* prev 1/3, then entries below it */
  w.len -= 4;
  wire_put_u32(&w, 1);
  wire_put_u64(&w, 2);
  wire_put_blob(&w, "x", 1);
  assert_malformed(&nd, 0, w.data, w.len);
  wire_writer_reset(&w);
  raft_encode_append_reply(&w, 3, 1, 5, 1, 0); /* success with a conflict hint */
  assert_malformed(&nd, 0, w.data, w.len);
  wire_writer_reset(&w);
  raft_encode_append_reply(&w, 3, 0, 5, 2, 9); /* hint past the rejected index */
  assert_malformed(&nd, 0, w.data, w.len);
  wire_writer_reset(&w);
  raft_encode_append_reply(&w, 3, 0, 5, 4, 2); /* hint term above the reply's term */
  assert_malformed(&nd, 0, w.data, w.len);
  raft_snapshot_meta meta = {7, 2, {.voters = 7}};
  wire_writer_reset(&w);
  raft_encode_snapshot(&w, 1, &meta, 0, 1, NULL, 0); /* last term above the term */
  assert_malformed(&nd, 0, w.data, w.len);
  meta = (raft_snapshot_meta){0, 0, {.voters = 7}};
  wire_writer_reset(&w);
  raft_encode_snapshot(&w, 3, &meta, 0, 1, NULL, 0); /* a snapshot of nothing */
  assert_malformed(&nd, 0, w.data, w.len);
  meta = (raft_snapshot_meta){7, 2, {.voters = 7}};
  wire_writer_reset(&w);
  raft_encode_snapshot(&w, 3, &meta, 0, 1, NULL, 0);
  w.data[2 + 8 + 4] = RAFT_SNAPSHOT_META_VERSION + 1; /* meta of an unknown version */
  assert_malformed(&nd, 0, w.data, w.len);
  wire_writer_reset(&w);
  raft_encode_snapshot(&w, 3, &meta, RAFT_MAX_SNAPSHOT_BYTES, 0, (const uint8_t *)"x", 1);
  assert_malformed(&nd, 0, w.data, w.len); /* a chunk past the largest snapshot */
  wire_writer_reset(&w);
  raft_encode_snapshot(&w, 3, &meta, 0, 1, NULL, 0);
  w.data[w.len - 5] = 2; /* done is a boolean */
  assert_malformed(&nd, 0, w.data, w.len);
  wire_writer_reset(&w);
  raft_encode_snapshot_reply(&w, 3, RAFT_MAX_INDEX, 0, 0); /* absurd index */
  assert_malformed(&nd, 0, w.data, w.len);
  raft_log_free(&mixed);
  wire_writer_free(&w);
  raft_log_free(&log);
  node_free(&nd);
}

static void oversized_lengths_rejected(void **state) {
  (void)state;
  node nd;
  node_init(&nd, 1, 3, NULL);
  wire_writer w;
  wire_writer_init(&w);
  /* An entry claiming more than a command may hold (and more than the message has). */
  raft_log log;
  make_log(&log, 1, 1, 4);
  raft_encode_append(&w, 1, 0, 0, 0, &log, 1);
  wire_patch_u32(&w, w.len - 8, CTK_MAX_COMMAND_BYTES + 1);
  assert_malformed(&nd, 0, w.data, w.len);
  wire_patch_u32(&w, w.len - 8, 0xFFFFFFFFu);
  assert_malformed(&nd, 0, w.data, w.len);
  /* A command of CTK_MAX_COMMAND_BYTES + 1 really present. */
  wire_writer_reset(&w);
  wire_put_u8(&w, RAFT_WIRE_VERSION);
  wire_put_u8(&w, RAFT_MSG_FORWARD);
  wire_put_u32(&w, 1);
  uint8_t *big = calloc(1, CTK_MAX_COMMAND_BYTES + 1);
  wire_put_blob(&w, big, CTK_MAX_COMMAND_BYTES + 1);
  assert_malformed(&nd, 0, w.data, w.len);
  free(big);
  /* An entry count past the hard cap, and past max_batch (64 by default). */
  wire_writer_reset(&w);
  raft_encode_append(&w, 1, 0, 0, 0, &log, 0);
  wire_patch_u32(&w, w.len - 4, RAFT_MAX_ENTRIES_PER_MSG + 1);
  assert_malformed(&nd, 0, w.data, w.len);
  wire_patch_u32(&w, w.len - 4, 0xFFFFFFFFu);
  assert_malformed(&nd, 0, w.data, w.len);
  raft_log_free(&log);
  make_log(&log, 65, 1, 1);
  wire_writer_reset(&w);
  raft_encode_append(&w, 1, 0, 0, 0, &log, 65);
  assert_int_equal(raft_msg_decode(w.data, w.len, (raft_msg[1]){0}), CTK_OK);
  assert_malformed(&nd, 0, w.data, w.len);
  /* Forward counts: zero, or over the cap. */
  wire_writer_reset(&w);
  raft_encode_forward(&w, (const uint8_t *)"x", 1);
  wire_patch_u32(&w, 2, 0);
  assert_malformed(&nd, 0, w.data, w.len);
  wire_patch_u32(&w, 2, RAFT_MAX_FORWARD + 1);
  assert_malformed(&nd, 0, w.data, w.len);
  /* A whole message over CTK_MAX_MESSAGE_BYTES. */
  uint8_t *huge = calloc(1, CTK_MAX_MESSAGE_BYTES + 1);
  huge[0] = RAFT_WIRE_VERSION;
  huge[1] = RAFT_MSG_APPEND;
  assert_malformed(&nd, 0, huge, CTK_MAX_MESSAGE_BYTES + 1);
  free(huge);
  raft_log_free(&log);
  wire_writer_free(&w);
  node_free(&nd);
}

static void sender_out_of_range_rejected(void **state) {
  (void)state;
  node nd;
  node_init(&nd, 1, 3, NULL);
  wire_writer w;
  wire_writer_init(&w);
  raft_encode_vote_request(&w, 0, 2, 0, 0);
  int senders[] = {-1, 1, 3, 16, 1000, -100000};
  for (size_t k = 0; k < sizeof senders / sizeof senders[0]; k++)
    assert_malformed(&nd, senders[k], w.data, w.len);
  ctk_output out;
  assert_int_equal(deliver(&nd, 2, w.data, w.len, &out), CTK_OK); /* a real sender: fine */
  assert_int_equal(status(&nd).term, 2);
  wire_writer_free(&w);
  node_free(&nd);
}

static void events_out_of_order_rejected(void **state) {
  (void)state;
  ctk_raft_options o;
  default_options(&o);
  ctk_proto *p = create(0, 3, &o);
  ctk_output out;
  ctk_event ev = {.kind = CTK_EVENT_TIMEOUT, .now_us = 1};
  assert_int_equal(ctk_raft_protocol.step(p, &ev, &out), CTK_ERR_INVALID); /* before START */
  assert_int_equal(out.n_messages, 0);
  ev.kind = CTK_EVENT_START;
  assert_int_equal(ctk_raft_protocol.step(p, &ev, &out), CTK_OK);
  assert_int_equal(ctk_raft_protocol.step(p, &ev, &out), CTK_ERR_INVALID); /* START twice */
  ev.kind = (ctk_event_kind)99;
  assert_int_equal(ctk_raft_protocol.step(p, &ev, &out), CTK_ERR_INVALID);
  ctk_raft_protocol.destroy(p);
  /* Bad options and configs. */
  char err[128];
  ctk_node_config cfg = {.node_id = 3, .n_nodes = 3, .seed = 1};
  assert_null(ctk_raft_protocol.create(&cfg, &o, err, sizeof err));
  cfg = (ctk_node_config){.node_id = 0, .n_nodes = CTK_MAX_NODES + 1, .seed = 1};
  assert_null(ctk_raft_protocol.create(&cfg, &o, err, sizeof err));
  cfg.n_nodes = 3;
  o.election_timeout_ms[0] = 500;
  assert_null(ctk_raft_protocol.create(&cfg, &o, err, sizeof err));
  assert_true(strlen(err) > 0);
}

/* Random bytes, random bytes behind a valid header, and valid messages with random damage:
 * every one is refused or handled, never a crash or an out-of-bounds read (under ASan). */
static void random_bytes_never_crash(void **state) {
  (void)state;
  node nd;
  node_init(&nd, 1, 3, NULL);
  raft_log log;
  make_log(&log, 3, 2, 5);
  wire_writer w;
  wire_writer_init(&w);
  ctk_rng rng;
  ctk_rng_seed(&rng, 12345);
  int accepted = 0;
  char buf[128];
  for (int i = 0; i < 100000; i++) {
    size_t len;
    uint8_t *bytes;
    int kind = i % 3;
    if (kind == 2) {
      encode_sample(&w, (int)ctk_rng_range(&rng, 0, N_SAMPLES - 1), &log);
      len = w.len;
      bytes = malloc(len);
      memcpy(bytes, w.data, len);
      int flips = (int)ctk_rng_range(&rng, 1, 3);
      for (int f = 0; f < flips; f++)
        bytes[ctk_rng_range(&rng, 2, len - 1)] ^= (uint8_t)(1u << ctk_rng_range(&rng, 0, 7));
      if (ctk_rng_chance(&rng, 0.2)) len = ctk_rng_range(&rng, 0, len);
    } else {
      len = ctk_rng_range(&rng, 0, 80);
      bytes = malloc(len + 1);
      for (size_t k = 0; k < len; k++) bytes[k] = (uint8_t)ctk_rng_next(&rng);
      if (kind == 1 && len >= 2) {
        bytes[0] = RAFT_WIRE_VERSION;
        bytes[1] = (uint8_t)ctk_rng_range(&rng, 1, 7);
      }
    }
    int from = ctk_rng_chance(&rng, 0.9) ? (ctk_rng_chance(&rng, 0.5) ? 0 : 2)
                                         : (int)ctk_rng_range(&rng, 0, 5) - 2;
    ctk_status before = status(&nd);
    ctk_output out;
    nd.now += 1000;
    int rc = deliver(&nd, from, len ? bytes : NULL, len, &out);
    assert_true(rc == CTK_OK || rc == CTK_ERR_MALFORMED);
    if (rc == CTK_OK) {
      accepted++;
      assert_true(ctk_raft_protocol.describe(bytes, len, buf, sizeof buf) > 0);
    } else {
      assert_same_status(before, status(&nd));
      assert_int_equal(out.persist.len + out.n_messages + out.n_commits, 0);
      ctk_raft_protocol.describe(bytes, len, buf, sizeof buf);
    }
    free(bytes);
  }
  assert_true(accepted > 100); /* the damage test reached the handlers, not just the decoder */
  /* Whatever it accepted, its durable bytes still recover. */
  ctk_status s = status(&nd);
  ctk_raft_protocol.destroy(nd.p);
  ctk_raft_options o;
  default_options(&o);
  nd.p = create(1, 3, &o);
  assert_int_equal(start_bytes(&nd, nd.durable, nd.durable_len), CTK_OK);
  assert_int_equal(status(&nd).term, s.term);
  assert_int_equal(status(&nd).log_length, s.log_length);
  wire_writer_free(&w);
  raft_log_free(&log);
  node_free(&nd);
}

/* ---- durable bytes ---- */

/* Builds a node whose durable bytes hold a vote, some entries, a truncation and more entries. */
static void build_history(node *nd) {
  node_init(nd, 1, 3, NULL);
  wire_writer w;
  wire_writer_init(&w);
  raft_log log;
  make_log(&log, 4, 1, 10);
  ctk_output out;
  raft_encode_vote_request(&w, 0, 1, 0, 0);
  assert_int_equal(deliver(nd, 0, w.data, w.len, &out), CTK_OK);
  wire_writer_reset(&w);
  raft_encode_append(&w, 1, 0, 0, 1, &log, 4);
  assert_int_equal(deliver(nd, 0, w.data, w.len, &out), CTK_OK);
  raft_log_free(&log);
  make_log(&log, 2, 2, 3);
  log.entries[0].term = 1; /* prev 1/1 */
  wire_writer_reset(&w);
  raft_encode_append(&w, 2, 1, 1, 1, &log, 1); /* entry 2 of term 2: truncates 2..4 */
  assert_int_equal(deliver(nd, 2, w.data, w.len, &out), CTK_OK);
  assert_int_equal(status(nd).log_length, 2);
  raft_log_free(&log);
  wire_writer_free(&w);
}

static node restarted(const node *from, const uint8_t *bytes, size_t len, int *rc) {
  node nd = {.id = from->id, .n = from->n, .now = from->now};
  ctk_raft_options o;
  default_options(&o);
  nd.p = create(from->id, from->n, &o);
  *rc = start_bytes(&nd, bytes, len);
  return nd;
}

static void durable_torn_tail_ignored(void **state) {
  (void)state;
  node nd;
  build_history(&nd);
  /* The full bytes recover everything. */
  int rc;
  node r = restarted(&nd, nd.durable, nd.durable_len, &rc);
  assert_int_equal(rc, CTK_OK);
  assert_int_equal(status(&r).term, 2);
  assert_int_equal(status(&r).log_length, 2);
  assert_int_equal(status(&r).commit_index, 0);
  assert_int_equal(raft_log_term_at(&((raft *)r.p)->log, 2), 2);
  node_free(&r);
  /* Every prefix recovers (a torn last record is dropped), to a state that only grows. */
  uint64_t last_term = 0, replaced = 0;
  for (size_t len = 0; len <= nd.durable_len; len++) {
    uint8_t *copy = malloc(len + 1);
    memcpy(copy, nd.durable, len);
    r = restarted(&nd, copy, len, &rc);
    assert_int_equal(rc, CTK_OK);
    assert_true(status(&r).term >= last_term);
    last_term = status(&r).term;
    replaced += r.replaced;
    if (r.replaced) { /* the rewrite after a torn tail recovers to the same state */
      int rc2;
      node r2 = restarted(&r, r.durable, r.durable_len, &rc2);
      assert_int_equal(rc2, CTK_OK);
      assert_int_equal(r2.replaced, 0);
      assert_same_status(status(&r), status(&r2));
      node_free(&r2);
    }
    node_free(&r);
    free(copy);
  }
  assert_true(replaced > 0);
  node_free(&nd);
}

static void durable_corruption_in_the_middle(void **state) {
  (void)state;
  node nd;
  build_history(&nd);
  int rc;
  /* Flip each byte but those of the last record: a bad record followed by a good one. */
  size_t last_record = 0;
  for (size_t pos = 0; pos < nd.durable_len;) {
    wire_reader r;
    wire_reader_init(&r, nd.durable + pos, 4);
    size_t next = pos + 12 + wire_get_u32(&r);
    if (next == nd.durable_len) last_record = pos;
    pos = next;
  }
  assert_true(last_record > 0);
  int corrupt = 0;
  for (size_t k = 0; k < last_record; k++) {
    uint8_t *copy = malloc(nd.durable_len);
    memcpy(copy, nd.durable, nd.durable_len);
    copy[k] ^= 0x40;
    node r = restarted(&nd, copy, nd.durable_len, &rc);
    /* The header's own CRC keeps a damaged length from passing for a torn tail. */
    if (rc == CTK_ERR_CORRUPT) corrupt++;
    node_free(&r);
    free(copy);
  }
  assert_int_equal(corrupt, (int)last_record);
  /* Damage in the last record alone, even in its header, is a torn tail: dropped. */
  for (size_t k = last_record; k < nd.durable_len; k++) {
    uint8_t *bad = malloc(nd.durable_len);
    memcpy(bad, nd.durable, nd.durable_len);
    bad[k] ^= 0x08;
    node t = restarted(&nd, bad, nd.durable_len, &rc);
    assert_int_equal(rc, CTK_OK);
    assert_true(t.replaced);
    node_free(&t);
    free(bad);
  }
  /* So is garbage behind the last record. */
  uint8_t *garbage = malloc(nd.durable_len + 100);
  memcpy(garbage, nd.durable, nd.durable_len);
  for (size_t k = 0; k < 100; k++) garbage[nd.durable_len + k] = (uint8_t)(k * 37 + 11);
  node g = restarted(&nd, garbage, nd.durable_len + 100, &rc);
  assert_int_equal(rc, CTK_OK);
  assert_int_equal(status(&g).log_length, 2);
  node_free(&g);
  free(garbage);
  uint8_t *copy = malloc(nd.durable_len);
  memcpy(copy, nd.durable, nd.durable_len);
  copy[nd.durable_len - 1] ^= 1;
  node r = restarted(&nd, copy, nd.durable_len, &rc);
  assert_int_equal(rc, CTK_OK);
  assert_true(r.replaced);
  node_free(&r);
  free(copy);
  node_free(&nd);
}

static void durable_semantic_errors_corrupt(void **state) {
  (void)state;
  /* Records whose CRC is fine but whose content is impossible. */
  node nd;
  node_init(&nd, 0, 3, NULL);
  wire_writer w;
  wire_writer_init(&w);
  uint8_t payload[64];
  struct {
    uint8_t bytes[32];
    size_t len;
  } cases[] = {
      {{2, 9}, 2},                                         /* unknown record type */
      {{2, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 7}, 14},    /* vote for node 7 of 3 */
      {{1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}, 14},    /* record version 1 (no entry types) */
      {{3, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}, 14},    /* unknown record version */
      {{2, 3, 0, 0, 0, 0, 0, 0, 0, 5}, 10},                /* truncate past the end */
      {{2, 2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0}, 14},    /* entries not at the end */
      {{2, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0}, 15}, /* trailing byte */
      {{1, 5, 0, 0, 0, 0}, 6},                             /* a snapshot in a version 1 record */
      {{2, 6, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}, 18}, /* log base of a future term */
      {{2, 5, 0, 0, 0, 5, 9, 0, 0, 0, 0}, 11}, /* snapshot meta of an unknown version */
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    wire_writer_reset(&w);
    memcpy(payload, cases[k].bytes, cases[k].len);
    for (int twice = 0; twice < 2; twice++) { /* followed by a second copy: not a tail */
      size_t at = w.len;
      wire_put_u32(&w, (uint32_t)cases[k].len);
      wire_put_u32(&w, wire_crc32c(payload, cases[k].len));
      wire_put_u32(&w, wire_crc32c(w.data + at, 8));
      wire_put_bytes(&w, payload, cases[k].len);
    }
    int rc;
    node r = restarted(&nd, w.data, w.len, &rc);
    assert_int_equal(rc, CTK_ERR_CORRUPT);
    assert_same_status(status(&r), status(&(node){.p = r.p})); /* still usable for status */
    ctk_output out;
    ctk_event ev = {.kind = CTK_EVENT_START, .now_us = 1, .bytes = {NULL, 0}};
    assert_int_equal(ctk_raft_protocol.step(r.p, &ev, &out), CTK_OK); /* a later START works */
    node_free(&r);
  }
  wire_writer_free(&w);
  node_free(&nd);
}

/* A durable stream that keeps growing while the live state does not is rewritten whole. */
static void durable_compaction(void **state) {
  (void)state;
  node nd;
  node_init(&nd, 1, 3, NULL);
  wire_writer w;
  wire_writer_init(&w);
  raft_log log;
  make_log(&log, 1, 1, 4000);
  ctk_output out;
  size_t max_durable = 0;
  for (uint64_t term = 1; term <= 600; term++) {
    log.entries[0].term = term;
    wire_writer_reset(&w);
    raft_encode_append(&w, term, 0, 0, 0, &log, 1); /* replaces entry 1 every time */
    assert_int_equal(deliver(&nd, 0, w.data, w.len, &out), CTK_OK);
    if (nd.durable_len > max_durable) max_durable = nd.durable_len;
  }
  assert_true(nd.replaced);
  assert_true(max_durable < 2 * RAFT_COMPACT_MIN_BYTES);
  int rc;
  node r = restarted(&nd, nd.durable, nd.durable_len, &rc);
  assert_int_equal(rc, CTK_OK);
  assert_int_equal(status(&r).term, 600);
  assert_int_equal(status(&r).log_length, 1);
  assert_int_equal(raft_log_term_at(&((raft *)r.p)->log, 1), 600);
  node_free(&r);
  raft_log_free(&log);
  wire_writer_free(&w);
  node_free(&nd);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(round_trip_each_type),
      cmocka_unit_test(round_trip_by_stepping),
      cmocka_unit_test(every_truncation_rejected),
      cmocka_unit_test(bad_version_type_and_fields_rejected),
      cmocka_unit_test(oversized_lengths_rejected),
      cmocka_unit_test(sender_out_of_range_rejected),
      cmocka_unit_test(events_out_of_order_rejected),
      cmocka_unit_test(random_bytes_never_crash),
      cmocka_unit_test(durable_torn_tail_ignored),
      cmocka_unit_test(durable_corruption_in_the_middle),
      cmocka_unit_test(durable_semantic_errors_corrupt),
      cmocka_unit_test(durable_compaction),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
