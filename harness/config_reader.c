/* config_reader.c: checked reads of TOML values, and the messages that explain a bad one (see
 * config_reader.h). */
#include "config_reader.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CFG_RENDER_MAX  60 /* longest rendering of a value in a message, in bytes */
#define CFG_SUGGEST_MAX 64 /* names longer than this get no suggestion */

int cfg_fail(const cfg_reader *r, int line, const char *fmt, ...) {
  if (!r->err || r->err_len == 0) return -1;
  int used = snprintf(r->err, r->err_len, "%s:%d: ", r->file, line);
  if (used < 0 || (size_t)used >= r->err_len) return -1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->err + used, r->err_len - (size_t)used, fmt, ap);
  va_end(ap);
  return -1;
}

void cfg_format_double(double value, char *buf, size_t buf_len) {
  if (isnan(value)) {
    snprintf(buf, buf_len, "nan");
    return;
  }
  if (isinf(value)) {
    snprintf(buf, buf_len, value < 0 ? "-inf" : "inf");
    return;
  }
  /* Whole numbers of moderate size read best without an exponent. */
  if (fabs(value) < 1e15 && value == floor(value)) {
    snprintf(buf, buf_len, "%.0f", value);
    return;
  }
  for (int precision = 1; precision <= 17; precision++) {
    snprintf(buf, buf_len, "%.*g", precision, value);
    if (strtod(buf, NULL) == value) return;
  }
}

/* Appends text to buf (of buf_len bytes, *used so far), truncating; keeps buf terminated. */
static void cfg_append(char *buf, size_t buf_len, size_t *used, const char *text) {
  size_t room = buf_len - *used;
  if (room <= 1) return;
  size_t n = strlen(text);
  if (n >= room) n = room - 1;
  memcpy(buf + *used, text, n);
  *used += n;
  buf[*used] = '\0';
}

/* Appends s (len bytes) in double quotes, with control characters, quotes and backslashes
 * escaped. */
static void cfg_append_quoted(char *buf, size_t buf_len, size_t *used, const char *s, size_t len) {
  cfg_append(buf, buf_len, used, "\"");
  for (size_t i = 0; i < len && *used + 8 < buf_len; i++) {
    unsigned char c = (unsigned char)s[i];
    char piece[8];
    if (c == '"' || c == '\\')
      snprintf(piece, sizeof piece, "\\%c", c);
    else if (c < 0x20 || c == 0x7f)
      snprintf(piece, sizeof piece, "\\x%02x", c);
    else
      snprintf(piece, sizeof piece, "%c", c);
    cfg_append(buf, buf_len, used, piece);
  }
  cfg_append(buf, buf_len, used, "\"");
}

static void cfg_render_into(const ctk_toml_node *value, int nested, char *buf, size_t buf_len,
                            size_t *used) {
  char piece[64];
  switch (ctk_toml_type_of(value)) {
  case CTK_TOML_STRING: {
    const char *s;
    size_t len;
    ctk_toml_get_string(value, &s, &len);
    cfg_append_quoted(buf, buf_len, used, s, len);
    return;
  }
  case CTK_TOML_INTEGER: {
    int64_t v;
    ctk_toml_get_integer(value, &v);
    snprintf(piece, sizeof piece, "%" PRId64, v);
    break;
  }
  case CTK_TOML_FLOAT: {
    double v;
    ctk_toml_get_float(value, &v);
    cfg_format_double(v, piece, sizeof piece);
    /* A whole float keeps its ".0", so that "expected an integer, got 3.0" explains itself. */
    if (strspn(piece, "-0123456789") == strlen(piece))
      snprintf(piece + strlen(piece), sizeof piece - strlen(piece), ".0");
    break;
  }
  case CTK_TOML_BOOL: {
    int v;
    ctk_toml_get_bool(value, &v);
    snprintf(piece, sizeof piece, "%s", v ? "true" : "false");
    break;
  }
  case CTK_TOML_ARRAY: {
    cfg_append(buf, buf_len, used, "[");
    for (size_t i = 0; i < ctk_toml_array_size(value) && *used < buf_len - 1; i++) {
      if (i > 0) cfg_append(buf, buf_len, used, ", ");
      cfg_render_into(ctk_toml_array_at(value, i), 1, buf, buf_len, used);
    }
    cfg_append(buf, buf_len, used, "]");
    return;
  }
  case CTK_TOML_TABLE: snprintf(piece, sizeof piece, "%s", nested ? "{...}" : "a table"); break;
  default: snprintf(piece, sizeof piece, "%s", ctk_toml_type_name(ctk_toml_type_of(value))); break;
  }
  cfg_append(buf, buf_len, used, piece);
}

void cfg_render_value(const ctk_toml_node *value, char *buf, size_t buf_len) {
  char full[4 * CFG_RENDER_MAX];
  size_t used = 0;
  full[0] = '\0';
  cfg_render_into(value, 0, full, sizeof full, &used);
  if (used > CFG_RENDER_MAX) {
    /* Cut at a character boundary, not inside a UTF-8 sequence. */
    size_t cut = CFG_RENDER_MAX - 3;
    while (cut > 0 && ((unsigned char)full[cut] & 0xc0) == 0x80) cut--;
    memcpy(full + cut, "...", 4);
  }
  snprintf(buf, buf_len, "%s", full);
}

int cfg_fail_expected(const cfg_reader *r, const ctk_toml_node *value, const char *path,
                      const char *expected) {
  char got[CFG_RENDER_MAX + 8];
  cfg_render_value(value, got, sizeof got);
  return cfg_fail(r, ctk_toml_line(value), "key '%s': expected %s, got %s", path, expected, got);
}

void cfg_path(char *buf, size_t buf_len, const char *section, const char *key) {
  if (section && section[0])
    snprintf(buf, buf_len, "%s.%s", section, key);
  else
    snprintf(buf, buf_len, "%s", key);
}

/* Optimal string alignment distance (Levenshtein plus adjacent transpositions), so that the
 * common typo "cleints" is 1 away from "clients". Both strings are at most CFG_SUGGEST_MAX. */
static size_t cfg_edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  size_t d[CFG_SUGGEST_MAX + 1][CFG_SUGGEST_MAX + 1];
  for (size_t i = 0; i <= la; i++) d[i][0] = i;
  for (size_t j = 0; j <= lb; j++) d[0][j] = j;
  for (size_t i = 1; i <= la; i++) {
    for (size_t j = 1; j <= lb; j++) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      size_t best = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
      if (d[i - 1][j - 1] + cost < best) best = d[i - 1][j - 1] + cost;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
          d[i - 2][j - 2] + 1 < best)
        best = d[i - 2][j - 2] + 1;
      d[i][j] = best;
    }
  }
  return d[la][lb];
}

const char *cfg_suggest(const char *name, const char *const *known, size_t n_known) {
  size_t len = strlen(name);
  if (len == 0 || len > CFG_SUGGEST_MAX) return NULL;
  const char *best = NULL;
  size_t best_distance = 3;
  for (size_t i = 0; i < n_known; i++) {
    size_t known_len = strlen(known[i]);
    if (known_len > CFG_SUGGEST_MAX) continue;
    if (known_len + 2 < len || len + 2 < known_len) continue;
    size_t distance = cfg_edit_distance(name, known[i]);
    /* A suggestion must keep at least one character of the name. */
    if (distance < best_distance && distance < len) {
      best = known[i];
      best_distance = distance;
    }
  }
  return best;
}

void cfg_render_key(const char *key, char *buf, size_t buf_len) {
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; key[i] && used + 8 < buf_len; i++) {
    unsigned char c = (unsigned char)key[i];
    char piece[8];
    if (i >= CFG_RENDER_MAX) {
      cfg_append(buf, buf_len, &used, "...");
      break;
    }
    if (c < 0x20 || c == 0x7f)
      snprintf(piece, sizeof piece, "\\x%02x", c);
    else
      snprintf(piece, sizeof piece, "%c", c);
    cfg_append(buf, buf_len, &used, piece);
  }
}

int cfg_fail_unknown_key(const cfg_reader *r, int line, const char *section, const char *key,
                         const char *const *known, size_t n_known) {
  char shown[CFG_RENDER_MAX + 16], path[CFG_PATH_LEN + CFG_RENDER_MAX + 16];
  cfg_render_key(key, shown, sizeof shown);
  cfg_path(path, sizeof path, section, shown);
  const char *suggestion = cfg_suggest(key, known, n_known);
  if (suggestion)
    return cfg_fail(r, line, "unknown key '%s' (did you mean '%s'?)", path, suggestion);
  char expected[768]; /* the longest list of keys, [raft]'s, takes about 400 bytes */
  size_t used = 0;
  expected[0] = '\0';
  for (size_t i = 0; i < n_known; i++) {
    if (i > 0) cfg_append(expected, sizeof expected, &used, ", ");
    cfg_append(expected, sizeof expected, &used, known[i]);
  }
  return cfg_fail(r, line, "unknown key '%s' (expected one of: %s)", path, expected);
}

int cfg_check_keys(const cfg_reader *r, const ctk_toml_node *table, const char *section,
                   const char *const *known, size_t n_known) {
  for (size_t i = 0; i < ctk_toml_table_size(table); i++) {
    const char *key = ctk_toml_table_key_at(table, i);
    int is_known = 0;
    for (size_t k = 0; k < n_known && !is_known; k++) is_known = strcmp(key, known[k]) == 0;
    if (!is_known)
      return cfg_fail_unknown_key(r, ctk_toml_table_key_line_at(table, i), section, key, known,
                                  n_known);
  }
  return 0;
}

int cfg_expect_table(const cfg_reader *r, const ctk_toml_node *node, const char *path) {
  if (!node || ctk_toml_is_table(node)) return 0;
  return cfg_fail_expected(r, node, path, "a table");
}

int cfg_node_int(const cfg_reader *r, const ctk_toml_node *node, const char *path, int64_t min,
                 int64_t max, int64_t *out) {
  int64_t v;
  if (ctk_toml_get_integer(node, &v) == 0 && v >= min && v <= max) {
    *out = v;
    return 0;
  }
  char expected[96];
  if (max == INT64_MAX)
    snprintf(expected, sizeof expected, "an integer >= %" PRId64, min);
  else
    snprintf(expected, sizeof expected, "an integer from %" PRId64 " to %" PRId64, min, max);
  return cfg_fail_expected(r, node, path, expected);
}

int cfg_node_number(const cfg_reader *r, const ctk_toml_node *node, const char *path, double min,
                    int min_exclusive, double max, double *out) {
  double v = NAN;
  int64_t i;
  if (ctk_toml_get_integer(node, &i) == 0)
    v = (double)i;
  else
    ctk_toml_get_float(node, &v);
  int above_min = min_exclusive ? v > min : v >= min;
  if (isfinite(v) && above_min && v <= max) {
    *out = v;
    return 0;
  }
  char lo[32], hi[32], expected[96];
  cfg_format_double(min, lo, sizeof lo);
  cfg_format_double(max, hi, sizeof hi);
  if (max == HUGE_VAL)
    snprintf(expected, sizeof expected, "a number %s %s", min_exclusive ? ">" : ">=", lo);
  else if (min_exclusive)
    snprintf(expected, sizeof expected, "a number > %s and <= %s", lo, hi);
  else
    snprintf(expected, sizeof expected, "a number from %s to %s", lo, hi);
  return cfg_fail_expected(r, node, path, expected);
}

int cfg_node_bool(const cfg_reader *r, const ctk_toml_node *node, const char *path, int *out) {
  if (ctk_toml_get_bool(node, out) == 0) return 0;
  return cfg_fail_expected(r, node, path, "true or false");
}

int cfg_node_string(const cfg_reader *r, const ctk_toml_node *node, const char *path,
                    const char *expected, size_t max_len, const char **out) {
  const char *s;
  size_t len;
  if (ctk_toml_get_string(node, &s, &len) == 0 && len > 0 && len < max_len && strlen(s) == len) {
    *out = s;
    return 0;
  }
  return cfg_fail_expected(r, node, path, expected);
}

int cfg_node_choice(const cfg_reader *r, const ctk_toml_node *node, const char *path,
                    const char *const *names, size_t n_names, int *out) {
  const char *s;
  size_t len;
  if (ctk_toml_get_string(node, &s, &len) == 0 && strlen(s) == len) {
    for (size_t i = 0; i < n_names; i++) {
      if (strcmp(s, names[i]) == 0) {
        *out = (int)i;
        return 0;
      }
    }
  }
  char expected[256];
  size_t used = 0;
  expected[0] = '\0';
  for (size_t i = 0; i < n_names; i++) {
    if (i > 0) cfg_append(expected, sizeof expected, &used, i + 1 == n_names ? " or " : ", ");
    cfg_append(expected, sizeof expected, &used, "\"");
    cfg_append(expected, sizeof expected, &used, names[i]);
    cfg_append(expected, sizeof expected, &used, "\"");
  }
  return cfg_fail_expected(r, node, path, expected);
}

int cfg_int64(const cfg_reader *r, const ctk_toml_node *table, const char *section, const char *key,
              int64_t min, int64_t max, int64_t *out) {
  const ctk_toml_node *node = ctk_toml_table_get(table, key);
  if (!node) return 0;
  char path[CFG_PATH_LEN];
  cfg_path(path, sizeof path, section, key);
  return cfg_node_int(r, node, path, min, max, out) == 0 ? 1 : -1;
}

int cfg_int(const cfg_reader *r, const ctk_toml_node *table, const char *section, const char *key,
            int min, int max, int *out) {
  int64_t v = *out;
  int given = cfg_int64(r, table, section, key, min, max, &v);
  if (given == 1) *out = (int)v;
  return given;
}

int cfg_number(const cfg_reader *r, const ctk_toml_node *table, const char *section,
               const char *key, double min, int min_exclusive, double max, double *out) {
  const ctk_toml_node *node = ctk_toml_table_get(table, key);
  if (!node) return 0;
  char path[CFG_PATH_LEN];
  cfg_path(path, sizeof path, section, key);
  return cfg_node_number(r, node, path, min, min_exclusive, max, out) == 0 ? 1 : -1;
}

int cfg_bool(const cfg_reader *r, const ctk_toml_node *table, const char *section, const char *key,
             int *out) {
  const ctk_toml_node *node = ctk_toml_table_get(table, key);
  if (!node) return 0;
  char path[CFG_PATH_LEN];
  cfg_path(path, sizeof path, section, key);
  return cfg_node_bool(r, node, path, out) == 0 ? 1 : -1;
}

int cfg_choice(const cfg_reader *r, const ctk_toml_node *table, const char *section,
               const char *key, const char *const *names, size_t n_names, int *out) {
  const ctk_toml_node *node = ctk_toml_table_get(table, key);
  if (!node) return 0;
  char path[CFG_PATH_LEN];
  cfg_path(path, sizeof path, section, key);
  return cfg_node_choice(r, node, path, names, n_names, out) == 0 ? 1 : -1;
}
