/* leader.c: a LEADING node: discovery, the followers' sessions, and broadcast.
 *
 * Discovery (Zab phase 1; ZooKeeper's getEpochToPropose and waitForEpochAck): the prospective
 * leader waits for FOLLOWERINFO from a quorum (itself included), proposes a new epoch above
 * every accepted epoch it was told of, and persists it as its own accepted epoch. Each follower
 * acks the epoch once (ACKEPOCH, with its current epoch, last zxid and history length). A
 * follower whose (current epoch, last zxid) is above the leader's means election picked the
 * wrong node: the leader gives up and looks again, as ZooKeeper's leader does ("follower is
 * ahead of the leader"). With a quorum of acks the epoch is established: no other node can ever
 * lead it, since every node acks an epoch to one leader only.
 *
 * Synchronization (phase 2, sync.c) brings each follower's history in line with the leader's
 * and ends with NEWLEADER; once a quorum acked NEWLEADER, the leader's whole initial history is
 * committed and broadcast starts (phase 3): each client command becomes a PROPOSAL with the next
 * zxid, committed once a quorum acked it, in zxid order, announced by COMMIT. A follower that
 * connects later is synchronized the same way and joins the broadcast.
 *
 * Flow control (max_inflight > 0): a follower is sent at most max_inflight proposals ahead of its
 * ACKs. At the cap it gets nothing more; the leader remembers only how far it sent it, and sends
 * on from there as its ACKs come. COMMITs (and the commit in PINGs) never go past what it was
 * sent: a follower gets each PROPOSAL before its COMMIT. A follower that falls more than
 * snap_threshold behind, or behind the leader's compacted history, is sent the real commit point
 * instead: a COMMIT of a proposal it never got, which makes it open a new session (follower.c),
 * and synchronization picks SNAP for it (sync.c).
 *
 * Every quorum here is one of the leader's configuration (reconfig.c): a quorum of its last
 * configuration and, while that one is not committed, of the one before too; a proposal at or
 * past a pending configuration needs both to commit, one before it the old one only. */
#include "zab_internal.h"

wire_writer *zab_session_begin(zab *z, int to, zab_msg_type type) {
  zab_peer *peer = &z->peers[to];
  wire_writer *w = zab_send_begin(z, to);
  zab_encode_session(w, type, peer->session, ++peer->next_seq, z->epoch);
  return w;
}

static void send_newepoch(zab *z, int to) {
  zab_session_begin(z, to, ZAB_MSG_NEWEPOCH);
  zab_send_end(z);
  z->peers[to].epoch_sent = 1;
}

static void send_commit(zab *z, int to) {
  wire_put_u64(zab_session_begin(z, to, ZAB_MSG_COMMIT),
               zab_history_zxid(&z->hist, z->commit_index));
  zab_send_end(z);
}

/* With flow control: the commit point a follower may be told, never past what it was sent
 * (unless it is to resynchronize). */
static uint64_t commit_for(const zab *z, const zab_peer *peer) {
  if (z->opt.max_inflight == 0 || peer->resync || peer->sent >= z->commit_index)
    return z->commit_index;
  return peer->sent;
}

static void send_commit_capped(zab *z, int to) {
  zab_peer *peer = &z->peers[to];
  uint64_t c = commit_for(z, peer);
  if (c <= peer->commit_sent) return;
  wire_put_u64(zab_session_begin(z, to, ZAB_MSG_COMMIT), zab_history_zxid(&z->hist, c));
  zab_send_end(z);
  peer->commit_sent = c;
}

/* Flow control: sends a synced follower what it may have of the proposals it was not sent yet,
 * then the commits they unblock. */
static void flush_peer(zab *z, int to) {
  zab_peer *peer = &z->peers[to];
  if (peer->stage < ZAB_PEER_SYNCED || peer->resync) return;
  if (peer->sent < z->hist.n &&
      (peer->sent < z->hist.base || z->hist.n - peer->sent > (uint64_t)z->opt.snap_threshold)) {
    peer->resync = 1; /* too far behind: a new session, synchronized by SNAP */
    send_commit_capped(z, to);
    return;
  }
  uint64_t last = z->hist.n;
  if (last > peer->acked_pos + (uint64_t)z->opt.max_inflight)
    last = peer->acked_pos + (uint64_t)z->opt.max_inflight;
  if (last > peer->sent) {
    zab_send_entries(z, to, ZAB_MSG_PROPOSAL, peer->sent + 1, last);
    peer->sent = last;
  }
  send_commit_capped(z, to);
}

/* Commits, in zxid order, every proposal a quorum acknowledged (ACKs are cumulative: a follower
 * processes its session in order). Only followers that acked NEWLEADER count. */
static void advance_commit(zab *z) {
  if (z->phase != ZAB_BROADCAST) return;
  uint64_t before = z->commit_index;
  while (z->commit_index < z->hist.n) {
    uint64_t zxid = zab_history_zxid(&z->hist, z->commit_index + 1);
    uint32_t acked = 1u << z->id;
    for (int i = 0; i < z->n; i++)
      if (z->peers[i].stage == ZAB_PEER_ACTIVE && z->peers[i].acked >= zxid) acked |= 1u << i;
    if (!zab_conf_commit_quorum(z, z->commit_index + 1, acked)) break;
    z->commit_index++;
  }
  if (z->commit_index == before) return;
  for (int i = 0; i < z->n; i++) {
    if (i == z->id || z->peers[i].stage < ZAB_PEER_SYNCED) continue;
    if (z->opt.max_inflight)
      send_commit_capped(z, i);
    else
      send_commit(z, i);
  }
}

/* The nodes at a stage at least, the leader itself included. */
static uint32_t at_stage(const zab *z, zab_peer_stage at_least) {
  uint32_t nodes = 1u << z->id;
  for (int i = 0; i < z->n; i++)
    if (i != z->id && z->peers[i].stage >= at_least) nodes |= 1u << i;
  return nodes;
}

/* Synchronization is over once a quorum acknowledged NEWLEADER: everything in the leader's
 * history is then on a quorum whose current epoch is ours, hence committed. */
static void maybe_finish_sync(zab *z) {
  if (z->phase != ZAB_SYNC || !zab_conf_quorum(z, at_stage(z, ZAB_PEER_ACTIVE))) return;
  z->phase = ZAB_BROADCAST;
  advance_commit(z);
}

static void maybe_establish(zab *z) {
  if (z->phase != ZAB_DISCOVERY || !zab_conf_quorum(z, (uint32_t)z->epoch_acks)) return;
  z->phase = ZAB_SYNC;
  z->current_epoch = z->epoch;
  zab_persist_epochs(z);
  z->counter = 0;
  z->sent_upto = z->hist.n;
  for (int i = 0; i < z->n; i++)
    if (i != z->id && z->peers[i].stage == ZAB_PEER_EPOCH_ACK) zab_sync_follower(z, i);
  maybe_finish_sync(z);
}

/* Once a quorum connected: a new epoch above every accepted epoch heard of (ours included). */
static void maybe_choose_epoch(zab *z) {
  if (z->epoch_chosen || !zab_conf_quorum(z, at_stage(z, ZAB_PEER_INFO))) return;
  uint64_t max = z->accepted_epoch;
  for (int i = 0; i < z->n; i++)
    if (i != z->id && z->peers[i].stage >= ZAB_PEER_INFO && z->peers[i].accepted_epoch > max)
      max = z->peers[i].accepted_epoch;
  if (max >= ZAB_MAX_EPOCH) { /* no epoch left: nothing can ever be led again */
    zab_start_looking(z);
    return;
  }
  z->epoch = max + 1;
  z->accepted_epoch = z->epoch;
  z->accepted_leader = z->id;
  zab_persist_epochs(z); /* durable before NEWEPOCH leaves */
  z->epoch_chosen = 1;
  z->epoch_acks = 1 << z->id;
  for (int i = 0; i < z->n; i++)
    if (i != z->id && z->peers[i].stage == ZAB_PEER_INFO) send_newepoch(z, i);
  maybe_establish(z);
}

void zab_lead(zab *z) {
  z->state = ZAB_LEADING;
  z->phase = ZAB_DISCOVERY;
  z->leader_id = z->id;
  z->own_epoch_before = z->current_epoch;
  z->own_zxid_before = zab_history_last(&z->hist);
  z->epoch_chosen = 0;
  z->epoch_acks = 0;
  z->init_deadline_us = z->now_us + 2 * z->election_hi_us;
  z->heartbeat_deadline_us = z->now_us + z->heartbeat_us;
  for (int i = 0; i < z->n; i++) z->peers[i].last_heard_us = z->now_us;
  maybe_choose_epoch(z);
}

/* A FOLLOWERINFO opens a session; one heard while still looking is kept for when we lead. Only
 * the nodes of our configurations (learners included) are synchronized (reconfig.c). */
void zab_leader_note_followerinfo(zab *z, int from, const zab_msg *m) {
  zab_peer *peer = &z->peers[from];
  if (!(zab_conf_nodes(z) >> from & 1)) return;
  if (peer->stage != ZAB_PEER_NONE && peer->session == m->session) return; /* a duplicate */
  *peer = (zab_peer){.stage = ZAB_PEER_INFO,
                     .session = m->session,
                     .accepted_epoch = m->epoch,
                     .want_snap = m->want_snap,
                     .last_heard_us = z->now_us};
}

static void recv_followerinfo(zab *z, int from, const zab_msg *m) {
  if (z->epoch_chosen && m->epoch > z->epoch) {
    /* It accepted a later epoch (from a leader that failed to establish it) and can never ack
     * ours: give way, so that the next election proposes an epoch it can ack. */
    zab_start_looking(z);
    return;
  }
  int duplicate = z->peers[from].stage != ZAB_PEER_NONE && z->peers[from].session == m->session;
  zab_leader_note_followerinfo(z, from, m);
  if (duplicate || z->peers[from].session != m->session) return; /* or not a member */
  if (z->epoch_chosen)
    send_newepoch(z, from);
  else
    maybe_choose_epoch(z);
}

static void recv_ackepoch(zab *z, int from, const zab_msg *m) {
  zab_peer *peer = &z->peers[from];
  if (!z->epoch_chosen || peer->stage != ZAB_PEER_INFO || peer->session != m->session ||
      m->epoch != z->epoch)
    return;
  peer->last_heard_us = z->now_us;
  if (z->phase == ZAB_DISCOVERY &&
      (m->current_epoch > z->own_epoch_before ||
       (m->current_epoch == z->own_epoch_before && m->zxid > z->own_zxid_before))) {
    zab_start_looking(z); /* the follower is ahead of us: election must pick it */
    return;
  }
  peer->stage = ZAB_PEER_EPOCH_ACK;
  peer->current_epoch = m->current_epoch;
  peer->last_zxid = m->zxid;
  peer->length = m->length;
  if (m->counts) z->epoch_acks |= 1 << from;
  if (z->phase == ZAB_DISCOVERY)
    maybe_establish(z);
  else
    zab_sync_follower(z, from);
}

static void recv_ack(zab *z, int from, const zab_msg *m) {
  zab_peer *peer = &z->peers[from];
  if (peer->stage < ZAB_PEER_SYNCED || peer->session != m->session || m->epoch != z->epoch ||
      m->zxid > zab_history_last(&z->hist))
    return;
  peer->last_heard_us = z->now_us;
  peer->stage = ZAB_PEER_ACTIVE; /* it sends ACKs only once it processed NEWLEADER */
  if (m->zxid > peer->acked) peer->acked = m->zxid;
  maybe_finish_sync(z);
  advance_commit(z);
  if (z->opt.max_inflight && z->peers[from].stage >= ZAB_PEER_SYNCED) {
    uint64_t pos = zab_history_find(&z->hist, m->zxid);
    if (pos > peer->acked_pos) peer->acked_pos = pos;
    flush_peer(z, from); /* room for more */
  }
}

int zab_leader_has_room(const zab *z) {
  return z->hist.n - z->commit_index < ZAB_MAX_UNCOMMITTED && z->counter < ZAB_MAX_COUNTER;
}

void zab_leader_propose(zab *z, uint8_t type, const uint8_t *data, size_t len) {
  uint64_t zxid = zab_zxid(z->epoch, z->counter + 1);
  if (zab_history_append(&z->hist, zxid, type, data, len) != 0) {
    z->out_of_memory = 1;
    return;
  }
  z->counter++;
  if (type == ZAB_ENTRY_CONFIG) zab_conf_refresh(z); /* in effect at once (reconfig.c) */
  zab_persist_append(z, z->hist.n, 1);
  advance_commit(z); /* a cluster of one commits at once */
}

static void recv_forward(zab *z, const zab_msg *m) {
  if (z->phase != ZAB_BROADCAST) return;
  zab_item_iter it;
  zab_item command;
  for (zab_item_iter_init(&it, m); zab_leader_has_room(z) && zab_item_next(&it, &command);)
    zab_leader_propose(z, ZAB_ENTRY_COMMAND, command.data, command.len);
  zab_leader_flush(z);
}

void zab_leader_flush(zab *z) {
  if (z->opt.max_inflight) {
    for (int i = 0; i < z->n; i++)
      if (i != z->id) flush_peer(z, i);
    z->sent_upto = z->hist.n;
    return;
  }
  if (z->sent_upto >= z->hist.n) return;
  for (int i = 0; i < z->n; i++)
    if (i != z->id && z->peers[i].stage >= ZAB_PEER_SYNCED)
      zab_send_entries(z, i, ZAB_MSG_PROPOSAL, z->sent_upto + 1, z->hist.n);
  z->sent_upto = z->hist.n;
}

void zab_leader_recv(zab *z, int from, const zab_msg *m) {
  switch (m->type) {
  case ZAB_MSG_FOLLOWERINFO: recv_followerinfo(z, from, m); break;
  case ZAB_MSG_ACKEPOCH: recv_ackepoch(z, from, m); break;
  case ZAB_MSG_ACK: recv_ack(z, from, m); break;
  case ZAB_MSG_FORWARD: recv_forward(z, m); break;
  default: break;
  }
}

/* Every heartbeat: forget followers silent for an election timeout, step down without a quorum
 * (ZooKeeper's leader shuts down when it is no longer synced with a quorum), PING the rest. */
static void heartbeat(zab *z) {
  z->heartbeat_deadline_us = z->now_us + z->heartbeat_us;
  for (int i = 0; i < z->n; i++)
    if (i != z->id && z->peers[i].stage != ZAB_PEER_NONE &&
        z->now_us - z->peers[i].last_heard_us >= z->election_hi_us)
      z->peers[i] = (zab_peer){0};
  if (z->phase == ZAB_BROADCAST && !zab_conf_quorum(z, at_stage(z, ZAB_PEER_ACTIVE))) {
    zab_start_looking(z);
    return;
  }
  uint64_t commit = zab_history_zxid(&z->hist, z->commit_index);
  for (int i = 0; i < z->n; i++) {
    if (i == z->id || z->peers[i].stage == ZAB_PEER_NONE || !z->peers[i].epoch_sent) continue;
    uint64_t told = commit;
    if (z->opt.max_inflight && z->peers[i].stage >= ZAB_PEER_SYNCED)
      told = zab_history_zxid(&z->hist, commit_for(z, &z->peers[i]));
    wire_put_u64(zab_session_begin(z, i, ZAB_MSG_PING), told);
    zab_send_end(z);
  }
}

void zab_leader_timeout(zab *z) {
  if (z->phase != ZAB_BROADCAST && z->now_us >= z->init_deadline_us) {
    zab_start_looking(z); /* no quorum followed within the init limit */
    return;
  }
  if (z->now_us >= z->heartbeat_deadline_us) heartbeat(z);
}
