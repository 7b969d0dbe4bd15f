/* election.c: election timeouts, pre-vote, RequestVote, role changes and check-quorum.
 *
 * From Figure 2, Rules for Servers, Followers: "If election timeout elapses without receiving
 * AppendEntries RPC from current leader or granting vote to candidate: convert to candidate."
 * Candidates: "On conversion to candidate, start election: increment currentTerm, vote for self,
 * reset election timer, send RequestVote RPCs to all other servers. If votes received from
 * majority of servers: become leader."
 *
 * Pre-vote (thesis 9.6): "a candidate would first ask other servers whether its log was
 * up-to-date enough to get their vote. Only if the candidate believed it could get votes from a
 * majority of the cluster would it increment its term and start a normal election." A pre-vote
 * changes no term and no vote, so a node cut off from the cluster cannot inflate its term and
 * depose a healthy leader when it comes back. With pre-vote on, a node that heard from a leader
 * within the minimum election timeout refuses pre-votes and ignores RequestVotes (thesis 4.2.3:
 * "if a server receives a RequestVote request within the minimum election timeout of hearing
 * from a current leader, it does not update its term or grant its vote").
 *
 * Check-quorum (thesis 6.2): "a leader steps down if an election timeout elapses without a
 * successful round of heartbeats to a majority of its cluster". */
#include "raft_internal.h"

/* The election timeout, drawn from [lo, lo + spread] with spread = hi - lo of
 * election_timeout_ms. With adaptive_timeout, lo rises to what the gaps between the leader's
 * messages call for: the longest recent gap (decaying with a half-life of
 * RAFT_GAP_HALF_LIFE_US) plus a quarter and a heartbeat interval, at most hi. A node that saw the
 * leader's messages stall for 250 ms does not call an election after 150 ms of the next stall; a
 * calm network keeps the configured timeout, and so the same failover time. With
 * preferred_leader, that node draws from the lower half of the range and the others one whole
 * range later, so it is almost always the first to campaign. */
uint64_t raft_random_timeout_us(raft *r) {
  uint64_t lo = r->election_lo_us, spread = r->election_hi_us - r->election_lo_us;
  if (r->opt.adaptive_timeout && r->gap_peak_us) {
    uint64_t want = r->gap_peak_us + r->gap_peak_us / 4 + r->heartbeat_us;
    if (want > lo) lo = want < r->election_hi_us ? want : r->election_hi_us;
  }
  if (r->opt.preferred_leader >= 0) {
    if (r->opt.preferred_leader == r->id)
      spread /= 2;
    else
      lo += spread + 1;
  }
  return ctk_rng_range(&r->rng, lo, lo + spread);
}

void raft_note_leader_message(raft *r, int leader) {
  if (leader == r->gap_leader && r->leader_contact_us && r->now_us >= r->leader_contact_us) {
    uint64_t gap = r->now_us - r->leader_contact_us;
    /* The peak decays by half every half-life (integer steps, so it is exact and portable). */
    uint64_t since = r->now_us - r->gap_peak_at_us;
    uint64_t peak = r->gap_peak_us;
    for (uint64_t t = RAFT_GAP_HALF_LIFE_US; t <= since && peak; t += RAFT_GAP_HALF_LIFE_US)
      peak /= 2;
    if (gap >= peak) {
      r->gap_peak_us = gap;
      r->gap_peak_at_us = r->now_us;
    } else if (peak != r->gap_peak_us) {
      r->gap_peak_us = peak;
      r->gap_peak_at_us = r->now_us;
    }
  } else if (leader != r->gap_leader) {
    r->gap_leader = leader;
    r->gap_peak_us = 0;
    r->gap_peak_at_us = r->now_us;
  }
  r->leader_contact_us = r->now_us;
}

void raft_reset_election_timer(raft *r) {
  r->election_deadline_us = r->now_us + raft_random_timeout_us(r);
}

/* From Figure 2: "If RPC request or response contains term T > currentTerm: set currentTerm =
 * T, convert to follower". A new term starts without a vote. */
void raft_set_term(raft *r, uint64_t term) {
  if (term <= r->term) return;
  r->term = term;
  r->voted_for = RAFT_NO_NODE;
  r->hard_state_dirty = 1;
}

void raft_become_follower(raft *r, uint64_t term, int leader_id) {
  int was_leader = r->role == RAFT_LEADER;
  raft_set_term(r, term);
  r->role = RAFT_FOLLOWER;
  r->leader_id = leader_id;
  r->votes = 0;
  r->transfer_to = RAFT_NO_NODE;
  r->leaving = 0;
  if (was_leader) raft_reset_election_timer(r);
}

/* Section 5.4.1: "Raft determines which of two logs is more up-to-date by comparing the index
 * and term of the last entries in the logs. If the logs have last entries with different terms,
 * then the log with the later term is more up-to-date. If the logs end with the same term, then
 * whichever log is longer is more up-to-date." */
static int log_up_to_date(const raft *r, uint64_t last_index, uint64_t last_term) {
  uint64_t my_term = raft_log_last_term(&r->log);
  if (last_term != my_term) return last_term > my_term;
  return last_index >= raft_log_last(&r->log);
}

int raft_in_lease(const raft *r) {
  if (r->role == RAFT_LEADER || raft_read_quiet(r)) return 1;
  return r->leader_id != RAFT_NO_NODE && r->now_us < r->leader_contact_us + r->election_lo_us;
}

static void become_leader(raft *r) {
  r->role = RAFT_LEADER;
  r->leader_id = r->id;
  r->votes = 0;
  r->heartbeat_deadline_us = r->now_us + r->heartbeat_us;
  r->quorum_deadline_us = r->now_us + r->election_hi_us;
  r->transfer_to = RAFT_NO_NODE;
  r->leaving = 0;
  raft_leader_init_peers(r);
  /* Section 5.4.2 and Figure 8: a leader commits entries of earlier terms only by committing
   * one of its own, so it appends a no-op at once (thesis 6.4). */
  if (raft_leader_append(r, NULL, 0) != 0) r->out_of_memory = 1;
  /* The first leader after a forced reconfiguration writes it into the log, where it
   * overrides whatever configuration entries the survivors still hold past their force. */
  if (r->forced && r->conf_index == 0 && raft_leader_append_config(r, &r->conf) != 0)
    r->out_of_memory = 1;
  for (int i = 0; i < r->n; i++)
    if (raft_membership_replicates_to(r, i)) raft_send_append(r, i, 1);
}

static void send_vote_requests(raft *r, int prevote, uint64_t term) {
  for (int i = 0; i < r->n; i++) {
    if (i == r->id || !raft_membership_votes(&r->conf, i)) continue;
    wire_writer *w = raft_send_begin(r, i);
    raft_encode_vote_request_flags(w, prevote, term, raft_log_last(&r->log),
                                   raft_log_last_term(&r->log), r->transfer_campaign);
    raft_send_end(r);
  }
}

static void campaign(raft *r, int prevote) {
  raft_reset_election_timer(r);
  r->leader_id = RAFT_NO_NODE;
  r->votes = 1u << r->id;
  uint64_t term = r->term + 1;
  if (prevote) {
    r->role = RAFT_PRECANDIDATE; /* the term and the vote stay as they are */
  } else {
    r->role = RAFT_CANDIDATE;
    raft_set_term(r, term);
    r->voted_for = r->id;
    r->hard_state_dirty = 1;
  }
  if (raft_membership_quorum(&r->conf, r->votes)) { /* the only voter */
    if (prevote) {
      campaign(r, 0);
    } else {
      become_leader(r);
      raft_note_solo(r); /* our vote alone: output.c, early */
    }
    return;
  }
  send_vote_requests(r, prevote, term);
}

void raft_election_timeout(raft *r) {
  if (r->role == RAFT_LEADER || r->now_us < r->election_deadline_us) return;
  /* Learners, removed nodes and nodes not yet added wait for a leader (thesis 4.2.3). A node
   * whose removal is not committed yet still campaigns (for the votes of the configuration
   * without it): its log may be the only one holding that configuration, and then no other
   * node can win without its vote, which it refuses them (raft-membership-sweep seed 154: a
   * removed leader stepped down by check-quorum before its removal committed). */
  int uncommitted = r->conf_index > r->commit_index;
  if (!raft_membership_votes(&r->conf, r->id) &&
      !(uncommitted && raft_membership_votes(&r->prev_conf, r->id))) {
    raft_reset_election_timer(r);
    return;
  }
  campaign(r, r->opt.prevote);
}

void raft_check_quorum(raft *r) {
  if (r->role != RAFT_LEADER || !r->opt.check_quorum || r->n == 1) return;
  if (r->now_us < r->quorum_deadline_us) return;
  /* The most recent time by which a majority (of both configurations while joint; this leader
   * counting as now when it votes) had all answered. */
  uint64_t quorum_us = raft_membership_heard(r);
  if (r->now_us - quorum_us >= r->election_hi_us) {
    raft_become_follower(r, r->term, RAFT_NO_NODE);
    return;
  }
  r->quorum_deadline_us = quorum_us + r->election_hi_us;
}

static void reply_vote(raft *r, int to, int prevote, uint64_t term, int granted) {
  wire_writer *w = raft_send_begin(r, to);
  raft_encode_vote_reply(w, prevote, term, granted);
  raft_send_end(r);
}

/* A pre-vote is granted for a term above ours to an up-to-date log, outside a leader's lease;
 * nothing of ours changes. The reply names the term asked for when granted, so the
 * pre-candidate can tell current grants from stale ones. */
static void recv_prevote(raft *r, int from, const raft_msg *m) {
  int grant =
      m->term > r->term && log_up_to_date(r, m->last_index, m->last_term) && !raft_in_lease(r);
  reply_vote(r, from, 1, grant ? m->term : r->term, grant);
}

/* From Figure 2, RequestVote RPC, receiver implementation: "1. Reply false if term <
 * currentTerm. 2. If votedFor is null or candidateId, and candidate's log is at least as
 * up-to-date as receiver's log, grant vote." The vote is in this step's persist bytes, which the
 * host makes durable before it sends the reply. */
void raft_recv_vote_request(raft *r, int from, const raft_msg *m) {
  if (m->type == RAFT_MSG_PREVOTE) {
    recv_prevote(r, from, m);
    return;
  }
  if (m->term > r->term) {
    /* Leader stickiness: ignore it, unless a leadership transfer asked for it (thesis 3.10).
     * Without pre-vote, a vote request of a node outside the configuration is ignored so too:
     * a removed server must not disrupt the cluster (thesis 4.2.3). */
    int sticky = r->opt.prevote || !raft_membership_votes(&r->conf, from);
    if (sticky && !m->transfer && raft_in_lease(r)) return;
    raft_become_follower(r, m->term, RAFT_NO_NODE);
  }
  int grant = m->term == r->term && (r->voted_for == RAFT_NO_NODE || r->voted_for == from) &&
              log_up_to_date(r, m->last_index, m->last_term);
  if (grant) {
    r->voted_for = from;
    r->hard_state_dirty = 1;
    raft_reset_election_timer(r);
  }
  reply_vote(r, from, 0, r->term, grant);
}

void raft_recv_vote_reply(raft *r, int from, const raft_msg *m) {
  if (m->type == RAFT_MSG_PREVOTE_REPLY) {
    /* A refusal from a later term teaches us that term, as any message of a later term does
     * (Figure 2); the pre-vote itself never raised it. Without this, nodes whose terms fell
     * behind while they were down can never be granted a pre-vote by the nodes with later
     * terms, and those may be refused by them for holding shorter logs: no leader, ever (found
     * by test_figure8_scripted). etcd-io/raft does the same. */
    if (!m->granted && m->term > r->term) {
      raft_become_follower(r, m->term, RAFT_NO_NODE);
      return;
    }
    if (r->role != RAFT_PRECANDIDATE || !m->granted || m->term != r->term + 1) return;
    r->votes |= 1u << from;
    if (raft_membership_quorum(&r->conf, r->votes)) campaign(r, 0);
    return;
  }
  if (m->term > r->term) {
    raft_become_follower(r, m->term, RAFT_NO_NODE);
    return;
  }
  if (r->role != RAFT_CANDIDATE || m->term != r->term || !m->granted) return;
  r->votes |= 1u << from;
  if (raft_membership_quorum(&r->conf, r->votes)) become_leader(r);
}

/* Thesis 3.10: the leader brought our log up to date and asks us to campaign at once, without
 * a pre-vote, with vote requests that voters must not ignore for hearing from it. */
void raft_recv_timeout_now(raft *r, int from, const raft_msg *m) {
  if (m->term != r->term || r->role != RAFT_FOLLOWER || from != r->leader_id ||
      !raft_membership_votes(&r->conf, r->id))
    return;
  r->transfer_campaign = 1;
  campaign(r, 0);
  r->transfer_campaign = 0;
}
