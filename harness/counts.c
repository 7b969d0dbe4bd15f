/* counts.c: collecting protocols' named counters (see counts.h). */
#include "counts.h"

#include <stdio.h>
#include <string.h>

static int is_max(const char *name) {
  size_t len = strlen(name);
  return len >= 4 && strcmp(name + len - 4, "_max") == 0;
}

void ctk_counts_add(ctk_counts *into, const char *name, uint64_t value) {
  if (!name || !name[0]) return;
  for (size_t i = 0; i < into->n; i++) {
    if (strcmp(into->c[i].name, name) != 0) continue;
    if (is_max(name))
      into->c[i].value = value > into->c[i].value ? value : into->c[i].value;
    else
      into->c[i].value += value;
    return;
  }
  if (into->n == CTK_MAX_COUNTERS) return;
  snprintf(into->c[into->n].name, CTK_COUNT_NAME_LEN, "%s", name);
  into->c[into->n++].value = value;
}

void ctk_counts_merge(ctk_counts *into, const ctk_counts *from) {
  for (size_t i = 0; i < from->n; i++) ctk_counts_add(into, from->c[i].name, from->c[i].value);
}

void ctk_counts_add_proto(ctk_counts *into, const ctk_protocol_def *def, const ctk_proto *proto) {
  if (!def->counters || !proto) return;
  ctk_counter c[CTK_MAX_COUNTERS];
  size_t n = def->counters(proto, c, CTK_MAX_COUNTERS);
  for (size_t i = 0; i < n && i < CTK_MAX_COUNTERS; i++)
    ctk_counts_add(into, c[i].name, c[i].value);
}

uint64_t ctk_counts_get(const ctk_counts *c, const char *name, int *found) {
  for (size_t i = 0; i < c->n; i++)
    if (strcmp(c->c[i].name, name) == 0) {
      if (found) *found = 1;
      return c->c[i].value;
    }
  if (found) *found = 0;
  return 0;
}

double ctk_counts_fast_ratio(const ctk_counts *c) {
  int has_fast, has_slow;
  uint64_t fast = ctk_counts_get(c, "fast_path", &has_fast);
  uint64_t slow = ctk_counts_get(c, "slow_path", &has_slow);
  if (!has_fast || !has_slow || fast + slow == 0) return -1;
  return (double)fast / (double)(fast + slow);
}
