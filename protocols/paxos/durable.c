/* durable.c: the persisted records of Paxos's acceptors, and recovery from them.
 *
 * From "Paxos Made Simple": "an acceptor needs to remember only the highest-numbered proposal
 * that it has ever accepted and the number of the highest-numbered prepare request to which it
 * has responded ... even if it fails and then restarts." Per slot, appended as they change:
 *
 *   record   = payload_len u32, crc32c(payload) u32, crc32c(the 8 bytes before) u32, payload
 *   payload  = version u8, type u8, fields
 *   PROMISE    slot u64, ballot u64
 *   ACCEPT     slot u64, ballot u64, value blob (also a promise of ballot)
 *   CHOSEN     slot u64, 0 u64, value blob: learned chosen, so a restart need not learn it again
 *   SNAPSHOT   index u64, base u64, state machine blob (snapshot.c): slots 1..index applied,
 *              1..base discarded; only ever first, in a full rewrite
 *
 * The framing is Raft's (protocols/raft/durable.c): a last record that is incomplete or fails its
 * CRC was never synced, so nothing was sent on its account, and it is dropped; a bad record with
 * more records behind it is corruption. */
#include <string.h>

#include "common/record.h"
#include "paxos_internal.h"

#define DURABLE_VERSION 2
enum { REC_PROMISE = 1, REC_ACCEPT = 2, REC_CHOSEN = 3, REC_SNAPSHOT = 4 };

void paxos_persist_promise(paxos *p, uint64_t slot, uint64_t ballot) {
  size_t pos = record_begin(&p->persist, DURABLE_VERSION, REC_PROMISE);
  wire_put_u64(&p->persist, slot);
  wire_put_u64(&p->persist, ballot);
  record_end(&p->persist, pos);
}

static void put_value(paxos *p, uint8_t type, uint64_t slot, uint64_t ballot, const uint8_t *v,
                      size_t len) {
  size_t pos = record_begin(&p->persist, DURABLE_VERSION, type);
  wire_put_u64(&p->persist, slot);
  wire_put_u64(&p->persist, ballot);
  wire_put_blob(&p->persist, v, len);
  record_end(&p->persist, pos);
}

void paxos_persist_accept(paxos *p, uint64_t slot, uint64_t ballot, const uint8_t *v, size_t len) {
  put_value(p, REC_ACCEPT, slot, ballot, v, len);
}

void paxos_persist_chosen(paxos *p, uint64_t slot, const uint8_t *v, size_t len) {
  put_value(p, REC_CHOSEN, slot, 0, v, len);
}

/* After a torn tail, records appended behind the garbage would be lost: rewrite everything. */
void paxos_persist_replace_all(paxos *p) {
  wire_writer_reset(&p->persist);
  p->persist_replace = 1;
  if (p->snap.held.index)
    put_value(p, REC_SNAPSHOT, p->snap.held.index, p->base, p->snap.held.data, p->snap.held.len);
  for (uint64_t i = p->base + 1; i <= p->base + p->n_slots; i++) {
    const paxos_slot *s = paxos_slot_at(p, i);
    if (s->accepted_ballot)
      paxos_persist_accept(p, i, s->accepted_ballot, s->accepted.data, s->accepted.len);
    if (s->promised > s->accepted_ballot) paxos_persist_promise(p, i, s->promised);
    if (s->chosen) paxos_persist_chosen(p, i, s->value.data, s->value.len);
  }
}

static int apply_record(paxos *p, const uint8_t *payload, size_t len) {
  wire_reader r;
  wire_reader_init(&r, payload, len);
  uint8_t version = wire_get_u8(&r);
  uint8_t type = wire_get_u8(&r);
  uint64_t slot = wire_get_u64(&r);
  uint64_t ballot = wire_get_u64(&r);
  size_t vlen = 0;
  const uint8_t *v = NULL;
  if (type != REC_PROMISE)
    v = wire_get_blob(&r, type == REC_SNAPSHOT ? PAXOS_MAX_SNAPSHOT : CTK_MAX_COMMAND_BYTES, &vlen);
  if (!wire_reader_done(&r) || version != DURABLE_VERSION || type < REC_PROMISE ||
      type > REC_SNAPSHOT)
    return CTK_ERR_CORRUPT;
  if (type == REC_SNAPSHOT) return paxos_snap_apply_record(p, slot, ballot, v, vlen);
  if (slot <= p->base && slot > 0) return CTK_OK; /* covered by the snapshot */
  if (type == REC_CHOSEN) {
    paxos_slot *s = ballot == 0 ? paxos_slot_get(p, slot) : NULL;
    if (ballot != 0 || slot == 0 || slot >= PAXOS_MAX_SLOT) return CTK_ERR_CORRUPT;
    if (!s) return CTK_ERR_NOMEM;
    if (s->chosen) return CTK_ERR_CORRUPT; /* chosen once */
    if (paxos_value_set(p, &s->value, v, vlen) != 0) return CTK_ERR_NOMEM;
    s->chosen = 1;
    if (slot >= p->next_slot) p->next_slot = slot + 1;
    return CTK_OK;
  }
  if (slot == 0 || slot >= PAXOS_MAX_SLOT || ballot == 0 ||
      paxos_round(ballot) >= PAXOS_MAX_ROUND || (int)(ballot & 0xff) >= p->n)
    return CTK_ERR_CORRUPT;
  paxos_slot *s = paxos_slot_get(p, slot);
  if (!s) return CTK_ERR_NOMEM;
  if (ballot < s->promised) return CTK_ERR_CORRUPT; /* promises never go back */
  s->promised = ballot;
  if (type == REC_ACCEPT) {
    if (paxos_value_set(p, &s->accepted, v, vlen) != 0) return CTK_ERR_NOMEM;
    s->accepted_ballot = ballot;
  }
  paxos_see_ballot(p, ballot);
  if (slot >= p->next_slot) p->next_slot = slot + 1;
  return CTK_OK;
}

/* Replays the records into the (fresh) instance. On error the caller discards the instance's
 * slots. */
static int replay_one(void *p, const uint8_t *payload, size_t len) {
  return apply_record(p, payload, len);
}

int paxos_recover(paxos *p, const uint8_t *bytes, size_t len, int *torn_tail) {
  return record_replay(bytes, len, replay_one, p, torn_tail);
}
