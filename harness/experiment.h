/* experiment.h: experiment matrices, the files `ctk bench` runs. An experiment file is an
 * ordinary experiment (config.h) plus, at the top level, a [sweep] table of lists and a
 * `repeat` count:
 *
 *   protocol = "raft"
 *   repeat = 3                       # each point is run 3 times (seeds seed, seed + 1, ...)
 *   [sweep]
 *   protocol = ["raft", "multipaxos"]
 *   clients = [1, 8, 32]             # a bare key: workload.clients
 *   nodes = [3, 5]                   # cluster.nodes
 *   "raft.prevote" = [false, true]   # or raft.prevote: any scalar key, by its table
 *
 * The points are the cross product of the lists, the first key varying slowest. Each point is
 * the file with the point's values in place of (or added to) the keys they name, read by the
 * same loader as every experiment file, so a bad value fails with the line of the [sweep] entry:
 * "exp.toml:6: key 'workload.clients': expected an integer from 1 to 1024, got 0".
 *
 * Bare keys: protocol and seed are top-level keys, nodes is cluster.nodes, any other bare key
 * is workload.<key>. A dotted key names table.key of a section ([cluster], [workload], [sim],
 * [node]) or of a protocol's table. [[fault]] entries cannot be swept. */
#ifndef CTK_EXPERIMENT_H
#define CTK_EXPERIMENT_H

#include <stddef.h>

#include "config.h"

#define CTK_EXP_MAX_KEYS   8
#define CTK_EXP_MAX_VALUES 64   /* per key */
#define CTK_EXP_MAX_POINTS 4096 /* in the cross product */
#define CTK_EXP_MAX_REPEAT 100

typedef struct ctk_sweep_key {
  char name[64];  /* as written in [sweep]: "clients", "raft.prevote" */
  char table[64]; /* the table it addresses: "" (top level), "workload", "raft", ... */
  char key[64];   /* the key in that table */
  int line;       /* of the [sweep] entry */
  size_t n_values;
  char values[CTK_EXP_MAX_VALUES][48]; /* rendered: "raft", "8", "0.5", "true" */
} ctk_sweep_key;

typedef struct ctk_experiment {
  char path[CTK_PATH_LEN];
  ctk_sweep_key keys[CTK_EXP_MAX_KEYS];
  int n_keys;
  int repeat;      /* 1 when not given */
  size_t n_points; /* the product of the keys' n_values; 1 without [sweep] */
} ctk_experiment;

/* Reads the file's [sweep] and repeat and checks every point's configuration. Returns 0, or -1
 * with a message naming the file, the line and the key in err. */
int ctk_experiment_load(const char *path, ctk_experiment *exp, char *err, size_t err_len);

/* The configuration of point i (0 <= i < n_points) into *config (free with ctk_config_free),
 * its label ("protocol=raft clients=8", "" without [sweep]) and a directory name made of the
 * same values ("protocol-raft_clients-8", "default" without [sweep]). Returns 0, or -1 with a
 * message in err. */
int ctk_experiment_point(const ctk_experiment *exp, size_t i, ctk_config *config, char *label,
                         size_t label_len, char *dir_name, size_t dir_len, char *err,
                         size_t err_len);

/* The value of key k at point i, rendered as in the label ("raft", "8", "0.5", "true"). */
void ctk_experiment_value(const ctk_experiment *exp, size_t i, int k, char *buf, size_t len);

#endif /* CTK_EXPERIMENT_H */
