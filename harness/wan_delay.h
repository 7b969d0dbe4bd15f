/* wan_delay.h: a delay line for IPv4 packets between TUN devices, the wide-area links of a
 * `ctk run` with cluster.wan (wan_net.h).
 *
 * One thread reads every packet the kernel sends into any of the TUN devices (each node's, in its
 * network namespace, and the clients'), looks up its source's and destination's sites by the
 * last byte of their addresses, and writes it into the destination's device once the one-way
 * delay between those sites has passed: what `tc netem delay` on every sender's egress,
 * filtered by destination, would do. Packets of one (source, destination) pair keep their order.
 * Packets that are not IPv4 within the subnet, or to no known address, are dropped; so are
 * packets beyond WAN_DELAY_MAX_PACKETS held at once (netem's `limit`). */
#ifndef CTK_WAN_DELAY_H
#define CTK_WAN_DELAY_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define WAN_DELAY_MAX_PORTS   (CTK_MAX_NODES + 1)
#define WAN_DELAY_MAX_PACKETS 65536

/* Who is where in the run's /24: by the last byte of an address, the port (TUN device) it is
 * reached through and the site it is at (-1: nobody). */
typedef struct ctk_delay_map {
  uint32_t subnet; /* a.b.c.0, host byte order */
  int8_t port_of[256];
  int8_t site_of[256];
  uint64_t delay_us[CTK_MAX_SITES][CTK_MAX_SITES]; /* one-way, from site to site */
} ctk_delay_map;

typedef struct ctk_delay_line ctk_delay_line;

typedef struct ctk_delay_stats {
  uint64_t forwarded, dropped;
} ctk_delay_stats;

/* Starts the thread over n_ports non-blocking TUN file descriptors (port k is fds[k]; the caller
 * keeps them open until ctk_delay_line_stop). Returns NULL with a message in err. */
ctk_delay_line *ctk_delay_line_start(const int *fds, int n_ports, const ctk_delay_map *map,
                                     char *err, size_t err_len);

void ctk_delay_line_stats(ctk_delay_line *self, ctk_delay_stats *stats);

/* Stops and joins the thread; packets still held are dropped. NULLs the caller's pointer. */
void ctk_delay_line_stop(ctk_delay_line **self_p);

#endif /* CTK_WAN_DELAY_H */
