/* plot_charts.c: the charts of `ctk plot` (see plot.h), each a gnuplot script over data files
 * written from bench.json and the repetitions' results. */
#include <math.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "plot_internal.h"

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
void plot_chart_throughput_latency(plot_ctx *c) {
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

void plot_chart_latency_cdf(plot_ctx *c) {
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
int plot_chart_over_time(plot_ctx *c) {
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
void plot_chart_metric(plot_ctx *c, const char *name, const char *metric, double scale,
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

void plot_chart_conflict(plot_ctx *c) {
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
