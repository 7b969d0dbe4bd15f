/* plot.c: `ctk plot` (see plot.h): reading a bench directory, running gnuplot (plot_gnuplot is
 * the only place it runs), and the order of the charts (plot_charts.c) and the report
 * (plot_html.c). Data files and one gnuplot script per chart go into DIR/plots. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plot_internal.h"

/* snprintf where a cut is acceptable (titles, paths checked by the open that follows). */
void plot_fmt(char *buf, size_t len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, len, fmt, ap);
  va_end(ap);
}

/* ---- gnuplot ---- */

/* Runs gnuplot on script, its messages appended to plots/gnuplot.log. Returns 0 or -1. */
static int plot_gnuplot(plot_ctx *c, const char *script) {
  char log[PLOT_PATH + 16];
  plot_fmt(log, sizeof log, "%s/gnuplot.log", c->plots);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
    execlp("gnuplot", "gnuplot", script, (char *)NULL);
    _exit(127);
  }
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* Opens plots/<name>.gp with the PNG terminal set; the caller writes the chart (ending in one
 * plot command) and passes the file to plot_finish. */
FILE *plot_begin(plot_ctx *c, const char *name) {
  char path[PLOT_PATH + 64];
  plot_fmt(path, sizeof path, "%s/%s.gp", c->plots, name);
  FILE *f = fopen(path, "w");
  if (!f) return NULL;
  fprintf(f,
          "set terminal pngcairo size 960,560 noenhanced font 'sans,11'\n"
          "set output '%s/%s.png'\n"
          "set grid lc rgb '#dddddd'\n"
          "set key outside right top\n"
          "set datafile missing 'nan'\n"
          /* Twelve distinguishable colours for the series (gnuplot's default repeats after 8). */
          "set linetype 1 lc rgb '#1f77b4'\nset linetype 2 lc rgb '#ff7f0e'\n"
          "set linetype 3 lc rgb '#2ca02c'\nset linetype 4 lc rgb '#d62728'\n"
          "set linetype 5 lc rgb '#9467bd'\nset linetype 6 lc rgb '#8c564b'\n"
          "set linetype 7 lc rgb '#e377c2'\nset linetype 8 lc rgb '#7f7f7f'\n"
          "set linetype 9 lc rgb '#bcbd22'\nset linetype 10 lc rgb '#17becf'\n"
          "set linetype 11 lc rgb '#000000'\nset linetype 12 lc rgb '#aec7e8'\n"
          "set offsets 0, 0, graph 0.08, 0\n",
          c->plots, name);
  return f;
}

/* Ends the script with the same chart as SVG, runs it and records the chart. */
void plot_finish(plot_ctx *c, FILE *f, const char *name, const char *title) {
  fprintf(f,
          "set terminal svg size 960,560 noenhanced font 'sans,11' background rgb 'white'\n"
          "set output '%s/%s.svg'\n"
          "replot\n",
          c->plots, name);
  fclose(f);
  char script[PLOT_PATH + 64];
  plot_fmt(script, sizeof script, "%s/%s.gp", c->plots, name);
  if (plot_gnuplot(c, script)) {
    c->gnuplot_failed = 1;
    return;
  }
  ctk_plot_report *r = c->report;
  if (r->n_charts == CTK_PLOT_MAX_CHARTS) return;
  plot_fmt(r->charts[r->n_charts], sizeof r->charts[0], "%s/%s", c->plots, name);
  plot_fmt(r->titles[r->n_charts], sizeof r->titles[0], "%s", title);
  r->n_charts++;
}

/* ---- reading the results ---- */

double plot_num(const json_t *v) { return json_is_number(v) ? json_number_value(v) : NAN; }

double plot_metric(const json_t *point, const char *which, const char *metric) {
  return plot_num(json_object_get(json_object_get(point, which), metric));
}

/* A swept value as text. */
void plot_value_text(const json_t *v, char *buf, size_t len) {
  if (json_is_string(v))
    plot_fmt(buf, len, "%s", json_string_value(v));
  else if (json_is_integer(v))
    plot_fmt(buf, len, "%lld", (long long)json_integer_value(v));
  else if (json_is_real(v))
    plot_fmt(buf, len, "%g", json_real_value(v));
  else if (json_is_boolean(v))
    plot_fmt(buf, len, "%s", json_is_true(v) ? "true" : "false");
  else
    plot_fmt(buf, len, "?");
}

/* The series a point belongs to: its swept values except those named in skip ("protocol=x" is
 * shown as just x). "all" when nothing is left. */
static void plot_series_name(const json_t *point, const char *skip1, const char *skip2, char *buf,
                             size_t len) {
  const char *key;
  const json_t *v;
  size_t used = 0;
  buf[0] = '\0';
  json_object_foreach(json_object_get(point, "params"), key, v) {
    if ((skip1 && !strcmp(key, skip1)) || (skip2 && !strcmp(key, skip2))) continue;
    char text[64];
    plot_value_text(v, text, sizeof text);
    if (used < len)
      used += (size_t)snprintf(buf + used, len - used, "%s%s%s%s", used ? " " : "",
                               strcmp(key, "protocol") ? key : "",
                               strcmp(key, "protocol") ? "=" : "", text);
  }
  if (!buf[0]) plot_fmt(buf, len, "all");
}

/* Groups the points by plot_series_name. Returns the number of series (at most max). */
size_t plot_group(const plot_ctx *c, const char *skip1, const char *skip2, plot_series *series,
                  size_t max) {
  size_t n = 0;
  for (size_t i = 0; i < json_array_size(c->points); i++) {
    char name[160];
    plot_series_name(json_array_get(c->points, i), skip1, skip2, name, sizeof name);
    size_t s = 0;
    while (s < n && strcmp(series[s].name, name)) s++;
    if (s == n) {
      if (n == max) continue;
      plot_fmt(series[n].name, sizeof series[n].name, "%s", name);
      series[n++].n = 0;
    }
    if (series[s].n < sizeof series[s].members / sizeof series[s].members[0])
      series[s].members[series[s].n++] = i;
  }
  return n;
}

double plot_param_num(const json_t *point, const char *key) {
  return plot_num(json_object_get(json_object_get(point, "params"), key));
}

/* The run directory of a point's first measured repetition, or NULL. */
const char *plot_first_rep(const json_t *point) {
  const json_t *reps = json_object_get(point, "reps");
  return json_string_value(json_object_get(json_array_get(reps, 0), "dir"));
}

FILE *plot_data(const plot_ctx *c, const char *name, char *path, size_t len) {
  plot_fmt(path, len, "%s/%s.dat", c->plots, name);
  return fopen(path, "w");
}

/* gnuplot string literal: single quotes, a quote doubled. */
void plot_quote(FILE *f, const char *s) {
  fputc('\'', f);
  for (; *s; s++) {
    if (*s == '\'') fputc('\'', f);
    fputc(*s, f);
  }
  fputc('\'', f);
}

/* A point's label as a chart shows it: "protocol=raft clients=8" as "raft clients=8". */
void plot_short_label(char *label) {
  char *p;
  while ((p = strstr(label, "protocol=")) != NULL) memmove(p, p + 9, strlen(p + 9) + 1);
}

/* ---- the whole ---- */

static const char *plot_find_key(const json_t *bench, const char *a, const char *b) {
  size_t i;
  const json_t *k;
  json_array_foreach(json_object_get(bench, "sweep"), i, k) {
    const char *s = json_string_value(k);
    if (s && (!strcmp(s, a) || !strcmp(s, b))) return s;
  }
  return NULL;
}

int ctk_plot(const char *dir, ctk_plot_report *report, char *err, size_t err_len) {
  memset(report, 0, sizeof *report);
  plot_ctx c = {.dir = dir, .report = report};
  char path[PLOT_PATH];
  plot_fmt(path, sizeof path, "%s/bench.json", dir);
  json_error_t jerr;
  c.bench = json_load_file(path, 0, &jerr);
  if (!c.bench) {
    plot_fmt(err, err_len, "%s: %s (run `ctk bench` into %s first)", path, jerr.text, dir);
    return 2;
  }
  c.points = json_object_get(c.bench, "points");
  if (json_array_size(c.points) == 0) {
    plot_fmt(err, err_len, "%s: no points", path);
    json_decref(c.bench);
    return 2;
  }
  plot_fmt(c.plots, sizeof c.plots, "%s/plots", dir);
  if (mkdir(c.plots, 0755) && errno != EEXIST) {
    plot_fmt(err, err_len, "cannot create %s: %s", c.plots, strerror(errno));
    json_decref(c.bench);
    return 2;
  }
  char log[PLOT_PATH + 16];
  plot_fmt(log, sizeof log, "%s/gnuplot.log", c.plots);
  unlink(log);
  c.load_key = plot_find_key(c.bench, "clients", "workload.clients");
  if (!c.load_key) c.load_key = plot_find_key(c.bench, "rate", "workload.rate");
  c.conflict_key = plot_find_key(c.bench, "conflict_pct", "workload.conflict_pct");
  plot_chart_throughput_latency(&c);
  plot_chart_latency_cdf(&c);
  int with_faults = plot_chart_over_time(&c);
  plot_chart_metric(&c, "msgs-per-op", "msgs_per_op", 1, "messages between nodes per operation",
                    "Messages per operation");
  plot_chart_conflict(&c);
  plot_chart_metric(&c, "unavailability", "unavailable_ms", 1, "unavailable after the fault (ms)",
                    "Unavailability window after the fault");
  /* Leadership only matters where faults could move it. */
  int leadership = 0;
  for (size_t i = 0; i < json_array_size(c.points) && with_faults; i++)
    leadership |= plot_metric(json_array_get(c.points, i), "median", "leader_changes") > 1;
  if (leadership) {
    plot_chart_metric(&c, "leader-changes", "leader_changes", 1, "times a node became leader",
                      "Leader changes");
    /* Terms, ballots, views and epochs count differently: compared within one protocol only. */
    const char *first = json_string_value(json_object_get(json_array_get(c.points, 0), "protocol"));
    int one_protocol = first != NULL;
    for (size_t i = 1; i < json_array_size(c.points) && one_protocol; i++) {
      const char *p = json_string_value(json_object_get(json_array_get(c.points, i), "protocol"));
      one_protocol = p && !strcmp(p, first);
    }
    if (one_protocol)
      plot_chart_metric(&c, "max-term", "max_term", 1, "highest term reached", "Highest term");
  }
  int rc = plot_html(&c) ? 2 : 0;
  if (rc) plot_fmt(err, err_len, "cannot write %s", report->html_path);
  if (!rc && c.gnuplot_failed) {
    plot_fmt(err, err_len, "gnuplot failed on some charts (see %s)", log);
    rc = 1;
  }
  json_decref(c.bench);
  return rc;
}
