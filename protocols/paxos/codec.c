/* codec.c: Paxos's wire format: a version byte, a type byte, then big-endian fields (wire.h).
 *
 *   Prepare    slot u64, ballot u64
 *   Promise    slot u64, ballot u64, ok u8, promised u64, accepted_ballot u64, value blob
 *   Accept     slot u64, ballot u64, value blob
 *   Accepted   slot u64, ballot u64, ok u8, promised u64
 *   Decided    slot u64, value blob
 *   CatchUp    slot u64
 *   SnapChunk  index u64, total u64, offset u64, blob     (snapshot.c: bytes of a snapshot)
 *   SnapPull   index u64, offset u64, applied u64         (snapshot.c: send me more of it)
 *
 * Messages are untrusted: decoding validates every field before a handler sees any of it. */
#include <stdio.h>

#include "paxos_internal.h"

void paxos_msg_encode(wire_writer *w, const paxos_msg *m) {
  wire_put_u8(w, PAXOS_WIRE_VERSION);
  wire_put_u8(w, m->type);
  wire_put_u64(w, m->slot);
  if (m->type == PAXOS_MSG_DECIDED) {
    wire_put_blob(w, m->value, m->value_len);
    return;
  }
  if (m->type == PAXOS_MSG_CATCHUP) return;
  if (m->type == PAXOS_MSG_SNAP_CHUNK || m->type == PAXOS_MSG_SNAP_PULL) {
    wire_put_u64(w, m->type == PAXOS_MSG_SNAP_CHUNK ? m->total : m->offset);
    wire_put_u64(w, m->type == PAXOS_MSG_SNAP_CHUNK ? m->offset : m->applied);
    if (m->type == PAXOS_MSG_SNAP_CHUNK) wire_put_blob(w, m->value, m->value_len);
    return;
  }
  wire_put_u64(w, m->ballot);
  if (m->type == PAXOS_MSG_PROMISE || m->type == PAXOS_MSG_ACCEPTED) {
    wire_put_u8(w, m->ok ? 1 : 0);
    wire_put_u64(w, m->promised);
  }
  if (m->type == PAXOS_MSG_PROMISE) wire_put_u64(w, m->accepted_ballot);
  if (m->type == PAXOS_MSG_PROMISE || m->type == PAXOS_MSG_ACCEPT)
    wire_put_blob(w, m->value, m->value_len);
}

static int ballot_ok(uint64_t b) { return b > 0 && paxos_round(b) < PAXOS_MAX_ROUND; }

int paxos_msg_decode(const uint8_t *bytes, size_t len, paxos_msg *out) {
  if (!bytes || len < 2 || len > CTK_MAX_MESSAGE_BYTES) return CTK_ERR_MALFORMED;
  wire_reader r;
  wire_reader_init(&r, bytes, len);
  paxos_msg m = {0};
  uint8_t version = wire_get_u8(&r);
  m.type = wire_get_u8(&r);
  if (version != PAXOS_WIRE_VERSION || m.type < PAXOS_MSG_PREPARE || m.type > PAXOS_MSG_SNAP_PULL)
    return CTK_ERR_MALFORMED;
  m.slot = wire_get_u64(&r);
  if (m.type == PAXOS_MSG_SNAP_CHUNK) {
    m.total = wire_get_u64(&r);
    m.offset = wire_get_u64(&r);
    m.value = wire_get_blob(&r, CTK_MAX_MESSAGE_BYTES, &m.value_len);
    if (!wire_reader_done(&r) || m.slot == 0 || m.slot >= PAXOS_MAX_SLOT || m.total < 1 ||
        m.total > PAXOS_MAX_SNAPSHOT || m.offset >= m.total || m.value_len < 1 ||
        m.value_len > m.total - m.offset)
      return CTK_ERR_MALFORMED;
    *out = m;
    return CTK_OK;
  }
  if (m.type == PAXOS_MSG_SNAP_PULL) {
    m.offset = wire_get_u64(&r);
    m.applied = wire_get_u64(&r);
    if (!wire_reader_done(&r) || m.slot == 0 || m.slot >= PAXOS_MAX_SLOT ||
        m.offset > PAXOS_MAX_SNAPSHOT || m.applied >= PAXOS_MAX_SLOT)
      return CTK_ERR_MALFORMED;
    *out = m;
    return CTK_OK;
  }
  if (m.type != PAXOS_MSG_DECIDED && m.type != PAXOS_MSG_CATCHUP) m.ballot = wire_get_u64(&r);
  if (m.type == PAXOS_MSG_PROMISE || m.type == PAXOS_MSG_ACCEPTED) {
    uint8_t ok = wire_get_u8(&r);
    if (ok > 1) return CTK_ERR_MALFORMED;
    m.ok = ok;
    m.promised = wire_get_u64(&r);
  }
  if (m.type == PAXOS_MSG_PROMISE) m.accepted_ballot = wire_get_u64(&r);
  if (m.type == PAXOS_MSG_PROMISE || m.type == PAXOS_MSG_ACCEPT || m.type == PAXOS_MSG_DECIDED)
    m.value = wire_get_blob(&r, CTK_MAX_COMMAND_BYTES, &m.value_len);
  if (!wire_reader_done(&r)) return CTK_ERR_MALFORMED;
  if (m.slot == 0 || m.slot >= PAXOS_MAX_SLOT) return CTK_ERR_MALFORMED;
  if (m.type != PAXOS_MSG_DECIDED && m.type != PAXOS_MSG_CATCHUP && !ballot_ok(m.ballot))
    return CTK_ERR_MALFORMED;
  if (m.type == PAXOS_MSG_PROMISE || m.type == PAXOS_MSG_ACCEPTED) {
    if (m.promised != 0 && !ballot_ok(m.promised)) return CTK_ERR_MALFORMED;
    if (m.ok && m.promised != m.ballot) return CTK_ERR_MALFORMED;
    if (!m.ok && m.promised <= m.ballot) return CTK_ERR_MALFORMED;
  }
  if (m.type == PAXOS_MSG_PROMISE) {
    if (m.accepted_ballot != 0 && !ballot_ok(m.accepted_ballot)) return CTK_ERR_MALFORMED;
    if (m.ok && m.accepted_ballot > m.ballot) return CTK_ERR_MALFORMED;
    if (!m.ok && (m.accepted_ballot != 0 || m.value_len != 0)) return CTK_ERR_MALFORMED;
    if (m.accepted_ballot == 0 && m.value_len != 0) return CTK_ERR_MALFORMED;
  }
  *out = m;
  return CTK_OK;
}

int paxos_describe(const uint8_t *bytes, size_t len, char *buf, size_t buf_len) {
  paxos_msg m;
  if (paxos_msg_decode(bytes, len, &m) != CTK_OK) return CTK_ERR_MALFORMED;
  int n = 0;
#define B(b) (unsigned long long)paxos_round(b), (int)((b)&0xff)
  switch (m.type) {
  case PAXOS_MSG_PREPARE:
    n = snprintf(buf, buf_len, "Prepare s=%llu b=%llu.%d", (unsigned long long)m.slot, B(m.ballot));
    break;
  case PAXOS_MSG_PROMISE:
    n = snprintf(buf, buf_len, "Promise s=%llu b=%llu.%d %s acc=%llu.%d len=%zu",
                 (unsigned long long)m.slot, B(m.ballot), m.ok ? "ok" : "nack",
                 B(m.ok ? m.accepted_ballot : m.promised), m.value_len);
    break;
  case PAXOS_MSG_ACCEPT:
    n = snprintf(buf, buf_len, "Accept s=%llu b=%llu.%d len=%zu", (unsigned long long)m.slot,
                 B(m.ballot), m.value_len);
    break;
  case PAXOS_MSG_ACCEPTED:
    n = snprintf(buf, buf_len, "Accepted s=%llu b=%llu.%d %s", (unsigned long long)m.slot,
                 B(m.ballot), m.ok ? "ok" : "nack");
    break;
  case PAXOS_MSG_DECIDED:
    n = snprintf(buf, buf_len, "Decided s=%llu len=%zu", (unsigned long long)m.slot, m.value_len);
    break;
  case PAXOS_MSG_SNAP_CHUNK:
    n = snprintf(buf, buf_len, "SnapChunk index=%llu bytes=%llu+%zu of %llu",
                 (unsigned long long)m.slot, (unsigned long long)m.offset, m.value_len,
                 (unsigned long long)m.total);
    break;
  case PAXOS_MSG_SNAP_PULL:
    n = snprintf(buf, buf_len, "SnapPull index=%llu have=%llu applied=%llu",
                 (unsigned long long)m.slot, (unsigned long long)m.offset,
                 (unsigned long long)m.applied);
    break;
  default: n = snprintf(buf, buf_len, "CatchUp from=%llu", (unsigned long long)m.slot); break;
  }
#undef B
  return n < 0 ? CTK_ERR_MALFORMED : n;
}
