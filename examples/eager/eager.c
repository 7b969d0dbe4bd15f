/* eager.c: a deliberately WRONG protocol, built out of tree as a shared object (see README.md,
 * "Bring your own protocol"). Each node commits a client's command the moment it receives it,
 * without replicating it to anyone: there is no agreement, so a read at one node misses a write
 * committed at another, and a node commits while cut off from every other. `ctk conform` must
 * fail it, with the seed and the `ctk sim` command that shows the failure.
 *
 * Build: cc -shared -fPIC -I<ctk>/protocols -o eager.so eager.c
 * It uses only the C library and the types of protocol.h, as every loaded protocol must. */
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

typedef struct eager_options {
  int64_t unused;
} eager_options;

struct ctk_proto {
  int node_id;
  uint64_t committed;
  uint8_t command[CTK_MAX_COMMAND_BYTES]; /* the last command, owned until the next step */
  ctk_commit commit;
};

static const ctk_option_spec eager_specs[] = {
    {"unused", CTK_OPTION_INT, offsetof(eager_options, unused), 0, 0, 0, 100,
     "an option, to show that a loaded protocol's table works", NULL},
};

static ctk_proto *eager_create(const ctk_node_config *config, const void *options, char *err,
                               size_t err_len) {
  (void)options;
  (void)err;
  (void)err_len;
  ctk_proto *self = calloc(1, sizeof *self);
  if (self) self->node_id = config->node_id;
  return self;
}

static void eager_destroy(ctk_proto *self) { free(self); }

static int eager_step(ctk_proto *self, const ctk_event *event, ctk_output *out) {
  memset(out, 0, sizeof *out);
  out->next_deadline_us = CTK_DEADLINE_NONE;
  switch (event->kind) {
  case CTK_EVENT_START:
    self->committed = 0; /* it persists nothing: it forgets everything on a restart */
    return CTK_OK;
  case CTK_EVENT_MESSAGE: return CTK_ERR_MALFORMED; /* it never sends any */
  case CTK_EVENT_TIMEOUT: return CTK_OK;
  case CTK_EVENT_COMMAND:
    if (event->bytes.len > CTK_MAX_COMMAND_BYTES) return CTK_ERR_REJECTED;
    /* THE WRONG RULE: committed here and now, with no quorum behind it. */
    memcpy(self->command, event->bytes.data, event->bytes.len);
    self->commit.index = ++self->committed;
    self->commit.command.data = self->command;
    self->commit.command.len = event->bytes.len;
    out->commits = &self->commit;
    out->n_commits = 1;
    return CTK_OK;
  case CTK_EVENT_SNAPSHOT:
  case CTK_EVENT_ADMIN: return CTK_ERR_INVALID;
  }
  return CTK_ERR_INVALID;
}

static void eager_status(const ctk_proto *self, ctk_status *status) {
  memset(status, 0, sizeof *status);
  status->role = CTK_ROLE_NONE;
  status->leader_id = -1;
  status->commit_index = self->committed;
  status->log_length = self->committed;
}

static int eager_describe(const uint8_t *bytes, size_t len, char *buf, size_t buf_len) {
  (void)bytes;
  (void)len;
  (void)buf;
  (void)buf_len;
  return CTK_ERR_MALFORMED;
}

static const ctk_protocol_def eager_protocol = {
    .name = "eager",
    .summary = "WRONG on purpose: commits a command where it arrives, unreplicated",
    .flags = 0,
    .options = eager_specs,
    .n_options = sizeof eager_specs / sizeof eager_specs[0],
    .options_size = sizeof(eager_options),
    .create = eager_create,
    .destroy = eager_destroy,
    .step = eager_step,
    .status = eager_status,
    .describe = eager_describe,
};

const ctk_protocol_def *ctk_protocol_entry_v1(unsigned *abi_version) {
  *abi_version = CTK_PROTOCOL_ABI_VERSION;
  return &eager_protocol;
}
