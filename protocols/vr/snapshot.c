/* snapshot.c: checkpoints and log truncation (VR Revisited, section 5.3), with the option
 * snapshot_every (0, the default, keeps the whole log).
 *
 * Every snapshot_every executed operations a replica asks the host for its state machine
 * (output.snapshot_wanted); the checkpoint the host hands back (step(SNAPSHOT)) stands for
 * operations 1 .. index, all of them committed, and the log keeps only the last snapshot_keep of
 * those. Since a checkpoint holds nothing but committed operations, which every later view's log
 * starts with, any replica's checkpoint is as good as any other's, whatever view it was taken
 * in: a replica installs one whenever it covers more than it has executed.
 *
 * State transfer that "starts from a checkpoint" (section 5.3): a replica asked for operations it
 * no longer holds (a GETSTATE whose op-number is before its log, a backup that acknowledged less,
 * a STARTVIEW to one that far behind) sends its checkpoint instead, in chunks the receiver pulls:
 * SNAPCHUNK (index, total, offset, bytes) answered by SNAPPULL (index, bytes held). Installing it
 * replaces the log's positions through index and the state machine (output.restore); the
 * receiver then asks for the log past it as before (state_transfer.c, view_change.c,
 * recovery.c). A pushed chunk that does not continue a transfer only restarts a stalled one, so
 * duplicated messages do not multiply the chains, and a newer checkpoint offered in the middle of
 * a transfer that is moving is ignored. A sender keeps the checkpoints that replicas are still
 * pulling (or were just offered) when it takes the next: otherwise a primary that takes
 * checkpoints faster than one can be sent would restart every transfer for ever (a sweep with a
 * checkpoint every 10 operations in 128-byte chunks kept recovering replicas from finishing). A
 * pull that nothing answers goes again after half a heartbeat (vr_snap_tick), while the sender
 * still keeps the checkpoint.
 *
 * Durable: a full rewrite (persist_replace) whenever the checkpoint changes: the STATE record,
 * the SNAPSHOT record (index, the log's first position, bytes), then the log (durable.c). */
#include <stdlib.h>
#include <string.h>

#include "vr_internal.h"

void vr_snap_free(vr *p) {
  ctk_snap_held_free(&p->snap.held);
  ctk_snap_rx_free(&p->snap.rx);
  for (int i = 0; i < CTK_MAX_NODES - 1; i++) free(p->snap.old[i].data);
  p->snap = (vr_snapshot){0};
}

static int in_use(const vr *p, uint64_t pulled_us) {
  return pulled_us && p->now_us - pulled_us < p->heartbeat_us;
}

/* The current checkpoint gives way to a new one: kept among the old ones while a replica pulls
 * it. There is room for one per other replica: with room for one in all, a replica catching up
 * held it while another recovered, the recovering one's checkpoint was dropped at every new one,
 * and it never finished (vr-snapshot-no-disk-sweep seed 259). Old ones no longer pulled go. */
static void retire(vr *p) {
  vr_snapshot *s = &p->snap;
  int keep = s->held.data && in_use(p, s->pulled_us);
  for (int i = 0; i < p->n - 1; i++) {
    vr_old_snap *o = &s->old[i];
    if (o->data && in_use(p, o->pulled_us)) continue;
    free(o->data);
    *o = (vr_old_snap){0};
    if (keep) {
      *o = (vr_old_snap){s->held.index, s->pulled_us, s->held.data, s->held.len};
      s->held.data = NULL;
      keep = 0;
    }
  }
  free(s->held.data);
  s->held.data = NULL;
  s->pulled_us = 0;
}

static vr_old_snap *find_old(vr *p, uint64_t index) {
  for (int i = 0; i < p->n - 1; i++)
    if (p->snap.old[i].data && p->snap.old[i].index == index) return &p->snap.old[i];
  return NULL;
}

static int set_snapshot(vr *p, uint64_t index, const uint8_t *data, size_t len) {
  uint8_t *copy = ctk_snap_copy(data, len);
  if (!copy) return -1;
  retire(p);
  ctk_snap_held_replace(&p->snap.held, index, copy, len);
  return 0;
}

/* step(SNAPSHOT): the state machine through ev->index, which we asked for. */
int vr_snap_taken(vr *p, const ctk_event *ev) {
  if (ctk_snap_taken_check(ev, VR_MAX_SNAPSHOT) != CTK_OK) return CTK_ERR_INVALID;
  /* One that an installed checkpoint or a later one overtook is of no use. */
  if (ev->index <= p->snap.held.index || ev->index > p->emitted) return CTK_OK;
  if (set_snapshot(p, ev->index, ev->bytes.data, ev->bytes.len) != 0) return CTK_ERR_NOMEM;
  uint64_t keep = (uint64_t)p->opt.snapshot_keep;
  vr_log_discard_through(&p->log, ev->index > keep ? ev->index - keep : 0);
  if (p->opt.durable) vr_persist_replace_all(p); /* without it: nothing to rewrite */
  return CTK_OK;
}

void vr_snap_output(vr *p, ctk_output *out) {
  ctk_snap_held_output(&p->snap.held, p->emitted, (uint64_t)p->opt.snapshot_every, out);
}

void vr_snap_persist(vr *p) {
  wire_put_u64(&p->persist, p->snap.held.index);
  wire_put_u64(&p->persist, p->log.first);
  wire_put_blob(&p->persist, p->snap.held.data, p->snap.held.len);
}

int vr_snap_apply_record(vr *p, wire_reader *r) {
  uint64_t index = wire_get_u64(r), first = wire_get_u64(r);
  size_t len;
  const uint8_t *data = wire_get_blob(r, VR_MAX_SNAPSHOT, &len);
  /* One, written by a full rewrite before any entry. */
  if (!wire_reader_done(r) || index < 1 || index >= VR_MAX_OP || first < 1 || first > index + 1 ||
      p->snap.held.index || p->log.len || p->log.first != 1)
    return CTK_ERR_CORRUPT;
  vr_log_init(&p->log, first);
  return set_snapshot(p, index, data, len) == 0 ? CTK_OK : CTK_ERR_NOMEM;
}

void vr_snap_recovered(vr *p) {
  if (!p->snap.held.index) return;
  /* The log ends at the checkpoint or after it (unless the rewrite after it was torn). */
  if (vr_op(p) < p->snap.held.index) vr_log_init(&p->log, p->snap.held.index + 1);
  if (p->commit < p->snap.held.index) p->commit = p->snap.held.index;
  p->emitted = p->snap.held.index; /* what follows is executed again */
  p->snap.held.restored = 1;
}

/* ---- transfers ---- */

static void send_bytes(vr *p, int to, uint64_t index, const uint8_t *data, size_t len,
                       uint64_t offset) {
  if (!index || !len) return;
  size_t n = ctk_snap_chunk(len, &offset, (uint64_t)p->opt.snapshot_chunk_bytes);
  vr_encode_snap_chunk(vr_send_begin(p, to), index, len, offset, data + offset, n);
  vr_send_end(p);
}

static void send_chunk(vr *p, int to, uint64_t offset) {
  const ctk_snap_held *h = &p->snap.held;
  send_bytes(p, to, h->index, h->data, h->len, offset);
}

/* Offers the checkpoint: its first chunk. It counts as pulled from then on: taken over by the next
 * checkpoint before the receiver's first pull arrives, it was dropped, and with a checkpoint
 * every few milliseconds every transfer a recovering replica started was gone at its first pull
 * (vr-snapshot-no-disk-sweep seed 40416: three replicas recovering for good). */
void vr_snap_send(vr *p, int to) {
  p->snap.pulled_us = p->now_us;
  send_chunk(p, to, 0);
}

static void send_pull(vr *p, int to, uint64_t index, uint64_t offset) {
  vr_encode_snap_pull(vr_send_begin(p, to), index, offset);
  vr_send_end(p);
  if (index == p->snap.rx.index) {
    p->snap.rx_from = to;
    p->snap.repull_us = p->now_us + p->heartbeat_us / 2;
  }
}

enum { VR_REPULL_HEARTBEATS = 4 };

/* A pull or the chunk it asked for was lost: the pull goes again after half a heartbeat, within
 * the heartbeat for which the sender keeps a checkpoint last pulled (retire). Waiting instead for
 * the next chunk or offer to notice the stall, the transfer died at its first lost message, the
 * sender dropped the checkpoint, and under a checkpoint every few milliseconds a recovering
 * replica started over again and again (vr-snapshot-no-disk-sweep seeds 1461 and 2268). */
void vr_snap_tick(vr *p) {
  ctk_snap_rx *rx = &p->snap.rx;
  if (!p->snap.repull_us || p->now_us < p->snap.repull_us) return;
  /* Not past VR_REPULL_HEARTBEATS without a chunk: a sender silent that long is down or has
   * moved on, and the next GETSTATE or offer starts a transfer afresh. */
  if (!rx->index || rx->have >= rx->total || vr_is_primary(p) ||
      p->now_us - rx->progress_us > VR_REPULL_HEARTBEATS * p->heartbeat_us) {
    p->snap.repull_us = 0;
    return;
  }
  send_pull(p, p->snap.rx_from, rx->index, rx->have);
}

/* Anyone holding the checkpoint asked for continues the transfer; one holding a later one
 * offers it instead (the receiver starts over with it). */
void vr_recv_snap_pull(vr *p, int from, const vr_msg *m) {
  vr_snapshot *s = &p->snap;
  vr_old_snap *old;
  if (!s->held.index) return;
  if (m->snap == s->held.index && m->offset < s->held.len) {
    s->pulled_us = p->now_us;
    send_chunk(p, from, m->offset);
  } else if ((old = find_old(p, m->snap)) && m->offset < old->len) {
    old->pulled_us = p->now_us;
    send_bytes(p, from, old->index, old->data, old->len, m->offset);
  } else if (m->snap < s->held.index) {
    vr_snap_send(p, from);
  }
}

/* The whole checkpoint arrived: it replaces the log through its index and the state machine;
 * then whatever asked for it carries on past it. */
static void install(vr *p) {
  ctk_snap_held *h = &p->snap.held;
  retire(p);
  ctk_snap_held_install(h, &p->snap.rx);
  vr_log_discard_through(&p->log, h->index);
  if (p->commit < h->index) p->commit = h->index;
  p->emitted = h->index;
  p->gap_since_us = 0;
  if (p->opt.durable) vr_persist_replace_all(p); /* without it: nothing to rewrite */
  switch (p->status) {
  case VR_RECOVERING: vr_recovery_snapshot_installed(p); break;
  case VR_VIEW_CHANGE: vr_view_change_snapshot_installed(p); break;
  case VR_NORMAL: vr_catch_up_snapshot_installed(p); break;
  }
}

void vr_recv_snap_chunk(vr *p, int from, const vr_msg *m) {
  ctk_snap_rx *rx = &p->snap.rx;
  if (vr_is_primary(p) || m->snap <= p->emitted || m->snap <= p->snap.held.index)
    return; /* nothing new */
  int stalled = p->now_us - rx->progress_us >= p->heartbeat_us;
  if (m->snap != rx->index || m->total != rx->total) {
    if (m->offset != 0 || (rx->index && !stalled)) { /* not while one is moving */
      if (stalled) send_pull(p, from, m->snap, 0);
      return;
    }
    ctk_snap_rx_reset(rx, m->snap, m->total);
  }
  if (m->offset != rx->have) {
    if (stalled) send_pull(p, from, rx->index, rx->have);
    return;
  }
  if (ctk_snap_rx_append(rx, m->items, m->items_len) != 0) {
    p->out_of_memory = 1;
    return;
  }
  rx->progress_us = p->now_us;
  /* The primary is alive: give the rest time to come. */
  if (p->status == VR_NORMAL && from == vr_primary_of(p, p->view)) vr_reset_vc_timer(p);
  if (rx->have < rx->total) {
    send_pull(p, from, rx->index, rx->have);
    return;
  }
  p->snap.repull_us = 0;
  install(p);
}
