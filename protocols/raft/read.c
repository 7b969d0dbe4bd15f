/* read.c: reads without a log write (option read_mode), answered through output.reads.
 *
 * Thesis 6.4, ReadIndex: "1. If the leader has not yet marked an entry from its current term
 * committed, it waits until it has done so. 2. The leader saves its current commit index in a
 * local variable readIndex. 3. The leader needs to make sure it hasn't been superseded by a newer
 * leader of which it is unaware. It issues a new round of heartbeats and waits for their
 * acknowledgments from a majority of the cluster. 4. The leader waits for its state machine to
 * advance at least as far as the readIndex." The round here is a ReadProbe carrying a round
 * number, so an answer to an older message can never confirm a newer read; every read waiting
 * when a round starts rides on it (batching), and reads arriving meanwhile wait for the next.
 *
 * Thesis 6.4.1, leases: "the leader would use the normal heartbeat mechanism to maintain a lease.
 * Once the leader's heartbeats were acknowledged by a majority of the cluster, it would extend its
 * lease to start + election timeout / clock drift bound, since the followers shouldn't time out
 * before then." The lease starts when the round was sent, lasts the minimum election timeout
 * divided by (1 + lease_drift_percent / 100), and relies on followers refusing to vote within a
 * minimum election timeout of hearing from the leader (thesis 4.2.3, which election.c does with
 * prevote on: lease mode requires it and check_quorum). A follower that crashed forgets that
 * promise, so in lease mode a node grants no vote for a minimum election timeout after it starts.
 * A read that finds no lease falls back to ReadIndex.
 *
 * Follower reads: any node that knows a leader answers from its own state at once. They may be
 * stale (by up to about an election timeout plus replication lag); the run must say it asked for
 * that (workload.stale_reads), and the checker then measures the staleness.
 *
 * Only commands whose footprint says they read (protocol.h) take these paths; a follower in
 * readindex or lease mode forwards reads through the log like any command. */
#include <stdlib.h>
#include <string.h>

#include "raft_internal.h"

#define RAFT_READ_MAX_ROUNDS_IN_FLIGHT 2

static int is_read(const uint8_t *data, size_t len) {
  ctk_footprint f = ctk_command_footprint(data, len);
  return f.known && !f.write;
}

/* ---- this step's answers ---- */

void raft_read_output_reset(raft *r) { ctk_readbox_reset(&r->reads.served); }

static void serve(raft *r, const uint8_t *data, size_t len) {
  ctk_readbox *b = &r->reads.served;
  if (ctk_readbox_add(b, data, len) != 0 || ctk_readbox_failed(b)) r->out_of_memory = 1;
}

void raft_read_output(raft *r, ctk_output *out) { ctk_readbox_output(&r->reads.served, out); }

void raft_read_free(raft *r) {
  raft_reads *rd = &r->reads;
  for (size_t i = 0; i < rd->n_pending; i++) free(rd->pending[i].data);
  free(rd->pending);
  ctk_readbox_free(&rd->served);
  memset(rd, 0, sizeof *rd);
}

/* ---- leadership rounds ---- */

static uint64_t lease_us(const raft *r) {
  return r->election_lo_us * 100 / (100 + (uint64_t)r->opt.lease_drift_percent);
}

static int lease_valid(const raft *r) {
  const raft_reads *rd = &r->reads;
  return r->role == RAFT_LEADER && rd->lease_term == r->term && r->now_us < rd->lease_until_us;
}

/* The leader has committed an entry of its own term, so its commit index covers every entry
 * any earlier leader committed (thesis 6.4, step 1). */
static int term_committed(const raft *r) {
  return r->role == RAFT_LEADER && raft_log_term_at(&r->log, r->commit_index) == r->term;
}

static void round_confirmed(raft *r, const raft_read_round *round) {
  raft_reads *rd = &r->reads;
  if (round->seq > rd->confirmed_seq || rd->round_term != r->term) rd->confirmed_seq = round->seq;
  rd->round_term = r->term;
  if (r->opt.read_mode == RAFT_READ_LEASE) {
    uint64_t until = round->sent_us + lease_us(r);
    if (rd->lease_term != r->term || until > rd->lease_until_us) rd->lease_until_us = until;
    rd->lease_term = r->term;
  }
}

static void start_round(raft *r) {
  raft_reads *rd = &r->reads;
  raft_read_round *round = &rd->rounds[++rd->round_seq % RAFT_READ_ROUNDS];
  *round = (raft_read_round){rd->round_seq, r->term, r->now_us, 1u << r->id};
  if (raft_membership_quorum(&r->conf, round->acks)) {
    round_confirmed(r, round);
    return;
  }
  uint32_t members = raft_membership_nodes(&r->conf);
  for (int i = 0; i < r->n; i++) {
    if (i == r->id || !(members >> i & 1)) continue;
    wire_writer *w = raft_send_begin(r, i);
    raft_encode_read_probe(w, 0, r->term, round->seq, 1);
    raft_send_end(r);
  }
}

/* A follower answers a probe as it would a heartbeat (Figure 2, AppendEntries step 1): a stale
 * leader learns the later term and steps down; the current one hears that it still leads, and
 * this node now counts as having heard from it (no vote for a minimum election timeout). */
void raft_read_recv_probe(raft *r, int from, const raft_msg *m) {
  int granted = m->term >= r->term;
  if (granted) {
    if (r->role == RAFT_LEADER && m->term == r->term) return; /* two leaders of a term: never */
    raft_become_follower(r, m->term, from);
    raft_note_leader_message(r, from);
    raft_reset_election_timer(r);
  }
  wire_writer *w = raft_send_begin(r, from);
  raft_encode_read_probe(w, 1, r->term, m->index, granted);
  raft_send_end(r);
}

void raft_read_recv_probe_reply(raft *r, int from, const raft_msg *m) {
  if (m->term > r->term) {
    raft_become_follower(r, m->term, RAFT_NO_NODE);
    return;
  }
  if (r->role != RAFT_LEADER || m->term != r->term || !m->granted) return;
  raft_read_round *round = &r->reads.rounds[m->index % RAFT_READ_ROUNDS];
  if (round->seq != m->index || round->term != r->term) return; /* forgotten, or not ours */
  r->peers[from].last_heard_us = r->now_us;
  int had = raft_membership_quorum(&r->conf, round->acks);
  round->acks |= 1u << from;
  if (!had && raft_membership_quorum(&r->conf, round->acks)) round_confirmed(r, round);
}

/* ---- reads ---- */

static int hold(raft *r, const uint8_t *data, size_t len) {
  raft_reads *rd = &r->reads;
  if (rd->n_pending >= RAFT_MAX_PENDING_READ) return 0; /* through the log instead */
  if (rd->n_pending == rd->cap_pending) {
    size_t cap = rd->cap_pending ? rd->cap_pending * 2 : 16;
    raft_pending_read *p = realloc(rd->pending, cap * sizeof *p);
    if (!p) return 0;
    rd->pending = p;
    rd->cap_pending = cap;
  }
  uint8_t *copy = malloc(len);
  if (!copy) return 0;
  memcpy(copy, data, len);
  /* Step 2: the commit index now. Until an entry of this term is committed it may lag behind
   * what an earlier leader committed; serving also waits for that (step 1). */
  rd->pending[rd->n_pending++] =
      (raft_pending_read){r->term, r->commit_index, rd->round_seq + 1, copy, len};
  return 1;
}

int raft_read_command(raft *r, const uint8_t *data, size_t len) {
  if (!is_read(data, len)) return 0;
  if (r->opt.bug_deposed_leader_reads && r->role == RAFT_LEADER) {
    serve(r, data, len); /* the lab bug: no check at all */
    return 1;
  }
  switch (r->opt.read_mode) {
  case RAFT_READ_FOLLOWER:
    serve(r, data, len); /* raft_check_command let it in: a leader, or a follower of one */
    return 1;
  case RAFT_READ_LEASE:
    if (r->role != RAFT_LEADER) return 0;
    if (lease_valid(r) && term_committed(r)) {
      serve(r, data, len);
      return 1;
    }
    return hold(r, data, len);
  case RAFT_READ_INDEX: return r->role == RAFT_LEADER ? hold(r, data, len) : 0;
  default: return 0;
  }
}

static void drop_pending(raft *r) {
  raft_reads *rd = &r->reads;
  for (size_t i = 0; i < rd->n_pending; i++) free(rd->pending[i].data);
  rd->n_pending = 0; /* their clients time out and try again */
}

/* Serves the held reads that are ready (step 4: the commits this step emits reach the commit
 * index, and the host answers reads after them). */
static void serve_ready(raft *r) {
  raft_reads *rd = &r->reads;
  int confirmed_here = rd->round_term == r->term;
  size_t kept = 0;
  for (size_t i = 0; i < rd->n_pending; i++) {
    raft_pending_read *p = &rd->pending[i];
    int ready = term_committed(r) && p->index <= r->commit_index &&
                ((confirmed_here && rd->confirmed_seq >= p->round) || lease_valid(r));
    if (ready) {
      serve(r, p->data, p->len);
      free(p->data);
    } else {
      rd->pending[kept++] = *p;
    }
  }
  rd->n_pending = kept;
}

void raft_read_step_end(raft *r) {
  raft_reads *rd = &r->reads;
  if (r->opt.read_mode != RAFT_READ_INDEX && r->opt.read_mode != RAFT_READ_LEASE) return;
  if (r->role != RAFT_LEADER) {
    drop_pending(r);
    return;
  }
  if (rd->n_pending && rd->pending[0].term != r->term) drop_pending(r);
  /* A round starts when reads arrived that no round started yet covers, with fewer than
   * RAFT_READ_MAX_ROUNDS_IN_FLIGHT rounds in flight (reads arriving meanwhile share the next
   * one), or when held reads wait on a round older than a heartbeat (its probes or answers were
   * probably lost); in lease mode, also once per heartbeat interval, to keep the lease. */
  const raft_read_round *last = &rd->rounds[rd->round_seq % RAFT_READ_ROUNDS];
  int stale_round =
      rd->round_seq == 0 || last->term != r->term || r->now_us >= last->sent_us + r->heartbeat_us;
  int in_flight = 0;
  for (int i = 0; i < RAFT_READ_ROUNDS; i++) {
    const raft_read_round *x = &rd->rounds[i];
    in_flight += x->seq > 0 && x->term == r->term && !raft_membership_quorum(&r->conf, x->acks) &&
                 r->now_us < x->sent_us + r->heartbeat_us;
  }
  int uncovered = 0, unconfirmed = 0;
  for (size_t i = 0; i < rd->n_pending; i++) {
    uncovered |= rd->pending[i].round > rd->round_seq;
    unconfirmed |= rd->round_term != r->term || rd->pending[i].round > rd->confirmed_seq;
  }
  if ((uncovered && in_flight < RAFT_READ_MAX_ROUNDS_IN_FLIGHT) || (unconfirmed && stale_round) ||
      (r->opt.read_mode == RAFT_READ_LEASE && stale_round))
    start_round(r);
  serve_ready(r);
}

void raft_read_started(raft *r) {
  if (r->opt.read_mode == RAFT_READ_LEASE) r->reads.quiet_until_us = r->now_us + r->election_lo_us;
}

int raft_read_quiet(const raft *r) {
  return r->opt.read_mode == RAFT_READ_LEASE && r->now_us < r->reads.quiet_until_us;
}
