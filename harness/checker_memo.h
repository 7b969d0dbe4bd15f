/* checker_memo.h: the linearizability checker's memo (Lowe, 2017): a set of byte strings, each
 * a configuration the search explored, bounded in memory and cleared in O(1) between keys by
 * bumping a generation. Internal to the checker. */
#ifndef CTK_CHECKER_MEMO_H
#define CTK_CHECKER_MEMO_H

#include <stddef.h>
#include <stdint.h>

typedef struct check_memo_slot {
  uint64_t hash;
  uint64_t offset; /* of the key in the arena */
  uint32_t len;
  uint32_t gen; /* in use when gen == check_memo.gen */
} check_memo_slot;

/* Zero-initialise, then set max_bytes (slots and arena together). */
typedef struct check_memo {
  check_memo_slot *slots;
  size_t cap, n, max_bytes;
  uint32_t gen;
  uint8_t *arena;
  size_t arena_len, arena_cap;
} check_memo;

/* Forgets every key. */
void check_memo_clear(check_memo *m);

/* Adds key (len bytes). Returns 1 when it was new, 0 when already there, -1 when out of memory,
 * -2 when it would take the memo past max_bytes. */
int check_memo_insert(check_memo *m, const uint8_t *key, uint32_t len);

void check_memo_free(check_memo *m);

#endif /* CTK_CHECKER_MEMO_H */
