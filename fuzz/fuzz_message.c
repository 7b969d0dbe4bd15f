/* fuzz_message.c: libFuzzer target: arbitrary bytes as messages to a node of any registered
 * protocol (the first input byte picks it). Every message must be handled or rejected with
 * CTK_ERR_MALFORMED, and a rejected one must leave no output and no trace in the node's status.
 * Timeouts are interleaved so that candidates and leaders see the hostile bytes too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

static int same_status(const ctk_status *a, const ctk_status *b) {
  return a->role == b->role && a->term == b->term && a->leader_id == b->leader_id &&
         a->commit_index == b->commit_index && a->log_length == b->log_length;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const ctk_protocol_def *def = ctk_protocol_at(data[0] % ctk_protocol_count());
  data++, size--;
  void *options = calloc(1, def->options_size);
  if (!options) abort();
  ctk_protocol_default_options(def, options);
  ctk_node_config config = {.node_id = 0, .n_nodes = 3, .seed = 1};
  char err[160];
  ctk_proto *p = def->create(&config, options, err, sizeof err);
  if (!p) abort();
  ctk_output out;
  ctk_event start = {.kind = CTK_EVENT_START, .now_us = 1};
  if (def->step(p, &start, &out) != CTK_OK) abort();
  uint64_t deadline = out.next_deadline_us;
  /* The input is a sequence of [from byte][u16 length][bytes]; a from byte of 0xFF is a timeout
   * at the deadline the node asked for instead. */
  uint64_t now = 2;
  while (size >= 3) {
    if (data[0] == 0xFF) {
      data++, size--;
      if (deadline != CTK_DEADLINE_NONE && deadline > now) now = deadline;
      ctk_event tick = {.kind = CTK_EVENT_TIMEOUT, .now_us = now};
      if (def->step(p, &tick, &out) != CTK_OK) abort();
      deadline = out.next_deadline_us;
      continue;
    }
    int from = data[0] % 4; /* 3 is out of range on purpose */
    size_t len = (size_t)data[1] << 8 | data[2];
    data += 3, size -= 3;
    if (len > size) len = size;
    ctk_status before, after;
    def->status(p, &before);
    ctk_event ev = {.kind = CTK_EVENT_MESSAGE, .now_us = now++, .from = from, .bytes = {data, len}};
    int rc = def->step(p, &ev, &out);
    def->status(p, &after);
    if (rc != CTK_OK && rc != CTK_ERR_MALFORMED) abort();
    if (rc == CTK_ERR_MALFORMED &&
        (out.persist.len || out.n_messages || out.n_commits || !same_status(&before, &after)))
      abort();
    if (rc == CTK_OK) deadline = out.next_deadline_us;
    char desc[256];
    def->describe(data, len, desc, sizeof desc);
    data += len, size -= len;
  }
  def->destroy(p);
  free(options);
  return 0;
}
