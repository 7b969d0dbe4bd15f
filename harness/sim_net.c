/* sim_net.c: the simulated network and the fault schedule: per-link delay (uniform, or a latency
 * matrix between sites), loss, duplication, reordering, partitions and isolation, slow nodes, and
 * the faults of the experiment file (or drawn from the seed) switched on and off over time. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

/* ---- sending ---- */

int sim_net_link_blocked(const ctk_simulator *self, int from, int to) {
  const sim_node *a = &self->nodes[from], *b = &self->nodes[to];
  return self->scripted_block[from][to] || self->fault_block[from][to] || a->isolated ||
         b->isolated || a->scripted_isolated || b->scripted_isolated;
}

int sim_net_client_link_up(const ctk_simulator *self, int node) {
  const sim_node *n = &self->nodes[node];
  return !n->isolated && !n->scripted_isolated;
}

static double max3(double a, double b, double c) {
  double m = a > b ? a : b;
  return m > c ? m : c;
}

static uint64_t link_delay_us(ctk_simulator *self, int from, int to) {
  const ctk_sim_config *s = &self->config.sim;
  uint64_t delay;
  if (s->n_sites > 0) {
    int a = self->config.cluster.site_of_node[from], b = self->config.cluster.site_of_node[to];
    uint64_t base = (uint64_t)(s->latency_ms[a][b] * 1000);
    uint64_t jitter = base / 20 > 100 ? base / 20 : 100; /* up to 5% of the link, at least 0.1 ms */
    delay = base + ctk_rng_range(&self->rng, 0, jitter);
  } else {
    delay = ctk_rng_range(&self->rng, (uint64_t)(s->delay_ms[0] * 1000),
                          (uint64_t)(s->delay_ms[1] * 1000));
  }
  return delay + self->nodes[from].extra_delay_us + self->nodes[to].extra_delay_us;
}

static void deliver_later(ctk_simulator *self, int from, int to, uint8_t *data, uint32_t len,
                          double reorder) {
  uint64_t delay = link_delay_us(self, from, to);
  if (ctk_rng_chance(&self->rng, reorder))
    delay += ctk_rng_range(&self->rng, 0, (uint64_t)(self->config.sim.reorder_delay_ms * 1000));
  sim_schedule(self, self->now_us + delay, EV_DELIVER, to, from, 0, data, len);
}

/* ---- the manual network: messages wait in flight for a script ---- */

static void flight_add(ctk_simulator *self, int from, int to, uint8_t *data, uint32_t len) {
  if (sim_net_link_blocked(self, from, to)) {
    self->stats.msgs_lost++;
    free(data);
    return;
  }
  if (self->flight_n == self->flight_cap) {
    size_t cap = self->flight_cap ? self->flight_cap * 2 : 64;
    sim_flight *f = realloc(self->flight, cap * sizeof *f);
    if (!f) return free(data), sim_violation(self, "simulator out of memory");
    self->flight = f;
    self->flight_cap = cap;
  }
  self->flight[self->flight_n++] =
      (sim_flight){.from = from, .to = to, .data = data, .len = len, .sent_us = self->now_us};
}

size_t ctk_sim_in_flight(const ctk_simulator *self) { return self->flight_n; }

int ctk_sim_flight_at(const ctk_simulator *self, size_t k, int *from, int *to, const uint8_t **data,
                      uint32_t *len) {
  if (k >= self->flight_n) return -1;
  const sim_flight *f = &self->flight[k];
  *from = f->from;
  *to = f->to;
  *data = f->data;
  *len = f->len;
  return 0;
}

int ctk_sim_flight_take(ctk_simulator *self, size_t k, int drop) {
  if (k >= self->flight_n) return -1;
  sim_flight f = self->flight[k];
  memmove(&self->flight[k], &self->flight[k + 1], (self->flight_n - k - 1) * sizeof f);
  self->flight_n--;
  int lost = !self->nodes[f.to].alive || sim_net_link_blocked(self, f.from, f.to);
  if (!drop && (self->options.html || self->options.shiviz)) {
    sim_event ev = {.time = self->now_us,
                    .sent_us = f.sent_us,
                    .data = f.data,
                    .len = f.len,
                    .type = EV_DELIVER,
                    .node = f.to,
                    .from = f.from};
    sim_html_message(self, &ev, lost);
  }
  if (drop || lost) {
    self->stats.msgs_lost++;
    free(f.data);
    return drop ? 2 : 1;
  }
  self->stats.msgs_delivered++;
  sim_node_input_take(self, f.to, CTK_EVENT_MESSAGE, f.from, f.data, f.len);
  return 0;
}

void sim_net_free(ctk_simulator *self) {
  for (size_t k = 0; k < self->flight_n; k++) free(self->flight[k].data);
  free(self->flight);
  self->flight = NULL;
  self->flight_n = self->flight_cap = 0;
}

void sim_net_send_take(ctk_simulator *self, int from, int to, uint8_t *data, uint32_t len) {
  const sim_node *a = &self->nodes[from], *b = &self->nodes[to];
  self->stats.msgs_sent++;
  self->stats.bytes_sent += len;
  if (self->options.manual_network) return flight_add(self, from, to, data, len);
  double loss = max3(self->base_loss, a->extra_loss, b->extra_loss);
  if (sim_net_link_blocked(self, from, to) || ctk_rng_chance(&self->rng, loss)) {
    self->stats.msgs_lost++;
    free(data);
    return;
  }
  double reorder = max3(self->config.sim.reorder, a->extra_reorder, b->extra_reorder);
  uint8_t *copy = NULL;
  if (ctk_rng_chance(&self->rng, max3(self->config.sim.duplicate, a->extra_dup, b->extra_dup))) {
    copy = malloc(len ? len : 1);
    if (!copy) return free(data), sim_violation(self, "simulator out of memory");
    memcpy(copy, data, len);
  }
  deliver_later(self, from, to, data, len, reorder);
  if (copy) {
    self->stats.msgs_duplicated++;
    deliver_later(self, from, to, copy, len, reorder);
  }
}

/* Recomputes every node's loss, delay, duplication, reordering and slowness from the faults that
 * are active now. */
void sim_net_recompute(ctk_simulator *self) {
  double clock_rate[CTK_MAX_NODES];
  for (int i = 0; i < self->n; i++) {
    clock_rate[i] = 1;
    sim_node *node = &self->nodes[i];
    node->extra_loss = node->extra_dup = node->extra_reorder = 0;
    node->extra_delay_us = 0;
    node->slow_factor = 1;
  }
  for (int f = 0; f < self->n_faults; f++) {
    const sim_fault *fault = &self->faults[f];
    if (!fault->active) continue;
    for (int i = 0; i < self->n; i++) {
      if (fault->target != CTK_TARGET_ALL && fault->target != i) continue;
      sim_node *node = &self->nodes[i];
      const ctk_fault *spec = &fault->spec;
      switch (spec->kind) {
      case CTK_FAULT_DROP:
        if (spec->probability > node->extra_loss) node->extra_loss = spec->probability;
        break;
      case CTK_FAULT_DELAY: node->extra_delay_us += (uint64_t)(spec->delay_ms * 1000); break;
      case CTK_FAULT_DUPLICATE:
        if (spec->probability > node->extra_dup) node->extra_dup = spec->probability;
        break;
      case CTK_FAULT_REORDER:
        if (spec->probability > node->extra_reorder) node->extra_reorder = spec->probability;
        break;
      case CTK_FAULT_SLOW:
        if (spec->factor > node->slow_factor) node->slow_factor = spec->factor;
        break;
      case CTK_FAULT_CLOCK_SKEW: clock_rate[i] = spec->rate; break; /* the latest one */
      default: break;
      }
    }
  }
  for (int i = 0; i < self->n; i++) sim_node_set_clock_rate(self, i, clock_rate[i]);
}

/* ---- scripted control ---- */

void ctk_sim_block(ctk_simulator *self, int from, int to, int blocked) {
  self->scripted_block[from][to] = blocked;
  sim_timeline_note_all(self);
  sim_trace(self, "%s n%d -> n%d", blocked ? "BLOCK" : "UNBLOCK", from, to);
}

void ctk_sim_isolate(ctk_simulator *self, int node, int isolated) {
  self->nodes[node].scripted_isolated = isolated;
  sim_timeline_note_all(self);
  sim_trace(self, "%s n%d", isolated ? "ISOLATE" : "RECONNECT", node);
}

void ctk_sim_partition(ctk_simulator *self, const int *side, int n_side) {
  int in_side[CTK_MAX_NODES] = {0};
  for (int k = 0; k < n_side; k++) in_side[side[k]] = 1;
  for (int a = 0; a < self->n; a++)
    for (int b = 0; b < self->n; b++)
      if (in_side[a] != in_side[b]) self->scripted_block[a][b] = 1;
  sim_timeline_note_all(self);
  sim_trace(self, "PARTITION %d node(s) from the rest", n_side);
}

void ctk_sim_heal(ctk_simulator *self) {
  memset(self->scripted_block, 0, sizeof self->scripted_block);
  for (int i = 0; i < self->n; i++) self->nodes[i].scripted_isolated = 0;
  sim_timeline_note_all(self);
  sim_trace(self, "HEAL");
}

void ctk_sim_set_loss(ctk_simulator *self, double loss) { self->base_loss = loss; }

/* ---- the fault schedule ---- */

static int resolve_target(ctk_simulator *self, int node) {
  if (node >= 0 || node == CTK_TARGET_ALL) return node;
  if (node == CTK_TARGET_LEADER) {
    int leader = sim_current_leader(self);
    if (leader >= 0) return leader;
  }
  return (int)ctk_rng_range(&self->rng, 0, (uint64_t)self->n - 1);
}

static void partition_blocks(ctk_simulator *self, sim_fault *fault, int delta) {
  int in_side[CTK_MAX_NODES] = {0};
  for (int k = 0; k < fault->n_side; k++) in_side[fault->side[k]] = 1;
  for (int a = 0; a < self->n; a++)
    for (int b = 0; b < self->n; b++) {
      if (in_side[a] == in_side[b]) continue;
      if (fault->spec.one_way && in_side[a]) continue; /* one way: only rest -> side blocked */
      self->fault_block[a][b] += delta;
    }
}

/* Notes that fault i fires now, for the report. Draws nothing from the seed. */
static void record_fault_event(ctk_simulator *self, int i) {
  sim_fault *fault = &self->faults[i];
  /* Each fault fires once, and cap_faults <= CTK_SIM_MAX_FAULT_EVENTS (sim_faults_schedule). */
  assert(self->n_fault_events < CTK_SIM_MAX_FAULT_EVENTS);
  fault->event = self->n_fault_events++;
  self->fault_events[fault->event] = (ctk_fault_event){
      .fault_index = i < self->config.n_faults ? i : -1,
      .kind = fault->spec.kind,
      /* a partition with its side given hits that side, whatever `node` resolved to */
      .node = fault->spec.kind == CTK_FAULT_PARTITION && fault->spec.n_nodes > 0
                  ? fault->spec.nodes[0]
                  : fault->target,
      .at_us = self->now_us,
      .unavailable_ms = -1,
  };
}

void sim_fault_start(ctk_simulator *self, int i) {
  sim_fault *fault = &self->faults[i];
  if (fault->active || self->phase != PHASE_SAFETY) return;
  const ctk_fault *spec = &fault->spec;
  fault->target = resolve_target(self, spec->node);
  fault->active = 1;
  record_fault_event(self, i);
  sim_trace(self, "FAULT %s starts on %s%d for %.3f s", ctk_fault_kind_name(spec->kind),
            fault->target == CTK_TARGET_ALL ? "all " : "n",
            fault->target == CTK_TARGET_ALL ? 0 : fault->target, spec->duration_s);
  switch (spec->kind) {
  case CTK_FAULT_CRASH: sim_node_crash(self, fault->target); break;
  case CTK_FAULT_PARTITION:
    if (spec->n_nodes > 0) {
      memcpy(fault->side, spec->nodes, sizeof fault->side);
      fault->n_side = spec->n_nodes;
    } else {
      fault->side[0] = fault->target;
      fault->n_side = 1;
    }
    partition_blocks(self, fault, +1);
    break;
  case CTK_FAULT_ISOLATE: self->nodes[fault->target].isolated++; break;
  default: sim_net_recompute(self); break;
  }
  sim_timeline_note_all(self);
  if (spec->duration_s > 0)
    sim_schedule(self, self->now_us + (uint64_t)(spec->duration_s * 1e6), EV_FAULT_END, i, -1, 0,
                 NULL, 0);
}

void sim_fault_end(ctk_simulator *self, int i) {
  sim_fault *fault = &self->faults[i];
  if (!fault->active) return;
  fault->active = 0;
  self->fault_events[fault->event].healed_us = self->now_us;
  sim_trace(self, "FAULT %s heals", ctk_fault_kind_name(fault->spec.kind));
  switch (fault->spec.kind) {
  case CTK_FAULT_CRASH: sim_node_restart(self, fault->target); break;
  case CTK_FAULT_PARTITION: partition_blocks(self, fault, -1); break;
  case CTK_FAULT_ISOLATE: self->nodes[fault->target].isolated--; break;
  default: sim_net_recompute(self); break;
  }
}

void sim_faults_heal_all(ctk_simulator *self) {
  for (int i = 0; i < self->n_faults; i++) sim_fault_end(self, i);
  ctk_sim_heal(self);
}

/* Draws a fault schedule from the seed: the rate, kinds, targets and durations all come from it,
 * so one seed names one whole run (as in TigerBeetle's VOPR). */
static int sim_random_faults(ctk_simulator *self, ctk_fault **faults_out, int *n_out) {
  ctk_rng *rng = &self->rng;
  double span_s = self->config.workload.duration_s > 0 ? self->config.workload.duration_s : 10;
  double rate_per_s = 0.3 + ctk_rng_unit(rng) * 1.2;
  int n = (int)(span_s * rate_per_s + 0.5);
  if (n > CTK_MAX_FAULTS) n = CTK_MAX_FAULTS;
  ctk_fault *faults = calloc((size_t)n + 1, sizeof *faults);
  if (!faults) return -1;
  static const ctk_fault_kind kinds[] = {
      CTK_FAULT_CRASH,     CTK_FAULT_CRASH,     CTK_FAULT_CRASH,   CTK_FAULT_PARTITION,
      CTK_FAULT_PARTITION, CTK_FAULT_ISOLATE,   CTK_FAULT_ISOLATE, CTK_FAULT_DROP,
      CTK_FAULT_DELAY,     CTK_FAULT_DUPLICATE, CTK_FAULT_REORDER, CTK_FAULT_SLOW};
  for (int k = 0; k < n; k++) {
    ctk_fault *f = &faults[k];
    f->at_s = ctk_rng_unit(rng) * span_s * 0.95;
    f->kind = kinds[ctk_rng_range(rng, 0, sizeof kinds / sizeof kinds[0] - 1)];
    f->node = ctk_rng_chance(rng, 0.5) ? CTK_TARGET_LEADER : CTK_TARGET_RANDOM;
    f->duration_s = 0.1 + ctk_rng_unit(rng) * 2.9;
    switch (f->kind) {
    case CTK_FAULT_PARTITION: {
      /* A random side, of any size below the whole cluster. */
      int size = (int)ctk_rng_range(rng, 1, (uint64_t)(self->n > 1 ? self->n - 1 : 1));
      for (int s = 0; s < self->n && f->n_nodes < size; s++)
        if (ctk_rng_chance(rng, (double)(size - f->n_nodes) / (self->n - s)))
          f->nodes[f->n_nodes++] = s;
      f->one_way = ctk_rng_chance(rng, 0.25);
      break;
    }
    case CTK_FAULT_DROP:
      f->probability = 0.05 + ctk_rng_unit(rng) * 0.6;
      if (ctk_rng_chance(rng, 0.3)) f->node = CTK_TARGET_ALL;
      break;
    case CTK_FAULT_DELAY: f->delay_ms = 5 + ctk_rng_unit(rng) * 150; break;
    case CTK_FAULT_DUPLICATE:
      f->probability = 0.05 + ctk_rng_unit(rng) * 0.4;
      if (ctk_rng_chance(rng, 0.5)) f->node = CTK_TARGET_ALL;
      break;
    case CTK_FAULT_REORDER:
      f->probability = 0.1 + ctk_rng_unit(rng) * 0.5;
      f->delay_ms = 50;
      if (ctk_rng_chance(rng, 0.5)) f->node = CTK_TARGET_ALL;
      break;
    case CTK_FAULT_SLOW: f->factor = 2 + ctk_rng_unit(rng) * 30; break;
    default: break;
    }
  }
  *faults_out = faults;
  *n_out = n;
  return 0;
}

void sim_faults_schedule(ctk_simulator *self) {
  ctk_fault *drawn = NULL;
  int n_drawn = 0;
  if (self->config.sim.random_faults && sim_random_faults(self, &drawn, &n_drawn))
    return sim_violation(self, "simulator out of memory");
  self->chase_p = self->config.sim.chase_leader;
  if (self->config.sim.random_faults && ctk_rng_chance(&self->rng, 0.5)) {
    double drawn_p = 0.3 + 0.6 * ctk_rng_unit(&self->rng);
    if (drawn_p > self->chase_p) self->chase_p = drawn_p;
  }
  int total = self->config.n_faults + n_drawn;
  self->cap_faults = total + (self->chase_p > 0 ? CTK_SIM_MAX_CHASES : 0);
  assert(self->cap_faults <= CTK_SIM_MAX_FAULT_EVENTS);
  self->faults = calloc((size_t)self->cap_faults + 1, sizeof *self->faults);
  if (!self->faults) {
    free(drawn);
    return sim_violation(self, "simulator out of memory");
  }
  for (int i = 0; i < total; i++) {
    sim_fault *fault = &self->faults[i];
    fault->spec =
        i < self->config.n_faults ? self->config.faults[i] : drawn[i - self->config.n_faults];
    sim_schedule(self, (uint64_t)(fault->spec.at_s * 1e6), EV_FAULT_START, i, -1, 0, NULL, 0);
  }
  self->n_faults = total;
  free(drawn);
}

/* The leader chaser: a newly elected leader is, with probability chase_p, crashed or cut off
 * 0-20 ms later, for 50 ms to 1 s. Short-lived leaders that managed to append but not to
 * replicate are what schedules like Figure 8 of the Raft paper are made of; uniform random
 * faults at second scale almost never produce them. */
void sim_chase_leader(ctk_simulator *self, int node) {
  if (self->phase != PHASE_SAFETY || self->n_faults >= self->cap_faults ||
      !ctk_rng_chance(&self->rng, self->chase_p))
    return;
  int i = self->n_faults++;
  ctk_fault *spec = &self->faults[i].spec;
  memset(spec, 0, sizeof *spec);
  spec->kind = ctk_rng_chance(&self->rng, 0.5) ? CTK_FAULT_CRASH : CTK_FAULT_ISOLATE;
  spec->node = node;
  spec->duration_s = 0.05 + 0.95 * ctk_rng_unit(&self->rng);
  uint64_t delay_us = ctk_rng_range(&self->rng, 0, 20000);
  spec->at_s = (double)(self->now_us + delay_us) / 1e6;
  sim_schedule(self, self->now_us + delay_us, EV_FAULT_START, i, -1, 0, NULL, 0);
}
