/* staleness.c: the staleness of a history's reads, and the check of a run that allowed stale
 * reads (see staleness.h). Per key, each completed get is compared with the completed writes of
 * its key: O(gets x writes) per key, which the workloads' key spaces keep small. */
#include "staleness.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct st_op {
  const char *key, *value; /* interned in the history: equal strings, equal pointers */
  const char *expected;    /* cas: the value it expected (NULL: absent) */
  ctk_op_f f;
  ctk_hist_type outcome; /* CTK_HIST_INVOKE: never completed */
  int64_t process;
  uint64_t invoke_us, complete_us;
} st_op;

/* Pairs invokes with completions: a process has at most one operation open. */
typedef struct st_open {
  int used;
  int64_t process;
  size_t op; /* its open operation, SIZE_MAX: none */
} st_open;

static int build_ops(const ctk_history *h, st_op **ops_out, size_t *n_out) {
  size_t cap = 64;
  while (cap < 2 * h->n + 2) cap *= 2;
  st_open *open = malloc(cap * sizeof *open);
  st_op *ops = malloc((h->n + 1) * sizeof *ops);
  if (!open || !ops) {
    free(open);
    free(ops);
    return -1;
  }
  memset(open, 0, cap * sizeof *open);
  size_t n = 0;
  for (size_t i = 0; i < h->n; i++) {
    const ctk_hist_event *e = &h->events[i];
    size_t slot = (size_t)((uint64_t)e->process * 0x9E3779B97F4A7C15ull) & (cap - 1);
    while (open[slot].used && open[slot].process != e->process) slot = (slot + 1) & (cap - 1);
    if (e->type == CTK_HIST_INVOKE) {
      ops[n] =
          (st_op){e->key, e->value, e->expected, e->f, CTK_HIST_INVOKE, e->process, e->time_us, 0};
      open[slot] = (st_open){1, e->process, n++};
    } else if (open[slot].used && open[slot].op != SIZE_MAX) {
      st_op *op = &ops[open[slot].op];
      op->outcome = e->type;
      op->complete_us = e->time_us;
      if (e->f == CTK_F_GET) op->value = e->value; /* what was read */
      open[slot].op = SIZE_MAX;
    }
  }
  free(open);
  *ops_out = ops;
  *n_out = n;
  return 0;
}

static int by_key(const void *a, const void *b) {
  const st_op *x = a, *y = b;
  if (x->key != y->key) return (uintptr_t)x->key < (uintptr_t)y->key ? -1 : 1;
  return x->invoke_us < y->invoke_us ? -1 : x->invoke_us > y->invoke_us;
}

static int is_write(const st_op *op) { return op->f != CTK_F_GET; }

/* When every write of value v had completed: UINT64_MAX when one may still take effect (no
 * completion), 0 when no write of v is known at all (then nothing is provable: returns 0 and
 * *known = 0). Failed puts never took effect; failed cas did not write. */
static uint64_t written_until(const st_op *ops, size_t n, const char *v, int *known) {
  uint64_t until = 0;
  *known = 0;
  for (size_t i = 0; i < n; i++) {
    const st_op *w = &ops[i];
    if (!is_write(w) || w->value != v || w->outcome == CTK_HIST_FAIL) continue;
    *known = 1;
    uint64_t t = w->outcome == CTK_HIST_OK ? w->complete_us : UINT64_MAX;
    if (t > until) until = t;
  }
  return until;
}

static void keep_shown(ctk_staleness *s, const st_op *get, uint32_t versions, uint64_t behind) {
  ctk_stale_read r = {.process = get->process,
                      .invoke_us = get->invoke_us,
                      .versions = versions,
                      .behind_us = behind};
  snprintf(r.key, sizeof r.key, "%s", get->key);
  size_t at = s->n_shown;
  while (at > 0) {
    const ctk_stale_read *p = &s->shown[at - 1];
    if (p->versions > versions || (p->versions == versions && p->behind_us >= behind)) break;
    at--;
  }
  if (at >= CTK_STALE_SHOWN) return;
  size_t move = (s->n_shown < CTK_STALE_SHOWN ? s->n_shown : CTK_STALE_SHOWN - 1) - at;
  memmove(&s->shown[at + 1], &s->shown[at], move * sizeof r);
  s->shown[at] = r;
  if (s->n_shown < CTK_STALE_SHOWN) s->n_shown++;
}

/* When write w provably took effect: its completion, or the first return of an op that observed
 * its value (a get that read it, a cas that found it), whichever is earlier; UINT64_MAX when
 * neither. Values are unique per write in ctk's workloads. */
static uint64_t took_effect_by(const st_op *ops, size_t n, const st_op *w) {
  uint64_t t = w->outcome == CTK_HIST_OK ? w->complete_us : UINT64_MAX;
  for (size_t i = 0; i < n; i++) {
    const st_op *o = &ops[i];
    if (o->outcome != CTK_HIST_OK || o->complete_us >= t) continue;
    if ((o->f == CTK_F_GET && o->value == w->value) ||
        (o->f == CTK_F_CAS && o->expected == w->value && o->expected))
      t = o->complete_us;
  }
  return t;
}

static int measure_key(const st_op *ops, size_t n, ctk_staleness *s, double *versions_sum,
                       double *behind_sum) {
  uint64_t *effect = malloc((n + 1) * sizeof *effect);
  if (!effect) return -1;
  for (size_t j = 0; j < n; j++)
    effect[j] = is_write(&ops[j]) && ops[j].outcome != CTK_HIST_FAIL
                    ? took_effect_by(ops, n, &ops[j])
                    : UINT64_MAX;
  for (size_t i = 0; i < n; i++) {
    const st_op *get = &ops[i];
    if (get->f != CTK_F_GET || get->outcome != CTK_HIST_OK) continue;
    s->reads++;
    int known = 1;
    uint64_t until = get->value ? written_until(ops, n, get->value, &known) : 0;
    if (!known || until == UINT64_MAX) continue;
    /* The writes that began after every write of the value read had completed, and provably
     * took effect before the get was invoked: the value had been overwritten that many times. */
    uint32_t versions = 0;
    uint64_t first_done = UINT64_MAX;
    for (size_t j = 0; j < n; j++) {
      const st_op *w = &ops[j];
      if (effect[j] >= get->invoke_us || w->value == get->value) continue;
      if (get->value && w->invoke_us <= until) continue;
      versions++;
      if (effect[j] < first_done) first_done = effect[j];
    }
    if (!versions) continue;
    uint64_t behind = get->invoke_us - first_done;
    s->stale++;
    if (versions > s->versions_max) s->versions_max = versions;
    if (behind > s->behind_us_max) s->behind_us_max = behind;
    *versions_sum += versions;
    *behind_sum += (double)behind;
    keep_shown(s, get, versions, behind);
  }
  free(effect);
  return 0;
}

int ctk_staleness_measure(const ctk_history *h, ctk_staleness *out) {
  memset(out, 0, sizeof *out);
  st_op *ops;
  size_t n;
  if (build_ops(h, &ops, &n)) return -1;
  qsort(ops, n, sizeof *ops, by_key);
  double versions_sum = 0, behind_sum = 0;
  for (size_t lo = 0; lo < n;) {
    size_t hi = lo;
    while (hi < n && ops[hi].key == ops[lo].key) hi++;
    if (measure_key(ops + lo, hi - lo, out, &versions_sum, &behind_sum)) {
      free(ops);
      return -1;
    }
    lo = hi;
  }
  if (out->stale) {
    out->versions_mean = versions_sum / (double)out->stale;
    out->behind_us_mean = behind_sum / (double)out->stale;
  }
  free(ops);
  return 0;
}

int ctk_check_run_history(const ctk_history *h, int stale_reads_allowed, ctk_check_result *result,
                          ctk_staleness *staleness, char *err, size_t err_len) {
  if (ctk_staleness_measure(h, staleness)) {
    snprintf(err, err_len, "out of memory");
    return -1;
  }
  if (!stale_reads_allowed) return ctk_check_history(h, result, err, err_len);
  ctk_history writes;
  ctk_history_init(&writes);
  for (size_t i = 0; i < h->n; i++) {
    const ctk_hist_event *e = &h->events[i];
    if (e->f == CTK_F_GET) continue;
    if (ctk_history_add(&writes, e->process, e->type, e->f, e->time_us, e->key, e->value,
                        e->expected)) {
      ctk_history_free(&writes);
      snprintf(err, err_len, "out of memory");
      return -1;
    }
  }
  int rc = ctk_check_history(&writes, result, err, err_len);
  ctk_history_free(&writes);
  return rc;
}

void ctk_staleness_print(const ctk_staleness *s, int stale_reads_allowed, const char *indent,
                         FILE *out) {
  if (!s->stale && !stale_reads_allowed) return;
  if (stale_reads_allowed)
    fprintf(out,
            "%sconsistency      writes linearizable, stale reads allowed (workload.stale_reads)\n",
            indent);
  fprintf(out, "%sstale reads      %" PRIu64 " of %" PRIu64 " reads", indent, s->stale, s->reads);
  if (s->stale)
    fprintf(out, "; behind by up to %u versions (mean %.1f) and %.1f ms (mean %.1f ms)",
            s->versions_max, s->versions_mean, (double)s->behind_us_max / 1000,
            s->behind_us_mean / 1000);
  fprintf(out, "\n");
  for (size_t i = 0; i < s->n_shown; i++) {
    const ctk_stale_read *r = &s->shown[i];
    fprintf(out, "%s  client %" PRId64 " read %s at %.6f s: %u versions, %.1f ms behind\n", indent,
            r->process, r->key, (double)r->invoke_us / 1e6, r->versions,
            (double)r->behind_us / 1000);
  }
}

void ctk_staleness_to_results(const ctk_staleness *s, int stale_reads_allowed, ctk_results *r) {
  r->stale_reads_allowed = stale_reads_allowed;
  r->reads_checked = s->reads;
  r->reads_stale = s->stale;
  r->stale_versions_max = s->versions_max;
  r->stale_behind_us_max = s->behind_us_max;
  r->stale_versions_mean = s->versions_mean;
  r->stale_behind_us_mean = s->behind_us_mean;
}
