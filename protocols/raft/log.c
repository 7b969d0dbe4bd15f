/* log.c: Raft's in-memory log, entries base + 1 .. base + n each with its term and command bytes;
 * the entries through base were compacted into a snapshot (snapshot.c). */
#include <stdlib.h>
#include <string.h>

#include "raft_internal.h"

void raft_log_init(raft_log *log) { memset(log, 0, sizeof *log); }

void raft_log_free(raft_log *log) {
  raft_log_truncate(log, log->base + 1);
  free(log->entries);
  memset(log, 0, sizeof *log);
}

int raft_log_append(raft_log *log, uint64_t term, const uint8_t *data, size_t len) {
  return raft_log_append_typed(log, term, RAFT_ENTRY_COMMAND, data, len);
}

int raft_log_append_typed(raft_log *log, uint64_t term, uint8_t type, const uint8_t *data,
                          size_t len) {
  if (log->n == log->cap) {
    uint64_t cap = log->cap ? log->cap * 2 : 64;
    raft_entry *entries = realloc(log->entries, cap * sizeof *entries);
    if (!entries) return -1;
    log->entries = entries;
    log->cap = cap;
  }
  raft_entry *e = &log->entries[log->n];
  e->term = term;
  e->type = type;
  e->len = (uint32_t)len;
  e->data = NULL;
  if (len > 0) {
    e->data = malloc(len);
    if (!e->data) return -1;
    memcpy(e->data, data, len);
  }
  log->n++;
  log->bytes += RAFT_ENTRY_BYTES(len);
  return 0;
}

void raft_log_truncate(raft_log *log, uint64_t from) {
  if (from <= log->base) from = log->base + 1;
  while (raft_log_last(log) >= from) {
    raft_entry *e = &log->entries[log->n - 1];
    log->bytes -= RAFT_ENTRY_BYTES(e->len);
    free(e->data);
    e->data = NULL;
    log->n--;
  }
}

void raft_log_compact(raft_log *log, uint64_t index) {
  if (index <= log->base) return;
  if (index > raft_log_last(log)) index = raft_log_last(log);
  uint64_t k = index - log->base;
  uint64_t term = raft_log_term_at(log, index);
  for (uint64_t i = 0; i < k; i++) {
    log->bytes -= RAFT_ENTRY_BYTES(log->entries[i].len);
    free(log->entries[i].data);
  }
  memmove(log->entries, log->entries + k, (log->n - k) * sizeof *log->entries);
  log->n -= k;
  log->base = index;
  log->base_term = term;
  /* Give memory back when the array is mostly empty, so a long run's log stays small. */
  if (log->cap > 256 && log->n < log->cap / 4) {
    uint64_t cap = log->n * 2 > 64 ? log->n * 2 : 64;
    raft_entry *entries = realloc(log->entries, cap * sizeof *entries);
    if (entries) {
      log->entries = entries;
      log->cap = cap;
    }
  }
}

void raft_log_reset(raft_log *log, uint64_t base, uint64_t base_term) {
  raft_log_truncate(log, log->base + 1);
  log->base = base;
  log->base_term = base_term;
}

/* The first index whose term is >= term, searching [1, at_or_before]; relies on terms never
 * decreasing along the log (Log Matching keeps it so, and the codec rejects anything else). */
static uint64_t lower_bound(const raft_log *log, uint64_t term, uint64_t hi) {
  uint64_t lo = log->base + 1;
  hi = hi < raft_log_last(log) ? hi : raft_log_last(log);
  uint64_t end = hi + 1;
  while (lo < end) {
    uint64_t mid = lo + (end - lo) / 2;
    if (log->entries[mid - log->base - 1].term < term)
      lo = mid + 1;
    else
      end = mid;
  }
  return lo;
}

uint64_t raft_log_first_of_term(const raft_log *log, uint64_t term, uint64_t at_or_before) {
  uint64_t i = lower_bound(log, term, at_or_before);
  return i > log->base && raft_log_term_at(log, i) == term && i <= at_or_before ? i : 0;
}

uint64_t raft_log_last_of_term(const raft_log *log, uint64_t term) {
  if (term == UINT64_MAX) return 0;
  uint64_t i = lower_bound(log, term + 1, raft_log_last(log)); /* first index past the term */
  return i > log->base + 1 && raft_log_term_at(log, i - 1) == term ? i - 1 : 0;
}
