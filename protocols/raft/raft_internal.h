/* raft_internal.h: what the files of the Raft implementation share with each other. */
#ifndef CTK_RAFT_INTERNAL_H
#define CTK_RAFT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "../common/rng.h"
#include "../common/wire.h"
#include "raft.h"

/* Sized, so raft.c's protocol definition can count them at compile time; options.c defining a
 * different number of specs is a compile error. */
#define RAFT_N_OPTIONS 16
#define RAFT_GAP_HALF_LIFE_US                                        \
  10000000ull /* adaptive timeouts forget a stall in tens of seconds \
               */
extern const ctk_option_spec raft_option_specs[RAFT_N_OPTIONS];
extern const size_t raft_n_option_specs;

/* Bounds. Indexes and terms above RAFT_MAX_INDEX make no sense (2^48 entries is far beyond any
 * run) and are rejected on the wire, which also keeps prev_index + n_entries from overflowing. */
#define RAFT_MAX_INDEX           (1ull << 48)
#define RAFT_MAX_TERM            (1ull << 48)
#define RAFT_MAX_ENTRIES_PER_MSG 4096  /* hard cap, whatever max_batch says */
#define RAFT_MAX_FORWARD         64    /* commands in one Forward message */
#define RAFT_MAX_UNCOMMITTED     16384 /* a leader refuses commands beyond this backlog */
#define RAFT_COMPACT_MIN_BYTES   (1u << 20)
#define RAFT_COMPACT_FACTOR      4
#define RAFT_NO_NODE             (-1)
#define RAFT_MAX_SNAPSHOT_BYTES  (1ull << 32) /* a snapshot being received is dropped past this */

/* ---- log.c: the in-memory log, positions base + 1 .. base + n ----
 *
 * Entries up to `base` were folded into a snapshot (section 7: "the log keeps lastIncludedIndex
 * and lastIncludedTerm"): only their last index and term remain, so the AppendEntries consistency
 * check still works at the boundary. base is 0 until the first compaction. */

typedef struct raft_entry {
  uint64_t term;
  uint32_t len;
  uint8_t *data; /* owned; NULL when len == 0 (a leader's no-op) */
} raft_entry;

typedef struct raft_log {
  raft_entry *entries;      /* entries[i - base - 1] holds index i */
  uint64_t n, cap;          /* entries held in memory */
  uint64_t base, base_term; /* the last compacted position and its term (0, 0: none) */
  uint64_t bytes;           /* sum of (12 + len): what the entries weigh in a durable record */
} raft_log;

void raft_log_init(raft_log *log);
void raft_log_free(raft_log *log);
static inline uint64_t raft_log_last(const raft_log *log) { return log->base + log->n; }
/* Term of the entry at index: base_term at base, 0 for index 0, before base or past the end. */
static inline uint64_t raft_log_term_at(const raft_log *log, uint64_t index) {
  if (index == log->base) return log->base_term;
  return index > log->base && index <= log->base + log->n ? log->entries[index - log->base - 1].term
                                                          : 0;
}
static inline uint64_t raft_log_last_term(const raft_log *log) {
  return raft_log_term_at(log, raft_log_last(log));
}
/* The entry at index, or NULL when it is compacted away or absent. */
static inline const raft_entry *raft_log_get(const raft_log *log, uint64_t index) {
  return index > log->base && index <= log->base + log->n ? &log->entries[index - log->base - 1]
                                                          : NULL;
}
/* Appends one entry, copying len bytes. Returns 0, or -1 when out of memory (log unchanged). */
int raft_log_append(raft_log *log, uint64_t term, const uint8_t *data, size_t len);
/* Deletes every entry at index >= from (from > base). */
void raft_log_truncate(raft_log *log, uint64_t from);
/* Drops the entries through index (base < index <= last), which becomes the new base. */
void raft_log_compact(raft_log *log, uint64_t index);
/* Drops every entry; the log restarts after (base, base_term). */
void raft_log_reset(raft_log *log, uint64_t base, uint64_t base_term);
/* Terms never decrease along the log, so both are binary searches over the entries held (not the
 * base). 0 when term is absent. */
uint64_t raft_log_first_of_term(const raft_log *log, uint64_t term, uint64_t at_or_before);
uint64_t raft_log_last_of_term(const raft_log *log, uint64_t term);

/* ---- codec.c: the versioned wire format ---- */

#define RAFT_WIRE_VERSION 2

typedef enum raft_msg_type {
  RAFT_MSG_PREVOTE = 1,
  RAFT_MSG_PREVOTE_REPLY = 2,
  RAFT_MSG_REQUEST_VOTE = 3,
  RAFT_MSG_VOTE_REPLY = 4,
  RAFT_MSG_APPEND = 5,
  RAFT_MSG_APPEND_REPLY = 6,
  RAFT_MSG_FORWARD = 7,
  RAFT_MSG_SNAPSHOT = 8,
  RAFT_MSG_SNAPSHOT_REPLY = 9,
} raft_msg_type;

/* What a snapshot says about itself, encoded as a versioned blob (in InstallSnapshot and in the
 * durable snapshot record) so that fields can be added: a later version is meant to carry the
 * cluster configuration as of `index` (thesis 5.4.1: "the snapshot also includes the latest
 * configuration as of the last included index"). */
#define RAFT_SNAPSHOT_META_VERSION 1
typedef struct raft_snapshot_meta {
  uint64_t index, term; /* lastIncludedIndex, lastIncludedTerm; both >= 1 */
} raft_snapshot_meta;
void raft_snapshot_meta_put(wire_writer *w, const raft_snapshot_meta *meta);
/* Reads and validates a meta blob (terms up to max_term). Returns 0 or -1. */
int raft_snapshot_meta_get(wire_reader *r, raft_snapshot_meta *meta, uint64_t max_term);

/* A decoded message. Entries (APPEND) and commands (FORWARD) stay encoded in the borrowed
 * input; the decoder has validated them, raft_msg_next_entry() walks them. */
typedef struct raft_msg {
  uint8_t type;
  uint64_t term;
  /* PREVOTE, REQUEST_VOTE */
  uint64_t last_index, last_term;
  /* PREVOTE_REPLY, VOTE_REPLY, APPEND_REPLY */
  int granted; /* also APPEND_REPLY's success */
  /* APPEND */
  uint64_t prev_index, prev_term, commit;
  /* APPEND, FORWARD */
  uint32_t n_entries;
  const uint8_t *entries;
  size_t entries_len;
  /* APPEND_REPLY: on success index is the match index (prev + entries of the request); on
   * failure it is the rejected prev index and conflict_* hint where to retry (conflict_term 0:
   * the follower's log ends at conflict_index - 1). A term rejection has conflict_index 0. */
  uint64_t index, conflict_term, conflict_index;
  /* SNAPSHOT (InstallSnapshot, section 7): meta, and the chunk of the state machine's bytes at
   * offset; done marks the last chunk. SNAPSHOT_REPLY: index is meta.index, offset the bytes
   * received so far (where the next chunk starts), done that the snapshot is installed (or was
   * not needed). */
  raft_snapshot_meta snap;
  uint64_t offset;
  int done;
  const uint8_t *chunk;
  size_t chunk_len;
} raft_msg;

/* Decodes and fully validates one message. Returns 0 or CTK_ERR_MALFORMED. */
int raft_msg_decode(const uint8_t *bytes, size_t len, raft_msg *m);
/* Walks the entries (APPEND: term and command; FORWARD: command, term 0) of a decoded message. */
typedef struct raft_entry_iter {
  wire_reader r;
  int forward;
} raft_entry_iter;
void raft_entry_iter_init(raft_entry_iter *it, const raft_msg *m);
void raft_entry_iter_next(raft_entry_iter *it, uint64_t *term, const uint8_t **data, size_t *len);

/* Encoders write one whole message into w. */
void raft_encode_vote_request(wire_writer *w, int prevote, uint64_t term, uint64_t last_index,
                              uint64_t last_term);
void raft_encode_vote_reply(wire_writer *w, int prevote, uint64_t term, int granted);
/* AppendEntries with entries [first, first + n) taken from log (first == prev_index + 1). */
void raft_encode_append(wire_writer *w, uint64_t term, uint64_t prev_index, uint64_t prev_term,
                        uint64_t commit, const raft_log *log, uint64_t n);
void raft_encode_append_reply(wire_writer *w, uint64_t term, int success, uint64_t index,
                              uint64_t conflict_term, uint64_t conflict_index);
void raft_encode_forward(wire_writer *w, const uint8_t *command, size_t len);
void raft_encode_snapshot(wire_writer *w, uint64_t term, const raft_snapshot_meta *meta,
                          uint64_t offset, int done, const uint8_t *chunk, size_t len);
void raft_encode_snapshot_reply(wire_writer *w, uint64_t term, uint64_t index, uint64_t offset,
                                int done);
/* Encoded size of an AppendEntries header and of one entry in it. */
#define RAFT_APPEND_HEADER_BYTES (2 + 4 * 8 + 4)
#define RAFT_ENTRY_BYTES(len)    (8 + 4 + (uint64_t)(len))

int raft_describe(const uint8_t *bytes, size_t len, char *buf, size_t buf_len);

/* ---- the instance ---- */

typedef enum raft_role {
  RAFT_FOLLOWER = 0,
  RAFT_PRECANDIDATE,
  RAFT_CANDIDATE,
  RAFT_LEADER,
} raft_role;

/* The leader's view of one follower (Figure 2: nextIndex, matchIndex), plus the flow control of
 * etcd-io/raft's Progress: a follower is probed (one AppendEntries at a time) until one succeeds,
 * then pipelined (up to max_inflight optimistic AppendEntries, nextIndex advanced on send). */
typedef struct raft_peer {
  uint64_t next_index, match_index;
  int probing;
  uint64_t *inflight;       /* ring of the last index of each pipelined AppendEntries, ascending */
  uint64_t *inflight_bytes; /* the entry bytes of each, for max_inflight_bytes */
  uint64_t inflight_total;  /* their sum */
  uint32_t inflight_start, inflight_count;
  int stalled_heartbeats; /* heartbeats with pipelined messages in flight and no ack */
  uint64_t last_heard_us; /* last AppendEntriesReply of the current term, for check-quorum */
  uint64_t commit_sent;   /* the commit index carried by the last AppendEntries sent to it */
  /* InstallSnapshot (snapshot.c), while next_index <= the log's base: the snapshot being sent
   * and the offset the follower acknowledged. */
  uint64_t snap_index, snap_offset;
} raft_peer;

typedef struct raft_out_msg {
  int to;
  size_t offset, len; /* into the message buffer, which may move while a step encodes */
} raft_out_msg;

struct ctk_proto {
  int id, n;
  ctk_raft_options opt;
  uint64_t election_lo_us, election_hi_us, heartbeat_us;
  ctk_rng rng;
  int started;

  /* Figure 2, persistent state on all servers. */
  uint64_t term;
  int voted_for;
  raft_log log;
  int hard_state_dirty; /* term or vote changed and not yet in this step's persist bytes */
  /* Section 7: the state machine through snap.meta.index (owned bytes), durable with the log.
   * The log's base is at most snap.meta.index (a leader keeps snapshot_keep entries before it). */
  struct {
    raft_snapshot_meta meta;
    uint8_t *data;
    size_t len;
  } snap;
  uint64_t snap_asked; /* the index of the last snapshot_wanted, so it is asked for once */
  int restore_pending; /* snap is to be handed to the host as output.restore in this step */
  struct {             /* an InstallSnapshot being received, chunk by chunk */
    int active;
    raft_snapshot_meta meta;
    wire_writer bytes;
  } snap_in;

  /* Volatile state. */
  raft_role role;
  int leader_id;
  uint64_t commit_index;  /* highest index known committed */
  uint64_t emitted_index; /* highest index emitted in output.commits */
  uint64_t election_deadline_us;
  uint64_t leader_contact_us; /* last AppendEntries from the current leader */
  /* Adaptive timeouts: the gaps between the current leader's messages, smoothed. */
  int gap_leader;
  uint64_t gap_peak_us, gap_peak_at_us; /* the longest recent gap, and when it was set */
  uint32_t votes;                       /* nodes that granted this (pre-)campaign, a bitmask */

  /* Leader only. */
  raft_peer peers[CTK_MAX_NODES];
  uint64_t heartbeat_deadline_us, quorum_deadline_us;

  /* Output, reused from step to step. */
  uint64_t now_us;
  wire_writer persist;
  int persist_replace;
  uint64_t durable_bytes; /* size of everything persisted so far, as the host holds it */
  wire_writer msg_buf;
  raft_out_msg *out_msgs;
  ctk_message *messages;
  size_t n_messages, cap_messages;
  int pending_to; /* the message being encoded */
  size_t pending_offset;
  ctk_commit *commits;
  size_t n_commits, cap_commits;
  int out_of_memory;
};

typedef struct ctk_proto raft;

static inline int raft_majority(const raft *r) { return r->n / 2 + 1; }
static inline int raft_popcount(uint32_t x) { return __builtin_popcount(x); }

/* output.c */
int raft_output_init(raft *r);
void raft_output_free(raft *r);
void raft_output_reset(raft *r);
/* Starts an encoded message to node `to` in the step's buffer; returns the writer. */
wire_writer *raft_send_begin(raft *r, int to);
void raft_send_end(raft *r);
/* Emits committed entries up to commit_index and fills *out. */
void raft_output_finish(raft *r, ctk_output *out);
void raft_output_empty(const raft *r, ctk_output *out);
uint64_t raft_next_deadline(const raft *r);

/* durable.c */
/* Appends the hard state record to the step's persist bytes if the term or vote changed. */
void raft_persist_hard_state(raft *r);
void raft_persist_entries(raft *r, uint64_t first, uint64_t n);
void raft_persist_truncate(raft *r, uint64_t from);
/* Rewrites the whole state as one fresh persist_replace when the durable bytes got too big. */
void raft_persist_maybe_compact(raft *r);
void raft_persist_replace_all(raft *r);
/* Recovers term, vote and log from durable bytes into r (fields untouched on error). Returns 0,
 * CTK_ERR_CORRUPT or CTK_ERR_NOMEM; *torn_tail says an unfinished last record was dropped. */
int raft_recover(raft *r, const uint8_t *bytes, size_t len, int *torn_tail);

/* snapshot.c */
/* step(SNAPSHOT): keeps the host's bytes as the snapshot through index and compacts the log. */
int raft_snapshot_taken(raft *r, uint64_t index, const uint8_t *data, size_t len);
/* The index to ask the host a snapshot of in this step's output, or 0. */
uint64_t raft_snapshot_wanted(raft *r);
/* Installs a recovered snapshot at START: commits continue after it. */
void raft_snapshot_recovered(raft *r);
void raft_send_snapshot(raft *r, int to);
void raft_recv_snapshot(raft *r, int from, const raft_msg *m);
void raft_recv_snapshot_reply(raft *r, int from, const raft_msg *m);
void raft_snapshot_free(raft *r);

/* election.c */
uint64_t raft_random_timeout_us(raft *r);
/* A message from the current leader arrived: the gap since the last one feeds the adaptive timeout.
 */
void raft_note_leader_message(raft *r, int leader);
void raft_reset_election_timer(raft *r);
void raft_set_term(raft *r, uint64_t term); /* higher term: forget the vote */
void raft_become_follower(raft *r, uint64_t term, int leader_id);
void raft_election_timeout(raft *r);
void raft_check_quorum(raft *r);
int raft_in_lease(const raft *r);
void raft_recv_vote_request(raft *r, int from, const raft_msg *m);
void raft_recv_vote_reply(raft *r, int from, const raft_msg *m);

/* replication.c */
void raft_leader_init_peers(raft *r);
void raft_send_append(raft *r, int to, int heartbeat);
void raft_broadcast_append(raft *r);
void raft_heartbeat(raft *r);
void raft_recv_append(raft *r, int from, const raft_msg *m);
void raft_recv_append_reply(raft *r, int from, const raft_msg *m);
void raft_maybe_commit(raft *r);

/* client.c */
int raft_check_command(const raft *r, size_t len);
void raft_client_command(raft *r, const uint8_t *data, size_t len);
void raft_recv_forward(raft *r, const raft_msg *m);
/* The leader appends one entry of its term and sends it where the pipeline has room. */
int raft_leader_append(raft *r, const uint8_t *data, size_t len);

#endif /* CTK_RAFT_INTERNAL_H */
