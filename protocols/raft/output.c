/* output.c: the buffers a step fills (persist bytes, messages, commits), reused between steps. */
#include <stdlib.h>
#include <string.h>

#include "raft_internal.h"

int raft_output_init(raft *r) {
  wire_writer_init(&r->persist);
  return ctk_outbox_init(&r->out);
}

void raft_output_free(raft *r) {
  wire_writer_free(&r->persist);
  ctk_outbox_free(&r->out);
  ctk_commit_list_free(&r->commits);
}

/* Buffers are reused from step to step, but one that a rare step (a compaction, a restart's
 * rewrite, a burst of full batches) grew past this is given back. */
#define OUTPUT_KEEP_BYTES (8u << 20)

void raft_output_reset(raft *r) {
  if (r->persist.cap > OUTPUT_KEEP_BYTES) wire_writer_free(&r->persist);
  wire_writer_reset(&r->persist);
  ctk_outbox_reset(&r->out);
  r->persist_replace = 0;
  r->commits.n = 0;
  r->out_of_memory = 0;
  r->restore_pending = 0;
}

wire_writer *raft_send_begin(raft *r, int to) { return ctk_outbox_begin(&r->out, to); }

void raft_send_end(raft *r) { ctk_outbox_end(&r->out); }

static void push_commit(raft *r, uint64_t index) {
  const raft_entry *e = raft_log_get(&r->log, index);
  int config = e->type == RAFT_ENTRY_CONFIG; /* a no-op to the host */
  if (ctk_commit_list_push(&r->commits, index, config ? NULL : e->data, config ? 0 : e->len)) {
    r->out_of_memory = 1;
    return;
  }
  r->emitted_index = index;
}

uint64_t raft_next_deadline(const raft *r) {
  if (!r->started) return CTK_DEADLINE_NONE;
  if (r->role != RAFT_LEADER) return r->election_deadline_us;
  if (r->n == 1) return CTK_DEADLINE_NONE;
  uint64_t d = r->heartbeat_deadline_us;
  if (r->opt.check_quorum && r->quorum_deadline_us < d) d = r->quorum_deadline_us;
  if (r->transfer_to != RAFT_NO_NODE && r->transfer_deadline_us < d) d = r->transfer_deadline_us;
  return d;
}

void raft_output_empty(const raft *r, ctk_output *out) {
  *out = (ctk_output){0};
  out->next_deadline_us = raft_next_deadline(r);
}

/* Thesis 10.2.1: "the leader can write to its disk in parallel with replicating to the
 * followers" and counts itself once its own write is durable. A leader's leading AppendEntries
 * assert nothing durable about it, so they may leave before its persist is synced (protocol.h:
 * the host steps nothing more until that sync is done, so the leader's self-count, which
 * raft_maybe_commit takes the moment it appends, is only ever combined with acknowledgements that
 * arrive after its own write is durable). Votes, acknowledgements and everything else wait.
 *
 * Not when the leader's vote alone is a quorum (the only voter of its configuration): it then
 * wins its term, or commits an entry, in the very step that persists its vote or the entry, with
 * nothing durable yet, and an early AppendEntries would spread that to learners and removed
 * nodes: a leaderCommit they apply though a crash before the sync erases the entry from the only
 * log that committed it, or a term that, lost with the vote, the next election takes again for
 * other entries at the same indexes (the Multi-Paxos lone voter's bug, membership-sweep-3 seeds
 * 43 and 157). The steps that follow in the same batch are synced with it (protocol.h), so none
 * can tell when that became durable: it is known to be once a peer acknowledges an entry
 * appended after it (its reply answers an AppendEntries that left after that sync, or after a
 * batch that ended with it, and is stepped after that sync). Until then, in that term, every
 * message waits for the sync, across a change of configuration too (a lone voter adding a second
 * one chose the change by itself). */
void raft_note_solo(raft *r) {
  r->solo_term = r->term;
  r->solo_upto = raft_log_last(&r->log);
}

void raft_note_acked(raft *r, uint64_t index) {
  if (r->solo_term == r->term && index > r->solo_upto) r->solo_term = 0;
}

static int is_append(const raft *r, size_t i) {
  ctk_bytes b = ctk_outbox_bytes(&r->out, i);
  return b.len >= 2 && b.data[1] == RAFT_MSG_APPEND;
}

static size_t early_appends(const raft *r) {
  if (r->role != RAFT_LEADER || r->solo_term == r->term) return 0;
  size_t n = 0;
  while (n < r->out.n && is_append(r, n)) n++;
  return n;
}

void raft_output_finish(raft *r, ctk_output *out) {
  /* Commits are emitted in index order, once per incarnation. commit_index never passes the
   * log's end (a truncation clamps it), so every emitted entry exists. */
  uint64_t last = raft_log_last(&r->log);
  uint64_t upto = r->commit_index < last ? r->commit_index : last;
  while (r->emitted_index < upto && !r->out_of_memory) push_commit(r, r->emitted_index + 1);
  raft_persist_hard_state(r);
  raft_persist_maybe_compact(r);
  *out = (ctk_output){0};
  out->persist = (ctk_bytes){r->persist.data, r->persist.len};
  out->persist_replace = r->persist_replace;
  out->messages = ctk_outbox_messages(&r->out);
  out->n_messages = r->out.n;
  out->commits = r->commits.items;
  out->n_commits = r->commits.n;
  out->next_deadline_us = raft_next_deadline(r);
  out->n_messages_early = early_appends(r);
  if (r->restore_pending) {
    out->restore_index = r->snap.meta.index;
    out->restore = (ctk_bytes){r->snap.data, r->snap.len};
  }
  out->snapshot_wanted = raft_snapshot_wanted(r);
  r->durable_bytes = r->persist_replace ? r->persist.len : r->durable_bytes + r->persist.len;
}
