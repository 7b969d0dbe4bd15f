/* sim_html.c: a simulated run as one self-contained HTML page (`ctk sim FILE --html out.html`),
 * or as a ShiViz log (`--shiviz out.log`, events with vector clocks, for the ShiViz visualizer):
 * a lane per node with what it was over time (leader, candidate, follower, down, cut off from a
 * majority), and every message as a line from its sender's lane at the send time to its
 * receiver's lane at the arrival time, coloured by message type, with the protocol's own
 * description as its tooltip (dashed when it arrived at a node that was down or cut off). No
 * network access is needed to view it: the page carries its style and its few lines of script
 * (zoom and scroll). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

#define HTML_MAX_MESSAGES 30000 /* later ones are counted, not drawn */
#define HTML_LANE_HEIGHT  40
#define HTML_MAX_TYPES    12

void sim_html_message(ctk_simulator *self, const sim_event *ev, int lost) {
  size_t k = self->html_n++;
  if (k >= HTML_MAX_MESSAGES) return; /* counted, not drawn */
  if (k == self->html_cap) {
    size_t cap = self->html_cap ? self->html_cap * 2 : 1024;
    if (cap > HTML_MAX_MESSAGES) cap = HTML_MAX_MESSAGES;
    sim_html_msg *m = realloc(self->html_msgs, cap * sizeof *m);
    if (!m) return; /* out of memory: the page shows fewer messages */
    self->html_msgs = m;
    self->html_cap = cap;
  }
  if (k >= self->html_cap) return;
  sim_html_msg *m = &self->html_msgs[k];
  *m = (sim_html_msg){.sent_us = ev->sent_us,
                      .arrived_us = ev->time,
                      .from = (int16_t)ev->from,
                      .to = (int16_t)ev->node,
                      .lost = (uint8_t)(lost != 0)};
  if (self->proto->describe(ev->data, ev->len, m->what, sizeof m->what) < 0)
    snprintf(m->what, sizeof m->what, "(malformed)");
}

void sim_html_free(ctk_simulator *self) {
  free(self->html_msgs);
  self->html_msgs = NULL;
  self->html_n = self->html_cap = 0;
}

/* Writes s with the characters HTML gives a meaning escaped. */
static void put_escaped(FILE *out, const char *s) {
  for (; *s; s++) {
    if (*s == '<')
      fputs("&lt;", out);
    else if (*s == '>')
      fputs("&gt;", out);
    else if (*s == '&')
      fputs("&amp;", out);
    else if (*s == '"')
      fputs("&quot;", out);
    else
      fputc(*s, out);
  }
}

/* The message type: the first word of its description ("AppendEntries t=3 ..."). */
static void type_of(const char *what, char *type, size_t len) {
  size_t n = strcspn(what, " ");
  if (n >= len) n = len - 1;
  memcpy(type, what, n);
  type[n] = '\0';
}

static const char *const palette[HTML_MAX_TYPES] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                                    "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
                                                    "#7f7f7f", "#bcbd22", "#393b79", "#637939"};

static const char *state_fill(char s) {
  switch (s) {
  case 'L': return "#f6c343";
  case 'l': return "#fbe3a1";
  case 'C': return "#f08a4b";
  case 'c': return "#f7c4a4";
  case 'F': return "#dfe7ef";
  case 'f': return "#f2f2f2";
  default: return "#444444"; /* X: down */
  }
}

static void render_lanes(const ctk_simulator *self, FILE *out, double end_ms) {
  for (int i = 0; i < self->n; i++) {
    const sim_timeline *t = &self->timelines[i];
    double y = i * HTML_LANE_HEIGHT + 8;
    for (size_t k = 0; k < t->n; k++) {
      double a = (double)t->times[k] / 1000;
      double b = k + 1 < t->n ? (double)t->times[k + 1] / 1000 : end_ms;
      if (b <= a) continue;
      fprintf(out,
              "<rect x=\"%.3f\" y=\"%.1f\" width=\"%.3f\" height=\"%d\" fill=\"%s\"><title>n%d "
              "%c from %.3f s</title></rect>\n",
              a, y, b - a, HTML_LANE_HEIGHT - 16, state_fill(t->states[k]), i, t->states[k],
              a / 1000);
    }
  }
}

void sim_html_render(const ctk_simulator *self, FILE *out) {
  double end_ms = (double)self->now_us / 1000;
  if (end_ms <= 0) end_ms = 1;
  char types[HTML_MAX_TYPES][32];
  int n_types = 0;
  size_t drawn = self->html_n < self->html_cap ? self->html_n : self->html_cap;
  fprintf(out, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>ctk sim: ");
  put_escaped(out, self->config.path);
  fprintf(out,
          "</title>\n<style>\nbody{font-family:sans-serif;margin:16px}\n"
          "#wrap{display:flex}#names{flex:none;width:40px}\n"
          "#names div{height:%dpx;line-height:%dpx;font-weight:bold}\n"
          "#scroll{overflow-x:auto;flex:1;border:1px solid #ccc}\n"
          "svg line{stroke-width:1.2px;vector-effect:non-scaling-stroke}\n"
          ".key{display:inline-block;margin-right:14px}.sw{display:inline-block;width:14px;"
          "height:10px;margin-right:4px}\n</style></head><body>\n",
          HTML_LANE_HEIGHT, HTML_LANE_HEIGHT);
  fprintf(out, "<h2>ctk sim: ");
  put_escaped(out, self->config.path);
  fprintf(out,
          "</h2>\n<p>protocol %s, seed %" PRIu64
          ", %d nodes, %.3f s of virtual time; %zu "
          "messages drawn",
          self->proto->name, self->config.seed, self->n, end_ms / 1000, drawn);
  if (self->html_n > drawn) fprintf(out, " (the first %zu of %zu)", drawn, self->html_n);
  fprintf(out, ". Hover a band or a line for details; zoom with the buttons.</p>\n");
  fprintf(out,
          "<p><button onclick=\"zoom(2)\">zoom in</button> <button onclick=\"zoom(0.5)\">"
          "zoom out</button> <span class=\"key\"><span class=\"sw\" style=\"background:%s\">"
          "</span>leader</span><span class=\"key\"><span class=\"sw\" style=\"background:%s\">"
          "</span>candidate</span><span class=\"key\"><span class=\"sw\" style=\"background:%s\">"
          "</span>follower</span><span class=\"key\"><span class=\"sw\" style=\"background:%s\">"
          "</span>down</span><span class=\"key\">(paler: cut off from a majority)</span></p>\n",
          state_fill('L'), state_fill('C'), state_fill('F'), state_fill('X'));
  fprintf(out, "<div id=\"wrap\"><div id=\"names\">");
  for (int i = 0; i < self->n; i++) fprintf(out, "<div>n%d</div>", i);
  fprintf(out,
          "</div><div id=\"scroll\"><svg id=\"run\" xmlns=\"http://www.w3.org/2000/svg\" "
          "viewBox=\"0 0 %.3f %d\" preserveAspectRatio=\"none\" height=\"%d\" width=\"1200\">\n",
          end_ms, self->n * HTML_LANE_HEIGHT, self->n * HTML_LANE_HEIGHT);
  render_lanes(self, out, end_ms);
  for (size_t k = 0; k < drawn; k++) {
    const sim_html_msg *m = &self->html_msgs[k];
    char type[32];
    type_of(m->what, type, sizeof type);
    int t = 0;
    while (t < n_types && strcmp(types[t], type) != 0) t++;
    if (t == n_types && n_types < HTML_MAX_TYPES) memcpy(types[n_types++], type, sizeof type);
    const char *colour = t < HTML_MAX_TYPES ? palette[t] : "#000000";
    fprintf(out,
            "<line x1=\"%.3f\" y1=\"%d\" x2=\"%.3f\" y2=\"%d\" stroke=\"%s\"%s><title>n%d -> n%d "
            "%.3f -> %.3f ms%s: ",
            (double)m->sent_us / 1000, m->from * HTML_LANE_HEIGHT + HTML_LANE_HEIGHT / 2,
            (double)m->arrived_us / 1000, m->to * HTML_LANE_HEIGHT + HTML_LANE_HEIGHT / 2, colour,
            m->lost ? " stroke-dasharray=\"4 3\"" : "", m->from, m->to, (double)m->sent_us / 1000,
            (double)m->arrived_us / 1000, m->lost ? " (lost)" : "");
    put_escaped(out, m->what);
    fprintf(out, "</title></line>\n");
  }
  fprintf(out, "</svg></div></div>\n<p>");
  for (int t = 0; t < n_types; t++) {
    fprintf(out, "<span class=\"key\"><span class=\"sw\" style=\"background:%s\"></span>",
            palette[t]);
    put_escaped(out, types[t]);
    fprintf(out, "</span>");
  }
  fprintf(out,
          "</p>\n<script>\nvar w = 1200;\nfunction zoom(f) { w = Math.max(600, Math.min(w * f, "
          "4000000)); document.getElementById('run').setAttribute('width', w); }\n</script>\n"
          "</body></html>\n");
}

/* ---- ShiViz ---- */

/* One send or receive, in time order; the vector clocks are computed from them afterwards (a
 * send ticks the sender's clock and the message carries it; a receive ticks the receiver's and
 * takes the maximum). */
typedef struct shiviz_event {
  uint64_t t_us;
  uint32_t msg;
  uint8_t receive;
} shiviz_event;

static int shiviz_order(const void *a, const void *b) {
  const shiviz_event *x = a, *y = b;
  if (x->t_us != y->t_us) return x->t_us < y->t_us ? -1 : 1;
  if (x->receive != y->receive) return x->receive ? 1 : -1; /* sends first at equal times */
  return x->msg < y->msg ? -1 : x->msg > y->msg;
}

static void put_clock(FILE *out, const uint64_t *clock, int n) {
  fputc('{', out);
  int first = 1;
  for (int i = 0; i < n; i++) {
    if (!clock[i]) continue;
    fprintf(out, "%s\"n%d\":%" PRIu64, first ? "" : ",", i, clock[i]);
    first = 0;
  }
  fputc('}', out);
}

void sim_shiviz_render(const ctk_simulator *self, FILE *out) {
  size_t drawn = self->html_n < self->html_cap ? self->html_n : self->html_cap;
  shiviz_event *ev = malloc(2 * drawn * sizeof *ev + 1);
  uint64_t(*carried)[CTK_MAX_NODES] = calloc(drawn + 1, sizeof *carried);
  if (!ev || !carried) {
    free(ev);
    free(carried);
    return;
  }
  for (size_t k = 0; k < drawn; k++) {
    ev[2 * k] = (shiviz_event){self->html_msgs[k].sent_us, (uint32_t)k, 0};
    ev[2 * k + 1] = (shiviz_event){self->html_msgs[k].arrived_us, (uint32_t)k, 1};
  }
  qsort(ev, 2 * drawn, sizeof *ev, shiviz_order);
  /* The parser ShiViz is given on its first line, then a blank line, then the events. */
  fprintf(out, "(?<host>\\S*) (?<clock>{.*})\\n(?<event>.*)\n\n");
  uint64_t clock[CTK_MAX_NODES][CTK_MAX_NODES] = {{0}};
  for (size_t k = 0; k < 2 * drawn; k++) {
    const sim_html_msg *m = &self->html_msgs[ev[k].msg];
    if (ev[k].receive && m->lost) continue; /* never received */
    int node = ev[k].receive ? m->to : m->from;
    if (node < 0 || node >= self->n || m->from < 0 || m->from >= self->n) continue;
    uint64_t *c = clock[node];
    if (ev[k].receive)
      for (int i = 0; i < self->n; i++)
        if (carried[ev[k].msg][i] > c[i]) c[i] = carried[ev[k].msg][i];
    c[node]++;
    if (!ev[k].receive) memcpy(carried[ev[k].msg], c, sizeof clock[0]);
    fprintf(out, "n%d ", node);
    put_clock(out, c, self->n);
    fprintf(out, "\n%s n%d at %.3f ms: %s\n", ev[k].receive ? "receive from" : "send to",
            ev[k].receive ? m->from : m->to, (double)ev[k].t_us / 1000, m->what);
  }
  free(ev);
  free(carried);
}
