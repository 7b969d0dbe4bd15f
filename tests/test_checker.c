/* test_checker.c: the linearizability checker on hand-written histories (each anomaly a client
 * can see, info and pending operations, time ties, several keys, explanations), on random
 * histories of a simulated atomic register, which must pass, and fail once one read is corrupted
 * or made stale, and on tiny random histories against a brute-force search. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checker.h"
#include "commands.h"
#include "common/rng.h"
#include "history.h"

/* ---- building histories: each helper adds an invoke and its completion ---- */

static void event(ctk_history *h, int64_t p, ctk_hist_type t, ctk_op_f f, uint64_t time,
                  const char *key, const char *value, const char *expected) {
  assert_int_equal(ctk_history_add(h, p, t, f, time, key, value, expected), 0);
}

/* A get of `key` by process p over [t0, t1] that read `read` (NULL: absent). */
static void get(ctk_history *h, int64_t p, const char *key, const char *read, uint64_t t0,
                uint64_t t1) {
  event(h, p, CTK_HIST_INVOKE, CTK_F_GET, t0, key, NULL, NULL);
  event(h, p, CTK_HIST_OK, CTK_F_GET, t1, key, read, NULL);
}

static void put_as(ctk_history *h, ctk_hist_type outcome, int64_t p, const char *key,
                   const char *value, uint64_t t0, uint64_t t1) {
  event(h, p, CTK_HIST_INVOKE, CTK_F_PUT, t0, key, value, NULL);
  event(h, p, outcome, CTK_F_PUT, t1, key, value, NULL);
}

static void put(ctk_history *h, int64_t p, const char *key, const char *value, uint64_t t0,
                uint64_t t1) {
  put_as(h, CTK_HIST_OK, p, key, value, t0, t1);
}

static void cas(ctk_history *h, ctk_hist_type outcome, int64_t p, const char *key,
                const char *expected, const char *value, uint64_t t0, uint64_t t1) {
  event(h, p, CTK_HIST_INVOKE, CTK_F_CAS, t0, key, value, expected);
  event(h, p, outcome, CTK_F_CAS, t1, key, value, expected);
}

/* Checks h, frees it, and returns the verdict (1, 0 or -1). */
static int verdict(ctk_history *h) {
  ctk_check_result r;
  char err[256] = "";
  int rc = ctk_check_history(h, &r, err, sizeof err);
  if (rc != 0) fail_msg("checker error: %s", err);
  int lin = r.linearizable;
  if (lin == 1) assert_null(r.explanation);
  if (lin == 0) assert_non_null(r.explanation);
  ctk_check_result_free(&r);
  ctk_history_free(h);
  return lin;
}

static ctk_history fresh(void) {
  ctk_history h;
  ctk_history_init(&h);
  return h;
}

/* ---- plain registers ---- */

static void test_sequential_history_passes(void **state) {
  (void)state;
  ctk_history h = fresh();
  get(&h, 1, "k", NULL, 0, 5);
  put(&h, 1, "k", "a", 10, 20);
  get(&h, 2, "k", "a", 30, 40);
  cas(&h, CTK_HIST_OK, 1, "k", "a", "b", 50, 60);
  cas(&h, CTK_HIST_FAIL, 2, "k", "a", "c", 70, 80);
  get(&h, 1, "k", "b", 90, 95);
  assert_int_equal(verdict(&h), 1);

  h = fresh();
  assert_int_equal(verdict(&h), 1); /* empty */

  h = fresh();
  cas(&h, CTK_HIST_OK, 1, "k", NULL, "a", 0, 10); /* expected absent */
  get(&h, 2, "k", "a", 20, 30);
  assert_int_equal(verdict(&h), 1);
}

static void test_stale_read_fails(void **state) {
  (void)state;
  ctk_history h = fresh();
  put(&h, 1, "k", "a", 0, 10);
  put(&h, 1, "k", "b", 20, 30);
  get(&h, 2, "k", "a", 40, 50);
  assert_int_equal(verdict(&h), 0);

  h = fresh(); /* the same read overlapping the second write is fine */
  put(&h, 1, "k", "a", 0, 10);
  put(&h, 1, "k", "b", 20, 30);
  get(&h, 2, "k", "a", 25, 50);
  assert_int_equal(verdict(&h), 1);
}

static void test_lost_write_fails(void **state) {
  (void)state;
  ctk_history h = fresh(); /* an acknowledged write vanished */
  put(&h, 1, "k", "a", 0, 10);
  get(&h, 2, "k", NULL, 20, 30);
  assert_int_equal(verdict(&h), 0);

  h = fresh(); /* a lost update: both swaps from "a" succeeded, one after the other */
  put(&h, 1, "k", "a", 0, 5);
  cas(&h, CTK_HIST_OK, 2, "k", "a", "b", 10, 20);
  cas(&h, CTK_HIST_OK, 3, "k", "a", "c", 30, 40);
  assert_int_equal(verdict(&h), 0);
}

static void test_read_of_unwritten_value_fails(void **state) {
  (void)state;
  ctk_history h = fresh();
  put(&h, 1, "k", "a", 0, 10);
  get(&h, 2, "k", "zzz", 5, 30);
  assert_int_equal(verdict(&h), 0);
}

static void test_reads_going_backwards_fail(void **state) {
  (void)state;
  ctk_history h = fresh();
  put(&h, 1, "k", "a", 0, 10);
  put(&h, 2, "k", "b", 5, 50);
  get(&h, 3, "k", "b", 12, 14);
  get(&h, 3, "k", "a", 16, 18);
  assert_int_equal(verdict(&h), 0);

  h = fresh(); /* forwards is fine */
  put(&h, 1, "k", "a", 0, 10);
  put(&h, 2, "k", "b", 5, 50);
  get(&h, 3, "k", "a", 12, 14);
  get(&h, 3, "k", "b", 16, 18);
  assert_int_equal(verdict(&h), 1);
}

static void test_cas_outcomes(void **state) {
  (void)state;
  ctk_history h = fresh(); /* swapped although the value was not the expected one */
  put(&h, 1, "k", "a", 0, 10);
  cas(&h, CTK_HIST_OK, 2, "k", "b", "c", 20, 30);
  assert_int_equal(verdict(&h), 0);

  h = fresh(); /* failed although the value must have matched */
  put(&h, 1, "k", "a", 0, 10);
  cas(&h, CTK_HIST_FAIL, 2, "k", "a", "c", 20, 30);
  assert_int_equal(verdict(&h), 0);

  h = fresh(); /* ... unless a concurrent write could have come first */
  put(&h, 1, "k", "a", 0, 10);
  put(&h, 3, "k", "b", 15, 35);
  cas(&h, CTK_HIST_FAIL, 2, "k", "a", "c", 20, 30);
  get(&h, 1, "k", "b", 40, 50);
  assert_int_equal(verdict(&h), 1);

  h = fresh(); /* a failed cas changes nothing */
  put(&h, 1, "k", "a", 0, 10);
  cas(&h, CTK_HIST_FAIL, 2, "k", "x", "c", 20, 30);
  get(&h, 1, "k", "c", 40, 50);
  assert_int_equal(verdict(&h), 0);
}

static void test_concurrent_ops_in_either_order(void **state) {
  (void)state;
  for (int order = 0; order < 2; order++) {
    ctk_history h = fresh();
    put(&h, 1, "k", "a", 0, 100);
    put(&h, 2, "k", "b", 10, 90);
    get(&h, 3, "k", order ? "a" : "b", 95, 99);
    get(&h, 3, "k", order ? "a" : "b", 110, 120);
    assert_int_equal(verdict(&h), 1);
  }
}

/* A return and an invoke at the same timestamp are concurrent. */
static void test_equal_times_are_concurrent(void **state) {
  (void)state;
  ctk_history h = fresh();
  put(&h, 1, "k", "a", 0, 10);
  get(&h, 2, "k", NULL, 10, 20);
  assert_int_equal(verdict(&h), 1);

  h = fresh();
  put(&h, 1, "k", "a", 0, 10);
  get(&h, 2, "k", NULL, 11, 20);
  assert_int_equal(verdict(&h), 0);
}

static void test_failed_get_and_put_are_dropped(void **state) {
  (void)state;
  ctk_history h = fresh(); /* a failed put did not happen */
  put(&h, 1, "k", "a", 0, 10);
  put_as(&h, CTK_HIST_FAIL, 2, "k", "b", 20, 30);
  get(&h, 1, "k", "b", 40, 50);
  assert_int_equal(verdict(&h), 0);

  h = fresh(); /* a failed get carries no information */
  put(&h, 1, "k", "a", 0, 10);
  event(&h, 2, CTK_HIST_INVOKE, CTK_F_GET, 20, "k", NULL, NULL);
  event(&h, 2, CTK_HIST_FAIL, CTK_F_GET, 30, "k", "nonsense", NULL);
  assert_int_equal(verdict(&h), 1);
}

/* ---- info and pending operations ---- */

static void test_info_put(void **state) {
  (void)state;
  ctk_history h = fresh(); /* its value read much later: it took effect */
  put(&h, 1, "k", "a", 0, 10);
  put_as(&h, CTK_HIST_INFO, 2, "k", "x", 20, 30);
  get(&h, 1, "k", "a", 40, 50);
  get(&h, 1, "k", "x", 1000, 1010);
  assert_int_equal(verdict(&h), 1);

  h = fresh(); /* never observed: it did not */
  put(&h, 1, "k", "a", 0, 10);
  put_as(&h, CTK_HIST_INFO, 2, "k", "x", 20, 30);
  get(&h, 1, "k", "a", 40, 50);
  get(&h, 1, "k", "a", 1000, 1010);
  assert_int_equal(verdict(&h), 1);

  h = fresh(); /* read before it was even invoked */
  get(&h, 1, "k", "x", 0, 10);
  put_as(&h, CTK_HIST_INFO, 2, "k", "x", 20, 30);
  assert_int_equal(verdict(&h), 0);

  h = fresh(); /* took effect once only: a, x, a, x is impossible */
  put(&h, 1, "k", "a", 0, 10);
  put_as(&h, CTK_HIST_INFO, 2, "k", "x", 20, 30);
  get(&h, 1, "k", "x", 40, 50);
  put(&h, 1, "k", "a", 60, 70);
  get(&h, 1, "k", "x", 80, 90);
  assert_int_equal(verdict(&h), 0);

  h = fresh(); /* an info get is dropped */
  put(&h, 1, "k", "a", 0, 10);
  event(&h, 2, CTK_HIST_INVOKE, CTK_F_GET, 20, "k", NULL, NULL);
  event(&h, 2, CTK_HIST_INFO, CTK_F_GET, 30, "k", "nonsense", NULL);
  assert_int_equal(verdict(&h), 1);
}

static void test_info_cas(void **state) {
  (void)state;
  for (int applied = 0; applied < 2; applied++) {
    ctk_history h = fresh();
    put(&h, 1, "k", "a", 0, 10);
    cas(&h, CTK_HIST_INFO, 2, "k", "a", "b", 20, 30);
    get(&h, 1, "k", applied ? "b" : "a", 40, 50);
    assert_int_equal(verdict(&h), 1);
  }
  ctk_history h = fresh(); /* the comparison could never hold */
  put(&h, 1, "k", "a", 0, 10);
  cas(&h, CTK_HIST_INFO, 2, "k", "z", "b", 20, 30);
  get(&h, 1, "k", "b", 40, 50);
  assert_int_equal(verdict(&h), 0);

  h = fresh(); /* an unobserved info cas can still explain a failed cas */
  put(&h, 1, "k", "a", 0, 10);
  cas(&h, CTK_HIST_INFO, 2, "k", "a", "b", 20, 30);
  cas(&h, CTK_HIST_FAIL, 1, "k", "a", "c", 40, 50);
  assert_int_equal(verdict(&h), 1);
}

static void test_pending_invoke_is_info(void **state) {
  (void)state;
  ctk_history h = fresh();
  put(&h, 1, "k", "a", 0, 10);
  event(&h, 2, CTK_HIST_INVOKE, CTK_F_PUT, 20, "k", "x", NULL);
  get(&h, 1, "k", "x", 500, 510);
  assert_int_equal(verdict(&h), 1);

  h = fresh();
  get(&h, 1, "k", "x", 0, 10);
  event(&h, 2, CTK_HIST_INVOKE, CTK_F_PUT, 20, "k", "x", NULL);
  assert_int_equal(verdict(&h), 0);
}

/* ---- results ---- */

static void test_bad_key_is_named(void **state) {
  (void)state;
  ctk_history h = fresh();
  for (int k = 0; k < 5; k++) {
    char key[8];
    snprintf(key, sizeof key, "k%d", k);
    put(&h, k, key, "a", 0, 10);
    put(&h, k, key, "b", 20, 30);
    get(&h, k + 10, key, k == 3 ? "a" : "b", 40, 50); /* k3 reads a stale value */
  }
  put_as(&h, CTK_HIST_FAIL, 99, "k4", "c", 60, 70);
  ctk_check_result r;
  char err[256];
  assert_int_equal(ctk_check_history(&h, &r, err, sizeof err), 0);
  assert_int_equal(r.linearizable, 0);
  assert_string_equal(r.bad_key, "k3");
  assert_int_equal(r.bad_key_ops, 3);
  assert_int_equal(r.n_ops, 15);
  assert_int_equal(r.n_keys, 5);
  assert_non_null(strstr(r.explanation, "key \"k3\""));
  /* put a, then put b would leave the get of "a" (invoked after both) unsatisfiable. */
  assert_non_null(strstr(r.explanation, "longest linearizable prefix: 1 operation,"));
  assert_non_null(strstr(r.explanation, "1. process 3 put \"a\" (invoke 0, ok 10)"));
  assert_non_null(strstr(r.explanation,
                         "- process 3 put \"b\" (invoke 20, ok 30): fits here, "
                         "but then process 13 get read \"a\""));
  assert_non_null(strstr(r.explanation, "which nothing left can write"));

  /* Same input, same output. */
  ctk_check_result again;
  assert_int_equal(ctk_check_history(&h, &again, err, sizeof err), 0);
  assert_string_equal(again.explanation, r.explanation);
  assert_int_equal(again.states_explored, r.states_explored);
  ctk_check_result_free(&again);
  ctk_check_result_free(&r);
  assert_null(r.explanation);
  ctk_history_free(&h);
}

static void test_explanations(void **state) {
  (void)state;
  ctk_history h = fresh(); /* a read of a value nobody writes */
  put(&h, 1, "k", "a", 0, 10);
  get(&h, 2, "k", "zzz", 20, 30);
  ctk_check_result r;
  char err[256];
  assert_int_equal(ctk_check_history(&h, &r, err, sizeof err), 0);
  assert_int_equal(r.linearizable, 0);
  assert_non_null(strstr(r.explanation, "needs \"zzz\", which no operation on the key writes"));
  ctk_check_result_free(&r);
  ctk_history_free(&h);

  h = fresh(); /* a mismatch at the deadline */
  put(&h, 1, "k", "a", 0, 10);
  cas(&h, CTK_HIST_FAIL, 2, "k", "a", "c", 20, 30);
  assert_int_equal(ctk_check_history(&h, &r, err, sizeof err), 0);
  assert_int_equal(r.linearizable, 0);
  assert_non_null(strstr(r.explanation,
                         "longest linearizable prefix: 1 operation, value after "
                         "it \"a\""));
  assert_non_null(strstr(r.explanation,
                         "- process 2 cas \"a\" -> \"c\" (invoke 20, fail 30): "
                         "the value is \"a\""));
  ctk_check_result_free(&r);
  ctk_history_free(&h);
}

/* Stale reads are proven without a search, and the explanation says how. */
static void test_stale_read_explained(void **state) {
  (void)state;
  ctk_history h = fresh(); /* overwritten by a write that completed before the read */
  put(&h, 1, "k", "a", 0, 10);
  put(&h, 1, "k", "b", 20, 30);
  get(&h, 2, "k", "a", 40, 50);
  ctk_check_result r;
  char err[256];
  assert_int_equal(ctk_check_history(&h, &r, err, sizeof err), 0);
  assert_int_equal(r.linearizable, 0);
  assert_non_null(strstr(r.explanation,
                         "stale: process 2 get read \"a\" (invoke 40, ok 50) "
                         "needs \"a\", but it was overwritten for good before: "
                         "process 1 put \"b\" (invoke 20, ok 30)"));
  ctk_check_result_free(&r);
  ctk_history_free(&h);

  h = fresh(); /* by a write still running, but whose value someone already read */
  put(&h, 1, "k", "a", 0, 10);
  put(&h, 2, "k", "b", 15, 50);
  get(&h, 3, "k", "b", 16, 18);
  get(&h, 3, "k", "a", 20, 22);
  assert_int_equal(ctk_check_history(&h, &r, err, sizeof err), 0);
  assert_int_equal(r.linearizable, 0);
  assert_non_null(strstr(r.explanation,
                         "process 3 get read \"b\" (invoke 16, ok 18) saw its "
                         "value before that was invoked"));
  ctk_check_result_free(&r);
  ctk_history_free(&h);

  h = fresh(); /* not stale: the second write could have come first */
  put(&h, 1, "k", "a", 0, 10);
  put(&h, 2, "k", "b", 5, 50);
  get(&h, 3, "k", "b", 12, 14);
  get(&h, 3, "k", "a", 16, 18);
  assert_int_equal(ctk_check_history(&h, &r, err, sizeof err), 0);
  assert_int_equal(r.linearizable, 0); /* still not linearizable, found by the search */
  assert_null(strstr(r.explanation, "stale:"));
  ctk_check_result_free(&r);
  ctk_history_free(&h);
}

static void test_inconsistent_history_is_an_error(void **state) {
  (void)state;
  ctk_history h = fresh();
  event(&h, 1, CTK_HIST_OK, CTK_F_PUT, 5, "k", "a", NULL);
  ctk_check_result r;
  char err[256] = "";
  assert_int_equal(ctk_check_history(&h, &r, err, sizeof err), -1);
  assert_non_null(strstr(err, "without an open invoke"));
  ctk_check_result_free(&r);
  ctk_history_free(&h);

  h = fresh();
  event(&h, 1, CTK_HIST_INVOKE, CTK_F_PUT, 5, "k", "a", NULL);
  event(&h, 1, CTK_HIST_INVOKE, CTK_F_PUT, 6, "k", "b", NULL);
  assert_int_equal(ctk_check_history(&h, &r, err, sizeof err), -1);
  assert_non_null(strstr(err, "invokes while an operation is open"));
  ctk_history_free(&h);
}

/* ---- random histories of a simulated atomic register ---- */

typedef struct sim_op {
  int64_t process;
  ctk_op_f f;
  int key;
  uint64_t invoke_us, complete_us, point_us; /* point: where it takes effect, strictly inside */
  ctk_hist_type outcome;
  int pending; /* no completion recorded */
  const char *value, *expected, *read;
} sim_op;

typedef struct sim {
  sim_op *ops;
  size_t n;
  char (*names)[16]; /* written values */
  size_t n_names;
} sim;

static int by_point(const void *a, const void *b) {
  const sim_op *x = *(sim_op *const *)a, *y = *(sim_op *const *)b;
  if (x->point_us != y->point_us) return x->point_us < y->point_us ? -1 : 1;
  return x < y ? -1 : x > y;
}

/* Generates n operations by `processes` clients on `keys` keys, each taking effect at a random
 * point inside its interval, run in that order against a map: the history is linearizable. */
static void sim_generate(sim *s, uint64_t seed, size_t n, int processes, int keys,
                         double info_rate) {
  ctk_rng rng;
  ctk_rng_seed(&rng, seed);
  s->ops = calloc(n, sizeof *s->ops);
  s->names = calloc(n + 1, sizeof *s->names);
  s->n = n;
  s->n_names = 0;
  assert_true(s->ops && s->names);
  uint64_t clock[64] = {0};
  assert_true(processes <= 64);
  for (size_t i = 0; i < n; i++) {
    sim_op *op = &s->ops[i];
    int p = (int)ctk_rng_range(&rng, 0, (uint64_t)processes - 1);
    op->process = p;
    op->key = (int)ctk_rng_range(&rng, 0, (uint64_t)keys - 1);
    uint64_t r = ctk_rng_range(&rng, 0, 99);
    op->f = r < 50 ? CTK_F_GET : r < 85 ? CTK_F_PUT : CTK_F_CAS;
    op->invoke_us = clock[p] + ctk_rng_range(&rng, 0, 20);
    op->complete_us = op->invoke_us + ctk_rng_range(&rng, 2, 100);
    op->point_us = ctk_rng_range(&rng, op->invoke_us + 1, op->complete_us - 1);
    clock[p] = op->complete_us;
    op->outcome = CTK_HIST_OK;
    if (ctk_rng_chance(&rng, info_rate))
      op->outcome = CTK_HIST_INFO;
    else if (ctk_rng_chance(&rng, 0.03))
      op->outcome = CTK_HIST_FAIL;
    if (op->f != CTK_F_GET) {
      snprintf(s->names[s->n_names], sizeof s->names[0], "v%zu", s->n_names);
      op->value = s->names[s->n_names++];
    }
  }
  /* An info op's process moves on; a pending one (no completion) must be its process's last. */
  int64_t last[64];
  for (int p = 0; p < processes; p++) last[p] = -1;
  for (size_t i = 0; i < n; i++) last[s->ops[i].process] = (int64_t)i;
  for (int p = 0; p < processes; p++)
    if (last[p] >= 0 && ctk_rng_chance(&rng, 0.3)) {
      s->ops[last[p]].pending = 1;
      s->ops[last[p]].outcome = CTK_HIST_INFO;
    }

  sim_op **order = malloc(n * sizeof *order);
  const char **current = calloc((size_t)keys, sizeof *current);
  assert_true(order && current);
  for (size_t i = 0; i < n; i++) order[i] = &s->ops[i];
  qsort(order, n, sizeof *order, by_point);
  for (size_t i = 0; i < n; i++) {
    sim_op *op = order[i];
    const char **value = &current[op->key];
    /* An info op may or may not take effect; a failed get/put never does. */
    int takes_effect = op->outcome != CTK_HIST_INFO || ctk_rng_chance(&rng, 0.5);
    if (op->f == CTK_F_GET) {
      op->read = *value;
    } else if (op->f == CTK_F_PUT) {
      if (takes_effect && op->outcome != CTK_HIST_FAIL) *value = op->value;
    } else {
      op->expected = ctk_rng_chance(&rng, 0.6) || s->n_names == 0
                         ? *value
                         : s->names[ctk_rng_range(&rng, 0, s->n_names - 1)];
      int match = (op->expected == NULL && *value == NULL) ||
                  (op->expected && *value && strcmp(op->expected, *value) == 0);
      if (op->outcome != CTK_HIST_INFO) op->outcome = match ? CTK_HIST_OK : CTK_HIST_FAIL;
      if (takes_effect && match) *value = op->value;
    }
  }
  free(current);
  free(order);
}

static void sim_free(sim *s) {
  free(s->ops);
  free(s->names);
}

typedef struct sim_event {
  uint64_t time;
  int is_invoke;
  size_t op;
} sim_event;

static int by_time(const void *a, const void *b) {
  const sim_event *x = a, *y = b;
  if (x->time != y->time) return x->time < y->time ? -1 : 1;
  if (x->is_invoke != y->is_invoke) return x->is_invoke - y->is_invoke; /* completions first */
  return x->op < y->op ? -1 : x->op > y->op;
}

/* The history of the simulation, events in time order. */
static void sim_history(const sim *s, ctk_history *h) {
  ctk_history_init(h);
  sim_event *events = malloc(2 * s->n * sizeof *events);
  assert_non_null(events);
  size_t n = 0;
  for (size_t i = 0; i < s->n; i++) {
    events[n++] = (sim_event){s->ops[i].invoke_us, 1, i};
    if (!s->ops[i].pending) events[n++] = (sim_event){s->ops[i].complete_us, 0, i};
  }
  qsort(events, n, sizeof *events, by_time);
  for (size_t i = 0; i < n; i++) {
    const sim_op *op = &s->ops[events[i].op];
    char key[16];
    snprintf(key, sizeof key, "key%d", op->key);
    ctk_hist_type type = events[i].is_invoke ? CTK_HIST_INVOKE : op->outcome;
    const char *value = op->f == CTK_F_GET ? (events[i].is_invoke ? NULL : op->read) : op->value;
    event(h, op->process, type, op->f, events[i].time, key, value, op->expected);
  }
  free(events);
}

static int sim_verdict(const sim *s, uint64_t *states) {
  ctk_history h;
  sim_history(s, &h);
  ctk_check_result r;
  char err[256] = "";
  if (ctk_check_history(&h, &r, err, sizeof err) != 0) fail_msg("checker error: %s", err);
  int lin = r.linearizable;
  if (states) *states = r.states_explored;
  ctk_check_result_free(&r);
  ctk_history_free(&h);
  return lin;
}

/* Corrupts one successful read (chosen by seed) to a value nobody wrote. */
static void sim_corrupt_read(sim *s, uint64_t seed) {
  size_t reads = 0;
  for (size_t i = 0; i < s->n; i++)
    reads += s->ops[i].f == CTK_F_GET && s->ops[i].outcome == CTK_HIST_OK;
  assert_true(reads > 0);
  size_t pick = seed % reads;
  for (size_t i = 0; i < s->n; i++) {
    if (s->ops[i].f != CTK_F_GET || s->ops[i].outcome != CTK_HIST_OK) continue;
    if (pick-- == 0) {
      s->ops[i].read = "never-written";
      return;
    }
  }
}

/* Makes one successful read (the first qualifying from a seed-chosen start) return a stale
 * value: one written by a completed write that another completed write overwrote before the read
 * was invoked. Values are unique, so the result cannot be linearizable. Returns 0 when no read
 * qualifies. */
static int sim_stale_read(sim *s, uint64_t seed) {
  for (size_t k = 0; k < s->n; k++) {
    sim_op *r = &s->ops[(seed + k) % s->n];
    if (r->f != CTK_F_GET || r->outcome != CTK_HIST_OK) continue;
    const sim_op *later = NULL, *earlier = NULL;
    for (size_t i = 0; i < s->n; i++) {
      const sim_op *w = &s->ops[i];
      if (w->key == r->key && w->f != CTK_F_GET && w->outcome == CTK_HIST_OK &&
          w->complete_us < r->invoke_us && (!later || w->complete_us > later->complete_us))
        later = w;
    }
    for (size_t i = 0; later && i < s->n; i++) {
      const sim_op *w = &s->ops[i];
      if (w->key == r->key && w->f != CTK_F_GET && w->outcome == CTK_HIST_OK &&
          w->complete_us < later->invoke_us && (!earlier || w->complete_us > earlier->complete_us))
        earlier = w;
    }
    if (earlier) {
      r->read = earlier->value;
      return 1;
    }
  }
  return 0;
}

static void run_random(uint64_t seed, size_t n, int processes, int keys, double info_rate) {
  sim s;
  sim_generate(&s, seed, n, processes, keys, info_rate);
  int lin = sim_verdict(&s, NULL);
  if (lin != 1) fail_msg("seed %llu: generated history judged %d", (unsigned long long)seed, lin);
  sim_free(&s);

  sim_generate(&s, seed, n, processes, keys, info_rate);
  sim_corrupt_read(&s, seed);
  lin = sim_verdict(&s, NULL);
  if (lin != 0) fail_msg("seed %llu: corrupted history judged %d", (unsigned long long)seed, lin);
  sim_free(&s);

  sim_generate(&s, seed, n, processes, keys, info_rate);
  if (sim_stale_read(&s, seed)) {
    lin = sim_verdict(&s, NULL);
    if (lin != 0) fail_msg("seed %llu: stale read judged %d", (unsigned long long)seed, lin);
  }
  sim_free(&s);
}

static void test_random_small_histories(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 200; seed++) run_random(seed, 60, 4, 2, 0.05);
}

static void test_random_multi_key_histories(void **state) {
  (void)state;
  for (uint64_t seed = 1000; seed < 1010; seed++) run_random(seed, 5000, 32, 50, 0.01);
}

static void test_random_hot_key(void **state) {
  (void)state;
  for (uint64_t seed = 2000; seed < 2003; seed++) run_random(seed, 3000, 16, 1, 0.01);
}

static void test_random_many_info_ops(void **state) {
  (void)state;
  for (uint64_t seed = 3000; seed < 3003; seed++) run_random(seed, 2000, 8, 1, 0.2);
}

/* ---- against brute force: tiny random histories, not necessarily linearizable ---- */

typedef struct tiny_op {
  int64_t process;
  ctk_op_f f;
  ctk_hist_type outcome;
  int pending;
  uint64_t invoke_us, complete_us;
  int value, expected; /* -1 absent, else an index into tiny_names */
} tiny_op;

static const char *const tiny_names[] = {"a", "b", "c"};

static const char *tiny_name(int v) { return v < 0 ? NULL : tiny_names[v]; }

/* Whether op takes part: failed gets and puts, and info gets, say nothing. */
static int tiny_considered(const tiny_op *op) {
  if (op->outcome == CTK_HIST_FAIL) return op->f == CTK_F_CAS;
  return !(op->outcome == CTK_HIST_INFO && op->f == CTK_F_GET);
}

/* Tries every order of the ops not in `used`, straight from the definition: an op may come next
 * when every completed op that returned before it was invoked is placed; info ops may be left
 * out. */
static int tiny_brute(const tiny_op *ops, int n, unsigned used, int state) {
  int all_done = 1;
  for (int i = 0; i < n; i++)
    if (tiny_considered(&ops[i]) && ops[i].outcome != CTK_HIST_INFO && !(used >> i & 1))
      all_done = 0;
  if (all_done) return 1;
  for (int i = 0; i < n; i++) {
    const tiny_op *op = &ops[i];
    if (!tiny_considered(op) || (used >> i & 1)) continue;
    int ready = 1;
    for (int j = 0; j < n && ready; j++)
      if (j != i && tiny_considered(&ops[j]) && ops[j].outcome != CTK_HIST_INFO &&
          !(used >> j & 1) && ops[j].complete_us < op->invoke_us)
        ready = 0;
    if (!ready) continue;
    int next = state;
    if (op->f == CTK_F_GET) {
      if (state != op->value) continue;
    } else if (op->f == CTK_F_PUT) {
      next = op->value;
    } else if (op->outcome == CTK_HIST_FAIL) {
      if (state == op->expected) continue;
    } else {
      if (state != op->expected) continue;
      next = op->value;
    }
    if (tiny_brute(ops, n, used | 1u << i, next)) return 1;
  }
  return 0;
}

static void tiny_generate(ctk_rng *rng, tiny_op *ops, int n) {
  uint64_t clock[3] = {0, 0, 0};
  int last[3] = {-1, -1, -1};
  for (int i = 0; i < n; i++) {
    tiny_op *op = &ops[i];
    int p = (int)ctk_rng_range(rng, 0, 2);
    op->process = p;
    op->f = (ctk_op_f)ctk_rng_range(rng, 0, 2);
    op->invoke_us = clock[p] + ctk_rng_range(rng, 0, 3);
    op->complete_us = op->invoke_us + ctk_rng_range(rng, 0, 6);
    clock[p] = op->complete_us;
    uint64_t o = ctk_rng_range(rng, 0, 9);
    op->outcome = o < 6 ? CTK_HIST_OK : o < 8 ? CTK_HIST_FAIL : CTK_HIST_INFO;
    op->pending = 0;
    op->value = (int)ctk_rng_range(rng, 0, 3) - 1;
    op->expected = (int)ctk_rng_range(rng, 0, 3) - 1;
    if (op->f == CTK_F_PUT && op->value < 0) op->value = 0;
    last[p] = i;
  }
  for (int p = 0; p < 3; p++)
    if (last[p] >= 0 && ops[last[p]].outcome == CTK_HIST_INFO && ctk_rng_chance(rng, 0.5))
      ops[last[p]].pending = 1;
}

static void tiny_history(const tiny_op *ops, int n, ctk_history *h) {
  ctk_history_init(h);
  for (int i = 0; i < n; i++) { /* per process in order; the checker sorts by time */
    const tiny_op *op = &ops[i];
    const char *value = op->f == CTK_F_GET ? NULL : tiny_name(op->value);
    const char *expected = op->f == CTK_F_CAS ? tiny_name(op->expected) : NULL;
    event(h, op->process, CTK_HIST_INVOKE, op->f, op->invoke_us, "k", value, expected);
    if (op->pending) continue;
    if (op->f == CTK_F_GET) value = tiny_name(op->value);
    event(h, op->process, op->outcome, op->f, op->complete_us, "k", value, expected);
  }
}

static void test_tiny_histories_against_brute_force(void **state) {
  (void)state;
  ctk_rng rng;
  ctk_rng_seed(&rng, 42);
  int verdicts[2] = {0, 0};
  for (int round = 0; round < 20000; round++) {
    tiny_op ops[8];
    int n = (int)ctk_rng_range(&rng, 1, 8);
    tiny_generate(&rng, ops, n);
    int expected = tiny_brute(ops, n, 0, -1);
    ctk_history h;
    tiny_history(ops, n, &h);
    int got = verdict(&h);
    if (got != expected)
      fail_msg("round %d: checker says %d, brute force %d", round, got, expected);
    verdicts[expected]++;
  }
  /* Both verdicts are well represented, so the comparison means something. */
  assert_true(verdicts[0] > 2000 && verdicts[1] > 2000);
}

/* A bound on states explored turns a hard search into "undecided". */
static void test_budget_gives_undecided(void **state) {
  (void)state;
  sim s;
  sim_generate(&s, 7, 2000, 16, 1, 0.01);
  ctk_history h;
  sim_history(&s, &h);
  ctk_check_result r;
  char err[256];
  assert_int_equal(ctk_check_history_bounded(&h, 100, &r, err, sizeof err), 0);
  assert_int_equal(r.linearizable, -1);
  assert_non_null(r.explanation);
  assert_non_null(strstr(r.explanation, "undecided"));
  ctk_check_result_free(&r);
  assert_int_equal(ctk_check_history_bounded(&h, 0, &r, err, sizeof err), 0);
  assert_int_equal(r.linearizable, 1);
  ctk_check_result_free(&r);
  ctk_history_free(&h);
  sim_free(&s);
}

/* ---- ctk check ---- */

/* Writes h to a new temporary file (h is freed); the caller unlinks and frees the path. */
static char *history_file(ctk_history *h) {
  char *path = strdup("/tmp/ctk_test_checker_XXXXXX");
  assert_non_null(path);
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  FILE *out = fdopen(fd, "w");
  assert_non_null(out);
  assert_int_equal(ctk_history_write_jsonl(h, out), 0);
  fclose(out);
  ctk_history_free(h);
  return path;
}

static int run_check(const char *path, const char *option, const char *option_value) {
  char *argv[] = {"check", (char *)path, "--quiet", (char *)option, (char *)option_value, NULL};
  int argc = option ? (option_value ? 5 : 4) : 3;
  return ctk_cmd_check(argc, argv);
}

static void test_cmd_check_exit_statuses(void **state) {
  (void)state;
  ctk_history h = fresh();
  put(&h, 1, "k", "a", 0, 10);
  get(&h, 2, "k", "a", 20, 30);
  char *good = history_file(&h);
  assert_int_equal(run_check(good, NULL, NULL), 0);

  h = fresh();
  put(&h, 1, "k", "a", 0, 10);
  get(&h, 2, "k", NULL, 20, 30);
  char *bad = history_file(&h);
  assert_int_equal(run_check(bad, NULL, NULL), 1);

  sim s; /* a hot key: more than one state to explore */
  sim_generate(&s, 7, 500, 8, 1, 0.01);
  sim_history(&s, &h);
  sim_free(&s);
  char *busy = history_file(&h);
  assert_int_equal(run_check(busy, "--max-states", "3"), 3);
  assert_int_equal(run_check(busy, "--max-states", "100000000"), 0);

  h = fresh();
  event(&h, 1, CTK_HIST_INVOKE, CTK_F_PUT, 0, "k", "a", NULL);
  char *malformed = history_file(&h);
  FILE *f = fopen(malformed, "a");
  assert_non_null(f);
  fputs("{\"process\": 1}\n", f);
  fclose(f);
  assert_int_equal(run_check(malformed, NULL, NULL), 2);
  assert_int_equal(run_check("/nonexistent/history.jsonl", NULL, NULL), 2);
  assert_int_equal(run_check(good, "--max-states", "zero"), 2);
  assert_int_equal(run_check(good, "--bogus", NULL), 2);
  char *no_file[] = {"check", NULL};
  assert_int_equal(ctk_cmd_check(1, no_file), 2);

  char *paths[] = {good, bad, busy, malformed};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    unlink(paths[i]);
    free(paths[i]);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sequential_history_passes),
      cmocka_unit_test(test_stale_read_fails),
      cmocka_unit_test(test_lost_write_fails),
      cmocka_unit_test(test_read_of_unwritten_value_fails),
      cmocka_unit_test(test_reads_going_backwards_fail),
      cmocka_unit_test(test_cas_outcomes),
      cmocka_unit_test(test_concurrent_ops_in_either_order),
      cmocka_unit_test(test_equal_times_are_concurrent),
      cmocka_unit_test(test_failed_get_and_put_are_dropped),
      cmocka_unit_test(test_info_put),
      cmocka_unit_test(test_info_cas),
      cmocka_unit_test(test_pending_invoke_is_info),
      cmocka_unit_test(test_bad_key_is_named),
      cmocka_unit_test(test_explanations),
      cmocka_unit_test(test_stale_read_explained),
      cmocka_unit_test(test_inconsistent_history_is_an_error),
      cmocka_unit_test(test_random_small_histories),
      cmocka_unit_test(test_random_multi_key_histories),
      cmocka_unit_test(test_random_hot_key),
      cmocka_unit_test(test_random_many_info_ops),
      cmocka_unit_test(test_tiny_histories_against_brute_force),
      cmocka_unit_test(test_budget_gives_undecided),
      cmocka_unit_test(test_cmd_check_exit_statuses),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
