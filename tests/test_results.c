/* test_results.c: run metrics from hand-built histories (counts, the measured window, latency
 * quantiles, the per-second series, unavailability after faults) and their reports: JSON read
 * back with jansson, CSV columns, and the side-by-side table. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "results.h"

#define MS 1000ull
#define S  1000000ull

/* One operation of process p: its invoke, then its completion. */
static void op(ctk_history *h, int64_t p, ctk_op_f f, uint64_t invoke_us, ctk_hist_type done,
               uint64_t done_us) {
  const char *value = f == CTK_F_GET ? NULL : "v";
  const char *expected = f == CTK_F_CAS ? "old" : NULL;
  assert_int_equal(ctk_history_add(h, p, CTK_HIST_INVOKE, f, invoke_us, "k", value, expected), 0);
  assert_int_equal(ctk_history_add(h, p, done, f, done_us, "k", value, expected), 0);
}

static void init_results(ctk_results *r, const char *protocol) {
  memset(r, 0, sizeof *r);
  snprintf(r->protocol, sizeof r->protocol, "%s", protocol);
  snprintf(r->host, sizeof r->host, "sim");
  r->nodes = 3;
  r->clients = 4;
  r->seed = 7;
  r->linearizable = -1;
}

/* Within the histogram's precision (~1.6%) of want. */
static void assert_near(uint64_t got, uint64_t want) {
  double d = (double)got - (double)want;
  if (d < 0) d = -d;
  if (d > (double)want * 0.02 + 1)
    fail_msg("got %llu, want about %llu", (unsigned long long)got, (unsigned long long)want);
}

/* The history of test_counts_window_latency: warmup 1 s, end 3 s. */
static void counts_history(ctk_history *h) {
  op(h, 0, CTK_F_PUT, 500 * MS, CTK_HIST_OK, 900 * MS);     /* before the window */
  op(h, 1, CTK_F_GET, 1000 * MS, CTK_HIST_OK, 1001 * MS);   /* 1 ms */
  op(h, 1, CTK_F_GET, 1100 * MS, CTK_HIST_OK, 1103 * MS);   /* 3 ms */
  op(h, 2, CTK_F_PUT, 1200 * MS, CTK_HIST_OK, 1210 * MS);   /* 10 ms */
  op(h, 2, CTK_F_CAS, 1300 * MS, CTK_HIST_FAIL, 1320 * MS); /* 20 ms, comparison failed */
  op(h, 3, CTK_F_PUT, 2000 * MS, CTK_HIST_INFO, 2500 * MS); /* unknown: no latency */
  op(h, 4, CTK_F_GET, 2900 * MS, CTK_HIST_OK, 3100 * MS);   /* after the window */
  assert_int_equal(ctk_history_add(h, 5, CTK_HIST_INVOKE, CTK_F_GET, 2950 * MS, "k", NULL, NULL),
                   0); /* never completed */
}

static void test_counts_window_latency(void **state) {
  (void)state;
  ctk_history h;
  ctk_history_init(&h);
  counts_history(&h);
  ctk_results r;
  init_results(&r, "raft");
  r.msgs_sent = 60;
  r.bytes_sent = 6000;
  assert_int_equal(ctk_results_compute(&r, &h, 1 * S, 3 * S), 0);
  assert_int_equal(r.ops_ok, 5);
  assert_int_equal(r.ops_fail, 1);
  assert_int_equal(r.ops_info, 1);
  assert_true(r.duration_s == 2.0);
  assert_true(r.throughput_ops_s == 2.0); /* 4 completions in 2 s */
  assert_int_equal(r.latency_all_us.total, 4);
  assert_int_equal(r.latency_read_us.total, 2);
  assert_int_equal(r.latency_write_us.total, 2);
  assert_int_equal(r.latency_all_us.min, 1 * MS);
  assert_int_equal(r.latency_all_us.max, 20 * MS);
  assert_near(ctk_histogram_quantile(&r.latency_all_us, 0.5), 3 * MS);
  assert_near(ctk_histogram_quantile(&r.latency_read_us, 0.99), 3 * MS);
  assert_near(ctk_histogram_quantile(&r.latency_write_us, 0.5), 10 * MS);
  assert_true(r.msgs_per_op == 10.0);
  assert_true(r.bytes_per_op == 1000.0);
  /* The series covers [0, 3 s): the completion at 3.1 s is outside, the info op is no op. */
  assert_int_equal(r.n_series, 3);
  assert_int_equal(r.series[0].ops, 1);
  assert_int_equal(r.series[0].p50_us, 400 * MS);
  assert_int_equal(r.series[1].ops, 4);
  assert_int_equal(r.series[1].p50_us, 3 * MS);
  assert_int_equal(r.series[1].p99_us, 20 * MS);
  assert_int_equal(r.series[2].ops, 0);
  assert_int_equal(r.series[2].p50_us, 0);
  assert_int_equal(r.series[2].p99_us, 0);
  ctk_results_free(&r);
  assert_null(r.series);
  ctk_history_free(&h);
}

/* Completions interleaved across many processes (the pairing table grows), large and negative
 * process ids, a completion with no invoke (ignored). */
static void test_pairing_many_processes(void **state) {
  (void)state;
  ctk_history h;
  ctk_history_init(&h);
  const int n = 1000;
  for (int p = 0; p < n; p++)
    assert_int_equal(ctk_history_add(&h, (int64_t)p * 1000003 - 500, CTK_HIST_INVOKE, CTK_F_PUT,
                                     (uint64_t)p, "k", "v", NULL),
                     0);
  for (int p = n - 1; p >= 0; p--)
    assert_int_equal(ctk_history_add(&h, (int64_t)p * 1000003 - 500, CTK_HIST_OK, CTK_F_PUT,
                                     (uint64_t)(2 * n - p), "k", "v", NULL),
                     0);
  assert_int_equal(ctk_history_add(&h, 99999999, CTK_HIST_OK, CTK_F_PUT, 5, "k", "v", NULL), 0);
  ctk_results r;
  init_results(&r, "raft");
  assert_int_equal(ctk_results_compute(&r, &h, 0, 1 * S), 0);
  assert_int_equal(r.ops_ok, n);
  assert_int_equal(r.latency_write_us.total, n);
  assert_int_equal(r.latency_all_us.max, 2 * n); /* process 0: invoked at 0, done at 2n */
  assert_int_equal(r.series[0].ops, n);
  assert_true(r.msgs_per_op == 0);
  ctk_results_free(&r);
  ctk_history_free(&h);
}

static void test_empty_history(void **state) {
  (void)state;
  ctk_history h;
  ctk_history_init(&h);
  ctk_results r;
  init_results(&r, "raft");
  r.n_faults = 1;
  r.faults[0] = (ctk_fault_event){.kind = CTK_FAULT_CRASH, .node = 0, .at_us = 0};
  assert_int_equal(ctk_results_compute(&r, &h, 0, 0), 0);
  assert_int_equal(r.n_series, 0);
  assert_true(r.throughput_ops_s == 0);
  assert_true(r.duration_s == 0);
  assert_true(r.faults[0].unavailable_ms == -1);
  ctk_results_print(&r, stderr);
  ctk_results_free(&r);
  ctk_history_free(&h);
}

/* Faults at 1 s, 5 s and 2 s (not in time order); unavailability counts only committed writes
 * (put, or cas with ok or fail) invoked at or after each: the first such by invoke time. */
static void unavailability_history(ctk_history *h) {
  op(h, 1, CTK_F_PUT, 900 * MS, CTK_HIST_OK, 1600 * MS);    /* invoked before fault 1 */
  op(h, 2, CTK_F_GET, 1050 * MS, CTK_HIST_OK, 1060 * MS);   /* a read: does not count */
  op(h, 4, CTK_F_PUT, 1050 * MS, CTK_HIST_INFO, 1070 * MS); /* unknown: does not count */
  op(h, 3, CTK_F_PUT, 1100 * MS, CTK_HIST_OK, 1400 * MS);   /* first after fault 1: 400 ms */
  op(h, 2, CTK_F_PUT, 1200 * MS, CTK_HIST_OK, 1300 * MS);   /* done sooner, invoked later */
  op(h, 5, CTK_F_CAS, 2100 * MS, CTK_HIST_FAIL, 2250 * MS); /* a failed comparison commits */
  op(h, 2, CTK_F_GET, 5100 * MS, CTK_HIST_OK, 5200 * MS);   /* after fault 2: only a read */
}

static void fill_faults(ctk_results *r) {
  r->n_faults = 3;
  r->faults[0] =
      (ctk_fault_event){.kind = CTK_FAULT_CRASH, .node = 0, .at_us = 1 * S, .healed_us = 3 * S};
  r->faults[1] = (ctk_fault_event){.kind = CTK_FAULT_DROP, .node = CTK_TARGET_ALL, .at_us = 5 * S};
  r->faults[2] = (ctk_fault_event){.fault_index = 2,
                                   .kind = CTK_FAULT_PARTITION,
                                   .node = 2,
                                   .at_us = 2 * S,
                                   .healed_us = 2500 * MS};
}

static void test_unavailability(void **state) {
  (void)state;
  ctk_history h;
  ctk_history_init(&h);
  unavailability_history(&h);
  ctk_results r;
  init_results(&r, "raft");
  fill_faults(&r);
  assert_int_equal(ctk_results_compute(&r, &h, 0, 6 * S), 0);
  assert_true(r.faults[0].unavailable_ms == 400.0);
  assert_true(r.faults[1].unavailable_ms == -1);
  assert_true(r.faults[2].unavailable_ms == 250.0);
  assert_int_equal(r.n_series, 6);
  assert_int_equal(r.series[0].faults, 0);
  assert_int_equal(r.series[1].faults, 1);
  assert_int_equal(r.series[2].faults, 1);
  assert_int_equal(r.series[3].faults, 0);
  assert_int_equal(r.series[5].faults, 1);
  assert_int_equal(r.ops_ok, 5);
  assert_int_equal(r.ops_fail, 1);
  assert_int_equal(r.ops_info, 1);
  ctk_results_print(&r, stderr);
  ctk_results_free(&r);
  ctk_history_free(&h);
}

/* A run with results, faults and a verdict, for the report tests. */
static void sample_run(ctk_results *r, const char *protocol, int n_faults, double scale) {
  ctk_history h;
  ctk_history_init(&h);
  counts_history(&h);
  unavailability_history(&h);
  init_results(r, protocol);
  fill_faults(r);
  r->n_faults = n_faults;
  r->msgs_sent = (uint64_t)(1000 * scale);
  r->bytes_sent = 123456;
  r->leader_changes = 2;
  r->linearizable = n_faults > 1 ? 1 : -1;
  snprintf(r->history_path, sizeof r->history_path, "/tmp/history.jsonl");
  r->wall_s = 0.25;
  assert_int_equal(ctk_results_compute(r, &h, (uint64_t)(1 * S / scale), 6 * S), 0);
  ctk_history_free(&h);
}

static char *to_text(int (*write)(const ctk_results *, size_t, FILE *), const ctk_results *runs,
                     size_t n) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_non_null(f);
  assert_int_equal(write(runs, n, f), 0);
  fclose(f);
  return text;
}

static int write_one_json(const ctk_results *runs, size_t n, FILE *f) {
  (void)n;
  return ctk_results_write_json(runs, f);
}

static void check_latency_object(json_t *o) {
  static const char *keys[] = {"p50", "p90", "p99", "p999", "max", "mean"};
  assert_true(json_is_object(o));
  assert_int_equal(json_object_size(o), 6);
  for (size_t k = 0; k < 6; k++) assert_non_null(json_object_get(o, keys[k]));
}

static void check_run_json(json_t *run) {
  static const char *keys[] = {"protocol",
                               "host",
                               "nodes",
                               "clients",
                               "seed",
                               "duration_s",
                               "throughput_ops_s",
                               "latency_us",
                               "latency_read_us",
                               "latency_write_us",
                               "ops_ok",
                               "ops_fail",
                               "ops_info",
                               "linearizable",
                               "consistency",
                               "stale_reads",
                               "msgs_per_op",
                               "bytes_per_op",
                               "msgs_sent",
                               "bytes_sent",
                               "msgs_malformed",
                               "frames_rejected",
                               "handshakes_failed",
                               "leader_changes",
                               "max_term",
                               "counters",
                               "fast_path_ratio",
                               "faults",
                               "series",
                               "history",
                               "wall_s"};
  const size_t n_keys = sizeof keys / sizeof keys[0];
  assert_true(json_is_object(run));
  assert_int_equal(json_object_size(run), n_keys);
  /* In this order: the file is written with JSON_PRESERVE_ORDER. */
  size_t k = 0;
  for (void *it = json_object_iter(run); it; it = json_object_iter_next(run, it), k++)
    assert_string_equal(json_object_iter_key(it), keys[k]);
  check_latency_object(json_object_get(run, "latency_us"));
  check_latency_object(json_object_get(run, "latency_read_us"));
  check_latency_object(json_object_get(run, "latency_write_us"));
}

static void test_json(void **state) {
  (void)state;
  ctk_results r;
  sample_run(&r, "raft", 3, 1);
  char *text = to_text(write_one_json, &r, 1);
  json_error_t error;
  json_t *doc = json_loads(text, 0, &error);
  if (!doc) fail_msg("bad JSON at line %d: %s\n%s", error.line, error.text, text);
  check_run_json(doc);
  assert_string_equal(json_string_value(json_object_get(doc, "protocol")), "raft");
  assert_string_equal(json_string_value(json_object_get(doc, "host")), "sim");
  assert_int_equal(json_integer_value(json_object_get(doc, "ops_ok")), r.ops_ok);
  assert_true(json_is_true(json_object_get(doc, "linearizable")));
  assert_string_equal(json_string_value(json_object_get(doc, "history")), "/tmp/history.jsonl");
  json_t *latency = json_object_get(doc, "latency_us");
  assert_int_equal(json_integer_value(json_object_get(latency, "max")), r.latency_all_us.max);

  json_t *faults = json_object_get(doc, "faults");
  assert_int_equal(json_array_size(faults), 3);
  json_t *f0 = json_array_get(faults, 0), *f1 = json_array_get(faults, 1);
  assert_string_equal(json_string_value(json_object_get(f0, "kind")), "crash");
  assert_int_equal(json_integer_value(json_object_get(f0, "node")), 0);
  assert_true(json_real_value(json_object_get(f0, "at_s")) == 1.0);
  assert_true(json_real_value(json_object_get(f0, "healed_s")) == 3.0);
  assert_true(json_real_value(json_object_get(f0, "unavailable_ms")) == 400.0);
  assert_string_equal(json_string_value(json_object_get(f1, "kind")), "drop");
  assert_string_equal(json_string_value(json_object_get(f1, "node")), "all");
  assert_true(json_is_null(json_object_get(f1, "healed_s")));
  assert_true(json_is_null(json_object_get(f1, "unavailable_ms")));

  json_t *series = json_object_get(doc, "series");
  assert_int_equal(json_array_size(series), 6);
  json_t *s1 = json_array_get(series, 1);
  assert_int_equal(json_integer_value(json_object_get(s1, "t_s")), 1);
  assert_int_equal(json_integer_value(json_object_get(s1, "ops")), r.series[1].ops);
  assert_int_equal(json_integer_value(json_object_get(s1, "p99_us")), r.series[1].p99_us);
  assert_int_equal(json_integer_value(json_object_get(s1, "faults")), 1);
  assert_non_null(json_object_get(s1, "p50_us"));
  json_decref(doc);
  free(text);

  /* Undecided: null; no history path: null. */
  r.linearizable = -1;
  r.history_path[0] = 0;
  text = to_text(write_one_json, &r, 1);
  doc = json_loads(text, 0, &error);
  assert_non_null(doc);
  assert_true(json_is_null(json_object_get(doc, "linearizable")));
  assert_true(json_is_null(json_object_get(doc, "history")));
  json_decref(doc);
  free(text);
  ctk_results_free(&r);
}

static void test_compare_json(void **state) {
  (void)state;
  ctk_results runs[3];
  sample_run(&runs[0], "raft", 3, 1);
  sample_run(&runs[1], "paxos", 1, 2);
  sample_run(&runs[2], "epaxos", 0, 0.5);
  char *text = to_text(ctk_results_write_compare_json, runs, 3);
  json_error_t error;
  json_t *doc = json_loads(text, 0, &error);
  assert_non_null(doc);
  json_t *a = json_object_get(doc, "runs");
  assert_int_equal(json_array_size(a), 3);
  for (size_t i = 0; i < 3; i++) check_run_json(json_array_get(a, i));
  assert_string_equal(json_string_value(json_object_get(json_array_get(a, 2), "protocol")),
                      "epaxos");
  assert_int_equal(json_array_size(json_object_get(json_array_get(a, 1), "faults")), 1);
  json_decref(doc);
  free(text);
  for (size_t i = 0; i < 3; i++) ctk_results_free(&runs[i]);
}

static size_t count_char(const char *s, const char *end, char c) {
  size_t n = 0;
  for (; s < end; s++) n += *s == c;
  return n;
}

static void test_csv(void **state) {
  (void)state;
  ctk_results runs[3];
  sample_run(&runs[0], "raft", 1, 1);
  sample_run(&runs[1], "paxos", 3, 2);
  sample_run(&runs[2], "multi,paxos", 0, 0.5); /* quoted */
  char *text = to_text(ctk_results_write_csv, runs, 3);
  const size_t columns = 21 + 3; /* up to the most faults of any run */
  size_t lines = 0;
  for (char *line = text, *nl; (nl = strchr(line, '\n')); line = nl + 1, lines++) {
    size_t commas = count_char(line, nl, ',') - (lines == 3 ? 1 : 0);
    assert_int_equal(commas + 1, columns);
  }
  assert_int_equal(lines, 4);
  assert_true(strncmp(text, "protocol,host,nodes,clients,throughput_ops_s,", 45) == 0);
  assert_non_null(strstr(text, ",unavailable_ms_fault3\n"));
  assert_non_null(strstr(text, "\n\"multi,paxos\",sim,"));
  assert_non_null(strstr(text, ",400.000,")); /* raft's fault 1, then two empty cells */
  free(text);
  for (size_t i = 0; i < 3; i++) ctk_results_free(&runs[i]);
}

static char *compare_text(const ctk_results *runs, size_t n) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_non_null(f);
  ctk_results_print_compare(runs, n, f);
  fclose(f);
  return text;
}

/* Every table line (up to the verdicts under it) has the same width. */
static void assert_aligned(const char *text) {
  size_t width = 0;
  for (const char *line = text, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
    if (!strncmp(line, "highest", 7)) return;
    size_t w = (size_t)(nl - line);
    if (!width) width = w;
    if (w != width) fail_msg("misaligned line: %.*s\n%s", (int)w, line, text);
  }
  fail_msg("no closing line:\n%s", text);
}

static void test_compare_print(void **state) {
  (void)state;
  ctk_results runs[3];
  sample_run(&runs[0], "raft", 1, 1);
  sample_run(&runs[1], "multipaxos", 3, 2);
  sample_run(&runs[2], "zab", 0, 0.5);
  runs[1].throughput_ops_s = 2 * runs[0].throughput_ops_s;
  char *text = compare_text(runs, 1);
  assert_aligned(text);
  assert_non_null(strstr(text, "unavailable after fault 1 (crash)"));
  assert_non_null(strstr(text, "raft: 1.00x throughput"));
  fputs(text, stderr);
  free(text);
  text = compare_text(runs, 3);
  assert_aligned(text);
  assert_non_null(strstr(text, "unavailable after fault 3 (partition)"));
  assert_non_null(strstr(text, "multipaxos"));
  assert_non_null(strstr(text, "highest throughput: multipaxos"));
  assert_non_null(strstr(text, "multipaxos: 2.00x throughput"));
  fputs(text, stderr);
  free(text);
  for (size_t i = 0; i < 3; i++) ctk_results_print(&runs[i], stderr);
  for (size_t i = 0; i < 3; i++) ctk_results_free(&runs[i]);
}

/* `ctk sim --json`: the file agrees with the summary printed by the same run. */
static void test_sim_json(void **state) {
  (void)state;
  char json_path[] = "/tmp/ctk_test_results_XXXXXX", history_path[] = "/tmp/ctk_test_hist_XXXXXX";
  int fd = mkstemp(json_path);
  assert_true(fd >= 0);
  close(fd);
  fd = mkstemp(history_path);
  assert_true(fd >= 0);
  close(fd);
  char cmd[1024], out[8192];
  snprintf(cmd, sizeof cmd, "%s sim configs/default.toml --json %s --history %s 2>&1", cli_bin(),
           json_path, history_path);
  assert_int_equal(cli_run(cmd, out, sizeof out), 0);
  json_error_t error;
  json_t *doc = json_load_file(json_path, 0, &error);
  if (!doc) fail_msg("%s: %s\n%s", json_path, error.text, out);
  check_run_json(doc);
  char want[128];
  snprintf(want, sizeof want, "ok %lld  fail %lld  info %lld",
           (long long)json_integer_value(json_object_get(doc, "ops_ok")),
           (long long)json_integer_value(json_object_get(doc, "ops_fail")),
           (long long)json_integer_value(json_object_get(doc, "ops_info")));
  if (!strstr(out, want)) fail_msg("summary without '%s':\n%s", want, out);
  assert_string_equal(json_string_value(json_object_get(doc, "host")), "sim");
  assert_string_equal(json_string_value(json_object_get(doc, "history")), history_path);
  assert_true(json_is_true(json_object_get(doc, "linearizable")));
  assert_true(json_integer_value(json_object_get(doc, "msgs_sent")) > 0);
  assert_true(json_real_value(json_object_get(doc, "throughput_ops_s")) > 0);
  /* The leader's crash forces a new term; the summary names the same highest term. */
  json_int_t term = json_integer_value(json_object_get(doc, "max_term"));
  assert_true(term >= 2);
  snprintf(want, sizeof want, "highest term %lld", (long long)term);
  if (!strstr(out, want)) fail_msg("summary without '%s':\n%s", want, out);
  assert_int_equal(json_array_size(json_object_get(doc, "series")), 10); /* duration_s = 10 */
  /* the leader's crash at 3 s for 2 s, as the simulator saw it fire, in the file and the summary */
  json_t *faults = json_object_get(doc, "faults");
  assert_int_equal(json_array_size(faults), 1);
  json_t *f0 = json_array_get(faults, 0);
  assert_string_equal(json_string_value(json_object_get(f0, "kind")), "crash");
  assert_true(json_real_value(json_object_get(f0, "at_s")) == 3.0);
  assert_true(json_real_value(json_object_get(f0, "healed_s")) == 5.0);
  double unavailable_ms = json_real_value(json_object_get(f0, "unavailable_ms"));
  assert_true(unavailable_ms > 0);
  snprintf(want, sizeof want, "crash of node %lld at 3.00 s, healed 5.00 s: unavailable ",
           (long long)json_integer_value(json_object_get(f0, "node")));
  const char *line = strstr(out, want);
  if (!line) fail_msg("summary without '%s':\n%s", want, out);
  assert_true(fabs(strtod(line + strlen(want), NULL) - unavailable_ms) <= 0.5);
  assert_int_equal(json_integer_value(json_object_get(
                       json_array_get(json_object_get(doc, "series"), 3), "faults")),
                   1);
  json_decref(doc);
  unlink(json_path);
  unlink(history_path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_counts_window_latency),
      cmocka_unit_test(test_pairing_many_processes),
      cmocka_unit_test(test_empty_history),
      cmocka_unit_test(test_unavailability),
      cmocka_unit_test(test_json),
      cmocka_unit_test(test_compare_json),
      cmocka_unit_test(test_csv),
      cmocka_unit_test(test_compare_print),
      cmocka_unit_test(test_sim_json),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
