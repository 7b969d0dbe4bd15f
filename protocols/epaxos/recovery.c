/* recovery.c: explicit prepare. An instance this node knows of (it holds it, or a committed
 * command depends on it) that stays uncommitted for recovery_timeout_ms is taken over at a higher
 * ballot, whoever its command leader was: a leader that crashed mid-PreAccept or mid-Accept, a
 * lost Commit, a gap nobody filled. Execution therefore never waits forever on a dependency.
 *
 * The rules, after the paper's Figure 3 with the optimized fast quorum, once a majority answered
 * the Prepare (answers that the instance is committed arrive as Commit and end the recovery):
 *
 *   1. some answer accepted it: run Accept with the attributes of the highest ballot accepted;
 *   2. else, the command leader answered: it has not committed and, having promised the new
 *      ballot, never will; nothing was chosen, so start over (rule 4);
 *   3. else, if the fast path may have committed, it committed with the leader's attributes,
 *      which answers that preaccepted them unchanged at the default ballot report (eq):
 *        - at least fast_quorum - 1 such answers from nodes other than the leader: a whole fast
 *          quorum preaccepted those attributes, which is enough for them to be safe to commit
 *          (every interfering command committed since then met one of those nodes, so it depends
 *          on this one, or these attributes include it): run Accept with them;
 *        - fewer, but enough with the nodes not heard from yet: the fast path may or may not have
 *          happened and the answers cannot tell; wait for more answers (the paper's TryPreAccept
 *          resolves some of these cases by asking more questions; waiting is the simple, safe
 *          choice, and every node answers again once it is back);
 *   4. else: PreAccept the command afresh at the new ballot (no fast path), then Accept with the
 *      union of the answers; when no answer has the command at all, Accept a no-op.
 *
 * A recovery beaten by a higher ballot backs off for a random recovery timeout. */
#include <stdlib.h>
#include <string.h>

#include "ep_internal.h"

static ep_prop *free_recovery_slot(epaxos *p) {
  for (size_t i = (size_t)p->opt.max_inflight; i < p->n_props; i++)
    if (!p->props[i].active) return &p->props[i];
  return NULL;
}

static void start_recovery(epaxos *p, ep_prop *pr, const ep_inst *in) {
  uint64_t round = p->max_round > ep_round(in->ballot) ? p->max_round : ep_round(in->ballot);
  p->max_round = round + 1;
  *pr = (ep_prop){.active = 1,
                  .phase = EP_PH_PREPARE,
                  .leader = in->leader,
                  .num = in->num,
                  .ballot = ep_ballot(p->max_round, p->id)};
  ep_prop_activated(p, pr);
  p->count.recoveries++;
  ep_msg m = {
      .type = EP_MSG_PREPARE, .leader = (uint8_t)in->leader, .inst = in->num, .ballot = pr->ballot};
  pr->deadline_us = p->now_us + (uint64_t)p->opt.retry_timeout_ms * 1000;
  ep_broadcast(p, &m, 1);
}

void ep_recovery_scan(epaxos *p) {
  for (int q = 0; q < p->n; q++) {
    for (uint64_t i = p->committed[q] + 1; i <= p->known[q]; i++) {
      ep_inst *in = ep_inst_get(p, q, i);
      if (!in) break;
      if (in->status == EP_COMMITTED || ep_prop_find(p, q, i)) continue;
      if (!in->recover_at_us) {
        in->recover_at_us = p->now_us + ep_random_ms(p, p->opt.recovery_timeout_ms) * 1000;
        continue;
      }
      if (p->now_us < in->recover_at_us) continue;
      ep_prop *pr = free_recovery_slot(p);
      if (!pr) return;
      in->recover_at_us = 0;
      start_recovery(p, pr, in);
    }
  }
}

static int keep_cmd(epaxos *p, ep_prop *pr, const ep_msg *m) {
  if (pr->cmd || !m->cmd_len) return 0;
  if (!(pr->cmd = malloc(m->cmd_len))) {
    p->out_of_memory = 1;
    return -1;
  }
  memcpy(pr->cmd, m->cmd, m->cmd_len);
  pr->len = (uint32_t)m->cmd_len;
  pr->has_cmd = 1;
  return 0;
}

static void noop(ep_prop *pr) {
  free(pr->cmd);
  pr->cmd = NULL;
  pr->len = 0;
  pr->has_cmd = 1;
}

static void decide(epaxos *p, ep_prop *pr) {
  int answers = __builtin_popcount(pr->replies);
  if (answers < ep_majority(p)) return;
  if (pr->best == EP_ACCEPTED) { /* rule 1 */
    if (pr->acc_noop) noop(pr);
    return ep_start_accept(p, pr);
  }
  if (!pr->leader_answered) { /* rule 3 */
    int missing = (p->n - 1) - answers;
    int need = ep_fast_quorum(p) - 1;
    if (pr->eq_answers >= need) {
      pr->seq = pr->eq_seq;
      memcpy(pr->deps, pr->eq_deps, sizeof pr->deps);
      return ep_start_accept(p, pr);
    }
    if (pr->eq_answers + missing >= need) return; /* undetermined: wait for more answers */
  }
  if (pr->has_cmd) return ep_start_preaccept(p, pr); /* rules 2 and 4 */
  noop(pr);
  pr->seq = 0;
  memset(pr->deps, 0, sizeof pr->deps);
  ep_start_accept(p, pr);
}

void ep_recv_prepare_ok(epaxos *p, int from, const ep_msg *m) {
  ep_prop *pr = ep_prop_find(p, m->leader, m->inst);
  if (!pr || pr->phase != EP_PH_PREPARE || pr->ballot != m->ballot) return;
  if (pr->replies & 1u << from) return;
  if (!m->ok) {
    ep_inst *in = ep_inst_get(p, pr->leader, pr->num);
    if (in) in->recover_at_us = p->now_us + ep_random_ms(p, p->opt.recovery_timeout_ms) * 1000;
    ep_prop_free(p, pr);
    return;
  }
  if (m->status != EP_NONE && m->n_deps != p->n) return;
  pr->replies |= 1u << from;
  if (from == pr->leader) pr->leader_answered = 1;
  if (m->status != EP_NONE && keep_cmd(p, pr, m) != 0) return;
  if (m->status == EP_ACCEPTED && (pr->best != EP_ACCEPTED || m->vballot > pr->best_vballot)) {
    pr->best = EP_ACCEPTED;
    pr->best_vballot = m->vballot;
    pr->acc_noop = m->cmd_len == 0;
    pr->seq = m->seq;
    memcpy(pr->deps, m->deps, sizeof pr->deps);
  } else if (m->status == EP_PREACCEPTED && m->eq && m->vballot == 0 && from != pr->leader) {
    if (pr->eq_answers++ == 0) {
      pr->eq_seq = m->seq;
      memcpy(pr->eq_deps, m->deps, sizeof pr->eq_deps);
    }
  }
  decide(p, pr);
}
