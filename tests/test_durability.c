/* test_durability.c: durability of real node processes, for every protocol ctk knows.
 *
 * Crash test: during a write-heavy workload, random nodes (the leader as often as any) are killed
 * with SIGKILL at random moments and restarted from their disks, over and over (CTK_CRASH_KILLS
 * kills per protocol, 12 by default; `make crash` runs 100). Kills stop a second before the
 * workload ends, so every key is read again after the last one: an acknowledged write that a
 * crash lost would show up as a read the linearizability checker cannot place. The history must
 * be linearizable and every node must end with the same store.
 *
 * Disk full: the leader's log file may not grow past its current size (RLIMIT_FSIZE, as a full
 * disk or quota). Its next write fails: it stops on its own with exit status 1 and the store
 * error in its log, before anything that depended on the write left it; the others carry on; it
 * restarts from what it had synced; the history stays linearizable and the stores converge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checker.h"
#include "cli.h"
#include "clock.h"
#include "common/rng.h"
#include "loadgen.h"
#include "protocol.h"
#include "realnode.h"
#include "tmpdir.h"

static const char *const write_heavy =
    "[workload]\nclients = 6\nduration_s = %g\nwarmup_s = 0\nkeys = 10\nread_ratio = 0.4\n"
    "cas_ratio = 0.1\nvalue_bytes = %d\nclient_timeout_ms = 250\n";

/* Waits for the loadgen to finish, checks the history, returns the operations that succeeded. */
static size_t finish_and_check(ctk_loadgen *lg) {
  uint64_t deadline = ctk_clock_us() + 30000000;
  for (;;) {
    ctk_loadgen_stats st;
    ctk_loadgen_stats_get(lg, &st);
    if (st.finished) {
      ctk_loadgen_finish(lg);
      if (st.outstanding == 0) break;
    }
    if (ctk_clock_us() > deadline) fail_msg("the workload did not finish");
    ctk_sleep_us(10000);
  }
  ctk_history history;
  ctk_loadgen_join(&lg, &history);
  ctk_check_result check;
  char err[CTK_ERR_LEN];
  assert_int_equal(ctk_check_history(&history, &check, err, sizeof err), 0);
  size_t ok = 0;
  for (size_t i = 0; i < history.n; i++) ok += history.events[i].type == CTK_HIST_OK;
  if (check.linearizable != 1) print_message("not linearizable: %s\n", check.explanation);
  assert_int_equal(check.linearizable, 1);
  ctk_check_result_free(&check);
  ctk_history_free(&history);
  return ok;
}

static int leader_of(ctk_local_cluster *cluster, int n) {
  for (int i = 0; i < n; i++) {
    hw_status s;
    if (ctk_local_cluster_alive(cluster, i) && ctk_local_cluster_status(cluster, i, &s, 300) == 0 &&
        s.proto.role == CTK_ROLE_LEADER)
      return i;
  }
  return -1;
}

static void crash_test(const ctk_protocol_def *def, int kills) {
  double duration_s = 2.0 + kills * 0.3;
  char extra[512], name[64];
  snprintf(extra, sizeof extra, write_heavy, duration_s, 64);
  snprintf(name, sizeof name, "crash-%s", def->name);
  ctk_config config;
  ctk_local_cluster *cluster = realnode_start(&config, tmpdir_path(), name, def->name, 3, extra);
  char err[CTK_ERR_LEN];
  uint64_t t0 = ctk_clock_us();
  ctk_loadgen *lg = ctk_loadgen_start(&config, t0, 0, err, sizeof err);
  if (!lg) fail_msg("%s", err);
  ctk_rng rng;
  ctk_rng_seed(&rng, 2026);
  int done = 0, leader_kills = 0;
  uint64_t stop_killing_us = (uint64_t)((duration_s - 1.0) * 1e6);
  while (done < kills && ctk_clock_us() - t0 < stop_killing_us) {
    ctk_sleep_us(ctk_rng_range(&rng, 50000, 250000));
    int victim = (int)ctk_rng_range(&rng, 0, 3); /* 3: the leader, whoever it is */
    if (victim == 3) {
      victim = leader_of(cluster, 3);
      if (victim < 0)
        victim = (int)ctk_rng_range(&rng, 0, 2);
      else
        leader_kills++;
    }
    ctk_local_cluster_kill(cluster, victim);
    ctk_sleep_us(ctk_rng_range(&rng, 0, 150000));
    if (ctk_local_cluster_restart(cluster, victim, err, sizeof err)) fail_msg("%s", err);
    done++;
  }
  size_t ok = finish_and_check(lg);
  hw_status s[3];
  realnode_assert_converged(cluster, 3, s);
  print_message(
      "%s: %d SIGKILLs (%d of the leader) during %zu acknowledged operations: "
      "linearizable, replicas converged at position %llu\n",
      def->name, done, leader_kills, ok, (unsigned long long)s[0].applied);
  assert_int_equal(done, kills);
  assert_true(ok > 100);
  ctk_local_cluster_stop(&cluster, 2000);
  ctk_config_free(&config);
}

static void test_sigkill_crashes_lose_nothing(void **state) {
  (void)state;
  const char *env = getenv("CTK_CRASH_KILLS");
  int kills = env ? atoi(env) : 12;
  if (kills < 1) kills = 1;
  for (size_t i = 0; i < ctk_protocol_count(); i++) crash_test(ctk_protocol_at(i), kills);
}

static off_t file_size(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? st.st_size : -1;
}

static int log_has(const char *path, const char *needle) {
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  char line[1024];
  int found = 0;
  while (!found && fgets(line, sizeof line, f)) found = strstr(line, needle) != NULL;
  fclose(f);
  return found;
}

static void test_full_disk_stops_the_node_cleanly(void **state) {
  (void)state;
  char extra[512];
  snprintf(extra, sizeof extra, write_heavy, 5.0, 1500); /* big values: the log grows fast */
  ctk_config config;
  ctk_local_cluster *cluster =
      realnode_start(&config, tmpdir_path(), "disk-full", "raft", 3, extra);
  char err[CTK_ERR_LEN];
  uint64_t t0 = ctk_clock_us();
  ctk_loadgen *lg = ctk_loadgen_start(&config, t0, 0, err, sizeof err);
  if (!lg) fail_msg("%s", err);
  ctk_sleep_us(500000);
  int victim = -1;
  for (int k = 0; k < 50 && victim < 0; k++, ctk_sleep_us(50000)) victim = leader_of(cluster, 3);
  assert_true(victim >= 0);
  char wal[700], log[700], cmd[900], out[512];
  snprintf(wal, sizeof wal, "%s/disk-full/node-%d/wal.log", tmpdir_path(), victim);
  snprintf(log, sizeof log, "%s/disk-full/node-%d.log", tmpdir_path(), victim);
  off_t size = file_size(wal);
  assert_true(size > 0);
  snprintf(cmd, sizeof cmd, "prlimit --pid %d --fsize=%lld 2>&1",
           (int)ctk_local_cluster_pid(cluster, victim), (long long)size);
  assert_int_equal(cli_run(cmd, out, sizeof out), 0);
  /* The log file is full once the workload outgrows its preallocated size: the node must stop. */
  uint64_t deadline = ctk_clock_us() + 10000000;
  int rc = -1;
  while ((rc = ctk_local_cluster_check_exits(cluster, err, sizeof err)) < 0 &&
         ctk_clock_us() < deadline)
    ctk_sleep_us(20000);
  print_message("node %d (the leader) with its log capped at %lld bytes: %s\n", victim,
                (long long)size, rc < 0 ? "still running" : err);
  assert_int_equal(rc, victim);
  assert_non_null(strstr(err, "status 1"));
  assert_true(log_has(log, "File too large"));
  if (ctk_local_cluster_restart(cluster, victim, err, sizeof err)) fail_msg("%s", err);
  size_t ok = finish_and_check(lg);
  hw_status s[3];
  realnode_assert_converged(cluster, 3, s);
  print_message(
      "%zu operations acknowledged, linearizable; node %d restarted from %llu synced "
      "bytes and converged at position %llu\n",
      ok, victim, (unsigned long long)s[victim].started_from_bytes,
      (unsigned long long)s[0].applied);
  ctk_local_cluster_stop(&cluster, 2000);
  ctk_config_free(&config);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_full_disk_stops_the_node_cleanly),
      cmocka_unit_test(test_sigkill_crashes_lose_nothing),
  };
  return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
