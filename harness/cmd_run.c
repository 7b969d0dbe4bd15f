/* cmd_run.c: the commands that run real processes: `ctk node` (one node, by hand or for the
 * runner), `ctk run` (one experiment on a local cluster) and `ctk compare` (the same experiment
 * for each protocol in turn, side by side). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "config.h"
#include "node.h"
#include "results.h"
#include "run.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static void install_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  /* A file-size limit (RLIMIT_FSIZE, a full quota) must fail the write with EFBIG, which the
   * store reports and the node stops on cleanly, not kill the process with SIGXFSZ. */
  signal(SIGXFSZ, SIG_IGN);
}

static int parse_int(const char *s, int *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < 0 || v > 1000000) return -1;
  *out = (int)v;
  return 0;
}

/* ---- ctk node ---- */

static void usage_node(void) {
  fprintf(stderr, "usage: ctk node FILE.toml --id N [--dir DIR] [--control ipc://PATH]\n");
}

int ctk_cmd_node(int argc, char **argv) {
  const char *path = NULL, *dir = NULL, *control = NULL;
  int id = -1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--id") && i + 1 < argc) {
      if (parse_int(argv[++i], &id)) {
        fprintf(stderr, "ctk node: --id takes a node number, got '%s'\n", argv[i]);
        return 2;
      }
    } else if (!strcmp(argv[i], "--dir") && i + 1 < argc) {
      dir = argv[++i];
    } else if (!strcmp(argv[i], "--control") && i + 1 < argc) {
      control = argv[++i];
    } else if (argv[i][0] != '-' && !path) {
      path = argv[i];
    } else {
      usage_node();
      return 2;
    }
  }
  if (!path || id < 0) {
    usage_node();
    return 2;
  }
  char err[CTK_ERR_LEN];
  ctk_config config;
  if (ctk_config_load(path, &config, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    return 2;
  }
  if (id >= config.cluster.nodes) {
    fprintf(stderr, "ctk node: --id %d, but %s has %d nodes (ids 0 to %d)\n", id, path,
            config.cluster.nodes, config.cluster.nodes - 1);
    ctk_config_free(&config);
    return 2;
  }
  char default_dir[64];
  if (!dir) {
    snprintf(default_dir, sizeof default_dir, "ctk-node-%d", id);
    dir = default_dir;
  }
  install_signals();
  ctk_node_args args = {.config = &config,
                        .id = id,
                        .dir = dir,
                        .control_endpoint = control,
                        .stop = &stop_requested,
                        .log = stderr};
  int rc = ctk_node_run(&args, err, sizeof err);
  if (rc) fprintf(stderr, "ctk node %d: %s\n", id, err);
  ctk_config_free(&config);
  return rc ? 1 : 0;
}

/* ---- shared by run and compare ---- */

static int self_binary(char *buf, size_t len) {
  ssize_t n = readlink("/proc/self/exe", buf, len - 1);
  if (n <= 0) return -1;
  buf[n] = '\0';
  return 0;
}

static int mkdir_p(const char *path) {
  char tmp[CTK_PATH_LEN];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
    *p = '/';
  }
  return mkdir(tmp, 0755) && errno != EEXIST ? -1 : 0;
}

/* results/<file name without .toml>-<YYYYmmdd-HHMMSS> */
static void default_out_dir(const char *config_path, const char *what, char *buf, size_t len) {
  const char *base = strrchr(config_path, '/');
  base = base ? base + 1 : config_path;
  char name[128];
  snprintf(name, sizeof name, "%s", base);
  char *dot = strstr(name, ".toml");
  if (dot) *dot = '\0';
  time_t t = time(NULL);
  struct tm tm;
  localtime_r(&t, &tm);
  char stamp[32];
  strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  snprintf(buf, len, "results/%s%s-%s", what, name, stamp);
}

static int write_json_file(const char *path, const ctk_results *runs, size_t n, int compare) {
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  int rc = compare ? ctk_results_write_compare_json(runs, n, f) : ctk_results_write_json(runs, f);
  if (fclose(f)) rc = -1;
  return rc;
}

/* Runs one experiment into run_dir; prints its table. Returns 0 passed, 1 failed verdict, 2 could
 * not run. */
static int run_one(const ctk_config *config, const char *run_dir, int attach, int quiet,
                   ctk_run_report *report) {
  char binary[CTK_PATH_LEN], err[CTK_ERR_LEN];
  if (self_binary(binary, sizeof binary)) {
    fprintf(stderr, "ctk: cannot find my own executable\n");
    return 2;
  }
  if (mkdir_p(run_dir)) {
    fprintf(stderr, "ctk: cannot create %s: %s\n", run_dir, strerror(errno));
    return 2;
  }
  ctk_run_options options = {.binary = binary,
                             .run_dir = run_dir,
                             .attach = attach,
                             .progress = !quiet && isatty(STDERR_FILENO),
                             .stop = &stop_requested};
  if (!quiet)
    fprintf(stderr, "ctk: running %s on %d %s, %d clients, results in %s/\n",
            config->protocol->name, config->cluster.nodes, attach ? "attached nodes" : "processes",
            config->workload.clients, run_dir);
  if (ctk_run_execute(config, &options, report, err, sizeof err)) {
    fprintf(stderr, "ctk run: %s (logs in %s/)\n", err, run_dir);
    return 2;
  }
  char json_path[CTK_PATH_LEN + 16];
  snprintf(json_path, sizeof json_path, "%s/result.json", run_dir);
  if (write_json_file(json_path, &report->results, 1, 0))
    fprintf(stderr, "ctk run: cannot write %s\n", json_path);
  ctk_staleness_print(&report->staleness, config->workload.stale_reads, "  ", stdout);
  if (!report->converged) fprintf(stderr, "ctk run: replicas did not converge: %s\n", report->note);
  if (report->results.linearizable == 0 && report->checker_explanation)
    fprintf(stderr, "%s\n", report->checker_explanation);
  return ctk_run_report_ok(report) ? 0 : 1;
}

/* ---- ctk run ---- */

static void usage_run(void) {
  fprintf(stderr,
          "usage: ctk run FILE.toml [--json FILE] [--out DIR] [--protocol NAME] "
          "[--attach] [--quiet]\n");
}

int ctk_cmd_run(int argc, char **argv) {
  const char *path = NULL, *json = NULL, *out = NULL, *protocol = NULL;
  int attach = 0, quiet = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--json") && i + 1 < argc)
      json = argv[++i];
    else if (!strcmp(argv[i], "--out") && i + 1 < argc)
      out = argv[++i];
    else if (!strcmp(argv[i], "--protocol") && i + 1 < argc)
      protocol = argv[++i];
    else if (!strcmp(argv[i], "--attach"))
      attach = 1;
    else if (!strcmp(argv[i], "--quiet"))
      quiet = 1;
    else if (argv[i][0] != '-' && !path)
      path = argv[i];
    else {
      usage_run();
      return 2;
    }
  }
  if (!path) {
    usage_run();
    return 2;
  }
  char err[CTK_ERR_LEN];
  ctk_config config;
  if (ctk_config_load_as(path, protocol, &config, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    return 2;
  }
  install_signals();
  char dir[CTK_PATH_LEN];
  if (out)
    snprintf(dir, sizeof dir, "%s", out);
  else
    default_out_dir(path, "", dir, sizeof dir);
  ctk_run_report report;
  int rc = run_one(&config, dir, attach, quiet, &report);
  if (rc != 2) {
    ctk_results_print(&report.results, stdout);
    printf("  replicas        %s\n",
           report.converged ? "converged (same store on every node)" : report.note);
    printf("  results         %s/result.json, %s\n", dir, report.results.history_path);
    if (json && write_json_file(json, &report.results, 1, 0)) {
      fprintf(stderr, "ctk run: cannot write %s: %s\n", json, strerror(errno));
      rc = 2;
    }
    ctk_run_report_free(&report);
  }
  ctk_config_free(&config);
  return rc;
}

/* ---- ctk compare ---- */

static void usage_compare(void) {
  fprintf(stderr,
          "usage: ctk compare FILE.toml [--protocols a,b,...] [--out DIR] [--json FILE] "
          "[--csv FILE] [--quiet]\n");
}

/* Splits "a,b,c" into names checked against the registry (paths of shared objects are checked
 * when each one's config is loaded). Returns the count, or -1. */
static int parse_protocols(char *list, const char **names, int max) {
  int n = 0;
  for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
    if (!ctk_protocol_find(tok) && !ctk_protocol_is_path(tok)) {
      fprintf(stderr, "ctk compare: unknown protocol '%s' (see `ctk protocols`)\n", tok);
      return -1;
    }
    if (n == max) return -1;
    names[n++] = tok;
  }
  return n;
}

int ctk_cmd_compare(int argc, char **argv) {
  const char *path = NULL, *json = NULL, *csv = NULL, *out = NULL;
  char *list = NULL;
  int quiet = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--json") && i + 1 < argc)
      json = argv[++i];
    else if (!strcmp(argv[i], "--csv") && i + 1 < argc)
      csv = argv[++i];
    else if (!strcmp(argv[i], "--out") && i + 1 < argc)
      out = argv[++i];
    else if (!strcmp(argv[i], "--protocols") && i + 1 < argc)
      list = argv[++i];
    else if (!strcmp(argv[i], "--quiet"))
      quiet = 1;
    else if (argv[i][0] != '-' && !path)
      path = argv[i];
    else {
      usage_compare();
      return 2;
    }
  }
  if (!path) {
    usage_compare();
    return 2;
  }
  const char *names[64];
  int n = 0;
  if (list) {
    n = parse_protocols(list, names, 64);
    if (n <= 0) return 2;
  } else {
    for (size_t i = 0; i < ctk_protocol_count() && n < 64; i++)
      names[n++] = ctk_protocol_at(i)->name;
  }
  /* Every config is loaded before anything runs: a bad file fails at once. */
  ctk_config *configs = calloc((size_t)n, sizeof *configs);
  char err[CTK_ERR_LEN];
  for (int k = 0; k < n; k++) {
    if (!configs || ctk_config_load_as(path, names[k], &configs[k], err, sizeof err)) {
      fprintf(stderr, "%s\n", configs ? err : "out of memory");
      for (int j = 0; configs && j < k; j++) ctk_config_free(&configs[j]);
      free(configs);
      return 2;
    }
  }
  install_signals();
  char dir[CTK_PATH_LEN];
  if (out)
    snprintf(dir, sizeof dir, "%s", out);
  else
    default_out_dir(path, "compare-", dir, sizeof dir);
  ctk_results *results = calloc((size_t)n, sizeof *results);
  ctk_run_report report;
  int rc = results ? 0 : 2, done = 0;
  for (int k = 0; k < n && rc != 2 && !stop_requested; k++) {
    char run_dir[CTK_PATH_LEN + 80];
    snprintf(run_dir, sizeof run_dir, "%s/%s", dir, configs[k].protocol->name);
    int one = run_one(&configs[k], run_dir, 0, quiet, &report);
    if (one == 2) {
      rc = 2;
      break;
    }
    if (one == 1) rc = 1;
    if (!quiet) {
      ctk_results_print(&report.results, stdout);
      printf("  replicas        %s\n\n",
             report.converged ? "converged (same store on every node)" : report.note);
    }
    results[done] = report.results;
    report.results.series = NULL; /* moved */
    done++;
    ctk_run_report_free(&report);
  }
  if (done) {
    printf("\n");
    ctk_results_print_compare(results, (size_t)done, stdout);
    char path_buf[CTK_PATH_LEN + 32];
    snprintf(path_buf, sizeof path_buf, "%s/compare.json", dir);
    if (write_json_file(json ? json : path_buf, results, (size_t)done, 1)) rc = 2;
    snprintf(path_buf, sizeof path_buf, "%s/compare.csv", dir);
    FILE *f = fopen(csv ? csv : path_buf, "w");
    if (!f || ctk_results_write_csv(results, (size_t)done, f) || fclose(f)) rc = 2;
    printf("\nresults: %s/ (compare.json, compare.csv, one directory per protocol)\n", dir);
  }
  for (int k = 0; k < done; k++) ctk_results_free(&results[k]);
  free(results);
  for (int k = 0; k < n; k++) ctk_config_free(&configs[k]);
  free(configs);
  return rc;
}
