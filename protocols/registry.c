/* registry.c: every protocol ctk knows, by the name used in experiment files. */
#include <string.h>

#include "protocol.h"
#include "raft/raft.h"

static const ctk_protocol_def *const registry[] = {
    &ctk_raft_protocol,
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
