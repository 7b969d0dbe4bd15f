/* sim_node.c: one simulated node: its input queue, protocol steps, simulated disk, the output
 * it holds back until that disk has synced, crash and restart.
 *
 * A node works through its input queue in batches: each input is one protocol step of step_us;
 * what the batch persisted is synced in one go (group commit, disk_sync_us), and only then do the
 * batch's messages leave and its commits reach the state machine and the clients. A crash before
 * the sync completes loses the batch: its messages never leave, its bytes are lost or torn. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

#define SIM_BATCH_MAX 64     /* inputs one node handles before its group commit */
#define SIM_INBOX_MAX 100000 /* a node's input queue; more is dropped (and counted as lost) */

static uint8_t *copy_bytes(const uint8_t *data, size_t len) {
  uint8_t *p = malloc(len ? len : 1);
  if (p && len) memcpy(p, data, len);
  return p;
}

static uint64_t scaled_us(double us, double factor) { return (uint64_t)(us * factor + 0.5); }

/* ---- the node's clock ---- */

/* What the node's clock reads at real time real_us; never less than it read before. */
static uint64_t local_us(ctk_simulator *self, int i, uint64_t real_us) {
  sim_node *node = &self->nodes[i];
  uint64_t since = real_us > node->clock_base_real_us ? real_us - node->clock_base_real_us : 0;
  uint64_t local = node->clock_rate == 1
                       ? node->clock_base_local_us + since
                       : node->clock_base_local_us + (uint64_t)((double)since * node->clock_rate);
  if (local < node->clock_last_local_us) local = node->clock_last_local_us;
  node->clock_last_local_us = local;
  return local;
}

/* The first real time at which the node's clock reads local_us (deadlines it asked for). */
static uint64_t real_of_local_us(const sim_node *node, uint64_t local) {
  if (local == CTK_DEADLINE_NONE) return CTK_DEADLINE_NONE;
  if (local <= node->clock_base_local_us) return node->clock_base_real_us;
  uint64_t ahead = local - node->clock_base_local_us;
  if (node->clock_rate == 1) return node->clock_base_real_us + ahead;
  double real = (double)ahead / node->clock_rate;
  if (real > 1e18) return CTK_DEADLINE_NONE;
  return node->clock_base_real_us + (uint64_t)real + 1;
}

static void arm_timer(ctk_simulator *self, int i);

void sim_node_set_clock_rate(ctk_simulator *self, int i, double rate) {
  sim_node *node = &self->nodes[i];
  if (rate == node->clock_rate) return;
  uint64_t now_local = local_us(self, i, self->now_us);
  node->clock_base_real_us = self->now_us;
  node->clock_base_local_us = now_local;
  node->clock_rate = rate;
  sim_trace(self, "n%d CLOCK runs at %.3f x real time", i, rate);
  if (node->deadline_local_us == CTK_DEADLINE_NONE || node->deadline_us == CTK_DEADLINE_NONE)
    return;
  node->deadline_us = real_of_local_us(node, node->deadline_local_us);
  arm_timer(self, i); /* earlier: a new event; later: the pending one re-arms when it fires */
}

/* ---- node inputs ---- */

static void node_schedule_run(ctk_simulator *self, int i) {
  sim_node *node = &self->nodes[i];
  if (node->run_scheduled || node->syncing || !node->inbox_n || !node->alive) return;
  node->run_scheduled = 1;
  sim_schedule(self, self->now_us, EV_NODE_RUN, i, -1, node->incarnation, NULL, 0);
}

void sim_node_input(ctk_simulator *self, int i, ctk_event_kind kind, int from, const uint8_t *data,
                    uint32_t len) {
  uint8_t *copy = NULL;
  if (data && !(copy = copy_bytes(data, len)))
    return sim_violation(self, "simulator out of memory");
  sim_node_input_take(self, i, kind, from, copy, len);
}

void sim_node_input_take(ctk_simulator *self, int i, ctk_event_kind kind, int from, uint8_t *data,
                         uint32_t len) {
  sim_node *node = &self->nodes[i];
  if (!node->alive || node->inbox_n >= SIM_INBOX_MAX) {
    if (node->alive) self->stats.msgs_lost++;
    free(data);
    return;
  }
  if (node->inbox_n == node->inbox_cap) {
    size_t cap = node->inbox_cap ? node->inbox_cap * 2 : 64;
    sim_input *inbox = malloc(cap * sizeof *inbox);
    if (!inbox) {
      free(data);
      sim_violation(self, "simulator out of memory");
      return;
    }
    for (size_t k = 0; k < node->inbox_n; k++)
      inbox[k] = node->inbox[(node->inbox_head + k) % node->inbox_cap];
    free(node->inbox);
    node->inbox = inbox;
    node->inbox_cap = cap;
    node->inbox_head = 0;
  }
  sim_input *in = &node->inbox[(node->inbox_head + node->inbox_n) % node->inbox_cap];
  in->kind = kind;
  in->from = from;
  in->data = data;
  in->len = len;
  in->index = 0;
  node->inbox_n++;
  node_schedule_run(self, i);
}

static int node_pop_input(sim_node *node, sim_input *in) {
  if (!node->inbox_n) return 0;
  *in = node->inbox[node->inbox_head];
  node->inbox_head = (node->inbox_head + 1) % node->inbox_cap;
  node->inbox_n--;
  return 1;
}

/* Queues an input ahead of all others (a snapshot the protocol asked for is handed back "at
 * once"). The input's data is taken. */
static void inbox_push_front(ctk_simulator *self, int i, sim_input in) {
  sim_node *node = &self->nodes[i];
  sim_node_input_take(self, i, in.kind, in.from, in.data, in.len); /* makes room, schedules */
  if (!node->inbox_n) return;                                      /* dropped */
  size_t last = (node->inbox_head + node->inbox_n - 1) % node->inbox_cap;
  node->inbox[last].index = in.index;
  /* Rotate the new last input to the front. */
  sim_input moved = node->inbox[last];
  for (size_t k = node->inbox_n - 1; k > 0; k--)
    node->inbox[(node->inbox_head + k) % node->inbox_cap] =
        node->inbox[(node->inbox_head + k - 1) % node->inbox_cap];
  node->inbox[node->inbox_head] = moved;
}

/* Makes sure an EV_TIMER event fires at the deadline (or now, for one already past). The time
 * recorded is the event's own, clamped like sim_schedule clamps it, so that sim_node_timer
 * recognizes the event when it fires (a deadline in the past once left the timer dead: found by
 * a 3-node sweep, seed 131). */
static void arm_timer(ctk_simulator *self, int i) {
  sim_node *node = &self->nodes[i];
  if (node->deadline_us == CTK_DEADLINE_NONE) return;
  uint64_t at = node->deadline_us < self->now_us ? self->now_us : node->deadline_us;
  if (at >= node->timer_event_us) return;
  node->timer_event_us = at;
  sim_schedule(self, at, EV_TIMER, i, -1, node->incarnation, NULL, 0);
}

static void node_set_timer(ctk_simulator *self, int i, uint64_t deadline) {
  sim_node *node = &self->nodes[i];
  /* Deadlines mostly move later (every heartbeat pushes a follower's election deadline back), so
   * one pending timer event serves: when it fires early it re-arms itself at the deadline. Only
   * a deadline earlier than the pending event needs a new one. */
  node->deadline_local_us = deadline;
  node->deadline_us = real_of_local_us(node, deadline);
  arm_timer(self, i);
}

/* ---- holding a batch's output until its sync ---- */

/* early: the step is one of a batch (sim_node_run), whose early messages may leave before its
 * sync; a step taken on its own (step_now) sends everything after the sync. */
static void node_hold(ctk_simulator *self, int i, const ctk_output *out, int early) {
  sim_node *node = &self->nodes[i];
  if (node->n_held_msgs + out->n_messages > node->cap_held_msgs) {
    size_t cap = (node->n_held_msgs + out->n_messages) * 2;
    sim_held_message *m = realloc(node->held_msgs, cap * sizeof *m);
    if (!m) return sim_violation(self, "simulator out of memory");
    node->held_msgs = m;
    node->cap_held_msgs = cap;
  }
  for (size_t k = 0; k < out->n_messages; k++) {
    const ctk_message *msg = &out->messages[k];
    if (msg->to < 0 || msg->to >= self->n || msg->to == i) {
      sim_violation(self, "node %d sent a message to invalid node %d", i, msg->to);
      continue;
    }
    sim_held_message *h = &node->held_msgs[node->n_held_msgs++];
    h->to = msg->to;
    h->early = early && k < out->n_messages_early;
    if (h->early) node->n_held_early++;
    h->len = (uint32_t)msg->bytes.len;
    h->data = copy_bytes(msg->bytes.data, msg->bytes.len);
  }
  /* + the reads, a restore and a snapshot */
  size_t need = node->n_held_commits + out->n_commits + out->n_reads + 2;
  if (need > node->cap_held_commits) {
    size_t cap = need * 2;
    sim_held_commit *c = realloc(node->held_commits, cap * sizeof *c);
    if (!c) return sim_violation(self, "simulator out of memory");
    node->held_commits = c;
    node->cap_held_commits = cap;
  }
  if (out->restore_index) {
    sim_held_commit *h = &node->held_commits[node->n_held_commits++];
    *h = (sim_held_commit){HELD_RESTORE, out->restore_index,
                           copy_bytes(out->restore.data, out->restore.len),
                           (uint32_t)out->restore.len};
  }
  for (size_t k = 0; k < out->n_commits; k++) {
    const ctk_commit *c = &out->commits[k];
    sim_held_commit *h = &node->held_commits[node->n_held_commits++];
    h->kind = HELD_COMMIT;
    h->index = c->index;
    h->len = (uint32_t)c->command.len;
    h->data = copy_bytes(c->command.data, c->command.len);
  }
  /* Reads answered without a log write go in the same queue, after this step's commits: the
   * host executes them once those are applied (protocol.h). */
  for (size_t k = 0; k < out->n_reads; k++) {
    sim_held_commit *h = &node->held_commits[node->n_held_commits++];
    *h = (sim_held_commit){HELD_READ, 0, copy_bytes(out->reads[k].data, out->reads[k].len),
                           (uint32_t)out->reads[k].len};
  }
  if (out->snapshot_wanted)
    node->held_commits[node->n_held_commits++] =
        (sim_held_commit){HELD_SNAPSHOT, out->snapshot_wanted, NULL, 0};
}

/* Replaces the node's store with a protocol's snapshot. */
static void node_restore(ctk_simulator *self, int i, const sim_held_commit *r) {
  sim_node *node = &self->nodes[i];
  if (ctk_kv_restore(node->kv, r->data, r->len))
    return sim_violation(self, "node %d restored a snapshot that does not decode (%u bytes)", i,
                         r->len);
  /* The commits that follow continue after the snapshot (protocol.h); a restore never goes back
   * over what this incarnation committed. Checked here, in order with the commits, once the
   * step's sync released them. */
  if (r->index <= node->committed)
    return sim_violation(
        self, "n%d restored a snapshot through index %" PRIu64 " after committing index %" PRIu64,
        i, r->index, node->committed);
  node->committed = r->index;
  self->stats.snapshots_restored++;
  node->applied = r->index;
  /* Known by its bytes and its index (sim_order.c): the same bytes stand at two indexes when the
   * later commits changed nothing in the store (multipaxos-snapshot-sweep seed 147). */
  sim_order_snapshot_restored(self, i, XXH3_64bits(r->data, r->len), r->index);
  sim_trace(self, "n%d RESTORE snapshot through index %" PRIu64 " (%u bytes)", i, r->index, r->len);
}

static void inbox_push_front(ctk_simulator *self, int i, sim_input in);

/* Takes the snapshot the protocol asked for, once the store reflects exactly the commits through
 * the index asked for, and hands it to the protocol ahead of every other input. */
static void node_snapshot(ctk_simulator *self, int i, uint64_t index) {
  sim_node *node = &self->nodes[i];
  if (node->applied != index)
    return sim_violation(self,
                         "node %d asked for a snapshot at index %" PRIu64
                         " but its state machine is at %" PRIu64,
                         i, index, node->applied);
  uint8_t *bytes;
  size_t len;
  if (ctk_kv_serialize(node->kv, &bytes, &len) || len > UINT32_MAX)
    return sim_violation(self, "simulator out of memory");
  self->stats.snapshots_taken++;
  if (len > self->stats.snapshot_bytes_max) self->stats.snapshot_bytes_max = len;
  sim_order_snapshot_taken(self, i, XXH3_64bits(bytes, len), index);
  inbox_push_front(self, i,
                   (sim_input){.kind = CTK_EVENT_SNAPSHOT,
                               .from = -1,
                               .data = bytes,
                               .len = (uint32_t)len,
                               .index = index});
}

/* Answers the client waiting here for this result, if any. */
static void node_answer(ctk_simulator *self, int i, const ctk_kv_result *result, int read_only) {
  sim_node *node = &self->nodes[i];
  if (result->client_id >= (uint64_t)self->n_clients) return;
  int client = (int)result->client_id;
  if (node->pending_seq[client] != result->seq) return;
  node->pending_seq[client] = 0;
  /* Like a real node (node.c): a follower that answered a forwarded command names the leader, so
   * the client's next command skips the extra hops. */
  ctk_status st;
  sim_status(self, i, &st);
  int hint = st.leader_id >= 0 && st.leader_id < self->n && st.leader_id != i ? st.leader_id : -1;
  sim_node_reply(self, i, client, result->seq, 0, hint, result->ok, result->found,
                 result->found ? result->value : NULL, read_only);
}

/* Executes a read the protocol answered without a log write, changing nothing. */
static void node_read(ctk_simulator *self, int i, const sim_held_commit *c) {
  ctk_kv_result result;
  self->stats.reads_without_log++;
  if (ctk_kv_read(self->nodes[i].kv, c->data, c->len, &result))
    return sim_violation(self, "node %d answered a read that is not a get", i);
  node_answer(self, i, &result, 1);
}

/* Applies a committed command to the node's store and answers the client waiting here, if any. */
static void node_apply(ctk_simulator *self, int i, const sim_held_commit *c) {
  sim_node *node = &self->nodes[i];
  /* Checked once released, like the order below: a commit emitted in the step that persisted
   * its entry (a leader that is its cluster's only voter) and lost with that step's unsynced
   * bytes in a crash never took effect (raft-membership-sweep seed 133). */
  sim_check_commit(self, i, c->index, c->data, c->len);
  node->applied = c->index;
  if (c->len == 0) return; /* a protocol no-op */
  /* Checked here, once applied: output a crash dropped before its sync never happened (a
   * command leader's fast-path commit that was not yet durable, then recovered differently:
   * epaxos-sweep seeds 1022 and 1148 of 2000 when this was checked at emission). */
  sim_order_note(self, i, c->data, c->len);
  ctk_kv_result result;
  int duplicate;
  if (ctk_kv_apply(node->kv, c->data, c->len, &result, &duplicate)) {
    sim_violation(self, "node %d committed an undecodable command at index %" PRIu64, i, c->index);
    return;
  }
  node_answer(self, i, &result, 0);
}

static void node_release(ctk_simulator *self, int i) {
  sim_node *node = &self->nodes[i];
  for (size_t k = 0; k < node->n_held_msgs; k++) {
    sim_held_message *m = &node->held_msgs[k];
    if (!m->data) continue; /* an early message, sent already */
    node->msgs_sent++;
    node->msgs_sent_to[m->to]++;
    sim_net_send_take(self, i, m->to, m->data, m->len);
  }
  node->n_held_msgs = 0;
  node->n_held_early = 0;
  for (size_t k = 0; k < node->n_held_commits; k++) {
    const sim_held_commit *h = &node->held_commits[k];
    if (h->kind == HELD_COMMIT)
      node_apply(self, i, h);
    else if (h->kind == HELD_READ)
      node_read(self, i, h);
    else if (h->kind == HELD_RESTORE)
      node_restore(self, i, h);
    else
      node_snapshot(self, i, h->index);
    free(node->held_commits[k].data);
  }
  node->n_held_commits = 0;
}

/* The batch's early messages leave now, while its sync goes on. */
void sim_node_send_early(ctk_simulator *self, int i) {
  sim_node *node = &self->nodes[i];
  for (size_t k = 0; k < node->n_held_msgs && node->n_held_early; k++) {
    sim_held_message *m = &node->held_msgs[k];
    if (!m->early || !m->data) continue;
    node->msgs_sent++;
    node->msgs_sent_to[m->to]++;
    sim_net_send_take(self, i, m->to, m->data, m->len);
    m->data = NULL;
    node->n_held_early--;
  }
}

static void node_drop_held(sim_node *node) {
  node->n_held_early = 0;
  for (size_t k = 0; k < node->n_held_msgs; k++) free(node->held_msgs[k].data);
  for (size_t k = 0; k < node->n_held_commits; k++) free(node->held_commits[k].data);
  node->n_held_msgs = node->n_held_commits = 0;
}

/* ---- stepping ---- */

static const char *event_kind_name(ctk_event_kind k) {
  switch (k) {
  case CTK_EVENT_START: return "start";
  case CTK_EVENT_MESSAGE: return "message";
  case CTK_EVENT_TIMEOUT: return "timeout";
  case CTK_EVENT_COMMAND: return "command";
  case CTK_EVENT_SNAPSHOT: return "snapshot";
  case CTK_EVENT_ADMIN: return "admin";
  }
  return "?";
}

static void node_step(ctk_simulator *self, int i, sim_input *in, uint64_t now) {
  sim_node *node = &self->nodes[i];
  ctk_event ev = {.kind = in->kind,
                  .now_us = local_us(self, i, now),
                  .from = in->from,
                  .bytes = {in->data, in->len},
                  .index = in->index};
  if (in->kind == CTK_EVENT_COMMAND || in->kind == CTK_EVENT_ADMIN) ev.from = -1;
  ctk_output out = {0}; /* n_messages_early stays 0 for an older protocol */
  self->stats.steps++;
  int rc = self->proto->step(node->proto, &ev, &out);
  XXH3_64bits_update(self->trace_state, &now, sizeof now);
  XXH3_64bits_update(self->trace_state, &i, sizeof i);
  XXH3_64bits_update(self->trace_state, &in->kind, sizeof in->kind);
  XXH3_64bits_update(self->trace_state, &rc, sizeof rc);
  if (in->len) XXH3_64bits_update(self->trace_state, in->data, in->len);
  if (in->kind == CTK_EVENT_MESSAGE) {
    /* Hashed above in binary; the text line goes to the trace file only. */
    if (self->options.trace) {
      char desc[256];
      if (self->proto->describe(in->data, in->len, desc, sizeof desc) < 0)
        snprintf(desc, sizeof desc, "(malformed, %u bytes)", in->len);
      fprintf(self->options.trace, "%10.6f n%d <- n%d %s%s\n", (double)now / 1e6, i, in->from, desc,
              rc == CTK_ERR_MALFORMED ? " REJECTED" : "");
    }
  } else if (in->kind != CTK_EVENT_TIMEOUT) {
    sim_trace(self, "n%d %s (%u bytes)%s", i, event_kind_name(in->kind), in->len,
              rc == CTK_ERR_REJECTED ? " rejected"
              : rc == CTK_ERR_BUSY   ? " busy"
                                     : "");
  } else if (self->options.trace) {
    fprintf(self->options.trace, "%10.6f n%d timeout\n", (double)now / 1e6, i);
  }
  if (in->kind == CTK_EVENT_ADMIN) sim_admin_result(self, i, in->from, rc);
  if (rc == CTK_ERR_MALFORMED) self->stats.msgs_malformed++;
  if ((rc == CTK_ERR_REJECTED || rc == CTK_ERR_BUSY) && in->kind == CTK_EVENT_COMMAND) {
    self->stats.commands_rejected++;
    if (rc == CTK_ERR_BUSY) self->stats.commands_busy++;
    ctk_status st;
    sim_status(self, i, &st);
    int client = in->from;
    if (client >= 0 && client < self->n_clients) {
      node->pending_seq[client] = 0;
      ctk_kv_command cmd;
      char scratch[CTK_MAX_COMMAND_BYTES + 8];
      if (in->len <= CTK_MAX_COMMAND_BYTES && !ctk_kv_decode(in->data, in->len, &cmd, scratch))
        sim_node_reply(self, i, client, cmd.seq, rc == CTK_ERR_BUSY ? SIM_BUSY : SIM_REFUSED,
                       st.leader_id, 0, 0, NULL, 0);
    }
  }
  if (rc != CTK_OK && (out.persist.len || out.n_messages || out.n_commits || out.n_reads))
    sim_violation(self, "node %d returned %d from a step but produced output", i, rc);
  if (out.n_messages_early > out.n_messages)
    sim_violation(self, "node %d marked %zu of its %zu messages early", i, out.n_messages_early,
                  out.n_messages);
  if (rc == CTK_ERR_CORRUPT) sim_violation(self, "node %d could not recover its durable state", i);
  if (rc != CTK_OK) return;
  if (out.persist.len || out.persist_replace) {
    if (out.persist_replace) {
      wire_writer_reset(&node->pending);
      node->pending_replace = 1;
    }
    wire_put_bytes(&node->pending, out.persist.data, out.persist.len);
  }
  node_hold(self, i, &out, 1);
  ctk_status st;
  sim_status(self, i, &st);
  sim_check_status(self, i, &st);
  sim_timeline_note(self, i);
  node_set_timer(self, i, out.next_deadline_us);
}

/* Works through up to SIM_BATCH_MAX queued inputs, then syncs once and releases the output. */
void sim_node_run(ctk_simulator *self, int i) {
  sim_node *node = &self->nodes[i];
  node->run_scheduled = 0;
  if (!node->alive || node->syncing) return;
  double slow = node->slow_factor;
  uint64_t t = self->now_us;
  sim_input in;
  for (int k = 0; k < SIM_BATCH_MAX && node_pop_input(node, &in); k++) {
    t += scaled_us(self->config.sim.step_us, slow);
    node_step(self, i, &in, t);
    free(in.data);
    if (!node->alive) return; /* cannot happen today; keeps the loop honest */
  }
  if (node->pending.len || node->pending_replace) {
    node->syncing = 1;
    /* Thesis 10.2.1: a leader's AppendEntries (Accepts) leave as its own write starts. */
    if (node->n_held_early) sim_schedule(self, t, EV_EARLY_SEND, i, -1, node->incarnation, NULL, 0);
    t += scaled_us(self->config.sim.disk_sync_us, slow);
    sim_schedule(self, t, EV_SYNC_DONE, i, -1, node->incarnation, NULL, 0);
  } else {
    /* Nothing to sync: the output leaves when the batch's processing time has passed. */
    node->syncing = 1;
    sim_schedule(self, t, EV_SYNC_DONE, i, -1, node->incarnation, NULL, 0);
  }
}

void sim_node_sync_done(ctk_simulator *self, int i) {
  sim_node *node = &self->nodes[i];
  if (node->pending.len || node->pending_replace) {
    self->stats.syncs++;
    self->stats.bytes_persisted += node->pending.len;
    if (node->pending_replace) wire_writer_reset(&node->durable);
    wire_put_bytes(&node->durable, node->pending.data, node->pending.len);
    if (node->durable.len > self->stats.durable_bytes_max)
      self->stats.durable_bytes_max = node->durable.len;
    wire_writer_reset(&node->pending);
    node->pending_replace = 0;
  }
  node->syncing = 0;
  node_release(self, i);
  node_schedule_run(self, i);
}

/* ---- crash and restart ---- */

void sim_node_crash(ctk_simulator *self, int i) {
  sim_node *node = &self->nodes[i];
  if (!node->alive) return;
  node->alive = 0;
  node->incarnation++;
  self->stats.crashes++;
  ctk_counts_add_proto(&self->counters, self->proto, node->proto);
  self->proto->destroy(node->proto);
  node->proto = NULL;
  sim_input in;
  while (node_pop_input(node, &in)) free(in.data);
  node_drop_held(node);
  /* Unsynced bytes are lost; with torn writes a prefix of an append may have reached the disk. */
  size_t kept = 0;
  if (node->syncing && node->pending.len && !node->pending_replace && self->config.sim.torn_writes)
    kept = (size_t)ctk_rng_range(&self->rng, 0, node->pending.len);
  if (kept) wire_put_bytes(&node->durable, node->pending.data, kept);
  wire_writer_reset(&node->pending);
  node->pending_replace = 0;
  node->syncing = 0;
  node->run_scheduled = 0;
  ctk_kv_destroy(&node->kv);
  memset(node->pending_seq, 0, (size_t)self->n_clients * sizeof *node->pending_seq);
  node->deadline_us = node->deadline_local_us = node->timer_event_us = CTK_DEADLINE_NONE;
  sim_trace(self, "n%d CRASH (kept %zu of the unsynced bytes)", i, kept);
  sim_timeline_note(self, i);
}

int sim_node_create(ctk_simulator *self, int i, char *err, size_t err_len) {
  sim_node *node = &self->nodes[i];
  ctk_node_config nc = {
      .node_id = i,
      .n_nodes = self->n,
      .members = self->config.cluster.members,
      .seed = self->config.seed * 1000003u + (uint64_t)i * 7919u + node->incarnation * 104729u};
  node->proto = self->proto->create(&nc, self->options_copy, err, err_len);
  if (!node->proto) return -1;
  node->kv = ctk_kv_new();
  if (!node->kv) return -1;
  node->alive = 1;
  node->applied = node->committed = node->last_commit_status = 0;
  sim_order_node_reset(self, i);
  node->deadline_us = node->deadline_local_us = node->timer_event_us = CTK_DEADLINE_NONE;
  sim_node_input(self, i, CTK_EVENT_START, -1, node->durable.data, (uint32_t)node->durable.len);
  return 0;
}

void sim_node_restart(ctk_simulator *self, int i) {
  sim_node *node = &self->nodes[i];
  if (node->alive || node->lost) return;
  char err[256];
  self->stats.restarts++;
  sim_trace(self, "n%d RESTART from %zu durable bytes", i, node->durable.len);
  if (sim_node_create(self, i, err, sizeof err))
    sim_violation(self, "n%d failed to restart: %s", i, err);
}

/* Steps node at once, outside the input queue, so the caller sees the protocol's answer. */
static int step_now(ctk_simulator *self, int node, ctk_event_kind kind, const uint8_t *data,
                    size_t len) {
  sim_node *n = &self->nodes[node];
  ctk_event ev = {
      .kind = kind, .now_us = local_us(self, node, self->now_us), .from = -1, .bytes = {data, len}};
  ctk_output out = {0};
  int rc = self->proto->step(n->proto, &ev, &out);
  if (rc != CTK_OK) return rc;
  if (out.persist_replace) {
    wire_writer_reset(&n->pending);
    n->pending_replace = 1;
  }
  wire_put_bytes(&n->pending, out.persist.data, out.persist.len);
  node_hold(self, node, &out, 0);
  ctk_status st;
  sim_status(self, node, &st);
  sim_check_status(self, node, &st);
  node_set_timer(self, node, out.next_deadline_us);
  if (!n->syncing) {
    n->syncing = 1;
    sim_schedule(self, self->now_us + scaled_us(self->config.sim.disk_sync_us, n->slow_factor),
                 EV_SYNC_DONE, node, -1, n->incarnation, NULL, 0);
  }
  return CTK_OK;
}

int ctk_sim_admin(ctk_simulator *self, int node, const char *request) {
  if (node < 0 || node >= self->n || !self->nodes[node].alive) return CTK_ERR_INVALID;
  sim_trace(self, "n%d admin %s (scripted)", node, request);
  return step_now(self, node, CTK_EVENT_ADMIN, (const uint8_t *)request, strlen(request));
}

int ctk_sim_submit_put(ctk_simulator *self, int node, const char *key, const char *value) {
  static const uint64_t scripted_client = UINT64_MAX / 2;
  sim_node *n = &self->nodes[node];
  if (!n->alive) return CTK_ERR_INVALID;
  uint8_t buf[CTK_MAX_COMMAND_BYTES];
  ctk_kv_command cmd = {.client_id = scripted_client,
                        .seq = ++self->scripted_seq,
                        .op = CTK_F_PUT,
                        .key = key,
                        .value = value};
  int len = ctk_kv_encode(&cmd, buf, sizeof buf);
  if (len < 0) return CTK_ERR_INVALID;
  return step_now(self, node, CTK_EVENT_COMMAND, buf, (size_t)len);
}

void sim_node_timer(ctk_simulator *self, int i, uint64_t event_us, uint64_t incarnation) {
  sim_node *node = &self->nodes[i];
  if (!node->alive || incarnation != node->incarnation) return;
  if (event_us == node->timer_event_us) node->timer_event_us = CTK_DEADLINE_NONE;
  if (node->deadline_us == CTK_DEADLINE_NONE || node->timer_frozen) return;
  if (node->deadline_us <= self->now_us) {
    node->deadline_us = node->deadline_local_us = CTK_DEADLINE_NONE;
    sim_node_input(self, i, CTK_EVENT_TIMEOUT, -1, NULL, 0);
  } else {
    arm_timer(self, i);
  }
}

void ctk_sim_freeze_timer(ctk_simulator *self, int i, int frozen) {
  sim_node *node = &self->nodes[i];
  node->timer_frozen = frozen;
  sim_trace(self, "n%d timer %s", i, frozen ? "FROZEN" : "THAWED");
  if (!frozen && node->alive) arm_timer(self, i); /* a deadline that passed fires now */
}

void sim_node_free(ctk_simulator *self, int i) {
  sim_node *node = &self->nodes[i];
  if (node->proto) self->proto->destroy(node->proto);
  node->proto = NULL;
  sim_input in;
  while (node_pop_input(node, &in)) free(in.data);
  free(node->inbox);
  node_drop_held(node);
  free(node->held_msgs);
  free(node->held_commits);
  wire_writer_free(&node->durable);
  wire_writer_free(&node->pending);
  ctk_kv_destroy(&node->kv);
  free(node->pending_seq);
}
