/* replication.c: AppendEntries on both sides: flow control, fast backtracking, the commit rule.
 *
 * From Figure 2, Rules for Servers, Leaders: "If last log index >= nextIndex for a follower:
 * send AppendEntries RPC with log entries starting at nextIndex. If successful: update nextIndex
 * and matchIndex for follower. If AppendEntries fails because of log inconsistency: decrement
 * nextIndex and retry. If there exists an N such that N > commitIndex, a majority of
 * matchIndex[i] >= N, and log[N].term == currentTerm: set commitIndex = N."
 *
 * Flow control follows etcd-io/raft's Progress: a follower is probed (one AppendEntries at a
 * time, resent at every heartbeat) until one succeeds; then it is pipelined: up to max_inflight
 * AppendEntries of up to max_batch entries, nextIndex advanced as they are sent. A rejection
 * falls back to probing at the index the follower's conflict hint suggests (thesis 5.3: "the
 * follower can include the term of the conflicting entry and the first index it stores for that
 * term"), so a whole conflicting term is skipped per round trip. max_inflight_bytes also caps the
 * command bytes in flight to a follower (a slow one cannot make the leader queue without bound in
 * its outgoing messages). A follower that needs entries compacted into the snapshot gets the
 * snapshot (snapshot.c). */
#include <assert.h>

#include "raft_internal.h"

void raft_leader_init_peers(raft *r) {
  for (int i = 0; i < r->n; i++) {
    raft_peer *p = &r->peers[i];
    p->next_index = raft_log_last(&r->log) + 1;
    p->match_index = 0;
    p->probing = 1;
    p->inflight_start = p->inflight_count = 0;
    p->stalled_heartbeats = 0;
    p->commit_sent = p->forwarded_upto = 0;
    p->inflight_total = 0;
    p->snap_index = p->snap_offset = 0;
    p->last_heard_us = r->now_us; /* a fresh leader gets a full timeout before check-quorum */
  }
}

static void inflight_clear(raft_peer *p) {
  p->inflight_start = p->inflight_count = 0;
  p->inflight_total = 0;
}

static void inflight_push(raft *r, raft_peer *p, uint64_t last, uint64_t bytes) {
  uint32_t cap = (uint32_t)r->opt.max_inflight;
  uint32_t slot = (p->inflight_start + p->inflight_count) % cap;
  p->inflight[slot] = last;
  p->inflight_bytes[slot] = bytes;
  p->inflight_total += bytes;
  p->inflight_count++;
}

/* Room for one more pipelined AppendEntries: a free slot, and bytes under the cap. */
static int inflight_room(const raft *r, const raft_peer *p) {
  if (p->inflight_count >= (uint32_t)r->opt.max_inflight) return 0;
  return r->opt.max_inflight_bytes == 0 || p->inflight_total < (uint64_t)r->opt.max_inflight_bytes;
}

/* Frees the slots of the AppendEntries the follower has now acknowledged. */
static int inflight_free_upto(raft *r, raft_peer *p, uint64_t index) {
  uint32_t cap = (uint32_t)r->opt.max_inflight;
  int freed = 0;
  while (p->inflight_count > 0 && p->inflight[p->inflight_start] <= index) {
    p->inflight_total -= p->inflight_bytes[p->inflight_start];
    p->inflight_start = (p->inflight_start + 1) % cap;
    p->inflight_count--;
    freed = 1;
  }
  return freed;
}

/* How many entries from `first` go in one AppendEntries: at most max_batch, no more than a
 * message can hold and, with max_inflight_bytes, no more than the room left under it (but at
 * least one). *bytes gets their encoded size. */
static uint64_t batch_size(const raft *r, const raft_peer *p, uint64_t first, uint64_t *bytes) {
  uint64_t last = raft_log_last(&r->log);
  *bytes = 0;
  if (first > last || first <= r->log.base) return 0;
  uint64_t max = (uint64_t)r->opt.max_batch;
  uint64_t room = UINT64_MAX;
  if (r->opt.max_inflight_bytes > 0 && p->inflight_total < (uint64_t)r->opt.max_inflight_bytes)
    room = (uint64_t)r->opt.max_inflight_bytes - p->inflight_total;
  uint64_t size_msg = RAFT_APPEND_HEADER_BYTES, n = 0;
  while (n < max && first + n <= last) {
    uint64_t size = RAFT_ENTRY_BYTES(raft_log_get(&r->log, first + n)->len);
    if (n > 0 && (size_msg + size > CTK_MAX_MESSAGE_BYTES || *bytes + size > room)) break;
    size_msg += size;
    *bytes += size;
    n++;
  }
  return n;
}

static void send(raft *r, int to, uint64_t prev, uint64_t n) {
  assert(prev >= r->log.base); /* below it the term is gone: the follower needs the snapshot */
  r->peers[to].commit_sent = r->commit_index;
  wire_writer *w = raft_send_begin(r, to);
  raft_encode_append(w, r->term, prev, raft_log_term_at(&r->log, prev), r->commit_index, &r->log,
                     n);
  raft_send_end(r);
}

/* Sends what the follower's flow-control state allows. A heartbeat sends something even when
 * there is nothing new: the probe again, or an empty AppendEntries at the match index. */
void raft_send_append(raft *r, int to, int heartbeat) {
  raft_peer *p = &r->peers[to];
  uint64_t bytes;
  if (p->next_index <= r->log.base) {
    /* Section 7: the entries it needs are in the snapshot now. One chunk at a time, like a probe;
     * snapshot.c sends the next on the follower's answer, a heartbeat the current one again. */
    if (!p->probing) {
      p->probing = 1;
      inflight_clear(p);
    }
    if (heartbeat) raft_send_snapshot(r, to);
    return;
  }
  if (p->probing) {
    send(r, to, p->next_index - 1, batch_size(r, p, p->next_index, &bytes));
    return;
  }
  uint64_t n = inflight_room(r, p) ? batch_size(r, p, p->next_index, &bytes) : 0;
  if (n > 0) {
    send(r, to, p->next_index - 1, n);
    p->next_index += n;
    inflight_push(r, p, p->next_index - 1, bytes);
    return;
  }
  /* Below the log's base the leader no longer knows the term; at the base it does, and a follower
   * holding that entry holds everything before it (Log Matching). */
  if (heartbeat) send(r, to, p->match_index > r->log.base ? p->match_index : r->log.base, 0);
}

/* New entries go out at once to pipelined followers with room; probed ones wait for the probe's
 * answer or the next heartbeat. */
void raft_broadcast_append(raft *r) {
  for (int i = 0; i < r->n; i++)
    if (raft_membership_replicates_to(r, i) && !r->peers[i].probing) raft_send_append(r, i, 0);
}

void raft_heartbeat(raft *r) {
  if (r->now_us < r->heartbeat_deadline_us) return;
  r->heartbeat_deadline_us = r->now_us + r->heartbeat_us;
  for (int i = 0; i < r->n; i++) {
    if (!raft_membership_replicates_to(r, i)) continue;
    raft_peer *p = &r->peers[i];
    /* Pipelined messages unanswered for two heartbeats were probably lost: probe again. */
    if (!p->probing && p->inflight_count > 0 && ++p->stalled_heartbeats >= 2) {
      p->probing = 1;
      p->next_index = p->match_index + 1;
      p->stalled_heartbeats = 0;
      inflight_clear(p);
    }
    raft_send_append(r, i, 1);
  }
}

void raft_maybe_commit(raft *r) {
  if (r->role != RAFT_LEADER) return;
  /* The highest index a majority holds (of both configurations while joint, paper section 6;
   * the leader counts only where it votes, thesis 4.2.2). */
  uint64_t n = raft_membership_agreed(r);
  if (n <= r->commit_index) return;
  /* Section 5.4.2: "Raft never commits log entries from previous terms by counting replicas.
   * Only log entries from the leader's current term are committed by counting replicas." The
   * lab bug drops exactly this condition. */
  if (raft_log_term_at(&r->log, n) != r->term && !r->opt.bug_commit_by_counting) return;
  if (raft_membership_quorum(&r->conf, 1u << r->id)) raft_note_solo(r); /* by our vote alone? */
  r->commit_index = n;
}

static void reply(raft *r, int to, int success, uint64_t index, uint64_t conflict_term,
                  uint64_t conflict_index) {
  wire_writer *w = raft_send_begin(r, to);
  raft_encode_append_reply(w, r->term, success, index, conflict_term, conflict_index);
  raft_send_end(r);
}

/* Figure 2, AppendEntries RPC, receiver implementation, steps 3 to 5 once the log matches at
 * prev: "3. If an existing entry conflicts with a new one (same index but different terms),
 * delete the existing entry and all that follow it. 4. Append any new entries not already in
 * the log." Entries already present are skipped, so a duplicated or reordered old message
 * never truncates anything. */
static void append_entries(raft *r, const raft_msg *m) {
  raft_entry_iter it;
  raft_entry_iter_init(&it, m);
  uint64_t first_new = 0;
  int config_changed = 0;
  for (uint64_t i = 0; i < m->n_entries; i++) {
    uint64_t index = m->prev_index + 1 + i, term;
    uint8_t type;
    const uint8_t *data;
    size_t len;
    raft_entry_iter_next_typed(&it, &term, &type, &data, &len);
    if (index <= r->log.base) continue; /* in the snapshot: committed, so the same entry */
    if (!first_new) {
      if (raft_log_term_at(&r->log, index) == term) continue; /* already have it */
      if (index <= raft_log_last(&r->log) && r->opt.bug_keep_conflicting_suffix) continue;
      if (index <= raft_log_last(&r->log)) {
        raft_log_truncate(&r->log, index);
        raft_persist_truncate(r, index);
        raft_membership_truncated(r, index);
        config_changed = 1; /* a configuration entry may have gone */
        /* Only a safety bug (bug_commit_by_counting) ever truncates a committed entry. */
        if (r->commit_index >= index) r->commit_index = index - 1;
      }
      first_new = index;
    }
    if (raft_log_append_typed(&r->log, term, type, data, len) != 0) {
      r->out_of_memory = 1;
      break;
    }
    if (type == RAFT_ENTRY_CONFIG) config_changed = 1;
  }
  if (first_new) raft_persist_entries(r, first_new, raft_log_last(&r->log) + 1 - first_new);
  if (config_changed) raft_membership_refresh(r); /* in effect once in the log (thesis 4.1) */
}

void raft_recv_append(raft *r, int from, const raft_msg *m) {
  /* "1. Reply false if term < currentTerm": the stale leader learns the term and steps down. */
  if (m->term < r->term) {
    reply(r, from, 0, m->prev_index, 0, 0);
    return;
  }
  if (r->role == RAFT_LEADER && m->term == r->term) return; /* two leaders of a term: never */
  raft_become_follower(r, m->term, from);
  raft_note_leader_message(r, from);
  raft_reset_election_timer(r);
  /* "2. Reply false if log doesn't contain an entry at prevLogIndex whose term matches
   * prevLogTerm", with the hint for fast backtracking. */
  uint64_t last = raft_log_last(&r->log);
  if (m->prev_index > last) {
    reply(r, from, 0, m->prev_index, 0, last + 1);
    return;
  }
  /* Below the base, the log matches: the snapshot holds only committed entries, which every
   * leader has (Leader Completeness). At the base, lastIncludedTerm answers the check. */
  uint64_t term_at_prev = raft_log_term_at(&r->log, m->prev_index);
  if (m->prev_index >= r->log.base && term_at_prev != m->prev_term) {
    uint64_t first = raft_log_first_of_term(&r->log, term_at_prev, m->prev_index);
    reply(r, from, 0, m->prev_index, term_at_prev, first ? first : m->prev_index);
    return;
  }
  append_entries(r, m);
  /* "5. If leaderCommit > commitIndex, set commitIndex = min(leaderCommit, index of last new
   * entry)". Only this message's entries are known to match the leader's log. */
  uint64_t last_new = m->prev_index + m->n_entries;
  uint64_t commit = m->commit < last_new ? m->commit : last_new;
  if (commit > r->commit_index || r->opt.bug_commit_index_backwards) r->commit_index = commit;
  reply(r, from, 1, last_new, 0, 0);
}

/* Whether follower i must hear of the new commit index at once rather than with the next
 * AppendEntries or heartbeat: when a client waits on it for a command it forwarded, when it
 * answers reads from its own state (read_mode "follower"), or when a configuration entry it has
 * not heard committed did commit. Then a request a client sent to a follower is answered a round
 * trip after it commits, not up to heartbeat_ms later (etcd-io/raft broadcasts an append on
 * every commit). Not to everyone on every commit: with one client on the leader, that extra
 * AppendEntries and its reply per follower doubled the messages per command (8 instead of 4),
 * and on a machine with fewer cores than busy threads their wake-ups delayed the leader's answer
 * (README "Measured on this machine"). Multi-Paxos carries its commit index the same lazy way.
 * eager_commit tells everyone on every commit, as this did before (the step-by-step scenarios
 * use it, so that every node shows the commit as soon as the leader has it). */
static int wants_commit(const raft *r, int i) {
  const raft_peer *p = &r->peers[i];
  if (p->commit_sent >= r->commit_index) return 0;
  return r->opt.eager_commit || r->opt.read_mode == RAFT_READ_FOLLOWER ||
         p->forwarded_upto > p->commit_sent || r->conf_index > p->commit_sent;
}

/* A follower with AppendEntries in flight is told when it answers (see raft_recv_append_reply),
 * so under load, when entries flow anyway and carry the commit index, this costs no extra
 * message. */
static void tell_commit(raft *r, int except) {
  for (int i = 0; i < r->n; i++) {
    const raft_peer *p = &r->peers[i];
    if (raft_membership_replicates_to(r, i) && i != except && !p->probing &&
        p->inflight_count == 0 && wants_commit(r, i))
      raft_send_append(r, i, 1);
  }
}

/* A rejection moves nextIndex back past the follower's conflicting term at once. */
static void recv_reject(raft *r, int from, const raft_msg *m) {
  raft_peer *p = &r->peers[from];
  if (m->conflict_index == 0 || m->index <= p->match_index) return; /* stale */
  if (p->probing && m->index + 1 != p->next_index) return;          /* answers an older probe */
  uint64_t next = m->conflict_index;
  if (m->conflict_term != 0) {
    uint64_t i = raft_log_last_of_term(&r->log, m->conflict_term);
    if (i) next = i + 1;
  }
  if (next > m->index) next = m->index;
  if (next < p->match_index + 1) next = p->match_index + 1;
  p->next_index = next;
  p->probing = 1;
  p->stalled_heartbeats = 0;
  inflight_clear(p);
  raft_send_append(r, from, 1);
}

void raft_recv_append_reply(raft *r, int from, const raft_msg *m) {
  if (m->term > r->term) {
    raft_become_follower(r, m->term, RAFT_NO_NODE);
    return;
  }
  if (r->role != RAFT_LEADER || m->term < r->term) return;
  raft_peer *p = &r->peers[from];
  p->last_heard_us = r->now_us;
  if (!m->granted) {
    recv_reject(r, from, m);
    return;
  }
  /* matchIndex only ever grows, so a reordered old reply cannot move it back. */
  if (m->index > p->match_index) p->match_index = m->index;
  raft_note_acked(r, m->index);
  if (inflight_free_upto(r, p, p->match_index)) p->stalled_heartbeats = 0;
  if (p->probing) {
    p->probing = 0;
    p->next_index = p->match_index + 1;
    p->stalled_heartbeats = 0;
    inflight_clear(p);
  }
  if (p->next_index < p->match_index + 1) p->next_index = p->match_index + 1;
  uint64_t committed = r->commit_index;
  raft_maybe_commit(r);
  raft_send_append(r, from, 0);
  if (!p->probing && p->inflight_count == 0 && wants_commit(r, from)) raft_send_append(r, from, 1);
  if (r->commit_index > committed) tell_commit(r, from);
}
