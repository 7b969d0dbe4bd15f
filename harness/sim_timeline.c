/* sim_timeline.c: a per-node timeline of a simulated run, for people: one row per node, one
 * column per slice of virtual time, a letter for what the node was (L leader, C candidate,
 * F follower, X down; lower case while cut off from a majority). Recorded as transitions, so a
 * leader that lasted a millisecond still shows; rendering picks, per column, the most notable
 * state the node was in during that slice. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

#define TIMELINE_MAX_COLUMNS     100
#define TIMELINE_MAX_TRANSITIONS 1000000 /* per node; later ones are not recorded */

/* 1 when node cannot reach a majority of the cluster (itself included). */
static int cut_off(const ctk_simulator *self, int node) {
  int reachable = 1;
  for (int j = 0; j < self->n; j++)
    if (j != node && !sim_net_link_blocked(self, node, j)) reachable++;
  return reachable < self->n / 2 + 1;
}

static char state_of(const ctk_simulator *self, int node) {
  const sim_node *n = &self->nodes[node];
  if (!n->alive) return 'X';
  ctk_status st;
  sim_status(self, node, &st);
  char c = st.role == CTK_ROLE_LEADER ? 'L' : st.role == CTK_ROLE_CANDIDATE ? 'C' : 'F';
  return cut_off(self, node) ? (char)(c - 'A' + 'a') : c;
}

void sim_timeline_note(ctk_simulator *self, int node) {
  if (!self->options.timeline && !self->options.html) return;
  sim_timeline *t = &self->timelines[node];
  char state = state_of(self, node);
  if (t->n && t->states[t->n - 1] == state) return;
  if (t->n == TIMELINE_MAX_TRANSITIONS) return;
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    uint64_t *times = realloc(t->times, cap * sizeof *times);
    if (times) t->times = times;
    char *states = realloc(t->states, cap);
    if (states) t->states = states;
    if (!times || !states) return;
    t->cap = cap;
  }
  t->times[t->n] = self->now_us;
  t->states[t->n++] = state;
}

void sim_timeline_note_all(ctk_simulator *self) {
  for (int i = 0; i < self->n; i++) sim_timeline_note(self, i);
}

/* Higher is more notable: a crash or a leader in a slice is what a reader looks for. */
static int priority(char s) {
  static const char order[] = "fFcClLX";
  const char *p = strchr(order, s);
  return p ? (int)(p - order) : -1;
}

void sim_timeline_render(const ctk_simulator *self, FILE *out) {
  uint64_t end = self->now_us ? self->now_us : 1;
  uint64_t slice = (end + TIMELINE_MAX_COLUMNS - 1) / TIMELINE_MAX_COLUMNS;
  slice = (slice + 9999) / 10000 * 10000; /* whole 10 ms steps */
  int columns = (int)((end + slice - 1) / slice);
  fprintf(out,
          "timeline: 1 column = %" PRIu64
          " ms; L leader, C candidate, F follower, X down; "
          "lower case: cut off from a majority\n",
          slice / 1000);
  for (int i = 0; i < self->n; i++) {
    const sim_timeline *t = &self->timelines[i];
    char row[TIMELINE_MAX_COLUMNS + 1];
    size_t k = 0;
    char current = t->n ? t->states[0] : ' ';
    for (int c = 0; c < columns; c++) {
      uint64_t lo = (uint64_t)c * slice, hi = lo + slice;
      char best = current;
      while (k < t->n && t->times[k] < hi) {
        current = t->states[k++];
        if (priority(current) > priority(best)) best = current;
      }
      (void)lo;
      row[c] = best;
    }
    row[columns] = 0;
    fprintf(out, "  n%-2d %s\n", i, row);
  }
  /* a time axis: a tick every 10 columns */
  char axis[TIMELINE_MAX_COLUMNS + 16];
  memset(axis, ' ', sizeof axis);
  axis[sizeof axis - 1] = 0;
  for (int c = 0; c < columns; c += 10) {
    char label[16];
    int n = snprintf(label, sizeof label, "|%.1fs", (double)((uint64_t)c * slice) / 1e6);
    if (c + n < (int)sizeof axis - 1) memcpy(axis + c, label, (size_t)n);
  }
  int end_of_axis = (int)sizeof axis - 1;
  while (end_of_axis > 0 && axis[end_of_axis - 1] == ' ') end_of_axis--;
  axis[end_of_axis] = 0;
  fprintf(out, "      %s\n", axis);
}

void sim_timeline_free(ctk_simulator *self) {
  for (int i = 0; i < CTK_MAX_NODES; i++) {
    free(self->timelines[i].times);
    free(self->timelines[i].states);
  }
}
