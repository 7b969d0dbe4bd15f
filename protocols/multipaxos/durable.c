/* durable.c: the acceptor's persisted records, and recovery from them.
 *
 * "Paxos Made Simple": an acceptor must remember the highest prepare it answered and the
 * proposals it accepted, even if it fails and restarts. The durable bytes are CRC-framed records
 * in the format of protocols/raft/durable.c:
 *
 *   record    = payload_len u32, crc32c(payload) u32, crc32c(the 8 bytes before) u32, payload
 *   payload   = version u8, type u8, fields
 *   PROMISED    ballot u64
 *   ACCEPTED    ballot u64, first_slot u64, epoch u64, n u32, n x (kind u8, value blob)
 *   SNAPSHOT    ballot 0 u64, index u64, base u64, voters u32, learners u32, epoch u64, blob
 *               (snapshot.c): the state machine through slot index and the configuration after
 *               it; slots 1..base are gone (only ever written first, by a full rewrite)
 *   BASE        ballot 0 u64, at u64, voters u32, learners u32, epoch u64, forced u8
 *               (membership.c): the configuration after slot `at`, written by every full
 *               rewrite and by a forced reconfiguration
 *   COMMIT      ballot 0 u64, commit u64 (membership.c): slots 1..commit are chosen (their
 *               values are the ones held: a higher ballot proposes the chosen value again);
 *               written when the chosen prefix passes a configuration command, so that a node
 *               that restarts still knows the configuration it votes in
 *
 * Version 3 (membership changes: kinds, epochs and configurations); the bytes of an older
 * version are refused (CTK_ERR_CORRUPT) rather than guessed at.
 *
 * A last record that is incomplete or fails its CRC was never synced and is dropped (a torn
 * tail); a bad record with more records behind it is corruption. When the stream grows past four
 * times the live state, the next step replaces it with a fresh encoding (persist_replace). */
#include <stdlib.h>
#include <string.h>

#include "common/record.h"
#include "mp_internal.h"

#define DURABLE_VERSION 3
enum { REC_PROMISED = 1, REC_ACCEPTED = 2, REC_SNAPSHOT = 3, REC_BASE = 4, REC_COMMIT = 5 };

void mp_persist_promise(mp *p) {
  size_t pos = record_begin(&p->persist, DURABLE_VERSION, REC_PROMISED);
  wire_put_u64(&p->persist, p->promised);
  record_end(&p->persist, pos);
}

void mp_persist_base(mp *p) {
  size_t pos = record_begin(&p->persist, DURABLE_VERSION, REC_BASE);
  wire_put_u64(&p->persist, 0);
  wire_put_u64(&p->persist, p->base_at);
  wire_put_u32(&p->persist, p->base_conf.voters);
  wire_put_u32(&p->persist, p->base_conf.learners);
  wire_put_u64(&p->persist, p->base_conf.epoch);
  wire_put_u8(&p->persist, p->forced ? 1 : 0);
  record_end(&p->persist, pos);
}

void mp_persist_commit(mp *p) {
  size_t pos = record_begin(&p->persist, DURABLE_VERSION, REC_COMMIT);
  wire_put_u64(&p->persist, 0);
  wire_put_u64(&p->persist, p->commit_index);
  record_end(&p->persist, pos);
  p->durable_commit = p->commit_index;
}

/* Slots [first, first + n) must share one ballot and one epoch; those at or below base are
 * gone. */
void mp_persist_accepted(mp *p, uint64_t first, uint64_t n) {
  if (first <= p->base) {
    uint64_t skip = p->base + 1 - first;
    if (skip >= n) return;
    first += skip;
    n -= skip;
  }
  while (n > 0) {
    uint64_t k = n < MP_MAX_PER_MSG ? n : MP_MAX_PER_MSG;
    size_t pos = record_begin(&p->persist, DURABLE_VERSION, REC_ACCEPTED);
    wire_put_u64(&p->persist, MP_SLOT(p, first)->ballot);
    wire_put_u64(&p->persist, first);
    wire_put_u64(&p->persist, MP_SLOT(p, first)->epoch);
    wire_put_u32(&p->persist, (uint32_t)k);
    for (uint64_t s = first; s < first + k; s++) {
      wire_put_u8(&p->persist, MP_SLOT(p, s)->kind);
      wire_put_blob(&p->persist, MP_SLOT(p, s)->data, MP_SLOT(p, s)->len);
    }
    record_end(&p->persist, pos);
    first += k;
    n -= k;
  }
}

void mp_persist_replace_all(mp *p) {
  wire_writer_reset(&p->persist);
  p->persist_replace = 1;
  mp_persist_promise(p);
  if (p->snap.held.index) {
    size_t pos = record_begin(&p->persist, DURABLE_VERSION, REC_SNAPSHOT);
    wire_put_u64(&p->persist, 0);
    mp_snap_persist(p);
    record_end(&p->persist, pos);
  }
  mp_persist_base(p);
  uint64_t s = p->base + 1;
  while (s <= p->n_slots) {
    uint64_t e = s;
    if (MP_SLOT(p, s)->ballot == 0) {
      s++;
      continue;
    }
    while (e + 1 <= p->n_slots && MP_SLOT(p, e + 1)->ballot == MP_SLOT(p, s)->ballot &&
           MP_SLOT(p, e + 1)->epoch == MP_SLOT(p, s)->epoch)
      e++;
    mp_persist_accepted(p, s, e - s + 1);
    s = e + 1;
  }
  if (p->durable_commit > p->snap.held.index) mp_persist_commit(p);
}

void mp_persist_maybe_compact(mp *p) {
  uint64_t total = p->persist_replace ? p->persist.len : p->durable_bytes + p->persist.len;
  uint64_t live = p->live_bytes + p->snap.held.len + 64 + (p->n_slots - p->base) * 8;
  if (total > MP_COMPACT_MIN && total > 4 * live) mp_persist_replace_all(p);
}

static int apply_base(mp *p, wire_reader *r) {
  uint64_t at = wire_get_u64(r);
  mp_config c = {.voters = wire_get_u32(r), .learners = wire_get_u32(r)};
  c.epoch = wire_get_u64(r);
  uint8_t forced = wire_get_u8(r);
  uint32_t all = (uint32_t)((1ull << p->n) - 1);
  if (!wire_reader_done(r) || at >= MP_MAX_SLOT || c.epoch > at || forced > 1 || !c.voters ||
      (c.voters & c.learners) || ((c.voters | c.learners) & ~all))
    return CTK_ERR_CORRUPT;
  if (at < p->base_at) return CTK_OK; /* a snapshot's is newer */
  p->base_conf = c;
  p->base_at = at;
  p->forced = forced;
  return CTK_OK;
}

static int apply_record(mp *p, const uint8_t *b, size_t len) {
  wire_reader r;
  wire_reader_init(&r, b, len);
  if (wire_get_u8(&r) != DURABLE_VERSION) return CTK_ERR_CORRUPT;
  uint8_t type = wire_get_u8(&r);
  uint64_t ballot = wire_get_u64(&r);
  if (!wire_reader_ok(&r) || ballot >= MP_MAX_ROUND) return CTK_ERR_CORRUPT;
  if (type == REC_PROMISED) {
    if (!wire_reader_done(&r)) return CTK_ERR_CORRUPT;
    if (ballot > p->promised) p->promised = ballot;
    return CTK_OK;
  }
  if (type == REC_SNAPSHOT && ballot == 0) return mp_snap_apply_record(p, &r);
  if (type == REC_BASE && ballot == 0) return apply_base(p, &r);
  if (type == REC_COMMIT && ballot == 0) {
    uint64_t commit = wire_get_u64(&r);
    if (!wire_reader_done(&r) || commit >= MP_MAX_SLOT) return CTK_ERR_CORRUPT;
    if (commit > p->durable_commit) p->durable_commit = commit;
    return CTK_OK;
  }
  if (type != REC_ACCEPTED || ballot == 0) return CTK_ERR_CORRUPT;
  uint64_t first = wire_get_u64(&r);
  uint64_t epoch = wire_get_u64(&r);
  uint32_t n = wire_get_u32(&r);
  if (!wire_reader_ok(&r) || first < 1 || first + n >= MP_MAX_SLOT || n > MP_MAX_PER_MSG ||
      epoch >= first)
    return CTK_ERR_CORRUPT;
  if (n > 0 && first + n - 1 > p->base && mp_slots_reserve(p, first + n - 1) != 0)
    return CTK_ERR_NOMEM;
  for (uint32_t i = 0; i < n; i++) {
    uint8_t kind = wire_get_u8(&r);
    size_t vlen;
    const uint8_t *v = wire_get_blob(&r, CTK_MAX_COMMAND_BYTES, &vlen);
    mp_config c;
    if (!wire_reader_ok(&r) || kind > MP_KIND_CONFIG ||
        (kind == MP_KIND_CONFIG && mp_conf_decode(v, vlen, p->n, &c) != 0))
      return CTK_ERR_CORRUPT;
    if (first + i <= p->base) continue; /* covered by the snapshot */
    mp_slot *s = MP_SLOT(p, first + i);
    p->live_bytes -= s->ballot ? 12 + s->len : 0;
    if (mp_slot_put(s, ballot, epoch, kind, v, vlen) != 0) return CTK_ERR_NOMEM;
    p->live_bytes += 12 + vlen;
  }
  return wire_reader_done(&r) ? CTK_OK : CTK_ERR_CORRUPT;
}

/* Recovers into a fresh instance (no slots yet); on error the caller destroys nothing: the slots
 * read so far are freed here and the instance is left empty. */
static int replay_one(void *p, const uint8_t *payload, size_t len) {
  return apply_record(p, payload, len);
}

int mp_recover(mp *p, const uint8_t *bytes, size_t len, int *torn_tail) {
  int rc = record_replay(bytes, len, replay_one, p, torn_tail);
  if (rc != CTK_OK) {
    for (uint64_t i = 0; i < p->n_slots - p->base; i++) free(p->slots[i].data);
    if (p->slots) memset(p->slots, 0, p->cap_slots * sizeof *p->slots);
    p->n_slots = p->base = 0;
    mp_snap_free(p);
    p->promised = 0;
    p->live_bytes = 0;
  }
  return rc;
}
