/* reconfig.c: ZAB's dynamic reconfiguration, after ZooKeeper 3.5's and Shraer, Reed, Malkhi and
 * Junqueira, "Dynamic Reconfiguration of Primary/Backup Clusters" (USENIX ATC 2012).
 *
 * A configuration (voters, learners) is a proposal of the history like any other (an entry of
 * type ZAB_ENTRY_CONFIG). The leader proposes one on an operator's request; a node goes by the
 * last configuration in its history (`conf`, ZooKeeper's lastSeenQuorumVerifier) as soon as it
 * holds it, and by the one before (`prev`) too while conf is not known committed.
 *
 *   add N      N becomes a learner: it opens a session like a follower, is synchronized (DIFF,
 *              TRUNC or SNAP) and receives every proposal, but its ACKs count for nothing. Once
 *              it acknowledged within learner_catchup (an option) proposals of the leader's
 *              history, the leader proposes the configuration with N voting (the paper: new
 *              servers first sync with the leader as non-voting followers, so that the new
 *              quorum can ack).
 *   remove N   the configuration without N. A leader that removes itself keeps leading (not
 *              counting itself in the new configuration) until the change commits, then looks
 *              again (it is no longer a voter, so it cannot be elected); its followers, seeing
 *              it look, look too and elect a voter.
 *   transfer   not supported (CTK_ERR_INVALID): fast leader election picks the most recent
 *              history, not a node of the operator's choosing.
 *   force N,M  UNSAFE, as Raft's: the node takes {N, M, ...} as its configuration without any
 *              quorum (a durable FORCE record that overrides every configuration of its history
 *              so far), to recover from the permanent loss of a quorum.
 * At most one change is pending at a time: the leader accepts a request only in the broadcast
 * phase with its last configuration committed (ZooKeeper refuses a reconfig while one is in
 * progress).
 *
 * Commit (the paper's rule, and ZooKeeper's Proposal.addQuorumVerifier): a proposal at or past a
 * pending configuration's position is committed once acknowledged by a quorum of the old
 * configuration AND a quorum of the new one; proposals before it need the old one only. Once
 * the configuration is committed it is active (ZooKeeper's COMMITANDACTIVATE): the old one no
 * longer counts, the leader drops the sessions of nodes outside it, and the commit is noted
 * durably (a COMMITTED record) so that a restarted node does not take it for pending again.
 *
 * Recovery (the paper, section 4, and ZooKeeper's Leader.waitForEpochAck/waitForNewLeaderAck
 * with both verifiers): every quorum a prospective leader gathers, in discovery (FOLLOWERINFO,
 * ACKEPOCH), synchronization (ACK of NEWLEADER) and while leading (its heartbeat check), is a
 * quorum of its conf and, while conf is pending, of prev too. Elections count agreement the same
 * way (election picks a likely leader; discovery is what safety rests on), and a node votes only
 * for a node that may lead in its view (a voter of conf, or of prev while conf is pending) or
 * whose history is ahead of its own (it may hold a configuration this node misses: without that,
 * nodes that missed a pending change and nodes that hold it wait for each other forever,
 * zab-membership-sweep seed 33). A node whose last configuration is pending follows a node ahead
 * of it that announces itself LEADING without waiting for a quorum of that configuration, which
 * the leader may be about to truncate (seed 8802).
 *
 * Why this is safe (the induction of the paper, specialised to one pending change). Let C be a
 * configuration entry, committed, and P the configuration before it.
 *  1. Only the last configuration of any history can be uncommitted: a leader proposes C only
 *     once P is committed, and a new leader commits its whole initial history (synchronization)
 *     before it proposes anything. So every node's (prev, conf) is (P, C) or (C, C') for the
 *     chain of configurations P, C, C', ...
 *  2. Until C is committed, everything is committed by quorums of P (and of C from C's
 *     position on): ZAB with the fixed configuration P, whose argument stands.
 *  3. C committed means a quorum of P and a quorum of C hold C. A leader whose history lacks C
 *     goes by P: its discovery quorum of P meets the quorum of P that holds C, and that node is
 *     ahead of it ((current epoch, last zxid) above its own, since same zxid means same prefix
 *     and every later leader's history holds the committed C), so it gives up ("follower is
 *     ahead"), and never establishes an epoch. A leader whose history holds C goes by C (and P
 *     while it does not know C committed): its quorums of C meet every quorum that committed a
 *     proposal after C (those needed a quorum of C), so it is never behind a commit. The same
 *     holds one step later for C' against C, and so on.
 *  4. Configurations learned from NOTIFICATIONs (`adopted`, ZooKeeper's FastLeaderElection
 *     processing a newer config) are always committed ones (a node announces its active
 *     configuration only), so going by one only makes a node's quorums later in the chain:
 *     point 3 applies to it as to one held in the history. A node that missed changes while
 *     away (its history's configuration names nodes since removed) learns the current one so.
 *  5. A node that is not a voter of its conf (nor of prev while conf is pending: ZooKeeper's
 *     getCurrentAndNextConfigVoters, so that a leader that was removing itself when it failed
 *     can still be elected and commit its removal) never proposes itself, never counts in
 *     anyone's tally, and follows whichever node announces itself LEADING; the leader
 *     synchronizes only the nodes of its configurations (voters and learners, prev's too while
 *     pending) and counts only voters, so a learner or a removed node never makes a quorum.
 *  6. add and remove change one server at a time, so any majority of P also meets any majority
 *     of C (Raft's single-server argument): with them, the rules above are a second line of
 *     defence; they are what keeps a change of several servers at once safe. No safety check
 *     can tell them gone (the membership sweeps stay linearizable with either half of either
 *     rule removed; only recovery by the new configuration alone shows, as elections that
 *     never end), so scenarios/zab-reconfig-commit.scn and zab-reconfig-discovery.scn check
 *     them directly, as commit indexes and elections.
 *
 * Snapshots carry the configuration in effect at their index (SNAPSHOT records, SNAP messages),
 * so folding configuration entries into a snapshot loses nothing. */
#include <string.h>

#include "common/admin.h"
#include "zab_internal.h"

static int popcount(uint32_t x) { return __builtin_popcount(x); }

static uint32_t all_nodes(int n) { return (uint32_t)((1ull << n) - 1); }

int zab_conf_valid(zab_conf c, int n) {
  return c.voters != 0 && !(c.voters & c.learners) && !((c.voters | c.learners) & ~all_nodes(n));
}

void zab_conf_encode(uint8_t out[ZAB_CONF_BYTES], zab_conf c) {
  out[0] = 1;
  for (int k = 0; k < 4; k++) {
    out[1 + k] = (uint8_t)(c.voters >> (24 - 8 * k));
    out[5 + k] = (uint8_t)(c.learners >> (24 - 8 * k));
  }
}

int zab_conf_decode(const uint8_t *data, size_t len, int n, zab_conf *c) {
  if (!data || len != ZAB_CONF_BYTES || data[0] != 1) return -1;
  c->voters = c->learners = 0;
  for (int k = 0; k < 4; k++) {
    c->voters = c->voters << 8 | data[1 + k];
    c->learners = c->learners << 8 | data[5 + k];
  }
  return zab_conf_valid(*c, n) ? 0 : -1;
}

static int entry_conf(const zab *z, uint64_t pos, zab_conf *c) {
  const zab_entry *e = zab_history_at(&z->hist, pos);
  return e->type == ZAB_ENTRY_CONFIG && zab_conf_decode(e->data, e->len, z->n, c) == 0;
}

/* Where the history's own configurations start counting, and what holds before: the base (its
 * configuration from the snapshot) or, after a force, the forced configuration. */
static uint64_t floor_of(const zab *z, zab_conf *floor) {
  if (z->forced && z->forced_pos >= z->hist.base) {
    *floor = z->forced_conf;
    return z->forced_pos;
  }
  *floor = z->base_conf;
  return z->hist.base;
}

zab_conf zab_conf_at(const zab *z, uint64_t pos) {
  zab_conf c;
  uint64_t lo = floor_of(z, &c);
  if (pos < lo) { /* before a force: the history's own configuration */
    lo = z->hist.base;
    c = z->base_conf;
  }
  for (uint64_t p = pos < z->hist.n ? pos : z->hist.n; p > lo; p--) {
    zab_conf e;
    if (entry_conf(z, p, &e)) return e;
  }
  return c;
}

void zab_conf_refresh(zab *z) {
  zab_conf floor;
  uint64_t lo = floor_of(z, &floor);
  int found = 0;
  for (uint64_t p = z->hist.n; p > lo && found < 2; p--) {
    zab_conf c;
    if (!entry_conf(z, p, &c)) continue;
    if (found++ == 0) {
      z->conf = c;
      z->conf_pos = p;
      z->conf_zxid = zab_history_zxid(&z->hist, p);
    } else {
      z->prev = c;
      z->prev_zxid = zab_history_zxid(&z->hist, p);
    }
  }
  /* The floor's version: the zxid where it holds from (no configuration of the history sits
   * between its own entry and there, or the floor would be that one). */
  uint64_t floor_zxid = zab_history_zxid(&z->hist, lo);
  if (found == 0) {
    z->conf = floor;
    z->conf_pos = 0;
    z->conf_zxid = floor_zxid;
  }
  if (found < 2) {
    z->prev = floor;
    z->prev_zxid = floor_zxid;
  }
  if (!z->forced && z->adopted_zxid > z->conf_zxid) { /* a later committed one, from a peer */
    z->conf = z->prev = z->adopted;
    z->conf_pos = 0;
    z->conf_zxid = z->prev_zxid = z->adopted_zxid;
  }
}

int zab_conf_pending(const zab *z) {
  return z->conf_pos > z->commit_index && z->conf_pos > z->conf_committed_pos;
}

zab_conf zab_conf_active(const zab *z, uint64_t *zxid) {
  int pending = zab_conf_pending(z);
  *zxid = pending ? z->prev_zxid : z->conf_zxid;
  return pending ? z->prev : z->conf;
}

void zab_conf_adopt(zab *z, zab_conf c, uint64_t zxid) {
  uint64_t mine;
  zab_conf_active(z, &mine);
  if (z->forced || zxid <= mine || zxid <= z->adopted_zxid) return;
  if (z->conf_pos && zxid == z->conf_zxid) { /* our pending one: it is committed */
    z->conf_committed_pos = z->conf_pos;
    zab_persist_conf_committed(z);
    return;
  }
  z->adopted = c;
  z->adopted_zxid = zxid;
  zab_conf_refresh(z);
}

int zab_conf_votes(const zab *z, int node) { return (int)(z->conf.voters >> node & 1); }

int zab_conf_may_lead(const zab *z, int node) {
  return zab_conf_votes(z, node) || (zab_conf_pending(z) && (z->prev.voters >> node & 1));
}

uint32_t zab_conf_nodes(const zab *z) {
  uint32_t nodes = z->conf.voters | z->conf.learners;
  if (zab_conf_pending(z)) nodes |= z->prev.voters | z->prev.learners;
  return nodes;
}

static int majority(uint32_t voters, uint32_t have) {
  return popcount(voters & have) >= popcount(voters) / 2 + 1;
}

int zab_conf_quorum(const zab *z, uint32_t have) {
  return majority(z->conf.voters, have) && (!zab_conf_pending(z) || majority(z->prev.voters, have));
}

int zab_conf_commit_quorum(const zab *z, uint64_t pos, uint32_t have) {
  if (!zab_conf_pending(z)) return majority(z->conf.voters, have);
  if (!majority(z->prev.voters, have)) return 0;
  return pos < z->conf_pos || majority(z->conf.voters, have);
}

/* ---- operator requests ---- */

static int leader_ready(const zab *z) {
  return z->state == ZAB_LEADING && z->phase == ZAB_BROADCAST && zab_leader_has_room(z);
}

static int propose_conf(zab *z, zab_conf c) {
  uint8_t data[ZAB_CONF_BYTES];
  zab_conf_encode(data, c);
  zab_leader_propose(z, ZAB_ENTRY_CONFIG, data, sizeof data);
  zab_leader_flush(z);
  return z->out_of_memory ? CTK_ERR_NOMEM : CTK_OK;
}

static int admin_add(zab *z, int node) {
  uint32_t bit = 1u << node;
  if ((z->conf.voters | z->conf.learners) & bit) return CTK_ERR_INVALID;
  if (!leader_ready(z) || zab_conf_pending(z)) return CTK_ERR_REJECTED;
  zab_conf c = z->conf;
  c.learners |= bit;
  return propose_conf(z, c);
}

static int admin_remove(zab *z, int node) {
  uint32_t bit = 1u << node;
  if (!((z->conf.voters | z->conf.learners) & bit) || z->conf.voters == bit)
    return CTK_ERR_INVALID; /* not a member, or the last voter */
  if (!leader_ready(z) || zab_conf_pending(z)) return CTK_ERR_REJECTED;
  zab_conf c = z->conf;
  c.voters &= ~bit;
  c.learners &= ~bit;
  return propose_conf(z, c);
}

static int admin_force(zab *z, uint32_t nodes) {
  if (!(nodes >> z->id & 1)) return CTK_ERR_INVALID;
  z->forced = 1;
  z->forced_pos = z->hist.n;
  z->forced_conf = (zab_conf){nodes, 0};
  z->adopted_zxid = 0;
  zab_persist_force(z);
  zab_conf_refresh(z);
  zab_start_looking(z); /* the old leader is gone: elect among the forced members */
  return CTK_OK;
}

int zab_admin(zab *z, const uint8_t *data, size_t len) {
  ctk_admin_request req;
  if (ctk_admin_parse(data, len, z->n, &req)) return CTK_ERR_INVALID;
  if (req.verb == CTK_ADMIN_TRANSFER) return CTK_ERR_INVALID; /* unsupported */
  if (req.verb == CTK_ADMIN_FORCE) return admin_force(z, req.nodes);
  if (z->state != ZAB_LEADING) return CTK_ERR_REJECTED; /* status.leader_id names the leader */
  return req.verb == CTK_ADMIN_ADD ? admin_add(z, req.node) : admin_remove(z, req.node);
}

/* ---- after every step ---- */

/* The leader: a learner that acknowledged close enough to the end of the history votes. */
static void promote_learner(zab *z) {
  for (int i = 0; i < z->n; i++) {
    const zab_peer *peer = &z->peers[i];
    if (!(z->conf.learners >> i & 1) || peer->stage != ZAB_PEER_ACTIVE) continue;
    uint64_t pos = zab_history_find(&z->hist, peer->acked);
    if (pos < z->conf_pos || pos + (uint64_t)z->opt.learner_catchup < z->hist.n) continue;
    zab_conf c = z->conf;
    c.learners &= ~(1u << i);
    c.voters |= 1u << i;
    propose_conf(z, c);
    return;
  }
}

void zab_conf_step_end(zab *z) {
  if (z->conf_pos && z->conf_pos <= z->commit_index && z->conf_pos > z->conf_committed_pos) {
    z->conf_committed_pos = z->conf_pos; /* activated: no longer pending after a restart */
    zab_persist_conf_committed(z);
  }
  if (z->state != ZAB_LEADING || z->phase != ZAB_BROADCAST || zab_conf_pending(z)) return;
  uint32_t nodes = zab_conf_nodes(z);
  for (int i = 0; i < z->n; i++)
    if (i != z->id && !(nodes >> i & 1) && z->peers[i].stage != ZAB_PEER_NONE)
      z->peers[i] = (zab_peer){0}; /* removed: its session ends */
  if (!zab_conf_votes(z, z->id)) {
    zab_start_looking(z); /* our removal is committed: a voter leads from here */
    return;
  }
  if (z->conf.learners && zab_leader_has_room(z)) promote_learner(z);
}
