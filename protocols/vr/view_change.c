/* view_change.c: view changes (VR Revisited, section 4.2).
 *
 *   1. A replica that suspects the primary (or hears of a later view) advances its view-number,
 *      sets its status to view-change and sends STARTVIEWCHANGE to all.
 *   2. Once it has STARTVIEWCHANGE for its view from f others, it sends DOVIEWCHANGE (its log,
 *      its last normal view, op-number and commit-number) to the new primary, (v - 1) mod n.
 *   3. The new primary, with f + 1 DOVIEWCHANGEs (its own included), takes the log of the one
 *      with the largest last normal view, then the largest op-number, and the largest
 *      commit-number; it sets its status to normal and sends STARTVIEW to all.
 *   5. The others replace their log with the primary's, go normal in the new view, and send
 *      PREPAREOK for what they hold, so that the uncommitted operations commit.
 *
 * Logs do not fit in one message: a DOVIEWCHANGE carries the sender's log from its
 * commit-number on (one chunk), which with the new primary's own committed prefix is usually all
 * it needs; when not, it fetches the rest of the best log with GETSTATE from its sender, who has
 * stopped changing it (it is in view-change status), before going normal. Likewise STARTVIEW
 * carries the log past what the backup is known to hold, and a backup left short fetches the
 * rest by state transfer. The own log is not touched until the best log is complete, so a view
 * change given up halfway leaves it as it was.
 *
 * Checkpoints (snapshot.c): a log may start past op 1, but always right after a checkpoint of
 * committed operations, which every later view's log holds too. A DOVIEWCHANGE starts at the
 * commit-number, past any checkpoint. A new primary that must fetch positions its best log's
 * sender only holds in a checkpoint gets that checkpoint first, and the log past it. A STARTVIEW
 * to a backup behind the primary's checkpoint carries the log from the checkpoint on; the backup
 * fetches the checkpoint by state transfer. A checkpoint installed in the middle of a view change
 * replaces only committed positions of the own log. */
#include "vr_internal.h"

static void broadcast_start_view_change(vr *p) {
  for (int i = 0; i < p->n; i++) {
    if (i == p->id) continue;
    vr_encode_start_view_change(vr_send_begin(p, i), p->view);
    vr_send_end(p);
  }
}

static void send_do_view_change(vr *p) {
  uint64_t first = p->commit + 1;
  uint32_t n = vr_log_chunk(&p->log, first, UINT64_MAX);
  vr_encode_do_view_change(vr_send_begin(p, vr_primary_of(p, p->view)), p->view,
                           p->last_normal_view, p->commit, &p->log, first, n);
  vr_send_end(p);
}

static void request_best_log(vr *p) {
  vr_encode_get_state(vr_send_begin(p, p->best), p->view, vr_log_end(&p->stash));
  vr_send_end(p);
}

static void record_do_view_change(vr *p, int from, uint64_t last_normal, uint64_t op,
                                  uint64_t commit, const vr_msg *m);

/* Starts (or, after a restart, resumes) the view change for p->view. */
static void enter(vr *p) {
  p->svc_from = 1u << p->id;
  p->dvc_sent = 0;
  p->dvc_from = 0;
  p->best = VR_NO_NODE;
  p->best_last_normal = p->best_op = p->max_commit = 0;
  p->fetching = 0;
  p->catching_up = 0;
  vr_log_init(&p->stash, 1);
  vr_reset_vc_timer(p);
  p->resend_deadline_us = p->now_us + p->heartbeat_us;
  broadcast_start_view_change(p);
  if (vr_primary_of(p, p->view) == p->id)
    record_do_view_change(p, p->id, p->last_normal_view, vr_op(p), p->commit, NULL);
}

void vr_start_view_change(vr *p, uint64_t view) {
  p->view = view;
  p->status = VR_VIEW_CHANGE;
  vr_persist_state(p); /* durable before the STARTVIEWCHANGE leaves */
  enter(p);
}

void vr_resume_view_change(vr *p) { enter(p); }

void vr_send_start_view(vr *p, int to) {
  uint64_t known = (p->dvc_from & (1u << to)) ? p->dvc_commit[to] : p->commit;
  if (known > vr_op(p)) known = vr_op(p);
  if (known + 1 < p->log.first) known = p->log.first - 1;
  uint32_t n = vr_log_chunk(&p->log, known + 1, UINT64_MAX);
  vr_encode_start_view(vr_send_begin(p, to), p->view, p->commit, &p->log, known + 1, n);
  vr_send_end(p);
}

/* Step 4: the best log is complete; the new primary goes normal and tells everyone. */
static void install(vr *p) {
  if (p->best != p->id) {
    vr_log_truncate(&p->log, p->keep);
    for (uint64_t pos = p->keep + 1; pos <= p->best_op; pos++) {
      const vr_entry *e = vr_log_at(&p->stash, pos);
      if (vr_log_append(&p->log, e->data, e->len) != 0) {
        p->out_of_memory = 1;
        return;
      }
    }
    vr_persist_entries(p, p->keep + 1);
  }
  vr_log_init(&p->stash, 1);
  p->fetching = 0;
  p->status = VR_NORMAL;
  p->last_normal_view = p->view;
  vr_advance_commit(p, p->max_commit);
  vr_persist_state(p);
  vr_become_primary(p);
  for (int i = 0; i < p->n; i++)
    if (i != p->id) vr_send_start_view(p, i);
}

/* f + 1 DOVIEWCHANGEs are in: install the best log, or fetch what is missing of it first. */
static void decide(vr *p) {
  if (p->best == p->id || p->best_op < p->commit) {
    p->best = p->id;
    install(p);
    return;
  }
  /* Our log agrees with the best one up to our commit-number (committed operations are in every
   * later view's log), and entirely when both are of the same last normal view (both are then
   * prefixes of that view's primary's log). */
  p->keep =
      p->last_normal_view == p->best_last_normal && vr_op(p) <= p->best_op ? vr_op(p) : p->commit;
  if (p->stash.first > p->keep + 1 || vr_log_end(&p->stash) <= p->keep)
    vr_log_init(&p->stash, p->keep + 1);
  if (vr_log_end(&p->stash) >= p->best_op) {
    install(p);
    return;
  }
  p->fetching = 1;
  request_best_log(p);
}

static void record_do_view_change(vr *p, int from, uint64_t last_normal, uint64_t op,
                                  uint64_t commit, const vr_msg *m) {
  if (p->dvc_from & (1u << from)) return;
  p->dvc_from |= 1u << from;
  p->dvc_commit[from] = commit; /* for its STARTVIEW */
  if (commit > p->max_commit) p->max_commit = commit;
  if (p->fetching) return; /* decided already */
  if (p->best == VR_NO_NODE || last_normal > p->best_last_normal ||
      (last_normal == p->best_last_normal && op > p->best_op)) {
    p->best = from;
    p->best_last_normal = last_normal;
    p->best_op = op;
    vr_log_init(&p->stash, m ? m->first : 1);
    if (m && vr_log_take(&p->stash, m) != 0) p->out_of_memory = 1;
  }
  if (__builtin_popcount(p->dvc_from) >= p->q) decide(p);
}

static void maybe_send_do_view_change(vr *p) {
  if (p->dvc_sent || vr_primary_of(p, p->view) == p->id) return;
  if (__builtin_popcount(p->svc_from & ~(1u << p->id)) < p->q - 1) return;
  p->dvc_sent = 1;
  send_do_view_change(p);
}

void vr_view_change_timeout(vr *p) {
  if (p->now_us >= p->vc_deadline_us) {
    vr_start_view_change(p, p->view + 1); /* this view did not come together: try the next */
    return;
  }
  if (p->now_us < p->resend_deadline_us) return;
  p->resend_deadline_us = p->now_us + p->heartbeat_us;
  broadcast_start_view_change(p);
  if (p->dvc_sent) send_do_view_change(p);
  if (p->fetching) request_best_log(p);
}

/* A message of view m->view about a view change: 0 when it is stale; when we are normal in
 * that view already, the sender missed the STARTVIEW: the primary sends it again. */
static int join(vr *p, int from, const vr_msg *m) {
  if (m->view < p->view) return 0;
  if (m->view > p->view) {
    vr_start_view_change(p, m->view);
    return 1;
  }
  if (p->status == VR_NORMAL) {
    if (vr_is_primary(p)) vr_send_start_view(p, from);
    return 0;
  }
  return 1;
}

void vr_recv_start_view_change(vr *p, int from, const vr_msg *m) {
  if (!join(p, from, m)) return;
  p->svc_from |= 1u << from;
  maybe_send_do_view_change(p);
}

void vr_recv_do_view_change(vr *p, int from, const vr_msg *m) {
  if (!join(p, from, m)) return;
  p->svc_from |= 1u << from; /* its sender is changing views too */
  record_do_view_change(p, from, m->last_normal, m->op, m->commit, m);
}

void vr_view_change_new_state(vr *p, int from, const vr_msg *m) {
  if (!p->fetching || from != p->best || m->op != p->best_op) return;
  if (m->first > vr_log_end(&p->stash) + 1) return;
  if (vr_log_take(&p->stash, m) != 0) {
    p->out_of_memory = 1;
    return;
  }
  if (vr_log_end(&p->stash) >= p->best_op)
    install(p);
  else
    request_best_log(p);
}

void vr_view_change_snapshot_installed(vr *p) {
  if (!p->fetching) return;
  if (p->keep < p->snap.held.index) p->keep = p->snap.held.index;
  vr_log_discard_through(&p->stash, p->keep);
  if (p->stash.first > p->keep + 1) vr_log_init(&p->stash, p->keep + 1);
  if (vr_log_end(&p->stash) >= p->best_op)
    install(p);
  else
    request_best_log(p);
}

/* Step 5. The backup replaces its log with the primary's, keeping its committed prefix (which
 * every later view's log starts with); a log too big for one STARTVIEW is completed by state
 * transfer before the backup counts as normal in the view (state_transfer.c). */
void vr_recv_start_view(vr *p, int from, const vr_msg *m) {
  if (m->view < p->view || (m->view == p->view && p->status == VR_NORMAL && !p->catching_up))
    return;
  if (m->view > p->view || p->status != VR_NORMAL) vr_catch_up_begin(p, m->view);
  vr_catch_up_chunk(p, from, m);
}
