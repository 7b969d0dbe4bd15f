/* test_admin.c: operator requests on real node processes. `ctk admin`: a request sent to a
 * follower follows the leader hint to the leader; a learner added on a cluster that started
 * with three voters becomes a voter and the leadership can be transferred to it; a malformed
 * request is a usage error; Multi-Paxos (reconfiguration through its log) adds a node that
 * becomes a voter, then removes its leader, which hands over; a protocol without membership
 * changes refuses clearly; `force` prints its warning. `ctk run` with add, transfer and remove
 * events in the fault schedule: linearizable, and the members converge. The same for ZAB's
 * reconfiguration (add through a follower's hint, the new voter seen by all; a run adding a node
 * and removing the leader). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cluster.h"
#include "config.h"
#include "hostwire.h"
#include "realnode.h"
#include "tmpdir.h"

/* The node every live node names as leader (its own role for itself), or -1 within max_ms. */
static int wait_leader(ctk_local_cluster *cluster, int n, int max_ms) {
  for (int t = 0; t < max_ms; t += 50) {
    for (int i = 0; i < n; i++) {
      hw_status s;
      if (ctk_local_cluster_status(cluster, i, &s, 500) == 0 && s.proto.role == CTK_ROLE_LEADER)
        return i;
    }
    usleep(50000);
  }
  return -1;
}

/* `ctk admin` of the cluster started as name, at node; its exit status (output in out). */
static int admin(const char *name, int node, const char *request, char *out, size_t out_len) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s admin %s/%s/config.toml %d %s 2>&1", cli_bin(), tmpdir_path(), name,
           node, request);
  return cli_run(cmd, out, out_len);
}

/* `ctk admin` of a change, asked until it is not refused (5 s at most): a leader elected a moment
 * ago refuses changes until it can make them (ZAB's until it has synchronized its followers, and
 * then it names no leader). Fails the test with the command's output when it stays refused or
 * fails otherwise. */
static void admin_accepted(const char *name, int node, const char *request, char *out,
                           size_t out_len) {
  int rc = 1;
  for (int attempt = 0; attempt < 50 && rc != 0; attempt++) {
    if (attempt) usleep(100000);
    rc = admin(name, node, request, out, out_len);
    if (rc != 0 && !strstr(out, "refused here")) break;
  }
  if (rc != 0) fail_msg("`ctk admin` of %s at node %d: exit %d\n%s", request, node, rc, out);
}

/* Starts four nodes of which 0, 1 and 2 are the members, and asks a follower to add node 3: the
 * request follows the hint to the leader, which accepts it. Returns the leader. */
static int start_and_add_node_3(ctk_config *config, ctk_local_cluster **cluster, const char *name,
                                const char *protocol) {
  *cluster = realnode_start(config, tmpdir_path(), name, protocol, 4, "members = [0, 1, 2]\n");
  int leader = wait_leader(*cluster, 4, 5000);
  assert_true(leader >= 0 && leader <= 2);
  char out[4096], want[64];
  int follower = leader == 0 ? 1 : 0;
  admin_accepted(name, follower, "add 3", out, sizeof out);
  snprintf(want, sizeof want, "node %d: add 3 accepted", leader);
  if (!strstr(out, want)) fail_msg("no \"%s\" in\n%s", want, out);
  return leader;
}

static void test_raft_add_and_transfer(void **state) {
  (void)state;
  ctk_config config;
  ctk_local_cluster *cluster =
      realnode_start(&config, tmpdir_path(), "raft", "raft", 4, "members = [0, 1, 2]\n");
  int leader = wait_leader(cluster, 4, 5000);
  assert_true(leader >= 0 && leader <= 2);
  char out[4096];
  int follower = leader == 0 ? 1 : 0;
  /* Asked at a follower, the request follows the hint to the leader. */
  admin_accepted("raft", follower, "add 3", out, sizeof out);
  char want[64];
  snprintf(want, sizeof want, "the leader is node %d", leader);
  assert_non_null(strstr(out, want));
  snprintf(want, sizeof want, "node %d: add 3 accepted", leader);
  assert_non_null(strstr(out, want));
  /* Node 3 catches up, is promoted, and can take over. */
  int rc = 1;
  for (int t = 0; t < 40 && rc != 0; t++) {
    usleep(100000);
    rc = admin("raft", leader, "transfer 3", out, sizeof out);
  }
  assert_int_equal(rc, 0);
  int now_leader = -1;
  for (int t = 0; t < 40 && now_leader != 3; t++) {
    usleep(100000);
    now_leader = wait_leader(cluster, 4, 1000);
  }
  assert_int_equal(now_leader, 3);
  assert_int_equal(admin("raft", 0, "fly 1", out, sizeof out), 2);
  assert_int_equal(admin("raft", 0, "add 9", out, sizeof out), 1);
  assert_non_null(strstr(out, "refused as invalid"));
  ctk_local_cluster_stop(&cluster, 2000);
  ctk_config_free(&config);
}

/* The voters node i reports, or 0. */
static uint32_t members_of(ctk_local_cluster *cluster, int i) {
  hw_status s;
  return ctk_local_cluster_status(cluster, i, &s, 500) == 0 ? s.proto.members : 0;
}

static void test_multipaxos_add_and_remove_leader(void **state) {
  (void)state;
  ctk_config config;
  ctk_local_cluster *cluster;
  int leader = start_and_add_node_3(&config, &cluster, "mp", "multipaxos");
  char out[4096];
  /* Node 3 receives the log as a learner, then a second configuration makes it a voter. */
  uint32_t members = 0;
  for (int t = 0; t < 50 && members != 0xF; t++) {
    usleep(100000);
    members = members_of(cluster, 3);
  }
  assert_int_equal(members, 0xF);
  /* The leader removes itself: it hands over once that is chosen. */
  leader = wait_leader(cluster, 4, 5000);
  assert_true(leader >= 0);
  char req[32];
  snprintf(req, sizeof req, "remove %d", leader);
  int rc = 1;
  for (int t = 0; t < 20 && rc != 0; t++) { /* a change may still be settling: retried */
    rc = admin("mp", leader, req, out, sizeof out);
    if (rc != 0) usleep(100000);
  }
  if (rc != 0) fail_msg("%s: exit %d\n%s", req, rc, out);
  int now_leader = leader;
  for (int t = 0; t < 50 && (now_leader == leader || now_leader < 0); t++) {
    usleep(100000);
    now_leader = wait_leader(cluster, 4, 1000);
  }
  assert_true(now_leader >= 0 && now_leader != leader);
  assert_int_equal(members_of(cluster, now_leader), 0xF & ~(1u << leader));
  ctk_local_cluster_stop(&cluster, 2000);
  ctk_config_free(&config);
}

static void test_unsupported_protocol_and_force_warning(void **state) {
  (void)state;
  ctk_config config;
  ctk_local_cluster *cluster = realnode_start(&config, tmpdir_path(), "px", "paxos", 3, NULL);
  char out[4096];
  assert_int_equal(admin("px", 0, "add 2", out, sizeof out), 1);
  assert_non_null(strstr(out, "paxos does not support it"));
  assert_int_equal(admin("px", 0, "force 0,1", out, sizeof out), 1);
  assert_non_null(strstr(out, "WARNING: `force 0,1` is UNSAFE"));
  assert_non_null(strstr(out, "lost for good"));
  ctk_local_cluster_stop(&cluster, 2000);
  ctk_config_free(&config);
}

/* `ctk run` of four nodes of which 0, 1 and 2 are the members, with the [[fault]] tables given:
 * it exits 0 and prints every expected line (a NULL-terminated list). */
static void run_with_events(const char *protocol, const char *faults, const char *const *expected) {
  int port = cli_free_ports(8);
  assert_true(port > 0);
  char path[256], text[1024], cmd[1024], out[16384];
  snprintf(path, sizeof path, "%s/run-%s.toml", tmpdir_path(), protocol);
  snprintf(text, sizeof text,
           "protocol = \"%s\"\n[cluster]\nnodes = 4\nbase_port = %d\nmembers = [0, 1, 2]\n"
           "[workload]\nclients = 4\nduration_s = 4\nwarmup_s = 0\nclient_timeout_ms = 300\n%s",
           protocol, port, faults);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  snprintf(cmd, sizeof cmd, "%s run %s --out %s/run-out-%s --quiet 2>&1", cli_bin(), path,
           tmpdir_path(), protocol);
  int rc = cli_run(cmd, out, sizeof out);
  if (rc != 0) fail_msg("ctk run (%s): exit %d\n%s", protocol, rc, out);
  for (size_t k = 0; expected[k]; k++)
    if (!strstr(out, expected[k]))
      fail_msg("ctk run (%s): no \"%s\" in\n%s", protocol, expected[k], out);
}

static void run_with_membership_events(const char *protocol) {
  const char *expected[] = {"add of node 3 at", "transfer of node 3 at",
                            /* the leader at 3 s: node 3 once the transfer is done, but on a
                               loaded machine it may still be in progress (the full suite under
                               a clean-clone CI run once left the old leader in place) */
                            "remove of node ", "linearizable    yes", "converged", NULL};
  run_with_events(protocol,
                  "[[fault]]\nat_s = 1.0\nkind = \"add\"\nnode = 3\n"
                  "[[fault]]\nat_s = 2.0\nkind = \"transfer\"\nnode = 3\n"
                  "[[fault]]\nat_s = 3.0\nkind = \"remove\"\nnode = \"leader\"\n",
                  expected);
}

static void test_run_with_membership_events(void **state) {
  (void)state;
  run_with_membership_events("raft");
  run_with_membership_events("multipaxos");
}

/* ZAB on real processes: `ctk admin add` sent to a follower reaches the leader through its hint;
 * the new node (outside the initial members, started empty) is synchronized and becomes a voter
 * as every node reports it; transfer is refused as unsupported. */
static void test_zab_add_on_real_nodes(void **state) {
  (void)state;
  ctk_config config;
  ctk_local_cluster *cluster;
  int leader = start_and_add_node_3(&config, &cluster, "zab", "zab");
  char out[4096];
  int all_see = 0;
  for (int t = 0; t < 50 && !all_see; t++) {
    usleep(100000);
    all_see = 1;
    for (int i = 0; i < 4; i++) {
      hw_status s;
      if (ctk_local_cluster_status(cluster, i, &s, 500) || s.proto.members != 0xF ||
          s.proto.learners != 0)
        all_see = 0;
    }
  }
  assert_true(all_see);
  assert_int_equal(admin("zab", leader, "transfer 3", out, sizeof out), 1);
  assert_non_null(strstr(out, "zab does not support it"));
  ctk_local_cluster_stop(&cluster, 2000);
  ctk_config_free(&config);
}

/* `ctk run` of ZAB with add and remove events (the leader removing itself): linearizable, and
 * the members converge. */
static void test_zab_run_with_membership_events(void **state) {
  (void)state;
  const char *expected[] = {"add of node 3 at", "remove of node ", "linearizable    yes",
                            "converged", NULL};
  run_with_events("zab",
                  "[[fault]]\nat_s = 1.0\nkind = \"add\"\nnode = 3\n"
                  "[[fault]]\nat_s = 2.5\nkind = \"remove\"\nnode = \"leader\"\n",
                  expected);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_raft_add_and_transfer),
      cmocka_unit_test(test_multipaxos_add_and_remove_leader),
      cmocka_unit_test(test_unsupported_protocol_and_force_warning),
      cmocka_unit_test(test_run_with_membership_events),
      cmocka_unit_test(test_zab_add_on_real_nodes),
      cmocka_unit_test(test_zab_run_with_membership_events),
  };
  return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
