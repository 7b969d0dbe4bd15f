/* cluster.h: a local cluster of node processes, as `ctk run` manages it: start every node (this
 * same binary, `ctk node ... --control ipc://...`), ask a node for its status, set the network
 * faults its transport applies, kill one with SIGKILL and restart it from its disk, and stop them
 * all, leaving no process and no socket file behind.
 *
 * Children die with the runner (PR_SET_PDEATHSIG), so even a runner killed with SIGKILL leaves
 * no stray node. */
#ifndef CTK_CLUSTER_H
#define CTK_CLUSTER_H

#include <sys/types.h>

#include "config.h"
#include "hostwire.h"

typedef struct ctk_local_cluster ctk_local_cluster;

/* Starts one process per node of config, each reading config_path (which must hold config as
 * resolved) and keeping its state in run_dir/node-<i>, its log in run_dir/node-<i>.log. `binary`
 * is the ctk executable. Returns NULL with a message in err when a node cannot be started. */
ctk_local_cluster *ctk_local_cluster_start(const char *binary, const char *config_path,
                                           const ctk_config *config, const char *run_dir, char *err,
                                           size_t err_len);

/* The same, node i running in the network namespace netns[i] (a name under /run/netns, see
 * wan_net.h) when netns is not NULL. */
ctk_local_cluster *ctk_local_cluster_start_in(const char *binary, const char *config_path,
                                              const ctk_config *config, const char *run_dir,
                                              const char *const *netns, char *err, size_t err_len);

/* Waits until every live node answers on its control socket. Returns 0, or -1 with err. */
int ctk_local_cluster_wait_ready(ctk_local_cluster *self, int timeout_ms, char *err,
                                 size_t err_len);

/* Asks node i for its status, waiting up to timeout_ms. Returns 0, or -1 when it did not answer
 * (it is down, or busy). */
int ctk_local_cluster_status(ctk_local_cluster *self, int i, hw_status *status, int timeout_ms);

/* Tells node i which faults to apply. Returns 0 once it acknowledged, -1 otherwise. */
int ctk_local_cluster_set_faults(ctk_local_cluster *self, int i, const hw_faults *faults,
                                 int timeout_ms);

/* SIGKILL and reap node i. */
void ctk_local_cluster_kill(ctk_local_cluster *self, int i);
/* Starts node i again (it recovers from its disk). Returns 0, or -1 with err. */
int ctk_local_cluster_restart(ctk_local_cluster *self, int i, char *err, size_t err_len);
int ctk_local_cluster_alive(const ctk_local_cluster *self, int i);
pid_t ctk_local_cluster_pid(const ctk_local_cluster *self, int i);

/* Reaps nodes that exited on their own. Returns the id of one that did (and was not killed by
 * the runner), writing how it ended into err, or -1 when none did. */
int ctk_local_cluster_check_exits(ctk_local_cluster *self, char *err, size_t err_len);

/* Stops every node: SIGTERM, then SIGKILL for any still running after grace_ms; reaps them and
 * removes the control socket files. NULLs the caller's pointer. */
void ctk_local_cluster_stop(ctk_local_cluster **self_p, int grace_ms);

#endif /* CTK_CLUSTER_H */
