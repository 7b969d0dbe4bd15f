/* test_sim.c: the deterministic simulator itself: same seed, same trace byte for byte; the
 * invariant checks catch protocols that break them (a deliberately lying protocol defined here);
 * crashes lose what was not synced; a failing run reports its seed; faults are reported as they
 * fired, with their unavailability; open-loop histories count queueing in their latencies. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "history.h"
#include "results.h"
#include "sim.h"

static ctk_config make_config(int nodes, int clients, uint64_t seed) {
  ctk_config c;
  char err[CTK_ERR_LEN];
  assert_int_equal(ctk_config_defaults(&c, "raft", err, sizeof err), 0);
  c.cluster.nodes = nodes;
  c.workload.clients = clients;
  c.workload.duration_s = 3;
  c.workload.warmup_s = 0;
  c.seed = seed;
  return c;
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *data = malloc((size_t)n + 1);
  assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return data;
}

/* Runs c, writing its trace and history into files named after tag; returns the trace hash. */
static uint64_t run_to_files(ctk_config *c, const char *tag, char **trace, size_t *trace_len,
                             char **history, size_t *history_len) {
  char trace_path[128], history_path[128];
  snprintf(trace_path, sizeof trace_path, "/tmp/ctk-test-sim-%d-%s.trace", (int)getpid(), tag);
  snprintf(history_path, sizeof history_path, "/tmp/ctk-test-sim-%d-%s.jsonl", (int)getpid(), tag);
  ctk_sim_options options = {.history_path = history_path};
  options.trace = fopen(trace_path, "w");
  assert_non_null(options.trace);
  ctk_sim_report r;
  char err[CTK_ERR_LEN];
  assert_int_equal(ctk_sim_execute(c, &options, &r, err, sizeof err), 0);
  fclose(options.trace);
  assert_true(ctk_sim_report_ok(&r));
  assert_true(r.stats.ops_ok >= 5); /* real traffic, even under a leader chaser */
  ctk_sim_report_free(&r);
  *trace = slurp(trace_path, trace_len);
  *history = slurp(history_path, history_len);
  remove(trace_path);
  remove(history_path);
  return r.stats.trace_hash;
}

static void test_same_seed_same_trace(void **state) {
  (void)state;
  ctk_config c = make_config(5, 6, 77);
  c.sim.random_faults = 1;
  c.sim.loss = 0.02;
  c.sim.duplicate = 0.02;
  c.sim.reorder = 0.05;
  char *t1, *t2, *h1, *h2, *t3, *h3;
  size_t t1_len, t2_len, h1_len, h2_len, t3_len, h3_len;
  uint64_t a = run_to_files(&c, "a", &t1, &t1_len, &h1, &h1_len);
  uint64_t b = run_to_files(&c, "b", &t2, &t2_len, &h2, &h2_len);
  assert_int_equal(a, b);
  assert_int_equal(t1_len, t2_len);
  assert_memory_equal(t1, t2, t1_len);
  assert_int_equal(h1_len, h2_len);
  assert_memory_equal(h1, h2, h1_len);
  assert_true(t1_len > 10000);
  /* another seed: another run */
  c.seed = 78;
  uint64_t other = run_to_files(&c, "c", &t3, &t3_len, &h3, &h3_len);
  assert_int_not_equal(a, other);
  free(t1), free(t2), free(t3), free(h1), free(h2), free(h3);
  ctk_config_free(&c);
}

static void test_trace_hash_does_not_depend_on_tracing(void **state) {
  (void)state;
  ctk_config c = make_config(3, 4, 5);
  ctk_sim_report with, without;
  char err[CTK_ERR_LEN];
  ctk_sim_options quiet = {0};
  ctk_sim_options traced = {.trace = fopen("/dev/null", "w")};
  assert_int_equal(ctk_sim_execute(&c, &traced, &with, err, sizeof err), 0);
  assert_int_equal(ctk_sim_execute(&c, &quiet, &without, err, sizeof err), 0);
  fclose(traced.trace);
  assert_int_equal(with.stats.trace_hash, without.stats.trace_hash);
  assert_int_equal(with.stats.msgs_sent, without.stats.msgs_sent);
  ctk_sim_report_free(&with);
  ctk_sim_report_free(&without);
  ctk_config_free(&c);
}

/* ---- a protocol that lies, to prove the invariants can fail ---- */

typedef struct liar {
  int id;
  uint64_t committed;
  int claim_leader;
  ctk_commit commit;
  uint8_t command[CTK_MAX_COMMAND_BYTES];
} liar;

static ctk_proto *liar_create(const ctk_node_config *config, const void *options, char *err,
                              size_t err_len) {
  (void)err, (void)err_len;
  liar *self = calloc(1, sizeof *self);
  self->id = config->node_id;
  self->claim_leader = *(const int *)options;
  return (ctk_proto *)self;
}
static void liar_destroy(ctk_proto *p) { free(p); }
/* Commits every command it is given at once, locally, at its own next index. */
static int liar_step(ctk_proto *p, const ctk_event *ev, ctk_output *out) {
  liar *self = (liar *)p;
  memset(out, 0, sizeof *out);
  out->next_deadline_us = CTK_DEADLINE_NONE;
  if (ev->kind != CTK_EVENT_COMMAND) return CTK_OK;
  memcpy(self->command, ev->bytes.data, ev->bytes.len);
  self->commit.index = ++self->committed;
  self->commit.command.data = self->command;
  self->commit.command.len = ev->bytes.len;
  out->commits = &self->commit;
  out->n_commits = 1;
  return CTK_OK;
}
static void liar_status(const ctk_proto *p, ctk_status *st) {
  const liar *self = (const liar *)p;
  memset(st, 0, sizeof *st);
  st->role = self->claim_leader ? CTK_ROLE_LEADER : CTK_ROLE_FOLLOWER;
  st->term = 1;
  st->leader_id = self->claim_leader ? self->id : -1;
  st->commit_index = self->committed;
}
static int liar_describe(const uint8_t *b, size_t n, char *buf, size_t len) {
  (void)b, (void)n;
  return snprintf(buf, len, "liar");
}

static const ctk_protocol_def liar_protocol = {.name = "liar",
                                               .summary = "commits without agreeing",
                                               .flags = CTK_PROTO_TOTAL_ORDER | CTK_PROTO_LEADERS,
                                               .options_size = sizeof(int),
                                               .create = liar_create,
                                               .destroy = liar_destroy,
                                               .step = liar_step,
                                               .status = liar_status,
                                               .describe = liar_describe};

static void test_invariants_catch_disagreement(void **state) {
  (void)state;
  ctk_config c = make_config(3, 4, 1);
  int claim_leader = 0;
  c.protocol = &liar_protocol;
  void *saved = c.protocol_options;
  c.protocol_options = &claim_leader;
  ctk_sim_report r;
  char err[CTK_ERR_LEN];
  ctk_sim_options options = {0};
  assert_int_equal(ctk_sim_execute(&c, &options, &r, err, sizeof err), 0);
  assert_true(r.violation);
  assert_non_null(strstr(r.violation_text, "agreement"));
  assert_false(ctk_sim_report_ok(&r));
  ctk_sim_report_free(&r);
  c.protocol_options = saved;
  ctk_config_free(&c);
}

static void test_invariants_catch_two_leaders(void **state) {
  (void)state;
  ctk_config c = make_config(3, 0, 1);
  int claim_leader = 1;
  c.protocol = &liar_protocol;
  void *saved = c.protocol_options;
  c.protocol_options = &claim_leader;
  char err[CTK_ERR_LEN];
  ctk_sim_options options = {.no_clients = 1};
  ctk_simulator *sim = ctk_sim_new(&c, &options, err, sizeof err);
  assert_non_null(sim);
  assert_int_equal(ctk_sim_run_until(sim, 1000), -1);
  assert_non_null(strstr(ctk_sim_violation(sim), "both leaders of term 1"));
  ctk_sim_destroy(&sim);
  c.protocol_options = saved;
  ctk_config_free(&c);
}

/* ---- timers ---- */

/* A protocol that asks for a deadline already past, then for one every millisecond. */
typedef struct ticker {
  uint64_t timeouts;
} ticker;

static ctk_proto *ticker_create(const ctk_node_config *config, const void *options, char *err,
                                size_t err_len) {
  (void)config, (void)options, (void)err, (void)err_len;
  return (ctk_proto *)calloc(1, sizeof(ticker));
}
static int ticker_step(ctk_proto *p, const ctk_event *ev, ctk_output *out) {
  ticker *self = (ticker *)p;
  memset(out, 0, sizeof *out);
  if (ev->kind == CTK_EVENT_START) {
    out->next_deadline_us = 0; /* long past, after a restart */
    return CTK_OK;
  }
  if (ev->kind == CTK_EVENT_TIMEOUT) self->timeouts++;
  out->next_deadline_us = ev->now_us + 1000;
  return CTK_OK;
}
static void ticker_status(const ctk_proto *p, ctk_status *st) {
  memset(st, 0, sizeof *st);
  st->role = CTK_ROLE_NONE;
  st->leader_id = -1;
  st->commit_index = ((const ticker *)p)->timeouts; /* how the test reads the count */
}
static const ctk_protocol_def ticker_protocol = {.name = "ticker",
                                                 .summary = "times out every millisecond",
                                                 .options_size = 1,
                                                 .create = ticker_create,
                                                 .destroy = liar_destroy,
                                                 .step = ticker_step,
                                                 .status = ticker_status,
                                                 .describe = liar_describe};

/* Regression: a deadline in the past left the node's timer dead (raft-sweep-3, seed 131). */
static void test_timer_deadline_in_the_past(void **state) {
  (void)state;
  ctk_config c = make_config(1, 0, 1);
  c.protocol = &ticker_protocol;
  char err[CTK_ERR_LEN];
  ctk_sim_options options = {.no_clients = 1};
  ctk_simulator *sim = ctk_sim_new(&c, &options, err, sizeof err);
  assert_non_null(sim);
  assert_int_equal(ctk_sim_run_until(sim, 500000), 0);
  ctk_sim_crash(sim, 0);
  ctk_sim_restart(sim, 0);
  assert_int_equal(ctk_sim_run_until(sim, 1500000), 0);
  ctk_status st;
  assert_int_equal(ctk_sim_status(sim, 0, &st), 0);
  print_message("%" PRIu64 " timeouts in the 1 s after the restart\n", st.commit_index);
  assert_true(st.commit_index >= 900 && st.commit_index <= 1001);
  ctk_sim_destroy(&sim);
  ctk_config_free(&c);
}

/* ---- crashes and disks ---- */

static void test_crash_restart_keeps_synced_state(void **state) {
  (void)state;
  ctk_config c = make_config(3, 8, 3);
  c.n_faults = 2;
  memset(c.faults, 0, 2 * sizeof c.faults[0]);
  c.faults[0] =
      (ctk_fault){.at_s = 1, .kind = CTK_FAULT_CRASH, .node = CTK_TARGET_LEADER, .duration_s = 0.5};
  c.faults[1] =
      (ctk_fault){.at_s = 2, .kind = CTK_FAULT_CRASH, .node = CTK_TARGET_RANDOM, .duration_s = 0.3};
  ctk_sim_report r;
  char err[CTK_ERR_LEN];
  ctk_sim_options options = {0};
  assert_int_equal(ctk_sim_execute(&c, &options, &r, err, sizeof err), 0);
  if (!ctk_sim_report_ok(&r)) fail_msg("%s", r.violation_text);
  assert_int_equal(r.stats.crashes, 2);
  assert_int_equal(r.stats.restarts, 2);
  assert_int_equal(r.linearizable, 1);
  assert_true(r.stats.leader_changes >= 2);
  ctk_sim_report_free(&r);
  ctk_config_free(&c);
}

static void test_liveness_failure_is_reported(void **state) {
  (void)state;
  /* A 2-node cluster with a node that never comes back within the run cannot commit: the
   * liveness phase restarts it, so instead cut the network for good with loss = 1. */
  ctk_config c = make_config(3, 2, 9);
  c.sim.loss = 1.0;
  c.sim.liveness_s = 2;
  ctk_sim_report r;
  char err[CTK_ERR_LEN];
  ctk_sim_options options = {0};
  assert_int_equal(ctk_sim_execute(&c, &options, &r, err, sizeof err), 0);
  assert_true(r.violation);
  assert_non_null(strstr(r.violation_text, "liveness"));
  ctk_sim_report_free(&r);
  ctk_config_free(&c);
}

static void test_latency_matrix(void **state) {
  (void)state;
  ctk_config c = make_config(3, 4, 2);
  c.sim.n_sites = 3;
  snprintf(c.sim.site_names[0], CTK_NAME_LEN, "a");
  snprintf(c.sim.site_names[1], CTK_NAME_LEN, "b");
  snprintf(c.sim.site_names[2], CTK_NAME_LEN, "c");
  for (int i = 0; i < 3; i++) {
    c.cluster.site_of_node[i] = i;
    for (int j = 0; j < 3; j++) c.sim.latency_ms[i][j] = i == j ? 0 : 40;
  }
  ctk_sim_report r;
  char err[CTK_ERR_LEN];
  ctk_sim_options options = {0};
  assert_int_equal(ctk_sim_execute(&c, &options, &r, err, sizeof err), 0);
  assert_true(ctk_sim_report_ok(&r));
  /* a commit needs a round trip of 2 x 40 ms between sites */
  uint64_t p50 = ctk_histogram_quantile(&r.stats.latency_us, 0.5);
  assert_true(p50 >= 80000 && p50 < 250000);
  ctk_sim_report_free(&r);
  ctk_config_free(&c);
}

/* The timeline shows roles over time: a leader partitioned away (lower case while cut off), a
 * new leader elsewhere. */
static void test_timeline(void **state) {
  (void)state;
  ctk_config c = make_config(5, 4, 1);
  c.workload.duration_s = 4;
  c.n_faults = 1;
  memset(c.faults, 0, sizeof c.faults[0]);
  c.faults[0] = (ctk_fault){
      .at_s = 1, .kind = CTK_FAULT_ISOLATE, .node = CTK_TARGET_LEADER, .duration_s = 1.5};
  char *text = NULL;
  size_t len = 0;
  ctk_sim_options options = {.timeline = open_memstream(&text, &len)};
  ctk_sim_report r;
  char err[CTK_ERR_LEN];
  assert_int_equal(ctk_sim_execute(&c, &options, &r, err, sizeof err), 0);
  fclose(options.timeline);
  assert_true(ctk_sim_report_ok(&r));
  print_message("%s", text);
  assert_non_null(strstr(text, "timeline: 1 column = "));
  int leaders = 0, cut_off_leader = 0, rows = 0;
  for (char *line = strstr(text, "\n  n"); line; line = strstr(line + 1, "\n  n")) {
    rows++;
    char *end = strchr(line + 1, '\n');
    for (char *p = line + 1; p < end; p++) {
      leaders += *p == 'L';
      cut_off_leader += *p == 'l';
    }
  }
  assert_int_equal(rows, 5);
  assert_true(cut_off_leader > 0); /* the isolated leader, until check-quorum deposes it */
  assert_true(leaders > 0);
  assert_true(r.stats.leader_changes >= 2);
  free(text);
  ctk_sim_report_free(&r);
  ctk_config_free(&c);
}

/* Open loop: Poisson arrivals at a fixed rate; past the cluster's capacity the backlog grows and
 * latency, counted from each arrival, shows the queueing instead of hiding it. */
static ctk_sim_report open_loop_run(double rate) {
  ctk_config c = make_config(3, 4, 6);
  c.workload.duration_s = 4;
  c.workload.rate = rate;
  ctk_sim_report r;
  char err[CTK_ERR_LEN];
  ctk_sim_options options = {0};
  assert_int_equal(ctk_sim_execute(&c, &options, &r, err, sizeof err), 0);
  if (!ctk_sim_report_ok(&r)) fail_msg("open loop at %.0f/s: %s", rate, r.violation_text);
  ctk_config_free(&c);
  return r;
}

static void test_open_loop(void **state) {
  (void)state;
  ctk_sim_report light = open_loop_run(100), heavy = open_loop_run(5000);
  uint64_t done_light = light.stats.ops_ok + light.stats.ops_fail;
  /* about rate x duration arrivals, all served */
  assert_true(done_light > 300 && done_light < 500);
  uint64_t p50_light = ctk_histogram_quantile(&light.stats.latency_us, 0.5);
  uint64_t p50_heavy = ctk_histogram_quantile(&heavy.stats.latency_us, 0.5);
  print_message("open loop: 100/s p50 %.1f ms, 5000/s p50 %.1f ms (%" PRIu64 " ops)\n",
                (double)p50_light / 1000, (double)p50_heavy / 1000,
                heavy.stats.ops_ok + heavy.stats.ops_fail);
  /* 4 clients cannot keep up with 5000/s: waiting time dominates */
  assert_true(p50_heavy > 10 * p50_light);
  ctk_sim_report_free(&light);
  ctk_sim_report_free(&heavy);
}

/* ---- fault events ---- */

/* The default experiment (configs/default.toml): the leader crashes at 3 s and restarts at 5 s.
 * The report has that one crash, where and when it hit, and how long writes were unavailable. */
static void test_default_experiment_reports_its_crash(void **state) {
  (void)state;
  ctk_config c;
  char err[CTK_ERR_LEN];
  if (ctk_config_load("configs/default.toml", &c, err, sizeof err)) fail_msg("%s", err);
  ctk_sim_report r;
  ctk_sim_options options = {0};
  assert_int_equal(ctk_sim_execute(&c, &options, &r, err, sizeof err), 0);
  assert_true(ctk_sim_report_ok(&r));
  assert_int_equal(r.n_faults, 1);
  const ctk_fault_event *f = &r.faults[0];
  print_message(
      "default experiment: crash of node %d at %.3f s, healed %.3f s: unavailable "
      "%.1f ms\n",
      f->node, (double)f->at_us / 1e6, (double)f->healed_us / 1e6, f->unavailable_ms);
  assert_int_equal(f->kind, CTK_FAULT_CRASH);
  assert_int_equal(f->fault_index, 0);
  assert_true(f->node >= 0 && f->node < 3); /* "leader", resolved when it fired */
  assert_int_equal(f->at_us, 3000000);
  assert_int_equal(f->healed_us, 5000000);
  assert_true(isfinite(f->unavailable_ms));
  assert_true(f->unavailable_ms > 0 && f->unavailable_ms < 5000);
  assert_int_equal(r.stats.crashes, 1);
  ctk_sim_report_free(&r);
  ctk_config_free(&c);
}

/* Random faults and a leader chaser that strikes every new leader: more faults than results.h
 * holds (CTK_MAX_FAULTS), every one reported, the same ones for the same seed, each with its
 * unavailability; reporting them changes nothing else in the run. */
static void test_random_fault_events(void **state) {
  (void)state;
  ctk_config c = make_config(5, 8, 1);
  c.workload.duration_s = 30;
  c.workload.client_timeout_ms = 500;
  c.sim.random_faults = 1;
  c.sim.chase_leader = 1;
  ctk_sim_report a, b;
  char err[CTK_ERR_LEN];
  ctk_sim_options options = {0};
  assert_int_equal(ctk_sim_execute(&c, &options, &a, err, sizeof err), 0);
  assert_int_equal(ctk_sim_execute(&c, &options, &b, err, sizeof err), 0);
  if (!ctk_sim_report_ok(&a)) fail_msg("%s", a.violation_text);
  assert_int_equal(a.stats.trace_hash, b.stats.trace_hash);
  assert_int_equal(a.n_faults, b.n_faults);
  assert_memory_equal(a.faults, b.faults, (size_t)a.n_faults * sizeof a.faults[0]);
  assert_true(a.n_faults > CTK_MAX_FAULTS && a.n_faults <= CTK_SIM_MAX_FAULT_EVENTS);
  int crashes = 0, measured_late = 0;
  for (int k = 0; k < a.n_faults; k++) {
    const ctk_fault_event *f = &a.faults[k];
    assert_int_equal(f->fault_index, -1); /* none comes from the experiment's own list */
    assert_true(f->node == CTK_TARGET_ALL || (f->node >= 0 && f->node < 5));
    assert_true(k == 0 || f->at_us >= a.faults[k - 1].at_us); /* in the order they fired */
    assert_true(f->at_us < 30000000);                         /* only in the safety phase */
    assert_true(f->healed_us > f->at_us);                     /* all heal by the liveness phase */
    assert_true(f->unavailable_ms == -1 || f->unavailable_ms >= 0);
    crashes += f->kind == CTK_FAULT_CRASH;
    measured_late += k >= CTK_MAX_FAULTS && f->unavailable_ms >= 0;
  }
  print_message("%d faults fired, %d of them crashes (%" PRIu64 " nodes crashed)\n", a.n_faults,
                crashes, a.stats.crashes);
  /* a crash fault on a node already down does not crash it again */
  assert_true((uint64_t)crashes >= a.stats.crashes && a.stats.crashes > 0);
  assert_true(measured_late > 0); /* past the first CTK_MAX_FAULTS too */
  ctk_sim_report_free(&a);
  ctk_sim_report_free(&b);
  ctk_config_free(&c);
}

/* Open loop past capacity: the history's invokes are the arrivals, so latencies computed from the
 * history (as `ctk sim --json` and `ctk run` compute them) include the time requests waited for a
 * client, as the simulator's own histogram does. They used to start when a client sent the
 * request: p99 21 ms from the history against 8.7 s in the summary. */
static void test_open_loop_history_counts_queueing(void **state) {
  (void)state;
  char history_path[] = "/tmp/ctk-test-sim-open-XXXXXX";
  int fd = mkstemp(history_path);
  assert_true(fd >= 0);
  close(fd);
  ctk_config c = make_config(3, 4, 6);
  c.workload.duration_s = 4;
  c.workload.rate = 5000;
  ctk_sim_report r;
  char err[CTK_ERR_LEN];
  ctk_sim_options options = {.history_path = history_path};
  assert_int_equal(ctk_sim_execute(&c, &options, &r, err, sizeof err), 0);
  if (!ctk_sim_report_ok(&r)) fail_msg("%s", r.violation_text);
  ctk_history h;
  if (ctk_history_read_jsonl(history_path, &h, err, sizeof err)) fail_msg("%s", err);
  unlink(history_path);
  uint64_t end_us = 0; /* the whole run, as the simulator's histogram covers it (warmup 0) */
  for (size_t i = 0; i < h.n; i++)
    if (h.events[i].time_us >= end_us) end_us = h.events[i].time_us + 1;
  ctk_results *res = calloc(1, sizeof *res);
  assert_non_null(res);
  assert_int_equal(ctk_results_compute(res, &h, 0, end_us), 0);
  uint64_t sim_p99 = ctk_histogram_quantile(&r.stats.latency_us, 0.99);
  uint64_t hist_p50 = ctk_histogram_quantile(&res->latency_all_us, 0.5);
  uint64_t hist_p99 = ctk_histogram_quantile(&res->latency_all_us, 0.99);
  print_message("open loop 5000/s: history p50 %.1f ms p99 %.1f ms, simulator p99 %.1f ms\n",
                (double)hist_p50 / 1000, (double)hist_p99 / 1000, (double)sim_p99 / 1000);
  assert_true(hist_p99 >= sim_p99);
  assert_int_equal(res->latency_all_us.total, r.stats.latency_us.total); /* the same operations */
  assert_int_equal(res->latency_all_us.max, r.stats.latency_us.max);
  assert_true(hist_p50 > 500000); /* 4 clients serve a few hundred ops/s: seconds of backlog */
  ctk_results_free(res);
  free(res);
  ctk_history_free(&h);
  ctk_sim_report_free(&r);
  ctk_config_free(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_same_seed_same_trace),
      cmocka_unit_test(test_trace_hash_does_not_depend_on_tracing),
      cmocka_unit_test(test_invariants_catch_disagreement),
      cmocka_unit_test(test_invariants_catch_two_leaders),
      cmocka_unit_test(test_timer_deadline_in_the_past),
      cmocka_unit_test(test_crash_restart_keeps_synced_state),
      cmocka_unit_test(test_liveness_failure_is_reported),
      cmocka_unit_test(test_latency_matrix),
      cmocka_unit_test(test_timeline),
      cmocka_unit_test(test_open_loop),
      cmocka_unit_test(test_default_experiment_reports_its_crash),
      cmocka_unit_test(test_random_fault_events),
      cmocka_unit_test(test_open_loop_history_counts_queueing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
