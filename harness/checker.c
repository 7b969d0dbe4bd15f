/* checker.c: the linearizability checker (see checker.h). Pairs each completion with its
 * invoke, splits the operations per key (a store is linearizable iff each key is: the
 * P-compositionality of Herlihy and Wing, 1990), searches each key in order of first appearance
 * (checker_search.c), and explains the first key that fails. */
#include "checker.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "checker_search.h"

#define CHECK_MAX_MEMO_BYTES ((size_t)2 << 30) /* per key; past it the key is undecided */
#define EXPLAIN_PREFIX_OPS   20                /* the last ops of the prefix shown */
#define EXPLAIN_CANDIDATES   32
#define EXPLAIN_VALUE_CHARS  48

/* ---- operations ---- */

/* Strings to dense ids, by content (the history interns them, but the checker does not rely on
 * it). names[id] is the string; id 0 is reserved (NULL) in the value table. */
typedef struct id_slot {
  uint64_t hash;
  const char *s;
  uint32_t id;
} id_slot;

typedef struct id_table {
  id_slot *slots;
  size_t cap;
  const char **names;
  uint32_t n;
} id_table;

static int id_table_init(id_table *t, size_t expected) {
  t->cap = 64;
  while (t->cap < expected * 2) t->cap *= 2;
  t->slots = calloc(t->cap, sizeof *t->slots);
  t->names = malloc((expected + 1) * sizeof *t->names);
  t->n = 0;
  return t->slots && t->names ? 0 : -1;
}

static void id_table_free(id_table *t) {
  free(t->slots);
  free(t->names);
}

/* The id of s (added when new); the table was sized for every string, so it never fills. */
static uint32_t id_table_get(id_table *t, const char *s) {
  size_t len = strlen(s);
  uint64_t hash = XXH3_64bits(s, len);
  size_t j = hash & (t->cap - 1);
  while (t->slots[j].s) {
    if (t->slots[j].hash == hash && strcmp(t->slots[j].s, s) == 0) return t->slots[j].id;
    j = (j + 1) & (t->cap - 1);
  }
  t->slots[j] = (id_slot){.hash = hash, .s = s, .id = t->n};
  t->names[t->n] = s;
  return t->n++;
}

/* The open operation of each process, while pairing: process -> op index + 1 (0: none). */
typedef struct open_slot {
  int64_t process;
  uint32_t op_plus_1;
  uint8_t used;
} open_slot;

static open_slot *open_find(open_slot *slots, size_t cap, int64_t process) {
  size_t j = XXH3_64bits(&process, sizeof process) & (cap - 1);
  while (slots[j].used && slots[j].process != process) j = (j + 1) & (cap - 1);
  return &slots[j];
}

/* ---- the whole check's working state ---- */

typedef struct check_ctx {
  const ctk_history *h;
  check_op *ops;
  size_t n_ops;
  id_table keys, values;
  uint32_t *key_start; /* ops of key k: key_ops[key_start[k] .. key_start[k + 1]) */
  uint32_t *key_ops;
  char *err;
  size_t err_len;
} check_ctx;

static int check_fail(check_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int check_fail(check_ctx *c, const char *fmt, ...) {
  if (c->err && c->err_len) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->err_len, fmt, ap);
    va_end(ap);
  }
  return -1;
}

static int event_valid(const ctk_hist_event *e) {
  return e->key && e->type >= CTK_HIST_INVOKE && e->type <= CTK_HIST_INFO && e->f >= CTK_F_GET &&
         e->f <= CTK_F_CAS;
}

/* Pairs each completion with its process's open invoke into c->ops. Returns 0, or -1. */
static int pair_operations(check_ctx *c) {
  const ctk_history *h = c->h;
  if (h->n > CTK_HISTORY_MAX_EVENTS) return check_fail(c, "history has too many events");
  size_t cap = 64;
  while (cap < h->n * 2) cap *= 2;
  open_slot *open = calloc(cap, sizeof *open);
  c->ops = malloc((h->n + 1) * sizeof *c->ops);
  if (!open || !c->ops || id_table_init(&c->keys, h->n) ||
      id_table_init(&c->values, 2 * h->n + 1)) {
    free(open);
    return check_fail(c, "out of memory");
  }
  c->values.names[c->values.n++] = NULL; /* CHECK_VALUE_ABSENT */
  int rc = 0;
  for (size_t i = 0; i < h->n && rc == 0; i++) {
    const ctk_hist_event *e = &h->events[i];
    if (!event_valid(e)) {
      rc = check_fail(c, "event %zu: invalid type, f or key", i);
      break;
    }
    open_slot *slot = open_find(open, cap, e->process);
    if (e->type == CTK_HIST_INVOKE) {
      if (slot->used && slot->op_plus_1) {
        rc = check_fail(c, "event %zu: process %" PRId64 " invokes while an operation is open", i,
                        e->process);
        break;
      }
      check_op *op = &c->ops[c->n_ops];
      *op = (check_op){.process = e->process,
                       .invoke_us = e->time_us,
                       .f = (uint8_t)e->f,
                       .outcome = CTK_HIST_INFO,
                       .key_id = id_table_get(&c->keys, e->key)};
      if (e->f != CTK_F_GET) op->value_id = e->value ? id_table_get(&c->values, e->value) : 0;
      if (e->f == CTK_F_CAS)
        op->expected_id = e->expected ? id_table_get(&c->values, e->expected) : 0;
      *slot = (open_slot){.process = e->process, .op_plus_1 = (uint32_t)++c->n_ops, .used = 1};
      continue;
    }
    if (!slot->used || !slot->op_plus_1) {
      rc = check_fail(c, "event %zu: process %" PRId64 " completes without an open invoke", i,
                      e->process);
      break;
    }
    check_op *op = &c->ops[slot->op_plus_1 - 1];
    slot->op_plus_1 = 0;
    if (op->f != e->f || strcmp(c->keys.names[op->key_id], e->key) != 0 ||
        e->time_us < op->invoke_us) {
      rc = check_fail(c,
                      "event %zu: completion of process %" PRId64
                      " does not match its invoke (f, key or time)",
                      i, e->process);
      break;
    }
    op->completed = 1;
    op->outcome = (uint8_t)e->type;
    op->complete_us = e->time_us;
    if (e->f == CTK_F_GET && e->type == CTK_HIST_OK)
      op->value_id = e->value ? id_table_get(&c->values, e->value) : 0;
  }
  free(open);
  return rc;
}

/* get/put fail: never took effect; info get: cannot change the state. */
static int op_considered(const check_op *op) {
  if (op->outcome == CTK_HIST_FAIL) return op->f == CTK_F_CAS;
  if (op->outcome == CTK_HIST_INFO) return op->f != CTK_F_GET;
  return 1;
}

/* Groups the considered operations by key (counting sort, stable: invoke order within a key). */
static int group_by_key(check_ctx *c, ctk_check_result *result) {
  uint32_t n_keys = c->keys.n;
  c->key_start = calloc((size_t)n_keys + 2, sizeof *c->key_start);
  c->key_ops = malloc((c->n_ops + 1) * sizeof *c->key_ops);
  if (!c->key_start || !c->key_ops) return check_fail(c, "out of memory");
  for (size_t i = 0; i < c->n_ops; i++)
    if (op_considered(&c->ops[i])) c->key_start[c->ops[i].key_id + 2]++;
  for (uint32_t k = 0; k < n_keys; k++) {
    if (c->key_start[k + 2]) result->n_keys++;
    result->n_ops += c->key_start[k + 2];
    c->key_start[k + 2] += c->key_start[k + 1];
  }
  for (size_t i = 0; i < c->n_ops; i++)
    if (op_considered(&c->ops[i])) c->key_ops[c->key_start[c->ops[i].key_id + 1]++] = (uint32_t)i;
  return 0;
}

/* ---- explanations ---- */

typedef struct strbuf {
  char *s;
  size_t len, cap;
  int oom;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(strbuf *b, const char *fmt, ...) {
  if (b->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (b->s && b->len + (size_t)n < b->cap) {
      b->len += (size_t)n;
      return;
    }
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + (size_t)n + 1) cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
      b->oom = 1;
      return;
    }
    b->s = s;
    b->cap = cap;
  }
}

/* A value for humans: quoted, control characters shown as '?', long values cut. */
static void sb_value(strbuf *b, const char *v) {
  if (!v) {
    sb_printf(b, "absent");
    return;
  }
  char shown[EXPLAIN_VALUE_CHARS + 1];
  size_t n = 0;
  for (; v[n] && n < EXPLAIN_VALUE_CHARS; n++)
    shown[n] = (unsigned char)v[n] < 0x20 || v[n] == '"' ? '?' : v[n];
  shown[n] = '\0';
  sb_printf(b, "\"%s%s\"", shown, v[n] ? "..." : "");
}

static void sb_op(strbuf *b, const check_ctx *c, const check_op *op) {
  const char *const *names = c->values.names;
  sb_printf(b, "process %" PRId64 " %s ", op->process, ctk_op_f_name((ctk_op_f)op->f));
  if (op->f == CTK_F_CAS) {
    sb_value(b, names[op->expected_id]);
    sb_printf(b, " -> ");
  }
  if (op->f == CTK_F_GET && op->outcome == CTK_HIST_OK) sb_printf(b, "read ");
  sb_value(b, names[op->value_id]);
  sb_printf(b, " (invoke %" PRIu64, op->invoke_us);
  if (op->completed)
    sb_printf(b, ", %s %" PRIu64 ")", ctk_hist_type_name((ctk_hist_type)op->outcome),
              op->complete_us);
  else
    sb_printf(b, ", never completed)");
}

/* A register value: state c->values.n stands for a value nothing reads. */
static void sb_state(strbuf *b, const check_ctx *c, uint32_t state) {
  if (state < c->values.n)
    sb_value(b, c->values.names[state]);
  else
    sb_printf(b, "(an info put's value nothing reads)");
}

/* 1 when some operation of the key (ops, n of them) writes value v. */
static int key_writes(const check_ctx *c, const uint32_t *ops, uint32_t n, uint32_t v) {
  if (v == CHECK_VALUE_ABSENT) return 1; /* absent is where every key starts */
  for (uint32_t i = 0; i < n; i++) {
    const check_op *op = &c->ops[ops[i]];
    if (op->f != CTK_F_GET && op->value_id == v) return 1;
  }
  return 0;
}

/* Why a candidate cannot come right after the prefix, whose register value is `state`. */
static void sb_reason(strbuf *b, const check_ctx *c, const check_candidate *cand, uint32_t state,
                      const uint32_t *key_ops, uint32_t n) {
  if (cand->reason == CHECK_REASON_MISMATCH) {
    sb_printf(b, ": the value is ");
    sb_state(b, c, state);
  } else if (cand->reason == CHECK_REASON_DEAD_END) {
    sb_printf(b, ": fits here, but no order of the remaining operations follows it");
  } else {
    const check_op *stranded = &c->ops[cand->stranded];
    uint32_t v = stranded->f == CTK_F_GET ? stranded->value_id : stranded->expected_id;
    sb_printf(b, ": fits here, but then ");
    sb_op(b, c, stranded);
    sb_printf(b, " needs ");
    sb_value(b, c->values.names[v]);
    sb_printf(b, key_writes(c, key_ops, n, v) ? ", which nothing left can write"
                                              : ", which no operation on the key writes");
  }
}

static char *explain_failure(const check_ctx *c, check_search *search, const char *key,
                             const uint32_t *key_ops, uint32_t n_key_ops) {
  strbuf b = {0};
  const uint32_t *prefix;
  uint32_t n_prefix = check_search_prefix(search, &prefix);
  uint32_t state = CHECK_VALUE_ABSENT;
  for (uint32_t j = 0; j < n_prefix; j++) {
    if (prefix[j] == CHECK_PREFIX_SPARE)
      state = c->values.n; /* a value nothing reads */
    else
      check_model_step(&c->ops[prefix[j]], state, &state);
  }

  sb_printf(&b, "key ");
  sb_value(&b, key);
  sb_printf(&b, ": not linearizable (%u operation%s)\n", n_key_ops, n_key_ops == 1 ? "" : "s");
  uint32_t observer, overwriter, witness;
  if (check_search_stale_read(search, &observer, &overwriter, &witness)) {
    const check_op *needs = &c->ops[observer];
    const char *value =
        c->values.names[needs->f == CTK_F_GET ? needs->value_id : needs->expected_id];
    sb_printf(&b, "stale: ");
    sb_op(&b, c, needs);
    sb_printf(&b, " needs ");
    sb_value(&b, value);
    sb_printf(&b, ", but it was overwritten for good before: ");
    sb_op(&b, c, &c->ops[overwriter]);
    sb_printf(&b, " began after every write of ");
    sb_value(&b, value);
    sb_printf(&b, " had completed");
    if (witness != CHECK_NONE) {
      sb_printf(&b, ", and ");
      sb_op(&b, c, &c->ops[witness]);
      sb_printf(&b, " saw its value");
    } else {
      sb_printf(&b, " and completed");
    }
    sb_printf(&b, " before that was invoked\n");
  }
  sb_printf(&b, "longest linearizable prefix: %u operation%s, value after it ", n_prefix,
            n_prefix == 1 ? "" : "s");
  sb_state(&b, c, state);
  sb_printf(&b, "\n");
  uint32_t first = n_prefix > EXPLAIN_PREFIX_OPS ? n_prefix - EXPLAIN_PREFIX_OPS : 0;
  if (first) sb_printf(&b, "  ... %u earlier operations\n", first);
  for (uint32_t j = first; j < n_prefix; j++) {
    sb_printf(&b, "  %u. ", j + 1);
    if (prefix[j] == CHECK_PREFIX_SPARE)
      sb_printf(&b, "one of the info puts whose value nothing reads");
    else
      sb_op(&b, c, &c->ops[prefix[j]]);
    sb_printf(&b, "\n");
  }

  check_candidate candidates[EXPLAIN_CANDIDATES];
  uint32_t due, n_info;
  uint32_t n = check_search_candidates(search, candidates, EXPLAIN_CANDIDATES, &due, &n_info);
  sb_printf(&b,
            "operations that could come next, none leading to a linearization (one must "
            "take effect before this completes: ");
  sb_op(&b, c, &c->ops[due]);
  sb_printf(&b, "):\n");
  for (uint32_t j = 0; j < n && j < EXPLAIN_CANDIDATES; j++) {
    sb_printf(&b, "  - ");
    sb_op(&b, c, &c->ops[candidates[j].op]);
    sb_reason(&b, c, &candidates[j], state, key_ops, n_key_ops);
    sb_printf(&b, "\n");
  }
  if (n > EXPLAIN_CANDIDATES) sb_printf(&b, "  ... and %u more\n", n - EXPLAIN_CANDIDATES);
  if (n_info)
    sb_printf(&b, "  (and %u info operations, which may or may not have taken effect)\n", n_info);
  if (b.oom) {
    free(b.s);
    return NULL;
  }
  return b.s;
}

static char *explain_undecided(const char *key, const char *why, uint64_t states) {
  strbuf b = {0};
  sb_printf(&b, "key ");
  sb_value(&b, key);
  sb_printf(&b, ": undecided: %s after %" PRIu64 " states\n", why, states);
  if (b.oom) {
    free(b.s);
    return NULL;
  }
  return b.s;
}

/* ---- the check ---- */

static int check_keys(check_ctx *c, uint64_t max_states, ctk_check_result *result) {
  size_t max_ops = 0;
  for (uint32_t k = 0; k < c->keys.n; k++) {
    size_t n = c->key_start[k + 1] - c->key_start[k];
    if (n > max_ops) max_ops = n;
  }
  check_search *search =
      check_search_new(c->ops, max_ops, c->values.n, max_states, CHECK_MAX_MEMO_BYTES);
  if (!search) return check_fail(c, "out of memory");
  int rc = 0;
  result->linearizable = 1;
  for (uint32_t k = 0; k < c->keys.n && rc == 0 && result->linearizable != 0; k++) {
    uint32_t n = c->key_start[k + 1] - c->key_start[k];
    if (n == 0) continue;
    uint64_t before = check_search_states(search);
    check_verdict verdict = check_search_key(search, c->key_ops + c->key_start[k], n);
    const char *key = c->keys.names[k];
    if (verdict == CHECK_OUT_OF_MEMORY) {
      rc = check_fail(c, "out of memory");
    } else if (verdict == CHECK_FAIL) {
      result->linearizable = 0;
      result->bad_key_ops = n;
      snprintf(result->bad_key, sizeof result->bad_key, "%s", key);
      free(result->explanation); /* an earlier key's "undecided" */
      result->explanation = explain_failure(c, search, key, c->key_ops + c->key_start[k], n);
      if (!result->explanation) rc = check_fail(c, "out of memory");
    } else if (verdict != CHECK_OK && result->linearizable == 1) {
      result->linearizable = -1;
      uint64_t states = check_search_states(search) - before;
      result->explanation = explain_undecided(
          key,
          verdict == CHECK_BUDGET ? "gave up at the state bound" : "gave up at the memory bound",
          states);
      if (!result->explanation) rc = check_fail(c, "out of memory");
    }
  }
  result->states_explored = check_search_states(search);
  check_search_destroy(&search);
  return rc;
}

int ctk_check_history_bounded(const ctk_history *h, uint64_t max_states_per_key,
                              ctk_check_result *result, char *err, size_t err_len) {
  memset(result, 0, sizeof *result);
  if (err && err_len) err[0] = '\0';
  check_ctx c = {.h = h, .err = err, .err_len = err_len};
  int rc = pair_operations(&c);
  if (rc == 0) rc = group_by_key(&c, result);
  if (rc == 0)
    rc = check_keys(&c, max_states_per_key ? max_states_per_key : CTK_CHECK_MAX_STATES_PER_KEY,
                    result);
  free(c.ops);
  free(c.key_start);
  free(c.key_ops);
  id_table_free(&c.keys);
  id_table_free(&c.values);
  if (rc != 0) ctk_check_result_free(result);
  return rc;
}

int ctk_check_history(const ctk_history *h, ctk_check_result *result, char *err, size_t err_len) {
  return ctk_check_history_bounded(h, 0, result, err, err_len);
}

void ctk_check_result_free(ctk_check_result *result) {
  free(result->explanation);
  result->explanation = NULL;
}
