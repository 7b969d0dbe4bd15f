/* follower.c: a FOLLOWING node: its session with the leader, discovery and synchronization from
 * the follower's side, and the proposals and commits of broadcast.
 *
 * The follower opens a session with FOLLOWERINFO (its accepted epoch) and then takes the
 * leader's session messages strictly in sequence, as it would read them from one TCP
 * connection: a duplicate is dropped, a gap or a proposal whose zxid does not follow the last
 * one breaks the connection, and the follower opens a new session, which takes it through
 * discovery and synchronization again (ZooKeeper's follower, on a broken connection, goes back
 * to looking and finds the same leader).
 *
 *   NEWEPOCH e   acked once per epoch: e above the accepted epoch, or equal and from the leader
 *                it was acked to; persisted before ACKEPOCH leaves. Equal but acked to another
 *                node: an ACKEPOCH that does not count. Below: look again.
 *   DIFF, TRUNC  applied to the history (sync.c says which); a DIFF or TRUNC that does not
 *                fit the history makes the follower reconnect asking for a SNAP.
 *   SNAP         the leader's snapshot in chunks, then a DIFF of the history after it: held in
 *                memory (snapshot.c) and installed by NEWLEADER.
 *   NEWLEADER e  the history now equals the leader's: the current epoch becomes e, persisted
 *                before the ACK leaves. From here on the follower ACKs what it logs.
 *   PROPOSAL     logged, persisted, then ACKed (cumulatively).
 *   COMMIT, PING everything up to the zxid is committed; a PING is answered with an ACK.
 * session.c puts the messages in order first.
 * A follower that hears nothing of its leader for an election timeout looks again. */
#include "zab_internal.h"

static void open_session(zab *z, int want_snap) {
  do z->session = ctk_rng_next(&z->rng);
  while (z->session == 0);
  z->next_seq = 1;
  z->phase = ZAB_DISCOVERY;
  z->want_snap = want_snap;
  zab_snapshot_abort(z);
  zab_session_clear(z);
  zab_encode_followerinfo(zab_send_begin(z, z->leader_id), z->session, z->accepted_epoch,
                          want_snap);
  zab_send_end(z);
  z->retry_deadline_us = z->now_us + 2 * z->heartbeat_us;
}

void zab_follow(zab *z, int leader) {
  z->state = ZAB_FOLLOWING;
  z->leader_id = leader;
  z->silence_deadline_us = z->now_us + zab_random_timeout(z);
  open_session(z, 0);
}

static void send_ack(zab *z) {
  zab_encode_ack(zab_send_begin(z, z->leader_id), z->session, z->current_epoch,
                 zab_history_last(&z->hist));
  zab_send_end(z);
}

static void recv_newepoch(zab *z, const zab_msg *m) {
  if (m->epoch < z->accepted_epoch) {
    zab_start_looking(z); /* a stale leader */
    return;
  }
  /* Acked to another node already (typically ourselves, leading in vain): we may follow once the
   * epoch is established, but our ack must not count toward establishing it. */
  int counts = m->epoch > z->accepted_epoch || z->accepted_leader == z->leader_id;
  if (m->epoch > z->accepted_epoch) {
    z->accepted_epoch = m->epoch;
    z->accepted_leader = z->leader_id;
    zab_persist_epochs(z); /* durable before ACKEPOCH leaves */
  }
  zab_encode_ackepoch(zab_send_begin(z, z->leader_id), z->session, m->epoch, z->current_epoch,
                      zab_history_last(&z->hist), z->hist.n, counts);
  zab_send_end(z);
  z->phase = ZAB_SYNC;
  z->retry_deadline_us = z->now_us + 2 * z->heartbeat_us;
}

/* Appends the entries of a DIFF or PROPOSAL (validated by the codec) and persists them. A
 * configuration among them is the one this node goes by from now on (reconfig.c). */
static void append_entries(zab *z, const zab_msg *m) {
  uint64_t first = z->hist.n + 1;
  int configs = zab_history_append_msg(&z->hist, m);
  if (configs < 0) {
    z->out_of_memory = 1;
    return;
  }
  if (configs) zab_conf_refresh(z);
  if (m->n) zab_persist_append(z, first, m->n);
}

static void recv_trunc(zab *z, const zab_msg *m) {
  if (zab_snapshot_receiving(z)) {
    open_session(z, 1);
    return;
  }
  if (m->pos < z->commit_index) {
    zab_start_looking(z); /* it would take back a commit: never follow such a leader */
    return;
  }
  if (m->pos > z->hist.n || zab_history_zxid(&z->hist, m->pos) != m->zxid) {
    open_session(z, 1);
    return;
  }
  zab_history_truncate(&z->hist, m->pos);
  zab_persist_truncate(z);
  if (z->forced && z->forced_pos > m->pos) {
    z->forced_pos = m->pos;
    zab_persist_force(z);
  }
  zab_conf_refresh(z);
}

static void recv_diff(zab *z, const zab_msg *m) {
  if (zab_snapshot_receiving(z)) {
    zab_snapshot_recv_diff(z, m);
    return;
  }
  if (m->pos != z->hist.n || zab_history_zxid(&z->hist, m->pos) != m->zxid) {
    open_session(z, 1);
    return;
  }
  append_entries(z, m);
}

static void recv_newleader(zab *z, const zab_msg *m) {
  if (zab_snapshot_receiving(z) && zab_snapshot_install(z) < 0) {
    zab_start_looking(z); /* it would change what we committed: never follow it */
    return;
  }
  if (zab_snapshot_receiving(z) || z->hist.n != m->length ||
      zab_history_last(&z->hist) != m->zxid) {
    open_session(z, 1);
    return;
  }
  z->current_epoch = m->epoch;
  zab_persist_epochs(z); /* durable before the ACK leaves */
  z->phase = ZAB_BROADCAST;
  z->want_snap = 0;
  send_ack(z);
}

/* In epoch e, zxids go (e, 1), (e, 2), ...: anything else means a proposal went missing. */
static int follows(uint64_t last, uint64_t zxid, uint64_t epoch) {
  if (zab_zxid_epoch(last) == epoch) return zxid == last + 1;
  return zxid == zab_zxid(epoch, 1);
}

static void recv_proposal(zab *z, const zab_msg *m) {
  uint64_t last = zab_history_last(&z->hist);
  zab_item_iter it;
  zab_item e;
  for (zab_item_iter_init(&it, m); zab_item_next(&it, &e);) {
    if (!follows(last, e.zxid, m->epoch)) {
      open_session(z, 0);
      return;
    }
    last = e.zxid;
  }
  if (m->pos != z->hist.n + 1) {
    open_session(z, 0);
    return;
  }
  append_entries(z, m);
  send_ack(z); /* after the proposals' persist, as the host guarantees */
}

static void commit_upto(zab *z, uint64_t zxid) {
  if (zxid == 0 || zxid <= z->hist.base_zxid) return; /* compacted: committed long ago */
  uint64_t pos = zab_history_find(&z->hist, zxid);
  if (pos == 0) {
    open_session(z, 0); /* a commit of a proposal we never got */
    return;
  }
  if (pos > z->commit_index) z->commit_index = pos;
}

void zab_follower_recv(zab *z, int from, const zab_msg *m, const uint8_t *bytes, size_t len) {
  if (from != z->leader_id || m->session != z->session) return; /* another session's */
  zab_session_recv(z, m, bytes, len);
}

void zab_follower_reconnect(zab *z) { open_session(z, z->want_snap); }

/* One session message, in order. */
void zab_follower_deliver(zab *z, const zab_msg *m) {
  z->next_seq++;
  z->silence_deadline_us = z->now_us + zab_random_timeout(z);
  int ok_phase = 1;
  switch (m->type) {
  case ZAB_MSG_NEWEPOCH:
    ok_phase = z->phase == ZAB_DISCOVERY;
    if (ok_phase) recv_newepoch(z, m);
    break;
  case ZAB_MSG_DIFF:
  case ZAB_MSG_TRUNC:
  case ZAB_MSG_SNAP:
  case ZAB_MSG_NEWLEADER:
    ok_phase = z->phase == ZAB_SYNC && m->epoch == z->accepted_epoch;
    if (!ok_phase) break;
    if (m->type == ZAB_MSG_DIFF) recv_diff(z, m);
    if (m->type == ZAB_MSG_TRUNC) recv_trunc(z, m);
    if (m->type == ZAB_MSG_SNAP) zab_snapshot_recv_chunk(z, m);
    if (m->type == ZAB_MSG_NEWLEADER) recv_newleader(z, m);
    break;
  case ZAB_MSG_PROPOSAL:
  case ZAB_MSG_COMMIT:
    ok_phase = z->phase == ZAB_BROADCAST && m->epoch == z->current_epoch;
    if (!ok_phase) break;
    if (m->type == ZAB_MSG_PROPOSAL)
      recv_proposal(z, m);
    else
      commit_upto(z, m->zxid);
    break;
  case ZAB_MSG_PING:
    if (z->phase != ZAB_BROADCAST) break;
    commit_upto(z, m->zxid);
    if (z->state == ZAB_FOLLOWING && z->phase == ZAB_BROADCAST) send_ack(z);
    break;
  default: break;
  }
  if (!ok_phase) open_session(z, z->want_snap); /* out of protocol order: start over */
}

void zab_follower_timeout(zab *z) {
  if (z->now_us >= z->silence_deadline_us) {
    zab_start_looking(z);
    return;
  }
  if (z->phase != ZAB_BROADCAST && z->now_us >= z->retry_deadline_us) {
    open_session(z, z->want_snap);
    return;
  }
  zab_session_timeout(z);
}

void zab_follower_forward(zab *z, const uint8_t *data, size_t len) {
  zab_encode_forward(zab_send_begin(z, z->leader_id), data, len);
  zab_send_end(z);
}
