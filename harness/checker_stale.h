/* checker_stale.h: a stale read proves a key not linearizable without a search. A get or cas ok
 * needs value a, yet some value b was provably written after every write of a had completed and
 * before it was invoked: by a completed write, or by any write of b (all begun after a's last
 * write completed) that an op observed and returned before. Then a was overwritten for good (a
 * stale read; a lost write when a is "absent" and nothing deletes the key). b cannot be a, since
 * no write of a begins after a's last write completed. Internal to the checker. */
#ifndef CTK_CHECKER_STALE_H
#define CTK_CHECKER_STALE_H

#include <stddef.h>
#include <stdint.h>

#include "checker_search.h"

typedef struct check_stale_proof {
  uint32_t observer;   /* the get or cas ok that needs the value, op index */
  uint32_t overwriter; /* the write that overwrote it for good */
  uint32_t witness;    /* the op that saw the overwriter's value first; CHECK_NONE when the
                          overwriter itself completed before the observer was invoked */
} check_stale_proof;

typedef struct check_stale check_stale;

/* For keys of at most max_ops operations over `ops` (borrowed) with value ids below n_values.
 * Returns NULL when out of memory. */
check_stale *check_stale_new(const check_op *ops, size_t max_ops, size_t n_values);
void check_stale_destroy(check_stale **self_p);

/* Looks for a stale read among one key's operations (indices into ops; info ops included).
 * Returns 1 with the proof in *proof, or 0 (*proof all CHECK_NONE). */
int check_stale_find(check_stale *self, const uint32_t *key_ops, uint32_t n,
                     check_stale_proof *proof);

#endif /* CTK_CHECKER_STALE_H */
