/* election.c: fast leader election, as ZooKeeper's FastLeaderElection runs it.
 *
 * A LOOKING node proposes itself, then adopts any better vote it hears of, ranked on (current
 * epoch, last zxid, server id): the node whose history is the most recent wins. Every change of
 * vote is broadcast in a NOTIFICATION tagged with the election round (ZooKeeper's logicalclock);
 * a higher round resets the tally. Once a quorum of this round's notifications agrees with its
 * vote and no better vote came for finalize_wait_ms, the node decides: LEADING if the vote names
 * it, FOLLOWING otherwise. A node that is FOLLOWING or LEADING answers a LOOKING node with its
 * decided vote, so that a latecomer joins an established leader once a quorum reports it and
 * the leader itself says it is LEADING (ZooKeeper's outofelection set and checkLeader).
 *
 * Election picks a likely leader; safety does not rest on it. Discovery (leader.c) checks the
 * chosen leader against a quorum and gives up when a follower is ahead.
 *
 * Quorums are those of the node's configuration (reconfig.c): a node that may not lead (a
 * learner, a node removed or not added yet) votes for the best node that may, proposes itself
 * at the lowest rank, and follows whichever node announces itself LEADING; notifications carry
 * the sender's committed configuration, which a node behind on configurations adopts. */
#include <string.h>

#include "zab_internal.h"

static int vote_better(zab_vote a, zab_vote b) {
  if (a.epoch != b.epoch) return a.epoch > b.epoch;
  if (a.zxid != b.zxid) return a.zxid > b.zxid;
  return a.leader > b.leader;
}

/* Reconfiguration (reconfig.c): only a voter of our configuration may lead, or a node whose
 * history is ahead of ours (it may hold a configuration we miss, one that makes it a voter:
 * without this, nodes that missed a pending change and nodes that hold it could wait for each
 * other forever). A vote for any other node is worse than every vote for a valid one. */
static int vote_ahead(const zab *z, zab_vote v) {
  if (v.epoch != z->current_epoch) return v.epoch > z->current_epoch;
  return v.zxid > zab_history_last(&z->hist);
}

static int vote_valid(const zab *z, zab_vote v) {
  return zab_conf_may_lead(z, v.leader) || vote_ahead(z, v);
}

static int vote_preferred(const zab *z, zab_vote a, zab_vote b) {
  int va = vote_valid(z, a), vb = vote_valid(z, b);
  return va != vb ? va : vote_better(a, b);
}

/* A node that may not lead proposes itself with the lowest rank, so that no node ever prefers
 * it (reconfig.c). */
static zab_vote own_vote(const zab *z) {
  if (!zab_conf_may_lead(z, z->id)) return (zab_vote){z->id, 0, 0};
  return (zab_vote){z->id, zab_history_last(&z->hist), z->current_epoch};
}

static void notify(zab *z, int to) {
  uint64_t conf_zxid;
  zab_conf conf = zab_conf_active(z, &conf_zxid);
  zab_encode_notification(zab_send_begin(z, to), z->round, z->state, z->vote, conf, conf_zxid);
  zab_send_end(z);
}

static void notify_all(zab *z) {
  for (int i = 0; i < z->n; i++)
    if (i != z->id) notify(z, i);
  z->renotify_deadline_us = z->now_us + z->heartbeat_us;
}

/* ZooKeeper's Vote.equals: against a LOOKING notification the whole vote and round must match;
 * between FOLLOWING and LEADING ones, the leader. (ZooKeeper compares the vote's epoch too: its
 * followers reach a leader only through an election. A follower here whose session broke opens
 * a new one with the same leader (follower.c), which may have been elected again meanwhile, in a
 * later round with a later vote: it follows with its older vote. Matching on the epoch, a node
 * that looks again later counts it for nobody, and with it in every quorum never joins
 * (zab-reconnect-stale-vote.scn; zab-membership-sweep seed 2725 with the commit rule weakened).
 * Which node a quorum follows is what a latecomer needs; discovery checks the rest.) */
static int notices_match(const zab_notice *a, const zab_notice *b) {
  if (a->state == ZAB_LOOKING || b->state == ZAB_LOOKING)
    return a->round == b->round && a->vote.leader == b->vote.leader &&
           a->vote.zxid == b->vote.zxid && a->vote.epoch == b->vote.epoch;
  return a->vote.leader == b->vote.leader;
}

static int quorum_agrees(const zab *z, const zab_notice *set, const zab_notice *target) {
  uint32_t agree = 0;
  for (int i = 0; i < z->n; i++)
    if (set[i].have && notices_match(&set[i], target)) agree |= 1u << i;
  return zab_conf_quorum(z, agree);
}

/* ZooKeeper's checkLeader: another node is followed only once it says itself that it leads. */
static int leader_confirmed(const zab *z, const zab_notice *set, int leader, uint64_t round) {
  if (leader == z->id) return z->round == round;
  return set[leader].have && set[leader].state == ZAB_LEADING;
}

/* The vote to follow a confirmed leader with: its own (a follower's may be older, above). */
static zab_vote leader_vote(const zab *z, const zab_notice *set, zab_vote v) {
  return v.leader != z->id && set[v.leader].have ? set[v.leader].vote : v;
}

static void decide(zab *z, zab_vote vote) {
  z->finalize_deadline_us = CTK_DEADLINE_NONE;
  if (vote.leader == z->id && !zab_conf_may_lead(z, z->id)) return; /* never leads */
  z->vote = vote;
  if (vote.leader == z->id)
    zab_lead(z);
  else
    zab_follow(z, vote.leader);
}

static void set_vote(zab *z, zab_vote vote) {
  z->vote = vote;
  z->recv[z->id] = (zab_notice){1, z->round, ZAB_LOOKING, vote};
  z->finalize_deadline_us = CTK_DEADLINE_NONE;
  notify_all(z);
}

/* Arms the finalize wait once a quorum of this round agrees with our vote. */
static void check_round_quorum(zab *z) {
  zab_notice mine = z->recv[z->id];
  if (!vote_valid(z, mine.vote) || !quorum_agrees(z, z->recv, &mine)) {
    z->finalize_deadline_us = CTK_DEADLINE_NONE;
    return;
  }
  if (z->finalize_deadline_us == CTK_DEADLINE_NONE)
    z->finalize_deadline_us = z->now_us + z->finalize_us;
}

void zab_start_looking(zab *z) {
  z->state = ZAB_LOOKING;
  z->phase = ZAB_DISCOVERY;
  z->leader_id = ZAB_NO_NODE;
  z->session = 0;
  zab_snapshot_abort(z);
  zab_session_clear(z);
  memset(z->peers, 0, sizeof z->peers);
  memset(z->recv, 0, sizeof z->recv);
  memset(z->outof, 0, sizeof z->outof);
  z->round++;
  set_vote(z, own_vote(z));
  check_round_quorum(z);
}

void zab_recv_notification(zab *z, int from, const zab_msg *m) {
  int was_valid = vote_valid(z, z->vote);
  zab_conf_adopt(z, m->conf, m->conf_zxid); /* a later committed configuration */
  if (z->state == ZAB_LOOKING && was_valid && !vote_valid(z, z->vote)) {
    set_vote(z, own_vote(z)); /* our candidate is no longer a voter */
    check_round_quorum(z);
  }
  /* Our leader looking again is our connection to it closing: look too (as ZooKeeper's
   * follower does when its leader shuts down), so that every vote we report is current. */
  if (z->state == ZAB_FOLLOWING && from == z->leader_id && m->state == ZAB_LOOKING)
    zab_start_looking(z);
  if (z->state != ZAB_LOOKING) {
    if (m->state == ZAB_LOOKING) notify(z, from); /* tell a latecomer whom we follow */
    return;
  }
  zab_notice n = {1, m->round, m->state, m->vote};
  if (m->state == ZAB_LOOKING) {
    if (m->round > z->round) {
      z->round = m->round;
      memset(z->recv, 0, sizeof z->recv);
      zab_vote own = own_vote(z);
      set_vote(z, vote_preferred(z, m->vote, own) ? m->vote : own);
    } else if (m->round < z->round) {
      notify(z, from); /* it is behind: our round and vote bring it up to date */
      return;
    } else if (z->recv[from].have && z->recv[from].state == ZAB_LOOKING &&
               vote_better(z->recv[from].vote, m->vote)) {
      return; /* overtaken: within a round a node's vote only gets better */
    } else if (vote_preferred(z, m->vote, z->vote)) {
      set_vote(z, m->vote);
    }
    z->recv[from] = n;
    check_round_quorum(z);
    return;
  }
  /* From a node that is FOLLOWING or LEADING. A node that does not vote (a learner, a node
   * removed or not added yet) follows whoever announces itself LEADING: the leader decides
   * whether it belongs (reconfig.c), and its acks count toward nothing. So does a node whose
   * last configuration is pending when the leader is ahead of it: that configuration may be one
   * the leader will truncate, and a quorum of it may never agree (zab-membership-sweep seed
   * 8802: a node held a removal the new leader lacked, and waited for the removed node). */
  int follow_any = !zab_conf_may_lead(z, z->id) || (zab_conf_pending(z) && vote_ahead(z, m->vote));
  if (follow_any && m->state == ZAB_LEADING && m->vote.leader == from) {
    z->round = m->round;
    decide(z, m->vote);
    return;
  }
  if (!zab_conf_may_lead(z, z->id)) return;
  if (m->round == z->round) {
    z->recv[from] = n;
    if (quorum_agrees(z, z->recv, &n) && leader_confirmed(z, z->recv, m->vote.leader, m->round)) {
      decide(z, leader_vote(z, z->recv, m->vote));
      return;
    }
  }
  z->outof[from] = n;
  if (quorum_agrees(z, z->outof, &n) && leader_confirmed(z, z->outof, m->vote.leader, m->round)) {
    z->round = m->round;
    decide(z, leader_vote(z, z->outof, m->vote));
  }
}

void zab_election_timeout(zab *z) {
  if (z->now_us >= z->finalize_deadline_us) {
    decide(z, z->vote);
    return;
  }
  if (z->now_us >= z->renotify_deadline_us) notify_all(z);
}
