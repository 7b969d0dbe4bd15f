/* plot_internal.h: what the files of `ctk plot` share (plot.c: the gnuplot runner, reading the
 * results, the whole; plot_charts.c: each chart; plot_html.c: the report). */
#ifndef CTK_PLOT_INTERNAL_H
#define CTK_PLOT_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "plot.h"

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

/* Points that share every swept value but the one a chart runs along. */
typedef struct plot_series {
  char name[160];
  size_t members[256]; /* point indices, in the order of the matrix */
  size_t n;
} plot_series;

/* snprintf where a cut is acceptable (titles, paths checked by the open that follows). */
void plot_fmt(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* plots/<name>.gp with the PNG terminal and the common settings; the caller writes one chart
 * ending in one plot command, then plot_finish adds the SVG, runs gnuplot (plot_gnuplot, the one
 * place it runs) and records the chart in the report. */
FILE *plot_begin(plot_ctx *c, const char *name);
void plot_finish(plot_ctx *c, FILE *f, const char *name, const char *title);
/* plots/<name>.dat, opened for writing; its path into path. */
FILE *plot_data(const plot_ctx *c, const char *name, char *path, size_t len);
/* A gnuplot string literal: single quotes, a quote doubled. */
void plot_quote(FILE *f, const char *s);

/* Reading bench.json: a number or NAN; point[which][metric] (which: median, min or max); a swept
 * value as text or as a number; the run directory of a point's first repetition (or NULL). */
double plot_num(const json_t *v);
double plot_metric(const json_t *point, const char *which, const char *metric);
void plot_value_text(const json_t *v, char *buf, size_t len);
double plot_param_num(const json_t *point, const char *key);
const char *plot_first_rep(const json_t *point);
/* Groups the points by their swept values except skip1 and skip2; at most max series. */
size_t plot_group(const plot_ctx *c, const char *skip1, const char *skip2, plot_series *series,
                  size_t max);
/* "protocol=raft clients=8" as "raft clients=8". */
void plot_short_label(char *label);

/* The charts (plot_charts.c); each draws only what its data allows. */
void plot_chart_throughput_latency(plot_ctx *c);
void plot_chart_latency_cdf(plot_ctx *c);
/* Returns the number of runs with faults it drew (0: the chart without faults was drawn). */
int plot_chart_over_time(plot_ctx *c);
void plot_chart_metric(plot_ctx *c, const char *name, const char *metric, double scale,
                       const char *ylabel, const char *title);
void plot_chart_conflict(plot_ctx *c);

/* plots/report.html (plot_html.c). Returns 0 or -1. */
int plot_html(plot_ctx *c);

#endif /* CTK_PLOT_INTERNAL_H */
