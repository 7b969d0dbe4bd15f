/* fuzz_raft_valid.c: libFuzzer target: well-formed Raft messages with arbitrary fields (terms,
 * indexes, commit points, entries and membership configurations, snapshot chunks, replies about
 * anything, TimeoutNow), operator requests and timeouts, in any order, at a 3-node cluster's node
 * 0, which snapshots every 4 commits as a host would ask. Such
 * messages may be Byzantine, so no safety property is asserted; what must hold is that every one is
 * handled or rejected without a crash, an assertion or undefined behaviour, and that the node's
 * output stays well formed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"
#include "raft/raft.h"
#include "raft/raft_internal.h"

typedef struct input {
  const uint8_t *data;
  size_t size;
} input;

static uint64_t take(input *in, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes && in->size; i++, in->data++, in->size--) v = v << 8 | in->data[0];
  return v;
}

/* Small numbers are the interesting ones: terms and indexes near the node's own. */
static uint64_t small(input *in) { return take(in, 1) % 24; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ctk_raft_options options;
  ctk_protocol_default_options(&ctk_raft_protocol, &options);
  options.max_batch = 4;
  options.snapshot_every = 4;
  options.snapshot_keep = 1;
  options.snapshot_chunk_bytes = 64;
  ctk_node_config config = {.node_id = 0, .n_nodes = 3, .seed = 7};
  char err[128];
  ctk_proto *p = ctk_raft_protocol.create(&config, &options, err, sizeof err);
  if (!p) abort();
  ctk_output out;
  ctk_event start = {.kind = CTK_EVENT_START, .now_us = 1};
  if (ctk_raft_protocol.step(p, &start, &out) != CTK_OK) abort();
  input in = {data, size};
  wire_writer w;
  wire_writer_init(&w);
  raft_log entries;
  raft_log_init(&entries);
  uint64_t now = 2;
  while (in.size > 0) {
    uint8_t kind = (uint8_t)take(&in, 1) % 12;
    int from = 1 + (int)(take(&in, 1) % 2);
    now += take(&in, 2) * 100;
    wire_writer_reset(&w);
    ctk_event ev = {.kind = CTK_EVENT_MESSAGE, .now_us = now, .from = from};
    switch (kind) {
    case 0:
    case 1:
      raft_encode_vote_request_flags(&w, kind == 0, small(&in), small(&in), small(&in),
                                     kind == 1 && (take(&in, 1) & 1));
      break;
    case 2:
    case 3: raft_encode_vote_reply(&w, kind == 2, small(&in), (int)(take(&in, 1) & 1)); break;
    case 4: { /* AppendEntries carrying up to 4 entries of non-decreasing terms */
      uint64_t term = small(&in), prev = small(&in), prev_term = small(&in), commit = small(&in);
      uint64_t n = take(&in, 1) % 5, t = prev_term;
      /* the encoder takes positions prev + 1 .. prev + n of the log it is given */
      raft_log_truncate(&entries, 1);
      for (uint64_t i = 0; i < prev; i++) raft_log_append(&entries, prev_term, NULL, 0);
      for (uint64_t i = 0; i < n; i++) {
        t += take(&in, 1) % 2;
        if (t > term) t = term;
        uint8_t cmd[3] = {(uint8_t)i, 0, 1}, what = (uint8_t)take(&in, 1);
        if (what & 4) { /* a configuration of nodes 0-2 */
          raft_membership m = {.voters = 1u + (what >> 5) % 7,
                               .voters_old = (what >> 3) & 1 ? 3 : 0};
          m.learners = 7u & ~(m.voters | m.voters_old) & (what & 1 ? 7u : 0);
          wire_writer c;
          wire_writer_init(&c);
          raft_membership_encode(&c, &m);
          raft_log_append_typed(&entries, t, RAFT_ENTRY_CONFIG, c.data, c.len);
          wire_writer_free(&c);
        } else {
          raft_log_append(&entries, t, cmd, what % 2 ? sizeof cmd : 0);
        }
      }
      raft_encode_append(&w, term, prev, prev_term, commit, &entries, n);
      break;
    }
    case 5:
      raft_encode_append_reply(&w, small(&in), (int)(take(&in, 1) & 1), small(&in), small(&in),
                               small(&in));
      break;
    case 6: {
      uint8_t cmd[8];
      size_t len = 1 + take(&in, 1) % sizeof cmd;
      memset(cmd, (int)kind, len);
      raft_encode_forward(&w, cmd, len);
      break;
    }
    case 7: raft_encode_timeout_now(&w, small(&in)); break;
    case 8: { /* an operator request */
      static const char *const requests[] = {"add 1",    "remove 2", "transfer 1", "force 0,1",
                                             "remove 0", "add 2",    "force 0",    "add 7"};
      const char *req = requests[take(&in, 1) % 8];
      ev.kind = CTK_EVENT_ADMIN;
      wire_put_bytes(&w, req, strlen(req));
      break;
    }
    case 9: { /* an InstallSnapshot chunk */
      uint64_t term = small(&in);
      raft_snapshot_meta meta = {small(&in), small(&in), {.voters = 7}};
      uint64_t offset = take(&in, 1) % 4 * 8;
      int done = (int)(take(&in, 1) & 1);
      uint8_t chunk[16] = {0};
      raft_encode_snapshot(&w, term, &meta, offset, done, chunk, take(&in, 1) % sizeof chunk);
      break;
    }
    case 10:
      raft_encode_snapshot_reply(&w, small(&in), small(&in), take(&in, 1) % 4 * 8,
                                 (int)(take(&in, 1) & 1));
      break;
    default: ev.kind = CTK_EVENT_TIMEOUT; break;
    }
    if (w.failed) abort();
    ev.bytes = (ctk_bytes){w.data, w.len};
    int rc = ctk_raft_protocol.step(p, &ev, &out);
    if (rc != CTK_OK && rc != CTK_ERR_MALFORMED &&
        !(ev.kind == CTK_EVENT_ADMIN && (rc == CTK_ERR_REJECTED || rc == CTK_ERR_INVALID)))
      abort();
    for (size_t i = 0; i < out.n_messages; i++)
      if (out.messages[i].to < 1 || out.messages[i].to > 2) abort();
    for (size_t i = 1; i < out.n_commits; i++)
      if (out.commits[i].index != out.commits[i - 1].index + 1) abort();
    if (out.restore_index && out.n_commits && out.commits[0].index != out.restore_index + 1)
      abort();
    if (out.snapshot_wanted) { /* the host hands the snapshot back at once */
      uint8_t state[40] = {1};
      ctk_event snap = {.kind = CTK_EVENT_SNAPSHOT, .now_us = now, .index = out.snapshot_wanted};
      snap.bytes = (ctk_bytes){state, sizeof state};
      if (ctk_raft_protocol.step(p, &snap, &out) != CTK_OK) abort();
    }
  }
  raft_log_free(&entries);
  wire_writer_free(&w);
  ctk_raft_protocol.destroy(p);
  return 0;
}
