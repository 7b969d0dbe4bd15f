/* state_transfer.c: state transfer (VR Revisited, section 5.2). A replica that lacks operations
 * asks a replica of its view with GETSTATE for what follows what it holds, and takes the NEWSTATE
 * it gets, one message-sized chunk at a time.
 *
 * Two cases. A replica of the view that merely fell behind (a PREPARE past its op-number, a
 * commit-number past it) appends to its log at once: in one view every log is a prefix of the
 * primary's. A replica that learns of a later view from its primary (a PREPARE, a COMMIT, or a
 * STARTVIEW too big for one message) is "catching up": it joins the view at once (it will never
 * again act in an older one) but gathers the view's log apart, past its commit-number, and only
 * replaces its own log with it, and takes the view as its last normal view, once it holds
 * everything the primary had. Until then it sends no PREPAREOK and executes nothing new.
 *
 * Why not, as the paper says, drop the operations past the commit-number and carry on in the
 * new view? Because its DOVIEWCHANGE in the next view change would then name the new view as its
 * last normal view with a log that lacks operations that view started with, and win over logs
 * that hold them: the sweep found exactly that (3-node seed 19, an operation committed in view 1
 * lost in view 3). A last normal view of v must come with all of view v's starting log.
 *
 * A replica asked for operations its log no longer holds sends its checkpoint instead
 * (snapshot.c); the requester installs it and asks again for what follows. */
#include "vr_internal.h"

void vr_request_state(vr *p, int to, uint64_t view, int force) {
  if (!force && p->now_us < p->get_state_next_us) return; /* one in flight is enough */
  p->get_state_next_us = p->now_us + p->heartbeat_us;
  uint64_t have = vr_op(p);
  if (p->catching_up) {
    have = vr_log_end(&p->stash); /* which starts right after our commit-number */
  } else if (p->status == VR_RECOVERING) {
    /* The primary's log, when our checkpoint reaches it; otherwise a checkpoint first. */
    uint64_t end = vr_log_end(&p->stash);
    have = p->stash.first - 1 > p->snap.held.index ? p->snap.held.index
           : end > p->snap.held.index              ? end
                                                   : p->snap.held.index;
  }
  vr_encode_get_state(vr_send_begin(p, to), view, have);
  vr_send_end(p);
}

/* Answered by a replica in normal status in the requester's view that holds that view's log, and
 * by a replica in the middle of the view change to its new primary (whose DOVIEWCHANGE named this
 * log the best: it no longer changes). */
void vr_recv_get_state(vr *p, int from, const vr_msg *m) {
  if (m->view != p->view) return;
  int normal = p->status == VR_NORMAL && !p->catching_up;
  if (!normal && !(p->status == VR_VIEW_CHANGE && from == vr_primary_of(p, p->view))) return;
  if (m->op + 1 < p->log.first) {
    vr_snap_send(p, from); /* what it lacks is in our checkpoint now */
    return;
  }
  uint64_t first = m->op < vr_op(p) ? m->op + 1 : vr_op(p) + 1;
  uint32_t n = vr_log_chunk(&p->log, first, UINT64_MAX);
  vr_encode_new_state(vr_send_begin(p, from), p->view, p->commit, &p->log, first, n);
  vr_send_end(p);
}

void vr_catch_up_begin(vr *p, uint64_t view) {
  p->view = view;
  p->status = VR_NORMAL;
  p->catching_up = 1;
  p->catchup_target = UINT64_MAX; /* until the primary tells its op-number */
  p->fetching = 0;
  vr_log_init(&p->stash, p->commit + 1);
  vr_persist_state(p); /* the view, with the last normal view unchanged */
  vr_reset_vc_timer(p);
  p->get_state_next_us = 0;
}

static void catch_up_install(vr *p, int primary, uint64_t commit) {
  uint64_t keep = p->stash.first - 1; /* our commit-number when catching up began */
  vr_log_truncate(&p->log, keep);
  for (uint64_t pos = keep + 1; pos <= vr_log_end(&p->stash); pos++) {
    const vr_entry *e = vr_log_at(&p->stash, pos);
    if (vr_log_append(&p->log, e->data, e->len) != 0) {
      p->out_of_memory = 1;
      return;
    }
  }
  vr_log_init(&p->stash, 1);
  p->catching_up = 0;
  p->last_normal_view = p->view;
  vr_persist_entries(p, keep + 1);
  vr_persist_state(p);
  vr_advance_commit(p, commit);
  vr_encode_prepare_ok(vr_send_begin(p, primary), p->view, vr_op(p));
  vr_send_end(p);
}

void vr_catch_up_snapshot_installed(vr *p) {
  int primary = vr_primary_of(p, p->view);
  if (vr_is_primary(p)) return;
  if (p->catching_up) {
    /* The view's log past the checkpoint is what is missing now. */
    vr_log_discard_through(&p->stash, p->snap.held.index);
    if (p->catchup_target != UINT64_MAX && vr_log_end(&p->stash) >= p->catchup_target) {
      catch_up_install(p, primary, p->commit);
      return;
    }
  } else {
    vr_encode_prepare_ok(vr_send_begin(p, primary), p->view, vr_op(p));
    vr_send_end(p);
  }
  vr_request_state(p, primary, p->view, 1);
}

void vr_catch_up_chunk(vr *p, int from, const vr_msg *m) {
  if (p->catchup_target == UINT64_MAX) p->catchup_target = m->op;
  uint64_t end = vr_log_end(&p->stash);
  if (m->first <= end + 1 && vr_log_take(&p->stash, m) != 0) {
    p->out_of_memory = 1;
    return;
  }
  if (vr_log_end(&p->stash) >= p->catchup_target) {
    catch_up_install(p, from, m->commit);
    return;
  }
  vr_request_state(p, from, p->view, vr_log_end(&p->stash) > end);
}

void vr_recv_new_state(vr *p, int from, const vr_msg *m) {
  if (p->status == VR_RECOVERING) {
    vr_recovery_new_state(p, from, m);
    return;
  }
  if (m->view != p->view) return;
  if (p->status == VR_VIEW_CHANGE) {
    if (vr_primary_of(p, p->view) == p->id) vr_view_change_new_state(p, from, m);
    return;
  }
  if (vr_is_primary(p)) return;
  if (p->catching_up) {
    if (from == vr_primary_of(p, p->view)) vr_catch_up_chunk(p, from, m);
    return;
  }
  uint64_t op = vr_op(p);
  if (m->first > op + 1) return;
  if (m->first + m->n - 1 > op) {
    vr_log_splice(p, op, m);
    vr_persist_entries(p, op + 1);
  }
  vr_advance_commit(p, m->commit);
  if (vr_op(p) < m->op && vr_op(p) > op)
    vr_request_state(p, from, p->view, 1); /* progress: the next chunk at once */
  vr_encode_prepare_ok(vr_send_begin(p, vr_primary_of(p, p->view)), p->view, vr_op(p));
  vr_send_end(p);
}
