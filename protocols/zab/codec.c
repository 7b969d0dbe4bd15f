/* codec.c: ZAB's wire format: a version byte, a type byte, then big-endian fields.
 *
 *   NOTIFICATION  round u64, state u8, vote: leader u8, zxid u64, epoch u64, active
 *                 configuration: zxid u64, voters u32, learners u32
 *   FOLLOWERINFO  session u64, accepted_epoch u64, want_snap u8
 *   ACKEPOCH      session u64, epoch u64, current_epoch u64, last_zxid u64, length u64, counts u8
 *   ACK           session u64, epoch u64, zxid u64
 *   FORWARD       n u32, n x command blob
 * and the session messages of a leader, session u64, seq u64, epoch u64, then
 *   NEWEPOCH      -
 *   DIFF          pos u64, zxid u64, n u32, n x entry                entries pos+1 .. pos+n
 *   TRUNC         pos u64, zxid u64                                keep positions 1 .. pos
 *   SNAP          index u64, zxid u64, total u64, offset u64, voters u32, learners u32, bytes
 *                 a chunk of the snapshot through index (zxid there; the configuration in
 *                 effect there), bytes offset .. of total (the rest of the message)
 *   NEWLEADER     zxid u64, length u64
 *   PROPOSAL      pos u64, n u32, n x entry                          entries pos .. pos+n-1
 *   COMMIT, PING  zxid u64
 * where an entry is zxid u64, type u8 (0: a client command, 1: a configuration), blob; a
 * configuration's blob is version u8 (1), voters u32, learners u32 (reconfig.c).
 *
 * Everything is validated before a handler sees it (zxids of entries strictly increase and
 * belong to no epoch past the message's); a bad message is CTK_ERR_MALFORMED. */
#include <stdio.h>

#include "zab_internal.h"

static void put_header(wire_writer *w, zab_msg_type type) {
  wire_put_u8(w, ZAB_WIRE_VERSION);
  wire_put_u8(w, (uint8_t)type);
}

void zab_encode_notification(wire_writer *w, uint64_t round, zab_state state, zab_vote vote,
                             zab_conf conf, uint64_t conf_zxid) {
  put_header(w, ZAB_MSG_NOTIFICATION);
  wire_put_u64(w, round);
  wire_put_u8(w, (uint8_t)state);
  wire_put_u8(w, (uint8_t)vote.leader);
  wire_put_u64(w, vote.zxid);
  wire_put_u64(w, vote.epoch);
  wire_put_u64(w, conf_zxid);
  wire_put_u32(w, conf.voters);
  wire_put_u32(w, conf.learners);
}

void zab_encode_followerinfo(wire_writer *w, uint64_t session, uint64_t accepted_epoch,
                             int want_snap) {
  put_header(w, ZAB_MSG_FOLLOWERINFO);
  wire_put_u64(w, session);
  wire_put_u64(w, accepted_epoch);
  wire_put_u8(w, want_snap ? 1 : 0);
}

void zab_encode_ackepoch(wire_writer *w, uint64_t session, uint64_t epoch, uint64_t current_epoch,
                         uint64_t last_zxid, uint64_t length, int counts) {
  put_header(w, ZAB_MSG_ACKEPOCH);
  wire_put_u64(w, session);
  wire_put_u64(w, epoch);
  wire_put_u64(w, current_epoch);
  wire_put_u64(w, last_zxid);
  wire_put_u64(w, length);
  wire_put_u8(w, counts ? 1 : 0);
}

void zab_encode_ack(wire_writer *w, uint64_t session, uint64_t epoch, uint64_t zxid) {
  put_header(w, ZAB_MSG_ACK);
  wire_put_u64(w, session);
  wire_put_u64(w, epoch);
  wire_put_u64(w, zxid);
}

void zab_encode_session(wire_writer *w, zab_msg_type type, uint64_t session, uint64_t seq,
                        uint64_t epoch) {
  put_header(w, type);
  wire_put_u64(w, session);
  wire_put_u64(w, seq);
  wire_put_u64(w, epoch);
}

void zab_encode_entries(wire_writer *w, const zab_history *h, uint64_t first, uint32_t n) {
  for (uint64_t p = first; p < first + n; p++) {
    const zab_entry *e = zab_history_at(h, p);
    wire_put_u64(w, e->zxid);
    wire_put_u8(w, e->type);
    wire_put_blob(w, e->data, e->len);
  }
}

void zab_encode_forward(wire_writer *w, const uint8_t *data, size_t len) {
  put_header(w, ZAB_MSG_FORWARD);
  wire_put_u32(w, 1);
  wire_put_blob(w, data, len);
}

void zab_encode_sync(wire_writer *w, int reply, uint64_t id, uint64_t zxid) {
  put_header(w, reply ? ZAB_MSG_SYNC_REPLY : ZAB_MSG_SYNC);
  wire_put_u64(w, id);
  if (reply) wire_put_u64(w, zxid);
}

/* Checks n entries (or FORWARD commands) and that nothing follows them. Entries' zxids strictly
 * increase from above `after`, and none is of an epoch past max_epoch (exactly epoch, when
 * same_epoch). */
static int check_items(wire_reader *r, const zab_msg *m, uint64_t after, int same_epoch) {
  uint64_t prev = after;
  for (uint32_t i = 0; i < m->n; i++) {
    uint8_t type = ZAB_ENTRY_COMMAND;
    if (m->type != ZAB_MSG_FORWARD) {
      uint64_t zxid = wire_get_u64(r);
      if (zxid <= prev || zab_zxid_epoch(zxid) > m->epoch || zab_zxid_counter(zxid) == 0) return -1;
      if (same_epoch && zab_zxid_epoch(zxid) != m->epoch) return -1;
      prev = zxid;
      type = wire_get_u8(r);
      if (type > ZAB_ENTRY_CONFIG) return -1;
    }
    size_t len;
    const uint8_t *data = wire_get_blob(r, CTK_MAX_COMMAND_BYTES, &len);
    if (m->type == ZAB_MSG_FORWARD && len == 0) return -1;
    zab_conf c;
    if (type == ZAB_ENTRY_CONFIG && zab_conf_decode(data, len, CTK_MAX_NODES, &c) != 0) return -1;
  }
  return wire_reader_done(r) ? 0 : -1;
}

static void take_items(wire_reader *r, zab_msg *m) {
  m->n = wire_get_u32(r);
  m->items = r->data + r->pos;
  m->items_len = wire_reader_left(r);
}

static int bad_epoch(uint64_t e) { return e < 1 || e > ZAB_MAX_EPOCH; }
static int bad_zxid(uint64_t zxid) { return zab_zxid_epoch(zxid) > ZAB_MAX_EPOCH; }

/* The fields after a session message's header. */
static int decode_session_body(wire_reader *r, zab_msg *m) {
  switch (m->type) {
  case ZAB_MSG_NEWEPOCH: return !wire_reader_done(r);
  case ZAB_MSG_DIFF:
  case ZAB_MSG_TRUNC:
    m->pos = wire_get_u64(r);
    m->zxid = wire_get_u64(r);
    if (m->pos >= ZAB_MAX_POSITION || (m->pos == 0) != (m->zxid == 0) || bad_zxid(m->zxid) ||
        zab_zxid_epoch(m->zxid) > m->epoch)
      return 1;
    if (m->type == ZAB_MSG_TRUNC) return !wire_reader_done(r);
    take_items(r, m);
    return m->n > ZAB_MAX_PER_MSG || m->pos + m->n >= ZAB_MAX_POSITION ||
           check_items(r, m, m->zxid, 0);
  case ZAB_MSG_SNAP:
    m->pos = wire_get_u64(r);
    m->zxid = wire_get_u64(r);
    m->length = wire_get_u64(r);
    m->offset = wire_get_u64(r);
    m->conf.voters = wire_get_u32(r);
    m->conf.learners = wire_get_u32(r);
    if (!wire_reader_ok(r)) return 1;
    m->items = r->data + r->pos;
    m->items_len = wire_reader_left(r);
    return !zab_conf_valid(m->conf, CTK_MAX_NODES) || m->pos >= ZAB_MAX_POSITION ||
           (m->pos == 0) != (m->zxid == 0) || bad_zxid(m->zxid) ||
           zab_zxid_epoch(m->zxid) > m->epoch || m->length > ZAB_MAX_SNAPSHOT ||
           (m->pos == 0 && m->length != 0) || m->offset > m->length ||
           m->items_len > m->length - m->offset || m->items_len > ZAB_CHUNK_BYTES ||
           (m->items_len == 0 && m->offset != m->length);
  case ZAB_MSG_NEWLEADER:
    m->zxid = wire_get_u64(r);
    m->length = wire_get_u64(r);
    return !wire_reader_done(r) || bad_zxid(m->zxid) || zab_zxid_epoch(m->zxid) > m->epoch ||
           m->length >= ZAB_MAX_POSITION || (m->length == 0) != (m->zxid == 0);
  case ZAB_MSG_PROPOSAL:
    m->pos = wire_get_u64(r);
    take_items(r, m);
    return m->pos < 1 || m->n < 1 || m->n > ZAB_MAX_PER_MSG || m->pos + m->n >= ZAB_MAX_POSITION ||
           check_items(r, m, 0, 1);
  case ZAB_MSG_COMMIT:
  case ZAB_MSG_PING:
    m->zxid = wire_get_u64(r);
    return !wire_reader_done(r) || zab_zxid_epoch(m->zxid) > m->epoch;
  default: return 1;
  }
}

int zab_msg_decode(const uint8_t *bytes, size_t len, zab_msg *m) {
  *m = (zab_msg){0};
  if (!bytes && len) return CTK_ERR_MALFORMED;
  wire_reader r;
  wire_reader_init(&r, bytes, len);
  if (wire_get_u8(&r) != ZAB_WIRE_VERSION) return CTK_ERR_MALFORMED;
  m->type = wire_get_u8(&r);
  int bad = 0;
  switch (m->type) {
  case ZAB_MSG_NOTIFICATION:
    m->round = wire_get_u64(&r);
    m->state = wire_get_u8(&r);
    m->vote.leader = wire_get_u8(&r);
    m->vote.zxid = wire_get_u64(&r);
    m->vote.epoch = wire_get_u64(&r);
    m->conf_zxid = wire_get_u64(&r);
    m->conf.voters = wire_get_u32(&r);
    m->conf.learners = wire_get_u32(&r);
    bad = !wire_reader_done(&r) || m->state > ZAB_LEADING || m->vote.leader >= CTK_MAX_NODES ||
          m->round >= ZAB_MAX_POSITION || bad_zxid(m->vote.zxid) || m->vote.epoch > ZAB_MAX_EPOCH ||
          bad_zxid(m->conf_zxid) || !zab_conf_valid(m->conf, CTK_MAX_NODES);
    break;
  case ZAB_MSG_FOLLOWERINFO: {
    m->session = wire_get_u64(&r);
    m->epoch = wire_get_u64(&r);
    uint8_t snap = wire_get_u8(&r);
    m->want_snap = snap;
    bad = !wire_reader_done(&r) || m->session == 0 || m->epoch > ZAB_MAX_EPOCH || snap > 1;
    break;
  }
  case ZAB_MSG_ACKEPOCH: {
    m->session = wire_get_u64(&r);
    m->epoch = wire_get_u64(&r);
    m->current_epoch = wire_get_u64(&r);
    m->zxid = wire_get_u64(&r);
    m->length = wire_get_u64(&r);
    uint8_t counts = wire_get_u8(&r);
    m->counts = counts;
    bad = !wire_reader_done(&r) || m->session == 0 || bad_epoch(m->epoch) || counts > 1 ||
          m->current_epoch > m->epoch || bad_zxid(m->zxid) || m->length >= ZAB_MAX_POSITION ||
          (m->length == 0) != (m->zxid == 0);
    break;
  }
  case ZAB_MSG_ACK:
    m->session = wire_get_u64(&r);
    m->epoch = wire_get_u64(&r);
    m->zxid = wire_get_u64(&r);
    bad = !wire_reader_done(&r) || m->session == 0 || bad_epoch(m->epoch) ||
          zab_zxid_epoch(m->zxid) > m->epoch;
    break;
  case ZAB_MSG_FORWARD:
    take_items(&r, m);
    bad = m->n < 1 || m->n > ZAB_MAX_FORWARD || check_items(&r, m, 0, 0);
    break;
  case ZAB_MSG_SYNC:
  case ZAB_MSG_SYNC_REPLY:
    m->pos = wire_get_u64(&r);
    if (m->type == ZAB_MSG_SYNC_REPLY) m->zxid = wire_get_u64(&r);
    bad = !wire_reader_done(&r) || m->pos == 0 || bad_zxid(m->zxid);
    break;
  case ZAB_MSG_NEWEPOCH:
  case ZAB_MSG_DIFF:
  case ZAB_MSG_TRUNC:
  case ZAB_MSG_SNAP:
  case ZAB_MSG_NEWLEADER:
  case ZAB_MSG_PROPOSAL:
  case ZAB_MSG_COMMIT:
  case ZAB_MSG_PING:
    m->session = wire_get_u64(&r);
    m->seq = wire_get_u64(&r);
    m->epoch = wire_get_u64(&r);
    bad = m->session == 0 || m->seq == 0 || bad_epoch(m->epoch) || decode_session_body(&r, m);
    break;
  default: bad = 1;
  }
  if (!wire_reader_ok(&r)) bad = 1;
  if (bad) {
    *m = (zab_msg){0};
    return CTK_ERR_MALFORMED;
  }
  return CTK_OK;
}

void zab_item_iter_init(zab_item_iter *it, const zab_msg *m) {
  wire_reader_init(&it->r, m->items, m->items_len);
  it->with_zxid = m->type != ZAB_MSG_FORWARD;
  it->left = m->n;
}

int zab_item_next(zab_item_iter *it, zab_item *item) {
  if (it->left == 0) return 0;
  it->left--;
  item->zxid = it->with_zxid ? wire_get_u64(&it->r) : 0;
  item->type = it->with_zxid ? wire_get_u8(&it->r) : ZAB_ENTRY_COMMAND;
  item->data = wire_get_blob(&it->r, CTK_MAX_COMMAND_BYTES, &item->len);
  return 1;
}

int zab_msg_check_nodes(const zab_msg *m, int n) {
  zab_conf c;
  if (m->type == ZAB_MSG_NOTIFICATION)
    return m->vote.leader < n && zab_conf_valid(m->conf, n) ? 0 : -1;
  if (m->type == ZAB_MSG_SNAP && !zab_conf_valid(m->conf, n)) return -1;
  if (m->type != ZAB_MSG_DIFF && m->type != ZAB_MSG_PROPOSAL) return 0;
  zab_item_iter it;
  zab_item e;
  for (zab_item_iter_init(&it, m); zab_item_next(&it, &e);)
    if (e.type == ZAB_ENTRY_CONFIG && zab_conf_decode(e.data, e.len, n, &c) != 0) return -1;
  return 0;
}

/* ---- describe: one line per message for traces ---- */

static const char *state_name(uint8_t s) {
  return s == ZAB_LEADING ? "LEADING" : s == ZAB_FOLLOWING ? "FOLLOWING" : "LOOKING";
}

#define ZXID(z) (unsigned long long)zab_zxid_epoch(z), (unsigned long long)zab_zxid_counter(z)

static int describe_session(const zab_msg *m, char *buf, size_t len) {
  char head[64];
  snprintf(head, sizeof head, "e=%llu seq=%llu", (unsigned long long)m->epoch,
           (unsigned long long)m->seq);
  switch (m->type) {
  case ZAB_MSG_NEWEPOCH: return snprintf(buf, len, "NEWEPOCH %s", head);
  case ZAB_MSG_DIFF:
    return snprintf(buf, len, "DIFF %s after=%llu(%llu:%llu) n=%u", head,
                    (unsigned long long)m->pos, ZXID(m->zxid), m->n);
  case ZAB_MSG_TRUNC:
    return snprintf(buf, len, "TRUNC %s to=%llu(%llu:%llu)", head, (unsigned long long)m->pos,
                    ZXID(m->zxid));
  case ZAB_MSG_SNAP:
    return snprintf(buf, len, "SNAP %s index=%llu(%llu:%llu) bytes=%llu+%zu/%llu", head,
                    (unsigned long long)m->pos, ZXID(m->zxid), (unsigned long long)m->offset,
                    m->items_len, (unsigned long long)m->length);
  case ZAB_MSG_NEWLEADER:
    return snprintf(buf, len, "NEWLEADER %s last=%llu:%llu len=%llu", head, ZXID(m->zxid),
                    (unsigned long long)m->length);
  case ZAB_MSG_PROPOSAL: {
    zab_item_iter it;
    zab_item first = {0}; /* a PROPOSAL has at least one (zab_msg_decode) */
    zab_item_iter_init(&it, m);
    zab_item_next(&it, &first);
    zab_conf c;
    if (first.type == ZAB_ENTRY_CONFIG &&
        zab_conf_decode(first.data, first.len, CTK_MAX_NODES, &c) == 0)
      return snprintf(buf, len,
                      "PROPOSAL %s zxid=%llu:%llu pos=%llu n=%u reconfig voters=%#x "
                      "learners=%#x",
                      head, ZXID(first.zxid), (unsigned long long)m->pos, m->n, c.voters,
                      c.learners);
    return snprintf(buf, len, "PROPOSAL %s zxid=%llu:%llu pos=%llu n=%u", head, ZXID(first.zxid),
                    (unsigned long long)m->pos, m->n);
  }
  case ZAB_MSG_COMMIT: return snprintf(buf, len, "COMMIT %s zxid=%llu:%llu", head, ZXID(m->zxid));
  default: return snprintf(buf, len, "PING %s commit=%llu:%llu", head, ZXID(m->zxid));
  }
}

int zab_describe(const uint8_t *bytes, size_t len, char *buf, size_t buf_len) {
  zab_msg m;
  if (zab_msg_decode(bytes, len, &m) != CTK_OK) return CTK_ERR_MALFORMED;
  int w;
  switch (m.type) {
  case ZAB_MSG_NOTIFICATION:
    w = snprintf(buf, buf_len, "NOTIFICATION round=%llu %s vote=n%d(e=%llu last=%llu:%llu)",
                 (unsigned long long)m.round, state_name(m.state), m.vote.leader,
                 (unsigned long long)m.vote.epoch, ZXID(m.vote.zxid));
    break;
  case ZAB_MSG_FOLLOWERINFO:
    w = snprintf(buf, buf_len, "FOLLOWERINFO accepted=%llu%s", (unsigned long long)m.epoch,
                 m.want_snap ? " want-snap" : "");
    break;
  case ZAB_MSG_ACKEPOCH:
    w = snprintf(buf, buf_len, "ACKEPOCH e=%llu current=%llu last=%llu:%llu len=%llu%s",
                 (unsigned long long)m.epoch, (unsigned long long)m.current_epoch, ZXID(m.zxid),
                 (unsigned long long)m.length, m.counts ? "" : " (acked elsewhere)");
    break;
  case ZAB_MSG_ACK:
    w = snprintf(buf, buf_len, "ACK e=%llu zxid=%llu:%llu", (unsigned long long)m.epoch,
                 ZXID(m.zxid));
    break;
  case ZAB_MSG_FORWARD: w = snprintf(buf, buf_len, "FORWARD n=%u", m.n); break;
  case ZAB_MSG_SYNC: w = snprintf(buf, buf_len, "SYNC id=%llu", (unsigned long long)m.pos); break;
  case ZAB_MSG_SYNC_REPLY:
    w = snprintf(buf, buf_len, "SYNC_REPLY id=%llu last=%llu:%llu", (unsigned long long)m.pos,
                 ZXID(m.zxid));
    break;
  default: w = describe_session(&m, buf, buf_len); break;
  }
  return w < 0 ? CTK_ERR_MALFORMED : w;
}
