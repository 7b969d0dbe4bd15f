/* recovery.c: recovery without durable state (VR Revisited, section 4.3), used when the durable
 * option is off.
 *
 *   1. A restarted replica sets its status to recovering and sends RECOVERY with a fresh nonce
 *      (from the seed, which hosts vary per incarnation, and the clock) to all.
 *   2. A replica in normal status answers RECOVERYRESPONSE with its view-number and the nonce;
 *      the primary adds its log, op-number and commit-number.
 *   3. The recovering replica waits for answers to its nonce from enough replicas, among them
 *      the primary of the latest view they name, then takes that view and the primary's log and
 *      goes normal. Until then it answers nothing at all (vr.c drops every other message), so it
 *      can never act in a view it missed or undo a promise its previous incarnation made.
 *
 * "Enough" is f + 1 of 2f + 1 (n - q + 1 in general): any f + 1 other replicas include one of
 * every view change quorum, so the latest view any quorum moved to is among the answers. The
 * protocol is only as good as that assumption: with more than f replicas down at once, those
 * that restart cannot gather f + 1 answers, and what only they held is gone
 * (tests/test_vr.c shows both).
 *
 * With checkpoints (snapshot.c) the primary's log starts past its checkpoint; the recovering
 * replica then fetches the checkpoint from it (installing it at once: it holds only committed
 * operations) and the log past it, before it finishes. */
#include "vr_internal.h"

static void broadcast_recovery(vr *p) {
  for (int i = 0; i < p->n; i++) {
    if (i == p->id) continue;
    vr_encode_recovery(vr_send_begin(p, i), p->nonce);
    vr_send_end(p);
  }
  p->resend_deadline_us = p->now_us + p->heartbeat_us;
}

void vr_start_recovery(vr *p) {
  p->status = VR_RECOVERING;
  p->nonce = ctk_rng_next(&p->rng) ^ p->now_us;
  p->rr_from = 0;
  p->rr_primary = VR_NO_NODE;
  p->rr_primary_view = 0;
  vr_log_init(&p->stash, 1);
  broadcast_recovery(p);
}

void vr_recovery_timeout(vr *p) {
  if (p->now_us >= p->resend_deadline_us) broadcast_recovery(p);
}

void vr_recv_recovery(vr *p, int from, const vr_msg *m) {
  if (p->status != VR_NORMAL) return;
  wire_writer *w = vr_send_begin(p, from);
  if (vr_is_primary(p)) {
    p->peers[from] = (vr_peer){0}; /* whatever it acknowledged before, it has forgotten */
    uint32_t n = vr_log_chunk(&p->log, p->log.first, UINT64_MAX);
    vr_encode_recovery_response(w, p->view, m->nonce, p->commit, &p->log, n);
  } else {
    vr_encode_recovery_response(w, p->view, m->nonce, 0, NULL, 0);
  }
  vr_send_end(p);
}

/* Step 3: the latest view and its primary's log, complete. */
static void finish(vr *p) {
  vr_log log = p->log;
  p->log = p->stash; /* the primary's log, right after our checkpoint (or from 1) */
  p->stash = log;
  vr_log_init(&p->stash, 1);
  p->view = p->last_normal_view = p->rr_primary_view;
  p->status = VR_NORMAL;
  p->commit = p->snap.held.index; /* executed already (it is installed), or 0 */
  vr_advance_commit(p, p->rr_commit);
  vr_reset_vc_timer(p);
  p->get_state_next_us = 0;
  vr_encode_prepare_ok(vr_send_begin(p, p->rr_primary), p->view, vr_op(p));
  vr_send_end(p);
}

/* Finishes once enough replicas answered and the primary of the latest view they name sent its
 * whole log (what did not fit in its answer is fetched from it by state transfer). */
static void maybe_finish(vr *p, int progress) {
  if (__builtin_popcount(p->rr_from) < p->rq) return;
  uint64_t latest = 0;
  for (int i = 0; i < p->n; i++)
    if ((p->rr_from & (1u << i)) && p->rr_view[i] > latest) latest = p->rr_view[i];
  if (p->rr_primary == VR_NO_NODE || p->rr_primary_view != latest) return;
  if (p->stash.first - 1 > p->snap.held.index) { /* it starts past a checkpoint we lack */
    vr_request_state(p, p->rr_primary, p->rr_primary_view, progress);
    return;
  }
  vr_log_discard_through(&p->stash, p->snap.held.index);
  if (vr_log_end(&p->stash) >= p->rr_op)
    finish(p);
  else
    vr_request_state(p, p->rr_primary, p->rr_primary_view, progress);
}

void vr_recv_recovery_response(vr *p, int from, const vr_msg *m) {
  if (p->status != VR_RECOVERING || m->nonce != p->nonce) return;
  p->rr_from |= 1u << from;
  p->rr_view[from] = m->view;
  int progress = 0;
  if (m->primary && m->view > p->rr_primary_view) {
    p->rr_primary = from;
    p->rr_primary_view = m->view;
    p->rr_op = m->op;
    p->rr_commit = m->commit;
    vr_log_init(&p->stash, m->first);
    if (vr_log_take(&p->stash, m) != 0) p->out_of_memory = 1;
    progress = 1;
  }
  maybe_finish(p, progress);
}

void vr_recovery_new_state(vr *p, int from, const vr_msg *m) {
  if (from != p->rr_primary || m->view != p->rr_primary_view) return;
  uint64_t end = vr_log_end(&p->stash);
  if (m->first > end + 1) return;
  if (vr_log_take(&p->stash, m) != 0) {
    p->out_of_memory = 1;
    return;
  }
  if (m->commit > p->rr_commit) p->rr_commit = m->commit;
  maybe_finish(p, vr_log_end(&p->stash) > end);
}

void vr_recovery_snapshot_installed(vr *p) { maybe_finish(p, 1); }
