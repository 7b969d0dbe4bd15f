/* hostwire.h: the frames real nodes, clients and the runner exchange over ZeroMQ, around the
 * protocols' own messages.
 *
 * Every frame starts with a magic byte and a kind. Between nodes a PEER frame carries the sender's
 * id and the cluster's tag (a hash of the cluster's endpoints, so a node of another cluster is
 * told apart) before the protocol's message. Clients send REQUEST frames (an encoded key-value
 * command, see kv.h) and get REPLY frames. The runner talks to a node's control socket with
 * STATUS and FAULTS frames. A BUNDLE frame carries several PEER, REQUEST or REPLY frames, each
 * as a u32 length and the frame, back to back: a node sends its batch's messages to one peer, or
 * its batch's answers to one client connection, and the load generator its requests to one node,
 * as one ZeroMQ message (each costs system calls and a wake-up of ZeroMQ's I/O thread) instead
 * of one per frame. A receiver handles a bundle's frames in order as if each came alone. An
 * operator (`ctk admin`) sends ADMIN frames (one request of protocol.h's "Administration", ASCII)
 * to a node's client socket and gets ADMIN_REPLY frames. Every decoder is bounds-checked: frames
 * come from the network and are untrusted. */
#ifndef CTK_HOSTWIRE_H
#define CTK_HOSTWIRE_H

#include <stddef.h>
#include <stdint.h>

#include "common/wire.h"
#include "config.h"
#include "counts.h"
#include "protocol.h"

#define HW_MAGIC 0xC7

typedef enum hw_kind {
  HW_PEER = 1,     /* node -> node: from, cluster tag, protocol message */
  HW_REQUEST,      /* client -> node: an encoded key-value command */
  HW_REPLY,        /* node -> client */
  HW_STATUS,       /* runner -> node control socket: what is your state? */
  HW_STATUS_REPLY, /* node -> runner */
  HW_FAULTS,       /* runner -> node: the network faults to apply from now on */
  HW_FAULTS_ACK,   /* node -> runner */
  HW_ADMIN,        /* operator -> node: an operator request ("add 3"), ASCII */
  HW_ADMIN_REPLY,  /* node -> operator: the protocol's answer and a leader hint */
  HW_BUNDLE,       /* several PEER, REQUEST or REPLY frames from one sender to one receiver */
} hw_kind;

#define HW_ADMIN_MAX_BYTES 256

/* The identity a node's outgoing (DEALER) socket presents to its peers' ROUTER sockets. */
#define HW_PEER_ID_LEN 6
void hw_peer_identity(int node_id, uint32_t cluster_tag, uint8_t out[HW_PEER_ID_LEN]);
/* The node id a peer identity stands for, or -1 when it is not a peer identity of this cluster. */
int hw_peer_from_identity(const uint8_t *id, size_t len, uint32_t cluster_tag, int n_nodes);

/* A hash of the cluster's size and endpoints: nodes only talk to nodes with the same tag. */
uint32_t hw_cluster_tag(const ctk_cluster *cluster);

/* The kind of a frame, or -1 when it does not start with the magic byte and a known kind. */
int hw_frame_kind(const uint8_t *frame, size_t len);

void hw_put_peer(wire_writer *w, int from, uint32_t cluster_tag, const uint8_t *msg, size_t len);
/* Returns 0 with the sender and the message (borrowed), or -1 when malformed. */
int hw_get_peer(const uint8_t *frame, size_t len, int *from, uint32_t *cluster_tag, ctk_bytes *msg);

/* Building a bundle: start it, then add whole frames (never a bundle) one by one. */
void hw_bundle_start(wire_writer *w);
void hw_bundle_add(wire_writer *w, const uint8_t *frame, size_t len);
#define HW_BUNDLE_OVERHEAD 4 /* bytes a bundle adds per frame */
/* Reading one: hw_bundle_open checks the header (0, or -1 when frame is no bundle); each
 * hw_bundle_next then borrows the next frame into *inner and returns 1, or returns 0 at the end
 * and -1 for a malformed or empty rest (a frame of zero bytes, a length past the end, a bundle
 * inside). */
typedef struct hw_bundle_reader {
  const uint8_t *data;
  size_t len, pos;
} hw_bundle_reader;
int hw_bundle_open(hw_bundle_reader *r, const uint8_t *frame, size_t len);
int hw_bundle_next(hw_bundle_reader *r, ctk_bytes *inner);

void hw_put_request(wire_writer *w, const uint8_t *command, size_t len);
int hw_get_request(const uint8_t *frame, size_t len, ctk_bytes *command);

typedef struct hw_reply {
  uint64_t client_id, seq;
  int rejected;    /* not accepted here; leader_hint may name a better node */
  int busy;        /* rejected because the node is full (backpressure): retry here, later */
  int leader_hint; /* -1: none known */
  int ok, found;
  const char *value; /* get: the value read (NUL-terminated, borrowed); else NULL */
} hw_reply;
void hw_put_reply(wire_writer *w, const hw_reply *reply);
/* value is copied into value_buf (value_cap bytes) and NUL-terminated. */
int hw_get_reply(const uint8_t *frame, size_t len, hw_reply *reply, char *value_buf,
                 size_t value_cap);

void hw_put_admin(wire_writer *w, const char *request, size_t len);
/* The request (borrowed): 1 to HW_ADMIN_MAX_BYTES printable ASCII bytes. 0 or -1. */
int hw_get_admin(const uint8_t *frame, size_t len, ctk_bytes *request);
/* rc: the step's CTK_OK or CTK_ERR_* code; leader_hint: -1 or a node the request should go to. */
void hw_put_admin_reply(wire_writer *w, int rc, int leader_hint);
int hw_get_admin_reply(const uint8_t *frame, size_t len, int *rc, int *leader_hint);

/* The network faults a node applies to its own traffic. */
typedef struct hw_faults {
  double drop;      /* probability a message is lost */
  double duplicate; /* probability a message is sent twice */
  double reorder;   /* probability a message is held back by up to reorder_delay_us */
  uint32_t reorder_delay_us;
  uint32_t delay_us;  /* added to every message */
  double slow_factor; /* 1: normal; f: the node works f times slower */
  int both_ways;      /* drop/duplicate/delay apply to received messages too (faults aimed at this
                         node), not only to sent ones (network-wide faults) */
  int isolated;       /* cut off from every peer and every client */
  uint32_t block_out; /* bit j: messages to node j are dropped */
  uint32_t block_in;  /* bit j: messages from node j are dropped */
} hw_faults;
void hw_faults_clear(hw_faults *f);
void hw_put_faults(wire_writer *w, const hw_faults *f);
int hw_get_faults(const uint8_t *frame, size_t len, hw_faults *f);

/* What a node tells the runner. */
typedef struct hw_status {
  int node_id;
  ctk_status proto;   /* role, term, leader, commit index, log length, members, learners */
  uint64_t applied;   /* highest position applied to the key-value store */
  uint64_t kv_digest; /* of the store at `applied` */
  uint64_t msgs_sent, bytes_sent, msgs_received;
  uint64_t msgs_malformed; /* protocol messages the protocol rejected */
  uint64_t
      frames_rejected;    /* frames the transport dropped: bad, oversized, spoofed, other cluster */
  uint64_t became_leader; /* times this process became leader */
  uint64_t syncs, bytes_persisted;
  uint64_t requests, replies, rejected_commands;
  uint64_t started_from_bytes; /* durable bytes read at start */
  uint64_t handshakes_failed;  /* connections refused at the handshake: wrong or unlisted CURVE
                                  keys, a peer without CURVE (or with it, to a node without) */
  ctk_counts counters;         /* the protocol's own (counts.h) */
} hw_status;
void hw_put_status_request(wire_writer *w);
void hw_put_status(wire_writer *w, const hw_status *s);
int hw_get_status(const uint8_t *frame, size_t len, hw_status *s);
void hw_put_faults_ack(wire_writer *w);

#endif /* CTK_HOSTWIRE_H */
