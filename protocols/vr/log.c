/* log.c: a run of log entries, positions first .. first + len - 1, each an owned copy of one
 * client operation. The replica's log starts at position 1 until a checkpoint replaces its
 * beginning (snapshot.c); a stash (the best log of a view change, the primary's log in a
 * recovery) starts wherever its first chunk did. */
#include <stdlib.h>
#include <string.h>

#include "vr_internal.h"

void vr_log_init(vr_log *l, uint64_t first) {
  vr_log_free(l);
  l->first = first;
}

void vr_log_free(vr_log *l) {
  for (uint64_t i = 0; i < l->len; i++) free(l->e[i].data);
  free(l->e);
  *l = (vr_log){.first = l->first};
}

void vr_log_truncate(vr_log *l, uint64_t end) {
  while (l->len > 0 && vr_log_end(l) > end) {
    vr_entry *e = &l->e[--l->len];
    l->bytes -= e->len;
    free(e->data);
    e->data = NULL;
  }
}

void vr_log_discard_through(vr_log *l, uint64_t upto) {
  if (upto < l->first) return;
  uint64_t drop = upto - l->first + 1 < l->len ? upto - l->first + 1 : l->len;
  for (uint64_t i = 0; i < drop; i++) {
    l->bytes -= l->e[i].len;
    free(l->e[i].data);
  }
  if (l->len > drop) memmove(l->e, l->e + drop, (size_t)(l->len - drop) * sizeof *l->e);
  l->len -= drop;
  l->first = upto + 1;
  /* Give memory back once the array is mostly empty, so that it follows the retained entries. */
  if (l->cap > 1024 && l->cap > 4 * l->len) {
    uint64_t cap = l->len * 2 > 256 ? l->len * 2 : 256;
    vr_entry *e = realloc(l->e, cap * sizeof *e);
    if (e) {
      l->e = e;
      l->cap = cap;
    }
  }
}

int vr_log_append(vr_log *l, const uint8_t *data, size_t len) {
  if (l->len == l->cap) {
    uint64_t cap = l->cap ? l->cap * 2 : 256;
    vr_entry *e = realloc(l->e, cap * sizeof *e);
    if (!e) return -1;
    l->e = e;
    l->cap = cap;
  }
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) return -1;
  memcpy(copy, data, len);
  l->e[l->len++] = (vr_entry){(uint32_t)len, copy};
  l->bytes += len;
  return 0;
}

uint32_t vr_log_chunk(const vr_log *l, uint64_t from, uint64_t max) {
  uint32_t n = 0;
  size_t bytes = 0;
  if (from < l->first) return 0;
  for (uint64_t pos = from; pos <= vr_log_end(l) && n < max; pos++) {
    bytes += 4 + (size_t)vr_log_at(l, pos)->len; /* one blob */
    if (bytes > VR_MAX_ITEMS_BYTES) break;
    n++;
  }
  return n;
}

int vr_log_take(vr_log *l, const vr_msg *m) {
  uint64_t end = vr_log_end(l);
  vr_item_iter it;
  vr_item_iter_init(&it, m);
  for (uint64_t pos = m->first; pos < m->first + m->n; pos++) {
    size_t len;
    const uint8_t *data = vr_item_next(&it, &len);
    if (pos > end && vr_log_append(l, data, len) != 0) return -1;
  }
  return 0;
}
