/* protocol.h: the one contract between a consensus protocol and the hosts that run it.
 *
 * A protocol is a pure, deterministic state machine. The host (the deterministic simulator or a
 * ZeroMQ node process) owns every socket, clock, file and random source; the protocol sees the
 * world only through the events handed to ctk_protocol_def.step, and acts on it only through the
 * output that step fills in. Same inputs (and the same seed at create time), same outputs.
 *
 * The life of an instance:
 *
 *   create(config, options)          -> instance, nothing happens yet
 *   step(START, durable bytes)       -> recovers from what it persisted before (empty on first
 * boot) step(MESSAGE | TIMEOUT | COMMAND)-> ... forever ... destroy()
 *
 * After every step the host MUST, in this order:
 *   1. make output.persist durable (append it to the node's durable bytes, or replace them all
 *      when output.persist_replace is set), and sync it; it MAY send the first
 *      output.n_messages_early messages before or while it does (see ctk_output);
 *   2. only then send the other output.messages; replace the state machine with output.restore when
 *      output.restore_index is set; apply output.commits to the state machine and answer
 *      clients; answer output.reads from the state machine as it now stands;
 *   3. when output.snapshot_wanted is set, serialize the state machine (which now reflects every
 *      commit through that index) and hand it back at once with step(SNAPSHOT);
 *   4. call step(TIMEOUT) once its clock reaches output.next_deadline_us.
 * A crash loses everything volatile and any persisted bytes not yet synced (possibly a torn
 * suffix of them); on restart the host hands the protocol exactly the synced durable bytes.
 *
 * Inspired by cowsql/raft's raft_step/raft_timeout and etcd-io/raft's Ready: the caller does all
 * I/O and persists before it sends.
 */
#ifndef CTK_PROTOCOL_H
#define CTK_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Bounds every host and protocol can rely on. */
#define CTK_MAX_NODES         16         /* nodes in one cluster */
#define CTK_MAX_MESSAGE_BYTES (1u << 20) /* one encoded protocol message */
#define CTK_MAX_COMMAND_BYTES 4096       /* one client command, as opaque bytes */
#define CTK_DEADLINE_NONE     UINT64_MAX

/* Return codes of step and create. 0 is success. */
enum {
  CTK_OK = 0,
  CTK_ERR_MALFORMED = -1, /* a MESSAGE failed to decode or validate; state is unchanged */
  CTK_ERR_REJECTED = -2,  /* a COMMAND was not accepted here (no leader known, queue full, ...);
                             status.leader_id may name a better node; state is unchanged */
  CTK_ERR_INVALID = -3,   /* bad arguments or options at create, or an event out of order */
  CTK_ERR_CORRUPT = -4,   /* START was given durable bytes that do not decode */
  CTK_ERR_NOMEM = -5,
  CTK_ERR_BUSY = -6, /* a COMMAND was not accepted because this node already holds as many as it
                        may (backpressure, never unbounded memory); state is unchanged. The
                        client should wait and try again, here: a better node is not implied */
};

/* A borrowed run of bytes. */
typedef struct ctk_bytes {
  const uint8_t *data;
  size_t len;
} ctk_bytes;

typedef enum ctk_event_kind {
  CTK_EVENT_START = 1, /* bytes: the durable bytes persisted before (len 0 on first boot) */
  CTK_EVENT_MESSAGE,   /* from: sender node id; bytes: one encoded message, untrusted */
  CTK_EVENT_TIMEOUT,   /* the clock reached the deadline the protocol asked for */
  CTK_EVENT_COMMAND,   /* bytes: one client command (opaque to the protocol) submitted here */
  CTK_EVENT_SNAPSHOT,  /* bytes: the state machine serialized after applying every commit through
                          `index`, the host's answer to output.snapshot_wanted */
  CTK_EVENT_ADMIN,     /* bytes: one operator request, ASCII (see "Administration" below) */
} ctk_event_kind;

typedef struct ctk_event {
  ctk_event_kind kind;
  uint64_t now_us; /* the host's clock; never goes backwards for one instance */
  int from;        /* MESSAGE only */
  ctk_bytes bytes; /* START, MESSAGE, COMMAND, SNAPSHOT, ADMIN */
  uint64_t index;  /* SNAPSHOT only: the last commit the snapshot reflects */
} ctk_event;

typedef struct ctk_message {
  int to;
  ctk_bytes bytes;
} ctk_message;

/* One committed entry, in execution order. Log-based protocols number positions 1, 2, 3, ... with
 * no gaps; after a restart they commit again from their first retained position. An entry with
 * an empty command is a protocol no-op: hosts skip it but it still takes its position. */
typedef struct ctk_commit {
  uint64_t index;
  ctk_bytes command;
} ctk_commit;

/* Filled by step; every pointer stays valid until the next call of step or destroy. */
typedef struct ctk_output {
  ctk_bytes persist;   /* bytes to make durable before anything else (but the early messages
                          below) leaves this step */
  int persist_replace; /* 1: persist replaces all durable bytes; 0: it is appended */
  const ctk_message *messages;
  size_t n_messages;
  const ctk_commit *commits;
  size_t n_commits;
  uint64_t next_deadline_us; /* absolute time of the next TIMEOUT wanted, or CTK_DEADLINE_NONE */

  /* Snapshots (all zero for a protocol that keeps none). A protocol that compacts its log asks
   * the host for the state machine with snapshot_wanted (the index of the last commit applied once
   * this step's commits are, which the host then hands back as step(SNAPSHOT)); it keeps the bytes
   * in its durable state and ships them to replicas too far behind. When it starts from such
   * durable bytes, or installs a snapshot a peer sent, it sets restore_index and restore: the host
   * replaces its state machine with restore (which reflects every commit through restore_index),
   * and the commits that follow continue at restore_index + 1. */
  uint64_t snapshot_wanted;
  uint64_t restore_index;
  ctk_bytes restore;

  /* Reads answered without a log write (ReadIndex, leases, follower reads, ...): client commands
   * the protocol was given with CTK_EVENT_COMMAND whose footprint says they only read. The host
   * executes each against its state machine once this step's commits are applied, and must not
   * let it change any state. A protocol that orders every command through its log leaves these
   * empty. */
  const ctk_bytes *reads;
  size_t n_reads;

  /* Messages that need not wait for the sync: messages[0 .. n_messages_early) assert nothing
   * about this node's durable state, so the host may send them before persist (this step's, or an
   * earlier step's not yet synced) is durable, e.g. a leader's AppendEntries or Accept sent in
   * parallel with its own log write (Raft thesis 10.2.1). Never a vote, an acknowledgement or a
   * promise. A host that sends them before the sync sends them only after the last step whose
   * persist that sync covers, and steps no event between sending them and the sync's end (a real
   * node sends a batch's early messages, then syncs the batch; see harness/node.c): anything that
   * answers them is then stepped once this node's own write is durable, which matters because a
   * leader counts itself in a quorum the moment it appends. A node whose own vote is a quorum by
   * itself (the only voter) learns things from it in the very step that persists it, and none of
   * the steps synced with that one can tell when it became durable: it marks nothing early until
   * a peer's answer proves that sync done (raft/output.c, multipaxos/multipaxos.c). A host may
   * ignore this field and send everything after the sync. Added at the end of the struct without
   * changing the ABI version: hosts zero the whole output before each step, so a protocol built
   * against an older header leaves it 0 (everything waits, as before). */
  size_t n_messages_early;
} ctk_output;

typedef enum ctk_role {
  CTK_ROLE_FOLLOWER = 0,
  CTK_ROLE_CANDIDATE, /* campaigning (including a pre-vote campaign) */
  CTK_ROLE_LEADER,
  CTK_ROLE_NONE, /* leaderless protocols */
} ctk_role;

/* Read-only view of an instance, used by hosts for invariants, fault targets and reports. */
typedef struct ctk_status {
  ctk_role role;
  uint64_t term;         /* term, epoch or ballot: "at most one leader per term" is checked on it */
  int leader_id;         /* the leader this node believes in, or -1 */
  uint64_t commit_index; /* highest position committed (and emitted) at this node */
  uint64_t log_length;   /* highest position held, committed or not */
  uint32_t members;      /* voting members, a bitmask of node ids; 0: all n_nodes (static) */
  uint32_t learners;     /* non-voting members receiving the log, a bitmask */
  uint64_t snapshot_index; /* last position folded into a snapshot (0: none) */
} ctk_status;

/* What the protocol is told at create time. */
typedef struct ctk_node_config {
  int node_id;      /* 0 .. n_nodes-1 */
  int n_nodes;      /* 1 .. CTK_MAX_NODES */
  uint64_t seed;    /* the only source of randomness the protocol may use */
  uint32_t members; /* the initial voting members, a bitmask of node ids below n_nodes; 0: all.
                       Nodes outside it start empty and wait to be added (CTK_EVENT_ADMIN) */
} ctk_node_config;

/* ---- Administration ----
 *
 * CTK_EVENT_ADMIN carries one operator request as ASCII words, handled by protocols that support
 * it (others return CTK_ERR_INVALID):
 *
 *   add N          make node N a member (a learner first, voting once caught up)
 *   remove N       remove node N from the members (a leader removing itself steps down)
 *   transfer N     hand leadership to node N
 *   force N,M,...  UNSAFE: make exactly these nodes the members without a quorum of the old
 *                  configuration, to recover from permanent quorum loss; may lose committed
 *                  entries
 *
 * step returns CTK_OK when the request was accepted (it completes later, through the log),
 * CTK_ERR_REJECTED when this node cannot do it now (not the leader: status.leader_id names a
 * better node; a change already in progress), CTK_ERR_INVALID when malformed or unsupported. */

/* Typed options. Each protocol describes its options as a table of specs; the configuration
 * loader reads the [<protocol>] table of an experiment file against it, checks types and ranges,
 * fills in defaults, and hands the protocol its own options struct. */
typedef enum ctk_option_type {
  CTK_OPTION_BOOL = 1, /* int field, 0 or 1 */
  CTK_OPTION_INT,      /* int64_t field in [min, max] */
  CTK_OPTION_RANGE,    /* int64_t[2] field, [lo, hi] with min <= lo <= hi <= max */
  CTK_OPTION_CHOICE,   /* int64_t field: the index of one of `choices`, written as its name;
                          default_lo is the default's index (min and max are ignored) */
} ctk_option_type;

typedef struct ctk_option_spec {
  const char *key;
  ctk_option_type type;
  size_t offset;                  /* offsetof the field in the protocol's options struct */
  int64_t default_lo, default_hi; /* default_hi only for RANGE */
  int64_t min, max;
  const char *help;
  const char *choices; /* CHOICE only: the names, separated by '|' ("log|readindex|lease") */
} ctk_option_spec;

#define CTK_OPTION_MAX_CHOICES 16

/* CHOICE options: the index of `name` among spec->choices, or -1. */
static inline int ctk_option_choice_index(const ctk_option_spec *spec, const char *name) {
  const char *p = spec->choices;
  size_t len = strlen(name);
  for (int i = 0; p && *p && i < CTK_OPTION_MAX_CHOICES; i++) {
    const char *end = strchr(p, '|');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n == len && memcmp(p, name, n) == 0) return i;
    if (!end) break;
    p = end + 1;
  }
  return -1;
}

/* CHOICE options: copies the name of choice `index` into buf (NUL-terminated); returns its
 * length, or -1 when there is no such choice. */
static inline int ctk_option_choice_name(const ctk_option_spec *spec, int64_t index, char *buf,
                                         size_t buf_len) {
  const char *p = spec->choices;
  for (int64_t i = 0; p && *p; i++) {
    const char *end = strchr(p, '|');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (i == index) {
      if (n + 1 > buf_len) return -1;
      memcpy(buf, p, n);
      buf[n] = 0;
      return (int)n;
    }
    if (!end) break;
    p = end + 1;
  }
  return -1;
}

typedef struct ctk_proto ctk_proto; /* opaque, one per protocol */

/* Interference: what a command touches, for protocols that order only the commands that interfere
 * (EPaxos). Commands stay opaque bytes; a command that wants to be ordered less strictly starts
 * with this header (harness/kv.c encodes its commands so; tests/test_kv.c checks it):
 *
 *   u8 format = 1 | u8 access (0: a read, otherwise a write) | u64 session | 9 bytes the protocol
 *   ignores | u16 key_len (big-endian, at least 1) | key bytes | anything
 *
 * Two commands interfere when either lacks the header, when they come from the same session (the
 * store keeps per-session state to answer a retried request once, so a session's commands must
 * stay ordered), or when they name the same key and at least one of them writes. Reads of a key
 * do not interfere with each other. */
typedef struct ctk_footprint {
  int known; /* 0: no header; interferes with every command */
  int write;
  uint64_t session;
  const uint8_t *key; /* borrowed from the command */
  size_t key_len;
} ctk_footprint;

#define CTK_FOOTPRINT_KEY_OFFSET 19 /* where key_len starts */

static inline ctk_footprint ctk_command_footprint(const uint8_t *cmd, size_t len) {
  ctk_footprint f = {0, 1, 0, NULL, 0};
  if (!cmd || len < CTK_FOOTPRINT_KEY_OFFSET + 2 || cmd[0] != 1) return f;
  size_t key_len = (size_t)cmd[CTK_FOOTPRINT_KEY_OFFSET] << 8 | cmd[CTK_FOOTPRINT_KEY_OFFSET + 1];
  if (key_len == 0 || key_len > len - CTK_FOOTPRINT_KEY_OFFSET - 2) return f;
  f.known = 1;
  f.write = cmd[1] != 0;
  for (int i = 0; i < 8; i++) f.session = f.session << 8 | cmd[2 + i];
  f.key = cmd + CTK_FOOTPRINT_KEY_OFFSET + 2;
  f.key_len = key_len;
  return f;
}

static inline int ctk_footprints_interfere(const ctk_footprint *a, const ctk_footprint *b) {
  if (!a->known || !b->known || a->session == b->session) return 1;
  if (!a->write && !b->write) return 0;
  return a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0;
}

/* A named counter a protocol keeps (fast_path, slow_path, ...), for the reports. Counts start at
 * zero when an instance is created; hosts sum them over a node's restarts and over nodes. */
typedef struct ctk_counter {
  const char *name; /* a static string */
  uint64_t value;
} ctk_counter;

#define CTK_MAX_COUNTERS 16

/* Flags describing what the hosts may check of a protocol. */
enum {
  CTK_PROTO_TOTAL_ORDER = 1 << 0, /* all nodes commit the same command at the same index */
  CTK_PROTO_LEADERS = 1 << 1,     /* status.role/term name at most one leader per term */
};

typedef struct ctk_protocol_def {
  const char *name;    /* as in the experiment file: "raft", "paxos", ... */
  const char *summary; /* one line */
  unsigned flags;

  const ctk_option_spec *options;
  size_t n_options;
  size_t options_size; /* size of the protocol's options struct */

  /* Creates an instance; options points to a struct of options_size bytes, filled in from the
   * specs (defaults where the user gave nothing). On error returns NULL and writes a message into
   * err. */
  ctk_proto *(*create)(const ctk_node_config *config, const void *options, char *err,
                       size_t err_len);
  void (*destroy)(ctk_proto *self);

  /* Handles one event and fills *out (see the top of this file). Returns CTK_OK, or a negative
   * CTK_ERR_* code; on error *out is still valid (and empty) and the state is unchanged. */
  int (*step)(ctk_proto *self, const ctk_event *event, ctk_output *out);

  void (*status)(const ctk_proto *self, ctk_status *status);

  /* Writes a one-line human description of an encoded message ("AppendEntries t=3 prev=5/2
   * n=1 commit=4") for traces and timelines. Returns the length written, or a negative code for a
   * malformed message. Pure: no instance needed. */
  int (*describe)(const uint8_t *bytes, size_t len, char *buf, size_t buf_len);

  /* Optional (NULL when the protocol keeps none): writes up to max of its counters into out and
   * returns how many it wrote. */
  size_t (*counters)(const ctk_proto *self, ctk_counter *out, size_t max);
} ctk_protocol_def;

/* ---- protocols built outside the tree ----
 *
 * A protocol can live in a shared object of its own (`protocol = "./myraft.so"` in an experiment
 * file). It exports one C function under the name CTK_PROTOCOL_ENTRY_SYMBOL:
 *
 *   const ctk_protocol_def *ctk_protocol_entry_v1(unsigned *abi_version);
 *
 * which stores CTK_PROTOCOL_ABI_VERSION (as the object was compiled) in *abi_version and returns
 * its definition, valid for the life of the process. The object must be self-contained: it may
 * use the C library, and the types and constants of this header, but no function of ctk (the
 * host does not export them). The ABI version changes whenever a struct or the meaning of a field
 * of this header changes; an object built against another version is refused. */
#define CTK_PROTOCOL_ABI_VERSION  2u
#define CTK_PROTOCOL_ENTRY_SYMBOL "ctk_protocol_entry_v1"
typedef const struct ctk_protocol_def *(*ctk_protocol_entry_fn)(unsigned *abi_version);

/* 1 when name designates a shared object rather than a built-in protocol: it contains a '/' or
 * ends in ".so". */
int ctk_protocol_is_path(const char *name);

/* Loads the protocol of the shared object at path (opened once per process; later calls with the
 * same path return the same definition). On error returns NULL with a message naming the file in
 * err: it cannot be opened (dlerror's reason), lacks the entry symbol, was built for another ABI
 * version, or returned an invalid definition (no name, a missing function, a bad option spec). */
const ctk_protocol_def *ctk_protocol_load(const char *path, char *err, size_t err_len);

/* Checks a definition as the hosts need it: a name of 1 to 63 bytes of [A-Za-z0-9_-], every
 * function (describe included), and option specs that fit in options_size. Returns 0, or -1 with a
 * reason in err. */
int ctk_protocol_validate(const ctk_protocol_def *protocol, char *err, size_t err_len);

/* Fills a protocol's options struct (options_size bytes) with the defaults of its specs. */
void ctk_protocol_default_options(const ctk_protocol_def *protocol, void *options);

/* The registry: every protocol ctk knows, by name. */
const ctk_protocol_def *ctk_protocol_find(const char *name);
size_t ctk_protocol_count(void);
const ctk_protocol_def *ctk_protocol_at(size_t i);

#endif /* CTK_PROTOCOL_H */
