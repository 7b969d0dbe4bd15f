/* run.c: one experiment on real processes (see run.h): the run's phases, the fault schedule, the
 * leader as the nodes report it, progress, convergence, and the results. */
#include "run.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "checker.h"
#include "clock.h"
#include "admin_client.h"
#include "cluster.h"
#include "common/rng.h"
#include "hostwire.h"
#include "loadgen.h"
#include "wan_net.h"

#define STATUS_EVERY_US   100000 /* how often the runner asks every node for its status */
#define STATUS_TIMEOUT_MS 50
#define READY_TIMEOUT_MS  10000    /* for every node to answer after the start */
#define DRAIN_MAX_US      15000000 /* for outstanding operations after the workload */
#define CONVERGE_MAX_US   10000000 /* for every node to apply the same commands */
#define STABLE_US         1000000  /* equal counts of different commands: for this long */

typedef enum { FAULT_PENDING = 0, FAULT_ACTIVE, FAULT_DONE } fault_state;

typedef struct run_fault {
  const ctk_fault *spec;
  fault_state state;
  int target;                 /* the node hit, or CTK_TARGET_ALL */
  int in_side[CTK_MAX_NODES]; /* partition: the side cut off */
  int event;                  /* its index in results.faults */
  uint64_t next_try_us;       /* operator requests: when to try again */
} run_fault;

typedef struct run {
  const ctk_config *config;
  ctk_config wan_config; /* with cluster.wan: config, the endpoints in the nodes' namespaces */
  ctk_wan_net *wan;
  const ctk_run_options *options;
  ctk_local_cluster *cluster;
  ctk_loadgen *loadgen;
  uint64_t t0_us;
  ctk_rng rng;
  run_fault faults[CTK_MAX_FAULTS];
  hw_faults applied[CTK_MAX_NODES]; /* what each node was last told */
  int faults_stale[CTK_MAX_NODES];  /* a restarted node must be told again */
  hw_status last[CTK_MAX_NODES];    /* the last status of each node's current process */
  int have_last[CTK_MAX_NODES];
  hw_status gone; /* counters of processes that were killed */
  int leader;
  uint64_t leader_term;
  ctk_results *results;
  uint64_t last_progress_us;
} run;

static uint64_t run_now(const run *self) { return ctk_clock_us() - self->t0_us; }

/* ---- what the nodes report ---- */

static void add_counters(hw_status *into, const hw_status *s) {
  into->msgs_sent += s->msgs_sent;
  into->bytes_sent += s->bytes_sent;
  into->msgs_malformed += s->msgs_malformed;
  into->frames_rejected += s->frames_rejected;
  into->handshakes_failed += s->handshakes_failed;
  into->became_leader += s->became_leader;
  ctk_counts_merge(&into->counters, &s->counters);
}

static void poll_statuses(run *self) {
  if (!self->cluster) return;
  int leader = -1;
  uint64_t leader_term = 0;
  for (int i = 0; i < self->config->cluster.nodes; i++) {
    if (!ctk_local_cluster_alive(self->cluster, i)) continue;
    hw_status s;
    if (ctk_local_cluster_status(self->cluster, i, &s, STATUS_TIMEOUT_MS)) continue;
    self->last[i] = s;
    self->have_last[i] = 1;
    if (s.proto.term > self->results->max_term) self->results->max_term = s.proto.term;
    if (self->faults_stale[i] &&
        ctk_local_cluster_set_faults(self->cluster, i, &self->applied[i], STATUS_TIMEOUT_MS) == 0)
      self->faults_stale[i] = 0;
    if (s.proto.role == CTK_ROLE_LEADER && (leader < 0 || s.proto.term > leader_term)) {
      leader = i;
      leader_term = s.proto.term;
    }
  }
  self->leader = leader;
  self->leader_term = leader_term;
}

/* ---- faults ---- */

/* What node i's transport must apply, given every active fault. */
static void compose_faults(const run *self, int i, hw_faults *f) {
  hw_faults_clear(f);
  for (int k = 0; k < self->config->n_faults; k++) {
    const run_fault *rf = &self->faults[k];
    if (rf->state != FAULT_ACTIVE) continue;
    const ctk_fault *spec = rf->spec;
    int hits = rf->target == CTK_TARGET_ALL || rf->target == i;
    int aimed = rf->target == i; /* aimed at this node: its received messages too */
    switch (spec->kind) {
    case CTK_FAULT_PARTITION:
      for (int j = 0; j < self->config->cluster.nodes; j++) {
        if (rf->in_side[i] == rf->in_side[j]) continue;
        /* One way: only messages into the side are blocked. */
        if (!spec->one_way || rf->in_side[j]) f->block_out |= 1u << j;
        if (!spec->one_way || rf->in_side[i]) f->block_in |= 1u << j;
      }
      break;
    case CTK_FAULT_ISOLATE: f->isolated |= hits; break;
    case CTK_FAULT_DROP:
      if (hits && spec->probability > f->drop) f->drop = spec->probability;
      f->both_ways |= aimed;
      break;
    case CTK_FAULT_DUPLICATE:
      if (hits && spec->probability > f->duplicate) f->duplicate = spec->probability;
      break;
    case CTK_FAULT_REORDER:
      if (hits && spec->probability > f->reorder) f->reorder = spec->probability;
      if (hits && spec->delay_ms * 1000 > f->reorder_delay_us)
        f->reorder_delay_us = (uint32_t)(spec->delay_ms * 1000);
      break;
    case CTK_FAULT_DELAY:
      if (hits) f->delay_us += (uint32_t)(spec->delay_ms * 1000);
      f->both_ways |= aimed;
      break;
    case CTK_FAULT_SLOW:
      if (hits && spec->factor > f->slow_factor) f->slow_factor = spec->factor;
      break;
    case CTK_FAULT_CRASH:
    case CTK_FAULT_CLOCK_SKEW: /* simulator only: refused before a run starts */
    case CTK_FAULT_ADD:        /* operator requests change no transport */
    case CTK_FAULT_REMOVE:
    case CTK_FAULT_TRANSFER:
    case CTK_FAULT_FORCE: break;
    }
  }
}

static void push_faults(run *self) {
  for (int i = 0; i < self->config->cluster.nodes; i++) {
    hw_faults f;
    compose_faults(self, i, &f);
    if (memcmp(&f, &self->applied[i], sizeof f) == 0 && !self->faults_stale[i]) continue;
    self->applied[i] = f;
    self->faults_stale[i] = !ctk_local_cluster_alive(self->cluster, i) ||
                            ctk_local_cluster_set_faults(self->cluster, i, &f, 200) != 0;
  }
}

static int resolve_target(run *self, int node) {
  if (node >= 0 || node == CTK_TARGET_ALL) return node;
  if (node == CTK_TARGET_LEADER) {
    poll_statuses(self);
    if (self->leader >= 0) return self->leader;
  }
  return (int)ctk_rng_range(&self->rng, 0, (uint64_t)self->config->cluster.nodes - 1);
}

/* ---- operator requests: add, remove, transfer, force ---- */

#define REQUEST_RETRY_US   50000
#define REQUEST_TIMEOUT_MS 500

static int is_request(ctk_fault_kind kind) {
  return kind == CTK_FAULT_ADD || kind == CTK_FAULT_REMOVE || kind == CTK_FAULT_TRANSFER ||
         kind == CTK_FAULT_FORCE;
}

/* A node the request can apply to, as the leader's status shows the members (as the simulator
 * draws it, sim_admin.c), or -1. */
static int pick_for(run *self, ctk_fault_kind kind, int leader) {
  int n = self->config->cluster.nodes;
  uint32_t all = (uint32_t)((1ull << n) - 1);
  const ctk_status *st = &self->last[leader].proto;
  uint32_t voters = st->members ? st->members & all : all;
  uint32_t candidates = kind == CTK_FAULT_ADD      ? all & ~(voters | st->learners)
                        : kind == CTK_FAULT_REMOVE ? voters | st->learners
                                                   : voters & ~(1u << leader);
  int count = __builtin_popcount(candidates);
  if (!count) return -1;
  int k = (int)ctk_rng_range(&self->rng, 0, (uint64_t)count - 1);
  for (int i = 0; i < n; i++)
    if (candidates >> i & 1 && k-- == 0) return i;
  return -1;
}

/* One try of request k: at the leader, or at every listed node that answers for force. Returns
 * 1 when it is over (accepted, or refused for good), 0 to try again later. */
static int try_request(run *self, int k) {
  run_fault *rf = &self->faults[k];
  const ctk_fault *spec = rf->spec;
  char req[128], err[CTK_ERR_LEN];
  int rc, hint;
  if (spec->kind == CTK_FAULT_FORCE) {
    int n = snprintf(req, sizeof req, "force ");
    for (int m = 0; m < spec->n_nodes; m++)
      n += snprintf(req + n, sizeof req - (size_t)n, "%s%d", m ? "," : "", spec->nodes[m]);
    for (int m = 0; m < spec->n_nodes; m++)
      if (ctk_local_cluster_alive(self->cluster, spec->nodes[m]))
        ctk_admin_send(self->config, spec->nodes[m], req, REQUEST_TIMEOUT_MS, &rc, &hint, err,
                       sizeof err);
    return 1;
  }
  poll_statuses(self);
  int leader = self->leader;
  if (leader < 0) return 0;
  if (rf->target == CTK_TARGET_LEADER) rf->target = leader;
  if (rf->target == CTK_TARGET_RANDOM) rf->target = pick_for(self, spec->kind, leader);
  if (rf->target < 0) return 1; /* nothing it applies to */
  self->results->faults[rf->event].node = rf->target;
  snprintf(req, sizeof req, "%s %d", ctk_fault_kind_name(spec->kind), rf->target);
  if (ctk_admin_send(self->config, leader, req, REQUEST_TIMEOUT_MS, &rc, &hint, err, sizeof err))
    return 0;
  if (rc == CTK_ERR_REJECTED || rc == CTK_ERR_BUSY) return 0;
  if (rc == CTK_OK) self->results->faults[rf->event].healed_us = run_now(self);
  return 1;
}

static void kill_node(run *self, int i) {
  if (self->have_last[i]) add_counters(&self->gone, &self->last[i]);
  self->have_last[i] = 0;
  ctk_local_cluster_kill(self->cluster, i);
}

static void fire(run *self, int k) {
  run_fault *rf = &self->faults[k];
  const ctk_fault *spec = rf->spec;
  rf->target = is_request(spec->kind) ? spec->node : resolve_target(self, spec->node);
  rf->state = FAULT_ACTIVE;
  ctk_fault_event *ev = &self->results->faults[self->results->n_faults];
  rf->event = self->results->n_faults++;
  *ev = (ctk_fault_event){
      .fault_index = k, .kind = spec->kind, .node = rf->target, .unavailable_ms = -1};
  if (spec->kind == CTK_FAULT_PARTITION) {
    if (spec->n_nodes > 0) {
      for (int m = 0; m < spec->n_nodes; m++) rf->in_side[spec->nodes[m]] = 1;
      ev->node = spec->nodes[0]; /* `node` is not used when the side is named (as in the sim) */
    } else
      rf->in_side[rf->target] = 1;
  }
  if (spec->kind == CTK_FAULT_FORCE) ev->node = spec->nodes[0];
  if (is_request(spec->kind)) {
    rf->next_try_us = 0; /* run_faults tries it at once */
  } else if (spec->kind == CTK_FAULT_CRASH) {
    kill_node(self, rf->target);
  } else {
    push_faults(self);
  }
  /* The fault is in force from now: finding the leader and telling the nodes took time, and
   * writes that completed meanwhile say nothing about the fault. */
  ev->at_us = run_now(self);
}

static int heal(run *self, int k, uint64_t now, char *err, size_t err_len) {
  run_fault *rf = &self->faults[k];
  if (rf->state != FAULT_ACTIVE) return 0;
  rf->state = FAULT_DONE;
  if (is_request(rf->spec->kind)) return 0; /* never accepted: nothing to heal */
  self->results->faults[rf->event].healed_us = now;
  if (rf->spec->kind == CTK_FAULT_CRASH) {
    self->faults_stale[rf->target] = 1;
    return ctk_local_cluster_restart(self->cluster, rf->target, err, err_len);
  }
  push_faults(self);
  return 0;
}

static int run_faults(run *self, uint64_t now, char *err, size_t err_len) {
  for (int k = 0; k < self->config->n_faults; k++) {
    run_fault *rf = &self->faults[k];
    uint64_t at = (uint64_t)(rf->spec->at_s * 1e6);
    if (rf->state == FAULT_PENDING && now >= at) fire(self, k);
    uint64_t until = at + (uint64_t)(rf->spec->duration_s * 1e6);
    if (rf->state == FAULT_ACTIVE && is_request(rf->spec->kind)) {
      if (now < rf->next_try_us) continue;
      if (try_request(self, k) || (rf->spec->duration_s > 0 && now >= until))
        rf->state = FAULT_DONE;
      rf->next_try_us = run_now(self) + REQUEST_RETRY_US;
      continue;
    }
    if (rf->state == FAULT_ACTIVE && rf->spec->duration_s > 0 && now >= until &&
        heal(self, k, now, err, err_len))
      return -1;
  }
  return 0;
}

static int heal_all(run *self, uint64_t now, char *err, size_t err_len) {
  for (int k = 0; k < self->config->n_faults; k++)
    if (heal(self, k, now, err, err_len)) return -1;
  return 0;
}

/* ---- progress ---- */

static void show_progress(run *self, uint64_t now, const char *phase) {
  if (!self->options->progress || now - self->last_progress_us < 1000000) return;
  self->last_progress_us = now;
  ctk_loadgen_stats st;
  ctk_loadgen_stats_get(self->loadgen, &st);
  char faults[128] = "";
  size_t used = 0;
  for (int k = 0; k < self->config->n_faults && used < sizeof faults - 32; k++) {
    const run_fault *rf = &self->faults[k];
    if (rf->state != FAULT_ACTIVE) continue;
    used += (size_t)snprintf(faults + used, sizeof faults - used, " %s",
                             ctk_fault_kind_name(rf->spec->kind));
    if (rf->target >= 0)
      used += (size_t)snprintf(faults + used, sizeof faults - used, " n%d", rf->target);
  }
  char leader[32] = "none";
  if (self->leader >= 0)
    snprintf(leader, sizeof leader, "n%d (term %" PRIu64 ")", self->leader, self->leader_term);
  fprintf(stderr, "\r[%s] %s %5.1f s  ops %" PRIu64 " ok %" PRIu64 " info  leader %s%s%s\033[K",
          self->config->protocol->name, phase, (double)now / 1e6, st.ok + st.fail, st.info, leader,
          used ? "  faults:" : "", faults);
  fflush(stderr);
}

/* ---- convergence: every node applied the same commands ---- */

static uint64_t total_applied(const hw_status *s, int n) {
  uint64_t sum = 0;
  for (int i = 0; i < n; i++) sum += s[i].applied;
  return sum;
}

static void check_convergence(run *self, ctk_run_report *report) {
  int n = self->config->cluster.nodes;
  uint64_t deadline = ctk_clock_us() + CONVERGE_MAX_US;
  uint64_t applied_sum = UINT64_MAX, differ_since = 0;
  for (;;) {
    hw_status s[CTK_MAX_NODES];
    int answered = 0, equal = 1, answers[CTK_MAX_NODES] = {0};
    for (int i = 0; i < n; i++) {
      if (ctk_local_cluster_status(self->cluster, i, &s[i], 200) == 0) {
        answered++;
        answers[i] = 1;
        self->last[i] = s[i];
        self->have_last[i] = 1;
      }
    }
    /* Nodes removed from the cluster (or never added) are not waited for: the members as the
     * node with the highest term sees them, all nodes when the protocol does not say. */
    uint32_t members = (uint32_t)((1ull << n) - 1);
    uint64_t best_term = 0;
    int leader_seen = 0;
    for (int i = 0; i < n && answered == n && !leader_seen; i++)
      if (s[i].proto.members &&
          (s[i].proto.term >= best_term || s[i].proto.role == CTK_ROLE_LEADER)) {
        best_term = s[i].proto.term;
        members = s[i].proto.members | s[i].proto.learners;
        leader_seen = s[i].proto.role == CTK_ROLE_LEADER;
      }
    int first = __builtin_ctz(members);
    for (int i = 0; i < n && answered == n; i++)
      if (members >> i & 1) equal &= s[i].applied == s[first].applied;
    if (answered == n && equal) {
      int differ = 0;
      for (int i = 0; i < n && !differ; i++)
        if (members >> i & 1 && s[i].kv_digest != s[first].kv_digest) {
          differ = i;
          snprintf(report->note, sizeof report->note,
                   "nodes %d and %d applied %" PRIu64
                   " positions each but their stores differ "
                   "(digests %016" PRIx64 " and %016" PRIx64 ")",
                   first, i, s[first].applied, s[i].kv_digest, s[first].kv_digest);
        }
      if (!differ) {
        report->note[0] = '\0';
        report->converged = 1;
        return;
      }
      /* Equal counts of different commands (a leaderless protocol whose last commits are still
       * on their way, over wide-area delays) can still converge: a difference only counts once
       * it has held, with no node applying more, for STABLE_US. */
      if (applied_sum != total_applied(s, n)) {
        applied_sum = total_applied(s, n);
        differ_since = ctk_clock_us();
      } else if (ctk_clock_us() - differ_since >= STABLE_US) {
        return;
      }
    }
    if (ctk_clock_us() >= deadline) {
      size_t used = (size_t)snprintf(report->note, sizeof report->note,
                                     "not converged %d s after the faults healed: applied",
                                     CONVERGE_MAX_US / 1000000);
      for (int i = 0; i < n && used < sizeof report->note; i++)
        used += (size_t)snprintf(report->note + used, sizeof report->note - used,
                                 answers[i] ? " n%d=%" PRIu64 : " n%d=?", i,
                                 answers[i] ? s[i].applied : 0);
      return;
    }
    ctk_sleep_us(50000);
  }
}

/* ---- results ---- */

static int write_outputs(run *self, ctk_run_report *report, const ctk_history *history, char *err,
                         size_t err_len) {
  ctk_results *r = &report->results;
  snprintf(r->history_path, sizeof r->history_path, "%s/history.jsonl", self->options->run_dir);
  FILE *f = fopen(r->history_path, "w");
  if (!f || ctk_history_write_jsonl(history, f) || fclose(f)) {
    snprintf(err, err_len, "cannot write %s: %s", r->history_path, strerror(errno));
    return -1;
  }
  return 0;
}

static void fill_results(run *self, ctk_run_report *report, const ctk_history *history,
                         uint64_t end_us) {
  ctk_results *r = &report->results;
  snprintf(r->protocol, sizeof r->protocol, "%s", self->config->protocol->name);
  snprintf(r->host, sizeof r->host, "run");
  r->nodes = self->config->cluster.nodes;
  r->clients = self->config->workload.clients;
  r->seed = self->config->seed;
  hw_status total = self->gone;
  for (int i = 0; i < self->config->cluster.nodes; i++)
    if (self->have_last[i]) add_counters(&total, &self->last[i]);
  r->msgs_sent = total.msgs_sent;
  r->bytes_sent = total.bytes_sent;
  r->msgs_malformed = total.msgs_malformed;
  r->frames_rejected = total.frames_rejected;
  r->handshakes_failed = total.handshakes_failed;
  r->leader_changes = total.became_leader;
  r->counters = total.counters;
  uint64_t warmup = (uint64_t)(self->config->workload.warmup_s * 1e6);
  if (ctk_results_compute(r, history, warmup < end_us ? warmup : 0, end_us))
    snprintf(report->note, sizeof report->note, "out of memory computing the results");
  ctk_check_result check;
  char cerr[256];
  r->linearizable = -1;
  if (ctk_check_run_history(history, self->config->workload.stale_reads, &check, &report->staleness,
                            cerr, sizeof cerr) == 0) {
    r->linearizable = check.linearizable;
    ctk_staleness_to_results(&report->staleness, self->config->workload.stale_reads, r);
    report->checker_explanation = check.explanation;
    check.explanation = NULL;
    ctk_check_result_free(&check);
  }
}

/* ---- the run ---- */

/* A run starts its nodes from empty directories: nodes restarted from an earlier run's durable
 * state would hold values this run's history cannot explain (a false "not linearizable"), so a
 * directory that holds one is refused rather than reused or wiped. */
static int holds_earlier_run(const ctk_config *config, const char *dir, char *err, size_t err_len) {
  for (int i = 0; i < config->cluster.nodes; i++) {
    char path[CTK_PATH_LEN + 32];
    snprintf(path, sizeof path, "%s/node-%d", dir, i);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
      snprintf(err, err_len,
               "%s holds an earlier run's node state (%s): a run starts its nodes empty; "
               "choose another --out or remove that directory",
               dir, path);
      return 1;
    }
  }
  return 0;
}

static int make_run_dir(const ctk_config *config, const char *dir, int attach, char *err,
                        size_t err_len) {
  if (mkdir(dir, 0755) && errno != EEXIST) {
    snprintf(err, err_len, "cannot create %s: %s", dir, strerror(errno));
    return -1;
  }
  if (!attach && holds_earlier_run(config, dir, err, err_len)) return -1;
  char path[CTK_PATH_LEN + 32];
  snprintf(path, sizeof path, "%s/config.toml", dir);
  FILE *f = fopen(path, "w");
  if (!f || ctk_config_write(config, f) || fclose(f)) {
    snprintf(err, err_len, "cannot write %s: %s", path, strerror(errno));
    return -1;
  }
  return 0;
}

static int workload_phase(run *self, char *err, size_t err_len) {
  uint64_t next_status = 0;
  for (;;) {
    if (*self->options->stop) return 1;
    uint64_t now = run_now(self);
    if (self->cluster) {
      int dead = ctk_local_cluster_check_exits(self->cluster, err, err_len);
      if (dead >= 0) return -1;
      if (now >= next_status) {
        poll_statuses(self);
        next_status = now + STATUS_EVERY_US;
      }
      if (run_faults(self, now, err, err_len)) return -1;
    }
    ctk_loadgen_stats st;
    ctk_loadgen_stats_get(self->loadgen, &st);
    if (st.finished) return 0;
    show_progress(self, now, "run  ");
    ctk_sleep_us(10000);
  }
}

static int drain_phase(run *self, char *err, size_t err_len) {
  ctk_loadgen_finish(self->loadgen);
  if (self->cluster && heal_all(self, run_now(self), err, err_len)) return -1;
  uint64_t deadline = ctk_clock_us() + DRAIN_MAX_US;
  uint64_t next_status = 0;
  while (ctk_clock_us() < deadline) {
    if (*self->options->stop) return 1;
    ctk_loadgen_stats st;
    ctk_loadgen_stats_get(self->loadgen, &st);
    if (st.outstanding == 0) break;
    uint64_t now = run_now(self);
    if (self->cluster) {
      if (ctk_local_cluster_check_exits(self->cluster, err, err_len) >= 0) return -1;
      if (now >= next_status) {
        poll_statuses(self);
        next_status = now + STATUS_EVERY_US;
      }
    }
    show_progress(self, now, "drain");
    ctk_sleep_us(10000);
  }
  return 0;
}

/* With cluster.wan: the nodes' namespaces and the delay line between them and the clients; the
 * run then uses a copy of config whose endpoints are the nodes' addresses there. */
static int start_wan(run *self, const ctk_config *config, char *err, size_t err_len) {
  self->wan = ctk_wan_net_start(config, err, err_len);
  if (!self->wan) return -1;
  self->wan_config = *config;
  for (int i = 0; i < config->cluster.nodes; i++)
    snprintf(self->wan_config.cluster.endpoints[i], CTK_ENDPOINT_LEN, "%s",
             ctk_wan_net_endpoint(self->wan, i));
  self->config = &self->wan_config;
  return 0;
}

static ctk_local_cluster *start_cluster(run *self, const char *config_path, char *err,
                                        size_t err_len) {
  const ctk_config *config = self->config;
  const char *netns[CTK_MAX_NODES];
  for (int i = 0; self->wan && i < config->cluster.nodes; i++)
    netns[i] = ctk_wan_net_netns(self->wan, i);
  return ctk_local_cluster_start_in(self->options->binary, config_path, config,
                                    self->options->run_dir, self->wan ? netns : NULL, err, err_len);
}

static ctk_loadgen *start_loadgen(run *self, char *err, size_t err_len) {
  const ctk_config *config = self->config;
  const char *sources[CTK_MAX_NODES];
  for (int i = 0; self->wan && i < config->cluster.nodes; i++)
    sources[i] = ctk_wan_net_client_address(self->wan, config->cluster.site_of_node[i]);
  return ctk_loadgen_start_from(config, self->t0_us, self->options->attach,
                                self->wan ? sources : NULL, err, err_len);
}

int ctk_run_execute(const ctk_config *config, const ctk_run_options *options,
                    ctk_run_report *report, char *err, size_t err_len) {
  memset(report, 0, sizeof *report);
  if (options->attach && config->cluster.wan[0]) {
    snprintf(err, err_len,
             "%s: cluster.wan needs nodes started by `ctk run` (it places each in a network "
             "namespace; with --attach the nodes are not ours)",
             config->path);
    return -1;
  }
  if (options->attach && config->n_faults > 0) {
    snprintf(err, err_len,
             "%s: faults need nodes started by `ctk run` (with --attach the nodes are not ours)",
             config->path);
    return -1;
  }
  for (int k = 0; k < config->n_faults; k++) {
    const ctk_fault *f = &config->faults[k];
    if (f->kind != CTK_FAULT_CLOCK_SKEW && !f->permanent) continue;
    snprintf(err, err_len, "%s:%d: %s", config->path, f->line,
             f->permanent ? "permanent crashes are simulator-only for now"
                          : "clock_skew faults run in the simulator only (`ctk sim`)");
    return -1;
  }
  run *self = calloc(1, sizeof *self);
  if (!self) {
    snprintf(err, err_len, "out of memory");
    return -1;
  }
  self->config = config;
  self->options = options;
  self->results = &report->results;
  self->leader = -1;
  ctk_rng_seed(&self->rng, config->seed);
  for (int k = 0; k < config->n_faults; k++) self->faults[k].spec = &config->faults[k];
  for (int i = 0; i < config->cluster.nodes; i++) hw_faults_clear(&self->applied[i]);
  uint64_t wall_start = ctk_clock_us();
  int rc = config->cluster.wan[0] ? start_wan(self, config, err, err_len) : 0;
  if (rc == 0) rc = make_run_dir(self->config, options->run_dir, options->attach, err, err_len);
  char config_path[CTK_PATH_LEN + 32];
  snprintf(config_path, sizeof config_path, "%s/config.toml", options->run_dir);
  if (rc == 0 && !options->attach) {
    self->cluster = start_cluster(self, config_path, err, err_len);
    if (!self->cluster ||
        ctk_local_cluster_wait_ready(self->cluster, READY_TIMEOUT_MS, err, err_len))
      rc = -1;
  }
  if (rc == 0) {
    self->t0_us = ctk_clock_us();
    self->loadgen = start_loadgen(self, err, err_len);
    if (!self->loadgen) rc = -1;
  }
  if (rc == 0) rc = workload_phase(self, err, err_len);
  uint64_t end_us = self->t0_us ? run_now(self) : 0;
  if (rc == 0) rc = drain_phase(self, err, err_len);
  if (rc == 0 && self->cluster) check_convergence(self, report);
  if (rc == 0 && !self->cluster) report->converged = 1; /* not ours to ask */
  if (options->progress && self->t0_us) fprintf(stderr, "\n");
  ctk_history history;
  ctk_history_init(&history);
  if (self->loadgen) ctk_loadgen_join(&self->loadgen, &history);
  if (self->cluster) ctk_local_cluster_stop(&self->cluster, 3000);
  char wan_err[CTK_ERR_LEN];
  if (ctk_wan_net_stop(&self->wan, wan_err, sizeof wan_err) && rc == 0) {
    snprintf(err, err_len, "%s", wan_err);
    rc = -1;
  }
  if (rc == 1) {
    report->interrupted = 1;
    snprintf(err, err_len, "interrupted");
    rc = -1;
  }
  if (rc == 0) {
    fill_results(self, report, &history, end_us);
    report->results.wall_s = (double)(ctk_clock_us() - wall_start) / 1e6;
    rc = write_outputs(self, report, &history, err, err_len);
  }
  ctk_history_free(&history);
  free(self);
  return rc;
}

void ctk_run_report_free(ctk_run_report *report) {
  ctk_results_free(&report->results);
  free(report->checker_explanation);
  report->checker_explanation = NULL;
}

int ctk_run_report_ok(const ctk_run_report *report) {
  return report->converged && report->results.linearizable == 1;
}
