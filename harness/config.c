/* config.c: loading an experiment file (see config.h): defaults, the top level of the file, the
 * chosen protocol's own [<protocol>] table, and the order the sections are read in. The
 * sections themselves are in config_sections.c and config_fault.c, the writer in
 * config_write.c. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

const char *ctk_fault_kind_name(ctk_fault_kind kind) {
  if (kind < CTK_FAULT_CRASH || kind > CTK_FAULT_FORCE) return "unknown";
  return config_fault_kind_names[kind - 1];
}

/* ---- defaults ---- */

static void config_workload_defaults(ctk_workload *w) {
  w->clients = 8;
  w->duration_s = 10;
  w->ops = 0;
  w->warmup_s = 1;
  w->read_ratio = 0.5;
  w->cas_ratio = 0.1;
  w->keys = 1000;
  w->distribution = CTK_DIST_UNIFORM;
  w->zipf_s = 0.99;
  w->conflict_pct = 0;
  w->value_bytes = 64;
  w->rate = 0;
  w->client_timeout_ms = 1000;
  w->max_attempts = 10;
}

static void config_sim_defaults(ctk_sim_config *sim) {
  sim->delay_ms[0] = 1;
  sim->delay_ms[1] = 5;
  sim->loss = 0;
  sim->duplicate = 0;
  sim->reorder = 0;
  sim->reorder_delay_ms = 20;
  sim->client_delay_ms = 0.5;
  sim->disk_sync_us = 200;
  sim->step_us = 20;
  sim->n_sites = 0;
  sim->random_faults = 0;
  sim->chase_leader = 0;
  sim->liveness_s = 30;
  sim->torn_writes = 1;
}

static void config_node_defaults(ctk_node_settings *node) {
  node->store = CTK_STORE_CHOICE_WAL;
  node->sync = 1;
  node->batch_max = 256;
  node->max_frame_bytes = (int)CTK_MAX_MESSAGE_BYTES + 4096;
}

/* Writes every known protocol into buf, each name between before and after: with "\"" and
 * "\"", "\"raft\", \"paxos\""; with "[" and "]", "[raft], [paxos]". */
static void config_protocol_list(char *buf, size_t buf_len, const char *before, const char *after) {
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < ctk_protocol_count() && used < buf_len; i++)
    used += (size_t)snprintf(buf + used, buf_len - used, "%s%s%s%s", i ? ", " : "", before,
                             ctk_protocol_at(i)->name, after);
}

/* Finds protocol `name`: a built-in one, or a shared object's (made absolute from the current
 * directory into abs_path, "" for a built-in). Returns NULL with a message in err. */
static const ctk_protocol_def *config_find_protocol(const char *name, char *abs_path,
                                                    size_t abs_len, char *err, size_t err_len) {
  abs_path[0] = '\0';
  if (!ctk_protocol_is_path(name)) {
    const ctk_protocol_def *protocol = ctk_protocol_find(name);
    if (!protocol) {
      char known[256];
      config_protocol_list(known, sizeof known, "\"", "\"");
      snprintf(err, err_len, "unknown protocol \"%s\" (known: %s)", name, known);
    }
    return protocol;
  }
  char resolved[PATH_MAX];
  if (!realpath(name, resolved)) {
    snprintf(err, err_len, "cannot load protocol %s: %s", name, strerror(errno));
    return NULL;
  }
  if (strlen(resolved) >= abs_len) {
    snprintf(err, err_len, "cannot load protocol %s: the path is too long", name);
    return NULL;
  }
  snprintf(abs_path, abs_len, "%s", resolved);
  return ctk_protocol_load(abs_path, err, err_len);
}

int ctk_config_defaults(ctk_config *config, const char *protocol_name, char *err, size_t err_len) {
  memset(config, 0, sizeof *config);
  if (!protocol_name) protocol_name = "raft";
  const ctk_protocol_def *protocol = config_find_protocol(
      protocol_name, config->protocol_path, sizeof config->protocol_path, err, err_len);
  if (!protocol) return -1;
  config->protocol_options = calloc(1, protocol->options_size ? protocol->options_size : 1);
  if (!config->protocol_options) {
    snprintf(err, err_len, "out of memory");
    return -1;
  }
  ctk_protocol_default_options(protocol, config->protocol_options);
  config->protocol = protocol;
  snprintf(config->protocol_name, sizeof config->protocol_name, "%s", protocol->name);
  config->seed = 1;
  config->cluster.nodes = 3;
  config->cluster.base_port = 7100;
  config_default_endpoints(&config->cluster);
  config_workload_defaults(&config->workload);
  config_sim_defaults(&config->sim);
  config_node_defaults(&config->node);
  return 0;
}

void ctk_config_free(ctk_config *config) {
  if (!config) return;
  free(config->protocol_options);
  config->protocol_options = NULL;
}

/* ---- the protocol's table ---- */

/* RANGE options: [lo, hi] with min <= lo <= hi <= max, or one integer v meaning [v, v]. */
static int config_read_range(const cfg_reader *r, const ctk_toml_node *node, const char *path,
                             const ctk_option_spec *spec, int64_t range[2]) {
  int64_t lo, hi;
  int ok = 0;
  if (ctk_toml_get_integer(node, &lo) == 0) {
    hi = lo;
    ok = 1;
  } else if (ctk_toml_array_size(node) == 2) {
    ok = ctk_toml_get_integer(ctk_toml_array_at(node, 0), &lo) == 0 &&
         ctk_toml_get_integer(ctk_toml_array_at(node, 1), &hi) == 0;
  }
  if (ok && spec->min <= lo && lo <= hi && hi <= spec->max) {
    range[0] = lo;
    range[1] = hi;
    return 0;
  }
  char expected[160];
  snprintf(expected, sizeof expected,
           "[lo, hi] with %lld <= lo <= hi <= %lld, or one integer from %lld to %lld",
           (long long)spec->min, (long long)spec->max, (long long)spec->min, (long long)spec->max);
  return cfg_fail_expected(r, node, path, expected);
}

/* CHOICE options: one of the names of spec->choices, stored as its index. */
static int config_read_choice(const cfg_reader *r, const ctk_toml_node *node, const char *path,
                              const ctk_option_spec *spec, int64_t *out) {
  char names_buf[CTK_OPTION_MAX_CHOICES][64];
  const char *names[CTK_OPTION_MAX_CHOICES];
  size_t n = 0;
  while (n < CTK_OPTION_MAX_CHOICES &&
         ctk_option_choice_name(spec, (int64_t)n, names_buf[n], sizeof names_buf[n]) >= 0) {
    names[n] = names_buf[n];
    n++;
  }
  int index;
  if (cfg_node_choice(r, node, path, names, n, &index)) return -1;
  *out = index;
  return 0;
}

static int config_read_option(const cfg_reader *r, const ctk_toml_node *node, const char *path,
                              const ctk_option_spec *spec, void *options) {
  char *field = (char *)options + spec->offset;
  if (spec->type == CTK_OPTION_CHOICE) {
    int64_t v;
    if (config_read_choice(r, node, path, spec, &v)) return -1;
    memcpy(field, &v, sizeof v);
  } else if (spec->type == CTK_OPTION_BOOL) {
    int v;
    if (cfg_node_bool(r, node, path, &v)) return -1;
    memcpy(field, &v, sizeof v);
  } else if (spec->type == CTK_OPTION_INT) {
    int64_t v;
    if (cfg_node_int(r, node, path, spec->min, spec->max, &v)) return -1;
    memcpy(field, &v, sizeof v);
  } else {
    int64_t range[2];
    if (config_read_range(r, node, path, spec, range)) return -1;
    memcpy(field, range, sizeof range);
  }
  return 0;
}

/* Reads protocol's table into options (protocol->options_size bytes, defaults already in). */
static int config_read_options_of(const cfg_reader *r, const ctk_toml_node *table,
                                  const ctk_protocol_def *protocol, void *options) {
  if (!table) return 0;
  if (cfg_expect_table(r, table, protocol->name)) return -1;
  const char **keys = calloc(protocol->n_options ? protocol->n_options : 1, sizeof *keys);
  if (!keys) return cfg_fail(r, ctk_toml_line(table), "out of memory");
  for (size_t i = 0; i < protocol->n_options; i++) keys[i] = protocol->options[i].key;
  int rc = cfg_check_keys(r, table, protocol->name, keys, protocol->n_options);
  free(keys);
  if (rc) return -1;
  for (size_t i = 0; i < protocol->n_options; i++) {
    const ctk_option_spec *spec = &protocol->options[i];
    const ctk_toml_node *node = ctk_toml_table_get(table, spec->key);
    char path[CFG_PATH_LEN];
    cfg_path(path, sizeof path, protocol->name, spec->key);
    if (node && config_read_option(r, node, path, spec, options)) return -1;
  }
  return 0;
}

/* One protocol's table: into config->protocol_options when it is the chosen protocol, otherwise
 * checked into a scratch struct. */
static int config_read_table_of(const cfg_reader *r, const ctk_toml_node *root,
                                const ctk_protocol_def *protocol, ctk_config *config) {
  const ctk_toml_node *table = ctk_toml_table_get(root, protocol->name);
  if (!table) return 0;
  if (protocol == config->protocol)
    return config_read_options_of(r, table, protocol, config->protocol_options);
  void *scratch = calloc(1, protocol->options_size ? protocol->options_size : 1);
  if (!scratch) return cfg_fail(r, ctk_toml_line(table), "out of memory");
  ctk_protocol_default_options(protocol, scratch);
  int rc = config_read_options_of(r, table, protocol, scratch);
  free(scratch);
  return rc;
}

/* The chosen protocol's table fills config->protocol_options; the tables of the other protocols
 * are checked the same way (one file can hold settings for every protocol `ctk compare` runs),
 * into a scratch struct. extra: protocols loaded from shared objects (the file's, the chosen
 * one), NULL where none. */
static int config_read_protocol_options(const cfg_reader *r, const ctk_toml_node *root,
                                        ctk_config *config,
                                        const ctk_protocol_def *const extra[2]) {
  for (size_t i = 0; i < ctk_protocol_count(); i++)
    if (config_read_table_of(r, root, ctk_protocol_at(i), config)) return -1;
  for (size_t i = 0; i < 2; i++)
    if (extra[i] && !(i == 1 && extra[1] == extra[0]) &&
        config_read_table_of(r, root, extra[i], config))
      return -1;
  return 0;
}

/* ---- the top level ---- */

static const char *const config_sections[] = {"protocol", "seed", "cluster", "workload",
                                              "fault",    "sim",  "node"};
#define CONFIG_N_SECTIONS (sizeof config_sections / sizeof config_sections[0])

/* Every top-level key must be a section, or the table of a protocol ctk knows (tables of other
 * protocols than the chosen one are allowed, so one file can keep settings for several). */
static int config_check_top_level(const cfg_reader *r, const ctk_toml_node *root,
                                  const ctk_protocol_def *const extra[2]) {
  const char *known[CONFIG_N_SECTIONS + 32];
  size_t n_known = 0;
  for (size_t i = 0; i < CONFIG_N_SECTIONS; i++) known[n_known++] = config_sections[i];
  for (size_t i = 0; i < ctk_protocol_count() && n_known < sizeof known / sizeof known[0] - 2; i++)
    known[n_known++] = ctk_protocol_at(i)->name;
  for (size_t i = 0; i < 2; i++)
    if (extra[i] && !(i == 1 && extra[1] == extra[0])) known[n_known++] = extra[i]->name;
  for (size_t i = 0; i < ctk_toml_table_size(root); i++) {
    const char *key = ctk_toml_table_key_at(root, i);
    const ctk_toml_node *value = ctk_toml_table_value_at(root, i);
    int is_section = 0;
    for (size_t k = 0; k < CONFIG_N_SECTIONS && !is_section; k++)
      is_section = strcmp(key, config_sections[k]) == 0;
    if (is_section) continue;
    int is_protocol = ctk_protocol_find(key) != NULL;
    for (size_t k = 0; k < 2; k++) is_protocol |= extra[k] && strcmp(key, extra[k]->name) == 0;
    if (is_protocol) {
      if (cfg_expect_table(r, value, key)) return -1;
      continue;
    }
    int line = ctk_toml_table_key_line_at(root, i);
    if (!strcmp(key, "sweep") || !strcmp(key, "repeat"))
      return cfg_fail(r, line, "'%s' makes an experiment matrix: run it with 'ctk bench'", key);
    if (!ctk_toml_is_table(value)) return cfg_fail_unknown_key(r, line, "", key, known, n_known);
    const char *suggestion = cfg_suggest(key, known, n_known);
    char shown[96];
    cfg_render_key(key, shown, sizeof shown);
    if (suggestion)
      return cfg_fail(r, line, "unknown table [%s] (did you mean [%s]?)", shown, suggestion);
    char protocols[256];
    config_protocol_list(protocols, sizeof protocols, "[", "]");
    return cfg_fail(r, line,
                    "unknown table [%s] (expected [cluster], [workload], [sim], [node], "
                    "[[fault]] or the table of a protocol ctk knows: %s)",
                    shown, protocols);
  }
  return 0;
}

/* protocol = "<name>" or the path of a protocol's shared object: read first, since every default
 * depends on it. A path is taken relative to the file's directory and made absolute into abs
 * (abs_len bytes; "" for a built-in), since the resolved config a run writes elsewhere, and its
 * nodes load, must name the same object; *loaded is its definition (NULL for a built-in). */
static int config_read_protocol_name(const cfg_reader *r, const ctk_toml_node *root,
                                     const char **name, char *abs, size_t abs_len,
                                     const ctk_protocol_def **loaded) {
  const ctk_toml_node *node = ctk_toml_table_get(root, "protocol");
  *name = "raft";
  *loaded = NULL;
  abs[0] = '\0';
  if (!node) return 0;
  char known[256], expected[400];
  config_protocol_list(known, sizeof known, "\"", "\"");
  snprintf(expected, sizeof expected,
           "a protocol ctk knows (%s) or the path of a protocol's shared object (.so)", known);
  const char *s;
  if (cfg_node_string(r, node, "protocol", expected, CTK_PATH_LEN / 2, &s)) return -1;
  if (!ctk_protocol_is_path(s)) {
    if (!ctk_protocol_find(s)) return cfg_fail_expected(r, node, "protocol", expected);
    *name = s;
    return 0;
  }
  char joined[CTK_PATH_LEN + PATH_MAX], resolved[PATH_MAX];
  if (s[0] == '/') {
    snprintf(joined, sizeof joined, "%s", s);
  } else {
    const char *slash = strrchr(r->file, '/');
    snprintf(joined, sizeof joined, "%.*s/%s", slash ? (int)(slash - r->file) : 1,
             slash ? r->file : ".", s);
  }
  if (!realpath(joined, resolved))
    return cfg_fail(r, ctk_toml_line(node), "key 'protocol': cannot load protocol %s: %s", joined,
                    strerror(errno));
  int n = snprintf(abs, abs_len, "%s", resolved);
  if (n < 0 || (size_t)n >= abs_len)
    return cfg_fail(r, ctk_toml_line(node), "key 'protocol': the path is too long");
  char err[CTK_ERR_LEN];
  *loaded = ctk_protocol_load(abs, err, sizeof err);
  if (!*loaded) return cfg_fail(r, ctk_toml_line(node), "key 'protocol': %s", err);
  *name = abs;
  return 0;
}

static int config_read_root(const cfg_reader *r, const ctk_toml_node *root, ctk_config *config) {
  const char *protocol_name;
  char abs[CTK_PATH_LEN];
  const ctk_protocol_def *extra[2] = {NULL, NULL};
  if (config_read_protocol_name(r, root, &protocol_name, abs, sizeof abs, &extra[0])) return -1;
  if (r->protocol_override) protocol_name = r->protocol_override;
  char err[CTK_ERR_LEN];
  if (ctk_config_defaults(config, protocol_name, err, sizeof err))
    return cfg_fail(r, ctk_toml_line(root), "%s", err);
  if (config->protocol_path[0]) extra[1] = config->protocol;
  if (config_check_top_level(r, root, extra)) return -1;
  snprintf(config->path, sizeof config->path, "%s", r->file);
  int64_t seed = (int64_t)config->seed;
  if (cfg_int64(r, root, "", "seed", 0, INT64_MAX, &seed) < 0) return -1;
  config->seed = (uint64_t)seed;
  const ctk_toml_node *cluster = ctk_toml_table_get(root, "cluster");
  if (config_read_cluster(r, cluster, config) ||
      config_read_workload(r, ctk_toml_table_get(root, "workload"), config) ||
      config_read_sim(r, ctk_toml_table_get(root, "sim"), config) ||
      config_read_node(r, ctk_toml_table_get(root, "node"), config) ||
      config_read_cluster_sites(r, cluster, config) ||
      config_read_faults(r, ctk_toml_table_get(root, "fault"), config) ||
      config_read_protocol_options(r, root, config, extra))
    return -1;
  return 0;
}

/* Reads a parsed document into *config; on error leaves nothing to free. */
static int config_from_doc(ctk_toml_doc *doc, const char *name, const char *protocol_override,
                           ctk_config *config, char *err, size_t err_len) {
  memset(config, 0, sizeof *config);
  if (!doc) return -1;
  cfg_reader reader = {name, err, err_len, protocol_override};
  int rc = config_read_root(&reader, ctk_toml_root(doc), config);
  ctk_toml_free(doc);
  if (rc) {
    ctk_config_free(config);
    memset(config, 0, sizeof *config);
  }
  return rc;
}

int ctk_config_load_doc(ctk_toml_doc *doc, const char *name, const char *protocol_name,
                        ctk_config *config, char *err, size_t err_len) {
  return config_from_doc(doc, name ? name : "(document)", protocol_name, config, err, err_len);
}

int ctk_config_load_as(const char *path, const char *protocol_name, ctk_config *config, char *err,
                       size_t err_len) {
  if (!path) path = "(null)";
  return config_from_doc(ctk_toml_parse_file(path, err, err_len), path, protocol_name, config, err,
                         err_len);
}

int ctk_config_load(const char *path, ctk_config *config, char *err, size_t err_len) {
  return ctk_config_load_as(path, NULL, config, err, err_len);
}

int ctk_config_load_string(const char *toml_text, const char *name, ctk_config *config, char *err,
                           size_t err_len) {
  if (!name) name = "(string)";
  if (!toml_text) toml_text = "";
  ctk_toml_doc *doc = ctk_toml_parse_string(toml_text, strlen(toml_text), name, err, err_len);
  return config_from_doc(doc, name, NULL, config, err, err_len);
}
