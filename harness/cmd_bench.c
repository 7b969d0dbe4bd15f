/* cmd_bench.c: `ctk bench FILE`: every point of an experiment matrix (experiment.h), each
 * repeated, on local clusters of real processes (`ctk run`) or in the simulator (`ctk sim`,
 * with --sim). Each repetition is one child process of this same binary, so a point runs
 * exactly as `ctk run` / `ctk sim` would run it by hand.
 *
 * Everything goes into one directory (results/bench-<file name> unless --out):
 *   points/<point>/rep-K.toml    the resolved configuration of repetition K (seed = seed + K - 1),
 *                                after a comment naming the host (real processes or simulator)
 *   points/<point>/rep-K.log     what the child printed
 *   points/<point>/rep-K.meta    git revision (of the tree when `ctk bench` started), machine,
 *                                load, wall time of that repetition
 *   points/<point>/rep-K/        the run's own directory: result.json, history.jsonl, node logs,
 *                                and latency_cdf.dat (the latency distribution, for plots)
 *   bench.json, bench.csv        every point: its values, seeds, configuration, machine, each
 *                                repetition's numbers and their median, min and max
 * A repetition whose result.json exists and whose rep-K.toml equals the configuration it would
 * run now, on the same host, is not run again (resumable); --fresh runs everything again. */
#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_metrics.h"
#include "commands.h"
#include "config.h"
#include "experiment.h"
#include "histogram.h"
#include "history.h"

/* Paths: a point directory holds up to BENCH_DIR bytes, the files of a repetition in it more. */
#define BENCH_DIR  1024
#define BENCH_FILE 1100
#define BENCH_DEEP 1200

static volatile sig_atomic_t bench_stop;

static void bench_on_signal(int sig) {
  (void)sig;
  bench_stop = 1;
}

/* ---- files ---- */

static int bench_mkdir_p(const char *path) {
  char tmp[BENCH_DEEP];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
    *p = '/';
  }
  return mkdir(tmp, 0755) && errno != EEXIST ? -1 : 0;
}

static int bench_unlink_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static void bench_remove_tree(const char *path) {
  nftw(path, bench_unlink_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int bench_write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  int rc = fputs(text, f) == EOF ? -1 : 0;
  if (fclose(f)) rc = -1;
  return rc;
}

/* ---- the machine and the source ---- */

static void bench_command_line(const char *cmd, char *buf, size_t len) {
  buf[0] = '\0';
  FILE *p = popen(cmd, "r");
  if (!p) return;
  if (fgets(buf, (int)len, p)) buf[strcspn(buf, "\n")] = '\0';
  pclose(p);
}

/* The source tree's revision when `ctk bench` started ("-dirty" with uncommitted changes), read
 * once so that every repetition of one invocation names the same revision. */
static const char *bench_git_revision(void) {
  static char rev[128];
  if (rev[0]) return rev;
  char dirty[16];
  bench_command_line("git rev-parse --short=12 HEAD 2>/dev/null", rev, sizeof rev);
  bench_command_line("git status --porcelain --untracked-files=no 2>/dev/null | head -1 | wc -l",
                     dirty, sizeof dirty);
  if (rev[0] && atoi(dirty) > 0) strncat(rev, "-dirty", sizeof rev - strlen(rev) - 1);
  if (!rev[0]) snprintf(rev, sizeof rev, "unknown");
  return rev;
}

static json_t *bench_meta(double wall_s, int exit_status) {
  json_t *o = json_object();
  json_object_set_new(o, "git_revision", json_string(bench_git_revision()));
  struct utsname u;
  json_object_set_new(o, "kernel", json_string(uname(&u) == 0 ? u.release : "unknown"));
  json_object_set_new(o, "cores", json_integer(sysconf(_SC_NPROCESSORS_ONLN)));
  char cpu[256];
  bench_command_line("sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1", cpu,
                     sizeof cpu);
  json_object_set_new(o, "cpu", json_string(cpu[0] ? cpu : "unknown"));
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) < 0) load[0] = -1;
  json_object_set_new(o, "load_1m", json_real(round(load[0] * 100) / 100));
  time_t now = time(NULL);
  char stamp[32];
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
  json_object_set_new(o, "finished_at", json_string(stamp));
  json_object_set_new(o, "wall_s", json_real(round(wall_s * 1000) / 1000));
  json_object_set_new(o, "exit_status", json_integer(exit_status));
  return o;
}

/* ---- one repetition ---- */

/* Latency distribution of the operations invoked after the warmup that completed (ok or fail):
 * "latency_ms fraction" lines, from the history. Returns 0 or -1. */
static int bench_write_cdf(const char *history_path, double warmup_s, const char *out_path) {
  ctk_history h;
  char err[CTK_ERR_LEN];
  if (ctk_history_read_jsonl(history_path, &h, err, sizeof err)) {
    ctk_history_free(&h);
    return -1;
  }
  ctk_histogram hist;
  ctk_histogram_init(&hist);
  uint64_t warmup_us = (uint64_t)(warmup_s * 1e6);
  /* An invoke is followed by its process's completion: remember each open invoke's time. */
  size_t cap = 1024;
  int64_t *proc = malloc(cap * sizeof *proc);
  uint64_t *at = malloc(cap * sizeof *at);
  size_t n_open = 0;
  for (size_t i = 0; i < h.n && proc && at; i++) {
    const ctk_hist_event *e = &h.events[i];
    size_t k = 0;
    while (k < n_open && proc[k] != e->process) k++;
    if (e->type == CTK_HIST_INVOKE) {
      if (k == n_open) {
        if (n_open == cap) {
          cap *= 2;
          int64_t *p2 = realloc(proc, cap * sizeof *proc);
          if (p2) proc = p2;
          uint64_t *a2 = realloc(at, cap * sizeof *at);
          if (a2) at = a2;
          if (!p2 || !a2) break;
        }
        n_open++;
      }
      proc[k] = e->process;
      at[k] = e->time_us;
    } else if (k < n_open) {
      if ((e->type == CTK_HIST_OK || e->type == CTK_HIST_FAIL) && at[k] >= warmup_us)
        ctk_histogram_record(&hist, e->time_us - at[k]);
      proc[k] = proc[n_open - 1];
      at[k] = at[n_open - 1];
      n_open--;
    }
  }
  free(proc);
  free(at);
  ctk_history_free(&h);
  FILE *f = fopen(out_path, "w");
  if (!f) return -1;
  fprintf(f, "# latency_ms fraction_of_operations (%llu operations)\n",
          (unsigned long long)hist.total);
  for (int q = 0; hist.total && q <= 200; q++) {
    double frac = q < 190 ? q / 200.0 : 0.95 + (q - 190) * 0.005; /* finer in the tail */
    if (q == 200) frac = 1;
    fprintf(f, "%.4f %.4f\n", (double)ctk_histogram_quantile(&hist, frac) / 1000, frac);
  }
  return fclose(f) ? -1 : 0;
}

/* Runs `ctk run|sim rep.toml` as a child, its output into log_path. Returns its exit status
 * (2 when it could not be started or died of a signal). */
static int bench_child(int sim, const char *toml, const char *run_dir, const char *log_path) {
  if (strlen(run_dir) >= BENCH_FILE) return 2;
  char self[CTK_PATH_LEN];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return 2;
  self[n] = '\0';
  char json[BENCH_DEEP], history[BENCH_DEEP];
  snprintf(json, sizeof json, "%s/result.json", run_dir);
  snprintf(history, sizeof history, "%s/history.jsonl", run_dir);
  pid_t pid = fork();
  if (pid < 0) return 2;
  if (pid == 0) {
    FILE *log = freopen(log_path, "w", stdout);
    if (!log || dup2(fileno(stdout), STDERR_FILENO) < 0) _exit(2);
    if (sim)
      execl(self, "ctk", "sim", toml, "--json", json, "--history", history, (char *)NULL);
    else
      execl(self, "ctk", "run", toml, "--out", run_dir, "--quiet", (char *)NULL);
    _exit(2);
  }
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return 2;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 2;
}

typedef struct bench_run {
  const ctk_experiment *exp;
  const char *out;
  int sim, fresh, quiet;
  int ran, resumed, failed;
} bench_run;

/* Repetition rep (1-based) of a point: skipped when already measured with this configuration. */
static int bench_repetition(bench_run *b, ctk_config *config, const char *point_dir,
                            const char *label, int rep, size_t done_before, size_t total) {
  char toml[BENCH_FILE], run_dir[BENCH_FILE], log[BENCH_FILE], meta[BENCH_FILE];
  char result[BENCH_DEEP], cdf[BENCH_DEEP];
  snprintf(toml, sizeof toml, "%s/rep-%d.toml", point_dir, rep);
  snprintf(run_dir, sizeof run_dir, "%s/rep-%d", point_dir, rep);
  snprintf(log, sizeof log, "%s/rep-%d.log", point_dir, rep);
  snprintf(meta, sizeof meta, "%s/rep-%d.meta", point_dir, rep);
  snprintf(result, sizeof result, "%s/result.json", run_dir);
  snprintf(cdf, sizeof cdf, "%s/latency_cdf.dat", run_dir);
  /* The host is part of what was measured: a repetition from the simulator is no result for a
   * run on real processes, nor the other way round. */
  char *text = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&text, &len);
  if (mem)
    fprintf(mem, "# ctk bench: repetition %d of %s, on %s\n", rep, label[0] ? label : "the point",
            b->sim ? "the simulator (host: sim)" : "real processes (host: run)");
  if (!mem || ctk_config_write(config, mem) || fclose(mem)) {
    free(text);
    return -1;
  }
  char *old = b->fresh ? NULL : ctk_bench_read_file(toml);
  int same = old && strcmp(old, text) == 0 && access(result, R_OK) == 0 && access(meta, R_OK) == 0;
  free(old);
  if (same) {
    b->resumed++;
    free(text);
    return 0;
  }
  bench_remove_tree(run_dir);
  int rc = bench_mkdir_p(run_dir) || bench_write_text(toml, text) ? -1 : 0;
  free(text);
  if (rc) return -1;
  if (!b->quiet)
    fprintf(stderr, "ctk bench: [%zu/%zu] %s%srep %d/%d (%s)\n", done_before + 1, total, label,
            label[0] ? ", " : "", rep, b->exp->repeat, b->sim ? "simulator" : "local cluster");
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int status = bench_child(b->sim, toml, run_dir, log);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  b->ran++;
  char history[BENCH_DEEP];
  snprintf(history, sizeof history, "%s/history.jsonl", run_dir);
  if (access(result, R_OK) == 0) bench_write_cdf(history, config->workload.warmup_s, cdf);
  if (status != 0) {
    b->failed++;
    fprintf(stderr, "ctk bench: %s rep %d %s (exit status %d; see %s)\n", label, rep,
            status == 1 ? "FAILED its checks" : "did not run", status, log);
  }
  json_t *m = bench_meta(wall, status);
  int wrc = json_dump_file(m, meta, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(m);
  /* A repetition that could not run is left unmeasured (no meta): the next run tries again. */
  if (status == 2 || access(result, R_OK) != 0) unlink(meta);
  return wrc ? -1 : 0;
}

/* ---- the command ---- */

static void usage_bench(void) {
  fprintf(stderr, "usage: ctk bench FILE.toml [--out DIR] [--sim] [--fresh] [--quiet] [--list]\n");
}

int ctk_cmd_bench(int argc, char **argv) {
  const char *path = NULL, *out = NULL;
  int sim = 0, fresh = 0, quiet = 0, list = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--out") && i + 1 < argc)
      out = argv[++i];
    else if (!strcmp(argv[i], "--sim"))
      sim = 1;
    else if (!strcmp(argv[i], "--fresh"))
      fresh = 1;
    else if (!strcmp(argv[i], "--quiet"))
      quiet = 1;
    else if (!strcmp(argv[i], "--list"))
      list = 1;
    else if (argv[i][0] != '-' && !path)
      path = argv[i];
    else {
      usage_bench();
      return 2;
    }
  }
  if (!path) {
    usage_bench();
    return 2;
  }
  char err[CTK_ERR_LEN];
  static ctk_experiment exp;
  if (ctk_experiment_load(path, &exp, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    return 2;
  }
  if (list) {
    for (size_t i = 0; i < exp.n_points; i++) {
      ctk_config config;
      char label[512], name[256];
      if (ctk_experiment_point(&exp, i, &config, label, sizeof label, name, sizeof name, err,
                               sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 2;
      }
      printf("%s  (%s, %d nodes, %d clients)\n", name, config.protocol->name, config.cluster.nodes,
             config.workload.clients);
      ctk_config_free(&config);
    }
    printf("%zu points x %d repetitions\n", exp.n_points, exp.repeat);
    return 0;
  }
  char dir[CTK_PATH_LEN];
  if (out) {
    snprintf(dir, sizeof dir, "%s", out);
  } else {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(dir, sizeof dir, "results/bench-%.*s", (int)strcspn(base, "."), base);
  }
  if (bench_mkdir_p(dir)) {
    fprintf(stderr, "ctk bench: cannot create %s: %s\n", dir, strerror(errno));
    return 2;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = bench_on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  bench_git_revision();
  bench_run b = {.exp = &exp, .out = dir, .sim = sim, .fresh = fresh, .quiet = quiet};
  size_t total = exp.n_points * (size_t)exp.repeat, done = 0;
  int rc = 0;
  for (size_t i = 0; i < exp.n_points && !bench_stop && rc == 0; i++) {
    ctk_config config;
    char label[512], name[256], point_dir[BENCH_DIR];
    if (ctk_experiment_point(&exp, i, &config, label, sizeof label, name, sizeof name, err,
                             sizeof err)) {
      fprintf(stderr, "%s\n", err);
      return 2;
    }
    snprintf(point_dir, sizeof point_dir, "%s/points/%s", dir, name);
    uint64_t seed = config.seed;
    if (bench_mkdir_p(point_dir)) rc = 2;
    for (int rep = 1; rep <= exp.repeat && !bench_stop && rc == 0; rep++, done++) {
      config.seed = seed + (uint64_t)(rep - 1);
      if (bench_repetition(&b, &config, point_dir, label, rep, done, total)) {
        fprintf(stderr, "ctk bench: cannot write into %s: %s\n", point_dir, strerror(errno));
        rc = 2;
      }
    }
    ctk_config_free(&config);
  }
  if (bench_stop) {
    fprintf(stderr, "ctk bench: interrupted; run the same command again to resume\n");
    rc = 2;
  }
  ctk_bench_summary summary;
  if (ctk_bench_summarize(&exp, dir, sim, &summary, err, sizeof err)) {
    fprintf(stderr, "ctk bench: %s\n", err);
    return 2;
  }
  printf("\n");
  ctk_bench_print_table(&summary, stdout);
  printf(
      "\n%zu points x %d repetitions: %d run now, %d already measured%s; %d failed its checks"
      "%s\n",
      exp.n_points, exp.repeat, b.ran, b.resumed, fresh ? " (--fresh)" : "", summary.reps_failed,
      b.failed > summary.reps_failed ? " (and some could not run)" : "");
  printf("results: %s/ (bench.json, bench.csv; `ctk plot %s` draws them)\n", dir, dir);
  int failed = summary.reps_failed; /* measured now or before */
  ctk_bench_summary_free(&summary);
  if (rc) return rc;
  return failed ? 1 : 0;
}
