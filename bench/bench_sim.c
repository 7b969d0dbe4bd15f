/* bench_sim.c: simulator speed: simulated messages per second of wall time for a 5-node Raft
 * cluster under a closed-loop load, next to a baseline measured in the same run: the same harness
 * driving a trivial protocol whose nodes only exchange fixed-size messages (the cost floor of
 * the event queue, network model and disk model, with no consensus logic). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "sim.h"

/* ---- the baseline: every node sends a 64-byte message to each peer every millisecond ---- */

typedef struct chatter {
  int id, n;
  uint8_t payload[64];
  ctk_message msgs[CTK_MAX_NODES];
} chatter;

static ctk_proto *chatter_create(const ctk_node_config *c, const void *o, char *e, size_t l) {
  (void)o, (void)e, (void)l;
  chatter *self = calloc(1, sizeof *self);
  self->id = c->node_id;
  self->n = c->n_nodes;
  return (ctk_proto *)self;
}
static void chatter_destroy(ctk_proto *p) { free(p); }
static int chatter_step(ctk_proto *p, const ctk_event *ev, ctk_output *out) {
  chatter *self = (chatter *)p;
  memset(out, 0, sizeof *out);
  out->next_deadline_us = ev->now_us + 1000;
  if (ev->kind != CTK_EVENT_TIMEOUT) return CTK_OK;
  for (int i = 0; i < self->n; i++) {
    if (i == self->id) continue;
    self->msgs[out->n_messages].to = i;
    self->msgs[out->n_messages].bytes = (ctk_bytes){self->payload, sizeof self->payload};
    out->n_messages++;
  }
  out->messages = self->msgs;
  return CTK_OK;
}
static void chatter_status(const ctk_proto *p, ctk_status *st) {
  (void)p;
  memset(st, 0, sizeof *st);
  st->role = CTK_ROLE_NONE;
  st->leader_id = -1;
}
static int chatter_describe(const uint8_t *b, size_t n, char *buf, size_t len) {
  (void)b, (void)n;
  return snprintf(buf, len, "chatter");
}
static const ctk_protocol_def chatter_protocol = {.name = "chatter",
                                                  .summary = "baseline",
                                                  .options_size = 1,
                                                  .create = chatter_create,
                                                  .destroy = chatter_destroy,
                                                  .step = chatter_step,
                                                  .status = chatter_status,
                                                  .describe = chatter_describe};

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Runs c for `seconds` of virtual time without clients; returns messages per wall second. */
static double baseline_rate(ctk_config *c, double seconds) {
  char err[CTK_ERR_LEN];
  ctk_sim_options options = {.no_clients = 1};
  ctk_simulator *sim = ctk_sim_new(c, &options, err, sizeof err);
  if (!sim) {
    fprintf(stderr, "bench_sim: %s\n", err);
    exit(1);
  }
  double t0 = now_s();
  ctk_sim_run_until(sim, (uint64_t)(seconds * 1e6));
  double wall = now_s() - t0;
  double rate = (double)ctk_sim_stats_get(sim)->msgs_sent / wall;
  ctk_sim_destroy(&sim);
  return rate;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  double duration_s = argc > 1 ? atof(argv[1]) : 10;
  ctk_config c;
  char err[CTK_ERR_LEN];
  if (ctk_config_defaults(&c, "raft", err, sizeof err)) {
    fprintf(stderr, "bench_sim: %s\n", err);
    return 1;
  }
  c.cluster.nodes = 5;
  c.workload.clients = 32;
  c.workload.duration_s = duration_s;
  c.workload.warmup_s = 0;
  enum { RUNS = 3 };
  double raft[RUNS], base[RUNS], ratio[RUNS];
  uint64_t ops = 0, msgs = 0;
  for (int r = 0; r < RUNS; r++) {
    c.seed = 1 + (uint64_t)r;
    ctk_sim_report report;
    ctk_sim_options options = {.skip_check = 1};
    if (ctk_sim_execute(&c, &options, &report, err, sizeof err) || report.violation) {
      fprintf(stderr, "bench_sim: run failed: %s %s\n", err, report.violation_text);
      return 1;
    }
    raft[r] = (double)report.stats.msgs_sent / report.wall_s;
    ops = report.stats.ops_ok + report.stats.ops_fail;
    msgs = report.stats.msgs_sent;
    ctk_sim_report_free(&report);
    const ctk_protocol_def *saved = c.protocol;
    c.protocol = &chatter_protocol;
    base[r] = baseline_rate(&c, duration_s);
    c.protocol = saved;
    ratio[r] = raft[r] / base[r];
  }
  qsort(raft, RUNS, sizeof raft[0], cmp_double);
  qsort(base, RUNS, sizeof base[0], cmp_double);
  qsort(ratio, RUNS, sizeof ratio[0], cmp_double);
  printf(
      "simulator: 5-node raft, 32 closed-loop clients, %.0f s virtual: %.0f simulated msgs/s "
      "(median of %d; %" PRIu64 " msgs, %" PRIu64 " ops per run)\n",
      duration_s, raft[RUNS / 2], RUNS, msgs, ops);
  printf("simulator: baseline (harness only, 64 B messages): %.0f msgs/s; raft/baseline = %.2f\n",
         base[RUNS / 2], ratio[RUNS / 2]);
  ctk_config_free(&c);
  return 0;
}
