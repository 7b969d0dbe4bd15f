/* membership.c: Multi-Paxos's membership changes, through the log: configurations, quorums over
 * them, the operator's requests (add, remove, transfer, force) and the leader's part in changes.
 *
 * A configuration (voters, learners) is a value chosen in a slot like any command (the state
 * machine approach of Lamport's "Reconfiguring a State Machine" and of "Paxos Made Moderately
 * Complex"): the configuration that governs slot i is the one made by the last configuration
 * command chosen below i (else the initial one, [cluster] members, or a snapshot's). A slot is
 * chosen by a majority of the voters of its configuration; learners receive the log but their
 * acceptances count for nothing. With alpha = 1, slot j + 1 cannot be proposed before the
 * command at j is known: so, as in Stoppable Paxos (Lamport, Malkhi and Zhou, 2008), a
 * configuration command at slot j *stops* the configuration before it, and slots past j form a
 * new instance of consensus in the new configuration. Each accepted value carries its epoch,
 * the slot of the configuration command its proposer ran it under (0: the initial one), which
 * tells a later leader which instance a value belongs to.
 *
 * The rules (each Stoppable Paxos's, with our epochs for its instances):
 *   (1) A leader proposes a new configuration command only at the end of its log, and proposes
 *       nothing past a configuration command of its own before that command is chosen (client
 *       commands meanwhile are refused with BUSY). When the pipeline holds no configuration
 *       command, nothing changes: batches and pipelining are as before.
 *   (2) A leader proposes slot s in epoch e only when it knows the configuration command at e
 *       chosen and none chosen in (e, s): the configuration of its chosen prefix. It counts a
 *       slot chosen only when a majority of that configuration's voters accepted it in its
 *       ballot, and only a slot of that epoch (phase2.c, mp_maybe_commit).
 *   (3) Phase 1: a candidate with chosen prefix 1..c knows the configuration C of slot c + 1,
 *       exactly, and needs promises from a majority of C's voters (it sends them Prepare). Per slot
 *       it keeps the value with the highest (epoch, ballot), considers only values of C's epoch
 *       (values of older epochs past c were proposed past a stop of their instance and can never be
 *       chosen), and scans upward: a configuration command at s of ballot b is replaced by a no-op
 *       when a value of the same epoch at a later slot has a ballot above b (Stoppable Paxos: the
 *       leader of that higher ballot, obeying (1) and (2), proposed something else at s, so the
 *       command was not chosen below it, and by the phase 1 argument nothing was chosen at s in
 *       ballots below ours); otherwise it stands, is proposed, and ends the instance: slots past it
 *       are left alone.
 *   (4) A leader that re-proposed such a configuration command runs phase 1 again (a new
 *       ballot) once it is chosen: its chosen prefix then reaches the command, so rule (3) asks
 *       the new configuration's voters for the slots past it. Until then it sends nothing past
 *       the command, not even once it is chosen (the slots past it that it holds are not of its
 *       ballot: sending them was membership sweep seed 200's agreement violation). A leader that
 *       the command removed leaves instead (below), and sends nothing past it either (3-node
 *       membership sweep seed 42869).
 * Why phase 1 over the old configuration alone is enough: a leader that has not learned that C2
 * (at slot j) was chosen has c < j; C governs c + 1, and the only way a slot past c can have
 * been chosen by C2's voters is with epoch j, which (2) allows only after j was chosen; a chosen
 * j is found by the majority of C (standard Paxos at slot j, in instance C), stands by (3), and
 * by (4) the leader asks C2's majority before it proposes anything past j. Stoppable Paxos's
 * invariant (a stop chosen at s means nothing chosen past s in that instance, and a value past
 * s chosen means no stop chosen at s) makes the configuration of every slot unique, so every
 * slot is an ordinary Paxos instance with one acceptor set, and chosen values never change.
 *
 * Operator requests (CTK_EVENT_ADMIN), at the leader only (others answer REJECTED and name the
 * leader): `add N` chooses a configuration with N a learner; once N's chosen prefix is within
 * learner_catchup (an option) slots of the leader's (a snapshot transfer brings it there when it
 * is far behind), the leader chooses one with N a voter. `remove N` chooses one without N. A leader
 * that removed itself keeps leading once the change is chosen, taking no commands, until a voter
 * reports a chosen prefix that includes the change (so that it knows it votes), sends it a
 * TimeoutNow and steps down; after an election timeout it steps down regardless. Removed nodes
 * are sent the log for two election timeouts more, so that they learn their removal and stop
 * campaigning; a voter ignores a Prepare from a node outside its configuration's voters, and a
 * node outside them never campaigns. Which configuration a node is in must survive a restart
 * (otherwise the only voters may not know they vote, and nobody campaigns: membership sweep
 * seed 395, 3-node sweep seed 154): the chosen prefix is persisted (a COMMIT record, durable.c)
 * whenever it passes a configuration command, and a snapshot carries its configuration. `transfer
 * N` sends voter N a TimeoutNow, on which it runs phase 1 at once (Paxos needs no up-to-date
 * candidate: phase 1 recovers what it lacks). `force N,M,...` is the UNSAFE way out of permanent
 * quorum loss: the node takes those voters as the configuration after its chosen prefix, without
 * asking anyone (a durable BASE record), and a leader of that forced configuration also takes
 * values of older epochs; values chosen by the lost majority alone are lost.
 *
 * Flexible quorums (q1/q2) and read_mode = "lease" assume a fixed set of n acceptors: combined
 * with [cluster] members they are refused at create, and membership requests are refused
 * (CTK_ERR_INVALID) when either is configured. */
#include <stdio.h>
#include <string.h>

#include "common/admin.h"
#include "mp_internal.h"

static uint32_t all_nodes(int n) { return (uint32_t)((1ull << n) - 1); }

void mp_conf_init(mp *p, uint32_t members) {
  p->base_conf = (mp_config){.voters = members ? members : all_nodes(p->n)};
  p->base_at = 0;
  p->conf = p->base_conf;
}

void mp_conf_encode(const mp_config *c, uint8_t out[MP_CONFIG_BYTES]) {
  for (int i = 0; i < 4; i++) {
    out[i] = (uint8_t)(c->voters >> (24 - 8 * i));
    out[4 + i] = (uint8_t)(c->learners >> (24 - 8 * i));
  }
}

int mp_conf_decode(const uint8_t *data, size_t len, int n, mp_config *c) {
  if (!data || len != MP_CONFIG_BYTES) return -1;
  c->voters = c->learners = 0;
  for (int i = 0; i < 4; i++) {
    c->voters = c->voters << 8 | data[i];
    c->learners = c->learners << 8 | data[4 + i];
  }
  if (!c->voters || (c->voters & c->learners) || ((c->voters | c->learners) & ~all_nodes(n)))
    return -1;
  return 0;
}

/* The configuration a chosen slot makes, if it holds one. */
static int slot_config(const mp *p, uint64_t s, mp_config *c) {
  const mp_slot *slot = mp_slot_at(p, s);
  if (!slot || slot->kind != MP_KIND_CONFIG || mp_conf_decode(slot->data, slot->len, p->n, c))
    return 0;
  c->epoch = s;
  return 1;
}

mp_config mp_conf_at(const mp *p, uint64_t k) {
  mp_config c;
  for (uint64_t s = k; s > p->base_at && s > p->base; s--)
    if (slot_config(p, s, &c)) return c;
  return p->base_conf;
}

/* A configuration command of ours is chosen: new slots may follow it. One that phase 1 found
 * stays pending until the leader ran phase 1 again (rule (4), mp_membership_tick): the slots past
 * it are not ours to send. */
static void settle_pending(mp *p) {
  if (p->conf_pending && p->conf_pending <= p->commit_index && !p->conf_recovered)
    p->conf_pending = 0;
}

void mp_conf_refresh(mp *p) {
  p->conf = mp_conf_at(p, p->commit_index);
  p->conf_synced = p->commit_index > p->base_at ? p->commit_index : p->base_at;
  settle_pending(p);
}

void mp_conf_sync(mp *p) {
  int learned = 0;
  for (; p->conf_synced < p->commit_index; p->conf_synced++) {
    mp_config next;
    if (!slot_config(p, p->conf_synced + 1, &next)) continue;
    uint32_t before = p->conf.voters | p->conf.learners;
    p->removed = before & ~(next.voters | next.learners) & ~(1u << p->id);
    p->removed_until_us = p->now_us + 2 * p->election_hi_us;
    p->conf = next;
    learned = 1;
  }
  if (learned) mp_persist_commit(p); /* a restart must not forget which configuration it is in */
  settle_pending(p);
}

int mp_quorum(const mp *p, const mp_config *c, uint32_t have, int phase) {
  if (p->flexible) return __builtin_popcount(have) >= (phase == 1 ? p->q1 : p->q2);
  return __builtin_popcount(have & c->voters) >= __builtin_popcount(c->voters) / 2 + 1;
}

int mp_is_voter(const mp *p, int node) { return (int)(p->conf.voters >> node & 1); }

uint32_t mp_audience(const mp *p) {
  uint32_t to = p->conf.voters | p->conf.learners;
  mp_config next;
  if (p->conf_pending && slot_config(p, p->conf_pending, &next)) to |= next.voters | next.learners;
  if (p->now_us < p->removed_until_us) to |= p->removed;
  return to & ~(1u << p->id);
}

int mp_conf_check_options(const ctk_multipaxos_options *o, uint32_t members, int n, char *what,
                          size_t len) {
  uint32_t all = all_nodes(n);
  if (members & ~all)
    snprintf(what, len, "[cluster] members name a node outside the cluster");
  else if (members && members != all && (o->q1 || o->q2))
    snprintf(what, len,
             "q1/q2 (flexible quorums over all nodes) cannot be combined with [cluster] members: "
             "membership changes use a majority of each configuration's voters");
  else if (members && members != all && o->read_mode == MP_READ_LEASE)
    snprintf(what, len,
             "read_mode = \"lease\" cannot be combined with [cluster] members: leases assume a "
             "fixed set of acceptors");
  else
    return 0;
  return -1;
}

/* ---- changes, at the leader ---- */

/* Rule (1): appended at the end of the log, in the configuration of the chosen prefix. */
static int propose(mp *p, const mp_config *next) {
  uint8_t data[MP_CONFIG_BYTES];
  mp_conf_encode(next, data);
  uint64_t slot = p->n_slots + 1;
  if (mp_slots_reserve(p, slot) != 0 ||
      mp_slot_put(MP_SLOT(p, slot), p->ballot, p->conf.epoch, MP_KIND_CONFIG, data, sizeof data)) {
    p->out_of_memory = 1;
    return CTK_ERR_NOMEM;
  }
  MP_SLOT(p, slot)->acks = 1u << p->id;
  p->live_bytes += 12 + sizeof data;
  p->conf_pending = slot;
  mp_persist_accepted(p, slot, 1);
  mp_maybe_commit(p);
  mp_flush(p);
  return CTK_OK;
}

static int change_allowed(const mp *p) { return p->role == MP_LEADER && !p->conf_pending; }

static int admin_add(mp *p, int node) {
  uint32_t bit = 1u << node;
  if ((p->conf.voters | p->conf.learners) & bit) return CTK_ERR_INVALID;
  if (!change_allowed(p)) return CTK_ERR_REJECTED;
  mp_config next = p->conf;
  next.learners |= bit;
  mp_peer *peer = &p->peers[node];
  *peer = (mp_peer){.last_heard_us = p->now_us, .sent = p->sent_upto, .acked = p->sent_upto};
  return propose(p, &next);
}

static int admin_remove(mp *p, int node) {
  uint32_t bit = 1u << node;
  if (!((p->conf.voters | p->conf.learners) & bit)) return CTK_ERR_INVALID;
  if (p->conf.voters == bit) return CTK_ERR_INVALID; /* the last voter */
  if (!change_allowed(p)) return CTK_ERR_REJECTED;
  mp_config next = p->conf;
  next.voters &= ~bit;
  next.learners &= ~bit;
  return propose(p, &next);
}

static void send_timeout_now(mp *p, int to) {
  mp_encode_timeout_now(mp_send_begin(p, to), p->ballot);
  mp_send_end(p);
}

static int admin_transfer(mp *p, int node) {
  if (!mp_is_voter(p, node)) return CTK_ERR_INVALID;
  if (node == p->id) return p->role == MP_LEADER ? CTK_OK : CTK_ERR_REJECTED;
  if (p->role != MP_LEADER) return CTK_ERR_REJECTED;
  send_timeout_now(p, node);
  return CTK_OK;
}

static int admin_force(mp *p, uint32_t nodes) {
  if (!(nodes >> p->id & 1)) return CTK_ERR_INVALID;
  p->base_conf = (mp_config){.voters = nodes, .epoch = p->commit_index};
  p->base_at = p->commit_index;
  p->forced = 1;
  p->conf_pending = 0;
  p->conf_recovered = 0;
  mp_conf_refresh(p);
  mp_persist_base(p);
  if (p->role != MP_FOLLOWER) mp_become_follower(p, 0);
  p->leader_id = MP_NO_NODE;
  return CTK_OK;
}

int mp_admin(mp *p, const uint8_t *data, size_t len) {
  if (p->flexible || p->opt.read_mode == MP_READ_LEASE) return CTK_ERR_INVALID; /* see the top */
  ctk_admin_request req;
  if (ctk_admin_parse(data, len, p->n, &req)) return CTK_ERR_INVALID;
  if (req.verb == CTK_ADMIN_FORCE) return admin_force(p, req.nodes);
  if (p->role != MP_LEADER) return CTK_ERR_REJECTED; /* status.leader_id names the leader */
  if (req.verb == CTK_ADMIN_ADD) return admin_add(p, req.node);
  if (req.verb == CTK_ADMIN_REMOVE) return admin_remove(p, req.node);
  return admin_transfer(p, req.node);
}

void mp_recv_timeout_now(mp *p, int from, const mp_msg *m) {
  (void)from;
  if (p->role == MP_LEADER || m->ballot < p->promised || !mp_is_voter(p, p->id)) return;
  mp_start_phase1(p);
}

/* ---- the leader, after every step ---- */

static void promote_caught_up_learner(mp *p) {
  for (int i = 0; i < p->n; i++) {
    if (!(p->conf.learners >> i & 1)) continue;
    const mp_peer *peer = &p->peers[i];
    if (!peer->heard || peer->commit < p->conf.epoch ||
        peer->commit + (uint64_t)p->opt.learner_catchup < p->commit_index)
      continue;
    mp_config next = p->conf;
    next.voters |= 1u << i;
    next.learners &= ~(1u << i);
    propose(p, &next);
    return;
  }
}

/* Removed from the voters, with the change chosen: keeps leading (taking no commands) until a
 * voter reports a chosen prefix that includes the change, so that it knows it votes, then hands
 * over to it and steps down (it never campaigns again: it votes in no configuration); after an
 * election timeout it steps down regardless. */
static void leave(mp *p) {
  if (!p->leave_deadline_us) p->leave_deadline_us = p->now_us + p->election_hi_us;
  int best = MP_NO_NODE;
  for (int i = 0; i < p->n; i++)
    if (i != p->id && mp_is_voter(p, i) && p->peers[i].heard &&
        p->peers[i].commit >= p->conf.epoch &&
        (best == MP_NO_NODE || p->peers[i].commit > p->peers[best].commit))
      best = i;
  if (best == MP_NO_NODE && p->now_us < p->leave_deadline_us) return;
  if (best != MP_NO_NODE) send_timeout_now(p, best);
  mp_become_follower(p, 0);
}

void mp_membership_tick(mp *p) {
  if (p->now_us >= p->removed_until_us) p->removed = 0;
  if (p->role != MP_LEADER) return;
  if (p->conf_recovered && p->conf_pending <= p->commit_index) { /* rule (4) */
    if (!mp_is_voter(p, p->id)) {
      /* The command it re-proposed removed it: it leaves, and the command stays pending, so that
       * it still sends nothing past it. Clearing it sent the slots there, which are not of its
       * ballot, as its proposals: acceptors took them over values already chosen (3-node
       * membership sweep seed 42869's agreement violation). */
      leave(p);
      return;
    }
    p->conf_recovered = 0;
    p->conf_pending = 0;
    mp_start_phase1(p);
    return;
  }
  if (p->conf_pending) return;
  if (!mp_is_voter(p, p->id)) {
    leave(p);
    return;
  }
  p->leave_deadline_us = 0;
  if (!p->flexible && p->conf.learners) promote_caught_up_learner(p);
}
