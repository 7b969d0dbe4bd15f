/* realnode.c: shared helpers of the real-node tests (see realnode.h). */
#include "realnode.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <zmq.h>

#include "checker.h"
#include "cli.h"
#include "clock.h"
#include "loadgen.h"

ctk_local_cluster *realnode_start(ctk_config *config, const char *dir, const char *name,
                                  const char *protocol, int nodes, const char *extra) {
  char text[4096], err[CTK_ERR_LEN];
  int port = cli_free_ports(16);
  assert_true(port > 0);
  snprintf(text, sizeof text, "protocol = \"%s\"\n[cluster]\nnodes = %d\nbase_port = %d\n%s",
           protocol, nodes, port, extra ? extra : "");
  char source[600];
  snprintf(source, sizeof source, "%s/%s.toml", dir, name); /* relative paths resolve in dir */
  if (ctk_config_load_string(text, source, config, err, sizeof err)) fail_msg("%s", err);
  char run_dir[600], cmd[700], path[700];
  snprintf(run_dir, sizeof run_dir, "%s/%s", dir, name);
  snprintf(cmd, sizeof cmd, "mkdir -p %s", run_dir);
  assert_int_equal(system(cmd), 0);
  snprintf(path, sizeof path, "%s/config.toml", run_dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(ctk_config_write(config, f), 0);
  assert_int_equal(fclose(f), 0);
  ctk_local_cluster *cluster =
      ctk_local_cluster_start(cli_bin(), path, config, run_dir, err, sizeof err);
  if (!cluster || ctk_local_cluster_wait_ready(cluster, 10000, err, sizeof err))
    fail_msg("cluster: %s", err);
  return cluster;
}

size_t realnode_run_workload(const ctk_config *config, ctk_local_cluster *cluster, int kill_node) {
  char err[CTK_ERR_LEN];
  uint64_t t0 = ctk_clock_us();
  ctk_loadgen *lg = ctk_loadgen_start(config, t0, 0, err, sizeof err);
  if (!lg) fail_msg("%s", err);
  int killed = 0, restarted = 0;
  for (;;) {
    ctk_loadgen_stats st;
    ctk_loadgen_stats_get(lg, &st);
    uint64_t t = ctk_clock_us() - t0;
    if (kill_node >= 0 && !killed && t > 700000) {
      ctk_local_cluster_kill(cluster, kill_node);
      killed = 1;
    }
    if (killed && !restarted && t > 1700000) {
      if (ctk_local_cluster_restart(cluster, kill_node, err, sizeof err)) fail_msg("%s", err);
      restarted = 1;
    }
    if (st.finished && (kill_node < 0 || restarted)) {
      ctk_loadgen_finish(lg);
      if (st.outstanding == 0) break;
    }
    if (t > 30000000) fail_msg("the workload did not finish");
    ctk_sleep_us(10000);
  }
  ctk_history history;
  ctk_loadgen_join(&lg, &history);
  ctk_check_result check;
  assert_int_equal(ctk_check_history(&history, &check, err, sizeof err), 0);
  size_t ok = 0;
  for (size_t i = 0; i < history.n; i++) ok += history.events[i].type == CTK_HIST_OK;
  print_message("%zu ops ok, linearizable %d\n", ok, check.linearizable);
  assert_int_equal(check.linearizable, 1);
  ctk_check_result_free(&check);
  ctk_history_free(&history);
  return ok;
}

void realnode_assert_converged(ctk_local_cluster *cluster, int n, hw_status *s) {
  uint64_t deadline = ctk_clock_us() + 10000000;
  for (;;) {
    int answered = 0, equal = 1;
    for (int i = 0; i < n; i++) answered += ctk_local_cluster_status(cluster, i, &s[i], 300) == 0;
    for (int i = 1; i < n && answered == n; i++) equal &= s[i].applied == s[0].applied;
    if (answered == n && equal) break;
    if (ctk_clock_us() > deadline) {
      for (int i = 0; i < n; i++)
        print_message("node %d: role %d term %llu commit %llu log %llu applied %llu\n", i,
                      (int)s[i].proto.role, (unsigned long long)s[i].proto.term,
                      (unsigned long long)s[i].proto.commit_index,
                      (unsigned long long)s[i].proto.log_length, (unsigned long long)s[i].applied);
      fail_msg("nodes did not converge (%d answered)", answered);
    }
    ctk_sleep_us(50000);
  }
  for (int i = 1; i < n; i++) assert_int_equal(s[i].kv_digest, s[0].kv_digest);
  assert_true(s[0].applied > 100);
}

void *realnode_dealer(void *zmq, const void *identity, size_t identity_len, const char *endpoint) {
  void *s = zmq_socket(zmq, ZMQ_DEALER);
  assert_non_null(s);
  int zero = 0;
  zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
  if (identity) zmq_setsockopt(s, ZMQ_ROUTING_ID, identity, identity_len);
  assert_int_equal(zmq_connect(s, endpoint), 0);
  return s;
}
