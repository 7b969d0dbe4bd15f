/* contract.h: the argument checks protocol.h's contract asks of every protocol, made the same way
 * by each built-in one at create and at the top of step. What a protocol then does with a valid
 * event stays in its own step. */
#ifndef CTK_CONTRACT_H
#define CTK_CONTRACT_H

#include <stddef.h>

#include "../protocol.h"

/* create's checks: config and options given, 1 <= n_nodes <= CTK_MAX_NODES and
 * 0 <= node_id < n_nodes. 0, or -1 with "<protocol>: bad node id or cluster size" in err (when
 * err_len > 0). */
int ctk_contract_create_check(const ctk_node_config *config, const void *options,
                              const char *protocol, char *err, size_t err_len);

/* step's checks before the protocol looks at the event: START comes once, first, with its bytes
 * present when it has any; any other event only after it. 1 when the step may handle ev, 0 when
 * it must answer CTK_ERR_INVALID (ev NULL included). */
int ctk_contract_step_admits(const ctk_event *ev, int started);

#endif /* CTK_CONTRACT_H */
