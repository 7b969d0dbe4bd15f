/* cmd_sim.c: `ctk sim` (one experiment in the deterministic simulator, with a summary) and
 * `ctk sweep` (the same experiment over many seeds, reporting every failing seed with the command
 * that replays it). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "config.h"
#include "results.h"
#include "sim.h"

static int parse_u64(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || s[0] == '-') return -1;
  *out = v;
  return 0;
}

/* Loads an experiment file, printing the loader's message on error. Returns 0 or -1. */
/* protocol: NULL, or a protocol to run instead of the file's (as `ctk run --protocol`). */
static int load_config(const char *path, const char *protocol, ctk_config *config) {
  char err[CTK_ERR_LEN];
  if (ctk_config_load_as(path, protocol, config, err, sizeof err) == 0) return 0;
  fprintf(stderr, "%s\n", err);
  return -1;
}

/* Milliseconds with about four significant figures, as results.c prints them. */
static void print_ms(double ms) { printf(ms < 10 ? "%.2f" : ms < 1000 ? "%.1f" : "%.0f", ms); }

/* One line per fault that fired (at most CTK_MAX_FAULTS, as many as the JSON holds):
 * "fault 1          crash of node 0 at 3.00 s, healed 5.00 s: unavailable 412.3 ms". */
static void print_faults(const ctk_sim_report *r) {
  for (int k = 0; k < r->n_faults && k < CTK_MAX_FAULTS; k++) {
    const ctk_fault_event *f = &r->faults[k];
    char label[32];
    snprintf(label, sizeof label, "fault %d", k + 1);
    printf("  %-17s%s ", label, ctk_fault_kind_name(f->kind));
    if (f->node == CTK_TARGET_ALL)
      printf("on all nodes");
    else
      printf("of node %d", f->node);
    printf(" at %.2f s, ", (double)f->at_us / 1e6);
    int request = f->kind == CTK_FAULT_ADD || f->kind == CTK_FAULT_REMOVE ||
                  f->kind == CTK_FAULT_TRANSFER || f->kind == CTK_FAULT_FORCE;
    if (f->healed_us)
      printf("%s %.2f s", request ? "accepted" : "healed", (double)f->healed_us / 1e6);
    else
      printf("%s", request ? "never accepted" : "not healed during the run");
    if (f->unavailable_ms >= 0) {
      printf(": unavailable ");
      print_ms(f->unavailable_ms);
      printf(" ms\n");
    } else {
      printf(": no write committed after it\n");
    }
  }
  if (r->n_faults > CTK_MAX_FAULTS)
    printf("  %-17s%d more not listed\n", "", r->n_faults - CTK_MAX_FAULTS);
}

static void print_summary(const ctk_config *config, const ctk_sim_report *r) {
  const ctk_sim_stats *s = &r->stats;
  double virtual_s = (double)s->now_us / 1e6;
  uint64_t done = s->ops_ok + s->ops_fail;
  printf("ctk sim: %s  protocol %s  seed %" PRIu64 "  nodes %d  clients %d\n", config->path,
         config->protocol->name, config->seed, config->cluster.nodes, config->workload.clients);
  printf("  virtual time     %.3f s\n", virtual_s);
  printf("  operations       ok %" PRIu64 "  fail %" PRIu64 "  info %" PRIu64
         "  (%.0f ops/s of virtual time)\n",
         s->ops_ok, s->ops_fail, s->ops_info, virtual_s > 0 ? (double)done / virtual_s : 0);
  if (s->commands_busy)
    printf("  backpressure     %" PRIu64 " commands answered busy (a full node), retried there\n",
           s->commands_busy);
  printf("  latency          p50 %.2f ms  p99 %.2f ms  max %.2f ms (virtual)\n",
         (double)ctk_histogram_quantile(&s->latency_us, 0.5) / 1000,
         (double)ctk_histogram_quantile(&s->latency_us, 0.99) / 1000,
         (double)s->latency_us.max / 1000);
  printf("  messages         sent %" PRIu64 "  delivered %" PRIu64 "  lost %" PRIu64
         "  duplicated %" PRIu64 "  malformed %" PRIu64 "  (%.1f per op)\n",
         s->msgs_sent, s->msgs_delivered, s->msgs_lost, s->msgs_duplicated, s->msgs_malformed,
         done ? (double)s->msgs_sent / (double)done : 0);
  printf("  disk             %" PRIu64
         " syncs, %.1f KiB persisted; largest durable state %.1f KiB\n",
         s->syncs, (double)s->bytes_persisted / 1024, (double)s->durable_bytes_max / 1024);
  printf("  log              at most %" PRIu64 " positions held past a snapshot by one node\n",
         s->log_held_max);
  if (s->snapshots_taken || s->snapshots_restored)
    printf("  snapshots        %" PRIu64 " taken (largest %.1f KiB), %" PRIu64 " restored\n",
           s->snapshots_taken, (double)s->snapshot_bytes_max / 1024, s->snapshots_restored);
  if (s->restores_ambiguous)
    printf("  %-17s%" PRIu64
           " restores of a snapshot taken with the same bytes at the same index"
           " at different places in the keys' writes: per-key order unchecked at that node until"
           " it restarts or restores again\n",
           "", s->restores_ambiguous);
  if (s->restores_unmatched)
    printf("  %-17s%" PRIu64
           " restores of a snapshot no longer among the last taken: per-key order"
           " unchecked at that node until it restarts\n",
           "", s->restores_unmatched);
  if (s->first_leader_us)
    printf("  leadership       first leader after %.1f ms; %" PRIu64
           " leader changes, highest term %" PRIu64 "\n",
           (double)s->first_leader_us / 1000, s->leader_changes, s->max_term);
  else
    printf("  leadership       no leader was ever elected; highest term %" PRIu64 "\n",
           s->max_term);
  printf("  faults           %d fired; %" PRIu64 " crashes, %" PRIu64 " restarts\n", r->n_faults,
         s->crashes, s->restarts);
  print_faults(r);
  printf("  commits          %" PRIu64 " log positions\n", s->max_commit);
  if (r->counters.n) ctk_results_print_counters(&r->counters, "  protocol        ", stdout);
  uint32_t all = (uint32_t)((1ull << config->cluster.nodes) - 1);
  if ((r->members && r->members != all) || r->learners) {
    printf("  members          voters");
    for (int i = 0; i < config->cluster.nodes; i++)
      if (r->members >> i & 1) printf(" %d", i);
    if (r->learners) printf(", learners");
    for (int i = 0; i < config->cluster.nodes; i++)
      if (r->learners >> i & 1) printf(" %d", i);
    printf(" (as the last leader saw them)\n");
  }
  if (r->forced)
    printf("  FORCED           %d forced reconfiguration%s (UNSAFE); %s%s\n", r->forced,
           r->forced == 1 ? "" : "s",
           r->forced_loss[0] ? "what it lost: " : "nothing lost was detected", r->forced_loss);
  printf("  invariants       %s\n", r->violation ? r->violation_text : "held");
  printf("  linearizable     %s%s\n",
         r->linearizable == 1   ? "yes"
         : r->linearizable == 0 ? "NO"
                                : "not decided",
         r->stale_reads_allowed ? " (the writes; reads may be stale)" : "");
  ctk_staleness_print(&r->staleness, r->stale_reads_allowed, "  ", stdout);
  if (s->reads_without_log)
    printf("  reads            %" PRIu64 " answered without a log write\n", s->reads_without_log);
  printf("  trace hash       %016" PRIx64 "\n", s->trace_hash);
  printf("  wall time        %.2f s (%.0f simulated messages per second)\n", r->wall_s,
         r->wall_s > 0 ? (double)s->msgs_sent / r->wall_s : 0);
}

static void usage_sim(void) {
  fprintf(stderr,
          "usage: ctk sim FILE.toml [--seed N] [--trace FILE] [--history FILE] [--timeline] "
          "[--html FILE] [--shiviz FILE] "
          "[--json FILE] [--protocol NAME]\n");
}

/* The measured window ends with the workload (the safety phase); with an operation count instead
 * of a duration, at the last event of the history. */
static uint64_t sim_end_us(const ctk_config *config, const ctk_history *h) {
  if (config->workload.duration_s > 0) return (uint64_t)(config->workload.duration_s * 1e6);
  uint64_t end = 0;
  for (size_t i = 0; i < h->n; i++)
    if (h->events[i].time_us >= end) end = h->events[i].time_us + 1;
  return end;
}

/* Writes the run's ctk_results as JSON to json_path, from the report's counters and faults (the
 * first CTK_MAX_FAULTS that fired) and the history read back from history_file (shown as the
 * history when shown_history is not NULL). Returns 0 or -1 with a message printed. */
static int write_sim_json(const ctk_config *config, const ctk_sim_report *report,
                          const char *history_file, const char *shown_history,
                          const char *json_path) {
  char err[CTK_ERR_LEN];
  ctk_history h;
  if (ctk_history_read_jsonl(history_file, &h, err, sizeof err)) {
    fprintf(stderr, "ctk sim: %s\n", err);
    ctk_history_free(&h);
    return -1;
  }
  ctk_results r;
  memset(&r, 0, sizeof r);
  snprintf(r.protocol, sizeof r.protocol, "%s", config->protocol->name);
  snprintf(r.host, sizeof r.host, "sim");
  r.nodes = config->cluster.nodes;
  r.clients = config->workload.clients;
  r.seed = config->seed;
  r.msgs_sent = report->stats.msgs_sent;
  r.bytes_sent = report->stats.bytes_sent;
  r.msgs_malformed = report->stats.msgs_malformed;
  r.leader_changes = report->stats.leader_changes;
  r.max_term = report->stats.max_term;
  r.counters = report->counters;
  r.linearizable = report->linearizable;
  ctk_staleness_to_results(&report->staleness, report->stale_reads_allowed, &r);
  r.wall_s = report->wall_s;
  r.n_faults = report->n_faults < CTK_MAX_FAULTS ? report->n_faults : CTK_MAX_FAULTS;
  memcpy(r.faults, report->faults, (size_t)r.n_faults * sizeof r.faults[0]);
  if (shown_history) snprintf(r.history_path, sizeof r.history_path, "%s", shown_history);
  uint64_t end_us = sim_end_us(config, &h);
  uint64_t warmup_us = (uint64_t)(config->workload.warmup_s * 1e6);
  int rc = ctk_results_compute(&r, &h, warmup_us < end_us ? warmup_us : 0, end_us);
  ctk_history_free(&h);
  if (rc) {
    fprintf(stderr, "ctk sim: out of memory computing the results\n");
    return -1;
  }
  FILE *f = fopen(json_path, "w");
  rc = !f || ctk_results_write_json(&r, f) ? -1 : 0;
  if (f && fclose(f)) rc = -1;
  if (rc) fprintf(stderr, "ctk sim: cannot write %s\n", json_path);
  ctk_results_free(&r);
  return rc;
}

int ctk_cmd_sim(int argc, char **argv) {
  const char *path = NULL, *trace_path = NULL, *history_path = NULL, *json_path = NULL;
  const char *protocol = NULL;
  uint64_t seed = 0;
  int seed_given = 0, timeline = 0;
  const char *html_path = NULL, *shiviz_path = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
      if (parse_u64(argv[++i], &seed)) {
        fprintf(stderr, "ctk sim: --seed takes a non-negative integer, got '%s'\n", argv[i]);
        return 2;
      }
      seed_given = 1;
    } else if (!strcmp(argv[i], "--trace") && i + 1 < argc) {
      trace_path = argv[++i];
    } else if (!strcmp(argv[i], "--history") && i + 1 < argc) {
      history_path = argv[++i];
    } else if (!strcmp(argv[i], "--json") && i + 1 < argc) {
      json_path = argv[++i];
    } else if (!strcmp(argv[i], "--timeline")) {
      timeline = 1;
    } else if (!strcmp(argv[i], "--html") && i + 1 < argc) {
      html_path = argv[++i];
    } else if (!strcmp(argv[i], "--shiviz") && i + 1 < argc) {
      shiviz_path = argv[++i];
    } else if (!strcmp(argv[i], "--protocol") && i + 1 < argc) {
      protocol = argv[++i];
    } else if (argv[i][0] != '-' && !path) {
      path = argv[i];
    } else {
      usage_sim();
      return 2;
    }
  }
  if (!path) {
    usage_sim();
    return 2;
  }
  char err[CTK_ERR_LEN];
  ctk_config config;
  if (load_config(path, protocol, &config)) return 2;
  if (seed_given) config.seed = seed;
  /* The timeline is rendered at the end of the run; it is printed after the summary. */
  char *timeline_text = NULL;
  size_t timeline_len = 0;
  ctk_sim_options options = {.history_path = history_path};
  /* The results are computed from the history, which the simulator hands out as a file: without
   * --history, a temporary one. */
  char temp_history[CTK_PATH_LEN] = "";
  if (json_path && !history_path) {
    const char *tmp = getenv("TMPDIR");
    snprintf(temp_history, sizeof temp_history, "%s/ctk-history-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(temp_history);
    if (fd < 0) {
      fprintf(stderr, "ctk sim: %s: %s\n", temp_history, strerror(errno));
      ctk_config_free(&config);
      return 2;
    }
    close(fd);
    options.history_path = temp_history;
  }
  if (timeline) options.timeline = open_memstream(&timeline_text, &timeline_len);
  if (shiviz_path) {
    options.shiviz = fopen(shiviz_path, "w");
    if (!options.shiviz) {
      fprintf(stderr, "ctk sim: %s: %s\n", shiviz_path, strerror(errno));
      if (temp_history[0]) unlink(temp_history);
      if (options.timeline) fclose(options.timeline);
      free(timeline_text);
      ctk_config_free(&config);
      return 2;
    }
  }
  if (html_path) {
    options.html = fopen(html_path, "w");
    if (!options.html) {
      fprintf(stderr, "ctk sim: %s: %s\n", html_path, strerror(errno));
      if (temp_history[0]) unlink(temp_history);
      if (options.timeline) fclose(options.timeline);
      free(timeline_text);
      ctk_config_free(&config);
      return 2;
    }
  }
  if (trace_path) {
    options.trace = fopen(trace_path, "w");
    if (!options.trace) {
      fprintf(stderr, "ctk sim: %s: %s\n", trace_path, strerror(errno));
      if (temp_history[0]) unlink(temp_history);
      ctk_config_free(&config);
      return 2;
    }
  }
  ctk_sim_report report;
  int rc = ctk_sim_execute(&config, &options, &report, err, sizeof err);
  if (options.trace) fclose(options.trace);
  if (options.shiviz && fclose(options.shiviz) != 0) {
    fprintf(stderr, "ctk sim: %s: %s\n", shiviz_path, strerror(errno));
    rc = -1;
    snprintf(err, sizeof err, "could not write %s", shiviz_path);
  }
  if (options.html && fclose(options.html) != 0) {
    fprintf(stderr, "ctk sim: %s: %s\n", html_path, strerror(errno));
    rc = -1;
    snprintf(err, sizeof err, "could not write %s", html_path);
  }
  int json_failed = 0;
  if (!rc && json_path)
    json_failed = write_sim_json(&config, &report, options.history_path, history_path, json_path);
  if (temp_history[0]) unlink(temp_history);
  if (rc) {
    fprintf(stderr, "ctk sim: %s\n", err);
    if (options.timeline) fclose(options.timeline);
    free(timeline_text);
    ctk_config_free(&config);
    return 2;
  }
  print_summary(&config, &report);
  if (options.timeline) {
    fclose(options.timeline);
    printf("\n%s", timeline_text ? timeline_text : "");
  }
  free(timeline_text);
  int ok = ctk_sim_report_ok(&report);
  if (!ok) {
    if (report.checker_explanation) printf("\n%s\n", report.checker_explanation);
    printf("\nFAILED with seed %" PRIu64 "; replay with:\n  ctk sim %s --seed %" PRIu64
           "%s%s --trace trace.txt --history history.jsonl\n",
           config.seed, path, config.seed, protocol ? " --protocol " : "",
           protocol ? protocol : "");
  }
  ctk_sim_report_free(&report);
  ctk_config_free(&config);
  return json_failed ? 2 : ok ? 0 : 1;
}

/* ---- sweep ---- */

/* Runs the seed again with its HTML timeline written to results/sweep-<experiment>/seed-<N>.html
 * (results/ is where runs keep what they write). Returns 0 with the page's path in out. */
static int write_seed_timeline(const ctk_config *base, const char *path, uint64_t seed, char *out,
                               size_t out_len) {
  const char *name = strrchr(path, '/');
  name = name ? name + 1 : path;
  size_t stem = strcspn(name, ".");
  char dir[CTK_PATH_LEN];
  snprintf(dir, sizeof dir, "results/sweep-%.*s", (int)stem, name);
  if ((mkdir("results", 0755) && errno != EEXIST) || (mkdir(dir, 0755) && errno != EEXIST))
    return -1;
  int n = snprintf(out, out_len, "%s/seed-%" PRIu64 ".html", dir, seed);
  if (n < 0 || (size_t)n >= out_len) return -1;
  ctk_config config = *base;
  config.seed = seed;
  ctk_sim_options options = {.skip_check = 1};
  options.html = fopen(out, "w");
  if (!options.html) return -1;
  ctk_sim_report report;
  char err[CTK_ERR_LEN];
  int rc = ctk_sim_execute(&config, &options, &report, err, sizeof err);
  if (fclose(options.html) != 0) rc = -1;
  if (rc == 0) ctk_sim_report_free(&report);
  return rc;
}

/* Runs one seed; writes one line "SEED ok|FAIL reason" to fd (atomic for lines under PIPE_BUF). */
static int sweep_one(const ctk_config *base, uint64_t seed, int fd) {
  ctk_config config = *base;
  config.seed = seed;
  ctk_sim_report report;
  char err[CTK_ERR_LEN], line[1024];
  ctk_sim_options options = {0};
  int n;
  if (ctk_sim_execute(&config, &options, &report, err, sizeof err)) {
    n = snprintf(line, sizeof line, "%" PRIu64 " FAIL cannot run: %s\n", seed, err);
  } else {
    const char *why = report.violation           ? report.violation_text
                      : report.forced_loss[0]    ? report.forced_loss
                      : report.linearizable == 0 ? "history not linearizable"
                      : report.linearizable < 0  ? "linearizability undecided"
                                                 : NULL;
    if (why && report.linearizable < 0 && !report.violation) why = NULL; /* undecided: warn only */
    n = snprintf(line, sizeof line, "%" PRIu64 " %s %s (%" PRIu64 " ops, %" PRIu64 " msgs)\n", seed,
                 why ? "FAIL" : "ok", why ? why : "", report.stats.ops_ok + report.stats.ops_fail,
                 report.stats.msgs_sent);
    ctk_sim_report_free(&report);
  }
  if (n > (int)sizeof line - 1) n = (int)sizeof line - 1;
  return write(fd, line, (size_t)n) == n ? 0 : -1;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void usage_sweep(void) {
  fprintf(stderr, "usage: ctk sweep FILE.toml [--seeds N] [--first S] [--jobs J]\n");
}

int ctk_cmd_sweep(int argc, char **argv) {
  const char *path = NULL;
  uint64_t seeds = 100, first = 1, jobs = 2;
  for (int i = 1; i < argc; i++) {
    uint64_t *target = !strcmp(argv[i], "--seeds")   ? &seeds
                       : !strcmp(argv[i], "--first") ? &first
                       : !strcmp(argv[i], "--jobs")  ? &jobs
                                                     : NULL;
    if (target && i + 1 < argc) {
      if (parse_u64(argv[++i], target)) {
        fprintf(stderr, "ctk sweep: %s takes a non-negative integer, got '%s'\n", argv[i - 1],
                argv[i]);
        return 2;
      }
    } else if (argv[i][0] != '-' && !path) {
      path = argv[i];
    } else {
      usage_sweep();
      return 2;
    }
  }
  if (!path || seeds == 0 || jobs == 0 || jobs > 64) {
    usage_sweep();
    return 2;
  }
  ctk_config config;
  if (load_config(path, NULL, &config)) return 2;
  int fds[2];
  if (pipe(fds)) {
    perror("ctk sweep: pipe");
    ctk_config_free(&config);
    return 2;
  }
  fflush(stdout);
  for (uint64_t j = 0; j < jobs; j++) {
    pid_t pid = fork();
    if (pid < 0) {
      perror("ctk sweep: fork");
      break;
    }
    if (pid == 0) {
      close(fds[0]);
      for (uint64_t s = j; s < seeds; s += jobs) sweep_one(&config, first + s, fds[1]);
      close(fds[1]);
      ctk_config_free(&config);
      _exit(0);
    }
  }
  close(fds[1]);
  FILE *in = fdopen(fds[0], "r");
  uint64_t *failed = calloc(seeds, sizeof *failed);
  uint64_t n_done = 0, n_failed = 0;
  char line[1100];
  while (in && failed && fgets(line, sizeof line, in)) {
    n_done++;
    uint64_t seed = strtoull(line, NULL, 10);
    if (strstr(line, " FAIL ")) {
      failed[n_failed++] = seed;
      printf("seed %s", line);
    }
    if (n_done % 50 == 0) fprintf(stderr, "sweep: %" PRIu64 "/%" PRIu64 " seeds\n", n_done, seeds);
  }
  if (in) fclose(in);
  while (wait(NULL) > 0) {
  }
  qsort(failed, n_failed, sizeof *failed, cmp_u64);
  printf("sweep %s: %" PRIu64 " seeds run, %" PRIu64 " failed", path, n_done, n_failed);
  for (uint64_t k = 0; k < n_failed; k++) printf("%s%" PRIu64, k ? ", " : ": seeds ", failed[k]);
  printf("\n");
  if (n_failed) {
    printf("replay one with: ctk sim %s --seed %" PRIu64 " --trace trace.txt\n", path, failed[0]);
    char html[CTK_PATH_LEN];
    if (write_seed_timeline(&config, path, failed[0], html, sizeof html) == 0)
      printf("timeline of seed %" PRIu64 " (open in a browser): %s\n", failed[0], html);
  }
  int rc = n_failed || n_done != seeds ? 1 : 0;
  free(failed);
  ctk_config_free(&config);
  return rc;
}
