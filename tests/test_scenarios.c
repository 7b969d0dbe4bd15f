/* test_scenarios.c: every shipped experiment file runs through `ctk sim` as its comment says:
 * all pass, except the split-vote storm, which must end in a liveness violation (no leader is
 * ever elected), Paxos's dueling proposers without back-off, which must end in one too (requests
 * still outstanding), and the deliberately broken Raft, whose failures the sweep tests look for;
 * the clock-skew scenario with leases beyond their drift bound, which must report stale reads;
 * ZAB's synchronization scenario shows a DIFF, a TRUNC and a SNAP on its trace, and its
 * reconfiguration scenario ends with the members it says. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

static void test_every_shipped_experiment(void **state) {
  (void)state;
  const char *bin = cli_bin();
  glob_t files;
  assert_int_equal(glob("configs/*.toml", 0, NULL, &files), 0);
  assert_int_equal(glob("configs/scenarios/*.toml", GLOB_APPEND, NULL, &files), 0);
  assert_true(files.gl_pathc >= 15);
  for (size_t i = 0; i < files.gl_pathc; i++) {
    const char *path = files.gl_pathv[i];
    char cmd[1024], out[16384];
    snprintf(cmd, sizeof cmd, "%s config check %s 2>&1", bin, path);
    if (cli_run(cmd, out, sizeof out) != 0) fail_msg("%s does not load: %s", path, out);
    if (strstr(path, "-bug-")) continue; /* its failures are the sweep tests' business */
    snprintf(cmd, sizeof cmd, "%s sim %s 2>&1", bin, path);
    int rc = cli_run(cmd, out, sizeof out);
    if (strstr(path, "split-vote-storm")) {
      assert_int_equal(rc, 1);
      assert_non_null(strstr(out, "no leader was ever elected"));
      assert_non_null(strstr(out, "liveness"));
    } else if (strstr(path, "dueling-no-backoff")) {
      assert_int_equal(rc, 1);
      assert_non_null(strstr(out, "liveness"));
      assert_non_null(strstr(out, "still outstanding"));
    } else if (strstr(path, "lease-broken")) { /* issue 7: a clock beyond the drift bound */
      assert_int_equal(rc, 1);
      assert_non_null(strstr(out, "linearizable     NO"));
    } else if (strstr(path, "raft-quorum-loss.toml")) { /* a majority lost for good: a stall */
      assert_int_equal(rc, 1);
      assert_non_null(strstr(out, "liveness"));
      assert_non_null(strstr(out, "still outstanding"));
      assert_non_null(strstr(out, "no write committed after it"));
      assert_non_null(strstr(out, "linearizable     yes"));
    } else if (strstr(path, "force-lost-write")) { /* the loss a forced reconfiguration costs */
      assert_int_equal(rc, 1);
      assert_non_null(
          strstr(out, "FORCED           1 forced reconfiguration (UNSAFE); what it lost"));
      assert_non_null(strstr(out, "invariants       held"));
      assert_non_null(strstr(out, "linearizable     NO"));
    } else if (rc != 0) {
      fail_msg("%s: exit %d\n%s", path, rc, out);
    }
    print_message("%-50s exit %d\n", path, rc);
  }
  globfree(&files);
}

/* The number after `after` in text (a "unavailable 30.8 ms"), or -1. */
static double number_after(const char *text, const char *after) {
  const char *p = strstr(text, after);
  return p ? strtod(p + strlen(after), NULL) : -1;
}

/* Forced recovery (Raft, Multi-Paxos): writes resume once the survivors are the cluster, nothing
 * lost; a leadership transfer costs a fraction of a crash failover's unavailability. */
static void test_membership_scenarios(void **state) {
  (void)state;
  char cmd[1024], out[16384];
  snprintf(cmd, sizeof cmd, "%s sim configs/scenarios/raft-quorum-loss-force.toml 2>&1", cli_bin());
  assert_int_equal(cli_run(cmd, out, sizeof out), 0);
  assert_non_null(strstr(out, "FORCED           1 forced reconfiguration (UNSAFE); nothing lost"));
  assert_non_null(strstr(out, "members          voters 3 4 (as the last leader saw them)"));
  assert_non_null(strstr(out, "linearizable     yes"));
  double stalled = number_after(out, "force of node 3 at 3.00 s, accepted 3.00 s: unavailable ");
  assert_true(stalled > 0 && stalled < 2000); /* writes resume within 2 s of the force */
  snprintf(cmd, sizeof cmd, "%s sim configs/scenarios/multipaxos-quorum-loss-force.toml 2>&1",
           cli_bin());
  assert_int_equal(cli_run(cmd, out, sizeof out), 0);
  assert_non_null(strstr(out, "FORCED           1 forced reconfiguration (UNSAFE); nothing lost"));
  assert_non_null(strstr(out, "members          voters 3 4 (as the last leader saw them)"));
  assert_non_null(strstr(out, "linearizable     yes"));
  stalled = number_after(out, "force of node 3 at 3.00 s, accepted 3.00 s: unavailable ");
  assert_true(stalled > 0 && stalled < 2000);
  snprintf(cmd, sizeof cmd, "%s sim configs/scenarios/raft-leadership-transfer.toml 2>&1",
           cli_bin());
  assert_int_equal(cli_run(cmd, out, sizeof out), 0);
  double transfer =
      number_after(out, "transfer of node 1 at 2.00 s, accepted 2.00 s: unavailable ");
  const char *crash = strstr(out, "crash of node ");
  assert_non_null(crash);
  double failover = number_after(crash, "unavailable ");
  print_message("transfer %.1f ms, crash failover %.1f ms\n", transfer, failover);
  assert_true(transfer > 0 && failover > 0 && transfer * 3 < failover);
}

static int count_lines_with(const char *path, const char *needle) {
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  char line[1024];
  int n = 0;
  while (fgets(line, sizeof line, f))
    if (strstr(line, needle)) n++;
  fclose(f);
  return n;
}

/* Multi-Paxos reconfiguration through the log: two adds (learner, then voter), the leader
 * removing itself and another removal end with voters 1, 3 and 4; the removed leader handed over
 * (a new leader, none of the removed nodes), nothing lost. */
static void test_multipaxos_reconfiguration(void **state) {
  (void)state;
  char trace[] = "/tmp/ctk-mp-reconf-XXXXXX";
  int fd = mkstemp(trace);
  assert_true(fd >= 0);
  close(fd);
  char cmd[1024], out[16384];
  snprintf(cmd, sizeof cmd,
           "%s sim configs/scenarios/multipaxos-reconfiguration.toml --trace %s 2>&1", cli_bin(),
           trace);
  int rc = cli_run(cmd, out, sizeof out);
  if (rc != 0) fail_msg("exit %d\n%s", rc, out);
  assert_non_null(strstr(out, "remove of node 0 at 3.00 s, accepted 3.00 s"));
  assert_non_null(strstr(out, "remove of node 2 at 4.00 s, accepted 4.00 s"));
  assert_non_null(strstr(out, "members          voters 1 3 4 (as the last leader saw them)"));
  assert_non_null(strstr(out, "invariants       held"));
  assert_non_null(strstr(out, "linearizable     yes"));
  /* Node 0 led first, removed itself, and a voter of the new configuration took over. */
  assert_true(count_lines_with(trace, "n0 LEADER of term") >= 1);
  int others = count_lines_with(trace, "n1 LEADER of term") +
               count_lines_with(trace, "n3 LEADER of term") +
               count_lines_with(trace, "n4 LEADER of term");
  assert_true(others >= 1);
  assert_int_equal(count_lines_with(trace, "n2 LEADER of term"), 0);
  /* The four remaining nodes (node 2 included, removed last) saw the final configuration. */
  assert_int_equal(count_lines_with(trace, "MEMBERS voters {1,3,4} learners {}"), 4);
  unlink(trace);
}

static void test_zab_sync_scenario_trace(void **state) {
  (void)state;
  char trace[] = "/tmp/ctk-zab-sync-XXXXXX";
  int fd = mkstemp(trace);
  assert_true(fd >= 0);
  close(fd);
  char cmd[1024], out[16384];
  snprintf(cmd, sizeof cmd, "%s sim configs/scenarios/zab-sync.toml --trace %s 2>&1", cli_bin(),
           trace);
  assert_int_equal(cli_run(cmd, out, sizeof out), 0);
  assert_non_null(strstr(out, "linearizable     yes"));
  assert_true(count_lines_with(trace, "n4 CRASH") == 1); /* the leader, mid-broadcast */
  assert_true(count_lines_with(trace, " TRUNC e=") >= 1);
  assert_true(count_lines_with(trace, " SNAP e=") >= 1);
  assert_true(count_lines_with(trace, " DIFF e=") >= 1);
  assert_true(count_lines_with(trace, "LEADER of term 3") == 1);
  unlink(trace);
}

/* ZAB's dynamic reconfiguration: nodes 3 and 4 join (learners first, then voters), the leader
 * removes itself and node 1 is removed; at the end the voters are 0, 3 and 4, as every node that
 * remains sees them, and the history is linearizable. Then a forced reconfiguration after the
 * loss of a quorum. */
static void test_zab_reconfiguration_scenario(void **state) {
  (void)state;
  char trace[] = "/tmp/ctk-zab-reconfig-XXXXXX";
  int fd = mkstemp(trace);
  assert_true(fd >= 0);
  close(fd);
  char cmd[1024], out[16384];
  snprintf(cmd, sizeof cmd, "%s sim configs/scenarios/zab-reconfiguration.toml --trace %s 2>&1",
           cli_bin(), trace);
  assert_int_equal(cli_run(cmd, out, sizeof out), 0);
  assert_non_null(strstr(out, "members          voters 0 3 4 (as the last leader saw them)"));
  assert_non_null(strstr(out, "invariants       held"));
  assert_non_null(strstr(out, "linearizable     yes"));
  for (int k = 1; k <= 4; k++) {
    char want[64];
    snprintf(want, sizeof want, "fault %d          ", k);
    const char *line = strstr(out, want);
    assert_non_null(line);
    assert_non_null(strstr(line, "accepted"));
  }
  assert_true(count_lines_with(trace, "learners {3}") >= 4); /* 3 joins as a learner first */
  assert_true(count_lines_with(trace, "MEMBERS voters {0,1,2,3} learners {}") >= 4);
  assert_true(count_lines_with(trace, "MEMBERS voters {0,1,2,3,4} learners {}") >= 5);
  for (int i = 0; i < 5; i++) {
    if (i == 1 || i == 2) continue;
    char want[64];
    snprintf(want, sizeof want, "n%d MEMBERS voters {0,3,4} learners {}", i);
    assert_true(count_lines_with(trace, want) == 1);
  }
  assert_true(count_lines_with(trace, "reconfig voters=") >= 6); /* PROPOSALs of the changes */
  unlink(trace);
  /* force after the loss of a quorum: writes resume among the survivors, nothing lost */
  snprintf(cmd, sizeof cmd, "%s sim configs/scenarios/zab-quorum-loss-force.toml 2>&1", cli_bin());
  assert_int_equal(cli_run(cmd, out, sizeof out), 0);
  assert_non_null(strstr(out, "FORCED           1 forced reconfiguration (UNSAFE); nothing lost"));
  assert_non_null(strstr(out, "members          voters 3 4 (as the last leader saw them)"));
  assert_non_null(strstr(out, "linearizable     yes"));
  double stalled = number_after(out, "force of node 3 at 3.00 s, accepted 3.00 s: unavailable ");
  assert_true(stalled > 0 && stalled < 2000);
}

/* Leader changes of a scenario summed over seeds 1..n. */
static int leader_changes(const char *scenario, int n) {
  int total = 0;
  for (int seed = 1; seed <= n; seed++) {
    char cmd[512], out[16384];
    snprintf(cmd, sizeof cmd, "%s sim configs/scenarios/%s --seed %d 2>&1", cli_bin(), scenario,
             seed);
    assert_int_equal(cli_run(cmd, out, sizeof out), 0);
    const char *p = strstr(out, " leader changes");
    assert_non_null(p);
    while (p > out && p[-1] >= '0' && p[-1] <= '9') p--;
    total += atoi(p);
  }
  return total;
}

/* Scenario 2: on a link that stalls every 1.5 s, adaptive timeouts cut the leader changes by more
 * than half (seeds 1-5). */
static void test_adaptive_timeouts_fewer_elections(void **state) {
  (void)state;
  int fixed = leader_changes("raft-flaky-link-static.toml", 5);
  int adaptive = leader_changes("raft-flaky-link-adaptive.toml", 5);
  print_message("leader changes over 5 seeds: static %d, adaptive %d\n", fixed, adaptive);
  assert_true(adaptive * 2 < fixed);
}

/* Priority elections: the preferred node is the first leader, seed after seed. */
static void test_preferred_leader_leads_first(void **state) {
  (void)state;
  char path[64];
  snprintf(path, sizeof path, "/tmp/ctk-test-pref-%d.txt", (int)getpid());
  for (int seed = 1; seed <= 10; seed++) {
    char cmd[512], out[4096];
    snprintf(cmd, sizeof cmd,
             "%s sim configs/scenarios/raft-preferred-leader.toml --seed %d --trace %s >/dev/null "
             "2>&1 && grep -m1 LEADER %s",
             cli_bin(), seed, path, path);
    assert_int_equal(cli_run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, " n3 LEADER of term "));
  }
  unlink(path);
}

/* The slow-follower scenario: node 2 falls behind the leader's compacted log and catches up from
 * snapshots, while no node ever holds more than snapshot_every + snapshot_keep + a batch of log
 * positions past its snapshot (500 + 50 + in flight); the same run without snapshots holds all. */
static void test_slow_follower_catches_up_from_snapshots(void **state) {
  (void)state;
  char cmd[512], out[16384];
  snprintf(cmd, sizeof cmd, "%s sim configs/scenarios/raft-slow-follower.toml 2>&1", cli_bin());
  assert_int_equal(cli_run(cmd, out, sizeof out), 0);
  unsigned long long taken, restored, held;
  const char *line = strstr(out, "  snapshots ");
  assert_non_null(line);
  assert_int_equal(
      sscanf(line, "  snapshots %llu taken (largest %*f KiB), %llu restored", &taken, &restored),
      2);
  assert_true(taken > 100);
  assert_true(restored > 0);
  line = strstr(out, "  log ");
  assert_non_null(line);
  assert_int_equal(sscanf(line, "  log at most %llu positions", &held), 1);
  assert_true(held < 500 + 50 + 200);
  assert_non_null(strstr(out, "linearizable     yes"));
}

/* The HTML page of a run: a lane per node, role bands, one line per delivered message (dashed
 * when it arrived at a node cut off), the protocol's descriptions as tooltips, self-contained
 * (no external resource), and the run itself unchanged by drawing it (same trace hash). */
static void test_html_timeline(void **state) {
  (void)state;
  char path[64], cmd[512], out[16384], plain[16384];
  snprintf(path, sizeof path, "/tmp/ctk-test-run-%d.html", (int)getpid());
  snprintf(cmd, sizeof cmd, "%s sim configs/scenarios/raft-leader-minority.toml --html %s 2>&1",
           cli_bin(), path);
  assert_int_equal(cli_run(cmd, out, sizeof out), 0);
  snprintf(cmd, sizeof cmd, "%s sim configs/scenarios/raft-leader-minority.toml 2>&1", cli_bin());
  assert_int_equal(cli_run(cmd, plain, sizeof plain), 0);
  const char *h1 = strstr(out, "trace hash"), *h2 = strstr(plain, "trace hash");
  assert_true(h1 && h2);
  assert_memory_equal(h1, h2, 33);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  static char page[1 << 16];
  size_t n = fread(page, 1, sizeof page - 1, f);
  page[n] = '\0';
  int lines = 0, dashed = 0, leader_bands = 0, external = 0;
  char row[4096];
  rewind(f);
  while (fgets(row, sizeof row, f)) {
    lines += strncmp(row, "<line ", 6) == 0;
    dashed += strstr(row, "stroke-dasharray") != NULL;
    leader_bands += strstr(row, "<rect ") && strstr(row, " L from ");
    /* nothing to fetch: the only URL is the SVG namespace */
    const char *url = strstr(row, "http");
    external += url && strncmp(url, "http://www.w3.org/2000/svg", 26) != 0;
    external += strstr(row, "src=") != NULL;
  }
  fclose(f);
  unlink(path);
  print_message("%d message lines (%d dashed), %d leader bands\n", lines, dashed, leader_bands);
  assert_non_null(strstr(page, "<svg id=\"run\""));
  for (int i = 0; i < 5; i++) {
    char lane[32];
    snprintf(lane, sizeof lane, "<div>n%d</div>", i);
    assert_non_null(strstr(page, lane));
  }
  assert_int_equal(external, 0);
  assert_true(lines > 1000);
  assert_true(dashed > 0);        /* the partitioned leader's messages */
  assert_true(leader_bands >= 2); /* the old leader and the new one */
}

/* The ShiViz log: the parser line ShiViz asks for, then per event the node, its vector clock and
 * what happened; a receive's clock covers its send's. */
static void test_shiviz_log(void **state) {
  (void)state;
  char path[64], cmd[512], out[4096];
  snprintf(path, sizeof path, "/tmp/ctk-test-run-%d.log", (int)getpid());
  snprintf(cmd, sizeof cmd, "%s sim configs/scenarios/raft-three-nodes.toml --shiviz %s 2>&1",
           cli_bin(), path);
  assert_int_equal(cli_run(cmd, out, sizeof out), 0);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  char line[1024], clock[1024] = "";
  assert_non_null(fgets(line, sizeof line, f));
  assert_string_equal(line, "(?<host>\\S*) (?<clock>{.*})\\n(?<event>.*)\n");
  int sends = 0, receives = 0;
  while (fgets(line, sizeof line, f)) {
    if (line[0] == 'n' && strchr(line, '{')) snprintf(clock, sizeof clock, "%s", line);
    sends += strncmp(line, "send to n", 9) == 0;
    if (strncmp(line, "receive from n1 at ", 19) == 0) {
      receives++;
      assert_non_null(strstr(clock, "\"n1\":")); /* it has seen n1's send */
    }
  }
  fclose(f);
  unlink(path);
  print_message("%d sends, %d receives from n1 logged\n", sends, receives);
  assert_true(sends > 1000);
  assert_true(receives > 100);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_shipped_experiment),
      cmocka_unit_test(test_membership_scenarios),
      cmocka_unit_test(test_multipaxos_reconfiguration),
      cmocka_unit_test(test_adaptive_timeouts_fewer_elections),
      cmocka_unit_test(test_preferred_leader_leads_first),
      cmocka_unit_test(test_slow_follower_catches_up_from_snapshots),
      cmocka_unit_test(test_html_timeline),
      cmocka_unit_test(test_shiviz_log),
      cmocka_unit_test(test_zab_sync_scenario_trace),
      cmocka_unit_test(test_zab_reconfiguration_scenario),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
