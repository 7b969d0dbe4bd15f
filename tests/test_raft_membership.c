/* test_raft_membership.c: Raft membership changes: quorums of joint configurations, learners
 * that do not vote, single-server and joint changes on simulated clusters (a leader crash in the
 * middle of a joint change included), a removed leader stepping down, leadership transfer,
 * configurations surviving restarts, the forced reconfiguration after permanent quorum loss, and
 * a lone voter that marks no AppendEntries early.
 * Every simulated run checks the simulator's invariants (one leader per term, commit agreement)
 * at every step. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "raft/raft.h"
#include "raft/raft_internal.h"
#include "sim.h"
#include "simtest.h"

/* ---- helpers ---- */

static ctk_config make_config(int nodes, uint32_t members, int joint) {
  ctk_config c;
  char err[CTK_ERR_LEN];
  assert_int_equal(ctk_config_defaults(&c, "raft", err, sizeof err), 0);
  c.cluster.nodes = nodes;
  c.cluster.members = members;
  c.workload.clients = 0;
  c.workload.duration_s = 5;
  c.sim.delay_ms[0] = 1;
  c.sim.delay_ms[1] = 5;
  c.seed = 3;
  ((ctk_raft_options *)c.protocol_options)->joint_consensus = joint;
  return c;
}

static ctk_status status_of(ctk_simulator *sim, int node) {
  ctk_status st;
  assert_int_equal(ctk_sim_status(sim, node, &st), 0);
  return st;
}

/* Submits puts at the leader until one is accepted, then lets them commit. */
static void write_some(ctk_simulator *sim, int n) {
  char key[16];
  for (int k = 0; k < n; k++) {
    snprintf(key, sizeof key, "k%d", k);
    int leader = simtest_wait_leader(sim, 3000);
    assert_int_equal(ctk_sim_submit_put(sim, leader, key, "v"), CTK_OK);
    simtest_run_ms(sim, 5);
  }
  simtest_run_ms(sim, 100);
}

/* Runs until every live node in `nodes` reports voters `voters` and learners `learners`. */
static void wait_members(ctk_simulator *sim, uint32_t nodes, uint32_t voters, uint32_t learners,
                         uint64_t max_ms) {
  for (uint64_t t = 0; t <= max_ms; t += 10) {
    int ok = 1;
    for (int i = 0; i < ctk_sim_n_nodes(sim); i++) {
      ctk_status st;
      if (!(nodes >> i & 1) || ctk_sim_status(sim, i, &st)) continue;
      ok &= st.members == voters && st.learners == learners;
    }
    if (ok) return;
    simtest_run_ms(sim, 10);
  }
  fail_msg("members never became voters %#x learners %#x", voters, learners);
}

/* ---- quorums ---- */

static void joint_quorum_needs_both_majorities(void **state) {
  (void)state;
  raft_membership joint = {.voters = 0x0B /* {0,1,3} */, .voters_old = 0x07 /* {0,1,2} */};
  assert_true(raft_membership_quorum(&joint, 0x03));  /* {0,1}: both */
  assert_false(raft_membership_quorum(&joint, 0x0A)); /* {1,3}: C_new only */
  assert_false(raft_membership_quorum(&joint, 0x06)); /* {1,2}: C_old only */
  assert_true(raft_membership_quorum(&joint, 0x0E));  /* {1,2,3} */
  /* No two sets that are quorums of the joint configuration are disjoint: every pair of
   * subsets of {0..3} is tried. */
  for (uint32_t a = 0; a < 16; a++)
    for (uint32_t b = 0; b < 16; b++)
      if (raft_membership_quorum(&joint, a) && raft_membership_quorum(&joint, b))
        assert_true(a & b);
  raft_membership single = {.voters = 0x07};
  assert_true(raft_membership_quorum(&single, 0x05));
  assert_false(raft_membership_quorum(&single, 0x18)); /* learners or strangers count for nothing */
  /* The encoding round-trips and is checked. */
  wire_writer w;
  wire_writer_init(&w);
  raft_membership m = {.voters = 0x13, .voters_old = 0x03, .learners = 0x04}, back;
  raft_membership_encode(&w, &m);
  assert_int_equal(w.len, RAFT_MEMBERSHIP_BYTES);
  assert_int_equal(raft_membership_decode(w.data, w.len, 5, &back), 0);
  assert_memory_equal(&m, &back, sizeof m);
  assert_int_equal(raft_membership_decode(w.data, w.len, 4, &back), -1); /* node 4 of 4 */
  w.data[12] = 0x01;                                                     /* a learner that votes */
  assert_int_equal(raft_membership_decode(w.data, w.len, 5, &back), -1);
  wire_writer_free(&w);
}

/* ---- a lone voter's early AppendEntries (output.c, early_appends) ---- */

static void raft_step_ok(ctk_proto *p, ctk_event *ev, ctk_output *out) {
  assert_int_equal(ctk_raft_protocol.step(p, ev, out), CTK_OK);
  assert_true(out->n_messages_early <= out->n_messages);
}

/* Node 1 acknowledges node 0's log up to `index` in `term`. */
static void ack(ctk_proto *p, uint64_t now, uint64_t term, uint64_t index, ctk_output *out) {
  wire_writer w;
  wire_writer_init(&w);
  raft_encode_append_reply(&w, term, 1, index, 0, 0);
  ctk_event ev = {.kind = CTK_EVENT_MESSAGE, .now_us = now, .from = 1, .bytes = {w.data, w.len}};
  raft_step_ok(p, &ev, out);
  wire_writer_free(&w);
}

/* The only voter wins its term and commits entries in the step that persists its vote or the
 * entries, so none of its AppendEntries may leave before that sync (3-node membership sweep
 * seeds 74 and 244: an early one told a learner of a commit that a crash erased), and none after
 * it alone chose a second voter, until that voter acknowledges an entry appended since. */
static void lone_voter_sends_nothing_early(void **state) {
  (void)state;
  ctk_raft_options o;
  ctk_protocol_default_options(&ctk_raft_protocol, &o);
  ctk_node_config nc = {.node_id = 0, .n_nodes = 2, .seed = 1, .members = 0x1};
  char err[128];
  ctk_proto *p = ctk_raft_protocol.create(&nc, &o, err, sizeof err);
  assert_non_null(p);
  ctk_output out;
  ctk_event ev = {.kind = CTK_EVENT_START, .now_us = 0};
  raft_step_ok(p, &ev, &out);
  uint64_t now = out.next_deadline_us;
  ev = (ctk_event){.kind = CTK_EVENT_TIMEOUT, .now_us = now};
  raft_step_ok(p, &ev, &out);
  ctk_status st;
  ctk_raft_protocol.status(p, &st);
  assert_int_equal(st.role, CTK_ROLE_LEADER);
  uint64_t term = st.term;
  ev =
      (ctk_event){.kind = CTK_EVENT_ADMIN, .now_us = ++now, .bytes = {(const uint8_t *)"add 1", 5}};
  raft_step_ok(p, &ev, &out); /* committed at once: node 1 a learner, probed at the heartbeat */
  ev = (ctk_event){.kind = CTK_EVENT_COMMAND, .now_us = ++now, .bytes = {(const uint8_t *)"x", 1}};
  raft_step_ok(p, &ev, &out); /* committed at once */
  now = out.next_deadline_us;
  ev = (ctk_event){.kind = CTK_EVENT_TIMEOUT, .now_us = now};
  raft_step_ok(p, &ev, &out); /* the probe, with that commit: it must wait for the sync */
  assert_true(out.n_messages > 0);
  assert_int_equal(out.n_messages_early, 0);
  ack(p, ++now, term, 3, &out); /* caught up: the leader alone makes it a voter */
  assert_int_equal(out.n_messages_early, 0);
  ctk_raft_protocol.status(p, &st);
  assert_int_equal(st.members, 0x3);
  assert_int_equal(st.learners, 0);
  ev = (ctk_event){.kind = CTK_EVENT_COMMAND, .now_us = ++now, .bytes = {(const uint8_t *)"y", 1}};
  raft_step_ok(p, &ev, &out);
  assert_true(out.n_messages > 0);
  assert_int_equal(out.n_messages_early, 0);
  ack(p, ++now, term, 5, &out); /* "y", appended since: early again */
  ev = (ctk_event){.kind = CTK_EVENT_COMMAND, .now_us = ++now, .bytes = {(const uint8_t *)"z", 1}};
  raft_step_ok(p, &ev, &out);
  assert_true(out.n_messages_early > 0);
  ctk_raft_protocol.destroy(p);
}

/* ---- learners ---- */

/* Node 0 of 5 with voters {0,1,2}: it asks only voters, and grants from 3 and 4 elect nothing. */
static void learners_and_strangers_do_not_vote(void **state) {
  (void)state;
  ctk_raft_options o;
  ctk_protocol_default_options(&ctk_raft_protocol, &o);
  ctk_node_config nc = {.node_id = 0, .n_nodes = 5, .seed = 1, .members = 0x07};
  char err[128];
  ctk_proto *p = ctk_raft_protocol.create(&nc, &o, err, sizeof err);
  assert_non_null(p);
  ctk_output out;
  ctk_event ev = {.kind = CTK_EVENT_START, .now_us = 0};
  assert_int_equal(ctk_raft_protocol.step(p, &ev, &out), CTK_OK);
  ev = (ctk_event){.kind = CTK_EVENT_TIMEOUT, .now_us = out.next_deadline_us};
  assert_int_equal(ctk_raft_protocol.step(p, &ev, &out), CTK_OK);
  assert_int_equal(out.n_messages, 2); /* PreVote to 1 and 2 only */
  for (size_t k = 0; k < out.n_messages; k++) assert_true(out.messages[k].to <= 2);
  uint64_t now = ev.now_us;
  wire_writer w;
  wire_writer_init(&w);
  raft_encode_vote_reply(&w, 1, 1, 1);
  for (int from = 3; from <= 4; from++) {
    ev = (ctk_event){
        .kind = CTK_EVENT_MESSAGE, .now_us = ++now, .from = from, .bytes = {w.data, w.len}};
    assert_int_equal(ctk_raft_protocol.step(p, &ev, &out), CTK_OK);
    ctk_status st;
    ctk_raft_protocol.status(p, &st);
    assert_int_equal(st.term, 0); /* still a pre-candidate: no real campaign */
  }
  ev = (ctk_event){.kind = CTK_EVENT_MESSAGE, .now_us = ++now, .from = 1, .bytes = {w.data, w.len}};
  assert_int_equal(ctk_raft_protocol.step(p, &ev, &out), CTK_OK);
  ctk_status st;
  ctk_raft_protocol.status(p, &st);
  assert_int_equal(st.term, 1); /* a voter's grant: on to the real election */
  assert_int_equal(st.members, 0x07);
  wire_writer_free(&w);
  ctk_raft_protocol.destroy(p);

  /* A node outside the initial members never campaigns and refuses commands. */
  nc.node_id = 4;
  p = ctk_raft_protocol.create(&nc, &o, err, sizeof err);
  ev = (ctk_event){.kind = CTK_EVENT_START, .now_us = 0};
  assert_int_equal(ctk_raft_protocol.step(p, &ev, &out), CTK_OK);
  for (int k = 0; k < 5; k++) {
    ev = (ctk_event){.kind = CTK_EVENT_TIMEOUT, .now_us = out.next_deadline_us};
    assert_int_equal(ctk_raft_protocol.step(p, &ev, &out), CTK_OK);
    assert_int_equal(out.n_messages, 0);
  }
  uint8_t cmd[] = "x";
  ev = (ctk_event){.kind = CTK_EVENT_COMMAND, .now_us = ev.now_us, .bytes = {cmd, 1}};
  assert_int_equal(ctk_raft_protocol.step(p, &ev, &out), CTK_ERR_REJECTED);
  ctk_raft_protocol.destroy(p);
}

/* ---- changes on simulated clusters ---- */

/* add: a learner first, a voter once caught up; each change is one configuration entry. */
static void single_server_add_and_remove(void **state) {
  (void)state;
  ctk_config c = make_config(5, 0x07, 0);
  ctk_simulator *sim = simtest_scripted(&c);
  int leader = simtest_wait_leader(sim, 2000);
  assert_true(leader <= 2);
  write_some(sim, 20);
  assert_int_equal(ctk_sim_admin(sim, leader, "add 3"), CTK_OK);
  ctk_status st = status_of(sim, leader);
  assert_int_equal(st.members, 0x07);
  assert_int_equal(st.learners, 0x08); /* in effect at once, at the leader */
  /* One change at a time. */
  assert_int_equal(ctk_sim_admin(sim, leader, "add 4"), CTK_ERR_REJECTED);
  assert_int_equal(ctk_sim_admin(sim, leader, "add 3"), CTK_ERR_INVALID); /* a member already */
  wait_members(sim, 0x1F & ~0x10u, 0x0F, 0, 2000);
  ctk_status s3 = status_of(sim, 3);
  assert_true(s3.commit_index >= 20); /* caught up with the log it never saw */
  /* A follower refuses: status names the leader. */
  int follower = leader == 0 ? 1 : 0;
  assert_int_equal(ctk_sim_admin(sim, follower, "remove 3"), CTK_ERR_REJECTED);
  assert_int_equal(status_of(sim, follower).leader_id, leader);
  uint64_t before = status_of(sim, leader).log_length;
  assert_int_equal(ctk_sim_admin(sim, leader, "remove 3"), CTK_OK);
  assert_int_equal(status_of(sim, leader).members, 0x07);
  assert_int_equal(status_of(sim, leader).log_length, before + 1); /* one entry */
  wait_members(sim, 0x07, 0x07, 0, 2000);
  assert_int_equal(ctk_sim_admin(sim, leader, "remove 9"), CTK_ERR_INVALID);
  assert_int_equal(ctk_sim_admin(sim, leader, "fly away"), CTK_ERR_INVALID);
  ctk_sim_destroy(&sim);
  ctk_config_free(&c);
}

/* Joint consensus: C_old,new then C_new, two entries; the members converge. */
static void joint_change_two_entries(void **state) {
  (void)state;
  ctk_config c = make_config(5, 0, 1);
  ctk_simulator *sim = simtest_scripted(&c);
  int leader = simtest_wait_leader(sim, 2000);
  write_some(sim, 5);
  int gone = leader == 4 ? 3 : 4;
  char req[32];
  snprintf(req, sizeof req, "remove %d", gone);
  uint64_t before = status_of(sim, leader).log_length;
  assert_int_equal(ctk_sim_admin(sim, leader, req), CTK_OK);
  /* While joint, both configurations count: members still include the node leaving. */
  assert_int_equal(status_of(sim, leader).members, 0x1Fu);
  uint32_t after = 0x1Fu & ~(1u << gone);
  wait_members(sim, after, after, 0, 2000);
  assert_int_equal(status_of(sim, leader).log_length, before + 2); /* C_old,new and C_new */
  ctk_sim_destroy(&sim);
  ctk_config_free(&c);
}

/* The leader crashes right after appending C_old,new, reaching only some followers. Whatever
 * the next leader holds, the change either completes or is abandoned, with one leader per term
 * throughout (the simulator checks it at every step) and every node agreeing at the end. */
static void leader_crash_in_the_middle_of_a_joint_change(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 12; seed++) {
    ctk_config c = make_config(5, 0, 1);
    c.seed = seed;
    ctk_simulator *sim = simtest_scripted(&c);
    int leader = simtest_wait_leader(sim, 2000);
    write_some(sim, 3);
    /* Two or three followers hear nothing more from the leader: C_old,new reaches a majority
     * of both configurations, or only one follower. */
    int cut = 0, n_cut = 2 + (int)(seed & 1);
    for (int i = 0; i < 5 && cut < n_cut; i++)
      if (i != leader) {
        ctk_sim_block(sim, leader, i, 1);
        cut++;
      }
    int gone = (leader + 1 + (int)(seed % 4)) % 5;
    char req[32];
    snprintf(req, sizeof req, "remove %d", gone);
    assert_int_equal(ctk_sim_admin(sim, leader, req), CTK_OK);
    simtest_run_ms(sim, 2 + seed % 5);
    ctk_sim_crash(sim, leader);
    ctk_sim_heal(sim);
    int next = simtest_wait_leader(sim, 3000);
    assert_true(next != leader);
    simtest_run_ms(sim, 1000);
    ctk_sim_restart(sim, leader);
    simtest_run_ms(sim, 1500);
    uint32_t members = status_of(sim, ctk_sim_leader(sim)).members;
    assert_true(members == 0x1Fu || members == (0x1Fu & ~(1u << gone)));
    print_message("seed %" PRIu64 ": remove %d %s\n", seed, gone,
                  members == 0x1Fu ? "abandoned" : "completed by the next leader");
    for (int i = 0; i < 5; i++)
      if (members >> i & 1) assert_int_equal(status_of(sim, i).members, members);
    ctk_sim_destroy(&sim);
    ctk_config_free(&c);
  }
}

/* Thesis 4.2.2: the leader removes itself, commits that, then steps down for good. */
static void removed_leader_steps_down(void **state) {
  (void)state;
  for (int joint = 0; joint <= 1; joint++) {
    ctk_config c = make_config(3, 0, joint);
    ctk_simulator *sim = simtest_scripted(&c);
    int leader = simtest_wait_leader(sim, 2000);
    write_some(sim, 3);
    char req[32];
    snprintf(req, sizeof req, "remove %d", leader);
    assert_int_equal(ctk_sim_admin(sim, leader, req), CTK_OK);
    simtest_run_ms(sim, 100);
    assert_int_not_equal(status_of(sim, leader).role, CTK_ROLE_LEADER);
    int next = simtest_wait_leader(sim, 2000);
    assert_int_not_equal(next, leader);
    uint32_t rest = 0x07u & ~(1u << leader);
    wait_members(sim, rest, rest, 0, 1000);
    uint64_t term = status_of(sim, next).term;
    simtest_run_ms(sim, 3000); /* the removed node does not disrupt the others */
    assert_int_equal(ctk_sim_leader(sim), next);
    assert_int_equal(status_of(sim, next).term, term);
    assert_int_equal(status_of(sim, leader).leader_id, -1);
    /* The configuration survives restarts of everyone. */
    for (int i = 0; i < 3; i++) ctk_sim_crash(sim, i);
    for (int i = 0; i < 3; i++) ctk_sim_restart(sim, i);
    next = simtest_wait_leader(sim, 3000);
    assert_int_not_equal(next, leader);
    assert_int_equal(status_of(sim, next).members, rest);
    ctk_sim_destroy(&sim);
    ctk_config_free(&c);
  }
}

/* Thesis 3.10: transfer to a follower; it leads one term later, within a few round trips. */
static void leadership_transfer(void **state) {
  (void)state;
  ctk_config c = make_config(3, 0, 0);
  ctk_simulator *sim = simtest_scripted(&c);
  int leader = simtest_wait_leader(sim, 2000);
  write_some(sim, 10);
  int target = (leader + 1) % 3;
  uint64_t term = status_of(sim, leader).term;
  char req[32];
  snprintf(req, sizeof req, "transfer %d", target);
  assert_int_equal(ctk_sim_admin(sim, leader, req), CTK_OK);
  /* No new commands while the transfer is under way. */
  assert_int_equal(ctk_sim_submit_put(sim, leader, "k", "v"), CTK_ERR_BUSY);
  simtest_run_ms(sim, 30);
  assert_int_equal(ctk_sim_leader(sim), target);
  assert_int_equal(status_of(sim, target).term, term + 1);
  assert_int_equal(ctk_sim_stats_get(sim)->leader_changes, 2);
  /* A transfer to a node that cannot catch up (cut off) is abandoned after an election
   * timeout: the leader takes commands again. */
  int other = (target + 1) % 3;
  ctk_sim_isolate(sim, other, 1);
  write_some(sim, 3);
  snprintf(req, sizeof req, "transfer %d", other);
  assert_int_equal(ctk_sim_admin(sim, target, req), CTK_OK);
  assert_int_equal(ctk_sim_submit_put(sim, target, "k", "v"), CTK_ERR_BUSY);
  simtest_run_ms(sim, 400);
  assert_int_equal(ctk_sim_leader(sim), target);
  assert_int_equal(ctk_sim_submit_put(sim, target, "k", "v"), CTK_OK);
  ctk_sim_destroy(&sim);
  ctk_config_free(&c);
}

/* Permanent quorum loss: writes block; force shrinks the cluster to the survivors and writes
 * resume, in a configuration that survives their restarts. */
static void force_after_quorum_loss(void **state) {
  (void)state;
  ctk_config c = make_config(5, 0, 0);
  ctk_simulator *sim = simtest_scripted(&c);
  int leader = simtest_wait_leader(sim, 2000);
  write_some(sim, 5);
  /* The leader and two followers are gone for good; two followers survive. */
  int survivors[2], k = 0;
  for (int i = 0; i < 5 && k < 2; i++)
    if (i != leader) survivors[k++] = i;
  for (int i = 0; i < 5; i++)
    if (i != survivors[0] && i != survivors[1]) ctk_sim_crash(sim, i);
  simtest_run_ms(sim, 2000);
  assert_int_equal(ctk_sim_leader(sim), -1); /* two of five: no leader, no writes */
  assert_int_equal(ctk_sim_submit_put(sim, survivors[0], "k", "v"), CTK_ERR_REJECTED);
  char req[32];
  snprintf(req, sizeof req, "force %d,%d", survivors[0], survivors[1]);
  for (int s = 0; s < 2; s++) assert_int_equal(ctk_sim_admin(sim, survivors[s], req), CTK_OK);
  int next = simtest_wait_leader(sim, 3000);
  assert_true(next == survivors[0] || next == survivors[1]);
  uint32_t both = 1u << survivors[0] | 1u << survivors[1];
  assert_int_equal(status_of(sim, next).members, both);
  uint64_t commit = status_of(sim, next).commit_index;
  assert_int_equal(ctk_sim_submit_put(sim, next, "after", "force"), CTK_OK);
  simtest_run_ms(sim, 50);
  assert_true(status_of(sim, next).commit_index > commit);
  /* Restarts keep the forced configuration. */
  for (int s = 0; s < 2; s++) ctk_sim_crash(sim, survivors[s]);
  for (int s = 0; s < 2; s++) ctk_sim_restart(sim, survivors[s]);
  next = simtest_wait_leader(sim, 3000);
  assert_int_equal(status_of(sim, next).members, both);
  /* A node that is not listed refuses to force itself out. */
  snprintf(req, sizeof req, "force %d", survivors[0] == next ? survivors[1] : survivors[0]);
  assert_int_equal(ctk_sim_admin(sim, next, req), CTK_ERR_INVALID);
  ctk_sim_destroy(&sim);
  ctk_config_free(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(joint_quorum_needs_both_majorities),
      cmocka_unit_test(learners_and_strangers_do_not_vote),
      cmocka_unit_test(lone_voter_sends_nothing_early),
      cmocka_unit_test(single_server_add_and_remove),
      cmocka_unit_test(joint_change_two_entries),
      cmocka_unit_test(leader_crash_in_the_middle_of_a_joint_change),
      cmocka_unit_test(removed_leader_steps_down),
      cmocka_unit_test(leadership_transfer),
      cmocka_unit_test(force_after_quorum_loss),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
