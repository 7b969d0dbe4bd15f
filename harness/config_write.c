/* config_write.c: writes a resolved experiment back out as TOML, every key with its value, so
 * that ctk_config_load reads it back to the same config (see config.h). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config_internal.h"

typedef struct config_writer {
  FILE *out;
  int failed;
} config_writer;

static void write_text(config_writer *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void write_text(config_writer *w, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (vfprintf(w->out, fmt, ap) < 0) w->failed = 1;
  va_end(ap);
}

/* A TOML basic string: quotes, backslashes and control characters escaped. */
static void write_string(config_writer *w, const char *s) {
  write_text(w, "\"");
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    switch (*c) {
    case '"': write_text(w, "\\\""); break;
    case '\\': write_text(w, "\\\\"); break;
    case '\b': write_text(w, "\\b"); break;
    case '\t': write_text(w, "\\t"); break;
    case '\n': write_text(w, "\\n"); break;
    case '\f': write_text(w, "\\f"); break;
    case '\r': write_text(w, "\\r"); break;
    default:
      if (*c < 0x20 || *c == 0x7f)
        write_text(w, "\\u%04x", *c);
      else
        write_text(w, "%c", *c);
    }
  }
  write_text(w, "\"");
}

/* A key bare when TOML allows it (A-Z a-z 0-9 _ -), quoted otherwise. */
static void write_key(config_writer *w, const char *key) {
  size_t bare = strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-");
  if (key[0] && key[bare] == '\0')
    write_text(w, "%s", key);
  else
    write_string(w, key);
}

/* "  # text" on the current line; control characters would end the comment, so they become
 * spaces. */
static void write_comment(config_writer *w, const char *text) {
  write_text(w, "  # ");
  for (const unsigned char *c = (const unsigned char *)text; *c; c++)
    write_text(w, "%c", *c < 0x20 || *c == 0x7f ? ' ' : *c);
}

static void write_double(config_writer *w, double value) {
  char buf[40];
  cfg_format_double(value, buf, sizeof buf);
  write_text(w, "%s", buf);
}

static void write_number_key(config_writer *w, const char *key, double value) {
  write_text(w, "%s = ", key);
  write_double(w, value);
  write_text(w, "\n");
}

static void write_bool_key(config_writer *w, const char *key, int value) {
  write_text(w, "%s = %s\n", key, value ? "true" : "false");
}

static void write_cluster(config_writer *w, const ctk_config *config) {
  const ctk_cluster *c = &config->cluster;
  write_text(w, "\n[cluster]\nnodes = %d\nbase_port = %d\nendpoints = [", c->nodes, c->base_port);
  for (int i = 0; i < c->nodes; i++) {
    write_text(w, i ? ", " : "");
    write_string(w, c->endpoints[i]);
  }
  write_text(w, "]\n");
  if (c->security == CTK_SECURITY_CURVE) {
    write_text(w, "security = \"curve\"\nkeys = ");
    write_string(w, c->keys_dir);
    write_text(w, "\n");
  }
  if (c->wan[0]) {
    write_text(w, "wan = ");
    write_string(w, c->wan);
    write_text(w, "\n");
  }
  if (config->sim.n_sites == 0) return;
  write_text(w, "sites = [");
  for (int i = 0; i < c->nodes; i++) {
    write_text(w, i ? ", " : "");
    write_string(w, config->sim.site_names[c->site_of_node[i]]);
  }
  write_text(w, "]\n");
}

static void write_workload(config_writer *w, const ctk_workload *wl) {
  write_text(w, "\n[workload]\nclients = %d\n", wl->clients);
  if (wl->ops > 0) {
    write_text(w, "ops = %" PRId64 "  # duration_s is not used with ops\n", wl->ops);
  } else {
    write_number_key(w, "duration_s", wl->duration_s);
    write_text(w, "ops = 0\n");
  }
  write_number_key(w, "warmup_s", wl->warmup_s);
  write_number_key(w, "read_ratio", wl->read_ratio);
  write_number_key(w, "cas_ratio", wl->cas_ratio);
  write_text(w, "keys = %" PRId64 "\ndistribution = ", wl->keys);
  write_string(w, config_distribution_names[wl->distribution]);
  write_text(w, "\n");
  write_number_key(w, "zipf_s", wl->zipf_s);
  write_number_key(w, "conflict_pct", wl->conflict_pct);
  write_text(w, "value_bytes = %d\n", wl->value_bytes);
  write_number_key(w, "rate", wl->rate);
  write_number_key(w, "client_timeout_ms", wl->client_timeout_ms);
  write_text(w, "max_attempts = %d\n", wl->max_attempts);
  write_bool_key(w, "sticky_sessions", wl->sticky_sessions);
  write_bool_key(w, "stale_reads", wl->stale_reads);
}

static void write_sim(config_writer *w, const ctk_sim_config *sim, int wan) {
  write_text(w, "\n[sim]\ndelay_ms = [");
  write_double(w, sim->delay_ms[0]);
  write_text(w, ", ");
  write_double(w, sim->delay_ms[1]);
  write_text(w, "]\n");
  write_number_key(w, "loss", sim->loss);
  write_number_key(w, "duplicate", sim->duplicate);
  write_number_key(w, "reorder", sim->reorder);
  write_number_key(w, "reorder_delay_ms", sim->reorder_delay_ms);
  write_number_key(w, "client_delay_ms", sim->client_delay_ms);
  write_number_key(w, "disk_sync_us", sim->disk_sync_us);
  write_number_key(w, "step_us", sim->step_us);
  if (sim->n_sites > 0 && !wan) { /* cluster.wan names the matrix */
    write_text(w, "site_names = [");
    for (int i = 0; i < sim->n_sites; i++) {
      write_text(w, i ? ", " : "");
      write_string(w, sim->site_names[i]);
    }
    write_text(w, "]\nlatency_ms = [\n");
    for (int a = 0; a < sim->n_sites; a++) {
      write_text(w, "  [");
      for (int b = 0; b < sim->n_sites; b++) {
        write_text(w, b ? ", " : "");
        write_double(w, sim->latency_ms[a][b]);
      }
      write_text(w, "],\n");
    }
    write_text(w, "]\n");
  }
  write_bool_key(w, "random_faults", sim->random_faults);
  write_number_key(w, "chase_leader", sim->chase_leader);
  write_number_key(w, "liveness_s", sim->liveness_s);
  write_bool_key(w, "torn_writes", sim->torn_writes);
}

static void write_node(config_writer *w, const ctk_node_settings *node) {
  write_text(w, "\n[node]\nstore = ");
  write_string(w, config_store_names[node->store]);
  write_text(w, "\n");
  write_bool_key(w, "sync", node->sync);
  write_text(w, "batch_max = %d\nmax_frame_bytes = %d\n", node->batch_max, node->max_frame_bytes);
}

static void write_protocol_options(config_writer *w, const ctk_config *config) {
  const ctk_protocol_def *protocol = config->protocol;
  write_text(w, "\n[");
  write_key(w, protocol->name);
  write_text(w, "]\n");
  for (size_t i = 0; i < protocol->n_options; i++) {
    const ctk_option_spec *spec = &protocol->options[i];
    const char *field = (const char *)config->protocol_options + spec->offset;
    write_key(w, spec->key);
    if (spec->type == CTK_OPTION_BOOL) {
      int v;
      memcpy(&v, field, sizeof v);
      write_text(w, " = %s", v ? "true" : "false");
    } else if (spec->type == CTK_OPTION_INT) {
      int64_t v;
      memcpy(&v, field, sizeof v);
      write_text(w, " = %" PRId64, v);
    } else if (spec->type == CTK_OPTION_CHOICE) {
      int64_t v;
      memcpy(&v, field, sizeof v);
      char name[64];
      if (ctk_option_choice_name(spec, v, name, sizeof name) < 0) snprintf(name, sizeof name, "?");
      write_text(w, " = \"%s\"", name);
    } else {
      int64_t range[2];
      memcpy(range, field, sizeof range);
      write_text(w, " = [%" PRId64 ", %" PRId64 "]", range[0], range[1]);
    }
    if (spec->help) write_comment(w, spec->help);
    write_text(w, "\n");
  }
}

static void write_fault(config_writer *w, const ctk_fault *f) {
  write_text(w, "\n[[fault]]\n");
  write_number_key(w, "at_s", f->at_s);
  write_text(w, "kind = \"%s\"\nnode = ", ctk_fault_kind_name(f->kind));
  if (f->node == CTK_TARGET_LEADER)
    write_text(w, "\"leader\"\n");
  else if (f->node == CTK_TARGET_RANDOM)
    write_text(w, "\"random\"\n");
  else if (f->node == CTK_TARGET_ALL)
    write_text(w, "\"all\"\n");
  else
    write_text(w, "%d\n", f->node);
  write_number_key(w, "duration_s", f->duration_s);
  switch (f->kind) {
  case CTK_FAULT_PARTITION:
    if (f->n_nodes > 0) {
      write_text(w, "nodes = [");
      for (int i = 0; i < f->n_nodes; i++) write_text(w, "%s%d", i ? ", " : "", f->nodes[i]);
      write_text(w, "]\n");
    }
    write_bool_key(w, "one_way", f->one_way);
    break;
  case CTK_FAULT_DROP:
  case CTK_FAULT_DUPLICATE: write_number_key(w, "probability", f->probability); break;
  case CTK_FAULT_REORDER:
    write_number_key(w, "probability", f->probability);
    write_number_key(w, "delay_ms", f->delay_ms);
    break;
  case CTK_FAULT_DELAY: write_number_key(w, "delay_ms", f->delay_ms); break;
  case CTK_FAULT_SLOW: write_number_key(w, "factor", f->factor); break;
  case CTK_FAULT_CLOCK_SKEW: write_number_key(w, "rate", f->rate); break;
  default: break;
  }
}

int ctk_config_write(const ctk_config *config, FILE *out) {
  config_writer w = {out, 0};
  write_text(&w, "# ctk experiment, resolved: every key with its value (defaults included).\n");
  write_text(&w, "protocol = ");
  write_string(&w, config->protocol_path[0] ? config->protocol_path : config->protocol->name);
  write_text(&w, "\nseed = %" PRIu64 "\n", config->seed);
  write_cluster(&w, config);
  write_workload(&w, &config->workload);
  write_sim(&w, &config->sim, config->cluster.wan[0] != 0);
  write_node(&w, &config->node);
  write_protocol_options(&w, config);
  for (int i = 0; i < config->n_faults; i++) write_fault(&w, &config->faults[i]);
  if (fflush(out) != 0) w.failed = 1;
  return w.failed ? -1 : 0;
}
