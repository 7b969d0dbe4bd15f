/* client.c: client commands: appended by the leader, forwarded to it by a follower.
 *
 * From Figure 2, Rules for Servers, Leaders: "If command received from client: append entry to
 * local log, respond after entry applied to state machine". A follower that knows the leader
 * forwards the command once (thesis 6.2: "servers other than the leader ... forward client
 * requests to the leader"); the client retries whatever gets lost, and the host's state machine
 * drops duplicates by client id and sequence number. */
#include "raft_internal.h"

static int leader_has_room(const raft *r) {
  return raft_log_last(&r->log) - r->commit_index < RAFT_MAX_UNCOMMITTED;
}

int raft_check_command(const raft *r, size_t len) {
  if (len == 0 || len > CTK_MAX_COMMAND_BYTES) return CTK_ERR_INVALID;
  /* Thesis 3.10: no new commands while leadership is being handed over. */
  if (r->role == RAFT_LEADER)
    return leader_has_room(r) && r->transfer_to == RAFT_NO_NODE ? CTK_OK : CTK_ERR_BUSY;
  /* A node outside the configuration (removed, or not yet added) learns no commits. */
  if (!(raft_membership_nodes(&r->conf) >> r->id & 1)) return CTK_ERR_REJECTED;
  if (r->role == RAFT_FOLLOWER && r->leader_id != RAFT_NO_NODE) return CTK_OK;
  return CTK_ERR_REJECTED; /* campaigning, or no leader known */
}

int raft_leader_append_config(raft *r, const raft_membership *m) {
  uint64_t index = raft_log_last(&r->log) + 1;
  wire_writer w;
  wire_writer_init(&w);
  raft_membership_encode(&w, m);
  int rc =
      w.failed ? -1 : raft_log_append_typed(&r->log, r->term, RAFT_ENTRY_CONFIG, w.data, w.len);
  wire_writer_free(&w);
  if (rc != 0) return -1;
  r->prev_conf = r->conf;
  r->conf = *m;
  r->conf_index = index;
  raft_persist_entries(r, index, 1);
  raft_maybe_commit(r);
  return 0;
}

int raft_leader_append(raft *r, const uint8_t *data, size_t len) {
  uint64_t index = raft_log_last(&r->log) + 1;
  if (raft_log_append(&r->log, r->term, data, len) != 0) return -1;
  raft_persist_entries(r, index, 1);
  raft_maybe_commit(r); /* a cluster of one commits at once */
  return 0;
}

void raft_client_command(raft *r, const uint8_t *data, size_t len) {
  if (r->role == RAFT_LEADER) {
    if (raft_leader_append(r, data, len) != 0) r->out_of_memory = 1;
    raft_broadcast_append(r);
    return;
  }
  wire_writer *w = raft_send_begin(r, r->leader_id);
  raft_encode_forward(w, data, len);
  raft_send_end(r);
}

/* A forwarded command is appended if this node still leads; otherwise it is dropped. */
void raft_recv_forward(raft *r, int from, const raft_msg *m) {
  if (r->role != RAFT_LEADER || r->transfer_to != RAFT_NO_NODE) return;
  uint64_t last = raft_log_last(&r->log);
  raft_entry_iter it;
  raft_entry_iter_init(&it, m);
  for (uint32_t i = 0; i < m->n_entries && leader_has_room(r); i++) {
    uint64_t term;
    const uint8_t *data;
    size_t len;
    raft_entry_iter_next(&it, &term, &data, &len);
    if (raft_leader_append(r, data, len) != 0) {
      r->out_of_memory = 1;
      break;
    }
  }
  if (raft_log_last(&r->log) > last) r->peers[from].forwarded_upto = raft_log_last(&r->log);
  raft_broadcast_append(r);
}
