/* fuzz_raft_message.c: libFuzzer target: arbitrary bytes as messages to a Raft node. Every
 * message must be handled or rejected with CTK_ERR_MALFORMED, and a rejected one must leave no
 * output and no trace in the node's status. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"
#include "raft/raft.h"

static int same_status(const ctk_status *a, const ctk_status *b) {
  return a->role == b->role && a->term == b->term && a->leader_id == b->leader_id &&
         a->commit_index == b->commit_index && a->log_length == b->log_length;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ctk_raft_options options;
  ctk_protocol_default_options(&ctk_raft_protocol, &options);
  ctk_node_config config = {.node_id = 0, .n_nodes = 3, .seed = 1};
  char err[128];
  ctk_proto *p = ctk_raft_protocol.create(&config, &options, err, sizeof err);
  if (!p) abort();
  ctk_output out;
  ctk_event start = {.kind = CTK_EVENT_START, .now_us = 1};
  if (ctk_raft_protocol.step(p, &start, &out) != CTK_OK) abort();
  /* The input is a sequence of messages: [from byte][u16 length][bytes]. */
  uint64_t now = 2;
  while (size >= 3) {
    int from = data[0] % 4; /* 3 is out of range on purpose */
    size_t len = (size_t)data[1] << 8 | data[2];
    data += 3, size -= 3;
    if (len > size) len = size;
    ctk_status before, after;
    ctk_raft_protocol.status(p, &before);
    ctk_event ev = {.kind = CTK_EVENT_MESSAGE, .now_us = now++, .from = from, .bytes = {data, len}};
    int rc = ctk_raft_protocol.step(p, &ev, &out);
    ctk_raft_protocol.status(p, &after);
    if (rc != CTK_OK && rc != CTK_ERR_MALFORMED) abort();
    if (rc == CTK_ERR_MALFORMED &&
        (out.persist.len || out.n_messages || out.n_commits || !same_status(&before, &after)))
      abort();
    char desc[256];
    ctk_raft_protocol.describe(data, len, desc, sizeof desc);
    data += len, size -= len;
  }
  ctk_raft_protocol.destroy(p);
  return 0;
}
