/* config.h: an experiment, as read from one TOML file: protocol, cluster, workload, faults, the
 * simulator's network model and the chosen protocol's own options.
 *
 * The same file drives the deterministic simulator (`ctk sim`) and real clusters (`ctk run`).
 * Loading checks every key: unknown keys, wrong types and impossible values are errors that name
 * the file, line, key and what was expected. Every field has a default, so a resolved config can
 * be written back out in full. */
#ifndef CTK_CONFIG_H
#define CTK_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../protocols/protocol.h"

#define CTK_MAX_FAULTS   64
#define CTK_MAX_SITES    16
#define CTK_NAME_LEN     64
#define CTK_ENDPOINT_LEN 128
#define CTK_PATH_LEN     512
#define CTK_MAX_CLIENTS  1024
#define CTK_ERR_LEN      512

typedef enum ctk_distribution {
  CTK_DIST_UNIFORM = 0,
  CTK_DIST_ZIPF,
  CTK_DIST_CONFLICT, /* conflict_pct percent of commands go to one shared hot key */
} ctk_distribution;

typedef enum ctk_fault_kind {
  CTK_FAULT_CRASH = 1, /* node crashes; restarts from its durable state after duration_s */
  CTK_FAULT_PARTITION, /* `nodes` are cut off from the rest (one_way: only rest -> nodes blocked) */
  CTK_FAULT_ISOLATE,   /* node is cut off from everyone, clients included */
  CTK_FAULT_DROP,      /* messages to and from node (or all, node = "all") lost with probability */
  CTK_FAULT_DELAY,     /* delay_ms added to messages to and from node */
  CTK_FAULT_DUPLICATE, /* messages duplicated with probability */
  CTK_FAULT_REORDER,   /* messages held back by a random extra delay with probability */
  CTK_FAULT_SLOW,      /* node processes and sends factor times slower */
  CTK_FAULT_CLOCK_SKEW, /* simulator only: node's clock runs at `rate` times real time (the
                           now_us it is given and the deadlines it asks for) */
} ctk_fault_kind;

/* Who a fault hits, resolved when it fires. */
enum {
  CTK_TARGET_LEADER = -1, /* the current leader (any node if there is none) */
  CTK_TARGET_RANDOM = -2, /* a node drawn from the run's seed */
  CTK_TARGET_ALL = -3,    /* network-wide (drop, delay, duplicate, reorder) */
};

typedef struct ctk_fault {
  double at_s;
  ctk_fault_kind kind;
  int node;          /* node id, or a CTK_TARGET_* */
  double duration_s; /* then the fault heals / the node restarts; 0 = until the liveness phase */
  int nodes[CTK_MAX_NODES]; /* partition: the side cut off from the rest */
  int n_nodes;
  int one_way;        /* partition: only messages into `nodes` are blocked */
  double probability; /* drop, duplicate, reorder */
  double delay_ms;    /* delay; reorder: the largest extra delay */
  double factor;      /* slow */
  double rate;        /* clock_skew: local seconds per real second (0.5: slow, 2: fast) */
  int line;           /* where it was defined, for messages */
} ctk_fault;

typedef struct ctk_workload {
  int clients;
  double duration_s; /* 0 when ops is used */
  int64_t ops;       /* 0 when duration_s is used */
  double warmup_s;
  double read_ratio; /* share of gets; the rest are writes */
  double cas_ratio;  /* share of writes that are compare-and-swap instead of put */
  int64_t keys;
  ctk_distribution distribution;
  double zipf_s;
  double conflict_pct;
  int value_bytes;
  double rate;              /* 0 = closed loop; otherwise open-loop ops/s with Poisson arrivals */
  double client_timeout_ms; /* a client gives up on one node after this and tries another */
  int max_attempts;         /* attempts per operation before recording it as unknown (info) */
  int sticky_sessions;      /* 1: a client stays with the node that answered it, ignoring the
                               leader named in answers (ZooKeeper-style sessions: where follower
                               reads are local); it still moves on after a timeout or a refusal */
  int stale_reads; /* 1: the protocol was asked for reads that may be stale (follower or local
                      reads): the checker checks the writes for linearizability and measures
                      the reads' staleness instead of failing the run on it */
} ctk_workload;

/* How nodes and clients talk over TCP: in the clear, or authenticated and encrypted (CURVE). */
typedef enum ctk_security { CTK_SECURITY_NONE = 0, CTK_SECURITY_CURVE } ctk_security;

typedef struct ctk_cluster {
  int nodes;
  int base_port;
  ctk_security security;
  char keys_dir[CTK_PATH_LEN]; /* with CURVE: the key files of `ctk keygen`; a relative path in
                                  the file is resolved against the file's directory */
  char endpoints[CTK_MAX_NODES][CTK_ENDPOINT_LEN]; /* resolved: tcp://127.0.0.1:base_port+i */
  int site_of_node[CTK_MAX_NODES]; /* index into sim.site_names, 0 when no sites are given */
  /* The latency matrix between sites (wan.h): "" (none, or [sim] gives one), a built-in matrix's
   * name ("epaxos5"), or the absolute path of a matrix file. It fills sim.site_names and
   * sim.latency_ms; `ctk run` then emulates it on real processes in network namespaces. */
  char wan[CTK_PATH_LEN];
} ctk_cluster;

/* The simulated network, disk and run phases. */
typedef struct ctk_sim_config {
  double delay_ms[2];      /* uniform one-way delay [lo, hi] when no latency matrix is given */
  double loss;             /* base probability a message is lost */
  double duplicate;        /* base probability a message is delivered twice */
  double reorder;          /* base probability a message is held back (reordering it) */
  double reorder_delay_ms; /* the largest extra delay of a held-back message */
  double client_delay_ms;  /* one-way delay between a client and a node */
  double disk_sync_us;     /* time to make one step's persisted bytes durable */
  double step_us;          /* processing time of one event at a node */
  int n_sites;
  char site_names[CTK_MAX_SITES][CTK_NAME_LEN];
  double latency_ms[CTK_MAX_SITES][CTK_MAX_SITES]; /* one-way, between sites; used when n_sites */
  int random_faults;   /* 1: add a fault schedule drawn from the seed (for sweeps) */
  double chase_leader; /* probability that each new leader is crashed or cut off soon after
                          it is elected (random_faults draws one per seed too) */
  double liveness_s;   /* after the safety phase, faults heal and all must finish by then */
  int torn_writes;     /* 1: a crash may keep only a prefix of unsynced bytes */
} ctk_sim_config;

/* How a real node process (`ctk run`, `ctk node`) keeps its durable state and batches its work. */
typedef enum ctk_store_choice { CTK_STORE_CHOICE_WAL = 0, CTK_STORE_CHOICE_LMDB } ctk_store_choice;

typedef struct ctk_node_settings {
  ctk_store_choice store; /* "wal": checksummed append-only log; "lmdb": an LMDB environment */
  int sync;               /* 1: fdatasync before anything that depends on the bytes is sent */
  int batch_max;          /* inputs handled per group commit (one sync for all of them) */
  int max_frame_bytes;    /* larger frames are dropped and counted; at least the largest protocol
                             message (CTK_MAX_MESSAGE_BYTES) plus its frame header */
} ctk_node_settings;

typedef struct ctk_config {
  char path[CTK_PATH_LEN];
  char protocol_name[CTK_NAME_LEN];
  const ctk_protocol_def *protocol;
  /* A protocol loaded from a shared object: its absolute path (written back out, so the nodes of
   * a run load the same object); "" for a built-in protocol. */
  char protocol_path[CTK_PATH_LEN];
  uint64_t seed;
  ctk_cluster cluster;
  ctk_workload workload;
  ctk_fault faults[CTK_MAX_FAULTS];
  int n_faults;
  ctk_sim_config sim;
  ctk_node_settings node;
  /* The protocol's options struct (protocol->options_size bytes), defaults filled in. */
  void *protocol_options;
} ctk_config;

/* Fills *config with every default, for protocol `protocol_name` ("raft" when NULL): a built-in
 * protocol's name, or the path of a protocol's shared object (see ctk_protocol_is_path; a
 * relative path is taken from the current directory). Returns 0, or -1 with a message in err
 * (unknown protocol, an object that cannot be loaded). Free with ctk_config_free. */
int ctk_config_defaults(ctk_config *config, const char *protocol_name, char *err, size_t err_len);

/* Loads an experiment file, running protocol_name instead of the file's `protocol` when not NULL
 * (`ctk compare`). Same results and messages as ctk_config_load. */
int ctk_config_load_as(const char *path, const char *protocol_name, ctk_config *config, char *err,
                       size_t err_len);

/* Loads an experiment file. Returns 0, or -1 with a message in err of the form
 * "FILE:LINE: key 'workload.clients': expected an integer from 1 to 1024, got \"x\"".
 * On error *config holds nothing that needs freeing. */
int ctk_config_load(const char *path, ctk_config *config, char *err, size_t err_len);

/* The same, from TOML text in memory; `name` stands in for the file name in messages. */
int ctk_config_load_string(const char *toml_text, const char *name, ctk_config *config, char *err,
                           size_t err_len);

/* Writes the fully resolved configuration as TOML that ctk_config_load reads back to the same
 * values. Returns 0, or -1 on a write error. */
int ctk_config_write(const ctk_config *config, FILE *out);

void ctk_config_free(ctk_config *config);

/* "crash", "partition", ... as written in experiment files. */
const char *ctk_fault_kind_name(ctk_fault_kind kind);

#endif /* CTK_CONFIG_H */
