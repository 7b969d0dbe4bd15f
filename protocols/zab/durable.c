/* durable.c: what a ZAB node persists, and recovery from it.
 *
 * ZAB's durable state (the paper's f.p, f.a and h_f): the accepted epoch, the current epoch and
 * the history. Each is written before the message that depends on it leaves (the host syncs a
 * step's bytes before sending its messages): ACKEPOCH after the accepted epoch, the ACK of
 * NEWLEADER after the current epoch and the synchronized history, the ACK of a proposal after
 * the proposal. The bytes are CRC-framed records (protocols/common/record.h):
 *
 *   EPOCHS     accepted_epoch u64, accepted_leader u8 (255: none), current_epoch u64
 *   APPEND     first u64, n u32, n x (zxid u64, type u8, blob)   positions first .. first+n-1
 *   TRUNCATE   length u64                                  keep positions 1 .. length
 *   SNAPSHOT   the state machine snapshot, where the history resumes and the configuration in
 *              effect there (snapshot.c)
 *   COMMITTED  pos u64: the configuration entry at pos is committed (reconfig.c)
 *   FORCE      pos u64, voters u32, learners u32: an operator's forced configuration, in
 *              effect from pos on (reconfig.c)
 *
 * A snapshot taken or installed, a torn tail at start and a stream grown past four times the
 * live state are written as a fresh encoding of everything (persist_replace): EPOCHS, SNAPSHOT
 * records, APPEND records of the history after its compacted prefix, then FORCE and COMMITTED.
 * Version 2 added SNAPSHOT; version 3 the entry type, the configuration of SNAPSHOT, COMMITTED
 * and FORCE. Records of versions 1 and 2 are still read (their entries are client commands,
 * their configuration the initial one). */
#include <stdlib.h>
#include <string.h>

#include "common/record.h"
#include "zab_internal.h"

#define DURABLE_VERSION 3
enum {
  REC_EPOCHS = 1,
  REC_APPEND = 2,
  REC_TRUNCATE = 3,
  REC_SNAPSHOT = 4,
  REC_COMMITTED = 5,
  REC_FORCE = 6
};

void zab_persist_epochs(zab *z) {
  size_t pos = record_begin(&z->persist, DURABLE_VERSION, REC_EPOCHS);
  wire_put_u64(&z->persist, z->accepted_epoch);
  wire_put_u8(&z->persist, z->accepted_leader < 0 ? 255 : (uint8_t)z->accepted_leader);
  wire_put_u64(&z->persist, z->current_epoch);
  record_end(&z->persist, pos);
}

void zab_persist_append(zab *z, uint64_t first, uint64_t n) {
  while (n > 0) {
    uint64_t k = n < ZAB_MAX_PER_MSG ? n : ZAB_MAX_PER_MSG;
    size_t pos = record_begin(&z->persist, DURABLE_VERSION, REC_APPEND);
    wire_put_u64(&z->persist, first);
    wire_put_u32(&z->persist, (uint32_t)k);
    zab_encode_entries(&z->persist, &z->hist, first, (uint32_t)k);
    record_end(&z->persist, pos);
    first += k;
    n -= k;
  }
}

void zab_persist_truncate(zab *z) {
  size_t pos = record_begin(&z->persist, DURABLE_VERSION, REC_TRUNCATE);
  wire_put_u64(&z->persist, z->hist.n);
  record_end(&z->persist, pos);
}

void zab_persist_conf_committed(zab *z) {
  size_t pos = record_begin(&z->persist, DURABLE_VERSION, REC_COMMITTED);
  wire_put_u64(&z->persist, z->conf_committed_pos);
  record_end(&z->persist, pos);
}

void zab_persist_force(zab *z) {
  size_t pos = record_begin(&z->persist, DURABLE_VERSION, REC_FORCE);
  wire_put_u64(&z->persist, z->forced_pos);
  wire_put_u32(&z->persist, z->forced_conf.voters);
  wire_put_u32(&z->persist, z->forced_conf.learners);
  record_end(&z->persist, pos);
}

void zab_persist_replace_all(zab *z) {
  wire_writer_reset(&z->persist);
  z->persist_replace = 1;
  zab_persist_epochs(z);
  zab_persist_snapshot(z, &z->persist, DURABLE_VERSION, REC_SNAPSHOT);
  zab_persist_append(z, z->hist.base + 1, z->hist.n - z->hist.base);
  if (z->forced) zab_persist_force(z);
  if (z->conf_committed_pos > z->hist.base) zab_persist_conf_committed(z);
}

void zab_persist_maybe_compact(zab *z) {
  uint64_t total = z->persist_replace ? z->persist.len : z->durable_bytes + z->persist.len;
  uint64_t live = z->hist.bytes + z->snap_len + 64;
  if (total > ZAB_COMPACT_MIN && total > 4 * live) zab_persist_replace_all(z);
}

static int apply_append(zab *z, wire_reader *r, uint8_t version) {
  uint64_t first = wire_get_u64(r);
  uint32_t n = wire_get_u32(r);
  if (!wire_reader_ok(r) || first != z->hist.n + 1 || n > ZAB_MAX_PER_MSG ||
      first + n >= ZAB_MAX_POSITION)
    return CTK_ERR_CORRUPT;
  for (uint32_t i = 0; i < n; i++) {
    uint64_t zxid = wire_get_u64(r);
    uint8_t type = version >= 3 ? wire_get_u8(r) : ZAB_ENTRY_COMMAND;
    size_t len;
    const uint8_t *data = wire_get_blob(r, CTK_MAX_COMMAND_BYTES, &len);
    zab_conf c;
    if (!wire_reader_ok(r) || zxid <= zab_history_last(&z->hist) ||
        zab_zxid_epoch(zxid) > ZAB_MAX_EPOCH || type > ZAB_ENTRY_CONFIG ||
        (type == ZAB_ENTRY_CONFIG && zab_conf_decode(data, len, z->n, &c) != 0))
      return CTK_ERR_CORRUPT;
    if (zab_history_append(&z->hist, zxid, type, data, len) != 0) return CTK_ERR_NOMEM;
  }
  return wire_reader_done(r) ? CTK_OK : CTK_ERR_CORRUPT;
}

static int apply_record(void *ctx, const uint8_t *payload, size_t len) {
  zab *z = ctx;
  wire_reader r;
  wire_reader_init(&r, payload, len);
  uint8_t version = wire_get_u8(&r);
  if (version < 1 || version > DURABLE_VERSION) return CTK_ERR_CORRUPT;
  switch (wire_get_u8(&r)) {
  case REC_EPOCHS: {
    uint64_t accepted = wire_get_u64(&r);
    uint8_t leader = wire_get_u8(&r);
    uint64_t current = wire_get_u64(&r);
    if (!wire_reader_done(&r) || accepted > ZAB_MAX_EPOCH || current > accepted ||
        (leader != 255 && leader >= z->n))
      return CTK_ERR_CORRUPT;
    z->accepted_epoch = accepted;
    z->accepted_leader = leader == 255 ? ZAB_NO_NODE : leader;
    z->current_epoch = current;
    return CTK_OK;
  }
  case REC_APPEND: return apply_append(z, &r, version);
  case REC_SNAPSHOT:
    if (version == 1) return CTK_ERR_CORRUPT;
    return zab_snapshot_recover_record(z, &r, version);
  case REC_TRUNCATE: {
    uint64_t n = wire_get_u64(&r);
    if (!wire_reader_done(&r) || n > z->hist.n || n < z->snap_index || n < z->hist.base)
      return CTK_ERR_CORRUPT;
    zab_history_truncate(&z->hist, n);
    if (z->forced && z->forced_pos > n) z->forced_pos = n;
    if (z->conf_committed_pos > n) z->conf_committed_pos = 0;
    return CTK_OK;
  }
  case REC_COMMITTED: {
    uint64_t pos = wire_get_u64(&r);
    if (version < 3 || !wire_reader_done(&r) || pos > z->hist.n) return CTK_ERR_CORRUPT;
    z->conf_committed_pos = pos;
    return CTK_OK;
  }
  case REC_FORCE: {
    uint64_t pos = wire_get_u64(&r);
    zab_conf c = {wire_get_u32(&r), 0};
    c.learners = wire_get_u32(&r);
    if (version < 3 || !wire_reader_done(&r) || pos > z->hist.n || pos < z->hist.base ||
        !zab_conf_valid(c, z->n))
      return CTK_ERR_CORRUPT;
    z->forced = 1;
    z->forced_pos = pos;
    z->forced_conf = c;
    return CTK_OK;
  }
  default: return CTK_ERR_CORRUPT;
  }
}

int zab_recover(zab *z, const uint8_t *bytes, size_t len, int *torn_tail) {
  zab_conf initial = z->base_conf;
  int rc = record_replay(bytes, len, apply_record, z, torn_tail);
  if (rc == CTK_OK) rc = zab_snapshot_recover_done(z);
  if (rc != CTK_OK) {
    zab_history_free(&z->hist);
    zab_snapshot_free(z);
    z->snap_index = z->snap_zxid = 0;
    z->accepted_epoch = z->current_epoch = 0;
    z->accepted_leader = ZAB_NO_NODE;
    z->base_conf = initial;
    z->forced = 0;
    z->forced_pos = z->conf_committed_pos = 0;
  }
  zab_conf_refresh(z);
  return rc;
}
