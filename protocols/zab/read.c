/* read.c: ZAB's read modes (option read_mode). "log": every get is proposed like a write.
 * "local": as ZooKeeper serves reads, a node in the broadcast phase (following or leading)
 * answers a get from its own state at once, without asking anyone. Such reads may be stale (a
 * follower behind the leader, a leader deposed without knowing it); a run that uses them says so
 * with workload.stale_reads. What stays true is ZooKeeper's per-client FIFO order: a client that
 * stays with one server (workload.sticky_sessions) was answered its write by that server once
 * the server had applied it, so its later reads there see that write.
 *
 * "sync": ZooKeeper's sync-then-read. The server sends SYNC to its leader, which answers with
 * the last zxid it proposed; the server answers the read once its committed prefix reaches that
 * zxid (zxids grow along every history, so comparing them is enough). A read then sees every
 * write the leader had taken before the SYNC. Like ZooKeeper's, it is not linearizable when the
 * leader was deposed without knowing it, so runs still set workload.stale_reads. */
#include <stdlib.h>
#include <string.h>

#include "zab_internal.h"

void zab_read_reset(zab *z) { ctk_readbox_reset(&z->reads); }

void zab_read_free(zab *z) {
  for (size_t i = 0; i < z->n_sync; i++) free(z->sync_reads[i].data);
  free(z->sync_reads);
  ctk_readbox_free(&z->reads);
}

static void serve(zab *z, const uint8_t *data, size_t len) {
  if (ctk_readbox_add(&z->reads, data, len) != 0 || ctk_readbox_failed(&z->reads))
    z->out_of_memory = 1;
}

static int in_broadcast(const zab *z) {
  return z->phase == ZAB_BROADCAST && (z->state == ZAB_FOLLOWING || z->state == ZAB_LEADING);
}

/* Sync mode: holds the read; a follower asks its leader where to catch up to. */
static int hold(zab *z, const uint8_t *data, size_t len) {
  if (z->n_sync >= ZAB_MAX_SYNC_READS) return 0; /* proposed like a write instead */
  if (z->n_sync == z->cap_sync) {
    size_t cap = z->cap_sync ? z->cap_sync * 2 : 16;
    zab_sync_read *r = realloc(z->sync_reads, cap * sizeof *r);
    if (!r) return 0;
    z->sync_reads = r;
    z->cap_sync = cap;
  }
  uint8_t *copy = malloc(len);
  if (!copy) return 0;
  memcpy(copy, data, len);
  int leading = z->state == ZAB_LEADING;
  uint64_t id = leading ? 0 : ++z->sync_id;
  z->sync_reads[z->n_sync++] =
      (zab_sync_read){id, zab_history_last(&z->hist), leading, z->leader_id, z->now_us, copy, len};
  if (!leading) {
    zab_encode_sync(zab_send_begin(z, z->leader_id), 0, id, 0);
    zab_send_end(z);
  }
  return 1;
}

int zab_read_command(zab *z, const uint8_t *data, size_t len) {
  if (z->opt.read_mode == ZAB_READ_LOG || !in_broadcast(z)) return 0;
  ctk_footprint f = ctk_command_footprint(data, len);
  if (!f.known || f.write) return 0;
  if (z->opt.read_mode == ZAB_READ_SYNC) return hold(z, data, len);
  serve(z, data, len);
  return 1;
}

void zab_read_recv_sync(zab *z, int from, const zab_msg *m) {
  if (z->state != ZAB_LEADING || z->phase != ZAB_BROADCAST) return; /* the follower retries */
  zab_encode_sync(zab_send_begin(z, from), 1, m->pos, zab_history_last(&z->hist));
  zab_send_end(z);
}

void zab_read_recv_sync_reply(zab *z, int from, const zab_msg *m) {
  for (size_t i = 0; i < z->n_sync; i++) {
    zab_sync_read *r = &z->sync_reads[i];
    if (r->id != m->pos || r->leader != from || r->have_zxid) continue;
    r->zxid = m->zxid;
    r->have_zxid = 1;
  }
}

void zab_read_step_end(zab *z) {
  if (!z->n_sync) return;
  uint64_t committed = zab_history_zxid(&z->hist, z->commit_index);
  size_t kept = 0;
  for (size_t i = 0; i < z->n_sync; i++) {
    zab_sync_read *r = &z->sync_reads[i];
    int gone = !in_broadcast(z) || r->leader != z->leader_id ||
               z->now_us >= r->since_us + z->election_hi_us;
    if (!gone && r->have_zxid && committed >= r->zxid) serve(z, r->data, r->len);
    if (gone || (r->have_zxid && committed >= r->zxid))
      free(r->data);
    else
      z->sync_reads[kept++] = *r;
  }
  z->n_sync = kept;
}

void zab_read_output(zab *z, ctk_output *out) { ctk_readbox_output(&z->reads, out); }
