/* wan_net.h: the wide-area network of a `ctk run` with cluster.wan, built from Linux network
 * namespaces. Needs root.
 *
 * Each node runs in its own namespace "ctk-<pid>-n<i>" (pid: the runner's), with one TUN device
 * "ctk<pid>n<i>" holding its address 10.A.B.(i+1)/24 (A.B from the runner's pid). The clients
 * stay in the runner's namespace, on one TUN device "ctk<pid>c" with one address per site,
 * 10.A.B.(101+s); a client connects from the address of its site. Every packet between these
 * devices goes through a delay line (wan_delay.h) that holds it for the one-way delay of the
 * matrix from its source's site to its destination's: latency_ms[a][b] on the way from a to b,
 * latency_ms[b][a] back, as `tc netem delay` on each sender's egress filtered by destination.
 *
 * Teardown: ctk_wan_net_stop deletes the namespaces and closes the devices (TUN devices vanish
 * with their last descriptor, so a runner killed with SIGKILL leaves none). Namespaces outlive a
 * killed runner: ctk_wan_net_start first deletes every "ctk-<pid>-*" namespace whose runner is
 * gone. Commands run are `ip` with argument vectors (posix_spawnp, never a shell); a failure is
 * returned with the command line and its stderr. */
#ifndef CTK_WAN_NET_H
#define CTK_WAN_NET_H

#include <stddef.h>

#include "config.h"

typedef struct ctk_wan_net ctk_wan_net;

/* Builds the namespaces, devices and addresses for config (config->cluster.wan set: sites in
 * config->sim, nodes placed by cluster.site_of_node, base_port for the ports) and starts the
 * delay line. Returns NULL with a message in err (not root, no /dev/net/tun, a failed `ip`
 * command), having removed whatever it had built. */
ctk_wan_net *ctk_wan_net_start(const ctk_config *config, char *err, size_t err_len);

/* Node i's namespace, as named under /run/netns. */
const char *ctk_wan_net_netns(const ctk_wan_net *self, int node);
/* Node i's endpoint, "tcp://10.A.B.(i+1):(base_port + i)". */
const char *ctk_wan_net_endpoint(const ctk_wan_net *self, int node);
/* The address the clients of `site` connect from, "10.A.B.(101+site)". */
const char *ctk_wan_net_client_address(const ctk_wan_net *self, int site);

/* Deletes every namespace named "ctk-<pid>-..." whose process <pid> is gone. Returns the number
 * deleted, or -1 with a message in err. */
int ctk_wan_net_remove_stale(char *err, size_t err_len);

/* Stops the delay line, closes the devices and deletes the namespaces; NULLs the pointer.
 * Returns 0, or -1 with the first failure in err (a namespace left is removed by the next
 * run's start). */
int ctk_wan_net_stop(ctk_wan_net **self_p, char *err, size_t err_len);

#endif /* CTK_WAN_NET_H */
