/* realnode.h: what the tests of real node processes share: a local cluster started from TOML
 * text on free ports, a workload run against it (with an optional kill and restart of one node),
 * the check that every node applied the same commands, and raw ZeroMQ sockets for playing a
 * hostile client or peer. Every helper fails the running cmocka test on error. */
#ifndef CTK_TESTS_REALNODE_H
#define CTK_TESTS_REALNODE_H

#include <stddef.h>
#include <stdint.h>

#include "cluster.h"
#include "config.h"
#include "hostwire.h"

/* Starts the cluster of an experiment whose [cluster] table is filled in here: `extra` is TOML
 * text appended after "protocol = ...\n[cluster]\nnodes = N\nbase_port = <free>\n" (more
 * [cluster] keys first, then other tables). Its run directory is dir/name. */
ctk_local_cluster *realnode_start(ctk_config *config, const char *dir, const char *name,
                                  const char *protocol, int nodes, const char *extra);

/* Runs the config's workload to its end; with kill_node >= 0 that node is killed 0.7 s in and
 * restarted 1 s later. Checks the history is linearizable; returns the operations that
 * succeeded. */
size_t realnode_run_workload(const ctk_config *config, ctk_local_cluster *cluster, int kill_node);

/* Waits until every node applied the same positions, then checks their stores are equal. */
void realnode_assert_converged(ctk_local_cluster *cluster, int n, hw_status *statuses);

/* A DEALER connected to endpoint, with a routing identity when given (LINGER 0). */
void *realnode_dealer(void *zmq, const void *identity, size_t identity_len, const char *endpoint);

#endif /* CTK_TESTS_REALNODE_H */
