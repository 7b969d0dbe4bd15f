/* checker_stale.c: a quick proof that a key is not linearizable, for the commonest anomaly: a
 * stale read (see checker_stale.h). Needs no search, so it answers in O(n log n) where the search
 * could have to exhaust every configuration before the anomaly. */
#include "checker_stale.h"

#include <stdlib.h>

#include "history.h"

/* Evidence for the stale-read proof that some value b was written in a window: a write of b
 * took effect before `before_us` (it completed, or an op observing b returned), and every write
 * of b began at `after_us` or later. */
typedef struct overwrite {
  uint64_t before_us, after_us;
  uint32_t writer;  /* a write of b (the first invoked), op index */
  uint32_t witness; /* the op observing b (returned first); CHECK_NONE when the writer completed */
} overwrite;

/* Per value id, for the current key (valid where the stamps match). */
typedef struct value_facts {
  uint32_t written_stamp, seen_stamp;
  uint64_t written_until_us; /* the latest completion of its writes (UINT64_MAX: info) */
  uint64_t first_call_us;    /* the earliest invoke of its writes */
  uint64_t first_seen_us;    /* the earliest return of its observers (gets, cas ok) */
  uint32_t first_caller, first_seer;
} value_facts;

struct check_stale {
  const check_op *ops;
  uint32_t stamp;
  value_facts *facts;    /* per value id */
  overwrite *overwrites; /* scratch: the evidence, sorted */
};

static int is_completed_write(const check_op *op) {
  return op->outcome == CTK_HIST_OK && op->f != CTK_F_GET;
}

static int compare_overwrites(const void *a, const void *b) {
  const overwrite *x = a, *y = b;
  if (x->before_us != y->before_us) return x->before_us < y->before_us ? -1 : 1;
  if (x->after_us != y->after_us) return x->after_us < y->after_us ? -1 : 1;
  return x->writer < y->writer ? -1 : x->writer > y->writer;
}

/* Gathers, per value, when its writes began and ended and when it was first seen. */
static void gather_facts(check_stale *s, const uint32_t *key_ops, uint32_t n) {
  s->stamp++;
  for (uint32_t i = 0; i < n; i++) {
    const check_op *op = &s->ops[key_ops[i]];
    uint32_t v = check_op_written_value(op);
    if (v != CHECK_NONE) {
      value_facts *f = &s->facts[v];
      uint64_t until = op->outcome == CTK_HIST_INFO ? UINT64_MAX : op->complete_us;
      if (f->written_stamp != s->stamp) {
        f->written_stamp = s->stamp;
        f->written_until_us = 0;
        f->first_call_us = UINT64_MAX;
      }
      if (until > f->written_until_us) f->written_until_us = until;
      if (op->invoke_us < f->first_call_us) {
        f->first_call_us = op->invoke_us;
        f->first_caller = key_ops[i];
      }
    }
    v = check_op_observed_value(op);
    if (v != CHECK_NONE) {
      value_facts *f = &s->facts[v];
      if (f->seen_stamp != s->stamp || op->complete_us < f->first_seen_us) {
        f->first_seen_us = op->complete_us;
        f->first_seer = key_ops[i];
      }
      f->seen_stamp = s->stamp;
    }
  }
}

/* Fills overwrites with the evidence (see overwrite) sorted by `before`, each entry then holding
 * the latest `after` among it and those before it. Returns how many there are. */
static uint32_t collect_overwrites(check_stale *s, const uint32_t *key_ops, uint32_t n) {
  uint32_t k = 0;
  for (uint32_t i = 0; i < n; i++) {
    const check_op *op = &s->ops[key_ops[i]];
    if (is_completed_write(op))
      s->overwrites[k++] = (overwrite){op->complete_us, op->invoke_us, key_ops[i], CHECK_NONE};
    uint32_t b = check_op_observed_value(op);
    const value_facts *f = b != CHECK_NONE ? &s->facts[b] : NULL;
    if (f && b != CHECK_VALUE_ABSENT && f->written_stamp == s->stamp && f->first_seer == key_ops[i])
      s->overwrites[k++] =
          (overwrite){f->first_seen_us, f->first_call_us, f->first_caller, key_ops[i]};
  }
  qsort(s->overwrites, k, sizeof *s->overwrites, compare_overwrites);
  for (uint32_t j = 1; j < k; j++) {
    uint64_t before = s->overwrites[j].before_us;
    if (s->overwrites[j - 1].after_us >= s->overwrites[j].after_us) {
      s->overwrites[j] = s->overwrites[j - 1];
      s->overwrites[j].before_us = before;
    }
  }
  return k;
}

int check_stale_find(check_stale *s, const uint32_t *key_ops, uint32_t n,
                     check_stale_proof *proof) {
  *proof = (check_stale_proof){CHECK_NONE, CHECK_NONE, CHECK_NONE};
  gather_facts(s, key_ops, n);
  uint32_t k = collect_overwrites(s, key_ops, n);
  for (uint32_t i = 0; i < n; i++) {
    const check_op *op = &s->ops[key_ops[i]];
    uint32_t a = check_op_observed_value(op);
    if (a == CHECK_NONE) continue;
    int written = s->facts[a].written_stamp == s->stamp;
    if (!written && a != CHECK_VALUE_ABSENT) continue; /* never written: the search says so */
    uint32_t lo = 0, hi = k; /* the evidence complete before op was invoked: [0, lo) */
    while (lo < hi) {
      uint32_t mid = lo + (hi - lo) / 2;
      if (s->overwrites[mid].before_us < op->invoke_us)
        lo = mid + 1;
      else
        hi = mid;
    }
    if (lo == 0) continue;
    const overwrite *latest = &s->overwrites[lo - 1];
    if (written && latest->after_us <= s->facts[a].written_until_us) continue;
    *proof = (check_stale_proof){key_ops[i], latest->writer, latest->witness};
    return 1;
  }
  return 0;
}

check_stale *check_stale_new(const check_op *ops, size_t max_ops, size_t n_values) {
  check_stale *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->ops = ops;
  s->facts = calloc(n_values + 1, sizeof *s->facts);
  s->overwrites = malloc((2 * max_ops + 1) * sizeof *s->overwrites);
  if (!s->facts || !s->overwrites) check_stale_destroy(&s);
  return s;
}

void check_stale_destroy(check_stale **self_p) {
  check_stale *s = *self_p;
  if (!s) return;
  free(s->facts);
  free(s->overwrites);
  free(s);
  *self_p = NULL;
}
