/* cmd_new_protocol.c: `ctk new-protocol NAME DIR`: a skeleton protocol to build out of tree as a
 * shared object. It compiles, loads and runs at once, and does nothing: every event kind has its
 * case, each pointing at the rule of protocol.h it must follow. The Makefile it writes finds
 * protocol.h where this ctk was built from (CTK_PROTOCOLS_DIR, set by ctk's Makefile), or where
 * `make CTK_INCLUDE=DIR` says. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "protocol.h"

#ifndef CTK_PROTOCOLS_DIR
#define CTK_PROTOCOLS_DIR "protocols"
#endif

static const char skeleton_makefile[] =
    "# Builds @NAME@.so, a ctk protocol loaded with protocol = \"./@NAME@.so\" (see ctk's README,\n"
    "# \"Bring your own protocol\"). CTK_INCLUDE is the directory holding ctk's protocol.h.\n"
    "CC ?= cc\n"
    "CTK_INCLUDE ?= @INCLUDE@\n"
    "CFLAGS ?= -std=c11 -O2 -g -Wall -Wextra\n"
    "\n"
    "@NAME@.so: @NAME@.c $(CTK_INCLUDE)/protocol.h\n"
    "\t$(CC) $(CFLAGS) -shared -fPIC -I$(CTK_INCLUDE) -o $@ @NAME@.c\n"
    "\n"
    "clean:\n"
    "\trm -f @NAME@.so\n";

static const char skeleton_source[] =
    "/* @NAME@.c: a ctk protocol, built out of tree as @NAME@.so (make). The contract is ctk's\n"
    " * protocol.h: read its top comment first. This skeleton loads and runs, and does nothing:\n"
    " * it never commits, so `ctk conform ./@NAME@.so` fails its progress check until it does.\n"
    " *\n"
    " * Rules (protocol.h): step is deterministic (time only from event->now_us, randomness only\n"
    " * from config->seed); output pointers stay valid until the next step; bytes in persist are\n"
    " * durable before any message of the same step is sent; commits are numbered 1, 2, 3, ...\n"
    " * without gaps. The object must be self-contained: the C library and protocol.h's types\n"
    " * only, no function of ctk. */\n"
    "#include <stdlib.h>\n"
    "#include <string.h>\n"
    "\n"
    "#include \"protocol.h\"\n"
    "\n"
    "/* Options, read from the [@NAME@] table of an experiment file. */\n"
    "typedef struct @NAME@_options {\n"
    "  int64_t heartbeat_ms;\n"
    "} @NAME@_options;\n"
    "\n"
    "static const ctk_option_spec @NAME@_specs[] = {\n"
    "    {\"heartbeat_ms\", CTK_OPTION_INT, offsetof(@NAME@_options, heartbeat_ms), 50, 0, 1, "
    "10000,\n"
    "     \"an example option: how often a leader would send heartbeats\", NULL},\n"
    "};\n"
    "\n"
    "struct ctk_proto {\n"
    "  ctk_node_config config;\n"
    "  @NAME@_options options;\n"
    "  uint64_t commit_index;\n"
    "};\n"
    "\n"
    "static ctk_proto *@NAME@_create(const ctk_node_config *config, const void *options, char "
    "*err,\n"
    "                                size_t err_len) {\n"
    "  (void)err;\n"
    "  (void)err_len;\n"
    "  ctk_proto *self = calloc(1, sizeof *self);\n"
    "  if (!self) return NULL;\n"
    "  self->config = *config;\n"
    "  memcpy(&self->options, options, sizeof self->options);\n"
    "  return self;\n"
    "}\n"
    "\n"
    "static void @NAME@_destroy(ctk_proto *self) { free(self); }\n"
    "\n"
    "static int @NAME@_step(ctk_proto *self, const ctk_event *event, ctk_output *out) {\n"
    "  (void)self;\n"
    "  memset(out, 0, sizeof *out);\n"
    "  out->next_deadline_us = CTK_DEADLINE_NONE;\n"
    "  switch (event->kind) {\n"
    "  case CTK_EVENT_START:\n"
    "    /* event->bytes: everything persisted before (len 0 on first boot). Decode it and\n"
    "     * return CTK_ERR_CORRUPT if it does not decode; recommit from the first retained\n"
    "     * position. Set out->next_deadline_us to start timers (elections, heartbeats). */\n"
    "    return CTK_OK;\n"
    "  case CTK_EVENT_MESSAGE:\n"
    "    /* event->from sent event->bytes: untrusted. Decode and validate; on any error return\n"
    "     * CTK_ERR_MALFORMED with the state unchanged. */\n"
    "    return CTK_ERR_MALFORMED;\n"
    "  case CTK_EVENT_TIMEOUT:\n"
    "    /* The clock reached the deadline asked for: elections, heartbeats, retries. */\n"
    "    return CTK_OK;\n"
    "  case CTK_EVENT_COMMAND:\n"
    "    /* A client command (opaque bytes, at most CTK_MAX_COMMAND_BYTES). Commit it only once\n"
    "     * a quorum holds it durably; return CTK_ERR_REJECTED here if this node cannot take it\n"
    "     * (and name the leader in status). */\n"
    "    return CTK_ERR_REJECTED;\n"
    "  case CTK_EVENT_SNAPSHOT:\n"
    "    /* Only if you set out->snapshot_wanted: the state machine at event->index, to keep\n"
    "     * durably in place of the log up to there (see protocol.h, \"Snapshots\"). */\n"
    "    return CTK_ERR_INVALID;\n"
    "  case CTK_EVENT_ADMIN:\n"
    "    /* An operator request (\"add 3\", \"remove 1\", ...; protocol.h, \"Administration\").\n"
    "     * CTK_ERR_INVALID says this protocol does not support it. */\n"
    "    return CTK_ERR_INVALID;\n"
    "  }\n"
    "  return CTK_ERR_INVALID;\n"
    "}\n"
    "\n"
    "static void @NAME@_status(const ctk_proto *self, ctk_status *status) {\n"
    "  memset(status, 0, sizeof *status);\n"
    "  status->role = CTK_ROLE_NONE; /* with leaders: FOLLOWER, CANDIDATE or LEADER, and a term "
    "*/\n"
    "  status->leader_id = -1;\n"
    "  status->commit_index = self->commit_index;\n"
    "  status->log_length = self->commit_index;\n"
    "}\n"
    "\n"
    "/* One line describing an encoded message, for traces; negative if it does not decode. */\n"
    "static int @NAME@_describe(const uint8_t *bytes, size_t len, char *buf, size_t buf_len) {\n"
    "  (void)bytes;\n"
    "  (void)len;\n"
    "  (void)buf;\n"
    "  (void)buf_len;\n"
    "  return CTK_ERR_MALFORMED;\n"
    "}\n"
    "\n"
    "static const ctk_protocol_def @NAME@_protocol = {\n"
    "    .name = \"@NAME@\",\n"
    "    .summary = \"a skeleton: loads, runs, commits nothing yet\",\n"
    "    .flags = 0, /* CTK_PROTO_TOTAL_ORDER | CTK_PROTO_LEADERS: what ctk may check */\n"
    "    .options = @NAME@_specs,\n"
    "    .n_options = sizeof @NAME@_specs / sizeof @NAME@_specs[0],\n"
    "    .options_size = sizeof(@NAME@_options),\n"
    "    .create = @NAME@_create,\n"
    "    .destroy = @NAME@_destroy,\n"
    "    .step = @NAME@_step,\n"
    "    .status = @NAME@_status,\n"
    "    .describe = @NAME@_describe,\n"
    "};\n"
    "\n"
    "/* The entry point ctk looks up (protocol.h: CTK_PROTOCOL_ENTRY_SYMBOL). */\n"
    "const ctk_protocol_def *ctk_protocol_entry_v1(unsigned *abi_version) {\n"
    "  *abi_version = CTK_PROTOCOL_ABI_VERSION;\n"
    "  return &@NAME@_protocol;\n"
    "}\n";

/* Writes text to path with every @NAME@ and @INCLUDE@ replaced; refuses to overwrite a file. */
static int write_template(const char *path, const char *text, const char *name) {
  FILE *f = fopen(path, "wx");
  if (!f) {
    fprintf(stderr, "ctk new-protocol: %s: %s\n", path, strerror(errno));
    return -1;
  }
  for (const char *p = text; *p;) {
    if (!strncmp(p, "@NAME@", 6)) {
      fputs(name, f);
      p += 6;
    } else if (!strncmp(p, "@INCLUDE@", 9)) {
      fputs(CTK_PROTOCOLS_DIR, f);
      p += 9;
    } else {
      fputc(*p++, f);
    }
  }
  if (fclose(f)) {
    fprintf(stderr, "ctk new-protocol: %s: write failed\n", path);
    return -1;
  }
  return 0;
}

int ctk_cmd_new_protocol(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: ctk new-protocol NAME DIR\n");
    return 2;
  }
  const char *name = argv[1], *dir = argv[2];
  size_t len = strlen(name);
  int ok = len > 0 && len < 40 && !(name[0] >= '0' && name[0] <= '9');
  for (size_t i = 0; ok && i < len; i++)
    ok = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') || name[i] == '_';
  if (!ok) {
    fprintf(stderr,
            "ctk new-protocol: NAME must be a C identifier of lower-case letters, digits "
            "and '_' (at most 39), got '%s'\n",
            name);
    return 2;
  }
  if (ctk_protocol_find(name)) {
    fprintf(stderr, "ctk new-protocol: '%s' is a built-in protocol's name\n", name);
    return 2;
  }
  if (mkdir(dir, 0777) && errno != EEXIST) {
    fprintf(stderr, "ctk new-protocol: %s: %s\n", dir, strerror(errno));
    return 1;
  }
  char source[4096], makefile[4096];
  snprintf(source, sizeof source, "%s/%s.c", dir, name);
  snprintf(makefile, sizeof makefile, "%s/Makefile", dir);
  if (write_template(source, skeleton_source, name) ||
      write_template(makefile, skeleton_makefile, name))
    return 1;
  printf(
      "wrote %s and %s\nbuild:  make -C %s\nrun:    protocol = \"%s/%s.so\" in an experiment "
      "file, or ctk conform %s/%s.so\n",
      source, makefile, dir, dir, name, dir, name);
  return 0;
}
