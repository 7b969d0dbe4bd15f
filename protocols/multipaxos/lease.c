/* lease.c: leader leases for reads without a log write (read_mode = "lease").
 *
 * The leader sends a numbered LeaseProbe to every acceptor once per heartbeat interval; an
 * acceptor that has promised the probe's ballot (or nothing higher) answers, and from then on
 * ignores every Prepare of a higher ballot for the minimum election timeout on its own clock
 * (the stickiness Raft's thesis 4.2.3 describes; a node also ignores them for that long after it
 * starts, having perhaps forgotten such a promise in a crash). Once n - q1 + 1 nodes (the leader
 * included) answered a probe, every phase 1 quorum contains one of them, so no other leader can
 * be chosen before the promises run out: the leader holds a lease from when it sent the probe,
 * for the minimum election timeout divided by (1 + lease_drift_percent / 100), and answers a
 * get from its own state at once while the lease lasts and every slot it re-proposed after its
 * phase 1 is chosen. Otherwise a get goes through the log. A leader with a valid lease ignores
 * higher Prepares too.
 *
 * Default read_mode "log": none of this runs and no probe is sent. */
#include <stdlib.h>

#include "mp_internal.h"

static int lease_mode(const mp *p) { return p->opt.read_mode == MP_READ_LEASE; }

static uint64_t lease_us(const mp *p) {
  return p->election_lo_us * 100 / (100 + (uint64_t)p->opt.lease_drift_percent);
}

void mp_lease_started(mp *p) {
  if (lease_mode(p)) p->lease.quiet_until_us = p->now_us + p->election_lo_us;
}

void mp_lease_note_leader(mp *p) {
  if (lease_mode(p)) p->lease.contact_us = p->now_us;
}

static int lease_valid(const mp *p) {
  return p->role == MP_LEADER && p->lease.ballot == p->ballot && p->now_us < p->lease.until_us;
}

int mp_lease_refuses_prepare(const mp *p, const mp_msg *m) {
  if (!lease_mode(p) || m->ballot <= p->promised) return 0;
  if (p->now_us < p->lease.quiet_until_us || lease_valid(p)) return 1;
  return p->lease.contact_us && p->now_us < p->lease.contact_us + p->election_lo_us;
}

void mp_lease_leader_init(mp *p) {
  p->lease.ready_slot = p->n_slots; /* everything re-proposed in phase 2 so far */
  p->lease.until_us = 0;
}

static void start_round(mp *p) {
  mp_lease_state *l = &p->lease;
  l->round++;
  l->round_ballot = p->ballot;
  l->round_sent_us = p->now_us;
  l->round_acks = 1u << p->id;
  for (int i = 0; i < p->n; i++) {
    if (i == p->id) continue;
    mp_encode_lease_probe(mp_send_begin(p, i), 0, p->ballot, l->round, 1);
    mp_send_end(p);
  }
}

void mp_lease_tick(mp *p) {
  if (!lease_mode(p) || p->role != MP_LEADER || p->n == 1) return;
  mp_lease_state *l = &p->lease;
  if (l->round_ballot == p->ballot && p->now_us < l->round_sent_us + p->heartbeat_us) return;
  start_round(p);
}

void mp_lease_recv_probe(mp *p, int from, const mp_msg *m) {
  int ok = m->ballot >= p->promised;
  if (ok) {
    mp_follow(p, from, m->ballot);
    p->lease.contact_us = p->now_us;
  }
  mp_encode_lease_probe(mp_send_begin(p, from), 1, m->ballot, m->first, ok);
  mp_send_end(p);
}

void mp_lease_recv_probe_reply(mp *p, int from, const mp_msg *m) {
  mp_lease_state *l = &p->lease;
  if (p->role != MP_LEADER || m->ballot != p->ballot || !m->ok) return;
  if (m->first != l->round || l->round_ballot != p->ballot) return; /* an older round */
  p->peers[from].last_heard_us = p->now_us;
  l->round_acks |= 1u << from;
  if (__builtin_popcount(l->round_acks) < p->n - p->q1 + 1) return;
  uint64_t until = l->round_sent_us + lease_us(p);
  if (l->ballot != p->ballot || until > l->until_us) l->until_us = until;
  l->ballot = p->ballot;
}

int mp_lease_read(mp *p, const uint8_t *data, size_t len) {
  if (!lease_mode(p) || !lease_valid(p) || p->commit_index < p->lease.ready_slot) return 0;
  ctk_footprint f = ctk_command_footprint(data, len);
  if (!f.known || f.write) return 0;
  if (ctk_readbox_add(&p->lease.served, data, len) != 0) return 0; /* no memory: through the log */
  if (ctk_readbox_failed(&p->lease.served)) p->out_of_memory = 1;
  return 1;
}

void mp_lease_output_reset(mp *p) { ctk_readbox_reset(&p->lease.served); }

void mp_lease_output(mp *p, ctk_output *out) { ctk_readbox_output(&p->lease.served, out); }

void mp_lease_free(mp *p) { ctk_readbox_free(&p->lease.served); }
