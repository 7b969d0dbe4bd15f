/* run.h: one experiment on real processes (`ctk run`, and each protocol of `ctk compare`).
 *
 * A run starts the cluster (cluster.h), starts the clients (loadgen.h), applies the fault
 * schedule (a crash is a SIGKILL and, after duration_s, a restart from the node's disk; network
 * faults are set in the nodes' transports through their control sockets), shows a progress line,
 * and when the workload is over heals every fault, lets outstanding operations finish, checks
 * that the replicas converged to the same store, stops every process, checks the history for
 * linearizability and fills a ctk_results. Everything it writes goes into one directory: the
 * resolved config, the history, the JSON results and each node's log and data. */
#ifndef CTK_RUN_H
#define CTK_RUN_H

#include <signal.h>

#include "staleness.h"
#include "config.h"
#include "results.h"

typedef struct ctk_run_options {
  const char *binary;          /* the ctk executable the nodes run */
  const char *run_dir;         /* created; must not exist yet or be empty */
  int attach;                  /* 1: the nodes were started by hand (`ctk node`); clients only */
  int progress;                /* 1: a progress line on stderr, updated every second */
  volatile sig_atomic_t *stop; /* set by a signal handler: abandon the run, clean up */
} ctk_run_options;

typedef struct ctk_run_report {
  ctk_results results;
  int converged;             /* 1: every node applied the same commands (equal store digests) */
  char note[512];            /* why it did not converge, or "" */
  int interrupted;           /* stopped by *options->stop */
  char *checker_explanation; /* malloc'd when not linearizable */
  ctk_staleness staleness;   /* how stale the reads were (workload.stale_reads: allowed) */
} ctk_run_report;

/* Runs config on real processes. Returns 0 when the run completed (its verdict is in the
 * report), or -1 with a message in err when it could not run or a node failed; either way no
 * process it started is left running. Free the report with ctk_run_report_free. */
int ctk_run_execute(const ctk_config *config, const ctk_run_options *options,
                    ctk_run_report *report, char *err, size_t err_len);
void ctk_run_report_free(ctk_run_report *report);
/* 1 when the run passed: linearizable and converged. */
int ctk_run_report_ok(const ctk_run_report *report);

#endif /* CTK_RUN_H */
