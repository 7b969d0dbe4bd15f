/* fuzz_hostwire.c: libFuzzer target: arbitrary bytes as a frame of the real nodes' envelope
 * (hostwire.h): a peer frame, a client request or reply, a status reply, a fault set, an
 * operator request or its reply, and a peer identity. Every decoder must accept or refuse without
 * reading out of bounds, and what it accepts must encode back to a frame that decodes to the same
 * values. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hostwire.h"

static void peer(const uint8_t *data, size_t size) {
  int from;
  uint32_t tag;
  ctk_bytes msg;
  if (hw_get_peer(data, size, &from, &tag, &msg)) return;
  wire_writer w;
  wire_writer_init(&w);
  hw_put_peer(&w, from, tag, msg.data, msg.len);
  int from2;
  uint32_t tag2;
  ctk_bytes msg2;
  if (w.failed || hw_get_peer(w.data, w.len, &from2, &tag2, &msg2) || from2 != from ||
      tag2 != tag || msg2.len != msg.len || (msg.len && memcmp(msg.data, msg2.data, msg.len)))
    abort();
  wire_writer_free(&w);
}

static void reply(const uint8_t *data, size_t size) {
  hw_reply r;
  char value[4096];
  if (hw_get_reply(data, size, &r, value, sizeof value)) return;
  if (r.value && strlen(r.value) >= sizeof value) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  hw_frame_kind(data, size);
  peer(data, size);
  ctk_bytes command;
  if (hw_get_request(data, size, &command) == 0 && command.len > size) abort();
  reply(data, size);
  hw_status status;
  hw_get_status(data, size, &status);
  hw_faults faults;
  hw_get_faults(data, size, &faults);
  ctk_bytes request;
  if (hw_get_admin(data, size, &request) == 0 &&
      (request.len == 0 || request.len > HW_ADMIN_MAX_BYTES || request.len > size))
    abort();
  int rc, hint;
  if (hw_get_admin_reply(data, size, &rc, &hint) == 0 &&
      (rc > 0 || hint < -1 || hint >= CTK_MAX_NODES))
    abort();
  if (size >= 4) {
    uint32_t tag;
    memcpy(&tag, data, 4);
    int id = hw_peer_from_identity(data + 4, size - 4, tag, CTK_MAX_NODES);
    if (id >= CTK_MAX_NODES) abort();
  }
  return 0;
}
