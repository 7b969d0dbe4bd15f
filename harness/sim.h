/* sim.h: the deterministic simulator. One process hosts a whole cluster: N protocol instances, a
 * simulated network (delay, latency matrix between sites, loss, duplication, reordering, symmetric
 * and one-way partitions), simulated disks (sync latency; a crash loses unsynced bytes, possibly
 * leaving a torn suffix), crash and restart, slow nodes, and closed-loop clients that record a
 * history. Everything runs on a virtual clock and draws from one seed: same seed, same trace,
 * byte for byte.
 *
 * A run (ctk_sim_execute) has a safety phase (the workload runs and faults fire) and a liveness
 * phase (every fault heals, clients finish what they started and must do so, and all nodes must
 * agree on the commit index, within sim.liveness_s). Invariants are checked after every step;
 * the history is checked for linearizability at the end.
 *
 * The lower-level calls (ctk_sim_new, ctk_sim_run_until, ctk_sim_crash, ...) let tests script a
 * scenario step by step. */
#ifndef CTK_SIM_H
#define CTK_SIM_H

#include <stdint.h>
#include <stdio.h>

#include "staleness.h"
#include "config.h"
#include "histogram.h"
#include "history.h"
#include "results.h"

typedef struct ctk_simulator ctk_simulator;

/* Faults one run can fire: the experiment's own, those drawn by sim.random_faults (at most
 * CTK_MAX_FAULTS each) and the leader chaser's. Each fires at most once, so a run's fault events
 * always fit. */
#define CTK_SIM_MAX_CHASES       256
#define CTK_SIM_MAX_ADMIN_DRAWN  16 /* membership changes drawn by sim.random_membership */
#define CTK_SIM_MAX_FAULT_EVENTS (2 * CTK_MAX_FAULTS + CTK_SIM_MAX_ADMIN_DRAWN + CTK_SIM_MAX_CHASES)

typedef struct ctk_sim_options {
  FILE *trace;              /* a line per event, when not NULL */
  const char *history_path; /* the JSON-lines history is written there, when not NULL */
  int skip_check;           /* 1: do not run the linearizability checker at the end */
  int no_clients;           /* scripted tests that drive commands themselves */
  FILE *timeline;           /* a per-node timeline is printed there at the end, when not NULL */
  FILE *html;               /* a self-contained HTML page of the run (nodes as lanes, messages as
                               arrows, roles over time) is written there at the end */
  FILE *shiviz;             /* the run's messages as a ShiViz log (events with vector clocks) */
  int manual_network;       /* 1: a message sent stays in flight until ctk_sim_flight_take
                               delivers or drops it (scripted scenarios); no loss, delay,
                               duplication or reordering is drawn */
} ctk_sim_options;

typedef struct ctk_sim_stats {
  uint64_t now_us;
  uint64_t steps;
  uint64_t msgs_sent, msgs_delivered, msgs_lost, msgs_duplicated, msgs_malformed, bytes_sent;
  uint64_t commands_rejected;
  uint64_t commands_busy; /* of the rejected, refused by a full node (backpressure) */
  uint64_t arrivals_shed; /* open loop: arrivals dropped because the backlog was full */
  uint64_t ops_invoked, ops_ok, ops_fail, ops_info;
  uint64_t crashes, restarts;
  uint64_t leader_changes;  /* times a node became leader of a new term */
  uint64_t first_leader_us; /* when the first leader was elected (0: never; 1 at the start) */
  uint64_t max_term;
  uint64_t max_commit;
  uint64_t syncs, bytes_persisted;
  uint64_t snapshots_taken;    /* state machine snapshots handed to a protocol (SNAPSHOT steps) */
  uint64_t snapshots_restored; /* state machines replaced by a protocol's snapshot */
  uint64_t restores_unmatched; /* of them, not found among the snapshots taken (sim_order.c):
                                  that node's per-key order goes unchecked until it restarts */
  uint64_t restores_ambiguous; /* of them, matching snapshots taken at different places: the
                                  same (unchecked until it restarts or restores again) */
  uint64_t snapshot_bytes_max; /* the largest snapshot taken */
  uint64_t reads_without_log;  /* reads a protocol answered without a log write (output.reads) */
  uint64_t log_held_max;       /* most log positions a node held past its snapshot (status) */
  uint64_t durable_bytes_max;  /* the largest a node's durable bytes grew */
  ctk_histogram latency_us;    /* intended send to completion, answered ops after the warmup */
  uint64_t trace_hash;         /* hash of every event in order: equal runs have equal hashes */
} ctk_sim_stats;

typedef struct ctk_sim_report {
  ctk_sim_stats stats;
  int violation;             /* an invariant broke (safety or liveness) */
  char violation_text[1024]; /* the first violation */
  int linearizable;          /* 1, 0, or -1 undecided / not checked */
  ctk_counts counters;       /* the protocol's, summed over nodes and incarnations */
  char *checker_explanation; /* malloc'd when not linearizable */
  int stale_reads_allowed;   /* workload.stale_reads: linearizable is of the writes only */
  ctk_staleness staleness;   /* how stale the reads were */
  /* Every fault that fired, in the order it fired (scripted [[fault]] entries, random faults and
   * the leader chaser's): node resolved when it fired (CTK_TARGET_ALL: network-wide), at_us and
   * healed_us on the virtual clock of the history (healed_us 0: not healed during the run; faults
   * still active when the liveness phase begins heal then), fault_index into config->faults or
   * -1 for a fault the simulator drew, and unavailable_ms computed from the history by
   * ctk_results_compute. */
  ctk_fault_event faults[CTK_SIM_MAX_FAULT_EVENTS];
  int n_faults;
  double wall_s;
  /* Forced reconfigurations (the UNSAFE `force` operator request): how many happened, and the
   * first safety check that broke after one ("" when none did), the loss the operator accepted.
   * Such a break does not stop the run, so the checker judges what the clients saw. */
  int forced;
  char forced_loss[1024];
  /* The members at the end as the last leader saw them (0 and 0: no leader, or a protocol with
   * static membership). */
  uint32_t members, learners;
} ctk_sim_report;

/* Runs one experiment in the simulator with config->seed. Returns 0 when it ran (see the report
 * for the verdict), -1 with a message in err when it could not run. Free the report with
 * ctk_sim_report_free. */
int ctk_sim_execute(const ctk_config *config, const ctk_sim_options *options,
                    ctk_sim_report *report, char *err, size_t err_len);
void ctk_sim_report_free(ctk_sim_report *report);
/* 1 when the run passed: no violation, no loss after a forced reconfiguration, and a
 * linearizable (or unchecked) history. */
int ctk_sim_report_ok(const ctk_sim_report *report);

/* ---- step by step ---- */

ctk_simulator *ctk_sim_new(const ctk_config *config, const ctk_sim_options *options, char *err,
                           size_t err_len);
void ctk_sim_destroy(ctk_simulator **self_p);

/* Processes every event up to and including virtual time t_us. Returns 0, or -1 once an
 * invariant has been violated (see ctk_sim_violation). */
int ctk_sim_run_until(ctk_simulator *self, uint64_t t_us);
uint64_t ctk_sim_now(const ctk_simulator *self);
const char *ctk_sim_violation(const ctk_simulator *self); /* NULL while none */
const ctk_sim_stats *ctk_sim_stats_get(const ctk_simulator *self);
const ctk_history *ctk_sim_history(const ctk_simulator *self);

int ctk_sim_n_nodes(const ctk_simulator *self);
int ctk_sim_alive(const ctk_simulator *self, int node);
/* Status of a live node; returns -1 for a crashed one. */
int ctk_sim_status(const ctk_simulator *self, int node, ctk_status *status);
/* The leader of the highest term among live nodes that believe they lead, or -1. */
int ctk_sim_leader(const ctk_simulator *self);
/* Per-node counts of messages sent, for message-budget tests. */
uint64_t ctk_sim_msgs_sent_by(const ctk_simulator *self, int node);
uint64_t ctk_sim_msgs_sent_between(const ctk_simulator *self, int from, int to);

void ctk_sim_crash(ctk_simulator *self, int node);
void ctk_sim_restart(ctk_simulator *self, int node);
/* Blocks messages from -> to (one direction). */
void ctk_sim_block(ctk_simulator *self, int from, int to, int blocked);
/* Cuts node off from every other node (both directions) and from clients; 0 reconnects. */
void ctk_sim_isolate(ctk_simulator *self, int node, int isolated);
/* Splits the cluster: nodes in side (n_side of them) against the rest, both directions. */
void ctk_sim_partition(ctk_simulator *self, const int *side, int n_side);
/* Removes every partition, isolation and block set through the calls above. */
void ctk_sim_heal(ctk_simulator *self);
void ctk_sim_set_loss(ctk_simulator *self, double loss);

/* Submits a put of key=value at node (outside the workload's clients) through the protocol.
 * Returns the protocol's step result (CTK_OK, CTK_ERR_REJECTED, ...). */
int ctk_sim_submit_put(ctk_simulator *self, int node, const char *key, const char *value);
/* Hands node the operator request `request` ("add 3", "remove 0", "transfer 2", "force 0,1";
 * see protocol.h) at once. Returns the protocol's step result. */
int ctk_sim_admin(ctk_simulator *self, int node, const char *request);
/* The command node has committed at index (a copy in buf), or -1 when not committed there. */
int ctk_sim_committed(const ctk_simulator *self, int node, uint64_t index, char *key,
                      size_t key_len, char *value, size_t value_len);

/* ---- the manual network (options.manual_network) ---- */

/* Messages in flight, in the order they were sent. */
size_t ctk_sim_in_flight(const ctk_simulator *self);
/* Message k in flight (k < ctk_sim_in_flight): its sender, receiver and bytes (valid until the
 * next call that changes the simulator). Returns 0, or -1 when k is out of range. */
int ctk_sim_flight_at(const ctk_simulator *self, size_t k, int *from, int *to, const uint8_t **data,
                      uint32_t *len);
/* Takes message k out of flight. drop = 0 delivers it to its receiver's input queue, processed at
 * the next ctk_sim_run_until (its replies then go in flight). Returns 0 when it was delivered, 1
 * when it was lost (the receiver is down, or a partition cuts the link), 2 when dropped, -1 when
 * k is out of range. */
int ctk_sim_flight_take(ctk_simulator *self, size_t k, int drop);
/* Freezes node's timer (1): the protocol's deadlines pass without a TIMEOUT, as if its clock
 * stood still, until it is thawed (0), when a deadline that passed fires at once. Messages are
 * still handled. Scripts use it to choose which node times out first. */
void ctk_sim_freeze_timer(ctk_simulator *self, int node, int frozen);
/* The protocol's counters summed over every node and incarnation so far. */
void ctk_sim_counters(const ctk_simulator *self, ctk_counts *out);
/* When the next queued event (a timer, a node's step) is due, or UINT64_MAX when none is. */
uint64_t ctk_sim_next_event_us(const ctk_simulator *self);

#endif /* CTK_SIM_H */
