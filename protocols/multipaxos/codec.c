/* codec.c: Multi-Paxos's wire format: a version byte, a type byte, then big-endian fields.
 *
 *   Prepare    ballot u64, first_open u64                                         (phase 1a)
 *   Promise    ballot u64, ok u8, promised u64, snap u64, next u64, n u32,
 *              n x (slot u64, ballot u64, epoch u64, kind u8, blob)                (phase 1b)
 *   Accept     ballot u64, commit u64, first u64, epoch u64, n u32,
 *              n x (kind u8, value blob)                                           (phase 2a)
 *   Accepted   ballot u64, ok u8, promised u64, first u64, n u32, commit u64      (phase 2b)
 *   Forward    n u32, n x command blob
 *   SnapChunk  index u64, voters u32, learners u32, epoch u64, total u64, offset u64, blob
 *                                                            (snapshot.c: bytes of a snapshot)
 *   SnapPull   index u64, offset u64, commit u64             (snapshot.c: send me more of it)
 *   TimeoutNow ballot u64                         (membership.c: run phase 1 now, a transfer)
 *
 * A value's kind is 0 (a client command; empty: a no-op) or 1 (a configuration: voters u32,
 * learners u32); its epoch is the configuration it was proposed in (membership.c).
 *
 * A Promise holds at most MP_MAX_ITEMS_BYTES of entries; `next` names the slot the rest starts
 * at, which the candidate asks for with another Prepare of the same ballot. A Promise with a
 * nonzero `snap` (and no entries) says the acceptor no longer holds slots the Prepare asked for:
 * they are in its snapshot `snap`, which the candidate fetches before it asks again.
 *
 * Everything is validated before a handler sees it; a bad message is CTK_ERR_MALFORMED. */
#include <stdio.h>

#include "mp_internal.h"

static void put_header(wire_writer *w, mp_msg_type type) {
  wire_put_u8(w, MP_WIRE_VERSION);
  wire_put_u8(w, (uint8_t)type);
}

void mp_encode_prepare(wire_writer *w, uint64_t ballot, uint64_t first) {
  put_header(w, MP_MSG_PREPARE);
  wire_put_u64(w, ballot);
  wire_put_u64(w, first);
}

size_t mp_encode_promise_begin(wire_writer *w, uint64_t ballot, int ok, uint64_t promised) {
  put_header(w, MP_MSG_PROMISE);
  wire_put_u64(w, ballot);
  wire_put_u8(w, ok ? 1 : 0);
  wire_put_u64(w, promised);
  wire_put_u64(w, 0); /* snap */
  size_t pos = w->len;
  wire_put_u64(w, 0);
  wire_put_u32(w, 0);
  return pos;
}

void mp_encode_promise_snap(wire_writer *w, uint64_t ballot, uint64_t promised, uint64_t snap) {
  put_header(w, MP_MSG_PROMISE);
  wire_put_u64(w, ballot);
  wire_put_u8(w, 1);
  wire_put_u64(w, promised);
  wire_put_u64(w, snap);
  wire_put_u64(w, 0);
  wire_put_u32(w, 0);
}

void mp_encode_promise_entry(wire_writer *w, uint64_t slot, const mp_slot *s) {
  wire_put_u64(w, slot);
  wire_put_u64(w, s->ballot);
  wire_put_u64(w, s->epoch);
  wire_put_u8(w, s->kind);
  wire_put_blob(w, s->data, s->len);
}

void mp_encode_promise_end(wire_writer *w, size_t pos, uint64_t next, uint32_t n) {
  wire_patch_u64(w, pos, next);
  wire_patch_u32(w, pos + 8, n);
}

void mp_encode_accept(wire_writer *w, uint64_t ballot, uint64_t commit, uint64_t first,
                      const mp_slot *slots, uint32_t n) {
  put_header(w, MP_MSG_ACCEPT);
  wire_put_u64(w, ballot);
  wire_put_u64(w, commit);
  wire_put_u64(w, first);
  wire_put_u64(w, n ? slots[0].epoch : 0);
  wire_put_u32(w, n);
  for (uint32_t i = 0; i < n; i++) {
    wire_put_u8(w, slots[i].kind);
    wire_put_blob(w, slots[i].data, slots[i].len);
  }
}

void mp_encode_accepted(wire_writer *w, uint64_t ballot, int ok, uint64_t promised, uint64_t first,
                        uint32_t n, uint64_t commit) {
  put_header(w, MP_MSG_ACCEPTED);
  wire_put_u64(w, ballot);
  wire_put_u8(w, ok ? 1 : 0);
  wire_put_u64(w, promised);
  wire_put_u64(w, first);
  wire_put_u32(w, n);
  wire_put_u64(w, commit);
}

void mp_encode_forward(wire_writer *w, const uint8_t *data, size_t len) {
  put_header(w, MP_MSG_FORWARD);
  wire_put_u32(w, 1);
  wire_put_blob(w, data, len);
}

void mp_encode_snap_chunk(wire_writer *w, uint64_t index, const mp_config *conf, uint64_t total,
                          uint64_t offset, const uint8_t *data, size_t len) {
  put_header(w, MP_MSG_SNAP_CHUNK);
  wire_put_u64(w, index);
  wire_put_u32(w, conf->voters);
  wire_put_u32(w, conf->learners);
  wire_put_u64(w, conf->epoch);
  wire_put_u64(w, total);
  wire_put_u64(w, offset);
  wire_put_blob(w, data, len);
}

void mp_encode_snap_pull(wire_writer *w, uint64_t index, uint64_t offset, uint64_t commit) {
  put_header(w, MP_MSG_SNAP_PULL);
  wire_put_u64(w, index);
  wire_put_u64(w, offset);
  wire_put_u64(w, commit);
}

void mp_encode_timeout_now(wire_writer *w, uint64_t ballot) {
  put_header(w, MP_MSG_TIMEOUT_NOW);
  wire_put_u64(w, ballot);
}

static int sane_ballot(uint64_t b) { return b >= 1 && b < MP_MAX_ROUND; }

/* Checks n items of the given shape and that nothing follows them. */
static int check_items(wire_reader *r, uint8_t type, uint32_t n, uint64_t first) {
  uint64_t prev = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (type == MP_MSG_PROMISE) {
      uint64_t slot = wire_get_u64(r), ballot = wire_get_u64(r), epoch = wire_get_u64(r);
      if (slot <= prev || slot >= MP_MAX_SLOT || !sane_ballot(ballot) || slot < first ||
          epoch >= slot)
        return -1;
      prev = slot;
    }
    uint8_t kind = type == MP_MSG_FORWARD ? MP_KIND_COMMAND : wire_get_u8(r);
    size_t len;
    wire_get_blob(r, CTK_MAX_COMMAND_BYTES, &len);
    if (type == MP_MSG_FORWARD && len == 0) return -1;
    if (kind > MP_KIND_CONFIG || (kind == MP_KIND_CONFIG && len != MP_CONFIG_BYTES)) return -1;
  }
  return wire_reader_done(r) ? 0 : -1;
}

void mp_encode_lease_probe(wire_writer *w, int reply, uint64_t ballot, uint64_t round, int ok) {
  wire_put_u8(w, MP_WIRE_VERSION);
  wire_put_u8(w, reply ? MP_MSG_LEASE_PROBE_REPLY : MP_MSG_LEASE_PROBE);
  wire_put_u64(w, ballot);
  wire_put_u64(w, round);
  if (reply) wire_put_u8(w, ok ? 1 : 0);
}

int mp_msg_decode(const uint8_t *bytes, size_t len, mp_msg *m) {
  if (!bytes && len) return CTK_ERR_MALFORMED;
  wire_reader r;
  wire_reader_init(&r, bytes, len);
  *m = (mp_msg){0};
  if (wire_get_u8(&r) != MP_WIRE_VERSION) return CTK_ERR_MALFORMED;
  m->type = wire_get_u8(&r);
  int bad = 0;
  switch (m->type) {
  case MP_MSG_PREPARE:
    m->ballot = wire_get_u64(&r);
    m->first = wire_get_u64(&r);
    bad = !wire_reader_done(&r) || m->first < 1 || m->first >= MP_MAX_SLOT;
    break;
  case MP_MSG_PROMISE:
  case MP_MSG_ACCEPT:
  case MP_MSG_FORWARD:
    if (m->type != MP_MSG_FORWARD) m->ballot = wire_get_u64(&r);
    if (m->type == MP_MSG_PROMISE) {
      uint8_t ok = wire_get_u8(&r);
      bad = ok > 1;
      m->ok = ok;
      m->promised = wire_get_u64(&r);
      m->snap = wire_get_u64(&r);
      m->next = wire_get_u64(&r);
      if (m->next >= MP_MAX_SLOT || m->snap >= MP_MAX_SLOT) bad = 1;
    }
    if (m->type == MP_MSG_ACCEPT) {
      m->commit = wire_get_u64(&r);
      m->first = wire_get_u64(&r);
      m->epoch = wire_get_u64(&r);
      bad = m->first < 1 || m->first >= MP_MAX_SLOT || m->commit >= MP_MAX_SLOT ||
            m->epoch >= m->first;
    }
    m->n = wire_get_u32(&r);
    m->items = r.data + r.pos;
    m->items_len = wire_reader_left(&r);
    if (m->type == MP_MSG_ACCEPT && m->n > MP_MAX_PER_MSG) bad = 1;
    if (m->type == MP_MSG_PROMISE && m->n > CTK_MAX_MESSAGE_BYTES / 20) bad = 1;
    if (m->type == MP_MSG_FORWARD && (m->n < 1 || m->n > MP_MAX_FORWARD)) bad = 1;
    if (m->type == MP_MSG_ACCEPT && m->first + m->n > MP_MAX_SLOT) bad = 1;
    if (m->snap && (m->n || m->next || !m->ok)) bad = 1;
    if (!bad) bad = check_items(&r, m->type, m->n, m->type == MP_MSG_PROMISE ? 1 : 0) != 0;
    break;
  case MP_MSG_SNAP_CHUNK: {
    m->snap = wire_get_u64(&r);
    m->conf.voters = wire_get_u32(&r);
    m->conf.learners = wire_get_u32(&r);
    m->conf.epoch = wire_get_u64(&r);
    m->total = wire_get_u64(&r);
    m->offset = wire_get_u64(&r);
    m->items = wire_get_blob(&r, MP_MAX_ITEMS_BYTES, &m->items_len);
    bad = !wire_reader_done(&r) || m->snap < 1 || m->snap >= MP_MAX_SLOT || m->total < 1 ||
          m->total > MP_MAX_SNAPSHOT || m->offset >= m->total || m->items_len < 1 ||
          m->items_len > m->total - m->offset || !m->conf.voters ||
          (m->conf.voters & m->conf.learners) || m->conf.epoch > m->snap;
    break;
  }
  case MP_MSG_TIMEOUT_NOW:
    m->ballot = wire_get_u64(&r);
    bad = !wire_reader_done(&r);
    break;
  case MP_MSG_SNAP_PULL:
    m->snap = wire_get_u64(&r);
    m->offset = wire_get_u64(&r);
    m->commit = wire_get_u64(&r);
    bad = !wire_reader_done(&r) || m->snap < 1 || m->snap >= MP_MAX_SLOT ||
          m->offset > MP_MAX_SNAPSHOT || m->commit >= MP_MAX_SLOT;
    break;
  case MP_MSG_ACCEPTED: {
    m->ballot = wire_get_u64(&r);
    uint8_t ok = wire_get_u8(&r);
    m->ok = ok;
    m->promised = wire_get_u64(&r);
    m->first = wire_get_u64(&r);
    m->n = wire_get_u32(&r);
    m->commit = wire_get_u64(&r);
    bad = !wire_reader_done(&r) || ok > 1 || m->first >= MP_MAX_SLOT || m->n > MP_MAX_PER_MSG ||
          m->commit >= MP_MAX_SLOT || (m->n > 0 && m->first < 1);
    break;
  }
  case MP_MSG_LEASE_PROBE:
  case MP_MSG_LEASE_PROBE_REPLY: {
    m->ballot = wire_get_u64(&r);
    m->first = wire_get_u64(&r); /* the round */
    uint8_t ok = m->type == MP_MSG_LEASE_PROBE_REPLY ? wire_get_u8(&r) : 1;
    m->ok = ok;
    bad = !wire_reader_done(&r) || ok > 1 || m->first < 1 || m->ballot < 1 ||
          m->ballot >= MP_MAX_ROUND;
    break;
  }
  default: return CTK_ERR_MALFORMED;
  }
  if (!wire_reader_ok(&r)) bad = 1;
  int ballotless =
      m->type == MP_MSG_FORWARD || m->type == MP_MSG_SNAP_CHUNK || m->type == MP_MSG_SNAP_PULL;
  if (!ballotless && !sane_ballot(m->ballot)) bad = 1;
  if ((m->type == MP_MSG_PROMISE || m->type == MP_MSG_ACCEPTED) && m->promised >= MP_MAX_ROUND)
    bad = 1;
  if (bad) {
    *m = (mp_msg){0};
    return CTK_ERR_MALFORMED;
  }
  return CTK_OK;
}

void mp_item_iter_init(mp_item_iter *it, const mp_msg *m) {
  wire_reader_init(&it->r, m->items, m->items_len);
  it->type = m->type;
}

void mp_item_next(mp_item_iter *it, mp_item *item) {
  *item = (mp_item){0};
  if (it->type == MP_MSG_PROMISE) {
    item->slot = wire_get_u64(&it->r);
    item->ballot = wire_get_u64(&it->r);
    item->epoch = wire_get_u64(&it->r);
  }
  if (it->type != MP_MSG_FORWARD) item->kind = wire_get_u8(&it->r);
  item->data = wire_get_blob(&it->r, CTK_MAX_COMMAND_BYTES, &item->len);
}

int mp_describe(const uint8_t *bytes, size_t len, char *buf, size_t buf_len) {
  mp_msg m;
  if (mp_msg_decode(bytes, len, &m) != CTK_OK) return CTK_ERR_MALFORMED;
  int w = 0;
  switch (m.type) {
  case MP_MSG_PREPARE:
    w = snprintf(buf, buf_len, "Prepare b=%llu from=%llu", (unsigned long long)m.ballot,
                 (unsigned long long)m.first);
    break;
  case MP_MSG_PROMISE:
    if (m.snap)
      w = snprintf(buf, buf_len, "Promise b=%llu ok promised=%llu snapshot=%llu",
                   (unsigned long long)m.ballot, (unsigned long long)m.promised,
                   (unsigned long long)m.snap);
    else
      w = snprintf(buf, buf_len, "Promise b=%llu %s promised=%llu n=%u%s",
                   (unsigned long long)m.ballot, m.ok ? "ok" : "nack",
                   (unsigned long long)m.promised, m.n, m.next ? " more" : "");
    break;
  case MP_MSG_SNAP_CHUNK:
    w = snprintf(buf, buf_len, "SnapChunk index=%llu bytes=%llu+%zu of %llu",
                 (unsigned long long)m.snap, (unsigned long long)m.offset, m.items_len,
                 (unsigned long long)m.total);
    break;
  case MP_MSG_SNAP_PULL:
    w = snprintf(buf, buf_len, "SnapPull index=%llu have=%llu commit=%llu",
                 (unsigned long long)m.snap, (unsigned long long)m.offset,
                 (unsigned long long)m.commit);
    break;
  case MP_MSG_ACCEPT:
    w = snprintf(buf, buf_len, "Accept b=%llu slots=%llu+%u commit=%llu",
                 (unsigned long long)m.ballot, (unsigned long long)m.first, m.n,
                 (unsigned long long)m.commit);
    if (m.epoch && w > 0 && (size_t)w < buf_len) /* a configuration past the initial one */
      w += snprintf(buf + w, buf_len - (size_t)w, " epoch=%llu", (unsigned long long)m.epoch);
    break;
  case MP_MSG_TIMEOUT_NOW:
    w = snprintf(buf, buf_len, "TimeoutNow b=%llu", (unsigned long long)m.ballot);
    break;
  case MP_MSG_ACCEPTED:
    w = snprintf(buf, buf_len, "Accepted b=%llu %s promised=%llu slots=%llu+%u commit=%llu",
                 (unsigned long long)m.ballot, m.ok ? "ok" : "nack", (unsigned long long)m.promised,
                 (unsigned long long)m.first, m.n, (unsigned long long)m.commit);
    break;
  case MP_MSG_LEASE_PROBE:
  case MP_MSG_LEASE_PROBE_REPLY:
    w = snprintf(buf, buf_len, "%s b=%llu round=%llu%s",
                 m.type == MP_MSG_LEASE_PROBE ? "LeaseProbe" : "LeaseProbeReply",
                 (unsigned long long)m.ballot, (unsigned long long)m.first,
                 m.type == MP_MSG_LEASE_PROBE ? ""
                 : m.ok                       ? " ok"
                                              : " refused");
    break;
  default: w = snprintf(buf, buf_len, "Forward n=%u", m.n); break;
  }
  return w < 0 ? CTK_ERR_MALFORMED : w;
}
