/* fuzz_start.c: libFuzzer target: arbitrary bytes as the durable state of a node of any
 * registered protocol (the first input byte picks it). Recovery must succeed or answer
 * CTK_ERR_CORRUPT, never crash or read out of bounds, and a recovered node keeps working. */
#include <stdint.h>
#include <stdlib.h>

#include "protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const ctk_protocol_def *def = ctk_protocol_at(data[0] % ctk_protocol_count());
  data++, size--;
  void *options = calloc(1, def->options_size);
  if (!options) abort();
  ctk_protocol_default_options(def, options);
  ctk_node_config config = {.node_id = 1, .n_nodes = 5, .seed = 1};
  char err[160];
  ctk_proto *p = def->create(&config, options, err, sizeof err);
  if (!p) abort();
  ctk_output out;
  ctk_event start = {.kind = CTK_EVENT_START, .now_us = 1, .bytes = {data, size}};
  int rc = def->step(p, &start, &out);
  if (rc != CTK_OK && rc != CTK_ERR_CORRUPT) abort();
  if (rc == CTK_OK) {
    ctk_event timeout = {.kind = CTK_EVENT_TIMEOUT, .now_us = 10000000};
    if (def->step(p, &timeout, &out) != CTK_OK) abort();
    ctk_event command = {
        .kind = CTK_EVENT_COMMAND, .now_us = 10000001, .bytes = {(const uint8_t *)"x", 1}};
    rc = def->step(p, &command, &out);
    if (rc != CTK_OK && rc != CTK_ERR_REJECTED && rc != CTK_ERR_BUSY) abort();
  }
  def->destroy(p);
  free(options);
  return 0;
}
