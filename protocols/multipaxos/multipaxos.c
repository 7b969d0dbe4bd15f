/* multipaxos.c: the Multi-Paxos instance: create, destroy, the step dispatch, the output
 * buffers, status, and ctk_multipaxos_protocol. A pure state machine: time comes only from
 * event->now_us and randomness only from the seeded generator. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/contract.h"
#include "mp_internal.h"

static int check_options(const ctk_multipaxos_options *o, int n, uint32_t members, int *q1, int *q2,
                         char *err, size_t err_len) {
  char what[160] = "";
  if (o->election_timeout_ms[0] < 1 || o->election_timeout_ms[0] > o->election_timeout_ms[1] ||
      o->election_timeout_ms[1] > 600000)
    snprintf(what, sizeof what,
             "election_timeout_ms must be a range [lo, hi] with 1 <= lo <= hi <= 600000");
  else if (o->heartbeat_ms < 1 || o->heartbeat_ms > 60000)
    snprintf(what, sizeof what, "heartbeat_ms must be in [1, 60000]");
  else if (o->max_batch < 1 || o->max_batch > MP_MAX_PER_MSG)
    snprintf(what, sizeof what, "max_batch must be in [1, 4096]");
  else if (o->max_inflight < 1 || o->max_inflight > 1024)
    snprintf(what, sizeof what, "max_inflight must be in [1, 1024]");
  else if (o->read_mode < MP_READ_LOG || o->read_mode > MP_READ_LEASE)
    snprintf(what, sizeof what, "read_mode must be log or lease");
  else if (o->lease_drift_percent < 0 || o->lease_drift_percent > 1000)
    snprintf(what, sizeof what, "lease_drift_percent must be in [0, 1000]");
  else if (o->learner_catchup < 0 || o->learner_catchup > 1000000)
    snprintf(what, sizeof what, "learner_catchup must be in [0, 1000000]");
  else if (o->snapshot_every < 0 || o->snapshot_keep < 0 || o->snapshot_chunk_bytes < 64 ||
           o->snapshot_chunk_bytes > MP_MAX_ITEMS_BYTES - 64)
    snprintf(what, sizeof what,
             "snapshot_every and snapshot_keep must be >= 0, snapshot_chunk_bytes in [64, %u]",
             (unsigned)(MP_MAX_ITEMS_BYTES - 64));
  else if (o->q1 < 0 || o->q1 > n || o->q2 < 0 || o->q2 > n)
    snprintf(what, sizeof what, "q1 and q2 must be in [0, nodes] (q1=%lld, q2=%lld, nodes=%d)",
             (long long)o->q1, (long long)o->q2, n);
  if (!what[0]) {
    *q1 = o->q1 ? (int)o->q1 : n / 2 + 1;
    *q2 = o->q2 ? (int)o->q2 : n / 2 + 1;
    /* Flexible Paxos: every phase 1 quorum must intersect every phase 2 quorum. */
    if (*q1 + *q2 <= n)
      snprintf(what, sizeof what, "q1 + q2 must exceed the cluster size (q1=%d, q2=%d, nodes=%d)",
               *q1, *q2, n);
  }
  if (!what[0]) mp_conf_check_options(o, members, n, what, sizeof what);
  if (what[0] && err && err_len) snprintf(err, err_len, "multipaxos: %s", what);
  return what[0] ? -1 : 0;
}

static void mp_destroy(ctk_proto *p) {
  if (!p) return;
  for (uint64_t i = 0; i < p->n_slots - p->base; i++) free(p->slots[i].data);
  free(p->slots);
  mp_snap_free(p);
  for (uint64_t i = 0; i < p->n_best; i++) free(p->best[i].data);
  free(p->best);
  free(p->inflight);
  wire_writer_free(&p->persist);
  ctk_outbox_free(&p->out);
  ctk_commit_list_free(&p->commits);
  mp_lease_free(p);
  free(p);
}

static ctk_proto *mp_create(const ctk_node_config *config, const void *options, char *err,
                            size_t err_len) {
  if (ctk_contract_create_check(config, options, "multipaxos", err, err_len) != 0) return NULL;
  const ctk_multipaxos_options *o = options;
  int q1 = 0, q2 = 0;
  if (check_options(o, config->n_nodes, config->members, &q1, &q2, err, err_len) != 0) return NULL;
  mp *p = calloc(1, sizeof *p);
  if (!p) goto nomem;
  p->id = config->node_id;
  p->n = config->n_nodes;
  p->q1 = q1;
  p->q2 = q2;
  p->flexible = o->q1 || o->q2;
  p->opt = *o;
  mp_conf_init(p, config->members);
  p->election_lo_us = (uint64_t)o->election_timeout_ms[0] * 1000;
  p->election_hi_us = (uint64_t)o->election_timeout_ms[1] * 1000;
  p->heartbeat_us = (uint64_t)o->heartbeat_ms * 1000;
  ctk_rng_seed(&p->rng, config->seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(config->node_id + 1)));
  p->leader_id = MP_NO_NODE;
  wire_writer_init(&p->persist);
  int box = ctk_outbox_init(&p->out);
  p->inflight = malloc((size_t)o->max_inflight * sizeof *p->inflight);
  if (box == 0 && p->inflight) return p;
nomem:
  mp_destroy(p);
  if (err && err_len) snprintf(err, err_len, "multipaxos: out of memory");
  return NULL;
}

int mp_slots_reserve(mp *p, uint64_t slot) {
  if (slot <= p->n_slots) return 0;
  if (slot - p->base > p->cap_slots) {
    uint64_t cap = p->cap_slots ? p->cap_slots : 256;
    while (cap < slot - p->base) cap *= 2;
    mp_slot *s = realloc(p->slots, cap * sizeof *s);
    if (!s) return -1;
    memset(s + p->cap_slots, 0, (cap - p->cap_slots) * sizeof *s);
    p->slots = s;
    p->cap_slots = cap;
  }
  p->n_slots = slot;
  return 0;
}

int mp_slot_put(mp_slot *s, uint64_t ballot, uint64_t epoch, uint8_t kind, const uint8_t *data,
                size_t len) {
  if (mp_slot_set(s, ballot, data, len) != 0) return -1;
  s->epoch = epoch;
  s->kind = kind;
  return 0;
}

int mp_slot_set(mp_slot *s, uint64_t ballot, const uint8_t *data, size_t len) {
  uint8_t *copy = NULL;
  if (len > 0) {
    copy = malloc(len);
    if (!copy) return -1;
    memcpy(copy, data, len);
  }
  free(s->data);
  s->data = copy;
  s->len = (uint32_t)len;
  s->ballot = ballot;
  return 0;
}

uint32_t mp_batch_len(const mp *p, uint64_t first, uint64_t max) {
  uint32_t n = 0;
  size_t bytes = 0;
  uint64_t epoch = first <= p->n_slots ? MP_SLOT(p, first)->epoch : 0;
  for (uint64_t s = first; s <= p->n_slots && n < max; s++, n++) {
    if (MP_SLOT(p, s)->epoch != epoch) break; /* one Accept, one configuration */
    bytes += 4 + (size_t)MP_SLOT(p, s)->len;  /* a value blob */
    if (n > 0 && bytes > MP_MAX_ITEMS_BYTES) break;
  }
  return n;
}

void mp_reset_election_timer(mp *p) {
  p->election_deadline_us =
      p->now_us + ctk_rng_range(&p->rng, p->election_lo_us, p->election_hi_us);
}

wire_writer *mp_send_begin(mp *p, int to) { return ctk_outbox_begin(&p->out, to); }

void mp_send_end(mp *p) { ctk_outbox_end(&p->out); }

static void output_reset(mp *p) {
  if (p->persist.cap > (8u << 20)) wire_writer_free(&p->persist);
  wire_writer_reset(&p->persist);
  ctk_outbox_reset(&p->out);
  p->persist_replace = 0;
  p->commits.n = 0;
  p->out_of_memory = 0;
  mp_lease_output_reset(p);
}

static uint64_t next_deadline(const mp *p) {
  if (!p->started) return CTK_DEADLINE_NONE;
  if (p->role == MP_LEADER) return p->n == 1 ? CTK_DEADLINE_NONE : p->heartbeat_deadline_us;
  return p->election_deadline_us;
}

static void push_commit(mp *p, uint64_t slot) {
  const mp_slot *s = mp_slot_at(p, slot);
  int config = s->kind == MP_KIND_CONFIG; /* a configuration: a no-op to the host */
  if (ctk_commit_list_push(&p->commits, slot, config ? NULL : s->data, config ? 0 : s->len)) {
    p->out_of_memory = 1;
    return;
  }
  p->emitted_index = slot;
}

/* The leader's leading Accepts may leave while its own acceptor's record of them is being synced
 * (protocol.h, n_messages_early; Raft thesis 10.2.1): a value is chosen only with the Accepted of
 * a quorum, and the leader's own vote in it, taken the moment it proposes, meets the others'
 * Accepted only in a later step, once the host has synced.
 *
 * Not when the leader's vote alone is a quorum (a lone voter of its configuration, or q2 = 1; or
 * its promise alone, q1 = 1, in phase 1): then it counts a slot chosen (or its ballot won) in the
 * very step that persists its vote (or promise), with nothing durable yet, and an early Accept
 * would spread that: its commit index makes a learner commit a value that a crash before the
 * sync erases from the only vote that chose it (membership-sweep-3 seeds 43 and 157: the lone
 * voter restarted without it and chose another value at that slot), and its ballot, lost with
 * the promise, is used again by the next phase 1 for other values. The steps that follow in the
 * same batch are synced together with it (protocol.h), so no step can know when that knowledge
 * became durable: it becomes known to be once a peer acknowledges a slot appended after it (its
 * Accepted answers an Accept that left after that sync, or after a batch that ended with it, and
 * is stepped after that sync). Until then, in that ballot, every message waits for the sync:
 * this holds across a change of configuration too (a lone voter adding a second one chose the
 * change by itself). */
void mp_note_solo(mp *p) {
  p->solo_ballot = p->ballot;
  p->solo_upto = p->n_slots;
}

void mp_note_acked(mp *p, uint64_t last) {
  if (p->solo_ballot == p->ballot && last > p->solo_upto) p->solo_ballot = 0;
}

static size_t early_accepts(mp *p) {
  if (p->role != MP_LEADER || p->solo_ballot == p->ballot) return 0;
  size_t n = 0;
  while (n < p->out.n) {
    ctk_bytes b = ctk_outbox_bytes(&p->out, n);
    if (b.len < 2 || b.data[1] != MP_MSG_ACCEPT) break;
    n++;
  }
  return n;
}

static void output_finish(mp *p, ctk_output *out) {
  mp_conf_sync(p);
  while (p->emitted_index < p->commit_index && !p->out_of_memory)
    push_commit(p, p->emitted_index + 1);
  mp_persist_maybe_compact(p);
  *out = (ctk_output){0};
  out->persist = (ctk_bytes){p->persist.data, p->persist.len};
  out->persist_replace = p->persist_replace;
  out->messages = ctk_outbox_messages(&p->out);
  out->n_messages = p->out.n;
  out->commits = p->commits.items;
  out->n_commits = p->commits.n;
  out->next_deadline_us = next_deadline(p);
  out->n_messages_early = early_accepts(p);
  mp_snap_output(p, out);
  p->durable_bytes = p->persist_replace ? p->persist.len : p->durable_bytes + p->persist.len;
}

static int start(mp *p, const ctk_event *ev) {
  int torn_tail;
  int rc = mp_recover(p, ev->bytes.data, ev->bytes.len, &torn_tail);
  if (rc != CTK_OK) return rc;
  mp_snap_recovered(p);
  mp_conf_refresh(p);
  p->started = 1;
  p->role = MP_FOLLOWER;
  p->leader_id = MP_NO_NODE;
  p->durable_bytes = ev->bytes.len;
  mp_reset_election_timer(p);
  mp_lease_started(p);
  if (torn_tail) mp_persist_replace_all(p);
  return CTK_OK;
}

/* What the codec cannot judge alone: a ballot owned by another node than the sender where the
 * sender must own it, or slots absurdly far past ours. */
static int plausible(const mp *p, int from, const mp_msg *m) {
  switch (m->type) {
  case MP_MSG_PREPARE:
  case MP_MSG_ACCEPT:
  case MP_MSG_LEASE_PROBE:
  case MP_MSG_TIMEOUT_NOW:
    if (mp_owner(p, m->ballot) != from) return 0;
    if (m->type == MP_MSG_ACCEPT)
      return m->n <= (uint64_t)p->opt.max_batch && m->first + m->n <= p->n_slots + MP_MAX_GAP;
    return 1;
  case MP_MSG_PROMISE:
  case MP_MSG_ACCEPTED:
  case MP_MSG_LEASE_PROBE_REPLY:
    if (mp_owner(p, m->ballot) != p->id) return 0;
    if (m->type == MP_MSG_ACCEPTED && m->ballot == p->ballot && p->role == MP_LEADER && m->ok)
      return m->first + m->n <= p->n_slots + 1;
    return 1;
  default: return 1;
  }
}

static int recv_message(mp *p, const ctk_event *ev) {
  if (ev->from < 0 || ev->from >= p->n || ev->from == p->id) return CTK_ERR_MALFORMED;
  mp_msg m;
  if (mp_msg_decode(ev->bytes.data, ev->bytes.len, &m) != CTK_OK) return CTK_ERR_MALFORMED;
  if (!plausible(p, ev->from, &m)) return CTK_ERR_MALFORMED;
  switch (m.type) {
  case MP_MSG_PREPARE: mp_recv_prepare(p, ev->from, &m); break;
  case MP_MSG_PROMISE: mp_recv_promise(p, ev->from, &m); break;
  case MP_MSG_ACCEPT: mp_recv_accept(p, ev->from, &m); break;
  case MP_MSG_ACCEPTED: mp_recv_accepted(p, ev->from, &m); break;
  case MP_MSG_FORWARD: mp_recv_forward(p, &m); break;
  case MP_MSG_LEASE_PROBE: mp_lease_recv_probe(p, ev->from, &m); break;
  case MP_MSG_LEASE_PROBE_REPLY: mp_lease_recv_probe_reply(p, ev->from, &m); break;
  case MP_MSG_SNAP_CHUNK: mp_snap_recv_chunk(p, ev->from, &m); break;
  case MP_MSG_SNAP_PULL: mp_snap_recv_pull(p, ev->from, &m); break;
  case MP_MSG_TIMEOUT_NOW: mp_recv_timeout_now(p, ev->from, &m); break;
  }
  return CTK_OK;
}

static int mp_step(ctk_proto *p, const ctk_event *ev, ctk_output *out) {
  output_reset(p);
  int rc = CTK_ERR_INVALID;
  if (!ctk_contract_step_admits(ev, p->started)) goto done;
  p->now_us = ev->now_us;
  if (ev->kind == CTK_EVENT_START) {
    rc = start(p, ev);
    goto done;
  }
  switch (ev->kind) {
  case CTK_EVENT_MESSAGE: rc = recv_message(p, ev); break;
  case CTK_EVENT_TIMEOUT:
    if (p->role == MP_LEADER) {
      if (p->now_us >= p->heartbeat_deadline_us) mp_heartbeat(p);
    } else if (p->now_us >= p->election_deadline_us) {
      if (mp_is_voter(p, p->id))
        mp_start_phase1(p);
      else
        mp_reset_election_timer(p); /* a learner, or outside: waits to be added */
    }
    rc = CTK_OK;
    break;
  case CTK_EVENT_COMMAND:
    rc = mp_check_command(p, ev->bytes.len);
    if (rc == CTK_OK && !ev->bytes.data) rc = CTK_ERR_INVALID;
    if (rc == CTK_OK && !(p->role == MP_LEADER && mp_lease_read(p, ev->bytes.data, ev->bytes.len)))
      mp_client_command(p, ev->bytes.data, ev->bytes.len);
    break;
  case CTK_EVENT_SNAPSHOT: rc = mp_snap_taken(p, ev); break;
  case CTK_EVENT_ADMIN: rc = mp_admin(p, ev->bytes.data, ev->bytes.len); break;
  default: break;
  }
done:
  if (rc == CTK_OK) {
    if (p->started) {
      mp_conf_sync(p);
      mp_membership_tick(p);
      mp_lease_tick(p);
    }
    output_finish(p, out);
    mp_lease_output(p, out);
    if (!p->out_of_memory && !p->persist.failed && !ctk_outbox_failed(&p->out)) return CTK_OK;
    rc = CTK_ERR_NOMEM;
  }
  output_reset(p);
  *out = (ctk_output){0};
  out->next_deadline_us = next_deadline(p);
  return rc;
}

static void mp_status(const ctk_proto *p, ctk_status *s) {
  static const ctk_role roles[] = {CTK_ROLE_FOLLOWER, CTK_ROLE_CANDIDATE, CTK_ROLE_LEADER};
  s->role = roles[p->role];
  s->term = p->role == MP_FOLLOWER ? p->promised : p->ballot;
  /* A node outside its configuration names no leader (as Raft's status does). */
  s->leader_id = (p->conf.voters | p->conf.learners) >> p->id & 1 ? p->leader_id : MP_NO_NODE;
  s->commit_index = p->emitted_index;
  s->log_length = p->n_slots;
  s->snapshot_index = p->snap.held.index;
  s->members = p->conf.voters;
  s->learners = p->conf.learners;
}

const ctk_protocol_def ctk_multipaxos_protocol = {
    .name = "multipaxos",
    .summary = "Multi-Paxos with a stable leader, pipelining, batching and flexible quorums",
    .flags = CTK_PROTO_TOTAL_ORDER | CTK_PROTO_LEADERS,
    .options = mp_option_specs,
    .n_options = MP_N_OPTIONS,
    .options_size = sizeof(ctk_multipaxos_options),
    .create = mp_create,
    .destroy = mp_destroy,
    .step = mp_step,
    .status = mp_status,
    .describe = mp_describe,
};
