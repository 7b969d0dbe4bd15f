/* zab.c: the ZAB instance: create, destroy, the step dispatch, the output buffers, status, and
 * ctk_zab_protocol. A pure state machine: time comes only from event->now_us and randomness only
 * from the seeded generator. The protocol itself lives in election.c (fast leader election),
 * leader.c and sync.c (discovery, synchronization and broadcast on the leader), follower.c and
 * reconfig.c (dynamic reconfiguration: which nodes vote, quorums, operator requests). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/contract.h"
#include "zab_internal.h"

static int check_options(const ctk_zab_options *o, char *err, size_t err_len) {
  const char *what = NULL;
  if (o->election_timeout_ms[0] < 1 || o->election_timeout_ms[0] > o->election_timeout_ms[1] ||
      o->election_timeout_ms[1] > 600000)
    what = "election_timeout_ms must be a range [lo, hi] with 1 <= lo <= hi <= 600000";
  else if (o->heartbeat_ms < 1 || o->heartbeat_ms > 60000)
    what = "heartbeat_ms must be in [1, 60000]";
  else if (o->finalize_wait_ms < 0 || o->finalize_wait_ms > 60000)
    what = "finalize_wait_ms must be in [0, 60000]";
  else if (o->snap_threshold < 0 || o->snap_threshold > 1000000000)
    what = "snap_threshold must be in [0, 1000000000]";
  else if (o->reorder_window_ms < 0 || o->reorder_window_ms > 60000)
    what = "reorder_window_ms must be in [0, 60000]";
  else if (o->read_mode < ZAB_READ_LOG || o->read_mode > ZAB_READ_SYNC)
    what = "read_mode must be log, local or sync";
  else if (o->snapshot_every < 0 || o->snapshot_every > 1000000000)
    what = "snapshot_every must be in [0, 1000000000]";
  else if (o->snapshot_keep < 0 || o->snapshot_keep > 1000000000)
    what = "snapshot_keep must be in [0, 1000000000]";
  else if (o->max_inflight < 0 || o->max_inflight > 1000000000)
    what = "max_inflight must be in [0, 1000000000]";
  else if (o->learner_catchup < 0 || o->learner_catchup > 1000000)
    what = "learner_catchup must be in [0, 1000000]";
  if (what && err && err_len) snprintf(err, err_len, "zab: %s", what);
  return what ? -1 : 0;
}

static void zab_destroy(ctk_proto *z) {
  if (!z) return;
  zab_history_free(&z->hist);
  zab_snapshot_free(z);
  zab_session_clear(z);
  wire_writer_free(&z->persist);
  ctk_outbox_free(&z->out);
  ctk_commit_list_free(&z->commits);
  zab_read_free(z);
  free(z);
}

static ctk_proto *zab_create(const ctk_node_config *config, const void *options, char *err,
                             size_t err_len) {
  if (ctk_contract_create_check(config, options, "zab", err, err_len) != 0) return NULL;
  const ctk_zab_options *o = options;
  if (check_options(o, err, err_len) != 0) return NULL;
  zab *z = calloc(1, sizeof *z);
  if (!z) goto nomem;
  z->id = config->node_id;
  z->n = config->n_nodes;
  uint32_t all = (uint32_t)((1ull << config->n_nodes) - 1);
  if (config->members & ~all) {
    if (err && err_len) snprintf(err, err_len, "zab: members name a node past the cluster");
    free(z);
    return NULL;
  }
  z->base_conf = (zab_conf){config->members ? config->members : all, 0};
  zab_conf_refresh(z);
  z->opt = *o;
  z->election_lo_us = (uint64_t)o->election_timeout_ms[0] * 1000;
  z->election_hi_us = (uint64_t)o->election_timeout_ms[1] * 1000;
  z->heartbeat_us = (uint64_t)o->heartbeat_ms * 1000;
  z->finalize_us = (uint64_t)o->finalize_wait_ms * 1000;
  z->reorder_window_us = (uint64_t)o->reorder_window_ms * 1000;
  z->gap_deadline_us = CTK_DEADLINE_NONE;
  ctk_rng_seed(&z->rng, config->seed ^ (0xD1B54A32D192ED03ull * (uint64_t)(config->node_id + 1)));
  z->accepted_leader = z->leader_id = ZAB_NO_NODE;
  wire_writer_init(&z->persist);
  if (ctk_outbox_init(&z->out) == 0) return z;
nomem:
  zab_destroy(z);
  if (err && err_len) snprintf(err, err_len, "zab: out of memory");
  return NULL;
}

uint64_t zab_random_timeout(zab *z) {
  return ctk_rng_range(&z->rng, z->election_lo_us, z->election_hi_us);
}

/* ---- output ---- */

wire_writer *zab_send_begin(zab *z, int to) { return ctk_outbox_begin(&z->out, to); }

void zab_send_end(zab *z) { ctk_outbox_end(&z->out); }

static void output_reset(zab *z) {
  if (z->persist.cap > (8u << 20)) wire_writer_free(&z->persist);
  wire_writer_reset(&z->persist);
  ctk_outbox_reset(&z->out);
  z->persist_replace = 0;
  z->commits.n = 0;
  z->out_of_memory = 0;
  zab_read_reset(z);
}

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

static uint64_t next_deadline(const zab *z) {
  if (!z->started) return CTK_DEADLINE_NONE;
  switch (z->state) {
  case ZAB_LOOKING: return min_u64(z->renotify_deadline_us, z->finalize_deadline_us);
  case ZAB_FOLLOWING: {
    uint64_t d = min_u64(z->silence_deadline_us, z->gap_deadline_us);
    return z->phase == ZAB_BROADCAST ? d : min_u64(d, z->retry_deadline_us);
  }
  default: {
    uint64_t d = z->n == 1 ? CTK_DEADLINE_NONE : z->heartbeat_deadline_us;
    return z->phase == ZAB_BROADCAST ? d : min_u64(d, z->init_deadline_us);
  }
  }
}

static void push_commit(zab *z, uint64_t pos) {
  const zab_entry *e = zab_history_at(&z->hist, pos);
  int config = e->type == ZAB_ENTRY_CONFIG; /* a protocol no-op for the host: an empty command */
  if (ctk_commit_list_push(&z->commits, pos, config ? NULL : e->data, config ? 0 : e->len)) {
    z->out_of_memory = 1;
    return;
  }
  z->emitted_index = pos;
}

static void output_finish(zab *z, ctk_output *out) {
  while (z->emitted_index < z->commit_index && !z->out_of_memory)
    push_commit(z, z->emitted_index + 1);
  zab_persist_maybe_compact(z);
  *out = (ctk_output){0};
  zab_snapshot_output(z, out);
  zab_snapshot_maybe_ask(z, out);
  out->persist = (ctk_bytes){z->persist.data, z->persist.len};
  out->persist_replace = z->persist_replace;
  out->messages = ctk_outbox_messages(&z->out);
  out->n_messages = z->out.n;
  out->commits = z->commits.items;
  out->n_commits = z->commits.n;
  out->next_deadline_us = next_deadline(z);
  zab_read_output(z, out);
  z->durable_bytes = z->persist_replace ? z->persist.len : z->durable_bytes + z->persist.len;
}

/* ---- events ---- */

static int start(zab *z, const ctk_event *ev) {
  int torn_tail;
  int rc = zab_recover(z, ev->bytes.data, ev->bytes.len, &torn_tail);
  if (rc != CTK_OK) return rc;
  z->started = 1;
  z->durable_bytes = ev->bytes.len;
  if (z->snap_index) { /* the host restores the snapshot; commits go on after it */
    z->restore_pending = 1;
    z->commit_index = z->emitted_index = z->snap_index;
  }
  if (torn_tail) zab_persist_replace_all(z);
  zab_start_looking(z);
  return CTK_OK;
}

static int recv_message(zab *z, const ctk_event *ev) {
  if (ev->from < 0 || ev->from >= z->n || ev->from == z->id) return CTK_ERR_MALFORMED;
  zab_msg m;
  if (zab_msg_decode(ev->bytes.data, ev->bytes.len, &m) != CTK_OK ||
      zab_msg_check_nodes(&m, z->n) != 0)
    return CTK_ERR_MALFORMED;
  switch (m.type) {
  case ZAB_MSG_NOTIFICATION: zab_recv_notification(z, ev->from, &m); break;
  case ZAB_MSG_SYNC: zab_read_recv_sync(z, ev->from, &m); break;
  case ZAB_MSG_SYNC_REPLY: zab_read_recv_sync_reply(z, ev->from, &m); break;
  case ZAB_MSG_FOLLOWERINFO:
  case ZAB_MSG_ACKEPOCH:
  case ZAB_MSG_ACK:
  case ZAB_MSG_FORWARD:
    if (z->state == ZAB_LEADING)
      zab_leader_recv(z, ev->from, &m);
    else if (z->state == ZAB_LOOKING && m.type == ZAB_MSG_FOLLOWERINFO)
      zab_leader_note_followerinfo(z, ev->from, &m);
    break;
  default:
    if (z->state == ZAB_FOLLOWING)
      zab_follower_recv(z, ev->from, &m, ev->bytes.data, ev->bytes.len);
    break;
  }
  return CTK_OK;
}

static int command(zab *z, const ctk_event *ev) {
  if (ev->bytes.len == 0 || ev->bytes.len > CTK_MAX_COMMAND_BYTES || !ev->bytes.data)
    return CTK_ERR_INVALID;
  if (zab_read_command(z, ev->bytes.data, ev->bytes.len)) return CTK_OK;
  if (z->state == ZAB_LEADING && z->phase == ZAB_BROADCAST && zab_leader_has_room(z)) {
    zab_leader_propose(z, ZAB_ENTRY_COMMAND, ev->bytes.data, ev->bytes.len);
    zab_leader_flush(z);
    return CTK_OK;
  }
  if (z->state == ZAB_FOLLOWING && z->phase == ZAB_BROADCAST) {
    zab_follower_forward(z, ev->bytes.data, ev->bytes.len);
    return CTK_OK;
  }
  if (z->state == ZAB_LEADING && z->phase == ZAB_BROADCAST) return CTK_ERR_BUSY; /* no room */
  return CTK_ERR_REJECTED;
}

static int zab_step(ctk_proto *z, const ctk_event *ev, ctk_output *out) {
  output_reset(z);
  int rc = CTK_ERR_INVALID;
  if (!ctk_contract_step_admits(ev, z->started)) goto done;
  z->now_us = ev->now_us;
  if (ev->kind == CTK_EVENT_START) {
    rc = start(z, ev);
    goto done;
  }
  switch (ev->kind) {
  case CTK_EVENT_MESSAGE: rc = recv_message(z, ev); break;
  case CTK_EVENT_TIMEOUT:
    if (z->state == ZAB_LOOKING)
      zab_election_timeout(z);
    else if (z->state == ZAB_FOLLOWING)
      zab_follower_timeout(z);
    else
      zab_leader_timeout(z);
    rc = CTK_OK;
    break;
  case CTK_EVENT_COMMAND: rc = command(z, ev); break;
  case CTK_EVENT_SNAPSHOT: rc = zab_snapshot_taken(z, ev); break;
  case CTK_EVENT_ADMIN: rc = zab_admin(z, ev->bytes.data, ev->bytes.len); break;
  default: break;
  }
done:
  if (rc == CTK_OK) {
    if (z->started) zab_conf_step_end(z);
    if (z->started) zab_read_step_end(z);
    output_finish(z, out);
    if (!z->out_of_memory && !z->persist.failed && !ctk_outbox_failed(&z->out)) return CTK_OK;
    rc = CTK_ERR_NOMEM;
  }
  output_reset(z);
  *out = (ctk_output){0};
  out->next_deadline_us = next_deadline(z);
  return rc;
}

static void zab_status(const ctk_proto *z, ctk_status *s) {
  /* A leader is LEADER once a quorum acked its new epoch: from then on no other node can
   * establish that epoch. Before, it is still a candidate. */
  int established = z->state == ZAB_LEADING && z->phase != ZAB_DISCOVERY;
  s->role = established                 ? CTK_ROLE_LEADER
            : z->state == ZAB_FOLLOWING ? CTK_ROLE_FOLLOWER
                                        : CTK_ROLE_CANDIDATE;
  s->term = established ? z->epoch : z->current_epoch;
  s->leader_id = z->state == ZAB_LOOKING ? ZAB_NO_NODE : z->leader_id;
  s->commit_index = z->emitted_index;
  s->log_length = z->hist.n;
  s->snapshot_index = z->snap_index;
  s->members = z->conf.voters; /* the last configuration this node holds (reconfig.c) */
  s->learners = z->conf.learners;
}

const ctk_protocol_def ctk_zab_protocol = {
    .name = "zab",
    .summary =
        "ZooKeeper Atomic Broadcast: fast leader election, discovery, DIFF/TRUNC/SNAP "
        "synchronization, zxid-ordered broadcast",
    .flags = CTK_PROTO_TOTAL_ORDER | CTK_PROTO_LEADERS,
    .options = zab_option_specs,
    .n_options = ZAB_N_OPTIONS,
    .options_size = sizeof(ctk_zab_options),
    .create = zab_create,
    .destroy = zab_destroy,
    .step = zab_step,
    .status = zab_status,
    .describe = zab_describe,
};
