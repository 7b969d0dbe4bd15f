/* test_config.c: the experiment-file loader: defaults, a complete file, every kind of error with
 * its exact message, the write/load round trip, `ctk config`, and robustness against thousands
 * of mutated inputs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "config.h"
#include "raft/raft.h"

static const char complete_toml[] =
    "protocol = \"raft\"\n"
    "seed = 42\n"
    "\n"
    "[cluster]\n"
    "nodes = 5\n"
    "base_port = 8000\n"
    "endpoints = [\"tcp://10.0.0.1:7000\", \"tcp://10.0.0.2:7000\", \"tcp://10.0.0.3:7000\",\n"
    "             \"tcp://10.0.0.4:7000\", \"tcp://[::1]:7004\"]\n"
    "sites = [\"us\", \"eu\", \"asia\", \"us\", \"eu\"]\n"
    "\n"
    "[workload]\n"
    "clients = 16\n"
    "duration_s = 20.5\n"
    "warmup_s = 2\n"
    "read_ratio = 0.9\n"
    "cas_ratio = 0.25\n"
    "keys = 5000\n"
    "distribution = \"zipf\"\n"
    "zipf_s = 1.2\n"
    "conflict_pct = 5\n"
    "value_bytes = 128\n"
    "rate = 2000\n"
    "client_timeout_ms = 250\n"
    "max_attempts = 3\n"
    "\n"
    "[sim]\n"
    "delay_ms = 2\n"
    "loss = 0.01\n"
    "duplicate = 0.02\n"
    "reorder = 0.03\n"
    "reorder_delay_ms = 15\n"
    "client_delay_ms = 0.25\n"
    "disk_sync_us = 150\n"
    "step_us = 10\n"
    "site_names = [\"us\", \"eu\", \"asia\"]\n"
    "latency_ms = [[0.5, 40, 90], [40, 0.5, 120], [90, 120, 0.5]]\n"
    "random_faults = true\n"
    "liveness_s = 45\n"
    "torn_writes = false\n"
    "\n"
    "[raft]\n"
    "election_timeout_ms = [200, 400]\n"
    "heartbeat_ms = 40\n"
    "prevote = false\n"
    "check_quorum = false\n"
    "max_batch = 1\n"
    "max_inflight = 2\n"
    "bug_commit_by_counting = true\n"
    "\n"
    "[[fault]]\n" /* line 50 */
    "at_s = 1\n"
    "kind = \"crash\"\n"
    "node = 2\n"
    "duration_s = 3\n"
    "\n"
    "[[fault]]\n" /* line 56 */
    "at_s = 2.5\n"
    "kind = \"partition\"\n"
    "nodes = [0, 1]\n"
    "one_way = true\n"
    "duration_s = 1\n"
    "\n"
    "[[fault]]\n"
    "at_s = 3\n"
    "kind = \"isolate\"\n"
    "node = \"random\"\n"
    "\n"
    "[[fault]]\n"
    "at_s = 4\n"
    "kind = \"drop\"\n"
    "node = \"all\"\n"
    "probability = 0.3\n"
    "\n"
    "[[fault]]\n"
    "at_s = 5\n"
    "kind = \"delay\"\n"
    "node = 1\n"
    "delay_ms = 50\n"
    "\n"
    "[[fault]]\n"
    "at_s = 6\n"
    "kind = \"duplicate\"\n"
    "probability = 0.1\n"
    "\n"
    "[[fault]]\n"
    "at_s = 7\n"
    "kind = \"reorder\"\n"
    "probability = 0.2\n"
    "\n"
    "[[fault]]\n"
    "at_s = 8\n"
    "kind = \"slow\"\n"
    "node = \"leader\"\n"
    "factor = 4\n";

/* Loads text that must be rejected, and checks the exact message. */
static void expect_error(const char *text, const char *message) {
  ctk_config config;
  char err[CTK_ERR_LEN] = "";
  int rc = ctk_config_load_string(text, "exp.toml", &config, err, sizeof err);
  if (rc == 0) ctk_config_free(&config);
  assert_int_equal(rc, -1);
  assert_string_equal(err, message);
  assert_null(config.protocol_options);
}

static void load_ok(const char *text, ctk_config *config) {
  char err[CTK_ERR_LEN] = "";
  int rc = ctk_config_load_string(text, "exp.toml", config, err, sizeof err);
  if (rc != 0) fail_msg("unexpected error: %s", err);
}

static const ctk_raft_options *raft_options(const ctk_config *config) {
  return (const ctk_raft_options *)config->protocol_options;
}

/* Field by field (not memcmp: padding and bytes after a string's NUL may differ). */
static void assert_configs_equal(const ctk_config *a, const ctk_config *b) {
  assert_ptr_equal(a->protocol, b->protocol);
  assert_string_equal(a->protocol_name, b->protocol_name);
  assert_true(a->seed == b->seed);
  assert_int_equal(a->cluster.nodes, b->cluster.nodes);
  assert_int_equal(a->cluster.base_port, b->cluster.base_port);
  for (int i = 0; i < a->cluster.nodes; i++) {
    assert_string_equal(a->cluster.endpoints[i], b->cluster.endpoints[i]);
    assert_int_equal(a->cluster.site_of_node[i], b->cluster.site_of_node[i]);
  }
  const ctk_workload *wa = &a->workload, *wb = &b->workload;
  assert_int_equal(wa->clients, wb->clients);
  assert_true(wa->duration_s == wb->duration_s);
  assert_true(wa->ops == wb->ops);
  assert_true(wa->warmup_s == wb->warmup_s);
  assert_true(wa->read_ratio == wb->read_ratio);
  assert_true(wa->cas_ratio == wb->cas_ratio);
  assert_true(wa->keys == wb->keys);
  assert_int_equal(wa->distribution, wb->distribution);
  assert_true(wa->zipf_s == wb->zipf_s);
  assert_true(wa->conflict_pct == wb->conflict_pct);
  assert_int_equal(wa->value_bytes, wb->value_bytes);
  assert_true(wa->rate == wb->rate);
  assert_true(wa->client_timeout_ms == wb->client_timeout_ms);
  assert_int_equal(wa->max_attempts, wb->max_attempts);
  assert_int_equal(wa->stale_reads, wb->stale_reads);
  assert_int_equal(wa->sticky_sessions, wb->sticky_sessions);
  assert_int_equal(a->n_faults, b->n_faults);
  for (int i = 0; i < a->n_faults; i++) {
    const ctk_fault *fa = &a->faults[i], *fb = &b->faults[i];
    assert_true(fa->at_s == fb->at_s);
    assert_int_equal(fa->kind, fb->kind);
    assert_int_equal(fa->node, fb->node);
    assert_true(fa->duration_s == fb->duration_s);
    assert_int_equal(fa->n_nodes, fb->n_nodes);
    for (int k = 0; k < fa->n_nodes; k++) assert_int_equal(fa->nodes[k], fb->nodes[k]);
    assert_int_equal(fa->one_way, fb->one_way);
    assert_true(fa->probability == fb->probability);
    assert_true(fa->delay_ms == fb->delay_ms);
    assert_true(fa->factor == fb->factor);
  }
  const ctk_sim_config *sa = &a->sim, *sb = &b->sim;
  assert_true(sa->delay_ms[0] == sb->delay_ms[0] && sa->delay_ms[1] == sb->delay_ms[1]);
  assert_true(sa->loss == sb->loss);
  assert_true(sa->duplicate == sb->duplicate);
  assert_true(sa->reorder == sb->reorder);
  assert_true(sa->reorder_delay_ms == sb->reorder_delay_ms);
  assert_true(sa->client_delay_ms == sb->client_delay_ms);
  assert_true(sa->disk_sync_us == sb->disk_sync_us);
  assert_true(sa->step_us == sb->step_us);
  assert_int_equal(sa->n_sites, sb->n_sites);
  for (int i = 0; i < sa->n_sites; i++) {
    assert_string_equal(sa->site_names[i], sb->site_names[i]);
    for (int j = 0; j < sa->n_sites; j++) assert_true(sa->latency_ms[i][j] == sb->latency_ms[i][j]);
  }
  assert_int_equal(sa->random_faults, sb->random_faults);
  assert_true(sa->liveness_s == sb->liveness_s);
  assert_int_equal(sa->torn_writes, sb->torn_writes);
  assert_memory_equal(a->protocol_options, b->protocol_options, a->protocol->options_size);
}

/* Writes config as TOML into a malloc'd string. */
static char *write_to_string(const ctk_config *config) {
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  assert_non_null(out);
  assert_int_equal(ctk_config_write(config, out), 0);
  assert_int_equal(fclose(out), 0);
  return text;
}

/* Writes config out, reads it back and checks nothing changed. */
static void assert_round_trip(const ctk_config *config) {
  char *text = write_to_string(config);
  ctk_config again;
  char err[CTK_ERR_LEN] = "";
  if (ctk_config_load_string(text, "written.toml", &again, err, sizeof err))
    fail_msg("written config does not load: %s\n%s", err, text);
  assert_configs_equal(config, &again);
  ctk_config_free(&again);
  free(text);
}

/* ---- defaults and a complete file ---- */

static void test_defaults_are_filled(void **state) {
  (void)state;
  ctk_config config;
  load_ok("", &config);
  assert_string_equal(config.path, "exp.toml");
  assert_string_equal(config.protocol_name, "raft");
  assert_ptr_equal(config.protocol, ctk_protocol_find("raft"));
  assert_true(config.seed == 1);
  assert_int_equal(config.cluster.nodes, 3);
  assert_int_equal(config.cluster.base_port, 7100);
  assert_string_equal(config.cluster.endpoints[0], "tcp://127.0.0.1:7100");
  assert_string_equal(config.cluster.endpoints[2], "tcp://127.0.0.1:7102");
  const ctk_workload *w = &config.workload;
  assert_int_equal(w->clients, 8);
  assert_true(w->duration_s == 10 && w->ops == 0 && w->warmup_s == 1);
  assert_true(w->read_ratio == 0.5 && w->cas_ratio == 0.1 && w->keys == 1000);
  assert_int_equal(w->distribution, CTK_DIST_UNIFORM);
  assert_true(w->zipf_s == 0.99 && w->conflict_pct == 0 && w->value_bytes == 64);
  assert_true(w->rate == 0 && w->client_timeout_ms == 1000 && w->max_attempts == 10);
  assert_int_equal(config.n_faults, 0);
  const ctk_sim_config *s = &config.sim;
  assert_true(s->delay_ms[0] == 1 && s->delay_ms[1] == 5);
  assert_true(s->loss == 0 && s->duplicate == 0 && s->reorder == 0);
  assert_true(s->reorder_delay_ms == 20 && s->client_delay_ms == 0.5);
  assert_true(s->disk_sync_us == 200 && s->step_us == 20 && s->n_sites == 0);
  assert_true(s->random_faults == 0 && s->liveness_s == 30 && s->torn_writes == 1);
  const ctk_raft_options *raft = raft_options(&config);
  assert_true(raft->election_timeout_ms[0] == 150 && raft->election_timeout_ms[1] == 300);
  assert_true(raft->heartbeat_ms == 50 && raft->max_batch == 64 && raft->max_inflight == 8);
  assert_true(raft->prevote == 1 && raft->check_quorum == 1 && raft->bug_commit_by_counting == 0);

  ctk_config defaults;
  char err[CTK_ERR_LEN];
  assert_int_equal(ctk_config_defaults(&defaults, NULL, err, sizeof err), 0);
  assert_configs_equal(&config, &defaults);
  ctk_config_free(&defaults);
  ctk_config_free(&config);
  assert_null(config.protocol_options);
  ctk_config_free(&config); /* twice is harmless */
}

static void test_defaults_unknown_protocol(void **state) {
  (void)state;
  ctk_config config;
  char err[CTK_ERR_LEN];
  assert_int_equal(ctk_config_defaults(&config, "viewstamped", err, sizeof err), -1);
  assert_string_equal(
      err,
      "unknown protocol \"viewstamped\" (known: \"raft\", \"multipaxos\", \"paxos\", \"zab\", "
      "\"epaxos\", \"vr\")");
  assert_null(config.protocol_options);
}

static void test_complete_file(void **state) {
  (void)state;
  ctk_config config;
  load_ok(complete_toml, &config);
  assert_true(config.seed == 42);
  assert_int_equal(config.cluster.nodes, 5);
  assert_int_equal(config.cluster.base_port, 8000);
  assert_string_equal(config.cluster.endpoints[1], "tcp://10.0.0.2:7000");
  assert_string_equal(config.cluster.endpoints[4], "tcp://[::1]:7004");
  int sites[] = {0, 1, 2, 0, 1};
  for (int i = 0; i < 5; i++) assert_int_equal(config.cluster.site_of_node[i], sites[i]);
  const ctk_workload *w = &config.workload;
  assert_int_equal(w->clients, 16);
  assert_true(w->duration_s == 20.5 && w->ops == 0 && w->warmup_s == 2);
  assert_true(w->read_ratio == 0.9 && w->cas_ratio == 0.25 && w->keys == 5000);
  assert_int_equal(w->distribution, CTK_DIST_ZIPF);
  assert_true(w->zipf_s == 1.2 && w->conflict_pct == 5 && w->value_bytes == 128);
  assert_true(w->rate == 2000 && w->client_timeout_ms == 250 && w->max_attempts == 3);
  const ctk_sim_config *s = &config.sim;
  assert_true(s->delay_ms[0] == 2 && s->delay_ms[1] == 2);
  assert_true(s->loss == 0.01 && s->duplicate == 0.02 && s->reorder == 0.03);
  assert_true(s->reorder_delay_ms == 15 && s->client_delay_ms == 0.25);
  assert_true(s->disk_sync_us == 150 && s->step_us == 10);
  assert_int_equal(s->n_sites, 3);
  assert_string_equal(s->site_names[2], "asia");
  assert_true(s->latency_ms[0][1] == 40 && s->latency_ms[2][1] == 120 &&
              s->latency_ms[1][1] == 0.5);
  assert_true(s->random_faults == 1 && s->liveness_s == 45 && s->torn_writes == 0);
  const ctk_raft_options *raft = raft_options(&config);
  assert_true(raft->election_timeout_ms[0] == 200 && raft->election_timeout_ms[1] == 400);
  assert_true(raft->heartbeat_ms == 40 && raft->max_batch == 1 && raft->max_inflight == 2);
  assert_true(raft->prevote == 0 && raft->check_quorum == 0 && raft->bug_commit_by_counting == 1);

  assert_int_equal(config.n_faults, 8);
  const ctk_fault *f = config.faults;
  assert_int_equal(f[0].kind, CTK_FAULT_CRASH);
  assert_true(f[0].at_s == 1 && f[0].node == 2 && f[0].duration_s == 3);
  assert_int_equal(f[0].line, 50);
  assert_int_equal(f[1].kind, CTK_FAULT_PARTITION);
  assert_true(f[1].at_s == 2.5 && f[1].node == CTK_TARGET_LEADER && f[1].one_way == 1);
  assert_true(f[1].n_nodes == 2 && f[1].nodes[0] == 0 && f[1].nodes[1] == 1);
  assert_int_equal(f[1].line, 56);
  assert_true(f[2].kind == CTK_FAULT_ISOLATE && f[2].node == CTK_TARGET_RANDOM);
  assert_true(f[2].duration_s == 0);
  assert_true(f[3].kind == CTK_FAULT_DROP && f[3].node == CTK_TARGET_ALL);
  assert_true(f[3].probability == 0.3);
  assert_true(f[4].kind == CTK_FAULT_DELAY && f[4].node == 1 && f[4].delay_ms == 50);
  assert_true(f[5].kind == CTK_FAULT_DUPLICATE && f[5].probability == 0.1);
  /* A reorder fault without delay_ms takes sim.reorder_delay_ms. */
  assert_true(f[6].kind == CTK_FAULT_REORDER && f[6].probability == 0.2 && f[6].delay_ms == 15);
  assert_true(f[7].kind == CTK_FAULT_SLOW && f[7].factor == 4);
  assert_string_equal(ctk_fault_kind_name(f[7].kind), "slow");
  ctk_config_free(&config);
}

static void test_ops_instead_of_duration(void **state) {
  (void)state;
  ctk_config config;
  load_ok("[workload]\nops = 5000\n", &config);
  assert_true(config.workload.ops == 5000 && config.workload.duration_s == 0);
  assert_round_trip(&config);
  ctk_config_free(&config);
  /* ops = 0 is the default: the run is bounded by duration_s. */
  load_ok("[workload]\nduration_s = 3\nops = 0\n", &config);
  assert_true(config.workload.ops == 0 && config.workload.duration_s == 3);
  ctk_config_free(&config);
}

static void test_single_values_for_ranges(void **state) {
  (void)state;
  ctk_config config;
  load_ok("[raft]\nelection_timeout_ms = 200\n[sim]\ndelay_ms = [0, 0.5]\n", &config);
  assert_true(raft_options(&config)->election_timeout_ms[0] == 200);
  assert_true(raft_options(&config)->election_timeout_ms[1] == 200);
  assert_true(config.sim.delay_ms[0] == 0 && config.sim.delay_ms[1] == 0.5);
  ctk_config_free(&config);
}

static void test_load_from_file(void **state) {
  (void)state;
  char path[] = "/tmp/ctk_test_config_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_true(write(fd, complete_toml, strlen(complete_toml)) == (ssize_t)strlen(complete_toml));
  close(fd);
  ctk_config config;
  char err[CTK_ERR_LEN] = "";
  if (ctk_config_load(path, &config, err, sizeof err)) fail_msg("%s", err);
  assert_string_equal(config.path, path);
  assert_int_equal(config.n_faults, 8);
  ctk_config_free(&config);

  /* Errors name the file. */
  FILE *file = fopen(path, "w");
  assert_non_null(file);
  fputs("seed = -1\n", file);
  fclose(file);
  assert_int_equal(ctk_config_load(path, &config, err, sizeof err), -1);
  char expected[CTK_ERR_LEN];
  snprintf(expected, sizeof expected, "%s:1: key 'seed': expected an integer >= 0, got -1", path);
  assert_string_equal(err, expected);
  unlink(path);
}

static void test_shipped_configs_load(void **state) {
  (void)state;
  if (access("configs/default.toml", R_OK) != 0) skip(); /* run from the repository root */
  ctk_config config;
  char err[CTK_ERR_LEN] = "";
  if (ctk_config_load("configs/default.toml", &config, err, sizeof err)) fail_msg("%s", err);
  assert_int_equal(config.cluster.nodes, 3);
  assert_int_equal(config.workload.clients, 8);
  assert_true(config.workload.duration_s == 10 && config.workload.read_ratio == 0.5);
  assert_int_equal(config.n_faults, 1);
  assert_true(config.faults[0].kind == CTK_FAULT_CRASH &&
              config.faults[0].node == CTK_TARGET_LEADER);
  assert_true(config.faults[0].at_s == 3 && config.faults[0].duration_s == 2);
  ctk_config defaults;
  assert_int_equal(ctk_config_defaults(&defaults, "raft", err, sizeof err), 0);
  assert_memory_equal(config.protocol_options, defaults.protocol_options,
                      config.protocol->options_size);
  ctk_config_free(&defaults);
  ctk_config_free(&config);

  if (ctk_config_load("configs/sweep.toml", &config, err, sizeof err)) fail_msg("%s", err);
  assert_int_equal(config.cluster.nodes, 5);
  assert_int_equal(config.workload.clients, 6);
  assert_true(config.sim.random_faults == 1 && config.sim.loss == 0.02);
  assert_true(config.sim.duplicate == 0.01 && config.sim.reorder == 0.02);
  ctk_config_free(&config);
}

/* ---- write / load round trip ---- */

static void test_round_trip_complete(void **state) {
  (void)state;
  ctk_config config;
  load_ok(complete_toml, &config);
  assert_round_trip(&config);
  ctk_config_free(&config);
}

static void test_round_trip_defaults(void **state) {
  (void)state;
  ctk_config config;
  char err[CTK_ERR_LEN];
  assert_int_equal(ctk_config_defaults(&config, "raft", err, sizeof err), 0);
  assert_round_trip(&config);
  ctk_config_free(&config);
}

static void test_round_trip_awkward_values(void **state) {
  (void)state;
  ctk_config config;
  load_ok(
      "seed = 9223372036854775807\n"
      "[cluster]\nnodes = 2\nsites = [\"a \\\"q\\\" \\\\ b\", \"\\u00e9t\\u00e9\\t\"]\n"
      "[workload]\nread_ratio = 0.1\ncas_ratio = 0.30000000000000004\nrate = 1e-7\n"
      "duration_s = 123456.789\nwarmup_s = 0.000001\n"
      "[sim]\nsite_names = [\"a \\\"q\\\" \\\\ b\", \"\\u00e9t\\u00e9\\t\"]\n"
      "latency_ms = [[1e-300, 2], [3, 999999999]]\n"
      "[[fault]]\nat_s = 0\nkind = \"partition\"\nnode = 1\n"
      "[[fault]]\nat_s = 0.1\nkind = \"reorder\"\nprobability = 1\ndelay_ms = 0\n",
      &config);
  assert_true(config.seed == INT64_MAX);
  assert_string_equal(config.sim.site_names[1], "\xc3\xa9t\xc3\xa9\t");
  assert_int_equal(config.faults[0].n_nodes, 0); /* the target alone is the cut-off side */
  assert_round_trip(&config);
  ctk_config_free(&config);
}

static void test_write_error_is_reported(void **state) {
  (void)state;
  FILE *full = fopen("/dev/full", "w");
  if (!full) skip();
  ctk_config config;
  load_ok(complete_toml, &config);
  assert_int_equal(ctk_config_write(&config, full), -1);
  fclose(full);
  ctk_config_free(&config);
}

/* ---- errors, one per kind, with their exact messages ---- */

static void test_error_syntax(void **state) {
  (void)state;
  expect_error("seed = 1\n[workload\nclients = 1\n",
               "exp.toml:2:10: TOML syntax error: Error while parsing table header: expected "
               "']', saw '\\n'");
  expect_error("seed = 1\n\nseed = 2\n",
               "exp.toml:3:8: TOML syntax error: Error while parsing key-value pair: cannot "
               "redefine existing integer 'seed'");
  /* In a header-only toml++ built without NDEBUG this input hits an assert (PITFALLS.md). */
  expect_error("[\n",
               "exp.toml:1:2: TOML syntax error: Error while parsing key: expected bare "
               "key starting character or string delimiter, saw '\\n'");
}

static void test_error_missing_file(void **state) {
  (void)state;
  ctk_config config;
  char err[CTK_ERR_LEN];
  assert_int_equal(ctk_config_load("/nonexistent/exp.toml", &config, err, sizeof err), -1);
  assert_string_equal(err, "/nonexistent/exp.toml: cannot open: No such file or directory");
  assert_null(config.protocol_options);
}

static void test_error_unknown_key(void **state) {
  (void)state;
  expect_error("[workload]\nclients = 8\ncleints = 8\n",
               "exp.toml:3: unknown key 'workload.cleints' (did you mean 'clients'?)");
  expect_error("[workload]\nbananas = 8\n",
               "exp.toml:2: unknown key 'workload.bananas' (expected one of: clients, duration_s, "
               "ops, warmup_s, read_ratio, cas_ratio, keys, distribution, zipf_s, conflict_pct, "
               "value_bytes, rate, client_timeout_ms, max_attempts, sticky_sessions, "
               "stale_reads)");
  expect_error("sed = 3\n", "exp.toml:1: unknown key 'sed' (did you mean 'seed'?)");
  expect_error("[raft]\nhartbeat_ms = 20\n",
               "exp.toml:2: unknown key 'raft.hartbeat_ms' (did you mean 'heartbeat_ms'?)");
  expect_error("[[fault]]\nat_s = 1\nkind = \"drop\"\nprobabilty = 0.5\n",
               "exp.toml:4: unknown key 'fault[0].probabilty' (did you mean 'probability'?)");
}

static void test_error_wrong_type(void **state) {
  (void)state;
  expect_error("[workload]\nclients = \"eight\"\n",
               "exp.toml:2: key 'workload.clients': expected an integer from 1 to 1024, got "
               "\"eight\"");
  expect_error("[workload]\nclients = 2.5\n",
               "exp.toml:2: key 'workload.clients': expected an integer from 1 to 1024, got 2.5");
  /* A whole float keeps its ".0": "got 3" would not say what is wrong. */
  expect_error("[cluster]\nnodes = 3.0\n",
               "exp.toml:2: key 'cluster.nodes': expected an integer from 1 to 16, got 3.0");
  expect_error("[sim]\ntorn_writes = 1\n",
               "exp.toml:2: key 'sim.torn_writes': expected true or false, got 1");
  expect_error("workload = 5\n", "exp.toml:1: key 'workload': expected a table, got 5");
  expect_error("[fault]\nat_s = 1\n",
               "exp.toml:1: key 'fault': expected an array of tables, written [[fault]], got a "
               "table");
  expect_error("[raft]\nprevote = \"yes\"\n",
               "exp.toml:2: key 'raft.prevote': expected true or false, got \"yes\"");
  expect_error("[workload]\ndistribution = \"zipfian\"\n",
               "exp.toml:2: key 'workload.distribution': expected \"uniform\", \"zipf\" or "
               "\"conflict\", got \"zipfian\"");
}

static void test_error_out_of_range(void **state) {
  (void)state;
  expect_error("[workload]\nclients = 2000\n",
               "exp.toml:2: key 'workload.clients': expected an integer from 1 to 1024, got 2000");
  expect_error("[workload]\nread_ratio = 1.5\n",
               "exp.toml:2: key 'workload.read_ratio': expected a number from 0 to 1, got 1.5");
  expect_error("[workload]\nzipf_s = 0\n",
               "exp.toml:2: key 'workload.zipf_s': expected a number > 0 and <= 10, got 0");
  expect_error("[cluster]\nnodes = 17\n",
               "exp.toml:2: key 'cluster.nodes': expected an integer from 1 to 16, got 17");
  expect_error("[cluster]\nnodes = 5\nbase_port = 65531\n",
               "exp.toml:3: key 'cluster.base_port': expected an integer from 1024 to 65530, got "
               "65531");
  expect_error("[sim]\nliveness_s = nan\n",
               "exp.toml:2: key 'sim.liveness_s': expected a number > 0 and <= 1000000, got nan");
  expect_error("[raft]\nheartbeat_ms = 0\n",
               "exp.toml:2: key 'raft.heartbeat_ms': expected an integer from 1 to 60000, got 0");
  expect_error("[[fault]]\nat_s = 1\nkind = \"slow\"\nfactor = 0.5\n",
               "exp.toml:4: key 'fault[0].factor': expected a number from 1 to 1000000, got 0.5");
}

static void test_error_warmup_not_below_duration(void **state) {
  (void)state;
  expect_error("[workload]\nduration_s = 2\nwarmup_s = 2\n",
               "exp.toml:3: key 'workload.warmup_s': expected a number >= 0 and below "
               "duration_s (2), got 2");
  expect_error("[workload]\nduration_s = 0.5\n",
               "exp.toml:2: key 'workload.duration_s': expected a number above warmup_s (1), got "
               "0.5");
}

static void test_error_duration_and_ops(void **state) {
  (void)state;
  expect_error("[workload]\nduration_s = 5\nops = 100\n",
               "exp.toml:3: key 'workload.ops': give duration_s or ops, not both");
}

static void test_error_endpoints(void **state) {
  (void)state;
  expect_error("[cluster]\nendpoints = [\"tcp://a:1\", \"tcp://b:1\"]\n",
               "exp.toml:2: key 'cluster.endpoints': expected 3 endpoints (one per node), got 2");
  expect_error("[cluster]\nnodes = 2\nendpoints = [\"tcp://a:1\", \"udp://b:1\"]\n",
               "exp.toml:3: key 'cluster.endpoints[1]': expected a \"tcp://host:port\" endpoint "
               "(port 1 to 65535, at most 127 bytes), got \"udp://b:1\"");
  expect_error("[cluster]\nnodes = 2\nendpoints = [\"tcp://a:1\", \"tcp://a:1\"]\n",
               "exp.toml:3: key 'cluster.endpoints[1]': endpoint \"tcp://a:1\" is already used "
               "by node 0");
}

static void test_error_latency_matrix(void **state) {
  (void)state;
  expect_error("[sim]\nsite_names = [\"a\", \"b\"]\nlatency_ms = [[1, 2]]\n",
               "exp.toml:3: key 'sim.latency_ms': expected 2 rows (one per site in "
               "sim.site_names), got 1");
  expect_error("[sim]\nsite_names = [\"a\", \"b\"]\nlatency_ms = [[1, 2], [3]]\n",
               "exp.toml:3: key 'sim.latency_ms[1]': expected 2 numbers (one per site in "
               "sim.site_names), got 1");
  expect_error("[sim]\nsite_names = [\"a\", \"b\"]\n",
               "exp.toml:1: key 'sim.latency_ms': required with sim.site_names (a 2 x 2 array "
               "of one-way delays)");
  expect_error("[sim]\nlatency_ms = [[1]]\n",
               "exp.toml:2: key 'sim.latency_ms': needs sim.site_names (one row and column per "
               "site)");
  expect_error("[sim]\nsite_names = [\"a\", \"a\"]\nlatency_ms = [[1, 2], [3, 4]]\n",
               "exp.toml:2: key 'sim.site_names[1]': site \"a\" is named twice");
}

static void test_error_site_not_in_site_names(void **state) {
  (void)state;
  expect_error(
      "[cluster]\nsites = [\"a\", \"c\", \"a\"]\n"
      "[sim]\nsite_names = [\"a\", \"b\"]\nlatency_ms = [[1, 2], [3, 4]]\n",
      "exp.toml:2: key 'cluster.sites[1]': expected one of sim.site_names (\"a\", "
      "\"b\"), got \"c\"");
  expect_error("[cluster]\nsites = [\"a\", \"a\", \"a\"]\n",
               "exp.toml:2: key 'cluster.sites': needs cluster.wan or sim.site_names to say which "
               "sites exist");
}

static void test_error_fault_key_not_applicable(void **state) {
  (void)state;
  expect_error("[[fault]]\nat_s = 1\nkind = \"crash\"\nprobability = 0.5\n",
               "exp.toml:4: key 'fault[0].probability': does not apply to crash faults");
  expect_error("[[fault]]\nat_s = 1\nkind = \"drop\"\nprobability = 0.5\none_way = true\n",
               "exp.toml:5: key 'fault[0].one_way': does not apply to drop faults");
}

static void test_error_fault_required_keys(void **state) {
  (void)state;
  expect_error("[[fault]]\nat_s = 1\nkind = \"crash\"\n\n[[fault]]\nat_s = 2\nkind = \"drop\"\n",
               "exp.toml:5: key 'fault[1].probability': required for drop faults (a number from "
               "0 to 1)");
  expect_error("[[fault]]\nat_s = 1\nkind = \"delay\"\n",
               "exp.toml:1: key 'fault[0].delay_ms': required for delay faults (milliseconds, a "
               "number >= 0)");
  expect_error("[[fault]]\nkind = \"crash\"\n",
               "exp.toml:1: key 'fault[0].at_s': required (seconds into the run, a number >= "
               "0)");
  expect_error("[[fault]]\nat_s = 1\n",
               "exp.toml:1: key 'fault[0].kind': required (crash, partition, isolate, drop, "
               "delay, duplicate, reorder, slow or clock_skew)");
}

static void test_error_fault_after_the_run(void **state) {
  (void)state;
  /* Faults fire in the safety phase only: one at or after its end would never happen. */
  expect_error("[workload]\nduration_s = 5\n[[fault]]\nat_s = 5\nkind = \"crash\"\n",
               "exp.toml:4: key 'fault[0].at_s': expected a number >= 0 and below "
               "workload.duration_s (5), got 5");
  expect_error("[[fault]]\nkind = \"crash\"\nat_s = 10.5\n",
               "exp.toml:3: key 'fault[0].at_s': expected a number >= 0 and below "
               "workload.duration_s (10), got 10.5");
  /* Just before the end is fine, and a run bounded by ops has no known end. */
  ctk_config config;
  load_ok("[workload]\nduration_s = 5\n[[fault]]\nat_s = 4.999\nkind = \"crash\"\n", &config);
  assert_true(config.faults[0].at_s == 4.999);
  ctk_config_free(&config);
  load_ok("[workload]\nops = 100\n[[fault]]\nat_s = 60\nkind = \"crash\"\n", &config);
  assert_true(config.faults[0].at_s == 60);
  assert_round_trip(&config);
  ctk_config_free(&config);
}

static void test_error_fault_node(void **state) {
  (void)state;
  expect_error("[[fault]]\nat_s = 1\nkind = \"crash\"\nnode = 3\n",
               "exp.toml:4: key 'fault[0].node': expected \"leader\", \"random\" or a node id "
               "from 0 to 2, got 3");
  expect_error("[[fault]]\nat_s = 1\nkind = \"crash\"\nnode = \"all\"\n",
               "exp.toml:4: key 'fault[0].node': expected \"leader\", \"random\" or a node id "
               "from 0 to 2, got \"all\"");
  expect_error(
      "[cluster]\nnodes = 5\n[[fault]]\nat_s = 1\nkind = \"drop\"\nprobability = 1\n"
      "node = 5\n",
      "exp.toml:7: key 'fault[0].node': expected \"leader\", \"random\", \"all\" or a "
      "node id from 0 to 4, got 5");
  expect_error("[[fault]]\nat_s = 1\nkind = \"partition\"\nnodes = [0, 1, 2]\n",
               "exp.toml:4: key 'fault[0].nodes': expected an array of 1 to 2 distinct node ids "
               "from 0 to 2 (the side cut off), got [0, 1, 2]");
  expect_error("[[fault]]\nat_s = 1\nkind = \"partition\"\nnodes = [1, 1]\n",
               "exp.toml:4: key 'fault[0].nodes': expected an array of 1 to 2 distinct node ids "
               "from 0 to 2 (the side cut off), got [1, 1]");
}

static void test_error_unknown_protocol(void **state) {
  (void)state;
  expect_error(
      "protocol = \"viewstamped\"\n",
      "exp.toml:1: key 'protocol': expected a protocol ctk knows (\"raft\", \"multipaxos\", "
      "\"paxos\", \"zab\", \"epaxos\", \"vr\") or the path of a protocol's shared object "
      "(.so), got \"viewstamped\"");
}

static void test_error_unknown_table(void **state) {
  (void)state;
  expect_error("[simm]\nloss = 0.1\n", "exp.toml:1: unknown table [simm] (did you mean [sim]?)");
  expect_error("seed = 3\n[rafft]\n", "exp.toml:2: unknown table [rafft] (did you mean [raft]?)");
  expect_error(
      "[viewstamped]\nballot = 1\n",
      "exp.toml:1: unknown table [viewstamped] (expected [cluster], [workload], [sim], [node], "
      "[[fault]] or the table of a protocol ctk knows: [raft], [multipaxos], [paxos], [zab], "
      "[epaxos], [vr])");
}

static void test_error_too_many_faults(void **state) {
  (void)state;
  size_t cap = 80 * 64;
  char *text = malloc(cap);
  assert_non_null(text);
  size_t used = 0;
  for (int i = 0; i < CTK_MAX_FAULTS + 1; i++)
    used += (size_t)snprintf(text + used, cap - used, "[[fault]]\nat_s = %d.%d\nkind = \"crash\"\n",
                             i / 10, i % 10); /* within the run's 10 s */
  /* The 65th fault starts on line 3 * 64 + 1. */
  expect_error(text, "exp.toml:193: key 'fault': at most 64 faults, got 65");
  /* 64 is fine. */
  text[used - strlen("[[fault]]\nat_s = 6.4\nkind = \"crash\"\n")] = '\0';
  ctk_config config;
  load_ok(text, &config);
  assert_int_equal(config.n_faults, 64);
  assert_round_trip(&config);
  ctk_config_free(&config);
  free(text);
}

static void test_error_range_lo_above_hi(void **state) {
  (void)state;
  expect_error("[raft]\nelection_timeout_ms = [300, 150]\n",
               "exp.toml:2: key 'raft.election_timeout_ms': expected [lo, hi] with 1 <= lo <= hi "
               "<= 600000, or one integer from 1 to 600000, got [300, 150]");
  expect_error("[sim]\ndelay_ms = [5, 1]\n",
               "exp.toml:2: key 'sim.delay_ms': expected [lo, hi] with 0 <= lo <= hi <= "
               "1000000000, or one number, got [5, 1]");
}

static void test_error_message_keeps_odd_keys_on_one_line(void **state) {
  (void)state;
  expect_error("[workload]\n\"cli\\nents\" = 8\n",
               "exp.toml:2: unknown key 'workload.cli\\x0aents' (did you mean 'clients'?)");
}

/* ---- ctk config ---- */

static int run_config_command(int argc, const char **argv) {
  return ctk_cmd_config(argc, (char **)argv);
}

static void test_cmd_config(void **state) {
  (void)state;
  char path[] = "/tmp/ctk_test_cmd_config_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_true(write(fd, "seed = 7\n", 9) == 9);
  close(fd);
  const char *check[] = {"config", "check", path};
  assert_int_equal(run_config_command(3, check), 0);
  const char *show[] = {"config", "show", path};
  assert_int_equal(run_config_command(3, show), 0);
  const char *missing[] = {"config", "check", "/nonexistent/exp.toml"};
  assert_int_equal(run_config_command(3, missing), 2);
  const char *defaults[] = {"config", "defaults"};
  assert_int_equal(run_config_command(2, defaults), 0);
  const char *unknown[] = {"config", "defaults", "viewstamped"};
  assert_int_equal(run_config_command(3, unknown), 2);
  const char *bare[] = {"config"};
  assert_int_equal(run_config_command(1, bare), 2);
  const char *bogus[] = {"config", "frobnicate", path};
  assert_int_equal(run_config_command(3, bogus), 2);
  const char *extra[] = {"config", "check", path, path};
  assert_int_equal(run_config_command(4, extra), 2);
  unlink(path);
}

/* ---- the documented errors: the "## Errors" table of configs/README.md ---- */

#define README_PATH "configs/README.md"

/* Reads a whole file into a malloc'd, NUL-terminated string, or returns NULL. */
static char *read_whole_file(const char *path) {
  FILE *file = fopen(path, "rb");
  if (!file) return NULL;
  char *text = NULL;
  size_t len = 0, cap = 0, got;
  char chunk[4096];
  while ((got = fread(chunk, 1, sizeof chunk, file)) > 0) {
    if (len + got + 1 > cap) {
      cap = (len + got + 1) * 2;
      text = realloc(text, cap);
      assert_non_null(text);
    }
    memcpy(text + len, chunk, got);
    len += got;
  }
  fclose(file);
  if (!text) text = calloc(1, 1);
  assert_non_null(text);
  text[len] = '\0';
  return text;
}

/* One row of the table: the cells, cut out of a copy of the README (NUL-terminated in place). */
typedef struct doc_error {
  int line; /* in the README */
  char *name, *example, *message;
} doc_error;

/* Strips the spaces around a cell, in place. */
static char *doc_trim(char *cell) {
  while (*cell == ' ') cell++;
  size_t len = strlen(cell);
  while (len > 0 && cell[len - 1] == ' ') cell[--len] = '\0';
  return cell;
}

/* "`text`" -> "text" in place, or NULL when the cell is not one code span. */
static char *doc_code(char *cell) {
  size_t len = strlen(cell);
  if (len < 2 || cell[0] != '`' || cell[len - 1] != '`') return NULL;
  cell[len - 1] = '\0';
  if (strchr(cell + 1, '`')) return NULL;
  return cell + 1;
}

/* Finds the table under "## Errors" in text (modified in place) and fills rows (up to cap).
 * Returns the number of rows; fails the test on a malformed row. */
static int doc_errors_parse(char *text, doc_error *rows, int cap) {
  char *section = strstr(text, "\n## Errors\n");
  if (!section) fail_msg(README_PATH " has no \"## Errors\" section");
  int line = 1;
  for (char *c = text; c < section; c++) line += *c == '\n';
  char *next = section + 1;
  int n = 0, in_table = 0;
  while (next && *next) {
    char *row = next;
    next = strchr(row, '\n');
    if (next) *next++ = '\0';
    line++;
    if (row[0] != '|') {
      if (in_table) break; /* the first line after the table */
      continue;
    }
    if (!in_table) { /* the header, then the |---| line */
      assert_true(strncmp(row, "| error |", 9) == 0);
      in_table = 1;
      if (next && strncmp(next, "|---", 4) == 0) {
        next = strchr(next, '\n');
        if (next) next++;
        line++;
      }
      continue;
    }
    char *cells[3];
    int n_cells = 0;
    char *cell = row + 1;
    for (char *bar; (bar = strchr(cell, '|')) != NULL; cell = bar + 1) {
      *bar = '\0';
      if (n_cells == 3) fail_msg(README_PATH ":%d: a row of the errors table has > 3 cells", line);
      cells[n_cells++] = doc_trim(cell);
    }
    if (n_cells != 3 || *doc_trim(cell) != '\0')
      fail_msg(README_PATH ":%d: a row of the errors table needs 3 cells", line);
    if (n == cap) fail_msg(README_PATH ": more than %d rows in the errors table", cap);
    char *message = doc_code(cells[2]);
    if (!message) fail_msg(README_PATH ":%d: the message must be one `code span`", line);
    rows[n++] = (doc_error){line, cells[0], cells[1], message};
  }
  return n;
}

/* Removes exp.toml, a file or a directory, from the current directory. */
static void doc_remove_example(void) {
  if (unlink("exp.toml") != 0) rmdir("exp.toml");
}

/* Writes text (with "\n" read as a line break) count times into exp.toml. */
static void doc_write_example(const char *text, long count) {
  size_t len = 0;
  char *toml = malloc(strlen(text) + 1);
  assert_non_null(toml);
  for (const char *c = text; *c; c++) {
    if (c[0] == '\\' && c[1] == 'n') {
      toml[len++] = '\n';
      c++;
    } else {
      toml[len++] = *c;
    }
  }
  /* Large counts are written a block of copies at a time. */
  long per_block = len > 0 && len < 65536 ? (long)(65536 / len) : 1;
  char *block = malloc(len * (size_t)per_block + 1);
  assert_non_null(block);
  for (long i = 0; i < per_block; i++) memcpy(block + (size_t)i * len, toml, len);
  FILE *file = fopen("exp.toml", "wb");
  assert_non_null(file);
  for (long done = 0; done < count; done += per_block) {
    long copies = count - done < per_block ? count - done : per_block;
    assert_true(fwrite(block, len, (size_t)copies, file) == (size_t)copies || len == 0);
  }
  assert_int_equal(fclose(file), 0);
  free(block);
  free(toml);
}

/* Makes exp.toml as the example cell says: "`TOML`", "N × `TOML`", "(no file)" or
 * "(a directory)". Returns 0, or -1 when the cell has none of these forms. */
static int doc_make_example(const char *cell) {
  doc_remove_example();
  if (strcmp(cell, "(no file)") == 0) return 0;
  if (strcmp(cell, "(a directory)") == 0) return mkdir("exp.toml", 0700);
  long count = 1;
  if (cell[0] >= '1' && cell[0] <= '9') {
    char *end;
    count = strtol(cell, &end, 10);
    if (strncmp(end, " \xc3\x97 ", 4) != 0) return -1; /* " × " */
    cell = end + 4;
  }
  char *copy = strdup(cell);
  assert_non_null(copy);
  char *toml = doc_code(copy);
  if (toml) doc_write_example(toml, count);
  free(copy);
  return toml ? 0 : -1;
}

/* Runs `ctk config check exp.toml` and captures what it prints on standard error. Returns its
 * exit status. */
static int doc_config_check(char *out, size_t out_len) {
  fflush(stdout);
  fflush(stderr);
  int saved = dup(2);
  assert_true(saved >= 0);
  int fd = open("stderr.txt", O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  assert_true(dup2(fd, 2) == 2);
  close(fd);
  const char *argv[] = {"config", "check", "exp.toml"};
  int status = ctk_cmd_config(3, (char **)argv);
  fflush(stderr);
  assert_true(dup2(saved, 2) == 2);
  close(saved);
  char *text = read_whole_file("stderr.txt");
  assert_non_null(text);
  snprintf(out, out_len, "%s", text);
  free(text);
  unlink("stderr.txt");
  return status;
}

/* Every row of the table: its example gives exactly its message, so the reference and the
 * loader cannot drift apart. */
static void test_documented_errors(void **state) {
  (void)state;
  char *readme = read_whole_file(README_PATH);
  if (!readme) fail_msg("cannot read " README_PATH " (run the tests from the repository root)");
  enum { MAX_ROWS = 400 };
  doc_error *rows = calloc(MAX_ROWS, sizeof *rows);
  assert_non_null(rows);
  int n = doc_errors_parse(readme, rows, MAX_ROWS);
  assert_true(n >= 30);

  char home[4096], dir[] = "/tmp/ctk_test_errors_XXXXXX";
  assert_non_null(getcwd(home, sizeof home));
  assert_non_null(mkdtemp(dir));
  assert_int_equal(chdir(dir), 0);
  int wrong = 0;
  for (int i = 0; i < n; i++) {
    const doc_error *row = &rows[i];
    char expected[CTK_ERR_LEN + 2], printed[2 * CTK_ERR_LEN];
    snprintf(expected, sizeof expected, "%s\n", row->message);
    int status = -1;
    printed[0] = '\0';
    if (doc_make_example(row->example) != 0)
      snprintf(printed, sizeof printed, "(the example cell is malformed)\n");
    else
      status = doc_config_check(printed, sizeof printed);
    if (!printed[0]) snprintf(printed, sizeof printed, "(nothing)\n");
    if (status == 2 && strcmp(printed, expected) == 0) continue;
    wrong++;
    print_error(README_PATH
                ":%d: %s\n  example:    %s\n  documented: %s\n  printed:    %s"
                "  exit status %d (expected 2)\n",
                row->line, row->name, row->example, row->message, printed, status);
  }
  doc_remove_example();
  assert_int_equal(chdir(home), 0);
  assert_int_equal(rmdir(dir), 0);
  free(rows);
  free(readme);
  if (wrong)
    fail_msg("%d of %d documented errors differ from what ctk config check prints", wrong, n);
}

/* ---- robustness ---- */

static uint64_t fuzz_next(uint64_t *state) { /* splitmix64 */
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Replaces the value after the next '=' from `at` on with one of a few awkward values, so that
 * mutated files get past the parser and into the checks of the loader. */
static void fuzz_replace_value(char *text, size_t cap, size_t at, uint64_t *rng) {
  static const char *const values[] = {"0",
                                       "-1",
                                       "1",
                                       "2",
                                       "3",
                                       "17",
                                       "0.5",
                                       "1.5",
                                       "1e9",
                                       "1e300",
                                       "-0.0",
                                       "inf",
                                       "nan",
                                       "9223372036854775807",
                                       "\"\"",
                                       "\"x\"",
                                       "\"leader\"",
                                       "\"all\"",
                                       "\"partition\"",
                                       "\"reorder\"",
                                       "\"zipf\"",
                                       "\"tcp://h:1\"",
                                       "true",
                                       "false",
                                       "[]",
                                       "[1]",
                                       "[1, 2]",
                                       "[2, 1]",
                                       "[0, 1, 2]",
                                       "[[1, 2], [3, 4]]",
                                       "[\"a\", \"b\"]",
                                       "{}",
                                       "{x = 1}",
                                       "1979-05-27"};
  char *eq = strchr(text + at, '=');
  if (!eq) return;
  char *value = eq + 1;
  size_t old_len = strcspn(value, "\n");
  const char *v = values[fuzz_next(rng) % (sizeof values / sizeof values[0])];
  size_t new_len = strlen(v) + 1;
  size_t len = strlen(text);
  if (len - old_len + new_len + 1 > cap) return;
  memmove(value + new_len, value + old_len, strlen(value + old_len) + 1);
  value[0] = ' ';
  memcpy(value + 1, v, new_len - 1);
}

/* Mutates text (NUL-terminated, in a buffer of cap bytes) in place. */
static void fuzz_mutate(char *text, size_t cap, uint64_t *rng) {
  static const char *const tokens[] = {"[",
                                       "]",
                                       "[[",
                                       "]]",
                                       "{",
                                       "}",
                                       "=",
                                       "\"",
                                       "'",
                                       ",",
                                       ".",
                                       "\n",
                                       "#",
                                       " = 1\n",
                                       "[[fault]]\n",
                                       "[sim]\n",
                                       "[raft]\n",
                                       "nodes = 99\n",
                                       "inf",
                                       "nan",
                                       "-0",
                                       "1e999",
                                       "9223372036854775808",
                                       "\"\\u0000\"",
                                       "[1, [2]]",
                                       "{a = 1}",
                                       "1979-05-27T07:32:00Z",
                                       "\"\"\"",
                                       "kind = \"partition\"\n",
                                       "node = \"all\"\n",
                                       "ops = 7\n",
                                       "sites = [\"x\"]\n",
                                       "site_names = [\"x\", \"y\"]\n",
                                       "latency_ms = [[1, 2], [3, 4]]\n",
                                       "\xff",
                                       "\xc3"};
  static const char alphabet[] = "[]{}=\"',.#\n\t _-+0123456789abcdefxyz";
  size_t len = strlen(text);
  size_t at = len ? (size_t)(fuzz_next(rng) % len) : 0;
  switch (fuzz_next(rng) % 8) {
  case 0: /* flip one byte, usually to a character that means something in TOML */
    if (!len) break;
    if (fuzz_next(rng) % 8 == 0)
      text[at] = (char)(1 + fuzz_next(rng) % 255);
    else
      text[at] = alphabet[fuzz_next(rng) % (sizeof alphabet - 1)];
    break;
  case 1: { /* insert a token */
    const char *token = tokens[fuzz_next(rng) % (sizeof tokens / sizeof tokens[0])];
    size_t n = strlen(token);
    if (len + n + 1 > cap) break;
    memmove(text + at + n, text + at, len - at + 1);
    memcpy(text + at, token, n);
    break;
  }
  case 2: { /* delete a run */
    size_t n = 1 + fuzz_next(rng) % 16;
    if (at + n > len) n = len - at;
    memmove(text + at, text + at + n, len - at - n + 1);
    break;
  }
  case 3: /* truncate */
    if (fuzz_next(rng) % 4 == 0) text[at] = '\0';
    break;
  case 4: { /* duplicate a run */
    size_t n = 1 + fuzz_next(rng) % 64;
    if (at + n > len) n = len - at;
    if (len + n + 1 > cap) break;
    memmove(text + at + n, text + at, len - at + 1);
    break;
  }
  default: /* give a key another value */ fuzz_replace_value(text, cap, at, rng); break;
  }
}

static void test_fuzz_never_crashes(void **state) {
  (void)state;
  static const char *const seeds[] = {
      complete_toml, "", "[workload]\nclients = 4\n[[fault]]\nat_s = 1\nkind = \"crash\"\n",
      "protocol = \"raft\"\n[raft]\nelection_timeout_ms = [10, 20]\n",
      "[cluster]\nnodes = 2\nsites = [\"a\", \"b\"]\n"
      "[sim]\nsite_names = [\"a\", \"b\"]\nlatency_ms = [[1, 2], [3, 4]]\n"};
  enum { CAP = 8192, ROUNDS = 2000 };
  char *text = malloc(CAP);
  assert_non_null(text);
  uint64_t rng = 20240601;
  int accepted = 0;
  for (int round = 0; round < ROUNDS; round++) {
    uint64_t pick = fuzz_next(&rng);
    if (pick % 10 == 0) { /* random bytes */
      size_t n = fuzz_next(&rng) % 200;
      for (size_t i = 0; i < n; i++) text[i] = (char)(1 + fuzz_next(&rng) % 255);
      text[n] = '\0';
    } else {
      snprintf(text, CAP, "%s", seeds[pick % (sizeof seeds / sizeof seeds[0])]);
      int mutations = 1 + (int)(fuzz_next(&rng) % 8);
      for (int m = 0; m < mutations; m++) fuzz_mutate(text, CAP, &rng);
    }
    ctk_config config;
    char err[CTK_ERR_LEN];
    err[0] = '\0';
    int rc = ctk_config_load_string(text, "fuzz", &config, err, sizeof err);
    if (rc == 0) {
      accepted++;
      assert_round_trip(&config);
      ctk_config_free(&config);
    } else {
      assert_int_equal(rc, -1);
      if (strncmp(err, "fuzz:", 5) != 0) fail_msg("round %d: odd message \"%s\"", round, err);
      assert_null(config.protocol_options);
    }
  }
  /* The mutations keep some inputs valid, so the round trip is exercised too. */
  assert_true(accepted > 50);
  free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults_are_filled),
      cmocka_unit_test(test_defaults_unknown_protocol),
      cmocka_unit_test(test_complete_file),
      cmocka_unit_test(test_ops_instead_of_duration),
      cmocka_unit_test(test_single_values_for_ranges),
      cmocka_unit_test(test_load_from_file),
      cmocka_unit_test(test_shipped_configs_load),
      cmocka_unit_test(test_round_trip_complete),
      cmocka_unit_test(test_round_trip_defaults),
      cmocka_unit_test(test_round_trip_awkward_values),
      cmocka_unit_test(test_write_error_is_reported),
      cmocka_unit_test(test_error_syntax),
      cmocka_unit_test(test_error_missing_file),
      cmocka_unit_test(test_error_unknown_key),
      cmocka_unit_test(test_error_wrong_type),
      cmocka_unit_test(test_error_out_of_range),
      cmocka_unit_test(test_error_warmup_not_below_duration),
      cmocka_unit_test(test_error_duration_and_ops),
      cmocka_unit_test(test_error_endpoints),
      cmocka_unit_test(test_error_latency_matrix),
      cmocka_unit_test(test_error_site_not_in_site_names),
      cmocka_unit_test(test_error_fault_key_not_applicable),
      cmocka_unit_test(test_error_fault_required_keys),
      cmocka_unit_test(test_error_fault_after_the_run),
      cmocka_unit_test(test_error_fault_node),
      cmocka_unit_test(test_error_unknown_protocol),
      cmocka_unit_test(test_error_unknown_table),
      cmocka_unit_test(test_error_too_many_faults),
      cmocka_unit_test(test_error_range_lo_above_hi),
      cmocka_unit_test(test_error_message_keeps_odd_keys_on_one_line),
      cmocka_unit_test(test_cmd_config),
      cmocka_unit_test(test_documented_errors),
      cmocka_unit_test(test_fuzz_never_crashes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
