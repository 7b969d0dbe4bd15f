/* vr.c: the Viewstamped Replication instance: create, destroy, the step dispatch, the output
 * buffers, status, and ctk_vr_protocol. A pure state machine: time comes only from
 * event->now_us and randomness (timeouts, the recovery nonce) only from the seeded generator. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/contract.h"
#include "vr_internal.h"

static int check_options(const ctk_vr_options *o, char *err, size_t err_len) {
  char what[160] = "";
  if (o->view_change_timeout_ms[0] < 1 ||
      o->view_change_timeout_ms[0] > o->view_change_timeout_ms[1] ||
      o->view_change_timeout_ms[1] > 600000)
    snprintf(what, sizeof what,
             "view_change_timeout_ms must be a range [lo, hi] with 1 <= lo <= hi <= 600000");
  else if (o->heartbeat_ms < 1 || o->heartbeat_ms > 60000)
    snprintf(what, sizeof what, "heartbeat_ms must be in [1, 60000]");
  else if (o->max_batch < 1 || o->max_batch > VR_MAX_PER_MSG)
    snprintf(what, sizeof what, "max_batch must be in [1, 4096]");
  else if (o->max_inflight < 1 || o->max_inflight > 1024)
    snprintf(what, sizeof what, "max_inflight must be in [1, 1024]");
  else if (o->snapshot_every < 0 || o->snapshot_every > 1000000000 || o->snapshot_keep < 0 ||
           o->snapshot_keep > 1000000000)
    snprintf(what, sizeof what, "snapshot_every and snapshot_keep must be in [0, 1000000000]");
  else if (o->snapshot_chunk_bytes < 64 || o->snapshot_chunk_bytes > (1 << 19))
    snprintf(what, sizeof what, "snapshot_chunk_bytes must be in [64, 524288]");
  if (what[0] && err && err_len) snprintf(err, err_len, "vr: %s", what);
  return what[0] ? -1 : 0;
}

static void vr_destroy(ctk_proto *p) {
  if (!p) return;
  vr_log_free(&p->log);
  vr_log_free(&p->stash);
  vr_snap_free(p);
  vr_early_clear(p);
  wire_writer_free(&p->persist);
  ctk_outbox_free(&p->out);
  ctk_commit_list_free(&p->commits);
  free(p);
}

static ctk_proto *vr_create(const ctk_node_config *config, const void *options, char *err,
                            size_t err_len) {
  if (ctk_contract_create_check(config, options, "vr", err, err_len) != 0) return NULL;
  const ctk_vr_options *o = options;
  if (check_options(o, err, err_len) != 0) return NULL;
  vr *p = calloc(1, sizeof *p);
  if (!p) goto nomem;
  p->id = config->node_id;
  p->n = config->n_nodes;
  p->q = config->n_nodes / 2 + 1;
  p->rq = config->n_nodes - p->q + 1;
  p->opt = *o;
  p->opt.durable = o->durable != 0;
  p->vc_lo_us = (uint64_t)o->view_change_timeout_ms[0] * 1000;
  p->vc_hi_us = (uint64_t)o->view_change_timeout_ms[1] * 1000;
  p->heartbeat_us = (uint64_t)o->heartbeat_ms * 1000;
  ctk_rng_seed(&p->rng, config->seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(config->node_id + 1)));
  vr_log_init(&p->log, 1);
  vr_log_init(&p->stash, 1);
  p->view = p->last_normal_view = 1;
  p->best = p->rr_primary = VR_NO_NODE;
  wire_writer_init(&p->persist);
  int box = ctk_outbox_init(&p->out);
  if (box == 0) return p;
nomem:
  vr_destroy(p);
  if (err && err_len) snprintf(err, err_len, "vr: out of memory");
  return NULL;
}

/* ---- helpers shared by the other files ---- */

void vr_reset_vc_timer(vr *p) {
  p->vc_deadline_us = p->now_us + ctk_rng_range(&p->rng, p->vc_lo_us, p->vc_hi_us);
}

void vr_advance_commit(vr *p, uint64_t commit) {
  if (commit > vr_op(p)) commit = vr_op(p);
  if (commit > p->commit) p->commit = commit;
}

void vr_log_splice(vr *p, uint64_t keep, const vr_msg *m) {
  vr_log_truncate(&p->log, keep);
  if (vr_log_take(&p->log, m) != 0) p->out_of_memory = 1;
}

wire_writer *vr_send_begin(vr *p, int to) { return ctk_outbox_begin(&p->out, to); }

void vr_send_end(vr *p) { ctk_outbox_end(&p->out); }

/* ---- output ---- */

static void output_reset(vr *p) {
  if (p->persist.cap > (8u << 20)) wire_writer_free(&p->persist);
  wire_writer_reset(&p->persist);
  ctk_outbox_reset(&p->out);
  p->persist_replace = 0;
  p->commits.n = 0;
  p->out_of_memory = 0;
}

static uint64_t status_deadline(const vr *p) {
  switch (p->status) {
  case VR_NORMAL: return vr_is_primary(p) ? p->resend_deadline_us : p->vc_deadline_us;
  case VR_VIEW_CHANGE:
    return p->resend_deadline_us < p->vc_deadline_us ? p->resend_deadline_us : p->vc_deadline_us;
  default: return p->resend_deadline_us;
  }
}

static uint64_t next_deadline(const vr *p) {
  if (!p->started || p->n == 1) return CTK_DEADLINE_NONE;
  uint64_t d = status_deadline(p);
  return p->snap.repull_us && p->snap.repull_us < d ? p->snap.repull_us : d;
}

static void push_commit(vr *p, uint64_t pos) {
  const vr_entry *e = vr_log_at(&p->log, pos);
  assert(e); /* commits are executed from past the checkpoint */
  if (ctk_commit_list_push(&p->commits, pos, e->data, e->len) != 0) {
    p->out_of_memory = 1;
    return;
  }
  p->emitted = pos;
}

static void output_finish(vr *p, ctk_output *out) {
  /* Backups execute committed operations in order (section 4.1, step 7). */
  while (p->emitted < p->commit && !p->out_of_memory) push_commit(p, p->emitted + 1);
  vr_persist_maybe_compact(p);
  *out = (ctk_output){0};
  vr_snap_output(p, out);
  out->persist = (ctk_bytes){p->persist.data, p->persist.len};
  out->persist_replace = p->persist_replace;
  out->messages = ctk_outbox_messages(&p->out);
  out->n_messages = p->out.n;
  out->commits = p->commits.items;
  out->n_commits = p->commits.n;
  out->next_deadline_us = next_deadline(p);
  p->durable_bytes = p->persist_replace ? p->persist.len : p->durable_bytes + p->persist.len;
}

/* ---- events ---- */

static int start(vr *p, const ctk_event *ev) {
  int torn_tail = 0, booted_before = 0;
  int rc = vr_recover(p, ev->bytes.data, ev->bytes.len, &torn_tail, &booted_before);
  if (rc != CTK_OK) return rc;
  p->started = 1;
  p->durable_bytes = ev->bytes.len;
  if (torn_tail) vr_persist_replace_all(p);
  if (!p->opt.durable && !booted_before) vr_persist_boot(p);
  if (!p->opt.durable && booted_before && p->n > 1) {
    vr_start_recovery(p);
  } else if (p->status == VR_VIEW_CHANGE) {
    vr_resume_view_change(p);
  } else if (p->last_normal_view < p->view) {
    vr_catch_up_begin(p, p->view); /* it had not caught up with its view: start again */
  } else if (vr_primary_of(p, p->view) == p->id) {
    vr_become_primary(p);
  } else {
    vr_reset_vc_timer(p);
  }
  return CTK_OK;
}

/* What the codec cannot judge alone: who may send what. A PREPARE, COMMIT or STARTVIEW comes
 * from the primary of its view; a PREPAREOK or DOVIEWCHANGE goes to it. */
static int plausible(const vr *p, int from, const vr_msg *m) {
  switch (m->type) {
  case VR_MSG_PREPARE:
  case VR_MSG_COMMIT:
  case VR_MSG_START_VIEW: return vr_primary_of(p, m->view) == from;
  case VR_MSG_PREPARE_OK:
  case VR_MSG_DO_VIEW_CHANGE: return vr_primary_of(p, m->view) == p->id;
  case VR_MSG_RECOVERY_RESPONSE: return !m->primary || vr_primary_of(p, m->view) == from;
  default: return 1;
  }
}

static int recv_message(vr *p, const ctk_event *ev) {
  if (ev->from < 0 || ev->from >= p->n || ev->from == p->id) return CTK_ERR_MALFORMED;
  vr_msg m;
  if (vr_msg_decode(ev->bytes.data, ev->bytes.len, &m) != CTK_OK) return CTK_ERR_MALFORMED;
  if (!plausible(p, ev->from, &m)) return CTK_ERR_MALFORMED;
  /* A recovering replica takes part in nothing until it has learned the current view from a
   * quorum (section 4.3): it never answers in a view it may have missed. */
  if (p->status == VR_RECOVERING && m.type != VR_MSG_RECOVERY_RESPONSE &&
      m.type != VR_MSG_NEW_STATE && m.type != VR_MSG_SNAP_CHUNK)
    return CTK_OK;
  switch (m.type) {
  case VR_MSG_PREPARE: vr_recv_prepare(p, ev->from, &m); break;
  case VR_MSG_PREPARE_OK: vr_recv_prepare_ok(p, ev->from, &m); break;
  case VR_MSG_COMMIT: vr_recv_commit(p, ev->from, &m); break;
  case VR_MSG_START_VIEW_CHANGE: vr_recv_start_view_change(p, ev->from, &m); break;
  case VR_MSG_DO_VIEW_CHANGE: vr_recv_do_view_change(p, ev->from, &m); break;
  case VR_MSG_START_VIEW: vr_recv_start_view(p, ev->from, &m); break;
  case VR_MSG_GET_STATE: vr_recv_get_state(p, ev->from, &m); break;
  case VR_MSG_NEW_STATE: vr_recv_new_state(p, ev->from, &m); break;
  case VR_MSG_RECOVERY: vr_recv_recovery(p, ev->from, &m); break;
  case VR_MSG_RECOVERY_RESPONSE: vr_recv_recovery_response(p, ev->from, &m); break;
  case VR_MSG_FORWARD: vr_recv_forward(p, &m); break;
  case VR_MSG_SNAP_CHUNK: vr_recv_snap_chunk(p, ev->from, &m); break;
  case VR_MSG_SNAP_PULL: vr_recv_snap_pull(p, ev->from, &m); break;
  }
  return CTK_OK;
}

static void timeout(vr *p) {
  vr_snap_tick(p);
  switch (p->status) {
  case VR_NORMAL:
    if (vr_is_primary(p)) {
      if (p->now_us >= p->resend_deadline_us) vr_heartbeat(p);
    } else if (p->now_us >= p->vc_deadline_us) {
      /* No PREPARE or COMMIT from the primary for a while: section 4.2, step 1. */
      vr_start_view_change(p, p->view + 1);
    }
    break;
  case VR_VIEW_CHANGE: vr_view_change_timeout(p); break;
  case VR_RECOVERING: vr_recovery_timeout(p); break;
  }
}

static int vr_step(ctk_proto *p, const ctk_event *ev, ctk_output *out) {
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
    if (p->n > 1) timeout(p);
    rc = CTK_OK;
    break;
  case CTK_EVENT_COMMAND:
    rc = vr_check_command(p, ev->bytes.len);
    if (rc == CTK_OK && !ev->bytes.data) rc = CTK_ERR_INVALID;
    if (rc == CTK_OK) vr_client_command(p, ev->bytes.data, ev->bytes.len);
    break;
  case CTK_EVENT_SNAPSHOT: rc = vr_snap_taken(p, ev); break;
  default: break;
  }
done:
  if (rc == CTK_OK) {
    output_finish(p, out);
    if (!p->out_of_memory && !p->persist.failed && !ctk_outbox_failed(&p->out)) return CTK_OK;
    rc = CTK_ERR_NOMEM;
  }
  output_reset(p);
  *out = (ctk_output){0};
  out->next_deadline_us = next_deadline(p);
  return rc;
}

static void vr_status_of(const ctk_proto *p, ctk_status *s) {
  s->role = vr_is_primary(p)         ? CTK_ROLE_LEADER
            : p->status == VR_NORMAL ? CTK_ROLE_FOLLOWER
                                     : CTK_ROLE_CANDIDATE;
  s->term = p->view;
  s->leader_id = p->status == VR_NORMAL ? vr_primary_of(p, p->view) : VR_NO_NODE;
  s->commit_index = p->emitted;
  s->log_length = vr_op(p);
  s->members = s->learners = 0; /* static membership */
  s->snapshot_index = p->snap.held.index;
}

const ctk_protocol_def ctk_vr_protocol = {
    .name = "vr",
    .summary =
        "Viewstamped Replication (Revisited): view changes, state transfer, and recovery "
        "with or without durable state",
    .flags = CTK_PROTO_TOTAL_ORDER | CTK_PROTO_LEADERS,
    .options = vr_option_specs,
    .n_options = VR_N_OPTIONS,
    .options_size = sizeof(ctk_vr_options),
    .create = vr_create,
    .destroy = vr_destroy,
    .step = vr_step,
    .status = vr_status_of,
    .describe = vr_describe,
};
