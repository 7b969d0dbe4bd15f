/* sim_check.c: the safety invariants the simulator checks after every step, for every protocol:
 *   - commit agreement: no two nodes commit different commands at the same position (protocols
 *     with CTK_PROTO_TOTAL_ORDER), and each node commits positions 1, 2, 3, ... in order;
 *   - committed prefixes never change: a node's commit index never moves backwards, and a position
 *     once committed is only ever committed again with the same command;
 *   - election safety: at most one leader per term (protocols with CTK_PROTO_LEADERS);
 *   - nothing acknowledged is lost: every operation a client saw answered is in the agreed log
 *     (or, without a total order, was executed by some node);
 *   - the per-key execution order of sim_order.c, for every protocol.
 * A violation stops the run and is reported with the seed that replays it. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

/* ---- at most one leader per term: an open-addressing map term -> leader ---- */

static sim_term_leader *term_slot(ctk_simulator *self, uint64_t term) {
  if ((self->terms_n + 1) * 2 > self->terms_cap) {
    size_t cap = self->terms_cap ? self->terms_cap * 2 : 256;
    sim_term_leader *terms = calloc(cap, sizeof *terms);
    if (!terms) return NULL;
    for (size_t i = 0; i < self->terms_cap; i++) {
      if (!self->terms[i].term) continue;
      size_t j = (size_t)(self->terms[i].term * 0x9E3779B97F4A7C15ull) & (cap - 1);
      while (terms[j].term) j = (j + 1) & (cap - 1);
      terms[j] = self->terms[i];
    }
    free(self->terms);
    self->terms = terms;
    self->terms_cap = cap;
  }
  size_t j = (size_t)(term * 0x9E3779B97F4A7C15ull) & (self->terms_cap - 1);
  while (self->terms[j].term && self->terms[j].term != term) j = (j + 1) & (self->terms_cap - 1);
  return &self->terms[j];
}

void sim_status(const ctk_simulator *self, int i, ctk_status *st) {
  memset(st, 0xA5, sizeof *st);
  self->proto->status(self->nodes[i].proto, st);
}

void sim_check_status(ctk_simulator *self, int node, const ctk_status *st) {
  sim_node *n = &self->nodes[node];
  /* Every field is the protocol's to set (protocol.h): members, learners and snapshot_index too,
   * 0 when it has no membership changes or snapshots. */
  uint32_t outside = self->n >= 32 ? 0 : ~0u << self->n;
  if ((st->members | st->learners) & outside || st->snapshot_index > st->log_length ||
      (st->role != CTK_ROLE_FOLLOWER && st->role != CTK_ROLE_CANDIDATE &&
       st->role != CTK_ROLE_LEADER && st->role != CTK_ROLE_NONE))
    return sim_violation(self,
                         "n%d: status left a field unset or out of range (role %d, members %#x, "
                         "learners %#x, snapshot index %" PRIu64 ", log length %" PRIu64 ")",
                         node, (int)st->role, st->members, st->learners, st->snapshot_index,
                         st->log_length);
  if (st->term > self->stats.max_term) self->stats.max_term = st->term;
  uint64_t held = st->log_length > st->snapshot_index ? st->log_length - st->snapshot_index : 0;
  if (held > self->stats.log_held_max) self->stats.log_held_max = held;
  if (st->commit_index < n->last_commit_status)
    sim_violation(self, "n%d: commit index moved backwards from %" PRIu64 " to %" PRIu64, node,
                  n->last_commit_status, st->commit_index);
  n->last_commit_status = st->commit_index;
  if (st->members || st->learners) sim_admin_note_members(self, node, st);
  if (!(self->proto->flags & CTK_PROTO_LEADERS) || st->role != CTK_ROLE_LEADER) return;
  if (n->led_term != st->term) {
    n->led_term = st->term;
    self->stats.leader_changes++;
    /* 0 means "never": a leader from the very start (VR's first primary) counts as 1 µs. */
    if (!self->stats.first_leader_us) self->stats.first_leader_us = self->now_us ? self->now_us : 1;
    sim_trace(self, "n%d LEADER of term %" PRIu64, node, st->term);
    sim_chase_leader(self, node);
  }
  sim_term_leader *slot = term_slot(self, st->term);
  if (!slot) return sim_violation(self, "simulator out of memory");
  if (!slot->term) {
    slot->term = st->term;
    slot->leader = node;
    self->terms_n++;
  } else if (slot->leader != node) {
    sim_violation(self, "election safety: n%d and n%d are both leaders of term %" PRIu64,
                  slot->leader, node, st->term);
  }
}

/* ---- commit agreement ---- */

void sim_check_commit(ctk_simulator *self, int node, uint64_t index, const uint8_t *data,
                      uint32_t len) {
  sim_node *n = &self->nodes[node];
  if (!(self->proto->flags & CTK_PROTO_TOTAL_ORDER)) {
    if (index != n->committed + 1)
      return sim_violation(self, "n%d committed index %" PRIu64 " right after %" PRIu64, node,
                           index, n->committed);
    n->committed = index;
    if (index > self->stats.max_commit) self->stats.max_commit = index;
    return;
  }
  if (index != n->committed + 1)
    return sim_violation(self, "n%d committed index %" PRIu64 " right after %" PRIu64, node, index,
                         n->committed);
  n->committed = index;
  if (index > self->stats.max_commit) self->stats.max_commit = index;
  uint64_t hash = XXH3_64bits(data, len);
  if (index <= self->log_len) {
    const sim_commit_record *r = &self->log[index - 1];
    if (r->hash != hash || r->len != len || (len && memcmp(r->data, data, len)))
      sim_safety_violation(
          self, "agreement: n%d committed a different command at index %" PRIu64 " than n%d did",
          node, index, r->first_node);
    return;
  }
  if (self->log_len == self->log_cap) {
    size_t cap = self->log_cap ? self->log_cap * 2 : 1024;
    sim_commit_record *log = realloc(self->log, cap * sizeof *log);
    if (!log) return sim_violation(self, "simulator out of memory");
    self->log = log;
    self->log_cap = cap;
  }
  sim_commit_record *r = &self->log[self->log_len++];
  r->hash = hash;
  r->len = len;
  r->first_node = node;
  r->data = malloc(len ? len : 1);
  if (!r->data) return sim_violation(self, "simulator out of memory");
  if (len) memcpy(r->data, data, len);
}

/* ---- nothing acknowledged is lost ---- */

void sim_note_acknowledged(ctk_simulator *self, int client, uint64_t seq) {
  if (self->n_acked == self->cap_acked) {
    size_t cap = self->cap_acked ? self->cap_acked * 2 : 1024;
    uint64_t *acked = realloc(self->acked, cap * sizeof *acked);
    if (!acked) return sim_violation(self, "simulator out of memory");
    self->acked = acked;
    self->cap_acked = cap;
  }
  self->acked[self->n_acked++] = (uint64_t)client << 40 | seq;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Protocols without a total order have no agreed log: what some node executed stands for it. */
void sim_check_acknowledged(ctk_simulator *self) {
  if (!self->n_acked) return;
  if (!(self->proto->flags & CTK_PROTO_TOTAL_ORDER)) {
    const uint64_t *executed;
    size_t n;
    sim_order_executed_sorted(self, &executed, &n);
    for (size_t i = 0; i < self->n_acked; i++) {
      if (!bsearch(&self->acked[i], executed, n, sizeof *executed, cmp_u64)) {
        sim_safety_violation(self,
                             "durability: client %" PRIu64 "'s request %" PRIu64
                             " was answered but no node executed it",
                             self->acked[i] >> 40, self->acked[i] & (((uint64_t)1 << 40) - 1));
        break;
      }
    }
    return;
  }
  uint64_t *in_log = malloc((self->log_len + 1) * sizeof *in_log);
  if (!in_log) return sim_violation(self, "simulator out of memory");
  size_t n = 0;
  char scratch[CTK_MAX_COMMAND_BYTES + 8];
  for (size_t i = 0; i < self->log_len; i++) {
    ctk_kv_command cmd;
    const sim_commit_record *r = &self->log[i];
    if (r->len && r->len <= CTK_MAX_COMMAND_BYTES && !ctk_kv_decode(r->data, r->len, &cmd, scratch))
      in_log[n++] = cmd.client_id << 40 | cmd.seq;
  }
  qsort(in_log, n, sizeof *in_log, cmp_u64);
  for (size_t i = 0; i < self->n_acked; i++) {
    if (!bsearch(&self->acked[i], in_log, n, sizeof *in_log, cmp_u64)) {
      sim_safety_violation(self,
                           "durability: client %" PRIu64 "'s request %" PRIu64
                           " was answered but is not in the committed log",
                           self->acked[i] >> 40, self->acked[i] & (((uint64_t)1 << 40) - 1));
      break;
    }
  }
  free(in_log);
}

void sim_check_free(ctk_simulator *self) {
  for (size_t i = 0; i < self->log_len; i++) free(self->log[i].data);
  free(self->log);
  free(self->terms);
  free(self->acked);
  sim_order_free(self);
}
