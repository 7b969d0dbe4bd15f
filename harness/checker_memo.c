/* checker_memo.c: the checker's memo of explored configurations (see checker_memo.h). Open
 * addressing with linear probing over (hash, offset, length) slots; the keys' bytes live in one
 * arena, so a key costs its length plus a slot. */
#include "checker_memo.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

void check_memo_clear(check_memo *m) {
  m->gen++;
  m->n = 0;
  m->arena_len = 0;
}

static check_memo_slot *memo_find(check_memo *m, uint64_t hash, const uint8_t *key, uint32_t len) {
  for (size_t j = hash & (m->cap - 1);; j = (j + 1) & (m->cap - 1)) {
    check_memo_slot *s = &m->slots[j];
    if (s->gen != m->gen) return s;
    if (s->hash == hash && s->len == len && memcmp(m->arena + s->offset, key, len) == 0) return s;
  }
}

static int memo_grow(check_memo *m) {
  check_memo bigger = *m;
  bigger.cap = m->cap ? m->cap * 2 : 1024;
  bigger.slots = calloc(bigger.cap, sizeof *bigger.slots);
  if (!bigger.slots) return -1;
  for (size_t i = 0; i < m->cap; i++) {
    const check_memo_slot *s = &m->slots[i];
    if (s->gen == m->gen) *memo_find(&bigger, s->hash, m->arena + s->offset, s->len) = *s;
  }
  free(m->slots);
  *m = bigger;
  return 0;
}

int check_memo_insert(check_memo *m, const uint8_t *key, uint32_t len) {
  if ((m->n + 1) * 2 > m->cap) {
    if (2 * m->cap * sizeof(check_memo_slot) + m->arena_cap > m->max_bytes) return -2;
    if (memo_grow(m) != 0) return -1;
  }
  uint64_t hash = XXH3_64bits(key, len);
  check_memo_slot *s = memo_find(m, hash, key, len);
  if (s->gen == m->gen) return 0;
  if (m->arena_cap - m->arena_len < len) {
    size_t cap = m->arena_cap ? m->arena_cap * 2 : 64 * 1024;
    while (cap - m->arena_len < len) cap *= 2;
    if (cap + m->cap * sizeof(check_memo_slot) > m->max_bytes) return -2;
    uint8_t *arena = realloc(m->arena, cap);
    if (!arena) return -1;
    m->arena = arena;
    m->arena_cap = cap;
  }
  memcpy(m->arena + m->arena_len, key, len);
  *s = (check_memo_slot){.hash = hash, .offset = m->arena_len, .len = len, .gen = m->gen};
  m->arena_len += len;
  m->n++;
  return 1;
}

void check_memo_free(check_memo *m) {
  free(m->slots);
  free(m->arena);
  memset(m, 0, sizeof *m);
}
