/* plot.h: charts and a report of the results `ctk bench` left in a directory (bench.json and
 * each repetition's result.json and latency_cdf.dat). Every chart is drawn by gnuplot (the one
 * place it is run is plot_gnuplot in plot.c), to PNG and SVG, from data files and a script
 * written next to them into DIR/plots; charts whose data the results do not hold are left out:
 *   throughput-latency  p50 and p99 latency against throughput, one curve per series, along the
 *                       swept load (clients or rate): the load-latency "hockey stick"
 *   latency-cdf         the latency distribution of each series at its highest load
 *   over-time-N         ops/s and p99 latency per second of a run with faults, each fault
 *                       marked where it fired (throughput-over-time without faults)
 *   msgs-per-op         messages between nodes per operation, per point
 *   conflict            fast-path ratio and p50 latency against conflict_pct (EPaxos)
 *   unavailability      the longest unavailability window after a fault, per point
 *   leadership          leader changes and the highest term reached, per point
 * and DIR/plots/report.html: the table and every chart inlined (SVG), readable offline. */
#ifndef CTK_PLOT_H
#define CTK_PLOT_H

#include <stddef.h>

#define CTK_PLOT_MAX_CHARTS 24

typedef struct ctk_plot_report {
  char charts[CTK_PLOT_MAX_CHARTS][512]; /* each chart's path without .png / .svg */
  char titles[CTK_PLOT_MAX_CHARTS][160];
  int n_charts;
  char html_path[512];
} ctk_plot_report;

/* Draws the charts of dir and writes the report. Returns 0; 1 when gnuplot failed (its errors
 * in DIR/plots/gnuplot.log); 2 when dir holds no readable bench.json; a message in err. */
int ctk_plot(const char *dir, ctk_plot_report *report, char *err, size_t err_len);

#endif /* CTK_PLOT_H */
