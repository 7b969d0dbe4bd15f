/* phase1.c: leader election as Paxos phase 1, run once for every slot from the candidate's first
 * unchosen one on.
 *
 * "Paxos Made Simple", section 3: a new leader "executes phase 1 for infinitely many instances"
 * with one short message; acceptors answer with the proposals they accepted in those instances.
 * For each open slot the leader then proposes the value of the highest-numbered proposal it was
 * told of (phase 2a, P2c), and fills the slots nobody accepted anything in with no-ops. A node
 * is LEADER only once q1 acceptors promised, so a round r, owned by node (r - 1) % n alone, has
 * at most one leader.
 *
 * A Promise holds at most one message's worth of accepted values; an acceptor with more says
 * where the rest starts, and the candidate asks for it with another Prepare of the same ballot.
 * An acceptor's promise counts only once all of it arrived: the candidate must know every value
 * a quorum accepted before it proposes anything.
 *
 * Membership (membership.c, rule (3)): the quorum is a majority of the voters of the
 * configuration after the candidate's chosen prefix; values of another epoch are not this
 * instance's, and a configuration command outvoted by a later, higher-ballot value of its epoch
 * becomes a no-op, while one that stands is the last slot the new leader proposes. */
#include <stdlib.h>
#include <string.h>

#include "mp_internal.h"

static void free_best(mp *p) {
  for (uint64_t i = 0; i < p->n_best; i++) free(p->best[i].data);
  free(p->best);
  p->best = NULL;
  p->n_best = p->cap_best = 0;
}

/* Makes best[0..n) valid (new slots empty). The array grows by doubling: a candidate offers its
 * own accepted values slot by slot, and growing by one slot each time copied the array once per
 * slot (thousands of open slots after a restart: quadratic, slow enough under AddressSanitizer
 * that the candidate's phase 1 outlasted the others' election timeouts, and leaders replaced
 * each other without committing). */
static int best_reserve(mp *p, uint64_t n) {
  if (n <= p->n_best) return 0;
  if (n > p->cap_best) {
    uint64_t cap = p->cap_best ? p->cap_best : 64;
    while (cap < n) cap *= 2;
    mp_slot *b = realloc(p->best, cap * sizeof *b);
    if (!b) return -1;
    p->best = b;
    p->cap_best = cap;
  }
  memset(p->best + p->n_best, 0, (n - p->n_best) * sizeof *p->best);
  p->n_best = n;
  return 0;
}

/* Keeps the value of the highest (epoch, ballot) offered for a slot (P2c, and membership.c's
 * rule (3): a value of a later epoch belongs to a later instance). */
static void offer(mp *p, const mp_item *v) {
  if (v->slot < p->first_open) return;
  uint64_t i = v->slot - p->first_open;
  if (best_reserve(p, i + 1) != 0) {
    p->out_of_memory = 1;
    return;
  }
  mp_slot *b = &p->best[i];
  if (v->epoch < b->epoch || (v->epoch == b->epoch && v->ballot <= b->ballot)) return;
  if (mp_slot_put(b, v->ballot, v->epoch, v->kind, v->data, v->len) != 0) p->out_of_memory = 1;
}

static void offer_own(mp *p, uint64_t s) {
  const mp_slot *own = MP_SLOT(p, s);
  if (!own->ballot) return;
  mp_item v = {s, own->ballot, own->epoch, own->kind, own->data, own->len};
  offer(p, &v);
}

/* The best value for slot s among those of epoch `epoch` (membership.c, rule (3)); a forced
 * configuration takes older epochs too. NULL: a hole. */
static const mp_slot *best_in(const mp *p, uint64_t s, uint64_t epoch, int forced) {
  if (s - p->first_open >= p->n_best) return NULL;
  const mp_slot *b = &p->best[s - p->first_open];
  if (!b->ballot || (b->epoch != epoch && !(forced && b->epoch < epoch))) return NULL;
  return b;
}

/* Rule (3): a configuration command at s of ballot `ballot` stands unless a value of the same
 * epoch at a later slot was proposed in a higher ballot. */
static int config_stands(const mp *p, uint64_t s, uint64_t ballot, uint64_t epoch) {
  for (uint64_t t = s + 1; t - p->first_open < p->n_best; t++) {
    const mp_slot *b = &p->best[t - p->first_open];
    if (b->ballot > ballot && b->epoch == epoch) return 0;
  }
  return 1;
}

void mp_become_follower(mp *p, uint64_t promised) {
  if (promised > p->promised) p->promised = promised; /* volatile: a hint, not a promise */
  p->role = MP_FOLLOWER;
  p->leader_id = MP_NO_NODE;
  p->conf_pending = 0; /* a leader's: nothing pending once it follows */
  p->conf_recovered = 0;
  p->leave_deadline_us = 0;
  free_best(p);
  mp_reset_election_timer(p);
}

void mp_follow(mp *p, int from, uint64_t ballot) {
  if (ballot > p->promised) {
    p->promised = ballot;
    mp_persist_promise(p);
  }
  if (p->role != MP_FOLLOWER) mp_become_follower(p, 0);
  p->leader_id = from;
  mp_reset_election_timer(p);
}

static void become_leader(mp *p) {
  uint64_t last = p->first_open - 1 + p->n_best;
  if (p->n_slots > last) last = p->n_slots;
  if (mp_slots_reserve(p, last) != 0) {
    p->out_of_memory = 1;
    return;
  }
  uint64_t epoch = p->conf.epoch;
  int forced = p->forced && epoch == p->base_conf.epoch;
  p->conf_pending = 0;
  p->conf_recovered = 0;
  for (uint64_t s = p->first_open; s <= last; s++) {
    mp_slot *slot = MP_SLOT(p, s);
    const mp_slot *b = best_in(p, s, epoch, forced);
    if (b && b->kind == MP_KIND_CONFIG && !config_stands(p, s, b->ballot, epoch))
      b = NULL; /* never chosen: a no-op instead */
    p->live_bytes -= slot->ballot ? 12 + slot->len : 0;
    int rc = b ? mp_slot_put(slot, p->ballot, epoch, b->kind, b->data, b->len)
               : mp_slot_put(slot, p->ballot, epoch, MP_KIND_COMMAND, NULL, 0); /* a hole */
    if (rc != 0) p->out_of_memory = 1;
    p->live_bytes += 12 + slot->len;
    slot->acks = 1u << p->id;
    if (b && b->kind == MP_KIND_CONFIG) { /* it ends this instance: rule (4) */
      p->conf_pending = s;
      p->conf_recovered = 1;
      last = s;
    }
  }
  if (last >= p->first_open) mp_persist_accepted(p, p->first_open, last - p->first_open + 1);
  free_best(p);
  p->role = MP_LEADER;
  p->leader_id = p->id;
  mp_lease_leader_init(p);
  p->sent_upto = p->first_open - 1;
  p->inflight_start = p->inflight_count = 0;
  for (int i = 0; i < p->n; i++)
    p->peers[i] =
        (mp_peer){.last_heard_us = p->now_us, .sent = p->sent_upto, .acked = p->sent_upto};
  mp_maybe_commit(p);
  mp_flush(p);
  mp_heartbeat(p);
}

void mp_start_phase1(mp *p) {
  uint64_t floor = p->promised > p->ballot ? p->promised : p->ballot;
  uint64_t r = floor + 1;
  r += ((uint64_t)p->id + (uint64_t)p->n - (r - 1) % (uint64_t)p->n) % (uint64_t)p->n;
  p->promised = p->ballot = r;
  mp_persist_promise(p);
  p->role = MP_CANDIDATE;
  p->leader_id = MP_NO_NODE;
  p->promises = 1u << p->id;
  memset(p->promise_next, 0, sizeof p->promise_next);
  p->first_open = p->commit_index + 1;
  free_best(p);
  for (uint64_t s = p->first_open; s <= p->n_slots; s++) offer_own(p, s);
  mp_reset_election_timer(p); /* try again with a higher round if this one fails */
  if (mp_quorum(p, &p->conf, p->promises, 1)) { /* our promise alone: multipaxos.c, early */
    become_leader(p);
    mp_note_solo(p);
    return;
  }
  for (int i = 0; i < p->n; i++) {
    if (i == p->id || !(p->flexible || mp_is_voter(p, i))) continue;
    mp_encode_prepare(mp_send_begin(p, i), p->ballot, p->first_open);
    mp_send_end(p);
  }
}

void mp_recv_prepare(mp *p, int from, const mp_msg *m) {
  if (mp_lease_refuses_prepare(p, m)) return;        /* lease.c: a promise to the current leader */
  if (!p->flexible && !mp_is_voter(p, from)) return; /* removed, or not yet a voter */
  wire_writer *w = mp_send_begin(p, from);
  if (m->ballot < p->promised) {
    size_t pos = mp_encode_promise_begin(w, m->ballot, 0, p->promised);
    mp_encode_promise_end(w, pos, 0, 0);
    mp_send_end(p);
    return;
  }
  if (m->ballot > p->promised) {
    if (p->role != MP_FOLLOWER) mp_become_follower(p, 0);
    p->promised = m->ballot;
    p->leader_id = MP_NO_NODE;
    mp_persist_promise(p); /* durable before the Promise leaves */
  }
  mp_reset_election_timer(p);
  if (m->first <= p->base) { /* slots it asks for are gone: they are in our snapshot */
    mp_encode_promise_snap(w, m->ballot, p->promised, p->snap.held.index);
    mp_send_end(p);
    return;
  }
  size_t pos = mp_encode_promise_begin(w, m->ballot, 1, p->promised);
  uint32_t n = 0;
  uint64_t next = 0;
  size_t bytes = 0;
  for (uint64_t s = m->first; s <= p->n_slots; s++) {
    const mp_slot *slot = MP_SLOT(p, s);
    if (!slot->ballot) continue;
    bytes += MP_PROMISE_ENTRY_BYTES(slot->len);
    if (bytes > MP_MAX_ITEMS_BYTES) {
      next = s; /* the rest in another chunk */
      break;
    }
    mp_encode_promise_entry(w, s, slot);
    n++;
  }
  mp_encode_promise_end(w, pos, next, n);
  mp_send_end(p);
}

void mp_recv_promise(mp *p, int from, const mp_msg *m) {
  if (!m->ok) {
    if (m->promised > p->ballot && p->role != MP_FOLLOWER) mp_become_follower(p, m->promised);
    return;
  }
  if (p->role != MP_CANDIDATE || m->ballot != p->ballot || (p->promises & (1u << from))) return;
  if (m->next && m->next <= p->promise_next[from]) return; /* a chunk seen before */
  if (m->snap) { /* it holds chosen slots only as a snapshot: fetch it, then ask again */
    if (m->snap > p->commit_index) { /* (a late one may name a snapshot we have) */
      mp_reset_election_timer(p);
      mp_snap_pull(p, from, m->snap);
    }
    return;
  }
  mp_item_iter it;
  mp_item_iter_init(&it, m);
  for (uint32_t i = 0; i < m->n; i++) {
    mp_item v;
    mp_item_next(&it, &v);
    if (!p->opt.bug_ignore_accepted) offer(p, &v);
  }
  if (m->next) {
    p->promise_next[from] = m->next;
    mp_reset_election_timer(p); /* making progress: give the rest time to come */
    mp_encode_prepare(mp_send_begin(p, from), p->ballot, m->next);
    mp_send_end(p);
    return;
  }
  p->promises |= 1u << from;
  if (mp_quorum(p, &p->conf, p->promises, 1)) become_leader(p);
}
