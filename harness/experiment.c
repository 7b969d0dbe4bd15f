/* experiment.c: experiment matrices (see experiment.h): reading [sweep] and repeat, and the
 * configuration of each point, as the file with the point's values put in place through the
 * TOML overrides (toml.h) and read by the ordinary loader (config.c). */
#include "experiment.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "config_reader.h"
#include "toml.h"

/* ---- reading [sweep] ---- */

/* Where a key written in [sweep] points: bare keys by the documented shorthand. */
static void exp_resolve(const char *name, char *table, size_t table_len, char *key,
                        size_t key_len) {
  const char *dot = strchr(name, '.');
  if (dot) {
    snprintf(table, table_len, "%.*s", (int)(dot - name), name);
    snprintf(key, key_len, "%s", dot + 1);
  } else if (!strcmp(name, "protocol") || !strcmp(name, "seed")) {
    snprintf(table, table_len, "%s", "");
    snprintf(key, key_len, "%s", name);
  } else {
    snprintf(table, table_len, "%s", !strcmp(name, "nodes") ? "cluster" : "workload");
    snprintf(key, key_len, "%s", name);
  }
}

static void exp_render(const ctk_toml_node *v, char *buf, size_t len) {
  const char *s;
  int64_t i;
  double d;
  int b;
  if (ctk_toml_get_string(v, &s, NULL) == 0)
    snprintf(buf, len, "%s", s);
  else if (ctk_toml_get_integer(v, &i) == 0)
    snprintf(buf, len, "%" PRId64, i);
  else if (ctk_toml_get_float(v, &d) == 0)
    cfg_format_double(d, buf, len);
  else if (ctk_toml_get_bool(v, &b) == 0)
    snprintf(buf, len, "%s", b ? "true" : "false");
  else
    snprintf(buf, len, "?");
}

/* One [sweep] entry: a list of 1 to CTK_EXP_MAX_VALUES scalars. */
static int exp_add_key(const cfg_reader *r, ctk_experiment *exp, const char *name,
                       const ctk_toml_node *list, int line) {
  char shown[96];
  cfg_render_key(name, shown, sizeof shown);
  if (exp->n_keys == CTK_EXP_MAX_KEYS)
    return cfg_fail(r, line, "key 'sweep.%s': at most %d keys can be swept", shown,
                    CTK_EXP_MAX_KEYS);
  const char *dot = strchr(name, '.');
  if (strlen(name) >= sizeof exp->keys[0].name || (dot && strchr(dot + 1, '.')))
    return cfg_fail(r, line, "key 'sweep.%s': expected a key of the experiment (KEY or TABLE.KEY)",
                    shown);
  size_t n = ctk_toml_array_size(list);
  if (!ctk_toml_is_array(list) || n == 0 || n > CTK_EXP_MAX_VALUES) {
    char what[64];
    snprintf(what, sizeof what, "a list of 1 to %d values", CTK_EXP_MAX_VALUES);
    char path[CFG_PATH_LEN];
    snprintf(path, sizeof path, "sweep.%s", shown);
    return cfg_fail_expected(r, list, path, what);
  }
  ctk_sweep_key *k = &exp->keys[exp->n_keys];
  memset(k, 0, sizeof *k);
  snprintf(k->name, sizeof k->name, "%s", name);
  exp_resolve(name, k->table, sizeof k->table, k->key, sizeof k->key);
  k->line = line;
  k->n_values = n;
  if (!strcmp(k->table, "fault"))
    return cfg_fail(r, line, "key 'sweep.%s': [[fault]] entries cannot be swept", shown);
  for (int j = 0; j < exp->n_keys; j++)
    if (!strcmp(exp->keys[j].table, k->table) && !strcmp(exp->keys[j].key, k->key))
      return cfg_fail(r, line, "key 'sweep.%s': the same key as 'sweep.%s' (line %d)", shown,
                      exp->keys[j].name, exp->keys[j].line);
  for (size_t v = 0; v < n; v++) {
    const ctk_toml_node *value = ctk_toml_array_at(list, v);
    ctk_toml_type t = ctk_toml_type_of(value);
    if (t != CTK_TOML_STRING && t != CTK_TOML_INTEGER && t != CTK_TOML_FLOAT &&
        t != CTK_TOML_BOOL) {
      char path[CFG_PATH_LEN];
      snprintf(path, sizeof path, "sweep.%s[%zu]", shown, v);
      return cfg_fail_expected(r, value, path, "a string, a number or a boolean");
    }
    exp_render(value, k->values[v], sizeof k->values[v]);
  }
  exp->n_keys++;
  return 0;
}

/* [sweep]: KEY = [...], "TABLE.KEY" = [...] or TABLE.KEY = [...] (a dotted key, which TOML
 * reads as a table inside [sweep]). */
static int exp_read_sweep(const cfg_reader *r, const ctk_toml_node *sweep, ctk_experiment *exp) {
  if (!sweep) return 0;
  if (cfg_expect_table(r, sweep, "sweep")) return -1;
  for (size_t i = 0; i < ctk_toml_table_size(sweep); i++) {
    const char *key = ctk_toml_table_key_at(sweep, i);
    const ctk_toml_node *value = ctk_toml_table_value_at(sweep, i);
    int line = ctk_toml_table_key_line_at(sweep, i);
    if (!ctk_toml_is_table(value)) {
      if (exp_add_key(r, exp, key, value, line)) return -1;
      continue;
    }
    for (size_t j = 0; j < ctk_toml_table_size(value); j++) {
      char name[160];
      snprintf(name, sizeof name, "%s.%s", key, ctk_toml_table_key_at(value, j));
      if (exp_add_key(r, exp, name, ctk_toml_table_value_at(value, j),
                      ctk_toml_table_key_line_at(value, j)))
        return -1;
    }
  }
  return 0;
}

/* The index of key k's value at point i: the last key varies fastest. */
static size_t exp_value_index(const ctk_experiment *exp, size_t i, int k) {
  for (int j = exp->n_keys - 1; j > k; j--) i /= exp->keys[j].n_values;
  return i % exp->keys[k].n_values;
}

/* The list node of key k in doc (the same path exp_read_sweep took). */
static const ctk_toml_node *exp_list_in(const ctk_toml_doc *doc, const ctk_sweep_key *k) {
  const ctk_toml_node *sweep = ctk_toml_table_get(ctk_toml_root(doc), "sweep");
  const ctk_toml_node *list = ctk_toml_table_get(sweep, k->name);
  if (list) return list;
  return ctk_toml_table_get(ctk_toml_table_get(sweep, k->table), k->key);
}

int ctk_experiment_point(const ctk_experiment *exp, size_t i, ctk_config *config, char *label,
                         size_t label_len, char *dir_name, size_t dir_len, char *err,
                         size_t err_len) {
  memset(config, 0, sizeof *config);
  if (i >= exp->n_points) {
    snprintf(err, err_len, "%s: no point %zu", exp->path, i);
    return -1;
  }
  ctk_toml_doc *doc = ctk_toml_parse_file(exp->path, err, err_len);
  if (!doc) return -1;
  size_t label_used = 0, dir_used = 0;
  if (label_len) label[0] = '\0';
  if (dir_len) snprintf(dir_name, dir_len, "%s", exp->n_keys ? "" : "default");
  for (int k = 0; k < exp->n_keys; k++) {
    const ctk_sweep_key *key = &exp->keys[k];
    size_t v = exp_value_index(exp, i, k);
    const ctk_toml_node *list = exp_list_in(doc, key);
    if (!list || ctk_toml_set(doc, key->table, key->key, ctk_toml_array_at(list, v), key->line)) {
      snprintf(err, err_len, "%s:%d: key 'sweep.%s': [%s] is not a table", exp->path, key->line,
               key->name, key->table);
      ctk_toml_free(doc);
      return -1;
    }
    if (label_used < label_len)
      label_used += (size_t)snprintf(label + label_used, label_len - label_used, "%s%s=%s",
                                     k ? " " : "", key->name, key->values[v]);
    char safe[48];
    snprintf(safe, sizeof safe, "%s", key->values[v]);
    for (char *c = safe; *c; c++)
      if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            *c == '.' || *c == '-'))
        *c = '_';
    if (dir_used < dir_len)
      dir_used += (size_t)snprintf(dir_name + dir_used, dir_len - dir_used, "%s%s-%s", k ? "_" : "",
                                   key->name, safe);
  }
  /* The values stay in the document; only the keys that are not part of an experiment go. */
  ctk_toml_remove(doc, "sweep");
  ctk_toml_remove(doc, "repeat");
  return ctk_config_load_doc(doc, exp->path, NULL, config, err, err_len);
}

void ctk_experiment_value(const ctk_experiment *exp, size_t i, int k, char *buf, size_t len) {
  snprintf(buf, len, "%s", exp->keys[k].values[exp_value_index(exp, i, k)]);
}

int ctk_experiment_load(const char *path, ctk_experiment *exp, char *err, size_t err_len) {
  memset(exp, 0, sizeof *exp);
  snprintf(exp->path, sizeof exp->path, "%s", path ? path : "(null)");
  ctk_toml_doc *doc = ctk_toml_parse_file(exp->path, err, err_len);
  if (!doc) return -1;
  cfg_reader r = {exp->path, err, err_len, NULL};
  const ctk_toml_node *root = ctk_toml_root(doc);
  int64_t repeat = 1;
  int rc = 0;
  if (cfg_int64(&r, root, "", "repeat", 1, CTK_EXP_MAX_REPEAT, &repeat) < 0 ||
      exp_read_sweep(&r, ctk_toml_table_get(root, "sweep"), exp) < 0)
    rc = -1;
  ctk_toml_free(doc);
  if (rc) return -1;
  exp->repeat = (int)repeat;
  exp->n_points = 1;
  for (int k = 0; k < exp->n_keys; k++) {
    exp->n_points *= exp->keys[k].n_values;
    if (exp->n_points > CTK_EXP_MAX_POINTS) {
      snprintf(err, err_len, "%s:%d: [sweep] makes more than %d points", exp->path,
               exp->keys[k].line, CTK_EXP_MAX_POINTS);
      return -1;
    }
  }
  /* Every point is read now: a bad value fails before anything runs. */
  for (size_t i = 0; i < exp->n_points; i++) {
    ctk_config config;
    char label[8], dir[8];
    if (ctk_experiment_point(exp, i, &config, label, 0, dir, 0, err, err_len)) return -1;
    ctk_config_free(&config);
  }
  return 0;
}
