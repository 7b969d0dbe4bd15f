/* sim_admin.c: operator requests in the simulator: the add, remove, transfer and force events of
 * the fault schedule, handed to the protocol as CTK_EVENT_ADMIN, and what a forced
 * reconfiguration is allowed to break.
 *
 * add, remove and transfer go to the current leader; a node that refuses (not the leader any
 * more, a change already in progress) or no leader at all means another try SIM_ADMIN_RETRY_US
 * later, until one accepts it or the event's deadline (duration_s, else the end of the safety
 * phase) passes. force goes to every listed node that is up, at once: it is the operator's last
 * resort when a majority is gone for good, and it may lose committed entries. From then on the
 * run is marked forced: commit agreement, durability and per-key order breaking is the loss the
 * operator accepted, noted as such (FORCED LOSS in the trace and the report) instead of stopping
 * the run, so that the linearizability checker judges what the clients saw. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

#define SIM_ADMIN_RETRY_US 50000

int sim_fault_is_admin(ctk_fault_kind kind) {
  return kind == CTK_FAULT_ADD || kind == CTK_FAULT_REMOVE || kind == CTK_FAULT_TRANSFER ||
         kind == CTK_FAULT_FORCE;
}

/* "add 3", "remove 0", "transfer 2", "force 0,1". */
static int admin_request(const sim_fault *fault, char *buf, size_t len) {
  const ctk_fault *spec = &fault->spec;
  if (spec->kind != CTK_FAULT_FORCE)
    return snprintf(buf, len, "%s %d", ctk_fault_kind_name(spec->kind), fault->target);
  int n = snprintf(buf, len, "force ");
  for (int k = 0; k < spec->n_nodes && n > 0 && (size_t)n < len; k++)
    n += snprintf(buf + n, len - (size_t)n, "%s%d", k ? "," : "", spec->nodes[k]);
  return n;
}

static void admin_deliver(ctk_simulator *self, int i, int node) {
  char req[128];
  int len = admin_request(&self->faults[i], req, sizeof req);
  if (len <= 0 || (size_t)len >= sizeof req) return;
  sim_node_input(self, node, CTK_EVENT_ADMIN, i, (const uint8_t *)req, (uint32_t)len);
}

/* A node drawn from the seed among those the request can apply to, as the leader sees the
 * members: add one that is not a member, remove a member, transfer to another voter. -1: none. */
static int admin_pick(ctk_simulator *self, ctk_fault_kind kind, int leader) {
  ctk_status st;
  ctk_sim_status(self, leader, &st);
  uint32_t all = (uint32_t)((1ull << self->n) - 1);
  uint32_t voters = st.members ? st.members & all : all;
  uint32_t candidates = kind == CTK_FAULT_ADD      ? all & ~(voters | st.learners)
                        : kind == CTK_FAULT_REMOVE ? voters | st.learners
                                                   : voters & ~(1u << leader);
  int n = __builtin_popcount(candidates);
  if (!n) return -1;
  int k = (int)ctk_rng_range(&self->rng, 0, (uint64_t)n - 1);
  for (int i = 0; i < self->n; i++)
    if (candidates >> i & 1 && k-- == 0) return i;
  return -1;
}

static void admin_try(ctk_simulator *self, int i) {
  sim_fault *fault = &self->faults[i];
  if (!fault->active || self->phase != PHASE_SAFETY) return;
  const char *kind = ctk_fault_kind_name(fault->spec.kind);
  if (self->now_us > fault->admin_deadline_us) {
    fault->active = 0;
    sim_trace(self, "ADMIN %s given up: no leader accepted it in time", kind);
    return;
  }
  int leader = sim_current_leader(self);
  if (leader < 0) {
    sim_schedule(self, self->now_us + SIM_ADMIN_RETRY_US, EV_ADMIN_RETRY, i, -1, 0, NULL, 0);
    return;
  }
  if (fault->target == CTK_TARGET_LEADER) {
    fault->target = leader;
    self->fault_events[fault->event].node = leader;
  }
  if (fault->target == CTK_TARGET_RANDOM) {
    fault->target = admin_pick(self, fault->spec.kind, leader);
    if (fault->target < 0) {
      fault->active = 0;
      sim_trace(self, "ADMIN %s skipped: no node it applies to", kind);
      return;
    }
    self->fault_events[fault->event].node = fault->target;
    sim_trace(self, "ADMIN %s: n%d drawn", kind, fault->target);
  }
  admin_deliver(self, i, leader);
}

/* sim.random_membership: 2 to 6 operator requests (add, remove or transfer of a node drawn when
 * the request reaches a leader) at times drawn over the safety phase, appended to *faults. */
int sim_admin_random(ctk_simulator *self, ctk_fault **faults, int *n, int max) {
  ctk_rng *rng = &self->rng;
  double span_s = self->config.workload.duration_s > 0 ? self->config.workload.duration_s : 10;
  int m = (int)ctk_rng_range(rng, 2, 6);
  if (m > max) m = max;
  ctk_fault *grown = realloc(*faults, ((size_t)*n + (size_t)m + 1) * sizeof *grown);
  if (!grown) return -1;
  *faults = grown;
  for (int k = 0; k < m; k++) {
    ctk_fault *f = &grown[(*n)++];
    memset(f, 0, sizeof *f);
    double u = ctk_rng_unit(rng);
    f->kind = u < 0.4 ? CTK_FAULT_ADD : u < 0.75 ? CTK_FAULT_REMOVE : CTK_FAULT_TRANSFER;
    f->node = CTK_TARGET_RANDOM;
    f->at_s = (0.05 + 0.85 * ctk_rng_unit(rng)) * span_s;
    f->duration_s = 2;
    f->factor = 1;
  }
  return 0;
}

void sim_admin_start(ctk_simulator *self, int i) {
  sim_fault *fault = &self->faults[i];
  const ctk_fault *spec = &fault->spec;
  fault->admin_deadline_us = spec->duration_s > 0
                                 ? self->now_us + (uint64_t)(spec->duration_s * 1e6)
                                 : self->safety_end_us;
  char req[128];
  admin_request(fault, req, sizeof req);
  if (spec->kind != CTK_FAULT_FORCE) {
    sim_trace(self, "ADMIN %s requested",
              fault->target >= 0 ? req : ctk_fault_kind_name(spec->kind));
    admin_try(self, i);
    return;
  }
  self->forced++;
  sim_trace(self,
            "ADMIN %s: FORCED reconfiguration (UNSAFE): the listed nodes become the members "
            "without a quorum of the old ones; committed entries held only by the others may be "
            "lost",
            req);
  for (int k = 0; k < spec->n_nodes; k++)
    if (self->nodes[spec->nodes[k]].alive) admin_deliver(self, i, spec->nodes[k]);
  fault->active = 0;
  self->fault_events[fault->event].healed_us = self->now_us;
}

void sim_admin_retry(ctk_simulator *self, int i) { admin_try(self, i); }

void sim_admin_result(ctk_simulator *self, int node, int i, int rc) {
  if (i < 0 || i >= self->n_faults) return;
  sim_fault *fault = &self->faults[i];
  if (fault->spec.kind == CTK_FAULT_FORCE) {
    if (rc != CTK_OK) sim_trace(self, "ADMIN force refused by n%d (%d)", node, rc);
    return;
  }
  if (!fault->active) return;
  if (rc == CTK_OK) {
    fault->active = 0;
    self->fault_events[fault->event].healed_us = self->now_us;
    sim_trace(self, "ADMIN %s %d accepted by n%d", ctk_fault_kind_name(fault->spec.kind),
              fault->target, node);
  } else if (rc == CTK_ERR_REJECTED || rc == CTK_ERR_BUSY) {
    sim_schedule(self, self->now_us + SIM_ADMIN_RETRY_US, EV_ADMIN_RETRY, i, -1, 0, NULL, 0);
  } else {
    fault->active = 0;
    sim_trace(self, "ADMIN %s %d refused by n%d as invalid or unsupported",
              ctk_fault_kind_name(fault->spec.kind), fault->target, node);
  }
}

/* "{0,1,2}" */
static void format_set(uint32_t set, char *buf, size_t len) {
  size_t off = (size_t)snprintf(buf, len, "{");
  for (int i = 0; i < CTK_MAX_NODES && off < len; i++)
    if (set >> i & 1) off += (size_t)snprintf(buf + off, len - off, "%s%d", off > 1 ? "," : "", i);
  if (off < len) snprintf(buf + off, len - off, "}");
}

void sim_admin_note_members(ctk_simulator *self, int node, const ctk_status *st) {
  sim_node *n = &self->nodes[node];
  if (n->seen_members == st->members && n->seen_learners == st->learners) return;
  int first = !n->seen_members && !n->seen_learners;
  n->seen_members = st->members;
  n->seen_learners = st->learners;
  if (first) return;
  char voters[64], learners[64];
  format_set(st->members, voters, sizeof voters);
  format_set(st->learners, learners, sizeof learners);
  sim_trace(self, "n%d MEMBERS voters %s learners %s", node, voters, learners);
}

void sim_safety_violation(ctk_simulator *self, const char *fmt, ...) {
  char text[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  if (!self->forced) {
    sim_violation(self, "%s", text);
    return;
  }
  if (!self->forced_loss[0]) snprintf(self->forced_loss, sizeof self->forced_loss, "%s", text);
  if (++self->forced_losses <= 10)
    sim_trace(self, "FORCED LOSS %s", text);
  else if (self->forced_losses == 11)
    sim_trace(self, "FORCED LOSS: more of them, not traced");
}
