/* node.c: a node process's event loop (see node.h): protocol steps, group commit, the key-value
 * store, and the clients waiting for answers here.
 *
 * One turn of the loop: wait (zwait.h) until a frame arrives or the protocol's deadline or a held
 * message is due; step the protocol for up to node.batch_max frames, the due held messages and
 * the timeout, staging whatever they persist; sync the store once for the whole batch (group
 * commit); only then send the batch's messages, apply its commits to the store and answer
 * clients. A sync that fails stops the node before anything that depended on it leaves. */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "node_internal.h"

void node_log(node *self, const char *fmt, ...) {
  if (!self->log) return;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  fprintf(self->log, "%lld.%06ld n%d ", (long long)ts.tv_sec, ts.tv_nsec / 1000, self->id);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(self->log, fmt, ap);
  va_end(ap);
  fputc('\n', self->log);
  fflush(self->log);
}

/* ---- clients waiting here ---- */

static size_t client_hash(uint64_t client_id) {
  return (size_t)((client_id * 0x9E3779B97F4A7C15ull) >> 40) % NODE_CLIENT_SLOTS;
}

static node_client *client_find(node *self, uint64_t client_id) {
  size_t h = client_hash(client_id);
  for (size_t k = 0; k < NODE_CLIENT_PROBE; k++) {
    node_client *c = &self->clients[(h + k) % NODE_CLIENT_SLOTS];
    if (!c->used) return NULL;
    if (c->client_id == client_id) return c;
  }
  return NULL;
}

/* The slot for client_id: its own, a never-used one, or else the one of a client not waiting
 * (the longest idle), or else the one waiting longest (that client will time out and retry
 * elsewhere: the table is bounded). */
static node_client *client_slot(node *self, uint64_t client_id) {
  size_t h = client_hash(client_id);
  node_client *oldest = NULL;
  for (size_t k = 0; k < NODE_CLIENT_PROBE; k++) {
    node_client *c = &self->clients[(h + k) % NODE_CLIENT_SLOTS];
    if (!c->used || c->client_id == client_id) return c;
    if (!oldest || (oldest->waiting && !c->waiting) ||
        (oldest->waiting == c->waiting && c->since_us < oldest->since_us))
      oldest = c;
  }
  return oldest;
}

/* ---- the batch's output ---- */

/* Copies len bytes into the batch's byte arena; returns their offset, or SIZE_MAX. */
static size_t keep_bytes(node *self, const uint8_t *data, size_t len) {
  if (self->cap_bytes - self->n_bytes < len) {
    size_t cap = self->cap_bytes ? self->cap_bytes : 65536;
    while (cap - self->n_bytes < len) cap *= 2;
    uint8_t *b = realloc(self->bytes, cap);
    if (!b) return SIZE_MAX;
    self->bytes = b;
    self->cap_bytes = cap;
  }
  size_t off = self->n_bytes;
  if (len) memcpy(self->bytes + off, data, len);
  self->n_bytes += len;
  return off;
}

static int queue_out(node *self, int peer, const uint8_t *identity, size_t identity_len,
                     const uint8_t *data, size_t len) {
  if (self->n_out == self->cap_out) {
    size_t cap = self->cap_out ? self->cap_out * 2 : 64;
    node_out *o = realloc(self->out, cap * sizeof *o);
    if (!o) return -1;
    self->out = o;
    self->cap_out = cap;
  }
  size_t off = keep_bytes(self, data, len);
  if (off == SIZE_MAX) return -1;
  node_out *o = &self->out[self->n_out++];
  o->peer = peer;
  o->early = 0;
  o->identity_len = (uint8_t)identity_len;
  if (identity_len) memcpy(o->identity, identity, identity_len);
  o->off = off;
  o->len = len;
  return 0;
}

/* Holds what the step does to the store until the batch's sync, in the protocol's order. */
static int queue_commit(node *self, node_commit_kind kind, uint64_t index, const uint8_t *data,
                        size_t len) {
  if (self->n_commits == self->cap_commits) {
    size_t cap = self->cap_commits ? self->cap_commits * 2 : 64;
    node_commit *n = realloc(self->commits, cap * sizeof *n);
    if (!n) return -1;
    self->commits = n;
    self->cap_commits = cap;
  }
  size_t off = keep_bytes(self, data, len);
  if (off == SIZE_MAX) return -1;
  self->commits[self->n_commits++] = (node_commit){kind, index, off, len};
  return 0;
}

static void reply_to(node *self, const uint8_t *identity, size_t identity_len,
                     const hw_reply *reply) {
  wire_writer_reset(&self->frame);
  hw_put_reply(&self->frame, reply);
  if (!self->frame.failed)
    queue_out(self, -1, identity, identity_len, self->frame.data, self->frame.len);
}

/* ---- stepping ---- */

static void note_role(node *self) {
  ctk_status st;
  self->def->status(self->proto, &st);
  if (st.role == CTK_ROLE_LEADER &&
      (self->last_role != CTK_ROLE_LEADER || st.term != self->last_term)) {
    self->stats.became_leader++;
    node_log(self, "leader of term %" PRIu64, st.term);
  }
  self->last_role = st.role;
  self->last_term = st.term;
}

/* Steps the protocol and stages its output. Returns the step's result. */
static int step_event(node *self, const ctk_event *ev) {
  ctk_output out = {0}; /* n_messages_early stays 0 for a protocol built before it existed */
  int rc = self->def->step(self->proto, ev, &out);
  if (rc != CTK_OK) return rc;
  char err[CTK_ERR_LEN];
  if (out.persist_replace) {
    if (ctk_store_replace(self->store, out.persist.data, out.persist.len, err, sizeof err))
      goto store_error;
    self->staged = 1;
  } else if (out.persist.len) {
    if (ctk_store_append(self->store, out.persist.data, out.persist.len, err, sizeof err))
      goto store_error;
    self->staged = 1;
  }
  for (size_t k = 0; k < out.n_messages; k++)
    if (queue_out(self, out.messages[k].to, NULL, 0, out.messages[k].bytes.data,
                  out.messages[k].bytes.len) == 0 &&
        k < out.n_messages_early)
      self->out[self->n_out - 1].early = 1;
  int queued = 0;
  if (out.restore_index)
    queued |=
        queue_commit(self, NODE_RESTORE, out.restore_index, out.restore.data, out.restore.len);
  for (size_t k = 0; k < out.n_commits; k++)
    queued |= queue_commit(self, NODE_COMMIT, out.commits[k].index, out.commits[k].command.data,
                           out.commits[k].command.len);
  for (size_t k = 0; k < out.n_reads; k++)
    queued |= queue_commit(self, NODE_READ, 0, out.reads[k].data, out.reads[k].len);
  if (out.snapshot_wanted)
    queued |= queue_commit(self, NODE_SNAPSHOT, out.snapshot_wanted, NULL, 0);
  if (queued) snprintf(self->fatal, sizeof self->fatal, "out of memory holding a step's output");
  self->deadline_us = out.next_deadline_us;
  note_role(self);
  return rc;
store_error:
  node_log(self, "store: %s", err);
  self->store_failed = 1;
  return rc;
}

static int step(node *self, ctk_event_kind kind, int from, const uint8_t *data, size_t len,
                uint64_t now_us) {
  ctk_event ev = {.kind = kind, .now_us = now_us, .from = from, .bytes = {data, len}};
  return step_event(self, &ev);
}

void node_on_peer(node *self, int from, const uint8_t *msg, size_t len, uint64_t now_us) {
  if (step(self, CTK_EVENT_MESSAGE, from, msg, len, now_us) == CTK_ERR_MALFORMED)
    self->stats.msgs_malformed++;
}

void node_on_request(node *self, const uint8_t *identity, size_t identity_len,
                     const uint8_t *command, size_t len, uint64_t now_us) {
  ctk_kv_command cmd;
  char scratch[CTK_MAX_COMMAND_BYTES + 8];
  if (ctk_kv_decode(command, len, &cmd, scratch)) {
    self->stats.frames_rejected++;
    return;
  }
  node_client *c = client_slot(self, cmd.client_id);
  c->used = c->waiting = 1;
  c->client_id = cmd.client_id;
  c->seq = cmd.seq;
  c->since_us = now_us;
  node_identity *id = &self->client_identity[c - self->clients];
  memcpy(id->bytes, identity, identity_len);
  id->len = (uint8_t)identity_len;
  int rc = step(self, CTK_EVENT_COMMAND, -1, command, len, now_us);
  if (rc == CTK_OK) return;
  /* Not accepted here (no leader known, or a full queue: busy): say so, naming the leader if
   * known. */
  self->stats.rejected_commands++;
  c->waiting = 0;
  ctk_status st;
  self->def->status(self->proto, &st);
  hw_reply reply = {.client_id = cmd.client_id,
                    .seq = cmd.seq,
                    .rejected = 1,
                    .busy = rc == CTK_ERR_BUSY,
                    .leader_hint = st.leader_id >= 0 && st.leader_id < self->n ? st.leader_id : -1};
  reply_to(self, identity, identity_len, &reply);
}

/* An operator request: stepped at once, answered with the protocol's verdict (accepted, refused
 * here with the leader to ask instead, invalid or unsupported) once the batch is durable. */
void node_on_admin(node *self, const uint8_t *identity, size_t identity_len, const uint8_t *request,
                   size_t len, uint64_t now_us) {
  int rc = step(self, CTK_EVENT_ADMIN, -1, request, len, now_us);
  ctk_status st;
  self->def->status(self->proto, &st);
  node_log(self, "admin \"%.*s\": %d", (int)len, (const char *)request, rc);
  wire_writer_reset(&self->frame);
  hw_put_admin_reply(
      &self->frame, rc,
      st.leader_id >= 0 && st.leader_id < self->n && st.leader_id != self->id ? st.leader_id : -1);
  if (!self->frame.failed)
    queue_out(self, -1, identity, identity_len, self->frame.data, self->frame.len);
}

/* Applies one committed command and answers the client waiting here for it, if any. */
static void apply(node *self, const node_commit *c) {
  ctk_kv_result result;
  if (c->kind == NODE_READ) {
    /* Executed against the store as it now stands, changing nothing. */
    if (ctk_kv_read(self->kv, self->bytes + c->off, c->len, &result)) {
      node_log(self, "the protocol answered a read that is not a get");
      return;
    }
  } else {
    self->stats.applied = c->index;
    if (c->len == 0) return; /* a protocol no-op */
    int duplicate;
    if (ctk_kv_apply(self->kv, self->bytes + c->off, c->len, &result, &duplicate)) {
      node_log(self, "committed an undecodable command at index %" PRIu64, c->index);
      return;
    }
  }
  node_client *waiting = client_find(self, result.client_id);
  if (!waiting || !waiting->waiting || waiting->seq != result.seq) return;
  /* Answered by a follower (its command was forwarded): name the leader, so the client's next
   * command skips the extra hops. */
  ctk_status st;
  self->def->status(self->proto, &st);
  hw_reply reply = {
      .client_id = result.client_id,
      .seq = result.seq,
      .leader_hint = st.leader_id >= 0 && st.leader_id < self->n && st.leader_id != self->id
                         ? st.leader_id
                         : -1,
      .ok = result.ok,
      .found = result.found,
      .value = result.found ? result.value : NULL};
  const node_identity *id = &self->client_identity[waiting - self->clients];
  reply_to(self, id->bytes, id->len, &reply);
  waiting->waiting = 0;
}

/* Replaces the store with a protocol's snapshot. */
static void restore(node *self, const node_commit *c) {
  if (ctk_kv_restore(self->kv, self->bytes + c->off, c->len)) {
    snprintf(self->fatal, sizeof self->fatal,
             "the protocol handed over a snapshot (through index %" PRIu64
             ", %zu bytes) that does not decode",
             c->index, c->len);
    return;
  }
  self->stats.applied = c->index;
  node_log(self, "restored a snapshot through index %" PRIu64 " (%zu bytes)", c->index, c->len);
}

/* Snapshots the store for the protocol, which asked for it at exactly this point. */
static void take_snapshot(node *self, uint64_t index) {
  if (self->stats.applied != index) {
    snprintf(self->fatal, sizeof self->fatal,
             "the protocol asked for a snapshot at index %" PRIu64 " but the store is at %" PRIu64,
             index, self->stats.applied);
    return;
  }
  free(self->snapshot);
  if (ctk_kv_serialize(self->kv, &self->snapshot, &self->snapshot_len)) {
    snprintf(self->fatal, sizeof self->fatal, "out of memory taking a snapshot");
    return;
  }
  self->snapshot_index = index;
}

static int is_command(const node_commit *c) {
  return (c->kind == NODE_COMMIT || c->kind == NODE_READ) && c->len > 0;
}

/* Before the k-th commit is applied: the later ones' memory is asked for. The first commits get
 * their slots asked for all at once. */
static void prefetch_commit(node *self, size_t k) {
  size_t first = k == 0 ? 0 : k + CTK_KV_PREFETCH_SLOT_AHEAD;
  for (size_t j = first; j <= k + CTK_KV_PREFETCH_SLOT_AHEAD && j < self->n_commits; j++)
    if (is_command(&self->commits[j]))
      ctk_kv_prefetch_slot(self->kv, self->bytes + self->commits[j].off, self->commits[j].len);
  size_t e = k + CTK_KV_PREFETCH_ENTRY_AHEAD;
  if (e < self->n_commits && is_command(&self->commits[e]))
    ctk_kv_prefetch_entry(self->kv, self->bytes + self->commits[e].off, self->commits[e].len);
}

/* After the batch's sync: messages leave, commits are applied, clients are answered. Replies
 * queued while applying are sent in the same pass; what goes to one peer or one client connection
 * leaves as one bundle. */
static void release(node *self, uint64_t now_us) {
  for (size_t k = 0; k < self->n_commits; k++) {
    prefetch_commit(self, k);
    node_commit *c = &self->commits[k];
    if (c->kind == NODE_COMMIT || c->kind == NODE_READ)
      apply(self, c);
    else if (c->kind == NODE_RESTORE)
      restore(self, c);
    else
      take_snapshot(self, c->index);
  }
  self->n_commits = 0;
  for (size_t k = 0; k < self->n_out; k++) {
    node_out *o = &self->out[k];
    if (o->early == 2) continue;
    if (o->peer >= 0)
      node_net_send_peer(self, o->peer, self->bytes + o->off, o->len, now_us);
    else
      node_net_send_client(self, o->identity, o->identity_len, self->bytes + o->off, o->len);
  }
  self->n_out = 0;
  self->n_bytes = 0;
  node_net_flush(self); /* with the held messages released this turn */
}

/* Sends the batch's early messages (a leader's AppendEntries or Accept) before its sync, so that
 * the followers write while this node does (Raft thesis 10.2.1). Only here, once the batch's last
 * step is taken: nothing is stepped again before the sync is done (protocol.h). */
static void send_early(node *self, uint64_t now_us) {
  int any = 0;
  for (size_t k = 0; k < self->n_out; k++) {
    node_out *o = &self->out[k];
    if (o->early != 1) continue;
    node_net_send_peer(self, o->peer, self->bytes + o->off, o->len, now_us);
    o->early = 2;
    any = 1;
  }
  if (any) node_net_flush(self);
}

static int sync_batch(node *self, char *err, size_t err_len) {
  send_early(self, ctk_clock_us());
  if (!self->staged) return 0;
  if (ctk_store_sync(self->store, err, err_len)) return -1;
  self->staged = 0;
  self->stats.syncs++;
  return 0;
}

void node_fill_status(node *self, hw_status *status) {
  *status = self->stats;
  status->node_id = self->id;
  self->def->status(self->proto, &status->proto);
  memset(&status->counters, 0, sizeof status->counters);
  ctk_counts_add_proto(&status->counters, self->def, self->proto);
  status->kv_digest = ctk_kv_digest(self->kv);
  ctk_store_stats ss;
  ctk_store_stats_get(self->store, &ss);
  status->bytes_persisted = ss.bytes_appended;
}

/* ---- start and the loop ---- */

static int node_start(node *self, const ctk_node_args *args, char *err, size_t err_len) {
  self->config = args->config;
  self->id = args->id;
  self->n = args->config->cluster.nodes;
  self->log = args->log;
  self->def = args->config->protocol;
  self->deadline_us = CTK_DEADLINE_NONE;
  self->last_role = CTK_ROLE_FOLLOWER;
  self->tag = hw_cluster_tag(&args->config->cluster);
  hw_faults_clear(&self->faults);
  wire_writer_init(&self->frame);
  uint64_t now = ctk_clock_us();
  /* A restarted process is a new incarnation: its randomness must differ from the last one's. */
  uint64_t incarnation = now ^ ((uint64_t)getpid() << 32);
  ctk_rng_seed(&self->rng, args->config->seed ^ incarnation ^ (uint64_t)self->id);
  ctk_store_kind kind =
      args->config->node.store == CTK_STORE_CHOICE_LMDB ? CTK_STORE_LMDB : CTK_STORE_WAL;
  self->store = ctk_store_open(args->dir, kind, args->config->node.sync, err, err_len);
  if (!self->store) return -1;
  self->kv = ctk_kv_new();
  if (!self->kv) {
    snprintf(err, err_len, "out of memory");
    return -1;
  }
  ctk_node_config nc = {
      .node_id = self->id,
      .n_nodes = self->n,
      .members = args->config->cluster.members,
      .seed = args->config->seed * 1000003u + (uint64_t)self->id * 7919u + incarnation * 104729u};
  self->proto = self->def->create(&nc, args->config->protocol_options, err, err_len);
  if (!self->proto) return -1;
  if (node_net_open(self, args->control_endpoint, err, err_len)) return -1;
  uint8_t *durable = NULL;
  size_t durable_len = 0;
  if (ctk_store_read(self->store, &durable, &durable_len, err, err_len)) return -1;
  self->stats.started_from_bytes = durable_len;
  int rc = step(self, CTK_EVENT_START, -1, durable, durable_len, now);
  free(durable);
  if (rc != CTK_OK) {
    snprintf(err, err_len, "%s: the durable state in %s does not decode (error %d)",
             self->def->name, args->dir, rc);
    return -1;
  }
  node_log(self, "started: %s node %d of %d on %s, %zu durable bytes, store %s%s", self->def->name,
           self->id, self->n, args->config->cluster.endpoints[self->id], durable_len,
           ctk_store_kind_name(kind), args->config->node.sync ? "" : " (sync off)");
  return 0;
}

static void node_stop(node *self) {
  free(self->snapshot);
  self->snapshot = NULL;
  node_net_close(self);
  free(self->bytes);
  free(self->out);
  free(self->commits);
  if (self->proto) self->def->destroy(self->proto);
  ctk_store_close(&self->store);
  ctk_kv_destroy(&self->kv);
  wire_writer_free(&self->frame);
}

/* How long the wait may block, in ms: until the protocol's deadline or the next held message. */
static long poll_timeout_ms(const node *self, uint64_t now_us) {
  uint64_t next = self->deadline_us;
  uint64_t held = node_net_next_held_us(self);
  if (held < next) next = held;
  if (next == CTK_DEADLINE_NONE) return 1000;
  if (next <= now_us) return 0;
  uint64_t ms = (next - now_us + 999) / 1000;
  return ms > 1000 ? 1000 : (long)ms;
}

/* Makes the node f times slower: sleeps (f - 1) times the time the turn took. */
static void slow_down(const node *self, uint64_t busy_us) {
  double f = self->faults.slow_factor;
  if (f <= 1) return;
  double us = (f - 1) * (double)(busy_us ? busy_us : 50);
  if (us > 1e6) us = 1e6;
  struct timespec ts = {(time_t)(us / 1e6), (long)((us - (double)(time_t)(us / 1e6) * 1e6) * 1000)};
  nanosleep(&ts, NULL);
}

/* Every snapshot allocates a few buffers the size of the store (the serialized store, the
 * protocol's copy, its durable bytes), each a little larger than the last as the store grows:
 * with glibc's default, each is a fresh mmap whose every page faults in. From the heap (and the
 * heap not trimmed at once), they reuse pages the last snapshot freed. */
static void keep_big_allocations_in_the_heap(void) {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

int ctk_node_run(const ctk_node_args *args, char *err, size_t err_len) {
  keep_big_allocations_in_the_heap();
  node *self = calloc(1, sizeof *self);
  if (!self) {
    snprintf(err, err_len, "out of memory");
    return -1;
  }
  int rc = node_start(self, args, err, err_len);
  if (rc == 0 && node_net_wait_init(self)) {
    snprintf(err, err_len, "cannot wait on the node's sockets: %s", zmq_strerror(errno));
    rc = -1;
  }
  while (rc == 0 && !*args->stop) {
    int ready[CTK_ZWAIT_MAX];
    if (ctk_zwait_wait(&self->wait, poll_timeout_ms(self, ctk_clock_us()), ready) < 0) {
      snprintf(err, err_len, "waiting for input: %s", zmq_strerror(errno));
      rc = -1;
      break;
    }
    /* The ROUTER (index 0) is read and answered on every turn: asked afresh before each wait. */
    ctk_zwait_touched(&self->wait, 0);
    uint64_t start = ctk_clock_us(), now = start;
    int frames_ready = ready[0];
    for (int k = 0; frames_ready && k < args->config->node.batch_max && node_net_receive(self, now);
         k++)
      now = ctk_clock_us();
    node_net_release_held(self, now);
    if (self->deadline_us != CTK_DEADLINE_NONE && now >= self->deadline_us) {
      self->deadline_us = CTK_DEADLINE_NONE;
      step(self, CTK_EVENT_TIMEOUT, -1, NULL, 0, now);
    }
    if (self->store_failed) {
      snprintf(err, err_len, "node %d: writing to the store in %s failed (see the log)", self->id,
               args->dir);
      rc = -1;
      break;
    }
    if (sync_batch(self, err, err_len)) {
      rc = -1;
      break;
    }
    release(self, ctk_clock_us());
    /* A snapshot the protocol asked for goes back to it at once; what that step persists is
     * synced before its messages leave, as for any step. */
    while (self->snapshot && !self->fatal[0] && !self->store_failed) {
      ctk_event ev = {.kind = CTK_EVENT_SNAPSHOT,
                      .now_us = ctk_clock_us(),
                      .from = -1,
                      .bytes = {self->snapshot, self->snapshot_len},
                      .index = self->snapshot_index};
      uint8_t *taken = self->snapshot;
      self->snapshot = NULL;
      step_event(self, &ev);
      free(taken);
      if (self->store_failed) break;
      if (sync_batch(self, err, err_len)) {
        rc = -1;
        break;
      }
      release(self, ctk_clock_us());
    }
    if (rc) break;
    if (self->fatal[0] || self->store_failed) {
      if (self->fatal[0])
        snprintf(err, err_len, "node %d: %s", self->id, self->fatal);
      else
        snprintf(err, err_len, "node %d: writing to the store in %s failed (see the log)", self->id,
                 args->dir);
      rc = -1;
      break;
    }
    /* The runner's control socket, the ZAP handler and the handshake monitor only when the wait
     * saw input there: each read of an empty ZeroMQ socket costs system calls (poll, getpid). */
    int others_ready = 0;
    for (int k = 1; k < self->wait.n; k++) others_ready |= ready[k];
    for (int k = 1; k < self->wait.n && others_ready; k++) ctk_zwait_touched(&self->wait, k);
    while (others_ready && node_net_control(self)) {
    }
    while (others_ready && node_net_security(self)) {
    }
    slow_down(self, ctk_clock_us() - start);
  }
  if (rc == 0) node_log(self, "stopped");
  node_stop(self);
  free(self);
  return rc;
}
