/* bench_protocols.c: what each protocol costs for the same work, in the simulator (so the
 * numbers are the protocols', not the machine's): a 5-node cluster, 32 closed-loop clients,
 * 1-5 ms one-way delays, no faults. For every registered protocol: committed operations per
 * virtual second, messages, bytes and disk syncs per operation, latency, and each figure as a
 * ratio to Raft's, measured in the same run. Also how fast the simulator runs each one (wall
 * clock, median of three seeds). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "histogram.h"
#include "protocol.h"
#include "sim.h"

typedef struct row {
  const char *name;
  double ops_per_s, msgs_per_op, bytes_per_op, syncs_per_op, p50_ms, p99_ms, wall_msgs_per_s;
} row;

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

enum { RUNS = 3 };

/* Runs the protocol over RUNS seeds; fills the row with medians. 0, or -1 when a run failed. */
static int measure(const char *name, double duration_s, row *out) {
  double v[7][RUNS];
  for (int r = 0; r < RUNS; r++) {
    ctk_config c;
    char err[CTK_ERR_LEN];
    if (ctk_config_defaults(&c, name, err, sizeof err)) {
      fprintf(stderr, "bench_protocols: %s\n", err);
      return -1;
    }
    c.seed = 1 + (uint64_t)r;
    c.cluster.nodes = 5;
    c.workload.clients = 32;
    c.workload.warmup_s = 1;
    c.workload.duration_s = duration_s;
    ctk_sim_report report;
    ctk_sim_options options = {.skip_check = 1};
    int rc = ctk_sim_execute(&c, &options, &report, err, sizeof err);
    ctk_config_free(&c);
    if (rc || report.violation) {
      fprintf(stderr, "bench_protocols: %s failed: %s %s\n", name, err, report.violation_text);
      return -1;
    }
    const ctk_sim_stats *s = &report.stats;
    double ops = (double)s->latency_us.total;
    v[0][r] = ops / (duration_s - 1);
    v[1][r] = (double)s->msgs_sent / (double)(s->ops_ok ? s->ops_ok : 1);
    v[2][r] = (double)s->bytes_sent / (double)(s->ops_ok ? s->ops_ok : 1);
    v[3][r] = (double)s->syncs / (double)(s->ops_ok ? s->ops_ok : 1);
    v[4][r] = (double)ctk_histogram_quantile(&s->latency_us, 0.5) / 1000;
    v[5][r] = (double)ctk_histogram_quantile(&s->latency_us, 0.99) / 1000;
    v[6][r] = (double)s->msgs_sent / report.wall_s;
    ctk_sim_report_free(&report);
  }
  for (int k = 0; k < 7; k++) qsort(v[k], RUNS, sizeof v[k][0], cmp_double);
  *out = (row){name,           v[0][RUNS / 2], v[1][RUNS / 2], v[2][RUNS / 2],
               v[3][RUNS / 2], v[4][RUNS / 2], v[5][RUNS / 2], v[6][RUNS / 2]};
  return 0;
}

int main(int argc, char **argv) {
  double duration_s = argc > 1 ? atof(argv[1]) : 6;
  size_t n = ctk_protocol_count();
  row *rows = calloc(n, sizeof *rows);
  const row *raft = NULL;
  for (size_t i = 0; i < n; i++) {
    if (measure(ctk_protocol_at(i)->name, duration_s, &rows[i])) return 1;
    if (ctk_protocol_at(i) == ctk_protocol_find("raft")) raft = &rows[i];
  }
  printf(
      "protocols in the simulator: 5 nodes, 32 closed-loop clients, %.0f s virtual (1 s "
      "warm-up), no faults; median of %d seeds; (xN) = ratio to raft\n",
      duration_s, RUNS);
  printf("%-12s %16s %14s %15s %13s %15s %15s %20s\n", "protocol", "ops/s (virtual)", "msgs/op",
         "bytes/op", "syncs/op", "p50 ms", "p99 ms", "sim msgs/wall s");
  for (size_t i = 0; i < n; i++) {
    const row *r = &rows[i];
    printf(
        "%-12s %8.0f (x%4.2f) %6.1f (x%4.2f) %7.0f (x%4.2f) %5.2f (x%4.2f) %6.2f (x%4.2f) "
        "%6.2f (x%4.2f) %10.0f (x%4.2f)\n",
        r->name, r->ops_per_s, r->ops_per_s / raft->ops_per_s, r->msgs_per_op,
        r->msgs_per_op / raft->msgs_per_op, r->bytes_per_op, r->bytes_per_op / raft->bytes_per_op,
        r->syncs_per_op, r->syncs_per_op / raft->syncs_per_op, r->p50_ms, r->p50_ms / raft->p50_ms,
        r->p99_ms, r->p99_ms / raft->p99_ms, r->wall_msgs_per_s,
        r->wall_msgs_per_s / raft->wall_msgs_per_s);
  }
  free(rows);
  return 0;
}
