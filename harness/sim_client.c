/* sim_client.c: the simulator's clients. Each client has one operation outstanding at a time: it
 * records the invoke, sends the command to a node (the last leader it heard of, else the next
 * node in turn; client c starts with node c % nodes, at whose site it lives), and retries the same
 * request (same sequence number, so the store applies it once) at another node after a timeout or a
 * rejection. It records ok or fail when a node answers, and info (outcome unknown) after
 * max_attempts timeouts in the safety phase; in the liveness phase it keeps trying, and the run
 * must see it finish.
 *
 * Closed loop (workload.rate = 0): a client starts its next operation as soon as one completes.
 * Open loop: requests arrive as a Poisson process of workload.rate per second and wait for a
 * free client; their latency counts from their arrival, so queueing is not hidden (no
 * coordinated omission). The history says the same: an operation's invoke is recorded at its
 * arrival (intended_us), not when a client got to send it, so latencies computed from the
 * history include the wait too. That only widens the operation's interval (its invoke comes
 * earlier, never after its sending), which the linearizability check allows; a client's
 * operations may then overlap in time, since it took a request that arrived while it was busy. */
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

#include <math.h>

#define REJECT_BACKOFF_US 10000   /* wait before retrying after a node refused the command */
#define BACKLOG_MAX       1000000 /* open-loop arrivals waiting for a client; more are shed */

int sim_clients_init(ctk_simulator *self) {
  if (ctk_workload_gen_init(&self->workload, &self->config.workload)) return -1;
  self->clients = calloc((size_t)self->n_clients + 1, sizeof *self->clients);
  if (!self->clients) return -1;
  for (int c = 0; c < self->n_clients; c++) {
    self->clients[c].target = c % self->n;
    self->clients[c].leader_hint = -1;
    self->clients[c].attempt_deadline_us = self->clients[c].timer_event_us = CTK_DEADLINE_NONE;
  }
  return 0;
}

void sim_clients_free(ctk_simulator *self) {
  free(self->clients);
  self->clients = NULL;
  free(self->backlog);
  self->backlog = NULL;
  ctk_workload_gen_free(&self->workload);
}

int sim_clients_idle(const ctk_simulator *self) {
  for (int c = 0; c < self->n_clients; c++)
    if (self->clients[c].active) return 0;
  return 1;
}

/* One-way delay between client c and a node: client_delay_ms, plus, with a latency matrix, the
 * delay between their sites. A client lives at the site of its first target, node c % nodes: a
 * client far from a leader pays the wide-area trip to it, one near its own node does not. */
static uint64_t client_link_us(const ctk_simulator *self, int c, int node) {
  uint64_t us = (uint64_t)(self->config.sim.client_delay_ms * 1000);
  if (self->config.sim.n_sites > 0) {
    int a = self->config.cluster.site_of_node[c % self->n];
    int b = self->config.cluster.site_of_node[node];
    us += (uint64_t)(self->config.sim.latency_ms[a][b] * 1000);
  }
  return us;
}

/* Makes sure the client's timer event fires by its attempt's deadline. One pending event per
 * client serves every attempt: an event that fires early (its attempt was answered and another
 * began) re-arms itself, so answered attempts leave nothing behind in the queue. */
static void client_arm_timer(ctk_simulator *self, int c) {
  sim_client *client = &self->clients[c];
  if (client->attempt_deadline_us >= client->timer_event_us) return;
  client->timer_event_us = client->attempt_deadline_us;
  sim_schedule(self, client->timer_event_us, EV_CLIENT_TIMEOUT, c, -1, 0, NULL, 0);
}

/* Sends the outstanding request to a node and arms the attempt's timeout. */
static void client_send(ctk_simulator *self, int c) {
  sim_client *client = &self->clients[c];
  int node = client->leader_hint >= 0 ? client->leader_hint : client->target;
  client->leader_hint = -1;
  client->target = node;
  if (sim_net_client_link_up(self, node)) {
    uint8_t *copy = malloc(client->cmd_len);
    if (!copy) return sim_violation(self, "simulator out of memory");
    memcpy(copy, client->cmd, client->cmd_len);
    sim_schedule(self, self->now_us + client_link_us(self, c, node), EV_CLIENT_ARRIVE, node, c, 0,
                 copy, client->cmd_len);
  }
  uint64_t timeout_us = (uint64_t)(self->config.workload.client_timeout_ms * 1000);
  client->attempt_deadline_us = self->now_us + timeout_us;
  client_arm_timer(self, c);
}

/* Adds an event of client c's outstanding operation to the history: a completion now, the invoke
 * at the operation's intended send time (the same in closed loop; its arrival in open loop). */
static void client_record(ctk_simulator *self, int c, ctk_hist_type type, const char *value) {
  sim_client *client = &self->clients[c];
  const ctk_op *op = &client->op;
  const char *expected = op->f == CTK_F_CAS && op->has_expected ? op->expected : NULL;
  const char *v = type == CTK_HIST_INVOKE && op->f == CTK_F_GET ? NULL : value;
  uint64_t time_us = type == CTK_HIST_INVOKE ? client->intended_us : self->now_us;
  if (ctk_history_add(&self->history, c, type, op->f, time_us, op->key, v, expected))
    sim_violation(self, "simulator out of memory");
}

static int open_loop(const ctk_simulator *self) { return self->config.workload.rate > 0; }

static void client_start_op(ctk_simulator *self, int c, uint64_t intended_us) {
  sim_client *client = &self->clients[c];
  if (self->phase != PHASE_SAFETY || (self->ops_budget == 0 && !open_loop(self))) {
    client->done = 1;
    return;
  }
  if (self->ops_budget > 0 && !open_loop(self)) self->ops_budget--;
  client->intended_us = intended_us;
  client->seq++;
  ctk_workload_next_op(&self->workload, &self->rng, (uint64_t)c, client->seq, &client->op);
  const ctk_op *op = &client->op;
  ctk_kv_command cmd = {.client_id = (uint64_t)c,
                        .seq = client->seq,
                        .op = op->f,
                        .key = op->key,
                        .value = op->f == CTK_F_GET ? NULL : op->value,
                        .expected = op->f == CTK_F_CAS && op->has_expected ? op->expected : NULL};
  int len = ctk_kv_encode(&cmd, client->cmd, sizeof client->cmd);
  if (len < 0) return sim_violation(self, "client %d: command does not encode", c);
  client->cmd_len = (uint32_t)len;
  client->active = 1;
  client->attempts = 0;
  self->stats.ops_invoked++;
  client_record(self, c, CTK_HIST_INVOKE, op->value);
  client_send(self, c);
}

/* EV_CLIENT_NEXT: gen 0 starts the next operation (closed loop) or takes the oldest waiting
 * arrival (open loop), gen 1 retries the outstanding one. */
void sim_client_next(ctk_simulator *self, int c, uint64_t gen) {
  sim_client *client = &self->clients[c];
  if (gen == 1) {
    if (client->active) client_send(self, c);
    return;
  }
  if (client->active || client->done) return;
  if (!open_loop(self)) return client_start_op(self, c, self->now_us);
  if (!self->backlog_n || self->phase != PHASE_SAFETY) return;
  uint64_t intended = self->backlog[self->backlog_head];
  self->backlog_head = (self->backlog_head + 1) % self->backlog_cap;
  self->backlog_n--;
  client_start_op(self, c, intended);
}

static void schedule_arrival(ctk_simulator *self) {
  double mean_us = 1e6 / self->config.workload.rate;
  double gap_us = -log(1 - ctk_rng_unit(&self->rng)) * mean_us;
  sim_schedule(self, self->now_us + (uint64_t)gap_us, EV_ARRIVAL, -1, -1, 0, NULL, 0);
}

void sim_clients_start(ctk_simulator *self) {
  if (open_loop(self)) {
    if (self->n_clients) schedule_arrival(self);
    return;
  }
  for (int c = 0; c < self->n_clients; c++)
    sim_schedule(self, (uint64_t)c * 100, EV_CLIENT_NEXT, c, -1, 0, NULL, 0);
}

/* An open-loop request arrives: a free client takes it now, or it waits in the backlog. */
void sim_client_arrival(ctk_simulator *self) {
  if (self->phase != PHASE_SAFETY || self->ops_budget == 0) return;
  if (self->ops_budget > 0) self->ops_budget--;
  schedule_arrival(self);
  for (int c = 0; c < self->n_clients; c++) {
    sim_client *client = &self->clients[c];
    if (!client->active && !client->done) return client_start_op(self, c, self->now_us);
  }
  if (self->backlog_n == self->backlog_cap) {
    size_t cap = self->backlog_cap ? self->backlog_cap * 2 : 1024;
    uint64_t *backlog = cap <= BACKLOG_MAX ? malloc(cap * sizeof *backlog) : NULL;
    if (!backlog) {
      self->stats.arrivals_shed++;
      return;
    }
    for (size_t k = 0; k < self->backlog_n; k++)
      backlog[k] = self->backlog[(self->backlog_head + k) % self->backlog_cap];
    free(self->backlog);
    self->backlog = backlog;
    self->backlog_cap = cap;
    self->backlog_head = 0;
  }
  self->backlog[(self->backlog_head + self->backlog_n++) % self->backlog_cap] = self->now_us;
}

void sim_client_timeout(ctk_simulator *self, int c, uint64_t event_us) {
  sim_client *client = &self->clients[c];
  if (event_us == client->timer_event_us) client->timer_event_us = CTK_DEADLINE_NONE;
  if (!client->active || client->attempt_deadline_us == CTK_DEADLINE_NONE) return;
  if (client->attempt_deadline_us > self->now_us) return client_arm_timer(self, c);
  client->attempt_deadline_us = CTK_DEADLINE_NONE;
  client->attempts++;
  if (self->phase == PHASE_SAFETY && client->attempts >= self->config.workload.max_attempts) {
    client->active = 0;
    self->stats.ops_info++;
    client_record(self, c, CTK_HIST_INFO, client->op.value);
    sim_schedule(self, self->now_us, EV_CLIENT_NEXT, c, -1, 0, NULL, 0);
    return;
  }
  client->target = (client->target + 1) % self->n;
  client_send(self, c);
}

void sim_client_reply(ctk_simulator *self, int c, const sim_reply *reply) {
  sim_client *client = &self->clients[c];
  if (!client->active || reply->seq != client->seq) return;
  if (reply->rejected == SIM_BUSY) { /* the right node, but full: the same one, a little later */
    client->attempt_deadline_us = CTK_DEADLINE_NONE;
    sim_schedule(self, self->now_us + REJECT_BACKOFF_US, EV_CLIENT_NEXT, c, -1, 1, NULL, 0);
    return;
  }
  if (reply->rejected) {
    /* Certainly not applied here; try the node named as leader (or the next one) shortly. */
    client->leader_hint =
        reply->leader_hint >= 0 && reply->leader_hint != client->target ? reply->leader_hint : -1;
    if (client->leader_hint < 0) client->target = (client->target + 1) % self->n;
    client->attempt_deadline_us = CTK_DEADLINE_NONE; /* until the retry is sent */
    sim_schedule(self, self->now_us + REJECT_BACKOFF_US, EV_CLIENT_NEXT, c, -1, 1, NULL, 0);
    return;
  }
  const ctk_op *op = &client->op;
  client->active = 0;
  client->attempt_deadline_us = CTK_DEADLINE_NONE;
  if (reply->leader_hint >= 0 && reply->leader_hint != client->target &&
      !self->config.workload.sticky_sessions)
    client->leader_hint = reply->leader_hint; /* the next command goes there */
  /* A read answered without a log write is in no log: the durability check is for the rest. */
  if (!reply->read_only) sim_note_acknowledged(self, c, client->seq);
  if (client->intended_us >= (uint64_t)(self->config.workload.warmup_s * 1e6))
    ctk_histogram_record(&self->stats.latency_us, self->now_us - client->intended_us);
  switch (op->f) {
  case CTK_F_GET:
    self->stats.ops_ok++;
    client_record(self, c, CTK_HIST_OK, reply->found ? reply->value : NULL);
    ctk_workload_observe(&self->workload, op->key, reply->found ? reply->value : NULL);
    break;
  case CTK_F_PUT:
    self->stats.ops_ok++;
    client_record(self, c, CTK_HIST_OK, op->value);
    ctk_workload_observe(&self->workload, op->key, op->value);
    break;
  case CTK_F_CAS:
    if (reply->ok) {
      self->stats.ops_ok++;
      ctk_workload_observe(&self->workload, op->key, op->value);
    } else {
      self->stats.ops_fail++;
    }
    client_record(self, c, reply->ok ? CTK_HIST_OK : CTK_HIST_FAIL, op->value);
    break;
  }
  sim_schedule(self, self->now_us, EV_CLIENT_NEXT, c, -1, 0, NULL, 0);
}

/* A request reaches a node: remember who waits for it there, and hand it to the protocol. */
void sim_client_arrive(ctk_simulator *self, int node, int c, const uint8_t *cmd, uint32_t len) {
  sim_node *n = &self->nodes[node];
  if (!n->alive || !sim_net_client_link_up(self, node)) return;
  ctk_kv_command decoded;
  char scratch[CTK_MAX_COMMAND_BYTES + 8];
  if (ctk_kv_decode(cmd, len, &decoded, scratch)) return;
  n->pending_seq[c] = decoded.seq;
  sim_node_input(self, node, CTK_EVENT_COMMAND, c, cmd, len);
}

void sim_node_reply(ctk_simulator *self, int node, int c, uint64_t seq, int rejected,
                    int leader_hint, int ok, int found, const char *value, int read_only) {
  if (!sim_net_client_link_up(self, node)) return;
  size_t value_len = value ? strlen(value) : 0;
  sim_reply *reply = malloc(sizeof *reply + value_len + 1);
  if (!reply) return sim_violation(self, "simulator out of memory");
  *reply = (sim_reply){.seq = seq,
                       .rejected = rejected,
                       .leader_hint = leader_hint,
                       .ok = ok,
                       .found = found,
                       .read_only = read_only};
  memcpy(reply->value, value ? value : "", value_len + 1);
  sim_schedule(self, self->now_us + client_link_us(self, c, node), EV_CLIENT_REPLY, c, node, 0,
               (uint8_t *)reply, (uint32_t)(sizeof *reply + value_len + 1));
}
