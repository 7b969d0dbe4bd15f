/* raft_internal.h: what the files of the Raft implementation share with each other. */
#ifndef CTK_RAFT_INTERNAL_H
#define CTK_RAFT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "../common/commitlist.h"
#include "../common/outbox.h"
#include "../common/readbox.h"
#include "../common/rng.h"
#include "../common/wire.h"
#include "raft.h"

/* Sized, so raft.c's protocol definition can count them at compile time; options.c defining a
 * different number of specs is a compile error. */
#define RAFT_N_OPTIONS 22
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

/* What a log entry holds: a client command (or, empty, a leader's no-op), or a membership
 * configuration (membership.c), which hosts see as a no-op. */
enum { RAFT_ENTRY_COMMAND = 0, RAFT_ENTRY_CONFIG = 1 };

typedef struct raft_entry {
  uint64_t term;
  uint32_t len;
  uint8_t type;  /* RAFT_ENTRY_* */
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
int raft_log_append_typed(raft_log *log, uint64_t term, uint8_t type, const uint8_t *data,
                          size_t len);
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

#define RAFT_WIRE_VERSION 2 /* 2: typed entries, transfer votes, TimeoutNow, InstallSnapshot */

typedef enum raft_msg_type {
  RAFT_MSG_PREVOTE = 1,
  RAFT_MSG_PREVOTE_REPLY = 2,
  RAFT_MSG_REQUEST_VOTE = 3,
  RAFT_MSG_VOTE_REPLY = 4,
  RAFT_MSG_APPEND = 5,
  RAFT_MSG_APPEND_REPLY = 6,
  RAFT_MSG_FORWARD = 7,
  RAFT_MSG_READ_PROBE = 8, /* read.c: a leader confirms it still leads (ReadIndex, leases) */
  RAFT_MSG_READ_PROBE_REPLY = 9,
  RAFT_MSG_TIMEOUT_NOW = 10, /* leadership transfer (thesis 3.10): campaign now */
  RAFT_MSG_SNAPSHOT = 11,
  RAFT_MSG_SNAPSHOT_REPLY = 12,
} raft_msg_type;

/* ---- membership.c: the configuration of voters and learners ---- */

/* A configuration: who votes, who only receives the log. While a joint change is in progress
 * (paper section 6), voters is C_new and voters_old C_old, and every decision (elections,
 * commitment, check-quorum) needs a majority of each. Bitmasks of node ids. */
typedef struct raft_membership {
  uint32_t voters;
  uint32_t voters_old; /* 0 unless joint */
  uint32_t learners;   /* disjoint from the voters of both */
} raft_membership;

#define RAFT_MEMBERSHIP_BYTES 13
/* The encoding kept in a configuration entry and in durable records (and, for snapshots, the
 * configuration as of the snapshot's index): version u8 = 1, voters u32, voters_old u32,
 * learners u32. */
void raft_membership_encode(wire_writer *w, const raft_membership *m);
/* Decodes and checks (some voter; learners not voters; every id below n_nodes, when
 * n_nodes > 0). Returns 0 or -1. */
int raft_membership_decode(const uint8_t *data, size_t len, int n_nodes, raft_membership *m);
static inline uint32_t raft_membership_nodes(const raft_membership *m) {
  return m->voters | m->voters_old | m->learners;
}
static inline int raft_membership_votes(const raft_membership *m, int id) {
  return (int)((m->voters | m->voters_old) >> id & 1);
}
/* 1 when `have` holds a majority of the voters (and of C_old while joint). */
int raft_membership_quorum(const raft_membership *m, uint32_t have);

/* What a snapshot says about itself, encoded as a versioned blob (in InstallSnapshot and in the
 * durable snapshot record): its last entry and the cluster configuration as of that entry
 * (thesis 5.4.1: "the snapshot also includes the latest configuration as of the last included
 * index"). Version 2 added the configuration. */
#define RAFT_SNAPSHOT_META_VERSION 2
typedef struct raft_snapshot_meta {
  uint64_t index, term; /* lastIncludedIndex, lastIncludedTerm; both >= 1 */
  raft_membership conf; /* the configuration as of index */
} raft_snapshot_meta;
void raft_snapshot_meta_put(wire_writer *w, const raft_snapshot_meta *meta);
/* Reads and validates a meta blob (terms up to max_term, node ids below n_nodes when n_nodes >
 * 0). Returns 0 or -1. */
int raft_snapshot_meta_get(wire_reader *r, raft_snapshot_meta *meta, uint64_t max_term,
                           int n_nodes);

/* A decoded message. Entries (APPEND) and commands (FORWARD) stay encoded in the borrowed
 * input; the decoder has validated them, raft_msg_next_entry() walks them. */
typedef struct raft_msg {
  uint8_t type;
  uint64_t term;
  /* PREVOTE, REQUEST_VOTE */
  uint64_t last_index, last_term;
  int transfer; /* REQUEST_VOTE of a leadership transfer: receivers skip the lease check */
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
/* The same, with the entry's type (RAFT_ENTRY_COMMAND for FORWARD). */
void raft_entry_iter_next_typed(raft_entry_iter *it, uint64_t *term, uint8_t *type,
                                const uint8_t **data, size_t *len);

/* Encoders write one whole message into w. */
void raft_encode_vote_request(wire_writer *w, int prevote, uint64_t term, uint64_t last_index,
                              uint64_t last_term);
void raft_encode_vote_request_flags(wire_writer *w, int prevote, uint64_t term, uint64_t last_index,
                                    uint64_t last_term, int transfer);
void raft_encode_vote_reply(wire_writer *w, int prevote, uint64_t term, int granted);
void raft_encode_timeout_now(wire_writer *w, uint64_t term);
/* AppendEntries with entries [first, first + n) taken from log (first == prev_index + 1). */
void raft_encode_append(wire_writer *w, uint64_t term, uint64_t prev_index, uint64_t prev_term,
                        uint64_t commit, const raft_log *log, uint64_t n);
void raft_encode_append_reply(wire_writer *w, uint64_t term, int success, uint64_t index,
                              uint64_t conflict_term, uint64_t conflict_index);
void raft_encode_forward(wire_writer *w, const uint8_t *command, size_t len);
/* ReadProbe (reply 0) or ReadProbeReply (reply 1, with granted) of round `round` >= 1. */
void raft_encode_read_probe(wire_writer *w, int reply, uint64_t term, uint64_t round, int granted);
void raft_encode_snapshot(wire_writer *w, uint64_t term, const raft_snapshot_meta *meta,
                          uint64_t offset, int done, const uint8_t *chunk, size_t len);
void raft_encode_snapshot_reply(wire_writer *w, uint64_t term, uint64_t index, uint64_t offset,
                                int done);
/* Encoded size of an AppendEntries header and of one entry in it. */
#define RAFT_APPEND_HEADER_BYTES (2 + 4 * 8 + 4)
#define RAFT_ENTRY_BYTES(len)    (8 + 1 + 4 + (uint64_t)(len))

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
  int stalled_heartbeats;  /* heartbeats with pipelined messages in flight and no ack */
  uint64_t last_heard_us;  /* last AppendEntriesReply of the current term, for check-quorum */
  uint64_t commit_sent;    /* the commit index carried by the last AppendEntries sent to it */
  uint64_t forwarded_upto; /* the last entry appended from its Forward: a client waits there */
  /* InstallSnapshot (snapshot.c), while next_index <= the log's base: the snapshot being sent
   * and the offset the follower acknowledged. */
  uint64_t snap_index, snap_offset;
} raft_peer;

/* ---- read.c: reads without a log write (see read.c) ---- */

enum { RAFT_READ_LOG = 0, RAFT_READ_INDEX, RAFT_READ_LEASE, RAFT_READ_FOLLOWER };
#define RAFT_READ_ROUNDS 8 /* leadership rounds remembered while their replies come in */
#define RAFT_MAX_PENDING_READ                                        \
  4096 /* reads a leader holds waiting for a round; more are refused \
        */

typedef struct raft_read_round {
  uint64_t seq, term, sent_us;
  uint32_t acks; /* nodes that answered, a bitmask (the leader included) */
} raft_read_round;

typedef struct raft_pending_read {
  uint64_t term, index, round; /* served once round `round` is confirmed and index applied */
  uint8_t *data;               /* owned */
  size_t len;
} raft_pending_read;

typedef struct raft_reads {
  uint64_t round_seq;     /* the last round started */
  uint64_t confirmed_seq; /* the last round a majority answered, in round_term */
  uint64_t round_term;
  raft_read_round rounds[RAFT_READ_ROUNDS]; /* by seq % RAFT_READ_ROUNDS */
  uint64_t lease_until_us, lease_term;
  uint64_t quiet_until_us; /* lease mode, after a (re)start: no votes before then */
  raft_pending_read *pending;
  size_t n_pending, cap_pending;
  ctk_readbox served; /* this step's */
} raft_reads;

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

  /* Membership (membership.c). conf is in effect as soon as its entry is in the log (thesis
   * 4.1): the latest configuration entry above base_index, else base, the configuration the
   * node was created with or the last forced one (base_index: the log's end when it was
   * forced, 0 otherwise). prev_conf is the one before conf, whose members keep receiving the
   * log while conf is not committed. */
  raft_membership conf, prev_conf, base;
  uint64_t conf_index; /* the entry conf comes from; 0: base */
  uint64_t base_index;
  int forced;
  int transfer_to;       /* leader: the node leadership is being handed to, or -1 */
  int transfer_sent;     /* TimeoutNow was sent to it */
  int transfer_campaign; /* this campaign follows a TimeoutNow: votes skip the lease check */
  int leaving;           /* leader: its removal committed, it is handing over */
  uint64_t transfer_deadline_us;

  /* Leader only. */
  raft_peer peers[CTK_MAX_NODES];
  uint64_t heartbeat_deadline_us, quorum_deadline_us;
  /* output.c: it counted a quorum it formed alone (the only voter) in term solo_term (0: none
   * since) when its log ended at solo_upto; its AppendEntries wait for its syncs until a peer
   * acknowledges an entry past solo_upto (raft_note_solo). */
  uint64_t solo_term, solo_upto;

  /* Output, reused from step to step. */
  uint64_t now_us;
  wire_writer persist;
  int persist_replace;
  uint64_t durable_bytes;  /* size of everything persisted so far, as the host holds it */
  ctk_outbox out;          /* this step's messages */
  ctk_commit_list commits; /* this step's */
  int out_of_memory;

  raft_reads reads; /* read.c */
};

typedef struct ctk_proto raft;

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
/* The leader just won an election or committed an entry with its own vote alone. */
void raft_note_solo(raft *r);
/* The leader took a peer's acknowledgement of its log up to `index`, in its term. */
void raft_note_acked(raft *r, uint64_t index);

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

/* membership.c */
/* The configuration in effect at log position index (>= the log's base): the latest
 * configuration entry at or before it, else the base configuration. */
raft_membership raft_membership_at(const raft *r, uint64_t index);
/* The log is about to start after position index (a snapshot covers what comes before), where
 * conf is in effect: it becomes the base configuration. */
void raft_membership_rebase(raft *r, uint64_t index, raft_membership conf);
/* Recomputes conf, conf_index and prev_conf from the log (after a truncation or a recovery). */
void raft_membership_refresh(raft *r);
/* The highest index held by a majority of the voters (of both configurations while joint). */
uint64_t raft_membership_agreed(const raft *r);
/* The time by which a majority (of both, while joint) had last answered the leader. */
uint64_t raft_membership_heard(const raft *r);
/* The log was truncated from `from`: a forced configuration overrides only what is left of the
 * log that predates it (the new leader's entries, configurations included, are after it). */
void raft_membership_truncated(raft *r, uint64_t from);
/* 1 when the leader sends the log to node i: a member of conf, or of prev_conf while conf is
 * not yet committed. */
int raft_membership_replicates_to(const raft *r, int i);
/* CTK_EVENT_ADMIN: add, remove, transfer, force. Returns a CTK_ code. */
int raft_admin(raft *r, const uint8_t *data, size_t len);
/* Leader bookkeeping at the end of every step: finish a joint change, step down once removed,
 * promote a caught-up learner, drive a leadership transfer. */
void raft_membership_tick(raft *r);
/* A TimeoutNow from the leader (thesis 3.10). */
void raft_recv_timeout_now(raft *r, int from, const raft_msg *m);
/* durable.c: the record of a forced configuration. */
void raft_persist_force(raft *r);

/* client.c */
int raft_check_command(const raft *r, size_t len);
void raft_client_command(raft *r, const uint8_t *data, size_t len);
void raft_recv_forward(raft *r, int from, const raft_msg *m);
/* The leader appends one entry of its term and sends it where the pipeline has room. */
int raft_leader_append(raft *r, const uint8_t *data, size_t len);
/* A configuration entry: appended, in effect at once. */
int raft_leader_append_config(raft *r, const raft_membership *m);

/* read.c */
void raft_read_free(raft *r);
void raft_read_output_reset(raft *r);
void raft_read_started(raft *r); /* after START */
/* A client command arrived here and raft_check_command accepted it: returns 1 when it was taken
 * as a read without a log write (served now or held for a round), 0 when it goes through the
 * log. */
int raft_read_command(raft *r, const uint8_t *data, size_t len);
void raft_read_recv_probe(raft *r, int from, const raft_msg *m);
void raft_read_recv_probe_reply(raft *r, int from, const raft_msg *m);
/* At the end of a step, before output.c finishes it: starts rounds, serves what is ready. */
void raft_read_step_end(raft *r);
void raft_read_output(raft *r, ctk_output *out);
/* Lease mode: a node (re)started less than a minimum election timeout ago grants no vote, since
 * it may have promised one to a leader's lease before it crashed. */
int raft_read_quiet(const raft *r);

#endif /* CTK_RAFT_INTERNAL_H */
