/* bench_metrics.c: the numbers of an experiment matrix (see bench_metrics.h): repetitions read
 * back from their result.json and .meta files, medians and spreads, bench.json, bench.csv and
 * the table. */
#include "bench_metrics.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

const char *const ctk_bench_metric_names[BM_COUNT] = {
    "throughput_ops_s", "latency_p50_ms", "latency_p99_ms", "msgs_per_op", "fast_path_ratio",
    "leader_changes",   "max_term",       "unavailable_ms", "ops_info"};

static double bm_number(const json_t *v) { return json_is_number(v) ? json_number_value(v) : NAN; }

static void bm_read_metrics(const json_t *r, double m[BM_COUNT]) {
  const json_t *lat = json_object_get(r, "latency_us");
  m[BM_THROUGHPUT] = bm_number(json_object_get(r, "throughput_ops_s"));
  m[BM_P50_MS] = bm_number(json_object_get(lat, "p50")) / 1000;
  m[BM_P99_MS] = bm_number(json_object_get(lat, "p99")) / 1000;
  m[BM_MSGS_PER_OP] = bm_number(json_object_get(r, "msgs_per_op"));
  m[BM_FAST_PATH] = bm_number(json_object_get(r, "fast_path_ratio"));
  m[BM_LEADER_CHANGES] = bm_number(json_object_get(r, "leader_changes"));
  m[BM_MAX_TERM] = bm_number(json_object_get(r, "max_term"));
  m[BM_OPS_INFO] = bm_number(json_object_get(r, "ops_info"));
  m[BM_UNAVAILABLE_MS] = NAN;
  size_t i;
  const json_t *f;
  json_array_foreach(json_object_get(r, "faults"), i, f) {
    double u = bm_number(json_object_get(f, "unavailable_ms"));
    if (!isnan(u) && (isnan(m[BM_UNAVAILABLE_MS]) || u > m[BM_UNAVAILABLE_MS]))
      m[BM_UNAVAILABLE_MS] = u;
  }
}

static int bm_cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Median (the mean of the middle two for an even count), min and max of the values that are not
 * NAN; NAN when none is. */
static void bm_aggregate(double *values, int n, double *median, double *min, double *max) {
  int k = 0;
  for (int i = 0; i < n; i++)
    if (!isnan(values[i])) values[k++] = values[i];
  if (k == 0) {
    *median = *min = *max = NAN;
    return;
  }
  qsort(values, (size_t)k, sizeof *values, bm_cmp);
  *min = values[0];
  *max = values[k - 1];
  *median = k % 2 ? values[k / 2] : (values[k / 2 - 1] + values[k / 2]) / 2;
}

static json_t *bm_real(double v) {
  return isnan(v) ? json_null() : json_real(round(v * 1e4) / 1e4);
}

static json_t *bm_metrics_json(const double m[BM_COUNT]) {
  json_t *o = json_object();
  for (int k = 0; k < BM_COUNT; k++)
    json_object_set_new(o, ctk_bench_metric_names[k], bm_real(m[k]));
  return o;
}

/* A swept value as JSON: a number, a boolean or a string, as it was written. */
static json_t *bm_param(const char *text) {
  char *end;
  double d = strtod(text, &end);
  if (*text && !*end)
    return strchr(text, '.') || strchr(text, 'e') ? json_real(d) : json_integer((json_int_t)d);
  if (!strcmp(text, "true") || !strcmp(text, "false")) return json_boolean(!strcmp(text, "true"));
  return json_string(text);
}

static json_t *bm_load(const char *path) { return json_load_file(path, 0, NULL); }

char *ctk_bench_read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *text = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&text, &len);
  char chunk[8192];
  size_t got;
  while (mem && (got = fread(chunk, 1, sizeof chunk, f)) > 0) fwrite(chunk, 1, got, mem);
  fclose(f);
  if (mem) fclose(mem);
  return text;
}

/* One point: its repetitions into *p and a JSON object. */
static json_t *bm_point(const ctk_experiment *exp, size_t i, const char *dir, int sim,
                        ctk_bench_point *p, int *reps_failed, char *err, size_t err_len) {
  ctk_config config;
  if (ctk_experiment_point(exp, i, &config, p->label, sizeof p->label, p->name, sizeof p->name, err,
                           err_len))
    return NULL;
  json_t *o = json_object(), *params = json_object(), *reps = json_array(), *seeds = json_array();
  json_object_set_new(o, "name", json_string(p->name));
  json_object_set_new(o, "label", json_string(p->label));
  for (int k = 0; k < exp->n_keys; k++) {
    char v[64];
    ctk_experiment_value(exp, i, k, v, sizeof v);
    json_object_set_new(params, exp->keys[k].name, bm_param(v));
  }
  json_object_set_new(o, "params", params);
  json_object_set_new(o, "host", json_string(sim ? "sim" : "run"));
  json_object_set_new(o, "protocol", json_string(config.protocol->name));
  json_object_set_new(o, "nodes", json_integer(config.cluster.nodes));
  json_object_set_new(o, "clients", json_integer(config.workload.clients));
  double values[BM_COUNT][CTK_EXP_MAX_REPEAT];
  json_t *first_meta = NULL;
  char *first_config = NULL;
  for (int rep = 1; rep <= exp->repeat; rep++) {
    char path[CTK_PATH_LEN + 400];
    json_array_append_new(seeds, json_integer((json_int_t)(config.seed + (uint64_t)rep - 1)));
    snprintf(path, sizeof path, "%s/points/%s/rep-%d.meta", dir, p->name, rep);
    json_t *meta = bm_load(path);
    snprintf(path, sizeof path, "%s/points/%s/rep-%d/result.json", dir, p->name, rep);
    json_t *result = meta ? bm_load(path) : NULL;
    if (!result) {
      json_decref(meta);
      continue;
    }
    int r = p->reps_measured++;
    double m[BM_COUNT];
    bm_read_metrics(result, m);
    for (int k = 0; k < BM_COUNT; k++) values[k][r] = m[k];
    int exit_status = (int)json_integer_value(json_object_get(meta, "exit_status"));
    if (exit_status == 0)
      p->reps_passed++;
    else
      (*reps_failed)++;
    json_t *one = json_object();
    json_object_set_new(one, "rep", json_integer(rep));
    json_object_set_new(one, "seed", json_incref(json_object_get(result, "seed")));
    json_object_set_new(one, "passed", json_boolean(exit_status == 0));
    json_object_set_new(one, "linearizable", json_incref(json_object_get(result, "linearizable")));
    snprintf(path, sizeof path, "points/%s/rep-%d", p->name, rep);
    json_object_set_new(one, "dir", json_string(path));
    json_object_set_new(one, "wall_s", json_incref(json_object_get(meta, "wall_s")));
    json_object_set_new(one, "load_1m", json_incref(json_object_get(meta, "load_1m")));
    json_object_set_new(one, "git_revision", json_incref(json_object_get(meta, "git_revision")));
    json_object_set_new(one, "metrics", bm_metrics_json(m));
    json_array_append_new(reps, one);
    if (!first_meta) {
      first_meta = json_incref(meta);
      snprintf(path, sizeof path, "%s/points/%s/rep-%d.toml", dir, p->name, rep);
      first_config = ctk_bench_read_file(path);
    }
    json_decref(meta);
    json_decref(result);
  }
  for (int k = 0; k < BM_COUNT; k++)
    bm_aggregate(values[k], p->reps_measured, &p->median[k], &p->min[k], &p->max[k]);
  json_object_set_new(o, "seeds", seeds);
  json_object_set_new(o, "config", first_config ? json_string(first_config) : json_null());
  free(first_config);
  json_object_set_new(
      o, "git_revision",
      first_meta ? json_incref(json_object_get(first_meta, "git_revision")) : json_null());
  json_t *machine = json_object();
  static const char *const facts[] = {"cores", "kernel", "cpu", "load_1m"};
  for (size_t k = 0; k < sizeof facts / sizeof facts[0]; k++)
    json_object_set_new(
        machine, facts[k],
        first_meta ? json_incref(json_object_get(first_meta, facts[k])) : json_null());
  json_object_set_new(o, "machine", machine);
  json_decref(first_meta);
  json_object_set_new(o, "reps_measured", json_integer(p->reps_measured));
  json_object_set_new(o, "reps_passed", json_integer(p->reps_passed));
  json_object_set_new(o, "median", bm_metrics_json(p->median));
  json_object_set_new(o, "min", bm_metrics_json(p->min));
  json_object_set_new(o, "max", bm_metrics_json(p->max));
  json_object_set_new(o, "reps", reps);
  ctk_config_free(&config);
  return o;
}

static void bm_csv_cell(FILE *f, double v) {
  if (isnan(v))
    fputs(",", f);
  else
    fprintf(f, ",%.4f", v);
}

static int bm_write_csv(const ctk_experiment *exp, const json_t *points, const ctk_bench_summary *s,
                        const char *path) {
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  fputs("point,host,protocol,nodes,clients", f);
  for (int k = 0; k < exp->n_keys; k++) fprintf(f, ",%s", exp->keys[k].name);
  fputs(",reps_measured,reps_passed", f);
  for (int k = 0; k < BM_COUNT; k++)
    fprintf(f, ",%s_median,%s_min,%s_max", ctk_bench_metric_names[k], ctk_bench_metric_names[k],
            ctk_bench_metric_names[k]);
  fputs(",git_revision,cores,kernel\n", f);
  for (size_t i = 0; i < s->n_points; i++) {
    const json_t *o = json_array_get(points, i);
    const ctk_bench_point *p = &s->points[i];
    fprintf(f, "%s,%s,%s,%lld,%lld", p->name, json_string_value(json_object_get(o, "host")),
            json_string_value(json_object_get(o, "protocol")),
            (long long)json_integer_value(json_object_get(o, "nodes")),
            (long long)json_integer_value(json_object_get(o, "clients")));
    for (int k = 0; k < exp->n_keys; k++) {
      char v[64];
      ctk_experiment_value(exp, i, k, v, sizeof v);
      fprintf(f, ",%s", v);
    }
    fprintf(f, ",%d,%d", p->reps_measured, p->reps_passed);
    for (int k = 0; k < BM_COUNT; k++) {
      bm_csv_cell(f, p->median[k]);
      bm_csv_cell(f, p->min[k]);
      bm_csv_cell(f, p->max[k]);
    }
    const json_t *machine = json_object_get(o, "machine");
    const char *rev = json_string_value(json_object_get(o, "git_revision"));
    const char *kernel = json_string_value(json_object_get(machine, "kernel"));
    fprintf(f, ",%s,%lld,%s\n", rev ? rev : "",
            (long long)json_integer_value(json_object_get(machine, "cores")), kernel ? kernel : "");
  }
  return fclose(f) ? -1 : 0;
}

int ctk_bench_summarize(const ctk_experiment *exp, const char *dir, int sim,
                        ctk_bench_summary *summary, char *err, size_t err_len) {
  memset(summary, 0, sizeof *summary);
  summary->points = calloc(exp->n_points, sizeof *summary->points);
  json_t *doc = json_object(), *points = json_array();
  if (!summary->points || !doc || !points) {
    snprintf(err, err_len, "out of memory");
    json_decref(doc);
    json_decref(points);
    return -1;
  }
  json_object_set_new(doc, "experiment", json_string(exp->path));
  json_object_set_new(doc, "host", json_string(sim ? "sim" : "run"));
  json_object_set_new(doc, "repeat", json_integer(exp->repeat));
  json_t *keys = json_array();
  for (int k = 0; k < exp->n_keys; k++) json_array_append_new(keys, json_string(exp->keys[k].name));
  json_object_set_new(doc, "sweep", keys);
  for (size_t i = 0; i < exp->n_points; i++) {
    json_t *o =
        bm_point(exp, i, dir, sim, &summary->points[i], &summary->reps_failed, err, err_len);
    if (!o) {
      json_decref(doc);
      json_decref(points);
      return -1;
    }
    json_array_append_new(points, o);
    summary->n_points++;
  }
  char path[CTK_PATH_LEN + 32];
  snprintf(path, sizeof path, "%s/bench.csv", dir);
  int rc = bm_write_csv(exp, points, summary, path);
  json_object_set_new(doc, "points", points);
  if (rc == 0) {
    snprintf(path, sizeof path, "%s/bench.json", dir);
    rc = json_dump_file(doc, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
  }
  json_decref(doc);
  if (rc) snprintf(err, err_len, "cannot write %s", path);
  return rc ? -1 : 0;
}

/* "12,345 [12,001-12,999]": the median and, with more than one repetition, the spread. */
static void bm_cell(const ctk_bench_point *p, int k, double scale, const char *fmt, char *buf,
                    size_t len) {
  if (isnan(p->median[k])) {
    snprintf(buf, len, "-");
    return;
  }
  int n = snprintf(buf, len, fmt, p->median[k] * scale);
  if (p->reps_measured > 1 && n > 0 && (size_t)n < len) {
    char lo[32], hi[32];
    snprintf(lo, sizeof lo, fmt, p->min[k] * scale);
    snprintf(hi, sizeof hi, fmt, p->max[k] * scale);
    snprintf(buf + n, len - (size_t)n, " [%s-%s]", lo, hi);
  }
}

void ctk_bench_print_table(const ctk_bench_summary *s, FILE *out) {
  int any[BM_COUNT] = {0};
  size_t label_w = 5;
  for (size_t i = 0; i < s->n_points; i++) {
    for (int k = 0; k < BM_COUNT; k++) any[k] |= !isnan(s->points[i].median[k]);
    size_t w = strlen(s->points[i].label[0] ? s->points[i].label : s->points[i].name);
    if (w > label_w) label_w = w;
  }
  if (label_w > 60) label_w = 60;
  struct {
    int metric;
    const char *title, *fmt;
    double scale;
    int width;
  } cols[] = {{BM_THROUGHPUT, "ops/s", "%.0f", 1, 22},
              {BM_P50_MS, "p50 ms", "%.2f", 1, 20},
              {BM_P99_MS, "p99 ms", "%.2f", 1, 20},
              {BM_MSGS_PER_OP, "msgs/op", "%.1f", 1, 9},
              {BM_FAST_PATH, "fast path %", "%.1f", 100, 19},
              {BM_UNAVAILABLE_MS, "unavail ms", "%.0f", 1, 17},
              {BM_LEADER_CHANGES, "leaders", "%.0f", 1, 12},
              {BM_MAX_TERM, "max term", "%.0f", 1, 12}};
  size_t n_cols = sizeof cols / sizeof cols[0];
  fprintf(out, "%-*s  %6s", (int)label_w, "point", "passed");
  for (size_t c = 0; c < n_cols; c++)
    if (any[cols[c].metric]) fprintf(out, "  %*s", cols[c].width, cols[c].title);
  fprintf(out, "\n");
  for (size_t i = 0; i < s->n_points; i++) {
    const ctk_bench_point *p = &s->points[i];
    char passed[16];
    snprintf(passed, sizeof passed, "%d/%d", p->reps_passed, p->reps_measured);
    fprintf(out, "%-*.*s  %6s", (int)label_w, (int)label_w, p->label[0] ? p->label : p->name,
            passed);
    for (size_t c = 0; c < n_cols; c++) {
      if (!any[cols[c].metric]) continue;
      char cell[96];
      bm_cell(p, cols[c].metric, cols[c].scale, cols[c].fmt, cell, sizeof cell);
      fprintf(out, "  %*s", cols[c].width, cell);
    }
    fprintf(out, "\n");
  }
  fprintf(out, "(median of the repetitions, [min-max] when more than one)\n");
}

void ctk_bench_summary_free(ctk_bench_summary *summary) {
  free(summary->points);
  summary->points = NULL;
  summary->n_points = 0;
}
