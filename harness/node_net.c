/* node_net.c: a node's ZeroMQ transport: the ROUTER it listens on, a DEALER to each peer, the
 * runner's control socket, the checks every received frame goes through (size, kind, a peer's
 * identity against the id it claims, the cluster tag), and the network faults the runner sets:
 * loss, duplication, delay, reordering, partitions and isolation, applied here to the node's own
 * traffic.
 *
 * With `security = "curve"` the ROUTER is a CURVE server whose ZAP handler (polled by the node's
 * own loop) accepts listed public keys only and names each connection; a frame is then accepted
 * only from the name its kind calls for (see security.h). A monitor counts every connection
 * refused at the handshake.
 *
 * Sends never block (ZMQ_DONTWAIT, ZMQ_IMMEDIATE): a message that cannot leave now is lost, which
 * consensus protocols tolerate; a blocked send would stall heartbeats (see PITFALLS.md). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "node_internal.h"

static int set_int(void *socket, int option, int value) {
  return zmq_setsockopt(socket, option, &value, sizeof value);
}

static void *new_socket(node *self, int type) {
  void *s = zmq_socket(self->zmq, type);
  if (!s) return NULL;
  set_int(s, ZMQ_LINGER, 0);
  /* Bounded queues: a peer or client that cannot keep up loses frames (sends never block), and
   * one that sends faster than this node reads waits in TCP's flow control. A frame a little too
   * big is read, counted and dropped; one far too big closes its connection unread. */
  set_int(s, ZMQ_SNDHWM, NODE_SOCKET_HWM);
  set_int(s, ZMQ_RCVHWM, NODE_SOCKET_HWM);
  int64_t max_bytes = (int64_t)self->config->node.max_frame_bytes * NODE_MAX_MSG_MULT;
  zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max_bytes, sizeof max_bytes);
  return s;
}

/* Binds the node's own endpoint; when the host in it is not an address of this machine (a
 * cluster file shared by several machines names each by its public address), binds the port on
 * every interface instead. */
static int bind_endpoint(void *socket, const char *endpoint, char *err, size_t err_len) {
  if (zmq_bind(socket, endpoint) == 0) return 0;
  int first_errno = errno;
  const char *colon = strrchr(endpoint, ':');
  char any[64];
  if (first_errno == EADDRNOTAVAIL || first_errno == ENODEV) {
    snprintf(any, sizeof any, "tcp://*%s", colon ? colon : ":0");
    if (zmq_bind(socket, any) == 0) return 0;
  }
  snprintf(err, err_len, "cannot listen on %s: %s", endpoint, zmq_strerror(first_errno));
  return -1;
}

#define MONITOR_ENDPOINT "inproc://ctk-node-handshakes"
#define MONITOR_EVENTS                                                          \
  (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | \
   ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)

/* With CURVE: this node's keys, and the ZAP handler, which must exist before anyone connects. */
static int open_security(node *self, char *err, size_t err_len) {
  const ctk_cluster *cluster = &self->config->cluster;
  if (cluster->security != CTK_SECURITY_CURVE) return 0;
  if (!zmq_has("curve")) {
    snprintf(err, err_len, "cluster.security = \"curve\": this libzmq was built without CURVE");
    return -1;
  }
  self->keys = calloc(1, sizeof *self->keys);
  if (!self->keys) {
    snprintf(err, err_len, "out of memory");
    return -1;
  }
  char name[CTK_KEY_NAME_LEN], kerr[CTK_PATH_LEN + 128];
  snprintf(name, sizeof name, "node-%d", self->id);
  if (ctk_keys_load(cluster->keys_dir, self->n, name, self->keys, kerr, sizeof kerr)) {
    snprintf(err, err_len, "cluster.keys: %s", kerr);
    return -1;
  }
  self->zap = ctk_zap_new(self->zmq, self->keys, err, err_len);
  return self->zap ? 0 : -1;
}

int node_net_open(node *self, const char *control_endpoint, char *err, size_t err_len) {
  self->zmq = zmq_ctx_new();
  if (!self->zmq) {
    snprintf(err, err_len, "cannot create a ZeroMQ context: %s", zmq_strerror(errno));
    return -1;
  }
  if (open_security(self, err, err_len)) return -1;
  self->router = new_socket(self, ZMQ_ROUTER);
  if (!self->router) goto fail;
  set_int(self->router, ZMQ_ROUTER_MANDATORY, 1);
  /* A peer that restarts reconnects with the same routing identity, possibly before this side
   * noticed its old connection died: the new connection must take the identity over, or the
   * peer's frames are dropped until then (a frame's sender is checked on its own, and with CURVE
   * against the connection's key, so taking an identity over gains an impostor nothing). */
  set_int(self->router, ZMQ_ROUTER_HANDOVER, 1);
  if (self->keys && ctk_keys_secure_server(self->router, self->keys)) goto fail;
  if (zmq_socket_monitor(self->router, MONITOR_ENDPOINT, MONITOR_EVENTS)) goto fail;
  self->monitor = zmq_socket(self->zmq, ZMQ_PAIR);
  if (!self->monitor || zmq_connect(self->monitor, MONITOR_ENDPOINT)) goto fail;
  if (bind_endpoint(self->router, self->config->cluster.endpoints[self->id], err, err_len))
    return -1;
  for (int j = 0; j < self->n; j++) {
    if (j == self->id) continue;
    self->peers[j] = new_socket(self, ZMQ_DEALER);
    if (!self->peers[j]) goto fail;
    uint8_t identity[HW_PEER_ID_LEN];
    hw_peer_identity(self->id, self->tag, identity);
    zmq_setsockopt(self->peers[j], ZMQ_ROUTING_ID, identity, sizeof identity);
    set_int(self->peers[j], ZMQ_IMMEDIATE, 1);
    set_int(self->peers[j], ZMQ_RECONNECT_IVL, 50);
    set_int(self->peers[j], ZMQ_RECONNECT_IVL_MAX, 500);
    if (self->keys && ctk_keys_secure_client(self->peers[j], self->keys, j)) goto fail;
    if (zmq_connect(self->peers[j], self->config->cluster.endpoints[j])) {
      snprintf(err, err_len, "cannot connect to node %d at %s: %s", j,
               self->config->cluster.endpoints[j], zmq_strerror(errno));
      return -1;
    }
  }
  if (control_endpoint) {
    self->control = new_socket(self, ZMQ_ROUTER);
    if (!self->control) goto fail;
    if (zmq_bind(self->control, control_endpoint)) {
      snprintf(err, err_len, "cannot bind the control socket %s: %s", control_endpoint,
               zmq_strerror(errno));
      return -1;
    }
  }
  return 0;
fail:
  snprintf(err, err_len, "cannot create a ZeroMQ socket: %s", zmq_strerror(errno));
  return -1;
}

void node_net_close(node *self) {
  for (size_t k = 0; k < self->n_held; k++) free(self->held[k].data);
  free(self->held);
  self->held = NULL;
  self->n_held = self->cap_held = 0;
  if (self->router) zmq_close(self->router);
  if (self->monitor) zmq_close(self->monitor);
  if (self->control) zmq_close(self->control);
  ctk_zap_destroy(&self->zap);
  if (self->keys) memset(self->keys, 0, sizeof *self->keys);
  free(self->keys);
  self->keys = NULL;
  for (int j = 0; j < CTK_MAX_NODES; j++)
    if (self->peers[j]) zmq_close(self->peers[j]);
  if (self->zmq) zmq_ctx_term(self->zmq);
  self->router = self->control = self->monitor = self->zmq = NULL;
  for (int j = 0; j < CTK_MAX_NODES; j++) wire_writer_free(&self->to_peer[j].bundle);
  for (int k = 0; k < NODE_PENDING_CLIENTS; k++) wire_writer_free(&self->to_client[k].bundle);
  memset(self->peers, 0, sizeof self->peers);
}

/* ---- messages held back by delay and reorder faults: a binary heap on release time ---- */

static void held_push(node *self, uint64_t release_us, int inbound, int peer, const uint8_t *data,
                      size_t len) {
  if (self->n_held >= NODE_HELD_MAX) return;
  if (self->n_held == self->cap_held) {
    size_t cap = self->cap_held ? self->cap_held * 2 : 256;
    node_held *h = realloc(self->held, cap * sizeof *h);
    if (!h) return;
    self->held = h;
    self->cap_held = cap;
  }
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) return;
  if (len) memcpy(copy, data, len);
  size_t i = self->n_held++;
  node_held item = {release_us, inbound, peer, copy, len};
  while (i > 0 && self->held[(i - 1) / 2].release_us > release_us) {
    self->held[i] = self->held[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  self->held[i] = item;
}

static node_held held_pop(node *self) {
  node_held top = self->held[0];
  node_held last = self->held[--self->n_held];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= self->n_held) break;
    if (c + 1 < self->n_held && self->held[c + 1].release_us < self->held[c].release_us) c++;
    if (self->held[c].release_us >= last.release_us) break;
    self->held[i] = self->held[c];
    i = c;
  }
  if (self->n_held) self->held[i] = last;
  return top;
}

uint64_t node_net_next_held_us(const node *self) {
  return self->n_held ? self->held[0].release_us : UINT64_MAX;
}

/* ---- sending ---- */

static size_t bundle_max(const node *self) {
  size_t max = (size_t)self->config->node.max_frame_bytes;
  return max < NODE_BUNDLE_MAX ? max : NODE_BUNDLE_MAX;
}

/* Sends what p holds to socket (a lone frame as itself, several as a bundle) and empties it.
 * Returns the frames sent (0 when ZeroMQ could not take them: lost, as any message may be). */
static size_t pending_send(node_pending *p, void *socket) {
  if (!p->n_frames) return 0;
  const uint8_t *data = p->bundle.data;
  size_t len = p->bundle.len, n = p->n_frames;
  if (n == 1) { /* skip the bundle header and the frame's length */
    data += 2 + HW_BUNDLE_OVERHEAD;
    len -= 2 + HW_BUNDLE_OVERHEAD;
  }
  int rc = 0;
  if (p->identity_len)
    rc = zmq_send(socket, p->identity, p->identity_len, ZMQ_SNDMORE | ZMQ_DONTWAIT);
  if (rc >= 0) rc = zmq_send(socket, data, len, ZMQ_DONTWAIT);
  wire_writer_reset(&p->bundle);
  p->n_frames = p->payload_bytes = 0;
  return !p->bundle.failed && rc >= 0 ? n : 0;
}

static void flush_peer(node *self, int peer) {
  node_pending *p = &self->to_peer[peer];
  size_t payload = p->payload_bytes, sent = pending_send(p, self->peers[peer]);
  self->stats.msgs_sent += sent;
  if (sent) self->stats.bytes_sent += payload;
}

static void flush_client(node *self, node_pending *p) {
  /* ROUTER_MANDATORY: a client that went away fails with EHOSTUNREACH; nothing to do. */
  self->stats.replies += pending_send(p, self->router);
  p->identity_len = 0;
}

void node_net_flush(node *self) {
  for (int j = 0; j < self->n; j++) flush_peer(self, j);
  for (int k = 0; k < NODE_PENDING_CLIENTS; k++) flush_client(self, &self->to_client[k]);
}

/* Adds a frame to p, sending p first when the frame would not fit. */
static void pending_add(node *self, node_pending *p, const uint8_t *frame, size_t len,
                        size_t payload) {
  if (p->n_frames && p->bundle.len + HW_BUNDLE_OVERHEAD + len > bundle_max(self)) {
    if (p->identity_len) {
      uint8_t identity[NODE_ID_MAX], identity_len = p->identity_len;
      memcpy(identity, p->identity, identity_len);
      flush_client(self, p);
      memcpy(p->identity, identity, identity_len);
      p->identity_len = identity_len;
    } else {
      flush_peer(self, (int)(p - self->to_peer));
    }
  }
  if (!p->n_frames) hw_bundle_start(&p->bundle);
  hw_bundle_add(&p->bundle, frame, len);
  p->n_frames++;
  p->payload_bytes += payload;
}

static void send_now(node *self, int peer, const uint8_t *data, size_t len) {
  wire_writer_reset(&self->frame);
  hw_put_peer(&self->frame, self->id, self->tag, data, len);
  if (!self->frame.failed)
    pending_add(self, &self->to_peer[peer], self->frame.data, self->frame.len, len);
}

static int chance(node *self, double p) { return p > 0 && ctk_rng_unit(&self->rng) < p; }

/* The extra delay a message gets from delay and reorder faults, in µs (0: none). */
static uint64_t fault_delay_us(node *self) {
  uint64_t delay = self->faults.delay_us;
  if (chance(self, self->faults.reorder) && self->faults.reorder_delay_us)
    delay += ctk_rng_range(&self->rng, 1, self->faults.reorder_delay_us);
  return delay;
}

void node_net_send_peer(node *self, int peer, const uint8_t *data, size_t len, uint64_t now_us) {
  if (peer < 0 || peer >= self->n || peer == self->id) return;
  const hw_faults *f = &self->faults;
  if (f->isolated || (f->block_out >> peer) & 1 || chance(self, f->drop)) return;
  int copies = chance(self, f->duplicate) ? 2 : 1;
  for (int c = 0; c < copies; c++) {
    uint64_t delay = fault_delay_us(self);
    if (delay)
      held_push(self, now_us + delay, 0, peer, data, len);
    else
      send_now(self, peer, data, len);
  }
}

void node_net_send_client(node *self, const uint8_t *identity, size_t identity_len,
                          const uint8_t *data, size_t len) {
  if (self->faults.isolated || !identity_len || identity_len > NODE_ID_MAX) return;
  if (hw_frame_kind(data, len) != HW_REPLY) { /* an operator's answer: alone, at once */
    if (zmq_send(self->router, identity, identity_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0 &&
        zmq_send(self->router, data, len, ZMQ_DONTWAIT) >= 0)
      self->stats.replies++;
    return;
  }
  /* The pending bundle of this connection, or a free one, or else the first is sent to make
   * room. */
  node_pending *p = NULL;
  for (int k = 0; k < NODE_PENDING_CLIENTS && !p; k++) {
    node_pending *q = &self->to_client[k];
    if (q->identity_len == identity_len && memcmp(q->identity, identity, identity_len) == 0) p = q;
  }
  for (int k = 0; k < NODE_PENDING_CLIENTS && !p; k++)
    if (!self->to_client[k].identity_len) p = &self->to_client[k];
  if (!p) {
    p = &self->to_client[0];
    flush_client(self, p);
  }
  memcpy(p->identity, identity, identity_len);
  p->identity_len = (uint8_t)identity_len;
  pending_add(self, p, data, len, 0);
}

void node_net_release_held(node *self, uint64_t now_us) {
  while (self->n_held && self->held[0].release_us <= now_us) {
    node_held h = held_pop(self);
    if (h.inbound)
      node_on_peer(self, h.peer, h.data, h.len, now_us);
    else
      send_now(self, h.peer, h.data, h.len);
    free(h.data);
  }
}

/* ---- receiving ---- */

/* Reads the rest of a multipart message and throws it away. */
static void drain_parts(void *socket) {
  int more = 1;
  size_t more_len = sizeof more;
  while (zmq_getsockopt(socket, ZMQ_RCVMORE, &more, &more_len) == 0 && more) {
    zmq_msg_t part;
    zmq_msg_init(&part);
    if (zmq_msg_recv(&part, socket, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&part);
      return;
    }
    zmq_msg_close(&part);
  }
}

/* With CURVE, the name the ZAP handler gave the frame's connection (see security.h): a node id,
 * CTK_USER_CLIENT, or -1. Without, CTK_USER_CLIENT for everyone: the transport cannot tell. */
static int frame_user(const node *self, zmq_msg_t *body) {
  if (!self->keys) return CTK_USER_CLIENT;
  return ctk_user_node(zmq_msg_gets(body, "User-Id"));
}

/* A frame from a peer: the ROUTER identity must be that peer's, of this cluster, and match the id
 * in the frame (and, with CURVE, the key the connection was made with). */
static void receive_peer(node *self, const zmq_msg_t *identity, zmq_msg_t *body,
                         const uint8_t *data, size_t len, uint64_t now_us) {
  int from_identity = hw_peer_from_identity(zmq_msg_data((zmq_msg_t *)identity),
                                            zmq_msg_size(identity), self->tag, self->n);
  int from;
  uint32_t tag;
  ctk_bytes msg;
  if (from_identity < 0 || hw_get_peer(data, len, &from, &tag, &msg) || from != from_identity ||
      tag != self->tag || from == self->id || from >= self->n ||
      (self->keys && frame_user(self, body) != from)) {
    self->stats.frames_rejected++;
    return;
  }
  self->stats.msgs_received++;
  const hw_faults *f = &self->faults;
  if (f->isolated || (f->block_in >> from) & 1) return;
  if (f->both_ways) {
    if (chance(self, f->drop)) return;
    uint64_t delay = f->delay_us;
    if (delay) {
      held_push(self, now_us + delay, 1, from, msg.data, msg.len);
      return;
    }
  }
  node_on_peer(self, from, msg.data, msg.len, now_us);
}

/* One frame, alone or out of a bundle (where operator requests have no place). body is the
 * ZeroMQ message it came in, for the name CURVE gave its connection. */
static void receive_frame(node *self, zmq_msg_t *identity, zmq_msg_t *body, const uint8_t *data,
                          size_t len, uint64_t now_us, int bundled) {
  int kind = hw_frame_kind(data, len);
  if (kind == HW_PEER) {
    receive_peer(self, identity, body, data, len, now_us);
  } else if (kind == HW_REQUEST) {
    ctk_bytes command;
    if (zmq_msg_size(identity) > NODE_ID_MAX || hw_get_request(data, len, &command) ||
        frame_user(self, body) != CTK_USER_CLIENT) {
      self->stats.frames_rejected++;
    } else if (!self->faults.isolated) {
      self->stats.requests++;
      node_on_request(self, zmq_msg_data(identity), zmq_msg_size(identity), command.data,
                      command.len, now_us);
    }
  } else if (kind == HW_ADMIN && !bundled) {
    ctk_bytes request;
    if (zmq_msg_size(identity) > NODE_ID_MAX || hw_get_admin(data, len, &request) ||
        frame_user(self, body) != CTK_USER_CLIENT)
      self->stats.frames_rejected++;
    else if (!self->faults.isolated)
      node_on_admin(self, zmq_msg_data(identity), zmq_msg_size(identity), request.data, request.len,
                    now_us);
  } else {
    self->stats.frames_rejected++;
  }
}

int node_net_receive(node *self, uint64_t now_us) {
  zmq_msg_t identity, body;
  zmq_msg_init(&identity);
  if (zmq_msg_recv(&identity, self->router, ZMQ_DONTWAIT) < 0) {
    zmq_msg_close(&identity);
    return 0;
  }
  zmq_msg_init(&body);
  int more = zmq_msg_more(&identity);
  if (!more || zmq_msg_recv(&body, self->router, ZMQ_DONTWAIT) < 0) {
    self->stats.frames_rejected++;
    goto done;
  }
  if (zmq_msg_more(&body)) {
    drain_parts(self->router);
    self->stats.frames_rejected++;
    goto done;
  }
  const uint8_t *data = zmq_msg_data(&body);
  size_t len = zmq_msg_size(&body);
  if (len > (size_t)self->config->node.max_frame_bytes) {
    self->stats.frames_rejected++;
  } else if (hw_frame_kind(data, len) == HW_BUNDLE) {
    /* Each frame of a bundle as if it came alone; the rest of a malformed one is dropped. */
    hw_bundle_reader r;
    ctk_bytes inner;
    int rc;
    hw_bundle_open(&r, data, len);
    while ((rc = hw_bundle_next(&r, &inner)) > 0)
      receive_frame(self, &identity, &body, inner.data, inner.len, now_us, 1);
    if (rc < 0) self->stats.frames_rejected++;
  } else {
    receive_frame(self, &identity, &body, data, len, now_us, 0);
  }
done:
  zmq_msg_close(&body);
  zmq_msg_close(&identity);
  return 1;
}

/* ---- the runner's control socket ---- */

int node_net_control(node *self) {
  if (!self->control) return 0;
  zmq_msg_t identity, body;
  zmq_msg_init(&identity);
  if (zmq_msg_recv(&identity, self->control, ZMQ_DONTWAIT) < 0) {
    zmq_msg_close(&identity);
    return 0;
  }
  zmq_msg_init(&body);
  if (!zmq_msg_more(&identity) || zmq_msg_recv(&body, self->control, ZMQ_DONTWAIT) < 0) goto done;
  if (zmq_msg_more(&body)) {
    drain_parts(self->control);
    goto done;
  }
  const uint8_t *data = zmq_msg_data(&body);
  size_t len = zmq_msg_size(&body);
  wire_writer_reset(&self->frame);
  int kind = hw_frame_kind(data, len);
  if (kind == HW_STATUS) {
    hw_status status;
    node_fill_status(self, &status);
    hw_put_status(&self->frame, &status);
  } else if (kind == HW_FAULTS) {
    hw_faults faults;
    if (hw_get_faults(data, len, &faults)) goto done;
    self->faults = faults;
    node_log(self,
             "faults: drop %.2f dup %.2f reorder %.2f delay %u us slow %.1f isolated %d "
             "block out %#x in %#x",
             faults.drop, faults.duplicate, faults.reorder, faults.delay_us, faults.slow_factor,
             faults.isolated, faults.block_out, faults.block_in);
    hw_put_faults_ack(&self->frame);
  } else {
    goto done;
  }
  if (!self->frame.failed && zmq_send(self->control, zmq_msg_data(&identity),
                                      zmq_msg_size(&identity), ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
    zmq_send(self->control, self->frame.data, self->frame.len, ZMQ_DONTWAIT);
done:
  zmq_msg_close(&body);
  zmq_msg_close(&identity);
  return 1;
}

/* ---- security: the ZAP handler and failed handshakes ---- */

/* One event of the monitor: a 6-byte frame (u16 event, u32 value), then the endpoint. */
static int monitor_event(node *self) {
  zmq_msg_t frame;
  zmq_msg_init(&frame);
  if (zmq_msg_recv(&frame, self->monitor, ZMQ_DONTWAIT) < 0) {
    zmq_msg_close(&frame);
    return 0;
  }
  uint16_t event = 0;
  if (zmq_msg_size(&frame) >= 2) memcpy(&event, zmq_msg_data(&frame), sizeof event);
  int more = zmq_msg_more(&frame);
  zmq_msg_close(&frame);
  if (more) drain_parts(self->monitor);
  if (event & MONITOR_EVENTS) {
    uint64_t n = ++self->stats.handshakes_failed;
    if (n <= 10 || n % 1000 == 0)
      node_log(self, "refused a connection at the handshake (%s); %llu so far",
               event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ? "key not accepted"
                                                        : "mechanism or protocol mismatch",
               (unsigned long long)n);
  }
  return 1;
}

int node_net_security(node *self) {
  if (self->zap) {
    ctk_zap_refusal refusal;
    int rc = ctk_zap_handle(self->zap, &refusal);
    if (rc < 0 && refusal.first_for_this)
      node_log(self, "refused %s: public key %s is not listed in %s", refusal.address, refusal.key,
               self->config->cluster.keys_dir);
    if (rc != 0) return 1;
  }
  return self->monitor ? monitor_event(self) : 0;
}

int node_net_wait_init(node *self) {
  ctk_zwait_init(&self->wait);
  void *sockets[4] = {self->router, self->control, self->monitor,
                      self->zap ? ctk_zap_socket(self->zap) : NULL};
  for (int k = 0; k < 4; k++)
    if (sockets[k] && ctk_zwait_add(&self->wait, sockets[k]) < 0) return -1;
  return 0;
}
