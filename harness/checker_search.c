/* checker_search.c: one key's linearizability search (see checker_search.h).
 *
 * Wing and Gong's search (1993) over a list of call and return entries in time order: walk the
 * entries; at a call, try to linearize that operation now (the register model accepts it),
 * remove its two entries from the list and restart from the head; at a return, the operation
 * returning there was never linearized before it, so undo the last move and try the next call
 * after it. Lowe's memoization (2017) skips a configuration (operations done, register value)
 * already explored: the future depends on nothing else.
 *
 * Time ties: a call sorts before a return of equal time, so an operation completing at t and one
 * invoked at t are concurrent and may be ordered either way. This is the permissive choice: an
 * equal timestamp does not prove real-time order, and the checker must not report a violation
 * its input cannot show.
 *
 * Two rules cut the search without losing any linearization (each keeps at least one whenever
 * there is one):
 *  - An observer (get, failed cas) the current value satisfies is linearized at once and never
 *    reordered (see search_run).
 *  - A configuration where some pending get or cas ok needs a value that no pending op can write
 *    any more, and the register does not hold it, fails at once ("dead"; see value_dead).
 *
 * Info operations (and invokes never completed) may take effect at any point after their invoke,
 * or never, so they have no return entry; the search succeeds once every completed operation is
 * placed. Left at that, each info write doubles the configurations, so:
 *  - An info write matters only while something can observe its value (a get reading it, a cas
 *    ok expecting it) or its effect (a failed cas, which needs the value to differ from its
 *    expected one). Placed after all of those, it can be dropped: only a put can follow it, and
 *    the put hides it. So an info write gets a deadline entry at the latest return of those ops,
 *    where the search leaves it out for good if it is still undone; one nothing observes is left
 *    out from the start. An info cas serves only failed cas expecting what it expects; one whose
 *    value an info cas may observe keeps no deadline.
 *  - Once every completed op observing an info write's value is done, the write can only serve a
 *    failed cas, right before it (else swap the two: an info op has no return to order against):
 *    so such a move must be followed by a failed cas.
 *  - On a key with failed cas, an info put whose value nothing observes any more (no get, cas ok
 *    or failed cas left that expects it) is as good as any other such put: all that matters is
 *    that one is available to unblock a failed cas. At its deadline it joins a pool of spare
 *    writes, a counter, and a blocked failed cas may draw one; the register then holds a
 *    canonical value nothing reads.
 *
 * The memo key is exact but compact: entries with a return or a deadline are ranked in list
 * order, and the done set is written as (frontier, done ranks past it, bitset of the info ops
 * without a deadline that were linearized, spare writes available), where every rank before the
 * frontier is done. Only operations concurrent with the frontier can be done past it, so a key
 * stays a few words however long the history is.
 *
 * Before searching a key, checker_stale.c looks for a stale read, which proves the key fails at
 * once; the search then only runs for a while, to find a prefix to show. */
#include "checker_search.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "checker_memo.h"
#include "checker_stale.h"
#include "history.h"

#define NIL                 CHECK_NONE
#define HEAD                0u
#define LOCAL_MASK          ((1u << 30) - 1)
#define DROPPED_BIT         (1u << 31) /* in best: an info op left out or pooled, not linearized */
#define SPARE_BIT           (1u << 30) /* in best: a spare write drawn before the failed cas `local` */
#define STALE_SEARCH_STATES 100000 /* to find a prefix to show once a stale read proves failure */

enum { ENTRY_CALL = 0, ENTRY_RETURN, ENTRY_DEADLINE, ENTRY_NEVER }; /* sort order at equal times */
enum { OP_COMPLETED = 0, OP_INFO_DEADLINE, OP_INFO_FREE };

int check_model_step(const check_op *op, uint32_t state, uint32_t *next) {
  switch (op->f) {
  case CTK_F_GET: *next = state; return state == op->value_id;
  case CTK_F_PUT: *next = op->value_id; return 1;
  default:
    if (op->outcome == CTK_HIST_FAIL) { /* a comparison that failed: no change */
      *next = state;
      return state != op->expected_id;
    }
    /* ok, or info taken effect: a swap. An info cas whose comparison fails is a no-op, which is
     * the same as never linearizing it. */
    *next = op->value_id;
    return state == op->expected_id;
  }
}

static int op_is_failed_cas(const check_op *op) {
  return op->f == CTK_F_CAS && op->outcome == CTK_HIST_FAIL;
}

/* A get or a failed cas never changes the register. */
static int op_is_observer(const check_op *op) { return op->f == CTK_F_GET || op_is_failed_cas(op); }

uint32_t check_op_written_value(const check_op *op) {
  return op->f == CTK_F_GET || op_is_failed_cas(op) ? NIL : op->value_id;
}

uint32_t check_op_observed_value(const check_op *op) {
  if (op->f == CTK_F_GET && op->outcome == CTK_HIST_OK) return op->value_id;
  if (op->f == CTK_F_CAS && op->outcome == CTK_HIST_OK) return op->expected_id;
  return NIL;
}

/* ---- the search state ---- */

typedef struct search_op {
  uint32_t op;       /* index into ops */
  uint32_t slot;     /* rank of its return or deadline entry; OP_INFO_FREE: index among those */
  uint32_t observes; /* completed get or cas ok: the value id it observes; NIL otherwise */
  uint32_t writes;   /* put, cas ok or info: the value id it may write; NIL otherwise */
  uint32_t call_node, return_node;
  uint8_t kind;
  uint8_t joins; /* OP_INFO_DEADLINE: joins the spare writes at its deadline (else left out) */
} search_op;

typedef struct sort_entry {
  uint64_t time;
  uint32_t order; /* entry kind << 30 | local op */
} sort_entry;

enum move {
  MOVE_FREE,     /* linearize an op: one choice among the candidates */
  MOVE_OBSERVER, /* linearize an observer the value satisfies: forced */
  MOVE_HELPER,   /* linearize an info write nothing can read any more: a failed cas must follow */
  MOVE_DROP,     /* leave an info write out at its deadline: forced */
  MOVE_JOIN,     /* move an info put to the spare writes at its deadline: forced */
  MOVE_SPARE     /* draw a spare write before the blocked failed cas at `node` */
};

typedef struct frame {
  uint32_t node;       /* the call entry of the op moved (MOVE_SPARE: of the failed cas) */
  uint32_t state;      /* the register before it */
  uint8_t move;        /* enum move */
  uint8_t need_before; /* need_failed_cas before it */
} frame;

/* Backtracking goes straight past a forced move: it had no alternative. */
static int move_is_forced(enum move move) {
  return move == MOVE_OBSERVER || move == MOVE_DROP || move == MOVE_JOIN;
}

/* Buffers are sized once for the largest key and reused for every key. */
struct check_search {
  const check_op *ops;
  uint64_t max_states, states, state_limit; /* state_limit: where the current key stops */
  uint32_t spare_value;                     /* the canonical value a spare write leaves */
  search_op *sops;
  uint32_t m, n_ranked, n_free, n_completed;
  sort_entry *sorted;
  uint32_t *next, *prev, *node_op; /* the entry list; node i + 1 is sorted[i], node 0 the head */
  uint8_t *node_kind;
  uint64_t *done_bits, *free_bits; /* done ops by rank; linearized OP_INFO_FREE ops */
  uint32_t free_words;
  uint32_t *beyond; /* done ranks past the frontier, ascending */
  uint32_t n_beyond, frontier, remaining, spares;
  uint8_t
      need_failed_cas; /* the last op was an info write nothing reads: a failed cas must follow */
  frame *stack;
  uint32_t sp;
  uint32_t *best; /* the deepest stack: local op | DROPPED_BIT */
  uint32_t best_len, best_common, best_depth;
  uint32_t *prefix;
  uint8_t *key_buf;
  /* Per value id, for the current key (valid where the stamp matches): */
  uint32_t stamp;
  uint32_t *observed_stamp;    /* read by a get or expected by a cas ok */
  uint64_t *observed_until;    /* ... the latest return of those */
  uint32_t *observers_pending; /* ... how many are not done yet */
  uint32_t *info_cas_stamp;    /* expected by an info cas */
  uint32_t *failed_cas_stamp;  /* expected by a failed cas */
  uint64_t *failed_cas_until;  /* ... the latest return of those */
  uint32_t *writers_pending;   /* ops that may write it, not done yet (set for every value the
                                  key's ops write or observe) */
  uint32_t *dead_stamp;        /* counted in dead_count at load */
  check_stale *stale;
  check_stale_proof proof; /* of the current key, when a stale read was found */
  uint32_t dead_count;     /* values with observers pending and no writer pending */
  uint64_t dead_sum;       /* ... the sum of their ids */
  check_memo memo;
};

check_search *check_search_new(const check_op *ops, size_t max_ops, size_t n_values,
                               uint64_t max_states_per_key, size_t max_memo_bytes) {
  check_search *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  size_t nodes = 2 * max_ops + 1, words = max_ops / 64 + 1, values = n_values + 1;
  s->ops = ops;
  s->max_states = max_states_per_key;
  s->spare_value = (uint32_t)n_values;
  s->memo.max_bytes = max_memo_bytes;
  s->sops = malloc((max_ops + 1) * sizeof *s->sops);
  s->sorted = malloc(nodes * sizeof *s->sorted);
  s->next = malloc(nodes * sizeof *s->next);
  s->prev = malloc(nodes * sizeof *s->prev);
  s->node_op = malloc(nodes * sizeof *s->node_op);
  s->node_kind = malloc(nodes);
  s->done_bits = malloc(words * sizeof *s->done_bits);
  s->free_bits = malloc(words * sizeof *s->free_bits);
  s->beyond = malloc((max_ops + 1) * sizeof *s->beyond);
  /* A frame per op done, plus at most one spare drawn per failed cas. */
  s->stack = malloc((2 * max_ops + 1) * sizeof *s->stack);
  s->best = malloc((2 * max_ops + 1) * sizeof *s->best);
  s->prefix = malloc((2 * max_ops + 1) * sizeof *s->prefix);
  s->key_buf = malloc(4 * sizeof(uint32_t) + (max_ops + 1) * sizeof(uint32_t) + 8 * words);
  s->observed_stamp = calloc(values, sizeof *s->observed_stamp);
  s->observed_until = calloc(values, sizeof *s->observed_until);
  s->observers_pending = calloc(values, sizeof *s->observers_pending);
  s->info_cas_stamp = calloc(values, sizeof *s->info_cas_stamp);
  s->failed_cas_stamp = calloc(values, sizeof *s->failed_cas_stamp);
  s->failed_cas_until = calloc(values, sizeof *s->failed_cas_until);
  s->writers_pending = calloc(values, sizeof *s->writers_pending);
  s->dead_stamp = calloc(values, sizeof *s->dead_stamp);
  s->stale = check_stale_new(ops, max_ops, n_values);
  if (!s->sops || !s->sorted || !s->next || !s->prev || !s->node_op || !s->node_kind ||
      !s->done_bits || !s->free_bits || !s->beyond || !s->stack || !s->best || !s->prefix ||
      !s->key_buf || !s->observed_stamp || !s->observed_until || !s->observers_pending ||
      !s->info_cas_stamp || !s->failed_cas_stamp || !s->failed_cas_until || !s->writers_pending ||
      !s->dead_stamp || !s->stale)
    check_search_destroy(&s);
  return s;
}

void check_search_destroy(check_search **self_p) {
  check_search *s = *self_p;
  if (!s) return;
  free(s->sops);
  free(s->sorted);
  free(s->next);
  free(s->prev);
  free(s->node_op);
  free(s->node_kind);
  free(s->done_bits);
  free(s->free_bits);
  free(s->beyond);
  free(s->stack);
  free(s->best);
  free(s->prefix);
  free(s->key_buf);
  free(s->observed_stamp);
  free(s->observed_until);
  free(s->observers_pending);
  free(s->info_cas_stamp);
  free(s->failed_cas_stamp);
  free(s->failed_cas_until);
  free(s->writers_pending);
  free(s->dead_stamp);
  check_stale_destroy(&s->stale);
  check_memo_free(&s->memo);
  free(s);
  *self_p = NULL;
}

uint64_t check_search_states(const check_search *self) { return self->states; }

/* ---- loading a key ---- */

static int compare_sort_entries(const void *a, const void *b) {
  const sort_entry *x = a, *y = b;
  if (x->time != y->time) return x->time < y->time ? -1 : 1;
  return x->order < y->order ? -1 : x->order > y->order;
}

/* Notes what one op observes. */
static void note_observations(check_search *s, const check_op *op, int *any_failed_cas) {
  uint32_t v = check_op_observed_value(op);
  if (v != NIL) {
    if (s->observed_stamp[v] != s->stamp) {
      s->observed_stamp[v] = s->stamp;
      s->observed_until[v] = 0;
      s->observers_pending[v] = 0;
    }
    if (s->observed_until[v] < op->complete_us) s->observed_until[v] = op->complete_us;
    s->observers_pending[v]++;
  } else if (op->f == CTK_F_CAS && op->outcome == CTK_HIST_INFO) {
    s->info_cas_stamp[op->expected_id] = s->stamp;
  } else if (op_is_failed_cas(op)) {
    uint32_t e = op->expected_id;
    if (s->failed_cas_stamp[e] != s->stamp || s->failed_cas_until[e] < op->complete_us)
      s->failed_cas_until[e] = op->complete_us;
    s->failed_cas_stamp[e] = s->stamp;
    *any_failed_cas = 1;
  }
}

/* Whether a failed cas expects v, with the latest return of those in *until (else 0). */
static int failed_cas_expecting(const check_search *s, uint32_t v, uint64_t *until) {
  int any = s->failed_cas_stamp[v] == s->stamp;
  *until = any ? s->failed_cas_until[v] : 0;
  return any;
}

/* Classifies an info write (see the top of the file): returns its kind, with the deadline in
 * *until and whether it then joins the spare writes in *joins for OP_INFO_DEADLINE, or -1 when
 * it can be left out. */
static int classify_info(const check_search *s, const check_op *op, int any_failed_cas,
                         uint64_t *until, uint8_t *joins) {
  uint32_t v = op->value_id;
  if (s->info_cas_stamp[v] == s->stamp) return OP_INFO_FREE;
  int observed = s->observed_stamp[v] == s->stamp;
  uint64_t fails_until;
  *until = observed ? s->observed_until[v] : 0;
  *joins = 0;
  if (op->f == CTK_F_PUT && any_failed_cas) {
    /* Joins once nothing can tell its value from another unread one: after its observers and
     * the failed cas expecting it (a spare must not unblock those). */
    failed_cas_expecting(s, v, &fails_until);
    if (fails_until > *until) *until = fails_until;
    if (*until < op->invoke_us) *until = op->invoke_us;
    *joins = 1;
    return OP_INFO_DEADLINE;
  }
  /* Past its observers, an info cas can only unblock a failed cas expecting what it expects. */
  if (op->f == CTK_F_CAS && failed_cas_expecting(s, op->expected_id, &fails_until)) {
    if (!observed || fails_until > *until) *until = fails_until;
    observed = 1;
  }
  return observed && *until >= op->invoke_us ? OP_INFO_DEADLINE : -1;
}

/* Counts the pending writers of every value the key's ops write or observe, and the values
 * observed that nothing can write (see value_dead). */
static void count_writers(check_search *s) {
  for (uint32_t i = 0; i < s->m; i++) {
    const search_op *so = &s->sops[i];
    if (so->writes != NIL) s->writers_pending[so->writes] = 0;
    if (so->observes != NIL) s->writers_pending[so->observes] = 0;
  }
  for (uint32_t i = 0; i < s->m; i++)
    if (s->sops[i].writes != NIL) s->writers_pending[s->sops[i].writes]++;
  s->dead_count = 0;
  s->dead_sum = 0;
  for (uint32_t i = 0; i < s->m; i++) {
    uint32_t v = s->sops[i].observes;
    if (v == NIL || s->dead_stamp[v] == s->stamp || s->writers_pending[v] > 0) continue;
    s->dead_stamp[v] = s->stamp;
    s->dead_count++;
    s->dead_sum += v;
  }
}

/* Builds the entry list of one key's operations. */
static void search_load(check_search *s, const uint32_t *key_ops, uint32_t n) {
  s->stamp++;
  int any_failed_cas = 0;
  for (uint32_t i = 0; i < n; i++) note_observations(s, &s->ops[key_ops[i]], &any_failed_cas);
  s->m = s->n_ranked = s->n_free = s->n_completed = 0;
  for (uint32_t i = 0; i < n; i++) {
    const check_op *op = &s->ops[key_ops[i]];
    int kind = OP_COMPLETED;
    uint64_t until = op->complete_us;
    uint8_t joins = 0;
    if (op->outcome == CTK_HIST_INFO) {
      kind = classify_info(s, op, any_failed_cas, &until, &joins);
      if (kind < 0) continue;
    }
    uint32_t local = s->m++, entry = ENTRY_NEVER;
    s->sops[local] = (search_op){.op = key_ops[i],
                                 .kind = (uint8_t)kind,
                                 .joins = joins,
                                 .observes = check_op_observed_value(op),
                                 .writes = check_op_written_value(op)};
    if (kind == OP_COMPLETED) {
      entry = ENTRY_RETURN;
      s->n_completed++;
    } else if (kind == OP_INFO_DEADLINE) {
      entry = ENTRY_DEADLINE;
    } else {
      until = UINT64_MAX;
      s->sops[local].slot = s->n_free++;
    }
    s->sorted[2 * local] = (sort_entry){.time = op->invoke_us, .order = ENTRY_CALL << 30 | local};
    s->sorted[2 * local + 1] = (sort_entry){.time = until, .order = entry << 30 | local};
  }
  qsort(s->sorted, 2 * (size_t)s->m, sizeof *s->sorted, compare_sort_entries);
  s->next[HEAD] = s->m ? 1 : NIL;
  for (uint32_t i = 0; i < 2 * s->m; i++) {
    uint32_t node = i + 1, local = s->sorted[i].order & LOCAL_MASK;
    uint32_t entry = s->sorted[i].order >> 30;
    s->prev[node] = node - 1;
    s->next[node] = i + 1 < 2 * s->m ? node + 1 : NIL;
    s->node_op[node] = local;
    s->node_kind[node] = (uint8_t)entry;
    if (entry == ENTRY_CALL)
      s->sops[local].call_node = node;
    else
      s->sops[local].return_node = node;
    if (entry == ENTRY_RETURN || entry == ENTRY_DEADLINE) s->sops[local].slot = s->n_ranked++;
  }
  count_writers(s);
  memset(s->done_bits, 0, (s->n_ranked / 64 + 1) * sizeof *s->done_bits);
  s->free_words = s->n_free / 64 + 1;
  memset(s->free_bits, 0, s->free_words * sizeof *s->free_bits);
  s->n_beyond = s->frontier = s->spares = 0;
  s->need_failed_cas = 0;
  s->remaining = s->n_completed;
  s->sp = s->best_len = s->best_common = s->best_depth = 0;
  check_memo_clear(&s->memo);
}

/* ---- moves ---- */

/* Removes a call entry and its return entry from the list (dancing links). */
static void lift(check_search *s, uint32_t call) {
  uint32_t ret = s->sops[s->node_op[call]].return_node;
  s->next[s->prev[call]] = s->next[call];
  if (s->next[call] != NIL) s->prev[s->next[call]] = s->prev[call];
  s->next[s->prev[ret]] = s->next[ret];
  if (s->next[ret] != NIL) s->prev[s->next[ret]] = s->prev[ret];
}

/* Puts them back; lifts are undone in reverse order. */
static void unlift(check_search *s, uint32_t call) {
  uint32_t ret = s->sops[s->node_op[call]].return_node;
  s->next[s->prev[ret]] = ret;
  if (s->next[ret] != NIL) s->prev[s->next[ret]] = ret;
  s->next[s->prev[call]] = call;
  if (s->next[call] != NIL) s->prev[s->next[call]] = call;
}

/* A value some pending op must observe but no pending op can write: the register must hold it
 * until those observers are done, since nothing can bring it back. (The initial "absent" counts
 * as written before everything.) */
static int value_dead(const check_search *s, uint32_t v) {
  return s->observers_pending[v] > 0 && s->writers_pending[v] == 0;
}

static void adjust_pending(check_search *s, uint32_t *pending, uint32_t v, int delta) {
  int before = value_dead(s, v);
  pending[v] += (uint32_t)delta;
  int after = value_dead(s, v);
  if (before == after) return;
  s->dead_count += after ? 1 : -1;
  s->dead_sum += after ? v : -(uint64_t)v;
}

/* Some pending observer can never be satisfied from a configuration with register value
 * `state`: it fails, without exploring it. */
static int config_dead(const check_search *s, uint32_t state) {
  return s->dead_count > 1 || (s->dead_count == 1 && s->dead_sum != state);
}

static void mark_done(check_search *s, uint32_t local) {
  const search_op *so = &s->sops[local];
  uint32_t rank = so->slot;
  if (so->writes != NIL) adjust_pending(s, s->writers_pending, so->writes, -1);
  if (so->observes != NIL) adjust_pending(s, s->observers_pending, so->observes, -1);
  if (so->kind == OP_INFO_FREE) {
    s->free_bits[rank / 64] |= 1ull << (rank % 64);
    return;
  }
  s->done_bits[rank / 64] |= 1ull << (rank % 64);
  if (so->kind == OP_COMPLETED) s->remaining--;
  if (rank != s->frontier) { /* past it: insert, ascending */
    uint32_t j = s->n_beyond;
    for (; j > 0 && s->beyond[j - 1] > rank; j--) s->beyond[j] = s->beyond[j - 1];
    s->beyond[j] = rank;
    s->n_beyond++;
    return;
  }
  uint32_t absorbed = 0;
  for (s->frontier++; absorbed < s->n_beyond && s->beyond[absorbed] == s->frontier; absorbed++)
    s->frontier++;
  memmove(s->beyond, s->beyond + absorbed, (s->n_beyond - absorbed) * sizeof *s->beyond);
  s->n_beyond -= absorbed;
}

static void unmark_done(check_search *s, uint32_t local) {
  const search_op *so = &s->sops[local];
  uint32_t rank = so->slot;
  if (so->writes != NIL) adjust_pending(s, s->writers_pending, so->writes, 1);
  if (so->observes != NIL) adjust_pending(s, s->observers_pending, so->observes, 1);
  if (so->kind == OP_INFO_FREE) {
    s->free_bits[rank / 64] &= ~(1ull << (rank % 64));
    return;
  }
  s->done_bits[rank / 64] &= ~(1ull << (rank % 64));
  if (so->kind == OP_COMPLETED) s->remaining++;
  if (rank < s->frontier) { /* ranks rank+1 .. frontier-1 stay done, now past it */
    uint32_t moved = s->frontier - rank - 1;
    memmove(s->beyond + moved, s->beyond, s->n_beyond * sizeof *s->beyond);
    for (uint32_t j = 0; j < moved; j++) s->beyond[j] = rank + 1 + j;
    s->n_beyond += moved;
    s->frontier = rank;
    return;
  }
  uint32_t j = 0;
  while (s->beyond[j] != rank) j++;
  memmove(s->beyond + j, s->beyond + j + 1, (s->n_beyond - j - 1) * sizeof *s->beyond);
  s->n_beyond--;
}

/* The memo key of the current configuration with register value `state`. */
static uint32_t memo_key(const check_search *s, uint32_t state, uint8_t *buf) {
  uint32_t header[4] = {state, s->frontier, s->n_beyond | (uint32_t)s->need_failed_cas << 31,
                        s->spares};
  size_t len = sizeof header;
  memcpy(buf, header, sizeof header);
  memcpy(buf + len, s->beyond, s->n_beyond * sizeof *s->beyond);
  len += s->n_beyond * sizeof *s->beyond;
  uint32_t words = s->free_words;
  while (words > 0 && s->free_bits[words - 1] == 0) words--;
  memcpy(buf + len, s->free_bits, words * sizeof *s->free_bits);
  return (uint32_t)(len + words * sizeof *s->free_bits);
}

/* Remembers the stack when it holds more completed ops than ever; copies only what changed
 * since the last time, so this costs O(pushes) over the whole search. */
static void note_depth(check_search *s) {
  uint32_t depth = s->n_completed - s->remaining;
  if (depth <= s->best_depth) return;
  for (uint32_t j = s->best_common; j < s->sp; j++) {
    enum move move = s->stack[j].move;
    s->best[j] = s->node_op[s->stack[j].node] |
                 (move == MOVE_DROP || move == MOVE_JOIN ? DROPPED_BIT : 0) |
                 (move == MOVE_SPARE ? SPARE_BIT : 0);
  }
  s->best_len = s->best_common = s->sp;
  s->best_depth = depth;
}

/* Which move linearizing the op of `local` is (a candidate the model accepts). */
static enum move move_of(const check_search *s, uint32_t local) {
  const search_op *so = &s->sops[local];
  const check_op *op = &s->ops[so->op];
  if (op_is_observer(op)) return MOVE_OBSERVER;
  if (so->kind == OP_INFO_DEADLINE && s->observers_pending[op->value_id] == 0) return MOVE_HELPER;
  return MOVE_FREE;
}

/* The bookkeeping of a move, done and undone. */
static void apply_move(check_search *s, uint32_t local, enum move move) {
  if (move == MOVE_SPARE) {
    s->spares--;
    return;
  }
  mark_done(s, local);
  if (move == MOVE_JOIN) s->spares++;
}

static void undo_move(check_search *s, uint32_t local, enum move move) {
  if (move == MOVE_SPARE) {
    s->spares++;
    return;
  }
  unmark_done(s, local);
  if (move == MOVE_JOIN) s->spares--;
}

/* Makes `move` on the op of call entry `call`, the register going from *state to next_state.
 * Returns 1 when the configuration reached is new (the move is made), 0 when it was explored
 * before (nothing changes), -1 when the search must stop (*stop says why). */
static int advance(check_search *s, uint32_t call, enum move move, uint32_t *state,
                   uint32_t next_state, check_verdict *stop) {
  uint32_t local = s->node_op[call];
  uint8_t need_before = s->need_failed_cas;
  apply_move(s, local, move);
  if (move != MOVE_DROP && move != MOVE_JOIN)
    s->need_failed_cas = move == MOVE_HELPER || move == MOVE_SPARE;
  int fresh = config_dead(s, next_state)
                  ? 0 /* fails: as good as explored */
                  : check_memo_insert(&s->memo, s->key_buf, memo_key(s, next_state, s->key_buf));
  if (fresh <= 0) {
    undo_move(s, local, move);
    s->need_failed_cas = need_before;
    if (fresh == 0) return 0;
    *stop = fresh == -1 ? CHECK_OUT_OF_MEMORY : CHECK_MEMORY;
    return -1;
  }
  if (++s->states > s->state_limit) {
    *stop = CHECK_BUDGET;
    return -1;
  }
  s->stack[s->sp++] =
      (frame){.node = call, .state = *state, .move = (uint8_t)move, .need_before = need_before};
  *state = next_state;
  if (move != MOVE_SPARE) lift(s, call);
  note_depth(s);
  return 1;
}

/* Undoes the last move; returns it. */
static frame retreat(check_search *s, uint32_t *state) {
  frame top = s->stack[--s->sp];
  if (s->best_common > s->sp) s->best_common = s->sp;
  if (top.move != MOVE_SPARE) unlift(s, top.node);
  undo_move(s, s->node_op[top.node], top.move);
  s->need_failed_cas = top.need_before;
  *state = top.state;
  return top;
}

/* Tries the call entry `node`; returns as advance does, 0 also when the op does not fit now. */
static int try_call(check_search *s, uint32_t node, uint32_t *state, check_verdict *stop) {
  uint32_t local = s->node_op[node], next_state;
  const check_op *op = &s->ops[s->sops[local].op];
  if (s->need_failed_cas && !op_is_failed_cas(op)) return 0;
  if (check_model_step(op, *state, &next_state)) {
    enum move move = move_of(s, local);
    int moved = advance(s, node, move, state, next_state, stop);
    /* A forced move explored before: this configuration fails too (see search_run). */
    return moved == 0 && move == MOVE_OBSERVER ? -2 : moved;
  }
  if (op_is_failed_cas(op) && s->spares > 0 && !s->need_failed_cas) /* blocked: draw a spare */
    return advance(s, node, MOVE_SPARE, state, s->spare_value, stop);
  return 0;
}

/* The search. An observer (get, failed cas) the current value satisfies is linearized at once
 * and never reordered: its call precedes every pending return, so in any linearization from here
 * it can move to the front without breaking real-time order, and it leaves the value unchanged.
 * Hence if the configuration with it fails, so does the one without it, and backtracking goes
 * straight past it. This keeps the search from trying every subset of the pending reads. */
static check_verdict search_run(check_search *s, uint64_t max_states) {
  uint32_t state = CHECK_VALUE_ABSENT, node = s->next[HEAD];
  s->state_limit = s->states + max_states;
  if (s->state_limit < s->states) s->state_limit = UINT64_MAX;
  check_verdict stop = CHECK_OK;
  for (;;) {
    if (s->remaining == 0) return CHECK_OK;
    assert(node != NIL); /* a completed op's return entry precedes every ENTRY_NEVER */
    int moved = 0;       /* 1 moved, 0 try the next entry, -1 stop, -2 backtrack */
    if (s->node_kind[node] == ENTRY_CALL) {
      moved = try_call(s, node, &state, &stop);
    } else if (s->node_kind[node] == ENTRY_DEADLINE) {
      uint32_t local = s->node_op[node];
      enum move move = s->sops[local].joins ? MOVE_JOIN : MOVE_DROP;
      moved = advance(s, s->sops[local].call_node, move, &state, state, &stop);
      if (moved == 0) moved = -2;
    } else {
      moved = -2; /* a return not linearized before it */
    }
    if (moved == -1) return stop;
    if (moved == 1) {
      node = s->next[HEAD];
      continue;
    }
    if (moved == 0) {
      node = s->next[node];
      continue;
    }
    frame top;
    do {
      if (s->sp == 0) return CHECK_FAIL;
      top = retreat(s, &state);
    } while (move_is_forced(top.move));
    node = s->next[top.node];
  }
}

int check_search_stale_read(const check_search *self, uint32_t *observer, uint32_t *overwriter,
                            uint32_t *witness) {
  *observer = self->proof.observer;
  *overwriter = self->proof.overwriter;
  *witness = self->proof.witness;
  return self->proof.observer != CHECK_NONE;
}

check_verdict check_search_key(check_search *self, const uint32_t *key_ops, uint32_t n) {
  int stale = check_stale_find(self->stale, key_ops, n, &self->proof);
  search_load(self, key_ops, n);
  if (!stale) return search_run(self, self->max_states);
  /* Proven already: a short search only finds a prefix to show. */
  uint64_t budget = self->max_states < STALE_SEARCH_STATES ? self->max_states : STALE_SEARCH_STATES;
  check_verdict verdict = search_run(self, budget);
  assert(verdict != CHECK_OK);
  return verdict == CHECK_OUT_OF_MEMORY ? verdict : CHECK_FAIL;
}

/* ---- after a failure ---- */

uint32_t check_search_prefix(const check_search *self, const uint32_t **ops) {
  uint32_t n = 0;
  for (uint32_t j = 0; j < self->best_len; j++) {
    uint32_t b = self->best[j];
    if (b & SPARE_BIT)
      self->prefix[n++] = CHECK_PREFIX_SPARE;
    else if (!(b & DROPPED_BIT))
      self->prefix[n++] = self->sops[b & LOCAL_MASK].op;
  }
  *ops = self->prefix;
  return n;
}

/* The value after the deepest prefix. */
static uint32_t prefix_state(const check_search *s) {
  uint32_t state = CHECK_VALUE_ABSENT;
  for (uint32_t j = 0; j < s->best_len; j++) {
    uint32_t b = s->best[j];
    if (b & SPARE_BIT)
      state = s->spare_value;
    else if (!(b & DROPPED_BIT))
      check_model_step(&s->ops[s->sops[b & LOCAL_MASK].op], state, &state);
  }
  return state;
}

static int bit_is_set(const uint64_t *bits, uint32_t i) { return bits[i / 64] >> (i % 64) & 1; }

/* After the ops in `done` and then op `local` leaving value `state`: a pending observer whose
 * value no pending op can write any more (the search's dead configurations), or NIL. */
static uint32_t stranded_observer(check_search *s, const uint64_t *done, uint32_t local,
                                  uint32_t state) {
  for (uint32_t i = 0; i < s->m; i++) {
    if (s->sops[i].writes != NIL) s->writers_pending[s->sops[i].writes] = 0;
    if (s->sops[i].observes != NIL) s->writers_pending[s->sops[i].observes] = 0;
  }
  for (uint32_t i = 0; i < s->m; i++)
    if (i != local && !bit_is_set(done, i) && s->sops[i].writes != NIL)
      s->writers_pending[s->sops[i].writes]++;
  for (uint32_t i = 0; i < s->m; i++) {
    uint32_t v = s->sops[i].observes;
    if (i != local && !bit_is_set(done, i) && v != NIL && v != state && !s->writers_pending[v])
      return s->sops[i].op;
  }
  return NIL;
}

uint32_t check_search_candidates(check_search *self, check_candidate *out, uint32_t cap,
                                 uint32_t *due, uint32_t *n_info) {
  check_search *s = self;
  uint64_t *done = s->done_bits; /* reused, by local op now */
  memset(done, 0, (s->m / 64 + 1) * sizeof *done);
  for (uint32_t j = 0; j < s->best_len; j++) {
    uint32_t local = s->best[j] & LOCAL_MASK;
    if (!(s->best[j] & SPARE_BIT)) done[local / 64] |= 1ull << (local % 64);
  }
  uint32_t deadline = 2 * s->m;
  for (uint32_t i = 0; i < 2 * s->m && deadline == 2 * s->m; i++) {
    uint32_t local = s->sorted[i].order & LOCAL_MASK;
    if (s->sorted[i].order >> 30 == ENTRY_RETURN && !bit_is_set(done, local)) deadline = i;
  }
  assert(deadline < 2 * s->m);
  *due = s->sops[s->sorted[deadline].order & LOCAL_MASK].op;
  uint32_t state = prefix_state(s), n = 0;
  *n_info = 0;
  for (uint32_t i = 0; i < deadline; i++) {
    uint32_t local = s->sorted[i].order & LOCAL_MASK;
    if (s->sorted[i].order >> 30 != ENTRY_CALL || bit_is_set(done, local)) continue;
    const search_op *so = &s->sops[local];
    if (so->kind == OP_INFO_DEADLINE && so->return_node - 1 < deadline) continue; /* left out */
    if (so->kind != OP_COMPLETED) {
      (*n_info)++;
      continue;
    }
    if (n < cap) {
      uint32_t next;
      check_candidate *c = &out[n];
      *c = (check_candidate){.op = so->op, .reason = CHECK_REASON_MISMATCH, .stranded = NIL};
      if (check_model_step(&s->ops[so->op], state, &next)) {
        c->stranded = stranded_observer(s, done, local, next);
        c->reason = c->stranded != NIL ? CHECK_REASON_STRANDS : CHECK_REASON_DEAD_END;
      }
    }
    n++;
  }
  return n;
}
