/* contract.c: the argument checks every built-in protocol makes (contract.h). */
#include "contract.h"

#include <stdio.h>

int ctk_contract_create_check(const ctk_node_config *config, const void *options,
                              const char *protocol, char *err, size_t err_len) {
  if (config && options && config->n_nodes >= 1 && config->n_nodes <= CTK_MAX_NODES &&
      config->node_id >= 0 && config->node_id < config->n_nodes)
    return 0;
  if (err && err_len) snprintf(err, err_len, "%s: bad node id or cluster size", protocol);
  return -1;
}

int ctk_contract_step_admits(const ctk_event *ev, int started) {
  if (!ev) return 0;
  if (ev->kind != CTK_EVENT_START) return started;
  return !started && !(ev->bytes.len > 0 && !ev->bytes.data);
}
