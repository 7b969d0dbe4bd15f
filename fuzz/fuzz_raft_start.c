/* fuzz_raft_start.c: libFuzzer target: arbitrary bytes as a Raft node's durable state. Recovery
 * must succeed or answer CTK_ERR_CORRUPT, never crash or read out of bounds. */
#include <stdint.h>
#include <stdlib.h>

#include "protocol.h"
#include "raft/raft.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ctk_raft_options options;
  ctk_protocol_default_options(&ctk_raft_protocol, &options);
  ctk_node_config config = {.node_id = 1, .n_nodes = 5, .seed = 1};
  char err[128];
  ctk_proto *p = ctk_raft_protocol.create(&config, &options, err, sizeof err);
  if (!p) abort();
  ctk_output out;
  ctk_event start = {.kind = CTK_EVENT_START, .now_us = 1, .bytes = {data, size}};
  int rc = ctk_raft_protocol.step(p, &start, &out);
  if (rc != CTK_OK && rc != CTK_ERR_CORRUPT) abort();
  if (rc == CTK_OK) { /* a recovered node keeps working */
    ctk_event timeout = {.kind = CTK_EVENT_TIMEOUT, .now_us = 10000000};
    if (ctk_raft_protocol.step(p, &timeout, &out) != CTK_OK) abort();
  }
  ctk_raft_protocol.destroy(p);
  return 0;
}
