/* admin.h: the operator requests of CTK_EVENT_ADMIN (protocol.h), read from their ASCII form:
 * "add N", "remove N", "transfer N", "force N,M,...". Every protocol with membership changes
 * reads them here and decides on its own what each means and whether it accepts it. */
#ifndef CTK_ADMIN_H
#define CTK_ADMIN_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
  CTK_ADMIN_ADD,
  CTK_ADMIN_REMOVE,
  CTK_ADMIN_TRANSFER,
  CTK_ADMIN_FORCE
} ctk_admin_verb;

typedef struct ctk_admin_request {
  ctk_admin_verb verb;
  int node;       /* add, remove, transfer: the node (force: the last one listed) */
  uint32_t nodes; /* force: every node listed (the others: the one node) */
} ctk_admin_request;

/* Reads a request of len bytes (at most 256) naming nodes below n_nodes into *req. 0, or -1 when
 * it is malformed: no known verb, a node out of range, a list for anything but force, or
 * anything left over. */
int ctk_admin_parse(const uint8_t *data, size_t len, int n_nodes, ctk_admin_request *req);

#endif /* CTK_ADMIN_H */
