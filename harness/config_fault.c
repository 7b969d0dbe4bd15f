/* config_fault.c: the [[fault]] tables of an experiment file: the scripted fault schedule.
 *
 * Each kind takes its own keys, and a key that does not apply to the kind is an error (a
 * `probability` on a crash is a mistake, not something to ignore). */
#include <stdio.h>
#include <string.h>

#include "config_internal.h"

const char *const config_fault_kind_names[CONFIG_N_FAULT_KINDS] = {
    "crash", "partition",  "isolate", "drop",   "delay",    "duplicate", "reorder",
    "slow",  "clock_skew", "add",     "remove", "transfer", "force"};

/* Every key a fault may have, and which kinds take it. */
enum {
  FAULT_KEY_AT_S,
  FAULT_KEY_KIND,
  FAULT_KEY_NODE,
  FAULT_KEY_DURATION_S,
  FAULT_KEY_NODES,
  FAULT_KEY_ONE_WAY,
  FAULT_KEY_PROBABILITY,
  FAULT_KEY_DELAY_MS,
  FAULT_KEY_FACTOR,
  FAULT_KEY_RATE,
  FAULT_KEY_PERMANENT,
  FAULT_N_KEYS,
};

static const char *const fault_keys[FAULT_N_KEYS] = {
    "at_s",        "kind",     "node",   "duration_s", "nodes",    "one_way",
    "probability", "delay_ms", "factor", "rate",       "permanent"};

#define FAULT_BIT(key) (1u << (key))
#define FAULT_COMMON                                                                   \
  (FAULT_BIT(FAULT_KEY_AT_S) | FAULT_BIT(FAULT_KEY_KIND) | FAULT_BIT(FAULT_KEY_NODE) | \
   FAULT_BIT(FAULT_KEY_DURATION_S))

static unsigned fault_keys_of(ctk_fault_kind kind) {
  switch (kind) {
  case CTK_FAULT_CRASH: return FAULT_COMMON | FAULT_BIT(FAULT_KEY_PERMANENT);
  case CTK_FAULT_PARTITION:
    return FAULT_COMMON | FAULT_BIT(FAULT_KEY_NODES) | FAULT_BIT(FAULT_KEY_ONE_WAY);
  case CTK_FAULT_DROP:
  case CTK_FAULT_DUPLICATE: return FAULT_COMMON | FAULT_BIT(FAULT_KEY_PROBABILITY);
  case CTK_FAULT_REORDER:
    return FAULT_COMMON | FAULT_BIT(FAULT_KEY_PROBABILITY) | FAULT_BIT(FAULT_KEY_DELAY_MS);
  case CTK_FAULT_DELAY: return FAULT_COMMON | FAULT_BIT(FAULT_KEY_DELAY_MS);
  case CTK_FAULT_SLOW: return FAULT_COMMON | FAULT_BIT(FAULT_KEY_FACTOR);
  case CTK_FAULT_CLOCK_SKEW: return FAULT_COMMON | FAULT_BIT(FAULT_KEY_RATE);
  case CTK_FAULT_FORCE:
    return FAULT_BIT(FAULT_KEY_AT_S) | FAULT_BIT(FAULT_KEY_KIND) | FAULT_BIT(FAULT_KEY_DURATION_S) |
           FAULT_BIT(FAULT_KEY_NODES);
  default: return FAULT_COMMON;
  }
}

/* Faults that may hit the whole network (node = "all"). */
static int fault_allows_all(ctk_fault_kind kind) {
  return kind == CTK_FAULT_DROP || kind == CTK_FAULT_DELAY || kind == CTK_FAULT_DUPLICATE ||
         kind == CTK_FAULT_REORDER;
}

static int fault_missing(const cfg_reader *r, const ctk_toml_node *table, const char *section,
                         const char *key, const char *what) {
  return cfg_fail(r, ctk_toml_line(table), "key '%s.%s': required %s", section, key, what);
}

/* node: "leader", "random", "all" (network-wide kinds only) or a node id. */
static int fault_read_node(const cfg_reader *r, const ctk_toml_node *node, const char *section,
                           int n_nodes, ctk_fault *fault) {
  char path[CFG_PATH_LEN], expected[128];
  cfg_path(path, sizeof path, section, "node");
  int allows_all = fault_allows_all(fault->kind);
  snprintf(expected, sizeof expected, "\"leader\", \"random\"%s or a node id from 0 to %d",
           allows_all ? ", \"all\"" : "", n_nodes - 1);
  const char *name;
  size_t len;
  int64_t id;
  if (ctk_toml_get_string(node, &name, &len) == 0 && strlen(name) == len) {
    if (strcmp(name, "leader") == 0)
      fault->node = CTK_TARGET_LEADER;
    else if (strcmp(name, "random") == 0)
      fault->node = CTK_TARGET_RANDOM;
    else if (strcmp(name, "all") == 0 && allows_all)
      fault->node = CTK_TARGET_ALL;
    else
      return cfg_fail_expected(r, node, path, expected);
    return 0;
  }
  if (ctk_toml_get_integer(node, &id) == 0 && id >= 0 && id < n_nodes) {
    fault->node = (int)id;
    return 0;
  }
  return cfg_fail_expected(r, node, path, expected);
}

/* nodes (partition): the side cut off, 1 to n_nodes - 1 distinct node ids. */
static int fault_read_side(const cfg_reader *r, const ctk_toml_node *node, const char *section,
                           int n_nodes, ctk_fault *fault) {
  char path[CFG_PATH_LEN], expected[128];
  cfg_path(path, sizeof path, section, "nodes");
  snprintf(expected, sizeof expected, "an array of 1 to %d distinct node ids from 0 to %d (%s)",
           n_nodes - 1, n_nodes - 1,
           fault->kind == CTK_FAULT_FORCE ? "the new members" : "the side cut off");
  size_t n = ctk_toml_array_size(node);
  if (!ctk_toml_is_array(node) || n == 0 || n >= (size_t)n_nodes)
    return cfg_fail_expected(r, node, path, expected);
  int seen[CTK_MAX_NODES] = {0};
  for (size_t i = 0; i < n; i++) {
    int64_t id;
    if (ctk_toml_get_integer(ctk_toml_array_at(node, i), &id) != 0 || id < 0 || id >= n_nodes ||
        seen[id])
      return cfg_fail_expected(r, node, path, expected);
    seen[id] = 1;
    fault->nodes[i] = (int)id;
  }
  fault->n_nodes = (int)n;
  return 0;
}

/* Checks that every key of the table applies to the fault's kind. */
static int fault_check_applicable(const cfg_reader *r, const ctk_toml_node *table,
                                  const char *section, ctk_fault_kind kind) {
  unsigned applicable = fault_keys_of(kind);
  for (size_t i = 0; i < ctk_toml_table_size(table); i++) {
    const char *key = ctk_toml_table_key_at(table, i);
    for (int k = 0; k < FAULT_N_KEYS; k++) {
      if (strcmp(key, fault_keys[k]) != 0 || (applicable & FAULT_BIT(k))) continue;
      return cfg_fail(r, ctk_toml_table_key_line_at(table, i),
                      "key '%s.%s': does not apply to %s faults", section, key,
                      ctk_fault_kind_name(kind));
    }
  }
  return 0;
}

static int fault_read_one(const cfg_reader *r, const ctk_toml_node *table, const char *section,
                          ctk_config *config, ctk_fault *fault) {
  if (!ctk_toml_is_table(table)) return cfg_fail_expected(r, table, section, "a table");
  if (cfg_check_keys(r, table, section, fault_keys, FAULT_N_KEYS)) return -1;
  memset(fault, 0, sizeof *fault);
  fault->node = CTK_TARGET_LEADER;
  fault->factor = 1;
  fault->rate = 1;
  fault->line = ctk_toml_line(table);

  int kind = 0;
  int given =
      cfg_choice(r, table, section, "kind", config_fault_kind_names, CONFIG_N_FAULT_KINDS, &kind);
  if (given < 0) return -1;
  if (given == 0)
    return fault_missing(r, table, section, "kind",
                         "(crash, partition, isolate, drop, delay, duplicate, reorder, slow, "
                         "clock_skew, add, remove, transfer or force)");
  fault->kind = (ctk_fault_kind)(kind + 1);
  if (fault_check_applicable(r, table, section, fault->kind)) return -1;

  given = cfg_number(r, table, section, "at_s", 0, 0, CONFIG_MAX_S, &fault->at_s);
  if (given < 0) return -1;
  if (given == 0)
    return fault_missing(r, table, section, "at_s", "(seconds into the run, a number >= 0)");
  /* Faults fire in the safety phase only: one that starts after it would silently never
   * happen. (A run bounded by ops has no known length.) */
  const ctk_workload *w = &config->workload;
  if (w->ops == 0 && fault->at_s >= w->duration_s) {
    char path[CFG_PATH_LEN], limit[32], expected[96];
    cfg_path(path, sizeof path, section, "at_s");
    cfg_format_double(w->duration_s, limit, sizeof limit);
    snprintf(expected, sizeof expected, "a number >= 0 and below workload.duration_s (%s)", limit);
    return cfg_fail_expected(r, ctk_toml_table_get(table, "at_s"), path, expected);
  }

  int n_nodes = config->cluster.nodes;
  const ctk_toml_node *node = ctk_toml_table_get(table, "node");
  if (node && fault_read_node(r, node, section, n_nodes, fault)) return -1;
  if (cfg_number(r, table, section, "duration_s", 0, 0, CONFIG_MAX_S, &fault->duration_s) < 0)
    return -1;
  const ctk_toml_node *side = ctk_toml_table_get(table, "nodes");
  if (side && fault_read_side(r, side, section, n_nodes, fault)) return -1;
  if (!side && fault->kind == CTK_FAULT_FORCE)
    return fault_missing(r, table, section, "nodes",
                         "for force faults (the surviving node ids that become the members)");
  if (cfg_bool(r, table, section, "one_way", &fault->one_way) < 0) return -1;
  if (cfg_bool(r, table, section, "permanent", &fault->permanent) < 0) return -1;
  if (fault->permanent && fault->duration_s > 0) {
    char path[CFG_PATH_LEN];
    cfg_path(path, sizeof path, section, "duration_s");
    return cfg_fail_expected(r, ctk_toml_table_get(table, "duration_s"), path,
                             "0 (or nothing) for a permanent crash");
  }

  if (fault->kind == CTK_FAULT_REORDER) fault->delay_ms = config->sim.reorder_delay_ms;
  given = cfg_number(r, table, section, "probability", 0, 0, 1, &fault->probability);
  if (given < 0) return -1;
  if (given == 0 && (fault->kind == CTK_FAULT_DROP || fault->kind == CTK_FAULT_DUPLICATE ||
                     fault->kind == CTK_FAULT_REORDER)) {
    char what[64];
    snprintf(what, sizeof what, "for %s faults (a number from 0 to 1)",
             ctk_fault_kind_name(fault->kind));
    return fault_missing(r, table, section, "probability", what);
  }
  given = cfg_number(r, table, section, "delay_ms", 0, 0, CONFIG_MAX_MS, &fault->delay_ms);
  if (given < 0) return -1;
  if (given == 0 && fault->kind == CTK_FAULT_DELAY)
    return fault_missing(r, table, section, "delay_ms",
                         "for delay faults (milliseconds, a number >= 0)");
  given = cfg_number(r, table, section, "factor", 1, 0, CONFIG_MAX_FACTOR, &fault->factor);
  if (given < 0) return -1;
  if (given == 0 && fault->kind == CTK_FAULT_SLOW)
    return fault_missing(r, table, section, "factor",
                         "for slow faults (a number from 1 to 1000000)");
  given = cfg_number(r, table, section, "rate", 0, 1, CONFIG_MAX_CLOCK_RATE, &fault->rate);
  if (given < 0) return -1;
  if (given == 0 && fault->kind == CTK_FAULT_CLOCK_SKEW)
    return fault_missing(r, table, section, "rate",
                         "for clock_skew faults (local seconds per real second, a number above "
                         "0 and at most 100)");
  return 0;
}

int config_read_faults(const cfg_reader *r, const ctk_toml_node *array, ctk_config *config) {
  if (!array) return 0;
  if (!ctk_toml_is_array(array))
    return cfg_fail_expected(r, array, "fault", "an array of tables, written [[fault]]");
  size_t n = ctk_toml_array_size(array);
  if (n > CTK_MAX_FAULTS)
    return cfg_fail(r, ctk_toml_line(ctk_toml_array_at(array, CTK_MAX_FAULTS)),
                    "key 'fault': at most %d faults, got %zu", CTK_MAX_FAULTS, n);
  for (size_t i = 0; i < n; i++) {
    char section[32];
    snprintf(section, sizeof section, "fault[%zu]", i);
    if (fault_read_one(r, ctk_toml_array_at(array, i), section, config, &config->faults[i]))
      return -1;
  }
  config->n_faults = (int)n;
  return 0;
}
