/* registry.c: every protocol ctk knows, by the name used in experiment files, and the defaults
 * of their options. */
#include <string.h>

#include "protocol.h"
#include "epaxos/epaxos.h"
#include "multipaxos/multipaxos.h"
#include "paxos/paxos.h"
#include "raft/raft.h"
#include "zab/zab.h"
#include "vr/vr.h"

static const ctk_protocol_def *const registry[] = {
    &ctk_raft_protocol, &ctk_multipaxos_protocol, &ctk_paxos_protocol,
    &ctk_zab_protocol,  &ctk_epaxos_protocol,     &ctk_vr_protocol,
};

size_t ctk_protocol_count(void) { return sizeof registry / sizeof registry[0]; }

const ctk_protocol_def *ctk_protocol_at(size_t i) {
  return i < ctk_protocol_count() ? registry[i] : NULL;
}

const ctk_protocol_def *ctk_protocol_find(const char *name) {
  for (size_t i = 0; i < ctk_protocol_count(); i++)
    if (name && strcmp(registry[i]->name, name) == 0) return registry[i];
  return NULL;
}

void ctk_protocol_default_options(const ctk_protocol_def *protocol, void *options) {
  memset(options, 0, protocol->options_size);
  for (size_t i = 0; i < protocol->n_options; i++) {
    const ctk_option_spec *spec = &protocol->options[i];
    char *field = (char *)options + spec->offset;
    if (spec->type == CTK_OPTION_BOOL) {
      int v = spec->default_lo != 0;
      memcpy(field, &v, sizeof v);
    } else if (spec->type == CTK_OPTION_INT || spec->type == CTK_OPTION_CHOICE) {
      memcpy(field, &spec->default_lo, sizeof spec->default_lo);
    } else {
      int64_t range[2] = {spec->default_lo, spec->default_hi};
      memcpy(field, range, sizeof range);
    }
  }
}
