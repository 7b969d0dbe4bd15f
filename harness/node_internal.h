/* node_internal.h: what the files of a node process share: node.c (the event loop, protocol
 * steps, group commit, the key-value store and client answers) and node_net.c (the ZeroMQ
 * sockets, frame checks, and the network faults the transport applies). */
#ifndef CTK_NODE_INTERNAL_H
#define CTK_NODE_INTERNAL_H

#include <stdint.h>
#include <stdio.h>

#include "common/rng.h"
#include "common/wire.h"
#include "hostwire.h"
#include "kv.h"
#include "node.h"
#include "security.h"
#include "store.h"
#include "zwait.h"

#define NODE_CLIENT_SLOTS 4096 /* clients waiting for an answer at this node */
#define NODE_CLIENT_PROBE 64
#define NODE_ID_MAX       255    /* bytes of a ZeroMQ routing identity */
#define NODE_HELD_MAX     100000 /* messages held back by delay/reorder faults; more are dropped */
#define NODE_SOCKET_HWM   10000  /* frames ZeroMQ queues per socket and direction */
#define NODE_MAX_MSG_MULT 4 /* ZeroMQ drops the connection of a frame this many times too big */

/* A client of this node, waiting here for the answer to (client_id, seq) or not: a slot stays
 * its client's once taken (until the table needs it for another), so finding it takes one probe
 * and a probe sequence ends at the first never-used slot. Its routing identity is kept apart
 * (node_identity, same index): every committed command probes this table, and 32-byte slots keep
 * it in cache where 288-byte ones made each probe a miss. */
typedef struct node_client {
  uint64_t client_id, seq;
  uint64_t since_us;
  int used;
  int waiting;
} node_client;

typedef struct node_identity {
  uint8_t len;
  uint8_t bytes[NODE_ID_MAX];
} node_identity;

/* A frame to send once the batch's sync is done: to a peer, or to a client's identity. */
typedef struct node_out {
  int peer;  /* node id, or -1 for a client */
  int early; /* may leave before the sync (protocol.h, n_messages_early); 2: already sent */
  uint8_t identity[NODE_ID_MAX];
  uint8_t identity_len;
  size_t off; /* in node.bytes */
  size_t len;
} node_out;

/* Frames waiting to leave as one ZeroMQ message (a bundle, hostwire.h) at the end of the loop's
 * turn: to one peer, or to one client connection. */
typedef struct node_pending {
  wire_writer bundle; /* the BUNDLE header and its frames; empty: nothing waiting */
  size_t n_frames;
  size_t payload_bytes;          /* of the protocol messages in it, for the statistics */
  uint8_t identity[NODE_ID_MAX]; /* a client connection's */
  uint8_t identity_len;
} node_pending;

#define NODE_PENDING_CLIENTS 4     /* client connections answered in bundles at once */
#define NODE_BUNDLE_MAX      65536 /* bytes of one bundle (smaller if node.max_frame_bytes is) */

/* A message held back by a delay or reorder fault. */
typedef struct node_held {
  uint64_t release_us;
  int inbound; /* 1: received from peer, to be stepped; 0: to be sent to peer */
  int peer;
  uint8_t *data;
  size_t len;
} node_held;

/* What a step's output does to the store, held until the step's sync: apply a commit, answer a
 * read without a log write (output.reads), replace the store with a protocol's snapshot, or
 * snapshot the store for the protocol. */
typedef enum node_commit_kind {
  NODE_COMMIT = 0,
  NODE_READ,
  NODE_RESTORE,
  NODE_SNAPSHOT
} node_commit_kind;

typedef struct node_commit {
  node_commit_kind kind;
  uint64_t index; /* COMMIT: its index; RESTORE: the last commit in it; SNAPSHOT: wanted at */
  size_t off;     /* in node.bytes: COMMIT: the command; RESTORE: the snapshot */
  size_t len;
} node_commit;

typedef struct node {
  const ctk_config *config;
  int id, n;
  FILE *log;
  const ctk_protocol_def *def;
  ctk_proto *proto;
  ctk_store *store;
  ctk_kv *kv;
  uint64_t deadline_us;
  int staged;       /* bytes appended or replaced since the last sync */
  int store_failed; /* a store call failed: the node must stop before sending anything more */
  ctk_role last_role;
  uint64_t last_term;
  /* The batch's output, released after its sync. */
  node_out *out;
  size_t n_out, cap_out;
  node_commit *commits;
  size_t n_commits, cap_commits;
  uint8_t *bytes; /* the batch's frames and commands, back to back: no allocation per message */
  size_t n_bytes, cap_bytes;
  /* A snapshot of the store the protocol asked for, to hand it at once (step SNAPSHOT). */
  uint8_t *snapshot;
  size_t snapshot_len;
  uint64_t snapshot_index;
  char fatal[256]; /* set when the node must stop: why */
  node_client clients[NODE_CLIENT_SLOTS];
  node_identity client_identity[NODE_CLIENT_SLOTS]; /* clients[i]'s */
  /* Transport. */
  void *zmq;
  void *router;               /* bound on the node's endpoint: peers and clients */
  void *peers[CTK_MAX_NODES]; /* DEALER to each peer's ROUTER */
  void *control;              /* ROUTER for the runner, or NULL */
  void *monitor;              /* PAIR receiving the ROUTER's failed-handshake events */
  ctk_keys *keys;             /* with CURVE: this node's key pair and the listed public keys */
  ctk_zap *zap;               /* with CURVE: the handler that accepts listed keys only */
  uint32_t tag;
  hw_faults faults;
  ctk_rng rng; /* fault draws only */
  node_held *held;
  size_t n_held, cap_held;
  wire_writer frame; /* scratch for encoding */
  node_pending to_peer[CTK_MAX_NODES];
  node_pending to_client[NODE_PENDING_CLIENTS];
  ctk_zwait wait;
  hw_status stats;
} node;

void node_log(node *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* node_net.c */
int node_net_open(node *self, const char *control_endpoint, char *err, size_t err_len);
void node_net_close(node *self);
/* Receives one frame from the ROUTER (without waiting) and hands it to node_on_peer /
 * node_on_request, or drops and counts it. Returns 1 when a frame was read, 0 when none was
 * waiting. */
int node_net_receive(node *self, uint64_t now_us);
/* Sends a protocol message to a peer through the faults; held messages go out later. */
void node_net_send_peer(node *self, int peer, const uint8_t *data, size_t len, uint64_t now_us);
void node_net_send_client(node *self, const uint8_t *identity, size_t identity_len,
                          const uint8_t *data, size_t len);
/* Sends every bundle waiting (node_net_send_peer and node_net_send_client only queue them). */
void node_net_flush(node *self);
/* Releases held messages that are due: sends outbound ones, steps inbound ones. */
void node_net_release_held(node *self, uint64_t now_us);
uint64_t node_net_next_held_us(const node *self);
/* Answers one pending request on the control socket, if any. Returns 1 when one was handled. */
int node_net_control(node *self);
/* Handles one waiting ZAP request or failed-handshake event, if any. Returns 1 when one was. */
int node_net_security(node *self);
/* The sockets node.c waits on (zwait.h): the ROUTER first (index 0), then the control socket, the
 * handshake monitor and the ZAP handler, those that exist. 0, or -1 with errno. */
int node_net_wait_init(node *self);

/* node.c: the transport hands inputs here. */
void node_on_peer(node *self, int from, const uint8_t *msg, size_t len, uint64_t now_us);
void node_on_request(node *self, const uint8_t *identity, size_t identity_len,
                     const uint8_t *command, size_t len, uint64_t now_us);
void node_on_admin(node *self, const uint8_t *identity, size_t identity_len, const uint8_t *request,
                   size_t len, uint64_t now_us);
void node_fill_status(node *self, hw_status *status);

#endif /* CTK_NODE_INTERNAL_H */
