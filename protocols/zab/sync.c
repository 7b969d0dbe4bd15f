/* sync.c: synchronization (Zab phase 2), the leader's side: bringing one follower's history in
 * line with the leader's, as ZooKeeper's LearnerHandler.syncFollower does.
 *
 * From the follower's ACKEPOCH (last zxid, history length) the leader picks one of:
 *   DIFF        the follower's history is a prefix of the leader's: send what it misses;
 *   TRUNC+DIFF  it holds proposals the leader does not have (never committed, or the leader
 *               would have them): keep the longest prefix that can be shared, then DIFF;
 *   SNAP        it misses more than snap_threshold proposals, or proposals the leader compacted
 *               away, or asked for one because a DIFF or TRUNC did not fit its history: the
 *               leader's snapshot of its state machine (snapshot.c), in chunks, then a DIFF of
 *               the history after it (with no snapshot yet: an empty one, and the whole history).
 * then NEWLEADER, after which the follower's history equals the leader's, and, when the leader
 * is already broadcasting, the commit point.
 *
 * The follower holds SNAP chunks and the DIFF after them in memory and installs them together
 * when NEWLEADER arrives (one persist_replace): it never holds a partial snapshot durably, so a
 * crash mid-transfer cannot make it forget a proposal a quorum relies on.
 *
 * Same zxid, same prefix: a zxid is assigned once, by the one leader of its epoch, and every
 * history holding it got the prefix before it from that leader. So a follower whose entry at
 * position k has the zxid of the leader's position k shares positions 1 .. k; the follower
 * checks exactly that before it applies a DIFF or TRUNC, and asks for a SNAP when it fails. */
#include "zab_internal.h"

/* How many entries from first (<= last) fit one message. */
static uint32_t chunk_len(const zab_history *h, uint64_t first, uint64_t last) {
  uint32_t n = 0;
  size_t bytes = 0;
  while (first + n <= last && n < ZAB_MAX_PER_MSG) {
    size_t b = 13 + zab_history_at(h, first + n)->len;
    if (n > 0 && bytes + b > ZAB_CHUNK_BYTES) break;
    bytes += b;
    n++;
  }
  return n;
}

void zab_send_entries(zab *z, int to, zab_msg_type type, uint64_t first, uint64_t last) {
  do {
    uint32_t n = first <= last ? chunk_len(&z->hist, first, last) : 0;
    wire_writer *w = zab_session_begin(z, to, type);
    if (type == ZAB_MSG_DIFF) {
      wire_put_u64(w, first - 1);
      wire_put_u64(w, zab_history_zxid(&z->hist, first - 1));
    } else {
      wire_put_u64(w, first);
    }
    wire_put_u32(w, n);
    zab_encode_entries(w, &z->hist, first, n);
    zab_send_end(z);
    first += n;
  } while (first <= last);
}

/* The longest prefix of ours the follower can share: its whole history when its last zxid sits
 * at the same position in ours; otherwise at most what precedes its last zxid. *trunc is set
 * when the follower holds proposals past that prefix. Below our compacted prefix it cannot be
 * told: a result below hist.base means SNAP. */
static uint64_t shared_prefix(const zab *z, const zab_peer *peer, int *trunc) {
  *trunc = 0;
  if (peer->length == 0) return 0;
  if (peer->length <= z->hist.n && zab_history_zxid(&z->hist, peer->length) == peer->last_zxid)
    return peer->length;
  *trunc = 1;
  uint64_t k = zab_history_count_below(&z->hist, peer->last_zxid);
  return k < peer->length - 1 ? k : peer->length - 1;
}

void zab_sync_follower(zab *z, int to) {
  zab_peer *peer = &z->peers[to];
  int trunc = 0;
  uint64_t k = peer->want_snap ? 0 : shared_prefix(z, peer, &trunc);
  if (peer->want_snap || k < z->hist.base || z->hist.n - k > (uint64_t)z->opt.snap_threshold) {
    zab_snapshot_send(z, to);
  } else {
    if (trunc) {
      wire_writer *w = zab_session_begin(z, to, ZAB_MSG_TRUNC);
      wire_put_u64(w, k);
      wire_put_u64(w, zab_history_zxid(&z->hist, k));
      zab_send_end(z);
    }
    if (!trunc || k < z->hist.n) zab_send_entries(z, to, ZAB_MSG_DIFF, k + 1, z->hist.n);
  }
  wire_writer *w = zab_session_begin(z, to, ZAB_MSG_NEWLEADER);
  wire_put_u64(w, zab_history_last(&z->hist));
  wire_put_u64(w, z->hist.n);
  zab_send_end(z);
  peer->stage = ZAB_PEER_SYNCED;
  peer->acked = 0;
  peer->sent = peer->acked_pos = z->hist.n; /* flow control counts proposals after this */
  peer->commit_sent = 0;
  peer->resync = 0;
  if (z->phase == ZAB_BROADCAST && z->commit_index > 0) {
    wire_put_u64(zab_session_begin(z, to, ZAB_MSG_COMMIT),
                 zab_history_zxid(&z->hist, z->commit_index));
    zab_send_end(z);
    peer->commit_sent = z->commit_index;
  }
}
