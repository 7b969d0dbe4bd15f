/* snapshot.c: snapshots of the state machine, and the compaction of the history they allow.
 *
 * Not ZooKeeper's fuzzy snapshots: ctk's hosts serialize the state machine at an exact commit.
 * Every snapshot_every committed proposals the node asks its host for the state machine as it
 * stands after its last commit (output.snapshot_wanted = emitted_index, which is the host's last
 * applied index); the host hands it back at once as step(SNAPSHOT, bytes, index). The node then
 * keeps the bytes with the index and the zxid there, drops the history up to index -
 * snapshot_keep (those proposals are committed, hence in the history of every later leader), and
 * rewrites its durable bytes as epochs + snapshot + the history after the compacted prefix
 * (persist_replace), so both memory and the durable bytes stay bounded.
 *
 * At START with a snapshot in the durable bytes the node sets output.restore (restore_index =
 * the snapshot's index) and commits go on from the position after it.
 *
 * Synchronization (sync.c): a follower that misses proposals the leader compacted away (or asked
 * for a SNAP, or misses more than snap_threshold) gets SNAP: the leader's snapshot in chunks of
 * at most ZAB_CHUNK_BYTES (index, zxid, total bytes, offset), then a DIFF of the history after
 * the snapshot's index, then NEWLEADER. The follower holds all of it in memory (in_bytes,
 * in_hist) and installs it at NEWLEADER, in one persist_replace: a crash mid-transfer leaves the
 * old durable state whole. Installing keeps what the follower committed: the leader's history
 * holds every committed proposal, so the follower checks that the positions it committed past
 * the snapshot's index carry the same zxids in what it received (same zxid, same prefix), and
 * looks for another leader otherwise. A follower whose state machine is behind the snapshot's
 * index restores it (output.restore); one already at or past it keeps its state machine and
 * takes the snapshot only as its durable base. A leader with no snapshot yet sends an empty one
 * at index 0: a SNAP is then the whole history by DIFF, as before snapshots existed. */
#include <stdlib.h>
#include <string.h>

#include "common/record.h"
#include "zab_internal.h"

#define DURABLE_CHUNK (1u << 20)

void zab_snapshot_free(zab *z) {
  free(z->snap_bytes);
  z->snap_bytes = NULL;
  z->snap_len = 0;
  zab_snapshot_abort(z);
  zab_history_free(&z->in_hist);
}

void zab_snapshot_abort(zab *z) {
  free(z->in_bytes);
  z->in_bytes = NULL;
  z->in_len = z->in_total = z->in_index = z->in_zxid = 0;
  z->in_active = 0;
  zab_history_free(&z->in_hist);
}

void zab_snapshot_maybe_ask(zab *z, ctk_output *out) {
  uint64_t every = (uint64_t)z->opt.snapshot_every;
  if (every == 0 || z->out_of_memory || z->emitted_index < z->snap_index + every ||
      z->snapshot_asked >= z->snap_index + every)
    return;
  out->snapshot_wanted = z->emitted_index;
  z->snapshot_asked = z->emitted_index;
}

void zab_snapshot_output(zab *z, ctk_output *out) {
  if (!z->restore_pending) return;
  z->restore_pending = 0;
  out->restore_index = z->snap_index;
  out->restore = (ctk_bytes){z->snap_bytes, (size_t)z->snap_len};
}

static int set_snapshot(zab *z, const uint8_t *bytes, size_t len, uint64_t index, uint64_t zxid) {
  uint8_t *copy = len ? malloc(len) : NULL;
  if (len && !copy) return CTK_ERR_NOMEM;
  if (len) memcpy(copy, bytes, len);
  free(z->snap_bytes);
  z->snap_bytes = copy;
  z->snap_len = len;
  z->snap_index = index;
  z->snap_zxid = zxid;
  return CTK_OK;
}

int zab_snapshot_taken(zab *z, const ctk_event *ev) {
  if (ev->index > z->emitted_index || ev->bytes.len > ZAB_MAX_SNAPSHOT ||
      (ev->bytes.len && !ev->bytes.data))
    return CTK_ERR_INVALID;
  /* Overtaken (a SNAP installed a later base meanwhile): ask again later. */
  if (ev->index <= z->snap_index || ev->index < z->hist.base || ev->index > z->hist.n) {
    z->snapshot_asked = 0;
    return CTK_OK;
  }
  int rc = set_snapshot(z, ev->bytes.data, ev->bytes.len, ev->index,
                        zab_history_zxid(&z->hist, ev->index));
  if (rc != CTK_OK) return rc;
  uint64_t keep = (uint64_t)z->opt.snapshot_keep;
  uint64_t base = ev->index > keep ? ev->index - keep : 0;
  if (base > z->hist.base) {
    z->base_conf = zab_conf_at(z, base); /* the configurations folded away */
    zab_history_compact(&z->hist, base);
    if (z->forced && z->forced_pos < z->hist.base) z->forced = 0; /* folded into base_conf */
    zab_conf_refresh(z);
  }
  zab_persist_replace_all(z);
  return CTK_OK;
}

/* ---- the leader's side ---- */

void zab_snapshot_send(zab *z, int to) {
  uint64_t offset = 0;
  zab_conf conf = zab_conf_at(z, z->snap_index);
  do {
    uint64_t n = z->snap_len - offset < ZAB_CHUNK_BYTES ? z->snap_len - offset : ZAB_CHUNK_BYTES;
    wire_writer *w = zab_session_begin(z, to, ZAB_MSG_SNAP);
    wire_put_u64(w, z->snap_index);
    wire_put_u64(w, z->snap_zxid);
    wire_put_u64(w, z->snap_len);
    wire_put_u64(w, offset);
    wire_put_u32(w, conf.voters);
    wire_put_u32(w, conf.learners);
    if (n) wire_put_bytes(w, z->snap_bytes + offset, (size_t)n);
    zab_send_end(z);
    offset += n;
  } while (offset < z->snap_len);
  zab_send_entries(z, to, ZAB_MSG_DIFF, z->snap_index + 1, z->hist.n);
}

/* ---- the follower's side ---- */

int zab_snapshot_receiving(const zab *z) { return z->in_active; }

static void restart_sync(zab *z) {
  z->want_snap = 1;
  zab_follower_reconnect(z);
}

void zab_snapshot_recv_chunk(zab *z, const zab_msg *m) {
  if (m->offset == 0) {
    zab_snapshot_abort(z);
    z->in_active = 1;
    z->in_index = m->pos;
    z->in_zxid = m->zxid;
    z->in_total = m->length;
    z->in_conf = m->conf;
    zab_history_rebase(&z->in_hist, m->pos, m->zxid);
  } else if (!z->in_active || m->pos != z->in_index || m->zxid != z->in_zxid ||
             m->length != z->in_total || m->offset != z->in_len) {
    restart_sync(z);
    return;
  }
  if (z->in_hist.n != z->in_index) { /* a chunk after the DIFF that follows the last one */
    restart_sync(z);
    return;
  }
  if (m->items_len) {
    uint8_t *b = realloc(z->in_bytes, (size_t)(z->in_len + m->items_len));
    if (!b) {
      z->out_of_memory = 1;
      return;
    }
    memcpy(b + z->in_len, m->items, m->items_len);
    z->in_bytes = b;
    z->in_len += m->items_len;
  }
}

void zab_snapshot_recv_diff(zab *z, const zab_msg *m) {
  if (z->in_len != z->in_total || m->pos != z->in_hist.n ||
      zab_history_zxid(&z->in_hist, m->pos) != m->zxid) {
    restart_sync(z);
    return;
  }
  if (zab_history_append_msg(&z->in_hist, m) < 0) z->out_of_memory = 1;
}

int zab_snapshot_install(zab *z) {
  if (z->in_len != z->in_total) return 1;
  uint64_t c = z->commit_index;
  if (c > z->in_hist.n) return -1; /* the leader lacks a proposal we committed */
  uint64_t from = z->in_index > z->hist.base ? z->in_index : z->hist.base;
  uint64_t to = c < z->hist.n ? c : z->hist.n;
  for (uint64_t p = from; p <= to; p++)
    if (zab_history_zxid(&z->hist, p) != zab_history_zxid(&z->in_hist, p)) return -1;
  if (z->emitted_index < z->in_index) {
    /* The state machine is behind the snapshot: it restores it. One exactly at the snapshot's
     * index keeps its state (a restore never goes back over what this incarnation committed:
     * zab-membership-snapshot-sweep-3 seeds 308, 445 and 644 restored at the index they had
     * committed). */
    free(z->snap_bytes);
    z->snap_bytes = z->in_bytes;
    z->snap_len = z->in_len;
    z->snap_index = z->in_index;
    z->snap_zxid = z->in_zxid;
    z->in_bytes = NULL;
    if (z->in_index > 0) {
      z->emitted_index = z->in_index;
      z->restore_pending = 1;
    }
    if (z->commit_index < z->in_index) z->commit_index = z->in_index;
  } else if (z->snap_index <= z->in_index) {
    free(z->snap_bytes); /* past it: a newer durable base than ours, nothing to restore */
    z->snap_bytes = z->in_bytes;
    z->snap_len = z->in_len;
    z->snap_index = z->in_index;
    z->snap_zxid = z->in_zxid;
    z->in_bytes = NULL;
  }
  zab_history_move(&z->hist, &z->in_hist);
  z->base_conf = z->in_conf;
  if (z->forced && z->forced_pos > z->hist.n) z->forced_pos = z->hist.n;
  if (z->forced && z->forced_pos < z->hist.base) z->forced = 0; /* the leader's base wins */
  if (z->conf_committed_pos > z->hist.n) z->conf_committed_pos = 0;
  zab_conf_refresh(z);
  zab_snapshot_abort(z);
  zab_persist_replace_all(z);
  return 0;
}

/* ---- durable records ----
 *
 *   SNAPSHOT  index u64, zxid u64, total u64, offset u64, base u64, base_zxid u64, voters u32,
 *             learners u32, bytes
 * one record per megabyte of the snapshot, right after EPOCHS in a fresh encoding; the history's
 * APPEND records follow from position base + 1. The configuration is the one in effect at base
 * (version 3 on; before, the initial one). */

void zab_persist_snapshot(zab *z, wire_writer *w, uint8_t version, uint8_t type) {
  if (z->snap_index == 0 && z->hist.base == 0) return;
  uint64_t offset = 0;
  do {
    uint64_t n = z->snap_len - offset < DURABLE_CHUNK ? z->snap_len - offset : DURABLE_CHUNK;
    size_t pos = record_begin(w, version, type);
    wire_put_u64(w, z->snap_index);
    wire_put_u64(w, z->snap_zxid);
    wire_put_u64(w, z->snap_len);
    wire_put_u64(w, offset);
    wire_put_u64(w, z->hist.base);
    wire_put_u64(w, z->hist.base_zxid);
    wire_put_u32(w, z->base_conf.voters);
    wire_put_u32(w, z->base_conf.learners);
    if (n) wire_put_bytes(w, z->snap_bytes + offset, (size_t)n);
    record_end(w, pos);
    offset += n;
  } while (offset < z->snap_len);
}

int zab_snapshot_recover_record(zab *z, wire_reader *r, uint8_t version) {
  uint64_t index = wire_get_u64(r), zxid = wire_get_u64(r), total = wire_get_u64(r);
  uint64_t offset = wire_get_u64(r), base = wire_get_u64(r), base_zxid = wire_get_u64(r);
  zab_conf conf = z->base_conf;
  if (version >= 3) {
    conf.voters = wire_get_u32(r);
    conf.learners = wire_get_u32(r);
  }
  size_t n = wire_reader_left(r);
  if (!wire_reader_ok(r) || !zab_conf_valid(conf, z->n) || index == 0 ||
      index >= ZAB_MAX_POSITION || base > index || (base == 0) != (base_zxid == 0) || zxid == 0 ||
      base_zxid > zxid || total > ZAB_MAX_SNAPSHOT || offset > total || n > total - offset)
    return CTK_ERR_CORRUPT;
  if (offset == 0) {
    if (z->hist.n != 0 || z->snap_index != 0) return CTK_ERR_CORRUPT; /* first, once */
    z->snap_index = index;
    z->snap_zxid = zxid;
    z->in_total = total;
    z->base_conf = conf;
    zab_history_rebase(&z->hist, base, base_zxid);
  } else if (index != z->snap_index || zxid != z->snap_zxid || total != z->in_total ||
             offset != z->snap_len || base != z->hist.base || z->hist.n != base) {
    return CTK_ERR_CORRUPT;
  }
  if (n) {
    uint8_t *b = realloc(z->snap_bytes, (size_t)(z->snap_len + n));
    if (!b) return CTK_ERR_NOMEM;
    memcpy(b + z->snap_len, r->data + r->pos, n);
    z->snap_bytes = b;
    z->snap_len += n;
  }
  return CTK_OK;
}

int zab_snapshot_recover_done(zab *z) {
  uint64_t total = z->in_total;
  z->in_total = 0;
  if (z->snap_index == 0) return CTK_OK;
  if (z->snap_len != total || z->hist.n < z->snap_index ||
      zab_history_zxid(&z->hist, z->snap_index) != z->snap_zxid)
    return CTK_ERR_CORRUPT;
  return CTK_OK;
}
