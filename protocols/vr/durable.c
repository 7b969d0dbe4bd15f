/* durable.c: what a replica persists, and recovery from it.
 *
 * Durable mode (the default): the view-number, the last normal view, the status and the log are
 * written before any message that depends on them leaves: the log before a PREPAREOK (and before
 * the primary's PREPARE), the view before a STARTVIEWCHANGE or DOVIEWCHANGE, so that a restarted
 * replica never answers in a view it left. The commit-number rides along (a restarted replica
 * re-executes that prefix at once). Records are CRC-framed (protocols/common/record.h):
 *
 *   STATE     view u64, last_normal u64, status u8, commit u64
 *   ENTRIES   first u64, commit u64, n u32, n x blob   (the log from `first` on is replaced)
 *   SNAPSHOT  index u64, first u64, blob                (the checkpoint; the log starts at first)
 *
 * A new checkpoint rewrites everything (snapshot.c): STATE, SNAPSHOT, then the log past it.
 *
 * Non-durable mode (VR Revisited, section 4.3): nothing of the protocol's state is written. The
 * one record is BOOT, written at the first start, which is how a replica tells a restart (run
 * the RECOVERY protocol) from the cluster's first boot (start in view 1 with an empty log): the
 * paper assumes a replica knows it is recovering.
 *
 * A torn last record is dropped; when the stream grows past four times the live state, the next
 * step replaces it with a fresh encoding (persist_replace). */
#include <stdlib.h>
#include <string.h>

#include "common/record.h"
#include "vr_internal.h"

#define DURABLE_VERSION 1
#define PER_RECORD      4096
enum { REC_STATE = 1, REC_ENTRIES = 2, REC_BOOT = 3, REC_SNAPSHOT = 4 };

void vr_persist_state(vr *p) {
  if (!p->opt.durable) return;
  size_t pos = record_begin(&p->persist, DURABLE_VERSION, REC_STATE);
  wire_put_u64(&p->persist, p->view);
  wire_put_u64(&p->persist, p->last_normal_view);
  wire_put_u8(&p->persist, (uint8_t)p->status);
  wire_put_u64(&p->persist, p->commit);
  record_end(&p->persist, pos);
}

void vr_persist_entries(vr *p, uint64_t first) {
  if (!p->opt.durable) return;
  uint64_t end = vr_op(p);
  do { /* at least one record: an empty one truncates */
    uint64_t k = end + 1 - first < PER_RECORD ? end + 1 - first : PER_RECORD;
    size_t pos = record_begin(&p->persist, DURABLE_VERSION, REC_ENTRIES);
    wire_put_u64(&p->persist, first);
    wire_put_u64(&p->persist, p->commit);
    wire_put_u32(&p->persist, (uint32_t)k);
    for (uint64_t s = first; s < first + k; s++) {
      const vr_entry *e = vr_log_at(&p->log, s);
      wire_put_blob(&p->persist, e->data, e->len);
    }
    record_end(&p->persist, pos);
    first += k;
  } while (first <= end);
}

void vr_persist_boot(vr *p) {
  size_t pos = record_begin(&p->persist, DURABLE_VERSION, REC_BOOT);
  record_end(&p->persist, pos);
}

void vr_persist_replace_all(vr *p) {
  wire_writer_reset(&p->persist);
  p->persist_replace = 1;
  if (!p->opt.durable) {
    vr_persist_boot(p);
    return;
  }
  vr_persist_state(p);
  if (p->snap.held.index) {
    size_t pos = record_begin(&p->persist, DURABLE_VERSION, REC_SNAPSHOT);
    vr_snap_persist(p);
    record_end(&p->persist, pos);
  }
  vr_persist_entries(p, p->log.first);
}

void vr_persist_maybe_compact(vr *p) {
  if (!p->opt.durable) return;
  uint64_t total = p->persist_replace ? p->persist.len : p->durable_bytes + p->persist.len;
  uint64_t live = p->log.bytes + p->snap.held.len + 64 + p->log.len * 8;
  if (total > VR_COMPACT_MIN && total > 4 * live) vr_persist_replace_all(p);
}

typedef struct replay {
  vr *p;
  int booted;
} replay;

static int apply_entries(vr *p, wire_reader *r) {
  uint64_t first = wire_get_u64(r), commit = wire_get_u64(r);
  uint32_t n = wire_get_u32(r);
  if (!wire_reader_ok(r) || first < p->log.first || first > vr_op(p) + 1 || n > PER_RECORD ||
      commit >= VR_MAX_OP)
    return CTK_ERR_CORRUPT;
  vr_log_truncate(&p->log, first - 1);
  if (p->commit > first - 1) p->commit = first - 1;
  for (uint32_t i = 0; i < n; i++) {
    size_t len;
    const uint8_t *v = wire_get_blob(r, CTK_MAX_COMMAND_BYTES, &len);
    if (!wire_reader_ok(r) || len == 0) return CTK_ERR_CORRUPT;
    if (vr_log_append(&p->log, v, len) != 0) return CTK_ERR_NOMEM;
  }
  if (commit > p->commit) p->commit = commit;
  return wire_reader_done(r) ? CTK_OK : CTK_ERR_CORRUPT;
}

static int apply_record(void *ctx, const uint8_t *b, size_t len) {
  replay *rp = ctx;
  vr *p = rp->p;
  wire_reader r;
  wire_reader_init(&r, b, len);
  if (wire_get_u8(&r) != DURABLE_VERSION) return CTK_ERR_CORRUPT;
  uint8_t type = wire_get_u8(&r);
  if (!wire_reader_ok(&r)) return CTK_ERR_CORRUPT;
  /* A record of the other mode: the options changed under a data directory. */
  if ((type == REC_BOOT) == (p->opt.durable != 0)) return CTK_ERR_CORRUPT;
  switch (type) {
  case REC_BOOT: rp->booted = 1; return wire_reader_done(&r) ? CTK_OK : CTK_ERR_CORRUPT;
  case REC_STATE: {
    uint64_t view = wire_get_u64(&r), last_normal = wire_get_u64(&r);
    uint8_t status = wire_get_u8(&r);
    uint64_t commit = wire_get_u64(&r);
    if (!wire_reader_done(&r) || view < 1 || view >= VR_MAX_VIEW || last_normal < 1 ||
        last_normal > view || status > VR_VIEW_CHANGE || commit >= VR_MAX_OP)
      return CTK_ERR_CORRUPT;
    p->view = view;
    p->last_normal_view = last_normal;
    p->status = (vr_status)status;
    if (commit > p->commit) p->commit = commit;
    return CTK_OK;
  }
  case REC_ENTRIES: return apply_entries(p, &r);
  case REC_SNAPSHOT: return vr_snap_apply_record(p, &r);
  default: return CTK_ERR_CORRUPT;
  }
}

int vr_recover(vr *p, const uint8_t *bytes, size_t len, int *torn_tail, int *booted_before) {
  replay rp = {p, 0};
  int rc = record_replay(bytes, len, apply_record, &rp, torn_tail);
  if (p->commit > vr_op(p)) p->commit = vr_op(p);
  if (rc == CTK_OK) vr_snap_recovered(p);
  if (rc != CTK_OK) {
    vr_snap_free(p);
    vr_log_init(&p->log, 1);
    p->view = p->last_normal_view = 1;
    p->status = VR_NORMAL;
    p->commit = 0;
  }
  *booted_before = rp.booted;
  return rc;
}
