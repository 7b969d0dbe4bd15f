/* loadgen.c: the clients of a real run (see loadgen.h): one thread, one DEALER per node, every
 * client's outstanding operation, its timeouts and retries, and the history. */
#include "loadgen.h"

#include <errno.h>
#include <math.h>
#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "clock.h"
#include "hostwire.h"
#include "kv.h"
#include "security.h"
#include "workload.h"
#include "zwait.h"

#define REFUSAL_BACKOFF_US 10000 /* wait before retrying after a node refused the command */
#define SEND_BACKOFF_US    20000 /* wait after a node could not even be sent to */
#define BACKLOG_MAX        1000000
#define CLIENT_ID_SHIFT    16 /* client id = run nonce << 16 | client number */

typedef struct lg_client {
  uint64_t seq;
  ctk_op op;
  uint8_t cmd[CTK_MAX_COMMAND_BYTES];
  size_t cmd_len;
  int active;
  uint64_t intended_us; /* invoke time: now (closed loop) or the arrival (open loop) */
  uint64_t deadline_us; /* of the current attempt; UINT64_MAX while waiting to retry */
  uint64_t retry_at_us; /* when to send again after a refusal; 0: not waiting */
  int attempts;
  int target, leader_hint;
  char key[80];           /* the key as sent and recorded: the run's prefix, then op.key */
  size_t invoke_event;    /* the history's event of its current invocation (SIZE_MAX: none) */
  int bundled_socket;     /* the socket whose pending bundle holds its request, or -1 */
  uint64_t bundled_flush; /* that socket's flush count when the request was added */
} lg_client;

/* Bytes of one bundle of requests (smaller if node.max_frame_bytes is). */
#define LG_BUNDLE_MAX 65536

/* Requests waiting to leave through one socket as one ZeroMQ message (hostwire.h's BUNDLE). */
typedef struct lg_pending {
  wire_writer bundle;
  size_t n_frames;
  uint64_t flushes; /* tells the clients of an earlier bundle from those of this one */
  int node;         /* the node the socket goes to */
} lg_pending;

struct ctk_loadgen {
  ctk_config config; /* a copy; protocol_options not used */
  uint64_t t0_us;
  uint64_t nonce;
  char key_prefix[32];
  int n_nodes, n_clients;
  void *zmq;
  /* One DEALER per node, or with source addresses one per (client's home node, node): client c's
   * home is node c % nodes, and its connections leave from that home's source address. */
  void *sockets[CTK_MAX_NODES * CTK_MAX_NODES];
  lg_pending pending[CTK_MAX_NODES * CTK_MAX_NODES];
  ctk_zwait wait; /* the sockets, when there are at most CTK_ZWAIT_MAX */
  int n_groups;
  lg_client *clients;
  ctk_workload_gen workload;
  ctk_rng rng;
  ctk_history history;
  int64_t ops_budget; /* -1: unbounded (duration) */
  uint64_t next_arrival_us;
  uint64_t *backlog;
  size_t backlog_head, backlog_n, backlog_cap;
  wire_writer frame;
  size_t bundle_max;
  pthread_t thread;
  int thread_started;
  atomic_int finish; /* the runner ended the workload */
  atomic_int stop;   /* the thread must return */
  pthread_mutex_t lock;
  ctk_loadgen_stats stats; /* under lock */
};

static uint64_t run_us(const ctk_loadgen *self) { return ctk_clock_us() - self->t0_us; }

static int socket_index(const ctk_loadgen *self, int c, int node) {
  int group = self->n_groups > 1 ? c % self->n_nodes : 0;
  return group * self->n_nodes + node;
}

static void count(ctk_loadgen *self, uint64_t *counter) {
  pthread_mutex_lock(&self->lock);
  (*counter)++;
  pthread_mutex_unlock(&self->lock);
}

/* ---- one client ---- */

static void record(ctk_loadgen *self, int c, ctk_hist_type type, uint64_t t, const char *value) {
  lg_client *client = &self->clients[c];
  const ctk_op *op = &client->op;
  const char *expected = op->f == CTK_F_CAS && op->has_expected ? op->expected : NULL;
  if (type == CTK_HIST_INVOKE) {
    client->invoke_event = self->history.n;
    const char *v = op->f == CTK_F_GET ? NULL : value;
    if (ctk_history_add(&self->history, c, type, op->f, t, client->key, v, expected))
      client->invoke_event = SIZE_MAX;
    return;
  }
  /* The completion reuses its invocation's strings (one lookup fewer per string). */
  if (client->invoke_event == SIZE_MAX ||
      ctk_history_complete(&self->history, client->invoke_event, type, t, value))
    ctk_history_add(&self->history, c, type, op->f, t, client->key, value, expected);
}

static void flush_pending(ctk_loadgen *self, int i, uint64_t now);

/* Queues the client's request for its node; it leaves with the others at flush_all. */
static void client_send(ctk_loadgen *self, int c, uint64_t now) {
  lg_client *client = &self->clients[c];
  int node = client->leader_hint >= 0 ? client->leader_hint : client->target;
  client->leader_hint = -1;
  client->target = node;
  client->retry_at_us = 0;
  client->deadline_us = now + (uint64_t)(self->config.workload.client_timeout_ms * 1000);
  count(self, &self->stats.sends);
  int i = socket_index(self, c, node);
  lg_pending *p = &self->pending[i];
  if (p->n_frames && p->bundle.len + HW_BUNDLE_OVERHEAD + 2 + client->cmd_len > self->bundle_max)
    flush_pending(self, i, now);
  if (!p->n_frames) hw_bundle_start(&p->bundle);
  wire_put_u32(&p->bundle, (uint32_t)(2 + client->cmd_len)); /* hw_bundle_add, without a copy */
  hw_put_request(&p->bundle, client->cmd, client->cmd_len);
  p->n_frames++;
  client->bundled_socket = i;
  client->bundled_flush = p->flushes;
}

/* Sends the requests waiting for socket i: alone as itself, several as a bundle. When ZeroMQ
 * cannot take them (the node is not connected), each of their clients tries the next node
 * soon. */
static void flush_pending(ctk_loadgen *self, int i, uint64_t now) {
  lg_pending *p = &self->pending[i];
  if (!p->n_frames) return;
  const uint8_t *data = p->bundle.data;
  size_t len = p->bundle.len;
  if (p->n_frames == 1) {
    data += 2 + HW_BUNDLE_OVERHEAD;
    len -= 2 + HW_BUNDLE_OVERHEAD;
  }
  int sent = !p->bundle.failed && zmq_send(self->sockets[i], data, len, ZMQ_DONTWAIT) >= 0;
  ctk_zwait_touched(&self->wait, i);
  if (!sent)
    for (int c = 0; c < self->n_clients; c++) {
      lg_client *client = &self->clients[c];
      if (client->bundled_socket != i || client->bundled_flush != p->flushes) continue;
      client->target = (p->node + 1) % self->n_nodes;
      client->deadline_us = UINT64_MAX;
      client->retry_at_us = now + SEND_BACKOFF_US;
    }
  wire_writer_reset(&p->bundle);
  p->n_frames = 0;
  p->flushes++;
}

static void flush_all(ctk_loadgen *self, uint64_t now) {
  for (int i = 0; i < self->n_groups * self->n_nodes; i++) flush_pending(self, i, now);
}

static int workload_over(ctk_loadgen *self, uint64_t now) {
  if (atomic_load(&self->finish)) return 1;
  if (self->ops_budget == 0) return 1;
  return self->config.workload.ops == 0 &&
         now >= (uint64_t)(self->config.workload.duration_s * 1e6);
}

static void client_start(ctk_loadgen *self, int c, uint64_t intended, uint64_t now) {
  lg_client *client = &self->clients[c];
  client->seq++;
  client->intended_us = intended;
  ctk_workload_next_op(&self->workload, &self->rng, (uint64_t)c, client->seq, &client->op);
  const ctk_op *op = &client->op;
  size_t prefix_len = strlen(self->key_prefix), key_len = strlen(op->key);
  memcpy(client->key, self->key_prefix, prefix_len);
  memcpy(client->key + prefix_len, op->key, key_len + 1);
  ctk_kv_command cmd = {.client_id = self->nonce << CLIENT_ID_SHIFT | (uint64_t)c,
                        .seq = client->seq,
                        .op = op->f,
                        .key = client->key,
                        .value = op->f == CTK_F_GET ? NULL : op->value,
                        .expected = op->f == CTK_F_CAS && op->has_expected ? op->expected : NULL};
  int len = ctk_kv_encode(&cmd, client->cmd, sizeof client->cmd);
  if (len < 0) return;
  client->cmd_len = (size_t)len;
  client->active = 1;
  client->attempts = 0;
  count(self, &self->stats.invoked);
  record(self, c, CTK_HIST_INVOKE, intended, op->value);
  client_send(self, c, now);
}

static void client_complete(ctk_loadgen *self, int c, const hw_reply *reply, uint64_t now) {
  lg_client *client = &self->clients[c];
  const ctk_op *op = &client->op;
  client->active = 0;
  if (reply->leader_hint >= 0 && reply->leader_hint < self->n_nodes &&
      !self->config.workload.sticky_sessions)
    client->target = reply->leader_hint;
  switch (op->f) {
  case CTK_F_GET:
    count(self, &self->stats.ok);
    record(self, c, CTK_HIST_OK, now, reply->found ? reply->value : NULL);
    ctk_workload_observe(&self->workload, op->key, reply->found ? reply->value : NULL);
    break;
  case CTK_F_PUT:
    count(self, &self->stats.ok);
    record(self, c, CTK_HIST_OK, now, op->value);
    ctk_workload_observe(&self->workload, op->key, op->value);
    break;
  case CTK_F_CAS:
    count(self, reply->ok ? &self->stats.ok : &self->stats.fail);
    if (reply->ok) ctk_workload_observe(&self->workload, op->key, op->value);
    record(self, c, reply->ok ? CTK_HIST_OK : CTK_HIST_FAIL, now, op->value);
    break;
  }
}

static void on_reply(ctk_loadgen *self, const uint8_t *frame, size_t len, uint64_t now) {
  hw_reply reply;
  char value[CTK_KV_MAX_VALUE + 1];
  if (hw_get_reply(frame, len, &reply, value, sizeof value)) return;
  if (reply.client_id >> CLIENT_ID_SHIFT != self->nonce) return;
  uint64_t c = reply.client_id & ((1u << CLIENT_ID_SHIFT) - 1);
  if (c >= (uint64_t)self->n_clients) return;
  lg_client *client = &self->clients[c];
  if (!client->active || reply.seq != client->seq) return; /* late answer to an old attempt */
  if (!reply.rejected) return client_complete(self, (int)c, &reply, now);
  /* Certainly not applied there: try the node named as leader (or the next one) shortly; a busy
   * node is the right one, only full: try it again. */
  count(self, &self->stats.refusals);
  if (reply.busy) {
    count(self, &self->stats.busy);
    client->deadline_us = UINT64_MAX;
    client->retry_at_us = now + REFUSAL_BACKOFF_US;
    return;
  }
  client->leader_hint = reply.leader_hint >= 0 && reply.leader_hint < self->n_nodes &&
                                reply.leader_hint != client->target
                            ? reply.leader_hint
                            : -1;
  if (client->leader_hint < 0) client->target = (client->target + 1) % self->n_nodes;
  client->deadline_us = UINT64_MAX;
  client->retry_at_us = now + REFUSAL_BACKOFF_US;
}

/* Timeouts and retries of every client; gives up (info) after max_attempts while the workload
 * runs, and keeps trying once it is over (faults heal then: the run should see them finish). */
static void check_clients(ctk_loadgen *self, uint64_t now, int over) {
  for (int c = 0; c < self->n_clients; c++) {
    lg_client *client = &self->clients[c];
    if (!client->active) continue;
    if (client->retry_at_us && now >= client->retry_at_us) {
      client_send(self, c, now);
      continue;
    }
    if (client->deadline_us > now) continue;
    count(self, &self->stats.timeouts);
    if (!over && ++client->attempts >= self->config.workload.max_attempts) {
      client->active = 0;
      count(self, &self->stats.info);
      record(self, c, CTK_HIST_INFO, now, client->op.value);
      continue;
    }
    client->target = (client->target + 1) % self->n_nodes;
    client_send(self, c, now);
  }
}

/* ---- starting operations ---- */

static void schedule_arrival(ctk_loadgen *self) {
  double gap_us = -log(1 - ctk_rng_unit(&self->rng)) * 1e6 / self->config.workload.rate;
  self->next_arrival_us += (uint64_t)gap_us;
}

static void backlog_push(ctk_loadgen *self, uint64_t t) {
  if (self->backlog_n == self->backlog_cap) {
    size_t cap = self->backlog_cap ? self->backlog_cap * 2 : 1024;
    uint64_t *b = cap <= BACKLOG_MAX ? malloc(cap * sizeof *b) : NULL;
    if (!b) {
      count(self, &self->stats.shed);
      return;
    }
    for (size_t k = 0; k < self->backlog_n; k++)
      b[k] = self->backlog[(self->backlog_head + k) % self->backlog_cap];
    free(self->backlog);
    self->backlog = b;
    self->backlog_cap = cap;
    self->backlog_head = 0;
  }
  self->backlog[(self->backlog_head + self->backlog_n++) % self->backlog_cap] = t;
}

static void start_operations(ctk_loadgen *self, uint64_t now) {
  int open_loop = self->config.workload.rate > 0;
  if (open_loop) {
    while (self->next_arrival_us <= now && !workload_over(self, self->next_arrival_us)) {
      backlog_push(self, self->next_arrival_us);
      if (self->ops_budget > 0) self->ops_budget--;
      schedule_arrival(self);
    }
  }
  for (int c = 0; c < self->n_clients; c++) {
    if (self->clients[c].active) continue;
    if (open_loop) {
      if (!self->backlog_n) break;
      uint64_t intended = self->backlog[self->backlog_head];
      self->backlog_head = (self->backlog_head + 1) % self->backlog_cap;
      self->backlog_n--;
      client_start(self, c, intended, now);
    } else {
      if (workload_over(self, now)) break;
      if (self->ops_budget > 0) self->ops_budget--;
      client_start(self, c, now, now);
    }
  }
}

/* ---- the thread ---- */

/* A reply, or a bundle of them. */
static void on_frame(ctk_loadgen *self, const uint8_t *frame, size_t len, uint64_t now) {
  hw_bundle_reader r;
  ctk_bytes inner;
  if (hw_bundle_open(&r, frame, len)) return on_reply(self, frame, len, now);
  while (hw_bundle_next(&r, &inner) > 0) on_reply(self, inner.data, inner.len, now);
}

static uint64_t next_wakeup(const ctk_loadgen *self, uint64_t now, int over) {
  uint64_t next = now + 5000; /* look at the stop flags at least this often */
  for (int c = 0; c < self->n_clients; c++) {
    const lg_client *client = &self->clients[c];
    if (!client->active) continue;
    uint64_t t = client->retry_at_us ? client->retry_at_us : client->deadline_us;
    if (t < next) next = t;
  }
  if (self->config.workload.rate > 0 && !over && self->next_arrival_us < next)
    next = self->next_arrival_us;
  return next;
}

static void update_gauges(ctk_loadgen *self, int over) {
  int outstanding = 0;
  for (int c = 0; c < self->n_clients; c++) outstanding += self->clients[c].active;
  pthread_mutex_lock(&self->lock);
  self->stats.outstanding = outstanding + (int)self->backlog_n;
  self->stats.finished = over;
  pthread_mutex_unlock(&self->lock);
}

static void *loadgen_main(void *arg) {
  ctk_loadgen *self = arg;
  int n_sockets = self->n_groups * self->n_nodes;
  /* zwait (fewer system calls than zmq_poll) holds up to CTK_ZWAIT_MAX sockets; clients with a
   * source address per node can have more. */
  int use_zwait = n_sockets <= CTK_ZWAIT_MAX;
  static_assert(sizeof(zmq_pollitem_t) * CTK_MAX_NODES * CTK_MAX_NODES <= 16384, "stack");
  zmq_pollitem_t items[CTK_MAX_NODES * CTK_MAX_NODES];
  int ready[CTK_ZWAIT_MAX];
  ctk_zwait_init(&self->wait);
  for (int i = 0; i < n_sockets; i++) {
    items[i] = (zmq_pollitem_t){self->sockets[i], 0, ZMQ_POLLIN, 0};
    if (use_zwait && ctk_zwait_add(&self->wait, self->sockets[i]) < 0) use_zwait = 0;
  }
  while (!atomic_load(&self->stop)) {
    uint64_t now = run_us(self);
    int over = workload_over(self, now);
    if (!over) start_operations(self, now);
    uint64_t wake = next_wakeup(self, now, over);
    long timeout_ms = wake > now ? (long)((wake - now + 999) / 1000) : 0;
    flush_all(self, now);
    if (use_zwait) {
      ctk_zwait_wait(&self->wait, timeout_ms, ready);
      for (int i = 0; i < n_sockets; i++) items[i].revents = ready[i] ? ZMQ_POLLIN : 0;
    } else {
      zmq_poll(items, n_sockets, timeout_ms);
    }
    now = run_us(self);
    for (int i = 0; i < n_sockets; i++) {
      /* Only sockets the wait saw input on: reading an empty one costs system calls. */
      if (!(items[i].revents & ZMQ_POLLIN)) continue;
      ctk_zwait_touched(&self->wait, i);
      zmq_msg_t msg;
      zmq_msg_init(&msg);
      while (zmq_msg_recv(&msg, self->sockets[i], ZMQ_DONTWAIT) >= 0)
        on_frame(self, zmq_msg_data(&msg), zmq_msg_size(&msg), now);
      zmq_msg_close(&msg);
    }
    check_clients(self, now, workload_over(self, now));
    update_gauges(self, workload_over(self, now));
  }
  return NULL;
}

static void loadgen_free(ctk_loadgen *self) {
  for (int i = 0; i < self->n_groups * self->n_nodes; i++) {
    if (self->sockets[i]) zmq_close(self->sockets[i]);
    wire_writer_free(&self->pending[i].bundle);
  }
  if (self->zmq) zmq_ctx_term(self->zmq);
  ctk_workload_gen_free(&self->workload);
  ctk_history_free(&self->history);
  wire_writer_free(&self->frame);
  pthread_mutex_destroy(&self->lock);
  free(self->clients);
  free(self->backlog);
  free(self);
}

ctk_loadgen *ctk_loadgen_start(const ctk_config *config, uint64_t t0_us, int fresh_keys, char *err,
                               size_t err_len) {
  return ctk_loadgen_start_from(config, t0_us, fresh_keys, NULL, err, err_len);
}

ctk_loadgen *ctk_loadgen_start_from(const ctk_config *config, uint64_t t0_us, int fresh_keys,
                                    const char *const *sources, char *err, size_t err_len) {
  ctk_loadgen *self = calloc(1, sizeof *self);
  if (!self) goto oom;
  self->n_groups = sources ? config->cluster.nodes : 1;
  self->config = *config;
  self->config.protocol_options = NULL;
  self->t0_us = t0_us;
  self->n_nodes = config->cluster.nodes;
  self->n_clients = config->workload.clients;
  self->nonce = (ctk_clock_us() ^ (uint64_t)time(NULL) << 20) & ((1ull << 40) - 1);
  self->ops_budget = config->workload.ops > 0 ? config->workload.ops : -1;
  if (fresh_keys)
    snprintf(self->key_prefix, sizeof self->key_prefix, "r%010llx.",
             (unsigned long long)self->nonce);
  ctk_rng_seed(&self->rng, config->seed ^ 0x6c6f616467656eull);
  ctk_history_init(&self->history);
  wire_writer_init(&self->frame);
  pthread_mutex_init(&self->lock, NULL);
  atomic_init(&self->finish, 0);
  atomic_init(&self->stop, 0);
  self->clients = calloc((size_t)self->n_clients, sizeof *self->clients);
  if (!self->clients || ctk_workload_gen_init(&self->workload, &config->workload)) goto oom;
  for (int c = 0; c < self->n_clients; c++) {
    self->clients[c].target = c % self->n_nodes;
    self->clients[c].leader_hint = -1;
    self->clients[c].bundled_socket = -1;
  }
  for (int i = 0; i < self->n_groups * self->n_nodes; i++)
    self->pending[i].node = i % self->n_nodes;
  self->bundle_max = (size_t)config->node.max_frame_bytes < LG_BUNDLE_MAX
                         ? (size_t)config->node.max_frame_bytes
                         : LG_BUNDLE_MAX;
  if (config->workload.rate > 0) schedule_arrival(self);
  /* With CURVE the clients connect as client-0 of the key directory. */
  ctk_keys *keys = NULL;
  if (config->cluster.security == CTK_SECURITY_CURVE) {
    keys = calloc(1, sizeof *keys);
    char kerr[CTK_PATH_LEN + 128];
    if (!keys) goto oom;
    if (ctk_keys_load(config->cluster.keys_dir, self->n_nodes, "client-0", keys, kerr,
                      sizeof kerr)) {
      snprintf(err, err_len, "cluster.keys: %s", kerr);
      free(keys);
      loadgen_free(self);
      return NULL;
    }
  }
  self->zmq = zmq_ctx_new();
  if (!self->zmq) goto oom_keys;
  for (int k = 0; k < self->n_groups * self->n_nodes; k++) {
    int i = k % self->n_nodes;
    void *s = zmq_socket(self->zmq, ZMQ_DEALER);
    if (!s) goto oom_keys;
    self->sockets[k] = s;
    if (keys && ctk_keys_secure_client(s, keys, i)) goto oom_keys;
    int zero = 0, one = 1, hwm = 100000, ivl = 20;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_IMMEDIATE, &one, sizeof one);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    /* "tcp://SOURCE:0;HOST:PORT": ZeroMQ binds the connection to the source address first. */
    char endpoint[CTK_ENDPOINT_LEN + 64];
    const char *to = config->cluster.endpoints[i];
    if (sources && strncmp(to, "tcp://", 6) == 0)
      snprintf(endpoint, sizeof endpoint, "tcp://%s:0;%s", sources[k / self->n_nodes], to + 6);
    else
      snprintf(endpoint, sizeof endpoint, "%s", to);
    if (zmq_connect(s, endpoint)) {
      snprintf(err, err_len, "cannot connect to %s: %s", endpoint, zmq_strerror(errno));
      free(keys);
      loadgen_free(self);
      return NULL;
    }
  }
  if (keys) memset(keys, 0, sizeof *keys);
  free(keys);
  if (pthread_create(&self->thread, NULL, loadgen_main, self)) goto oom;
  self->thread_started = 1;
  return self;
oom_keys:
  free(keys);
oom:
  snprintf(err, err_len, "cannot start the clients: out of memory or sockets");
  if (self) loadgen_free(self);
  return NULL;
}

void ctk_loadgen_stats_get(ctk_loadgen *self, ctk_loadgen_stats *stats) {
  pthread_mutex_lock(&self->lock);
  *stats = self->stats;
  pthread_mutex_unlock(&self->lock);
}

void ctk_loadgen_finish(ctk_loadgen *self) { atomic_store(&self->finish, 1); }

void ctk_loadgen_join(ctk_loadgen **self_p, ctk_history *history) {
  ctk_loadgen *self = *self_p;
  *self_p = NULL;
  atomic_store(&self->stop, 1);
  if (self->thread_started) pthread_join(self->thread, NULL);
  uint64_t now = run_us(self);
  for (int c = 0; c < self->n_clients; c++)
    if (self->clients && self->clients[c].active) {
      self->clients[c].active = 0;
      self->stats.info++;
      record(self, c, CTK_HIST_INFO, now, self->clients[c].op.value);
    }
  *history = self->history;
  ctk_history_init(&self->history);
  loadgen_free(self);
}
