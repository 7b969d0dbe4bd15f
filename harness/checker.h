/* checker.h: the linearizability checker for key-value histories (get, put, cas).
 *
 * The history is split per key (a key-value store is linearizable iff each key is: P-
 * compositionality), and each key's operations are searched for a linearization with Wing and
 * Gong's algorithm and Lowe's memoization of (linearized set, model state). Completions:
 *   ok   - took effect between invoke and completion, with the result recorded;
 *   fail - get/put: never took effect (dropped); cas: took effect as a comparison that failed,
 *          i.e. at its linearization point the value differed from expected;
 *   info - may or may not have taken effect, at any time after its invoke (no completion bound);
 *          an info get is dropped, since it cannot change the state.
 * An invoke with no completion at all is treated as info. */
#ifndef CTK_CHECKER_H
#define CTK_CHECKER_H

#include <stddef.h>
#include <stdint.h>

#include "history.h"

typedef struct ctk_check_result {
  int linearizable; /* 1 yes, 0 no, -1 undecided (search budget exhausted) */
  size_t n_ops;     /* operations considered (after dropping fails and info gets) */
  size_t n_keys;
  size_t bad_key_ops; /* operations on the first non-linearizable key */
  char bad_key[256];  /* the first key that is not linearizable ("" when none) */
  char *explanation;  /* malloc'd, human-readable: the key, the longest linearizable prefix
                         found and the operations that could not be ordered after it; NULL
                         when linearizable. Free with ctk_check_result_free. */
  uint64_t states_explored;
} ctk_check_result;

/* Checks a history. Returns 0 (see result->linearizable), or -1 when out of memory or the
 * history is inconsistent (message in err). */
int ctk_check_history(const ctk_history *h, ctk_check_result *result, char *err, size_t err_len);

/* The search budget of ctk_check_history: states explored per key before it answers undecided. */
#define CTK_CHECK_MAX_STATES_PER_KEY 50000000ull

/* As ctk_check_history, with another budget of states per key (0: the default). */
int ctk_check_history_bounded(const ctk_history *h, uint64_t max_states_per_key,
                              ctk_check_result *result, char *err, size_t err_len);

void ctk_check_result_free(ctk_check_result *result);

#endif /* CTK_CHECKER_H */
