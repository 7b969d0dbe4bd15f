/* results.h: what one run measured, and how it is reported. Both hosts (real processes and the
 * simulator) fill a ctk_results: most of it is derived from the run's client history (counts,
 * throughput, latencies overall and for reads and writes, a per-second series, the unavailability
 * window after each fault), the rest from the nodes' counters (messages, bytes, leader changes).
 * It is printed as a table, written as JSON (one run) and, for `ctk compare`, side by side as a
 * table, a combined JSON and CSV.
 *
 * Times are microseconds from the run's start. Latency runs from an operation's invoke event,
 * which for open-loop workloads is the request's intended send time (so queueing is counted: no
 * coordinated omission), to its completion. */
#ifndef CTK_RESULTS_H
#define CTK_RESULTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "counts.h"
#include "histogram.h"
#include "history.h"

/* One fault as it happened in a run. */
typedef struct ctk_fault_event {
  int fault_index; /* index into config->faults; -1 for a fault the simulator drew itself */
  ctk_fault_kind kind;
  int node;              /* the node it hit, resolved when it fired, or CTK_TARGET_ALL */
  uint64_t at_us;        /* when it fired */
  uint64_t healed_us;    /* when it healed or the node restarted; 0: not during the run */
  double unavailable_ms; /* from the fault to the completion of the first write invoked at or after
                            it that committed (ok, or a cas that failed its comparison);
                            -1 when no such write completed during the run */
} ctk_fault_event;

/* One second of the run, [t, t + 1 s). */
typedef struct ctk_series_point {
  uint64_t ops;            /* operations completed (ok or fail) in this second */
  uint64_t p50_us, p99_us; /* their latency; 0 when none completed */
  int faults;              /* fault events that fired in this second */
} ctk_series_point;

typedef struct ctk_results {
  char protocol[CTK_NAME_LEN];
  char host[16]; /* "run" (real processes) or "sim" */
  int nodes, clients;
  uint64_t seed;
  /* From the history. */
  double duration_s;                   /* the measured window: warmup to end */
  uint64_t ops_ok, ops_fail, ops_info; /* every completed operation of the run */
  double throughput_ops_s;             /* ok + fail completed in the window, per second */
  ctk_histogram latency_all_us;        /* operations completed in the window */
  ctk_histogram latency_read_us, latency_write_us;
  ctk_series_point *series; /* one per second from the start of the run; malloc'd */
  size_t n_series;
  /* From the nodes (filled by the host). */
  uint64_t msgs_sent, bytes_sent; /* between nodes, over the whole run */
  uint64_t msgs_malformed;        /* protocol messages a node rejected as malformed */
  uint64_t frames_rejected;       /* frames a node's transport dropped (bad, oversized, spoofed) */
  uint64_t handshakes_failed;     /* connections the nodes refused (CURVE keys, mechanism) */
  uint64_t leader_changes;        /* times a node became leader, the first election included */
  uint64_t max_term;              /* the highest term (ballot, view, epoch) any node reached */
  ctk_counts counters;            /* the protocol's own, summed over nodes and restarts */
  double msgs_per_op, bytes_per_op; /* per completed (ok + fail) operation of the whole run */
  ctk_fault_event faults[CTK_MAX_FAULTS];
  int n_faults;
  int linearizable; /* 1, 0, or -1: undecided or not checked */
  /* Reads (filled by the host from staleness.h): stale reads asked for (workload.stale_reads:
   * linearizable is then of the writes), and the provably stale ones among the completed gets. */
  int stale_reads_allowed;
  uint64_t reads_checked, reads_stale;
  uint64_t stale_versions_max, stale_behind_us_max;
  double stale_versions_mean, stale_behind_us_mean;
  char history_path[CTK_PATH_LEN];
  double wall_s;
} ctk_results;

/* Fills the history-derived fields of *r (counts, throughput, latencies, series, and
 * unavailable_ms of each of r->faults[0 .. n_faults)), and msgs_per_op and bytes_per_op from
 * msgs_sent and bytes_sent. The measured window is [warmup_us, end_us). Returns 0, or -1 when
 * out of memory. */
int ctk_results_compute(ctk_results *r, const ctk_history *h, uint64_t warmup_us, uint64_t end_us);

void ctk_results_free(ctk_results *r);

/* One run as a human-readable table (throughput, the latency quantiles overall, reads and writes,
 * messages, leader changes, each fault with its unavailability window, the verdict). */
void ctk_results_print(const ctk_results *r, FILE *out);

/* One run as a JSON object with at least: protocol, throughput_ops_s, latency_us {p50, p90, p99,
 * p999, max} (and latency_read_us, latency_write_us alike), ops_ok, ops_fail, ops_info,
 * linearizable (true/false/null), msgs_per_op, bytes_per_op, leader_changes, max_term, counters
 * {name: value} and fast_path_ratio (null without a fast path), faults [{kind, node, at_s,
 * healed_s, unavailable_ms}], series [{t_s, ops, p50_us, p99_us, faults}], history. Returns 0, or
 * -1 on a write error. */
int ctk_results_write_json(const ctk_results *r, FILE *out);

/* A protocol's counters on one line after label, and for a protocol with a fast path its fast-path
 * ratio, dependencies per command and execution delay on the next. */
void ctk_results_print_counters(const ctk_counts *c, const char *label, FILE *out);

/* Several runs (one per protocol) side by side: one column per run. */
void ctk_results_print_compare(const ctk_results *runs, size_t n, FILE *out);
/* {"runs": [ <ctk_results_write_json of each> ]}. Returns 0, or -1 on a write error. */
int ctk_results_write_compare_json(const ctk_results *runs, size_t n, FILE *out);
/* A header line, then one line per run. Returns 0, or -1 on a write error. */
int ctk_results_write_csv(const ctk_results *runs, size_t n, FILE *out);

#endif /* CTK_RESULTS_H */
