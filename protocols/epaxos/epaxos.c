/* epaxos.c: the EPaxos instance: create, destroy, instance storage, the step dispatch, output,
 * status, counters and ctk_epaxos_protocol.
 *
 * Every node is command leader of the commands submitted to it and replica of everyone's. There
 * is no total order: commits are emitted in this node's execution order (execute.c), numbered
 * 1, 2, 3, ... in each incarnation; after a restart every committed command is executed again,
 * from the durable instances, in an order that agrees on every key with the first. Messages a
 * node sends itself go through the codec into a queue handled before the step ends, so its own
 * replies are persisted in the same step as the request that asked for them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ep_internal.h"

static int check_options(const ctk_epaxos_options *o, char *err, size_t err_len) {
  const char *what = NULL;
  if (o->retry_timeout_ms < 1 || o->retry_timeout_ms > 600000)
    what = "retry_timeout_ms must be in [1, 600000]";
  else if (o->recovery_timeout_ms[0] < 1 || o->recovery_timeout_ms[0] > o->recovery_timeout_ms[1] ||
           o->recovery_timeout_ms[1] > 600000)
    what = "recovery_timeout_ms must be a range [lo, hi] with 1 <= lo <= hi <= 600000";
  else if (o->catchup_ms < 1 || o->catchup_ms > 600000)
    what = "catchup_ms must be in [1, 600000]";
  else if (o->max_inflight < 1 || o->max_inflight > 1024)
    what = "max_inflight must be in [1, 1024]";
  else if (o->batch_size < 1 || o->batch_size > EP_MAX_BATCH)
    what = "batch_size must be in [1, 1024]";
  else if (o->batch_bytes < 8192 || o->batch_bytes > EP_MAX_PAYLOAD)
    what = "batch_bytes must be in [8192, 262144]";
  else if (o->exec_stall_ms < 1 || o->exec_stall_ms > 600000)
    what = "exec_stall_ms must be in [1, 600000]";
  else if (o->snapshot_every < 0 || o->snapshot_every > 1000000000)
    what = "snapshot_every must be in [0, 1000000000]";
  else if (o->snapshot_lag < 0 || o->snapshot_lag > 1000000000)
    what = "snapshot_lag must be in [0, 1000000000]";
  if (what && err && err_len) snprintf(err, err_len, "epaxos: %s", what);
  return what ? -1 : 0;
}

/* ---- instances ---- */

ep_inst *ep_inst_find(const epaxos *p, int leader, uint64_t num) {
  if (leader < 0 || leader >= p->n || num <= p->pruned[leader]) return NULL; /* prune.c */
  uint64_t c = (num - 1) / EP_CHUNK;
  if (c >= p->n_chunks[leader] || !p->chunks[leader][c]) return NULL;
  return &p->chunks[leader][c][(num - 1) % EP_CHUNK];
}

ep_inst *ep_inst_get(epaxos *p, int leader, uint64_t num) {
  if (leader < 0 || leader >= p->n || num <= p->pruned[leader] ||
      num > p->committed[leader] + EP_WINDOW)
    return NULL;
  uint64_t c = (num - 1) / EP_CHUNK;
  if (c >= p->n_chunks[leader]) {
    size_t cap = p->n_chunks[leader] ? p->n_chunks[leader] : 16;
    while (cap <= c) cap *= 2;
    ep_inst **chunks = realloc(p->chunks[leader], cap * sizeof *chunks);
    if (!chunks) goto nomem;
    memset(chunks + p->n_chunks[leader], 0, (cap - p->n_chunks[leader]) * sizeof *chunks);
    p->chunks[leader] = chunks;
    p->n_chunks[leader] = cap;
  }
  if (!p->chunks[leader][c]) {
    ep_inst *chunk = calloc(EP_CHUNK, sizeof *chunk);
    if (!chunk) goto nomem;
    for (uint64_t k = 0; k < EP_CHUNK; k++) {
      chunk[k].leader = leader;
      chunk[k].num = c * EP_CHUNK + k + 1;
    }
    p->chunks[leader][c] = chunk;
  }
  return &p->chunks[leader][c][(num - 1) % EP_CHUNK];
nomem:
  p->out_of_memory = 1;
  return NULL;
}

int ep_inst_set(epaxos *p, ep_inst *in, int has_cmd, const uint8_t *cmd, size_t len, ep_fp *built,
                uint64_t seq, const uint64_t *deps) {
  if (!in->deps && !(in->deps = calloc(CTK_MAX_NODES, sizeof *in->deps))) {
    p->out_of_memory = 1;
    return -1;
  }
  /* The command of an instance never changes once known, except a no-op chosen by a recovery
   * for an instance whose command nobody had. */
  int new_footprint = 0;
  if (has_cmd && (!in->has_cmd || in->len != len)) {
    new_footprint = 1;
    uint8_t *copy = NULL;
    if (len && !(copy = malloc(len))) {
      p->out_of_memory = 1;
      return -1;
    }
    if (len) memcpy(copy, cmd, len);
    ep_fp fp;
    if (built) {
      fp = *built;
      *built = (ep_fp){.noop = 1};
    } else if (ep_fp_build(&fp, copy, len, 1) != 0) {
      free(copy);
      p->out_of_memory = 1;
      return -1;
    }
    free(in->cmd);
    ep_fp_free(&in->fp);
    in->cmd = copy;
    in->len = (uint32_t)len;
    in->has_cmd = 1;
    in->cmd_durable = 0;
    in->fp = fp;
  }
  in->seq = seq;
  memcpy(in->deps, deps, (size_t)p->n * sizeof *deps);
  for (int q = 0; q < p->n; q++) ep_note_known(p, q, deps[q]);
  ep_note_known(p, in->leader, in->num);
  /* Adding raises the frontiers of the footprint's keys to (leader, num, seq): once added with a
   * seq at least as high, adding again changes nothing. A commit with the attributes preaccepted
   * here (every fast-path commit) so skips the tables' lookups, which cost cache misses. */
  if (!new_footprint && in->added_seq && seq <= in->added_seq) return 0;
  if (ep_conflicts_add(p, &in->fp, in->leader, in->num, seq) != 0) return -1;
  if (new_footprint || seq > in->added_seq) in->added_seq = seq;
  return 0;
}

void ep_see_ballot(epaxos *p, uint64_t ballot) {
  if (ep_round(ballot) > p->max_round) p->max_round = ep_round(ballot);
}

void ep_note_known(epaxos *p, int leader, uint64_t num) {
  if (num > p->known[leader]) p->known[leader] = num;
}

uint64_t ep_random_ms(epaxos *p, const int64_t range[2]) {
  return ctk_rng_range(&p->rng, (uint64_t)range[0], (uint64_t)range[1]);
}

/* ---- create and destroy ---- */

static void free_instances(epaxos *p) {
  for (int q = 0; q < CTK_MAX_NODES; q++) {
    for (size_t c = 0; c < p->n_chunks[q]; c++) {
      ep_inst *chunk = p->chunks[q][c];
      for (size_t k = 0; chunk && k < EP_CHUNK; k++) {
        free(chunk[k].cmd);
        free(chunk[k].deps);
        ep_fp_free(&chunk[k].fp);
      }
      free(chunk);
    }
    free(p->chunks[q]);
    p->chunks[q] = NULL;
    p->n_chunks[q] = 0;
    p->known[q] = p->committed[q] = p->exec_floor[q] = p->pruned[q] = p->base_inst[q] = 0;
  }
  p->base_seq = 0;
  ep_conflicts_free(&p->conflicts);
  ep_snapshot_free(p);
  p->snap_index = p->snap_total = p->cut_index = 0;
  p->restore_pending = 0;
}

static void ep_destroy(ctk_proto *p) {
  if (!p) return;
  free_instances(p);
  for (size_t i = 0; p->props && i < p->n_props; i++) ep_prop_free(p, &p->props[i]);
  free(p->props);
  for (size_t i = 0; p->queue && i < EP_MAX_QUEUE; i++) free(p->queue[i]);
  free(p->queue);
  free(p->queue_len);
  free(p->queue_cap);
  free(p->exec_stack);
  free(p->dfs_inst);
  free(p->dfs_q);
  free(p->dfs_j);
  free(p->scratch);
  free(p->bundle_run);
  wire_writer_free(&p->persist);
  ctk_outbox_free(&p->out);
  ctk_outbox_free(&p->self);
  ctk_outbox_free(&p->wire);
  free(p->commits);
  free(p);
}

static ctk_proto *ep_create(const ctk_node_config *config, const void *options, char *err,
                            size_t err_len) {
  if (!config || !options || config->n_nodes < 1 || config->n_nodes > CTK_MAX_NODES ||
      config->node_id < 0 || config->node_id >= config->n_nodes) {
    if (err && err_len) snprintf(err, err_len, "epaxos: bad node id or cluster size");
    return NULL;
  }
  const ctk_epaxos_options *o = options;
  if (check_options(o, err, err_len) != 0) return NULL;
  epaxos *p = calloc(1, sizeof *p);
  if (!p) goto nomem;
  p->id = config->node_id;
  p->n = config->n_nodes;
  p->opt = *o;
  ctk_rng_seed(&p->rng, config->seed ^ (0xD1B54A32D192ED03ull * (uint64_t)(config->node_id + 1)));
  p->next_own = 1;
  p->oldest_waiting_us = CTK_DEADLINE_NONE;
  wire_writer_init(&p->persist);

  p->n_props = (size_t)o->max_inflight + EP_MAX_RECOVERIES;
  p->props = calloc(p->n_props, sizeof *p->props);
  p->queue = calloc(EP_MAX_QUEUE, sizeof *p->queue);
  p->queue_len = calloc(EP_MAX_QUEUE, sizeof *p->queue_len);
  p->queue_cap = calloc(EP_MAX_QUEUE, sizeof *p->queue_cap);
  p->cap_commits = 64;
  p->commits = malloc(p->cap_commits * sizeof *p->commits);
  p->bundle_run = malloc(EP_BUNDLE_MAX * sizeof *p->bundle_run);
  int boxes = ctk_outbox_init(&p->out) | ctk_outbox_init(&p->self) | ctk_outbox_init(&p->wire);
  if (p->props && p->queue && p->queue_len && p->queue_cap && p->commits && p->bundle_run &&
      boxes == 0 && ep_exec_grow(p, 64) == 0)
    return p;
nomem:
  ep_destroy(p);
  if (err && err_len) snprintf(err, err_len, "epaxos: out of memory");
  return NULL;
}

/* ---- output ---- */

void ep_send(epaxos *p, int to, const ep_msg *m) {
  ctk_outbox *box = to == p->id ? &p->self : &p->out;
  ep_msg_encode(ctk_outbox_begin(box, to), m);
  ctk_outbox_end(box);
}

void ep_broadcast(epaxos *p, const ep_msg *m, int self_too) {
  for (int i = 0; i < p->n; i++)
    if (i != p->id || self_too) ep_send(p, i, m);
}

/* Checks what decoding could not (it needs the cluster). */
static int validate(const epaxos *p, int from, const ep_msg *m) {
  if (m->leader >= p->n || (m->n_deps != 0 && m->n_deps != p->n)) return CTK_ERR_MALFORMED;
  if (ep_ballot_node(m->ballot) >= p->n || ep_ballot_node(m->promised) >= p->n ||
      ep_ballot_node(m->vballot) >= p->n)
    return CTK_ERR_MALFORMED;
  int about_instance = m->type != EP_MSG_CATCHUP && m->type != EP_MSG_SNAP_CHUNK &&
                       m->type != EP_MSG_SNAP_PULL; /* the others carry a snapshot index */
  if (about_instance && m->inst > p->committed[m->leader] + EP_WINDOW) return CTK_ERR_MALFORMED;
  for (int q = 0; q < m->n_deps; q++)
    if (m->deps[q] > p->committed[q] + EP_WINDOW) return CTK_ERR_MALFORMED;
  /* Requests at a ballot come from its owner: the command leader at the default ballot. */
  int request =
      m->type == EP_MSG_PREACCEPT || m->type == EP_MSG_ACCEPT || m->type == EP_MSG_PREPARE;
  if (request && from != (m->ballot ? ep_ballot_node(m->ballot) : m->leader))
    return CTK_ERR_MALFORMED;
  if (m->type == EP_MSG_PREPARE && m->ballot == 0) return CTK_ERR_MALFORMED;
  return CTK_OK;
}

static void handle(epaxos *p, int from, const ep_msg *m) {
  p->heard_us[from] = p->now_us;
  ep_see_ballot(p, m->ballot);
  ep_see_ballot(p, m->promised);
  switch (m->type) {
  case EP_MSG_PREACCEPT: ep_recv_preaccept(p, from, m); break;
  case EP_MSG_PREACCEPT_OK: ep_recv_preaccept_ok(p, from, m); break;
  case EP_MSG_ACCEPT: ep_recv_accept(p, from, m); break;
  case EP_MSG_ACCEPT_OK: ep_recv_accept_ok(p, from, m); break;
  case EP_MSG_COMMIT: ep_recv_commit(p, m); break;
  case EP_MSG_PREPARE: ep_recv_prepare(p, from, m); break;
  case EP_MSG_PREPARE_OK: ep_recv_prepare_ok(p, from, m); break;
  case EP_MSG_SNAP_CHUNK: ep_recv_snap_chunk(p, from, m); break;
  case EP_MSG_SNAP_PULL: ep_recv_snap_pull(p, from, m); break;
  default: ep_recv_catchup(p, from, m); break;
  }
}

/* Decodes and checks a message, or every message of a bundle before any is handled (a malformed
 * one leaves the state unchanged), then hands them to their handlers. */
static int dispatch(epaxos *p, int from, const uint8_t *bytes, size_t len) {
  ep_msg m;
  ep_bundle_iter it;
  int bundle = ep_bundle_begin(&it, bytes, len);
  if (bundle < 0) return CTK_ERR_MALFORMED;
  if (!bundle) {
    if (ep_msg_decode(bytes, len, &m) != CTK_OK || validate(p, from, &m) != CTK_OK)
      return CTK_ERR_MALFORMED;
    handle(p, from, &m);
    return CTK_OK;
  }
  ep_bundle_iter first = it;
  const uint8_t *one;
  size_t one_len;
  int r;
  while ((r = ep_bundle_next(&it, &one, &one_len)) == 1)
    if (ep_msg_decode(one, one_len, &m) != CTK_OK || validate(p, from, &m) != CTK_OK)
      return CTK_ERR_MALFORMED;
  if (r < 0) return CTK_ERR_MALFORMED;
  while (ep_bundle_next(&first, &one, &one_len) == 1) {
    ep_msg_decode(one, one_len, &m);
    handle(p, from, &m);
  }
  return CTK_OK;
}

/* Handles the messages this node sent itself, including those sent while handling them. */
static void drain_self(epaxos *p) {
  for (size_t i = 0; i < p->self.n && !p->out_of_memory && !ctk_outbox_failed(&p->self); i++) {
    ctk_bytes b = ctk_outbox_bytes(&p->self, i); /* copied: handling it may grow the buffer */
    if (b.len > p->scratch_cap) {
      uint8_t *bigger = realloc(p->scratch, b.len);
      if (!bigger) {
        p->out_of_memory = 1;
        return;
      }
      p->scratch = bigger;
      p->scratch_cap = b.len;
    }
    memcpy(p->scratch, b.data, b.len);
    dispatch(p, p->id, p->scratch, b.len);
  }
  if (ctk_outbox_failed(&p->self)) p->out_of_memory = 1;
  ctk_outbox_reset(&p->self);
}

/* The messages of this step to one node leave as one: a bundle of them, or as many bundles as
 * CTK_MAX_MESSAGE_BYTES needs. A Commit then travels with the PreAccept of the next instance, and
 * a catch-up answer in one message instead of hundreds. */
static void bundle_output(epaxos *p) {
  ctk_outbox_reset(&p->wire);
  ctk_bytes *run = p->bundle_run;
  for (int to = 0; to < p->n; to++) {
    size_t n = 0, bytes = 6;
    for (size_t i = 0; i <= p->out.n; i++) {
      ctk_bytes b = i < p->out.n ? ctk_outbox_bytes(&p->out, i) : (ctk_bytes){0};
      if (i < p->out.n && p->out.entries[i].to != to) continue;
      int last = i == p->out.n;
      if (n > 0 && (last || bytes + 4 + b.len > CTK_MAX_MESSAGE_BYTES || n == EP_BUNDLE_MAX)) {
        wire_writer *w = ctk_outbox_begin(&p->wire, to);
        if (n == 1)
          wire_put_bytes(w, run[0].data, run[0].len);
        else
          ep_bundle_encode(w, run, n);
        ctk_outbox_end(&p->wire);
        n = 0;
        bytes = 6;
      }
      if (last) break;
      run[n++] = b;
      bytes += 4 + b.len;
    }
  }
}

static uint64_t next_deadline(const epaxos *p) {
  if (!p->started) return CTK_DEADLINE_NONE;
  uint64_t d = ep_props_deadline(p);
  if (p->n > 1 && p->tick_deadline_us < d) d = p->tick_deadline_us;
  uint64_t e = ep_exec_deadline(p); /* a pass put off under a large backlog (execute.c) */
  if (e != 0 && e < d) d = e;
  return d;
}

static void reset_output(epaxos *p) {
  wire_writer_reset(&p->persist);
  ctk_outbox_reset(&p->out);
  ctk_outbox_reset(&p->self);
  p->persist_replace = 0;
  p->n_commits = 0;
  p->out_of_memory = 0;
}

static void finish_output(epaxos *p, ctk_output *out) {
  *out = (ctk_output){0};
  out->persist = (ctk_bytes){p->persist.data, p->persist.len};
  out->persist_replace = p->persist_replace;
  bundle_output(p);
  out->messages = ctk_outbox_messages(&p->wire);
  out->n_messages = p->wire.n;
  out->commits = p->commits;
  out->n_commits = p->n_commits;
  out->next_deadline_us = next_deadline(p);
  ep_snapshot_output(p, out);
  ep_snapshot_maybe_ask(p, out);
}

static int start(epaxos *p, const ctk_event *ev) {
  int torn_tail;
  int rc = ep_recover(p, ev->bytes.data, ev->bytes.len, &torn_tail);
  if (rc != CTK_OK) {
    free_instances(p);
    p->next_own = 1;
    p->max_round = 0;
    return rc;
  }
  p->started = 1;
  p->tick_deadline_us = ev->now_us + (uint64_t)p->opt.catchup_ms * 1000;
  if (torn_tail) ep_persist_replace_all(p);
  p->exec_dirty = 1; /* every committed command is executed again */
  return CTK_OK;
}

/* The periodic tick: tell a random peer what this node has committed, so it sends what is
 * missing (a lost Commit is learned this way), and recover instances stuck for too long. */
static void tick(epaxos *p) {
  if (p->now_us < p->tick_deadline_us) return;
  p->tick_deadline_us = p->now_us + (uint64_t)p->opt.catchup_ms * 1000;
  if (p->n == 1) return;
  int peer = (int)ctk_rng_range(&p->rng, 0, (uint64_t)p->n - 2);
  if (peer >= p->id) peer++;
  ep_msg m = {.type = EP_MSG_CATCHUP, .n_deps = p->n};
  memcpy(m.deps, p->committed, sizeof m.deps);
  memcpy(m.floors, p->exec_floor, sizeof m.floors);
  memcpy(m.echo, p->peer_floor[peer], sizeof m.echo);
  ep_send(p, peer, &m);
  ep_recovery_scan(p);
}

static int ep_step(ctk_proto *p, const ctk_event *ev, ctk_output *out) {
  reset_output(p);
  int rc = CTK_ERR_INVALID;
  if (!ev) goto done;
  if (ev->kind == CTK_EVENT_START) {
    if (p->started || (ev->bytes.len > 0 && !ev->bytes.data)) goto done;
    p->now_us = ev->now_us;
    rc = start(p, ev);
    if (rc == CTK_OK) ep_execute(p);
    goto done;
  }
  if (!p->started) goto done;
  p->now_us = ev->now_us;
  switch (ev->kind) {
  case CTK_EVENT_MESSAGE:
    if (ev->from < 0 || ev->from >= p->n || ev->from == p->id)
      rc = CTK_ERR_MALFORMED;
    else
      rc = dispatch(p, ev->from, ev->bytes.data, ev->bytes.len);
    break;
  case CTK_EVENT_TIMEOUT:
    tick(p);
    ep_props_timeout(p);
    rc = CTK_OK;
    break;
  case CTK_EVENT_COMMAND:
    if (ev->bytes.len == 0 || ev->bytes.len > CTK_MAX_COMMAND_BYTES || !ev->bytes.data)
      rc = CTK_ERR_INVALID; /* an empty command would be a no-op */
    else
      rc = ep_submit(p, ev->bytes.data, ev->bytes.len);
    break;
  case CTK_EVENT_SNAPSHOT: rc = ep_snapshot_taken(p, ev); break;
  default: break;
  }
  if (rc == CTK_OK) {
    for (int round = 0; round < 4 && (p->self.n || round == 0); round++) {
      drain_self(p);
      ep_execute(p);
      ep_pump(p);
    }
    drain_self(p);
  }
done:
  if (rc == CTK_OK) {
    finish_output(p, out);
    if (!p->out_of_memory && !p->persist.failed && !ctk_outbox_failed(&p->out) &&
        !ctk_outbox_failed(&p->wire))
      return CTK_OK;
    rc = CTK_ERR_NOMEM;
  }
  reset_output(p);
  *out = (ctk_output){0};
  out->next_deadline_us = next_deadline(p);
  return rc;
}

static void ep_status(const ctk_proto *p, ctk_status *s) {
  s->role = CTK_ROLE_NONE;
  s->term = p->max_round;
  s->leader_id = -1;
  s->commit_index = p->applied;
  uint64_t known = 0;
  for (int q = 0; q < p->n; q++) known += p->known[q];
  s->log_length = known > p->applied ? known : p->applied;
  s->snapshot_index = p->snap_index;
  s->members = s->learners = 0; /* static membership */
}

static size_t ep_counters_get(const ctk_proto *p, ctk_counter *out, size_t max) {
  const ep_counters *c = &p->count;
  const ctk_counter all[] = {
      {"fast_path", c->fast_path},
      {"slow_path", c->slow_path},
      {"commits_led", c->commits_led},
      {"commands_led", c->commands_led},
      {"deps_total", c->deps_total},
      {"recoveries", c->recoveries},
      {"noops", c->noops},
      {"executed", c->executed},
      {"exec_delay_us_total", c->exec_delay_us_total},
      {"exec_delay_us_max", c->exec_delay_us_max},
      {"exec_stalls", c->exec_stalls},
      {"exec_scanned", c->exec_scanned},
      {"snap_offers", c->snap_offers},
      {"snap_installs", c->snap_installs},
      {"snap_rejected", c->snap_rejected},
  };
  size_t n = sizeof all / sizeof all[0];
  if (n > max) n = max;
  memcpy(out, all, n * sizeof *out);
  return n;
}

const ctk_protocol_def ctk_epaxos_protocol = {
    .name = "epaxos",
    .summary = "Egalitarian Paxos: leaderless, fast path on non-interfering commands (Moraru)",
    .flags = 0,
    .options = ep_option_specs,
    .n_options = EP_N_OPTIONS,
    .options_size = sizeof(ctk_epaxos_options),
    .create = ep_create,
    .destroy = ep_destroy,
    .step = ep_step,
    .status = ep_status,
    .describe = ep_describe,
    .counters = ep_counters_get,
};
