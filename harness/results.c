/* results.c: what one run measured (see results.h). ctk_results_compute makes one pass over the
 * history, pairing each completion with its process's open invoke through a small hash table,
 * then a counting sort groups the latencies by second for the series and a sort of the committed
 * writes by invoke time answers each fault's unavailability with a binary search: O(n log n) time
 * and O(n) memory in the history's size. The rest prints a run as a table, writes it as JSON
 * (jansson, keys in a fixed order), and lays several runs side by side as a table, JSON and CSV. */
#include "results.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define US_PER_S           1000000ull
#define RESULTS_MAX_SERIES ((size_t)1 << 20) /* seconds of series kept (12 days) */
#define PROCESS_MIN_SLOTS  64
#define NO_INVOKE          UINT32_MAX
#define CELL_LEN           32
#define COMPARE_FIXED_ROWS 20

/* ---- pairing completions with invokes: process -> index of its open invoke ---- */

typedef struct open_slot {
  int64_t process;
  uint32_t invoke; /* NO_INVOKE: nothing open (or an empty slot when !used) */
  int used;
} open_slot;

typedef struct open_table {
  open_slot *slots;
  size_t n, cap; /* cap is a power of two, kept at most half full */
} open_table;

static size_t process_hash(int64_t p, size_t cap) {
  uint64_t x = (uint64_t)p * 0x9e3779b97f4a7c15ull;
  return (size_t)(x ^ (x >> 29)) & (cap - 1);
}

static open_slot *open_find(open_table *t, int64_t p) {
  size_t i = process_hash(p, t->cap);
  while (t->slots[i].used && t->slots[i].process != p) i = (i + 1) & (t->cap - 1);
  return &t->slots[i];
}

static int open_grow(open_table *t) {
  size_t cap = t->cap ? t->cap * 2 : PROCESS_MIN_SLOTS;
  open_slot *slots = calloc(cap, sizeof *slots);
  if (!slots) return -1;
  open_table bigger = {slots, t->n, cap};
  for (size_t i = 0; i < t->cap; i++)
    if (t->slots[i].used) *open_find(&bigger, t->slots[i].process) = t->slots[i];
  free(t->slots);
  *t = bigger;
  return 0;
}

/* The slot of process p, added when missing. NULL when out of memory. */
static open_slot *open_get(open_table *t, int64_t p) {
  if ((t->n + 1) * 2 > t->cap && open_grow(t)) return NULL;
  open_slot *s = open_find(t, p);
  if (!s->used) {
    s->used = 1;
    s->process = p;
    s->invoke = NO_INVOKE;
    t->n++;
  }
  return s;
}

/* ---- compute ---- */

typedef struct timed_latency {
  uint32_t second;
  uint64_t latency_us;
} timed_latency;

typedef struct committed_write {
  uint64_t invoke_us, complete_us;
} committed_write;

typedef struct compute_state {
  ctk_results *r;
  uint64_t warmup_us, end_us;
  uint64_t window_done;
  timed_latency *lats; /* ok/fail completions before end_us, in history order */
  size_t n_lats;
  committed_write *writes; /* only collected when there are faults */
  size_t n_writes;
} compute_state;

/* One completion paired with its invoke. */
static void record_op(compute_state *st, const ctk_hist_event *inv, const ctk_hist_event *done) {
  ctk_results *r = st->r;
  if (done->type == CTK_HIST_INFO) {
    r->ops_info++;
    return;
  }
  if (done->type == CTK_HIST_OK)
    r->ops_ok++;
  else
    r->ops_fail++;
  uint64_t t = done->time_us;
  uint64_t latency_us = t > inv->time_us ? t - inv->time_us : 0;
  int is_write = inv->f != CTK_F_GET;
  if (t >= st->warmup_us && t < st->end_us) {
    st->window_done++;
    ctk_histogram_record(&r->latency_all_us, latency_us);
    ctk_histogram_record(is_write ? &r->latency_write_us : &r->latency_read_us, latency_us);
  }
  size_t second = (size_t)(t / US_PER_S);
  if (t < st->end_us && second < r->n_series) {
    r->series[second].ops++;
    st->lats[st->n_lats++] = (timed_latency){(uint32_t)second, latency_us};
  }
  if (is_write && st->writes) st->writes[st->n_writes++] = (committed_write){inv->time_us, t};
}

static int pair_events(compute_state *st, const ctk_history *h) {
  open_table table = {0};
  for (size_t i = 0; i < h->n; i++) {
    const ctk_hist_event *e = &h->events[i];
    open_slot *s = open_get(&table, e->process);
    if (!s) {
      free(table.slots);
      return -1;
    }
    if (e->type == CTK_HIST_INVOKE) {
      s->invoke = (uint32_t)i; /* a second invoke replaces one never completed */
    } else if (s->invoke != NO_INVOKE) {
      record_op(st, &h->events[s->invoke], e);
      s->invoke = NO_INVOKE;
    } /* a completion without an open invoke is ignored */
  }
  free(table.slots);
  return 0;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* The value at quantile q of n sorted values, ranked as ctk_histogram_quantile ranks. */
static uint64_t sorted_quantile(const uint64_t *v, size_t n, double q) {
  if (!n) return 0;
  size_t rank = (size_t)(q * (double)n + 0.5);
  if (rank < 1) rank = 1;
  if (rank > n) rank = n;
  return v[rank - 1];
}

/* p50 and p99 of each second: the latencies grouped by second (a counting sort on the per-second
 * counts already in the series), then each second's group sorted. */
static int series_quantiles(compute_state *st) {
  ctk_results *r = st->r;
  if (!st->n_lats) return 0;
  uint64_t *grouped = malloc(st->n_lats * sizeof *grouped);
  size_t *next = malloc(r->n_series * sizeof *next);
  if (!grouped || !next) {
    free(grouped);
    free(next);
    return -1;
  }
  size_t off = 0;
  for (size_t s = 0; s < r->n_series; s++) {
    next[s] = off;
    off += r->series[s].ops;
  }
  for (size_t i = 0; i < st->n_lats; i++)
    grouped[next[st->lats[i].second]++] = st->lats[i].latency_us;
  off = 0;
  for (size_t s = 0; s < r->n_series; s++) {
    size_t n = r->series[s].ops;
    qsort(grouped + off, n, sizeof *grouped, cmp_u64);
    r->series[s].p50_us = sorted_quantile(grouped + off, n, 0.5);
    r->series[s].p99_us = sorted_quantile(grouped + off, n, 0.99);
    off += n;
  }
  free(grouped);
  free(next);
  return 0;
}

static int cmp_write(const void *a, const void *b) {
  const committed_write *x = a, *y = b;
  if (x->invoke_us != y->invoke_us) return x->invoke_us < y->invoke_us ? -1 : 1;
  return x->complete_us < y->complete_us ? -1 : x->complete_us > y->complete_us;
}

/* Per the header: the first committed write invoked at or after the fault (the earliest invoke,
 * ties broken by the earliest completion), from the fault to its completion. */
static void fault_unavailability(compute_state *st) {
  ctk_results *r = st->r;
  qsort(st->writes, st->n_writes, sizeof *st->writes, cmp_write);
  for (int k = 0; k < r->n_faults; k++) {
    ctk_fault_event *f = &r->faults[k];
    size_t lo = 0, hi = st->n_writes;
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (st->writes[mid].invoke_us < f->at_us)
        lo = mid + 1;
      else
        hi = mid;
    }
    f->unavailable_ms =
        lo < st->n_writes ? (double)(st->writes[lo].complete_us - f->at_us) / 1000 : -1;
  }
}

int ctk_results_compute(ctk_results *r, const ctk_history *h, uint64_t warmup_us, uint64_t end_us) {
  r->ops_ok = r->ops_fail = r->ops_info = 0;
  ctk_histogram_init(&r->latency_all_us);
  ctk_histogram_init(&r->latency_read_us);
  ctk_histogram_init(&r->latency_write_us);
  r->duration_s = end_us > warmup_us ? (double)(end_us - warmup_us) / 1e6 : 0;
  r->n_series = (size_t)((end_us + US_PER_S - 1) / US_PER_S);
  if (r->n_series > RESULTS_MAX_SERIES) r->n_series = RESULTS_MAX_SERIES;
  r->series = r->n_series ? calloc(r->n_series, sizeof *r->series) : NULL;
  if (r->n_faults < 0) r->n_faults = 0;
  if (r->n_faults > CTK_MAX_FAULTS) r->n_faults = CTK_MAX_FAULTS;
  compute_state st = {.r = r, .warmup_us = warmup_us, .end_us = end_us};
  size_t n_ops = h->n / 2 + 1; /* every completion needs an invoke before it */
  st.lats = malloc(n_ops * sizeof *st.lats);
  if (r->n_faults) st.writes = malloc(n_ops * sizeof *st.writes);
  int rc = -1;
  if ((r->n_series && !r->series) || !st.lats || (r->n_faults && !st.writes)) goto out;
  if (pair_events(&st, h) || series_quantiles(&st)) goto out;
  for (int k = 0; k < r->n_faults; k++) {
    size_t second = (size_t)(r->faults[k].at_us / US_PER_S);
    if (r->faults[k].at_us < end_us && second < r->n_series) r->series[second].faults++;
  }
  if (r->n_faults) fault_unavailability(&st);
  r->throughput_ops_s = r->duration_s > 0 ? (double)st.window_done / r->duration_s : 0;
  uint64_t done = r->ops_ok + r->ops_fail;
  r->msgs_per_op = done ? (double)r->msgs_sent / (double)done : 0;
  r->bytes_per_op = done ? (double)r->bytes_sent / (double)done : 0;
  rc = 0;
out:
  free(st.lats);
  free(st.writes);
  if (rc) {
    free(r->series);
    r->series = NULL;
    r->n_series = 0;
  }
  return rc;
}

void ctk_results_free(ctk_results *r) {
  free(r->series);
  r->series = NULL;
  r->n_series = 0;
}

/* ---- text formatting ---- */

/* 1234567 -> "1,234,567". */
static const char *fmt_count(uint64_t v, char *buf, size_t len) {
  char digits[32];
  int n = snprintf(digits, sizeof digits, "%" PRIu64, v);
  size_t o = 0;
  for (int i = 0; i < n && o + 1 < len; i++) {
    if (i && (n - i) % 3 == 0 && o + 2 < len) buf[o++] = ',';
    buf[o++] = digits[i];
  }
  buf[o] = 0;
  return buf;
}

/* Microseconds as milliseconds with three significant figures or so. */
static const char *fmt_ms(double us, char *buf, size_t len) {
  double ms = us / 1000;
  snprintf(buf, len, ms < 10 ? "%.2f" : ms < 1000 ? "%.1f" : "%.0f", ms);
  return buf;
}

static const char *verdict_name(int linearizable) {
  return linearizable == 1 ? "yes" : linearizable == 0 ? "NO" : "not decided";
}

static void print_latency(const char *label, const ctk_histogram *h, FILE *out) {
  char a[CELL_LEN], b[CELL_LEN], c[CELL_LEN], d[CELL_LEN], e[CELL_LEN], n[CELL_LEN];
  if (!h->total) {
    fprintf(out, "%-18sno operations completed in the window\n", label);
    return;
  }
  fprintf(out, "%-18sp50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (%s ops)\n", label,
          fmt_ms((double)ctk_histogram_quantile(h, 0.5), a, sizeof a),
          fmt_ms((double)ctk_histogram_quantile(h, 0.9), b, sizeof b),
          fmt_ms((double)ctk_histogram_quantile(h, 0.99), c, sizeof c),
          fmt_ms((double)ctk_histogram_quantile(h, 0.999), d, sizeof d),
          fmt_ms((double)h->max, e, sizeof e), fmt_count(h->total, n, sizeof n));
}

/* "crash of node 0", "drop on all nodes". */
static void describe_fault(const ctk_fault_event *f, char *buf, size_t len) {
  if (f->node == CTK_TARGET_ALL)
    snprintf(buf, len, "%s on all nodes", ctk_fault_kind_name(f->kind));
  else
    snprintf(buf, len, "%s of node %d", ctk_fault_kind_name(f->kind), f->node);
}

void ctk_results_print(const ctk_results *r, FILE *out) {
  char a[CELL_LEN], b[CELL_LEN];
  fprintf(out, "%s  %d nodes  %d clients  %.1f s measured (%s)  seed %" PRIu64 "\n", r->protocol,
          r->nodes, r->clients, r->duration_s, r->host, r->seed);
  fprintf(out, "  throughput      %s ops/s   ok %" PRIu64 "  fail %" PRIu64 "  info %" PRIu64 "\n",
          fmt_count((uint64_t)(r->throughput_ops_s + 0.5), a, sizeof a), r->ops_ok, r->ops_fail,
          r->ops_info);
  print_latency("  latency (ms)", &r->latency_all_us, out);
  print_latency("    reads", &r->latency_read_us, out);
  print_latency("    writes", &r->latency_write_us, out);
  fprintf(out,
          "  messages        %.1f per op, %.0f bytes per op; %" PRIu64 " leader changes; %" PRIu64
          " malformed, %" PRIu64 " rejected frames\n",
          r->msgs_per_op, r->bytes_per_op, r->leader_changes, r->msgs_malformed,
          r->frames_rejected);
  if (r->handshakes_failed)
    fprintf(out, "  refused         %" PRIu64 " connections at the handshake (keys or mechanism)\n",
            r->handshakes_failed);
  if (r->counters.n) ctk_results_print_counters(&r->counters, "  protocol       ", out);
  for (int k = 0; k < r->n_faults; k++) {
    const ctk_fault_event *f = &r->faults[k];
    char what[96], label[CELL_LEN];
    describe_fault(f, what, sizeof what);
    snprintf(label, sizeof label, "fault %d", k + 1);
    fprintf(out, "  %-14s  %s at %.2f s, ", label, what, (double)f->at_us / 1e6);
    if (f->healed_us)
      fprintf(out, "healed %.2f s", (double)f->healed_us / 1e6);
    else
      fprintf(out, "not healed during the run");
    if (f->unavailable_ms >= 0)
      fprintf(out, ": unavailable %s ms\n", fmt_ms(f->unavailable_ms * 1000, b, sizeof b));
    else
      fprintf(out, ": no write committed after it\n");
  }
  fprintf(out, "  linearizable    %s\n", verdict_name(r->linearizable));
  if (r->history_path[0]) fprintf(out, "  history         %s\n", r->history_path);
}

void ctk_results_print_counters(const ctk_counts *c, const char *label, FILE *out) {
  fprintf(out, "%s", label);
  for (size_t i = 0; i < c->n; i++)
    fprintf(out, "%s%s %" PRIu64, i ? "  " : " ", c->c[i].name, c->c[i].value);
  fprintf(out, "\n");
  double ratio = ctk_counts_fast_ratio(c);
  uint64_t led = ctk_counts_get(c, "commits_led", NULL);
  uint64_t executed = ctk_counts_get(c, "executed", NULL);
  if (ratio < 0) return;
  fprintf(out,
          "%*s fast path %.1f%%, %.2f dependencies per instance, execution delay mean %.2f ms max "
          "%.2f ms\n",
          (int)strlen(label), "", ratio * 100,
          led ? (double)ctk_counts_get(c, "deps_total", NULL) / (double)led : 0,
          executed
              ? (double)ctk_counts_get(c, "exec_delay_us_total", NULL) / (double)executed / 1000
              : 0,
          (double)ctk_counts_get(c, "exec_delay_us_max", NULL) / 1000);
}

/* ---- JSON ---- */

/* Rounded to a fixed number of decimals, so files read cleanly and compare across runs. */
static json_t *json_rounded(double v, double scale) { return json_real(round(v * scale) / scale); }

static json_t *json_u64(uint64_t v) {
  return v <= (uint64_t)INT64_MAX ? json_integer((json_int_t)v) : json_real((double)v);
}

static json_t *latency_json(const ctk_histogram *h) {
  json_t *o = json_object();
  json_object_set_new(o, "p50", json_u64(ctk_histogram_quantile(h, 0.5)));
  json_object_set_new(o, "p90", json_u64(ctk_histogram_quantile(h, 0.9)));
  json_object_set_new(o, "p99", json_u64(ctk_histogram_quantile(h, 0.99)));
  json_object_set_new(o, "p999", json_u64(ctk_histogram_quantile(h, 0.999)));
  json_object_set_new(o, "max", json_u64(h->total ? h->max : 0));
  json_object_set_new(o, "mean", json_rounded(ctk_histogram_mean(h), 10));
  return o;
}

static json_t *fault_json(const ctk_fault_event *f) {
  json_t *o = json_object();
  json_object_set_new(o, "kind", json_string(ctk_fault_kind_name(f->kind)));
  json_object_set_new(o, "node",
                      f->node == CTK_TARGET_ALL ? json_string("all") : json_integer(f->node));
  json_object_set_new(o, "at_s", json_rounded((double)f->at_us / 1e6, 1e6));
  json_object_set_new(o, "healed_s",
                      f->healed_us ? json_rounded((double)f->healed_us / 1e6, 1e6) : json_null());
  json_object_set_new(o, "unavailable_ms",
                      f->unavailable_ms >= 0 ? json_rounded(f->unavailable_ms, 1e3) : json_null());
  return o;
}

static json_t *series_json(const ctk_results *r) {
  json_t *a = json_array();
  for (size_t s = 0; s < r->n_series; s++) {
    const ctk_series_point *p = &r->series[s];
    json_t *o = json_object();
    json_object_set_new(o, "t_s", json_integer((json_int_t)s));
    json_object_set_new(o, "ops", json_u64(p->ops));
    json_object_set_new(o, "p50_us", json_u64(p->p50_us));
    json_object_set_new(o, "p99_us", json_u64(p->p99_us));
    json_object_set_new(o, "faults", json_integer(p->faults));
    json_array_append_new(a, o);
  }
  return a;
}

/* One run as a JSON object, keys in the documented order. NULL when out of memory. */
static json_t *results_json(const ctk_results *r) {
  json_t *o = json_object();
  if (!o) return NULL;
  json_object_set_new(o, "protocol", json_string(r->protocol));
  json_object_set_new(o, "host", json_string(r->host));
  json_object_set_new(o, "nodes", json_integer(r->nodes));
  json_object_set_new(o, "clients", json_integer(r->clients));
  json_object_set_new(o, "seed", json_u64(r->seed));
  json_object_set_new(o, "duration_s", json_rounded(r->duration_s, 1e6));
  json_object_set_new(o, "throughput_ops_s", json_rounded(r->throughput_ops_s, 100));
  json_object_set_new(o, "latency_us", latency_json(&r->latency_all_us));
  json_object_set_new(o, "latency_read_us", latency_json(&r->latency_read_us));
  json_object_set_new(o, "latency_write_us", latency_json(&r->latency_write_us));
  json_object_set_new(o, "ops_ok", json_u64(r->ops_ok));
  json_object_set_new(o, "ops_fail", json_u64(r->ops_fail));
  json_object_set_new(o, "ops_info", json_u64(r->ops_info));
  json_object_set_new(o, "linearizable",
                      r->linearizable < 0 ? json_null() : json_boolean(r->linearizable));
  json_object_set_new(
      o, "consistency",
      json_string(r->stale_reads_allowed ? "writes linearizable, stale reads allowed"
                                         : "linearizable"));
  json_t *stale = json_object();
  json_object_set_new(stale, "count", json_u64(r->reads_stale));
  json_object_set_new(stale, "of", json_u64(r->reads_checked));
  json_object_set_new(stale, "versions_max", json_u64(r->stale_versions_max));
  json_object_set_new(stale, "versions_mean", json_rounded(r->stale_versions_mean, 100));
  json_object_set_new(stale, "behind_us_max", json_u64(r->stale_behind_us_max));
  json_object_set_new(stale, "behind_us_mean", json_rounded(r->stale_behind_us_mean, 10));
  json_object_set_new(o, "stale_reads", stale);
  json_object_set_new(o, "msgs_per_op", json_rounded(r->msgs_per_op, 1000));
  json_object_set_new(o, "bytes_per_op", json_rounded(r->bytes_per_op, 100));
  json_object_set_new(o, "msgs_sent", json_u64(r->msgs_sent));
  json_object_set_new(o, "bytes_sent", json_u64(r->bytes_sent));
  json_object_set_new(o, "msgs_malformed", json_u64(r->msgs_malformed));
  json_object_set_new(o, "frames_rejected", json_u64(r->frames_rejected));
  json_object_set_new(o, "handshakes_failed", json_u64(r->handshakes_failed));
  json_object_set_new(o, "leader_changes", json_u64(r->leader_changes));
  json_object_set_new(o, "max_term", json_u64(r->max_term));
  json_t *counters = json_object();
  for (size_t i = 0; i < r->counters.n; i++)
    json_object_set_new(counters, r->counters.c[i].name, json_u64(r->counters.c[i].value));
  json_object_set_new(o, "counters", counters);
  double ratio = ctk_counts_fast_ratio(&r->counters);
  json_object_set_new(o, "fast_path_ratio", ratio < 0 ? json_null() : json_rounded(ratio, 1e4));
  json_t *faults = json_array();
  for (int k = 0; k < r->n_faults; k++) json_array_append_new(faults, fault_json(&r->faults[k]));
  json_object_set_new(o, "faults", faults);
  json_object_set_new(o, "series", series_json(r));
  json_object_set_new(o, "history",
                      r->history_path[0] ? json_string(r->history_path) : json_null());
  json_object_set_new(o, "wall_s", json_rounded(r->wall_s, 1000));
  return o;
}

/* Writes doc (stolen) pretty-printed with a closing newline. */
static int dump_json(json_t *doc, FILE *out) {
  if (!doc) return -1;
  int rc = json_dumpf(doc, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
  json_decref(doc);
  if (rc || fputc('\n', out) == EOF || fflush(out) || ferror(out)) return -1;
  return 0;
}

int ctk_results_write_json(const ctk_results *r, FILE *out) {
  return dump_json(results_json(r), out);
}

int ctk_results_write_compare_json(const ctk_results *runs, size_t n, FILE *out) {
  json_t *doc = json_object(), *a = json_array();
  if (!doc || !a) {
    json_decref(doc);
    json_decref(a);
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    json_t *run = results_json(&runs[i]);
    if (!run || json_array_append_new(a, run)) {
      json_decref(doc);
      json_decref(a);
      return -1;
    }
  }
  json_object_set_new(doc, "runs", a);
  return dump_json(doc, out);
}

/* ---- several runs side by side ---- */

static int max_faults(const ctk_results *runs, size_t n) {
  int m = 0;
  for (size_t i = 0; i < n; i++)
    if (runs[i].n_faults > m) m = runs[i].n_faults;
  return m;
}

typedef struct compare_table {
  size_t n_runs, n_rows;
  char (*labels)[64];
  char (*cells)[CELL_LEN]; /* n_rows x n_runs */
} compare_table;

static char *cell(compare_table *t, size_t row, size_t run) {
  return t->cells[row * t->n_runs + run];
}

/* Adds a row; fill(run, buf) writes each run's cell. */
static void add_row(compare_table *t, const char *label, const ctk_results *runs,
                    void (*fill)(const ctk_results *, int arg, char *), int arg) {
  size_t row = t->n_rows++;
  snprintf(t->labels[row], sizeof t->labels[row], "%s", label);
  for (size_t i = 0; i < t->n_runs; i++) fill(&runs[i], arg, cell(t, row, i));
}

enum { Q_P50, Q_P90, Q_P99, Q_P999, Q_MAX };
static const double quantile_of[] = {0.5, 0.9, 0.99, 0.999, 1};

static void fill_throughput(const ctk_results *r, int arg, char *buf) {
  (void)arg;
  fmt_count((uint64_t)(r->throughput_ops_s + 0.5), buf, CELL_LEN);
}
static void fill_all(const ctk_results *r, int q, char *buf) {
  fmt_ms((double)ctk_histogram_quantile(&r->latency_all_us, quantile_of[q]), buf, CELL_LEN);
}
static void fill_read(const ctk_results *r, int q, char *buf) {
  fmt_ms((double)ctk_histogram_quantile(&r->latency_read_us, quantile_of[q]), buf, CELL_LEN);
}
static void fill_write(const ctk_results *r, int q, char *buf) {
  fmt_ms((double)ctk_histogram_quantile(&r->latency_write_us, quantile_of[q]), buf, CELL_LEN);
}
static void fill_counts(const ctk_results *r, int which, char *buf) {
  fmt_count(which == 0 ? r->ops_ok : which == 1 ? r->ops_fail : r->ops_info, buf, CELL_LEN);
}
static void fill_per_op(const ctk_results *r, int bytes, char *buf) {
  snprintf(buf, CELL_LEN, bytes ? "%.0f" : "%.1f", bytes ? r->bytes_per_op : r->msgs_per_op);
}
static void fill_leaders(const ctk_results *r, int arg, char *buf) {
  (void)arg;
  fmt_count(r->leader_changes, buf, CELL_LEN);
}
static void fill_fast_path(const ctk_results *r, int arg, char *buf) {
  (void)arg;
  double ratio = ctk_counts_fast_ratio(&r->counters);
  if (ratio < 0)
    snprintf(buf, CELL_LEN, "-");
  else
    snprintf(buf, CELL_LEN, "%.1f%%", ratio * 100);
}
static void fill_fault(const ctk_results *r, int k, char *buf) {
  if (k >= r->n_faults)
    snprintf(buf, CELL_LEN, "-");
  else if (r->faults[k].unavailable_ms < 0)
    snprintf(buf, CELL_LEN, "never");
  else
    fmt_ms(r->faults[k].unavailable_ms * 1000, buf, CELL_LEN);
}
static void fill_verdict(const ctk_results *r, int arg, char *buf) {
  (void)arg;
  snprintf(buf, CELL_LEN, "%s", verdict_name(r->linearizable));
}

static void build_table(compare_table *t, const ctk_results *runs, int n_faults) {
  add_row(t, "throughput ops/s", runs, fill_throughput, 0);
  add_row(t, "p50 ms", runs, fill_all, Q_P50);
  add_row(t, "p90 ms", runs, fill_all, Q_P90);
  add_row(t, "p99 ms", runs, fill_all, Q_P99);
  add_row(t, "p99.9 ms", runs, fill_all, Q_P999);
  add_row(t, "max ms", runs, fill_all, Q_MAX);
  add_row(t, "read p50 ms", runs, fill_read, Q_P50);
  add_row(t, "read p99 ms", runs, fill_read, Q_P99);
  add_row(t, "write p50 ms", runs, fill_write, Q_P50);
  add_row(t, "write p99 ms", runs, fill_write, Q_P99);
  add_row(t, "ops ok", runs, fill_counts, 0);
  add_row(t, "ops fail", runs, fill_counts, 1);
  add_row(t, "ops info", runs, fill_counts, 2);
  add_row(t, "msgs/op", runs, fill_per_op, 0);
  add_row(t, "bytes/op", runs, fill_per_op, 1);
  add_row(t, "leader changes", runs, fill_leaders, 0);
  add_row(t, "fast path", runs, fill_fast_path, 0);
  for (int k = 0; k < n_faults; k++) {
    const char *kind = "?";
    for (size_t i = 0; i < t->n_runs; i++)
      if (k < runs[i].n_faults) {
        kind = ctk_fault_kind_name(runs[i].faults[k].kind);
        break;
      }
    char label[64];
    snprintf(label, sizeof label, "unavailable after fault %d (%s) ms", k + 1, kind);
    add_row(t, label, runs, fill_fault, k);
  }
  add_row(t, "linearizable", runs, fill_verdict, 0);
}

static void print_ratio(double v, double base, FILE *out) {
  if (base > 0)
    fprintf(out, "%.2fx", v / base);
  else
    fprintf(out, "n/a");
}

/* Which run had the highest throughput and the lowest p99, and every run against the first. */
static void print_winners(const ctk_results *runs, size_t n, FILE *out) {
  size_t best_tp = 0, best_p99 = 0;
  for (size_t i = 1; i < n; i++) {
    if (runs[i].throughput_ops_s > runs[best_tp].throughput_ops_s) best_tp = i;
    if (ctk_histogram_quantile(&runs[i].latency_all_us, 0.99) <
        ctk_histogram_quantile(&runs[best_p99].latency_all_us, 0.99))
      best_p99 = i;
  }
  char a[CELL_LEN], b[CELL_LEN];
  double base_tp = runs[0].throughput_ops_s;
  double base_p99 = (double)ctk_histogram_quantile(&runs[0].latency_all_us, 0.99);
  fprintf(
      out, "highest throughput: %s (%s ops/s); lowest p99: %s (%s ms)\n", runs[best_tp].protocol,
      fmt_count((uint64_t)(runs[best_tp].throughput_ops_s + 0.5), a, sizeof a),
      runs[best_p99].protocol,
      fmt_ms((double)ctk_histogram_quantile(&runs[best_p99].latency_all_us, 0.99), b, sizeof b));
  fprintf(out, "against %s:", runs[0].protocol);
  for (size_t i = 0; i < n; i++) {
    fprintf(out, "%s %s: ", i ? ";" : "", runs[i].protocol);
    print_ratio(runs[i].throughput_ops_s, base_tp, out);
    fprintf(out, " throughput, ");
    print_ratio((double)ctk_histogram_quantile(&runs[i].latency_all_us, 0.99), base_p99, out);
    fprintf(out, " p99");
  }
  fprintf(out, "\n");
}

void ctk_results_print_compare(const ctk_results *runs, size_t n, FILE *out) {
  if (!n) return;
  int n_faults = max_faults(runs, n);
  size_t rows = COMPARE_FIXED_ROWS + (size_t)n_faults;
  compare_table t = {.n_runs = n};
  t.labels = calloc(rows, sizeof *t.labels);
  t.cells = calloc(rows * n, sizeof *t.cells);
  if (!t.labels || !t.cells) {
    fprintf(out, "(out of memory)\n");
    free(t.labels);
    free(t.cells);
    return;
  }
  build_table(&t, runs, n_faults);
  int label_w = 0;
  for (size_t row = 0; row < t.n_rows; row++)
    if ((int)strlen(t.labels[row]) > label_w) label_w = (int)strlen(t.labels[row]);
  int *w = calloc(n, sizeof *w);
  if (!w) {
    free(t.labels);
    free(t.cells);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    w[i] = (int)strlen(runs[i].protocol);
    for (size_t row = 0; row < t.n_rows; row++)
      if ((int)strlen(cell(&t, row, i)) > w[i]) w[i] = (int)strlen(cell(&t, row, i));
  }
  fprintf(out, "%-*s", label_w, "");
  for (size_t i = 0; i < n; i++) fprintf(out, "  %*s", w[i], runs[i].protocol);
  fprintf(out, "\n");
  for (size_t row = 0; row < t.n_rows; row++) {
    fprintf(out, "%-*s", label_w, t.labels[row]);
    for (size_t i = 0; i < n; i++) fprintf(out, "  %*s", w[i], cell(&t, row, i));
    fprintf(out, "\n");
  }
  print_winners(runs, n, out);
  free(w);
  free(t.labels);
  free(t.cells);
}

/* ---- CSV ---- */

/* A field, quoted when it holds a comma, quote or line break. */
static void csv_text(const char *s, FILE *out) {
  if (!strpbrk(s, ",\"\r\n")) {
    fputs(s, out);
    return;
  }
  fputc('"', out);
  for (; *s; s++) {
    if (*s == '"') fputc('"', out);
    fputc(*s, out);
  }
  fputc('"', out);
}

int ctk_results_write_csv(const ctk_results *runs, size_t n, FILE *out) {
  int n_faults = max_faults(runs, n);
  fputs(
      "protocol,host,nodes,clients,throughput_ops_s,p50_us,p90_us,p99_us,p999_us,max_us,"
      "read_p50_us,read_p99_us,write_p50_us,write_p99_us,ops_ok,ops_fail,ops_info,msgs_per_op,"
      "bytes_per_op,leader_changes,linearizable",
      out);
  for (int k = 0; k < n_faults; k++) fprintf(out, ",unavailable_ms_fault%d", k + 1);
  fputc('\n', out);
  for (size_t i = 0; i < n; i++) {
    const ctk_results *r = &runs[i];
    const ctk_histogram *all = &r->latency_all_us;
    csv_text(r->protocol, out);
    fputc(',', out);
    csv_text(r->host, out);
    fprintf(out,
            ",%d,%d,%.2f,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
            ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
            ",%.3f,%.2f,%" PRIu64 ",%s",
            r->nodes, r->clients, r->throughput_ops_s, ctk_histogram_quantile(all, 0.5),
            ctk_histogram_quantile(all, 0.9), ctk_histogram_quantile(all, 0.99),
            ctk_histogram_quantile(all, 0.999), all->total ? all->max : 0,
            ctk_histogram_quantile(&r->latency_read_us, 0.5),
            ctk_histogram_quantile(&r->latency_read_us, 0.99),
            ctk_histogram_quantile(&r->latency_write_us, 0.5),
            ctk_histogram_quantile(&r->latency_write_us, 0.99), r->ops_ok, r->ops_fail, r->ops_info,
            r->msgs_per_op, r->bytes_per_op, r->leader_changes,
            r->linearizable == 1   ? "true"
            : r->linearizable == 0 ? "false"
                                   : "");
    /* An empty cell: the run had no such fault, or no write committed after it. */
    for (int k = 0; k < n_faults; k++) {
      fputc(',', out);
      if (k < r->n_faults && r->faults[k].unavailable_ms >= 0)
        fprintf(out, "%.3f", r->faults[k].unavailable_ms);
    }
    fputc('\n', out);
  }
  return fflush(out) || ferror(out) ? -1 : 0;
}
