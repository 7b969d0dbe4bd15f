/* bench_cluster.c: real 3-node Raft clusters, measured through `ctk run` (processes, ZeroMQ,
 * the durable store):
 *   - the median commit latency with one closed-loop client, against the raw ZeroMQ round trip
 *     between two processes (measured by bench_zmq_rtt in the same `make bench`, handed over in
 *     CTK_ZMQ_RTT_US; measured here with ctk's own ping when it is absent);
 *   - the peak throughput with many clients, durable (synced) and with syncing turned off, next
 *     to the raw fsync time of the disk (CTK_FSYNC_US from bench_disk).
 * Usage: bench_cluster CTK_BINARY [SECONDS] */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct measured {
  double throughput_ops_s;
  double p50_us, p99_us;
  double msgs_per_op;
  int linearizable;
} measured;

static char tmpdir[] = "/tmp/ctk-bench-XXXXXX";

/* One `ctk run`; curve: with security = "curve" and the keys in tmpdir/keys. */
static int run_cluster(const char *ctk, const char *name, int clients, int sync, int curve,
                       double seconds, int port, measured *m) {
  char cfg[256], out[256], json[300], cmd[1200];
  snprintf(cfg, sizeof cfg, "%s/%s.toml", tmpdir, name);
  snprintf(out, sizeof out, "%s/%s", tmpdir, name);
  snprintf(json, sizeof json, "%s/%s.json", tmpdir, name);
  FILE *f = fopen(cfg, "w");
  if (!f) return -1;
  fprintf(f,
          "protocol = \"raft\"\n[cluster]\nnodes = 3\nbase_port = %d\n%s"
          "[workload]\nclients = %d\nduration_s = %g\nwarmup_s = 1\nread_ratio = 0.5\n"
          "cas_ratio = 0\nkeys = 1000\nvalue_bytes = 64\n[node]\nsync = %s\n",
          port, curve ? "security = \"curve\"\nkeys = \"keys\"\n" : "", clients, seconds + 1,
          sync ? "true" : "false");
  if (fclose(f)) return -1;
  snprintf(cmd, sizeof cmd, "%s run %s --out %s --json %s --quiet >%s/%s.out 2>&1", ctk, cfg, out,
           json, tmpdir, name);
  if (system(cmd) != 0) {
    fprintf(stderr, "bench_cluster: `%s` failed; see %s/%s.out\n", cmd, tmpdir, name);
    return -1;
  }
  json_error_t error;
  json_t *r = json_load_file(json, 0, &error);
  if (!r) return -1;
  json_t *lat = json_object_get(r, "latency_us");
  m->throughput_ops_s = json_number_value(json_object_get(r, "throughput_ops_s"));
  m->p50_us = json_number_value(json_object_get(lat, "p50"));
  m->p99_us = json_number_value(json_object_get(lat, "p99"));
  m->msgs_per_op = json_number_value(json_object_get(r, "msgs_per_op"));
  m->linearizable = json_is_true(json_object_get(r, "linearizable"));
  json_decref(r);
  return 0;
}

static double env_number(const char *name) {
  const char *v = getenv(name);
  return v ? atof(v) : 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_cluster CTK_BINARY [SECONDS]\n");
    return 2;
  }
  const char *ctk = argv[1];
  double seconds = argc > 2 ? atof(argv[2]) : 5;
  if (!mkdtemp(tmpdir)) return 1;
  int port = 27000 + (int)(getpid() % 300) * 10;
  measured one, synced, unsynced, curve_one, curve_synced;
  char keygen[600];
  snprintf(keygen, sizeof keygen, "%s keygen %s/keys --nodes 3 >/dev/null", ctk, tmpdir);
  int rc = run_cluster(ctk, "latency", 1, 1, 0, seconds, port, &one) ||
           run_cluster(ctk, "synced", 64, 1, 0, seconds, port, &synced) ||
           run_cluster(ctk, "unsynced", 64, 0, 0, seconds, port, &unsynced) ||
           system(keygen) != 0 ||
           run_cluster(ctk, "curve-latency", 1, 1, 1, seconds, port, &curve_one) ||
           run_cluster(ctk, "curve-synced", 64, 1, 1, seconds, port, &curve_synced);
  if (rc) {
    fprintf(stderr, "bench_cluster: a run failed (kept %s)\n", tmpdir);
    return 1;
  }
  double rtt = env_number("CTK_ZMQ_RTT_US"), fsync_us = env_number("CTK_FSYNC_US");
  printf("cluster (3-node Raft over ZeroMQ, real processes, %g s measured per run)\n", seconds);
  printf("  commit latency, 1 closed-loop client: p50 %.0f us, p99 %.0f us", one.p50_us,
         one.p99_us);
  if (rtt > 0)
    printf("  = %.2fx the raw ZeroMQ round trip (%.0f us)\n", one.p50_us / rtt, rtt);
  else
    printf("  (no ZeroMQ round trip measured in this run)\n");
  printf(
      "  peak throughput, 64 clients, synced:   %8.0f ops/s  p50 %.0f us  p99 %.0f us  %.1f "
      "msgs/op\n",
      synced.throughput_ops_s, synced.p50_us, synced.p99_us, synced.msgs_per_op);
  printf(
      "  peak throughput, 64 clients, unsynced: %8.0f ops/s  p50 %.0f us  p99 %.0f us  = "
      "%.2fx synced\n",
      unsynced.throughput_ops_s, unsynced.p50_us, unsynced.p99_us,
      synced.throughput_ops_s > 0 ? unsynced.throughput_ops_s / synced.throughput_ops_s : 0);
  if (fsync_us > 0)
    printf(
        "  raw fsync %.0f us: one sync per operation would cap a node at %.0f ops/s; group "
        "commit gives %.1fx that\n",
        fsync_us, 1e6 / fsync_us, synced.throughput_ops_s / (1e6 / fsync_us));
  printf(
      "  with CURVE (authenticated, encrypted): 1 client p50 %.0f us = %.2fx plain; 64 clients "
      "%.0f ops/s = %.2fx plain\n",
      curve_one.p50_us, curve_one.p50_us / one.p50_us, curve_synced.throughput_ops_s,
      curve_synced.throughput_ops_s / synced.throughput_ops_s);
  printf("  histories linearizable: %s\n",
         one.linearizable && synced.linearizable && unsynced.linearizable &&
                 curve_one.linearizable && curve_synced.linearizable
             ? "yes"
             : "NO");
  printf(
      "bench_cluster_commit_p50_us %.0f\nbench_cluster_synced_ops_s %.0f\n"
      "bench_cluster_unsynced_ops_s %.0f\nbench_cluster_curve_commit_p50_us %.0f\n"
      "bench_cluster_curve_synced_ops_s %.0f\n",
      one.p50_us, synced.throughput_ops_s, unsynced.throughput_ops_s, curve_one.p50_us,
      curve_synced.throughput_ops_s);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
  return system(cmd) == 0 ? 0 : 1;
}
