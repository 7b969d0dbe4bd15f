/* snapheld.c: the snapshot a protocol holds and the one it receives in chunks (snapheld.h). */
#include "snapheld.h"

#include <stdlib.h>
#include <string.h>

int ctk_snap_taken_check(const ctk_event *ev, size_t max_bytes) {
  if (ev->index == 0 || (ev->bytes.len && !ev->bytes.data) || ev->bytes.len > max_bytes)
    return CTK_ERR_INVALID;
  return CTK_OK;
}

uint8_t *ctk_snap_copy(const uint8_t *data, size_t len) {
  uint8_t *copy = malloc(len ? len : 1);
  if (copy && len) memcpy(copy, data, len);
  return copy;
}

void ctk_snap_held_replace(ctk_snap_held *h, uint64_t index, uint8_t *data, size_t len) {
  free(h->data);
  h->data = data;
  h->len = len;
  h->index = index;
}

int ctk_snap_held_set(ctk_snap_held *h, uint64_t index, const uint8_t *data, size_t len) {
  uint8_t *copy = ctk_snap_copy(data, len);
  if (!copy) return -1;
  ctk_snap_held_replace(h, index, copy, len);
  return 0;
}

void ctk_snap_held_install(ctk_snap_held *h, ctk_snap_rx *rx) {
  ctk_snap_held_replace(h, rx->index, rx->data, (size_t)rx->total);
  rx->data = NULL;
  ctk_snap_rx_reset(rx, 0, 0);
  h->restored = 1;
}

void ctk_snap_held_output(ctk_snap_held *h, uint64_t applied, uint64_t every, ctk_output *out) {
  if (h->restored) {
    out->restore = (ctk_bytes){h->data, h->len};
    out->restore_index = h->index;
    h->restored = 0;
  }
  uint64_t last = h->index > h->asked ? h->index : h->asked;
  if (every && applied >= last + every) {
    out->snapshot_wanted = applied;
    h->asked = applied;
  }
}

size_t ctk_snap_chunk(size_t len, uint64_t *offset, uint64_t chunk_bytes) {
  if (*offset >= len) *offset = 0;
  size_t n = len - *offset;
  return n > chunk_bytes ? (size_t)chunk_bytes : n;
}

void ctk_snap_rx_reset(ctk_snap_rx *rx, uint64_t index, uint64_t total) {
  free(rx->data);
  rx->data = NULL;
  rx->cap = 0;
  rx->have = 0;
  rx->index = index;
  rx->total = total;
}

int ctk_snap_rx_append(ctk_snap_rx *rx, const uint8_t *data, size_t len) {
  if (rx->have + len > rx->cap) {
    uint64_t cap = rx->cap ? rx->cap * 2 : len;
    if (cap < rx->have + len) cap = rx->have + len;
    if (cap > rx->total) cap = rx->total;
    uint8_t *d = realloc(rx->data, (size_t)cap);
    if (!d) return -1;
    rx->data = d;
    rx->cap = (size_t)cap;
  }
  memcpy(rx->data + rx->have, data, len);
  rx->have += len;
  return 0;
}

void ctk_snap_held_free(ctk_snap_held *h) {
  free(h->data);
  *h = (ctk_snap_held){0};
}

void ctk_snap_rx_free(ctk_snap_rx *rx) {
  free(rx->data);
  *rx = (ctk_snap_rx){0};
}
