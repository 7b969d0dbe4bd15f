/* batch.c: the commands of one instance, and what they touch together.
 *
 * An instance carries a batch: the client commands its command leader gathered while its earlier
 * instances were being agreed on (the paper's implementation batches the same way, section 7.3:
 * "commands are batched at the command leader"). The batch is agreed on, ordered and executed as
 * one: its commands run one after the other, in batch order, at the instance's place in the
 * execution order. Its payload, as it travels and is persisted:
 *
 *   count u16 (at least 1), count x (len u16 (1 .. CTK_MAX_COMMAND_BYTES), command bytes)
 *
 * and an empty payload is a no-op. Two batches interfere when any command of one interferes with
 * any command of the other (protocol.h's rule); the footprint of a batch is the sets of its
 * sessions, written keys and read keys (hashes). The conflict tables (conflicts.c) take them in
 * any order, with repeats; only the test of two footprints wants them sorted, so that it costs
 * the sizes of the sets, not their product, and it sorts them the first time it meets them: that
 * test runs for few instances (the execution walk, when a dependency is not executed yet), and
 * sorting every footprint on every node cost more than building it. */
#include <stdlib.h>
#include <string.h>

#include "ep_internal.h"

static uint32_t get_u16(const uint8_t *b) { return (uint32_t)b[0] << 8 | b[1]; }

int ep_batch_check(const uint8_t *payload, size_t len) {
  if (len == 0) return 0;
  if (!payload || len < 2 || len > EP_MAX_PAYLOAD) return -1;
  uint32_t count = get_u16(payload);
  size_t pos = 2;
  if (count == 0 || count > EP_MAX_BATCH) return -1;
  for (uint32_t k = 0; k < count; k++) {
    if (len - pos < 2) return -1;
    uint32_t n = get_u16(payload + pos);
    pos += 2;
    if (n == 0 || n > CTK_MAX_COMMAND_BYTES || n > len - pos) return -1;
    pos += n;
  }
  return pos == len ? 0 : -1;
}

uint32_t ep_batch_count(const uint8_t *payload, size_t len) {
  return len >= 2 ? get_u16(payload) : 0;
}

void ep_batch_begin(ep_batch_iter *it, const uint8_t *payload, size_t len) {
  it->payload = payload;
  it->len = len;
  it->pos = 2;
  it->left = ep_batch_count(payload, len);
}

int ep_batch_next(ep_batch_iter *it, const uint8_t **cmd, size_t *len) {
  if (it->left == 0) return 0;
  size_t n = get_u16(it->payload + it->pos);
  *cmd = it->payload + it->pos + 2;
  *len = n;
  it->pos += 2 + n;
  it->left--;
  return 1;
}

size_t ep_batch_put(uint8_t *payload, size_t pos, const uint8_t *cmd, size_t len) {
  if (pos == 0) { /* a fresh payload: room for the count */
    payload[0] = payload[1] = 0;
    pos = 2;
  }
  uint32_t count = get_u16(payload) + 1;
  payload[0] = (uint8_t)(count >> 8);
  payload[1] = (uint8_t)count;
  payload[pos] = (uint8_t)(len >> 8);
  payload[pos + 1] = (uint8_t)len;
  memcpy(payload + pos + 2, cmd, len);
  return pos + 2 + len;
}

/* ---- footprints ---- */

static uint64_t hash_bytes(uint64_t h, const uint8_t *b, size_t len) {
  for (size_t i = 0; i < len; i++) h = (h ^ b[i]) * 0x100000001B3ull;
  h ^= h >> 29;
  return h ? h : 1;
}

/* Sorts v[0..n) and drops duplicates; returns the new length. Shell sort (Ciura's gaps) with the
 * comparison inline: n is one class of a batch's hashes, at most one per command (batch_size, 64
 * by default), and qsort's call per comparison cost more than the sort itself. */
static uint32_t sort_unique(uint64_t *v, uint32_t n) {
  static const uint32_t gaps[] = {701, 301, 132, 57, 23, 10, 4, 1};
  if (n < 2) return n;
  for (size_t g = 0; g < sizeof gaps / sizeof *gaps; g++) {
    uint32_t gap = gaps[g];
    for (uint32_t i = gap; i < n; i++) {
      uint64_t x = v[i];
      uint32_t j = i;
      for (; j >= gap && v[j - gap] > x; j -= gap) v[j] = v[j - gap];
      v[j] = x;
    }
  }
  uint32_t k = 1;
  for (uint32_t i = 1; i < n; i++)
    if (v[i] != v[k - 1]) v[k++] = v[i];
  return k;
}

/* A session's hash: a multiply-xorshift mix of its 64 bits (never 0, the tables' empty mark). */
static uint64_t hash_session(uint64_t session) {
  uint64_t h = (session ^ 0x84222325CBF29CE4ull) * 0x9E3779B97F4A7C15ull;
  h ^= h >> 32;
  h *= 0xD6E8FEB86659FD93ull;
  h ^= h >> 29;
  return h ? h : 1;
}

int ep_fp_build(ep_fp *fp, const uint8_t *payload, size_t len, int has_cmd) {
  *fp = (ep_fp){0};
  uint32_t count = has_cmd ? ep_batch_count(payload, len) : 0;
  if (count == 0) {
    fp->noop = 1;
    return 0;
  }
  /* sessions in [0, count), written keys from count up, read keys from 2 count down: with one
   * session and one key per command they meet, packed. The heap's size is rounded up to a power
   * of two, so that the footprints of similar batches reuse each other's memory. */
  uint64_t *h = fp->small;
  size_t words = 2 * (size_t)count;
  if (words > sizeof fp->small / sizeof *fp->small) {
    size_t cap = 16;
    while (cap < words) cap *= 2;
    if (!(fp->heap = malloc(cap * sizeof *fp->heap))) return -1;
    h = fp->heap;
  }
  uint32_t ns = 0, nw = 0, nr = 0;
  ep_batch_iter it;
  ep_batch_begin(&it, payload, len);
  const uint8_t *cmd;
  size_t n;
  while (ep_batch_next(&it, &cmd, &n)) {
    ctk_footprint f = ctk_command_footprint(cmd, n);
    if (!f.known) {
      fp->unknown = 1;
      continue;
    }
    h[ns++] = hash_session(f.session);
    uint64_t key = hash_bytes(0xCBF29CE484222325ull, f.key, f.key_len);
    if (f.write)
      h[count + nw++] = key;
    else
      h[words - ++nr] = key;
  }
  if (ns < count) { /* commands without a footprint left gaps */
    memmove(h + ns, h + count, nw * sizeof *h);
    memmove(h + ns + nw, h + words - nr, nr * sizeof *h);
  }
  fp->n_sessions = ns;
  fp->n_writes = nw;
  fp->n_reads = nr;
  return 0;
}

void ep_fp_free(ep_fp *fp) {
  free(fp->heap);
  *fp = (ep_fp){.noop = 1};
}

const uint64_t *ep_fp_hashes(const ep_fp *fp) { return fp->heap ? fp->heap : fp->small; }

/* 1 when the sorted runs a[0..na) and b[0..nb) share a value. */
static int meet(const uint64_t *a, uint32_t na, const uint64_t *b, uint32_t nb) {
  uint32_t i = 0, j = 0;
  while (i < na && j < nb) {
    if (a[i] == b[j]) return 1;
    if (a[i] < b[j])
      i++;
    else
      j++;
  }
  return 0;
}

/* Sorts each set of fp and drops repeats, once. */
static void fp_sort(ep_fp *fp) {
  if (fp->sorted) return;
  uint64_t *h = fp->heap ? fp->heap : fp->small;
  uint32_t ns = sort_unique(h, fp->n_sessions);
  uint32_t nw = sort_unique(h + fp->n_sessions, fp->n_writes);
  uint32_t nr = sort_unique(h + fp->n_sessions + fp->n_writes, fp->n_reads);
  memmove(h + ns, h + fp->n_sessions, nw * sizeof *h);
  memmove(h + ns + nw, h + fp->n_sessions + fp->n_writes, nr * sizeof *h);
  fp->n_sessions = ns;
  fp->n_writes = nw;
  fp->n_reads = nr;
  fp->sorted = 1;
}

int ep_fp_interfere(ep_fp *a, ep_fp *b) {
  if (a->noop || b->noop) return 0;
  if (a->unknown || b->unknown) return 1;
  fp_sort(a);
  fp_sort(b);
  const uint64_t *ha = ep_fp_hashes(a), *hb = ep_fp_hashes(b);
  const uint64_t *wa = ha + a->n_sessions, *wb = hb + b->n_sessions;
  const uint64_t *ra = wa + a->n_writes, *rb = wb + b->n_writes;
  return meet(ha, a->n_sessions, hb, b->n_sessions) || meet(wa, a->n_writes, wb, b->n_writes) ||
         meet(wa, a->n_writes, rb, b->n_reads) || meet(ra, a->n_reads, wb, b->n_writes);
}
