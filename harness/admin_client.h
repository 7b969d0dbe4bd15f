/* admin_client.h: one operator request (protocol.h, "Administration") to one node of a running
 * cluster, over its client socket (hostwire ADMIN / ADMIN_REPLY frames); used by `ctk admin` and
 * by `ctk run` for the add, remove, transfer and force events of a fault schedule. */
#ifndef CTK_ADMIN_CLIENT_H
#define CTK_ADMIN_CLIENT_H

#include <stddef.h>

#include "config.h"

/* Sends request to node and waits up to timeout_ms for its answer. With CURVE it connects as
 * client-0 of cluster.keys. Returns 0 with the protocol's verdict in *rc (CTK_OK, CTK_ERR_*) and
 * the leader the node names in *leader_hint (-1: none), or -1 with a message in err (no
 * connection, no answer in time). */
int ctk_admin_send(const ctk_config *config, int node, const char *request, int timeout_ms, int *rc,
                   int *leader_hint, char *err, size_t err_len);

#endif /* CTK_ADMIN_CLIENT_H */
