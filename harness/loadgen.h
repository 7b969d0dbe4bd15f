/* loadgen.h: the clients of a real run. One thread drives every client of the workload over
 * ZeroMQ (a DEALER socket per node): each client has one operation outstanding, sends it to the
 * node it last heard was leader (else the next node in turn), retries the same request (same
 * sequence number, so the store applies it once) at another node after a timeout or a refusal,
 * and records the history the checker judges: ok or fail when a node answers, info (outcome
 * unknown) once it gives up.
 *
 * Closed loop (workload.rate = 0): a client starts its next operation when one completes. Open
 * loop: requests arrive as a Poisson process of workload.rate per second and wait for a free
 * client; their invoke is recorded at the arrival (the intended send time), so latency includes
 * the queueing (no coordinated omission). Times are µs from the run's start. */
#ifndef CTK_LOADGEN_H
#define CTK_LOADGEN_H

#include <stdint.h>

#include "config.h"
#include "history.h"

typedef struct ctk_loadgen ctk_loadgen;

typedef struct ctk_loadgen_stats {
  uint64_t invoked, ok, fail, info;
  uint64_t sends, timeouts, refusals;
  uint64_t busy;   /* of the refusals, "busy" answers (backpressure): retried at the same node */
  uint64_t shed;   /* open loop: arrivals dropped because the backlog was full */
  int outstanding; /* clients with an operation in flight */
  int finished;    /* the workload is over: no operation will start any more */
} ctk_loadgen_stats;

/* Starts the clients' thread. t0_us is the run's start on CLOCK_MONOTONIC (µs). fresh_keys:
 * prefix every key with this run's nonce ("r00c0ffee12.k7"), for clusters that may hold state of
 * earlier runs (the checker assumes every key starts absent). Returns NULL with a message in
 * err. */
ctk_loadgen *ctk_loadgen_start(const ctk_config *config, uint64_t t0_us, int fresh_keys, char *err,
                               size_t err_len);

/* The same, the connections of client c leaving from address sources[c % nodes] (an IPv4
 * address of this machine, the client's site in a wide-area run: wan_net.h) when sources is not
 * NULL. */
ctk_loadgen *ctk_loadgen_start_from(const ctk_config *config, uint64_t t0_us, int fresh_keys,
                                    const char *const *sources, char *err, size_t err_len);

/* A consistent copy of the counters (safe from any thread). */
void ctk_loadgen_stats_get(ctk_loadgen *self, ctk_loadgen_stats *stats);

/* Ends the workload now (when it has not ended by itself, on duration_s or ops): no operation
 * starts after this; outstanding ones keep retrying, without a limit on attempts. */
void ctk_loadgen_finish(ctk_loadgen *self);

/* Stops the thread; operations still outstanding are recorded as info. Moves the history into
 * *history (initialised by this call) and NULLs the caller's pointer. */
void ctk_loadgen_join(ctk_loadgen **self_p, ctk_history *history);

#endif /* CTK_LOADGEN_H */
