/* sim.c: the deterministic simulator's core: tracing, the event loop, construction, queries, and
 * a whole run with its safety and liveness phases (see sim.h). Nodes live in sim_node.c. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checker.h"
#include "sim_internal.h"

#define SIM_BATCH_MAX 64 /* inputs one node handles before its group commit */

/* ---- tracing and violations ---- */

void sim_trace(ctk_simulator *self, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(self->line, sizeof self->line, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof self->line) n = sizeof self->line - 1;
  XXH3_64bits_update(self->trace_state, self->line, (size_t)n);
  if (self->options.trace)
    fprintf(self->options.trace, "%10.6f %s\n", (double)self->now_us / 1e6, self->line);
}

void sim_violation(ctk_simulator *self, const char *fmt, ...) {
  if (self->violated) return;
  self->violated = 1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(self->violation, sizeof self->violation, fmt, ap);
  va_end(ap);
  sim_trace(self, "VIOLATION %s", self->violation);
}

/* ---- scheduling ---- */

void sim_schedule(ctk_simulator *self, uint64_t time, sim_event_type type, int node, int from,
                  uint64_t gen, uint8_t *data, uint32_t len) {
  sim_event ev = {.time = time < self->now_us ? self->now_us : time,
                  .sent_us = self->now_us,
                  .gen = gen,
                  .data = data,
                  .len = len,
                  .type = (uint8_t)type,
                  .node = node,
                  .from = from};
  if (sim_queue_push(&self->queue, &ev)) {
    free(data);
    sim_violation(self, "simulator out of memory");
  }
}

/* ---- the event loop ---- */

static void dispatch(ctk_simulator *self, sim_event *ev) {
  sim_node *node = ev->node >= 0 && ev->node < self->n ? &self->nodes[ev->node] : NULL;
  switch ((sim_event_type)ev->type) {
  case EV_DELIVER:
    if (self->options.html || self->options.shiviz)
      sim_html_message(self, ev, !node->alive || sim_net_link_blocked(self, ev->from, ev->node));
    if (node->alive && !sim_net_link_blocked(self, ev->from, ev->node)) {
      self->stats.msgs_delivered++;
      sim_node_input_take(self, ev->node, CTK_EVENT_MESSAGE, ev->from, ev->data, ev->len);
      ev->data = NULL;
    } else {
      self->stats.msgs_lost++;
    }
    break;
  case EV_NODE_RUN:
    if (ev->gen == node->incarnation) sim_node_run(self, ev->node);
    break;
  case EV_SYNC_DONE:
    if (ev->gen == node->incarnation && node->alive) sim_node_sync_done(self, ev->node);
    break;
  case EV_EARLY_SEND:
    if (ev->gen == node->incarnation && node->alive) sim_node_send_early(self, ev->node);
    break;
  case EV_TIMER: sim_node_timer(self, ev->node, ev->time, ev->gen); break;
  case EV_CLIENT_ARRIVE: sim_client_arrive(self, ev->node, ev->from, ev->data, ev->len); break;
  case EV_CLIENT_REPLY: sim_client_reply(self, ev->node, (const sim_reply *)ev->data); break;
  case EV_CLIENT_TIMEOUT: sim_client_timeout(self, ev->node, ev->time); break;
  case EV_CLIENT_NEXT: sim_client_next(self, ev->node, ev->gen); break;
  case EV_ARRIVAL: sim_client_arrival(self); break;
  case EV_FAULT_START: sim_fault_start(self, ev->node); break;
  case EV_FAULT_END: sim_fault_end(self, ev->node); break;
  case EV_ADMIN_RETRY: sim_admin_retry(self, ev->node); break;
  }
  free(ev->data);
}

int ctk_sim_run_until(ctk_simulator *self, uint64_t t_us) {
  sim_event ev;
  while (!self->violated) {
    const sim_event *next = sim_queue_peek(&self->queue);
    if (!next || next->time > t_us) break;
    sim_queue_pop(&self->queue, &ev);
    self->now_us = ev.time;
    dispatch(self, &ev);
  }
  if (!self->violated && self->now_us < t_us) self->now_us = t_us;
  self->stats.now_us = self->now_us;
  return self->violated ? -1 : 0;
}

/* ---- construction ---- */

ctk_simulator *ctk_sim_new(const ctk_config *config, const ctk_sim_options *options, char *err,
                           size_t err_len) {
  ctk_simulator *self = calloc(1, sizeof *self);
  if (!self) {
    snprintf(err, err_len, "out of memory");
    return NULL;
  }
  self->config = *config;
  self->proto = config->protocol;
  self->n = config->cluster.nodes;
  if (options) self->options = *options;
  self->options_copy = malloc(self->proto->options_size ? self->proto->options_size : 1);
  self->trace_state = XXH3_createState();
  if (!self->options_copy || !self->trace_state) goto oom;
  memcpy(self->options_copy, config->protocol_options, self->proto->options_size);
  self->config.protocol_options = self->options_copy;
  XXH3_64bits_reset(self->trace_state);
  ctk_rng_seed(&self->rng, config->seed);
  ctk_history_init(&self->history);
  ctk_histogram_init(&self->stats.latency_us);
  self->base_loss = config->sim.loss;
  self->n_clients = self->options.no_clients ? 0 : config->workload.clients;
  if (sim_clients_init(self)) goto oom;
  for (int i = 0; i < self->n; i++) {
    sim_node *node = &self->nodes[i];
    wire_writer_init(&node->durable);
    wire_writer_init(&node->pending);
    node->slow_factor = 1;
    node->clock_rate = 1;
    node->pending_seq = calloc((size_t)self->n_clients + 1, sizeof *node->pending_seq);
    if (!node->pending_seq) goto oom;
  }
  sim_net_recompute(self);
  for (int i = 0; i < self->n; i++) {
    if (sim_node_create(self, i, err, err_len)) {
      ctk_sim_destroy(&self);
      return NULL;
    }
  }
  return self;
oom:
  snprintf(err, err_len, "out of memory");
  ctk_sim_destroy(&self);
  return NULL;
}

void ctk_sim_destroy(ctk_simulator **self_p) {
  ctk_simulator *self = *self_p;
  if (!self) return;
  for (int i = 0; i < self->n; i++) {
    sim_node_free(self, i);
  }
  sim_queue_free(&self->queue);
  sim_net_free(self);
  sim_clients_free(self);
  free(self->faults);
  sim_check_free(self);
  sim_timeline_free(self);
  sim_html_free(self);
  ctk_history_free(&self->history);
  if (self->trace_state) XXH3_freeState(self->trace_state);
  free(self->options_copy);
  free(self);
  *self_p = NULL;
}

/* ---- queries and scripted control ---- */

uint64_t ctk_sim_now(const ctk_simulator *self) { return self->now_us; }
const char *ctk_sim_violation(const ctk_simulator *self) {
  return self->violated ? self->violation : NULL;
}
const ctk_sim_stats *ctk_sim_stats_get(const ctk_simulator *self) { return &self->stats; }
const ctk_history *ctk_sim_history(const ctk_simulator *self) { return &self->history; }
int ctk_sim_n_nodes(const ctk_simulator *self) { return self->n; }
int ctk_sim_alive(const ctk_simulator *self, int node) { return self->nodes[node].alive; }
uint64_t ctk_sim_msgs_sent_by(const ctk_simulator *self, int node) {
  return self->nodes[node].msgs_sent;
}
uint64_t ctk_sim_msgs_sent_between(const ctk_simulator *self, int from, int to) {
  return self->nodes[from].msgs_sent_to[to];
}

int ctk_sim_status(const ctk_simulator *self, int node, ctk_status *status) {
  if (node < 0 || node >= self->n || !self->nodes[node].alive) return -1;
  sim_status(self, node, status);
  return 0;
}

int sim_current_leader(const ctk_simulator *self) {
  int leader = -1;
  uint64_t best = 0;
  for (int i = 0; i < self->n; i++) {
    ctk_status st;
    if (ctk_sim_status(self, i, &st) || st.role != CTK_ROLE_LEADER) continue;
    if (leader < 0 || st.term > best) {
      leader = i;
      best = st.term;
    }
  }
  return leader;
}

int ctk_sim_leader(const ctk_simulator *self) { return sim_current_leader(self); }

void ctk_sim_counters(const ctk_simulator *self, ctk_counts *out) {
  *out = self->counters;
  for (int i = 0; i < self->n; i++)
    if (self->nodes[i].alive) ctk_counts_add_proto(out, self->proto, self->nodes[i].proto);
}

uint64_t ctk_sim_next_event_us(const ctk_simulator *self) {
  const sim_event *next = sim_queue_peek(&self->queue);
  return next ? next->time : UINT64_MAX;
}

void ctk_sim_crash(ctk_simulator *self, int node) { sim_node_crash(self, node); }
void ctk_sim_restart(ctk_simulator *self, int node) { sim_node_restart(self, node); }

int ctk_sim_committed(const ctk_simulator *self, int node, uint64_t index, char *key,
                      size_t key_len, char *value, size_t value_len) {
  if (node < 0 || node >= self->n || index == 0 || index > self->nodes[node].committed ||
      index > self->log_len)
    return -1;
  const sim_commit_record *r = &self->log[index - 1];
  key[0] = value[0] = 0;
  if (!r->len) return 0; /* no-op */
  ctk_kv_command cmd;
  char scratch[CTK_MAX_COMMAND_BYTES + 8];
  if (r->len > CTK_MAX_COMMAND_BYTES || ctk_kv_decode(r->data, r->len, &cmd, scratch)) return -1;
  snprintf(key, key_len, "%s", cmd.key);
  snprintf(value, value_len, "%s", cmd.value ? cmd.value : "");
  return 0;
}

/* ---- a whole run ---- */

static void start_liveness_phase(ctk_simulator *self) {
  self->phase = PHASE_LIVENESS;
  sim_trace(self, "LIVENESS phase: faults heal, clients finish what they started");
  sim_faults_heal_all(self);
  for (int i = 0; i < self->n; i++) sim_node_restart(self, i);
  self->liveness_end_us = self->now_us + (uint64_t)(self->config.sim.liveness_s * 1e6);
}

/* The nodes that must converge: the members (voters and learners) as the current leader sees
 * them, or every node when the protocol does not say (static membership) or no node leads. */
static uint32_t converging_nodes(const ctk_simulator *self) {
  uint32_t all = (uint32_t)((1ull << self->n) - 1);
  int leader = sim_current_leader(self);
  ctk_status st;
  if (leader < 0 || ctk_sim_status(self, leader, &st) || !st.members) return all;
  return (st.members | st.learners) & all;
}

/* All clients are idle and every member has committed (and applied) the same, highest, index;
 * without a total order, every node has executed as many commands as the others. Nodes removed
 * from the cluster (or never added) are not waited for. */
static int converged(const ctk_simulator *self) {
  if (!sim_clients_idle(self)) return 0;
  uint32_t members = converging_nodes(self);
  for (int i = 0; i < self->n; i++) {
    const sim_node *node = &self->nodes[i];
    if (!(members >> i & 1)) continue;
    uint64_t target =
        self->proto->flags & CTK_PROTO_TOTAL_ORDER ? self->log_len : self->nodes[0].applied;
    if (!node->alive || node->applied != target) return 0;
  }
  return 1;
}

static void run_phases(ctk_simulator *self) {
  const uint64_t slice_us = 10000;
  while (!self->violated && self->phase == PHASE_SAFETY) {
    uint64_t next = self->now_us + slice_us;
    if (next > self->safety_end_us) next = self->safety_end_us;
    ctk_sim_run_until(self, next);
    int ops_exhausted = self->ops_budget == 0 && self->backlog_n == 0 && sim_clients_idle(self);
    if (self->now_us >= self->safety_end_us || ops_exhausted) start_liveness_phase(self);
  }
  while (!self->violated && self->phase == PHASE_LIVENESS) {
    ctk_sim_run_until(self, self->now_us + slice_us);
    if (converged(self)) {
      self->phase = PHASE_DONE;
      sim_trace(self, "CONVERGED at index %zu", self->log_len);
    } else if (self->now_us >= self->liveness_end_us) {
      int busy = 0;
      for (int c = 0; c < self->n_clients; c++) busy += self->clients[c].active;
      char nodes[256] = "";
      size_t off = 0;
      for (int i = 0; i < self->n && off < sizeof nodes; i++)
        off += (size_t)snprintf(nodes + off, sizeof nodes - off, " n%d:%" PRIu64 "%s", i,
                                self->nodes[i].applied, self->nodes[i].lost ? " (lost)" : "");
      sim_violation(self,
                    "liveness: %.1f s after the faults healed, %d client requests are still "
                    "outstanding; applied index per node:%s (committed %zu)",
                    self->config.sim.liveness_s, busy, nodes, self->log_len);
    }
  }
  if (!self->violated) sim_check_acknowledged(self);
}

/* Copies the fault events into the report, each with its unavailability window as
 * ctk_results_compute reads it from the history (CTK_MAX_FAULTS at a time, its bound). The
 * window does not depend on the measured interval, so the whole run is passed. Returns 0, or -1
 * when out of memory. */
static int report_faults(const ctk_simulator *self, ctk_sim_report *report) {
  report->n_faults = self->n_fault_events;
  memcpy(report->faults, self->fault_events, (size_t)self->n_fault_events * sizeof *report->faults);
  if (!self->n_fault_events) return 0;
  ctk_results *r = calloc(1, sizeof *r);
  if (!r) return -1;
  int rc = 0;
  for (int k = 0; k < report->n_faults && rc == 0; k += CTK_MAX_FAULTS) {
    int n = report->n_faults - k < CTK_MAX_FAULTS ? report->n_faults - k : CTK_MAX_FAULTS;
    memcpy(r->faults, report->faults + k, (size_t)n * sizeof *r->faults);
    r->n_faults = n;
    rc = ctk_results_compute(r, &self->history, 0, self->now_us + 1);
    if (rc == 0) memcpy(report->faults + k, r->faults, (size_t)n * sizeof *r->faults);
    ctk_results_free(r);
  }
  free(r);
  return rc;
}

int ctk_sim_execute(const ctk_config *config, const ctk_sim_options *options,
                    ctk_sim_report *report, char *err, size_t err_len) {
  memset(report, 0, sizeof *report);
  report->linearizable = -1;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  ctk_simulator *self = ctk_sim_new(config, options, err, err_len);
  if (!self) return -1;
  const ctk_workload *w = &config->workload;
  uint64_t duration_us = w->duration_s > 0 ? (uint64_t)(w->duration_s * 1e6) : 3600ull * 1000000;
  self->safety_end_us = duration_us;
  self->ops_budget = w->ops > 0 ? w->ops : -1;
  sim_faults_schedule(self);
  sim_clients_start(self);
  run_phases(self);

  if (self->options.timeline) sim_timeline_render(self, self->options.timeline);
  if (self->options.html) sim_html_render(self, self->options.html);
  if (self->options.shiviz) sim_shiviz_render(self, self->options.shiviz);
  report->stats = self->stats;
  report->counters = self->counters;
  for (int i = 0; i < self->n; i++)
    if (self->nodes[i].alive)
      ctk_counts_add_proto(&report->counters, self->proto, self->nodes[i].proto);
  report->stats.trace_hash = XXH3_64bits_digest(self->trace_state);
  report->violation = self->violated;
  report->forced = self->forced;
  int leader = sim_current_leader(self);
  ctk_status st;
  if (leader >= 0 && ctk_sim_status(self, leader, &st) == 0) {
    report->members = st.members;
    report->learners = st.learners;
  }
  snprintf(report->forced_loss, sizeof report->forced_loss, "%s", self->forced_loss);
  snprintf(report->violation_text, sizeof report->violation_text, "%s", self->violation);
  if (report_faults(self, report)) {
    snprintf(err, err_len, "out of memory");
    ctk_sim_destroy(&self);
    return -1;
  }
  if (options && options->history_path) {
    FILE *f = fopen(options->history_path, "w");
    if (!f || ctk_history_write_jsonl(&self->history, f)) {
      snprintf(err, err_len, "%s: cannot write the history", options->history_path);
      if (f) fclose(f);
      ctk_sim_destroy(&self);
      return -1;
    }
    fclose(f);
  }
  if (!options || !options->skip_check) {
    ctk_check_result result;
    char cerr[256];
    report->stale_reads_allowed = self->config.workload.stale_reads;
    if (ctk_check_run_history(&self->history, report->stale_reads_allowed, &result,
                              &report->staleness, cerr, sizeof cerr) == 0) {
      report->linearizable = result.linearizable;
      report->checker_explanation = result.explanation;
      result.explanation = NULL;
      ctk_check_result_free(&result);
    } else {
      snprintf(report->violation_text, sizeof report->violation_text, "checker: %s", cerr);
      report->violation = 1;
    }
  }
  ctk_sim_destroy(&self);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  report->wall_s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  return 0;
}

void ctk_sim_report_free(ctk_sim_report *report) {
  free(report->checker_explanation);
  report->checker_explanation = NULL;
}

int ctk_sim_report_ok(const ctk_sim_report *report) {
  return !report->violation && report->linearizable != 0 && !report->forced_loss[0];
}
