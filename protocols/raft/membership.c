/* membership.c: Raft's cluster membership: the configuration in effect, quorums over it, the
 * operator's requests (add, remove, transfer, force) and the leader's part in changes.
 *
 * Thesis 4.1, single-server changes: "the new configuration takes effect on each server as soon
 * as it is added to that server's log"; a leader starts a change only once the previous one is
 * committed, and only once it has committed an entry of its own term (the fix to the bug of the
 * original single-server algorithm, raft-dev, 2015), so two configurations in effect at once
 * always share a majority. Paper section 6 (thesis 4.3), joint consensus, with the
 * joint_consensus option: the leader appends C_old,new, in which "agreement (for elections and
 * entry commitment) requires separate majorities from both the old and new configurations";
 * once C_old,new is committed it appends C_new.
 *
 * Thesis 4.2.1: a server is added as a learner ("non-voting member") that receives the log and
 * is promoted to voter once within learner_catchup entries of the leader. Thesis 4.2.2: a leader
 * removed from the configuration keeps managing the cluster until C_new is committed, without
 * counting itself, then steps down. Thesis 4.2.3: removed servers that no longer hear from the
 * leader do not campaign (their log holds the configuration without them; a vote request from
 * a non-voter within the minimum election timeout of hearing from a leader is ignored, as with
 * pre-vote).
 *
 * Thesis 3.10, leadership transfer: the leader stops accepting commands, brings the target's log
 * up to date, sends it TimeoutNow; the target campaigns at once, its RequestVote marked so that
 * voters do not ignore it for hearing from the current leader. The transfer is abandoned after an
 * election timeout.
 *
 * `force` is the UNSAFE way out of permanent quorum loss: the node takes the listed nodes as
 * its configuration without asking anyone (a durable FORCE record), overriding every
 * configuration in its log so far. Entries committed by the lost majority alone are lost. */
#include <string.h>

#include "common/admin.h"
#include "raft_internal.h"

/* ---- the configuration ---- */

void raft_membership_encode(wire_writer *w, const raft_membership *m) {
  wire_put_u8(w, 1);
  wire_put_u32(w, m->voters);
  wire_put_u32(w, m->voters_old);
  wire_put_u32(w, m->learners);
}

int raft_membership_decode(const uint8_t *data, size_t len, int n_nodes, raft_membership *m) {
  if (!data || len != RAFT_MEMBERSHIP_BYTES) return -1;
  wire_reader r;
  wire_reader_init(&r, data, len);
  uint8_t version = wire_get_u8(&r);
  m->voters = wire_get_u32(&r);
  m->voters_old = wire_get_u32(&r);
  m->learners = wire_get_u32(&r);
  if (!wire_reader_done(&r) || version != 1 || m->voters == 0) return -1;
  if (m->learners & (m->voters | m->voters_old)) return -1;
  uint32_t all =
      n_nodes > 0 ? (uint32_t)((1ull << n_nodes) - 1) : (uint32_t)((1ull << CTK_MAX_NODES) - 1);
  return raft_membership_nodes(m) & ~all ? -1 : 0;
}

static int majority_of(uint32_t set, uint32_t have) {
  return raft_popcount(set & have) >= raft_popcount(set) / 2 + 1;
}

int raft_membership_quorum(const raft_membership *m, uint32_t have) {
  return majority_of(m->voters, have) && (!m->voters_old || majority_of(m->voters_old, have));
}

static int entry_config(const raft_entry *e, raft_membership *m) {
  return e->type == RAFT_ENTRY_CONFIG && raft_membership_decode(e->data, e->len, 0, m) == 0;
}

void raft_membership_refresh(raft *r) {
  r->conf = r->prev_conf = r->base;
  r->conf_index = 0;
  int found = 0;
  for (uint64_t i = raft_log_last(&r->log); i > r->base_index; i--) {
    raft_membership m;
    if (!entry_config(raft_log_get(&r->log, i), &m)) continue;
    if (found++) {
      r->prev_conf = m;
      break;
    }
    r->conf = m;
    r->conf_index = i;
  }
}

raft_membership raft_membership_at(const raft *r, uint64_t index) {
  if (index <= r->base_index) return r->base; /* a forced configuration overrides up to there */
  for (uint64_t i = index; i > r->base_index && i > r->log.base; i--) {
    raft_membership m;
    if (entry_config(raft_log_get(&r->log, i), &m)) return m;
  }
  return r->base;
}

void raft_membership_rebase(raft *r, uint64_t index, raft_membership conf) {
  if (index < r->base_index) return; /* a forced configuration still overrides past it */
  r->base = conf;
  r->base_index = index;
  r->forced = 0; /* all it overrode is in the snapshot now; written with the log's base */
}

void raft_membership_truncated(raft *r, uint64_t from) {
  if (!r->forced || r->base_index < from) return;
  r->base_index = from - 1;
  raft_persist_force(r);
}

int raft_membership_replicates_to(const raft *r, int i) {
  if (i == r->id) return 0;
  uint32_t to = raft_membership_nodes(&r->conf);
  if (r->conf_index > r->commit_index) to |= raft_membership_nodes(&r->prev_conf);
  return (int)(to >> i & 1);
}

/* The k-th largest of v[0..n) (k from 0), sorting v; n <= 16. */
static uint64_t kth_largest(uint64_t *v, int n, int k) {
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && v[j] > v[j - 1]; j--) {
      uint64_t t = v[j];
      v[j] = v[j - 1];
      v[j - 1] = t;
    }
  return v[k];
}

/* The highest index a majority of `set` holds; the leader holds its whole log. */
static uint64_t agreed_in(const raft *r, uint32_t set) {
  uint64_t match[CTK_MAX_NODES];
  int k = 0;
  for (int i = 0; i < r->n; i++)
    if (set >> i & 1) match[k++] = i == r->id ? raft_log_last(&r->log) : r->peers[i].match_index;
  return k ? kth_largest(match, k, k / 2) : 0;
}

uint64_t raft_membership_agreed(const raft *r) {
  uint64_t n = agreed_in(r, r->conf.voters);
  if (r->conf.voters_old) {
    uint64_t old = agreed_in(r, r->conf.voters_old);
    if (old < n) n = old;
  }
  return n;
}

/* The most recent time by which a majority of `set` had all answered (the leader: now). */
static uint64_t heard_in(const raft *r, uint32_t set) {
  uint64_t heard[CTK_MAX_NODES];
  int k = 0;
  for (int i = 0; i < r->n; i++)
    if (set >> i & 1) heard[k++] = i == r->id ? r->now_us : r->peers[i].last_heard_us;
  return k ? kth_largest(heard, k, k / 2) : r->now_us;
}

uint64_t raft_membership_heard(const raft *r) {
  uint64_t t = heard_in(r, r->conf.voters);
  if (r->conf.voters_old) {
    uint64_t old = heard_in(r, r->conf.voters_old);
    if (old < t) t = old;
  }
  return t;
}

/* ---- changes, at the leader ---- */

/* Thesis 4.1: one change at a time, and not before the leader committed an entry of its term. */
static int change_allowed(const raft *r) {
  return r->conf_index <= r->commit_index && !r->conf.voters_old &&
         raft_log_term_at(&r->log, r->commit_index) == r->term;
}

/* The configuration with `node` voting or not, through C_old,new with joint_consensus. */
static raft_membership with_voter(const raft *r, int node, int votes) {
  raft_membership m = r->conf;
  uint32_t bit = 1u << node;
  if (r->opt.joint_consensus) m.voters_old = m.voters;
  m.voters = votes ? m.voters | bit : m.voters & ~bit;
  m.learners &= ~bit;
  return m;
}

static int leader_change(raft *r, const raft_membership *m) {
  if (raft_leader_append_config(r, m) != 0) {
    r->out_of_memory = 1;
    return CTK_ERR_NOMEM;
  }
  raft_broadcast_append(r);
  return CTK_OK;
}

static int admin_add(raft *r, int node) {
  if (raft_membership_nodes(&r->conf) >> node & 1) return CTK_ERR_INVALID;
  if (!change_allowed(r)) return CTK_ERR_REJECTED;
  raft_membership m = r->conf;
  m.learners |= 1u << node;
  raft_peer *p = &r->peers[node];
  p->next_index = raft_log_last(&r->log) + 1;
  p->match_index = 0;
  p->probing = 1;
  p->inflight_start = p->inflight_count = 0;
  p->last_heard_us = r->now_us;
  return leader_change(r, &m);
}

static int admin_remove(raft *r, int node) {
  uint32_t bit = 1u << node;
  if (!(raft_membership_nodes(&r->conf) >> node & 1)) return CTK_ERR_INVALID;
  if (r->conf.voters == bit) return CTK_ERR_INVALID; /* the last voter */
  if (!change_allowed(r)) return CTK_ERR_REJECTED;
  raft_membership m = r->conf;
  if (m.learners & bit)
    m.learners &= ~bit;
  else
    m = with_voter(r, node, 0);
  return leader_change(r, &m);
}

static int admin_transfer(raft *r, int node) {
  if (!raft_membership_votes(&r->conf, node)) return CTK_ERR_INVALID;
  if (node == r->id) return CTK_OK;
  if (r->transfer_to != RAFT_NO_NODE) return CTK_ERR_REJECTED;
  r->transfer_to = node;
  r->transfer_sent = 0;
  r->transfer_deadline_us = r->now_us + r->election_hi_us;
  raft_send_append(r, node, 1);
  return CTK_OK;
}

static int admin_force(raft *r, uint32_t nodes) {
  if (!(nodes >> r->id & 1)) return CTK_ERR_INVALID;
  r->base = (raft_membership){.voters = nodes};
  r->base_index = raft_log_last(&r->log);
  r->forced = 1;
  raft_membership_refresh(r);
  raft_persist_force(r);
  if (r->role != RAFT_FOLLOWER) raft_become_follower(r, r->term, RAFT_NO_NODE);
  r->leader_id = RAFT_NO_NODE;
  r->leader_contact_us = 0; /* the old leader is gone: no lease to wait out */
  raft_reset_election_timer(r);
  return CTK_OK;
}

int raft_admin(raft *r, const uint8_t *data, size_t len) {
  ctk_admin_request req;
  if (ctk_admin_parse(data, len, r->n, &req)) return CTK_ERR_INVALID;
  if (req.verb == CTK_ADMIN_FORCE) return admin_force(r, req.nodes);
  if (r->role != RAFT_LEADER) return CTK_ERR_REJECTED; /* status.leader_id names the leader */
  if (req.verb == CTK_ADMIN_ADD) return admin_add(r, req.node);
  if (req.verb == CTK_ADMIN_REMOVE) return admin_remove(r, req.node);
  return admin_transfer(r, req.node);
}

/* ---- the leader, after every step ---- */

static void promote_caught_up_learner(raft *r) {
  uint64_t last = raft_log_last(&r->log);
  for (int i = 0; i < r->n; i++) {
    if (!(r->conf.learners >> i & 1)) continue;
    const raft_peer *p = &r->peers[i];
    if (p->match_index < r->conf_index || p->match_index + (uint64_t)r->opt.learner_catchup < last)
      continue;
    raft_membership m = with_voter(r, i, 1);
    leader_change(r, &m);
    return;
  }
}

static void drive_transfer(raft *r) {
  int to = r->transfer_to;
  if (r->now_us >= r->transfer_deadline_us || !raft_membership_votes(&r->conf, to)) {
    r->transfer_to = RAFT_NO_NODE; /* abandoned: commands are accepted again */
    return;
  }
  if (r->transfer_sent || r->peers[to].match_index < raft_log_last(&r->log)) return;
  wire_writer *w = raft_send_begin(r, to);
  raft_encode_timeout_now(w, r->term);
  raft_send_end(r);
  r->transfer_sent = 1;
}

/* A leader whose removal committed hands leadership over before it steps down (thesis 4.2.2
 * and 3.10): to the voter whose log is the longest, once it holds the whole log (TimeoutNow),
 * taking no commands meanwhile; after an election timeout it steps down regardless. This
 * spares the cluster an election timeout without a leader. */
static void leave(raft *r) {
  if (!r->leaving) {
    r->leaving = 1;
    int best = RAFT_NO_NODE;
    for (int i = 0; i < r->n; i++)
      if (i != r->id && raft_membership_votes(&r->conf, i) &&
          (best == RAFT_NO_NODE || r->peers[i].match_index > r->peers[best].match_index))
        best = i;
    r->transfer_to = best;
    r->transfer_sent = 0;
    r->transfer_deadline_us = r->now_us + r->election_lo_us;
  }
  if (r->transfer_to != RAFT_NO_NODE) drive_transfer(r);
  if (r->transfer_to == RAFT_NO_NODE || r->transfer_sent)
    raft_become_follower(r, r->term, RAFT_NO_NODE);
}

void raft_membership_tick(raft *r) {
  if (r->role != RAFT_LEADER) return;
  int committed = r->conf_index <= r->commit_index;
  if (committed && r->conf.voters_old) { /* C_old,new is committed: on to C_new */
    raft_membership m = r->conf;
    m.voters_old = 0;
    leader_change(r, &m);
    return;
  }
  if (committed && !raft_membership_votes(&r->conf, r->id)) { /* thesis 4.2.2 */
    leave(r);
    return;
  }
  if (r->transfer_to != RAFT_NO_NODE) drive_transfer(r);
  if (change_allowed(r) && r->conf.learners) promote_caught_up_learner(r);
}
