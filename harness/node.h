/* node.h: one protocol instance as a real process. It listens on its cluster endpoint with a
 * ZeroMQ ROUTER socket (peers and clients), keeps its durable bytes in a store on local disk, and
 * runs one event loop: poll with the protocol's deadline as the timeout, hand every frame that
 * arrived to the protocol, sync what the batch persisted once (group commit), and only then send
 * the batch's messages and answer its clients. Malformed, oversized and spoofed frames are
 * dropped and counted. An optional control socket lets the runner (`ctk run`) read the node's
 * status and set the network faults its transport applies. */
#ifndef CTK_NODE_H
#define CTK_NODE_H

#include <signal.h>
#include <stddef.h>

#include "config.h"

typedef struct ctk_node_args {
  const ctk_config *config;
  int id;                       /* 0 .. config->cluster.nodes - 1 */
  const char *dir;              /* where the durable state lives (created when missing) */
  const char *control_endpoint; /* "ipc://..." bound for the runner, or NULL */
  volatile sig_atomic_t *stop;  /* the loop returns once this becomes nonzero */
  FILE *log;                    /* one line per notable event, or NULL */
} ctk_node_args;

/* Runs the node until *args->stop is set. Returns 0 after a clean shutdown, or -1 with a message
 * in err (cannot bind, cannot open or read the store, durable state does not decode, a sync
 * failed: then nothing that depended on it was sent). */
int ctk_node_run(const ctk_node_args *args, char *err, size_t err_len);

#endif /* CTK_NODE_H */
