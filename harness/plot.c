/* plot.c: the charts and the HTML report of a bench directory (see plot.h). Data files and one
 * gnuplot script per chart go into DIR/plots; plot_gnuplot is the only place gnuplot runs. */
#include "plot.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PLOT_MAX_SERIES 12
#define PLOT_PATH       768

typedef struct plot_ctx {
  const char *dir;
  char plots[PLOT_PATH];
  json_t *bench;
  const json_t *points;
  const char *load_key;     /* the swept clients or rate key, or NULL */
  const char *conflict_key; /* the swept conflict_pct key, or NULL */
  ctk_plot_report *report;
  int gnuplot_failed;
} plot_ctx;

/* snprintf where a cut is acceptable (titles, paths checked by the open that follows). */
static void plot_fmt(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void plot_fmt(char *buf, size_t len, const char *fmt, ...) {
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
static FILE *plot_begin(plot_ctx *c, const char *name) {
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
static void plot_finish(plot_ctx *c, FILE *f, const char *name, const char *title) {
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

static double plot_num(const json_t *v) { return json_is_number(v) ? json_number_value(v) : NAN; }

static double plot_metric(const json_t *point, const char *which, const char *metric) {
  return plot_num(json_object_get(json_object_get(point, which), metric));
}

/* A swept value as text. */
static void plot_value_text(const json_t *v, char *buf, size_t len) {
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

typedef struct plot_series {
  char name[160];
  size_t members[256]; /* point indices, in the order of the matrix */
  size_t n;
} plot_series;

/* Groups the points by plot_series_name. Returns the number of series (at most max). */
static size_t plot_group(const plot_ctx *c, const char *skip1, const char *skip2,
                         plot_series *series, size_t max) {
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

static double plot_param_num(const json_t *point, const char *key) {
  return plot_num(json_object_get(json_object_get(point, "params"), key));
}

/* The run directory of a point's first measured repetition, or NULL. */
static const char *plot_first_rep(const json_t *point) {
  const json_t *reps = json_object_get(point, "reps");
  return json_string_value(json_object_get(json_array_get(reps, 0), "dir"));
}

static FILE *plot_data(const plot_ctx *c, const char *name, char *path, size_t len) {
  plot_fmt(path, len, "%s/%s.dat", c->plots, name);
  return fopen(path, "w");
}

/* gnuplot string literal: single quotes, a quote doubled. */
static void plot_quote(FILE *f, const char *s) {
  fputc('\'', f);
  for (; *s; s++) {
    if (*s == '\'') fputc('\'', f);
    fputc(*s, f);
  }
  fputc('\'', f);
}

/* A point's label as a chart shows it: "protocol=raft clients=8" as "raft clients=8". */
static void plot_short_label(char *label) {
  char *p;
  while ((p = strstr(label, "protocol=")) != NULL) memmove(p, p + 9, strlen(p + 9) + 1);
}

/* ---- the charts ---- */

/* which: 0 p50 and p99 together (few series), 1 p50 only, 2 p99 only. */
static void chart_throughput_latency_one(plot_ctx *c, const plot_series *series, size_t n,
                                         int which, const char *name) {
  FILE *f = plot_begin(c, name);
  if (!f) return;
  static const char *const what[] = {"p50 solid, p99 dashed", "p50", "p99"};
  fprintf(f,
          "set title 'Latency (%s) against throughput along %s; medians of the repetitions'\n"
          "set xlabel 'throughput (ops/s)'\nset ylabel '%s latency (ms, log scale)'\n"
          "set logscale y\nset offsets 0, 0, 0, 0\nset xrange [0:*]\nplot ",
          what[which], c->load_key,
          which == 2   ? "p99"
          : which == 1 ? "p50"
                       : "");
  for (size_t s = 0; s < n; s++) {
    char path[PLOT_PATH + 64], data[32];
    plot_fmt(data, sizeof data, "tl-%zu", s);
    FILE *d = plot_data(c, data, path, sizeof path);
    if (!d) continue;
    fprintf(d, "# %s throughput_ops_s p50_ms p99_ms\n", c->load_key);
    for (size_t m = 0; m < series[s].n; m++) {
      const json_t *p = json_array_get(c->points, series[s].members[m]);
      fprintf(d, "%g %.2f %.4f %.4f\n", plot_param_num(p, c->load_key),
              plot_metric(p, "median", "throughput_ops_s"),
              plot_metric(p, "median", "latency_p50_ms"),
              plot_metric(p, "median", "latency_p99_ms"));
    }
    fclose(d);
    fprintf(f, "%s'%s' using 2:%d with linespoints lw 2 pt 7 lc %zu title ", s ? ", " : "", path,
            which == 2 ? 4 : 3, s + 1);
    plot_quote(f, series[s].name);
    if (which == 0)
      fprintf(f, ", '%s' using 2:4 with linespoints lw 1 dt 2 pt 6 lc %zu notitle", path, s + 1);
  }
  fprintf(f, "\n");
  plot_finish(c, f, name,
              which == 2 ? "p99 latency against throughput"
                         : "Latency against throughput (load-latency curve)");
}

/* p50 and p99 on one chart for a few series; on two charts for more, which stay readable. */
static void chart_throughput_latency(plot_ctx *c) {
  if (!c->load_key) return;
  plot_series series[PLOT_MAX_SERIES];
  size_t n = plot_group(c, c->load_key, NULL, series, PLOT_MAX_SERIES);
  if (n <= 6) {
    chart_throughput_latency_one(c, series, n, 0, "throughput-latency");
    return;
  }
  chart_throughput_latency_one(c, series, n, 1, "throughput-latency");
  chart_throughput_latency_one(c, series, n, 2, "throughput-latency-p99");
}

static void chart_latency_cdf(plot_ctx *c) {
  plot_series series[PLOT_MAX_SERIES];
  size_t n = plot_group(c, c->load_key, NULL, series, PLOT_MAX_SERIES);
  FILE *f = plot_begin(c, "latency-cdf");
  if (!f) return;
  fprintf(f,
          "set title 'Latency distribution%s (first repetition)'\n"
          "set xlabel 'latency (ms, log scale)'\nset ylabel 'fraction of operations'\n"
          "set logscale x\nset yrange [0:1]\nset key outside right bottom\nplot ",
          c->load_key ? " at the highest load of each series" : "");
  int plotted = 0;
  for (size_t s = 0; s < n; s++) {
    const json_t *p = json_array_get(c->points, series[s].members[series[s].n - 1]);
    const char *rep = plot_first_rep(p);
    if (!rep) continue;
    char path[PLOT_PATH + 128];
    plot_fmt(path, sizeof path, "%s/%s/latency_cdf.dat", c->dir, rep);
    if (access(path, R_OK)) continue;
    /* A file with no operations has only its comment line: nothing to draw. */
    struct stat st;
    if (stat(path, &st) || st.st_size < 80) continue;
    fprintf(f, "%s'%s' using 1:2 with lines lw 2 lc %zu title ", plotted ? ", " : "", path, s + 1);
    char title[200];
    if (c->load_key) {
      char v[64];
      plot_value_text(json_object_get(json_object_get(p, "params"), c->load_key), v, sizeof v);
      plot_fmt(title, sizeof title, "%s (%s=%s)", series[s].name, c->load_key, v);
    } else {
      plot_fmt(title, sizeof title, "%s", series[s].name);
    }
    plot_quote(f, title);
    plotted++;
  }
  fprintf(f, "\n");
  if (!plotted) {
    fclose(f);
    return;
  }
  plot_finish(c, f, "latency-cdf", "Latency distribution");
}

/* The seconds of a run's series to draw: the last one is cut short by the end of the run (and
 * holds only what completed while the clients drained), so it is left out. */
static size_t plot_full_seconds(const json_t *result) {
  size_t n = json_array_size(json_object_get(result, "series"));
  return n > 1 ? n - 1 : n;
}

/* One run over time: ops/s and p99 per second, faults marked. Returns 1 when drawn. */
static int chart_over_time_one(plot_ctx *c, const json_t *point, int index) {
  const char *rep = plot_first_rep(point);
  if (!rep) return 0;
  char path[PLOT_PATH + 128], name[32];
  plot_fmt(path, sizeof path, "%s/%s/result.json", c->dir, rep);
  json_t *r = json_load_file(path, 0, NULL);
  if (!r) return 0;
  plot_fmt(name, sizeof name, "over-time-%d", index);
  char data[PLOT_PATH + 64];
  FILE *d = plot_data(c, name, data, sizeof data);
  FILE *f = d ? plot_begin(c, name) : NULL;
  if (!f) {
    if (d) fclose(d);
    json_decref(r);
    return 0;
  }
  size_t i;
  const json_t *s;
  fprintf(d, "# t_s ops_per_s p50_ms p99_ms\n");
  size_t n_seconds = plot_full_seconds(r);
  json_array_foreach(json_object_get(r, "series"), i, s) {
    if (i >= n_seconds) break;
    /* Each second [t, t + 1) drawn as a step; the last one is written again at its end. */
    int last = i + 1 == n_seconds;
    for (int k = 0; k <= last; k++)
      fprintf(d, "%.1f %.0f %.3f %.3f\n", plot_num(json_object_get(s, "t_s")) + k,
              plot_num(json_object_get(s, "ops")), plot_num(json_object_get(s, "p50_us")) / 1000,
              plot_num(json_object_get(s, "p99_us")) / 1000);
  }
  fclose(d);
  fprintf(f, "set title ");
  char title[700];
  plot_fmt(title, sizeof title, "%s over time (first repetition; faults marked)",
           json_string_value(json_object_get(point, "label")));
  plot_quote(f, title);
  fprintf(f,
          "\nset xlabel 'time since the start (s)'\nset ylabel 'throughput (ops/s)'\n"
          "set y2label 'p99 latency (ms)'\nset y2tics\nset ytics nomirror\nset yrange [0:*]\n"
          "set y2range [0:*]\nset key below\n");
  const json_t *fault;
  json_array_foreach(json_object_get(r, "faults"), i, fault) {
    double at = plot_num(json_object_get(fault, "at_s"));
    double healed = plot_num(json_object_get(fault, "healed_s"));
    if (!isnan(healed))
      fprintf(f,
              "set object %zu rect from %.3f, graph 0 to %.3f, graph 1 fc rgb '#f4cccc' "
              "fs solid 0.4 noborder behind\n",
              i + 1, at, healed);
    fprintf(f, "set arrow from %.3f, graph 0 to %.3f, graph 1 nohead lc rgb '#cc0000' lw 2\n", at,
            at);
    const json_t *node = json_object_get(fault, "node");
    char who[32];
    if (json_is_integer(node))
      plot_fmt(who, sizeof who, " n%lld", (long long)json_integer_value(node));
    else
      who[0] = '\0';
    fprintf(f, "set label '%s%s' at %.3f, graph %.2f offset 0.5,0 tc rgb '#cc0000'\n",
            json_string_value(json_object_get(fault, "kind")), who, at,
            0.95 - 0.06 * (double)(i % 4));
  }
  fprintf(f,
          "plot '%s' using 1:2 with steps lw 2 lc 1 title 'ops/s (left axis)', "
          "'%s' using 1:4 axes x1y2 with steps lw 1 lc 2 title 'p99 latency (ms, right axis)', "
          "NaN with lines lc rgb '#cc0000' lw 2 title 'fault (shaded until healed)'\n",
          data, data);
  json_decref(r);
  plot_finish(c, f, name, title);
  return 1;
}

/* Returns the number of runs with faults it drew (0: the chart without faults was drawn). */
static int chart_over_time(plot_ctx *c) {
  int drawn = 0;
  for (size_t i = 0; i < json_array_size(c->points) && drawn < 8; i++) {
    const json_t *p = json_array_get(c->points, i);
    const char *rep = plot_first_rep(p);
    if (!rep) continue;
    char path[PLOT_PATH + 128];
    plot_fmt(path, sizeof path, "%s/%s/result.json", c->dir, rep);
    json_t *r = json_load_file(path, 0, NULL);
    int faults = r && json_array_size(json_object_get(r, "faults")) > 0;
    json_decref(r);
    if (faults) drawn += chart_over_time_one(c, p, drawn + 1);
  }
  if (drawn) return drawn;
  /* No faults: ops/s over time of each series at its highest load. */
  plot_series series[PLOT_MAX_SERIES];
  size_t n = plot_group(c, c->load_key, NULL, series, PLOT_MAX_SERIES);
  FILE *f = plot_begin(c, "throughput-over-time");
  if (!f) return 0;
  fprintf(f,
          "set title 'Throughput per second%s (first repetition)'\n"
          "set xlabel 'time since the start (s)'\nset ylabel 'throughput (ops/s)'\n"
          "set yrange [0:*]\nplot ",
          c->load_key ? " at the highest load of each series" : "");
  int plotted = 0;
  for (size_t s = 0; s < n; s++) {
    const json_t *p = json_array_get(c->points, series[s].members[series[s].n - 1]);
    const char *rep = plot_first_rep(p);
    char path[PLOT_PATH + 128], name[32], data[PLOT_PATH + 64];
    if (!rep) continue;
    plot_fmt(path, sizeof path, "%s/%s/result.json", c->dir, rep);
    json_t *r = json_load_file(path, 0, NULL);
    if (!r) continue;
    plot_fmt(name, sizeof name, "tt-%zu", s);
    FILE *d = plot_data(c, name, data, sizeof data);
    size_t i;
    const json_t *pt;
    size_t n_seconds = plot_full_seconds(r);
    json_array_foreach(json_object_get(r, "series"), i, pt) {
      if (d && i < n_seconds)
        fprintf(d, "%.1f %.0f\n", plot_num(json_object_get(pt, "t_s")) + 0.5,
                plot_num(json_object_get(pt, "ops")));
    }
    json_decref(r);
    if (!d) continue;
    fclose(d);
    fprintf(f, "%s'%s' using 1:2 with lines lw 2 lc %zu title ", plotted ? ", " : "", data, s + 1);
    plot_quote(f, series[s].name);
    plotted++;
  }
  fprintf(f, "\n");
  if (!plotted) {
    fclose(f);
    return 0;
  }
  plot_finish(c, f, "throughput-over-time", "Throughput over time");
  return 0;
}

/* A bar per point of one metric (median, min-max as error bars); only when some point has it.
 * scale multiplies the values. */
static void chart_bars(plot_ctx *c, const char *name, const char *metric, double scale,
                       const char *ylabel, const char *title) {
  char data[PLOT_PATH + 64];
  int any = 0;
  for (size_t i = 0; i < json_array_size(c->points); i++)
    any |= !isnan(plot_metric(json_array_get(c->points, i), "median", metric));
  if (!any) return;
  FILE *d = plot_data(c, name, data, sizeof data);
  if (!d) return;
  for (size_t i = 0; i < json_array_size(c->points); i++) {
    const json_t *p = json_array_get(c->points, i);
    const char *label = json_string_value(json_object_get(p, "label"));
    char shown[512];
    plot_fmt(shown, sizeof shown, "%s", label && label[0] ? label : "all");
    plot_short_label(shown);
    fprintf(d, "\"%s\" %.4f %.4f %.4f\n", shown, plot_metric(p, "median", metric) * scale,
            plot_metric(p, "min", metric) * scale, plot_metric(p, "max", metric) * scale);
  }
  fclose(d);
  FILE *f = plot_begin(c, name);
  if (!f) return;
  size_t n = json_array_size(c->points);
  /* The first label, rotated, reaches left of the plot by about half its length. */
  char first[512];
  plot_fmt(first, sizeof first, "%s",
           json_string_value(json_object_get(json_array_get(c->points, 0), "label")) ?: "");
  plot_short_label(first);
  size_t lmargin = 6 + strlen(first) * 9 / 20;
  if (lmargin < 12) lmargin = 12; /* room for the y label */
  if (lmargin > 40) lmargin = 40;
  fprintf(f,
          "set title '%s (median; bars from min to max of the repetitions)'\n"
          "set ylabel '%s'\nset yrange [0:*]\nset xrange [-0.6:%zu.6]\nset boxwidth 0.7\n"
          "set style fill solid 0.6 border -1\nset key off\nset xtics rotate by 30 right font "
          "',%d'\nset bmargin 10\nset lmargin %zu\nset rmargin 4\n"
          "plot '%s' using 0:2:3:4:(0.7):xtic(1) with boxerrorbars lc rgb '#4477aa'\n",
          title, ylabel, n ? n - 1 : 0, n > 24 ? 7 : 9, lmargin, data);
  plot_finish(c, f, name, title);
}

/* One metric against the swept load, a line per series (for matrices too large for bars). */
static void chart_metric_lines(plot_ctx *c, const char *name, const char *metric, double scale,
                               const char *ylabel, const char *title) {
  plot_series series[PLOT_MAX_SERIES];
  size_t n = plot_group(c, c->load_key, NULL, series, PLOT_MAX_SERIES);
  FILE *f = plot_begin(c, name);
  if (!f) return;
  fprintf(f,
          "set title '%s against %s (medians of the repetitions)'\nset xlabel '%s (log scale)'\n"
          "set ylabel '%s'\nset logscale x 2\nset yrange [0:*]\nplot ",
          title, c->load_key, c->load_key, ylabel);
  for (size_t s = 0; s < n; s++) {
    char path[PLOT_PATH + 64], data[64];
    plot_fmt(data, sizeof data, "%s-%zu", name, s);
    FILE *d = plot_data(c, data, path, sizeof path);
    if (!d) continue;
    for (size_t m = 0; m < series[s].n; m++) {
      const json_t *p = json_array_get(c->points, series[s].members[m]);
      fprintf(d, "%g %.4f\n", plot_param_num(p, c->load_key),
              plot_metric(p, "median", metric) * scale);
    }
    fclose(d);
    fprintf(f, "%s'%s' using 1:2 with linespoints lw 2 pt 7 lc %zu title ", s ? ", " : "", path,
            s + 1);
    plot_quote(f, series[s].name);
  }
  fprintf(f, "\n");
  plot_finish(c, f, name, title);
}

/* A bar per point, or a line per series against the load when there are too many points. */
static void chart_metric(plot_ctx *c, const char *name, const char *metric, double scale,
                         const char *ylabel, const char *title) {
  int any = 0;
  for (size_t i = 0; i < json_array_size(c->points); i++)
    any |= !isnan(plot_metric(json_array_get(c->points, i), "median", metric));
  if (!any) return;
  if (c->load_key && json_array_size(c->points) > 16)
    chart_metric_lines(c, name, metric, scale, ylabel, title);
  else
    chart_bars(c, name, metric, scale, ylabel, title);
}

static void chart_conflict(plot_ctx *c) {
  if (!c->conflict_key) return;
  int any = 0;
  for (size_t i = 0; i < json_array_size(c->points); i++)
    any |= !isnan(plot_metric(json_array_get(c->points, i), "median", "fast_path_ratio"));
  if (!any) return;
  plot_series series[PLOT_MAX_SERIES];
  size_t n = plot_group(c, c->conflict_key, NULL, series, PLOT_MAX_SERIES);
  FILE *f = plot_begin(c, "conflict");
  if (!f) return;
  fprintf(f,
          "set title 'Fast path and commit latency against %s (fast path solid, p50 latency "
          "dashed)'\nset xlabel 'conflicting commands (%%)'\nset ylabel 'fast-path commits (%%)'\n"
          "set y2label 'p50 latency (ms)'\nset y2tics\nset ytics nomirror\nset yrange [0:105]\n"
          "set y2range [0:*]\nplot ",
          c->conflict_key);
  int drawn = 0;
  for (size_t s = 0; s < n; s++) {
    char path[PLOT_PATH + 64], name[32];
    int fast = 0; /* series without a fast path (other protocols) are left out */
    for (size_t m = 0; m < series[s].n; m++)
      fast |= !isnan(plot_metric(json_array_get(c->points, series[s].members[m]), "median",
                                 "fast_path_ratio"));
    plot_fmt(name, sizeof name, "cf-%zu", s);
    FILE *d = plot_data(c, name, path, sizeof path);
    if (!d) continue;
    fprintf(d, "# conflict_pct fast_path_pct p50_ms\n");
    for (size_t m = 0; m < series[s].n; m++) {
      const json_t *p = json_array_get(c->points, series[s].members[m]);
      fprintf(d, "%g %.2f %.4f\n", plot_param_num(p, c->conflict_key),
              plot_metric(p, "median", "fast_path_ratio") * 100,
              plot_metric(p, "median", "latency_p50_ms"));
    }
    fclose(d);
    char title[200];
    if (fast) { /* other protocols (no fast path) are drawn for their latency only */
      fprintf(f, "%s'%s' using 1:2 with linespoints lw 2 pt 7 lc %zu title ", drawn++ ? ", " : "",
              path, s + 1);
      plot_fmt(title, sizeof title, "%s fast path", series[s].name);
      plot_quote(f, title);
    }
    fprintf(f, "%s'%s' using 1:3 axes x1y2 with linespoints lw 1 dt 2 pt 6 lc %zu title ",
            drawn++ ? ", " : "", path, s + 1);
    plot_fmt(title, sizeof title, "%s p50", series[s].name);
    plot_quote(f, title);
  }
  fprintf(f, "\n");
  plot_finish(c, f, "conflict", "Fast path and latency against conflicts");
}

/* ---- the report ---- */

static void html_escape(FILE *f, const char *s) {
  for (; s && *s; s++) {
    if (*s == '<')
      fputs("&lt;", f);
    else if (*s == '>')
      fputs("&gt;", f);
    else if (*s == '&')
      fputs("&amp;", f);
    else if (*s == '"')
      fputs("&quot;", f);
    else
      fputc(*s, f);
  }
}

static void html_cell(FILE *f, const json_t *p, const char *metric, double scale, const char *fmt) {
  double med = plot_metric(p, "median", metric);
  fputs("<td>", f);
  if (isnan(med)) {
    fputs("-</td>", f);
    return;
  }
  fprintf(f, fmt, med * scale);
  if (json_integer_value(json_object_get(p, "reps_measured")) > 1) {
    fputs(" <small>[", f);
    fprintf(f, fmt, plot_metric(p, "min", metric) * scale);
    fputs("&ndash;", f);
    fprintf(f, fmt, plot_metric(p, "max", metric) * scale);
    fputs("]</small>", f);
  }
  fputs("</td>", f);
}

/* The SVG file's <svg> element onwards (the XML prolog cannot sit inside HTML). */
static void html_inline_svg(FILE *f, const char *path) {
  FILE *in = fopen(path, "r");
  if (!in) return;
  char line[4096];
  int started = 0;
  while (fgets(line, sizeof line, in)) {
    if (!started && strstr(line, "<svg")) started = 1;
    if (started) fputs(line, f);
  }
  fclose(in);
}

static int plot_html(plot_ctx *c) {
  plot_fmt(c->report->html_path, sizeof c->report->html_path, "%s/report.html", c->plots);
  FILE *f = fopen(c->report->html_path, "w");
  if (!f) return -1;
  const json_t *first = json_array_get(c->points, 0);
  const json_t *machine = json_object_get(first, "machine");
  fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>ctk bench: ", f);
  html_escape(f, json_string_value(json_object_get(c->bench, "experiment")));
  fputs(
      "</title>\n<style>body{font-family:sans-serif;margin:2em;max-width:1100px}"
      "table{border-collapse:collapse;font-size:90%}td,th{border:1px solid #ccc;padding:3px 8px;"
      "text-align:right}td:first-child,th:first-child{text-align:left}"
      "small{color:#666}figure{margin:2em 0}svg{max-width:100%;height:auto}</style>\n"
      "</head><body>\n<h1>ctk bench: ",
      f);
  html_escape(f, json_string_value(json_object_get(c->bench, "experiment")));
  fprintf(f, "</h1>\n<p>%s, %lld repetition(s) per point. Git revision <code>",
          !strcmp(json_string_value(json_object_get(c->bench, "host")) ?: "", "sim")
              ? "Deterministic simulator (virtual time)"
              : "Local cluster of real node processes (ZeroMQ over loopback)",
          (long long)json_integer_value(json_object_get(c->bench, "repeat")));
  html_escape(f, json_string_value(json_object_get(first, "git_revision")));
  fprintf(f, "</code>; machine: %lld cores, kernel ",
          (long long)json_integer_value(json_object_get(machine, "cores")));
  html_escape(f, json_string_value(json_object_get(machine, "kernel")));
  fputs(", ", f);
  html_escape(f, json_string_value(json_object_get(machine, "cpu")));
  fprintf(f, "; load average %.2f when the first point finished.</p>\n",
          plot_num(json_object_get(machine, "load_1m")));
  fputs(
      "<table>\n<tr><th>point</th><th>passed</th><th>ops/s</th><th>p50 ms</th><th>p99 ms</th>"
      "<th>msgs/op</th><th>fast path %</th><th>unavailable ms</th><th>leader changes</th>"
      "<th>max term</th></tr>\n",
      f);
  size_t i;
  const json_t *p;
  json_array_foreach(c->points, i, p) {
    fputs("<tr><td>", f);
    const char *label = json_string_value(json_object_get(p, "label"));
    html_escape(f, label && label[0] ? label : "all");
    fprintf(f, "</td><td>%lld/%lld</td>",
            (long long)json_integer_value(json_object_get(p, "reps_passed")),
            (long long)json_integer_value(json_object_get(p, "reps_measured")));
    html_cell(f, p, "throughput_ops_s", 1, "%.0f");
    html_cell(f, p, "latency_p50_ms", 1, "%.2f");
    html_cell(f, p, "latency_p99_ms", 1, "%.2f");
    html_cell(f, p, "msgs_per_op", 1, "%.1f");
    html_cell(f, p, "fast_path_ratio", 100, "%.1f");
    html_cell(f, p, "unavailable_ms", 1, "%.0f");
    html_cell(f, p, "leader_changes", 1, "%.0f");
    html_cell(f, p, "max_term", 1, "%.0f");
    fputs("</tr>\n", f);
  }
  fputs(
      "</table>\n<p><small>Medians of the repetitions, [min&ndash;max] when more than one. "
      "Every number of every repetition, with its configuration and seed, is in bench.json."
      "</small></p>\n",
      f);
  for (int k = 0; k < c->report->n_charts; k++) {
    fputs("<figure>\n<h2>", f);
    html_escape(f, c->report->titles[k]);
    fputs("</h2>\n", f);
    char svg[600];
    plot_fmt(svg, sizeof svg, "%s.svg", c->report->charts[k]);
    html_inline_svg(f, svg);
    fputs("</figure>\n", f);
  }
  fputs("</body></html>\n", f);
  return fclose(f) ? -1 : 0;
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
  chart_throughput_latency(&c);
  chart_latency_cdf(&c);
  int with_faults = chart_over_time(&c);
  chart_metric(&c, "msgs-per-op", "msgs_per_op", 1, "messages between nodes per operation",
               "Messages per operation");
  chart_conflict(&c);
  chart_metric(&c, "unavailability", "unavailable_ms", 1, "unavailable after the fault (ms)",
               "Unavailability window after the fault");
  /* Leadership only matters where faults could move it. */
  int leadership = 0;
  for (size_t i = 0; i < json_array_size(c.points) && with_faults; i++)
    leadership |= plot_metric(json_array_get(c.points, i), "median", "leader_changes") > 1;
  if (leadership) {
    chart_metric(&c, "leader-changes", "leader_changes", 1, "times a node became leader",
                 "Leader changes");
    /* Terms, ballots, views and epochs count differently: compared within one protocol only. */
    const char *first = json_string_value(json_object_get(json_array_get(c.points, 0), "protocol"));
    int one_protocol = first != NULL;
    for (size_t i = 1; i < json_array_size(c.points) && one_protocol; i++) {
      const char *p = json_string_value(json_object_get(json_array_get(c.points, i), "protocol"));
      one_protocol = p && !strcmp(p, first);
    }
    if (one_protocol)
      chart_metric(&c, "max-term", "max_term", 1, "highest term reached", "Highest term");
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
