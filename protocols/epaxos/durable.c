/* durable.c: the persisted state of EPaxos and recovery from it.
 *
 * Each change to an instance (a promise, preaccepted or accepted attributes, the commit) appends
 * a snapshot of the whole instance, framed as protocols/common/record.h says:
 *
 *   INSTANCE  leader u8, num u64, status u8, eq u8, ballot u64, vballot u64, has_cmd u8,
 *             seq u64, n_deps u8, deps u64 * n_deps, cmd blob (a batch, batch.c)
 *
 * has_cmd 2 (version 5): the instance's command is the one of its previous record, and the blob
 * is empty. A node writes it when an earlier record of these durable bytes holds the command (a
 * commit after the PreAccept: each batch was written twice before). The bytes are a log that
 * loses only a tail, so the earlier record is there whenever this one is; a rewrite (snapshot,
 * torn tail) writes every command in full again.
 *
 * Replaying keeps the last snapshot of each instance (a committed one stays committed). This is
 * what the paper asks a replica to remember across a crash: its promises, what it preaccepted or
 * accepted, and what it knows committed; the execution state is volatile, and a restarted node
 * executes every committed command again from the first, or from the snapshot's cut when the
 * bytes start with one (prune.c: SNAPSHOT records, then the instances past the pruned floors).
 * Version 2 added SNAPSHOT; version 3 made the command a batch; version 4 added the snapshot's
 * base attributes (prune.c); version 5 the command by reference. Older bytes are still read:
 * their one command becomes a batch of one, and an older snapshot's base is its pruned floors. */
#include <string.h>

#include "common/record.h"
#include "ep_internal.h"

#define DURABLE_VERSION 5
enum { REC_INSTANCE = 1, REC_SNAPSHOT = 2 };
enum { CMD_NONE = 0, CMD_HERE = 1, CMD_AS_BEFORE = 2 }; /* has_cmd */

/* Appends the instance: its command by reference when these durable bytes already hold it. */
void ep_persist_inst(epaxos *p, ep_inst *in) {
  size_t pos = record_begin(&p->persist, DURABLE_VERSION, REC_INSTANCE);
  wire_writer *w = &p->persist;
  int as_before = in->has_cmd && in->cmd_durable;
  wire_put_u8(w, (uint8_t)in->leader);
  wire_put_u64(w, in->num);
  wire_put_u8(w, in->status);
  wire_put_u8(w, in->eq);
  wire_put_u64(w, in->ballot);
  wire_put_u64(w, in->vballot);
  wire_put_u8(w, !in->has_cmd ? CMD_NONE : as_before ? CMD_AS_BEFORE : CMD_HERE);
  wire_put_u64(w, in->seq);
  int n_deps = in->has_cmd ? p->n : 0;
  wire_put_u8(w, (uint8_t)n_deps);
  for (int q = 0; q < n_deps; q++) wire_put_u64(w, in->deps[q]);
  wire_put_blob(w, in->cmd, as_before ? 0 : in->len);
  record_end(w, pos);
  if (in->has_cmd) in->cmd_durable = 1;
}

/* After a torn tail, records appended behind the garbage would be lost: rewrite everything (the
 * same after a snapshot, without what it lets go). */
void ep_persist_replace_all(epaxos *p) {
  wire_writer_reset(&p->persist);
  p->persist_replace = 1;
  ep_persist_snapshot(p, DURABLE_VERSION, REC_SNAPSHOT);
  for (int q = 0; q < p->n; q++)
    for (uint64_t i = p->pruned[q] + 1; i <= p->known[q]; i++) {
      ep_inst *in = ep_inst_find(p, q, i);
      if (!in) continue;
      in->cmd_durable = 0; /* the new bytes hold no command yet: each is written in full */
      if (in->status != EP_NONE || in->ballot) ep_persist_inst(p, in);
    }
}

static int apply_record(epaxos *p, const uint8_t *payload, size_t len) {
  wire_reader r;
  wire_reader_init(&r, payload, len);
  uint8_t version = wire_get_u8(&r), type = wire_get_u8(&r);
  if (version >= 2 && version <= DURABLE_VERSION && type == REC_SNAPSHOT)
    return ep_snapshot_recover_record(p, &r, version);
  uint8_t leader = wire_get_u8(&r);
  uint64_t num = wire_get_u64(&r);
  uint8_t status = wire_get_u8(&r), eq = wire_get_u8(&r);
  uint64_t ballot = wire_get_u64(&r), vballot = wire_get_u64(&r);
  uint8_t has_cmd = wire_get_u8(&r);
  uint64_t seq = wire_get_u64(&r);
  uint8_t n_deps = wire_get_u8(&r);
  uint64_t deps[CTK_MAX_NODES] = {0};
  for (int q = 0; q < n_deps && q < CTK_MAX_NODES; q++) deps[q] = wire_get_u64(&r);
  size_t cmd_len = 0;
  const uint8_t *cmd = wire_get_blob(&r, EP_MAX_PAYLOAD, &cmd_len);
  if (!wire_reader_done(&r) || version < 1 || version > DURABLE_VERSION || type != REC_INSTANCE)
    return CTK_ERR_CORRUPT;
  uint8_t one[2 + 2 + CTK_MAX_COMMAND_BYTES];
  if (version < 3 && cmd_len) { /* one command: a batch of one */
    if (cmd_len > CTK_MAX_COMMAND_BYTES) return CTK_ERR_CORRUPT;
    cmd_len = ep_batch_put(one, 0, cmd, cmd_len);
    cmd = one;
  }
  if (ep_batch_check(cmd, cmd_len) != 0) return CTK_ERR_CORRUPT;
  int with_cmd = has_cmd != CMD_NONE;
  if (leader >= p->n || num == 0 || num >= EP_MAX_INST || status > EP_COMMITTED || eq > 1 ||
      has_cmd > (version >= 5 ? CMD_AS_BEFORE : CMD_HERE) || n_deps != (with_cmd ? p->n : 0) ||
      (has_cmd != CMD_HERE && cmd_len) || (status != EP_NONE) != with_cmd ||
      ep_round(ballot) >= EP_MAX_ROUND || ep_ballot_node(ballot) >= p->n ||
      ep_ballot_node(vballot) >= p->n || seq >= EP_MAX_INST)
    return CTK_ERR_CORRUPT;
  for (int q = 0; q < n_deps; q++)
    if (deps[q] >= EP_MAX_INST) return CTK_ERR_CORRUPT;
  if (num <= p->pruned[leader]) return CTK_ERR_CORRUPT; /* the snapshot let it go */
  ep_inst *in = ep_inst_get(p, leader, num);
  if (!in) return p->out_of_memory ? CTK_ERR_NOMEM : CTK_ERR_CORRUPT;
  ep_see_ballot(p, ballot);
  ep_note_known(p, leader, num);
  if (leader == p->id && num >= p->next_own) p->next_own = num + 1;
  if (in->status == EP_COMMITTED) return CTK_OK; /* a commit is final */
  if (has_cmd == CMD_AS_BEFORE) {
    if (!in->has_cmd) return CTK_ERR_CORRUPT; /* no earlier record holds its command */
    cmd = in->cmd;
    cmd_len = in->len;
  }
  if (with_cmd && ep_inst_set(p, in, 1, cmd, cmd_len, NULL, seq, deps) != 0) return CTK_ERR_NOMEM;
  if (with_cmd) in->cmd_durable = 1;
  in->status = status;
  in->eq = eq;
  in->ballot = ballot;
  in->vballot = vballot;
  if (status == EP_COMMITTED) {
    in->committed_us = p->now_us;
    while (1) {
      const ep_inst *next = ep_inst_find(p, leader, p->committed[leader] + 1);
      if (!next || next->status != EP_COMMITTED) break;
      p->committed[leader]++;
    }
  }
  return CTK_OK;
}

static int replay_one(void *p, const uint8_t *payload, size_t len) {
  return apply_record(p, payload, len);
}

int ep_recover(epaxos *p, const uint8_t *bytes, size_t len, int *torn_tail) {
  int rc = record_replay(bytes, len, replay_one, p, torn_tail);
  return rc == CTK_OK ? ep_snapshot_recover_done(p) : rc;
}
