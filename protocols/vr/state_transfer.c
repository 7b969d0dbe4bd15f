/* state_transfer.c: state transfer (VR Revisited, section 5.2). A replica that lacks operations
 * of its view (a PREPARE past its op-number, a commit-number past it, a STARTVIEW or a recovery
 * answer that did not fit in one message) asks a replica of the same view with GETSTATE for what
 * follows its op-number, and appends the NEWSTATE it gets, one message-sized chunk at a time.
 * A replica that was behind by a whole view first drops what it held past its commit-number
 * (normal.c, vr_jump_to_view). The new primary of a view change fetches the rest of the best log
 * the same way (view_change.c). */
#include "vr_internal.h"

void vr_request_state(vr *p, int to, int force) {
  if (!force && p->now_us < p->get_state_next_us) return; /* one in flight is enough */
  p->get_state_next_us = p->now_us + p->heartbeat_us;
  vr_encode_get_state(vr_send_begin(p, to), p->view, vr_op(p));
  vr_send_end(p);
}

/* Answered by a replica in normal status in the requester's view, and by a replica in the middle
 * of the view change to its new primary (whose DOVIEWCHANGE named this log the best). */
void vr_recv_get_state(vr *p, int from, const vr_msg *m) {
  if (m->view != p->view) return;
  if (p->status != VR_NORMAL &&
      !(p->status == VR_VIEW_CHANGE && from == vr_primary_of(p, p->view)))
    return;
  uint64_t first = m->op < vr_op(p) ? m->op + 1 : vr_op(p) + 1;
  uint32_t n = vr_log_chunk(&p->log, first, UINT64_MAX);
  vr_encode_new_state(vr_send_begin(p, from), p->view, p->commit, &p->log, first, n);
  vr_send_end(p);
}

void vr_recv_new_state(vr *p, int from, const vr_msg *m) {
  if (m->view != p->view) return;
  if (p->status == VR_VIEW_CHANGE) {
    if (vr_primary_of(p, p->view) == p->id) vr_view_change_new_state(p, from, m);
    return;
  }
  if (p->status != VR_NORMAL || vr_is_primary(p)) return;
  uint64_t op = vr_op(p);
  if (m->first > op + 1) return;
  if (m->first + m->n - 1 > op) {
    vr_log_splice(p, op, m);
    vr_persist_entries(p, op + 1);
  }
  vr_advance_commit(p, m->commit);
  if (vr_op(p) < m->op && vr_op(p) > op)
    vr_request_state(p, from, 1); /* progress: the next chunk at once */
  vr_encode_prepare_ok(vr_send_begin(p, vr_primary_of(p, p->view)), p->view, vr_op(p));
  vr_send_end(p);
}
