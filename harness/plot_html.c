/* plot_html.c: the report of `ctk plot`: one self-contained HTML page with the table of every
 * point and every chart inline as SVG (no network access needed to read it). */
#include <math.h>
#include <string.h>

#include "plot_internal.h"

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

int plot_html(plot_ctx *c) {
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
