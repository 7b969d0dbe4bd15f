/* codec.c: VR's wire format: a version byte, a type byte, then big-endian fields. The messages
 * are the paper's (VR Revisited, sections 4 and 5.2), with a log carried as a chunk of entries
 * (first, n, n x blob) so that no message exceeds CTK_MAX_MESSAGE_BYTES:
 *
 *   PREPARE           view, commit, first, n, entries           (a batch of operations)
 *   PREPAREOK         view, op
 *   COMMIT            view, commit
 *   STARTVIEWCHANGE   view
 *   DOVIEWCHANGE      view, last_normal, op, commit, first, n, entries
 *   STARTVIEW         view, op, commit, first, n, entries
 *   GETSTATE          view, op                                  (the requester's op-number)
 *   NEWSTATE          view, op, commit, first, n, entries
 *   RECOVERY          nonce
 *   RECOVERYRESPONSE  view, nonce, primary u8, op, commit, first, n, entries
 *   FORWARD           n, commands                               (a backup to the primary)
 *   SNAPCHUNK         index, total, offset, blob                (bytes of a checkpoint)
 *   SNAPPULL          index, offset                             (send me more of it)
 *
 * Every field is u64 but primary (u8) and n (u32). Everything is validated before a handler sees
 * it; a bad message is CTK_ERR_MALFORMED. */
#include <stdio.h>

#include "vr_internal.h"

static void put_header(wire_writer *w, vr_msg_type type) {
  wire_put_u8(w, VR_WIRE_VERSION);
  wire_put_u8(w, (uint8_t)type);
}

static void put_entries(wire_writer *w, const vr_log *log, uint64_t first, uint32_t n) {
  wire_put_u64(w, first);
  wire_put_u32(w, n);
  for (uint64_t pos = first; pos < first + n; pos++) {
    const vr_entry *e = vr_log_at(log, pos);
    wire_put_blob(w, e->data, e->len);
  }
}

void vr_encode_prepare(wire_writer *w, uint64_t view, uint64_t commit, const vr_log *log,
                       uint64_t first, uint32_t n) {
  put_header(w, VR_MSG_PREPARE);
  wire_put_u64(w, view);
  wire_put_u64(w, commit);
  put_entries(w, log, first, n);
}

void vr_encode_prepare_ok(wire_writer *w, uint64_t view, uint64_t op) {
  put_header(w, VR_MSG_PREPARE_OK);
  wire_put_u64(w, view);
  wire_put_u64(w, op);
}

void vr_encode_commit(wire_writer *w, uint64_t view, uint64_t commit) {
  put_header(w, VR_MSG_COMMIT);
  wire_put_u64(w, view);
  wire_put_u64(w, commit);
}

void vr_encode_start_view_change(wire_writer *w, uint64_t view) {
  put_header(w, VR_MSG_START_VIEW_CHANGE);
  wire_put_u64(w, view);
}

void vr_encode_do_view_change(wire_writer *w, uint64_t view, uint64_t last_normal, uint64_t commit,
                              const vr_log *log, uint64_t first, uint32_t n) {
  put_header(w, VR_MSG_DO_VIEW_CHANGE);
  wire_put_u64(w, view);
  wire_put_u64(w, last_normal);
  wire_put_u64(w, vr_log_end(log));
  wire_put_u64(w, commit);
  put_entries(w, log, first, n);
}

void vr_encode_start_view(wire_writer *w, uint64_t view, uint64_t commit, const vr_log *log,
                          uint64_t first, uint32_t n) {
  put_header(w, VR_MSG_START_VIEW);
  wire_put_u64(w, view);
  wire_put_u64(w, vr_log_end(log));
  wire_put_u64(w, commit);
  put_entries(w, log, first, n);
}

void vr_encode_get_state(wire_writer *w, uint64_t view, uint64_t op) {
  put_header(w, VR_MSG_GET_STATE);
  wire_put_u64(w, view);
  wire_put_u64(w, op);
}

void vr_encode_new_state(wire_writer *w, uint64_t view, uint64_t commit, const vr_log *log,
                         uint64_t first, uint32_t n) {
  put_header(w, VR_MSG_NEW_STATE);
  wire_put_u64(w, view);
  wire_put_u64(w, vr_log_end(log));
  wire_put_u64(w, commit);
  put_entries(w, log, first, n);
}

void vr_encode_recovery(wire_writer *w, uint64_t nonce) {
  put_header(w, VR_MSG_RECOVERY);
  wire_put_u64(w, nonce);
}

void vr_encode_recovery_response(wire_writer *w, uint64_t view, uint64_t nonce, uint64_t commit,
                                 const vr_log *log, uint32_t n) {
  put_header(w, VR_MSG_RECOVERY_RESPONSE);
  wire_put_u64(w, view);
  wire_put_u64(w, nonce);
  wire_put_u8(w, log ? 1 : 0);
  wire_put_u64(w, log ? vr_log_end(log) : 0);
  wire_put_u64(w, log ? commit : 0);
  if (log)
    put_entries(w, log, log->first, n);
  else
    put_entries(w, NULL, 1, 0);
}

void vr_encode_forward(wire_writer *w, const uint8_t *data, size_t len) {
  put_header(w, VR_MSG_FORWARD);
  wire_put_u32(w, 1);
  wire_put_blob(w, data, len);
}

void vr_encode_snap_chunk(wire_writer *w, uint64_t index, uint64_t total, uint64_t offset,
                          const uint8_t *bytes, size_t len) {
  put_header(w, VR_MSG_SNAP_CHUNK);
  wire_put_u64(w, index);
  wire_put_u64(w, total);
  wire_put_u64(w, offset);
  wire_put_blob(w, bytes, len);
}

void vr_encode_snap_pull(wire_writer *w, uint64_t index, uint64_t offset) {
  put_header(w, VR_MSG_SNAP_PULL);
  wire_put_u64(w, index);
  wire_put_u64(w, offset);
}

/* Reads first, n and n non-empty blobs, which must end the message. */
static int read_entries(wire_reader *r, vr_msg *m, int with_first, uint32_t max_n) {
  if (with_first) m->first = wire_get_u64(r);
  m->n = wire_get_u32(r);
  m->items = r->data + r->pos;
  m->items_len = wire_reader_left(r);
  if (!wire_reader_ok(r) || m->n > max_n) return -1;
  for (uint32_t i = 0; i < m->n; i++) {
    size_t len;
    wire_get_blob(r, CTK_MAX_COMMAND_BYTES, &len);
    if (len == 0) return -1;
  }
  return wire_reader_done(r) ? 0 : -1;
}

static int sane_view(uint64_t v) { return v >= 1 && v < VR_MAX_VIEW; }

int vr_msg_decode(const uint8_t *bytes, size_t len, vr_msg *m) {
  if (!bytes && len) return CTK_ERR_MALFORMED;
  wire_reader r;
  wire_reader_init(&r, bytes, len);
  *m = (vr_msg){0};
  if (wire_get_u8(&r) != VR_WIRE_VERSION) return CTK_ERR_MALFORMED;
  m->type = wire_get_u8(&r);
  const uint32_t max_log_n = CTK_MAX_MESSAGE_BYTES / 5; /* a blob is at least 5 bytes */
  int bad = 0, log_msg = 0;
  switch (m->type) {
  case VR_MSG_PREPARE:
    m->view = wire_get_u64(&r);
    m->commit = wire_get_u64(&r);
    bad = read_entries(&r, m, 1, VR_MAX_PER_MSG) || m->n == 0 || m->first < 1 ||
          m->first >= VR_MAX_OP || m->first + m->n >= VR_MAX_OP || m->commit >= VR_MAX_OP;
    break;
  case VR_MSG_PREPARE_OK:
  case VR_MSG_GET_STATE:
  case VR_MSG_COMMIT:
    m->view = wire_get_u64(&r);
    if (m->type == VR_MSG_COMMIT)
      m->commit = wire_get_u64(&r);
    else
      m->op = wire_get_u64(&r);
    bad = !wire_reader_done(&r) || m->op >= VR_MAX_OP || m->commit >= VR_MAX_OP;
    break;
  case VR_MSG_START_VIEW_CHANGE:
    m->view = wire_get_u64(&r);
    bad = !wire_reader_done(&r);
    break;
  case VR_MSG_DO_VIEW_CHANGE:
  case VR_MSG_START_VIEW:
  case VR_MSG_NEW_STATE:
  case VR_MSG_RECOVERY_RESPONSE:
    m->view = wire_get_u64(&r);
    if (m->type == VR_MSG_DO_VIEW_CHANGE) m->last_normal = wire_get_u64(&r);
    if (m->type == VR_MSG_RECOVERY_RESPONSE) {
      m->nonce = wire_get_u64(&r);
      uint8_t primary = wire_get_u8(&r);
      m->primary = primary;
      bad = primary > 1;
    }
    m->op = wire_get_u64(&r);
    m->commit = wire_get_u64(&r);
    bad = bad || read_entries(&r, m, 1, max_log_n);
    log_msg = 1;
    if (m->type == VR_MSG_DO_VIEW_CHANGE && !(m->last_normal >= 1 && m->last_normal < m->view))
      bad = 1;
    if (m->type == VR_MSG_RECOVERY_RESPONSE && !m->primary && (m->op || m->commit || m->n)) bad = 1;
    if (m->type == VR_MSG_RECOVERY_RESPONSE && !m->primary && m->first != 1) bad = 1;
    break;
  case VR_MSG_RECOVERY:
    m->nonce = wire_get_u64(&r);
    bad = !wire_reader_done(&r);
    break;
  case VR_MSG_FORWARD: bad = read_entries(&r, m, 0, VR_MAX_FORWARD) || m->n == 0; break;
  case VR_MSG_SNAP_CHUNK: {
    m->snap = wire_get_u64(&r);
    m->total = wire_get_u64(&r);
    m->offset = wire_get_u64(&r);
    size_t n;
    m->items = wire_get_blob(&r, CTK_MAX_MESSAGE_BYTES, &n);
    m->items_len = n;
    bad = !wire_reader_done(&r) || m->snap < 1 || m->snap >= VR_MAX_OP || m->total < 1 ||
          m->total > VR_MAX_SNAPSHOT || m->offset > m->total || n > m->total - m->offset ||
          (n == 0 && m->offset < m->total);
    break;
  }
  case VR_MSG_SNAP_PULL:
    m->snap = wire_get_u64(&r);
    m->offset = wire_get_u64(&r);
    bad =
        !wire_reader_done(&r) || m->snap < 1 || m->snap >= VR_MAX_OP || m->offset > VR_MAX_SNAPSHOT;
    break;
  default: return CTK_ERR_MALFORMED;
  }
  if (!wire_reader_ok(&r)) bad = 1;
  int has_view = m->type != VR_MSG_RECOVERY && m->type != VR_MSG_FORWARD &&
                 m->type != VR_MSG_SNAP_CHUNK && m->type != VR_MSG_SNAP_PULL;
  if (has_view && !sane_view(m->view)) bad = 1;
  if (log_msg) {
    /* The entries lie within the sender's log, and its commit-number too. */
    if (m->first < 1 || m->first >= VR_MAX_OP || m->op >= VR_MAX_OP || m->commit > m->op ||
        (m->n > 0 && m->first + m->n - 1 > m->op) || m->first > m->op + 1)
      bad = 1;
  }
  if (bad) {
    *m = (vr_msg){0};
    return CTK_ERR_MALFORMED;
  }
  return CTK_OK;
}

void vr_item_iter_init(vr_item_iter *it, const vr_msg *m) {
  wire_reader_init(&it->r, m->items, m->items_len);
}

const uint8_t *vr_item_next(vr_item_iter *it, size_t *len) {
  return wire_get_blob(&it->r, CTK_MAX_COMMAND_BYTES, len);
}

static const char *const names[] = {
    "?",         "Prepare",  "PrepareOk", "Commit",   "StartViewChange",  "DoViewChange",
    "StartView", "GetState", "NewState",  "Recovery", "RecoveryResponse", "Forward",
    "SnapChunk", "SnapPull"};

int vr_describe(const uint8_t *bytes, size_t len, char *buf, size_t buf_len) {
  vr_msg m;
  if (vr_msg_decode(bytes, len, &m) != CTK_OK) return CTK_ERR_MALFORMED;
  unsigned long long v = m.view, op = m.op, k = m.commit, first = m.first;
  const char *name = names[m.type];
  int w = 0;
  switch (m.type) {
  case VR_MSG_PREPARE:
    w = snprintf(buf, buf_len, "%s v=%llu ops=%llu+%u commit=%llu", name, v, first, m.n, k);
    break;
  case VR_MSG_PREPARE_OK:
  case VR_MSG_GET_STATE: w = snprintf(buf, buf_len, "%s v=%llu op=%llu", name, v, op); break;
  case VR_MSG_COMMIT: w = snprintf(buf, buf_len, "%s v=%llu commit=%llu", name, v, k); break;
  case VR_MSG_START_VIEW_CHANGE: w = snprintf(buf, buf_len, "%s v=%llu", name, v); break;
  case VR_MSG_DO_VIEW_CHANGE:
    w = snprintf(buf, buf_len, "%s v=%llu last_normal=%llu op=%llu commit=%llu log=%llu+%u", name,
                 v, (unsigned long long)m.last_normal, op, k, first, m.n);
    break;
  case VR_MSG_START_VIEW:
  case VR_MSG_NEW_STATE:
    w = snprintf(buf, buf_len, "%s v=%llu op=%llu commit=%llu log=%llu+%u", name, v, op, k, first,
                 m.n);
    break;
  case VR_MSG_RECOVERY:
    w = snprintf(buf, buf_len, "%s nonce=%016llx", name, (unsigned long long)m.nonce);
    break;
  case VR_MSG_RECOVERY_RESPONSE:
    w = snprintf(buf, buf_len, "%s v=%llu nonce=%016llx%s op=%llu commit=%llu log=%llu+%u", name, v,
                 (unsigned long long)m.nonce, m.primary ? " primary" : "", op, k, first, m.n);
    break;
  case VR_MSG_SNAP_CHUNK:
    w = snprintf(buf, buf_len, "%s index=%llu bytes=%llu+%zu total=%llu", name,
                 (unsigned long long)m.snap, (unsigned long long)m.offset, m.items_len,
                 (unsigned long long)m.total);
    break;
  case VR_MSG_SNAP_PULL:
    w = snprintf(buf, buf_len, "%s index=%llu have=%llu", name, (unsigned long long)m.snap,
                 (unsigned long long)m.offset);
    break;
  default: w = snprintf(buf, buf_len, "%s n=%u", name, m.n); break;
  }
  return w < 0 ? CTK_ERR_MALFORMED : w;
}
