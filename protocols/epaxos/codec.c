/* codec.c: EPaxos's wire format. Every message has the same layout (wire.h, big-endian), each type
 * using some of the fields:
 *
 *   version u8, type u8, leader u8, inst u64, ballot u64, flags u8 (ok 1, eq 2, has_cmd 4),
 *   status u8, promised u64, vballot u64, seq u64, n_deps u8, deps u64 * n_deps,
 *   [CATCHUP only: floors u64 * n_deps, echo u64 * n_deps,]
 *   [SNAP_CHUNK and SNAP_PULL only: total u64, offset u64,]
 *   cmd blob (a batch, batch.c; in SNAP_CHUNK, bytes of a snapshot image)
 *
 * except a bundle, the messages of one step to one node sent as one (epaxos.c):
 *
 *   version u8, type u8 = BUNDLE, count u32 (at least 2), count x message blob
 *
 * Version 3 carries batches (version 2 carried one command per instance) and bundles; version 4
 * added SNAP_CHUNK and SNAP_PULL (a peer's snapshot, prune.c); version 5 the echo in CATCHUP
 * (prune.c).
 *
 * Messages are untrusted: decoding checks every field it can without the instance (ranges,
 * flags, lengths); epaxos.c checks what needs the cluster size. */
#include <stdio.h>

#include "ep_internal.h"

enum { FLAG_OK = 1, FLAG_EQ = 2, FLAG_CMD = 4 };

static int is_snap(int type) { return type == EP_MSG_SNAP_CHUNK || type == EP_MSG_SNAP_PULL; }

/* A snapshot transfer message: an index, its image's size, a chunk of it that fits. */
static int check_snap(const ep_msg *m) {
  if (m->inst == 0 || m->inst >= (1ull << 62) || m->n_deps != 0 || m->total == 0 ||
      m->total > EP_MAX_IMAGE || m->offset > m->total || m->leader != 0)
    return CTK_ERR_MALFORMED;
  if (m->type == EP_MSG_SNAP_PULL) return m->cmd_len == 0 ? CTK_OK : CTK_ERR_MALFORMED;
  if (!m->has_cmd || m->cmd_len == 0 || m->cmd_len > m->total - m->offset) return CTK_ERR_MALFORMED;
  return CTK_OK;
}

void ep_msg_encode(wire_writer *w, const ep_msg *m) {
  wire_put_u8(w, EP_WIRE_VERSION);
  wire_put_u8(w, m->type);
  wire_put_u8(w, m->leader);
  wire_put_u64(w, m->inst);
  wire_put_u64(w, m->ballot);
  wire_put_u8(
      w, (uint8_t)((m->ok ? FLAG_OK : 0) | (m->eq ? FLAG_EQ : 0) | (m->has_cmd ? FLAG_CMD : 0)));
  wire_put_u8(w, m->status);
  wire_put_u64(w, m->promised);
  wire_put_u64(w, m->vballot);
  wire_put_u64(w, m->seq);
  wire_put_u8(w, (uint8_t)m->n_deps);
  for (int i = 0; i < m->n_deps; i++) wire_put_u64(w, m->deps[i]);
  if (m->type == EP_MSG_CATCHUP) {
    for (int i = 0; i < m->n_deps; i++) wire_put_u64(w, m->floors[i]);
    for (int i = 0; i < m->n_deps; i++) wire_put_u64(w, m->echo[i]);
  }
  if (is_snap(m->type)) {
    wire_put_u64(w, m->total);
    wire_put_u64(w, m->offset);
  }
  wire_put_blob(w, m->cmd, m->cmd_len);
}

static int ballot_ok(uint64_t b) { return ep_round(b) < EP_MAX_ROUND; }

int ep_msg_decode(const uint8_t *bytes, size_t len, ep_msg *out) {
  if (!bytes || len < 2 || len > CTK_MAX_MESSAGE_BYTES) return CTK_ERR_MALFORMED;
  wire_reader r;
  wire_reader_init(&r, bytes, len);
  ep_msg m = {0};
  uint8_t version = wire_get_u8(&r);
  m.type = wire_get_u8(&r);
  if (version != EP_WIRE_VERSION || m.type < EP_MSG_PREACCEPT || m.type >= EP_MSG_BUNDLE)
    return CTK_ERR_MALFORMED;
  m.leader = wire_get_u8(&r);
  m.inst = wire_get_u64(&r);
  m.ballot = wire_get_u64(&r);
  uint8_t flags = wire_get_u8(&r);
  m.status = wire_get_u8(&r);
  m.promised = wire_get_u64(&r);
  m.vballot = wire_get_u64(&r);
  m.seq = wire_get_u64(&r);
  uint8_t n_deps = wire_get_u8(&r);
  if (flags > 7 || m.status > EP_COMMITTED || n_deps > CTK_MAX_NODES) return CTK_ERR_MALFORMED;
  m.n_deps = n_deps;
  for (int i = 0; i < n_deps; i++) {
    m.deps[i] = wire_get_u64(&r);
    if (m.deps[i] >= EP_MAX_INST) return CTK_ERR_MALFORMED;
  }
  if (m.type == EP_MSG_CATCHUP) {
    for (int i = 0; i < n_deps; i++) {
      m.floors[i] = wire_get_u64(&r);
      if (m.floors[i] > m.deps[i]) return CTK_ERR_MALFORMED; /* executed only once committed */
    }
    for (int i = 0; i < n_deps; i++) {
      m.echo[i] = wire_get_u64(&r);
      if (m.echo[i] >= EP_MAX_INST) return CTK_ERR_MALFORMED;
    }
  }
  if (is_snap(m.type)) {
    m.total = wire_get_u64(&r);
    m.offset = wire_get_u64(&r);
  }
  m.cmd = wire_get_blob(&r, is_snap(m.type) ? EP_SNAP_CHUNK : EP_MAX_PAYLOAD, &m.cmd_len);
  if (!wire_reader_done(&r)) return CTK_ERR_MALFORMED;
  m.ok = (flags & FLAG_OK) != 0;
  m.eq = (flags & FLAG_EQ) != 0;
  m.has_cmd = (flags & FLAG_CMD) != 0;
  if (!m.has_cmd && m.cmd_len) return CTK_ERR_MALFORMED;
  if (is_snap(m.type)) { /* no instance, no batch */
    if (check_snap(&m) != CTK_OK || m.ballot || m.promised || m.vballot || m.seq || m.status ||
        m.ok || m.eq)
      return CTK_ERR_MALFORMED;
    *out = m;
    return CTK_OK;
  }
  if (ep_batch_check(m.cmd, m.cmd_len) != 0) return CTK_ERR_MALFORMED;
  if (m.leader >= CTK_MAX_NODES || m.inst >= EP_MAX_INST) return CTK_ERR_MALFORMED;
  if ((m.type == EP_MSG_CATCHUP) != (m.inst == 0)) return CTK_ERR_MALFORMED;
  if (!ballot_ok(m.ballot) || !ballot_ok(m.promised) || !ballot_ok(m.vballot))
    return CTK_ERR_MALFORMED;
  if (m.seq >= EP_MAX_INST) return CTK_ERR_MALFORMED;
  /* What each type must carry. */
  switch (m.type) {
  case EP_MSG_PREACCEPT:
  case EP_MSG_ACCEPT:
    if (!m.has_cmd || n_deps == 0) return CTK_ERR_MALFORMED;
    break;
  case EP_MSG_COMMIT: /* without cmd: the command the receiver took at ballot 0 */
    if (n_deps == 0) return CTK_ERR_MALFORMED;
    break;
  case EP_MSG_PREACCEPT_OK:
    if (m.ok && n_deps == 0) return CTK_ERR_MALFORMED;
    break;
  case EP_MSG_PREPARE_OK:
    if (m.has_cmd != (n_deps != 0)) return CTK_ERR_MALFORMED;
    if (m.ok && m.status != EP_NONE && !m.has_cmd) return CTK_ERR_MALFORMED;
    break;
  case EP_MSG_CATCHUP:
    if (n_deps == 0) return CTK_ERR_MALFORMED;
    break;
  default: break;
  }
  if ((m.type == EP_MSG_PREACCEPT_OK || m.type == EP_MSG_ACCEPT_OK ||
       m.type == EP_MSG_PREPARE_OK) &&
      m.ok != (m.promised == m.ballot))
    return CTK_ERR_MALFORMED;
  *out = m;
  return CTK_OK;
}

/* ---- bundles ---- */

int ep_bundle_begin(ep_bundle_iter *it, const uint8_t *bytes, size_t len) {
  if (!bytes || len < 2 || len > CTK_MAX_MESSAGE_BYTES) return CTK_ERR_MALFORMED;
  if (bytes[0] != EP_WIRE_VERSION || bytes[1] != EP_MSG_BUNDLE) return 0;
  wire_reader_init(&it->r, bytes + 2, len - 2);
  uint32_t count = wire_get_u32(&it->r);
  if (!wire_reader_ok(&it->r) || count < 2 || count > EP_BUNDLE_MAX) return CTK_ERR_MALFORMED;
  return 1;
}

int ep_bundle_next(ep_bundle_iter *it, const uint8_t **bytes, size_t *len) {
  if (wire_reader_done(&it->r)) return 0;
  *bytes = wire_get_blob(&it->r, CTK_MAX_MESSAGE_BYTES, len);
  return wire_reader_ok(&it->r) ? 1 : CTK_ERR_MALFORMED;
}

void ep_bundle_encode(wire_writer *w, const ctk_bytes *in, size_t n) {
  wire_put_u8(w, EP_WIRE_VERSION);
  wire_put_u8(w, EP_MSG_BUNDLE);
  wire_put_u32(w, (uint32_t)n);
  for (size_t i = 0; i < n; i++) wire_put_blob(w, in[i].data, in[i].len);
}

static const char *type_name(int type) {
  static const char *const names[] = {"?",        "PreAccept", "PreAcceptOK", "Accept",
                                      "AcceptOK", "Commit",    "Prepare",     "PrepareOK",
                                      "CatchUp",  "SnapChunk", "SnapPull",    "Bundle"};
  return type >= 0 && type <= EP_MSG_LAST ? names[type] : "?";
}

static int describe_one(const uint8_t *bytes, size_t len, char *buf, size_t buf_len) {
  ep_msg m;
  if (ep_msg_decode(bytes, len, &m) != CTK_OK) return CTK_ERR_MALFORMED;
  int n;
  if (m.type == EP_MSG_CATCHUP)
    n = snprintf(buf, buf_len, "CatchUp n=%d", m.n_deps);
  else if (is_snap(m.type))
    n = snprintf(buf, buf_len, "%s index=%llu offset=%llu/%llu bytes=%zu", type_name(m.type),
                 (unsigned long long)m.inst, (unsigned long long)m.offset,
                 (unsigned long long)m.total, m.cmd_len);
  else if (m.type == EP_MSG_COMMIT && !m.has_cmd) /* the receiver holds the command */
    n = snprintf(buf, buf_len, "Commit %d.%llu b=%llu.%d seq=%llu cmds=held", m.leader,
                 (unsigned long long)m.inst, (unsigned long long)ep_round(m.ballot),
                 ep_ballot_node(m.ballot), (unsigned long long)m.seq);
  else
    n = snprintf(
        buf, buf_len, "%s %d.%llu b=%llu.%d%s%s seq=%llu cmds=%u", type_name(m.type), m.leader,
        (unsigned long long)m.inst, (unsigned long long)ep_round(m.ballot),
        ep_ballot_node(m.ballot),
        m.type == EP_MSG_PREACCEPT_OK || m.type == EP_MSG_ACCEPT_OK || m.type == EP_MSG_PREPARE_OK
            ? (m.ok ? " ok" : " nack")
            : "",
        m.eq ? " eq" : "", (unsigned long long)m.seq, ep_batch_count(m.cmd, m.cmd_len));
  return n < 0 ? CTK_ERR_MALFORMED : n;
}

/* A bundle is described as its messages, separated by " + " (cut at buf_len). */
int ep_describe(const uint8_t *bytes, size_t len, char *buf, size_t buf_len) {
  ep_bundle_iter it;
  int b = ep_bundle_begin(&it, bytes, len);
  if (b < 0) return CTK_ERR_MALFORMED;
  if (b == 0) return describe_one(bytes, len, buf, buf_len);
  size_t used = 0;
  const uint8_t *one;
  size_t one_len;
  int r;
  for (int k = 0; (r = ep_bundle_next(&it, &one, &one_len)) == 1; k++) {
    char part[160];
    if (describe_one(one, one_len, part, sizeof part) < 0) return CTK_ERR_MALFORMED;
    int n = snprintf(used < buf_len ? buf + used : NULL, used < buf_len ? buf_len - used : 0,
                     "%s%s", k ? " + " : "", part);
    if (n < 0) return CTK_ERR_MALFORMED;
    used += (size_t)n;
  }
  if (r < 0) return CTK_ERR_MALFORMED;
  return (int)used;
}
