/* script_parse.c: the words of a scenario script (nodes, node sets, durations, links) and how
 * its errors and failed expectations are reported. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "script_internal.h"

/* ---- errors and output ---- */

int script_fail(script *sc, const char *fmt, ...) {
  int k = snprintf(sc->err, sc->err_len, "%s:%d: ", sc->path, sc->line);
  if (k < 0 || (size_t)k >= sc->err_len) return -1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(sc->err + k, sc->err_len - (size_t)k, fmt, ap);
  va_end(ap);
  return -1;
}

/* A failed expectation: reported with its line, and the script goes on. */
void script_expect_failed(script *sc, const char *fmt, ...) {
  sc->failures++;
  fprintf(sc->out, "  FAIL line %d: ", sc->line);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(sc->out, fmt, ap);
  va_end(ap);
  fputc('\n', sc->out);
}

const char *script_role_name(ctk_role role) {
  switch (role) {
  case CTK_ROLE_FOLLOWER: return "follower";
  case CTK_ROLE_CANDIDATE: return "candidate";
  case CTK_ROLE_LEADER: return "leader";
  case CTK_ROLE_NONE: return "replica";
  }
  return "?";
}

void script_leader_name(int id, char *buf, size_t len) {
  if (id < 0)
    snprintf(buf, len, "none");
  else
    snprintf(buf, len, "n%d", id);
}

/* ---- parsing ---- */

int script_parse_int(const char *s, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

int script_parse_node(script *sc, const char *s, int *node) {
  long v;
  if (script_parse_int(s, 0, sc->n - 1, &v))
    return script_fail(sc, "expected a node from 0 to %d, got '%s'", sc->n - 1, s);
  *node = (int)v;
  return 0;
}

/* "all", "2", "0,3", "1..4" or a mix ("0,2..3"). */
int script_parse_nodes(script *sc, const char *s, int *set) {
  memset(set, 0, sizeof(int) * CTK_MAX_NODES);
  if (!strcmp(s, "all")) {
    for (int i = 0; i < sc->n; i++) set[i] = 1;
    return 0;
  }
  char buf[256];
  snprintf(buf, sizeof buf, "%s", s);
  for (char *save = NULL, *part = strtok_r(buf, ",", &save); part;
       part = strtok_r(NULL, ",", &save)) {
    char *dots = strstr(part, "..");
    int a = 0, b = 0;
    if (dots) {
      *dots = 0;
      if (script_parse_node(sc, part, &a) || script_parse_node(sc, dots + 2, &b)) return -1;
    } else {
      if (script_parse_node(sc, part, &a)) return -1;
      b = a;
    }
    if (a > b) return script_fail(sc, "empty node range '%s'", s);
    for (int i = a; i <= b; i++) set[i] = 1;
  }
  return 0;
}

/* "100ms", "2s", "500us". */
int script_parse_duration(script *sc, const char *s, uint64_t *us) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  double scale = !strcmp(end, "us") ? 1 : !strcmp(end, "ms") ? 1e3 : !strcmp(end, "s") ? 1e6 : 0;
  if (errno || end == s || scale == 0 || v < 0 || v * scale > 3600e6)
    return script_fail(sc, "expected a duration such as 100ms, 2s or 500us, got '%s'", s);
  *us = (uint64_t)(v * scale + 0.5);
  return 0;
}

/* "A->B", A and B a node or "*" (-1). */
int script_parse_link(script *sc, const char *s, int *from, int *to) {
  const char *arrow = strstr(s, "->");
  if (!arrow) return script_fail(sc, "expected A->B (nodes or *), got '%s'", s);
  char a[16], b[16];
  snprintf(a, sizeof a, "%.*s", (int)(arrow - s), s);
  snprintf(b, sizeof b, "%s", arrow + 2);
  *from = *to = -1;
  if (strcmp(a, "*") && script_parse_node(sc, a, from)) return -1;
  if (strcmp(b, "*") && script_parse_node(sc, b, to)) return -1;
  return 0;
}

/* Optional trailing "at NODES" from token k; all nodes when absent. */
int script_parse_at(script *sc, char **tok, int ntok, int k, int *set) {
  if (k == ntok) return script_parse_nodes(sc, "all", set);
  if (k + 2 != ntok || strcmp(tok[k], "at"))
    return script_fail(sc, "expected 'at NODES' after '%s'", tok[k - 1]);
  return script_parse_nodes(sc, tok[k + 1], set);
}
