/* checker_search.h: the per-key search of the linearizability checker, internal to checker.c:
 * operations as the checker pairs them, the register model, and Wing and Gong's search with
 * Lowe's memoization over one key's operations. */
#ifndef CTK_CHECKER_SEARCH_H
#define CTK_CHECKER_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#define CHECK_VALUE_ABSENT 0u         /* value id of "no value" */
#define CHECK_NONE         UINT32_MAX /* no op */

/* An invoke paired with its completion; strings are ids (CHECK_VALUE_ABSENT for none). */
typedef struct check_op {
  int64_t process;
  uint64_t invoke_us, complete_us;
  uint32_t key_id;
  uint32_t value_id;    /* get: value read; put: value written; cas: new value */
  uint32_t expected_id; /* cas: expected value */
  uint8_t f;            /* ctk_op_f */
  uint8_t outcome;      /* CTK_HIST_OK, CTK_HIST_FAIL or CTK_HIST_INFO */
  uint8_t completed;    /* 0: the invoke never completed (treated as info) */
} check_op;

/* Applies op to a register holding `state`; returns 1 with the new state in *next when the
 * operation's recorded outcome is possible there. An info op is applied as if it took effect. */
int check_model_step(const check_op *op, uint32_t state, uint32_t *next);

/* The value a put, cas ok or info cas may write; CHECK_NONE for other ops. */
uint32_t check_op_written_value(const check_op *op);

/* The value a completed get or cas ok observes; CHECK_NONE for other ops. */
uint32_t check_op_observed_value(const check_op *op);

typedef enum check_verdict {
  CHECK_FAIL = 0, /* no linearization */
  CHECK_OK,       /* linearizable */
  CHECK_BUDGET,   /* gave up: the state bound */
  CHECK_MEMORY,   /* gave up: the memo's memory bound */
  CHECK_OUT_OF_MEMORY
} check_verdict;

typedef struct check_search check_search;

/* A search for keys of at most max_ops operations each, over `ops` (borrowed, must outlive it)
 * whose value ids are below n_values. Returns NULL when out of memory. */
check_search *check_search_new(const check_op *ops, size_t max_ops, size_t n_values,
                               uint64_t max_states_per_key, size_t max_memo_bytes);
void check_search_destroy(check_search **self_p);

/* Searches one key's operations (indices into ops, in invoke order; gets and puts that failed and
 * info gets already left out). */
check_verdict check_search_key(check_search *self, const uint32_t *key_ops, uint32_t n);

/* After check_search_key: 1 when a stale read proved the key not linearizable (then the search
 * was only run for a while, to find a prefix to show): *observer (a get or cas ok) needs a value
 * that *overwriter overwrote for good before *observer was invoked, having begun after every
 * write of that value had completed. *witness is the op that saw the overwriter's value, also
 * before *observer was invoked, or CHECK_NONE when *overwriter itself completed before. */
int check_search_stale_read(const check_search *self, uint32_t *observer, uint32_t *overwriter,
                            uint32_t *witness);

/* States explored so far, over every key searched. */
uint64_t check_search_states(const check_search *self);

/* In a prefix: some info put whose value nothing reads takes effect here (the search does not
 * tell such puts apart); the register then holds a value nothing reads. */
#define CHECK_PREFIX_SPARE UINT32_MAX

/* After CHECK_FAIL: the deepest linearizable prefix found, as op indices in order (info ops the
 * search left out are not in it). Returns its length; *ops stays valid until the next key. */
uint32_t check_search_prefix(const check_search *self, const uint32_t **ops);

/* Why a candidate cannot come next after the deepest prefix. */
typedef enum check_reason {
  CHECK_REASON_MISMATCH, /* the register's value does not allow its outcome */
  CHECK_REASON_STRANDS,  /* it fits, but leaves `stranded` an observer nothing can satisfy */
  CHECK_REASON_DEAD_END  /* it fits, but no order of the remaining operations follows it */
} check_reason;

typedef struct check_candidate {
  uint32_t op; /* op index */
  check_reason reason;
  uint32_t stranded; /* CHECK_REASON_STRANDS: a get or cas ok whose value is gone for good */
} check_candidate;

/* After CHECK_FAIL: the completed operations that could come next after the deepest prefix (at
 * most cap written to out; returns how many there are), the one whose completion is the
 * deadline (*due), and how many info operations could also come next (*n_info). */
uint32_t check_search_candidates(check_search *self, check_candidate *out, uint32_t cap,
                                 uint32_t *due, uint32_t *n_info);

#endif /* CTK_CHECKER_SEARCH_H */
