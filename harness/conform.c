/* conform.c: the conformance suite (see conform.h). Every check builds its experiment from the
 * defaults (ctk_config_defaults), runs it in the simulator (ctk_sim_execute) over a few seeds,
 * and judges the report and the client history. A failed check writes its experiment out, so
 * `ctk sim FILE --seed S` replays the failing run exactly. */
#include "conform.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config_internal.h"
#include "history.h"
#include "sim.h"

#define CONFORM_FEW_SEEDS   3      /* seeds of every check but the sweep */
#define CONFORM_MIN_OPS     100    /* fault-free progress: operations answered in 3 s */
#define CONFORM_MAX_MSGS_OP 50.0   /* message budget per answered operation, fault-free */
#define CONFORM_MAX_LEADERS 2      /* leader changes in a fault-free run: the first, plus one */
#define CONFORM_GRACE_US    100000 /* replies already on their way when a majority crashed */

typedef struct conform_check {
  const char *name;
  const char *description;
  int (*run)(const ctk_conform_options *o, ctk_conform_result *r, char *err, size_t err_len);
} conform_check;

/* ---- experiments ---- */

/* The common experiment: the protocol's defaults, a small hot key space so reads meet writes,
 * clients that give up on a node quickly. */
static int conform_config(const ctk_conform_options *o, double duration_s, ctk_config *c, char *err,
                          size_t err_len) {
  if (ctk_config_defaults(c, o->protocol, err, err_len)) return -1;
  c->cluster.nodes = o->nodes;
  config_default_endpoints(&c->cluster);
  c->workload.clients = 6;
  c->workload.duration_s = duration_s;
  c->workload.warmup_s = 0;
  c->workload.keys = 20;
  c->workload.read_ratio = 0.4;
  c->workload.client_timeout_ms = 500;
  c->sim.liveness_s = 30;
  snprintf(c->path, sizeof c->path, "(conform)");
  return 0;
}

static void conform_fault(ctk_config *c, ctk_fault_kind kind, int node, double at_s,
                          double duration_s) {
  ctk_fault *f = &c->faults[c->n_faults++];
  memset(f, 0, sizeof *f);
  f->kind = kind;
  f->node = node;
  f->at_s = at_s;
  f->duration_s = duration_s;
}

/* Runs c with seed; with h not NULL, the client history is read back into *h (initialised
 * either way). Returns 0, or -1 with a message in err. */
static int conform_execute(ctk_config *c, uint64_t seed, ctk_sim_report *report, ctk_history *h,
                           char *err, size_t err_len) {
  c->seed = seed;
  char path[CTK_PATH_LEN] = "";
  ctk_sim_options options = {0};
  if (h) {
    ctk_history_init(h);
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/ctk-conform-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
      snprintf(err, err_len, "%s: %s", path, strerror(errno));
      return -1;
    }
    close(fd);
    options.history_path = path;
  }
  int rc = ctk_sim_execute(c, &options, report, err, err_len);
  if (!rc && h) {
    ctk_history_free(h);
    rc = ctk_history_read_jsonl(path, h, err, err_len);
    if (rc) ctk_sim_report_free(report);
  }
  if (path[0]) unlink(path);
  return rc;
}

/* Writes operations completed with a write applied (put ok, cas ok) in [from_us, to_us). */
static size_t conform_writes_between(const ctk_history *h, uint64_t from_us, uint64_t to_us) {
  size_t n = 0;
  for (size_t i = 0; i < h->n; i++) {
    const ctk_hist_event *e = &h->events[i];
    if (e->type == CTK_HIST_OK && e->f != CTK_F_GET && e->time_us >= from_us && e->time_us < to_us)
      n++;
  }
  return n;
}

/* ---- verdicts ---- */

static void conform_pass(ctk_conform_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void conform_pass(ctk_conform_result *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  r->verdict = CTK_CONFORM_PASS;
  vsnprintf(r->detail, sizeof r->detail, fmt, ap);
  va_end(ap);
}

/* Records a failure at seed and writes the experiment to out_dir/<check>.toml for replay. */
static int conform_fail(const ctk_conform_options *o, ctk_conform_result *r, ctk_config *c,
                        uint64_t seed, char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
static int conform_fail(const ctk_conform_options *o, ctk_conform_result *r, ctk_config *c,
                        uint64_t seed, char *err, size_t err_len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  r->verdict = CTK_CONFORM_FAIL;
  r->seed = seed;
  vsnprintf(r->detail, sizeof r->detail, fmt, ap);
  va_end(ap);
  if (mkdir(o->out_dir, 0777) && errno != EEXIST) {
    snprintf(err, err_len, "%s: %s", o->out_dir, strerror(errno));
    return -1;
  }
  snprintf(r->replay, sizeof r->replay, "%.*s/%s.toml", (int)(sizeof r->replay - 32), o->out_dir,
           r->name);
  c->seed = seed;
  FILE *f = fopen(r->replay, "w");
  int bad = !f || ctk_config_write(c, f);
  if (f && fclose(f)) bad = 1;
  if (bad) {
    snprintf(err, err_len, "%s: cannot write the failing experiment", r->replay);
    return -1;
  }
  /* The failing seed once more, with its timeline page written next to the experiment. */
  snprintf(r->timeline, sizeof r->timeline, "%.*s/%s-seed-%" PRIu64 ".html",
           (int)(sizeof r->timeline - 64), o->out_dir, r->name, seed);
  ctk_sim_options options = {0};
  ctk_sim_report report;
  char run_err[256];
  options.html = fopen(r->timeline, "w");
  bad = !options.html || ctk_sim_execute(c, &options, &report, run_err, sizeof run_err);
  if (!bad) ctk_sim_report_free(&report);
  if (options.html && fclose(options.html)) bad = 1;
  if (bad) r->timeline[0] = 0; /* the failure stands; only its picture is missing */
  return 0;
}

/* Why a run did not pass: its first violation, or the checker's first line. */
static void conform_why(const ctk_sim_report *report, char *buf, size_t len) {
  if (report->violation) {
    snprintf(buf, len, "%.600s", report->violation_text);
  } else if (report->linearizable == 0) {
    const char *x = report->checker_explanation ? report->checker_explanation : "";
    const char *nl = strchr(x, '\n');
    snprintf(buf, len, "history not linearizable: %.*s", nl ? (int)(nl - x) : (int)strlen(x), x);
  } else {
    snprintf(buf, len, "the run did not pass");
  }
}

/* ---- the checks ---- */

/* (a) fault-free: the run passes (safe, linearizable, converged) and answers operations. */
static int check_progress(const ctk_conform_options *o, ctk_conform_result *r, char *err,
                          size_t err_len) {
  ctk_config c;
  if (conform_config(o, 3, &c, err, err_len)) return -1;
  uint64_t total = 0;
  int rc = 0;
  for (uint64_t seed = 1; seed <= CONFORM_FEW_SEEDS && r->verdict == CTK_CONFORM_PASS; seed++) {
    ctk_sim_report report;
    if ((rc = conform_execute(&c, seed, &report, NULL, err, err_len))) break;
    char why[1024];
    if (!ctk_sim_report_ok(&report)) {
      conform_why(&report, why, sizeof why);
      rc = conform_fail(o, r, &c, seed, err, err_len, "fault-free run failed: %s", why);
    } else if (report.stats.ops_ok < CONFORM_MIN_OPS) {
      rc = conform_fail(o, r, &c, seed, err, err_len,
                        "only %" PRIu64 " operations answered in 3 s without faults (at least %d)",
                        report.stats.ops_ok, CONFORM_MIN_OPS);
    }
    total += report.stats.ops_ok;
    ctk_sim_report_free(&report);
    if (rc) break;
  }
  if (!rc && r->verdict == CTK_CONFORM_PASS)
    conform_pass(r, "%d fault-free runs of 3 s: %" PRIu64 " operations answered (at least %d each)",
                 CONFORM_FEW_SEEDS, total, CONFORM_MIN_OPS);
  ctk_config_free(&c);
  return rc;
}

/* (b) random faults (crashes, partitions, loss, duplication, reordering) over many seeds: every
 * invariant holds, histories are linearizable, and all converge once faults heal. */
static int check_safety(const ctk_conform_options *o, ctk_conform_result *r, char *err,
                        size_t err_len) {
  ctk_config c;
  if (conform_config(o, 5, &c, err, err_len)) return -1;
  c.sim.random_faults = 1;
  c.sim.loss = 0.02;
  c.sim.duplicate = 0.02;
  c.sim.reorder = 0.05;
  int rc = 0;
  for (int s = 1; s <= o->seeds && r->verdict == CTK_CONFORM_PASS; s++) {
    ctk_sim_report report;
    if ((rc = conform_execute(&c, (uint64_t)s, &report, NULL, err, err_len))) break;
    if (!ctk_sim_report_ok(&report)) {
      char why[1024];
      conform_why(&report, why, sizeof why);
      rc = conform_fail(o, r, &c, (uint64_t)s, err, err_len, "%s", why);
    }
    ctk_sim_report_free(&report);
  }
  if (!rc && r->verdict == CTK_CONFORM_PASS)
    conform_pass(r, "%d seeds of random faults: invariants held, linearizable, converged",
                 o->seeds);
  ctk_config_free(&c);
  return rc;
}

/* (c) a majority crashes at 1 s and stays down until the liveness phase: no write may complete
 * while it is down (after a grace for replies already on their way), and the run stays safe. */
static int check_quorum(const ctk_conform_options *o, ctk_conform_result *r, char *err,
                        size_t err_len) {
  ctk_config c;
  if (conform_config(o, 3, &c, err, err_len)) return -1;
  int majority = o->nodes / 2 + 1;
  for (int k = 0; k < majority; k++) conform_fault(&c, CTK_FAULT_CRASH, k, 1.0, 0);
  int rc = 0;
  for (uint64_t seed = 1; seed <= CONFORM_FEW_SEEDS && r->verdict == CTK_CONFORM_PASS; seed++) {
    ctk_sim_report report;
    ctk_history h;
    if ((rc = conform_execute(&c, seed, &report, &h, err, err_len))) {
      ctk_history_free(&h);
      break;
    }
    uint64_t down_us = 0, up_us = UINT64_MAX;
    for (int k = 0; k < report.n_faults; k++) {
      if (report.faults[k].kind != CTK_FAULT_CRASH) continue;
      if (report.faults[k].at_us > down_us) down_us = report.faults[k].at_us;
      if (report.faults[k].healed_us && report.faults[k].healed_us < up_us)
        up_us = report.faults[k].healed_us;
    }
    size_t writes = conform_writes_between(&h, down_us + CONFORM_GRACE_US, up_us);
    char why[1024];
    if (writes) {
      rc = conform_fail(o, r, &c, seed, err, err_len,
                        "%zu writes completed while %d of %d nodes were down (%.2f s to %.2f s)",
                        writes, majority, o->nodes, (double)down_us / 1e6,
                        up_us == UINT64_MAX ? -1.0 : (double)up_us / 1e6);
    } else if (!ctk_sim_report_ok(&report)) {
      conform_why(&report, why, sizeof why);
      rc = conform_fail(o, r, &c, seed, err, err_len, "%s", why);
    }
    ctk_sim_report_free(&report);
    ctk_history_free(&h);
  }
  if (!rc && r->verdict == CTK_CONFORM_PASS)
    conform_pass(r, "%d of %d nodes crashed at 1 s: no write completed until they restarted",
                 majority, o->nodes);
  ctk_config_free(&c);
  return rc;
}

/* Shared by (d) and (e): the run passes and a write completes between the last heal and the end
 * of the workload. */
static int conform_progress_after(const ctk_conform_options *o, ctk_conform_result *r,
                                  ctk_config *c, const char *what, char *err, size_t err_len) {
  int rc = 0;
  uint64_t end_us = (uint64_t)(c->workload.duration_s * 1e6);
  size_t total = 0;
  for (uint64_t seed = 1; seed <= CONFORM_FEW_SEEDS && r->verdict == CTK_CONFORM_PASS; seed++) {
    ctk_sim_report report;
    ctk_history h;
    if ((rc = conform_execute(c, seed, &report, &h, err, err_len))) {
      ctk_history_free(&h);
      break;
    }
    uint64_t healed_us = 0;
    for (int k = 0; k < report.n_faults; k++)
      if (report.faults[k].healed_us > healed_us) healed_us = report.faults[k].healed_us;
    size_t writes = conform_writes_between(&h, healed_us, end_us);
    total += writes;
    char why[1024];
    if (!ctk_sim_report_ok(&report)) {
      conform_why(&report, why, sizeof why);
      rc = conform_fail(o, r, c, seed, err, err_len, "%s: %s", what, why);
    } else if (!writes) {
      rc = conform_fail(o, r, c, seed, err, err_len,
                        "%s: no write completed between %.2f s (healed) and %.2f s", what,
                        (double)healed_us / 1e6, (double)end_us / 1e6);
    }
    ctk_sim_report_free(&report);
    ctk_history_free(&h);
  }
  if (!rc && r->verdict == CTK_CONFORM_PASS)
    conform_pass(r, "%s: linearizable, converged, %zu writes after the heal over %d seeds", what,
                 total, CONFORM_FEW_SEEDS);
  return rc;
}

/* (d) every node crashes in turn, then all at once, and restarts from its durable state. */
static int check_recovery(const ctk_conform_options *o, ctk_conform_result *r, char *err,
                          size_t err_len) {
  ctk_config c;
  if (conform_config(o, 5, &c, err, err_len)) return -1;
  for (int k = 0; k < o->nodes; k++) conform_fault(&c, CTK_FAULT_CRASH, k, 0.5 + 0.2 * k, 0.3);
  for (int k = 0; k < o->nodes; k++) conform_fault(&c, CTK_FAULT_CRASH, k, 2.5, 0.5);
  int rc = conform_progress_after(o, r, &c, "every node crashed and restarted", err, err_len);
  ctk_config_free(&c);
  return rc;
}

/* (e) the leader is isolated, then a majority is split from the rest; both heal by 3.5 s. */
static int check_partition(const ctk_conform_options *o, ctk_conform_result *r, char *err,
                           size_t err_len) {
  ctk_config c;
  if (conform_config(o, 5, &c, err, err_len)) return -1;
  conform_fault(&c, CTK_FAULT_ISOLATE, CTK_TARGET_LEADER, 1.0, 1.0);
  conform_fault(&c, CTK_FAULT_PARTITION, 0, 2.5, 1.0);
  ctk_fault *split = &c.faults[c.n_faults - 1];
  split->n_nodes = o->nodes / 2;
  for (int k = 0; k < split->n_nodes; k++) split->nodes[k] = k;
  int rc = conform_progress_after(o, r, &c, "partitions healed", err, err_len);
  ctk_config_free(&c);
  return rc;
}

/* (f) and (g) judge fault-free runs by their counters. */
static int conform_fault_free(const ctk_conform_options *o, ctk_conform_result *r, int leaders,
                              char *err, size_t err_len) {
  ctk_config c;
  if (conform_config(o, 3, &c, err, err_len)) return -1;
  int rc = 0;
  uint64_t worst_changes = 0;
  double worst_per_op = 0;
  for (uint64_t seed = 1; seed <= CONFORM_FEW_SEEDS && r->verdict == CTK_CONFORM_PASS; seed++) {
    ctk_sim_report report;
    if ((rc = conform_execute(&c, seed, &report, NULL, err, err_len))) break;
    const ctk_sim_stats *s = &report.stats;
    uint64_t done = s->ops_ok + s->ops_fail;
    double per_op = done ? (double)s->msgs_sent / (double)done : 0;
    if (leaders && !s->first_leader_us) {
      rc = conform_fail(o, r, &c, seed, err, err_len, "no leader was elected without faults");
    } else if (leaders && s->leader_changes > CONFORM_MAX_LEADERS) {
      rc = conform_fail(o, r, &c, seed, err, err_len,
                        "%" PRIu64
                        " leader changes without faults (at most %d: the first "
                        "election and one more)",
                        s->leader_changes, CONFORM_MAX_LEADERS);
    } else if (!leaders && !done) {
      rc = conform_fail(o, r, &c, seed, err, err_len, "no operation answered without faults");
    } else if (!leaders && per_op > CONFORM_MAX_MSGS_OP) {
      rc = conform_fail(o, r, &c, seed, err, err_len,
                        "%.1f messages per answered operation without faults (at most %.0f)",
                        per_op, CONFORM_MAX_MSGS_OP);
    }
    if (s->leader_changes > worst_changes) worst_changes = s->leader_changes;
    if (per_op > worst_per_op) worst_per_op = per_op;
    ctk_sim_report_free(&report);
  }
  if (!rc && r->verdict == CTK_CONFORM_PASS && leaders)
    conform_pass(r, "at most %" PRIu64 " leader changes in %d fault-free runs (limit %d)",
                 worst_changes, CONFORM_FEW_SEEDS, CONFORM_MAX_LEADERS);
  else if (!rc && r->verdict == CTK_CONFORM_PASS)
    conform_pass(r,
                 "at most %.1f messages per answered operation in %d fault-free runs (limit %.0f)",
                 worst_per_op, CONFORM_FEW_SEEDS, CONFORM_MAX_MSGS_OP);
  ctk_config_free(&c);
  return rc;
}

static int check_leader(const ctk_conform_options *o, ctk_conform_result *r, char *err,
                        size_t err_len) {
  ctk_config c;
  if (ctk_config_defaults(&c, o->protocol, err, err_len)) return -1;
  unsigned flags = c.protocol->flags;
  ctk_config_free(&c);
  if (!(flags & CTK_PROTO_LEADERS)) {
    r->verdict = CTK_CONFORM_SKIP;
    snprintf(r->detail, sizeof r->detail, "the protocol has no leaders (no CTK_PROTO_LEADERS)");
    return 0;
  }
  return conform_fault_free(o, r, 1, err, err_len);
}

static int check_messages(const ctk_conform_options *o, ctk_conform_result *r, char *err,
                          size_t err_len) {
  return conform_fault_free(o, r, 0, err, err_len);
}

static const conform_check conform_checks[] = {
    {"progress", "fault-free runs answer operations (liveness)", check_progress},
    {"safety", "random faults over the seed sweep: invariants, linearizability", check_safety},
    {"quorum", "no write completes while a majority is down", check_quorum},
    {"recovery", "every node crashes and restarts from disk: durable, converged", check_recovery},
    {"partition", "progress once partitions heal", check_partition},
    {"leader", "a stable leader without faults (protocols with leaders)", check_leader},
    {"messages", "messages per operation within budget without faults", check_messages},
};
#define CONFORM_N_CHECKS (int)(sizeof conform_checks / sizeof conform_checks[0])

int ctk_conform_count(void) { return CONFORM_N_CHECKS; }

const char *ctk_conform_name(int i) {
  return i >= 0 && i < CONFORM_N_CHECKS ? conform_checks[i].name : NULL;
}

const char *ctk_conform_describe(int i) {
  return i >= 0 && i < CONFORM_N_CHECKS ? conform_checks[i].description : NULL;
}

int ctk_conform_run(int i, const ctk_conform_options *options, ctk_conform_result *result,
                    char *err, size_t err_len) {
  memset(result, 0, sizeof *result);
  if (i < 0 || i >= CONFORM_N_CHECKS) {
    snprintf(err, err_len, "no check %d", i);
    return -1;
  }
  if (options->nodes < 3 || options->nodes > CTK_MAX_NODES || options->seeds < 1) {
    snprintf(err, err_len, "nodes must be 3 to %d and seeds at least 1", CTK_MAX_NODES);
    return -1;
  }
  result->name = conform_checks[i].name;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int rc = conform_checks[i].run(options, result, err, err_len);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  result->wall_s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  return rc;
}
