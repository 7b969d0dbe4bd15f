/* test_e2e.c: real clusters, end to end. For every protocol ctk knows, `ctk run` starts 3-node
 * and 5-node clusters of real processes over ZeroMQ, runs a short mixed workload through a leader
 * crash (SIGKILL, then a restart from disk) and a partition of the leader from the rest, and must
 * report a linearizable history, replicas that converged, an unavailability window for each fault,
 * and leave no process and no socket file behind. Also `ctk compare` on two protocols' worth of
 * runs, and the bad-input paths of the commands. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <glob.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "protocol.h"

static char tmpdir[] = "/tmp/ctk-e2e-XXXXXX";

/* Ports of our own for each cluster, free when asked for (see cli_free_ports). */
static int base_port(int k) {
  (void)k;
  int port = cli_free_ports(16);
  assert_true(port > 0);
  return port;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
}

static size_t count_files(const char *pattern) {
  glob_t g;
  size_t n = glob(pattern, 0, NULL, &g) == 0 ? g.gl_pathc : 0;
  globfree(&g);
  return n;
}

static json_t *load_json(const char *path) {
  json_error_t error;
  json_t *j = json_load_file(path, 0, &error);
  if (!j) fail_msg("%s: %s", path, error.text);
  return j;
}

/* The experiment of the end-to-end runs: a leader crash at 1 s for 1 s, then the leader cut off
 * from the others at 3 s for 1 s; a snapshot every 1,000 commands (every protocol names the option
 * alike), so that the crashed node restarts from one and the others compact their logs. */
static void write_experiment(const char *path, const char *protocol, int nodes, int port) {
  char text[2048];
  snprintf(text, sizeof text,
           "protocol = \"%s\"\nseed = 7\n"
           "[cluster]\nnodes = %d\nbase_port = %d\n"
           "[workload]\nclients = 6\nduration_s = 5\nwarmup_s = 0.5\nread_ratio = 0.5\n"
           "keys = 20\nclient_timeout_ms = 300\n"
           "[[fault]]\nat_s = 1\nkind = \"crash\"\nnode = \"leader\"\nduration_s = 1\n"
           "[[fault]]\nat_s = 3\nkind = \"partition\"\nnode = \"leader\"\nduration_s = 1\n"
           "[%s]\nsnapshot_every = 1000\n",
           protocol, nodes, port, protocol);
  write_file(path, text);
}

static void check_run(const char *protocol, int nodes, int k) {
  char cfg[256], out[256], json[300], cmd[1024], output[65536];
  snprintf(cfg, sizeof cfg, "%s/%s-%d.toml", tmpdir, protocol, nodes);
  snprintf(out, sizeof out, "%s/%s-%d", tmpdir, protocol, nodes);
  snprintf(json, sizeof json, "%s/%s-%d.json", tmpdir, protocol, nodes);
  write_experiment(cfg, protocol, nodes, base_port(k));
  /* The shell prints the runner's pid first (exec keeps it), so its socket files can be named. */
  snprintf(cmd, sizeof cmd,
           "sh -c 'echo runner $$; exec %s run %s --out %s --json %s --quiet' 2>&1", cli_bin(), cfg,
           out, json);
  int rc = cli_run(cmd, output, sizeof output);
  int runner = 0;
  assert_int_equal(sscanf(output, "runner %d", &runner), 1);
  print_message("%s, %d nodes: exit %d\n%s\n", protocol, nodes, rc, output);
  assert_int_equal(rc, 0);
  assert_non_null(strstr(output, "linearizable"));
  json_t *r = load_json(json);
  assert_true(json_is_true(json_object_get(r, "linearizable")));
  assert_true(json_integer_value(json_object_get(r, "ops_ok")) > 50);
  json_t *faults = json_object_get(r, "faults");
  assert_int_equal(json_array_size(faults), 2);
  for (size_t i = 0; i < 2; i++) {
    json_t *u = json_object_get(json_array_get(faults, i), "unavailable_ms");
    if (!json_is_number(u)) fail_msg("fault %zu has no unavailability window", i);
    assert_true(json_number_value(u) >= 0);
  }
  /* A leaderless protocol (no CTK_PROTO_LEADERS) has no leader to change. */
  if (ctk_protocol_find(protocol)->flags & CTK_PROTO_LEADERS)
    assert_true(json_integer_value(json_object_get(r, "leader_changes")) >= 2);
  json_decref(r);
  /* Everything it wrote is there, and nothing it started is left. */
  char path[512];
  snprintf(path, sizeof path, "%s/history.jsonl", out);
  assert_int_equal(access(path, R_OK), 0);
  snprintf(path, sizeof path, "%s/config.toml", out);
  assert_int_equal(access(path, R_OK), 0);
  /* [c]: so that pgrep does not find the shell running it. */
  snprintf(cmd, sizeof cmd, "pgrep -f '%s/[c]onfig.toml' >/dev/null", out);
  assert_int_not_equal(system(cmd), 0);
  char pattern[64];
  snprintf(pattern, sizeof pattern, "/tmp/ctk-%d-*.ipc", runner);
  assert_int_equal(count_files(pattern), 0);
}

static void test_every_protocol_3_and_5_nodes(void **state) {
  (void)state;
  int k = 0;
  for (size_t i = 0; i < ctk_protocol_count(); i++) {
    check_run(ctk_protocol_at(i)->name, 3, k++);
    check_run(ctk_protocol_at(i)->name, 5, k++);
  }
}

/* compare: one column per protocol, and the combined JSON and CSV. */
static void test_compare(void **state) {
  (void)state;
  char cfg[256], out[256], cmd[1024], output[65536];
  snprintf(cfg, sizeof cfg, "%s/compare.toml", tmpdir);
  snprintf(out, sizeof out, "%s/compare", tmpdir);
  char text[1024];
  snprintf(text, sizeof text,
           "protocol = \"raft\"\n[cluster]\nnodes = 3\nbase_port = %d\n"
           "[workload]\nclients = 4\nduration_s = 2\nwarmup_s = 0.5\n"
           "[[fault]]\nat_s = 1\nkind = \"crash\"\nnode = \"leader\"\nduration_s = 0.5\n",
           base_port(30));
  write_file(cfg, text);
  snprintf(cmd, sizeof cmd, "%s compare %s --out %s --quiet 2>&1", cli_bin(), cfg, out);
  int rc = cli_run(cmd, output, sizeof output);
  print_message("%s\n", output);
  assert_int_equal(rc, 0);
  for (size_t i = 0; i < ctk_protocol_count(); i++)
    assert_non_null(strstr(output, ctk_protocol_at(i)->name));
  assert_non_null(strstr(output, "throughput"));
  char path[512];
  snprintf(path, sizeof path, "%s/compare.json", out);
  json_t *j = load_json(path);
  assert_int_equal(json_array_size(json_object_get(j, "runs")), ctk_protocol_count());
  json_decref(j);
  snprintf(path, sizeof path, "%s/compare.csv", out);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  char line[4096];
  int lines = 0;
  while (fgets(line, sizeof line, f)) lines++;
  fclose(f);
  assert_int_equal(lines, 1 + (int)ctk_protocol_count());
}

/* EPaxos on real processes with a node killed for 5 s under load, while the others snapshot and
 * prune past it (snapshot_lag): restarted, it lacks what only their snapshots hold, installs one
 * and converges. */
static void test_epaxos_node_down_caught_up_from_snapshot(void **state) {
  (void)state;
  char cfg[256], out[256], json[300], cmd[1024], output[65536], text[1024];
  snprintf(cfg, sizeof cfg, "%s/epaxos-lag.toml", tmpdir);
  snprintf(out, sizeof out, "%s/epaxos-lag", tmpdir);
  snprintf(json, sizeof json, "%s/epaxos-lag.json", tmpdir);
  snprintf(text, sizeof text,
           "protocol = \"epaxos\"\nseed = 3\n[cluster]\nnodes = 3\nbase_port = %d\n"
           "[workload]\nclients = 8\nduration_s = 7\nwarmup_s = 0.5\nkeys = 1000\n"
           "[epaxos]\nsnapshot_every = 500\nsnapshot_lag = 100\n"
           "[[fault]]\nat_s = 1\nkind = \"crash\"\nnode = 2\nduration_s = 5\n",
           base_port(36));
  write_file(cfg, text);
  snprintf(cmd, sizeof cmd, "%s run %s --out %s --json %s --quiet 2>&1", cli_bin(), cfg, out, json);
  int rc = cli_run(cmd, output, sizeof output);
  print_message("%s\n", output);
  assert_int_equal(rc, 0);
  assert_non_null(strstr(output, "converged (same store on every node)"));
  json_t *r = load_json(json);
  assert_true(json_is_true(json_object_get(r, "linearizable")));
  json_t *counters = json_object_get(r, "counters");
  assert_true(json_integer_value(json_object_get(counters, "snap_installs")) >= 1);
  assert_int_equal(json_integer_value(json_object_get(counters, "snap_rejected")), 0);
  json_decref(r);
}

/* Every kind of network fault, applied by the nodes' transports, one after the other: the run
 * stays linearizable, converges once they heal, and reports each. */
static void test_every_fault_kind(void **state) {
  (void)state;
  char cfg[256], out[256], json[300], cmd[1024], output[65536];
  snprintf(cfg, sizeof cfg, "%s/faults.toml", tmpdir);
  snprintf(out, sizeof out, "%s/faults", tmpdir);
  snprintf(json, sizeof json, "%s/faults.json", tmpdir);
  char text[2048];
  snprintf(text, sizeof text,
           "protocol = \"raft\"\n[cluster]\nnodes = 3\nbase_port = %d\n"
           "[workload]\nclients = 4\nduration_s = 7\nwarmup_s = 0.5\nkeys = 20\n"
           "client_timeout_ms = 300\n"
           "[[fault]]\nat_s = 0.5\nkind = \"drop\"\nnode = \"all\"\nprobability = 0.2\n"
           "duration_s = 0.8\n"
           "[[fault]]\nat_s = 1.5\nkind = \"delay\"\nnode = \"leader\"\ndelay_ms = 20\n"
           "duration_s = 0.8\n"
           "[[fault]]\nat_s = 2.5\nkind = \"duplicate\"\nnode = \"all\"\nprobability = 0.5\n"
           "duration_s = 0.8\n"
           "[[fault]]\nat_s = 3.5\nkind = \"reorder\"\nnode = \"all\"\nprobability = 0.5\n"
           "delay_ms = 10\nduration_s = 0.8\n"
           "[[fault]]\nat_s = 4.5\nkind = \"slow\"\nnode = \"leader\"\nfactor = 5\n"
           "duration_s = 0.8\n"
           "[[fault]]\nat_s = 5.5\nkind = \"isolate\"\nnode = \"leader\"\nduration_s = 0.8\n",
           base_port(32));
  write_file(cfg, text);
  snprintf(cmd, sizeof cmd, "%s run %s --out %s --json %s --quiet 2>&1", cli_bin(), cfg, out, json);
  int rc = cli_run(cmd, output, sizeof output);
  print_message("%s\n", output);
  assert_int_equal(rc, 0);
  json_t *r = load_json(json);
  assert_true(json_is_true(json_object_get(r, "linearizable")));
  assert_int_equal(json_array_size(json_object_get(r, "faults")), 6);
  json_decref(r);
  /* The nodes logged what they were told to apply. */
  snprintf(cmd, sizeof cmd, "grep -h 'faults:' %s/node-*.log | grep -c 'isolated 1' >/dev/null",
           out);
  assert_int_equal(system(cmd), 0);
}

/* Nodes started by hand (`ctk node`), then two runs of clients only (`ctk run --attach`) against
 * the same cluster: the second must not mistake the first's values for a violation. SIGTERM
 * stops the nodes cleanly. */
static void test_attach_to_nodes_started_by_hand(void **state) {
  (void)state;
  char cfg[256], cmd[1024], output[65536];
  snprintf(cfg, sizeof cfg, "%s/attach.toml", tmpdir);
  int port = base_port(34);
  char text[1024];
  snprintf(text, sizeof text,
           "protocol = \"raft\"\n[cluster]\nnodes = 3\n"
           "endpoints = [\"tcp://127.0.0.1:%d\", \"tcp://127.0.0.1:%d\", \"tcp://127.0.0.1:%d\"]\n"
           "[workload]\nclients = 4\nduration_s = 1.5\nwarmup_s = 0.5\n",
           port, port + 1, port + 2);
  write_file(cfg, text);
  for (int i = 0; i < 3; i++) {
    snprintf(cmd, sizeof cmd,
             "%s node %s --id %d --dir %s/attach-n%d >%s/attach-n%d.log 2>&1 & echo $! "
             ">%s/attach-%d.pid",
             cli_bin(), cfg, i, tmpdir, i, tmpdir, i, tmpdir, i);
    assert_int_equal(system(cmd), 0);
  }
  for (int k = 0; k < 2; k++) {
    snprintf(cmd, sizeof cmd, "%s run %s --attach --out %s/attach-run%d --quiet 2>&1", cli_bin(),
             cfg, tmpdir, k);
    int rc = cli_run(cmd, output, sizeof output);
    print_message("attached run %d: exit %d\n%s\n", k, rc, output);
    assert_int_equal(rc, 0);
  }
  snprintf(cmd, sizeof cmd, "%s run %s --attach --out %s/x 2>&1", cli_bin(), "configs/default.toml",
           tmpdir);
  assert_int_equal(cli_run(cmd, output, sizeof output), 2); /* faults need nodes of our own */
  assert_non_null(strstr(output, "faults need nodes started by `ctk run`"));
  snprintf(cmd, sizeof cmd,
           "for i in 0 1 2; do kill -TERM $(cat %s/attach-$i.pid); done; sleep 1; "
           "grep -c stopped %s/attach-n*.log | grep -c ':1$'",
           tmpdir, tmpdir);
  assert_int_equal(cli_run(cmd, output, sizeof output), 0);
  assert_int_equal(atoi(output), 3);
}

static void test_bad_input(void **state) {
  (void)state;
  char cmd[1024], output[4096];
  snprintf(cmd, sizeof cmd, "%s run /nonexistent.toml 2>&1", cli_bin());
  assert_int_equal(cli_run(cmd, output, sizeof output), 2);
  assert_non_null(strstr(output, "/nonexistent.toml"));
  snprintf(cmd, sizeof cmd, "%s compare configs/default.toml --protocols nosuch 2>&1", cli_bin());
  assert_int_equal(cli_run(cmd, output, sizeof output), 2);
  assert_non_null(strstr(output, "unknown protocol 'nosuch'"));
  snprintf(cmd, sizeof cmd, "%s node configs/default.toml --id 3 2>&1", cli_bin());
  assert_int_equal(cli_run(cmd, output, sizeof output), 2);
  assert_non_null(strstr(output, "has 3 nodes"));
  /* An --out directory holding an earlier run's node state is refused before any node starts:
   * nodes restarted from it would hold values the new history cannot explain. */
  snprintf(cmd, sizeof cmd,
           "mkdir -p %s/reused/node-1 && %s run configs/default.toml --out %s/reused 2>&1", tmpdir,
           cli_bin(), tmpdir);
  assert_int_equal(cli_run(cmd, output, sizeof output), 2);
  assert_non_null(strstr(output, "holds an earlier run's node state"));
  assert_non_null(strstr(output, "reused/node-1"));
}

static int setup(void **state) {
  (void)state;
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_every_protocol_3_and_5_nodes),
      cmocka_unit_test(test_compare),
      cmocka_unit_test(test_every_fault_kind),
      cmocka_unit_test(test_epaxos_node_down_caught_up_from_snapshot),
      cmocka_unit_test(test_attach_to_nodes_started_by_hand),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
