/* history.c: a node's history, its accepted proposals in zxid order at positions 1 .. n. Positions
 * 1 .. base were compacted away (snapshot.c): only their last zxid is known. */
#include <stdlib.h>
#include <string.h>

#include "zab_internal.h"

void zab_history_free(zab_history *h) {
  zab_history_truncate(h, h->base);
  free(h->e);
  memset(h, 0, sizeof *h);
}

int zab_history_append(zab_history *h, uint64_t zxid, uint8_t type, const uint8_t *data,
                       size_t len) {
  if (h->n - h->base == h->cap) {
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
  h->e[h->n++ - h->base] = (zab_entry){zxid, (uint32_t)len, type, copy};
  h->bytes += 13 + len;
  return 0;
}

int zab_history_append_msg(zab_history *h, const zab_msg *m) {
  int configs = 0;
  zab_item_iter it;
  zab_item e;
  for (zab_item_iter_init(&it, m); zab_item_next(&it, &e);) {
    if (zab_history_append(h, e.zxid, e.type, e.data, e.len) != 0) return -1;
    configs += e.type == ZAB_ENTRY_CONFIG;
  }
  return configs;
}

void zab_history_truncate(zab_history *h, uint64_t n) {
  if (n < h->base) n = h->base; /* compacted positions are committed: never taken back */
  while (h->n > n) {
    zab_entry *e = &h->e[--h->n - h->base];
    h->bytes -= 13 + e->len;
    free(e->data);
    e->data = NULL;
  }
}

void zab_history_compact(zab_history *h, uint64_t base) {
  if (base <= h->base) return;
  if (base > h->n) base = h->n;
  uint64_t drop = base - h->base;
  uint64_t zxid = h->e[drop - 1].zxid;
  for (uint64_t i = 0; i < drop; i++) {
    h->bytes -= 13 + h->e[i].len;
    free(h->e[i].data);
  }
  memmove(h->e, h->e + drop, (h->n - base) * sizeof *h->e);
  h->base = base;
  h->base_zxid = zxid;
  /* Give back most of an array that held far more than it holds now. */
  uint64_t live = h->n - h->base;
  if (h->cap > 1024 && live < h->cap / 4) {
    uint64_t cap = live * 2 > 64 ? live * 2 : 64;
    zab_entry *e = realloc(h->e, cap * sizeof *e);
    if (e) h->e = e, h->cap = cap;
  }
}

void zab_history_rebase(zab_history *h, uint64_t base, uint64_t base_zxid) {
  zab_history_free(h);
  h->base = h->n = base;
  h->base_zxid = base_zxid;
}

uint64_t zab_history_count_below(const zab_history *h, uint64_t zxid) {
  if (zxid <= h->base_zxid) return 0;   /* somewhere in the compacted prefix: unknown */
  uint64_t lo = 0, hi = h->n - h->base; /* zxids strictly increase: a binary search */
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    if (h->e[mid].zxid < zxid)
      lo = mid + 1;
    else
      hi = mid;
  }
  return h->base + lo;
}

uint64_t zab_history_find(const zab_history *h, uint64_t zxid) {
  if (zxid != 0 && zxid == h->base_zxid) return h->base;
  uint64_t below = zab_history_count_below(h, zxid);
  if (below < h->base) return 0;
  return below < h->n && h->e[below - h->base].zxid == zxid ? below + 1 : 0;
}

void zab_history_move(zab_history *dst, zab_history *src) {
  zab_history_free(dst);
  *dst = *src;
  memset(src, 0, sizeof *src);
}
