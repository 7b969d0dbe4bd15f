/* replica.c: what every node does for every instance, whoever leads it: answer PreAccept,
 * Accept and Prepare at ballots it has not promised away, learn commits, and send committed
 * instances to a peer that is missing them (catch-up).
 *
 * From the paper (Figure 2): on PreAccept, a replica "updates γ's seq and deps attributes
 * according to its own command log", records them and replies; on Accept it records the
 * attributes the leader sends. Every change is persisted in the same step as the reply, so the
 * reply leaves only once it is durable. A replica that already has the instance committed
 * answers any request with the commit itself; one that pruned it offers its snapshot. */
#include <string.h>

#include "ep_internal.h"

/* A node that took the command from its leader at ballot 0 holds exactly the command any commit
 * of the instance carries: its Commit can leave the command out (a batch is most of the bytes). */
void ep_send_commit(epaxos *p, int to, const ep_inst *in, uint32_t holders) {
  ep_msg c = {.type = EP_MSG_COMMIT,
              .leader = (uint8_t)in->leader,
              .inst = in->num,
              .has_cmd = 1,
              .seq = in->seq,
              .n_deps = p->n,
              .cmd = in->cmd,
              .cmd_len = in->len};
  memcpy(c.deps, in->deps, (size_t)p->n * sizeof *c.deps);
  for (int i = 0; i < p->n; i++) {
    if (i == p->id || (to >= 0 && i != to)) continue;
    int lite = (holders >> i) & 1;
    c.has_cmd = !lite;
    c.cmd_len = lite ? 0 : in->len;
    ep_send(p, i, &c);
  }
}

static void attrs_into(const epaxos *p, const ep_inst *in, ep_msg *r) {
  r->seq = in->seq;
  r->n_deps = p->n;
  memcpy(r->deps, in->deps, (size_t)p->n * sizeof *r->deps);
}

/* A request at a recovery's ballot about an instance this node pruned: the asker has not seen it
 * committed, and this node can no longer tell it how. It never answers ok (it holds nothing to
 * answer with, and an empty answer would let the asker decide from ignorance); it offers its
 * snapshot, which covers the instance (prune.c). The command leader's own late duplicates at
 * ballot 0 are ignored. */
static void about_pruned(epaxos *p, int from, const ep_msg *m) {
  if (m->ballot != 0 && ep_pruned(p, m->leader, m->inst)) ep_snap_offer(p, from);
}

void ep_recv_preaccept(epaxos *p, int from, const ep_msg *m) {
  ep_inst *in = ep_inst_get(p, m->leader, m->inst);
  if (!in) return about_pruned(p, from, m);
  if (in->status == EP_COMMITTED) return ep_send_commit(p, from, in, 0);
  ep_msg r = {
      .type = EP_MSG_PREACCEPT_OK, .leader = m->leader, .inst = m->inst, .ballot = m->ballot};
  if (m->ballot < in->ballot) {
    r.promised = in->ballot;
    return ep_send(p, from, &r);
  }
  if (in->status == EP_ACCEPTED) {
    /* Attributes accepted at a lower ballot are kept (a recovery's PreAccept only gathers
     * attributes); the promise moves up. */
    if (m->ballot > in->ballot) {
      in->ballot = m->ballot;
      ep_persist_inst(p, in);
    }
  } else if (!(in->status == EP_PREACCEPTED && in->vballot == m->ballot)) {
    /* Not a duplicate: merge this node's interfering instances into the attributes. */
    uint64_t seq = m->seq, deps[CTK_MAX_NODES];
    memcpy(deps, m->deps, sizeof deps);
    ep_fp fp;
    if (ep_fp_build(&fp, m->cmd, m->cmd_len, 1) != 0) {
      p->out_of_memory = 1;
      return;
    }
    ep_conflicts_attributes(p, &fp, &seq, deps);
    int eq = m->ballot == 0 && seq == m->seq && !memcmp(deps, m->deps, (size_t)p->n * 8);
    int rc = ep_inst_set(p, in, 1, m->cmd, m->cmd_len, &fp, seq, deps);
    ep_fp_free(&fp);
    if (rc != 0) return;
    in->status = EP_PREACCEPTED;
    in->ballot = in->vballot = m->ballot;
    in->eq = (uint8_t)eq;
    ep_persist_inst(p, in);
  }
  r.ok = 1;
  r.promised = m->ballot;
  r.eq = in->status == EP_PREACCEPTED && in->eq;
  attrs_into(p, in, &r);
  ep_send(p, from, &r);
}

void ep_recv_accept(epaxos *p, int from, const ep_msg *m) {
  ep_inst *in = ep_inst_get(p, m->leader, m->inst);
  if (!in) return about_pruned(p, from, m);
  if (in->status == EP_COMMITTED) return ep_send_commit(p, from, in, 0);
  ep_msg r = {.type = EP_MSG_ACCEPT_OK, .leader = m->leader, .inst = m->inst, .ballot = m->ballot};
  if (m->ballot < in->ballot) {
    r.promised = in->ballot;
    return ep_send(p, from, &r);
  }
  if (!(in->status == EP_ACCEPTED && in->vballot == m->ballot)) {
    if (ep_inst_set(p, in, 1, m->cmd, m->cmd_len, NULL, m->seq, m->deps) != 0) return;
    in->status = EP_ACCEPTED;
    in->ballot = in->vballot = m->ballot;
    in->eq = 0;
    ep_persist_inst(p, in);
  }
  r.ok = 1;
  r.promised = m->ballot;
  ep_send(p, from, &r);
}

void ep_commit_local(epaxos *p, ep_inst *in, int has_cmd, const uint8_t *cmd, size_t len,
                     uint64_t seq, const uint64_t *deps) {
  if (in->status == EP_COMMITTED) return;
  if (ep_inst_set(p, in, has_cmd, cmd, len, NULL, seq, deps) != 0) return;
  in->status = EP_COMMITTED;
  in->eq = 0;
  in->committed_us = p->now_us;
  ep_persist_inst(p, in);
  int q = in->leader;
  while (1) {
    const ep_inst *next = ep_inst_find(p, q, p->committed[q] + 1);
    if (!next || next->status != EP_COMMITTED) break;
    p->committed[q]++;
  }
  if (!in->len) p->count.noops++;
  p->exec_dirty = 1;
  ep_prop *pr = ep_prop_find(p, in->leader, in->num);
  if (pr) ep_prop_free(p, pr);
}

/* A Commit without the command names the one this node took at ballot 0; one that holds no such
 * command (it never saw the PreAccept, or a recovery's ballot replaced it) ignores it and learns
 * the commit in full later (catch-up, or the recovery). */
void ep_recv_commit(epaxos *p, const ep_msg *m) {
  if (!m->has_cmd) {
    ep_inst *in = ep_inst_find(p, m->leader, m->inst);
    if (!in || in->status == EP_NONE || in->status == EP_COMMITTED || in->vballot != 0) return;
    return ep_commit_local(p, in, 1, in->cmd, in->len, m->seq, m->deps);
  }
  ep_inst *in = ep_inst_get(p, m->leader, m->inst);
  if (in) ep_commit_local(p, in, 1, m->cmd, m->cmd_len, m->seq, m->deps);
}

/* Explicit prepare (the paper's Figure 3): promise the ballot and tell what this node holds of
 * the instance, including whether it preaccepted the leader's attributes unchanged. */
void ep_recv_prepare(epaxos *p, int from, const ep_msg *m) {
  ep_inst *in = ep_inst_get(p, m->leader, m->inst);
  if (!in) return about_pruned(p, from, m);
  if (in->status == EP_COMMITTED) return ep_send_commit(p, from, in, 0);
  ep_msg r = {.type = EP_MSG_PREPARE_OK, .leader = m->leader, .inst = m->inst, .ballot = m->ballot};
  if (m->ballot < in->ballot) {
    r.promised = in->ballot;
    return ep_send(p, from, &r);
  }
  if (m->ballot > in->ballot) {
    in->ballot = m->ballot;
    ep_persist_inst(p, in);
  }
  r.ok = 1;
  r.promised = m->ballot;
  r.status = in->status;
  if (in->status != EP_NONE) {
    r.eq = in->status == EP_PREACCEPTED && in->eq && in->vballot == 0;
    r.vballot = in->vballot;
    r.has_cmd = 1;
    r.cmd = in->cmd;
    r.cmd_len = in->len;
    attrs_into(p, in, &r);
  }
  ep_send(p, from, &r);
}

/* A peer told what it has committed (and executed) of every leader: send it the commits it
 * lacks, and note how far it executed (prune.c). The leader served first turns with every
 * answer: a peer far behind on one leader must not starve its gaps of the others (a node that
 * waited for a commit of leader 2 never got it while leader 0's backlog took every batch). */
void ep_recv_catchup(epaxos *p, int from, const ep_msg *m) {
  ep_prune_note_floors(p, from, m->floors, m->echo);
  /* It lacks commits this node pruned: they only exist in this node's snapshot now. */
  for (int q = 0; q < p->n; q++)
    if (m->deps[q] < p->pruned[q]) {
      ep_snap_offer(p, from);
      break;
    }
  int sent = 0;
  int first_leader = (int)(p->catchup_turn++ % (uint64_t)p->n);
  for (int k = 0; k < p->n && sent < EP_CATCHUP_BATCH; k++) {
    int q = (first_leader + k) % p->n;
    uint64_t first = (m->deps[q] > p->pruned[q] ? m->deps[q] : p->pruned[q]) + 1;
    for (uint64_t i = first; i <= p->known[q] && sent < EP_CATCHUP_BATCH; i++) {
      const ep_inst *in = ep_inst_find(p, q, i);
      if (!in || in->status != EP_COMMITTED) continue;
      ep_send_commit(p, from, in, 0);
      sent++;
    }
  }
}
