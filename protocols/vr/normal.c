/* normal.c: normal operation (VR Revisited, section 4.1): the primary assigns op-numbers to client
 * operations and sends them in PREPAREs (in batches, pipelined), backups append them in order and
 * answer PREPAREOK, the primary commits an operation once f backups hold it and sends its
 * commit-number on later PREPAREs or in COMMIT heartbeats, and backups execute what is committed.
 *
 * In one view every backup's log is a prefix of the primary's, which is what lets a backup
 * append a PREPARE that overlaps what it holds, commit up to min(commit-number, op-number), and
 * what lets the primary count a PREPAREOK(n) as holding every operation up to n.
 *
 * Two additions to the paper's messages, for a lossy network: the primary resends, on each
 * heartbeat, the first batch a backup is missing (its last PREPAREOK says where it stands); and
 * a backup answers COMMIT with a PREPAREOK, so that an idle primary still learns that. */
#include <stdlib.h>
#include <string.h>

#include "vr_internal.h"

static void send_prepare_ok(vr *p, int to) {
  vr_encode_prepare_ok(vr_send_begin(p, to), p->view, vr_op(p));
  vr_send_end(p);
}

/* A PREPARE or COMMIT from the primary of view m->view: 0 when it is of an older view, or when
 * this replica does not hold that view's log yet (it fetches it: state_transfer.c). */
static int accept_view(vr *p, int from, const vr_msg *m) {
  if (m->view < p->view) return 0;
  if (m->view > p->view || p->status != VR_NORMAL) vr_catch_up_begin(p, m->view);
  vr_reset_vc_timer(p);
  if (p->catching_up) {
    vr_request_state(p, from, p->view, 0);
    return 0;
  }
  return 1;
}

/* The primary's messages say there are operations this backup lacks. Usually a PREPARE is just
 * late (the network reorders) or lost (the primary resends it); only a gap that lasts a heartbeat
 * is worth a state transfer. */
static void lagging(vr *p, int from, int gap) {
  if (!gap) {
    p->gap_since_us = 0;
  } else if (!p->gap_since_us) {
    p->gap_since_us = p->now_us + 1;
  } else if (p->now_us + 1 - p->gap_since_us >= p->heartbeat_us) {
    vr_request_state(p, from, p->view, 0);
  }
}

void vr_early_clear(vr *p) {
  for (int i = 0; i < p->n_early; i++) free(p->early[i].items);
  p->n_early = 0;
}

/* Step 3: "a backup won't accept a prepare with op-number n until it has entries for all earlier
 * requests in its log": one that arrives early waits here (a few at most) for the gap to fill. */
static void keep_early(vr *p, const vr_msg *m) {
  for (int i = 0; i < p->n_early; i++)
    if (p->early[i].view == m->view && p->early[i].first == m->first) return;
  if (p->n_early == VR_MAX_EARLY) return;
  uint8_t *items = malloc(m->items_len ? m->items_len : 1);
  if (!items) return; /* it will be resent */
  memcpy(items, m->items, m->items_len);
  p->early[p->n_early++] = (vr_early){m->view, m->first, m->commit, m->n, items, m->items_len};
}

/* Appends the waiting PREPAREs the log now reaches; drops those it passed or of other views. */
static void take_early(vr *p) {
  int progress = 1;
  while (progress) {
    progress = 0;
    for (int i = 0; i < p->n_early; i++) {
      vr_early *e = &p->early[i];
      uint64_t op = vr_op(p);
      if (e->view == p->view && e->first > op + 1 && e->first + e->n - 1 > op) continue;
      if (e->view == p->view && e->first + e->n - 1 > op) {
        vr_msg m = {.type = VR_MSG_PREPARE,
                    .view = e->view,
                    .commit = e->commit,
                    .first = e->first,
                    .n = e->n,
                    .items = e->items,
                    .items_len = e->items_len};
        vr_log_splice(p, op, &m);
        vr_advance_commit(p, e->commit);
        progress = 1;
      }
      free(e->items);
      p->early[i--] = p->early[--p->n_early];
    }
  }
}

void vr_recv_prepare(vr *p, int from, const vr_msg *m) {
  if (!accept_view(p, from, m)) return;
  uint64_t op = vr_op(p);
  if (m->first <= op + 1 && m->first + m->n - 1 > op) {
    vr_log_splice(p, op, m);
    take_early(p);
  } else if (m->first > op + 1) {
    keep_early(p, m);
  }
  if (vr_op(p) > op) vr_persist_entries(p, op + 1); /* durable before the PREPAREOK leaves */
  vr_advance_commit(p, m->commit);
  lagging(p, from, m->first > vr_op(p) + 1 || m->commit > vr_op(p));
  send_prepare_ok(p, from);
}

void vr_recv_commit(vr *p, int from, const vr_msg *m) {
  if (!accept_view(p, from, m)) return;
  vr_advance_commit(p, m->commit);
  lagging(p, from, m->commit > vr_op(p));
  send_prepare_ok(p, from);
}

/* ---- the primary ---- */

static void send_prepare(vr *p, int to, uint64_t first, uint32_t n) {
  vr_encode_prepare(vr_send_begin(p, to), p->view, p->commit, &p->log, first, n);
  vr_send_end(p);
}

/* Resends a backup the first batch it lacks, or the checkpoint when the log no longer holds it
 * (section 5.3). */
static void resend(vr *p, int to) {
  vr_peer *peer = &p->peers[to];
  uint64_t first = peer->acked + 1;
  if (first < p->log.first) {
    peer->resend_end = 0;
    vr_snap_send(p, to);
    return;
  }
  uint32_t n = vr_log_chunk(&p->log, first, (uint64_t)p->opt.max_batch);
  if (n == 0) return;
  send_prepare(p, to, first, n);
  peer->resend_end = first + n - 1;
}

void vr_become_primary(vr *p) {
  p->sent_upto = vr_op(p);
  p->inflight_start = p->inflight_count = 0;
  for (int i = 0; i < p->n; i++) p->peers[i] = (vr_peer){0};
  p->resend_deadline_us = p->now_us + p->heartbeat_us;
  vr_primary_commit(p);
}

static int cmp_desc(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x > y ? -1 : x < y;
}

/* Step 5: an operation is committed once the primary and f backups hold it. */
void vr_primary_commit(vr *p) {
  uint64_t held[CTK_MAX_NODES];
  for (int i = 0; i < p->n; i++)
    held[i] = i == p->id ? vr_op(p) : p->peers[i].heard ? p->peers[i].acked : 0;
  qsort(held, (size_t)p->n, sizeof held[0], cmp_desc);
  vr_advance_commit(p, held[p->q - 1]);
}

void vr_flush(vr *p) {
  if (!vr_is_primary(p)) return;
  if (p->n == 1) {
    p->sent_upto = vr_op(p);
    return;
  }
  /* At most max_inflight batches beyond the commit-number: operations that arrive meanwhile
   * wait, and leave together in the next batch. */
  const uint32_t cap = (uint32_t)p->opt.max_inflight;
  while (p->inflight_count && p->inflight[p->inflight_start] <= p->commit) {
    p->inflight_start = (p->inflight_start + 1) % cap;
    p->inflight_count--;
  }
  while (p->sent_upto < vr_op(p) && p->inflight_count < cap) {
    uint64_t first = p->sent_upto + 1;
    uint32_t n = vr_log_chunk(&p->log, first, (uint64_t)p->opt.max_batch);
    for (int i = 0; i < p->n; i++)
      if (i != p->id) send_prepare(p, i, first, n);
    p->sent_upto += n;
    p->inflight[(p->inflight_start + p->inflight_count++) % cap] = p->sent_upto;
  }
}

void vr_heartbeat(vr *p) {
  p->resend_deadline_us = p->now_us + p->heartbeat_us;
  for (int i = 0; i < p->n; i++) {
    if (i == p->id) continue;
    if (p->peers[i].heard && p->peers[i].acked < p->sent_upto) {
      resend(p, i);
    } else {
      vr_encode_commit(vr_send_begin(p, i), p->view, p->commit);
      vr_send_end(p);
    }
  }
}

void vr_recv_prepare_ok(vr *p, int from, const vr_msg *m) {
  if (!vr_is_primary(p) || m->view != p->view) return;
  vr_peer *peer = &p->peers[from];
  peer->heard = 1;
  uint64_t op = m->op < vr_op(p) ? m->op : vr_op(p);
  if (op > peer->acked) peer->acked = op;
  vr_primary_commit(p);
  /* A backup catching up: send the next batch as soon as the last one arrived. */
  if (peer->resend_end && peer->acked >= peer->resend_end) {
    peer->resend_end = 0;
    if (peer->acked < p->sent_upto) resend(p, from);
  }
  vr_flush(p);
}

/* ---- client operations ---- */

static int has_room(const vr *p) { return vr_op(p) - p->commit < VR_MAX_UNCOMMITTED; }

int vr_check_command(const vr *p, size_t len) {
  if (len == 0 || len > CTK_MAX_COMMAND_BYTES) return CTK_ERR_INVALID;
  if (vr_is_primary(p)) return has_room(p) ? CTK_OK : CTK_ERR_BUSY;
  if (p->status == VR_NORMAL && p->n > 1) return CTK_OK; /* forwarded to the primary */
  return CTK_ERR_REJECTED;
}

static void append(vr *p, const uint8_t *data, size_t len) {
  if (vr_log_append(&p->log, data, len) != 0) p->out_of_memory = 1;
}

void vr_client_command(vr *p, const uint8_t *data, size_t len) {
  if (!vr_is_primary(p)) {
    vr_encode_forward(vr_send_begin(p, vr_primary_of(p, p->view)), data, len);
    vr_send_end(p);
    return;
  }
  /* Step 2: advance the op-number, add the request to the log (durable before the PREPARE). */
  append(p, data, len);
  vr_persist_entries(p, vr_op(p));
  vr_primary_commit(p);
  vr_flush(p);
}

void vr_recv_forward(vr *p, const vr_msg *m) {
  if (!vr_is_primary(p)) return;
  uint64_t first = vr_op(p) + 1;
  vr_item_iter it;
  vr_item_iter_init(&it, m);
  for (uint32_t i = 0; i < m->n && has_room(p); i++) {
    size_t len;
    const uint8_t *data = vr_item_next(&it, &len);
    append(p, data, len);
  }
  if (vr_op(p) >= first) vr_persist_entries(p, first);
  vr_primary_commit(p);
  vr_flush(p);
}
