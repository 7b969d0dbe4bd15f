/* phase2.c: the steady state: the leader's Accepts (phase 2a) of batches of slots, pipelined,
 * the acceptors' Accepted (phase 2b), the commit index piggybacked on later Accepts and
 * heartbeats, catch-up of lagging acceptors, and client commands.
 *
 * An acceptor learns that slot s is chosen from a commit index c >= s carried by an Accept of
 * ballot b only when it holds, for s, the value it accepted in ballot b: that is the one value
 * the leader of b proposed for s, and the leader only counts s committed once q2 acceptors
 * accepted it. Slots it holds from other ballots are sent again (catch-up) in the current one.
 *
 * Flow control (max_inflight_per_acceptor > 0): the broadcast stream goes to each acceptor only
 * while fewer than the cap of slots sent to it are unacknowledged; one that hits the cap is sent
 * nothing new (the leader remembers only how far it was sent, peer.sent) and resumes from there as
 * its Accepted replies arrive. Catch-up never sends it past peer.sent; one whose next slot is at or
 * below our discarded prefix gets our snapshot (send_catchup).
 *
 * Membership (membership.c): the leader sends to the voters and learners of its configuration
 * (mp_audience), sends nothing past a configuration command not yet chosen, and a majority of
 * the configuration's voters chooses a slot. */
#include "mp_internal.h"

static void send_accept(mp *p, int to, uint64_t first, uint32_t n) {
  const mp_slot *slots = n ? MP_SLOT(p, first) : NULL;
  mp_encode_accept(mp_send_begin(p, to), p->ballot, p->commit_index, first, slots, n);
  mp_send_end(p);
}

static void inflight_pop(mp *p) {
  while (p->inflight_count && p->inflight[p->inflight_start] <= p->commit_index) {
    p->inflight_start = (p->inflight_start + 1) % (uint32_t)p->opt.max_inflight;
    p->inflight_count--;
  }
}

/* Flow control: sends `to` the broadcast slots past peer.sent while fewer than the cap are
 * unacknowledged, in batches cut to the room left. */
static void pump(mp *p, int to) {
  mp_peer *peer = &p->peers[to];
  uint64_t cap = (uint64_t)p->opt.max_inflight_per_acceptor;
  if (peer->commit > peer->acked) peer->acked = peer->commit;
  if (peer->sent < peer->acked) peer->sent = peer->acked;
  if (peer->sent < p->base) return; /* its next slot is gone: the heartbeat pushes the snapshot */
  while (peer->sent < p->sent_upto && peer->sent - peer->acked < cap) {
    uint64_t room = cap - (peer->sent - peer->acked);
    uint64_t max = (uint64_t)p->opt.max_batch < room ? (uint64_t)p->opt.max_batch : room;
    uint32_t k = mp_batch_len(p, peer->sent + 1, max);
    if (peer->sent + k > p->sent_upto) k = (uint32_t)(p->sent_upto - peer->sent);
    send_accept(p, to, peer->sent + 1, k);
    peer->sent += k;
  }
}

void mp_flush(mp *p) {
  if (p->role != MP_LEADER) return;
  /* Nothing past a configuration command not yet chosen (membership.c, rule (1)). */
  uint64_t end = p->conf_pending ? p->conf_pending : p->n_slots;
  if (p->n == 1) {
    p->sent_upto = end;
    return;
  }
  inflight_pop(p);
  int capped = p->opt.max_inflight_per_acceptor > 0;
  uint32_t to = mp_audience(p);
  while (p->sent_upto < end && p->inflight_count < (uint32_t)p->opt.max_inflight) {
    uint32_t k = mp_batch_len(p, p->sent_upto + 1, (uint64_t)p->opt.max_batch);
    if (p->sent_upto + k > end) k = (uint32_t)(end - p->sent_upto);
    for (int i = 0; i < p->n && !capped; i++)
      if (to >> i & 1) send_accept(p, i, p->sent_upto + 1, k);
    p->sent_upto += k;
    uint32_t tail = (p->inflight_start + p->inflight_count) % (uint32_t)p->opt.max_inflight;
    p->inflight[tail] = p->sent_upto;
    p->inflight_count++;
  }
  for (int i = 0; i < p->n && capped; i++)
    if (to >> i & 1) pump(p, i);
}

/* Every slot the leader holds in its ballot past the chosen prefix is of the configuration of
 * that prefix (membership.c, rules (1) and (2)): a majority of its voters chooses it. (A slot of
 * another epoch is counted by no one: only a deposed leader that installed a snapshot past a
 * configuration it did not know can hold one.) */
void mp_maybe_commit(mp *p) {
  while (p->commit_index < p->n_slots) {
    const mp_slot *s = MP_SLOT(p, p->commit_index + 1);
    if (s->ballot != p->ballot || s->epoch != p->conf.epoch || !mp_quorum(p, &p->conf, s->acks, 2))
      break;
    if (mp_quorum(p, &p->conf, 1u << p->id, 2)) mp_note_solo(p); /* chosen by our vote alone? */
    p->commit_index++;
    if (s->kind == MP_KIND_CONFIG) mp_conf_sync(p);
  }
}

/* Sends a peer the first slots it lacks in the current ballot (from its chosen prefix on, or
 * from ours when a peer knows more than we do: the leader still needs its Accepted), or an empty
 * Accept that carries the commit index. */
static void send_catchup(mp *p, int to) {
  mp_peer *peer = &p->peers[to];
  uint64_t start = (peer->commit < p->commit_index ? peer->commit : p->commit_index) + 1;
  if (start <= p->base) { /* those slots are gone: it needs our snapshot */
    if (peer->heard)
      mp_snap_push(p, to);
    else
      send_accept(p, to, p->sent_upto + 1, 0); /* first learn how far it is */
    return;
  }
  /* With flow control, never past what the stream sent it (that stays within the cap). */
  uint64_t limit =
      p->opt.max_inflight_per_acceptor > 0 && peer->sent < p->sent_upto ? peer->sent : p->sent_upto;
  while (start <= limit && start >= p->first_open && (MP_SLOT(p, start)->acks & (1u << to)))
    start++;
  if (start > limit) {
    send_accept(p, to, limit + 1, 0);
    return;
  }
  uint64_t end = start + mp_batch_len(p, start, (uint64_t)p->opt.max_batch) - 1;
  if (end > limit) end = limit;
  send_accept(p, to, start, (uint32_t)(end - start + 1));
  peer->catchup_end = end;
}

void mp_heartbeat(mp *p) {
  p->heartbeat_deadline_us = p->now_us + p->heartbeat_us;
  /* A leader that heard from fewer than q2 acceptors for an election timeout can commit
   * nothing: it steps down, so that clients look elsewhere. */
  uint32_t heard = 1u << p->id;
  for (int i = 0; i < p->n; i++)
    if (i != p->id && p->now_us - p->peers[i].last_heard_us < p->election_hi_us) heard |= 1u << i;
  if (!mp_quorum(p, &p->conf, heard, 2)) {
    mp_become_follower(p, 0);
    return;
  }
  uint32_t to = mp_audience(p);
  for (int i = 0; i < p->n; i++)
    if (to >> i & 1) send_catchup(p, i);
}

void mp_recv_accept(mp *p, int from, const mp_msg *m) {
  if (m->ballot < p->promised) {
    mp_encode_accepted(mp_send_begin(p, from), m->ballot, 0, p->promised, m->first, 0,
                       p->commit_index);
    mp_send_end(p);
    return;
  }
  mp_follow(p, from, m->ballot);
  mp_lease_note_leader(p);
  uint64_t first = m->first;
  uint32_t n = m->n;
  if (n > 0 && first <= p->base) {
    /* Slots chosen and gone here: not accepted again (an old leader's proposal may differ from
     * what was chosen). A leader behind our snapshot may need it to make progress. */
    uint64_t skip = p->base + 1 - first;
    if (m->commit < p->snap.held.index) mp_snap_push(p, from);
    first = skip >= n ? m->first : first + skip;
    n = skip >= n ? 0 : n - (uint32_t)skip;
  }
  if (n > 0) {
    if (mp_slots_reserve(p, first + n - 1) != 0) {
      p->out_of_memory = 1;
      return;
    }
    mp_item_iter it;
    mp_item_iter_init(&it, m);
    for (uint32_t i = 0; i < m->n; i++) {
      mp_item v;
      mp_item_next(&it, &v);
      if (m->first + i < first) continue;
      mp_slot *s = MP_SLOT(p, m->first + i);
      p->live_bytes -= s->ballot ? 12 + s->len : 0;
      if (mp_slot_put(s, m->ballot, m->epoch, v.kind, v.data, v.len) != 0) p->out_of_memory = 1;
      p->live_bytes += 12 + s->len;
    }
    mp_persist_accepted(p, first, n); /* durable before the Accepted leaves */
  }
  while (p->commit_index < m->commit && p->commit_index < p->n_slots &&
         MP_SLOT(p, p->commit_index + 1)->ballot == m->ballot)
    p->commit_index++;
  mp_encode_accepted(mp_send_begin(p, from), m->ballot, 1, p->promised, first, n, p->commit_index);
  mp_send_end(p);
}

void mp_recv_accepted(mp *p, int from, const mp_msg *m) {
  if (!m->ok) {
    if (m->promised > p->ballot && p->role != MP_FOLLOWER) mp_become_follower(p, m->promised);
    return;
  }
  if (p->role != MP_LEADER || m->ballot != p->ballot) return;
  mp_peer *peer = &p->peers[from];
  peer->last_heard_us = p->now_us;
  peer->commit = m->commit;
  peer->heard = 1;
  for (uint64_t s = m->first; s < m->first + m->n; s++)
    if (s > p->base) MP_SLOT(p, s)->acks |= 1u << from;
  if (m->n && m->first + m->n - 1 > peer->acked) peer->acked = m->first + m->n - 1;
  if (m->n) mp_note_acked(p, m->first + m->n - 1);
  mp_maybe_commit(p);
  if (peer->catchup_end && m->n && m->first + m->n - 1 >= peer->catchup_end) {
    peer->catchup_end = 0;
    if (peer->commit < p->commit_index) send_catchup(p, from);
  }
  mp_flush(p);
}

static int leader_has_room(const mp *p) {
  return p->n_slots - p->commit_index < MP_MAX_UNCOMMITTED;
}

int mp_check_command(const mp *p, size_t len) {
  if (len == 0 || len > CTK_MAX_COMMAND_BYTES) return CTK_ERR_INVALID;
  /* A configuration command not yet chosen holds new slots back (membership.c). */
  if (p->role == MP_LEADER && !mp_is_voter(p, p->id)) return CTK_ERR_REJECTED; /* leaving */
  if (p->role == MP_LEADER) return leader_has_room(p) && !p->conf_pending ? CTK_OK : CTK_ERR_BUSY;
  if (p->role == MP_FOLLOWER && p->leader_id != MP_NO_NODE) return CTK_OK;
  return CTK_ERR_REJECTED;
}

static void leader_append(mp *p, const uint8_t *data, size_t len) {
  uint64_t slot = p->n_slots + 1;
  if (mp_slots_reserve(p, slot) != 0 ||
      mp_slot_put(MP_SLOT(p, slot), p->ballot, p->conf.epoch, MP_KIND_COMMAND, data, len)) {
    p->out_of_memory = 1;
    return;
  }
  MP_SLOT(p, slot)->acks = 1u << p->id;
  p->live_bytes += 12 + len;
  mp_persist_accepted(p, slot, 1);
  mp_maybe_commit(p);
}

void mp_client_command(mp *p, const uint8_t *data, size_t len) {
  if (p->role == MP_LEADER) {
    leader_append(p, data, len);
    mp_flush(p);
    return;
  }
  mp_encode_forward(mp_send_begin(p, p->leader_id), data, len);
  mp_send_end(p);
}

void mp_recv_forward(mp *p, const mp_msg *m) {
  if (p->role != MP_LEADER || p->conf_pending || !mp_is_voter(p, p->id)) return;
  mp_item_iter it;
  mp_item_iter_init(&it, m);
  for (uint32_t i = 0; i < m->n && leader_has_room(p); i++) {
    mp_item v;
    mp_item_next(&it, &v);
    leader_append(p, v.data, v.len);
  }
  mp_flush(p);
}
