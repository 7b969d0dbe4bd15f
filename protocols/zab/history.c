/* history.c: a node's history, its accepted proposals in zxid order at positions 1 .. n. */
#include <stdlib.h>
#include <string.h>

#include "zab_internal.h"

void zab_history_free(zab_history *h) {
  zab_history_truncate(h, 0);
  free(h->e);
  memset(h, 0, sizeof *h);
}

int zab_history_append(zab_history *h, uint64_t zxid, const uint8_t *data, size_t len) {
  if (h->n == h->cap) {
    uint64_t cap = h->cap ? h->cap * 2 : 64;
    zab_entry *e = realloc(h->e, cap * sizeof *e);
    if (!e) return -1;
    h->e = e;
    h->cap = cap;
  }
  uint8_t *copy = NULL;
  if (len > 0) {
    copy = malloc(len);
    if (!copy) return -1;
    memcpy(copy, data, len);
  }
  h->e[h->n++] = (zab_entry){zxid, (uint32_t)len, copy};
  h->bytes += 12 + len;
  return 0;
}

void zab_history_truncate(zab_history *h, uint64_t n) {
  while (h->n > n) {
    zab_entry *e = &h->e[--h->n];
    h->bytes -= 12 + e->len;
    free(e->data);
    e->data = NULL;
  }
}

uint64_t zab_history_count_below(const zab_history *h, uint64_t zxid) {
  uint64_t lo = 0, hi = h->n; /* zxids strictly increase: a binary search */
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    if (h->e[mid].zxid < zxid)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

uint64_t zab_history_find(const zab_history *h, uint64_t zxid) {
  uint64_t below = zab_history_count_below(h, zxid);
  return below < h->n && h->e[below].zxid == zxid ? below + 1 : 0;
}

void zab_history_move(zab_history *dst, zab_history *src) {
  zab_history_free(dst);
  *dst = *src;
  memset(src, 0, sizeof *src);
}
