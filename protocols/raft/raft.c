/* raft.c: the Raft instance: create, destroy, the step dispatch, status, and ctk_raft_protocol.
 *
 * A pure state machine in the manner of etcd-io/raft and cowsql/raft's raft_step: time comes
 * only from event->now_us, randomness only from the seeded generator in the instance, and every
 * effect is a byte run in the output (persist first, then messages and commits). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/contract.h"
#include "raft_internal.h"

static int check_options(const ctk_raft_options *o, char *err, size_t err_len) {
  const char *what = NULL;
  if (o->election_timeout_ms[0] < 1 || o->election_timeout_ms[0] > o->election_timeout_ms[1] ||
      o->election_timeout_ms[1] > 600000)
    what = "election_timeout_ms must be a range [lo, hi] with 1 <= lo <= hi <= 600000";
  else if (o->heartbeat_ms < 1 || o->heartbeat_ms > 60000)
    what = "heartbeat_ms must be in [1, 60000]";
  else if (o->max_batch < 1 || o->max_batch > RAFT_MAX_ENTRIES_PER_MSG)
    what = "max_batch must be in [1, 4096]";
  else if (o->max_inflight < 1 || o->max_inflight > 1024)
    what = "max_inflight must be in [1, 1024]";
  else if (o->preferred_leader < -1 || o->preferred_leader >= CTK_MAX_NODES)
    what = "preferred_leader must be -1 (none) or a node id";
  else if (o->read_mode < RAFT_READ_LOG || o->read_mode > RAFT_READ_FOLLOWER)
    what = "read_mode must be log, readindex, lease or follower";
  else if (o->read_mode == RAFT_READ_LEASE && (!o->prevote || !o->check_quorum))
    what =
        "read_mode = \"lease\" needs prevote and check_quorum (followers must refuse votes "
        "while they hear from the leader, and a leader cut off must step down)";
  else if (o->lease_drift_percent < 0 || o->lease_drift_percent > 1000)
    what = "lease_drift_percent must be in [0, 1000]";
  if (what && err && err_len) snprintf(err, err_len, "raft: %s", what);
  return what ? -1 : 0;
}

static void raft_destroy(ctk_proto *r) {
  if (!r) return;
  raft_log_free(&r->log);
  raft_snapshot_free(r);
  raft_output_free(r);
  raft_read_free(r);
  for (int i = 0; i < CTK_MAX_NODES; i++) {
    free(r->peers[i].inflight);
    free(r->peers[i].inflight_bytes);
  }
  free(r);
}

static ctk_proto *raft_create(const ctk_node_config *config, const void *options, char *err,
                              size_t err_len) {
  if (ctk_contract_create_check(config, options, "raft", err, err_len) != 0) return NULL;
  const ctk_raft_options *o = options;
  if (check_options(o, err, err_len) != 0) return NULL;
  if (o->preferred_leader >= config->n_nodes) {
    if (err && err_len)
      snprintf(err, err_len, "raft: preferred_leader %d is not a node of this %d-node cluster",
               (int)o->preferred_leader, config->n_nodes);
    return NULL;
  }
  uint32_t all = (uint32_t)((1ull << config->n_nodes) - 1);
  if (config->members & ~all) {
    if (err && err_len) snprintf(err, err_len, "raft: members name a node outside the cluster");
    return NULL;
  }
  raft *r = calloc(1, sizeof *r);
  if (!r) goto nomem;
  r->id = config->node_id;
  r->n = config->n_nodes;
  r->opt = *o;
  r->election_lo_us = (uint64_t)o->election_timeout_ms[0] * 1000;
  r->election_hi_us = (uint64_t)o->election_timeout_ms[1] * 1000;
  r->heartbeat_us = (uint64_t)o->heartbeat_ms * 1000;
  /* Nodes sharing a seed must still draw different timeouts. */
  ctk_rng_seed(&r->rng, config->seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(config->node_id + 1)));
  r->voted_for = RAFT_NO_NODE;
  r->leader_id = RAFT_NO_NODE;
  r->gap_leader = RAFT_NO_NODE;
  r->transfer_to = RAFT_NO_NODE;
  r->base.voters = config->members ? config->members : all;
  r->conf = r->prev_conf = r->base;
  raft_log_init(&r->log);
  int failed = raft_output_init(r);
  for (int i = 0; i < r->n && !failed; i++) {
    r->peers[i].inflight = malloc((size_t)o->max_inflight * sizeof(uint64_t));
    r->peers[i].inflight_bytes = malloc((size_t)o->max_inflight * sizeof(uint64_t));
    failed = !r->peers[i].inflight || !r->peers[i].inflight_bytes;
  }
  if (!failed) return r;
nomem:
  raft_destroy(r);
  if (err && err_len) snprintf(err, err_len, "raft: out of memory");
  return NULL;
}

/* After a restart: follower, nothing committed beyond the snapshot (the host restores it, and
 * commits are emitted again from the next index once the commit index is learned again), a
 * fresh election timeout. */
static int start(raft *r, const ctk_event *ev) {
  int torn_tail;
  int rc = raft_recover(r, ev->bytes.data, ev->bytes.len, &torn_tail);
  if (rc != CTK_OK) return rc;
  r->started = 1;
  r->role = RAFT_FOLLOWER;
  r->leader_id = RAFT_NO_NODE;
  r->commit_index = r->emitted_index = 0;
  raft_snapshot_recovered(r);
  r->durable_bytes = ev->bytes.len;
  raft_reset_election_timer(r);
  raft_read_started(r);
  /* Records appended after a torn tail would sit behind garbage: rewrite the state whole. */
  if (torn_tail) raft_persist_replace_all(r);
  return CTK_OK;
}

/* Configuration entries the codec accepted name only nodes of this cluster. */
static int configs_fit(const raft *r, const raft_msg *m) {
  raft_entry_iter it;
  raft_entry_iter_init(&it, m);
  for (uint32_t i = 0; i < m->n_entries; i++) {
    uint64_t term;
    uint8_t type;
    const uint8_t *data;
    size_t len;
    raft_membership conf;
    raft_entry_iter_next_typed(&it, &term, &type, &data, &len);
    if (type == RAFT_ENTRY_CONFIG && raft_membership_decode(data, len, r->n, &conf) != 0) return 0;
  }
  return 1;
}

/* What the codec cannot judge alone: more entries than any leader of this cluster sends, or an
 * answer of this leader's own term about an index it never sent (its log only grows while it
 * leads, so every index it sent is still at most its last). */
static int plausible(const raft *r, const raft_msg *m) {
  if (m->type == RAFT_MSG_APPEND)
    return m->n_entries <= (uint64_t)r->opt.max_batch && configs_fit(r, m);
  if ((m->type == RAFT_MSG_APPEND_REPLY || m->type == RAFT_MSG_SNAPSHOT_REPLY) &&
      r->role == RAFT_LEADER && m->term == r->term)
    return m->index <= raft_log_last(&r->log);
  return 1;
}

static int recv_message(raft *r, const ctk_event *ev) {
  if (ev->from < 0 || ev->from >= r->n || ev->from == r->id) return CTK_ERR_MALFORMED;
  raft_msg m;
  if (raft_msg_decode(ev->bytes.data, ev->bytes.len, &m) != CTK_OK) return CTK_ERR_MALFORMED;
  if (!plausible(r, &m)) return CTK_ERR_MALFORMED;
  switch (m.type) {
  case RAFT_MSG_PREVOTE:
  case RAFT_MSG_REQUEST_VOTE: raft_recv_vote_request(r, ev->from, &m); break;
  case RAFT_MSG_PREVOTE_REPLY:
  case RAFT_MSG_VOTE_REPLY: raft_recv_vote_reply(r, ev->from, &m); break;
  case RAFT_MSG_APPEND: raft_recv_append(r, ev->from, &m); break;
  case RAFT_MSG_APPEND_REPLY: raft_recv_append_reply(r, ev->from, &m); break;
  case RAFT_MSG_FORWARD: raft_recv_forward(r, ev->from, &m); break;
  case RAFT_MSG_READ_PROBE: raft_read_recv_probe(r, ev->from, &m); break;
  case RAFT_MSG_READ_PROBE_REPLY: raft_read_recv_probe_reply(r, ev->from, &m); break;
  case RAFT_MSG_TIMEOUT_NOW: raft_recv_timeout_now(r, ev->from, &m); break;
  case RAFT_MSG_SNAPSHOT: raft_recv_snapshot(r, ev->from, &m); break;
  case RAFT_MSG_SNAPSHOT_REPLY: raft_recv_snapshot_reply(r, ev->from, &m); break;
  }
  return CTK_OK;
}

static void timeout(raft *r) {
  if (r->role == RAFT_LEADER) {
    raft_check_quorum(r);
    if (r->role == RAFT_LEADER) raft_heartbeat(r);
    return;
  }
  raft_election_timeout(r);
}

static int raft_step(ctk_proto *r, const ctk_event *ev, ctk_output *out) {
  raft_output_reset(r);
  raft_read_output_reset(r);
  int rc = CTK_ERR_INVALID;
  if (!ctk_contract_step_admits(ev, r->started)) goto done;
  r->now_us = ev->now_us;
  if (ev->kind == CTK_EVENT_START) {
    rc = start(r, ev);
    goto done;
  }
  switch (ev->kind) {
  case CTK_EVENT_MESSAGE: rc = recv_message(r, ev); break;
  case CTK_EVENT_TIMEOUT:
    timeout(r);
    rc = CTK_OK;
    break;
  case CTK_EVENT_COMMAND:
    rc = raft_check_command(r, ev->bytes.len);
    if (rc == CTK_OK && !ev->bytes.data) rc = CTK_ERR_INVALID;
    if (rc == CTK_OK && !raft_read_command(r, ev->bytes.data, ev->bytes.len))
      raft_client_command(r, ev->bytes.data, ev->bytes.len);
    break;
  case CTK_EVENT_ADMIN: rc = raft_admin(r, ev->bytes.data, ev->bytes.len); break;
  case CTK_EVENT_SNAPSHOT:
    rc = raft_snapshot_taken(r, ev->index, ev->bytes.data, ev->bytes.len);
    break;
  default: break;
  }
  if (rc == CTK_OK) raft_membership_tick(r);
done:
  if (rc == CTK_OK) {
    if (r->started) raft_read_step_end(r);
    raft_output_finish(r, out);
    raft_read_output(r, out);
    if (!r->out_of_memory && !r->persist.failed && !ctk_outbox_failed(&r->out)) return CTK_OK;
    rc = CTK_ERR_NOMEM; /* state may have moved on; the host cannot go on with this node */
  }
  raft_output_reset(r);
  raft_read_output_reset(r);
  raft_output_empty(r, out);
  return rc;
}

static void raft_status(const ctk_proto *r, ctk_status *s) {
  static const ctk_role roles[] = {CTK_ROLE_FOLLOWER, CTK_ROLE_CANDIDATE, CTK_ROLE_CANDIDATE,
                                   CTK_ROLE_LEADER};
  s->role = roles[r->role];
  s->term = r->term;
  /* A node outside its configuration (removed) names no leader: the one it last followed may
   * have been removed too, and clients it sent there could be sent back and forth for ever
   * between removed nodes (raft-membership-sweep seed 147). */
  s->leader_id = raft_membership_nodes(&r->conf) >> r->id & 1 ? r->leader_id : RAFT_NO_NODE;
  /* The commit index itself (bounded by the log), not only what was emitted: after every step
   * they are equal, unless the commit index moved backwards, which the hosts must see. */
  uint64_t last = raft_log_last(&r->log);
  s->commit_index = r->commit_index < last ? r->commit_index : last;
  s->log_length = raft_log_last(&r->log);
  s->members = r->conf.voters | r->conf.voters_old;
  s->learners = r->conf.learners;
  s->snapshot_index = r->snap.meta.index;
}

const ctk_protocol_def ctk_raft_protocol = {
    .name = "raft",
    .summary = "Raft with pre-vote and check-quorum (Ongaro and Ousterhout, and the thesis)",
    .flags = CTK_PROTO_TOTAL_ORDER | CTK_PROTO_LEADERS,
    .options = raft_option_specs,
    .n_options = RAFT_N_OPTIONS,
    .options_size = sizeof(ctk_raft_options),
    .create = raft_create,
    .destroy = raft_destroy,
    .step = raft_step,
    .status = raft_status,
    .describe = raft_describe,
};
